/* test_migrate.c - schema migrations against a real PostgreSQL: applied
 * once, idempotent, safe when two pools run them at once, refusing a newer
 * schema, rolling back a failed migration, and the pgvector check. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db/migrate.h"
#include "db/pool.h"
#include "dbtest.h"

typedef struct run_s {
  int done;
  pgmld_status_t status;
  int has_result;
  pgmld_migrate_result_t result;
} run_t;

static void on_migrated(const pgmld_migrate_result_t *result, const pgmld_status_t *st, void *data) {
  run_t *r = data;
  r->status = *st;
  r->has_result = result != NULL;
  if (result) r->result = *result;
  r->done = 1;
}

static void run_plan(dbtest_t *t, pgmld_pool_t *pool, const pgmld__migrate_plan_t *plan, run_t *r) {
  pgmld_status_t err = PGMLD_STATUS_INIT;
  memset(r, 0, sizeof(*r));
  int rc = plan ? pgmld__migrate_run(pool, plan, 0, on_migrated, r, &err)
                : pgmld_migrate(pool, 0, on_migrated, r, &err);
  if (rc < 0) fail_msg("migrate: %s", err.message);
  assert_int_equal(r->done, 0);
  dbtest_run_until(t, &r->done);
}

static void test_pgvector_parse(void **state) {
  (void)state;
  int a, b, c;
  assert_int_equal(pgmld__pgvector_parse("0.8.2", &a, &b, &c), 0);
  assert_int_equal(a, 0);
  assert_int_equal(b, 8);
  assert_int_equal(c, 2);
  assert_int_equal(pgmld__pgvector_parse("0.7", &a, &b, &c), 0);
  assert_int_equal(b, 7);
  assert_int_equal(c, 0);
  assert_int_equal(pgmld__pgvector_parse("1.0.0-dev", &a, &b, &c), 0);
  assert_int_equal(a, 1);
  assert_int_equal(pgmld__pgvector_parse("", &a, &b, &c), -EINVAL);
  assert_int_equal(pgmld__pgvector_parse("x.1", &a, &b, &c), -EINVAL);
  assert_int_equal(pgmld__pgvector_parse("0.8.2 beta", &a, &b, &c), -EINVAL);
  assert_int_equal(pgmld__pgvector_parse(NULL, &a, &b, &c), -EINVAL);
}

static void test_migrate_twice(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = dbtest_pool(t, NULL);
  run_t r;
  size_t n;
  const pgmld_migration_t *all = pgmld_migrations(&n);
  assert_true(n >= 1);

  run_plan(t, pool, NULL, &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_true(r.has_result);
  assert_int_equal(r.result.applied, n);
  assert_int_equal(r.result.schema_version, all[n - 1].version);
  int major, minor, patch;
  assert_int_equal(pgmld__pgvector_parse(r.result.pgvector_version, &major, &minor, &patch), 0);
  assert_int_equal(r.result.pgvector_iterative_scan, major > 0 || minor >= 8);
  /* The static tables of docs/schema.md are there. */
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM pg_extension WHERE extname = 'vector'"), 1);
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM pg_tables WHERE schemaname = 'pgmld' AND tablename IN "
                                    "('schema_migrations', 'collections', 'pipelines', 'documents')"),
                   4);
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM pgmld.schema_migrations"), (long)n);
  dbtest_exec(t, "INSERT INTO pgmld.collections (name) VALUES ('kept')");

  /* Again: nothing to do, nothing lost. */
  run_plan(t, pool, NULL, &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  assert_int_equal(r.result.applied, 0);
  assert_int_equal(r.result.schema_version, all[n - 1].version);
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM pgmld.schema_migrations"), (long)n);
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM pgmld.collections"), 1);

  /* The lease went back clean: no transaction left open on the pool. */
  pgmld_pool_stats_t stats;
  pgmld_pool_stats(pool, &stats);
  assert_int_equal(stats.busy, 0);
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND state LIKE 'idle in transaction%'"),
                   0);
  dbtest_pool_close(t, pool);
}

/* Two migrations that would fail if run twice (CREATE TABLE without IF NOT
 * EXISTS, and an INSERT into a table with a unique key). */
static const char *const conc1[] = {"CREATE TABLE pgmld.conc (id int PRIMARY KEY)",
                                    "INSERT INTO pgmld.conc VALUES (1)", NULL};
static const char *const conc2[] = {"INSERT INTO pgmld.conc VALUES (2)", "SELECT pg_sleep(0.2)", NULL};
static const pgmld_migration_t conc_migrations[] = {{1, "one", conc1}, {2, "two", conc2}};

static void test_migrate_concurrently(void **state) {
  dbtest_t *t = *state;
  pgmld__migrate_plan_t plan = {"vector", conc_migrations, 2};
  pgmld_pool_t *p1 = dbtest_pool(t, NULL);
  pgmld_pool_t *p2 = dbtest_pool(t, NULL);
  run_t r1 = {0}, r2 = {0};
  pgmld_status_t err = PGMLD_STATUS_INIT;
  assert_int_equal(pgmld__migrate_run(p1, &plan, 0, on_migrated, &r1, &err), 0);
  assert_int_equal(pgmld__migrate_run(p2, &plan, 0, on_migrated, &r2, &err), 0);
  dbtest_run_until(t, &r1.done);
  dbtest_run_until(t, &r2.done);
  assert_int_equal(r1.status.code, PGMLD_OK);
  assert_int_equal(r2.status.code, PGMLD_OK);
  /* Each migration ran exactly once, whichever pool ran it. */
  assert_int_equal(r1.result.applied + r2.result.applied, 2);
  assert_int_equal(r1.result.schema_version, 2);
  assert_int_equal(r2.result.schema_version, 2);
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM pgmld.conc"), 2);
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM pgmld.schema_migrations"), 2);
  dbtest_pool_close(t, p1);
  dbtest_pool_close(t, p2);
}

