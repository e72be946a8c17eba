/* test_pool.c - the libpq pool against a real PostgreSQL: leases, FIFO
 * waiters, prepared statements, pipelined batches, binary parameters,
 * deadlines and cancels on the server, lost connections. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "db/pool.h"
#include "dbtest.h"

static void on_capture(pgmld_pool_conn_t *conn, PGresult *res, const pgmld_status_t *st, void *data) {
  dbtest_capture(data, res, st);
}

static void set_flag(void *data) { *(int *)data = 1; }

/* Runs the loop until PostgreSQL shows `pid` running pg_sleep: a cancel
 * sent before the statement starts would be ignored by the server. */
static void wait_sleeping(dbtest_t *t, int pid) {
  char sql[256];
  snprintf(sql, sizeof(sql),
           "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND state = 'active' "
           "AND query LIKE 'SELECT pg_sleep%%'",
           pid);
  for (int i = 0; dbtest_scalar(t, sql) == 0; i++) {
    if (i > 3000) fail_msg("backend %d never started pg_sleep", pid);
    dbtest_run_for(t, 10);
  }
}

static long sleeping_count(dbtest_t *t, int pid) {
  char sql[256];
  snprintf(sql, sizeof(sql),
           "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND state = 'active' "
           "AND query LIKE 'SELECT pg_sleep%%'",
           pid);
  return dbtest_scalar(t, sql);
}

/* Terminates backend `pid` and waits until it is gone. */
static void terminate(dbtest_t *t, int pid) {
  char sql[160];
  snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)::int", pid);
  assert_int_equal(dbtest_scalar(t, sql), 1);
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
  for (int i = 0; dbtest_scalar(t, sql) != 0; i++) {
    if (i > 3000) fail_msg("backend %d did not exit", pid);
    dbtest_run_for(t, 10);
  }
}

static void test_query_and_errors(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = dbtest_pool(t, NULL);
  pgmld_status_t st = PGMLD_STATUS_INIT;
  dbtest_result_t r;

  pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);
  assert_int_equal(st.code, PGMLD_OK);
  assert_true(pgmld_pool_conn_server_version(c) >= 140000);
  dbtest_sql(t, c, "SHOW client_connection_check_interval", &r);
  assert_string_equal(r.value, "1s");
  assert_true(pgmld_pool_conn_backend_pid(c) > 0);

  dbtest_sql(t, c, "SELECT 1 + 1", &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_int_equal(r.rs, PGRES_TUPLES_OK);
  assert_string_equal(r.value, "2");

  dbtest_sql(t, c, "CREATE TABLE t (id int PRIMARY KEY)", &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_int_equal(r.rs, PGRES_COMMAND_OK);
  dbtest_sql(t, c, "INSERT INTO t VALUES (1)", &r);
  assert_int_equal(r.status.code, PGMLD_OK);

  /* The status mapping, with PostgreSQL's message and SQLSTATE. */
  dbtest_sql(t, c, "INSERT INTO t VALUES (1)", &r);
  assert_int_equal(r.status.code, PGMLD_ALREADY_EXISTS);
  assert_int_equal(r.rs, PGRES_FATAL_ERROR);
  assert_string_equal(r.sqlstate, "23505");
  assert_non_null(strstr(r.status.message, "duplicate key"));
  assert_non_null(strstr(r.status.message, "23505"));

  dbtest_sql(t, c, "SELECT 1 / 0", &r);
  assert_int_equal(r.status.code, PGMLD_INVALID_ARGUMENT);
  assert_non_null(strstr(r.status.message, "division by zero"));

  dbtest_sql(t, c, "SELECT * FROM no_such_table", &r);
  assert_int_equal(r.status.code, PGMLD_INTERNAL);
  assert_non_null(strstr(r.status.message, "42P01"));
  pgmld_pool_stmt_t s = {.sql = "SELECT * FROM no_such_table", .flags = PGMLD_POOL_STMT_UNDEFINED_TABLE_NOT_FOUND};
  dbtest_query(t, c, &s, &r);
  assert_int_equal(r.status.code, PGMLD_NOT_FOUND);
  assert_non_null(strstr(r.status.message, "no_such_table"));

  dbtest_sql(t, c, "SELEC 1", &r);
  assert_int_equal(r.status.code, PGMLD_INTERNAL);
  assert_non_null(strstr(r.status.message, "42601"));

  /* The lease still works after errors. */
  dbtest_sql(t, c, "SELECT count(*) FROM t", &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_string_equal(r.value, "1");

  /* One statement at a time on a lease. */
  dbtest_result_t r2;
  pgmld_status_t err = PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_query(c, &(pgmld_pool_stmt_t){.sql = "SELECT 3"}, NULL, &r2, &err), -EINVAL);
  dbtest_query_start(c, &(pgmld_pool_stmt_t){.sql = "SELECT 2"}, &r);
  err = (pgmld_status_t)PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_query(c, &(pgmld_pool_stmt_t){.sql = "SELECT 3"},
                                    on_capture, &r2, &err),
                   -EBUSY);
  assert_non_null(strstr(err.message, "already running"));
  dbtest_run_until(t, &r.done);
  assert_string_equal(r.value, "2");

  /* Malformed statements are refused before anything is sent. */
  err = (pgmld_status_t)PGMLD_STATUS_INIT;
  int formats[1] = {7};
  const char *vals[1] = {"x"};
  pgmld_pool_stmt_t bad = {.sql = "SELECT $1", .nparams = 1, .values = vals, .formats = formats};
  assert_int_equal(pgmld_pool_query(c, &bad, on_capture, &r2, &err),
                   -EINVAL);
  assert_non_null(strstr(err.message, "format 7"));

  pgmld_pool_release(c);
  pgmld_pool_stats_t stats;
  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.size, 2);
  assert_int_equal(stats.acquired, 1);
  dbtest_pool_close(t, pool);
}

