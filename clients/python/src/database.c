/* database.c - pgml.Database (construction, close, async with) and the bound
 * classes such as pgml.Collection, with their methods installed from the
 * method table. */
#include "pgml_py.h"

#include <errno.h>
#include <string.h>

/* ---------------------------------------------------------------- Database */

/* Database(address, *, timeout=None, token=None, ca_file=None).  The client
 * is created here (so that a bad address fails at once) but connects at the
 * first call.  token and ca_file are for ws:// and wss:// addresses: libpgml
 * copies them. */
static PyObject *database_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
  static char *kwlist[] = {"address", "timeout", "token", "ca_file", NULL};
  pgml_client_options_t opts;
  pgml_py_state_t *st = pgml_py__state_of_type(type);
  PyObject *address, *timeout = Py_None;
  pgml_py_database_t *db;
  const char *addr;
  Py_ssize_t len;
  int rc;

  if (st == NULL)
    return NULL;
  memset(&opts, 0, sizeof(opts));
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|$Ozz:Database", kwlist, &address, &timeout,
                                   &opts.token, &opts.ca_file))
    return NULL;
  addr = PyUnicode_AsUTF8AndSize(address, &len);
  if (addr == NULL)
    return NULL;
  if (strlen(addr) != (size_t)len)
    return PyErr_Format(PyExc_ValueError, "Database(): the address contains a NUL character");
  db = (pgml_py_database_t *)type->tp_alloc(type, 0);
  if (db == NULL)
    return NULL;
  db->module = PyType_GetModule(type);
  Py_XINCREF(db->module);
  db->address = Py_NewRef(address);
  db->watch_fd = -1;
  if (pgml_py__parse_timeout(timeout, "Database", &db->default_timeout_ms) < 0)
    goto fail;
  rc = pgml_client_new(addr, &opts, &db->client);
  if (rc < 0) {
    if (rc == -ENOMEM)
      PyErr_NoMemory();
    else if (rc == -EPROTONOSUPPORT)
      PyErr_Format(PyExc_ValueError, "Database(): address %R has a scheme this client does "
                   "not support (use \"unix:///path/to/socket\", a path, "
                   "\"ws://host:port/v1\" or \"wss://host:port/v1\")", address);
    else if (rc == -ENAMETOOLONG)
      PyErr_Format(PyExc_ValueError, "Database(): the socket path of %R is longer than the "
                   "system allows", address);
    else if (opts.token != NULL || opts.ca_file != NULL)
      PyErr_Format(PyExc_ValueError, "Database(): invalid address %R, token or ca_file (a "
                   "token is 1 to 4096 printable ASCII characters without spaces; ca_file "
                   "is a path)", address);
    else
      PyErr_Format(PyExc_ValueError, "Database(): invalid address %R", address);
    goto fail;
  }
  return (PyObject *)db;

fail:
  Py_DECREF(db);
  return NULL;
}

static int database_traverse(PyObject *self, visitproc visit, void *arg)
{
  pgml_py_database_t *db = (pgml_py_database_t *)self;

  Py_VISIT(Py_TYPE(self));
  Py_VISIT(db->module);
  Py_VISIT(db->address);
  Py_VISIT(db->loop);
  for (size_t i = 0; i < 3; i++)
    Py_VISIT(db->drivers[i]);
  Py_VISIT(db->timer);
  Py_VISIT(db->watch_error);
  return 0;
}

/* Clears what database_traverse visits, after letting go of the loop. */
static int database_clear(PyObject *self)
{
  pgml_py_database_t *db = (pgml_py_database_t *)self;

  pgml_py__database_unbind(db);
  Py_CLEAR(db->address);
  Py_CLEAR(db->watch_error);
  Py_CLEAR(db->module);
  return 0;
}

static void database_dealloc(PyObject *self)
{
  pgml_py_database_t *db = (pgml_py_database_t *)self;
  PyTypeObject *type = Py_TYPE(self);

  PyObject_GC_UnTrack(self);
  if (db->weakreflist != NULL)
    PyObject_ClearWeakRefs(self);
  /* Every pending call holds a reference to its Database, so none is
   * pending here: freeing the client runs no callback. */
  pgml_py__database_close_client(db);
  (void)database_clear(self);
  type->tp_free(self);
  Py_DECREF(type);
}

