/* emit_pyi.c - writes the Python client's type stub, pgml/__init__.pyi. */
#include <errno.h>
#include <string.h>

#include "emit.h"
#include "out.h"

typedef struct pyi_ctx_s {
  const pgml_gen_model_t *m;
  pgml_gen_arena_t *a;
  pgml_gen_out_t *o;
} pyi_ctx_t;

#define L PGML_GEN_LANG_PYTHON

/* The Python type of one value of a non-message field (not of the list,
 * for a repeated field). */
static const char *scalar_type(const pgml_gen_field_t *f) {
  if (f->opts.json)
    return "Json";
  switch (f->type) {
  case PGML_GEN_TYPE(DOUBLE):
  case PGML_GEN_TYPE(FLOAT):
    return "float";
  case PGML_GEN_TYPE(BOOL):
    return "bool";
  case PGML_GEN_TYPE(STRING):
    return "str";
  case PGML_GEN_TYPE(BYTES):
    return "bytes";
  case PGML_GEN_TYPE(MESSAGE):
    return NULL; /* the caller names the class */
  default:
    return "int"; /* every integer type, and enums (their numbers) */
  }
}

/* Writes the type of the field's value: `input` for an argument, otherwise
 * for an attribute of a result. */
static void write_type(pyi_ctx_t *t, const pgml_gen_field_t *f, bool input) {
  const pgml_gen_message_t *msg = f->message;

  if (msg != NULL && msg->map_entry && msg->n_fields == 2) {
    pgml_gen_out_puts(t->o, input ? "Mapping[" : "dict[");
    write_type(t, &msg->fields[0], input);
    pgml_gen_out_puts(t->o, ", ");
    write_type(t, &msg->fields[1], input);
    pgml_gen_out_puts(t->o, "]");
    return;
  }
  if (f->repeated)
    pgml_gen_out_puts(t->o, input ? "Sequence[" : "list[");
  if (msg != NULL) {
    pgml_gen_out_puts(t->o, msg->ident);
    if (input)
      pgml_gen_out_puts(t->o, " | Mapping[str, Any]");
    /* a message field may be absent; a list holds no absent items */
    if (!f->repeated)
      pgml_gen_out_puts(t->o, " | None");
  } else {
    pgml_gen_out_puts(t->o, scalar_type(f));
  }
  if (f->repeated)
    pgml_gen_out_puts(t->o, "]");
}

static void docstring(pyi_ctx_t *t, const char *indent, const char *doc) {
  const char *rest;
  if (doc == NULL)
    return;
  pgml_gen_out_printf(t->o, "%s\"\"\"", indent);
  rest = pgml_gen_out_first_line(t->o, doc, PGML_GEN_ESC_PYDOC);
  if (rest == NULL) {
    pgml_gen_out_puts(t->o, "\"\"\"\n");
    return;
  }
  pgml_gen_out_puts(t->o, "\n");
  pgml_gen_out_lines(t->o, indent, "", rest, PGML_GEN_ESC_PYDOC);
  pgml_gen_out_printf(t->o, "%s\"\"\"\n", indent);
}

/* Whether the message is only ever a request: its fields become arguments
 * and Python never sees the message itself. */
static bool only_request(const pgml_gen_model_t *m, const pgml_gen_message_t *msg) {
  if (!msg->is_request)
    return false;
  for (size_t i = 0; i < m->service.n_methods; i++)
    if (m->service.methods[i].response == msg)
      return false;
  for (size_t i = 0; i < m->n_messages; i++)
    for (size_t k = 0; m->messages[i]->used && k < m->messages[i]->n_fields; k++)
      if (m->messages[i]->fields[k].message == msg)
        return false;
  return true;
}

static int write_messages(pyi_ctx_t *t) {
  const pgml_gen_model_t *m = t->m;
  pgml_gen_out_puts(t->o, "\n# ---------------------------------------------------------------- messages\n");
  for (size_t i = 0; i < m->n_messages; i++) {
    const pgml_gen_message_t *msg = m->messages[i];
    if (!pgml_gen_message_shown(msg) || only_request(m, msg))
      continue;
    pgml_gen_out_printf(t->o, "\nclass %s:\n", msg->ident);
    docstring(t, "    ", msg->doc);
    for (size_t k = 0; k < msg->n_fields; k++) {
      const pgml_gen_field_t *f = &msg->fields[k];
      const char *name = pgml_gen_lang_field(t->a, L, f->name);
      if (name == NULL)
        return -ENOMEM;
      pgml_gen_out_printf(t->o, "    %s: ", name);
      write_type(t, f, false);
      pgml_gen_out_puts(t->o, "\n");
      docstring(t, "    ", f->doc);
    }
    /* Messages are also built from keyword arguments, like the dicts the
     * methods accept in their place. */
    pgml_gen_out_puts(t->o, "    def __init__(self");
    if (msg->n_fields > 0)
      pgml_gen_out_puts(t->o, ", *");
    for (size_t k = 0; k < msg->n_fields; k++) {
      const char *name = pgml_gen_lang_field(t->a, L, msg->fields[k].name);
      if (name == NULL)
        return -ENOMEM;
      pgml_gen_out_printf(t->o, ", %s: ", name);
      write_type(t, &msg->fields[k], true);
      pgml_gen_out_puts(t->o, " = ...");
    }
    pgml_gen_out_puts(t->o, ") -> None: ...\n");
  }
  return 0;
}

