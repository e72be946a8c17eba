/* lang.h - the naming rules of each generated client language.
 *
 * Python: methods and arguments in snake_case (a Python keyword gets a
 * trailing '_'), classes as in the .proto, errors pgml.Error and one
 * subclass per status code named after it (NOT_FOUND -> NotFound).
 * Node: methods and properties in camelCase, errors PgmlError and
 * NotFoundError, ...
 *
 * The functions return arena strings, or NULL when the arena is out of
 * memory.
 */
#ifndef PGML_GEN_LANG_H
#define PGML_GEN_LANG_H

#include "model.h"

typedef enum { PGML_GEN_LANG_PYTHON, PGML_GEN_LANG_NODE } pgml_gen_lang_t;

/* "python" / "node". */
const char *pgml_gen_lang_id(pgml_gen_lang_t lang);

/* The method as the language calls it: create_or_get_collection /
 * createOrGetCollection. */
PGML_GEN_MUST_CHECK const char *pgml_gen_lang_method(pgml_gen_arena_t *a,
                                                     pgml_gen_lang_t lang,
                                                     const char *rpc_name);

/* A message field (attribute, argument, object key): top_k / topK. */
PGML_GEN_MUST_CHECK const char *pgml_gen_lang_field(pgml_gen_arena_t *a,
                                                    pgml_gen_lang_t lang,
                                                    const char *field_name);

/* Database's method that makes a bound object: collection / collection. */
PGML_GEN_MUST_CHECK const char *pgml_gen_lang_factory(pgml_gen_arena_t *a,
                                                      pgml_gen_lang_t lang,
                                                      const char *class_name);

/* The error class for a status code ("NOT_FOUND"): NotFound /
 * NotFoundError. */
PGML_GEN_MUST_CHECK const char *pgml_gen_lang_error(pgml_gen_arena_t *a,
                                                    pgml_gen_lang_t lang,
                                                    const char *code_name);

/* The base class of every error: "Error" / "PgmlError". */
const char *pgml_gen_lang_error_base(pgml_gen_lang_t lang);

/* The attribute of a bound object that holds the value it binds. */
#define PGML_GEN_BOUND_KEY "name"

#endif
