/* emit_dts.c - writes the Node client's TypeScript declarations, index.d.ts. */
#include <errno.h>
#include <string.h>

#include "emit.h"
#include "out.h"

typedef struct dts_ctx_s {
  const pgml_gen_model_t *m;
  pgml_gen_arena_t *a;
  pgml_gen_out_t *o;
  bool *input;  /* per model message: reachable from a request */
  bool *output; /* per model message: reachable from a response */
} dts_ctx_t;

#define L PGML_GEN_LANG_NODE

static long index_of(const pgml_gen_model_t *m, const pgml_gen_message_t *msg) {
  for (size_t i = 0; i < m->n_messages; i++)
    if (m->messages[i] == msg)
      return (long)i;
  return -1;
}

static void mark(const pgml_gen_model_t *m, bool *set, const pgml_gen_message_t *msg) {
  long i = index_of(m, msg);
  if (i < 0 || set[i])
    return;
  set[i] = true;
  for (size_t k = 0; k < msg->n_fields; k++)
    if (msg->fields[k].message != NULL)
      mark(m, set, msg->fields[k].message);
}

/* JSDoc before a declaration, at `indent`. */
static void jsdoc(dts_ctx_t *t, const char *indent, const char *doc) {
  if (doc == NULL)
    return;
  if (strchr(doc, '\n') == NULL) {
    pgml_gen_out_printf(t->o, "%s/** ", indent);
    pgml_gen_out_escaped(t->o, doc, PGML_GEN_ESC_BLOCK);
    pgml_gen_out_puts(t->o, " */\n");
    return;
  }
  pgml_gen_out_printf(t->o, "%s/**\n", indent);
  pgml_gen_out_lines(t->o, indent, " * ", doc, PGML_GEN_ESC_BLOCK);
  pgml_gen_out_printf(t->o, "%s */\n", indent);
}

/* Writes the TypeScript type of the field: `input` for what a caller
 * passes, otherwise for what a result holds. */
static void write_type(dts_ctx_t *t, const pgml_gen_field_t *f, bool input) {
  const pgml_gen_message_t *msg = f->message;

  if (msg != NULL && msg->map_entry && msg->n_fields == 2) {
    pgml_gen_out_puts(t->o, "{ [key: string]: ");
    write_type(t, &msg->fields[1], input);
    pgml_gen_out_puts(t->o, " }");
    return;
  }
  if (f->repeated)
    pgml_gen_out_puts(t->o, "Array<");
  if (msg != NULL) {
    pgml_gen_out_printf(t->o, "%s%s", msg->ident, input ? "Init" : "");
    if (!f->repeated && !input)
      pgml_gen_out_puts(t->o, " | null");
  } else if (f->opts.json) {
    pgml_gen_out_puts(t->o, "Json");
  } else if (pgml_gen_type_is_64bit(f->type)) {
    /* A BigInt unless (js_number) says the value fits a Number; callers may
     * pass either where a BigInt is expected. */
    pgml_gen_out_puts(t->o, f->opts.js_number ? "number" : input ? "bigint | number" : "bigint");
  } else {
    switch (f->type) {
    case PGML_GEN_TYPE(BOOL):
      pgml_gen_out_puts(t->o, "boolean");
      break;
    case PGML_GEN_TYPE(STRING):
      pgml_gen_out_puts(t->o, "string");
      break;
    case PGML_GEN_TYPE(BYTES):
      pgml_gen_out_puts(t->o, "Uint8Array");
      break;
    default:
      pgml_gen_out_puts(t->o, "number"); /* floats, 32-bit integers, enums */
      break;
    }
  }
  if (f->repeated)
    pgml_gen_out_puts(t->o, ">");
}

static int write_interface(dts_ctx_t *t, const pgml_gen_message_t *msg, bool input) {
  jsdoc(t, "", input ? "What a caller passes for this message: every field is optional."
                     : msg->doc);
  pgml_gen_out_printf(t->o, "export interface %s%s {\n", msg->ident, input ? "Init" : "");
  for (size_t k = 0; k < msg->n_fields; k++) {
    const pgml_gen_field_t *f = &msg->fields[k];
    const char *name = pgml_gen_lang_field(t->a, L, f->name);
    if (name == NULL)
      return -ENOMEM;
    jsdoc(t, "  ", f->doc);
    pgml_gen_out_printf(t->o, "  %s%s%s: ", input ? "" : "readonly ", name, input ? "?" : "");
    write_type(t, f, input);
    pgml_gen_out_puts(t->o, ";\n");
  }
  pgml_gen_out_puts(t->o, "}\n\n");
  return 0;
}

static int write_messages(dts_ctx_t *t) {
  const pgml_gen_model_t *m = t->m;
  int rc;

  pgml_gen_out_puts(t->o, "// ---------------------------------------------------------------- messages\n\n");
  for (size_t i = 0; i < m->n_messages; i++) {
    const pgml_gen_message_t *msg = m->messages[i];
    if (!pgml_gen_message_shown(msg))
      continue;
    if (t->output[i] && (rc = write_interface(t, msg, false)) < 0)
      return rc;
    if (t->input[i] && (rc = write_interface(t, msg, true)) < 0)
      return rc;
  }
  return 0;
}

