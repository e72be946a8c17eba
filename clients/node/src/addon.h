/* addon.h - the Node-API addon's internal interface: per-environment state,
 * the Database and bound-class objects, and the functions the addon's files
 * call in one another.
 *
 * Error convention.  Functions that talk to JavaScript return napi_status
 * (napi_ok, or the failure with a JavaScript exception pending, thrown by
 * the function itself or by Node-API); the caller returns at once and lets
 * the exception propagate.  Functions that only touch C data return 0 or a
 * negative errno, as in libpgml.
 *
 * State.  Nothing is global: everything lives in a pgml_node_env_t, one per
 * Node environment (the main thread and every worker), stored with
 * napi_set_instance_data() and freed with it.
 *
 * Allocation.  The addon allocates only through libpgml's one wrapper
 * (pgml__malloc, pgml__calloc, pgml__strdup, pgml__free: clients/c/src/
 * alloc.h, linked in with libpgml), and so do protobuf-c's decodes, so that
 * one fault injection (pgml__alloc_fail_after, reached from a test through
 * the addon's `testing` export) fails the Nth allocation of the addon and
 * libpgml alike.
 */
#ifndef PGML_NODE_ADDON_H
#define PGML_NODE_ADDON_H

#include <stddef.h>
#include <stdint.h>

#include <node_api.h>
#include <uv.h>

#include "alloc.h" /* libpgml's, clients/c/src */
#include "pgml/client.h"
#include "pgml_method_table.h"

/* Every napi_status is checked through this: on failure the function
 * returns the status, with the JavaScript exception (if any) left pending. */
#define NAPI_TRY(call)                                                        \
  do {                                                                        \
    napi_status napi_try_status_ = (call);                                    \
    if (napi_try_status_ != napi_ok)                                          \
      return napi_try_status_;                                                \
  } while (0)

/* The same in a napi_callback (which returns a napi_value): NULL means
 * "an exception is pending" to Node-API. */
#define NAPI_TRY_CB(call)                                                     \
  do {                                                                        \
    if ((call) != napi_ok)                                                    \
      return NULL;                                                            \
  } while (0)

#define PGML_NODE_MUST_CHECK __attribute__((warn_unused_result))

typedef struct pgml_node_env_s pgml_node_env_t;
typedef struct pgml_node_db_s pgml_node_db_t;

/* One pgml.Database: a libpgml client attached to the environment's loop. */
struct pgml_node_db_s {
  pgml_node_env_t *e;
  /* NULL until the first call and after close(): a call made then opens
   * a new client (pgml pgml_node__db_client()). */
  pgml_client_t *c;
  char *address;             /* owned */
  pgml_client_options_t copts;
  uint32_t timeout_ms;       /* the default deadline of its calls, 0: none */
  int in_callback;           /* depth of this client's completion callbacks */
  int close_queued;          /* waiting in e->reap for the loop to free c */
  napi_deferred close_deferred; /* close()'s promise, or NULL */
  napi_ref close_promise;       /* the same promise, while closing */
  pgml_node_db_t *next, *prev;  /* e->dbs */
  pgml_node_db_t *reap_next;    /* e->reap */
  napi_ref reap_ref;            /* strong, while in e->reap */
};

/* An instance of a bound class (Collection): its value and its Database. */
typedef struct pgml_node_bound_s {
  const pgml_class_info_t *cls;
  char *key;        /* the bound value, e.g. the collection's name; owned */
  napi_ref db_obj;  /* strong: the Database object it calls through */
} pgml_node_bound_t;

