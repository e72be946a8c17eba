/* message.c - the result classes: pgml._Message and one subclass per message
 * of the table (pgml.SearchResult, ...), with attribute access, repr, ==
 * and to_dict(). */
#include "pgml_py.h"

#include <stddef.h>
#include <string.h>

size_t pgml_py__message_index(const pgml_py_state_t *st, const pgml_message_info_t *info)
{
  return (size_t)(info - st->table->messages);
}

PyObject *pgml_py__message_new(pgml_py_state_t *st, size_t index, PyObject *values,
                               uint64_t lazy)
{
  PyTypeObject *type = st->message_types[index];
  pgml_py_message_t *m = (pgml_py_message_t *)type->tp_alloc(type, 0);

  if (m == NULL) {
    Py_DECREF(values);
    return NULL;
  }
  m->info = &st->table->messages[index];
  m->values = values;
  m->lazy = lazy;
  return (PyObject *)m;
}

/* Item i of m's values, parsed first if it is a lazy JSON field.  Borrowed;
 * NULL with the exception of json.loads set (the text is kept, so a later
 * access raises the same way). */
static PyObject *field_value(pgml_py_message_t *m, size_t i)
{
  PyObject *text = PyTuple_GET_ITEM(m->values, (Py_ssize_t)i), *v;
  pgml_py_state_t *st;

  if (i >= 64 || !(m->lazy & ((uint64_t)1 << i)))
    return text;
  st = pgml_py__state_of_type(Py_TYPE(m));
  if (st == NULL)
    return NULL;
  v = PyObject_CallOneArg(st->json_loads, text);
  if (v == NULL)
    return NULL;
  /* The tuple is the message's own and never handed out. */
  PyTuple_SET_ITEM(m->values, (Py_ssize_t)i, v);
  m->lazy &= ~((uint64_t)1 << i);
  Py_DECREF(text);
  return v;
}

int pgml_py__message_materialize(pgml_py_message_t *m)
{
  for (size_t i = 0; m->lazy != 0 && i < m->info->n_fields && i < 64; i++)
    if (field_value(m, i) == NULL)
      return -1;
  return 0;
}

/* pgml.<Message>(**fields): the keywords are checked and converted exactly
 * as a call's arguments are, by a round trip through protobuf-c. */
static PyObject *message_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
  pgml_py_state_t *st = pgml_py__state_of_type(type);
  pgml_py_arena_t arena = {0};
  const pgml_message_info_t *info = NULL;
  ProtobufCMessage *msg;
  PyObject *res = NULL, *empty = NULL;

  if (st == NULL)
    return NULL;
  for (size_t i = 0; i < st->table->n_messages; i++)
    if (st->message_types[i] == type)
      info = &st->table->messages[i];
  if (info == NULL)
    return PyErr_Format(PyExc_TypeError, "cannot create %s instances", type->tp_name);
  if (PyTuple_GET_SIZE(args) != 0)
    return PyErr_Format(PyExc_TypeError, "%s() takes keyword arguments only", info->name);
  if (kwargs == NULL) {
    empty = PyDict_New();
    if (empty == NULL)
      return NULL;
  }
  msg = pgml_py__message_from_object(st, &arena, info, kwargs != NULL ? kwargs : empty,
                                     info->name, "");
  if (msg != NULL)
    res = pgml_py__message_to_object(st, info, msg);
  pgml_py__arena_release(&arena);
  Py_XDECREF(empty);
  return res;
}

static int message_traverse(PyObject *self, visitproc visit, void *arg)
{
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(((pgml_py_message_t *)self)->values);
  return 0;
}

static int message_clear(PyObject *self)
{
  Py_CLEAR(((pgml_py_message_t *)self)->values);
  return 0;
}

static void message_dealloc(PyObject *self)
{
  PyTypeObject *type = Py_TYPE(self);

  PyObject_GC_UnTrack(self);
  (void)message_clear(self);
  type->tp_free(self);
  Py_DECREF(type);
}

