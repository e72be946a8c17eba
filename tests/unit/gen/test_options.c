/* test_options.c - decoding pgml's custom options from unknown fields. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "options.h"

/* The numbers options.proto gives them; the model takes them from the
 * descriptor set, the tests use their own. */
static const pgml_gen_opt_numbers_t nums = {{
    [PGML_GEN_OPT_BIND] = 50001,
    [PGML_GEN_OPT_JSON] = 50002,
    [PGML_GEN_OPT_JS_NUMBER] = 50003,
    [PGML_GEN_OPT_UNWRAP] = 50101,
    [PGML_GEN_OPT_RETURNS_BOUND] = 50201,
    [PGML_GEN_OPT_RETURNS_KEY] = 50202,
}};

/* An unknown field as protobuf-c keeps it: for a length-delimited one, the
 * bytes still carry their length prefix. */
static ProtobufCMessageUnknownField uf(uint32_t tag, ProtobufCWireType wt,
                                       const char *bytes, size_t len) {
  ProtobufCMessageUnknownField u;
  u.tag = tag;
  u.wire_type = wt;
  u.len = len;
  u.data = (uint8_t *)(uintptr_t)bytes;
  return u;
}

#define STR(tag, lit) uf(tag, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, lit, sizeof(lit) - 1)
#define VARINT(tag, lit) uf(tag, PROTOBUF_C_WIRE_TYPE_VARINT, lit, sizeof(lit) - 1)

static Google__Protobuf__FieldOptions field_opts(ProtobufCMessageUnknownField *u,
                                                 unsigned n) {
  Google__Protobuf__FieldOptions o = GOOGLE__PROTOBUF__FIELD_OPTIONS__INIT;
  o.base.n_unknown_fields = n;
  o.base.unknown_fields = u;
  return o;
}

static void test_field_options(void **state) {
  pgml_gen_arena_t a = PGML_GEN_ARENA_INIT;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(NULL);
  ProtobufCMessageUnknownField u[] = {
      STR(50001, "\x0a" "Collection"),
      VARINT(50002, "\x01"),
      VARINT(50003, "\x00"),
      VARINT(12345, "\x07"), /* somebody else's option: ignored */
  };
  Google__Protobuf__FieldOptions o = field_opts(u, 4);
  pgml_gen_field_opts_t out;
  (void)state;

  assert_int_equal(pgml_gen_field_opts_parse(&nums, &o, &a, "f", &out, &d), 0);
  assert_string_equal(out.bind, "Collection");
  assert_true(out.json);
  assert_false(out.js_number);
  assert_int_equal(d.errors, 0);

  /* No options at all: everything off. */
  assert_int_equal(pgml_gen_field_opts_parse(&nums, NULL, &a, "f", &out, &d), 0);
  assert_null(out.bind);
  assert_false(out.json);
  pgml_gen_arena_free(&a);
}

/* protobuf's rule: the last occurrence of a scalar wins. */
static void test_last_one_wins(void **state) {
  pgml_gen_arena_t a = PGML_GEN_ARENA_INIT;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(NULL);
  ProtobufCMessageUnknownField u[] = {
      VARINT(50002, "\x01"),
      VARINT(50002, "\x00"),
      STR(50001, "\x01" "A"),
      STR(50001, "\x01" "B"),
  };
  Google__Protobuf__FieldOptions o = field_opts(u, 4);
  pgml_gen_field_opts_t out;
  (void)state;

  assert_int_equal(pgml_gen_field_opts_parse(&nums, &o, &a, "f", &out, &d), 0);
  assert_false(out.json);
  assert_string_equal(out.bind, "B");
  pgml_gen_arena_free(&a);
}

/* A multi-byte varint decodes (a bool written as 2^7 is still true). */
static void test_long_varint(void **state) {
  pgml_gen_arena_t a = PGML_GEN_ARENA_INIT;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(NULL);
  ProtobufCMessageUnknownField u[] = {VARINT(50003, "\x80\x01")};
  Google__Protobuf__FieldOptions o = field_opts(u, 1);
  pgml_gen_field_opts_t out;
  (void)state;

  assert_int_equal(pgml_gen_field_opts_parse(&nums, &o, &a, "f", &out, &d), 0);
  assert_true(out.js_number);
  pgml_gen_arena_free(&a);
}

