/* test_wire.c - rpc/wire.c: varint sizes and encoding, the decode
 * explainer's messages, and the UTF-8 repair of strings pgmld sends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pgml/v1/database.pb-c.h"
#include "pgml/v1/frame.pb-c.h"
#include "rpc/wire.h"

static void test_varint(void **state)
{
  static const struct {
    uint64_t v;
    size_t size;
    uint8_t bytes[10];
  } cases[] = {
    {0, 1, {0x00}},
    {1, 1, {0x01}},
    {127, 1, {0x7f}},
    {128, 2, {0x80, 0x01}},
    {300, 2, {0xac, 0x02}},
    {16383, 2, {0xff, 0x7f}},
    {16384, 3, {0x80, 0x80, 0x01}},
    {UINT32_MAX, 5, {0xff, 0xff, 0xff, 0xff, 0x0f}},
    {UINT64_MAX, 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint8_t out[10];
    assert_int_equal(pgmld_wire_varint_size(cases[i].v), cases[i].size);
    assert_int_equal(pgmld_wire_put_varint(out, cases[i].v), cases[i].size);
    assert_memory_equal(out, cases[i].bytes, cases[i].size);
  }
}

typedef struct explain_case_s {
  const char *name;
  const ProtobufCMessageDescriptor *desc;
  const uint8_t *bytes;
  size_t len;
  const char *want;
} explain_case_t;

static const uint8_t tag_cut[] = {0x80};
static const uint8_t long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
static const uint8_t fixed_cut[] = {0x09, 0x01, 0x02};
static const uint8_t bad_wt[] = {0x0e};
static const uint8_t wrong_type[] = {0x10, 0x01, 0x1a, 0x01, 'x', 0x22, 0x01};
/* Frame.metadata entry whose value (field 2, string) is a varint. */
static const uint8_t nested[] = {0x4a, 0x04, 0x0a, 0x00, 0x10, 0x05};
static const uint8_t fine[] = {0x08, 0x01};

static const explain_case_t explain_cases[] = {
  {"tag cut", &pgml__v1__frame__descriptor, tag_cut, sizeof(tag_cut),
   "the bytes end inside a field tag at byte 0"},
  {"varint over 10 bytes", &pgml__v1__frame__descriptor, long_varint,
   sizeof(long_varint), "field 1: malformed varint at byte 1"},
  {"64-bit value cut", &pgml__v1__frame__descriptor, fixed_cut, sizeof(fixed_cut),
   "field 1: the bytes end inside a 8-byte value at byte 1"},
  {"invalid wire type", &pgml__v1__frame__descriptor, bad_wt, sizeof(bad_wt),
   "invalid wire type 6 at byte 0"},
  {"length past the end", &pgml__v1__frame__descriptor, wrong_type, sizeof(wrong_type),
   "field 4: length 1 at byte 6 runs past the end (0 bytes left)"},
  {"nested field", &pgml__v1__frame__descriptor, nested, sizeof(nested),
   "in field 9 (metadata): field 2 (value) has wire type 0 (varint), expected 2 "
   "(length-delimited), at byte 4"},
  {"well-formed", &pgml__v1__frame__descriptor, fine, sizeof(fine),
   "the fields are well-formed but protobuf-c refused them"},
};

static void test_explain_table(void **state)
{
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(explain_cases) / sizeof(explain_cases[0]); i++) {
    const explain_case_t *c = &explain_cases[i];
    char buf[256];
    print_message("case: %s\n", c->name);
    pgmld_wire_explain(c->desc, c->bytes, c->len, buf, sizeof(buf));
    assert_string_equal(buf, c->want);
  }
}

/* A short buffer truncates the explanation; it is still terminated. */
static void test_explain_small_buffer(void **state)
{
  char buf[8];

  (void)state;
  memset(buf, 'x', sizeof(buf));
  pgmld_wire_explain(&pgml__v1__frame__descriptor, tag_cut, sizeof(tag_cut), buf,
                     sizeof(buf));
  assert_int_equal(strlen(buf), sizeof(buf) - 1);
}

static void test_utf8_copy_table(void **state)
{
  static const struct {
    const char *name;
    const char *in;
    size_t n;
    const char *out;
  } cases[] = {
    {"ascii", "hello", 16, "hello"},
    {"two-byte", "caf\xc3\xa9", 16, "caf\xc3\xa9"},
    {"three-byte", "\xe2\x82\xac", 16, "\xe2\x82\xac"},
    {"four-byte", "\xf0\x9f\x98\x80", 16, "\xf0\x9f\x98\x80"},
    {"lone continuation", "a\x80" "b", 16, "a?b"},
    {"overlong slash", "\xc0\xaf", 16, "??"},
    {"overlong three-byte", "\xe0\x80\xaf", 16, "???"},
    {"surrogate", "\xed\xa0\x80", 16, "???"},
    {"past U+10FFFF", "\xf4\x90\x80\x80", 16, "????"},
    {"cut sequence", "a\xe2\x82", 16, "a??"},
    {"0xff", "\xff\xfe", 16, "??"},
    {"cut before a character that does not fit", "ab\xe2\x82\xac", 5, "ab"},
    {"exact fit", "ab\xe2\x82\xac", 6, "ab\xe2\x82\xac"},
    {"cut ascii", "abcdef", 4, "abc"},
    {"size 1", "abc", 1, ""},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char out[32];
    print_message("case: %s\n", cases[i].name);
    memset(out, 'Z', sizeof(out));
    pgmld_wire_utf8_copy(out, cases[i].n, cases[i].in);
    assert_string_equal(out, cases[i].out);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_varint),
    cmocka_unit_test(test_explain_table),
    cmocka_unit_test(test_explain_small_buffer),
    cmocka_unit_test(test_utf8_copy_table),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
