/* emit_table.c - writes the Python and Node method tables (pgml_method_table.h). */
#include <errno.h>
#include <string.h>

#include "emit.h"
#include "names.h"
#include "out.h"
#include "runtime/pgml_method_table.h"

typedef struct table_ctx_s {
  const pgml_gen_model_t *m;
  pgml_gen_lang_t lang;
  pgml_gen_arena_t *a;
  pgml_gen_out_t *o;
  /* index in the written messages[] of each model message, or -1 */
  long *msg_index;
} table_ctx_t;

static void str_lit(pgml_gen_out_t *o, const char *s) {
  pgml_gen_out_puts(o, "\"");
  pgml_gen_out_escaped(o, s ? s : "", PGML_GEN_ESC_C_STRING);
  pgml_gen_out_puts(o, "\"");
}

static void str_or_null(pgml_gen_out_t *o, const char *s) {
  if (s == NULL)
    pgml_gen_out_puts(o, "NULL");
  else
    str_lit(o, s);
}

static long model_index(const pgml_gen_model_t *m, const pgml_gen_message_t *msg) {
  for (size_t i = 0; i < m->n_messages; i++)
    if (m->messages[i] == msg)
      return (long)i;
  return -1;
}

/* "&fields_3[k]" for field f of model message 3. */
static void field_ref(table_ctx_t *t, const pgml_gen_field_t *f) {
  long mi = model_index(t->m, f->parent);
  size_t k = (size_t)(f - f->parent->fields);
  pgml_gen_out_printf(t->o, "&fields_%ld[%zu]", mi, k);
}

static uint32_t field_flags(const pgml_gen_field_t *f) {
  uint32_t fl = 0;
  if (f->opts.json)
    fl |= PGML_FIELD_JSON;
  if (f->opts.js_number)
    fl |= PGML_FIELD_JS_NUMBER;
  if (f->opts.bind != NULL)
    fl |= PGML_FIELD_BIND;
  if (f->repeated)
    fl |= PGML_FIELD_REPEATED;
  if (f->message != NULL && f->message->map_entry)
    fl |= PGML_FIELD_MAP;
  return fl;
}

/* Writes the flags as the header's names, so the table reads as a table. */
static void flags_expr(pgml_gen_out_t *o, uint32_t fl) {
#define FLAG(x) {x, #x}
  static const struct {
    uint32_t bit;
    const char *name;
  } names[] = {FLAG(PGML_FIELD_JSON), FLAG(PGML_FIELD_JS_NUMBER), FLAG(PGML_FIELD_BIND),
               FLAG(PGML_FIELD_REPEATED), FLAG(PGML_FIELD_MAP)};
#undef FLAG
  bool any = false;
  for (size_t b = 0; b < sizeof(names) / sizeof(names[0]); b++)
    if (fl & names[b].bit) {
      pgml_gen_out_printf(o, "%s%s", any ? " | " : "", names[b].name);
      any = true;
    }
  if (!any)
    pgml_gen_out_puts(o, "0");
}

static int write_fields(table_ctx_t *t) {
  const pgml_gen_model_t *m = t->m;
  for (size_t i = 0; i < m->n_messages; i++) {
    const pgml_gen_message_t *msg = m->messages[i];
    if (!pgml_gen_message_shown(msg) || msg->n_fields == 0)
      continue;
    pgml_gen_out_printf(t->o, "/* %s */\nstatic const pgml_field_info_t fields_%zu[] = {\n",
                        msg->full_name, i);
    for (size_t k = 0; k < msg->n_fields; k++) {
      const pgml_gen_field_t *f = &msg->fields[k];
      const char *name = pgml_gen_lang_field(t->a, t->lang, f->name);
      if (name == NULL)
        return -ENOMEM;
      pgml_gen_out_printf(t->o, "    {%u, ", f->number);
      str_lit(t->o, name);
      pgml_gen_out_puts(t->o, ", ");
      str_lit(t->o, f->name);
      pgml_gen_out_puts(t->o, ", ");
      flags_expr(t->o, field_flags(f));
      pgml_gen_out_puts(t->o, ",\n     ");
      str_lit(t->o, f->doc);
      pgml_gen_out_puts(t->o, "},\n");
    }
    pgml_gen_out_puts(t->o, "};\n\n");
  }
  return 0;
}

