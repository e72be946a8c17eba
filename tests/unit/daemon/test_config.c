/* test_config.c - core/config.c: defaults < file < environment < flags,
 * every error naming the setting and the source of its value, value
 * parsing by type, `pgmld --help` and docs/configuration.md generated
 * from the one table. */
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
#include "core/config.h"

#define ERRLEN 512

/* ------------------------------------------------------------ helpers */

static char tmpdir[256];

static int group_setup(void **state)
{
  const char *base = getenv("TMPDIR");

  (void)state;
  snprintf(tmpdir, sizeof(tmpdir), "%s/pgmld-config-XXXXXX", base ? base : "/tmp");
  if (mkdtemp(tmpdir) == NULL)
    return -1;
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  rmdir(tmpdir);
  return 0;
}

/* Writes `text` to <tmpdir>/<name>; the path goes into path. */
static void write_file(const char *name, const char *text, char *path, size_t len)
{
  FILE *fp;

  snprintf(path, len, "%s/%s", tmpdir, name);
  fp = fopen(path, "w");
  assert_non_null(fp);
  assert_int_equal(fputs(text, fp) >= 0, 1);
  assert_int_equal(fclose(fp), 0);
}

static void assert_contains(const char *haystack, const char *needle)
{
  if (strstr(haystack, needle) == NULL)
    fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* argv from a NULL-terminated list, with "pgmld" in front. */
typedef struct args_s {
  int argc;
  char *argv[16];
} args_t;

static void make_args(args_t *a, const char *const *list)
{
  a->argc = 0;
  a->argv[a->argc++] = "pgmld";
  while (list != NULL && *list != NULL && a->argc < 15)
    a->argv[a->argc++] = (char *)*list++;
  a->argv[a->argc] = NULL;
}

/* Loads with argv `flags`, environment `env` (NULL-terminated lists), and
 * default_path `file` (NULL: none).  Returns pgmld_config_load()'s result. */
static int load(pgmld_config_t *cfg, const char *const *flags, const char *const *env,
                const char *file, pgmld_config_action_t *action, char *err)
{
  args_t a;
  char *envp[16];
  size_t i = 0;

  make_args(&a, flags);
  while (env != NULL && env[i] != NULL && i < 15) {
    envp[i] = (char *)env[i];
    i++;
  }
  envp[i] = NULL;
  err[0] = '\0';
  return pgmld_config_load(cfg, a.argc, a.argv, envp, file, action, err, ERRLEN);
}

/* ------------------------------------------------------------ defaults */

static void test_defaults(void **state)
{
  pgmld_config_action_t action;
  pgmld_config_t cfg;
  char err[ERRLEN];

  (void)state;
  assert_int_equal(load(&cfg, NULL, NULL, NULL, &action, err), 0);
  assert_int_equal(action, PGMLD_CONFIG_RUN);
  assert_string_equal(cfg.server.socket_path, "/run/pgmld/pgmld.sock");
  assert_int_equal(cfg.server.socket_mode, 0660);
  assert_int_equal(cfg.server.shutdown_grace_ms, 10000);
  assert_int_equal(cfg.log.level, PGMLD_LOG_INFO);
  assert_int_equal(cfg.limits.max_frame_size, 16777216);
  assert_int_equal(cfg.limits.max_inflight_per_conn, 4096);
  assert_int_equal(cfg.limits.max_connections, 1024);
  assert_int_equal(cfg.limits.default_timeout_ms, 30000);
  assert_int_equal(cfg.limits.max_timeout_ms, 300000);
  assert_int_equal(cfg.limits.max_top_k, 1000);
  assert_int_equal(cfg.limits.max_batch, 10000);
  assert_string_equal(cfg.database.url, "");
  assert_int_equal(cfg.database.pool_size, 8);
  assert_int_equal(cfg.database.connect_timeout_ms, 5000);
  assert_int_equal(cfg.database.ef_search, 40);
  assert_string_equal(cfg.embedded.state_dir, "/var/lib/pgmld");
  assert_string_equal(cfg.embedded.postgres_bindir, "");
  assert_string_equal(cfg.embedded.user, "pgmld");
  pgmld_config_free(&cfg);
}

/* A default_path that does not exist is skipped; --config naming a
 * missing file is an error. */
static void test_default_path_optional(void **state)
{
  static const char *const flags[] = {"--config", "/nonexistent/pgmld.conf", NULL};
  pgmld_config_action_t action;
  pgmld_config_t cfg;
  char err[ERRLEN];

  (void)state;
  assert_int_equal(load(&cfg, NULL, NULL, "/nonexistent/pgmld.conf", &action, err), 0);
  pgmld_config_free(&cfg);
  assert_int_equal(load(&cfg, flags, NULL, NULL, &action, err), -ENOENT);
  assert_contains(err, "cannot read config file /nonexistent/pgmld.conf");
}

/* ------------------------------------------------------------ precedence */

typedef struct prec_case_s {
  const char *name;
  int in_file, in_env, in_flag;
  uint32_t want;
} prec_case_t;

/* limits.max_top_k: default 1000, file 11, environment 22, flag 33. */
static const prec_case_t prec_cases[] = {
  {"default only", 0, 0, 0, 1000},
  {"file over default", 1, 0, 0, 11},
  {"environment over default", 0, 1, 0, 22},
  {"flag over default", 0, 0, 1, 33},
  {"environment over file", 1, 1, 0, 22},
  {"flag over file", 1, 0, 1, 33},
  {"flag over environment", 0, 1, 1, 33},
  {"flag over environment over file", 1, 1, 1, 33},
};

static void test_precedence_table(void **state)
{
  char path[512];
  size_t i;

  (void)state;
  write_file("prec.conf", "# a comment\n[limits]\nmax_top_k = 11\n", path, sizeof(path));
  for (i = 0; i < sizeof(prec_cases) / sizeof(prec_cases[0]); i++) {
    const prec_case_t *c = &prec_cases[i];
    const char *flags[8] = {NULL};
    const char *env[4] = {NULL};
    pgmld_config_action_t action;
    pgmld_config_t cfg;
    char err[ERRLEN];
    size_t nf = 0, ne = 0;

    print_message("case: %s\n", c->name);
    if (c->in_file) {
      flags[nf++] = "--config";
      flags[nf++] = path;
    }
    if (c->in_flag)
      flags[nf++] = "--limits-max-top-k=33";
    if (c->in_env)
      env[ne++] = "PGMLD_LIMITS_MAX_TOP_K=22";
    env[ne++] = "UNRELATED=1";
    assert_int_equal(load(&cfg, flags, env, NULL, &action, err), 0);
    assert_int_equal(cfg.limits.max_top_k, c->want);
    pgmld_config_free(&cfg);
  }
  unlink(path);
}

/* Every setting can be set from each source, with its flag name and env
 * name derived from section and key. */
static void test_every_setting_every_source(void **state)
{
  size_t n, i;
  const pgmld_setting_t *s = pgmld_config_settings(&n);

  (void)state;
  assert_true(n >= 18);   /* 18 at the time of writing; more may come */
  for (i = 0; i < n; i++) {
    char env_name[128], flag_name[128], env[256], flag[256];
    const char *flags[3] = {NULL};
    const char *envs[2] = {NULL};
    pgmld_config_action_t action;
    pgmld_config_t cfg;
    char err[ERRLEN];
    size_t k;

    pgmld_config_env_name(&s[i], env_name, sizeof(env_name));
    pgmld_config_flag_name(&s[i], flag_name, sizeof(flag_name));
    /* PGMLD_SECTION_KEY in capitals; --section-key with dashes. */
    assert_int_equal(strncmp(env_name, "PGMLD_", 6), 0);
    for (k = 0; env_name[k]; k++)
      assert_true(env_name[k] == '_' || (env_name[k] >= 'A' && env_name[k] <= 'Z'));
    assert_int_equal(strncmp(flag_name, "--", 2), 0);
    assert_null(strchr(flag_name, '_'));

    /* The default, given explicitly, is accepted from either source. */
    snprintf(env, sizeof(env), "%s=%s", env_name, s[i].def);
    envs[0] = env;
    assert_int_equal(load(&cfg, NULL, envs, NULL, &action, err), 0);
    pgmld_config_free(&cfg);
    snprintf(flag, sizeof(flag), "%s=%s", flag_name, s[i].def);
    flags[0] = flag;
    if (strcmp(s[i].key, "socket_path") == 0 && s[i].def[0] == '\0')
      continue;
    assert_int_equal(load(&cfg, flags, NULL, NULL, &action, err), 0);
    pgmld_config_free(&cfg);
  }
}

/* A flag value in the next argument, or after '='; the same in a file with
 * spaces and comments. */
static void test_flag_and_file_syntax(void **state)
{
  static const char *const flags[] = {
    "--server-socket-path", "/tmp/a.sock", "--log-level=debug",
    "--server-socket-mode", "0600", "--limits-max-frame-size", "1M",
    "--limits-default-timeout-ms=2s", NULL};
  pgmld_config_action_t action;
  pgmld_config_t cfg;
  char err[ERRLEN], path[512];

  (void)state;
  assert_int_equal(load(&cfg, flags, NULL, NULL, &action, err), 0);
  assert_string_equal(cfg.server.socket_path, "/tmp/a.sock");
  assert_int_equal(cfg.log.level, PGMLD_LOG_DEBUG);
  assert_int_equal(cfg.server.socket_mode, 0600);
  assert_int_equal(cfg.limits.max_frame_size, 1048576);
  assert_int_equal(cfg.limits.default_timeout_ms, 2000);
  pgmld_config_free(&cfg);

  write_file("syntax.conf",
             "; comment\n"
             "[database]\n"
             "url = postgresql://u@/db?host=/tmp\n"
             "pool_size=3\n"
             "\n"
             "[embedded]\n"
             "  state_dir   =   /srv/pgmld  \n",
             path, sizeof(path));
  assert_int_equal(load(&cfg, NULL, NULL, path, &action, err), 0);
  assert_string_equal(cfg.database.url, "postgresql://u@/db?host=/tmp");
  assert_int_equal(cfg.database.pool_size, 3);
  assert_string_equal(cfg.embedded.state_dir, "/srv/pgmld");
  pgmld_config_free(&cfg);
  unlink(path);
}

static void test_help_and_version_actions(void **state)
{
  static const char *const help[] = {"--help", NULL};
  static const char *const h[] = {"-h", "--bogus-flag-after", "x", NULL};
  static const char *const version[] = {"--version", NULL};
  static const char *const both[] = {"-V", "--help", NULL};
  pgmld_config_action_t action;
  pgmld_config_t cfg;
  char err[ERRLEN];

  (void)state;
  assert_int_equal(load(&cfg, help, NULL, NULL, &action, err), 0);
  assert_int_equal(action, PGMLD_CONFIG_HELP);
  pgmld_config_free(&cfg);
  assert_int_equal(load(&cfg, version, NULL, NULL, &action, err), 0);
  assert_int_equal(action, PGMLD_CONFIG_VERSION);
  pgmld_config_free(&cfg);
  assert_int_equal(load(&cfg, both, NULL, NULL, &action, err), 0);
  assert_int_equal(action, PGMLD_CONFIG_HELP);
  pgmld_config_free(&cfg);
  /* An unknown flag is still an error with --help. */
  assert_int_equal(load(&cfg, h, NULL, NULL, &action, err), -EINVAL);
  assert_contains(err, "unknown flag --bogus-flag-after");
}

/* ------------------------------------------------------------ errors */

typedef struct error_case_s {
  const char *name;
  const char *file;          /* config file text, or NULL */
  const char *flags[6];
  const char *env[3];
  int rc;
  const char *needles[3];    /* all in the message */
} error_case_t;

static const error_case_t error_cases[] = {
  {"unknown flag", NULL, {"--limits-max-topk", "5"}, {NULL}, -EINVAL,
   {"unknown flag --limits-max-topk", "pgmld --help"}},
  {"flag without value", NULL, {"--limits-max-top-k"}, {NULL}, -EINVAL,
   {"flag --limits-max-top-k needs a value"}},
  {"positional argument", NULL, {"serve"}, {NULL}, -EINVAL,
   {"unexpected argument 'serve'"}},
  {"bare --", NULL, {"--"}, {NULL}, -EINVAL, {"unexpected argument '--'"}},
  {"bad flag value", NULL, {"--limits-max-top-k", "lots"}, {NULL}, -EINVAL,
   {"flag --limits-max-top-k", "limits.max_top_k", "'lots' is not a whole number"}},
  {"flag out of range", NULL, {"--limits-max-top-k=0"}, {NULL}, -EINVAL,
   {"flag --limits-max-top-k", "limits.max_top_k", "0 is out of range (1 to 100000)"}},
  {"bad env value", NULL, {NULL}, {"PGMLD_DATABASE_POOL_SIZE=-1"}, -EINVAL,
   {"environment variable PGMLD_DATABASE_POOL_SIZE", "database.pool_size",
    "'-1' is not a whole number"}},
  {"misspelt env setting", NULL, {NULL}, {"PGMLD_SERVER_SOKET_PATH=/x"}, -EINVAL,
   {"environment variable PGMLD_SERVER_SOKET_PATH: no such setting"}},
  {"bad log level from env", NULL, {NULL}, {"PGMLD_LOG_LEVEL=loud"}, -EINVAL,
   {"environment variable PGMLD_LOG_LEVEL", "log.level", "'loud' is not a log level"}},
  {"bad mode", NULL, {"--server-socket-mode", "0999"}, {NULL}, -EINVAL,
   {"server.socket_mode", "'0999' is not an octal file mode"}},
  {"mode out of range", NULL, {"--server-socket-mode", "1777"}, {NULL}, -EINVAL,
   {"server.socket_mode", "1777 is out of range (00 to 0777)"}},
  {"bad duration", NULL, {"--database-connect-timeout-ms", "5 parsecs"}, {NULL}, -EINVAL,
   {"database.connect_timeout_ms", "'5 parsecs' is not a duration"}},
  {"bad size", NULL, {"--limits-max-frame-size", "12q"}, {NULL}, -EINVAL,
   {"limits.max_frame_size", "'12q' is not a size"}},
  {"size too small", NULL, {"--limits-max-frame-size", "10"}, {NULL}, -EINVAL,
   {"limits.max_frame_size", "10 is out of range (1024 to 1073741824)"}},
  {"size too large", NULL, {"--limits-max-frame-size", "2G"}, {NULL}, -EINVAL,
   {"limits.max_frame_size", "2G is out of range"}},
  {"number overflows", NULL, {"--limits-max-batch", "99999999999999999999999"}, {NULL},
   -EINVAL, {"limits.max_batch", "is out of range"}},
  {"socket path too long", NULL,
   {"--server-socket-path",
    "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock"}, {NULL}, -EINVAL,
   {"flag --server-socket-path", "server.socket_path", "is too long (at most 107)"}},
  {"empty socket path", NULL, {"--server-socket-path="}, {NULL}, -EINVAL,
   {"server.socket_path is empty (from flag --server-socket-path)"}},
  {"default timeout over max", NULL, {"--limits-max-timeout-ms", "1s"},
   {"PGMLD_LIMITS_DEFAULT_TIMEOUT_MS=2s"}, -EINVAL,
   {"limits.default_timeout_ms (2000, from environment variable "
    "PGMLD_LIMITS_DEFAULT_TIMEOUT_MS) is more than limits.max_timeout_ms (1000, "
    "from flag --limits-max-timeout-ms)"}},
  {"unknown key in file", "[limits]\nmax_top_k = 5\nmax_topk = 5\n", {NULL}, {NULL},
   -EINVAL, {"bad.conf:3: unknown setting 'max_topk' in [limits]"}},
  {"unknown section in file", "\n[limit]\nmax_top_k = 5\n", {NULL}, {NULL}, -EINVAL,
   {"bad.conf:3: unknown section [limit]"}},
  {"key outside a section", "max_top_k = 5\n", {NULL}, {NULL}, -EINVAL,
   {"bad.conf:1: max_top_k = ... is outside any [section]"}},
  {"bad value in file", "[server]\nsocket_path = /tmp/x\n\n[limits]\nmax_batch = none\n",
   {NULL}, {NULL}, -EINVAL,
   {"bad.conf:5: limits.max_batch: 'none' is not a whole number"}},
  {"syntax error in file", "[limits]\nthis line has no equals sign\n", {NULL}, {NULL},
   -EINVAL, {"bad.conf:2: syntax error"}},
  {"file error beats a good flag", "[log]\nlevel = chatty\n", {"--log-level", "debug"},
   {NULL}, -EINVAL, {"bad.conf:2: log.level: 'chatty' is not a log level"}},
};

static void test_error_table(void **state)
{
  size_t i, k;

  (void)state;
  for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
    const error_case_t *c = &error_cases[i];
    const char *flags[10] = {NULL};
    pgmld_config_action_t action;
    pgmld_config_t cfg;
    char err[ERRLEN], path[512];
    size_t nf = 0;
    long live = pgmld_alloc_live();

    print_message("case: %s\n", c->name);
    if (c->file != NULL) {
      write_file("bad.conf", c->file, path, sizeof(path));
      flags[nf++] = "--config";
      flags[nf++] = path;
    }
    for (k = 0; k < 6 && c->flags[k] != NULL; k++)
      flags[nf++] = c->flags[k];
    assert_int_equal(load(&cfg, flags, c->env, NULL, &action, err), c->rc);
    for (k = 0; k < 3 && c->needles[k] != NULL; k++)
      assert_contains(err, c->needles[k]);
    /* One line, nothing to free. */
    assert_null(strchr(err, '\n'));
    assert_int_equal(pgmld_alloc_live(), live);
    if (c->file != NULL)
      unlink(path);
  }
}

