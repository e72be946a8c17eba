/* pgml_method_table.h - the schema of the method tables pgml-gen writes for
 * the Python and Node clients.
 *
 * The native extensions contain no code per RPC.  pgml-gen writes one table
 * per language (pgml_python_table.c, pgml_node_table.c) describing every
 * RPC of the service: which class it is a method of, what it is called,
 * which arguments it takes, which protobuf-c messages travel, and how the
 * result is presented.  An extension builds its classes from the table and
 * converts between native values and protobuf-c messages generically, by
 * walking each ProtobufCMessageDescriptor; the table adds what a descriptor
 * cannot say (the language's names, JSON text, Node numbers, the docs).
 *
 * Everything is static, constant data: a table is never freed or changed.
 * Strings are never NULL unless a comment says so; a missing .proto comment
 * is "".
 */
#ifndef PGML_METHOD_TABLE_H
#define PGML_METHOD_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Field flags. */
/* (json): a string (or repeated string) field holding JSON text; the client
 * takes and gives native values (dict/list, objects) and carries the text. */
#define PGML_FIELD_JSON 0x01u
/* (js_number): a 64-bit integer the Node client gives as a Number, not a
 * BigInt.  Python ignores it. */
#define PGML_FIELD_JS_NUMBER 0x02u
/* (bind): the request field the bound object fills in (see
 * pgml_method_info_t.bind); the caller does not pass it. */
#define PGML_FIELD_BIND 0x04u
/* The field is repeated (a list), or a map (also PGML_FIELD_MAP). */
#define PGML_FIELD_REPEATED 0x08u
/* A map<K, V> field: in protobuf-c a repeated entry message with fields
 * key (1) and value (2); clients show a dict / object. */
#define PGML_FIELD_MAP 0x10u

typedef struct pgml_field_info_s {
  uint32_t number;        /* the .proto field number: ProtobufCFieldDescriptor.id */
  const char *name;       /* the language's name: "top_k" / "topK" */
  const char *proto_name; /* the .proto name: ProtobufCFieldDescriptor.name */
  uint32_t flags;         /* PGML_FIELD_* */
  const char *doc;        /* the field's .proto comment */
} pgml_field_info_t;

typedef struct pgml_message_info_s {
  const ProtobufCMessageDescriptor *descriptor;
  const char *name;                /* class / interface name: "SearchResult" */
  const pgml_field_info_t *fields; /* every field, in .proto order */
  size_t n_fields;
  /* (unwrap): the repeated field a method returns instead of the message
   * (SearchResponse -> its "results"), or NULL. */
  const pgml_field_info_t *unwrap;
  const char *doc;
} pgml_message_info_t;

/* Method flags. */
/* The response message has no fields: the method returns None /
 * Promise<void>. */
#define PGML_METHOD_VOID 0x01u

typedef struct pgml_method_info_s {
  const char *wire_name; /* Frame.method: "pgml.v1.Database/Ping" */
  const char *name;      /* the language's name: "create_or_get_collection" /
                            "createOrGetCollection" */
  const char *owner;     /* the class it is a method of: the service
                            ("Database") or a bound class ("Collection") */
  const ProtobufCMessageDescriptor *request_type;
  const ProtobufCMessageDescriptor *response_type;
  const pgml_message_info_t *request;  /* describes request_type */
  const pgml_message_info_t *response; /* describes response_type */
  /* The request field the owner fills in with its bound value (a bound
   * class's methods), or NULL (Database's methods). */
  const pgml_field_info_t *bind;
  /* The arguments the caller gives, in order: the request's fields in .proto
   * order, without `bind`.  Python accepts them positionally or by keyword;
   * Node takes one object with these keys. */
  const pgml_field_info_t *const *args;
  size_t n_args;
  /* What the method returns: with returns_bound, a new instance of that
   * class bound to the response's returns_key field; otherwise with
   * `unwrap`, that repeated field of the response; otherwise (unless
   * PGML_METHOD_VOID) the response message. */
  const char *returns_bound;             /* class name, or NULL */
  const pgml_field_info_t *returns_key;  /* a string field, or NULL */
  const pgml_field_info_t *unwrap;       /* == response->unwrap */
  uint32_t flags;                        /* PGML_METHOD_* */
  const char *doc;
} pgml_method_info_t;

/* A class that (bind) names.  Database gets a factory method returning an
 * instance bound to a value; the instance shows that value as `key`. */
typedef struct pgml_class_info_s {
  const char *name;    /* "Collection" */
  const char *factory; /* Database's method: "collection" */
  const char *key;     /* the instance's attribute holding the value: "name" */
  size_t n_methods;    /* methods whose owner is this class */
} pgml_class_info_t;

/* One error class per status code other than OK. */
typedef struct pgml_error_info_s {
  int code;              /* pgml.v1.Code value, e.g. 5 */
  const char *code_name; /* "NOT_FOUND" */
  const char *name;      /* "NotFound" / "NotFoundError" */
  const char *doc;       /* the code's .proto comment */
} pgml_error_info_t;

typedef struct pgml_method_table_s {
  const char *language;      /* "python" / "node" */
  const char *service;       /* "pgml.v1.Database" */
  const char *service_class; /* "Database" */
  const char *service_doc;
  const char *error_base;    /* the base error class: "Error" / "PgmlError" */
  const pgml_method_info_t *methods; /* in .proto order */
  size_t n_methods;
  /* Every message the methods use, directly or nested; map entries are
   * not listed (a map field is described by its flags). */
  const pgml_message_info_t *messages;
  size_t n_messages;
  const pgml_class_info_t *classes; /* bound classes */
  size_t n_classes;
  const pgml_error_info_t *errors; /* by code */
  size_t n_errors;
} pgml_method_table_t;

/* The tables pgml-gen writes. */
extern const pgml_method_table_t pgml_python_method_table;
extern const pgml_method_table_t pgml_node_method_table;

#ifdef __cplusplus
}
#endif

#endif
