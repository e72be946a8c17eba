/* convert.c - Python values <-> protobuf-c messages, generically, by walking
 * each ProtobufCMessageDescriptor; the table adds the names and flags
 * (json, map) a descriptor cannot give.  Nothing here knows any message. */
#include "pgml_py.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

/* ---------------------------------------------------------------- arena */

struct arena_block_s {
  struct arena_block_s *next;
  max_align_t data[]; /* aligned for any field type */
};

void *pgml_py__arena_alloc(pgml_py_arena_t *a, size_t size)
{
  struct arena_block_s *b;

  if (size > PY_SSIZE_T_MAX - sizeof(*b)) {
    PyErr_NoMemory();
    return NULL;
  }
  b = PyMem_Calloc(1, sizeof(*b) + (size > 0 ? size : 1));
  if (b == NULL) {
    PyErr_NoMemory();
    return NULL;
  }
  b->next = a->blocks;
  a->blocks = b;
  return b->data;
}

int pgml_py__arena_keep(pgml_py_arena_t *a, PyObject *obj)
{
  int rc;

  if (a->keep == NULL) {
    a->keep = PyList_New(0);
    if (a->keep == NULL) {
      Py_DECREF(obj);
      return -1;
    }
  }
  rc = PyList_Append(a->keep, obj);
  Py_DECREF(obj);
  return rc;
}

void pgml_py__arena_release(pgml_py_arena_t *a)
{
  while (a->blocks != NULL) {
    struct arena_block_s *b = a->blocks;

    a->blocks = b->next;
    PyMem_Free(b);
  }
  Py_CLEAR(a->keep);
}

/* ---------------------------------------------------------------- lookups */

/* "parent.name", or "name" at the top. */
static void join_path(char *buf, size_t size, const char *parent, const char *name)
{
  if (parent[0] != '\0')
    snprintf(buf, size, "%s.%s", parent, name);
  else
    snprintf(buf, size, "%s", name);
}

const pgml_message_info_t *pgml_py__message_info(const pgml_py_state_t *st,
                                                 const ProtobufCMessageDescriptor *desc)
{
  for (size_t i = 0; i < st->table->n_messages; i++)
    if (st->table->messages[i].descriptor == desc)
      return &st->table->messages[i];
  return NULL;
}

static size_t elem_size(const ProtobufCFieldDescriptor *fd)
{
  switch (fd->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_ENUM:
    return 4;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return 8;
  case PROTOBUF_C_TYPE_FLOAT:
    return sizeof(float);
  case PROTOBUF_C_TYPE_DOUBLE:
    return sizeof(double);
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_STRING:
    return sizeof(char *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(ProtobufCMessage *);
  }
  return 0;
}

/* What a field of this type takes, for TypeError messages. */
static const char *expected_name(const ProtobufCFieldDescriptor *fd, uint32_t flags)
{
  if (flags & PGML_FIELD_JSON)
    return "a JSON-serialisable value";
  switch (fd->type) {
  case PROTOBUF_C_TYPE_FLOAT:
  case PROTOBUF_C_TYPE_DOUBLE:
    return "float";
  case PROTOBUF_C_TYPE_BOOL:
    return "bool";
  case PROTOBUF_C_TYPE_STRING:
    return "str";
  case PROTOBUF_C_TYPE_BYTES:
    return "bytes";
  case PROTOBUF_C_TYPE_MESSAGE:
    return "a result object or dict";
  default:
    return "int";
  }
}

static int wrong_type(const ProtobufCFieldDescriptor *fd, uint32_t flags, PyObject *v,
                      const char *func, const char *path)
{
  PyErr_Format(PyExc_TypeError, "%s(): field '%s' must be %s, not %.100s", func, path,
               expected_name(fd, flags), Py_TYPE(v)->tp_name);
  return -1;
}

/* ---------------------------------------------------------------- Python -> C */

static int int_from_object(const ProtobufCFieldDescriptor *fd, PyObject *v, void *dst,
                           const char *func, const char *path)
{
  int overflow = 0;

  if (!PyLong_Check(v) || PyBool_Check(v))
    return wrong_type(fd, 0, v, func, path);
  switch (fd->type) {
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64: {
    unsigned long long u;
    int is32 = fd->type == PROTOBUF_C_TYPE_UINT32 || fd->type == PROTOBUF_C_TYPE_FIXED32;

    /* Negative values raise OverflowError here too. */
    u = PyLong_AsUnsignedLongLong(v);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
      PyErr_Clear();
      goto range;
    }
    if (is32) {
      if (u > UINT32_MAX)
        goto range;
      *(uint32_t *)dst = (uint32_t)u;
    } else {
      *(uint64_t *)dst = (uint64_t)u;
    }
    return 0;
  }
  default: {
    long long s = PyLong_AsLongLongAndOverflow(v, &overflow);
    int is64 = elem_size(fd) == 8;

    if (s == -1 && PyErr_Occurred())
      return -1;
    if (overflow != 0)
      goto range;
    if (is64) {
      *(int64_t *)dst = (int64_t)s;
    } else {
      if (s < INT32_MIN || s > INT32_MAX)
        goto range;
      *(int32_t *)dst = (int32_t)s;
    }
    return 0;
  }
  }

range:
  PyErr_Format(PyExc_OverflowError, "%s(): field '%s' is out of range for %s: %R", func,
               path, fd->type == PROTOBUF_C_TYPE_ENUM ? "an enum" : "its integer type", v);
  return -1;
}