/* ------------------------------------------------------------------ fairness */

typedef struct order_s {
  int order[16];
  int n;
  int done;
  int expect;
  pgmld_status_t status;
} order_t;

typedef struct waiter_s {
  order_t *o;
  int index;
} waiter_t;

static void on_fair(pgmld_pool_conn_t *conn, const pgmld_status_t *st, void *data) {
  waiter_t *w = data;
  if (st->code != PGMLD_OK) {
    w->o->status = *st;
  } else {
    w->o->order[w->o->n++] = w->index;
    /* Released at once, from inside the callback: the next waiter gets it. */
    pgmld_pool_release(conn);
  }
  if (++w->o->done == w->o->expect) w->o->expect = -1;
}

static void test_fifo_waiters(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = dbtest_pool(t, &(pgmld_pool_config_t){.size = 2});
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_pool_conn_t *a = dbtest_acquire(t, pool, 0, &st);
  pgmld_pool_conn_t *b = dbtest_acquire(t, pool, 0, &st);
  assert_non_null(a);
  assert_non_null(b);
  assert_ptr_not_equal(a, b);

  order_t o = {.expect = 8};
  waiter_t w[8];
  for (int i = 0; i < 8; i++) {
    w[i] = (waiter_t){&o, i};
    assert_int_equal(pgmld_pool_acquire(pool, 0, on_fair, &w[i], NULL, &st), 0);
  }
  dbtest_run_for(t, 50);
  pgmld_pool_stats_t stats;
  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.waiting, 8);
  assert_int_equal(stats.busy, 2);
  assert_int_equal(stats.idle, 0);
  assert_int_equal(o.done, 0);

  pgmld_pool_release(a);
  pgmld_pool_release(b);
  int all = 0;
  while (o.expect != -1) {
    dbtest_run_for(t, 5);
    all++;
    if (all > 20000) fail();
  }
  assert_int_equal(o.status.code, PGMLD_OK);
  assert_int_equal(o.n, 8);
  for (int i = 0; i < 8; i++) assert_int_equal(o.order[i], i);

  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.waiting, 0);
  assert_int_equal(stats.acquired, 10);
  assert_int_equal(stats.idle + stats.busy, 2);
  dbtest_pool_close(t, pool);
}

static void on_acq_status(pgmld_pool_conn_t *conn, const pgmld_status_t *st, void *data) {
  order_t *o = data;
  o->status = *st;
  o->done++;
  if (conn) pgmld_pool_release(conn);
}

static void test_acquire_deadline_cancel_limit(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = dbtest_pool(t, &(pgmld_pool_config_t){.size = 1, .max_waiters = 2});
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_pool_conn_t *a = dbtest_acquire(t, pool, 0, &st);
  assert_non_null(a);

  /* A deadline passes while the only connection is leased. */
  order_t o1 = {0};
  assert_int_equal(pgmld_pool_acquire(pool, uv_now(&t->loop) + 50, on_acq_status, &o1, NULL, &st), 0);
  dbtest_run_until(t, &o1.done);
  assert_int_equal(o1.status.code, PGMLD_DEADLINE_EXCEEDED);
  assert_non_null(strstr(o1.status.message, "1 of 1 in use"));

  /* Cancelled while waiting: CANCELLED, and never a second call. */
  order_t o2 = {0}, o3 = {0}, o4 = {0};
  pgmld_pool_wait_t *wait = NULL;
  assert_int_equal(pgmld_pool_acquire(pool, 0, on_acq_status, &o2, &wait, &st), 0);
  assert_non_null(wait);
  assert_int_equal(pgmld_pool_acquire(pool, 0, on_acq_status, &o3, NULL, &st), 0);
  /* max_waiters = 2: the third is refused at once. */
  pgmld_status_t err = PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_acquire(pool, 0, on_acq_status, &o4, NULL, &err), -EAGAIN);
  assert_int_equal(err.code, PGMLD_RESOURCE_EXHAUSTED);
  pgmld_pool_acquire_cancel(wait);
  assert_int_equal(o2.done, 0);  /* later, from the loop */
  dbtest_run_until(t, &o2.done);
  assert_int_equal(o2.status.code, PGMLD_CANCELLED);

  /* The next waiter still gets the connection. */
  pgmld_pool_release(a);
  dbtest_run_until(t, &o3.done);
  assert_int_equal(o3.status.code, PGMLD_OK);
  dbtest_run_for(t, 20);
  assert_int_equal(o2.done, 1);
  assert_int_equal(o4.done, 0);
  dbtest_pool_close(t, pool);
}

