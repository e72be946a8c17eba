/* migrate.c - the pgvector check and pgmld's versioned schema migrations. */
#include "db/migrate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

#define WHERE "migrate"

/* ------------------------------------------------------------------ the migrations */

static const char *const m1_initial[] = {
    "CREATE TABLE pgmld.collections ("
    " id bigserial PRIMARY KEY,"
    " name text NOT NULL,"
    " archived boolean NOT NULL DEFAULT false,"
    " archived_at timestamptz,"
    " created_at timestamptz NOT NULL DEFAULT now())",
    "CREATE UNIQUE INDEX collections_name_active ON pgmld.collections (name) WHERE NOT archived",
    "CREATE TABLE pgmld.pipelines ("
    " id bigserial PRIMARY KEY,"
    " collection_id bigint NOT NULL REFERENCES pgmld.collections ON DELETE CASCADE,"
    " name text NOT NULL,"
    " spec jsonb NOT NULL,"
    " dimensions int NOT NULL,"
    " enabled boolean NOT NULL DEFAULT true,"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " UNIQUE (collection_id, name))",
    "CREATE TABLE pgmld.documents ("
    " id bigserial PRIMARY KEY,"
    " collection_id bigint NOT NULL REFERENCES pgmld.collections ON DELETE CASCADE,"
    " doc_id text NOT NULL,"
    " document jsonb NOT NULL,"
    " updated_at timestamptz NOT NULL DEFAULT now(),"
    " UNIQUE (collection_id, doc_id))",
    "CREATE INDEX documents_document_gin ON pgmld.documents USING gin (document jsonb_path_ops)",
    NULL,
};

/* A counter that every transaction changing collections or pipelines
 * bumps: a daemon that caches the catalog reads it in the same round trip
 * as each search and reads the catalog again when it moved
 * (services/catalog_cache.c).  The triggers are deferred to the commit,
 * still inside the transaction: the row stays locked only while
 * committing, so a long AddPipeline does not hold up every other catalog
 * change; and they fire only for rows really changed (a CreateOrGet of an
 * existing collection does not bump it). */
static const char *const m2_catalog_version[] = {
    "CREATE TABLE pgmld.catalog_version ("
    " one boolean PRIMARY KEY DEFAULT true CHECK (one),"
    " v bigint NOT NULL)",
    "INSERT INTO pgmld.catalog_version (v) VALUES (1)",
    "CREATE FUNCTION pgmld.catalog_version_bump() RETURNS trigger LANGUAGE plpgsql AS"
    " $$BEGIN UPDATE pgmld.catalog_version SET v = v + 1; RETURN NULL; END$$",
    "CREATE CONSTRAINT TRIGGER collections_catalog_version"
    " AFTER INSERT OR UPDATE OR DELETE ON pgmld.collections"
    " DEFERRABLE INITIALLY DEFERRED"
    " FOR EACH ROW EXECUTE FUNCTION pgmld.catalog_version_bump()",
    "CREATE CONSTRAINT TRIGGER pipelines_catalog_version"
    " AFTER INSERT OR UPDATE OR DELETE ON pgmld.pipelines"
    " DEFERRABLE INITIALLY DEFERRED"
    " FOR EACH ROW EXECUTE FUNCTION pgmld.catalog_version_bump()",
    "CREATE TRIGGER collections_catalog_version_truncate"
    " AFTER TRUNCATE ON pgmld.collections"
    " FOR EACH STATEMENT EXECUTE FUNCTION pgmld.catalog_version_bump()",
    "CREATE TRIGGER pipelines_catalog_version_truncate"
    " AFTER TRUNCATE ON pgmld.pipelines"
    " FOR EACH STATEMENT EXECUTE FUNCTION pgmld.catalog_version_bump()",
    NULL,
};

static const pgmld_migration_t migrations[] = {
    {1, "initial schema", m1_initial},
    {2, "catalog version", m2_catalog_version},
};