/* UTF-8 text of str `v`, borrowed from v (which the caller keeps alive). */
static const char *utf8_of(const ProtobufCFieldDescriptor *fd, uint32_t flags, PyObject *v,
                           const char *func, const char *path)
{
  Py_ssize_t n;
  const char *s;

  if (!PyUnicode_Check(v)) {
    wrong_type(fd, flags, v, func, path);
    return NULL;
  }
  s = PyUnicode_AsUTF8AndSize(v, &n);
  if (s == NULL)
    return NULL;
  /* protobuf-c strings end at the first NUL: refuse to cut the text. */
  if (strlen(s) != (size_t)n) {
    PyErr_Format(PyExc_ValueError, "%s(): field '%s' contains a NUL character", func, path);
    return NULL;
  }
  return s;
}

/* Stores one value `v` (not None) of field `fd` at `dst`. */
static int value_from_object(pgml_py_state_t *st, pgml_py_arena_t *arena,
                             const ProtobufCFieldDescriptor *fd, uint32_t flags, PyObject *v,
                             void *dst, const char *func, const char *path)
{
  switch (fd->type) {
  case PROTOBUF_C_TYPE_BOOL:
    if (!PyBool_Check(v))
      return wrong_type(fd, flags, v, func, path);
    *(protobuf_c_boolean *)dst = v == Py_True;
    return 0;
  case PROTOBUF_C_TYPE_FLOAT:
  case PROTOBUF_C_TYPE_DOUBLE: {
    double d;

    if (!(PyFloat_Check(v) || PyLong_Check(v)) || PyBool_Check(v))
      return wrong_type(fd, flags, v, func, path);
    d = PyFloat_AsDouble(v);
    if (d == -1.0 && PyErr_Occurred())
      return -1;
    if (fd->type == PROTOBUF_C_TYPE_DOUBLE) {
      *(double *)dst = d;
    } else {
      if (isfinite(d) && (d > FLT_MAX || d < -FLT_MAX)) {
        PyErr_Format(PyExc_OverflowError, "%s(): field '%s' is too large for a float: %R",
                     func, path, v);
        return -1;
      }
      *(float *)dst = (float)d;
    }
    return 0;
  }
  case PROTOBUF_C_TYPE_STRING: {
    const char *s;

    if (flags & PGML_FIELD_JSON) {
      PyObject *text = PyObject_CallOneArg(st->json_dumps, v);

      if (text == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError) ||
            PyErr_ExceptionMatches(PyExc_ValueError)) {
          PyObject *type, *exc, *tb;

          PyErr_Fetch(&type, &exc, &tb);
          PyErr_NormalizeException(&type, &exc, &tb);
          PyErr_Format(PyExc_TypeError, "%s(): field '%s' must be JSON-serialisable: %S",
                       func, path, exc != NULL ? exc : Py_None);
          Py_XDECREF(type);
          Py_XDECREF(exc);
          Py_XDECREF(tb);
        }
        return -1;
      }
      s = utf8_of(fd, flags, text, func, path);
      if (s == NULL || pgml_py__arena_keep(arena, text) < 0) {
        if (s == NULL)
          Py_DECREF(text);
        return -1;
      }
    } else {
      s = utf8_of(fd, flags, v, func, path);
      if (s == NULL)
        return -1;
    }
    *(const char **)dst = s;
    return 0;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    Py_buffer view;
    ProtobufCBinaryData *b = dst;
    void *copy;

    if (PyUnicode_Check(v) || !PyObject_CheckBuffer(v))
      return wrong_type(fd, flags, v, func, path);
    if (PyObject_GetBuffer(v, &view, PyBUF_SIMPLE) < 0)
      return -1;
    /* Copied: a bytearray could change size before the request is packed. */
    copy = pgml_py__arena_alloc(arena, (size_t)view.len);
    if (copy != NULL)
      memcpy(copy, view.buf, (size_t)view.len);
    b->len = (size_t)view.len;
    b->data = copy;
    PyBuffer_Release(&view);
    return copy != NULL ? 0 : -1;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const pgml_message_info_t *sub = pgml_py__message_info(st, fd->descriptor);
    ProtobufCMessage *m;

    if (sub == NULL) {
      PyErr_Format(PyExc_SystemError, "%s(): field '%s': message %s is not in the table",
                   func, path, ((const ProtobufCMessageDescriptor *)fd->descriptor)->name);
      return -1;
    }
    m = pgml_py__message_from_object(st, arena, sub, v, func, path);
    if (m == NULL)
      return -1;
    *(ProtobufCMessage **)dst = m;
    return 0;
  }
  default:
    return int_from_object(fd, v, dst, func, path);
  }
}