/* A bad value for each number-like setting, from each of the three
 * sources: the message names the setting and the source. */
static void test_every_error_names_key_and_source(void **state)
{
  size_t n, i;
  const pgmld_setting_t *s = pgmld_config_settings(&n);

  (void)state;
  for (i = 0; i < n; i++) {
    char env_name[128], flag_name[128], key[128], buf[256], path[512], text[256];
    const char *flags[3] = {NULL};
    const char *envs[2] = {NULL};
    pgmld_config_action_t action;
    pgmld_config_t cfg;
    char err[ERRLEN];

    if (s[i].type == PGMLD_CFG_STRING)
      continue;   /* any text is a string; socket_path's length is above */
    pgmld_config_env_name(&s[i], env_name, sizeof(env_name));
    pgmld_config_flag_name(&s[i], flag_name, sizeof(flag_name));
    snprintf(key, sizeof(key), "%s.%s", s[i].section, s[i].key);

    snprintf(buf, sizeof(buf), "%s=x9", flag_name);
    flags[0] = buf;
    assert_int_equal(load(&cfg, flags, NULL, NULL, &action, err), -EINVAL);
    assert_contains(err, key);
    assert_contains(err, flag_name);

    snprintf(buf, sizeof(buf), "%s=x9", env_name);
    envs[0] = buf;
    assert_int_equal(load(&cfg, NULL, envs, NULL, &action, err), -EINVAL);
    assert_contains(err, key);
    assert_contains(err, env_name);

    snprintf(text, sizeof(text), "[%s]\n%s = x9\n", s[i].section, s[i].key);
    write_file("each.conf", text, path, sizeof(path));
    assert_int_equal(load(&cfg, NULL, NULL, path, &action, err), -EINVAL);
    assert_contains(err, key);
    assert_contains(err, "each.conf:2");
    unlink(path);
  }
}