typedef struct bad_case_s {
  ProtobufCMessageUnknownField u;
  const char *expect; /* the report, after "where: " */
} bad_case_t;

static void test_bad_values(void **state) {
  const bad_case_t cases[] = {
      {STR(50002, "\x01" "x"), "option (json) has wire type length-delimited; a bool is a varint"},
      {VARINT(50001, "\x01"), "option (bind) has wire type varint; a string is length-delimited"},
      {VARINT(50002, "\x80"), "option (json) holds a malformed varint"},
      {VARINT(50002, "\x01\x01"), "option (json) holds a malformed varint"},
      {STR(50001, "\x05" "ab"), "option (bind) holds a malformed string"},
      {STR(50001, "\x00"), "option (bind) is empty; give a name or leave it out"},
      {STR(50001, "\x03" "a b"), "option (bind) = \"a b\" is not a name (letters, digits, '_')"},
      {STR(50001, "\x02" "9x"), "option (bind) = \"9x\" is not a name (letters, digits, '_')"},
      {STR(50001, "\x03" "a\0b"), "option (bind) contains a NUL byte"},
  };
  (void)state;

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    pgml_gen_arena_t a = PGML_GEN_ARENA_INIT;
    pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(NULL);
    ProtobufCMessageUnknownField u = cases[i].u;
    Google__Protobuf__FieldOptions o = field_opts(&u, 1);
    pgml_gen_field_opts_t out = {"untouched", true, true};
    char expect[PGML_GEN_DIAG_MAX];

    assert_int_equal(pgml_gen_field_opts_parse(&nums, &o, &a, "pkg.Msg.field", &out, &d),
                     -EINVAL);
    snprintf(expect, sizeof(expect), "pkg.Msg.field: %s", cases[i].expect);
    if (strcmp(d.first, expect) != 0)
      fail_msg("case %zu: expected \"%s\", got \"%s\"", i, expect, d.first);
    assert_int_equal(d.errors, 1);
    /* *out is untouched on failure. */
    assert_string_equal(out.bind, "untouched");
    pgml_gen_arena_free(&a);
  }
}

static void test_message_and_method_options(void **state) {
  pgml_gen_arena_t a = PGML_GEN_ARENA_INIT;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(NULL);
  ProtobufCMessageUnknownField mu[] = {STR(50101, "\x07" "results")};
  ProtobufCMessageUnknownField tu[] = {
      STR(50201, "\x0a" "Collection"),
      STR(50202, "\x04" "name"),
  };
  Google__Protobuf__MessageOptions mo = GOOGLE__PROTOBUF__MESSAGE_OPTIONS__INIT;
  Google__Protobuf__MethodOptions to = GOOGLE__PROTOBUF__METHOD_OPTIONS__INIT;
  pgml_gen_message_opts_t mout;
  pgml_gen_method_opts_t tout;
  (void)state;

  mo.base.n_unknown_fields = 1;
  mo.base.unknown_fields = mu;
  to.base.n_unknown_fields = 2;
  to.base.unknown_fields = tu;
  assert_int_equal(pgml_gen_message_opts_parse(&nums, &mo, &a, "m", &mout, &d), 0);
  assert_string_equal(mout.unwrap, "results");
  assert_int_equal(pgml_gen_method_opts_parse(&nums, &to, &a, "r", &tout, &d), 0);
  assert_string_equal(tout.returns_bound, "Collection");
  assert_string_equal(tout.returns_key, "name");

  /* An option whose number the set does not declare (0) is never found. */
  {
    pgml_gen_opt_numbers_t none;
    memset(&none, 0, sizeof(none));
    assert_int_equal(pgml_gen_message_opts_parse(&none, &mo, &a, "m", &mout, &d), 0);
    assert_null(mout.unwrap);
  }
  assert_int_equal(d.errors, 0);
  pgml_gen_arena_free(&a);
}