const pgmld_migration_t *pgmld_migrations(size_t *n) {
  *n = PGMLD_ARRAY_LEN(migrations);
  return migrations;
}

/* pgvector added HNSW indexes in 0.5.0 and iterative index scans in 0.8.0. */
#define PGVECTOR_MIN_MAJOR 0
#define PGVECTOR_MIN_MINOR 5
#define PGVECTOR_ITERATIVE_MINOR 8

/* ------------------------------------------------------------------ a run */

typedef struct migrate_s {
  pgmld_pool_t *pool;
  pgmld__migrate_plan_t plan;     /* borrowed: must outlive the run */
  uint64_t deadline;
  pgmld_migrate_cb cb;
  void *data;
  pgmld_pool_conn_t *conn;        /* the lease, once acquired */
  pgmld_migrate_result_t result;
  size_t next;                    /* migration being applied */
  char create_sql[96];            /* CREATE EXTENSION IF NOT EXISTS "<ext>" */
  char lock_key[24];              /* PGMLD_MIGRATE_LOCK_KEY as text */
  char version[16];               /* migration version as text */
} migrate_t;

static void lock_step(migrate_t *m);

/* Ends the run: the lease goes back (rolling back anything left open) and
 * the caller hears the outcome.  Frees `m`. */
static void finish(migrate_t *m, const pgmld_status_t *st) {
  if (m->conn) pgmld_pool_release(m->conn);
  if (pgmld_status_ok(st)) {
    pgmld_log_info(WHERE, "schema version %d (%u applied), pgvector %s", m->result.schema_version,
                   m->result.applied, m->result.pgvector_version);
    m->cb(&m->result, st, m->data);
  } else {
    pgmld_log_error(WHERE, "%s", st->message);
    m->cb(NULL, st, m->data);
  }
  pgmld_free(m);
}

static void fail(migrate_t *m, pgmld_code_t code, const char *fmt, ...) PGMLD_PRINTF(3, 4);
static void fail(migrate_t *m, pgmld_code_t code, const char *fmt, ...) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  char msg[PGMLD_STATUS_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  pgmld_status_set(&st, code, "%s", msg);
  finish(m, &st);
}

int pgmld__pgvector_parse(const char *version, int *major, int *minor, int *patch) {
  long part[3] = {0, 0, 0};
  const char *p = version;
  int i;
  if (!version) return -EINVAL;
  for (i = 0; i < 3; i++) {
    char *end;
    if (*p < '0' || *p > '9') return -EINVAL;
    part[i] = strtol(p, &end, 10);
    if (part[i] > 100000) return -EINVAL;
    p = end;
    if (*p != '.') break;
    p++;
  }
  if (i < 1 || (*p != '\0' && *p != '-')) return -EINVAL;  /* "0.8.0-dev" is fine */
  *major = (int)part[0];
  *minor = (int)part[1];
  *patch = (int)part[2];
  return 0;
}

/* Step 4: one migration, its bookkeeping row and COMMIT in one round trip. */
static void on_applied(pgmld_pool_conn_t *conn, PGresult *const *results, size_t n,
                       const pgmld_status_t *st, void *data) {
  migrate_t *m = data;
  const pgmld_migration_t *mg = &m->plan.migrations[m->next];
  if (!pgmld_status_ok(st)) {
    fail(m, st->code == PGMLD_UNAVAILABLE || st->code == PGMLD_DEADLINE_EXCEEDED ? st->code : PGMLD_INTERNAL,
         "migration %d (%s) failed: %s", mg->version, mg->name, st->message);
    return;
  }
  pgmld_log_info(WHERE, "applied migration %d (%s)", mg->version, mg->name);
  m->result.schema_version = mg->version;
  m->result.applied++;
  lock_step(m);
}

