/* test_vector.c - pgvector's binary and text vector formats (sql/vector.c). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "sql/vector.h"

static void test_binary(void **state) {
  const float v[3] = {1.0f, -2.5f, 0.0f};
  const uint8_t want[16] = {0x00, 0x03, 0x00, 0x00, 0x3F, 0x80, 0x00, 0x00,
                            0xC0, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  uint8_t out[16], big[4 + 4 * 300];
  float many[300];
  size_t i;

  assert_int_equal(pgmld_vector_binary_size(3), 16);
  assert_int_equal(pgmld_vector_encode_binary(v, 3, out, sizeof(out)), 0);
  assert_memory_equal(out, want, sizeof(want));

  /* The dimension is a big-endian int16: 300 = 0x012C. */
  for (i = 0; i < 300; i++)
    many[i] = (float)i;
  assert_int_equal(pgmld_vector_encode_binary(many, 300, big, sizeof(big)), 0);
  assert_int_equal(big[0], 0x01);
  assert_int_equal(big[1], 0x2C);
  /* 299.0f = 0x43958000 */
  assert_int_equal(big[4 + 4 * 299], 0x43);
  assert_int_equal(big[5 + 4 * 299], 0x95);
  assert_int_equal(big[6 + 4 * 299], 0x80);
  assert_int_equal(big[7 + 4 * 299], 0x00);

  assert_int_equal(pgmld_vector_encode_binary(v, 3, out, 15), -E2BIG);
  assert_int_equal(pgmld_vector_encode_binary(v, 0, out, sizeof(out)), -EINVAL);
  assert_int_equal(pgmld_vector_encode_binary(v, PGMLD_VECTOR_MAX_DIMENSIONS + 1, out,
                                              sizeof(out)),
                   -EINVAL);
}

static void test_text(void **state) {
  static const struct {
    float v[5];
    uint32_t dim;
    const char *text;
  } cases[] = {
    {{1.0f, -2.5f, 0.0f}, 3, "[1,-2.5,0]"},
    {{0.1f}, 1, "[0.1]"},
    {{1e-10f, -0.333333343f}, 2, "[1e-10,-0.33333334]"},
    {{3.40282347e38f, 1.17549435e-38f}, 2, "[3.4028235e+38,1.1754944e-38]"},
    {{-0.0f, 123456789.0f}, 2, "[-0,1.2345679e+08]"},
  };
  size_t i;

  for (i = 0; i < PGMLD_ARRAY_LEN(cases); i++) {
    char *s;
    size_t len;
    assert_int_equal(pgmld_vector_encode_text(cases[i].v, cases[i].dim, &s, &len), 0);
    assert_string_equal(s, cases[i].text);
    assert_int_equal(len, strlen(cases[i].text));
    pgmld_free(s);
  }
}

/* Every float written as text reads back as the same float. */
static void test_text_round_trip(void **state) {
  float v[1000];
  char *s, *p;
  size_t len, i;
  uint32_t x = 12345;

  for (i = 0; i < 1000; i++) {
    x = x * 1103515245u + 12345u;
    v[i] = ((float)(x >> 8) / (float)(1u << 24) - 0.5f) * powf(10.0f, (float)(int)(i % 20) - 10);
  }
  assert_int_equal(pgmld_vector_encode_text(v, 1000, &s, &len), 0);
  assert_int_equal(s[0], '[');
  p = s + 1;
  for (i = 0; i < 1000; i++) {
    char *end;
    float f = strtof(p, &end);
    assert_true(f == v[i]);
    assert_int_equal(*end, i < 999 ? ',' : ']');
    p = end + 1;
  }
  pgmld_free(s);
}

static void test_text_refused(void **state) {
  float v[2] = {1.0f, NAN};
  char *s = (char *)v;
  size_t len = 7;

  assert_int_equal(pgmld_vector_encode_text(v, 2, &s, &len), -EINVAL);
  assert_null(s);
  assert_int_equal(len, 0);
  v[1] = INFINITY;
  assert_int_equal(pgmld_vector_encode_text(v, 2, &s, &len), -EINVAL);
  assert_int_equal(pgmld_vector_encode_text(v, 0, &s, &len), -EINVAL);
}

