/* test_sqlbuf.c - SQL text and parameter building, identifiers and names (sql/sqlbuf.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "sql/sqlbuf.h"

static void test_text_and_params(void **state) {
  pgmld_sqlbuf_t sb = PGMLD_SQLBUF_INIT;
  char value[] = "it's";
  const uint8_t bin[3] = {0, 1, 0};

  assert_string_equal(pgmld_sqlbuf_sql(&sb), "");
  assert_int_equal(pgmld_sqlbuf_append(&sb, "SELECT "), 0);
  assert_int_equal(pgmld_sqlbuf_append_text(&sb, value), 0);
  value[0] = 'X';   /* the buffer holds its own copy */
  assert_int_equal(pgmld_sqlbuf_appendf(&sb, ", %d, ", 42), 0);
  assert_int_equal(pgmld_sqlbuf_append_int64(&sb, INT64_MIN), 0);
  assert_int_equal(pgmld_sqlbuf_append(&sb, ", "), 0);
  assert_int_equal(pgmld_sqlbuf_append_param(&sb, bin, 3, PGMLD_SQL_FORMAT_BINARY,
                                             PGMLD_OID_UNKNOWN),
                   0);
  assert_int_equal(pgmld_sqlbuf_append(&sb, ", "), 0);
  assert_int_equal(pgmld_sqlbuf_append_text(&sb, NULL), 0);
  assert_int_equal(pgmld_sqlbuf_append_n(&sb, "::text;ignored", 6), 0);

  assert_string_equal(pgmld_sqlbuf_sql(&sb), "SELECT $1, 42, $2, $3, $4::text");
  assert_int_equal(sb.len, strlen("SELECT $1, 42, $2, $3, $4::text"));
  assert_int_equal(sb.n_params, 4);
  assert_string_equal(pgmld_sqlbuf_values(&sb)[0], "it's");
  assert_int_equal(sb.types[0], PGMLD_OID_TEXT);
  assert_int_equal(sb.formats[0], PGMLD_SQL_FORMAT_TEXT);
  assert_string_equal(sb.values[1], "-9223372036854775808");
  assert_int_equal(sb.types[1], PGMLD_OID_INT8);
  assert_int_equal(sb.lengths[2], 3);
  assert_memory_equal(sb.values[2], bin, 3);
  assert_int_equal(sb.formats[2], PGMLD_SQL_FORMAT_BINARY);
  assert_int_equal(sb.types[2], 0);
  assert_null(sb.values[3]);

  /* A parameter number can be used as often as needed. */
  assert_int_equal(pgmld_sqlbuf_add_param(&sb, "x", 1, PGMLD_SQL_FORMAT_TEXT, 0), 5);
  pgmld_sqlbuf_free(&sb);
  assert_null(sb.sql);
  assert_int_equal(sb.n_params, 0);
  assert_string_equal(pgmld_sqlbuf_sql(&sb), "");
}

static void test_refused_values(void **state) {
  pgmld_sqlbuf_t sb;

  pgmld_sqlbuf_init(&sb);
  assert_int_equal(pgmld_sqlbuf_append(&sb, "x = "), 0);
  /* libpq would cut a text value at its NUL: refused. */
  assert_int_equal(pgmld_sqlbuf_append_param(&sb, "a\0b", 3, PGMLD_SQL_FORMAT_TEXT, 0), -EINVAL);
  assert_int_equal(pgmld_sqlbuf_add_param(&sb, "a", 1, 7, 0), -EINVAL);
  /* ... but a binary value may hold any byte. */
  assert_int_equal(pgmld_sqlbuf_add_param(&sb, "a\0b", 3, PGMLD_SQL_FORMAT_BINARY, 0), 1);
  assert_string_equal(pgmld_sqlbuf_sql(&sb), "x = ");
  assert_int_equal(sb.n_params, 1);
  pgmld_sqlbuf_free(&sb);
}

static void test_text_array(void **state) {
  static const struct {
    const char *elems[6];
    size_t n;
    const char *literal;
  } cases[] = {
    {{NULL}, 0, "{}"},
    {{"author", "name"}, 2, "{\"author\",\"name\"}"},
    {{"a\"b", "c\\d", "e,f", "{g}", "NULL", ""}, 6,
     "{\"a\\\"b\",\"c\\\\d\",\"e,f\",\"{g}\",\"NULL\",\"\"}"},
    {{"caf\xC3\xA9", " sp ace "}, 2, "{\"caf\xC3\xA9\",\" sp ace \"}"},
  };
  size_t i;

  for (i = 0; i < PGMLD_ARRAY_LEN(cases); i++) {
    pgmld_sqlbuf_t sb = PGMLD_SQLBUF_INIT;
    assert_int_equal(pgmld_sqlbuf_append_text_array(&sb, cases[i].elems, NULL, cases[i].n), 0);
    assert_string_equal(pgmld_sqlbuf_sql(&sb), "$1::text[]");
    assert_string_equal(sb.values[0], cases[i].literal);
    assert_int_equal(sb.types[0], PGMLD_OID_TEXT_ARRAY);
    pgmld_sqlbuf_free(&sb);
  }
  {
    pgmld_sqlbuf_t sb = PGMLD_SQLBUF_INIT;
    const char *elems[2] = {"abcdef", "x\0y"};
    size_t lens[2] = {3, 3};
    assert_int_equal(pgmld_sqlbuf_add_text_array(&sb, elems, lens, 1), 1);
    assert_string_equal(sb.values[0], "{\"abc\"}");
    assert_int_equal(pgmld_sqlbuf_add_text_array(&sb, elems, lens, 2), -EINVAL);
    assert_int_equal(sb.n_params, 1);
    pgmld_sqlbuf_free(&sb);
  }
}