static void apply(migrate_t *m) {
  const pgmld_migration_t *mg = &m->plan.migrations[m->next];
  pgmld_status_t st = PGMLD_STATUS_INIT;
  size_t count = 0;
  while (mg->sql[count]) count++;
  pgmld_pool_stmt_t *stmts = pgmld_calloc(count + 2, sizeof(*stmts));
  if (!stmts) {
    fail(m, PGMLD_INTERNAL, "out of memory applying migration %d", mg->version);
    return;
  }
  for (size_t i = 0; i < count; i++) stmts[i].sql = mg->sql[i];
  snprintf(m->version, sizeof(m->version), "%d", mg->version);
  const char *values[2] = {m->version, mg->name};
  stmts[count].sql = "INSERT INTO pgmld.schema_migrations (version, name) VALUES ($1::int, $2)";
  stmts[count].nparams = 2;
  stmts[count].values = values;
  stmts[count + 1].sql = "COMMIT";
  /* The pool copies statements and values before it returns. */
  int rc = pgmld_pool_batch(m->conn, stmts, count + 2, on_applied, m, &st);
  pgmld_free(stmts);
  if (rc < 0) finish(m, &st);
}

static void on_committed(pgmld_pool_conn_t *conn, PGresult *res, const pgmld_status_t *st, void *data) {
  migrate_t *m = data;
  if (!pgmld_status_ok(st)) {
    finish(m, st);
    return;
  }
  pgmld_status_t ok = PGMLD_STATUS_INIT;
  finish(m, &ok);
}

/* Step 3, with the lock held: what version is the database at now? */
static void on_locked(pgmld_pool_conn_t *conn, PGresult *const *results, size_t n,
                      const pgmld_status_t *st, void *data) {
  migrate_t *m = data;
  pgmld_status_t st2 = PGMLD_STATUS_INIT;
  if (!pgmld_status_ok(st)) {
    fail(m, st->code, "reading the schema version: %s", st->message);
    return;
  }
  const PGresult *res = results[2];
  if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
    fail(m, PGMLD_INTERNAL, "reading the schema version: unexpected answer");
    return;
  }
  int current = atoi(PQgetvalue(res, 0, 0));
  int newest = m->plan.n ? m->plan.migrations[m->plan.n - 1].version : 0;
  m->result.schema_version = current;
  if (current > newest) {
    fail(m, PGMLD_FAILED_PRECONDITION,
         "the database's pgmld schema is version %d, newer than this pgmld knows (%d): "
         "upgrade pgmld, or point it at another database",
         current, newest);
    return;
  }
  m->next = 0;
  while (m->next < m->plan.n && m->plan.migrations[m->next].version <= current) m->next++;
  if (m->next < m->plan.n) {
    apply(m);
    return;
  }
  pgmld_pool_stmt_t commit = {.sql = "COMMIT"};
  if (pgmld_pool_query(m->conn, &commit, on_committed, m, &st2) < 0) finish(m, &st2);
}

/* Takes the lock in a new transaction and reads the version under it:
 * another daemon may have migrated while this one waited for the lock. */
static void lock_step(migrate_t *m) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  const char *key[1] = {m->lock_key};
  pgmld_pool_stmt_t stmts[3] = {
      {.sql = "BEGIN"},
      {.sql = "SELECT pg_advisory_xact_lock($1::bigint)", .nparams = 1, .values = key},
      {.sql = "SELECT coalesce(max(version), 0) FROM pgmld.schema_migrations"},
  };
  if (pgmld_pool_batch(m->conn, stmts, 3, on_locked, m, &st) < 0) finish(m, &st);
}

enum { B_BEGIN, B_LOCK, B_EXTENSION, B_SCHEMA, B_TABLE, B_VERSION, B_COMMIT, B_COUNT };