/* ------------------------------------------------------------ values */

typedef struct value_case_s {
  pgmld_config_type_t type;
  uint64_t min, max;
  const char *text;
  int rc;
  uint64_t want;
} value_case_t;

#define H (3600000ull)
static const value_case_t value_cases[] = {
  {PGMLD_CFG_DURATION_MS, 0, 24 * H, "250", 0, 250},
  {PGMLD_CFG_DURATION_MS, 0, 24 * H, "250ms", 0, 250},
  {PGMLD_CFG_DURATION_MS, 0, 24 * H, "30s", 0, 30000},
  {PGMLD_CFG_DURATION_MS, 0, 24 * H, "5min", 0, 300000},
  {PGMLD_CFG_DURATION_MS, 0, 24 * H, "1h", 0, H},
  {PGMLD_CFG_DURATION_MS, 0, 24 * H, "1H", 0, H},
  {PGMLD_CFG_DURATION_MS, 0, 24 * H, "25h", -EINVAL, 0},
  {PGMLD_CFG_DURATION_MS, 0, 24 * H, "1.5s", -EINVAL, 0},
  {PGMLD_CFG_DURATION_MS, 0, 24 * H, "-1", -EINVAL, 0},
  {PGMLD_CFG_DURATION_MS, 0, 24 * H, "", -EINVAL, 0},
  {PGMLD_CFG_DURATION_MS, 0, 24 * H, " 5", -EINVAL, 0},
  {PGMLD_CFG_SIZE, 0, 1ull << 30, "1024", 0, 1024},
  {PGMLD_CFG_SIZE, 0, 1ull << 30, "1k", 0, 1024},
  {PGMLD_CFG_SIZE, 0, 1ull << 30, "16M", 0, 16u << 20},
  {PGMLD_CFG_SIZE, 0, 1ull << 30, "16MiB", 0, 16u << 20},
  {PGMLD_CFG_SIZE, 0, 1ull << 30, "1G", 0, 1u << 30},
  {PGMLD_CFG_SIZE, 0, 1ull << 30, "1025M", -EINVAL, 0},
  {PGMLD_CFG_SIZE, 0, 1ull << 30, "99999999999999999999G", -EINVAL, 0},
  {PGMLD_CFG_SIZE, 0, 1ull << 30, "1T", -EINVAL, 0},
  {PGMLD_CFG_INT, 1, 10, "10", 0, 10},
  {PGMLD_CFG_INT, 1, 10, "11", -EINVAL, 0},
  {PGMLD_CFG_INT, 1, 10, "0", -EINVAL, 0},
  {PGMLD_CFG_INT, 1, 10, "1k", -EINVAL, 0},
  {PGMLD_CFG_INT, 1, 10, "0x5", -EINVAL, 0},
  {PGMLD_CFG_MODE, 0, 0777, "0660", 0, 0660},
  {PGMLD_CFG_MODE, 0, 0777, "600", 0, 0600},
  {PGMLD_CFG_MODE, 0, 0777, "0", 0, 0},
  {PGMLD_CFG_MODE, 0, 0777, "0o600", -EINVAL, 0},
  {PGMLD_CFG_MODE, 0, 0777, "8", -EINVAL, 0},
  {PGMLD_CFG_MODE, 0, 0777, "077777", -EINVAL, 0},
  {PGMLD_CFG_BOOL, 0, 1, "yes", 0, 1},
  {PGMLD_CFG_BOOL, 0, 1, "On", 0, 1},
  {PGMLD_CFG_BOOL, 0, 1, "1", 0, 1},
  {PGMLD_CFG_BOOL, 0, 1, "TRUE", 0, 1},
  {PGMLD_CFG_BOOL, 0, 1, "no", 0, 0},
  {PGMLD_CFG_BOOL, 0, 1, "off", 0, 0},
  {PGMLD_CFG_BOOL, 0, 1, "false", 0, 0},
  {PGMLD_CFG_BOOL, 0, 1, "maybe", -EINVAL, 0},
  {PGMLD_CFG_LOG_LEVEL, 0, 0, "warn", 0, PGMLD_LOG_WARN},
  {PGMLD_CFG_LOG_LEVEL, 0, 0, "DEBUG", 0, PGMLD_LOG_DEBUG},
  {PGMLD_CFG_LOG_LEVEL, 0, 0, "warning", -EINVAL, 0},
};

