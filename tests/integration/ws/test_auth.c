/* test_auth.c - core/auth.c (the tokens file, the bearer check, the peer
 * allow-lists) and core/metrics.c (counters and their Prometheus text), in
 * process, without a daemon. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/auth.h"
#include "core/metrics.h"

/* SHA-256 of "test" (FIPS 180-2 test vectors are for "abc"; this one is
 * the widely published value, independent of the code under test). */
#define TEST_HASH "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
/* SHA-256 of "abc" (FIPS 180-2, appendix B.1), in capitals. */
#define ABC_HASH "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"

static char dir[256];

static const char *write_file(const char *name, const char *text)
{
  static char path[512];
  FILE *fp;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
  return path;
}

/* A config with every string this module reads set. */
static pgmld_config_t config(const char *tokens, const char *uids, const char *gids)
{
  pgmld_config_t cfg;

  memset(&cfg, 0, sizeof(cfg));
  cfg.auth.tokens_file = (char *)tokens;
  cfg.server.allow_uids = (char *)uids;
  cfg.server.allow_gids = (char *)gids;
  return cfg;
}

static int bearer(const pgmld_auth_t *a, const char *v)
{
  return pgmld_auth_check_bearer(a, v, strlen(v));
}

static void test_tokens_file(void **state)
{
  const char *path = write_file("tokens", "# comment\n\n  sha256:" TEST_HASH "  \n"
                                          "sha256:" ABC_HASH "\n");
  pgmld_config_t cfg = config(path, "", "");
  pgmld_auth_t *a;
  char err[256], *longtok;

  (void)state;
  assert_int_equal(pgmld_auth_new(&cfg, &a, err, sizeof(err)), 0);
  assert_true(pgmld_auth_tokens_required(a));
  assert_int_equal(pgmld_auth_token_count(a), 2);
  assert_true(bearer(a, "Bearer test"));
  assert_true(bearer(a, "Bearer abc"));
  assert_true(bearer(a, "bearer test"));        /* the scheme is case-insensitive */
  assert_false(bearer(a, "Bearer TEST"));       /* the token is not */
  assert_false(bearer(a, "Bearer tes"));
  assert_false(bearer(a, "Bearer test "));
  assert_false(bearer(a, "Bearer  test"));
  assert_false(bearer(a, "test"));
  assert_false(bearer(a, "Basic test"));
  assert_false(bearer(a, "Bearer "));
  assert_false(bearer(a, ""));
  assert_true(pgmld_auth_check_bearer(a, "Bearer testX", 11));  /* len counts */
  longtok = malloc(PGMLD_AUTH_TOKEN_MAX + 16);
  assert_non_null(longtok);
  memcpy(longtok, "Bearer ", 7);
  memset(longtok + 7, 'a', PGMLD_AUTH_TOKEN_MAX + 1);
  longtok[7 + PGMLD_AUTH_TOKEN_MAX + 1] = '\0';
  assert_false(bearer(a, longtok));
  free(longtok);
  /* No allow-list: every peer. */
  assert_false(pgmld_auth_peer_lists_set(a));
  assert_true(pgmld_auth_peer_allowed(a, 1234, 5678));
  pgmld_auth_free(a);
}

static void test_no_tokens(void **state)
{
  pgmld_config_t cfg = config("", "", "");
  pgmld_auth_t *a;
  char err[256];

  (void)state;
  assert_int_equal(pgmld_auth_new(&cfg, &a, err, sizeof(err)), 0);
  assert_false(pgmld_auth_tokens_required(a));
  assert_false(bearer(a, "Bearer test"));
  pgmld_auth_free(a);
}

typedef struct bad_case_s {
  const char *name;
  const char *content;      /* NULL: the file does not exist */
  int rc;
  const char *needle;
} bad_case_t;

