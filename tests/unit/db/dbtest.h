/* dbtest.h - helpers for the db-layer tests: a throw-away database per
 * test on the fixture's PostgreSQL, a loop, and running it until a flag. */
#ifndef PGML_TEST_DBTEST_H
#define PGML_TEST_DBTEST_H

#include <libpq-fe.h>
#include <uv.h>

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

#endif
