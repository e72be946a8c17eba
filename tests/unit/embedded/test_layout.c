/* test_layout.c - the state directory, the PostgreSQL user, the log reader and the conninfo. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
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

#include "core/alloc.h"
#include "embedded/layout.h"
#include "embedded/pglog.h"
#include "embedded/probe.h"
#include "fakefs.h"

#define PG_USER "pgmld"

typedef struct {
  char *root;
} fx_t;

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));

  assert_non_null(fx);
  fx->root = fake_tmpdir("layout");
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;

  fake_rmtree(fx->root);
  free(fx->root);
  free(fx);
  return 0;
}

/* The uid PostgreSQL should run as: PG_USER's when we are root, ours when not. */
static uid_t expected_uid(void) {
  if (geteuid() != 0)
    return geteuid();
  struct passwd *pw = getpwnam(PG_USER);
  if (!pw)
    fail_msg("running as root needs the user %s (scripts/bootstrap.sh creates it)", PG_USER);
  return pw->pw_uid;
}

static gid_t expected_gid(void) {
  if (geteuid() != 0)
    return getegid();
  struct passwd *pw = getpwnam(PG_USER);
  assert_non_null(pw);
  return pw->pw_gid;
}

static void assert_dir(const char *path, uid_t uid) {
  struct stat sb;

  assert_int_equal(stat(path, &sb), 0);
  assert_true(S_ISDIR(sb.st_mode));
  assert_int_equal(sb.st_mode & 07777, 0700);
  assert_int_equal(sb.st_uid, uid);
}

static void assert_has(const char *msg, const char *want) {
  if (!strstr(msg, want))
    fail_msg("\"%s\" not in: %s", want, msg);
}

/* A new state directory: the tree is created, owned by PostgreSQL's user
 * and closed to others; an empty data directory still needs initdb, a
 * cluster does not. */
static void test_fresh_layout(void **state) {
  fx_t *fx = *state;
  char *sd = fake_join(fx->root, "state/nested");
  char canon[PATH_MAX];
  char want[PATH_MAX + 64];
  pgmld__layout_t l;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  uid_t uid = expected_uid();
  struct stat sb;

  assert_int_equal(pgmld__layout_prepare(sd, PG_USER, &l, &st), 0);
  assert_non_null(realpath(sd, canon));
  snprintf(want, sizeof(want), "%s/postgres", canon);
  assert_string_equal(l.pg_dir, want);
  snprintf(want, sizeof(want), "%s/postgres/data", canon);
  assert_string_equal(l.data_dir, want);
  snprintf(want, sizeof(want), "%s/postgres/run", canon);
  assert_string_equal(l.run_dir, want);
  snprintf(want, sizeof(want), "%s/postgres/postgres.log", canon);
  assert_string_equal(l.log_path, want);
  assert_int_equal(l.as_root, geteuid() == 0);
  assert_int_equal(l.uid, uid);
  assert_true(l.need_initdb);
  assert_true(l.log_fd >= 0);
  assert_dir(l.pg_dir, uid);
  assert_dir(l.data_dir, uid);
  assert_dir(l.run_dir, uid);
  assert_int_equal(stat(l.log_path, &sb), 0);
  assert_int_equal(sb.st_uid, uid);
  assert_int_equal(sb.st_mode & 0777, 0600);
  if (geteuid() != 0) {
    assert_non_null(getpwuid(uid));
    assert_string_equal(l.user, getpwuid(uid)->pw_name);
  } else {
    assert_string_equal(l.user, PG_USER);
  }

  /* Again: the same, still waiting for initdb. */
  char *version = fake_join(l.data_dir, "PG_VERSION");
  pgmld__layout_free(&l);
  assert_int_equal(l.log_fd, -1);
  assert_int_equal(pgmld__layout_prepare(sd, PG_USER, &l, &st), 0);
  assert_true(l.need_initdb);

  /* A cluster: no initdb. */
  fake_write(version, "18\n", 0);
  pgmld__layout_free(&l);
  assert_int_equal(pgmld__layout_prepare(sd, PG_USER, &l, &st), 0);
  assert_false(l.need_initdb);
  assert_int_equal(st.code, PGMLD_OK);
  pgmld__layout_free(&l);
  free(version);
  free(sd);
}

static void test_relative_state_dir(void **state) {
  fx_t *fx = *state;
  char cwd[PATH_MAX], canon[PATH_MAX], want[PATH_MAX + 64];
  pgmld__layout_t l;
  pgmld_status_t st = PGMLD_STATUS_INIT;

  assert_non_null(getcwd(cwd, sizeof(cwd)));
  assert_int_equal(chdir(fx->root), 0);
  int rc = pgmld__layout_prepare("rel/state", PG_USER, &l, &st);
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(rc, 0);
  assert_non_null(realpath(fx->root, canon));
  snprintf(want, sizeof(want), "%s/rel/state/postgres/run", canon);
  assert_string_equal(l.run_dir, want);
  pgmld__layout_free(&l);
}

