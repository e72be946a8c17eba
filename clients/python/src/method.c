/* method.c - pgml._Method: one generic callable per entry of the method
 * table (and per bound-class factory).  It parses the arguments the table
 * lists, builds and packs the protobuf-c request, and starts the call.
 * There is no code per RPC. */
#include "pgml_py.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* Arguments a method may list (the .proto's fields of one request). */
#define MAX_ARGS 64

typedef struct {
  PyObject_HEAD
  PyObject *module;                 /* strong */
  const pgml_method_info_t *info;   /* an RPC, or NULL for a factory */
  const pgml_class_info_t *factory; /* Database.<factory>(key), or NULL */
  vectorcallfunc vectorcall;
} method_t;

static const char *method_name(const method_t *m)
{
  return m->info != NULL ? m->info->name : m->factory->factory;
}

int pgml_py__parse_timeout(PyObject *v, const char *func, uint32_t *ms)
{
  double s;

  *ms = 0;
  if (v == NULL || v == Py_None)
    return 0;
  if (!(PyFloat_Check(v) || PyLong_Check(v)) || PyBool_Check(v)) {
    PyErr_Format(PyExc_TypeError, "%s(): timeout must be a number of seconds or None, "
                 "not %.100s", func, Py_TYPE(v)->tp_name);
    return -1;
  }
  s = PyFloat_AsDouble(v);
  if (s == -1.0 && PyErr_Occurred())
    return -1;
  if (!(s > 0.0) || !isfinite(s) || s * 1000.0 > (double)UINT32_MAX) {
    PyErr_Format(PyExc_ValueError, "%s(): timeout must be more than 0 and at most %u "
                 "seconds, not %R", func, UINT32_MAX / 1000u, v);
    return -1;
  }
  *ms = (uint32_t)ceil(s * 1000.0);
  return 0;
}

/* The instance's class check: `inst` must be a Database for a service
 * method, or an instance of the bound class that owns the method. */
static int check_self(pgml_py_state_t *st, const method_t *m, PyObject *inst,
                      pgml_py_database_t **db, PyObject **key)
{
  const char *owner = m->info != NULL ? m->info->owner : st->table->service_class;

  if (m->info == NULL || m->info->bind == NULL) {
    if (!PyObject_TypeCheck(inst, st->database_type))
      goto wrong;
    *db = (pgml_py_database_t *)inst;
    *key = NULL;
    return 0;
  }
  for (size_t i = 0; i < st->table->n_classes; i++)
    if (strcmp(st->table->classes[i].name, owner) == 0 &&
        Py_IS_TYPE(inst, st->class_types[i])) {
      pgml_py_bound_t *b = (pgml_py_bound_t *)inst;

      *db = (pgml_py_database_t *)b->db;
      *key = b->key;
      return 0;
    }
wrong:
  PyErr_Format(PyExc_TypeError, "%s.%s() must be called on a %s, not %.100s", owner,
               method_name(m), owner, Py_TYPE(inst)->tp_name);
  return -1;
}

/* Sorts the caller's arguments into vals[] (borrowed; NULL when not given)
 * and *timeout, by position in the table's order or by keyword. */
static int parse_args(const method_t *m, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames, PyObject **vals, PyObject **timeout)
{
  const pgml_method_info_t *info = m->info;
  const char *func = info->name;
  Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;

  if ((size_t)nargs > info->n_args) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most %zu positional argument%s (%zd given)",
                 func, info->n_args, info->n_args == 1 ? "" : "s", nargs);
    return -1;
  }
  for (Py_ssize_t i = 0; i < nargs; i++)
    vals[i] = args[i];
  for (Py_ssize_t k = 0; k < nkw; k++) {
    PyObject *name = PyTuple_GET_ITEM(kwnames, k);
    PyObject *v = args[nargs + k];
    size_t i;

    if (PyUnicode_CompareWithASCIIString(name, "timeout") == 0) {
      *timeout = v;
      continue;
    }
    for (i = 0; i < info->n_args; i++)
      if (PyUnicode_CompareWithASCIIString(name, info->args[i]->name) == 0)
        break;
    if (i == info->n_args) {
      PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", func, name);
      return -1;
    }
    if (vals[i] != NULL) {
      PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", func,
                   info->args[i]->name);
      return -1;
    }
    vals[i] = v;
  }
  return 0;
}