/* Step 2: extension, schema and bookkeeping table, and pgvector's version. */
static void on_bootstrapped(pgmld_pool_conn_t *conn, PGresult *const *results, size_t n,
                            const pgmld_status_t *st, void *data) {
  migrate_t *m = data;
  if (!pgmld_status_ok(st)) {
    const PGresult *ext = results[B_EXTENSION];
    if (ext && PQresultStatus(ext) == PGRES_FATAL_ERROR)
      fail(m, PGMLD_FAILED_PRECONDITION,
           "cannot create the extension %s: %s; a superuser must run CREATE EXTENSION %s in this "
           "database once",
           m->plan.extension, st->message, m->plan.extension);
    else
      fail(m, st->code, "preparing the pgmld schema: %s", st->message);
    return;
  }
  const PGresult *res = results[B_VERSION];
  if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
    fail(m, PGMLD_INTERNAL, "the extension %s is not installed after CREATE EXTENSION", m->plan.extension);
    return;
  }
  snprintf(m->result.pgvector_version, sizeof(m->result.pgvector_version), "%s", PQgetvalue(res, 0, 0));
  int major, minor, patch;
  if (pgmld__pgvector_parse(m->result.pgvector_version, &major, &minor, &patch) < 0) {
    fail(m, PGMLD_FAILED_PRECONDITION, "cannot read the %s extension's version \"%s\"", m->plan.extension,
         m->result.pgvector_version);
    return;
  }
  if (major < PGVECTOR_MIN_MAJOR || (major == PGVECTOR_MIN_MAJOR && minor < PGVECTOR_MIN_MINOR)) {
    fail(m, PGMLD_FAILED_PRECONDITION,
         "pgvector %s is too old: pgmld needs 0.%d.0 or newer (HNSW indexes); install a newer pgvector "
         "and run ALTER EXTENSION vector UPDATE",
         m->result.pgvector_version, PGVECTOR_MIN_MINOR);
    return;
  }
  m->result.pgvector_iterative_scan = major > 0 || minor >= PGVECTOR_ITERATIVE_MINOR;
  if (!m->result.pgvector_iterative_scan)
    pgmld_log_warn(WHERE, "pgvector %s has no iterative index scans (0.8.0 or newer): filtered "
                   "searches may return fewer results than asked for", m->result.pgvector_version);
  lock_step(m);
}

static void bootstrap(migrate_t *m) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  const char *key[1] = {m->lock_key};
  const char *ext[1] = {m->plan.extension};
  pgmld_pool_stmt_t stmts[B_COUNT] = {
      [B_BEGIN] = {.sql = "BEGIN"},
      /* Two daemons creating the extension or the schema at once would
       * collide on the catalogs' unique indexes. */
      [B_LOCK] = {.sql = "SELECT pg_advisory_xact_lock($1::bigint)", .nparams = 1, .values = key},
      [B_EXTENSION] = {.sql = m->create_sql},
      [B_SCHEMA] = {.sql = "CREATE SCHEMA IF NOT EXISTS pgmld"},
      [B_TABLE] = {.sql = "CREATE TABLE IF NOT EXISTS pgmld.schema_migrations ("
                          " version int PRIMARY KEY,"
                          " name text NOT NULL,"
                          " applied_at timestamptz NOT NULL DEFAULT now())"},
      [B_VERSION] = {.sql = "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = $1",
                     .nparams = 1, .values = ext},
      [B_COMMIT] = {.sql = "COMMIT"},
  };
  if (pgmld_pool_batch(m->conn, stmts, B_COUNT, on_bootstrapped, m, &st) < 0) finish(m, &st);
}

/* Step 1: is the extension there to be created? */
static void on_checked(pgmld_pool_conn_t *conn, PGresult *res, const pgmld_status_t *st, void *data) {
  migrate_t *m = data;
  if (!pgmld_status_ok(st)) {
    fail(m, st->code, "checking for the %s extension: %s", m->plan.extension, st->message);
    return;
  }
  if (PQntuples(res) == 0) {
    int major = pgmld_pool_conn_server_version(conn) / 10000;
    fail(m, PGMLD_FAILED_PRECONDITION,
         "PostgreSQL %d has no pgvector: the extension \"%s\" is not in pg_available_extensions. "
         "Install pgvector on the database server: on Debian or Ubuntu the package "
         "postgresql-%d-pgvector from the PGDG apt repository (apt.postgresql.org), or build it from "
         "source (github.com/pgvector/pgvector); or set embedded.postgres_bindir to a PostgreSQL "
         "that has it",
         major, m->plan.extension, major);
    return;
  }
  bootstrap(m);
}