static int write_return(pyi_ctx_t *t, const pgml_gen_method_t *meth) {
  const pgml_gen_field_t *u = meth->response->unwrap;
  if (meth->returns_key != NULL)
    pgml_gen_out_puts(t->o, meth->opts.returns_bound);
  else if (u != NULL)
    write_type(t, u, false);
  else if (pgml_gen_method_is_void(meth))
    pgml_gen_out_puts(t->o, "None");
  else
    pgml_gen_out_puts(t->o, meth->response->ident);
  return 0;
}

/* The method's docstring: the rpc's comment, then its arguments' comments
 * in the "Args:" form help() and editors show. */
static int method_doc(pyi_ctx_t *t, const pgml_gen_method_t *meth,
                      const pgml_gen_field_t **args, size_t n) {
  const char *rest;

  pgml_gen_out_puts(t->o, "        \"\"\"");
  if (meth->doc != NULL) {
    rest = pgml_gen_out_first_line(t->o, meth->doc, PGML_GEN_ESC_PYDOC);
    pgml_gen_out_puts(t->o, "\n");
    pgml_gen_out_lines(t->o, "        ", "", rest, PGML_GEN_ESC_PYDOC);
  } else {
    pgml_gen_out_printf(t->o, "rpc %s(%s) returns (%s).\n", meth->name,
                        meth->request->name, meth->response->name);
  }
  pgml_gen_out_puts(t->o, "\n        Args:\n");
  for (size_t k = 0; k < n; k++) {
    const char *arg = pgml_gen_lang_field(t->a, L, args[k]->name);
    if (arg == NULL)
      return -ENOMEM;
    if (args[k]->doc == NULL)
      continue;
    pgml_gen_out_printf(t->o, "            %s: ", arg);
    rest = pgml_gen_out_first_line(t->o, args[k]->doc, PGML_GEN_ESC_PYDOC);
    pgml_gen_out_puts(t->o, "\n");
    pgml_gen_out_lines(t->o, "                ", "", rest, PGML_GEN_ESC_PYDOC);
  }
  pgml_gen_out_puts(t->o,
      "            timeout: Deadline of this call in seconds (default: the client's).\n"
      "        \"\"\"\n"
      "        ...\n");
  return 0;
}

static int write_method(pyi_ctx_t *t, const pgml_gen_method_t *meth) {
  const pgml_gen_field_t **args =
      pgml_gen_arena_alloc(t->a, (meth->request->n_fields + 1) * sizeof(*args));
  const char *name = pgml_gen_lang_method(t->a, L, meth->name);
  size_t n;

  if (args == NULL || name == NULL)
    return -ENOMEM;
  n = pgml_gen_method_args(meth, args);
  pgml_gen_out_printf(t->o, "\n    async def %s(\n        self,\n", name);
  for (size_t k = 0; k < n; k++) {
    const char *arg = pgml_gen_lang_field(t->a, L, args[k]->name);
    if (arg == NULL)
      return -ENOMEM;
    pgml_gen_out_printf(t->o, "        %s: ", arg);
    write_type(t, args[k], true);
    pgml_gen_out_puts(t->o, " = ...,\n");
  }
  pgml_gen_out_puts(t->o, "        *,\n        timeout: float | None = None,\n    ) -> ");
  write_return(t, meth);
  pgml_gen_out_puts(t->o, ":\n");
  return method_doc(t, meth, args, n);
}

static int write_errors(pyi_ctx_t *t) {
  const pgml_gen_enum_t *codes = t->m->codes;
  pgml_gen_out_printf(t->o,
      "\n# ---------------------------------------------------------------- errors\n\n"
      "class %s(Exception):\n"
      "    \"\"\"A call did not complete with OK.  The subclass names the code.\"\"\"\n"
      "    code: int\n"
      "    \"\"\"The %s value.\"\"\"\n"
      "    code_name: str\n"
      "    \"\"\"Its name, e.g. \\\"NOT_FOUND\\\".\"\"\"\n"
      "    message: str\n"
      "    \"\"\"Why, in words: the server's reason or the client's.\"\"\"\n"
      "    details: dict[str, Any] | None\n"
      "    \"\"\"The server's machine-readable facts about the error, if any.\"\"\"\n",
      pgml_gen_lang_error_base(L), codes->full_name);
  for (size_t i = 0; i < codes->n_values; i++) {
    const pgml_gen_enum_value_t *v = &codes->values[i];
    const char *name;
    if (v->number == 0)
      continue;
    if ((name = pgml_gen_lang_error(t->a, L, v->name)) == NULL)
      return -ENOMEM;
    pgml_gen_out_printf(t->o, "\nclass %s(%s):\n", name, pgml_gen_lang_error_base(L));
    if (v->doc != NULL)
      docstring(t, "    ", v->doc);
    else
      pgml_gen_out_printf(t->o, "    \"\"\"The call completed with %s (%d).\"\"\"\n",
                          v->name, (int)v->number);
  }
  return 0;
}