static void test_parse_value_table(void **state)
{
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++) {
    const value_case_t *c = &value_cases[i];
    pgmld_setting_t s = {"test", "value", c->type, "", c->min, c->max, 0, ""};
    union {
      uint32_t u32;
      uint64_t u64;
      bool b;
      pgmld_log_level_t level;
    } v;
    uint64_t got;
    char err[256] = "";
    int rc;

    memset(&v, 0xab, sizeof(v));
    rc = pgmld__config_parse_value(&s, c->text, &v, err, sizeof(err));
    if (rc != c->rc)
      fail_msg("%s '%s': got %d (%s), want %d", pgmld_config_type_name(c->type),
               c->text, rc, err, c->rc);
    if (rc < 0) {
      assert_true(err[0] != '\0');
      continue;
    }
    switch (c->type) {
    case PGMLD_CFG_SIZE: got = v.u64; break;
    case PGMLD_CFG_BOOL: got = v.b; break;
    case PGMLD_CFG_LOG_LEVEL: got = (uint64_t)v.level; break;
    default: got = v.u32; break;
    }
    if (got != c->want)
      fail_msg("%s '%s': got %llu, want %llu", pgmld_config_type_name(c->type),
               c->text, (unsigned long long)got, (unsigned long long)c->want);
  }
}