static void test_close_fails_waiters_and_waits_for_leases(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = dbtest_pool(t, &(pgmld_pool_config_t){.size = 1});
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_pool_conn_t *a = dbtest_acquire(t, pool, 0, &st);
  order_t o = {0};
  assert_int_equal(pgmld_pool_acquire(pool, 0, on_acq_status, &o, NULL, &st), 0);
  int closed = 0;
  pgmld_pool_close(pool, set_flag, &closed);
  pgmld_pool_close(pool, NULL, NULL);  /* a second close is a no-op */
  dbtest_run_until(t, &o.done);
  assert_int_equal(o.status.code, PGMLD_UNAVAILABLE);
  assert_non_null(strstr(o.status.message, "shutting down"));
  pgmld_status_t err = PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_acquire(pool, 0, on_acq_status, &o, NULL, &err), -ESHUTDOWN);

  /* The lease still works until it is released. */
  dbtest_result_t r;
  dbtest_sql(t, a, "SELECT 42", &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_string_equal(r.value, "42");
  dbtest_run_for(t, 20);
  assert_int_equal(closed, 0);
  pgmld_pool_release(a);
  /* The pool frees itself once the lease is back; teardown checks that
   * nothing is left allocated and no handle is open. */
  dbtest_run_until(t, &closed);
}

/* ------------------------------------------------------------------ prepared statements */

static void test_prepared_reused(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = dbtest_pool(t, &(pgmld_pool_config_t){.size = 1});
  pgmld_status_t st = PGMLD_STATUS_INIT;
  dbtest_result_t r;
  pgmld_pool_stats_t stats;
  const char *vals[1];
  char num[16];
  pgmld_pool_stmt_t s = {.name = "plus_one", .sql = "SELECT $1::int + 1", .nparams = 1, .values = vals};

  for (int round = 0; round < 3; round++) {
    pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);
    assert_non_null(c);
    for (int i = 0; i < 3; i++) {
      snprintf(num, sizeof(num), "%d", round * 10 + i);
      vals[0] = num;
      dbtest_query(t, c, &s, &r);
      assert_int_equal(r.status.code, PGMLD_OK);
      assert_int_equal(atoi(r.value), round * 10 + i + 1);
    }
    /* The server knows it once, under its name. */
    dbtest_sql(t, c, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'plus_one'", &r);
    assert_string_equal(r.value, "1");
    pgmld_pool_release(c);
  }
  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.prepared, 1);

  /* The same name with other SQL is a bug in the caller. */
  pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);
  pgmld_status_t err = PGMLD_STATUS_INIT;
  pgmld_pool_stmt_t other = {.name = "plus_one", .sql = "SELECT $1::int + 2", .nparams = 1, .values = vals};
  assert_int_equal(pgmld_pool_query(c, &other, on_capture, &r, &err),
                   -EINVAL);
  assert_non_null(strstr(err.message, "plus_one"));

  /* A Parse that fails is not remembered as prepared: the next use tries
   * again (and fails the same way, with the error, not "does not exist"). */
  pgmld_pool_stmt_t broken = {.name = "broken", .sql = "SELECT * FROM nowhere"};
  dbtest_query(t, c, &broken, &r);
  assert_int_equal(r.status.code, PGMLD_INTERNAL);
  assert_non_null(strstr(r.status.message, "42P01"));
  dbtest_sql(t, c, "CREATE TABLE nowhere (x int)", &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  dbtest_query(t, c, &broken, &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_int_equal(r.ntuples, 0);
  pgmld_pool_release(c);
  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.prepared, 3);
  dbtest_pool_close(t, pool);
}

/* PGMLD_POOL_STMT_PREPARE without a name: the pool names the statement after
 * its text, prepares it once per connection, and tells texts apart. */
