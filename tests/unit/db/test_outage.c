/* test_outage.c - PostgreSQL stopped and started again under a live pool:
 * UNAVAILABLE with the reason during the outage, recovery without help
 * after.  Uses a cluster of its own (PGML_OUTAGE_PGDIR), never the shared
 * fixture's, which other tests are using at the same time. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db/pool.h"
#include "dbtest.h"

static void cluster(const char *cmd) {
  char line[1024];
  snprintf(line, sizeof(line), "'%s/scripts/pg-cluster.sh' %s '%s' >/dev/null", PGML_SOURCE_DIR, cmd,
           PGML_OUTAGE_PGDIR);
  if (system(line) != 0) fail_msg("%s failed", line);
}

static int group_setup(void **state) {
  cluster("start");
  return 0;
}

static int group_teardown(void **state) {
  cluster("stop");
  return 0;
}

static void on_status(pgmld_pool_conn_t *conn, const pgmld_status_t *st, void *data) {
  dbtest_result_t *r = data;
  r->status = *st;
  r->done = 1;
  if (conn) pgmld_pool_release(conn);
}

static void test_stop_and_start(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_config_t cfg = {
      .conninfo = "host=" PGML_OUTAGE_PGDIR " dbname=pgmld user=pgmld",
      .size = 2,
      .backoff_initial_ms = 20,
      .backoff_max_ms = 200,
  };
  pgmld_pool_t *pool = dbtest_pool(t, &cfg);
  pgmld_status_t st = PGMLD_STATUS_INIT;
  dbtest_result_t r, q;
  pgmld_pool_stats_t stats;

  pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);
  assert_int_equal(st.code, PGMLD_OK);
  dbtest_sql(t, c, "SELECT 1", &r);
  assert_int_equal(r.status.code, PGMLD_OK);

  /* A statement is running when the server shuts down. */
  dbtest_query_start(c, &(pgmld_pool_stmt_t){.sql = "SELECT pg_sleep(60)"}, &q);
  dbtest_run_for(t, 50);
  cluster("stop");
  dbtest_run_until(t, &q.done);
  assert_int_equal(q.status.code, PGMLD_UNAVAILABLE);
  assert_non_null(strstr(q.status.message, "connection to PostgreSQL lost"));
  pgmld_pool_release(c);

  /* Both connections notice and keep retrying, with backoff. */
  for (int i = 0;; i++) {
    pgmld_pool_stats(pool, &stats);
    if (stats.idle == 0 && stats.busy == 0 && stats.failures >= 6) break;
    if (i > 10000) fail_msg("the pool did not notice the outage");
    dbtest_run_for(t, 10);
  }
  assert_int_equal(stats.broken + stats.connecting, 2);

  /* A request waits until its deadline, then fails naming the reason. */
  dbtest_result_t a = {0};
  assert_int_equal(pgmld_pool_acquire(pool, uv_now(&t->loop) + 300, on_status, &a, NULL, &st), 0);
  dbtest_run_until(t, &a.done);
  assert_int_equal(a.status.code, PGMLD_UNAVAILABLE);
  assert_non_null(strstr(a.status.message, "PostgreSQL is unavailable"));
  assert_non_null(strstr(a.status.message, PGML_OUTAGE_PGDIR));  /* libpq's reason names the socket */

  /* A request without a deadline that is waiting when the server comes back
   * is served: nothing but the server restarting is needed. */
  dbtest_result_t b = {0};
  assert_int_equal(pgmld_pool_acquire(pool, 0, on_status, &b, NULL, &st), 0);
  cluster("start");
  dbtest_run_until(t, &b.done);
  assert_int_equal(b.status.code, PGMLD_OK);

  c = dbtest_acquire(t, pool, 0, &st);
  assert_int_equal(st.code, PGMLD_OK);
  dbtest_sql(t, c, "SELECT 2", &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_string_equal(r.value, "2");
  pgmld_pool_release(c);
  for (int i = 0;; i++) {
    pgmld_pool_stats(pool, &stats);
    if (stats.idle == 2) break;
    if (i > 10000) fail_msg("the pool did not reconnect both connections");
    dbtest_run_for(t, 10);
  }
  assert_int_equal(stats.broken, 0);
  assert_true(stats.connects >= 4);
  dbtest_pool_close(t, pool);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_stop_and_start, dbtest_setup, dbtest_teardown),
  };
  return cmocka_run_group_tests_name("db_outage", tests, group_setup, group_teardown);
}
