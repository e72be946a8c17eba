/* pgml_table_lookup.c - lookups in a method table, and its consistency check. */
#include "pgml_table_lookup.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const pgml_message_info_t *pgml_table_message(const pgml_method_table_t *t,
                                              const ProtobufCMessageDescriptor *d) {
  for (size_t i = 0; i < t->n_messages; i++)
    if (t->messages[i].descriptor == d)
      return &t->messages[i];
  return NULL;
}

const pgml_method_info_t *pgml_table_method(const pgml_method_table_t *t,
                                            const char *wire_name) {
  for (size_t i = 0; i < t->n_methods; i++)
    if (strcmp(t->methods[i].wire_name, wire_name) == 0)
      return &t->methods[i];
  return NULL;
}

const pgml_method_info_t *pgml_table_class_method(const pgml_method_table_t *t,
                                                  const char *owner, const char *name) {
  for (size_t i = 0; i < t->n_methods; i++)
    if (strcmp(t->methods[i].owner, owner) == 0 && strcmp(t->methods[i].name, name) == 0)
      return &t->methods[i];
  return NULL;
}

const pgml_class_info_t *pgml_table_class(const pgml_method_table_t *t, const char *name) {
  for (size_t i = 0; i < t->n_classes; i++)
    if (strcmp(t->classes[i].name, name) == 0)
      return &t->classes[i];
  return NULL;
}

const pgml_error_info_t *pgml_table_error(const pgml_method_table_t *t, int code) {
  for (size_t i = 0; i < t->n_errors; i++)
    if (t->errors[i].code == code)
      return &t->errors[i];
  return NULL;
}

const pgml_field_info_t *pgml_message_field(const pgml_message_info_t *m, uint32_t number) {
  for (size_t i = 0; i < m->n_fields; i++)
    if (m->fields[i].number == number)
      return &m->fields[i];
  return NULL;
}

const pgml_field_info_t *pgml_message_field_by_name(const pgml_message_info_t *m,
                                                    const char *name) {
  for (size_t i = 0; i < m->n_fields; i++)
    if (strcmp(m->fields[i].name, name) == 0)
      return &m->fields[i];
  return NULL;
}

const ProtobufCFieldDescriptor *pgml_message_field_descriptor(const pgml_message_info_t *m,
                                                              const pgml_field_info_t *f) {
  /* protobuf-c's own lookup, by number (a binary search over its ranges). */
  return protobuf_c_message_descriptor_get_field(m->descriptor, f->number);
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err != NULL && errlen > 0) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* Whether `f` points into m->fields. */
static int owns_field(const pgml_message_info_t *m, const pgml_field_info_t *f) {
  for (size_t i = 0; i < m->n_fields; i++)
    if (&m->fields[i] == f)
      return 1;
  return 0;
}

static int check_message(const pgml_message_info_t *m, char *err, size_t errlen) {
  const ProtobufCMessageDescriptor *d = m->descriptor;

  if (d == NULL || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
    return fail(err, errlen, "message %s: no protobuf-c descriptor", m->name);
  if (m->n_fields != d->n_fields)
    return fail(err, errlen, "message %s: the table has %zu fields, %s has %u", m->name,
                m->n_fields, d->name, d->n_fields);
  for (size_t i = 0; i < m->n_fields; i++) {
    const pgml_field_info_t *f = &m->fields[i];
    const ProtobufCFieldDescriptor *fd = pgml_message_field_descriptor(m, f);
    if (fd == NULL)
      return fail(err, errlen, "message %s: field %s (%u) is not in %s", m->name,
                  f->proto_name, (unsigned)f->number, d->name);
    if (strcmp(fd->name, f->proto_name) != 0)
      return fail(err, errlen, "message %s: field %u is %s in the table, %s in %s",
                  m->name, (unsigned)f->number, f->proto_name, fd->name, d->name);
    if (((f->flags & PGML_FIELD_REPEATED) != 0) != (fd->label == PROTOBUF_C_LABEL_REPEATED))
      return fail(err, errlen, "message %s: field %s is %srepeated in the table but not in %s",
                  m->name, f->proto_name, (f->flags & PGML_FIELD_REPEATED) ? "" : "not ",
                  d->name);
  }
  if (m->unwrap != NULL && (!owns_field(m, m->unwrap) ||
                            (m->unwrap->flags & PGML_FIELD_REPEATED) == 0))
    return fail(err, errlen, "message %s: its unwrap field is not one of its repeated fields",
                m->name);
  return 0;
}

static int check_method(const pgml_method_info_t *meth, char *err, size_t errlen) {
  if (meth->request == NULL || meth->request->descriptor != meth->request_type ||
      meth->response == NULL || meth->response->descriptor != meth->response_type)
    return fail(err, errlen, "method %s: its request/response info describe other types",
                meth->wire_name);
  if (meth->bind != NULL && !owns_field(meth->request, meth->bind))
    return fail(err, errlen, "method %s: bind is not a field of its request",
                meth->wire_name);
  for (size_t i = 0; i < meth->n_args; i++)
    if (!owns_field(meth->request, meth->args[i]) || meth->args[i] == meth->bind)
      return fail(err, errlen, "method %s: argument %zu is not a field of its request",
                  meth->wire_name, i);
  if (meth->returns_key != NULL &&
      (meth->returns_bound == NULL || !owns_field(meth->response, meth->returns_key)))
    return fail(err, errlen, "method %s: returns_key is not a field of its response",
                meth->wire_name);
  if (meth->unwrap != meth->response->unwrap)
    return fail(err, errlen, "method %s: unwrap differs from its response's",
                meth->wire_name);
  return 0;
}

int pgml_method_table_check(const pgml_method_table_t *t, char *err, size_t errlen) {
  for (size_t i = 0; i < t->n_messages; i++)
    if (check_message(&t->messages[i], err, errlen) < 0)
      return -1;
  for (size_t i = 0; i < t->n_methods; i++)
    if (check_method(&t->methods[i], err, errlen) < 0)
      return -1;
  if (err != NULL && errlen > 0)
    err[0] = '\0';
  return 0;
}