/* Out of memory while copying a string: -ENOMEM, no report needed. */
static void test_out_of_memory(void **state) {
  pgml_gen_arena_t a = PGML_GEN_ARENA_INIT;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(NULL);
  ProtobufCMessageUnknownField u[] = {STR(50001, "\x01" "A")};
  Google__Protobuf__FieldOptions o = field_opts(u, 1);
  pgml_gen_field_opts_t out;
  (void)state;

  pgml_gen_arena_fail_after(1);
  assert_int_equal(pgml_gen_field_opts_parse(&nums, &o, &a, "f", &out, &d), -ENOMEM);
  pgml_gen_arena_fail_after(0);
  pgml_gen_arena_free(&a);
}

/* The extension declarations: found by name in the package, checked for
 * the *Options message they extend and their type. */
static void test_numbers_find(void **state) {
  Google__Protobuf__FieldDescriptorProto bind = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT;
  Google__Protobuf__FieldDescriptorProto json = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT;
  Google__Protobuf__FieldDescriptorProto *exts[] = {&bind, &json};
  Google__Protobuf__FileDescriptorProto file = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  Google__Protobuf__FileDescriptorProto *files[] = {&file};
  Google__Protobuf__FileDescriptorSet set = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
  pgml_gen_opt_numbers_t out;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(NULL);
  (void)state;

  bind.name = "bind";
  bind.extendee = ".google.protobuf.FieldOptions";
  bind.has_type = 1;
  bind.type = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING;
  bind.has_number = 1;
  bind.number = 777;
  json.name = "json";
  json.extendee = ".google.protobuf.FieldOptions";
  json.has_type = 1;
  json.type = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BOOL;
  json.has_number = 1;
  json.number = 778;
  file.name = "opts.proto";
  file.package = "pgml.v1";
  file.n_extension = 2;
  file.extension = exts;
  set.n_file = 1;
  set.file = files;

  assert_int_equal(pgml_gen_opt_numbers_find(&set, "pgml.v1", &out, &d), 0);
  assert_int_equal(out.number[PGML_GEN_OPT_BIND], 777);
  assert_int_equal(out.number[PGML_GEN_OPT_JSON], 778);
  assert_int_equal(out.number[PGML_GEN_OPT_UNWRAP], 0);

  /* Another package's "bind" is not ours. */
  assert_int_equal(pgml_gen_opt_numbers_find(&set, "other", &out, &d), 0);
  assert_int_equal(out.number[PGML_GEN_OPT_BIND], 0);

  json.type = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT32;
  assert_int_equal(pgml_gen_opt_numbers_find(&set, "pgml.v1", &out, &d), -EINVAL);
  assert_string_equal(d.first, "opts.proto: option (json) must be declared bool");

  json.type = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BOOL;
  bind.extendee = ".google.protobuf.MessageOptions";
  d = (pgml_gen_diag_t)PGML_GEN_DIAG_INIT(NULL);
  assert_int_equal(pgml_gen_opt_numbers_find(&set, "pgml.v1", &out, &d), -EINVAL);
  assert_string_equal(d.first, "opts.proto: option (bind) extends "
                               ".google.protobuf.MessageOptions; pgml-gen reads it "
                               "from .google.protobuf.FieldOptions");
}

static void test_identifier(void **state) {
  (void)state;
  assert_true(pgml_gen_is_identifier("Collection"));
  assert_true(pgml_gen_is_identifier("_x9"));
  assert_false(pgml_gen_is_identifier(""));
  assert_false(pgml_gen_is_identifier(NULL));
  assert_false(pgml_gen_is_identifier("9x"));
  assert_false(pgml_gen_is_identifier("a-b"));
  assert_false(pgml_gen_is_identifier("caf\xc3\xa9"));
  assert_string_equal(pgml_gen_opt_name(PGML_GEN_OPT_RETURNS_KEY), "returns_key");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_field_options),
      cmocka_unit_test(test_last_one_wins),
      cmocka_unit_test(test_long_varint),
      cmocka_unit_test(test_bad_values),
      cmocka_unit_test(test_message_and_method_options),
      cmocka_unit_test(test_out_of_memory),
      cmocka_unit_test(test_numbers_find),
      cmocka_unit_test(test_identifier),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
