/* dbtest.c - per-test databases and loop helpers for the db-layer tests. */
#include "dbtest.h"

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

static int hung;
static uv_timer_t watchdog;
static int watchdog_ready;

static void on_watchdog(uv_timer_t *t) { hung = 1; }

static PGconn *connect_to(const char *host, const char *db) {
  char ci[512];
  snprintf(ci, sizeof(ci), "host=%s dbname=%s user=pgmld", host, db);
  PGconn *c = PQconnectdb(ci);
  if (PQstatus(c) != CONNECTION_OK) fail_msg("cannot connect to %s: %s", ci, PQerrorMessage(c));
  return c;
}

static void exec_ok(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    fail_msg("%s: %s", sql, PQerrorMessage(c));
  PQclear(r);
}

int dbtest_setup(void **state) {
  static int n;
  const char *host = getenv("PGMLD_TEST_PGHOST");
  if (!host) fail_msg("PGMLD_TEST_PGHOST is not set: run under ctest (fixture postgres)");
  dbtest_t *t = calloc(1, sizeof(*t));
  assert_non_null(t);
  snprintf(t->pghost, sizeof(t->pghost), "%s", host);
  snprintf(t->dbname, sizeof(t->dbname), "pooltest_%ld_%d", (long)getpid(), ++n);
  snprintf(t->conninfo, sizeof(t->conninfo), "host=%s dbname=%s user=pgmld", host, t->dbname);

  PGconn *c = connect_to(host, "pgmld");
  char sql[256];
  snprintf(sql, sizeof(sql), "CREATE DATABASE %s", t->dbname);
  exec_ok(c, sql);
  PQfinish(c);
  t->admin = connect_to(host, t->dbname);

  assert_int_equal(uv_loop_init(&t->loop), 0);
  assert_int_equal(uv_timer_init(&t->loop, &watchdog), 0);
  uv_unref((uv_handle_t *)&watchdog);
  watchdog_ready = 1;
  t->live_at_start = pgmld_alloc_live();
  *state = t;
  return 0;
}

int dbtest_teardown(void **state) {
  dbtest_t *t = *state;
  /* Everything the pool allocated is freed once its close callback ran. */
  assert_int_equal(pgmld_alloc_live(), t->live_at_start);
  uv_close((uv_handle_t *)&watchdog, NULL);
  watchdog_ready = 0;
  uv_run(&t->loop, UV_RUN_DEFAULT);
  /* Fails (UV_EBUSY) if a test left a handle open. */
  assert_int_equal(uv_loop_close(&t->loop), 0);
  PQfinish(t->admin);

  PGconn *c = connect_to(t->pghost, "pgmld");
  char sql[256];
  snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->dbname);
  exec_ok(c, sql);
  PQfinish(c);
  free(t);
  return 0;
}

void dbtest_run_until(dbtest_t *t, const int *flag) {
  hung = 0;
  uv_timer_start(&watchdog, on_watchdog, 120000, 0);
  uv_ref((uv_handle_t *)&watchdog);
  while (!*flag && !hung) uv_run(&t->loop, UV_RUN_ONCE);
  uv_timer_stop(&watchdog);
  uv_unref((uv_handle_t *)&watchdog);
  if (hung) fail_msg("the loop ran for 120 s without the expected event");
}

static void free_handle(uv_handle_t *h) { free(h); }

static void on_elapsed(uv_timer_t *timer) {
  *(int *)timer->data = 1;
  uv_close((uv_handle_t *)timer, free_handle);
}

void dbtest_run_for(dbtest_t *t, unsigned ms) {
  int done = 0;
  uv_timer_t *timer = malloc(sizeof(*timer));
  assert_non_null(timer);
  uv_timer_init(&t->loop, timer);
  timer->data = &done;
  uv_timer_start(timer, on_elapsed, ms, 0);
  dbtest_run_until(t, &done);
}

long dbtest_scalar(dbtest_t *t, const char *sql) {
  PGresult *r = PQexec(t->admin, sql);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", sql, PQerrorMessage(t->admin));
  long v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? atol(PQgetvalue(r, 0, 0)) : 0;
  PQclear(r);
  return v;
}

