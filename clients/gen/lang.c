/* lang.c - applies each client language's naming rules to .proto names. */
#include "lang.h"

#include "names.h"

const char *pgml_gen_lang_id(pgml_gen_lang_t lang) {
  return lang == PGML_GEN_LANG_PYTHON ? "python" : "node";
}

const char *pgml_gen_lang_method(pgml_gen_arena_t *a, pgml_gen_lang_t lang,
                                 const char *rpc_name) {
  return lang == PGML_GEN_LANG_PYTHON ? pgml_gen_snake(a, rpc_name)
                                      : pgml_gen_camel(a, rpc_name);
}

const char *pgml_gen_lang_field(pgml_gen_arena_t *a, pgml_gen_lang_t lang,
                                const char *field_name) {
  if (lang == PGML_GEN_LANG_NODE)
    return pgml_gen_camel(a, field_name);
  /* Python keeps the .proto spelling, which is already snake_case by
   * protobuf's style guide; only a keyword must change. */
  if (pgml_gen_is_python_keyword(field_name))
    return pgml_gen_arena_printf(a, "%s_", field_name);
  return pgml_gen_arena_strdup(a, field_name);
}

const char *pgml_gen_lang_factory(pgml_gen_arena_t *a, pgml_gen_lang_t lang,
                                  const char *class_name) {
  return pgml_gen_lang_method(a, lang, class_name);
}

const char *pgml_gen_lang_error(pgml_gen_arena_t *a, pgml_gen_lang_t lang,
                                const char *code_name) {
  char *p = pgml_gen_pascal(a, code_name);
  if (p == NULL || lang == PGML_GEN_LANG_PYTHON)
    return p;
  return pgml_gen_arena_printf(a, "%sError", p);
}

const char *pgml_gen_lang_error_base(pgml_gen_lang_t lang) {
  return lang == PGML_GEN_LANG_PYTHON ? "Error" : "PgmlError";
}
