/* test_good.c - the method tables pgml-gen writes for good.proto, compiled
 * and linked with good.proto's protobuf-c code: they match the descriptors,
 * and the comments that needed escaping read back as the .proto wrote
 * them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "good.pb-c.h"
#include "pgml_method_table.h"
#include "pgml_table_lookup.h"

static void test_check(void **state) {
  char err[256];
  (void)state;
  if (pgml_method_table_check(&pgml_python_method_table, err, sizeof(err)) != 0)
    fail_msg("python table: %s", err);
  if (pgml_method_table_check(&pgml_node_method_table, err, sizeof(err)) != 0)
    fail_msg("node table: %s", err);
  assert_string_equal(pgml_python_method_table.service, "gentest.good.Library");
  assert_string_equal(pgml_python_method_table.service_class, "Library");
  assert_string_equal(pgml_python_method_table.service_doc, "Keeps shelves of books.");
  assert_int_equal(pgml_python_method_table.n_methods, gentest__good__library__descriptor.n_methods);
}

static void test_python(void **state) {
  const pgml_method_table_t *t = &pgml_python_method_table;
  const pgml_method_info_t *m = pgml_table_class_method(t, "Shelf", "list_books");
  const pgml_message_info_t *book;
  (void)state;

  assert_non_null(m);
  assert_string_equal(m->wire_name, "gentest.good.Library/ListBooks");
  assert_ptr_equal(m->request_type, &gentest__good__list_books_request__descriptor);
  assert_string_equal(m->bind->proto_name, "shelf");
  assert_int_equal(m->n_args, 4);
  assert_string_equal(m->args[0]->name, "top_k");
  assert_string_equal(m->args[1]->name, "filter");
  assert_int_equal(m->args[1]->flags, PGML_FIELD_JSON);
  assert_string_equal(m->args[2]->name, "labels");
  assert_int_equal(m->args[2]->flags, PGML_FIELD_REPEATED | PGML_FIELD_MAP);
  assert_string_equal(m->args[3]->name, "from_");
  assert_string_equal(m->args[3]->proto_name, "from");
  assert_string_equal(m->args[3]->doc, "Ends with a quote: \"");
  assert_string_equal(m->doc, "Books on the shelf, \"best\" first.");
  assert_string_equal(m->unwrap->name, "books");

  book = pgml_table_message(t, &gentest__good__list_books_response__book__descriptor);
  assert_non_null(book);
  assert_string_equal(book->name, "ListBooksResponse_Book");
  assert_int_equal(pgml_message_field(book, 2)->flags, 0); /* pages: no js_number */

  m = pgml_table_class_method(t, "Library", "open_shelf");
  assert_non_null(m);
  assert_string_equal(m->returns_bound, "Shelf");
  assert_string_equal(m->returns_key->name, "shelf_name");

  m = pgml_table_class_method(t, "Shelf", "count_http_requests");
  assert_non_null(m);
  /* Written with \? so that this file has no trigraphs either. */
  assert_string_equal(m->bind->doc,
                      "Which shelf?\?/ (a trigraph, inert in a comment but not in a "
                      "string).\nTrigraphs such as ?\?= must survive as text, \"quoted\" "
                      "or not.");
  m = pgml_table_class_method(t, "Shelf", "forget");
  assert_non_null(m);
  assert_true(m->flags & PGML_METHOD_VOID);
  assert_string_equal(m->args[0]->doc, "Titles or globs such as \"a/*\" and \"*/b\"; a comment "
                                       "must not end early.");

  assert_string_equal(pgml_table_class(t, "Shelf")->factory, "shelf");
  assert_int_equal(pgml_table_class(t, "Shelf")->n_methods, 3);
  assert_string_equal(pgml_table_error(t, 5)->name, "NotFound");
  assert_string_equal(pgml_table_error(t, 5)->doc, "Nothing has that name.");
  assert_string_equal(t->error_base, "Error");
}

static void test_node(void **state) {
  const pgml_method_table_t *t = &pgml_node_method_table;
  const pgml_method_info_t *m = pgml_table_class_method(t, "Shelf", "listBooks");
  const pgml_message_info_t *info;
  (void)state;

  assert_non_null(m);
  assert_string_equal(m->args[0]->name, "topK");
  assert_string_equal(m->args[3]->name, "from");
  assert_non_null(pgml_table_class_method(t, "Shelf", "countHttpRequests"));
  info = pgml_table_message(t, &gentest__good__shelf_info__descriptor);
  assert_non_null(info);
  assert_string_equal(pgml_message_field_by_name(info, "openedAtMs")->proto_name, "opened_at_ms");
  assert_int_equal(pgml_message_field_by_name(info, "openedAtMs")->flags, PGML_FIELD_JS_NUMBER);
  assert_string_equal(pgml_table_error(t, 5)->name, "NotFoundError");
  assert_string_equal(t->error_base, "PgmlError");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check),
      cmocka_unit_test(test_python),
      cmocka_unit_test(test_node),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
