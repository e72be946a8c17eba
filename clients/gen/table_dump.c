/* table_dump.c - pgml-table-dump: prints the compiled Python and Node method
 * tables as JSON, to see (and test) what the native extensions are given.
 *
 *   pgml-table-dump [python|node]     (default: both)
 *
 * The output is one JSON object keyed by language; each table keeps the
 * field names of pgml_method_table.h, descriptors shown by their full
 * .proto names.  Each table is first checked against the protobuf-c
 * descriptors (pgml_method_table_check()).  Exit status 0; 1 when a table
 * does not match its descriptors (the mismatch is printed); 2 for an
 * unknown argument.
 */
#include <stdio.h>
#include <string.h>

#include "pgml_method_table.h"
#include "pgml_table_lookup.h"

static void json_str(const char *s) {
  if (s == NULL) {
    fputs("null", stdout);
    return;
  }
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    switch (*p) {
    case '"':
      fputs("\\\"", stdout);
      break;
    case '\\':
      fputs("\\\\", stdout);
      break;
    case '\n':
      fputs("\\n", stdout);
      break;
    case '\t':
      fputs("\\t", stdout);
      break;
    default:
      if (*p < 0x20)
        printf("\\u%04x", *p);
      else
        putchar(*p);
    }
  }
  putchar('"');
}

static void flags(uint32_t f) {
  static const struct {
    uint32_t bit;
    const char *name;
  } names[] = {
      {PGML_FIELD_JSON, "json"},         {PGML_FIELD_JS_NUMBER, "js_number"},
      {PGML_FIELD_BIND, "bind"},         {PGML_FIELD_REPEATED, "repeated"},
      {PGML_FIELD_MAP, "map"},
  };
  int first = 1;
  putchar('[');
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (f & names[i].bit) {
      printf("%s\"%s\"", first ? "" : ", ", names[i].name);
      first = 0;
    }
  putchar(']');
}

static void field(const pgml_field_info_t *f) {
  if (f == NULL) {
    fputs("null", stdout);
    return;
  }
  printf("{\"number\": %u, \"name\": ", (unsigned)f->number);
  json_str(f->name);
  fputs(", \"proto_name\": ", stdout);
  json_str(f->proto_name);
  fputs(", \"flags\": ", stdout);
  flags(f->flags);
  fputs(", \"doc\": ", stdout);
  json_str(f->doc);
  putchar('}');
}

static void message(const pgml_message_info_t *m) {
  fputs("{\"name\": ", stdout);
  json_str(m->name);
  fputs(", \"descriptor\": ", stdout);
  json_str(m->descriptor ? m->descriptor->name : NULL);
  fputs(", \"fields\": [", stdout);
  for (size_t i = 0; i < m->n_fields; i++) {
    fputs(i ? ", " : "", stdout);
    field(&m->fields[i]);
  }
  fputs("], \"unwrap\": ", stdout);
  json_str(m->unwrap ? m->unwrap->name : NULL);
  fputs(", \"doc\": ", stdout);
  json_str(m->doc);
  putchar('}');
}

static void method(const pgml_method_info_t *m) {
  fputs("{\"wire_name\": ", stdout);
  json_str(m->wire_name);
  fputs(", \"name\": ", stdout);
  json_str(m->name);
  fputs(", \"owner\": ", stdout);
  json_str(m->owner);
  fputs(", \"request_type\": ", stdout);
  json_str(m->request_type->name);
  fputs(", \"response_type\": ", stdout);
  json_str(m->response_type->name);
  fputs(", \"request\": ", stdout);
  json_str(m->request->name);
  fputs(", \"response\": ", stdout);
  json_str(m->response->name);
  fputs(", \"bind\": ", stdout);
  json_str(m->bind ? m->bind->name : NULL);
  fputs(", \"args\": [", stdout);
  for (size_t i = 0; i < m->n_args; i++) {
    fputs(i ? ", " : "", stdout);
    field(m->args[i]);
  }
  fputs("], \"returns_bound\": ", stdout);
  json_str(m->returns_bound);
  fputs(", \"returns_key\": ", stdout);
  json_str(m->returns_key ? m->returns_key->name : NULL);
  fputs(", \"unwrap\": ", stdout);
  json_str(m->unwrap ? m->unwrap->name : NULL);
  printf(", \"void\": %s, \"doc\": ", (m->flags & PGML_METHOD_VOID) ? "true" : "false");
  json_str(m->doc);
  putchar('}');
}

static void table(const pgml_method_table_t *t) {
  fputs("{\"language\": ", stdout);
  json_str(t->language);
  fputs(", \"service\": ", stdout);
  json_str(t->service);
  fputs(", \"service_class\": ", stdout);
  json_str(t->service_class);
  fputs(", \"service_doc\": ", stdout);
  json_str(t->service_doc);
  fputs(", \"error_base\": ", stdout);
  json_str(t->error_base);
  fputs(",\n  \"methods\": [", stdout);
  for (size_t i = 0; i < t->n_methods; i++) {
    fputs(i ? ",\n    " : "\n    ", stdout);
    method(&t->methods[i]);
  }
  fputs("],\n  \"messages\": [", stdout);
  for (size_t i = 0; i < t->n_messages; i++) {
    fputs(i ? ",\n    " : "\n    ", stdout);
    message(&t->messages[i]);
  }
  fputs("],\n  \"classes\": [", stdout);
  for (size_t i = 0; i < t->n_classes; i++) {
    const pgml_class_info_t *c = &t->classes[i];
    fputs(i ? ", " : "", stdout);
    fputs("{\"name\": ", stdout);
    json_str(c->name);
    fputs(", \"factory\": ", stdout);
    json_str(c->factory);
    fputs(", \"key\": ", stdout);
    json_str(c->key);
    printf(", \"n_methods\": %zu}", c->n_methods);
  }
  fputs("],\n  \"errors\": [", stdout);
  for (size_t i = 0; i < t->n_errors; i++) {
    const pgml_error_info_t *e = &t->errors[i];
    printf("%s{\"code\": %d, \"code_name\": ", i ? ", " : "", e->code);
    json_str(e->code_name);
    fputs(", \"name\": ", stdout);
    json_str(e->name);
    fputs(", \"doc\": ", stdout);
    json_str(e->doc);
    putchar('}');
  }
  fputs("]}", stdout);
}

int main(int argc, char **argv) {
  const char *which = argc > 1 ? argv[1] : NULL;
  char err[512];

  if (argc > 2 || (which != NULL && strcmp(which, "python") != 0 &&
                   strcmp(which, "node") != 0)) {
    fprintf(stderr, "usage: pgml-table-dump [python|node]\n");
    return 2;
  }
  if (pgml_method_table_check(&pgml_python_method_table, err, sizeof(err)) < 0 ||
      pgml_method_table_check(&pgml_node_method_table, err, sizeof(err)) < 0) {
    fprintf(stderr, "pgml-table-dump: %s\n", err);
    return 1;
  }
  putchar('{');
  if (which == NULL || strcmp(which, "python") == 0) {
    fputs("\"python\": ", stdout);
    table(&pgml_python_method_table);
  }
  if (which == NULL)
    fputs(",\n", stdout);
  if (which == NULL || strcmp(which, "node") == 0) {
    fputs("\"node\": ", stdout);
    table(&pgml_node_method_table);
  }
  fputs("}\n", stdout);
  return fflush(stdout) == 0 ? 0 : 1;
}