/* A map field: `v` is a dict; every item becomes an entry message. */
static int map_from_object(pgml_py_state_t *st, pgml_py_arena_t *arena,
                           const ProtobufCFieldDescriptor *fd, PyObject *v, void *base,
                           const char *func, const char *path)
{
  const ProtobufCMessageDescriptor *ed = fd->descriptor;
  const ProtobufCFieldDescriptor *kfd = protobuf_c_message_descriptor_get_field(ed, 1);
  const ProtobufCFieldDescriptor *vfd = protobuf_c_message_descriptor_get_field(ed, 2);
  ProtobufCMessage **entries;
  PyObject *key, *val;
  Py_ssize_t pos = 0, i = 0, n;
  char sub[256];

  if (!PyDict_Check(v)) {
    PyErr_Format(PyExc_TypeError, "%s(): field '%s' must be a dict, not %.100s", func, path,
                 Py_TYPE(v)->tp_name);
    return -1;
  }
  if (kfd == NULL || vfd == NULL) {
    PyErr_Format(PyExc_SystemError, "%s(): field '%s' is not a map", func, path);
    return -1;
  }
  n = PyDict_GET_SIZE(v);
  entries = pgml_py__arena_alloc(arena, (size_t)n * sizeof(*entries));
  if (entries == NULL)
    return -1;
  /* The dict is the caller's, alive until the request is packed; no Python
   * code runs while it is walked, so its size cannot change. */
  while (i < n && PyDict_Next(v, &pos, &key, &val)) {
    ProtobufCMessage *e = pgml_py__arena_alloc(arena, ed->sizeof_message);

    if (e == NULL)
      return -1;
    ed->message_init(e);
    snprintf(sub, sizeof(sub), "%s[key]", path);
    if (value_from_object(st, arena, kfd, 0, key, (char *)e + kfd->offset, func, sub) < 0)
      return -1;
    snprintf(sub, sizeof(sub), "%s[value]", path);
    if (val != Py_None &&
        value_from_object(st, arena, vfd, 0, val, (char *)e + vfd->offset, func, sub) < 0)
      return -1;
    entries[i++] = e;
  }
  *(size_t *)((char *)base + fd->quantifier_offset) = (size_t)i;
  *(ProtobufCMessage ***)((char *)base + fd->offset) = entries;
  return 0;
}