/* A data directory with files but no PG_VERSION is left alone. */
static void test_interrupted_initdb(void **state) {
  fx_t *fx = *state;
  char *data = fake_join(fx->root, "s/postgres/data");
  char *junk = fake_join(data, "global");
  pgmld__layout_t l;
  pgmld_status_t st = PGMLD_STATUS_INIT;

  char *sd = fake_join(fx->root, "s");
  fake_mkdirs(junk);
  assert_int_equal(pgmld__layout_prepare(sd, PG_USER, &l, &st), -ENOTEMPTY);
  assert_int_equal(st.code, PGMLD_FAILED_PRECONDITION);
  assert_has(st.message, "not empty but holds no cluster (no PG_VERSION)");
  assert_has(st.message, "/postgres/data");
  assert_null(l.pg_dir);
  assert_int_equal(l.log_fd, -1);
  /* Nothing was deleted. */
  assert_int_equal(access(junk, F_OK), 0);
  free(sd);
  free(junk);
  free(data);
}

/* The socket path must fit a sockaddr_un (107 bytes). */
static void test_socket_path_too_long(void **state) {
  fx_t *fx = *state;
  char name[128];
  pgmld__layout_t l;
  pgmld_status_t st = PGMLD_STATUS_INIT;

  memset(name, 'x', 90);
  name[90] = '\0';
  char *sd = fake_join(fx->root, name);
  assert_int_equal(pgmld__layout_prepare(sd, PG_USER, &l, &st), -ENAMETOOLONG);
  assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
  assert_has(st.message, "/postgres/run/.s.PGSQL.5432");
  assert_has(st.message, "more than the 107 a Unix socket allows; choose a shorter state_dir");
  free(sd);

  /* A state_dir with a newline in it is refused before anything is made. */
  pgmld_status_t st2 = PGMLD_STATUS_INIT;
  assert_int_equal(pgmld__layout_prepare("/tmp/a\nb", PG_USER, &l, &st2), -EINVAL);
  assert_has(st2.message, "control character");
}

/* As root, the configured user must exist and must not be root.  Not
 * root, the configured user is not used at all. */
static void test_user(void **state) {
  fx_t *fx = *state;
  pgmld__layout_t l;
  pgmld_status_t st = PGMLD_STATUS_INIT;

  if (geteuid() != 0) {
    assert_int_equal(pgmld__layout_prepare(fx->root, "pgmld-no-such-user", &l, &st), 0);
    assert_int_equal(l.uid, geteuid());
    assert_false(l.as_root);
    pgmld__layout_free(&l);
    return;
  }
  assert_int_equal(pgmld__layout_prepare(fx->root, "pgmld-no-such-user", &l, &st), -ENOENT);
  assert_int_equal(st.code, PGMLD_FAILED_PRECONDITION);
  assert_has(st.message, "embedded.user \"pgmld-no-such-user\" does not exist");
  assert_has(st.message, "PostgreSQL refuses to");
  assert_has(st.message, "useradd --system");
  /* Nothing was created for a user that does not exist. */
  char *pg = fake_join(fx->root, "postgres");
  assert_int_equal(access(pg, F_OK), -1);

  pgmld_status_t st2 = PGMLD_STATUS_INIT;
  assert_int_equal(pgmld__layout_prepare(fx->root, "root", &l, &st2), -EPERM);
  assert_has(st2.message, "embedded.user \"root\" has uid 0");
  free(pg);
}

/* As root: a directory on the way that PostgreSQL's user cannot enter is
 * named, and so is a data directory that belongs to someone else. */
static void test_root_permissions(void **state) {
  fx_t *fx = *state;
  pgmld__layout_t l;

  if (geteuid() != 0)
    skip();
  char *closed = fake_join(fx->root, "closed");
  char *sd = fake_join(closed, "state");
  fake_mkdirs(sd);
  assert_int_equal(chmod(closed, 0700), 0);
  pgmld_status_t st = PGMLD_STATUS_INIT;
  assert_int_equal(pgmld__layout_prepare(sd, PG_USER, &l, &st), -EACCES);
  assert_has(st.message, "runs as user " PG_USER);
  assert_has(st.message, "cannot enter");
  assert_has(st.message, closed);
  assert_has(st.message, "mode 0700");

  /* The same check for a file: its directory is what counts. */
  char *file = fake_join(sd, "f");
  fake_write(file, "", 0);
  pgmld_status_t st3 = PGMLD_STATUS_INIT;
  assert_int_equal(pgmld__layout_check_reachable(file, expected_uid(), expected_gid(), PG_USER, &st3),
                   -EACCES);
  assert_has(st3.message, closed);
  assert_int_equal(chmod(closed, 0755), 0);
  assert_int_equal(pgmld__layout_check_reachable(file, expected_uid(), expected_gid(), PG_USER, &st3), 0);

  /* A cluster owned by root. */
  char *data = fake_join(fx->root, "owned/postgres/data");
  char *version = fake_join(data, "PG_VERSION");
  char *owned = fake_join(fx->root, "owned");
  fake_mkdirs(data);
  fake_write(version, "18\n", 0);
  pgmld_status_t st2 = PGMLD_STATUS_INIT;
  assert_int_equal(pgmld__layout_prepare(owned, PG_USER, &l, &st2), -EPERM);
  assert_has(st2.message, "is owned by uid 0 but PostgreSQL runs as " PG_USER);
  free(closed), free(sd), free(file), free(data), free(version), free(owned);
}

