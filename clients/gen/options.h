/* options.h - reads pgml's custom options (options.proto) off descriptors.
 *
 * protoc writes a custom option into the *Options message of the element it
 * is on, as an extension field.  protobuf-c knows no extensions, so they
 * arrive as unknown fields (base.unknown_fields); this file decodes them.
 * The field numbers are not written here: pgml_gen_opt_numbers_find() takes
 * them from the extensions options.proto declares, so options.proto stays
 * the one place that says them.
 *
 * Errors: functions return 0 or -EINVAL (a bad value, reported through the
 * diag with the element it was on) or -ENOMEM.
 */
#ifndef PGML_GEN_OPTIONS_H
#define PGML_GEN_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"
#include "google/protobuf/descriptor.pb-c.h"

/* Every option the generator understands. */
typedef enum {
  PGML_GEN_OPT_BIND,          /* FieldOptions  string */
  PGML_GEN_OPT_JSON,          /* FieldOptions  bool */
  PGML_GEN_OPT_JS_NUMBER,     /* FieldOptions  bool */
  PGML_GEN_OPT_UNWRAP,        /* MessageOptions string */
  PGML_GEN_OPT_RETURNS_BOUND, /* MethodOptions string */
  PGML_GEN_OPT_RETURNS_KEY,   /* MethodOptions string */
  PGML_GEN_OPT_COUNT
} pgml_gen_opt_t;

/* The extension numbers, indexed by pgml_gen_opt_t; 0 for an option the
 * descriptor set does not declare (it is then never found on anything). */
typedef struct pgml_gen_opt_numbers_s {
  uint32_t number[PGML_GEN_OPT_COUNT];
} pgml_gen_opt_numbers_t;

typedef struct pgml_gen_field_opts_s {
  const char *bind; /* class name, or NULL; arena-owned */
  bool json;
  bool js_number;
} pgml_gen_field_opts_t;

typedef struct pgml_gen_message_opts_s {
  const char *unwrap; /* field name, or NULL; arena-owned */
} pgml_gen_message_opts_t;

typedef struct pgml_gen_method_opts_s {
  const char *returns_bound; /* class name, or NULL; arena-owned */
  const char *returns_key;   /* response field name, or NULL */
} pgml_gen_method_opts_t;

/* The option's name as the .proto spells it, e.g. "bind". */
const char *pgml_gen_opt_name(pgml_gen_opt_t opt);

/* Finds the extensions named `package`.<option> (e.g. pgml.v1.bind) among
 * the files of `set`, checks that each extends the right *Options message
 * with the right type, and records its number.  An option the set does not
 * declare is left 0 (a .proto that does not import options.proto simply has
 * none); one declared wrongly is an error. */
PGML_GEN_MUST_CHECK int pgml_gen_opt_numbers_find(
    const Google__Protobuf__FileDescriptorSet *set, const char *package,
    pgml_gen_opt_numbers_t *out, pgml_gen_diag_t *d);

/* Decodes the options on one element.  `o` may be NULL (no options: *out is
 * all NULL/false).  `where` names the element in error reports.  Strings
 * are copied into the arena; *out is untouched on failure. */
PGML_GEN_MUST_CHECK int pgml_gen_field_opts_parse(
    const pgml_gen_opt_numbers_t *nums, const Google__Protobuf__FieldOptions *o,
    pgml_gen_arena_t *a, const char *where, pgml_gen_field_opts_t *out,
    pgml_gen_diag_t *d);
PGML_GEN_MUST_CHECK int pgml_gen_message_opts_parse(
    const pgml_gen_opt_numbers_t *nums,
    const Google__Protobuf__MessageOptions *o, pgml_gen_arena_t *a,
    const char *where, pgml_gen_message_opts_t *out, pgml_gen_diag_t *d);
PGML_GEN_MUST_CHECK int pgml_gen_method_opts_parse(
    const pgml_gen_opt_numbers_t *nums,
    const Google__Protobuf__MethodOptions *o, pgml_gen_arena_t *a,
    const char *where, pgml_gen_method_opts_t *out, pgml_gen_diag_t *d);

/* 1 when s is an ASCII identifier, [A-Za-z_][A-Za-z0-9_]*, else 0. */
int pgml_gen_is_identifier(const char *s);

#endif