static int write_messages(table_ctx_t *t, size_t *count) {
  const pgml_gen_model_t *m = t->m;
  size_t n = 0;

  for (size_t i = 0; i < m->n_messages; i++)
    n += pgml_gen_message_shown(m->messages[i]);
  *count = n;
  if (n == 0)
    return 0; /* C has no empty arrays; the table says NULL, 0 */
  n = 0;
  pgml_gen_out_puts(t->o, "static const pgml_message_info_t messages[] = {\n");
  for (size_t i = 0; i < m->n_messages; i++) {
    const pgml_gen_message_t *msg = m->messages[i];
    const char *cname;
    t->msg_index[i] = -1;
    if (!pgml_gen_message_shown(msg))
      continue;
    cname = pgml_gen_protoc_c_name(t->a, msg->full_name);
    if (cname == NULL)
      return -ENOMEM;
    t->msg_index[i] = (long)n++;
    pgml_gen_out_printf(t->o, "    {&%s__descriptor, ", cname);
    str_lit(t->o, msg->ident);
    if (msg->n_fields > 0)
      pgml_gen_out_printf(t->o, ", fields_%zu, %zu, ", i, msg->n_fields);
    else
      pgml_gen_out_puts(t->o, ", NULL, 0, ");
    if (msg->unwrap != NULL)
      field_ref(t, msg->unwrap);
    else
      pgml_gen_out_puts(t->o, "NULL");
    pgml_gen_out_puts(t->o, ",\n     ");
    str_lit(t->o, msg->doc);
    pgml_gen_out_puts(t->o, "},\n");
  }
  pgml_gen_out_puts(t->o, "};\n\n");
  return 0;
}

static int write_methods(table_ctx_t *t) {
  const pgml_gen_model_t *m = t->m;
  const pgml_gen_service_t *svc = &m->service;

  for (size_t i = 0; i < svc->n_methods; i++) {
    const pgml_gen_method_t *meth = &svc->methods[i];
    const pgml_gen_field_t **args =
        pgml_gen_arena_alloc(t->a, (meth->request->n_fields + 1) * sizeof(*args));
    size_t n;
    if (args == NULL)
      return -ENOMEM;
    n = pgml_gen_method_args(meth, args);
    if (n == 0)
      continue;
    pgml_gen_out_printf(t->o, "static const pgml_field_info_t *const args_%zu[] = {", i);
    for (size_t k = 0; k < n; k++) {
      pgml_gen_out_puts(t->o, k ? ", " : "");
      field_ref(t, args[k]);
    }
    pgml_gen_out_printf(t->o, "}; /* %s */\n", meth->name);
  }
  if (svc->n_methods == 0)
    return 0;
  pgml_gen_out_puts(t->o, "\nstatic const pgml_method_info_t methods[] = {\n");
  for (size_t i = 0; i < svc->n_methods; i++) {
    const pgml_gen_method_t *meth = &svc->methods[i];
    const char *name = pgml_gen_lang_method(t->a, t->lang, meth->name);
    const char *req = pgml_gen_protoc_c_name(t->a, meth->request->full_name);
    const char *resp = pgml_gen_protoc_c_name(t->a, meth->response->full_name);
    const char *wire = pgml_gen_arena_printf(t->a, "%s/%s", svc->full_name, meth->name);
    size_t n_args = meth->request->n_fields - (meth->bind != NULL);
    if (name == NULL || req == NULL || resp == NULL || wire == NULL)
      return -ENOMEM;
    pgml_gen_out_puts(t->o, "    {");
    str_lit(t->o, wire);
    pgml_gen_out_puts(t->o, ", ");
    str_lit(t->o, name);
    pgml_gen_out_puts(t->o, ", ");
    str_lit(t->o, meth->owner);
    pgml_gen_out_printf(t->o, ",\n     &%s__descriptor, &%s__descriptor,\n", req, resp);
    pgml_gen_out_printf(t->o, "     &messages[%ld], &messages[%ld],\n     ",
                        t->msg_index[model_index(t->m, meth->request)],
                        t->msg_index[model_index(t->m, meth->response)]);
    if (meth->bind != NULL)
      field_ref(t, meth->bind);
    else
      pgml_gen_out_puts(t->o, "NULL");
    if (n_args > 0)
      pgml_gen_out_printf(t->o, ", args_%zu, %zu,\n     ", i, n_args);
    else
      pgml_gen_out_puts(t->o, ", NULL, 0,\n     ");
    str_or_null(t->o, meth->opts.returns_bound);
    pgml_gen_out_puts(t->o, ", ");
    if (meth->returns_key != NULL)
      field_ref(t, meth->returns_key);
    else
      pgml_gen_out_puts(t->o, "NULL");
    pgml_gen_out_puts(t->o, ", ");
    if (meth->response->unwrap != NULL)
      field_ref(t, meth->response->unwrap);
    else
      pgml_gen_out_puts(t->o, "NULL");
    pgml_gen_out_printf(t->o, ", %s,\n     ",
                        pgml_gen_method_is_void(meth) ? "PGML_METHOD_VOID" : "0");
    str_lit(t->o, meth->doc);
    pgml_gen_out_puts(t->o, "},\n");
  }
  pgml_gen_out_puts(t->o, "};\n\n");
  return 0;
}