static void test_prepared_by_text(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = dbtest_pool(t, &(pgmld_pool_config_t){.size = 1});
  pgmld_status_t st = PGMLD_STATUS_INIT;
  dbtest_result_t r;
  pgmld_pool_stats_t stats;
  const char *vals[1] = {"41"};
  pgmld_pool_stmt_t a = {.sql = "SELECT $1::int + 1", .nparams = 1, .values = vals,
                         .flags = PGMLD_POOL_STMT_PREPARE};
  pgmld_pool_stmt_t b = {.sql = "SELECT $1::int + 2", .nparams = 1, .values = vals,
                         .flags = PGMLD_POOL_STMT_PREPARE};
  pgmld_pool_stmt_t plain = {.sql = "SELECT $1::int + 3", .nparams = 1, .values = vals};
  pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);

  assert_non_null(c);
  for (int i = 0; i < 3; i++) {
    dbtest_query(t, c, &a, &r);
    assert_int_equal(r.status.code, PGMLD_OK);
    assert_string_equal(r.value, "42");
    dbtest_query(t, c, &b, &r);
    assert_string_equal(r.value, "43");
    dbtest_query(t, c, &plain, &r);
    assert_string_equal(r.value, "44");
  }
  /* Two texts, two statements on the server, each prepared once. */
  dbtest_sql(t, c, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'pgmld\\_%'", &r);
  assert_string_equal(r.value, "2");
  pgmld_pool_release(c);
  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.prepared, 2);
  dbtest_pool_close(t, pool);
}

/* ------------------------------------------------------------------ batches */

typedef struct batch_out_s {
  int done;
  pgmld_status_t status;
  size_t n;
  ExecStatusType rs[16];
  int present[16];
  char value[16][32];
} batch_out_t;

static void on_batch(pgmld_pool_conn_t *conn, PGresult *const *results, size_t n, const pgmld_status_t *st,
                     void *data) {
  batch_out_t *b = data;
  b->status = *st;
  b->n = n;
  for (size_t i = 0; i < n && i < 16; i++) {
    b->present[i] = results[i] != NULL;
    if (!results[i]) continue;
    b->rs[i] = PQresultStatus(results[i]);
    if (PQntuples(results[i]) > 0) snprintf(b->value[i], sizeof(b->value[i]), "%s", PQgetvalue(results[i], 0, 0));
  }
  b->done = 1;
}

static void run_batch(dbtest_t *t, pgmld_pool_conn_t *c, const pgmld_pool_stmt_t *s, size_t n, batch_out_t *b) {
  pgmld_status_t err = PGMLD_STATUS_INIT;
  memset(b, 0, sizeof(*b));
  if (pgmld_pool_batch(c, s, n, on_batch, b, &err) < 0) fail_msg("pgmld_pool_batch: %s", err.message);
  assert_int_equal(b->done, 0);
  dbtest_run_until(t, &b->done);
}