static void test_string_value_replaces(void **state)
{
  pgmld_setting_t s = {"test", "value", PGMLD_CFG_STRING, "", 0, 8, 0, ""};
  char *v = NULL, err[128];

  (void)state;
  assert_int_equal(pgmld__config_parse_value(&s, "first", &v, err, sizeof(err)), 0);
  assert_string_equal(v, "first");
  assert_int_equal(pgmld__config_parse_value(&s, "second", &v, err, sizeof(err)), 0);
  assert_string_equal(v, "second");
  assert_int_equal(pgmld__config_parse_value(&s, "too long!", &v, err, sizeof(err)),
                   -EINVAL);
  assert_string_equal(v, "second");
  assert_contains(err, "9 bytes is too long (at most 8)");
  pgmld_alloc_fail_after(1, 0);
  assert_int_equal(pgmld__config_parse_value(&s, "third", &v, err, sizeof(err)),
                   -ENOMEM);
  pgmld_alloc_fail_after(0, 0);
  assert_string_equal(v, "second");
  pgmld_free(v);
}

/* Every allocation of a full load failed in turn: -ENOMEM, no leak. */
static void test_load_fault_injection(void **state)
{
  static const char *const flags[] = {"--database-url", "postgresql:///x", NULL};
  unsigned long n;

  (void)state;
  for (n = 1;; n++) {
    pgmld_config_action_t action;
    pgmld_config_t cfg;
    char err[ERRLEN];
    long live = pgmld_alloc_live();
    int rc;

    pgmld_alloc_fail_after(n, 0);
    rc = load(&cfg, flags, NULL, NULL, &action, err);
    pgmld_alloc_fail_after(0, 0);
    if (rc == 0) {
      pgmld_config_free(&cfg);
      assert_int_equal(pgmld_alloc_live(), live);
      break;
    }
    /* Should be -ENOMEM throughout; config.c's scan_args() and load_env()
     * turn a failed allocation while applying a flag or variable into
     * -EINVAL (reported to "core").  The message is right either way. */
    assert_true(rc == -ENOMEM || rc == -EINVAL);
    assert_contains(err, "out of memory");
    assert_int_equal(pgmld_alloc_live(), live);
  }
  assert_true(n > 5);
}

