/* migrate.h - pgmld's schema in PostgreSQL: the pgvector check and the
 * versioned migrations applied at start-up (docs/schema.md).
 *
 * A run, on one connection leased from the pool, never blocking the loop:
 *   1. the extension must be in pg_available_extensions, or the run fails
 *      with a message that says how to install pgvector;
 *   2. under pg_advisory_xact_lock(PGMLD_MIGRATE_LOCK_KEY), in one
 *      transaction: CREATE EXTENSION IF NOT EXISTS vector, the schema pgmld
 *      and pgmld.schema_migrations; the installed pgvector version is read;
 *   3. each migration newer than the database's version, in its own
 *      transaction, again under the advisory lock, re-reading the version
 *      once the lock is held: several daemons starting at once apply each
 *      migration exactly once.
 * A database whose version is newer than the newest migration this binary
 * knows is refused (FAILED_PRECONDITION).
 *
 * Errors: functions return 0 or a negative errno (callback not called, `st`
 * says why); the callback gets a pgmld_status_t.
 */
#ifndef PGMLD_DB_MIGRATE_H
#define PGMLD_DB_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"
#include "db/pool.h"
#include "rpc/status.h"

/* The advisory lock every pgmld takes while it changes the schema. */
#define PGMLD_MIGRATE_LOCK_KEY INT64_C(0x70676d6c64)  /* "pgmld" */

/* One migration: statements run in order in one transaction.  Pipeline mode
 * sends each statement separately, so `sql` holds one statement per entry. */
typedef struct pgmld_migration_s {
  int version;               /* > 0, strictly increasing in a list */
  const char *name;
  const char *const *sql;    /* NULL-terminated */
} pgmld_migration_t;

typedef struct pgmld_migrate_result_s {
  int schema_version;         /* the database's version after the run */
  unsigned applied;           /* migrations this run applied */
  char pgvector_version[32];  /* installed extversion, e.g. "0.8.2" */
  int pgvector_iterative_scan;/* pgvector >= 0.8: hnsw.iterative_scan exists */
} pgmld_migrate_result_t;

/* `result` is NULL unless the status is OK.  Both borrowed. */
typedef void (*pgmld_migrate_cb)(const pgmld_migrate_result_t *result, const pgmld_status_t *status,
                                 void *data);

/* Brings the database behind `pool` to this binary's schema.  `deadline_ms`
 * (loop clock, 0 none) bounds the wait for a connection and each statement.
 * The pool must outlive the run. */
PGMLD_MUST_CHECK int pgmld_migrate(pgmld_pool_t *pool, uint64_t deadline_ms, pgmld_migrate_cb cb,
                                   void *data, pgmld_status_t *st);

/* The migrations this binary knows, oldest first; *n gets the count. */
const pgmld_migration_t *pgmld_migrations(size_t *n);

/* For tests: the extension to require and the migrations to apply. */
typedef struct pgmld__migrate_plan_s {
  const char *extension;                 /* lower-case identifier */
  const pgmld_migration_t *migrations;
  size_t n;
} pgmld__migrate_plan_t;

PGMLD_MUST_CHECK int pgmld__migrate_run(pgmld_pool_t *pool, const pgmld__migrate_plan_t *plan,
                                        uint64_t deadline_ms, pgmld_migrate_cb cb, void *data,
                                        pgmld_status_t *st);

/* Parses "0.8.2" (or "0.8") into *major, *minor, *patch.  Returns 0 or
 * -EINVAL. */
PGMLD_MUST_CHECK int pgmld__pgvector_parse(const char *version, int *major, int *minor, int *patch);

#endif