static void test_identifiers(void **state) {
  static const struct {
    const char *name;
    int rc;
    const char *sql;
  } cases[] = {
    {"plain", 0, "\"plain\""},
    {"with \"quotes\"", 0, "\"with \"\"quotes\"\"\""},
    {"caf\xC3\xA9", 0, "\"caf\xC3\xA9\""},
    {"", -EINVAL, ""},
    {"bad\xFF", -EINVAL, ""},
    {"0123456789012345678901234567890123456789012345678901234567890123", -EINVAL, ""},
    {"012345678901234567890123456789012345678901234567890123456789012", 0,
     "\"012345678901234567890123456789012345678901234567890123456789012\""},
  };
  size_t i;

  for (i = 0; i < PGMLD_ARRAY_LEN(cases); i++) {
    pgmld_sqlbuf_t sb = PGMLD_SQLBUF_INIT;
    assert_int_equal(pgmld_sqlbuf_append_ident(&sb, cases[i].name), cases[i].rc);
    assert_string_equal(pgmld_sqlbuf_sql(&sb), cases[i].sql);
    pgmld_sqlbuf_free(&sb);
  }
  {
    pgmld_sqlbuf_t sb = PGMLD_SQLBUF_INIT;
    assert_int_equal(pgmld_sqlbuf_append_chunks_table(&sb, 42), 0);
    assert_int_equal(pgmld_sqlbuf_append_chunks_table(&sb, 0), -EINVAL);
    assert_int_equal(pgmld_sqlbuf_append_chunks_table(&sb, -7), -EINVAL);
    assert_int_equal(pgmld_sqlbuf_append(&sb, " "), 0);
    assert_int_equal(pgmld_sqlbuf_append_chunks_table(&sb, INT64_MAX), 0);
    assert_string_equal(pgmld_sqlbuf_sql(&sb),
                        "pgmld.\"chunks_42\" pgmld.\"chunks_9223372036854775807\"");
    pgmld_sqlbuf_free(&sb);
  }
}

static void test_check_name(void **state) {
  static const struct {
    const char *name;
    const char *message;   /* NULL: valid */
  } cases[] = {
    {"docs", NULL},
    {"My_Collection-2", NULL},
    {"a", NULL},
    {"123456789012345678901234567890123456789012345678901234567890123", NULL},
    {"", "collection: empty; a name is 1 to 63 characters: letters, digits, '_' and '-'"},
    {"1234567890123456789012345678901234567890123456789012345678901234",
     "collection: 64 characters long; a name is 1 to 63 characters: letters, digits, '_' and "
     "'-'"},
    {"has space", "collection: character 4 (' ') is not allowed; a name is 1 to 63 characters: "
                  "letters, digits, '_' and '-'"},
    {"x;drop", "collection: character 2 (';') is not allowed; a name is 1 to 63 characters: "
               "letters, digits, '_' and '-'"},
    {"dots.no", "collection: character 5 ('.') is not allowed; a name is 1 to 63 characters: "
                "letters, digits, '_' and '-'"},
    {"caf\xC3\xA9", "collection: character 4 (byte 0xC3) is not allowed; a name is 1 to 63 "
                    "characters: letters, digits, '_' and '-'"},
    {"tab\there", "collection: character 4 (byte 0x09) is not allowed; a name is 1 to 63 "
                  "characters: letters, digits, '_' and '-'"},
  };
  size_t i;

  for (i = 0; i < PGMLD_ARRAY_LEN(cases); i++) {
    pgmld_status_t st = PGMLD_STATUS_INIT;
    int rc = pgmld_sql_check_name(cases[i].name, "collection", &st);
    if (cases[i].message == NULL) {
      assert_int_equal(rc, 0);
      assert_int_equal(st.code, PGMLD_OK);
    } else {
      assert_int_equal(rc, -EINVAL);
      assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
      assert_string_equal(st.message, cases[i].message);
    }
  }
  {
    pgmld_status_t st = PGMLD_STATUS_INIT;
    assert_int_equal(pgmld_sql_check_name(NULL, "pipeline", &st), -EINVAL);
    assert_string_equal(st.message,
                        "pipeline: empty; a name is 1 to 63 characters: letters, digits, '_' and '-'");
  }
}

