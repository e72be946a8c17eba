/* dbtest.h - helpers for the db-layer tests: a throw-away database per
 * test on the fixture's PostgreSQL, a loop, and running it until a flag. */
#ifndef PGML_TEST_DBTEST_H
#define PGML_TEST_DBTEST_H

#include <stdint.h>

#include <libpq-fe.h>
#include <uv.h>

#include "db/pool.h"

typedef struct dbtest_s {
  uv_loop_t loop;
  PGconn *admin;          /* blocking connection to the test database */
  char pghost[256];
  char dbname[64];
  char conninfo[512];     /* for a pool on the test database */
  long live_at_start;     /* pgmld_alloc_live() before the test */
} dbtest_t;

/* cmocka setup/teardown: creates (drops) database pooltest_<pid>_<n>. */
int dbtest_setup(void **state);
int dbtest_teardown(void **state);

/* Runs the loop until *flag is non-zero.  Fails the test after 120 s of
 * wall time (a hang, not a timing check). */
void dbtest_run_until(dbtest_t *t, const int *flag);
/* Runs the loop for at least `ms` milliseconds. */
void dbtest_run_for(dbtest_t *t, unsigned ms);

/* Runs `sql` on the admin connection and returns the first value of the
 * first row as a long (0 for none); fails the test on an error. */
long dbtest_scalar(dbtest_t *t, const char *sql);
/* Runs `sql` on the admin connection; fails the test on an error. */
void dbtest_exec(dbtest_t *t, const char *sql);

/* What a statement's callback saw, copied out of the borrowed result. */
typedef struct dbtest_result_s {
  int done;
  pgmld_status_t status;
  int has_result;           /* a PGresult was given */
  ExecStatusType rs;
  char sqlstate[6];
  int ntuples;
  int value_null;           /* row 0 column 0 */
  int value_len;
  char value[256];          /* NUL-terminated copy (binary: first bytes) */
} dbtest_result_t;

/* A pool on the test's database; `cfg` may be NULL (size 2), and its
 * conninfo, when NULL, is the test database.  Fails the test on error. */
pgmld_pool_t *dbtest_pool(dbtest_t *t, const pgmld_pool_config_t *cfg);
/* Closes the pool and runs the loop until its close callback ran. */
void dbtest_pool_close(dbtest_t *t, pgmld_pool_t *pool);

/* Acquires and waits: the lease, or NULL with *st set. */
pgmld_pool_conn_t *dbtest_acquire(dbtest_t *t, pgmld_pool_t *pool, uint64_t deadline_ms,
                                  pgmld_status_t *st);
/* Starts a statement whose outcome lands in *out (out->done once called). */
void dbtest_query_start(pgmld_pool_conn_t *c, const pgmld_pool_stmt_t *s, dbtest_result_t *out);
/* Runs a statement and waits for its callback. */
void dbtest_query(dbtest_t *t, pgmld_pool_conn_t *c, const pgmld_pool_stmt_t *s, dbtest_result_t *out);
/* Runs plain SQL with no parameters on a lease and waits. */
void dbtest_sql(dbtest_t *t, pgmld_pool_conn_t *c, const char *sql, dbtest_result_t *out);
/* Copies what a result callback saw into *out. */
void dbtest_capture(dbtest_result_t *out, PGresult *res, const pgmld_status_t *st);

#endif