static void test_check(void **state) {
  static float big[PGMLD_VECTOR_MAX_DIMENSIONS + 1];
  static const float ok[3] = {0.5f, -1.0f, 0.0f};
  static const float nan[3] = {0.5f, NAN, 0.0f};
  static const float inf[3] = {0.5f, 1.0f, -INFINITY};
  static const struct {
    const float *v;
    uint32_t dim;
    const char *message;
  } cases[] = {
    {ok, 0, "vectors[2]: empty"},
    {nan, 3, "vectors[2]: element 1 is NaN"},
    {inf, 3, "vectors[2]: element 2 is infinite"},
    {big, PGMLD_VECTOR_MAX_DIMENSIONS + 1, "vectors[2]: 16001 dimensions, pgvector allows at most 16000"},
  };
  pgmld_status_t st = PGMLD_STATUS_INIT;
  size_t i;

  assert_int_equal(pgmld_vector_check(ok, 3, "vector", &st), 0);
  assert_int_equal(pgmld_vector_check(big, PGMLD_VECTOR_MAX_DIMENSIONS, "vector", &st), 0);
  assert_int_equal(st.code, PGMLD_OK);
  for (i = 0; i < PGMLD_ARRAY_LEN(cases); i++) {
    memset(&st, 0, sizeof(st));
    assert_int_equal(pgmld_vector_check(cases[i].v, cases[i].dim, "vectors[2]", &st), -EINVAL);
    assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
    assert_string_equal(st.message, cases[i].message);
  }
}

static void test_is_zero(void **state) {
  const float zero[3] = {0.0f, -0.0f, 0.0f};
  const float tiny[3] = {0.0f, 1e-30f, 0.0f};

  assert_true(pgmld_vector_is_zero(zero, 3));
  assert_false(pgmld_vector_is_zero(tiny, 3));
}

static void test_sqlbuf_param(void **state) {
  const float v[2] = {1.0f, 2.0f};
  pgmld_sqlbuf_t sb = PGMLD_SQLBUF_INIT;
  unsigned long nth;

  assert_int_equal(pgmld_sqlbuf_append(&sb, "SELECT "), 0);
  assert_int_equal(pgmld_sqlbuf_append_vector(&sb, v, 2), 0);
  assert_string_equal(pgmld_sqlbuf_sql(&sb), "SELECT $1::vector");
  assert_int_equal(sb.formats[0], PGMLD_SQL_FORMAT_BINARY);
  assert_int_equal(sb.types[0], 0);
  assert_int_equal(sb.lengths[0], 12);
  assert_memory_equal(sb.values[0], "\x00\x02\x00\x00\x3F\x80\x00\x00\x40\x00\x00\x00", 12);
  assert_int_equal(pgmld_sqlbuf_append_vector(&sb, v, 0), -EINVAL);
  assert_int_equal(sb.n_params, 1);
  pgmld_sqlbuf_free(&sb);

  /* Allocation failures leave the buffer as it was. */
  for (nth = 1; nth < 10; nth++) {
    long live = pgmld_alloc_live();
    int rc;
    assert_int_equal(pgmld_sqlbuf_append(&sb, "SELECT "), 0);
    pgmld_alloc_fail_after(nth, 0);
    rc = pgmld_sqlbuf_append_vector(&sb, v, 2);
    pgmld_alloc_fail_after(0, 0);
    if (rc == 0) {
      assert_int_equal(sb.n_params, 1);
    } else {
      assert_int_equal(rc, -ENOMEM);
      assert_int_equal(sb.n_params, 0);
      assert_string_equal(pgmld_sqlbuf_sql(&sb), "SELECT ");
    }
    pgmld_sqlbuf_free(&sb);
    assert_int_equal(pgmld_alloc_live(), live);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_binary),
    cmocka_unit_test(test_text),
    cmocka_unit_test(test_text_round_trip),
    cmocka_unit_test(test_text_refused),
    cmocka_unit_test(test_check),
    cmocka_unit_test(test_is_zero),
    cmocka_unit_test(test_sqlbuf_param),
  };
  pgmld_alloc_init();
  return cmocka_run_group_tests(tests, NULL, NULL);
}
