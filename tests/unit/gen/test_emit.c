/* test_emit.c - what each emitter writes for a small service (good.proto),
 * and how a file that cannot be written is reported. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "emit.h"

typedef struct fixture_s {
  pgml_gen_model_t m;
  char dir[256];
} fixture_t;

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long n = 0;

  if (f == NULL)
    fail_msg("cannot open %s", path);
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
    fail_msg("cannot size %s", path);
  buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n)
    fail_msg("cannot read %s", path);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static int setup(void **state) {
  fixture_t *fx = calloc(1, sizeof(*fx));
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(stderr);
  char path[1024];
  uint8_t *data;
  FILE *f;
  long n = 0;

  assert_non_null(fx);
  snprintf(path, sizeof(path), "%s/good.desc", GEN_TEST_DESC_DIR);
  f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  n = ftell(f);
  assert_true(n > 0);
  rewind(f);
  data = malloc((size_t)n);
  assert_non_null(data);
  assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  assert_int_equal(pgml_gen_model_load(&fx->m, data, (size_t)n, "gentest.good.Library",
                                       NULL, &d), 0);
  free(data);
  snprintf(fx->dir, sizeof(fx->dir), "%s/emit-XXXXXX", GEN_TEST_DESC_DIR);
  assert_non_null(mkdtemp(fx->dir));
  *state = fx;
  return 0;
}

/* Removes what the emitters wrote (a known, small tree). */
static int teardown(void **state) {
  fixture_t *fx = *state;
  static const char *const files[] = {
      "c/include/pgml/library.h", "c/library.c", "python/pgml_python_table.c",
      "node/pgml_node_table.c", "python/pgml/__init__.pyi", "node/index.d.ts",
      "c/include/pgml", "c/include", "c", "python/pgml", "python", "node", "",
  };
  char path[1024];
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    snprintf(path, sizeof(path), "%s/%s", fx->dir, files[i]);
    remove(path);
  }
  pgml_gen_model_free(&fx->m);
  free(fx);
  return 0;
}

/* Asserts that the file holds every one of the strings, and none of the
 * forbidden ones. */
static void expect_file(const fixture_t *fx, const char *rel, const char *const *has,
                        size_t n_has, const char *const *hasnt, size_t n_hasnt) {
  char path[1024];
  char *text;

  snprintf(path, sizeof(path), "%s/%s", fx->dir, rel);
  text = slurp(path);
  for (size_t i = 0; i < n_has; i++)
    if (strstr(text, has[i]) == NULL)
      fail_msg("%s lacks \"%s\"", rel, has[i]);
  for (size_t i = 0; i < n_hasnt; i++)
    if (strstr(text, hasnt[i]) != NULL)
      fail_msg("%s has \"%s\"", rel, hasnt[i]);
  free(text);
}

#define N(x) (sizeof(x) / sizeof((x)[0]))

static void test_c(void **state) {
  fixture_t *fx = *state;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(stderr);
  static const char *const h[] = {
      "#include \"good.pb.h\"",
      "#define PGML_LIBRARY_OPEN_SHELF \"gentest.good.Library/OpenShelf\"",
      "/* Opens a shelf, creating it.",
      ("typedef void (*pgml_library_list_books_cb)(pgml_client_t *c, const pgml_result_t *res,\n"
      "        gentest_good_ListBooksResponse *resp, void *ud);"),
      ("PGML_MUST_CHECK int pgml_library_count_http_requests(pgml_client_t *c, "
      "const gentest_good_CountRequest *req,"),
      "PGML_MUST_CHECK int pgml_library_forget_sync(",
      " *   shelf: Which shelf.",
  };
  static const char *const c[] = {
      "#include \"pgml/library.h\"",
      "return pgml_call_sync(c, PGML_LIBRARY_LIST_BOOKS, gentest_good_ListBooksRequest_fields",
      "gentest_good_ListBooksResponse_fields",
      /* The statics are unprefixed, so no rpc's public name can meet them. */
      "static void done_list_books(pgml_client_t *c,",
      "req ? req : &default_list_books,",
  };
  /* A comment ending in "*" then "/" would end the C comment early. */
  static const char *const no[] = {"\"a/*\""};
  (void)state;

  assert_int_equal(pgml_gen_emit_c(&fx->m, fx->dir, &d), 0);
  expect_file(fx, "c/include/pgml/library.h", h, N(h), no, N(no));
  expect_file(fx, "c/library.c", c, N(c), NULL, 0);
}

