/* test_table.c - the compiled Python and Node method tables of pgml.v1 and
 * the lookups and consistency check of runtime/pgml_table_lookup.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pgml/v1/database.pb-c.h"
#include "pgml/v1/frame.pb-c.h"
#include "pgml_method_table.h"
#include "pgml_table_lookup.h"

static void test_tables_match_descriptors(void **state) {
  char err[256] = "untouched";
  (void)state;
  if (pgml_method_table_check(&pgml_python_method_table, err, sizeof(err)) != 0)
    fail_msg("python table: %s", err);
  assert_string_equal(err, "");
  if (pgml_method_table_check(&pgml_node_method_table, err, sizeof(err)) != 0)
    fail_msg("node table: %s", err);
  assert_string_equal(pgml_python_method_table.language, "python");
  assert_string_equal(pgml_node_method_table.service_class, "Database");
  assert_int_equal(pgml_python_method_table.n_methods,
                   pgml__v1__database__descriptor.n_methods);
}

/* Each method of the service descriptor is in both tables, in order, with
 * the descriptor's types. */
static void test_every_rpc(void **state) {
  const ProtobufCServiceDescriptor *svc = &pgml__v1__database__descriptor;
  (void)state;
  for (unsigned i = 0; i < svc->n_methods; i++) {
    const ProtobufCMethodDescriptor *md = &svc->methods[i];
    char wire[256];
    snprintf(wire, sizeof(wire), "%s/%s", svc->name, md->name);
    for (int lang = 0; lang < 2; lang++) {
      const pgml_method_table_t *t = lang ? &pgml_node_method_table : &pgml_python_method_table;
      const pgml_method_info_t *m = pgml_table_method(t, wire);
      if (m == NULL)
        fail_msg("%s table lacks %s", t->language, wire);
      assert_ptr_equal(m, &t->methods[i]);
      assert_ptr_equal(m->request_type, md->input);
      assert_ptr_equal(m->response_type, md->output);
    }
  }
}

static void test_lookups(void **state) {
  const pgml_method_table_t *py = &pgml_python_method_table, *node = &pgml_node_method_table;
  const pgml_message_info_t *msg;
  const pgml_method_info_t *m;
  const pgml_field_info_t *f;
  (void)state;

  m = pgml_table_class_method(py, "Collection", "vector_search");
  assert_non_null(m);
  assert_string_equal(m->wire_name, "pgml.v1.Database/VectorSearch");
  assert_string_equal(m->bind->proto_name, "collection");
  assert_non_null(m->unwrap);
  assert_string_equal(m->unwrap->name, "results");
  assert_null(pgml_table_class_method(py, "Database", "vector_search"));
  assert_non_null(pgml_table_class_method(node, "Collection", "vectorSearch"));

  m = pgml_table_class_method(node, "Database", "createOrGetCollection");
  assert_non_null(m);
  assert_string_equal(m->returns_bound, "Collection");
  assert_string_equal(m->returns_key->name, "name");

  /* A nested message met while walking a request: its names and flags. */
  msg = pgml_table_message(node, &pgml__v1__splitter_spec__descriptor);
  assert_non_null(msg);
  assert_string_equal(msg->name, "SplitterSpec");
  f = pgml_message_field_by_name(msg, "chunkOverlap");
  assert_non_null(f);
  assert_int_equal(f->number, 3);
  assert_string_equal(pgml_message_field_descriptor(msg, f)->name, "chunk_overlap");
  assert_null(pgml_message_field_by_name(msg, "chunk_overlap"));
  f = pgml_message_field(pgml_table_message(py, &pgml__v1__search_result__descriptor), 4);
  assert_non_null(f);
  assert_string_equal(f->name, "metadata");
  assert_true(f->flags & PGML_FIELD_JSON);
  f = pgml_message_field(pgml_table_message(node, &pgml__v1__collection_info__descriptor), 3);
  assert_true(f->flags & PGML_FIELD_JS_NUMBER);
  assert_null(pgml_message_field(msg, 99));
  assert_null(pgml_table_message(node, &pgml__v1__frame__descriptor));

  assert_string_equal(pgml_table_error(py, 5)->name, "NotFound");
  assert_string_equal(pgml_table_error(node, 5)->name, "NotFoundError");
  assert_null(pgml_table_error(py, 0));
  assert_string_equal(pgml_table_class(py, "Collection")->factory, "collection");
  assert_null(pgml_table_class(py, "Nope"));
}

/* A table that does not describe its descriptors is caught, by name. */
static void test_check_catches_mismatch(void **state) {
  const pgml_method_table_t *py = &pgml_python_method_table;
  const pgml_message_info_t *orig = pgml_table_message(py, &pgml__v1__search_result__descriptor);
  pgml_field_info_t fields[16];
  pgml_message_info_t msg;
  pgml_method_table_t t;
  char err[256];
  (void)state;

  assert_true(orig->n_fields <= 16);
  memcpy(fields, orig->fields, orig->n_fields * sizeof(fields[0]));
  msg = *orig;
  msg.fields = fields;
  t = *py;
  t.messages = &msg;
  t.n_messages = 1;
  t.n_methods = 0;

  assert_int_equal(pgml_method_table_check(&t, err, sizeof(err)), 0);
  fields[1].proto_name = "chonk";
  assert_int_equal(pgml_method_table_check(&t, err, sizeof(err)), -1);
  assert_string_equal(err, "message SearchResult: field 2 is chonk in the table, chunk in "
                           "pgml.v1.SearchResult");
  fields[1] = orig->fields[1];
  fields[1].number = 42;
  assert_int_equal(pgml_method_table_check(&t, err, sizeof(err)), -1);
  assert_string_equal(err, "message SearchResult: field chunk (42) is not in "
                           "pgml.v1.SearchResult");
  fields[1] = orig->fields[1];
  msg.n_fields--;
  assert_int_equal(pgml_method_table_check(&t, NULL, 0), -1);
  msg.n_fields++;
  msg.descriptor = &pgml__v1__ping_request__descriptor;
  assert_int_equal(pgml_method_table_check(&t, err, sizeof(err)), -1);
  assert_string_equal(err, "message SearchResult: the table has 5 fields, "
                           "pgml.v1.PingRequest has 1");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tables_match_descriptors),
      cmocka_unit_test(test_every_rpc),
      cmocka_unit_test(test_lookups),
      cmocka_unit_test(test_check_catches_mismatch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
