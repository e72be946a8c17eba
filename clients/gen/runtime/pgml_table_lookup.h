/* pgml_table_lookup.h - finding things in a method table, and checking a
 * table against the protobuf-c descriptors it was linked with.
 *
 * What both native extensions need when they convert values generically:
 * from a ProtobufCMessageDescriptor met while walking a message (a nested
 * field's type) to the table's pgml_message_info_t with the language's
 * names and the flags; from a field number to its pgml_field_info_t; from a
 * status code to its error class.  Plain C, no allocation; every function
 * returns a pointer into the (static) table, or NULL when there is none.
 * Searches are linear: a table has tens of entries.
 *
 * Linked into pgml_method_table_python and pgml_method_table_node.
 */
#ifndef PGML_TABLE_LOOKUP_H
#define PGML_TABLE_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "pgml_method_table.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The message whose descriptor is `d` (compared by address), or NULL: map
 * entries and messages no method uses are not in a table. */
const pgml_message_info_t *pgml_table_message(const pgml_method_table_t *t,
                                              const ProtobufCMessageDescriptor *d);

/* The method with this wire name ("pgml.v1.Database/Ping"), or NULL. */
const pgml_method_info_t *pgml_table_method(const pgml_method_table_t *t,
                                            const char *wire_name);

/* The method `name` (the language's spelling) of class `owner`, or NULL. */
const pgml_method_info_t *pgml_table_class_method(const pgml_method_table_t *t,
                                                  const char *owner, const char *name);

/* The bound class named `name` ("Collection"), or NULL. */
const pgml_class_info_t *pgml_table_class(const pgml_method_table_t *t, const char *name);

/* The error class of status code `code`, or NULL (OK, or a code the table
 * does not know: the extension then uses the base class). */
const pgml_error_info_t *pgml_table_error(const pgml_method_table_t *t, int code);

/* The field with .proto number `number`, or NULL. */
const pgml_field_info_t *pgml_message_field(const pgml_message_info_t *m, uint32_t number);

/* The field the language calls `name` ("topK" / "top_k"), or NULL. */
const pgml_field_info_t *pgml_message_field_by_name(const pgml_message_info_t *m,
                                                    const char *name);

/* The protobuf-c descriptor of field `f` of message `m`, or NULL if the
 * descriptor has no such field (a table/descriptor mismatch). */
const ProtobufCFieldDescriptor *pgml_message_field_descriptor(const pgml_message_info_t *m,
                                                              const pgml_field_info_t *f);

/* Checks that the table describes the descriptors it points at: every
 * field of every message exists in its descriptor with that name and the
 * descriptor has no field the table lacks; every method's request and
 * response info describe its types; args and bind are request fields; the
 * unwrap field is repeated.  An extension can run this once when it loads,
 * so that a table generated from another .proto than the linked protobuf-c
 * code fails loudly.  Returns 0, or -1 after writing what is wrong into
 * err (NUL-terminated, truncated to errlen; err may be NULL). */
int pgml_method_table_check(const pgml_method_table_t *t, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