void dbtest_exec(dbtest_t *t, const char *sql) { exec_ok(t->admin, sql); }

pgmld_pool_t *dbtest_pool(dbtest_t *t, const pgmld_pool_config_t *cfg) {
  pgmld_pool_config_t c = {0};
  if (cfg) c = *cfg;
  if (!c.conninfo) c.conninfo = t->conninfo;
  if (!c.size) c.size = 2;
  pgmld_pool_t *pool = NULL;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  if (pgmld_pool_new(&t->loop, &c, &pool, &st) < 0) fail_msg("pgmld_pool_new: %s", st.message);
  return pool;
}

static void on_pool_closed(void *data) { *(int *)data = 1; }

void dbtest_pool_close(dbtest_t *t, pgmld_pool_t *pool) {
  int closed = 0;
  pgmld_pool_close(pool, on_pool_closed, &closed);
  dbtest_run_until(t, &closed);
}

typedef struct acq_s {
  int done;
  pgmld_pool_conn_t *conn;
  pgmld_status_t status;
} acq_t;

static void on_acquired(pgmld_pool_conn_t *conn, const pgmld_status_t *st, void *data) {
  acq_t *a = data;
  a->conn = conn;
  a->status = *st;
  a->done = 1;
}

pgmld_pool_conn_t *dbtest_acquire(dbtest_t *t, pgmld_pool_t *pool, uint64_t deadline_ms,
                                  pgmld_status_t *st) {
  acq_t a = {0};
  pgmld_status_t err = PGMLD_STATUS_INIT;
  if (pgmld_pool_acquire(pool, deadline_ms, on_acquired, &a, NULL, &err) < 0)
    fail_msg("pgmld_pool_acquire: %s", err.message);
  assert_int_equal(a.done, 0);  /* never called back from inside the call */
  dbtest_run_until(t, &a.done);
  *st = a.status;
  if (a.status.code == PGMLD_OK) assert_non_null(a.conn);
  else assert_null(a.conn);
  return a.conn;
}

void dbtest_capture(dbtest_result_t *out, PGresult *res, const pgmld_status_t *st) {
  out->status = *st;
  out->has_result = res != NULL;
  if (res) {
    out->rs = PQresultStatus(res);
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(out->sqlstate, sizeof(out->sqlstate), "%s", s ? s : "");
    out->ntuples = PQntuples(res);
    if (out->ntuples > 0 && PQnfields(res) > 0) {
      out->value_null = PQgetisnull(res, 0, 0);
      out->value_len = PQgetlength(res, 0, 0);
      size_t n = (size_t)out->value_len < sizeof(out->value) - 1 ? (size_t)out->value_len
                                                                  : sizeof(out->value) - 1;
      memcpy(out->value, PQgetvalue(res, 0, 0), n);
      out->value[n] = '\0';
    }
  }
  out->done = 1;
}

static void on_result(pgmld_pool_conn_t *conn, PGresult *res, const pgmld_status_t *st, void *data) {
  dbtest_capture(data, res, st);
}

void dbtest_query_start(pgmld_pool_conn_t *c, const pgmld_pool_stmt_t *s, dbtest_result_t *out) {
  pgmld_status_t err = PGMLD_STATUS_INIT;
  memset(out, 0, sizeof(*out));
  if (pgmld_pool_query(c, s, on_result, out, &err) < 0) fail_msg("pgmld_pool_query: %s", err.message);
  assert_int_equal(out->done, 0);
}

void dbtest_query(dbtest_t *t, pgmld_pool_conn_t *c, const pgmld_pool_stmt_t *s, dbtest_result_t *out) {
  dbtest_query_start(c, s, out);
  dbtest_run_until(t, &out->done);
}

void dbtest_sql(dbtest_t *t, pgmld_pool_conn_t *c, const char *sql, dbtest_result_t *out) {
  pgmld_pool_stmt_t s = {.sql = sql};
  dbtest_query(t, c, &s, out);
}
