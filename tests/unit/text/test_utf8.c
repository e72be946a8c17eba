/* test_utf8.c - UTF-8 validation, stepping and word characters (text/utf8.c, text/wordchar.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "text/utf8.h"
#include "text/wordchar.h"

static const struct {
  const char *name;
  const char *s;
  size_t len;
  size_t invalid_at;   /* len when valid */
} validity[] = {
  {"empty", "", 0, 0},
  {"ascii", "hello", 5, 5},
  {"2-byte", "caf\xC3\xA9", 5, 5},
  {"3-byte", "\xE2\x82\xAC" "1", 4, 4},
  {"4-byte", "\xF0\x9F\x98\x80", 4, 4},
  {"max code point", "\xF4\x8F\xBF\xBF", 4, 4},
  {"lone continuation", "ab\x80" "c", 4, 2},
  {"overlong 2-byte", "\xC0\x80", 2, 0},
  {"overlong C1", "\xC1\xBF", 2, 0},
  {"overlong 3-byte", "x\xE0\x80\x80", 4, 1},
  {"overlong 4-byte", "\xF0\x8F\xBF\xBF", 4, 0},
  {"surrogate", "ok\xED\xA0\x80", 5, 2},
  {"above U+10FFFF", "\xF4\x90\x80\x80", 4, 0},
  {"F5 lead", "\xF5\x80\x80\x80", 4, 0},
  {"FF byte", "a\xFF", 2, 1},
  {"truncated 3-byte at end", "abc\xE2\x82", 5, 3},
  {"truncated 4-byte at end", "\xF0\x9F\x98", 3, 0},
  {"bad continuation", "\xE2\x28\xA1", 3, 0},
};

static void test_find_invalid(void **state) {
  size_t i;

  for (i = 0; i < sizeof(validity) / sizeof(validity[0]); i++) {
    size_t got = pgmld_utf8_find_invalid(validity[i].s, validity[i].len);
    if (got != validity[i].invalid_at)
      fail_msg("%s: invalid at %zu, expected %zu", validity[i].name, got,
               validity[i].invalid_at);
  }
}

static void test_check_messages(void **state) {
  pgmld_status_t st = PGMLD_STATUS_INIT;

  assert_int_equal(pgmld_utf8_check("ok \xC3\xA9", 5, "text", &st), 0);
  assert_int_equal(st.code, PGMLD_OK);

  assert_int_equal(pgmld_utf8_check("abc\xE2\x82", 5, "documents[2].text", &st), -EINVAL);
  assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
  assert_string_equal(st.message, "documents[2].text: invalid UTF-8 at byte 3 (0xE2)");

  memset(&st, 0, sizeof(st));
  assert_int_equal(pgmld_utf8_check("a\0b", 3, "query", &st), -EINVAL);
  assert_string_equal(st.message,
                      "query: NUL character at byte 1 (PostgreSQL text cannot hold U+0000)");
}

static void test_decode(void **state) {
  static const struct {
    const char *s;
    size_t len, n;
    uint32_t cp;
  } cases[] = {
    {"A", 1, 1, 0x41},
    {"\xC3\xA9", 2, 2, 0xE9},
    {"\xE4\xB8\xAD", 3, 3, 0x4E2D},
    {"\xF0\x9F\x98\x80", 4, 4, 0x1F600},
    {"\xE4\xB8", 2, 0, 0xFFFD},   /* truncated */
    {"\xED\xBF\xBF", 3, 0, 0xFFFD}, /* surrogate */
  };
  size_t i;
  uint32_t cp;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_int_equal(pgmld_utf8_decode(cases[i].s, cases[i].len, &cp), cases[i].n);
    assert_int_equal(cp, cases[i].cp);
  }
}

static void test_count_and_advance(void **state) {
  /* a, e-acute (2 bytes), euro (3), grinning face (4), b */
  const char *s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80" "b";
  size_t len = strlen(s);

  assert_int_equal(pgmld_utf8_count(s, len), 5);
  assert_int_equal(pgmld_utf8_count("", 0), 0);
  assert_int_equal(pgmld_utf8_advance(s, len, 0), 0);
  assert_int_equal(pgmld_utf8_advance(s, len, 1), 1);
  assert_int_equal(pgmld_utf8_advance(s, len, 2), 3);
  assert_int_equal(pgmld_utf8_advance(s, len, 3), 6);
  assert_int_equal(pgmld_utf8_advance(s, len, 4), 10);
  assert_int_equal(pgmld_utf8_advance(s, len, 5), 11);
  assert_int_equal(pgmld_utf8_advance(s, len, 99), 11);
  assert_int_equal(pgmld_utf8_seq_len(0x41), 1);
  assert_int_equal(pgmld_utf8_seq_len(0xC3), 2);
  assert_int_equal(pgmld_utf8_seq_len(0xE2), 3);
  assert_int_equal(pgmld_utf8_seq_len(0xF0), 4);
  assert_int_equal(pgmld_utf8_seq_len(0x80), 1);
}

static void test_wordchar(void **state) {
  static const struct {
    uint32_t cp;
    int word;
  } cases[] = {
    {'a', 1}, {'Z', 1}, {'0', 1}, {'9', 1}, {' ', 0}, {'-', 0}, {'_', 0}, {'!', 0},
    {0x00E9, 1},   /* e acute */
    {0x00D7, 0},   /* multiplication sign */
    {0x00BD, 0},   /* one half: No, not a digit */
    {0x00AA, 1},   /* feminine ordinal: Lo */
    {0x0301, 1},   /* combining acute: Mn */
    {0x0663, 1},   /* Arabic-Indic digit three: Nd */
    {0x0939, 1},   /* Devanagari ha */
    {0x093F, 1},   /* Devanagari vowel sign i: Mc */
    {0x2014, 0},   /* em dash */
    {0x2167, 1},   /* Roman numeral eight: Nl */
    {0x3000, 0},   /* ideographic space */
    {0x3001, 0},   /* ideographic comma */
    {0x4E2D, 1},   /* CJK ideograph */
    {0xFF01, 0},   /* fullwidth ! */
    {0x1F600, 0},  /* emoji */
    {0x10FFFF, 0},
  };
  size_t i;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    if (pgmld_unicode_is_word(cases[i].cp) != cases[i].word)
      fail_msg("U+%04X: expected %d", (unsigned)cases[i].cp, cases[i].word);
  assert_string_equal(pgmld_unicode_version(), "14.0.0");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_find_invalid),
    cmocka_unit_test(test_check_messages),
    cmocka_unit_test(test_decode),
    cmocka_unit_test(test_count_and_advance),
    cmocka_unit_test(test_wordchar),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