static void write_return(dts_ctx_t *t, const pgml_gen_method_t *meth) {
  const pgml_gen_field_t *u = meth->response->unwrap;
  pgml_gen_out_puts(t->o, "Promise<");
  if (meth->returns_key != NULL)
    pgml_gen_out_puts(t->o, meth->opts.returns_bound);
  else if (u != NULL)
    write_type(t, u, false);
  else if (pgml_gen_method_is_void(meth))
    pgml_gen_out_puts(t->o, "void");
  else
    pgml_gen_out_puts(t->o, meth->response->ident);
  pgml_gen_out_puts(t->o, ">");
}

static int write_method(dts_ctx_t *t, const pgml_gen_method_t *meth) {
  const char *name = pgml_gen_lang_method(t->a, L, meth->name);
  const char *bind = meth->bind ? pgml_gen_lang_field(t->a, L, meth->bind->name) : NULL;

  if (name == NULL || (meth->bind != NULL && bind == NULL))
    return -ENOMEM;
  pgml_gen_out_puts(t->o, "\n");
  jsdoc(t, "  ", meth->doc);
  pgml_gen_out_printf(t->o, "  %s(request?: ", name);
  if (bind != NULL)
    pgml_gen_out_printf(t->o, "Omit<%sInit, \"%s\">", meth->request->ident, bind);
  else
    pgml_gen_out_printf(t->o, "%sInit", meth->request->ident);
  pgml_gen_out_puts(t->o, ", options?: CallOptions): ");
  write_return(t, meth);
  pgml_gen_out_puts(t->o, ";\n");
  return 0;
}

static int write_errors(dts_ctx_t *t) {
  const pgml_gen_enum_t *codes = t->m->codes;
  pgml_gen_out_printf(t->o,
      "// ---------------------------------------------------------------- errors\n\n"
      "/** A call did not complete with OK.  The subclass names the code. */\n"
      "export class %s extends Error {\n"
      "  /** The status code's name, e.g. \"NOT_FOUND\" (Node's convention for\n"
      "   * `code`). */\n"
      "  readonly code: string;\n"
      "  /** The same name. */\n"
      "  readonly codeName: string;\n"
      "  /** The %s value, e.g. 5. */\n"
      "  readonly status: number;\n"
      "  /** The server's machine-readable facts about the error, if any. */\n"
      "  readonly details: { [key: string]: Json } | null;\n"
      "}\n"
      "export { %s as Error };\n\n",
      pgml_gen_lang_error_base(L), codes->full_name, pgml_gen_lang_error_base(L));
  for (size_t i = 0; i < codes->n_values; i++) {
    const pgml_gen_enum_value_t *v = &codes->values[i];
    const char *name;
    if (v->number == 0)
      continue;
    if ((name = pgml_gen_lang_error(t->a, L, v->name)) == NULL)
      return -ENOMEM;
    if (v->doc != NULL)
      jsdoc(t, "", v->doc);
    else
      pgml_gen_out_printf(t->o, "/** The call completed with %s (%d). */\n", v->name,
                          (int)v->number);
    pgml_gen_out_printf(t->o, "export class %s extends %s {}\n", name,
                        pgml_gen_lang_error_base(L));
  }
  pgml_gen_out_puts(t->o, "\n");
  return 0;
}

