/* pgml_py.h - the internal interface between the files of the pgml CPython
 * extension: module state, object layouts and the functions they share.
 *
 * Error convention (CPython's, for every function here): a function
 * returning PyObject * returns a new reference, or NULL with a Python
 * exception set; one returning int returns 0 (or a count), or -1 with a
 * Python exception set.  Nothing here returns an errno: libpgml's negative
 * errno results are turned into exceptions where they are received.
 *
 * State.  Everything an interpreter needs lives in the module state
 * (pgml_py_state_t, multi-phase init); there are no static PyObject *
 * variables.  Objects that need the state hold a strong reference to the
 * module, or find it with PyType_GetModuleByDef().
 */
#ifndef PGML_PY_H
#define PGML_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "pgml/client.h"
#include "pgml_method_table.h"

#if defined(__GNUC__) || defined(__clang__)
#define PGML_PY_MUST_CHECK __attribute__((warn_unused_result))
#else
#define PGML_PY_MUST_CHECK
#endif

/* Status codes run 1..PGML_PY_MAX_CODE; the error table is indexed by code. */
#define PGML_PY_MAX_CODE 32

/* Every per-interpreter object of the module. */
typedef struct pgml_py_state_s {
  const pgml_method_table_t *table; /* static: never freed */
  PyTypeObject *database_type;      /* pgml.Database */
  PyTypeObject *message_base;       /* pgml._Message, base of the result classes */
  PyTypeObject **message_types;     /* table->n_messages, by table index */
  PyTypeObject **class_types;       /* table->n_classes bound classes */
  PyTypeObject *method_type;        /* pgml._Method: one per table method */
  PyTypeObject *call_type;          /* pgml._Call: one call in flight */
  PyTypeObject *driver_type;        /* pgml._Driver: loop callbacks */
  PyTypeObject *awaitable_type;     /* pgml._Awaitable: what a method returns */
  PyObject *error_base;             /* pgml.Error */
  PyObject *errors[PGML_PY_MAX_CODE + 1]; /* by code; NULL where none */
  PyObject *json_dumps;             /* json.dumps */
  PyObject *json_loads;             /* json.loads */
  PyObject *get_running_loop;       /* asyncio.get_running_loop */
  PyObject *abstract_add_reader;    /* asyncio.AbstractEventLoop.add_reader */
} pgml_py_state_t;

extern PyModuleDef pgml_py_module_def;

/* The state of the module that owns `type` (borrowed), or NULL with an
 * exception set. */
pgml_py_state_t *pgml_py__state_of_type(PyTypeObject *type);

static inline pgml_py_state_t *pgml_py__state(PyObject *module)
{
  return (pgml_py_state_t *)PyModule_GetState(module);
}

/* ---------------------------------------------------------------- arena */

/* Memory for one request being encoded: every block and every Python object
 * whose buffer the protobuf-c message borrows lives until
 * pgml_py__arena_release(). */
typedef struct pgml_py_arena_s {
  struct arena_block_s *blocks;
  PyObject *keep; /* list of objects kept alive, or NULL */
} pgml_py_arena_t;

/* Zeroed memory owned by the arena, or NULL (MemoryError set). */
void *pgml_py__arena_alloc(pgml_py_arena_t *a, size_t size);
/* Keeps a new reference to `obj` until release; steals it.  -1 on failure
 * (the reference is dropped). */
PGML_PY_MUST_CHECK int pgml_py__arena_keep(pgml_py_arena_t *a, PyObject *obj);
void pgml_py__arena_release(pgml_py_arena_t *a);

/* ---------------------------------------------------------------- convert.c */

/* The table's description of `desc`, or NULL when the table has none. */
const pgml_message_info_t *pgml_py__message_info(const pgml_py_state_t *st,
                                                 const ProtobufCMessageDescriptor *desc);

/* Sets field `fi` of `msg` (described by `info`) from `value` (borrowed).
 * None leaves the field unset.  Memory the field needs comes from `arena`.
 * `path` names the field for messages ("splitter.chunk_size"), `func` the
 * method ("add_pipeline").  On a wrong type raises TypeError naming both;
 * on a value out of range, OverflowError/ValueError. */
PGML_PY_MUST_CHECK int pgml_py__set_field(pgml_py_state_t *st, pgml_py_arena_t *arena,
                                          ProtobufCMessage *msg,
                                          const pgml_message_info_t *info,
                                          const pgml_field_info_t *fi, PyObject *value,
                                          const char *func, const char *path);

/* A new protobuf-c message of `info` in `arena`, filled from `obj`: a result
 * object of that class, or a mapping of field names.  Raises TypeError for
 * anything else or an unknown key. */
ProtobufCMessage *pgml_py__message_from_object(pgml_py_state_t *st, pgml_py_arena_t *arena,
                                               const pgml_message_info_t *info,
                                               PyObject *obj, const char *func,
                                               const char *path);

/* A new result object (pgml.<Message>) holding the values of `msg`. */
PyObject *pgml_py__message_to_object(pgml_py_state_t *st, const pgml_message_info_t *info,
                                     const ProtobufCMessage *msg);

/* The Python value of field `fi` of `msg`. */
PyObject *pgml_py__field_to_object(pgml_py_state_t *st, const ProtobufCMessage *msg,
                                   const pgml_field_info_t *fi);

/* ---------------------------------------------------------------- message.c */

