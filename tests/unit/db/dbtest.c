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