static void test_bad_tokens_files(void **state)
{
  static const bad_case_t cases[] = {
    {"missing", NULL, -ENOENT, "auth.tokens_file"},
    {"plain token", "# x\nsecret-token-1\n", -EINVAL, ":2: expected sha256:"},
    {"short hash", "sha256:abcd\n", -EINVAL, ":1: expected sha256:"},
    {"bad hex", "sha256:" "zz" TEST_HASH "\n", -EINVAL, ":1:"},
    {"other algorithm", "md5:" TEST_HASH "\n", -EINVAL, ":1:"},
    {"only comments", "# nothing\n\n", -EINVAL, "holds no token hashes"},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char path[512], err[512];
    pgmld_config_t cfg;
    pgmld_auth_t *a = (pgmld_auth_t *)1;

    if (cases[i].content != NULL)
      snprintf(path, sizeof(path), "%s", write_file("bad", cases[i].content));
    else
      snprintf(path, sizeof(path), "%s/does-not-exist", dir);
    cfg = config(path, "", "");
    err[0] = '\0';
    if (pgmld_auth_new(&cfg, &a, err, sizeof(err)) != cases[i].rc)
      fail_msg("%s: expected %d (%s)", cases[i].name, cases[i].rc, err);
    assert_null(a);
    if (strstr(err, cases[i].needle) == NULL || strstr(err, path) == NULL)
      fail_msg("%s: message \"%s\" should name %s and say \"%s\"", cases[i].name, err,
               path, cases[i].needle);
    /* A line is never echoed: it may be a secret. */
    if (strstr(err, "secret-token-1") != NULL)
      fail_msg("%s: the message shows the line: %s", cases[i].name, err);
  }
}

static void test_allow_lists(void **state)
{
  pgmld_config_t cfg = config("", " 0, 1000,33 ", "50");
  pgmld_auth_t *a;
  char err[256];

  (void)state;
  assert_int_equal(pgmld_auth_new(&cfg, &a, err, sizeof(err)), 0);
  assert_true(pgmld_auth_peer_lists_set(a));
  assert_true(pgmld_auth_peer_allowed(a, 0, 99));
  assert_true(pgmld_auth_peer_allowed(a, 1000, 99));
  assert_true(pgmld_auth_peer_allowed(a, 33, 99));
  assert_true(pgmld_auth_peer_allowed(a, 7, 50));    /* by gid */
  assert_false(pgmld_auth_peer_allowed(a, 7, 99));
  assert_false(pgmld_auth_peer_allowed(a, 100, 0));
  pgmld_auth_free(a);

  cfg = config("", "12x", "");
  assert_int_equal(pgmld_auth_new(&cfg, &a, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "server.allow_uids"));
  cfg = config("", "", "-1");
  assert_int_equal(pgmld_auth_new(&cfg, &a, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "server.allow_gids"));
  cfg = config("", "99999999999", "");
  assert_int_equal(pgmld_auth_new(&cfg, &a, err, sizeof(err)), -EINVAL);
}

/* ------------------------------------------------------------ metrics */

static double series(const char *text, const char *name)
{
  const char *p = text;
  size_t n = strlen(name);

  while ((p = strstr(p, name)) != NULL) {
    if ((p == text || p[-1] == '\n') && p[n] == ' ')
      return strtod(p + n + 1, NULL);
    p += n;
  }
  return -1;
}

