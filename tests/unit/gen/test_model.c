/* test_model.c - reading descriptor sets into pgml-gen's model, and the
 * reports on .proto files that use the options wrongly. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"

/* Reads a whole file (a descriptor set the build made); fails the test if
 * it cannot.  The caller frees the result. */
static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  long n = 0;

  if (f == NULL)
    fail_msg("cannot open %s", path);
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0)
    fail_msg("cannot size %s", path);
  buf = malloc((size_t)n);
  assert_non_null(buf);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n)
    fail_msg("cannot read %s", path);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* Loads desc/<name>.desc; returns the load's result, the model (on
 * success) in *m, and every report in *reports (caller frees). */
static int load(const char *name, const char *service, pgml_gen_model_t *m,
                char **reports, unsigned *n_errors) {
  char path[1024];
  size_t len, rlen = 0;
  uint8_t *data;
  FILE *stream;
  int rc;

  snprintf(path, sizeof(path), "%s/%s.desc", GEN_TEST_DESC_DIR, name);
  data = slurp(path, &len);
  *reports = NULL;
  stream = open_memstream(reports, &rlen);
  assert_non_null(stream);
  {
    pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(stream);
    rc = pgml_gen_model_load(m, data, len, service, NULL, &d);
    *n_errors = d.errors;
  }
  fclose(stream);
  free(data);
  return rc;
}

static const pgml_gen_method_t *method(const pgml_gen_model_t *m, const char *name) {
  for (size_t i = 0; i < m->service.n_methods; i++)
    if (strcmp(m->service.methods[i].name, name) == 0)
      return &m->service.methods[i];
  fail_msg("no method %s", name);
  return NULL;
}

static const pgml_gen_field_t *field(const pgml_gen_message_t *msg, const char *name) {
  for (size_t i = 0; i < msg->n_fields; i++)
    if (strcmp(msg->fields[i].name, name) == 0)
      return &msg->fields[i];
  fail_msg("no field %s in %s", name, msg->full_name);
  return NULL;
}

static void test_good(void **state) {
  pgml_gen_model_t m;
  char *reports;
  unsigned errors;
  const pgml_gen_method_t *open, *list, *count;
  const pgml_gen_field_t *args[8];
  const pgml_gen_message_t *req, *book;
  (void)state;

  assert_int_equal(load("good", "gentest.good.Library", &m, &reports, &errors), 0);
  assert_int_equal(errors, 0);
  assert_string_equal(reports, "");
  free(reports);

  assert_string_equal(m.service.name, "Library");
  assert_string_equal(m.service.package, "gentest.good");
  assert_string_equal(m.service.doc, "Keeps shelves of books.");
  assert_int_equal(m.service.n_methods, 4);

  open = method(&m, "OpenShelf");
  assert_string_equal(open->doc, "Opens a shelf, creating it.");
  assert_string_equal(open->owner, "Library");
  assert_null(open->bind);
  assert_string_equal(open->opts.returns_bound, "Shelf");
  assert_non_null(open->returns_key);
  assert_string_equal(open->returns_key->name, "shelf_name");
  assert_string_equal(open->response->full_name, "gentest.good.ShelfInfo");
  assert_true(field(open->response, "opened_at_ms")->opts.js_number);

  list = method(&m, "ListBooks");
  assert_string_equal(list->doc, "Books on the shelf, \"best\" first.");
  assert_string_equal(list->owner, "Shelf");
  assert_non_null(list->bind);
  assert_string_equal(list->bind->name, "shelf");
  assert_string_equal(list->bind->doc, "Which shelf.");
  assert_non_null(strstr(list->bind->where, "good.proto:"));
  /* The arguments: every request field but the bound one, in .proto order. */
  req = list->request;
  assert_int_equal(pgml_gen_method_args(list, args), 4);
  assert_string_equal(args[0]->name, "top_k");
  assert_string_equal(args[1]->name, "filter");
  assert_string_equal(args[2]->name, "labels");
  assert_string_equal(args[3]->name, "from");
  assert_true(field(req, "filter")->opts.json);
  assert_false(field(req, "top_k")->opts.json);
  assert_true(field(req, "labels")->repeated);
  assert_true(field(req, "labels")->message->map_entry);
  assert_false(pgml_gen_message_shown(field(req, "labels")->message));
  assert_string_equal(field(req, "from")->doc, "Ends with a quote: \"");
  /* (unwrap) resolves to the response's repeated field. */
  assert_non_null(list->response->unwrap);
  assert_string_equal(list->response->unwrap->name, "books");
  book = list->response->unwrap->message;
  assert_string_equal(book->full_name, "gentest.good.ListBooksResponse.Book");
  assert_string_equal(book->name, "ListBooksResponse.Book");
  assert_string_equal(book->ident, "ListBooksResponse_Book");
  assert_true(book->used);
  assert_non_null(field(book, "kind")->enum_type);
  assert_true(pgml_gen_type_is_64bit(field(book, "pages")->type));
  assert_false(field(book, "pages")->opts.js_number);

  count = method(&m, "CountHTTPRequests");
  assert_string_equal(count->owner, "Shelf");
  assert_false(pgml_gen_method_is_void(count));
  assert_true(pgml_gen_method_is_void(method(&m, "Forget")));

  assert_int_equal(m.n_classes, 1);
  assert_string_equal(m.classes[0].name, "Shelf");
  assert_int_equal(m.classes[0].n_methods, 3);

  assert_non_null(m.codes);
  assert_string_equal(m.codes->full_name, "gentest.good.Code");
  assert_int_equal(m.codes->n_values, 2);
  assert_string_equal(m.codes->values[1].name, "NOT_FOUND");
  assert_int_equal(m.codes->values[1].number, 5);
  assert_string_equal(m.codes->values[1].doc, "Nothing has that name.");

  assert_non_null(pgml_gen_model_message(&m, ".gentest.good.CountRequest"));
  assert_null(pgml_gen_model_message(&m, "gentest.good.Nope"));
  assert_non_null(pgml_gen_model_enum(&m, "gentest.good.ListBooksResponse.Kind"));
  pgml_gen_model_free(&m);
}