static PyObject *database_repr(PyObject *self)
{
  pgml_py_database_t *db = (pgml_py_database_t *)self;

  return PyUnicode_FromFormat("<pgml.Database %R%s>", db->address,
                              db->client == NULL ? " closed" : "");
}

/* A future of the running loop already resolved with `value` (borrowed):
 * what close(), __aenter__ and __aexit__ return. */
static PyObject *done_future(pgml_py_database_t *db, PyObject *value)
{
  pgml_py_state_t *st = pgml_py__state(db->module);
  PyObject *loop = PyObject_CallNoArgs(st->get_running_loop);
  PyObject *fut, *r;

  if (loop == NULL)
    return NULL;
  fut = PyObject_CallMethod(loop, "create_future", NULL);
  Py_DECREF(loop);
  if (fut == NULL)
    return NULL;
  r = PyObject_CallMethod(fut, "set_result", "O", value);
  if (r == NULL) {
    Py_DECREF(fut);
    return NULL;
  }
  Py_DECREF(r);
  return fut;
}

static PyObject *database_close(PyObject *self, PyObject *unused)
{
  pgml_py_database_t *db = (pgml_py_database_t *)self;

  if (db->stepping)
    return PyErr_Format(PyExc_RuntimeError, "Database.close() called from inside the "
                        "client's own I/O step");
  pgml_py__database_close_client(db);
  return done_future(db, Py_None);
}

static PyObject *database_aenter(PyObject *self, PyObject *unused)
{
  return done_future((pgml_py_database_t *)self, self);
}

static PyObject *database_aexit(PyObject *self, PyObject *args)
{
  return database_close(self, NULL);
}

static PyObject *database_get_address(PyObject *self, void *closure)
{
  return Py_NewRef(((pgml_py_database_t *)self)->address);
}

static PyObject *database_get_pending(PyObject *self, void *closure)
{
  pgml_py_database_t *db = (pgml_py_database_t *)self;

  return PyLong_FromSize_t(db->client != NULL ? pgml_client_pending(db->client) : 0);
}

