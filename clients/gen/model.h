/* model.h - the service as the generator sees it, read from a descriptor set.
 *
 * pgml_gen_model_load() decodes the FileDescriptorSet that protoc wrote
 * (--include_imports --include_source_info), resolves every type, reads the
 * custom options and comments, and checks that the options make sense
 * (a (bind) on a string field of a request, an (unwrap) that names a
 * repeated field, ...).  The emitters only read the model.
 *
 * Ownership: everything in a model lives in its arena and is freed by
 * pgml_gen_model_free().  Strings are never NULL unless a comment says so.
 *
 * Errors: 0, -EINVAL (the descriptor set or the .proto is wrong: each problem
 * is reported through the diag, with the file, line and element), -ENOMEM.
 */
#ifndef PGML_GEN_MODEL_H
#define PGML_GEN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "options.h"

typedef Google__Protobuf__FieldDescriptorProto__Type pgml_gen_type_t;

#define PGML_GEN_TYPE(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x

typedef struct pgml_gen_message_s pgml_gen_message_t;
typedef struct pgml_gen_enum_s pgml_gen_enum_t;

typedef struct pgml_gen_enum_value_s {
  const char *name; /* "NOT_FOUND" */
  int32_t number;
  const char *doc; /* the .proto comment, or NULL */
} pgml_gen_enum_value_t;

struct pgml_gen_enum_s {
  const char *name;      /* "Code"; nested: "Frame.Kind" */
  const char *full_name; /* "pgml.v1.Code" */
  pgml_gen_enum_value_t *values;
  size_t n_values;
  const char *doc;
  const char *where; /* "pgml/v1/frame.proto:9:1" */
};

typedef struct pgml_gen_field_s {
  const char *name; /* as in the .proto: "top_k" */
  uint32_t number;
  pgml_gen_type_t type;
  bool repeated;
  pgml_gen_message_t *message; /* TYPE_MESSAGE: the resolved type */
  pgml_gen_enum_t *enum_type;  /* TYPE_ENUM: the resolved type */
  pgml_gen_field_opts_t opts;
  const char *doc;
  const char *where;
  const pgml_gen_message_t *parent;
} pgml_gen_field_t;

struct pgml_gen_message_s {
  const char *name;      /* "PingRequest"; nested: "Outer.Inner" */
  const char *ident;     /* one identifier: "PingRequest", "Outer_Inner" */
  const char *full_name; /* "pgml.v1.PingRequest" */
  const char *file;      /* "pgml/v1/database.proto" */
  pgml_gen_field_t *fields; /* in .proto order */
  size_t n_fields;
  pgml_gen_message_opts_t opts;
  pgml_gen_field_t *unwrap; /* the field (unwrap) names, or NULL */
  bool map_entry;           /* a map<K, V> field's synthetic entry */
  bool used;                /* reachable from the service's methods */
  bool is_request;          /* some method takes it */
  const char *doc;
  const char *where;
};

typedef struct pgml_gen_method_s {
  const char *name; /* "CreateOrGetCollection" */
  pgml_gen_message_t *request;
  pgml_gen_message_t *response;
  pgml_gen_method_opts_t opts;
  pgml_gen_field_t *bind;        /* the request's (bind) field, or NULL */
  const char *owner;             /* the service's name, or bind->opts.bind */
  pgml_gen_field_t *returns_key; /* resolved opts.returns_key, or NULL */
  const char *doc;
  const char *where;
} pgml_gen_method_t;

/* A class that (bind) names: the RPCs whose request binds it live on it. */
typedef struct pgml_gen_class_s {
  const char *name;  /* "Collection" */
  size_t n_methods;  /* methods on it */
  const char *where; /* the first (bind) that named it */
} pgml_gen_class_t;

typedef struct pgml_gen_service_s {
  const char *name;      /* "Database" */
  const char *full_name; /* "pgml.v1.Database" */
  const char *package;   /* "pgml.v1" */
  const char *file;      /* "pgml/v1/database.proto" */
  pgml_gen_method_t *methods;
  size_t n_methods;
  const char *doc;
} pgml_gen_service_t;

typedef struct pgml_gen_model_s {
  pgml_gen_arena_t arena;
  pgml_gen_service_t service;
  pgml_gen_message_t **messages; /* every message of every file, files in
                                    set order, each in .proto order */
  size_t n_messages;
  pgml_gen_enum_t **enums; /* likewise */
  size_t n_enums;
  pgml_gen_enum_t *codes; /* the status codes (pgml.v1.Code) */
  pgml_gen_class_t *classes; /* in order of first (bind) */
  size_t n_classes;
  pgml_gen_opt_numbers_t opt_numbers;
} pgml_gen_model_t;

/* Loads the model of `service` (its full name "pgml.v1.Database", or its
 * short name when only one service has it) from a serialized
 * FileDescriptorSet.  `codes` is the full name of the status-code enum the
 * errors are made from ("pgml.v1.Code"); NULL means "<package>.Code".
 * The model owns nothing of `data`.  On failure the model is freed again
 * and every problem found has been reported. */
__attribute__((warn_unused_result)) int
pgml_gen_model_load(pgml_gen_model_t *m, const uint8_t *data, size_t len,
                    const char *service, const char *codes, pgml_gen_diag_t *d);

void pgml_gen_model_free(pgml_gen_model_t *m);

/* The message or enum with this full name ("pgml.v1.PingRequest", with or
 * without a leading '.'), or NULL. */
pgml_gen_message_t *pgml_gen_model_message(const pgml_gen_model_t *m,
                                           const char *full_name);
pgml_gen_enum_t *pgml_gen_model_enum(const pgml_gen_model_t *m,
                                     const char *full_name);

/* The request fields a caller passes to the method: all of them in .proto
 * order except the bound one.  Fills `out` (room for request->n_fields)
 * and returns how many. */
size_t pgml_gen_method_args(const pgml_gen_method_t *meth,
                            const pgml_gen_field_t **out);

/* The method returns nothing to its caller (its response has no fields). */
bool pgml_gen_method_is_void(const pgml_gen_method_t *meth);

/* Whether the clients present the message as a class of its own: the
 * service uses it and it is not a map's entry. */
bool pgml_gen_message_shown(const pgml_gen_message_t *msg);

/* The .proto type's name as a word, e.g. "string", "uint64", "message". */
const char *pgml_gen_type_name(pgml_gen_type_t t);

/* 64-bit integer types (the ones (js_number) is for). */
bool pgml_gen_type_is_64bit(pgml_gen_type_t t);

#endif
