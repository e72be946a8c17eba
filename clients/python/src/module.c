/* module.c - the pgml._pgml extension module: multi-phase init, the
 * per-interpreter state, and the order in which the classes are built from
 * the generated method table. */
#include "pgml_py.h"

#include <string.h>

PyMODINIT_FUNC PyInit__pgml(void);

static const char module_doc[] =
    "Native asyncio client of pgmld, generated from proto/pgml/v1/database.proto.\n"
    "\n"
    "Import it as `pgml`; this module is its implementation.";

pgml_py_state_t *pgml_py__state_of_type(PyTypeObject *type)
{
  PyObject *m = PyType_GetModuleByDef(type, &pgml_py_module_def);

  if (m == NULL)
    return NULL;
  return pgml_py__state(m); /* m is borrowed */
}

/* Imports module `mod` and returns a new reference to its attribute `attr`
 * (a dotted path below the module: "AbstractEventLoop.add_reader"). */
static PyObject *import_attr(const char *mod, const char *attr)
{
  PyObject *obj = PyImport_ImportModule(mod);
  const char *p = attr;

  while (obj != NULL && *p != '\0') {
    const char *dot = strchr(p, '.');
    size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
    PyObject *name = PyUnicode_FromStringAndSize(p, (Py_ssize_t)n);
    PyObject *next = name != NULL ? PyObject_GetAttr(obj, name) : NULL;

    Py_XDECREF(name);
    Py_DECREF(obj);
    obj = next;
    p += n;
    if (*p == '.')
      p++;
  }
  return obj;
}

/* Builds everything into the fresh module.  On failure the module is
 * discarded; m_clear/m_free release what was made. */
static int module_exec(PyObject *module)
{
  pgml_py_state_t *st = pgml_py__state(module);

  st->table = &pgml_python_method_table;
  st->json_dumps = import_attr("json", "dumps");
  if (st->json_dumps == NULL)
    return -1;
  st->json_loads = import_attr("json", "loads");
  if (st->json_loads == NULL)
    return -1;
  st->get_running_loop = import_attr("asyncio", "get_running_loop");
  if (st->get_running_loop == NULL)
    return -1;
  st->abstract_add_reader = import_attr("asyncio", "AbstractEventLoop.add_reader");
  if (st->abstract_add_reader == NULL)
    return -1;

  /* Errors and result classes first: the Database type's methods and the
   * call machinery look them up in the state. */
  if (pgml_py__errors_init(module, st) < 0)
    return -1;
  if (pgml_py__message_types_init(module, st) < 0)
    return -1;
  if (pgml_py__method_type_init(module, st) < 0)
    return -1;
  if (pgml_py__aio_types_init(module, st) < 0)
    return -1;
  if (pgml_py__database_types_init(module, st) < 0)
    return -1;
  if (PyModule_AddStringConstant(module, "__version__", pgml_version()) < 0)
    return -1;
  if (PyModule_AddStringConstant(module, "SERVICE", st->table->service) < 0)
    return -1;
  return 0;
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
  pgml_py_state_t *st = pgml_py__state(module);

  Py_VISIT(st->database_type);
  Py_VISIT(st->message_base);
  if (st->message_types != NULL)
    for (size_t i = 0; i < st->table->n_messages; i++)
      Py_VISIT(st->message_types[i]);
  if (st->class_types != NULL)
    for (size_t i = 0; i < st->table->n_classes; i++)
      Py_VISIT(st->class_types[i]);
  Py_VISIT(st->method_type);
  Py_VISIT(st->call_type);
  Py_VISIT(st->driver_type);
  Py_VISIT(st->awaitable_type);
  Py_VISIT(st->error_base);
  for (size_t i = 0; i <= PGML_PY_MAX_CODE; i++)
    Py_VISIT(st->errors[i]);
  Py_VISIT(st->json_dumps);
  Py_VISIT(st->json_loads);
  Py_VISIT(st->get_running_loop);
  Py_VISIT(st->abstract_add_reader);
  return 0;
}

/* Clears the same fields module_traverse visits. */
static int module_clear(PyObject *module)
{
  pgml_py_state_t *st = pgml_py__state(module);

  Py_CLEAR(st->database_type);
  Py_CLEAR(st->message_base);
  if (st->message_types != NULL)
    for (size_t i = 0; i < st->table->n_messages; i++)
      Py_CLEAR(st->message_types[i]);
  if (st->class_types != NULL)
    for (size_t i = 0; i < st->table->n_classes; i++)
      Py_CLEAR(st->class_types[i]);
  Py_CLEAR(st->method_type);
  Py_CLEAR(st->call_type);
  Py_CLEAR(st->driver_type);
  Py_CLEAR(st->awaitable_type);
  Py_CLEAR(st->error_base);
  for (size_t i = 0; i <= PGML_PY_MAX_CODE; i++)
    Py_CLEAR(st->errors[i]);
  Py_CLEAR(st->json_dumps);
  Py_CLEAR(st->json_loads);
  Py_CLEAR(st->get_running_loop);
  Py_CLEAR(st->abstract_add_reader);
  return 0;
}

static void module_free(void *module)
{
  pgml_py_state_t *st = pgml_py__state((PyObject *)module);

  (void)module_clear((PyObject *)module);
  PyMem_Free(st->message_types);
  st->message_types = NULL;
  PyMem_Free(st->class_types);
  st->class_types = NULL;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, (void *)module_exec},
    {0, NULL},
};

PyModuleDef pgml_py_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pgml._pgml",
    .m_doc = module_doc,
    .m_size = sizeof(pgml_py_state_t),
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__pgml(void)
{
  return PyModuleDef_Init(&pgml_py_module_def);
}