int pgml_py__set_field(pgml_py_state_t *st, pgml_py_arena_t *arena, ProtobufCMessage *msg,
                       const pgml_message_info_t *info, const pgml_field_info_t *fi,
                       PyObject *value, const char *func, const char *path)
{
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field(msg->descriptor, fi->number);
  char *base = (char *)msg;

  (void)info;
  if (fd == NULL) {
    PyErr_Format(PyExc_SystemError, "%s(): field '%s' (number %u) is not in %s", func, path,
                 (unsigned)fi->number, msg->descriptor->name);
    return -1;
  }
  if (value == Py_None)
    return 0;
  if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
    PyObject *seq;
    Py_ssize_t n;
    size_t es = elem_size(fd);
    char *arr;
    char sub[256];

    if (fi->flags & PGML_FIELD_MAP)
      return map_from_object(st, arena, fd, value, base, func, path);
    if (PyUnicode_Check(value) || PyBytes_Check(value) || PyByteArray_Check(value) ||
        PyDict_Check(value)) {
      PyErr_Format(PyExc_TypeError, "%s(): field '%s' must be a sequence of %s, not %.100s",
                   func, path, expected_name(fd, fi->flags), Py_TYPE(value)->tp_name);
      return -1;
    }
    seq = PySequence_Fast(value, "");
    if (seq == NULL) {
      PyErr_Format(PyExc_TypeError, "%s(): field '%s' must be a sequence of %s, not %.100s",
                   func, path, expected_name(fd, fi->flags), Py_TYPE(value)->tp_name);
      return -1;
    }
    if (pgml_py__arena_keep(arena, seq) < 0)
      return -1;
    n = PySequence_Fast_GET_SIZE(seq); /* seq is kept alive by the arena */
    arr = pgml_py__arena_alloc(arena, (size_t)n * es);
    if (arr == NULL)
      return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
      PyObject *item = PySequence_Fast_GET_ITEM(seq, i); /* borrowed */

      snprintf(sub, sizeof(sub), "%s[%zd]", path, i);
      if (item == Py_None) {
        PyErr_Format(PyExc_TypeError, "%s(): field '%s' must be %s, not None", func, sub,
                     expected_name(fd, fi->flags));
        return -1;
      }
      if (value_from_object(st, arena, fd, fi->flags, item, arr + (size_t)i * es, func, sub) < 0)
        return -1;
    }
    *(size_t *)(base + fd->quantifier_offset) = (size_t)n;
    *(void **)(base + fd->offset) = arr;
    return 0;
  }
  if (value_from_object(st, arena, fd, fi->flags, value, base + fd->offset, func, path) < 0)
    return -1;
  if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
    *(uint32_t *)(base + fd->quantifier_offset) = fd->id;
  else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->type != PROTOBUF_C_TYPE_STRING &&
           fd->type != PROTOBUF_C_TYPE_MESSAGE)
    *(protobuf_c_boolean *)(base + fd->quantifier_offset) = 1;
  return 0;
}