static void on_acquired(pgmld_pool_conn_t *conn, const pgmld_status_t *st, void *data) {
  migrate_t *m = data;
  pgmld_status_t st2 = PGMLD_STATUS_INIT;
  if (!pgmld_status_ok(st)) {
    fail(m, st->code, "migrating the schema: %s", st->message);
    return;
  }
  m->conn = conn;
  const char *ext[1] = {m->plan.extension};
  pgmld_pool_stmt_t check = {
      .sql = "SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = $1",
      .nparams = 1,
      .values = ext,
  };
  if (pgmld_pool_query(conn, &check, on_checked, m, &st2) < 0) finish(m, &st2);
}

static int plan_check(const pgmld__migrate_plan_t *plan, pgmld_status_t *st) {
  const char *e = plan->extension;
  size_t len = e ? strlen(e) : 0;
  if (len == 0 || len > 63 || strspn(e, "abcdefghijklmnopqrstuvwxyz0123456789_") != len) {
    pgmld_status_set(st, PGMLD_INTERNAL, "migrate: extension name \"%s\" is not a plain lower-case identifier",
                     e ? e : "");
    return -EINVAL;
  }
  for (size_t i = 0; i < plan->n; i++) {
    const pgmld_migration_t *mg = &plan->migrations[i];
    if (mg->version <= 0 || (i > 0 && mg->version <= plan->migrations[i - 1].version) || !mg->name ||
        !mg->sql || !mg->sql[0]) {
      pgmld_status_set(st, PGMLD_INTERNAL,
                       "migrate: migration %zu (version %d) is malformed: versions must be positive and "
                       "increasing, with a name and at least one statement",
                       i, mg->version);
      return -EINVAL;
    }
    size_t count = 0;
    while (mg->sql[count]) count++;
    if (count + 2 > PGMLD_POOL_BATCH_MAX) {
      pgmld_status_set(st, PGMLD_INTERNAL, "migrate: migration %d has %zu statements, too many", mg->version,
                       count);
      return -EINVAL;
    }
  }
  return 0;
}

int pgmld__migrate_run(pgmld_pool_t *pool, const pgmld__migrate_plan_t *plan, uint64_t deadline_ms,
                       pgmld_migrate_cb cb, void *data, pgmld_status_t *st) {
  int rc;
  if (!pool || !plan || !cb) {
    pgmld_status_set(st, PGMLD_INTERNAL, "migrate: no pool, plan or callback");
    return -EINVAL;
  }
  if ((rc = plan_check(plan, st)) < 0) return rc;
  migrate_t *m = pgmld_calloc(1, sizeof(*m));
  if (!m) {
    pgmld_status_set(st, PGMLD_INTERNAL, "out of memory starting the schema migration");
    return -ENOMEM;
  }
  m->pool = pool;
  m->plan = *plan;
  m->deadline = deadline_ms;
  m->cb = cb;
  m->data = data;
  snprintf(m->create_sql, sizeof(m->create_sql), "CREATE EXTENSION IF NOT EXISTS \"%s\"", plan->extension);
  snprintf(m->lock_key, sizeof(m->lock_key), "%" PRId64, PGMLD_MIGRATE_LOCK_KEY);
  rc = pgmld_pool_acquire(pool, deadline_ms, on_acquired, m, NULL, st);
  if (rc < 0) pgmld_free(m);
  return rc;
}

int pgmld_migrate(pgmld_pool_t *pool, uint64_t deadline_ms, pgmld_migrate_cb cb, void *data,
                  pgmld_status_t *st) {
  pgmld__migrate_plan_t plan = {"vector", migrations, PGMLD_ARRAY_LEN(migrations)};
  return pgmld__migrate_run(pool, &plan, deadline_ms, cb, data, st);
}