static void test_tables(void **state) {
  fixture_t *fx = *state;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(stderr);
  static const char *const py[] = {
      "#include \"good.pb-c.h\"",
      "{5, \"from_\", \"from\", 0,",
      "{3, \"filter\", \"filter\", PGML_FIELD_JSON,",
      "{4, \"labels\", \"labels\", PGML_FIELD_REPEATED | PGML_FIELD_MAP,",
      "{1, \"shelf\", \"shelf\", PGML_FIELD_BIND,",
      "{\"gentest.good.Library/ListBooks\", \"list_books\", \"Shelf\",",
      ("&gentest__good__list_books_request__descriptor, "
      "&gentest__good__list_books_response__descriptor,"),
      "{\"Shelf\", \"shelf\", \"name\", 3},",
      "{5, \"NOT_FOUND\", \"NotFound\", \"Nothing has that name.\"},",
      "const pgml_method_table_t pgml_python_method_table = {",
      "\"Books on the shelf, \\\"best\\\" first.\"",
      "PGML_METHOD_VOID",
  };
  static const char *const node[] = {
      "{2, \"topK\", \"top_k\", 0,",
      "{2, \"openedAtMs\", \"opened_at_ms\", PGML_FIELD_JS_NUMBER,",
      "\"listBooks\", \"Shelf\",",
      "\"countHttpRequests\"",
      "{5, \"NOT_FOUND\", \"NotFoundError\",",
      "const pgml_method_table_t pgml_node_method_table = {",
      "\"PgmlError\"",
  };
  (void)state;

  assert_int_equal(pgml_gen_emit_table(&fx->m, PGML_GEN_LANG_PYTHON, fx->dir, &d), 0);
  assert_int_equal(pgml_gen_emit_table(&fx->m, PGML_GEN_LANG_NODE, fx->dir, &d), 0);
  expect_file(fx, "python/pgml_python_table.c", py, N(py), NULL, 0);
  expect_file(fx, "node/pgml_node_table.c", node, N(node), NULL, 0);
}

static void test_pyi(void **state) {
  fixture_t *fx = *state;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(stderr);
  static const char *const has[] = {
      "class Error(Exception):",
      "class NotFound(Error):",
      "class Library:",
      "class Shelf:",
      "    def shelf(self, name: str) -> Shelf:",
      "    async def open_shelf(\n        self,\n        shelf_name: str = ...,\n",
      ") -> Shelf:",
      ("    async def list_books(\n        self,\n        top_k: int = ...,\n"
      "        filter: Json = ...,\n        labels: Mapping[str, str] = ...,\n"
      "        from_: bool = ...,\n        *,\n        timeout: float | None = None,\n"
      "    ) -> list[ListBooksResponse_Book]:"),
      "    async def forget(",
      ") -> None:",
      "class ListBooksResponse_Book:",
      "    pages: int",
      "    opened_at_ms: int",
  };
  (void)state;

  assert_int_equal(pgml_gen_emit_pyi(&fx->m, fx->dir, &d), 0);
  expect_file(fx, "python/pgml/__init__.pyi", has, N(has), NULL, 0);
}

static void test_dts(void **state) {
  fixture_t *fx = *state;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(stderr);
  static const char *const has[] = {
      "export class PgmlError extends Error {",
      "export class NotFoundError extends PgmlError {}",
      "export class Library {",
      "  shelf(name: string): Shelf;",
      "  openShelf(request?: OpenShelfRequestInit, options?: CallOptions): Promise<Shelf>;",
      ("  listBooks(request?: Omit<ListBooksRequestInit, \"shelf\">, options?: CallOptions): "
      "Promise<Array<ListBooksResponse_Book>>;"),
      ("  forget(request?: Omit<ForgetRequestInit, \"shelf\">, options?: CallOptions): "
      "Promise<void>;"),
      /* uint64 without (js_number): a BigInt; with it: a number. */
      "  readonly pages: bigint;",
      "  readonly openedAtMs: number;",
      "  labels?: { [key: string]: string };",
      "  filter?: Json;",
  };
  (void)state;

  assert_int_equal(pgml_gen_emit_dts(&fx->m, fx->dir, &d), 0);
  expect_file(fx, "node/index.d.ts", has, N(has), NULL, 0);
}

/* The output directory is a regular file: each emitter reports the file it
 * could not write and fails; nothing is left half-written. */
static void test_unwritable(void **state) {
  fixture_t *fx = *state;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(NULL);
  char blocker[1024];
  FILE *f;
  (void)state;

  snprintf(blocker, sizeof(blocker), "%s/c", fx->dir);
  remove(blocker);
  f = fopen(blocker, "w");
  assert_non_null(f);
  fclose(f);
  assert_true(pgml_gen_emit_c(&fx->m, fx->dir, &d) < 0);
  assert_int_equal(d.errors, 1);
  if (strstr(d.first, "/c/") == NULL || strstr(d.first, "library") == NULL)
    fail_msg("the report does not name the file: %s", d.first);
  remove(blocker);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_c, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tables, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pyi, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unwritable, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