ProtobufCMessage *pgml_py__message_from_object(pgml_py_state_t *st, pgml_py_arena_t *arena,
                                               const pgml_message_info_t *info, PyObject *obj,
                                               const char *func, const char *path)
{
  const ProtobufCMessageDescriptor *desc = info->descriptor;
  ProtobufCMessage *msg = pgml_py__arena_alloc(arena, desc->sizeof_message);
  char sub[256];

  if (msg == NULL)
    return NULL;
  desc->message_init(msg);
  if (PyObject_TypeCheck(obj, st->message_base)) {
    pgml_py_message_t *m = (pgml_py_message_t *)obj;

    if (m->info != info) {
      PyErr_Format(PyExc_TypeError, "%s(): field '%s' must be %s or a dict, not %s", func,
                   path, info->name, m->info->name);
      return NULL;
    }
    /* A JSON field not read yet is still its text: parse it first, or it
     * would be encoded again as a JSON string. */
    if (pgml_py__message_materialize(m) < 0)
      return NULL;
    for (size_t i = 0; i < info->n_fields; i++) {
      join_path(sub, sizeof(sub), path, info->fields[i].name);
      if (pgml_py__set_field(st, arena, msg, info, &info->fields[i],
                             PyTuple_GET_ITEM(m->values, (Py_ssize_t)i), func, sub) < 0)
        return NULL;
    }
    return msg;
  }
  if (PyDict_Check(obj)) {
    PyObject *key, *val;
    Py_ssize_t pos = 0;

    /* Kept alive while the message borrows from its values. */
    Py_INCREF(obj);
    if (pgml_py__arena_keep(arena, obj) < 0)
      return NULL;
    while (PyDict_Next(obj, &pos, &key, &val)) {
      const pgml_field_info_t *fi = NULL;

      if (PyUnicode_Check(key))
        for (size_t i = 0; i < info->n_fields && fi == NULL; i++)
          if (PyUnicode_CompareWithASCIIString(key, info->fields[i].name) == 0)
            fi = &info->fields[i];
      if (fi == NULL) {
        if (path[0] != '\0')
          PyErr_Format(PyExc_TypeError, "%s(): field '%s' (%s) has no field %R", func, path,
                       info->name, key);
        else
          PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", func,
                       key);
        return NULL;
      }
      join_path(sub, sizeof(sub), path, fi->name);
      if (pgml_py__set_field(st, arena, msg, info, fi, val, func, sub) < 0)
        return NULL;
    }
    return msg;
  }
  PyErr_Format(PyExc_TypeError, "%s(): field '%s' must be %s or a dict, not %.100s", func,
               path, info->name, Py_TYPE(obj)->tp_name);
  return NULL;
}

/* ---------------------------------------------------------------- C -> Python */

static PyObject *value_to_object(pgml_py_state_t *st, const ProtobufCFieldDescriptor *fd,
                                 uint32_t flags, const void *p)
{
  switch (fd->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_ENUM:
    return PyLong_FromLong(*(const int32_t *)p);
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return PyLong_FromUnsignedLong(*(const uint32_t *)p);
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    return PyLong_FromLongLong(*(const int64_t *)p);
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return PyLong_FromUnsignedLongLong(*(const uint64_t *)p);
  case PROTOBUF_C_TYPE_FLOAT:
    return PyFloat_FromDouble(*(const float *)p);
  case PROTOBUF_C_TYPE_DOUBLE:
    return PyFloat_FromDouble(*(const double *)p);
  case PROTOBUF_C_TYPE_BOOL:
    return PyBool_FromLong(*(const protobuf_c_boolean *)p);
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(const char *const *)p;
    PyObject *text, *v;

    if (s == NULL)
      s = "";
    if ((flags & PGML_FIELD_JSON) && s[0] == '\0')
      Py_RETURN_NONE;
    text = PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "strict");
    if (text == NULL || !(flags & PGML_FIELD_JSON))
      return text;
    v = PyObject_CallOneArg(st->json_loads, text);
    Py_DECREF(text);
    return v;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *b = p;

    return PyBytes_FromStringAndSize(b->len > 0 ? (const char *)b->data : "",
                                     (Py_ssize_t)b->len);
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
    const pgml_message_info_t *info;

    if (m == NULL)
      Py_RETURN_NONE;
    info = pgml_py__message_info(st, m->descriptor);
    if (info == NULL)
      return PyErr_Format(PyExc_SystemError, "pgml: message %s is not in the table",
                          m->descriptor->name);
    return pgml_py__message_to_object(st, info, m);
  }
  }
  return PyErr_Format(PyExc_SystemError, "pgml: field %s has an unknown type %d", fd->name,
                      (int)fd->type);
}