static int write_classes_errors(table_ctx_t *t, size_t *n_errors) {
  const pgml_gen_model_t *m = t->m;
  size_t n = 0;

  if (m->n_classes > 0) {
    pgml_gen_out_puts(t->o, "static const pgml_class_info_t classes[] = {\n");
    for (size_t i = 0; i < m->n_classes; i++) {
      const char *factory = pgml_gen_lang_factory(t->a, t->lang, m->classes[i].name);
      if (factory == NULL)
        return -ENOMEM;
      pgml_gen_out_puts(t->o, "    {");
      str_lit(t->o, m->classes[i].name);
      pgml_gen_out_puts(t->o, ", ");
      str_lit(t->o, factory);
      pgml_gen_out_puts(t->o, ", ");
      str_lit(t->o, PGML_GEN_BOUND_KEY);
      pgml_gen_out_printf(t->o, ", %zu},\n", m->classes[i].n_methods);
    }
    pgml_gen_out_puts(t->o, "};\n\n");
  }
  for (size_t i = 0; i < m->codes->n_values; i++)
    n += m->codes->values[i].number != 0;
  *n_errors = n;
  if (n == 0)
    return 0;
  pgml_gen_out_puts(t->o, "static const pgml_error_info_t errors[] = {\n");
  for (size_t i = 0; i < m->codes->n_values; i++) {
    const pgml_gen_enum_value_t *v = &m->codes->values[i];
    const char *name;
    if (v->number == 0)
      continue;
    if ((name = pgml_gen_lang_error(t->a, t->lang, v->name)) == NULL)
      return -ENOMEM;
    pgml_gen_out_printf(t->o, "    {%d, ", (int)v->number);
    str_lit(t->o, v->name);
    pgml_gen_out_puts(t->o, ", ");
    str_lit(t->o, name);
    pgml_gen_out_puts(t->o, ", ");
    str_lit(t->o, v->doc);
    pgml_gen_out_puts(t->o, "},\n");
  }
  pgml_gen_out_puts(t->o, "};\n\n");
  return 0;
}

/* #include of the protobuf-c header of every file that declares a message
 * the table names. */