static void test_batch(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = dbtest_pool(t, &(pgmld_pool_config_t){.size = 1});
  pgmld_status_t st = PGMLD_STATUS_INIT;
  batch_out_t b;
  dbtest_result_t r;
  dbtest_exec(t, "CREATE TABLE t (id int PRIMARY KEY, v text)");

  pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);
  const char *one[1] = {"1"}, *two[1] = {"2"};
  pgmld_pool_stmt_t ok[] = {
      {.sql = "BEGIN"},
      {.sql = "DELETE FROM t"},
      {.name = "ins", .sql = "INSERT INTO t VALUES ($1::int, 'x')", .nparams = 1, .values = one},
      {.name = "ins", .sql = "INSERT INTO t VALUES ($1::int, 'x')", .nparams = 1, .values = two},
      {.sql = "SELECT count(*) FROM t"},
      {.sql = "COMMIT"},
  };
  run_batch(t, c, ok, 6, &b);
  assert_int_equal(b.status.code, PGMLD_OK);
  assert_int_equal(b.n, 6);
  for (int i = 0; i < 6; i++) assert_true(b.present[i]);
  assert_int_equal(b.rs[4], PGRES_TUPLES_OK);
  assert_string_equal(b.value[4], "2");
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM t"), 2);
  pgmld_pool_stats_t stats;
  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.prepared, 1);  /* "ins" twice in one pipeline: one Parse */

  /* The third statement fails: everything reported, the rest skipped, and
   * nothing of the transaction stays. */
  const char *three[1] = {"3"};
  pgmld_pool_stmt_t failing[] = {
      {.sql = "BEGIN"},
      {.sql = "DELETE FROM t WHERE id = 2"},
      {.name = "ins", .sql = "INSERT INTO t VALUES ($1::int, 'x')", .nparams = 1, .values = one},
      {.name = "ins", .sql = "INSERT INTO t VALUES ($1::int, 'x')", .nparams = 1, .values = three},
      {.sql = "COMMIT"},
  };
  run_batch(t, c, failing, 5, &b);
  assert_int_equal(b.status.code, PGMLD_ALREADY_EXISTS);
  assert_non_null(strstr(b.status.message, "23505"));
  assert_int_equal(b.n, 5);
  for (int i = 0; i < 5; i++) assert_true(b.present[i]);
  assert_int_equal(b.rs[0], PGRES_COMMAND_OK);
  assert_int_equal(b.rs[1], PGRES_COMMAND_OK);
  assert_int_equal(b.rs[2], PGRES_FATAL_ERROR);
  assert_int_equal(b.rs[3], PGRES_PIPELINE_ABORTED);
  assert_int_equal(b.rs[4], PGRES_PIPELINE_ABORTED);
  /* Row 2 is still there: the DELETE was not committed. */
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM t WHERE id = 2"), 1);
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM t WHERE id = 3"), 0);

  /* Released with the transaction aborted: the pool rolls it back, so the
   * next lease of this (only) connection starts clean. */
  pgmld_pool_release(c);
  c = dbtest_acquire(t, pool, 0, &st);
  assert_non_null(c);
  dbtest_sql(t, c, "INSERT INTO t VALUES (5, 'y')", &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM t WHERE id = 5"), 1);

  /* A batch of one and the limits. */
  pgmld_status_t err = PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_batch(c, ok, 0, on_batch, &b, &err), -EINVAL);
  assert_non_null(strstr(err.message, "batch of 0"));
  run_batch(t, c, &(pgmld_pool_stmt_t){.sql = "SELECT 7"}, 1, &b);
  assert_int_equal(b.status.code, PGMLD_OK);
  assert_string_equal(b.value[0], "7");

  /* Released with a transaction left open (no COMMIT): rolled back too. */
  run_batch(t, c, (pgmld_pool_stmt_t[]){{.sql = "BEGIN"}, {.sql = "INSERT INTO t VALUES (6, 'z')"}}, 2, &b);
  assert_int_equal(b.status.code, PGMLD_OK);
  pgmld_pool_release(c);
  c = dbtest_acquire(t, pool, 0, &st);
  dbtest_sql(t, c, "SELECT count(*) FROM t WHERE id = 6", &r);
  assert_string_equal(r.value, "0");
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM t WHERE id = 6"), 0);
  pgmld_pool_release(c);
  dbtest_pool_close(t, pool);
}

/* ------------------------------------------------------------------ binary parameters */

static void put_f32(unsigned char *p, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  u = htonl(u);
  memcpy(p, &u, 4);
}