struct pgml_node_env_s {
  napi_env env;
  uv_loop_t *loop;
  const pgml_method_table_t *table;
  int dying;                     /* the environment is being torn down */
  napi_async_context async_ctx;  /* the context of every resolution */
  napi_ref async_resource;
  napi_ref database_ctor;
  napi_ref *class_ctors;         /* table->n_classes */
  /* Set by index.js through init(): the base error class and one subclass
   * per code (index = code), or NULL (then plain Errors are thrown). */
  napi_ref error_base;
  napi_ref error_ctors[17];
  napi_ref json_stringify, json_parse;
  pgml_node_db_t *dbs;           /* every open Database */
  /* Databases whose close() was called from one of their own callbacks:
   * the client is freed from the `reaper` timer, outside libpgml. */
  pgml_node_db_t *reap;
  uv_timer_t reaper;
  napi_async_cleanup_hook_handle cleanup;
};

/* ------------------------------------------------------------ module.c */

/* The environment's state (never NULL once the module is loaded). */
pgml_node_env_t *pgml_node__env(napi_env env);

/* ------------------------------------------------------------ classes.c */

/* Defines Database and every bound class of e->table on `exports`, with one
 * generic method per table entry.  On failure an exception is pending. */
PGML_NODE_MUST_CHECK napi_status pgml_node__define_classes(pgml_node_env_t *e,
                                                           napi_value exports);

/* Creates an instance of bound class `cls` on Database object `db_obj`,
 * bound to `key` (copied). */
PGML_NODE_MUST_CHECK napi_status pgml_node__new_bound(pgml_node_env_t *e,
                                                      const pgml_class_info_t *cls,
                                                      napi_value db_obj, const char *key,
                                                      size_t key_len, napi_value *out);

/* The Database's client, opened (and attached to the loop) if it is not:
 * returns 0 or a negative errno from pgml_client_new / pgml_uv_attach. */
PGML_NODE_MUST_CHECK int pgml_node__db_client(pgml_node_db_t *db, pgml_client_t **out);

/* Frees a Database's client now, completing its pending calls with
 * CANCELLED, and resolves its close() promise.  Must not run inside one of
 * its client's callbacks (see e->reap). */
void pgml_node__db_free_client(pgml_node_db_t *db);

/* ------------------------------------------------------------ args.c */

/* What a call takes besides its request. */
typedef struct pgml_node_call_opts_s {
  uint32_t timeout_ms;  /* 0: the Database's default */
  int has_timeout;
  napi_value signal;    /* an AbortSignal, or NULL */
} pgml_node_call_opts_t;

/* Reads a method's JavaScript arguments: positional values in the order of
 * m->args, then at most one plain object with any arguments by name and the
 * call options (signal, timeoutMs), then at most one more plain object with
 * call options only.  Fills `req` (initialised, of m->request_type) with
 * memory from `arena`; `bind_value` (may be NULL) goes to m->bind.  Throws a
 * TypeError or RangeError naming the argument on bad input. */
typedef struct pgml_node_arena_s pgml_node_arena_t;
PGML_NODE_MUST_CHECK napi_status pgml_node__read_args(pgml_node_env_t *e,
                                                      const pgml_method_info_t *m,
                                                      size_t argc, napi_value *argv,
                                                      const char *bind_value,
                                                      pgml_node_arena_t *arena,
                                                      ProtobufCMessage *req,
                                                      pgml_node_call_opts_t *opts);

/* Reads call options (timeoutMs, signal) from a plain object; every other
 * key is a TypeError naming it.  `what` names the object in messages. */
PGML_NODE_MUST_CHECK napi_status pgml_node__read_call_opts(pgml_node_env_t *e,
                                                           napi_value obj, const char *what,
                                                           pgml_node_call_opts_t *opts);

/* Reads an unsigned 32-bit integer option (a Number); `what` names it. */
PGML_NODE_MUST_CHECK napi_status pgml_node__read_u32(napi_env env, napi_value v,
                                                     const char *what, uint32_t *out);

/* ------------------------------------------------------------ encode.c */

/* Memory for a request being built: every block is freed at once by
 * pgml_node__arena_free().  Zero-initialise it. */
struct pgml_node_arena_s {
  void *blocks;  /* a singly linked list of blocks */
};

