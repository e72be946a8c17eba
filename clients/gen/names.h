/* names.h - how a .proto name is spelled in each generated language.
 *
 * A name is cut into words at '_' and at case changes: "CreateOrGetCollection"
 * is create|or|get|collection, "TopK" is top|k, "HTTPServer" is http|server,
 * "top_k" is top|k.  A digit stays with the letters before it ("Base64Data"
 * is base64|data).  The spellings below join those words.
 *
 * Every function returns a new string in the arena, or NULL when the arena
 * is out of memory.
 */
#ifndef PGML_GEN_NAMES_H
#define PGML_GEN_NAMES_H

#include "arena.h"

/* "CreateOrGetCollection" -> "create_or_get_collection" (Python, C). */
PGML_GEN_MUST_CHECK char *pgml_gen_snake(pgml_gen_arena_t *a, const char *name);

/* "CreateOrGetCollection" -> "createOrGetCollection", "top_k" -> "topK"
 * (Node). */
PGML_GEN_MUST_CHECK char *pgml_gen_camel(pgml_gen_arena_t *a, const char *name);

/* "NOT_FOUND" -> "NotFound", "collection" -> "Collection" (class names). */
PGML_GEN_MUST_CHECK char *pgml_gen_pascal(pgml_gen_arena_t *a, const char *name);

/* "CreateOrGetCollection" -> "CREATE_OR_GET_COLLECTION" (C macros). */
PGML_GEN_MUST_CHECK char *pgml_gen_upper(pgml_gen_arena_t *a, const char *name);

/* protoc-c's spelling of a fully-qualified name, which its descriptors are
 * named after: "pgml.v1.PingRequest" -> "pgml__v1__ping_request" (so the
 * descriptor is pgml__v1__ping_request__descriptor).  protoc-c puts '_'
 * before an upper-case letter that follows a non-upper-case one, lowers
 * everything, and joins the dotted parts with "__"; this must match it
 * exactly, so it does not use the word rules above. */
PGML_GEN_MUST_CHECK char *pgml_gen_protoc_c_name(pgml_gen_arena_t *a,
                                                 const char *full_name);

/* nanopb's spelling: "pgml.v1.Outer.Inner" -> "pgml_v1_Outer_Inner". */
PGML_GEN_MUST_CHECK char *pgml_gen_nanopb_name(pgml_gen_arena_t *a,
                                               const char *full_name);

/* The header a code generator wrote for a .proto file: its name with
 * ".proto" replaced by `suffix` ("pgml/v1/database.proto", ".pb.h" ->
 * "pgml/v1/database.pb.h"). */
PGML_GEN_MUST_CHECK char *pgml_gen_proto_header(pgml_gen_arena_t *a,
                                                const char *proto_file,
                                                const char *suffix);

/* 1 when the word is reserved in Python (a keyword, or a soft keyword
 * that cannot name a parameter in a .pyi), else 0. */
int pgml_gen_is_python_keyword(const char *name);

/* 1 when the word is reserved in JavaScript/TypeScript, else 0. */
int pgml_gen_is_js_reserved(const char *name);

#endif