static PyMethodDef database_methods[] = {
    {"close", database_close, METH_NOARGS,
     "close()\n--\n\nAwaitable.  Closes the connection; calls still running fail with "
     "pgml.Cancelled.  A later call opens a new connection."},
    {"__aenter__", database_aenter, METH_NOARGS, NULL},
    {"__aexit__", database_aexit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef database_getset[] = {
    {"address", database_get_address, NULL, "The address given to Database().", NULL},
    {"pending", database_get_pending, NULL, "Calls not yet completed.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef database_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(pgml_py_database_t, weakreflist), READONLY,
     NULL},
    {NULL, 0, 0, 0, NULL},
};

/* ---------------------------------------------------------------- bound classes */

PyObject *pgml_py__bound_new(pgml_py_state_t *st, PyObject *db, const char *cls_name,
                             PyObject *key)
{
  for (size_t i = 0; i < st->table->n_classes; i++) {
    PyTypeObject *type = st->class_types[i];
    pgml_py_bound_t *b;

    if (strcmp(st->table->classes[i].name, cls_name) != 0)
      continue;
    b = (pgml_py_bound_t *)type->tp_alloc(type, 0);
    if (b == NULL)
      return NULL;
    b->db = Py_NewRef(db);
    b->key = Py_NewRef(key);
    b->cls = &st->table->classes[i];
    return (PyObject *)b;
  }
  return PyErr_Format(PyExc_SystemError, "pgml: no bound class %s", cls_name);
}

static int bound_traverse(PyObject *self, visitproc visit, void *arg)
{
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(((pgml_py_bound_t *)self)->db);
  Py_VISIT(((pgml_py_bound_t *)self)->key);
  return 0;
}

static int bound_clear(PyObject *self)
{
  Py_CLEAR(((pgml_py_bound_t *)self)->db);
  Py_CLEAR(((pgml_py_bound_t *)self)->key);
  return 0;
}

static void bound_dealloc(PyObject *self)
{
  PyTypeObject *type = Py_TYPE(self);

  PyObject_GC_UnTrack(self);
  (void)bound_clear(self);
  type->tp_free(self);
  Py_DECREF(type);
}

/* The key under the class's name for it ("name"), and `database`. */
static PyObject *bound_getattro(PyObject *self, PyObject *name)
{
  pgml_py_bound_t *b = (pgml_py_bound_t *)self;

  if (PyUnicode_Check(name) && b->key != NULL) {
    if (PyUnicode_CompareWithASCIIString(name, b->cls->key) == 0)
      return Py_NewRef(b->key);
    if (PyUnicode_CompareWithASCIIString(name, "database") == 0)
      return Py_NewRef(b->db);
  }
  return PyObject_GenericGetAttr(self, name);
}

static PyObject *bound_repr(PyObject *self)
{
  pgml_py_bound_t *b = (pgml_py_bound_t *)self;

  return PyUnicode_FromFormat("%s(%s=%R)", b->cls->name, b->cls->key, b->key);
}

static PyObject *bound_richcompare(PyObject *a, PyObject *b, int op)
{
  pgml_py_bound_t *x = (pgml_py_bound_t *)a, *y = (pgml_py_bound_t *)b;
  int eq;

  if ((op != Py_EQ && op != Py_NE) || !Py_IS_TYPE(b, Py_TYPE(a)))
    Py_RETURN_NOTIMPLEMENTED;
  eq = x->db == y->db ? PyObject_RichCompareBool(x->key, y->key, Py_EQ) : 0;
  if (eq < 0)
    return NULL;
  return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static Py_hash_t bound_hash(PyObject *self)
{
  pgml_py_bound_t *b = (pgml_py_bound_t *)self;
  Py_hash_t h = PyObject_Hash(b->key);

  if (h == -1)
    return -1;
  h ^= (Py_hash_t)((uintptr_t)b->db >> 4);
  return h == -1 ? -2 : h;
}

static PyType_Slot bound_slots[] = {
    {Py_tp_dealloc, bound_dealloc},
    {Py_tp_traverse, bound_traverse},
    {Py_tp_clear, bound_clear},
    {Py_tp_getattro, bound_getattro},
    {Py_tp_repr, bound_repr},
    {Py_tp_richcompare, bound_richcompare},
    {Py_tp_hash, bound_hash},
    {0, NULL},
};

int pgml_py__database_types_init(PyObject *module, pgml_py_state_t *st)
{
  const pgml_method_table_t *t = st->table;
  PyType_Slot db_slots[] = {
      {Py_tp_doc, (void *)t->service_doc},
      {Py_tp_new, database_new},
      {Py_tp_dealloc, database_dealloc},
      {Py_tp_traverse, database_traverse},
      {Py_tp_clear, database_clear},
      {Py_tp_repr, database_repr},
      {Py_tp_methods, database_methods},
      {Py_tp_getset, database_getset},
      {Py_tp_members, database_members},
      {0, NULL},
  };
  PyType_Spec db_spec = {
      .name = t->service_class,
      .basicsize = sizeof(pgml_py_database_t),
      .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
      .slots = db_slots,
  };

  st->database_type = pgml_py__new_type(module, &db_spec, NULL);
  if (st->database_type == NULL ||
      pgml_py__methods_install(module, st, st->database_type) < 0 ||
      PyModule_AddObjectRef(module, t->service_class, (PyObject *)st->database_type) < 0)
    return -1;

  st->class_types = PyMem_Calloc(t->n_classes > 0 ? t->n_classes : 1,
                                 sizeof(*st->class_types));
  if (st->class_types == NULL) {
    PyErr_NoMemory();
    return -1;
  }
  for (size_t i = 0; i < t->n_classes; i++) {
    PyType_Spec spec = {
        .name = t->classes[i].name,
        .basicsize = sizeof(pgml_py_bound_t),
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
                 Py_TPFLAGS_DISALLOW_INSTANTIATION,
        .slots = bound_slots,
    };
    PyTypeObject *type = pgml_py__new_type(module, &spec, NULL);

    if (type == NULL)
      return -1;
    st->class_types[i] = type;
    if (pgml_py__methods_install(module, st, type) < 0 ||
        PyModule_AddObjectRef(module, t->classes[i].name, (PyObject *)type) < 0)
      return -1;
  }
  return 0;
}
