/* test_args.c - pgmlctl's command-line parser and value converters
 * (clients/c/pgmlctl/args.c), table-driven. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "args.h"

static const pgmlctl_opt_t cmd_opts[] = {
  {"top-k", 'k', PGMLCTL_OPT_VALUE, "N", NULL, "results"},
  {"mode", 'm', PGMLCTL_OPT_VALUE, "MODE", "vector|text|hybrid", "mode"},
  {"separator", 0, PGMLCTL_OPT_LIST, "TEXT", NULL, "separators"},
  {"exact", 0, PGMLCTL_OPT_FLAG, NULL, NULL, "exact"},
  {"weight", 0, PGMLCTL_OPT_VALUE, "W", NULL, "weight"},
  {NULL, 0, 0, NULL, NULL, NULL},
};

static pgmlctl_args_t args;

/* Parses a NULL-terminated list of words as argv[1..]. */
static int parse(const char *const *words)
{
  char *argv[32];
  int argc = 1;

  argv[0] = (char *)"pgmlctl";
  for (; words[argc - 1] != NULL; argc++)
    argv[argc] = (char *)words[argc - 1];
  return pgmlctl_args_parse(&args, argc, argv, 1, cmd_opts, false, NULL);
}

static void test_parse_ok(void **state)
{
  static const char *const w[] = {"search", "-k", "5", "--mode=text", "--exact", "docs",
                                  "--separator", "a", "--separator=b", "-a", "unix:///x",
                                  "--", "--not-an-option", "-", NULL};
  const char *seps[4];
  uint32_t k = 0;
  const char *mode = NULL;

  (void)state;
  assert_int_equal(parse(w), 0);
  assert_int_equal(args.n_operands, 4);
  assert_string_equal(args.operands[0], "search");
  assert_string_equal(args.operands[1], "docs");
  assert_string_equal(args.operands[2], "--not-an-option");
  assert_string_equal(args.operands[3], "-");
  assert_int_equal(pgmlctl_arg_u32(&args, "top-k", 1, 100, &k), 0);
  assert_int_equal(k, 5);
  assert_int_equal(pgmlctl_arg_choice(&args, "mode", &mode), 0);
  assert_string_equal(mode, "text");
  assert_true(pgmlctl_arg_flag(&args, "exact"));
  assert_false(pgmlctl_arg_flag(&args, "json"));
  assert_string_equal(pgmlctl_arg(&args, "address"), "unix:///x");
  assert_int_equal(pgmlctl_arg_list(&args, "separator", seps, 4), 2);
  assert_string_equal(seps[0], "a");
  assert_string_equal(seps[1], "b");
}

static void test_parse_errors(void **state)
{
  static const char *const unknown[] = {"--bogus", NULL};
  static const char *const unknown_short[] = {"-z", NULL};
  static const char *const missing[] = {"--top-k", NULL};
  static const char *const flag_value[] = {"--exact=yes", NULL};
  const char *const *cases[] = {unknown, unknown_short, missing, flag_value};

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    assert_int_equal(parse(cases[i]), -EINVAL);
}

static void test_stop_at_operand(void **state)
{
  char *argv[] = {"pgmlctl", "-a", "x", "--json", "collections", "list", "--all"};
  int stop = -1;

  (void)state;
  assert_int_equal(pgmlctl_args_parse(&args, 7, argv, 1, NULL, true, &stop), 0);
  assert_int_equal(stop, 4);
  assert_true(pgmlctl_arg_flag(&args, "json"));
}

static void test_u32(void **state)
{
  static const struct {
    const char *text;
    int rc;
    uint32_t want;
  } cases[] = {
    {"1", 0, 1}, {"100", 0, 100}, {"0", -EINVAL, 0}, {"101", -EINVAL, 0},
    {"-1", -EINVAL, 0}, {"+5", -EINVAL, 0}, {"5x", -EINVAL, 0}, {"", -EINVAL, 0},
    {"99999999999999999999", -EINVAL, 0},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *w[] = {"--top-k", cases[i].text, NULL};
    uint32_t v = 7;
    assert_int_equal(parse(w), 0);
    assert_int_equal(pgmlctl_arg_u32(&args, "top-k", 1, 100, &v), cases[i].rc);
    assert_int_equal(v, cases[i].rc == 0 ? cases[i].want : 7);
  }
}

static void test_duration(void **state)
{
  static const struct {
    const char *text;
    int rc;
    uint32_t want;
  } cases[] = {
    {"250", 0, 250}, {"250ms", 0, 250}, {"5s", 0, 5000}, {"2min", 0, 120000}, {"0", 0, 0},
    {"5h", -EINVAL, 0}, {"s", -EINVAL, 0}, {"-5s", -EINVAL, 0}, {"4294968s", -EINVAL, 0},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *w[] = {"--timeout", cases[i].text, NULL};
    uint32_t v = 7;
    assert_int_equal(parse(w), 0);
    assert_int_equal(pgmlctl_arg_duration_ms(&args, "timeout", &v), cases[i].rc);
    assert_int_equal(v, cases[i].rc == 0 ? cases[i].want : 7);
  }
}

static void test_choice_and_float(void **state)
{
  static const char *const bad_mode[] = {"--mode", "vec", NULL};
  static const char *const weights[] = {"--weight", "0.25", NULL};
  static const char *const bad_weight[] = {"--weight", "nan", NULL};
  const char *mode = "unchanged";
  float f = 0;

  (void)state;
  assert_int_equal(parse(bad_mode), 0);
  assert_int_equal(pgmlctl_arg_choice(&args, "mode", &mode), -EINVAL);
  assert_string_equal(mode, "unchanged");
  assert_int_equal(parse(weights), 0);
  assert_int_equal(pgmlctl_arg_float(&args, "weight", 0.0f, 1.0f, &f), 0);
  assert_true(f > 0.24f && f < 0.26f);
  assert_int_equal(parse(bad_weight), 0);
  assert_int_equal(pgmlctl_arg_float(&args, "weight", 0.0f, 1.0f, &f), -EINVAL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_ok),       cmocka_unit_test(test_parse_errors),
    cmocka_unit_test(test_stop_at_operand), cmocka_unit_test(test_u32),
    cmocka_unit_test(test_duration),       cmocka_unit_test(test_choice_and_float),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
