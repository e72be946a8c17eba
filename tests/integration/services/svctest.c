/* svctest.c - the daemon, client and libpq helpers of the Database service tests. */
#include "svctest.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT_MS 30000

const pgml_call_options_t svc_opts = {.timeout_ms = 120000};

void svc_daemon_start(svc_daemon_t *d, const char *url, const char *const *extra)
{
  const char *bin = getenv("PGMLD_BIN");
  const char *tmp = getenv("TMPDIR");
  int i;

  if (url == NULL)
    url = getenv("PGMLD_TEST_DATABASE_URL");
  if (bin == NULL || url == NULL)
    fail_msg("PGMLD_BIN and PGMLD_TEST_DATABASE_URL must be set (run under ctest)");
  memset(d, 0, sizeof(*d));
  snprintf(d->dir, sizeof(d->dir), "%s/pgmld-svc-XXXXXX", tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(d->dir));
  snprintf(d->sock, sizeof(d->sock), "%s/pgmld.sock", d->dir);
  snprintf(d->addr, sizeof(d->addr), "unix://%s", d->sock);
  snprintf(d->log, sizeof(d->log), "%s/pgmld.log", d->dir);

  d->pid = fork();
  assert_true(d->pid >= 0);
  if (d->pid == 0) {
    const char *argv[40] = {bin, "--server-socket-path", d->sock, "--database-url", url,
                            "--log-level", "info"};
    int n = 7, fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    /* A failed assertion leaves the test without stopping the daemon:
     * the daemon goes when the test process does. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);

    for (i = 0; extra != NULL && extra[i] != NULL && n < 38; i++)
      argv[n++] = extra[i];
    argv[n] = NULL;
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
    }
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  for (i = 0; i < WAIT_MS / 50; i++) {
    pgml_client_t *c;
    pgml_v1_PingRequest req = pgml_v1_PingRequest_init_zero;
    pgml_v1_PingResponse resp = pgml_v1_PingResponse_init_zero;
    pgml_sync_result_t res;
    int status, rc;

    if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
      d->pid = 0;
      fail_msg("pgmld exited during start-up (status %d); see %s", status, d->log);
    }
    if (access(d->sock, F_OK) == 0 && pgml_client_new(d->addr, NULL, &c) == 0) {
      rc = pgml_database_ping_sync(c, &req, &resp, &svc_opts, &res);
      if (rc == 0)
        pb_release(pgml_v1_PingResponse_fields, &resp);
      if (rc >= 0)
        pgml_sync_result_free(&res);
      pgml_client_free(c);
      if (rc == 0)
        return;
    }
    usleep(50000);
  }
  fail_msg("pgmld did not answer on %s within %d ms; see %s", d->sock, WAIT_MS, d->log);
}

void svc_daemon_stop(svc_daemon_t *d)
{
  char cmd[700];
  int i, status = 0, clean = 1;

  if (d->pid > 0) {
    kill(d->pid, SIGTERM);
    for (i = 0; i < WAIT_MS / 20; i++) {
      if (waitpid(d->pid, &status, WNOHANG) == d->pid)
        break;
      usleep(20000);
    }
    if (i == WAIT_MS / 20) {
      kill(d->pid, SIGKILL);
      waitpid(d->pid, &status, 0);
    }
    d->pid = 0;
    /* A sanitizer report (leak, error) makes the daemon exit non-zero. */
    clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  snprintf(cmd, sizeof(cmd), "tail -n 60 '%s' >&2; rm -rf '%s'", d->log, d->dir);
  if (getenv("PGMLD_TEST_KEEP") == NULL && system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", d->dir);
  if (!clean)
    fail_msg("pgmld did not exit cleanly (wait status %d); its log is above", status);
}

pgml_client_t *svc_client(const svc_daemon_t *d)
{
  pgml_client_t *c = NULL;

  assert_int_equal(pgml_client_new(d->addr, NULL, &c), 0);
  return c;
}

int svc_code_msg(int rc, pgml_sync_result_t *res, char *msg, size_t len)
{
  if (rc < 0) {
    snprintf(msg, len, "call failed locally: %s", strerror(-rc));
    return -1;
  }
  snprintf(msg, len, "%s", res->message != NULL ? res->message : "");
  pgml_sync_result_free(res);
  return rc;
}

int svc_code(int rc, pgml_sync_result_t *res, const char *what)
{
  char msg[600];
  int code = svc_code_msg(rc, res, msg, sizeof(msg));

  if (code != 0)
    fprintf(stderr, "%s: %s: %s\n", what, code > 0 ? pgml_code_name((pgml_code_t)code) : "local",
            msg);
  return code;
}

int svc_create(pgml_client_t *c, const char *name, char *msg, size_t len)
{
  pgml_v1_CreateOrGetCollectionRequest req = {.name = (char *)name};
  pgml_v1_CollectionInfo info = pgml_v1_CollectionInfo_init_zero;
  pgml_sync_result_t res;
  int rc = pgml_database_create_or_get_collection_sync(c, &req, &info, &svc_opts, &res);

  if (rc == 0)
    pb_release(pgml_v1_CollectionInfo_fields, &info);
  return msg != NULL ? svc_code_msg(rc, &res, msg, len) : svc_code(rc, &res, "create");
}

PGconn *svc_pg_db(const char *dbname)
{
  const char *host = getenv("PGMLD_TEST_PGHOST");
  char conninfo[400];
  PGconn *pg;

  assert_non_null(host);
  snprintf(conninfo, sizeof(conninfo), "host=%s dbname=%s user=pgmld", host, dbname);
  pg = PQconnectdb(conninfo);
  if (PQstatus(pg) != CONNECTION_OK)
    fail_msg("cannot connect to the test database %s: %s", dbname, PQerrorMessage(pg));
  return pg;
}

PGconn *svc_pg(void)
{
  return svc_pg_db("pgmld");
}

void svc_own_database(const char *dbname, char *url, size_t len)
{
  PGconn *pg = svc_pg();
  char sql[200];
  PGresult *r;

  snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
  r = PQexec(pg, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK)
    fail_msg("%s: %s", sql, PQerrorMessage(pg));
  PQclear(r);
  snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
  r = PQexec(pg, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK)
    fail_msg("%s: %s", sql, PQerrorMessage(pg));
  PQclear(r);
  PQfinish(pg);
  snprintf(url, len, "postgresql://pgmld@/%s?host=%s", dbname, getenv("PGMLD_TEST_PGHOST"));
}

int64_t svc_pg_int(PGconn *pg, const char *fmt, ...)
{
  char sql[2048];
  va_list ap;
  PGresult *r;
  int64_t v;

  va_start(ap, fmt);
  vsnprintf(sql, sizeof(sql), fmt, ap);
  va_end(ap);
  r = PQexec(pg, sql);
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
    fail_msg("%s: %s", sql, PQresultErrorMessage(r));
  v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return v;
}

int64_t svc_pipeline_id(PGconn *pg, const char *collection, const char *pipeline)
{
  /* The names are the tests' own, letters, digits and '_' only. */
  return svc_pg_int(pg,
                    "SELECT coalesce(max(p.id), 0) FROM pgmld.pipelines p JOIN pgmld.collections c"
                    " ON c.id = p.collection_id WHERE NOT c.archived AND c.name = '%s'"
                    " AND p.name = '%s'",
                    collection, pipeline);
}

void svc_name(char *out, size_t len, const char *prefix)
{
  static unsigned n;

  snprintf(out, len, "t_%s_%d_%u", prefix, (int)getpid(), ++n);
}