static void test_mark_and_rollback(void **state) {
  pgmld_sqlbuf_t sb = PGMLD_SQLBUF_INIT;
  pgmld_sqlbuf_mark_t mark;

  assert_int_equal(pgmld_sqlbuf_append(&sb, "a = "), 0);
  assert_int_equal(pgmld_sqlbuf_append_text(&sb, "1"), 0);
  mark = pgmld_sqlbuf_mark(&sb);
  assert_int_equal(pgmld_sqlbuf_append(&sb, " AND b = "), 0);
  assert_int_equal(pgmld_sqlbuf_append_text(&sb, "2"), 0);
  assert_int_equal(pgmld_sqlbuf_append_text(&sb, "3"), 0);
  pgmld_sqlbuf_rollback(&sb, mark);
  assert_string_equal(pgmld_sqlbuf_sql(&sb), "a = $1");
  assert_int_equal(sb.n_params, 1);
  assert_int_equal(pgmld_sqlbuf_append_text(&sb, "again"), 0);
  assert_string_equal(pgmld_sqlbuf_sql(&sb), "a = $1$2");
  assert_string_equal(sb.values[1], "again");
  pgmld_sqlbuf_free(&sb);
}

static void test_limits(void **state) {
  pgmld_sqlbuf_t sb = PGMLD_SQLBUF_INIT;
  char *big;
  int i;

  for (i = 1; i <= PGMLD_SQL_MAX_PARAMS; i++)
    assert_int_equal(pgmld_sqlbuf_add_param(&sb, NULL, 0, PGMLD_SQL_FORMAT_TEXT, 0), i);
  assert_int_equal(pgmld_sqlbuf_add_param(&sb, NULL, 0, PGMLD_SQL_FORMAT_TEXT, 0), -E2BIG);
  assert_int_equal(pgmld_sqlbuf_append_text(&sb, "x"), -E2BIG);
  assert_int_equal(sb.n_params, PGMLD_SQL_MAX_PARAMS);
  assert_string_equal(pgmld_sqlbuf_sql(&sb), "");
  pgmld_sqlbuf_free(&sb);

  big = malloc(PGMLD_SQL_MAX_TEXT_BYTES);
  assert_non_null(big);
  memset(big, ' ', PGMLD_SQL_MAX_TEXT_BYTES);
  assert_int_equal(pgmld_sqlbuf_append(&sb, "x"), 0);
  assert_int_equal(pgmld_sqlbuf_append_n(&sb, big, PGMLD_SQL_MAX_TEXT_BYTES), -E2BIG);
  assert_int_equal(pgmld_sqlbuf_append_n(&sb, big, PGMLD_SQL_MAX_TEXT_BYTES - 1), 0);
  assert_int_equal(pgmld_sqlbuf_append(&sb, "y"), -E2BIG);
  assert_int_equal(pgmld_sqlbuf_appendf(&sb, "%d", 1), -E2BIG);
  assert_int_equal(sb.len, PGMLD_SQL_MAX_TEXT_BYTES);
  free(big);
  pgmld_sqlbuf_free(&sb);
}

/* Runs a fixed sequence of builder calls with the nth allocation failing:
 * the failing call reports -ENOMEM and leaves the buffer exactly as it
 * was; nothing leaks. */
static void test_allocation_failures(void **state) {
  const char *elems[2] = {"a\"", "b"};
  unsigned long nth;
  int complete = 0;

  for (nth = 1; !complete && nth < 200; nth++) {
    pgmld_sqlbuf_t sb = PGMLD_SQLBUF_INIT;
    long live = pgmld_alloc_live();
    int step, rc = 0;

    pgmld_alloc_fail_after(nth, 0);
    for (step = 0; rc == 0 && step < 40; step++) {
      char before[4096];
      int n_before = sb.n_params;
      snprintf(before, sizeof(before), "%s", pgmld_sqlbuf_sql(&sb));
      switch (step % 5) {
      case 0: rc = pgmld_sqlbuf_append(&sb, "SELECT something long enough to grow "); break;
      case 1: rc = pgmld_sqlbuf_append_text(&sb, "value"); break;
      case 2: rc = pgmld_sqlbuf_append_text_array(&sb, elems, NULL, 2); break;
      case 3: rc = pgmld_sqlbuf_append_ident(&sb, "ident"); break;
      default: rc = pgmld_sqlbuf_append_int64(&sb, step); break;
      }
      if (rc != 0) {
        assert_int_equal(rc, -ENOMEM);
        assert_string_equal(pgmld_sqlbuf_sql(&sb), before);
        assert_int_equal(sb.n_params, n_before);
      }
    }
    pgmld_alloc_fail_after(0, 0);
    complete = rc == 0;
    pgmld_sqlbuf_free(&sb);
    assert_int_equal(pgmld_alloc_live(), live);
  }
  assert_true(complete);
  assert_true(nth > 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_text_and_params),
    cmocka_unit_test(test_refused_values),
    cmocka_unit_test(test_text_array),
    cmocka_unit_test(test_identifiers),
    cmocka_unit_test(test_check_name),
    cmocka_unit_test(test_mark_and_rollback),
    cmocka_unit_test(test_limits),
    cmocka_unit_test(test_allocation_failures),
  };
  pgmld_alloc_init();
  return cmocka_run_group_tests(tests, NULL, NULL);
}