static int write_classes(pyi_ctx_t *t) {
  const pgml_gen_model_t *m = t->m;
  const pgml_gen_service_t *svc = &m->service;
  int rc;

  pgml_gen_out_printf(t->o,
      "\n# ---------------------------------------------------------------- clients\n\n"
      "class %s:\n", svc->name);
  docstring(t, "    ", svc->doc);
  pgml_gen_out_printf(t->o,
      "\n    def __init__(self, address: str, *, timeout: float | None = None,\n"
      "                 token: str | None = None, ca_file: str | None = None) -> None:\n"
      "        \"\"\"A client of the pgmld at `address` (\\\"unix:///path\\\" or a path).\n\n"
      "        `timeout` (seconds) applies to every call that does not give its own.\n"
      "        `token` is a bearer token for a ws:// or wss:// pgmld; `ca_file` a PEM\n"
      "        file to verify a wss:// server's certificate with.\n"
      "        \"\"\"\n"
      "        ...\n"
      "    async def close(self) -> None:\n"
      "        \"\"\"Closes the connection; calls still running fail with Cancelled.\"\"\"\n"
      "        ...\n"
      "    async def __aenter__(self) -> %s: ...\n"
      "    async def __aexit__(self, *exc_info: object) -> None: ...\n"
      "    @property\n"
      "    def address(self) -> str:\n"
      "        \"\"\"The address given to %s().\"\"\"\n"
      "        ...\n"
      "    @property\n"
      "    def pending(self) -> int:\n"
      "        \"\"\"Calls not yet completed.\"\"\"\n"
      "        ...\n",
      svc->name, svc->name);
  for (size_t c = 0; c < m->n_classes; c++) {
    const char *factory = pgml_gen_lang_factory(t->a, L, m->classes[c].name);
    if (factory == NULL)
      return -ENOMEM;
    pgml_gen_out_printf(t->o,
        "\n    def %s(self, %s: str) -> %s:\n"
        "        \"\"\"The %s named `%s`; nothing is sent until one of its methods is called.\"\"\"\n"
        "        ...\n",
        factory, PGML_GEN_BOUND_KEY, m->classes[c].name, m->classes[c].name,
        PGML_GEN_BOUND_KEY);
  }
  for (size_t i = 0; i < svc->n_methods; i++)
    if (strcmp(svc->methods[i].owner, svc->name) == 0 &&
        (rc = write_method(t, &svc->methods[i])) < 0)
      return rc;

  for (size_t c = 0; c < m->n_classes; c++) {
    const char *factory = pgml_gen_lang_factory(t->a, L, m->classes[c].name);
    if (factory == NULL)
      return -ENOMEM;
    pgml_gen_out_printf(t->o,
        "\nclass %s:\n"
        "    \"\"\"Calls about one %s, made by %s.%s(%s).\"\"\"\n\n"
        "    @property\n"
        "    def %s(self) -> str: ...\n"
        "    @property\n"
        "    def database(self) -> %s:\n"
        "        \"\"\"The %s it was made by.\"\"\"\n"
        "        ...\n",
        m->classes[c].name, m->classes[c].name, svc->name, factory, PGML_GEN_BOUND_KEY,
        PGML_GEN_BOUND_KEY, svc->name, svc->name);
    for (size_t i = 0; i < svc->n_methods; i++)
      if (strcmp(svc->methods[i].owner, m->classes[c].name) == 0 &&
          (rc = write_method(t, &svc->methods[i])) < 0)
        return rc;
  }
  return 0;
}

int pgml_gen_emit_pyi(const pgml_gen_model_t *m, const char *outdir, pgml_gen_diag_t *d) {
  pgml_gen_arena_t arena = PGML_GEN_ARENA_INIT;
  pgml_gen_out_t o;
  pyi_ctx_t t = {.m = m, .a = &arena, .o = &o};
  int rc;

  if ((rc = pgml_gen_out_open(&o, outdir, "python/pgml/__init__.pyi", d)) < 0)
    return rc;
  pgml_gen_out_printf(&o,
      "# pgml/__init__.pyi - types of the pgml Python client (%s).\n"
      "# Generated by pgml-gen from %s: do not edit.\n",
      m->service.full_name, m->service.file);
  docstring(&t, "", m->service.doc);
  pgml_gen_out_puts(&o,
      "\nfrom collections.abc import Mapping, Sequence\n"
      "from typing import Any, TypeAlias\n\n"
      "Json: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool | None\n"
      "\"\"\"A value carried as JSON text on the wire: what json.loads() gives.\"\"\"\n");
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
