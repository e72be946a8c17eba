/* probe.c - waits for PostgreSQL to accept connections and creates database pgmld. */
#include "embedded/probe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/alloc.h"

/* SQLSTATE duplicate_database: someone else created it between our check
 * and our CREATE, which is just as good. */
#define SQLSTATE_DUPLICATE_DATABASE "42P04"

/* Copies libpq's message onto one line: its newlines and tabs (a HINT on
 * a second line) become single spaces, the trailing newline goes. */
static void copy_error(char *err, size_t errsz, const char *what, const char *msg) {
  size_t n = 0;
  const char *p;

  snprintf(err, errsz, "%s", what);
  n = strlen(err);
  for (p = msg ? msg : "(no message)"; *p && n + 1 < errsz; p++) {
    int blank = *p == '\n' || *p == '\t' || *p == ' ';
    if (blank && (n == 0 || err[n - 1] == ' '))
      continue;
    err[n++] = blank ? ' ' : *p;
  }
  while (n > 0 && err[n - 1] == ' ')
    n--;
  err[n] = '\0';
}

int pgmld__probe(const char *run_dir, int port, char *err, size_t errsz) {
  char portstr[16];
  const char *keys[] = {"host", "port", "dbname", "user", "connect_timeout",
                        "application_name", NULL};
  const char *vals[] = {run_dir, portstr, "postgres", PGMLD__PROBE_USER,
                        PGMLD__PROBE_CONNECT_TIMEOUT, "pgmld-embedded-probe", NULL};
  const char *params[1] = {PGMLD__PROBE_DBNAME};
  PGresult *res = NULL;
  PGconn *conn;
  int rc = -EIO;

  snprintf(portstr, sizeof(portstr), "%d", port);
  conn = PQconnectdbParams(keys, vals, 0);
  if (!conn) {
    snprintf(err, errsz, "libpq: out of memory");
    return -ENOMEM;
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    copy_error(err, errsz, "", PQerrorMessage(conn));
    PQfinish(conn);
    return -EAGAIN;
  }

  res = PQexecParams(conn, "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", 1, NULL,
                     params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    copy_error(err, errsz, "checking for database " PGMLD__PROBE_DBNAME ": ",
               PQresultErrorMessage(res));
    /* The server going away under us is "not yet", like a refused connect. */
    rc = PQstatus(conn) == CONNECTION_OK ? -EIO : -EAGAIN;
    goto out;
  }
  if (PQntuples(res) == 0) {
    PQclear(res);
    res = PQexec(conn, "CREATE DATABASE \"" PGMLD__PROBE_DBNAME "\"");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      if (!state || strcmp(state, SQLSTATE_DUPLICATE_DATABASE) != 0) {
        copy_error(err, errsz, "creating database " PGMLD__PROBE_DBNAME ": ",
                   PQresultErrorMessage(res));
        rc = PQstatus(conn) == CONNECTION_OK ? -EIO : -EAGAIN;
        goto out;
      }
    }
  }
  rc = 0;

out:
  PQclear(res);
  PQfinish(conn);
  return rc;
}

char *pgmld__probe_conninfo(const char *run_dir, int port) {
  size_t n = strlen(run_dir);
  char *q = pgmld_malloc(2 * n + 1);
  char *out;
  size_t i, j = 0;

  if (!q)
    return NULL;
  /* libpq conninfo: a single-quoted value escapes ' and \ with \. */
  for (i = 0; i < n; i++) {
    if (run_dir[i] == '\'' || run_dir[i] == '\\')
      q[j++] = '\\';
    q[j++] = run_dir[i];
  }
  q[j] = '\0';
  out = pgmld_asprintf("host='%s' port=%d dbname=" PGMLD__PROBE_DBNAME " user=" PGMLD__PROBE_USER,
                       q, port);
  pgmld_free(q);
  return out;
}