/* A result object: one instance of a per-message class. */
typedef struct pgml_py_message_s {
  PyObject_HEAD
  const pgml_message_info_t *info;
  PyObject *values; /* tuple, one item per info->fields; private: items
                       are replaced when a lazy field is parsed */
  uint64_t lazy;    /* bit i: item i is JSON text not parsed yet */
} pgml_py_message_t;

/* Creates pgml._Message and one class per table message into `st` and the
 * module's namespace. */
PGML_PY_MUST_CHECK int pgml_py__message_types_init(PyObject *module, pgml_py_state_t *st);
/* A new result object of class `index` owning the reference to `values`
 * (a tuple; stolen, also on failure).  Bit i of `lazy`: item i is a JSON
 * field's text (str), parsed with json.loads when first read. */
PyObject *pgml_py__message_new(pgml_py_state_t *st, size_t index, PyObject *values,
                               uint64_t lazy);
/* Parses every lazy JSON field of m, so that m->values holds only final
 * values (for ==, repr, to_dict, and converting m back to a message).  0,
 * or -1 with the exception of json.loads set. */
PGML_PY_MUST_CHECK int pgml_py__message_materialize(pgml_py_message_t *m);
/* PyType_FromModuleAndSpec() for a spec named without its module ("Ping
 * Response" from the table): the type is created as "pgml.<name>". */
PyTypeObject *pgml_py__new_type(PyObject *module, PyType_Spec *spec, PyObject *base);
/* The table index of message `info`. */
size_t pgml_py__message_index(const pgml_py_state_t *st, const pgml_message_info_t *info);

/* ---------------------------------------------------------------- errors.c */

/* Creates pgml.Error and its subclasses into `st` and the module. */
PGML_PY_MUST_CHECK int pgml_py__errors_init(PyObject *module, pgml_py_state_t *st);
/* A new exception instance for a call's outcome (code != OK). */
PyObject *pgml_py__error_from_result(pgml_py_state_t *st, const pgml_result_t *res);
/* Raises the exception for a libpgml start failure (negative errno `rc`)
 * of method `func`; always returns NULL. */
PyObject *pgml_py__raise_errno(pgml_py_state_t *st, int rc, const char *func,
                               const char *address);

/* ---------------------------------------------------------------- database.c */

typedef struct pgml_py_database_s pgml_py_database_t;

/* A bound object (e.g. Collection): a Database and the value it binds. */
typedef struct pgml_py_bound_s {
  PyObject_HEAD
  PyObject *db;  /* pgml.Database */
  PyObject *key; /* str */
  const pgml_class_info_t *cls;
} pgml_py_bound_t;

PGML_PY_MUST_CHECK int pgml_py__database_types_init(PyObject *module, pgml_py_state_t *st);
/* A new bound object of class `cls_name` for `db` and `key` (a str). */
PyObject *pgml_py__bound_new(pgml_py_state_t *st, PyObject *db, const char *cls_name,
                             PyObject *key);

/* ---------------------------------------------------------------- method.c */

/* A timeout in seconds (`v`: a positive int or float, or None/NULL for
 * none) as milliseconds in *ms (0: none).  TypeError/ValueError naming
 * `func` otherwise. */
PGML_PY_MUST_CHECK int pgml_py__parse_timeout(PyObject *v, const char *func, uint32_t *ms);

/* Creates pgml._Method and puts one instance per table method into the
 * dict of its owner class (Database or a bound class).  `owner_dicts[i]`
 * belongs to the class named `owner_names[i]`. */
PGML_PY_MUST_CHECK int pgml_py__method_type_init(PyObject *module, pgml_py_state_t *st);
PGML_PY_MUST_CHECK int pgml_py__methods_install(PyObject *module, pgml_py_state_t *st,
                                                PyTypeObject *owner);

/* ---------------------------------------------------------------- aio.c */

/* The Database object: one libpgml client on one asyncio loop. */
struct pgml_py_database_s {
  PyObject_HEAD
  PyObject *module;          /* strong: the state's owner */
  pgml_client_t *client;     /* NULL until the first call, and after close() */
  PyObject *address;         /* str */
  uint32_t default_timeout_ms; /* 0: none */
  PyObject *loop;            /* the loop bound at first use, or NULL */
  PyObject *drivers[3];      /* read, write, timer callables (pgml._Driver) */
  int watch_fd;              /* registered with the loop, or -1 */
  unsigned watch_events;     /* PGML_EV_* registered for watch_fd */
  PyObject *timer;           /* asyncio.TimerHandle, or NULL */
  double timer_when;         /* loop.time() at which `timer` fires */
  PyObject *watch_error;     /* an exception raised by the loop in on_watch */
  int stepping;              /* inside pgml_client_step() */
  PyObject *weakreflist;
};

PGML_PY_MUST_CHECK int pgml_py__aio_types_init(PyObject *module, pgml_py_state_t *st);

/* Starts method `m` on `db` with the encoded request (`payload`, `len`),
 * `timeout_ms` (0: the default) and, for a bound method, the bound object
 * whose class the result may need.  Returns what the caller awaits: a
 * coroutine-like object around the call's asyncio future. */
PyObject *pgml_py__call_start(pgml_py_database_t *db, const pgml_method_info_t *m,
                              const uint8_t *payload, size_t len, uint32_t timeout_ms);

/* Closes db's client: every pending call fails with Cancelled; the loop
 * stops watching its descriptor.  The next call opens a new client. */
void pgml_py__database_close_client(pgml_py_database_t *db);

/* Forgets the loop (watchers removed); used by dealloc and close. */
void pgml_py__database_unbind(pgml_py_database_t *db);

#endif