/* The real .proto loads, with the shape the clients rely on. */
static void test_pgml_v1(void **state) {
  pgml_gen_model_t m;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(stderr);
  size_t len;
  uint8_t *data = slurp(GEN_TEST_PGML_DESC, &len);
  const pgml_gen_method_t *create, *search;
  (void)state;

  assert_int_equal(pgml_gen_model_load(&m, data, len, "pgml.v1.Database", NULL, &d), 0);
  free(data);
  assert_string_equal(m.codes->full_name, "pgml.v1.Code");
  create = method(&m, "CreateOrGetCollection");
  assert_string_equal(create->opts.returns_bound, "Collection");
  assert_string_equal(create->returns_key->name, "name");
  search = method(&m, "VectorSearch");
  assert_string_equal(search->owner, "Collection");
  assert_string_equal(search->bind->name, "collection");
  assert_string_equal(search->response->unwrap->name, "results");
  assert_true(field(search->request, "filter")->opts.json);
  pgml_gen_model_free(&m);
}

/* Every report the model gives on `name`.desc, each with the place in the
 * .proto and the element, in the order the model reports them. */
static void expect_reports(const char *name, const char *service,
                           const char *const *expect, size_t n) {
  pgml_gen_model_t m;
  char *reports, *p;
  unsigned errors;

  assert_int_equal(load(name, service, &m, &reports, &errors), -EINVAL);
  p = reports;
  for (size_t i = 0; i < n; i++) {
    char *hit = strstr(p, expect[i]);
    if (hit == NULL)
      fail_msg("%s: report %zu \"%s\" missing (or out of order) in:\n%s", name, i,
               expect[i], reports);
    p = hit + strlen(expect[i]);
  }
  if (errors != n)
    fail_msg("%s: %u reports, expected %zu:\n%s", name, errors, n, reports);
  free(reports);
  /* A failed load leaves the model empty: freeing it again is harmless. */
  pgml_gen_model_free(&m);
}

static void test_bad_options(void **state) {
  static const char *const expect[] = {
      ("pgml-gen: bad_options.proto:19:3: rpc Streams streams; pgmld answers each "
      "request once, so streaming RPCs are not supported\n"),
      ("pgml-gen: bad_options.proto:25:3: gentest.bad.BindOnNumberRequest.id: (bind) "
      "names an object by a string, but the field is uint32\n"),
      ("pgml-gen: bad_options.proto:29:3: gentest.bad.JsonOnNumberRequest.doc: (json) "
      "fields carry JSON text and must be strings, not int32\n"),
      ("pgml-gen: bad_options.proto:30:3: gentest.bad.JsonOnNumberRequest.small: "
      "(js_number) is for 64-bit integers, and the field is int32\n"),
      ("pgml-gen: bad_options.proto:33:1: gentest.bad.UnwrapScalarResponse: (unwrap) = "
      "\"count\" must name a repeated field\n"),
      ("pgml-gen: bad_options.proto:12:3: rpc ReturnsUnknownClass: (returns_bound) = "
      "\"Nowhere\" is not a class; classes come from (bind) on request fields\n"),
      ("pgml-gen: bad_options.proto:16:3: rpc ReturnsHalf: (returns_bound) and "
      "(returns_key) go together; give both or neither\n"),
  };
  (void)state;
  expect_reports("bad_options", "gentest.bad.Bad", expect, sizeof(expect) / sizeof(expect[0]));
}