static PyObject *message_getattro(PyObject *self, PyObject *name)
{
  pgml_py_message_t *m = (pgml_py_message_t *)self;

  if (m->values != NULL && PyUnicode_Check(name))
    for (size_t i = 0; i < m->info->n_fields; i++)
      if (PyUnicode_CompareWithASCIIString(name, m->info->fields[i].name) == 0) {
        PyObject *v = field_value(m, i);

        return v != NULL ? Py_NewRef(v) : NULL;
      }
  return PyObject_GenericGetAttr(self, name);
}

static int message_setattro(PyObject *self, PyObject *name, PyObject *value)
{
  PyErr_Format(PyExc_AttributeError, "%s objects are read-only (attribute %R)",
               ((pgml_py_message_t *)self)->info->name, name);
  return -1;
}

static PyObject *message_repr(PyObject *self)
{
  pgml_py_message_t *m = (pgml_py_message_t *)self;
  PyObject *parts, *sep = NULL, *body = NULL, *res = NULL;

  if (pgml_py__message_materialize(m) < 0)
    return NULL;
  parts = PyList_New(0);
  if (parts == NULL)
    return NULL;
  for (size_t i = 0; i < m->info->n_fields; i++) {
    PyObject *p = PyUnicode_FromFormat("%s=%R", m->info->fields[i].name,
                                       PyTuple_GET_ITEM(m->values, (Py_ssize_t)i));

    if (p == NULL || PyList_Append(parts, p) < 0) {
      Py_XDECREF(p);
      goto out;
    }
    Py_DECREF(p);
  }
  sep = PyUnicode_FromString(", ");
  if (sep == NULL)
    goto out;
  body = PyUnicode_Join(sep, parts);
  if (body != NULL)
    res = PyUnicode_FromFormat("%s(%U)", m->info->name, body);
out:
  Py_XDECREF(body);
  Py_XDECREF(sep);
  Py_DECREF(parts);
  return res;
}

static PyObject *message_richcompare(PyObject *a, PyObject *b, int op)
{
  pgml_py_state_t *st;
  pgml_py_message_t *ma = (pgml_py_message_t *)a, *mb = (pgml_py_message_t *)b;

  if (op != Py_EQ && op != Py_NE)
    Py_RETURN_NOTIMPLEMENTED;
  st = pgml_py__state_of_type(Py_TYPE(a));
  if (st == NULL)
    return NULL;
  if (!PyObject_TypeCheck(b, st->message_base))
    Py_RETURN_NOTIMPLEMENTED;
  if (ma->info != mb->info)
    return PyBool_FromLong(op == Py_NE);
  if (pgml_py__message_materialize(ma) < 0 || pgml_py__message_materialize(mb) < 0)
    return NULL;
  return PyObject_RichCompare(ma->values, mb->values, op);
}

/* The plain-Python form of `v`: result objects become dicts, recursively. */
static PyObject *plain(pgml_py_state_t *st, PyObject *v)
{
  if (PyObject_TypeCheck(v, st->message_base)) {
    pgml_py_message_t *m = (pgml_py_message_t *)v;
    PyObject *d;

    if (pgml_py__message_materialize(m) < 0)
      return NULL;
    d = PyDict_New();
    if (d == NULL)
      return NULL;
    for (size_t i = 0; i < m->info->n_fields; i++) {
      PyObject *x = plain(st, PyTuple_GET_ITEM(m->values, (Py_ssize_t)i));

      if (x == NULL || PyDict_SetItemString(d, m->info->fields[i].name, x) < 0) {
        Py_XDECREF(x);
        Py_DECREF(d);
        return NULL;
      }
      Py_DECREF(x);
    }
    return d;
  }
  if (PyList_Check(v)) {
    Py_ssize_t n = PyList_GET_SIZE(v);
    PyObject *l = PyList_New(n);

    if (l == NULL)
      return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
      PyObject *x = plain(st, PyList_GET_ITEM(v, i));

      if (x == NULL) {
        Py_DECREF(l);
        return NULL;
      }
      PyList_SET_ITEM(l, i, x);
    }
    return l;
  }
  /* Scalars, and JSON values (already plain). */
  return Py_NewRef(v);
}