static void test_newer_schema_refused(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = dbtest_pool(t, NULL);
  run_t r;
  run_plan(t, pool, NULL, &r);
  assert_int_equal(r.status.code, PGMLD_OK);
  dbtest_exec(t, "INSERT INTO pgmld.schema_migrations (version, name) VALUES (999, 'from the future')");
  run_plan(t, pool, NULL, &r);
  assert_int_equal(r.status.code, PGMLD_FAILED_PRECONDITION);
  assert_false(r.has_result);
  assert_non_null(strstr(r.status.message, "version 999"));
  assert_non_null(strstr(r.status.message, "newer"));
  dbtest_pool_close(t, pool);
}

static const char *const good1[] = {"CREATE TABLE pgmld.good (x int)", NULL};
static const char *const bad2[] = {"CREATE TABLE pgmld.half (x int)", "SELEC broken", NULL};
static const pgmld_migration_t bad_migrations[] = {{1, "good", good1}, {2, "bad", bad2}};

static void test_failed_migration_rolled_back(void **state) {
  dbtest_t *t = *state;
  pgmld__migrate_plan_t plan = {"vector", bad_migrations, 2};
  pgmld_pool_t *pool = dbtest_pool(t, &(pgmld_pool_config_t){.size = 1});
  run_t r;
  run_plan(t, pool, &plan, &r);
  assert_int_not_equal(r.status.code, PGMLD_OK);
  assert_non_null(strstr(r.status.message, "migration 2 (bad)"));
  assert_non_null(strstr(r.status.message, "42601"));
  /* Migration 1 stays, nothing of migration 2 does. */
  assert_int_equal(dbtest_scalar(t, "SELECT max(version) FROM pgmld.schema_migrations"), 1);
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM pg_tables WHERE schemaname = 'pgmld' AND tablename = 'good'"), 1);
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM pg_tables WHERE schemaname = 'pgmld' AND tablename = 'half'"), 0);

  /* The pool's only connection came back usable. */
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_pool_conn_t *c = dbtest_acquire(t, pool, 0, &st);
  dbtest_result_t q;
  dbtest_sql(t, c, "SELECT count(*) FROM pgmld.good", &q);
  assert_int_equal(q.status.code, PGMLD_OK);
  pgmld_pool_release(c);
  dbtest_pool_close(t, pool);
}

static void test_missing_extension_message(void **state) {
  dbtest_t *t = *state;
  pgmld__migrate_plan_t plan = {"pgmld_no_such_extension", conc_migrations, 2};
  pgmld_pool_t *pool = dbtest_pool(t, NULL);
  run_t r;
  run_plan(t, pool, &plan, &r);
  assert_int_equal(r.status.code, PGMLD_FAILED_PRECONDITION);
  assert_false(r.has_result);
  /* Says what is missing and how to install it. */
  long major = dbtest_scalar(t, "SELECT current_setting('server_version_num')::int / 10000");
  char pkg[64];
  snprintf(pkg, sizeof(pkg), "postgresql-%ld-pgvector", major);
  assert_non_null(strstr(r.status.message, "pgmld_no_such_extension"));
  assert_non_null(strstr(r.status.message, "pg_available_extensions"));
  assert_non_null(strstr(r.status.message, pkg));
  assert_non_null(strstr(r.status.message, "build it from source"));
  assert_non_null(strstr(r.status.message, "embedded.postgres_bindir"));
  /* Nothing was created. */
  assert_int_equal(dbtest_scalar(t, "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgmld'"), 0);
  dbtest_pool_close(t, pool);
}

static void test_bad_plans(void **state) {
  dbtest_t *t = *state;
  pgmld_pool_t *pool = dbtest_pool(t, NULL);
  run_t r = {0};
  pgmld_status_t err = PGMLD_STATUS_INIT;
  const pgmld_migration_t backwards[] = {{2, "two", good1}, {1, "one", good1}};
  pgmld__migrate_plan_t plan = {"vector", backwards, 2};
  assert_int_equal(pgmld__migrate_run(pool, &plan, 0, on_migrated, &r, &err), -EINVAL);
  assert_non_null(strstr(err.message, "increasing"));
  err = (pgmld_status_t)PGMLD_STATUS_INIT;
  pgmld__migrate_plan_t quoted = {"vector\"; DROP", conc_migrations, 2};
  assert_int_equal(pgmld__migrate_run(pool, &quoted, 0, on_migrated, &r, &err), -EINVAL);
  assert_non_null(strstr(err.message, "identifier"));
  dbtest_run_for(t, 10);
  assert_int_equal(r.done, 0);
  dbtest_pool_close(t, pool);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pgvector_parse),
      cmocka_unit_test_setup_teardown(test_migrate_twice, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_migrate_concurrently, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_newer_schema_refused, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_failed_migration_rolled_back, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_missing_extension_message, dbtest_setup, dbtest_teardown),
      cmocka_unit_test_setup_teardown(test_bad_plans, dbtest_setup, dbtest_teardown),
  };
  return cmocka_run_group_tests_name("db_migrate", tests, NULL, NULL);
}
