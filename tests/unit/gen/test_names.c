/* test_names.c - how pgml-gen spells .proto names in C, Python and Node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "lang.h"
#include "names.h"

typedef char *(*convert_fn)(pgml_gen_arena_t *a, const char *name);

typedef struct case_s {
  const char *in;
  const char *out;
} case_t;

static void check_all(convert_fn fn, const case_t *cases, size_t n) {
  pgml_gen_arena_t a = PGML_GEN_ARENA_INIT;
  for (size_t i = 0; i < n; i++) {
    char *got = fn(&a, cases[i].in);
    assert_non_null(got);
    if (strcmp(got, cases[i].out) != 0)
      fail_msg("%s: expected \"%s\", got \"%s\"", cases[i].in, cases[i].out, got);
  }
  pgml_gen_arena_free(&a);
}

#define N(x) (sizeof(x) / sizeof((x)[0]))

static void test_snake(void **state) {
  static const case_t cases[] = {
      {"CreateOrGetCollection", "create_or_get_collection"},
      {"TopK", "top_k"},
      {"top_k", "top_k"},
      {"Ping", "ping"},
      {"ServerInfo", "server_info"},
      {"HTTPServer", "http_server"},
      {"CountHTTPRequests", "count_http_requests"},
      {"Base64Data", "base64_data"},
      {"getV2", "get_v2"},
      {"ID", "id"},
      {"already_snake_case", "already_snake_case"},
      {"Get_Thing", "get_thing"},
      {"__x__", "x"},
      {"", ""},
  };
  (void)state;
  check_all(pgml_gen_snake, cases, N(cases));
}

static void test_camel(void **state) {
  static const case_t cases[] = {
      {"CreateOrGetCollection", "createOrGetCollection"},
      {"TopK", "topK"},
      {"top_k", "topK"},
      {"created_at_ms", "createdAtMs"},
      {"ef_search", "efSearch"},
      {"HTTPServer", "httpServer"},
      {"CountHTTPRequests", "countHttpRequests"},
      {"base64_data", "base64Data"},
      {"m", "m"},
      {"VectorSearch", "vectorSearch"},
  };
  (void)state;
  check_all(pgml_gen_camel, cases, N(cases));
}

static void test_pascal_upper(void **state) {
  static const case_t pascal[] = {
      {"NOT_FOUND", "NotFound"},
      {"INVALID_ARGUMENT", "InvalidArgument"},
      {"collection", "Collection"},
      {"DEADLINE_EXCEEDED", "DeadlineExceeded"},
  };
  static const case_t upper[] = {
      {"CreateOrGetCollection", "CREATE_OR_GET_COLLECTION"},
      {"TopK", "TOP_K"},
      {"ServerInfo", "SERVER_INFO"},
  };
  (void)state;
  check_all(pgml_gen_pascal, pascal, N(pascal));
  check_all(pgml_gen_upper, upper, N(upper));
}

/* These must match what protoc-c and nanopb name their symbols, or the
 * generated tables do not link: the pgml.v1 ones are checked against the
 * real generated code by the build, these pin the corner cases. */
static void test_generator_spellings(void **state) {
  static const case_t protoc_c[] = {
      {"pgml.v1.PingRequest", "pgml__v1__ping_request"},
      {".pgml.v1.PingRequest", "pgml__v1__ping_request"},
      {"pgml.v1.HnswSpec", "pgml__v1__hnsw_spec"},
      {"pgml.v1.CreateOrGetCollectionRequest",
       "pgml__v1__create_or_get_collection_request"},
      /* protoc-c breaks only before a capital after a non-capital. */
      {"gentest.good.CountHTTPRequests", "gentest__good__count_httprequests"},
      {"a.Outer.Inner", "a__outer__inner"},
      {"x.Base64Data", "x__base64_data"},
  };
  static const case_t nanopb[] = {
      {"pgml.v1.PingRequest", "pgml_v1_PingRequest"},
      {".pgml.v1.Outer.Inner", "pgml_v1_Outer_Inner"},
  };
  pgml_gen_arena_t a = PGML_GEN_ARENA_INIT;
  char *h;
  (void)state;
  check_all(pgml_gen_protoc_c_name, protoc_c, N(protoc_c));
  check_all(pgml_gen_nanopb_name, nanopb, N(nanopb));
  h = pgml_gen_proto_header(&a, "pgml/v1/database.proto", ".pb-c.h");
  assert_string_equal(h, "pgml/v1/database.pb-c.h");
  h = pgml_gen_proto_header(&a, "noext", ".pb.h");
  assert_string_equal(h, "noext.pb.h");
  pgml_gen_arena_free(&a);
}