static PyObject *message_to_dict(PyObject *self, PyObject *unused)
{
  pgml_py_state_t *st = pgml_py__state_of_type(Py_TYPE(self));

  return st != NULL ? plain(st, self) : NULL;
}

static PyObject *message_dir(PyObject *self, PyObject *unused)
{
  pgml_py_message_t *m = (pgml_py_message_t *)self;
  PyObject *l = PyList_New(0), *s;

  if (l == NULL)
    return NULL;
  for (size_t i = 0; i <= m->info->n_fields; i++) {
    s = PyUnicode_FromString(i < m->info->n_fields ? m->info->fields[i].name : "to_dict");
    if (s == NULL || PyList_Append(l, s) < 0) {
      Py_XDECREF(s);
      Py_DECREF(l);
      return NULL;
    }
    Py_DECREF(s);
  }
  return l;
}

static PyMethodDef message_methods[] = {
    {"to_dict", message_to_dict, METH_NOARGS,
     "The message as a dict of its fields (nested messages as dicts too)."},
    {"__dir__", message_dir, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot base_slots[] = {
    {Py_tp_doc, (void *)"Base of the result classes: fields as read-only attributes."},
    {Py_tp_new, message_tp_new},
    {Py_tp_dealloc, message_dealloc},
    {Py_tp_traverse, message_traverse},
    {Py_tp_clear, message_clear},
    {Py_tp_getattro, message_getattro},
    {Py_tp_setattro, message_setattro},
    {Py_tp_repr, message_repr},
    {Py_tp_richcompare, message_richcompare},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_methods, message_methods},
    {0, NULL},
};

static PyType_Spec base_spec = {
    .name = "pgml._Message",
    .basicsize = sizeof(pgml_py_message_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = base_slots,
};

PyTypeObject *pgml_py__new_type(PyObject *module, PyType_Spec *spec, PyObject *base)
{
  PyObject *name = PyBytes_FromFormat("pgml.%s", spec->name);
  PyType_Spec dotted = *spec;
  PyObject *type;

  if (name == NULL)
    return NULL;
  dotted.name = PyBytes_AS_STRING(name);
  type = PyType_FromModuleAndSpec(module, &dotted, base);
  /* Python 3.11 keeps tp_name pointing at the spec's name: the bytes object
   * holding it lives in the type's own dict, as long as the type.  The type
   * is immutable, so Python code cannot remove it. */
  if (type != NULL &&
      PyDict_SetItemString(((PyTypeObject *)type)->tp_dict, "_pgml_tp_name", name) < 0)
    Py_CLEAR(type);
  Py_DECREF(name);
  return (PyTypeObject *)type;
}

int pgml_py__message_types_init(PyObject *module, pgml_py_state_t *st)
{
  const pgml_method_table_t *t = st->table;

  st->message_base = (PyTypeObject *)PyType_FromModuleAndSpec(module, &base_spec, NULL);
  if (st->message_base == NULL)
    return -1;
  st->message_types = PyMem_Calloc(t->n_messages > 0 ? t->n_messages : 1,
                                   sizeof(*st->message_types));
  if (st->message_types == NULL) {
    PyErr_NoMemory();
    return -1;
  }
  for (size_t i = 0; i < t->n_messages; i++) {
    const pgml_message_info_t *info = &t->messages[i];
    PyType_Slot slots[] = {
        {Py_tp_doc, (void *)info->doc},
        {Py_tp_traverse, message_traverse},
        {Py_tp_clear, message_clear},
        {Py_tp_dealloc, message_dealloc},
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = info->name,
        .basicsize = sizeof(pgml_py_message_t),
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
        .slots = slots,
    };
    PyTypeObject *type = pgml_py__new_type(module, &spec, (PyObject *)st->message_base);

    if (type == NULL)
      return -1;
    st->message_types[i] = type;
    if (PyModule_AddObjectRef(module, info->name, (PyObject *)type) < 0)
      return -1;
  }
  return 0;
}