/* Calls the RPC: the request built from the arguments, packed, started. */
static PyObject *call_rpc(pgml_py_state_t *st, const method_t *m, pgml_py_database_t *db,
                          PyObject *key, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
  const pgml_method_info_t *info = m->info;
  const ProtobufCMessageDescriptor *desc = info->request_type;
  PyObject *vals[MAX_ARGS] = {0};
  PyObject *timeout = NULL, *res = NULL;
  pgml_py_arena_t arena = {0};
  ProtobufCMessage *msg;
  uint32_t timeout_ms;
  uint8_t *buf;
  size_t len;

  if (info->n_args > MAX_ARGS)
    return PyErr_Format(PyExc_SystemError, "%s() has more than %d arguments", info->name,
                        MAX_ARGS);
  if (parse_args(m, args, nargs, kwnames, vals, &timeout) < 0 ||
      pgml_py__parse_timeout(timeout, info->name, &timeout_ms) < 0)
    return NULL;
  msg = pgml_py__arena_alloc(&arena, desc->sizeof_message);
  if (msg == NULL)
    goto out;
  desc->message_init(msg);
  if (info->bind != NULL &&
      pgml_py__set_field(st, &arena, msg, info->request, info->bind, key, info->name,
                         info->bind->name) < 0)
    goto out;
  for (size_t i = 0; i < info->n_args; i++)
    if (vals[i] != NULL &&
        pgml_py__set_field(st, &arena, msg, info->request, info->args[i], vals[i], info->name,
                           info->args[i]->name) < 0)
      goto out;
  len = protobuf_c_message_get_packed_size(msg);
  buf = pgml_py__arena_alloc(&arena, len);
  if (buf == NULL)
    goto out;
  if (protobuf_c_message_pack(msg, buf) != len) {
    PyErr_Format(PyExc_SystemError, "%s(): protobuf-c packed a different size than it "
                 "announced", info->name);
    goto out;
  }
  res = pgml_py__call_start(db, info, buf, len, timeout_ms);
out:
  pgml_py__arena_release(&arena);
  return res;
}

/* Database.<factory>(key): a bound object; nothing is sent. */
static PyObject *call_factory(pgml_py_state_t *st, const method_t *m, PyObject *db,
                              PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
  const pgml_class_info_t *cls = m->factory;
  Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
  PyObject *key = NULL;

  if (nargs == 1 && nkw == 0)
    key = args[0];
  else if (nargs == 0 && nkw == 1 &&
           PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), cls->key) == 0)
    key = args[0];
  if (key == NULL)
    return PyErr_Format(PyExc_TypeError, "%s() takes exactly one argument, '%s'",
                        cls->factory, cls->key);
  if (!PyUnicode_Check(key))
    return PyErr_Format(PyExc_TypeError, "%s(): argument '%s' must be str, not %.100s",
                        cls->factory, cls->key, Py_TYPE(key)->tp_name);
  return pgml_py__bound_new(st, db, cls->name, key);
}

static PyObject *method_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames)
{
  method_t *m = (method_t *)self;
  pgml_py_state_t *st = pgml_py__state(m->module);
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  pgml_py_database_t *db;
  PyObject *key;

  if (nargs < 1)
    return PyErr_Format(PyExc_TypeError, "%s() must be called as a method", method_name(m));
  if (check_self(st, m, args[0], &db, &key) < 0)
    return NULL;
  if (m->info == NULL)
    return call_factory(st, m, args[0], args + 1, nargs - 1, kwnames);
  return call_rpc(st, m, db, key, args + 1, nargs - 1, kwnames);
}

static PyObject *method_descr_get(PyObject *self, PyObject *obj, PyObject *type)
{
  if (obj == NULL || obj == Py_None)
    return Py_NewRef(self);
  return PyMethod_New(self, obj);
}

static int method_traverse(PyObject *self, visitproc visit, void *arg)
{
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(((method_t *)self)->module);
  return 0;
}

static int method_clear(PyObject *self)
{
  Py_CLEAR(((method_t *)self)->module);
  return 0;
}

static void method_dealloc(PyObject *self)
{
  PyTypeObject *type = Py_TYPE(self);

  PyObject_GC_UnTrack(self);
  (void)method_clear(self);
  type->tp_free(self);
  Py_DECREF(type);
}

static PyObject *method_repr(PyObject *self)
{
  method_t *m = (method_t *)self;

  return PyUnicode_FromFormat("<pgml method %s>", method_name(m));
}

static PyObject *get_name(PyObject *self, void *closure)
{
  return PyUnicode_FromString(method_name((method_t *)self));
}

/* The .proto's comment, then what the arguments mean (the signature is
 * __text_signature__'s). */
static PyObject *get_doc(PyObject *self, void *closure)
{
  method_t *m = (method_t *)self;
  const pgml_method_info_t *info = m->info;
  PyObject *parts, *s, *sep, *res = NULL;

  if (info == NULL)
    return PyUnicode_FromFormat("The %s named `%s`; nothing is sent until one of its "
                                "methods is called.", m->factory->name, m->factory->key);
  parts = PyList_New(0);
  if (parts == NULL)
    return NULL;
  s = PyUnicode_FromFormat("%s\n\nAwaitable.  Arguments, positionally in this order or by "
                           "keyword (None or absent: the field's default):",
                           info->doc[0] != '\0' ? info->doc : info->wire_name);
  if (s == NULL || PyList_Append(parts, s) < 0)
    goto out;
  for (size_t i = 0; i < info->n_args; i++) {
    const pgml_field_info_t *a = info->args[i];

    Py_DECREF(s);
    s = PyUnicode_FromFormat("\n  %s%s%s", a->name, a->doc[0] != '\0' ? ": " : "", a->doc);
    if (s == NULL || PyList_Append(parts, s) < 0)
      goto out;
  }
  Py_DECREF(s);
  s = PyUnicode_FromString("\n  timeout: the call's deadline in seconds.");
  if (s == NULL || PyList_Append(parts, s) < 0)
    goto out;
  sep = PyUnicode_FromString("");
  if (sep != NULL) {
    res = PyUnicode_Join(sep, parts);
    Py_DECREF(sep);
  }
out:
  Py_XDECREF(s);
  Py_DECREF(parts);
  return res;
}