PyObject *pgml_py__field_to_object(pgml_py_state_t *st, const ProtobufCMessage *msg,
                                   const pgml_field_info_t *fi)
{
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field(msg->descriptor, fi->number);
  const char *base = (const char *)msg;

  if (fd == NULL)
    return PyErr_Format(PyExc_SystemError, "pgml: field %s (number %u) is not in %s",
                        fi->name, (unsigned)fi->number, msg->descriptor->name);
  if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
    size_t n = *(const size_t *)(base + fd->quantifier_offset);
    const char *arr = *(const char *const *)(base + fd->offset);
    size_t es = elem_size(fd);

    if (fi->flags & PGML_FIELD_MAP) {
      const ProtobufCMessageDescriptor *ed = fd->descriptor;
      const ProtobufCFieldDescriptor *kfd = protobuf_c_message_descriptor_get_field(ed, 1);
      const ProtobufCFieldDescriptor *vfd = protobuf_c_message_descriptor_get_field(ed, 2);
      PyObject *d = PyDict_New();

      if (d == NULL)
        return NULL;
      for (size_t i = 0; i < n && kfd != NULL && vfd != NULL; i++) {
        const char *e = ((const char *const *)(const void *)arr)[i];
        PyObject *k = value_to_object(st, kfd, 0, e + kfd->offset);
        PyObject *v = k != NULL ? value_to_object(st, vfd, 0, e + vfd->offset) : NULL;

        if (v == NULL || PyDict_SetItem(d, k, v) < 0) {
          Py_XDECREF(k);
          Py_XDECREF(v);
          Py_DECREF(d);
          return NULL;
        }
        Py_DECREF(k);
        Py_DECREF(v);
      }
      return d;
    }
    PyObject *list = PyList_New((Py_ssize_t)n);

    if (list == NULL)
      return NULL;
    for (size_t i = 0; i < n; i++) {
      PyObject *v = value_to_object(st, fd, fi->flags, arr + i * es);

      if (v == NULL) {
        Py_DECREF(list);
        return NULL;
      }
      PyList_SET_ITEM(list, (Py_ssize_t)i, v);
    }
    return list;
  }
  if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
      *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
    Py_RETURN_NONE;
  return value_to_object(st, fd, fi->flags, base + fd->offset);
}

/* A singular JSON field whose text is kept as it came and parsed on first
 * access (message.c): a caller reading only some fields of many results
 * (a search's scores and ids, say) does not pay json.loads for the rest. */
static const ProtobufCFieldDescriptor *lazy_json_field(const ProtobufCMessage *msg,
                                                       const pgml_field_info_t *fi)
{
  const ProtobufCFieldDescriptor *fd;

  if (!(fi->flags & PGML_FIELD_JSON) || (fi->flags & PGML_FIELD_MAP))
    return NULL;
  fd = protobuf_c_message_descriptor_get_field(msg->descriptor, fi->number);
  return fd != NULL && fd->type == PROTOBUF_C_TYPE_STRING && fd->label != PROTOBUF_C_LABEL_REPEATED &&
                 !(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
             ? fd
             : NULL;
}

PyObject *pgml_py__message_to_object(pgml_py_state_t *st, const pgml_message_info_t *info,
                                     const ProtobufCMessage *msg)
{
  PyObject *values = PyTuple_New((Py_ssize_t)info->n_fields);
  uint64_t lazy = 0;

  if (values == NULL)
    return NULL;
  for (size_t i = 0; i < info->n_fields; i++) {
    const pgml_field_info_t *fi = &info->fields[i];
    const ProtobufCFieldDescriptor *fd = i < 64 ? lazy_json_field(msg, fi) : NULL;
    PyObject *v;

    if (fd != NULL) {
      const char *s = *(const char *const *)(const void *)((const char *)msg + fd->offset);

      if (s == NULL || s[0] == '\0') {
        v = Py_NewRef(Py_None);
      } else {
        v = PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "strict");
        lazy |= (uint64_t)1 << i;
      }
    } else {
      v = pgml_py__field_to_object(st, msg, fi);
    }
    if (v == NULL) {
      Py_DECREF(values);
      return NULL;
    }
    PyTuple_SET_ITEM(values, (Py_ssize_t)i, v);
  }
  return pgml_py__message_new(st, pgml_py__message_index(st, info), values, lazy);
}