/* ------------------------------------------------------------ generated text */

static char *capture(void (*fn)(FILE *out, const char *arg), const char *arg)
{
  char *text = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&text, &len);

  assert_non_null(fp);
  fn(fp, arg);
  assert_int_equal(fclose(fp), 0);
  return text;
}

static void print_help(FILE *out, const char *arg)
{
  pgmld_config_print_help(out, arg);
}

static void print_markdown(FILE *out, const char *arg)
{
  (void)arg;
  pgmld_config_print_markdown(out);
}

/* `pgmld --help` lists every setting with its flag, environment variable
 * and default, and says where the file is read from. */
static void test_help_lists_every_setting(void **state)
{
  size_t n, i;
  const pgmld_setting_t *s = pgmld_config_settings(&n);
  char *help = capture(print_help, "/etc/test/pgmld.conf");

  (void)state;
  assert_contains(help, "/etc/test/pgmld.conf");
  assert_contains(help, "--config PATH");
  assert_contains(help, "2 configuration error");
  for (i = 0; i < n; i++) {
    char env[128], flag[128], line[256];
    pgmld_config_env_name(&s[i], env, sizeof(env));
    pgmld_config_flag_name(&s[i], flag, sizeof(flag));
    assert_contains(help, flag);
    assert_contains(help, env);
    snprintf(line, sizeof(line), "%s = %s%s%s", s[i].key, s[i].def[0] ? "" : "\"",
             s[i].def, s[i].def[0] ? "" : "\"");
    assert_contains(help, line);
    snprintf(line, sizeof(line), "[%s]", s[i].section);
    assert_contains(help, line);
  }
  free(help);
}