static void test_metrics_render(void **state)
{
  pgmld_metrics_pool_t pool = {8, 5, 2, 1, 0, 3, 2500000};
  uint8_t *buf;
  size_t len;
  char *text;

  (void)state;
  pgmld__metrics_reset();
  pgmld_metrics_request_started();
  pgmld_metrics_request_started();
  pgmld_metrics_request_started();
  pgmld_metrics_request_started();
  pgmld_metrics_request_started();
  pgmld_metrics_request_done(0, "pgml.v1.Database/Ping", PGMLD_OK, 1000000);      /* 1 ms */
  pgmld_metrics_request_done(0, "pgml.v1.Database/Ping", PGMLD_OK, 30000000);     /* 30 ms */
  pgmld_metrics_request_done(3, "pgml.v1.Database/X", PGMLD_NOT_FOUND, 2000000000); /* 2 s */
  pgmld_metrics_request_done(3, "pgml.v1.Database/X", PGMLD_NOT_FOUND, 20000000000ull);
  pgmld_metrics_conn_opened("unix");
  pgmld_metrics_conn_opened("unix");
  pgmld_metrics_conn_opened("ws");
  pgmld_metrics_conn_closed("unix");
  pgmld_metrics_bytes("ws", 100, 40);
  pgmld_metrics_bytes("ws", 1, 2);

  assert_int_equal(pgmld_metrics_render(&pool, 16, &buf, &len), 0);
  text = malloc(len + 1);
  assert_non_null(text);
  memcpy(text, buf + 16, len);
  text[len] = '\0';
  pgmld_free(buf);

  assert_true(series(text, "pgmld_requests_total{method=\"pgml.v1.Database/Ping\",code=\"OK\"}") == 2);
  assert_true(series(text, "pgmld_requests_total{method=\"pgml.v1.Database/X\",code=\"NOT_FOUND\"}") == 2);
  assert_true(series(text, "pgmld_requests_total{method=\"pgml.v1.Database/X\",code=\"OK\"}") == -1);
  /* Buckets are cumulative; a 20 s request is only in +Inf. */
  assert_true(series(text, "pgmld_request_duration_seconds_bucket{method=\"pgml.v1.Database/Ping\",le=\"0.005\"}") == 1);
  assert_true(series(text, "pgmld_request_duration_seconds_bucket{method=\"pgml.v1.Database/Ping\",le=\"0.05\"}") == 2);
  assert_true(series(text, "pgmld_request_duration_seconds_bucket{method=\"pgml.v1.Database/X\",le=\"2.5\"}") == 1);
  assert_true(series(text, "pgmld_request_duration_seconds_bucket{method=\"pgml.v1.Database/X\",le=\"10\"}") == 1);
  assert_true(series(text, "pgmld_request_duration_seconds_bucket{method=\"pgml.v1.Database/X\",le=\"+Inf\"}") == 2);
  assert_true(series(text, "pgmld_request_duration_seconds_count{method=\"pgml.v1.Database/X\"}") == 2);
  assert_true(series(text, "pgmld_request_duration_seconds_sum{method=\"pgml.v1.Database/X\"}") == 22);
  assert_true(series(text, "pgmld_inflight_requests") == 1);
  assert_true(series(text, "pgmld_connections{transport=\"unix\"}") == 1);
  assert_true(series(text, "pgmld_connections{transport=\"ws\"}") == 1);
  assert_true(series(text, "pgmld_bytes_received_total{transport=\"ws\"}") == 101);
  assert_true(series(text, "pgmld_bytes_sent_total{transport=\"ws\"}") == 42);
  assert_true(series(text, "pgmld_pool_connections{state=\"idle\"}") == 5);
  assert_true(series(text, "pgmld_pool_connections{state=\"busy\"}") == 2);
  assert_true(series(text, "pgmld_pool_waiting") == 3);
  assert_true(series(text, "pgmld_pool_wait_seconds_total") == 2.5);
  assert_non_null(strstr(text, "# TYPE pgmld_request_duration_seconds histogram\n"));
  free(text);

  /* Without a pool, no pool series. */
  assert_int_equal(pgmld_metrics_render(NULL, 0, &buf, &len), 0);
  text = malloc(len + 1);
  assert_non_null(text);
  memcpy(text, buf, len);
  text[len] = '\0';
  pgmld_free(buf);
  assert_null(strstr(text, "pgmld_pool_"));
  free(text);
}

static int setup(void **state)
{
  const char *tmp = getenv("TMPDIR");

  (void)state;
  snprintf(dir, sizeof(dir), "%s/pgmld-auth-XXXXXX", tmp ? tmp : "/tmp");
  return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
  char cmd[300];

  (void)state;
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tokens_file),
    cmocka_unit_test(test_no_tokens),
    cmocka_unit_test(test_bad_tokens_files),
    cmocka_unit_test(test_allow_lists),
    cmocka_unit_test(test_metrics_render),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