static void test_binary_params(void **state) {
  dbtest_t *t = *state;
  dbtest_exec(t, "CREATE EXTENSION IF NOT EXISTS vector");
  dbtest_exec(t, "CREATE TABLE items (id int, embedding vector(3))");
  pgmld_pool_t *pool = dbtest_pool(t, NULL);
  pgmld_status_t st = PGMLD_STATUS_INIT;
  dbtest_result_t r;
  pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);

  /* pgvector's binary format: int16 dim, int16 unused, dim float4, all
   * big-endian. */
  unsigned char vec[4 + 3 * 4];
  uint16_t dim = htons(3), unused = 0;
  memcpy(vec, &dim, 2);
  memcpy(vec + 2, &unused, 2);
  put_f32(vec + 4, 1.0f);
  put_f32(vec + 8, -2.5f);
  put_f32(vec + 12, 0.25f);
  uint32_t id = htonl(7);
  const char *values[2] = {(const char *)&id, (const char *)vec};
  int lengths[2] = {4, (int)sizeof(vec)};
  int formats[2] = {1, 1};
  pgmld_pool_stmt_t ins = {
      .name = "ins_item", .sql = "INSERT INTO items VALUES ($1, $2)",
      .nparams = 2, .values = values, .lengths = lengths, .formats = formats,
  };
  dbtest_query(t, c, &ins, &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM items WHERE id = 7 AND embedding = '[1,-2.5,0.25]'"), 1);

  /* Binary in, binary out: the same 16 bytes come back. */
  pgmld_pool_stmt_t echo = {
      .sql = "SELECT $1::vector", .nparams = 1, .values = values + 1, .lengths = lengths + 1,
      .formats = formats + 1, .binary_result = 1,
  };
  dbtest_query(t, c, &echo, &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_int_equal(r.value_len, (int)sizeof(vec));
  assert_memory_equal(r.value, vec, sizeof(vec));

  /* Text result of a binary parameter, and a NULL parameter. */
  echo.binary_result = 0;
  dbtest_query(t, c, &echo, &r);
  assert_string_equal(r.value, "[1,-2.5,0.25]");
  const char *nulls[1] = {NULL};
  pgmld_pool_stmt_t isnull = {.sql = "SELECT $1::vector IS NULL", .nparams = 1, .values = nulls,
                              .formats = formats};
  dbtest_query(t, c, &isnull, &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_string_equal(r.value, "t");

  /* A malformed vector is the caller's fault: INVALID_ARGUMENT.  pgvector
   * rejects a non-zero "unused" field with 22023... */
  int pid = pgmld_pool_conn_backend_pid(c);
  vec[3] = 1;
  dbtest_query(t, c, &echo, &r);
  assert_int_equal(r.status.code, PGMLD_INVALID_ARGUMENT);
  assert_memory_equal(r.sqlstate, "22", 2);
  assert_non_null(strstr(r.status.message, "unused"));
  vec[3] = 0;
  /* ...and a dimension larger than the bytes sent runs out of message:
   * 08P01 at ERROR severity, which must not be taken for a lost session. */
  vec[0] = 1;
  dbtest_query(t, c, &echo, &r);
  assert_int_equal(r.status.code, PGMLD_INVALID_ARGUMENT);
  assert_string_equal(r.sqlstate, "08P01");
  vec[0] = 0;
  dbtest_query(t, c, &echo, &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_int_equal(pgmld_pool_conn_backend_pid(c), pid);
  pgmld_pool_stats_t stats;
  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.failures, 0);
  pgmld_pool_release(c);
  dbtest_pool_close(t, pool);
}

/* ------------------------------------------------------------------ deadline and cancel */

static void test_deadline_cancels_on_server(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = dbtest_pool(t, &(pgmld_pool_config_t){.size = 1});
  pgmld_status_t st = PGMLD_STATUS_INIT;
  dbtest_result_t r;
  pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);
  int pid = pgmld_pool_conn_backend_pid(c);

  dbtest_query_start(c, &(pgmld_pool_stmt_t){.sql = "SELECT pg_sleep(10)"}, &r);
  wait_sleeping(t, pid);
  pgmld_pool_set_deadline(c, uv_now(&t->loop) + 20);
  dbtest_run_until(t, &r.done);
  assert_int_equal(r.status.code, PGMLD_DEADLINE_EXCEEDED);
  assert_non_null(strstr(r.status.message, "deadline"));
  assert_string_equal(r.sqlstate, "57014");
  /* Stopped on the server, and the same backend is still connected. */
  assert_int_equal(sleeping_count(t, pid), 0);
  assert_int_equal(pgmld_pool_conn_backend_pid(c), pid);
  pgmld_pool_stats_t stats;
  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.cancels, 1);

  /* With the deadline passed nothing more is sent... */
  dbtest_sql(t, c, "SELECT 1", &r);
  assert_int_equal(r.status.code, PGMLD_DEADLINE_EXCEEDED);
  /* ...until it is lifted. */
  pgmld_pool_set_deadline(c, 0);
  dbtest_sql(t, c, "SELECT 1", &r);
  assert_int_equal(r.status.code, PGMLD_OK);

  /* An explicit cancel gives CANCELLED. */
  dbtest_query_start(c, &(pgmld_pool_stmt_t){.sql = "SELECT pg_sleep(10)"}, &r);
  wait_sleeping(t, pid);
  pgmld_pool_cancel(c);
  dbtest_run_until(t, &r.done);
  assert_int_equal(r.status.code, PGMLD_CANCELLED);
  assert_int_equal(sleeping_count(t, pid), 0);

  /* Released while running: cancelled on the server, the callback never
   * runs, and the connection comes back usable. */
  dbtest_query_start(c, &(pgmld_pool_stmt_t){.sql = "SELECT pg_sleep(10)"}, &r);
  wait_sleeping(t, pid);
  pgmld_pool_release(c);
  c = dbtest_acquire(t, pool, 0, &st);
  assert_non_null(c);
  assert_int_equal(r.done, 0);
  assert_int_equal(sleeping_count(t, pid), 0);
  dbtest_result_t r2;
  dbtest_sql(t, c, "SELECT pg_backend_pid()", &r2);
  assert_int_equal(r2.status.code, PGMLD_OK);
  assert_int_equal(atoi(r2.value), pid);
  pgmld_pool_release(c);
  assert_int_equal(r.done, 0);
  dbtest_pool_close(t, pool);
}


/* More deadlines at once than cancel requests allowed in flight: the
 * overflow is stopped by closing its connection; every caller still hears
 * DEADLINE_EXCEEDED, and every connection comes back. */