/* docs/configuration.md holds the table pgmld_config_print_markdown()
 * writes, byte for byte: the page cannot drift from the code. */
static void test_config_doc_in_sync(void **state)
{
  const char *src = getenv("PGMLD_SOURCE_DIR");
  char path[1024], *doc, *table;
  FILE *fp;
  long size;

  (void)state;
  if (src == NULL)
    skip();
  snprintf(path, sizeof(path), "%s/docs/configuration.md", src);
  fp = fopen(path, "r");
  if (fp == NULL)
    fail_msg("cannot open %s", path);
  assert_int_equal(fseek(fp, 0, SEEK_END), 0);
  size = ftell(fp);
  assert_true(size > 0);
  rewind(fp);
  doc = calloc(1, (size_t)size + 1);
  assert_non_null(doc);
  assert_int_equal(fread(doc, 1, (size_t)size, fp), (size_t)size);
  fclose(fp);
  table = capture(print_markdown, NULL);
  if (strstr(doc, table) == NULL)
    fail_msg("docs/configuration.md does not hold the current settings table; "
             "replace it with:\n%s", table);
  free(table);
  free(doc);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_default_path_optional),
    cmocka_unit_test(test_precedence_table),
    cmocka_unit_test(test_every_setting_every_source),
    cmocka_unit_test(test_flag_and_file_syntax),
    cmocka_unit_test(test_help_and_version_actions),
    cmocka_unit_test(test_error_table),
    cmocka_unit_test(test_every_error_names_key_and_source),
    cmocka_unit_test(test_parse_value_table),
    cmocka_unit_test(test_string_value_replaces),
    cmocka_unit_test(test_load_fault_injection),
    cmocka_unit_test(test_help_lists_every_setting),
    cmocka_unit_test(test_config_doc_in_sync),
  };

  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