static int write_includes(table_ctx_t *t) {
  const pgml_gen_model_t *m = t->m;
  for (size_t i = 0; i < m->n_messages; i++) {
    const pgml_gen_message_t *msg = m->messages[i];
    bool seen = false;
    const char *hdr;
    if (!pgml_gen_message_shown(msg))
      continue;
    for (size_t k = 0; k < i && !seen; k++)
      seen = pgml_gen_message_shown(m->messages[k]) &&
             strcmp(m->messages[k]->file, msg->file) == 0;
    if (seen)
      continue;
    if ((hdr = pgml_gen_proto_header(t->a, msg->file, ".pb-c.h")) == NULL)
      return -ENOMEM;
    pgml_gen_out_printf(t->o, "#include \"%s\"\n", hdr);
  }
  return 0;
}

int pgml_gen_emit_table(const pgml_gen_model_t *m, pgml_gen_lang_t lang,
                        const char *outdir, pgml_gen_diag_t *d) {
  pgml_gen_arena_t arena = PGML_GEN_ARENA_INIT;
  pgml_gen_out_t o;
  table_ctx_t t = {.m = m, .lang = lang, .a = &arena, .o = &o};
  const char *id = pgml_gen_lang_id(lang);
  const char *rel;
  size_t n_messages = 0, n_errors = 0;
  int rc;

  rel = pgml_gen_arena_printf(&arena, "%s/pgml_%s_table.c", id, id);
  t.msg_index = pgml_gen_arena_alloc(&arena, (m->n_messages + 1) * sizeof(long));
  if (rel == NULL || t.msg_index == NULL) {
    pgml_gen_arena_free(&arena);
    pgml_gen_error(d, NULL, "out of memory");
    return -ENOMEM;
  }
  if ((rc = pgml_gen_out_open(&o, outdir, rel, d)) < 0) {
    pgml_gen_arena_free(&arena);
    return rc;
  }
  pgml_gen_out_printf(&o,
                      "/* pgml_%s_table.c - the %s client's method table for %s.\n"
                      " * Generated by pgml-gen from %s: do not edit. */\n"
                      "#include <stddef.h>\n\n"
                      "#include \"pgml_method_table.h\"\n",
                      id, lang == PGML_GEN_LANG_PYTHON ? "Python" : "Node",
                      m->service.full_name, m->service.file);
  if ((rc = write_includes(&t)) < 0)
    goto fail;
  pgml_gen_out_puts(&o, "\n");
  if ((rc = write_fields(&t)) < 0 || (rc = write_messages(&t, &n_messages)) < 0 ||
      (rc = write_methods(&t)) < 0 || (rc = write_classes_errors(&t, &n_errors)) < 0)
    goto fail;

  pgml_gen_out_printf(&o, "const pgml_method_table_t pgml_%s_method_table = {\n    ", id);
  str_lit(&o, id);
  pgml_gen_out_puts(&o, ", ");
  str_lit(&o, m->service.full_name);
  pgml_gen_out_puts(&o, ", ");
  str_lit(&o, m->service.name);
  pgml_gen_out_puts(&o, ",\n    ");
  str_lit(&o, m->service.doc);
  pgml_gen_out_puts(&o, ",\n    ");
  str_lit(&o, pgml_gen_lang_error_base(lang));
  pgml_gen_out_printf(&o, ",\n    %s, %zu,\n    %s, %zu,\n    %s, %zu,\n    %s, %zu,\n};\n",
                      m->service.n_methods ? "methods" : "NULL", m->service.n_methods,
                      n_messages ? "messages" : "NULL", n_messages,
                      m->n_classes ? "classes" : "NULL", m->n_classes,
                      n_errors ? "errors" : "NULL", n_errors);
  rc = pgml_gen_out_close(&o, d);
  pgml_gen_arena_free(&arena);
  return rc;

fail:
  if (rc == -ENOMEM)
    pgml_gen_error(d, o.path, "out of memory");
  pgml_gen_out_abort(&o);
  pgml_gen_arena_free(&arena);
  return rc;
}