static void test_reserved_words(void **state) {
  (void)state;
  assert_true(pgml_gen_is_python_keyword("from"));
  assert_true(pgml_gen_is_python_keyword("async"));
  assert_true(pgml_gen_is_python_keyword("None"));
  /* The generated methods have a `timeout` keyword argument of their own. */
  assert_true(pgml_gen_is_python_keyword("timeout"));
  assert_false(pgml_gen_is_python_keyword("filter"));
  assert_false(pgml_gen_is_python_keyword("id"));
  assert_true(pgml_gen_is_js_reserved("delete"));
  assert_true(pgml_gen_is_js_reserved("class"));
  assert_false(pgml_gen_is_js_reserved("filter"));
}

static void test_languages(void **state) {
  pgml_gen_arena_t a = PGML_GEN_ARENA_INIT;
  (void)state;
  assert_string_equal(pgml_gen_lang_method(&a, PGML_GEN_LANG_PYTHON, "CreateOrGetCollection"),
                      "create_or_get_collection");
  assert_string_equal(pgml_gen_lang_method(&a, PGML_GEN_LANG_NODE, "CreateOrGetCollection"),
                      "createOrGetCollection");
  assert_string_equal(pgml_gen_lang_field(&a, PGML_GEN_LANG_PYTHON, "top_k"), "top_k");
  assert_string_equal(pgml_gen_lang_field(&a, PGML_GEN_LANG_NODE, "top_k"), "topK");
  /* A Python keyword gets a trailing '_'; Node keeps it (an object key). */
  assert_string_equal(pgml_gen_lang_field(&a, PGML_GEN_LANG_PYTHON, "from"), "from_");
  assert_string_equal(pgml_gen_lang_field(&a, PGML_GEN_LANG_NODE, "from"), "from");
  assert_string_equal(pgml_gen_lang_factory(&a, PGML_GEN_LANG_PYTHON, "Collection"),
                      "collection");
  assert_string_equal(pgml_gen_lang_error(&a, PGML_GEN_LANG_PYTHON, "NOT_FOUND"), "NotFound");
  assert_string_equal(pgml_gen_lang_error(&a, PGML_GEN_LANG_NODE, "NOT_FOUND"),
                      "NotFoundError");
  assert_string_equal(pgml_gen_lang_error_base(PGML_GEN_LANG_PYTHON), "Error");
  assert_string_equal(pgml_gen_lang_error_base(PGML_GEN_LANG_NODE), "PgmlError");
  assert_string_equal(pgml_gen_lang_id(PGML_GEN_LANG_NODE), "node");
  pgml_gen_arena_free(&a);
}

/* Every conversion reports a failed allocation as NULL. */
static void test_out_of_memory(void **state) {
  pgml_gen_arena_t a = PGML_GEN_ARENA_INIT;
  (void)state;
  pgml_gen_arena_fail_after(1);
  assert_null(pgml_gen_snake(&a, "TopK"));
  assert_null(pgml_gen_camel(&a, "top_k"));
  assert_null(pgml_gen_protoc_c_name(&a, "pgml.v1.X"));
  assert_null(pgml_gen_nanopb_name(&a, "pgml.v1.X"));
  assert_null(pgml_gen_lang_error(&a, PGML_GEN_LANG_NODE, "NOT_FOUND"));
  assert_null(pgml_gen_lang_field(&a, PGML_GEN_LANG_PYTHON, "from"));
  pgml_gen_arena_fail_after(0);
  pgml_gen_arena_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_snake),
      cmocka_unit_test(test_camel),
      cmocka_unit_test(test_pascal_upper),
      cmocka_unit_test(test_generator_spellings),
      cmocka_unit_test(test_reserved_words),
      cmocka_unit_test(test_languages),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