/* For inspect.signature() and help(): every argument defaults to None,
 * which leaves the field unset. */
static PyObject *get_text_signature(PyObject *self, void *closure)
{
  method_t *m = (method_t *)self;
  const pgml_method_info_t *info = m->info;
  PyObject *parts, *s = NULL, *sep, *res = NULL;

  if (info == NULL)
    return PyUnicode_FromFormat("($self, %s)", m->factory->key);
  parts = PyList_New(0);
  if (parts == NULL)
    return NULL;
  s = PyUnicode_FromString("($self, ");
  if (s == NULL || PyList_Append(parts, s) < 0)
    goto out;
  for (size_t i = 0; i < info->n_args; i++) {
    Py_DECREF(s);
    s = PyUnicode_FromFormat("%s=None, ", info->args[i]->name);
    if (s == NULL || PyList_Append(parts, s) < 0)
      goto out;
  }
  Py_DECREF(s);
  s = PyUnicode_FromString("*, timeout=None)");
  if (s == NULL || PyList_Append(parts, s) < 0)
    goto out;
  sep = PyUnicode_FromString("");
  if (sep != NULL) {
    res = PyUnicode_Join(sep, parts);
    Py_DECREF(sep);
  }
out:
  Py_XDECREF(s);
  Py_DECREF(parts);
  return res;
}

static PyGetSetDef method_getset[] = {
    {"__name__", get_name, NULL, NULL, NULL},
    {"__text_signature__", get_text_signature, NULL, NULL, NULL},
    {"__qualname__", get_name, NULL, NULL, NULL},
    {"__doc__", get_doc, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef method_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(method_t, vectorcall), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot method_slots[] = {
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_descr_get, method_descr_get},
    {Py_tp_dealloc, method_dealloc},
    {Py_tp_traverse, method_traverse},
    {Py_tp_clear, method_clear},
    {Py_tp_repr, method_repr},
    {Py_tp_getset, method_getset},
    {Py_tp_members, method_members},
    {0, NULL},
};

static PyType_Spec method_spec = {
    .name = "pgml._Method",
    .basicsize = sizeof(method_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_DISALLOW_INSTANTIATION |
             Py_TPFLAGS_METHOD_DESCRIPTOR,
    .slots = method_slots,
};

int pgml_py__method_type_init(PyObject *module, pgml_py_state_t *st)
{
  st->method_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &method_spec, NULL);
  return st->method_type != NULL ? 0 : -1;
}

static int install(PyObject *module, pgml_py_state_t *st, PyTypeObject *owner,
                   const char *name, const pgml_method_info_t *info,
                   const pgml_class_info_t *factory)
{
  method_t *m = PyObject_GC_New(method_t, st->method_type);
  int rc;

  if (m == NULL)
    return -1;
  m->module = Py_NewRef(module);
  m->info = info;
  m->factory = factory;
  m->vectorcall = method_vectorcall;
  PyObject_GC_Track((PyObject *)m);
  if (PyDict_GetItemString(owner->tp_dict, name) != NULL) {
    Py_DECREF(m);
    PyErr_Format(PyExc_SystemError, "pgml: %s.%s is defined twice", owner->tp_name, name);
    return -1;
  }
  rc = PyDict_SetItemString(owner->tp_dict, name, (PyObject *)m);
  Py_DECREF(m);
  return rc;
}

int pgml_py__methods_install(PyObject *module, pgml_py_state_t *st, PyTypeObject *owner)
{
  const pgml_method_table_t *t = st->table;
  int is_service = owner == st->database_type;
  const char *owner_name = strrchr(owner->tp_name, '.');

  owner_name = owner_name != NULL ? owner_name + 1 : owner->tp_name;

  for (size_t i = 0; i < t->n_methods; i++) {
    const pgml_method_info_t *info = &t->methods[i];

    if (strcmp(info->owner, owner_name) == 0 &&
        install(module, st, owner, info->name, info, NULL) < 0)
      return -1;
  }
  if (is_service)
    for (size_t i = 0; i < t->n_classes; i++)
      if (install(module, st, owner, t->classes[i].factory, NULL, &t->classes[i]) < 0)
        return -1;
  PyType_Modified(owner);
  return 0;
}