static void test_many_deadlines_at_once(void **state) {
  dbtest_t *t = *state;
  enum { N = 4 };
  pgmld_pool_t *pool = dbtest_pool(t, &(pgmld_pool_config_t){.size = N});
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_pool_conn_t *c[N];
  dbtest_result_t r[N];
  for (int i = 0; i < N; i++) {
    c[i] = dbtest_acquire(t, pool, 0, &st);
    assert_non_null(c[i]);
  }
  for (int i = 0; i < N; i++) dbtest_query_start(c[i], &(pgmld_pool_stmt_t){.sql = "SELECT pg_sleep(10)"}, &r[i]);
  for (int i = 0; i < N; i++) wait_sleeping(t, pgmld_pool_conn_backend_pid(c[i]));
  uint64_t now = uv_now(&t->loop);
  for (int i = 0; i < N; i++) pgmld_pool_set_deadline(c[i], now + 1);
  for (int i = 0; i < N; i++) {
    dbtest_run_until(t, &r[i].done);
    assert_int_equal(r[i].status.code, PGMLD_DEADLINE_EXCEEDED);
    assert_non_null(strstr(r[i].status.message, "deadline exceeded"));
  }
  pgmld_pool_stats_t stats;
  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.cancels, N);
  /* Cancelled or disconnected, no backend keeps sleeping: the pool turns on
   * client_connection_check_interval, so a closed client is noticed. */
  for (int i = 0;; i++) {
    long n = dbtest_scalar(t, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                              "AND state = 'active' AND query LIKE 'SELECT pg_sleep%'");
    if (n == 0) break;
    if (i > 6000) fail_msg("%ld statements still running on the server", n);
    dbtest_run_for(t, 10);
  }
  for (int i = 0; i < N; i++) pgmld_pool_release(c[i]);
  for (int i = 0; i < N; i++) {
    c[i] = dbtest_acquire(t, pool, 0, &st);
    assert_int_equal(st.code, PGMLD_OK);
    dbtest_sql(t, c[i], "SELECT 1", &r[i]);
    assert_int_equal(r[i].status.code, PGMLD_OK);
  }
  for (int i = 0; i < N; i++) pgmld_pool_release(c[i]);
  dbtest_pool_close(t, pool);
}

static void on_never(pgmld_pool_conn_t *conn, const pgmld_status_t *st, void *data) { fail(); }

/* Every allocation pgmld_pool_new() makes may fail: -ENOMEM, or a pool
 * that copes (a connection whose socket watch could not be allocated
 * retries); nothing leaks either way (teardown counts live blocks). */
static void test_allocation_failures(void **state) {
  dbtest_t *t = *state;
  int created = 0;
  for (unsigned long n = 1; n <= 40; n++) {
    pgmld_pool_t *pool = NULL;
    pgmld_status_t st = PGMLD_STATUS_INIT;
    long live = pgmld_alloc_live();
    pgmld_alloc_fail_after(n, 0);
    int rc = pgmld_pool_new(&t->loop, &(pgmld_pool_config_t){.conninfo = t->conninfo, .size = 2}, &pool, &st);
    pgmld_alloc_fail_after(0, 0);
    if (rc < 0) {
      assert_int_equal(rc, -ENOMEM);
      assert_null(pool);
      assert_non_null(strstr(st.message, "out of memory"));
      assert_int_equal(pgmld_alloc_live(), live);
      continue;
    }
    created++;
    pgmld_status_t ast = PGMLD_STATUS_INIT;
    pgmld_alloc_fail_after(1, 0);
    assert_int_equal(pgmld_pool_acquire(pool, 0, on_never, NULL, NULL, &ast), -ENOMEM);
    pgmld_alloc_fail_after(0, 0);
    dbtest_result_t r;
    pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);
    assert_int_equal(st.code, PGMLD_OK);
    dbtest_sql(t, c, "SELECT 1", &r);
    assert_int_equal(r.status.code, PGMLD_OK);
    pgmld_pool_release(c);
    dbtest_pool_close(t, pool);
    assert_int_equal(pgmld_alloc_live(), live);
  }
  assert_true(created > 0);
}

/* ------------------------------------------------------------------ lost connections */

static void test_terminated_backend_reconnects(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = dbtest_pool(t, &(pgmld_pool_config_t){.size = 1});
  pgmld_status_t st = PGMLD_STATUS_INIT;
  dbtest_result_t r;

  /* Killed while idle in the pool: noticed, replaced, never handed out. */
  pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);
  int pid1 = pgmld_pool_conn_backend_pid(c);
  pgmld_pool_release(c);
  terminate(t, pid1);
  c = dbtest_acquire(t, pool, 0, &st);
  assert_int_equal(st.code, PGMLD_OK);
  dbtest_sql(t, c, "SELECT pg_backend_pid()", &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  int pid2 = atoi(r.value);
  assert_int_not_equal(pid2, pid1);
  assert_int_equal(pgmld_pool_conn_backend_pid(c), pid2);

  /* Killed while a statement runs: UNAVAILABLE naming the reason. */
  dbtest_query_start(c, &(pgmld_pool_stmt_t){.sql = "SELECT pg_sleep(10)"}, &r);
  wait_sleeping(t, pid2);
  terminate(t, pid2);
  dbtest_run_until(t, &r.done);
  assert_int_equal(r.status.code, PGMLD_UNAVAILABLE);
  assert_non_null(strstr(r.status.message, "administrator command"));
  /* The lease is dead until released. */
  dbtest_sql(t, c, "SELECT 1", &r);
  assert_int_equal(r.status.code, PGMLD_UNAVAILABLE);
  assert_false(r.has_result);
  pgmld_pool_stats_t stats;
  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.broken, 1);
  assert_int_equal(stats.busy, 0);
  pgmld_pool_release(c);

  c = dbtest_acquire(t, pool, 0, &st);
  assert_int_equal(st.code, PGMLD_OK);
  dbtest_sql(t, c, "SELECT pg_backend_pid()", &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_int_not_equal(atoi(r.value), pid2);
  pgmld_pool_release(c);
  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.connects, 3);
  assert_true(stats.failures >= 2);
  dbtest_pool_close(t, pool);
}