static int write_classes(dts_ctx_t *t) {
  const pgml_gen_model_t *m = t->m;
  const pgml_gen_service_t *svc = &m->service;
  int rc;

  pgml_gen_out_puts(t->o, "// ---------------------------------------------------------------- clients\n\n");
  jsdoc(t, "", svc->doc);
  pgml_gen_out_printf(t->o,
      "export class %s {\n"
      "  /**\n"
      "   * A client of the pgmld at `address` (\"unix:///path\" or a path).\n"
      "   * `options.timeoutMs` applies to every call that does not give its own.\n"
      "   */\n"
      "  constructor(address: string, options?: DatabaseOptions);\n"
      "  /** Closes the connection; calls still running fail with CancelledError. */\n"
      "  close(): Promise<void>;\n"
      "  /** The address given to the constructor. */\n"
      "  readonly address: string;\n"
      "  /** Calls not yet completed. */\n"
      "  readonly pending: number;\n",
      svc->name);
  for (size_t c = 0; c < m->n_classes; c++) {
    const char *factory = pgml_gen_lang_factory(t->a, L, m->classes[c].name);
    if (factory == NULL)
      return -ENOMEM;
    pgml_gen_out_printf(t->o,
        "  /** The %s named `%s`; nothing is sent until one of its methods is called. */\n"
        "  %s(%s: string): %s;\n",
        m->classes[c].name, PGML_GEN_BOUND_KEY, factory, PGML_GEN_BOUND_KEY,
        m->classes[c].name);
  }
  for (size_t i = 0; i < svc->n_methods; i++)
    if (strcmp(svc->methods[i].owner, svc->name) == 0 &&
        (rc = write_method(t, &svc->methods[i])) < 0)
      return rc;
  pgml_gen_out_puts(t->o, "}\n");

  for (size_t c = 0; c < m->n_classes; c++) {
    const char *factory = pgml_gen_lang_factory(t->a, L, m->classes[c].name);
    if (factory == NULL)
      return -ENOMEM;
    pgml_gen_out_printf(t->o,
        "\n/** Calls about one %s, made by %s.%s(%s). */\n"
        "export class %s {\n"
        "  readonly %s: string;\n"
        "  /** The %s it was made by. */\n"
        "  readonly database: %s;\n",
        m->classes[c].name, svc->name, factory, PGML_GEN_BOUND_KEY, m->classes[c].name,
        PGML_GEN_BOUND_KEY, svc->name, svc->name);
    for (size_t i = 0; i < svc->n_methods; i++)
      if (strcmp(svc->methods[i].owner, m->classes[c].name) == 0 &&
          (rc = write_method(t, &svc->methods[i])) < 0)
        return rc;
    pgml_gen_out_puts(t->o, "}\n");
  }
  return 0;
}

int pgml_gen_emit_dts(const pgml_gen_model_t *m, const char *outdir, pgml_gen_diag_t *d) {
  pgml_gen_arena_t arena = PGML_GEN_ARENA_INIT;
  pgml_gen_out_t o;
  dts_ctx_t t = {.m = m, .a = &arena, .o = &o};
  int rc;

  t.input = pgml_gen_arena_alloc(&arena, (m->n_messages + 1) * sizeof(bool));
  t.output = pgml_gen_arena_alloc(&arena, (m->n_messages + 1) * sizeof(bool));
  if (t.input == NULL || t.output == NULL) {
    pgml_gen_arena_free(&arena);
    pgml_gen_error(d, NULL, "out of memory");
    return -ENOMEM;
  }
  for (size_t i = 0; i < m->service.n_methods; i++) {
    mark(m, t.input, m->service.methods[i].request);
    mark(m, t.output, m->service.methods[i].response);
  }
  if ((rc = pgml_gen_out_open(&o, outdir, "node/index.d.ts", d)) < 0) {
    pgml_gen_arena_free(&arena);
    return rc;
  }
  pgml_gen_out_printf(&o,
      "// index.d.ts - types of the pgml Node client (%s).\n"
      "// Generated by pgml-gen from %s: do not edit.\n\n"
      "/** A value carried as JSON text on the wire: what JSON.parse() gives. */\n"
      "export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };\n\n"
      "/** The version of libpgml the addon was built with. */\n"
      "export const libpgmlVersion: string;\n\n"
      "/** Options of one call. */\n"
      "export interface CallOptions {\n"
      "  /** Deadline in milliseconds from the start of the call (default: the\n"
      "   * Database's timeoutMs, else the server's). */\n"
      "  timeoutMs?: number;\n"
      "  /** Aborting it cancels the call, which then rejects with CancelledError. */\n"
      "  signal?: AbortSignalLike;\n"
      "}\n\n"
      "/** What `signal` needs of an AbortSignal (so that these types need\n"
      " * neither the DOM library nor @types/node). */\n"
      "export interface AbortSignalLike {\n"
      "  readonly aborted: boolean;\n"
      "  addEventListener(type: \"abort\", listener: () => void): void;\n"
      "}\n\n"
      "/** Options of a Database (its connection and every call it makes). */\n"
      "export interface DatabaseOptions {\n"
      "  /** Deadline of every call that does not give its own, in milliseconds. */\n"
      "  timeoutMs?: number;\n"
      "  /** How long opening the connection may take, in milliseconds. */\n"
      "  connectTimeoutMs?: number;\n"
      "  /** Largest frame sent or accepted, in bytes. */\n"
      "  maxFrameSize?: number;\n"
      "  /** Calls pending at once; more are refused. */\n"
      "  maxCalls?: number;\n"
      "  /** A bearer token, sent in the WebSocket upgrade's Authorization header. */\n"
      "  token?: string;\n"
      "  /** A CA file (PEM) to verify a wss:// server's certificate with. */\n"
      "  caFile?: string;\n"
      "}\n\n",
      m->service.full_name, m->service.file);
  if ((rc = write_errors(&t)) < 0 || (rc = write_messages(&t)) < 0 ||
      (rc = write_classes(&t)) < 0) {
    pgml_gen_error(d, o.path, "out of memory");
    pgml_gen_out_abort(&o);
    pgml_gen_arena_free(&arena);
    return rc;
  }
  rc = pgml_gen_out_close(&o, d);
  pgml_gen_arena_free(&arena);
  return rc;
}