/* What pgmld reports from the log after a child failed. */
static void test_log_last_error(void **state) {
  fx_t *fx = *state;
  static const struct {
    const char *before; /* written before the child started: never reported */
    const char *text;
    size_t outsz;
    const char *want;
    int is_error;
  } cases[] = {
      {"2026-01-01 00:00:00.000 UTC [1] FATAL:  old failure\n",
       "2026-01-01 00:00:01.000 UTC [12] FATAL:  lock file \"postmaster.pid\" already exists\n"
       "2026-01-01 00:00:01.000 UTC [12] HINT:  Is another postmaster (PID 9) running in data "
       "directory \"/d\"?\n",
       320,
       "FATAL: lock file \"postmaster.pid\" already exists HINT: Is another postmaster (PID 9) "
       "running in data directory \"/d\"?", 1},
      {"",
       "The files belonging to this database system will be owned by user \"pgmld\".\n"
       "initdb: error: directory \"/x\" exists but is not empty\n"
       "initdb: hint: If you want to create a new database system, remove the directory.\n",
       320,
       "error: directory \"/x\" exists but is not empty hint: If you want to create a new "
       "database system, remove the directory.", 1},
      {"", "LOG:  starting\nLOG:  database system is ready\n\n", 320,
       "LOG: database system is ready", 0},
      {"FATAL: only before\n", "", 320, "", 0},
      {"", "2026 PANIC:  could not write to file \"pg_wal/x\": No space left on device\n"
           "LOG:  aborting\n", 320,
       "PANIC: could not write to file \"pg_wal/x\": No space left on device", 1},
      {"", "FATAL:  a long message that does not fit\n", 12, "FATAL: a lo", 1},
  };
  size_t i;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *path = fake_join(fx->root, "log");
    char out[320];
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, cases[i].before, strlen(cases[i].before)),
                     (ssize_t)strlen(cases[i].before));
    off_t from = pgmld__pglog_offset(fd);
    assert_int_equal(from, (off_t)strlen(cases[i].before));
    assert_int_equal(write(fd, cases[i].text, strlen(cases[i].text)),
                     (ssize_t)strlen(cases[i].text));
    int is_error = pgmld__pglog_last_error(fd, from, out, cases[i].outsz);
    assert_string_equal(out, cases[i].want);
    assert_int_equal(is_error, cases[i].is_error);
    close(fd);
    free(path);
  }

  /* The mark names what starts, on a line of its own. */
  char *path = fake_join(fx->root, "marked");
  char buf[256];
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0600);
  assert_true(fd >= 0);
  pgmld__pglog_mark(fd, "starting %s", "/bin/postgres");
  ssize_t got = pread(fd, buf, sizeof(buf) - 1, 0);
  assert_true(got > 0);
  buf[got] = '\0';
  assert_has(buf, " UTC pgmld: starting /bin/postgres\n");
  close(fd);
  free(path);
}

/* The conninfo survives any run directory: libpq parses back exactly it. */
static void test_conninfo(void **state) {
  static const char *const dirs[] = {"/var/lib/pgmld/postgres/run", "/tmp/it's a \\dir",
                                     "/tmp/x y=z"};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
    char *ci = pgmld__probe_conninfo(dirs[i], 5432);
    char *err = NULL;
    assert_non_null(ci);
    PQconninfoOption *opts = PQconninfoParse(ci, &err);
    if (!opts)
      fail_msg("libpq rejects %s: %s", ci, err ? err : "?");
    int seen = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
      if (!o->val)
        continue;
      if (strcmp(o->keyword, "host") == 0)
        assert_string_equal(o->val, dirs[i]), seen |= 1;
      else if (strcmp(o->keyword, "port") == 0)
        assert_string_equal(o->val, "5432"), seen |= 2;
      else if (strcmp(o->keyword, "dbname") == 0)
        assert_string_equal(o->val, "pgmld"), seen |= 4;
      else if (strcmp(o->keyword, "user") == 0)
        assert_string_equal(o->val, "pgmld"), seen |= 8;
    }
    assert_int_equal(seen, 15);
    PQconninfoFree(opts);
    pgmld_free(ci);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_fresh_layout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_relative_state_dir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_interrupted_initdb, setup, teardown),
      cmocka_unit_test_setup_teardown(test_socket_path_too_long, setup, teardown),
      cmocka_unit_test_setup_teardown(test_user, setup, teardown),
      cmocka_unit_test_setup_teardown(test_root_permissions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_log_last_error, setup, teardown),
      cmocka_unit_test(test_conninfo),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