/* Allocates `n` zeroed bytes from the arena; NULL when out of memory. */
void *pgml_node__arena_alloc(pgml_node_arena_t *a, size_t n);
void pgml_node__arena_free(pgml_node_arena_t *a);

/* The own enumerable string keys of `obj` (an array of strings): what an
 * argument object or a message object gives. */
PGML_NODE_MUST_CHECK napi_status pgml_node__own_keys(napi_env env, napi_value obj,
                                                     napi_value *out);

/* Looks up the table's description of a message (NULL for a map entry or a
 * message the table does not list). */
const pgml_message_info_t *pgml_node__message_info(const pgml_method_table_t *t,
                                                   const ProtobufCMessageDescriptor *d);

/* Stores JavaScript value `v` in field `fd` of `msg` (`fi` is the table's
 * description of the field, or NULL for a map entry's key and value).
 * `path` names the field in error messages ("splitter.chunkSize").
 * Memory comes from `arena`; the message is only valid as long as it is. */
PGML_NODE_MUST_CHECK napi_status pgml_node__set_field(pgml_node_env_t *e,
                                                      ProtobufCMessage *msg,
                                                      const ProtobufCFieldDescriptor *fd,
                                                      const pgml_field_info_t *fi,
                                                      napi_value v, const char *path,
                                                      pgml_node_arena_t *arena);

/* The size of one value of field `fd` in a protobuf-c message (the item
 * size of a repeated field). */
size_t pgml_node__value_size(const ProtobufCFieldDescriptor *fd);

/* The protobuf-c descriptor of field number `number`, or NULL. */
const ProtobufCFieldDescriptor *pgml_node__field_desc(const ProtobufCMessageDescriptor *d,
                                                      uint32_t number);

/* ------------------------------------------------------------ decode.c */

/* Builds a plain object from `msg` (camelCase keys, JSON fields parsed,
 * 64-bit integers as BigInt or Number per js_number).  The result does not
 * refer to msg. */
PGML_NODE_MUST_CHECK napi_status pgml_node__msg_to_js(pgml_node_env_t *e,
                                                      const ProtobufCMessage *msg,
                                                      napi_value *out);

/* The value of one field of `msg`, converted as above. */
PGML_NODE_MUST_CHECK napi_status pgml_node__field_to_js(pgml_node_env_t *e,
                                                        const ProtobufCMessage *msg,
                                                        const ProtobufCFieldDescriptor *fd,
                                                        const pgml_field_info_t *fi,
                                                        napi_value *out);

/* ------------------------------------------------------------ call.c */

/* Starts RPC `m` on the Database `db` (whose JavaScript object is `db_obj`)
 * with the arguments of a method call; `bind_value` is the bound object's
 * value or NULL.  Returns the call's promise in *out, or throws. */
PGML_NODE_MUST_CHECK napi_status pgml_node__start_call(pgml_node_env_t *e,
                                                       pgml_node_db_t *db, napi_value db_obj,
                                                       const pgml_method_info_t *m,
                                                       const char *bind_value, size_t argc,
                                                       napi_value *argv, napi_value *out);

/* ------------------------------------------------------------ errors.c */

/* A pgml.Error subclass instance for `code` with `message` and `details`
 * (JSON text or NULL). */
PGML_NODE_MUST_CHECK napi_status pgml_node__make_error(pgml_node_env_t *e, pgml_code_t code,
                                                       const char *message,
                                                       const char *details, napi_value *out);

/* Throws a TypeError / RangeError whose message is formatted like printf. */
napi_status pgml_node__throw_type(napi_env env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
napi_status pgml_node__throw_range(napi_env env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Throws an Error (code "ERR_PGML_<what>") with a formatted message. */
napi_status pgml_node__throw_error(napi_env env, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports an exception that escaped a callback from the loop to Node (as an
 * uncaught exception), so that it is not lost. */
void pgml_node__report_pending(napi_env env);

#endif