static void test_bad_names(void **state) {
  static const char *const expect[] = {
      ("pgml-gen: bad_names.proto:22:3: gentest.names.BoundReq has a second (bind) "
      "field, other; an rpc acts on one object\n"),
      ("pgml-gen: bad_names.proto:10:3: rpc GetThing and rpc Get_Thing would both be "
      "Names.get_thing in the clients\n"),
      ("pgml-gen: bad_names.proto:11:3: rpc Close would be called close, which the "
      "client already has; rename it\n"),
      ("pgml-gen: bad_names.proto:13:3: rpc Import would be called import in Python, "
       "which is a keyword; rename it\n"),
      ("pgml-gen: bad_names.proto:14:3: rpc GetThingSync would be get_thing_sync in C, "
       "the name of rpc GetThing's blocking call; rename it\n"),
      ("pgml-gen: bad_names.proto:21:3: (bind) class Resp has the name of message "
      "gentest.names.Resp; the clients declare both\n"),
  };
  (void)state;
  expect_reports("bad_names", "Names", expect, sizeof(expect) / sizeof(expect[0]));
}

static void test_bad_fields(void **state) {
  static const char *const expect[] = {
      ("pgml-gen: bad_fields.proto:13:3: gentest.fields.SpellRequest: fields HTTPServer "
       "and http_server would both be httpServer in Node; rename one\n"),
  };
  (void)state;
  expect_reports("bad_fields", "Fields", expect, sizeof(expect) / sizeof(expect[0]));
}

static void test_bad_input(void **state) {
  static const uint8_t garbage[] = {0x0a, 0x7f, 0x01};
  pgml_gen_model_t m;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(NULL);
  char *reports;
  unsigned errors;
  (void)state;

  assert_int_equal(pgml_gen_model_load(&m, garbage, sizeof(garbage), "X", NULL, &d),
                   -EINVAL);
  assert_string_equal(d.first, "the descriptor set (3 bytes) does not decode as a "
                               "google.protobuf.FileDescriptorSet");

  assert_int_equal(load("good", "gentest.good.Nope", &m, &reports, &errors), -EINVAL);
  assert_non_null(strstr(reports, "no service named gentest.good.Nope in the descriptor set"));
  free(reports);

  /* The status codes come from <package>.Code unless told otherwise. */
  {
    char path[1024];
    size_t len;
    uint8_t *data;
    snprintf(path, sizeof(path), "%s/good.desc", GEN_TEST_DESC_DIR);
    data = slurp(path, &len);
    d = (pgml_gen_diag_t)PGML_GEN_DIAG_INIT(NULL);
    assert_int_equal(pgml_gen_model_load(&m, data, len, "Library", "gentest.good.Missing", &d),
                     -EINVAL);
    assert_string_equal(d.first, "no status-code enum gentest.good.Missing in the descriptor "
                                 "set; the clients' error classes come from it (pass --codes)");
    free(data);
  }
}

/* Failing each allocation in turn: the load fails with -ENOMEM and frees
 * everything (ASan's leak check runs on this test), until it has enough. */
static void test_out_of_memory(void **state) {
  char path[1024];
  size_t len;
  uint8_t *data;
  unsigned long n;
  (void)state;

  snprintf(path, sizeof(path), "%s/good.desc", GEN_TEST_DESC_DIR);
  data = slurp(path, &len);
  for (n = 1; n < 100000; n++) {
    pgml_gen_model_t m;
    pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(NULL);
    int rc;
    pgml_gen_arena_fail_after(n);
    rc = pgml_gen_model_load(&m, data, len, "gentest.good.Library", NULL, &d);
    pgml_gen_arena_fail_after(0);
    if (rc == 0) {
      pgml_gen_model_free(&m);
      break;
    }
    if (rc != -ENOMEM)
      fail_msg("allocation %lu failing gave %d (%s), not -ENOMEM", n, rc, d.first);
    assert_string_equal(d.first, "out of memory while reading the descriptor set");
  }
  /* The arena allocates in blocks: a handful of failure points at least. */
  assert_true(n > 1);
  free(data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good),
      cmocka_unit_test(test_pgml_v1),
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_bad_names),
      cmocka_unit_test(test_bad_fields),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
