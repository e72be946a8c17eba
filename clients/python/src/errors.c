/* errors.c - pgml.Error and one subclass per status code, made from the
 * table's error list, and the exceptions a call's outcome turns into. */
#include "pgml_py.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char base_doc[] =
    "A call did not complete with OK.  The subclass names the code.\n"
    "\n"
    "Attributes: code (the pgml.v1.Code value), code_name (\"NOT_FOUND\"),\n"
    "message (why, in words), details (the server's facts as a dict, or None).";

/* A class dict with the attributes every instance starts from. */
static PyObject *class_dict(int code, const char *code_name)
{
  PyObject *d = PyDict_New();
  PyObject *v;

  if (d == NULL)
    return NULL;
  v = PyLong_FromLong(code);
  if (v == NULL || PyDict_SetItemString(d, "code", v) < 0)
    goto fail;
  Py_DECREF(v);
  v = PyUnicode_FromString(code_name);
  if (v == NULL || PyDict_SetItemString(d, "code_name", v) < 0)
    goto fail;
  Py_DECREF(v);
  v = PyUnicode_FromString("");
  if (v == NULL || PyDict_SetItemString(d, "message", v) < 0)
    goto fail;
  Py_DECREF(v);
  v = NULL;
  if (PyDict_SetItemString(d, "details", Py_None) < 0)
    goto fail;
  return d;

fail:
  Py_XDECREF(v);
  Py_DECREF(d);
  return NULL;
}

/* Creates exception class "pgml.<name>" deriving from `base`, adds it to
 * the module and returns a new reference to it. */
static PyObject *new_class(PyObject *module, const char *name, const char *doc,
                           PyObject *base, int code, const char *code_name)
{
  char qual[128];
  PyObject *dict, *cls;

  snprintf(qual, sizeof(qual), "pgml.%s", name);
  dict = class_dict(code, code_name);
  if (dict == NULL)
    return NULL;
  cls = PyErr_NewExceptionWithDoc(qual, doc, base, dict);
  Py_DECREF(dict);
  if (cls == NULL)
    return NULL;
  if (PyModule_AddObjectRef(module, name, cls) < 0) {
    Py_DECREF(cls);
    return NULL;
  }
  return cls;
}

int pgml_py__errors_init(PyObject *module, pgml_py_state_t *st)
{
  const pgml_method_table_t *t = st->table;

  st->error_base = new_class(module, t->error_base, base_doc, PyExc_Exception, 2, "UNKNOWN");
  if (st->error_base == NULL)
    return -1;
  for (size_t i = 0; i < t->n_errors; i++) {
    const pgml_error_info_t *e = &t->errors[i];
    char doc[512];

    if (e->code <= 0 || e->code > PGML_PY_MAX_CODE) {
      PyErr_Format(PyExc_SystemError, "pgml: status code %d of %s is out of range",
                   e->code, e->name);
      return -1;
    }
    if (e->doc[0] != '\0')
      snprintf(doc, sizeof(doc), "The call completed with %s (%d): %s", e->code_name,
               e->code, e->doc);
    else
      snprintf(doc, sizeof(doc), "The call completed with %s (%d).", e->code_name, e->code);
    Py_XDECREF(st->errors[e->code]);
    st->errors[e->code] = new_class(module, e->name, doc, st->error_base, e->code,
                                    e->code_name);
    if (st->errors[e->code] == NULL)
      return -1;
  }
  return 0;
}

/* A new exception of `code` carrying `message` and `details` (JSON text or
 * NULL): the class's instance with its attributes set. */
static PyObject *make_error(pgml_py_state_t *st, int code, const char *message,
                            const char *details)
{
  PyObject *cls = code > 0 && code <= PGML_PY_MAX_CODE && st->errors[code] != NULL
                      ? st->errors[code] /* borrowed */
                      : st->error_base;
  PyObject *msg = NULL, *exc = NULL, *v = NULL;

  msg = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
  if (msg == NULL)
    return NULL;
  exc = PyObject_CallOneArg(cls, msg);
  if (exc == NULL)
    goto out;
  v = PyLong_FromLong(code);
  if (v == NULL || PyObject_SetAttrString(exc, "code", v) < 0)
    goto fail;
  Py_CLEAR(v);
  v = PyUnicode_FromString(pgml_code_name((pgml_code_t)code));
  if (v == NULL || PyObject_SetAttrString(exc, "code_name", v) < 0)
    goto fail;
  Py_CLEAR(v);
  if (PyObject_SetAttrString(exc, "message", msg) < 0)
    goto fail;
  if (details != NULL && details[0] != '\0') {
    PyObject *text = PyUnicode_DecodeUTF8(details, (Py_ssize_t)strlen(details), "replace");

    if (text == NULL)
      goto fail;
    v = PyObject_CallOneArg(st->json_loads, text);
    if (v == NULL) {
      /* Details that are not JSON are still worth showing: keep the text. */
      PyErr_Clear();
      v = text;
    } else {
      Py_DECREF(text);
    }
    if (PyObject_SetAttrString(exc, "details", v) < 0)
      goto fail;
    Py_CLEAR(v);
  }
  goto out;

fail:
  Py_XDECREF(v);
  Py_CLEAR(exc);
out:
  Py_DECREF(msg);
  return exc;
}

PyObject *pgml_py__error_from_result(pgml_py_state_t *st, const pgml_result_t *res)
{
  return make_error(st, (int)res->code, res->message, res->details);
}

PyObject *pgml_py__raise_errno(pgml_py_state_t *st, int rc, const char *func,
                               const char *address)
{
  char msg[512];
  int code;
  PyObject *exc;

  switch (rc) {
  case -ENOMEM:
    return PyErr_NoMemory();
  case -EMSGSIZE:
    code = PGML_RESOURCE_EXHAUSTED;
    snprintf(msg, sizeof(msg), "%s(): the request is larger than the largest frame pgmld "
             "accepts (%u bytes)", func, PGML_DEFAULT_MAX_FRAME_SIZE);
    break;
  case -ENOBUFS:
    code = PGML_RESOURCE_EXHAUSTED;
    snprintf(msg, sizeof(msg), "%s(): too many calls pending on pgmld at %s (at most %u)",
             func, address, PGML_DEFAULT_MAX_CALLS);
    break;
  case -ESHUTDOWN:
    code = PGML_CANCELLED;
    snprintf(msg, sizeof(msg), "%s(): the client of pgmld at %s is closing", func, address);
    break;
  default:
    errno = -rc;
    snprintf(msg, sizeof(msg), "%s(): libpgml refused the call to pgmld at %s", func,
             address);
    return PyErr_Format(PyExc_OSError, "%s: %s", msg, strerror(-rc));
  }
  exc = make_error(st, code, msg, NULL);
  if (exc != NULL) {
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
  }
  return NULL;
}