static void test_idle_health_check(void **state) {
  dbtest_t *t = *state;
  /* Every lease after 1 ms idle is checked first. */
  pgmld_pool_t *pool = dbtest_pool(t, &(pgmld_pool_config_t){.size = 1, .idle_check_ms = 1});
  pgmld_status_t st = PGMLD_STATUS_INIT;
  dbtest_result_t r;
  for (int i = 0; i < 3; i++) {
    dbtest_run_for(t, 5);
    pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);
    assert_int_equal(st.code, PGMLD_OK);
    dbtest_sql(t, c, "SELECT 1", &r);
    assert_int_equal(r.status.code, PGMLD_OK);
    pgmld_pool_release(c);
  }
  /* The check ran on the server: pg_stat_activity's last query of the
   * pool's backend is it, not our SELECT 1. */
  dbtest_run_for(t, 5);
  pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);
  int pid = pgmld_pool_conn_backend_pid(c);
  char sql[128];
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND query = 'SELECT 1 AS health_check'", pid);
  long seen = dbtest_scalar(t, sql);
  pgmld_pool_release(c);
  assert_int_equal(seen, 1);
  dbtest_pool_close(t, pool);
}

/* ------------------------------------------------------------------ settings */

static void test_config_errors(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = (pgmld_pool_t *)&pool;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_new(&t->loop, &(pgmld_pool_config_t){.conninfo = t->conninfo, .size = 5000}, &pool, &st),
                   -EINVAL);
  assert_null(pool);
  assert_non_null(strstr(st.message, "size = 5000"));

  st = (pgmld_status_t)PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_new(&t->loop, &(pgmld_pool_config_t){.conninfo = t->conninfo, .backoff_initial_ms = 500, .backoff_max_ms = 100}, &pool, &st),
                   -EINVAL);
  assert_non_null(strstr(st.message, "backoff_max_ms"));

  st = (pgmld_status_t)PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_new(&t->loop, &(pgmld_pool_config_t){.conninfo = "host=/tmp nonsense"}, &pool, &st),
                   -EINVAL);
  assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
  assert_non_null(strstr(st.message, "nonsense"));

  /* A password is never repeated in a message. */
  st = (pgmld_status_t)PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_new(&t->loop, &(pgmld_pool_config_t){.conninfo = "password=hunter2 bogus"}, &pool, &st),
                   -EINVAL);
  assert_null(strstr(st.message, "hunter2"));
  st = (pgmld_status_t)PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_new(&t->loop, &(pgmld_pool_config_t){.conninfo = "postgresql://u:hunter2@h/db?bogus=1"}, &pool, &st),
                   -EINVAL);
  assert_null(strstr(st.message, "hunter2"));

  st = (pgmld_status_t)PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_new(&t->loop, &(pgmld_pool_config_t){0}, &pool, &st), -EINVAL);
  assert_non_null(strstr(st.message, "no database URL"));
}

static void test_status_mapping(void **state) {
  (void)state;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_status_from_result(NULL, 0, &st), PGMLD_UNAVAILABLE);
  PGresult *ok = PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK);
  st = (pgmld_status_t)PGMLD_STATUS_INIT;
  assert_int_equal(pgmld_pool_status_from_result(ok, 0, &st), PGMLD_OK);
  assert_int_equal(st.code, PGMLD_OK);
  PQclear(ok);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_mapping),
      cmocka_unit_test_setup_teardown(test_config_errors, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_query_and_errors, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_fifo_waiters, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_acquire_deadline_cancel_limit, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_close_fails_waiters_and_waits_for_leases, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_prepared_reused, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_prepared_by_text, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_batch, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_binary_params, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_deadline_cancels_on_server, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_many_deadlines_at_once, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_allocation_failures, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_terminated_backend_reconnects, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_idle_health_check, dbtest_setup, dbtest_teardown),
  };
  return cmocka_run_group_tests_name("db_pool", tests, NULL, NULL);
}
