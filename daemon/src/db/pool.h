/* pool.h - the asynchronous libpq connection pool on the daemon's libuv loop.
 *
 * A pool owns `size` PostgreSQL connections.  Services lease one with
 * pgmld_pool_acquire(), run statements on it (one at a time, or a batch sent
 * together in pipeline mode), and give it back with pgmld_pool_release().
 * Nothing here blocks the loop thread: connecting, sending, reading and
 * cancelling are all driven by uv_poll / uv_timer / uv_queue_work.
 *
 * Errors, two ways, never mixed in one call:
 *   - A function that starts something returns 0, and then its callback is
 *     called exactly once, later, never from inside the call; or it returns a
 *     negative errno (-EINVAL, -ENOMEM, -EBUSY, -EAGAIN, -ESHUTDOWN), fills
 *     the optional `st` with a message naming what was wrong, and the
 *     callback is never called.
 *   - A callback receives a pgmld_status_t: PGMLD_OK, or the client-visible
 *     code and message (see docs/pool.md for the mapping from PostgreSQL).
 *
 * Time: deadlines are absolute, in the loop's millisecond clock
 * (uv_now(loop) + timeout); 0 means none.
 *
 * All functions must be called on the loop thread.
 */
#ifndef PGMLD_DB_POOL_H
#define PGMLD_DB_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <uv.h>

#include "core/common.h"
#include "rpc/status.h"

typedef struct pgmld_pool_s pgmld_pool_t;
/* A connection; between acquire and release it is the caller's lease. */
typedef struct pgmld_pool_conn_s pgmld_pool_conn_t;
/* A request waiting for a connection; valid until its callback runs. */
typedef struct pgmld_pool_wait_s pgmld_pool_wait_t;

/* Limits a configuration may not exceed. */
#define PGMLD_POOL_SIZE_MAX 1024u
#define PGMLD_POOL_BATCH_MAX 8192u      /* statements in one batch */
#define PGMLD_POOL_PARAMS_MAX 65535     /* the protocol's limit per statement */
#define PGMLD_POOL_NAME_MAX 63u         /* prepared statement name (NAMEDATALEN-1) */

/* Settings.  A field left 0 (or NULL) takes the default named beside it;
 * pgmld_pool_new() refuses values outside the stated ranges. */
typedef struct pgmld_pool_config_s {
  const char *conninfo;           /* URL or key=value string; required; copied */
  const char *application_name;   /* fallback_application_name; "pgmld" */
  unsigned size;                  /* connections, 1..PGMLD_POOL_SIZE_MAX; 4 */
  unsigned connect_timeout_ms;    /* one connection attempt, and one health
                                     check; 10000 */
  unsigned backoff_initial_ms;    /* first reconnect delay; 100 */
  unsigned backoff_max_ms;        /* reconnect delay cap, >= initial; 10000 */
  unsigned idle_check_ms;         /* a connection idle longer than this is
                                     health-checked (one round trip) before it
                                     is leased; 30000 */
  unsigned acquire_timeout_ms;    /* longest wait for a connection when the
                                     caller gives no deadline; 30000 */
  unsigned cancel_timeout_ms;     /* after a cancel is sent, how long to wait
                                     for the server to stop before the
                                     connection is closed instead; 5000 */
  unsigned max_waiters;           /* requests allowed to wait; 4096 */
  unsigned max_prepared;          /* prepared statements cached per
                                     connection; beyond it statements run
                                     unnamed; 256 */
} pgmld_pool_config_t;

typedef struct pgmld_pool_stats_s {
  unsigned size;        /* configured connections */
  unsigned idle;        /* connected, not leased */
  unsigned busy;        /* leased, being health-checked or reset */
  unsigned connecting;  /* a connection attempt is under way */
  unsigned broken;      /* waiting to reconnect, or leased but lost */
  unsigned waiting;     /* requests waiting for a connection */
  uint64_t acquired;    /* leases handed out since start */
  uint64_t wait_us;     /* total time requests spent waiting, microseconds */
  uint64_t prepared;    /* statements prepared (Parse sent) since start */
  uint64_t connects;    /* successful connections since start */
  uint64_t failures;    /* failed attempts and lost connections */
  uint64_t cancels;     /* cancel requests sent to the server */
} pgmld_pool_stats_t;

/* One SQL statement and its parameters, libpq's shape.  Everything it points
 * to is only read during the call that takes it (libpq copies the values
 * into its output buffer), so the caller may free it when the call returns. */
typedef struct pgmld_pool_stmt_s {
  /* NULL: sent unnamed.  Otherwise the name of a prepared statement: the
   * first use on a connection prepares it (in the same round trip), later
   * uses on that connection only execute it.  One name, one SQL text. */
  const char *name;
  const char *sql;
  int nparams;                    /* 0..PGMLD_POOL_PARAMS_MAX */
  const Oid *types;               /* NULL, or nparams OIDs (0: inferred) */
  const char *const *values;      /* nparams values; a NULL entry is SQL NULL */
  const int *lengths;             /* byte lengths of binary values; may be NULL
                                     when no value is binary */
  const int *formats;             /* NULL: all text; else 0 text / 1 binary,
                                     e.g. pgvector's binary vector format */
  int binary_result;              /* 1: result columns in binary */
  unsigned flags;                 /* PGMLD_POOL_STMT_* */
} pgmld_pool_stmt_t;

/* 42P01 undefined_table maps to NOT_FOUND instead of INTERNAL (for a
 * statement on a per-pipeline table that may have been removed). */
#define PGMLD_POOL_STMT_UNDEFINED_TABLE_NOT_FOUND 0x1u
/* With name NULL: prepared all the same, under a name the pool derives from
 * the SQL text (one text, one name).  For statements whose text takes a
 * bounded number of forms (values in parameters): each form takes one of a
 * connection's max_prepared slots, and beyond them statements run unnamed. */
#define PGMLD_POOL_STMT_PREPARE 0x2u

/* `conn` is the lease (NULL on failure).  The status is borrowed. */
typedef void (*pgmld_pool_acquire_cb)(pgmld_pool_conn_t *conn,
                                      const pgmld_status_t *status, void *data);
/* `res` is the statement's result: TUPLES_OK / COMMAND_OK when the status is
 * OK, the error result when PostgreSQL refused it, NULL when there was no
 * answer (connection lost, cancelled before it was sent).  Borrowed: valid
 * until the callback returns, then the pool PQclear()s it. */
typedef void (*pgmld_pool_result_cb)(pgmld_pool_conn_t *conn, PGresult *res,
                                     const pgmld_status_t *status, void *data);
/* results[i] belongs to stmts[i]; an entry is NULL when no answer came for
 * it, or PGRES_PIPELINE_ABORTED when an earlier statement failed.  The
 * status is the first failure.  All borrowed as for pgmld_pool_result_cb. */
typedef void (*pgmld_pool_batch_cb)(pgmld_pool_conn_t *conn, PGresult *const *results,
                                    size_t n, const pgmld_status_t *status, void *data);
typedef void (*pgmld_pool_close_cb)(void *data);

/* Creates the pool and starts connecting all of its connections at once.
 * Copies what it needs from `cfg`.  On failure *out is NULL, `st` names the
 * bad setting (or the libpq parse error, unless the string holds a password),
 * and nothing remains. */
PGMLD_MUST_CHECK int pgmld_pool_new(uv_loop_t *loop, const pgmld_pool_config_t *cfg,
                                    pgmld_pool_t **out, pgmld_status_t *st);

/* Shuts the pool down: waiting requests fail with UNAVAILABLE, new acquires
 * are refused (-ESHUTDOWN); once every lease is released and every cancel in
 * flight is done, all connections and handles are closed.  When the last
 * handle is closed the pool is freed and `cb` (may be NULL) runs.  Calling it
 * twice is a no-op. */
void pgmld_pool_close(pgmld_pool_t *pool, pgmld_pool_close_cb cb, void *data);

/* Changes the number of connections to `size` (1..PGMLD_POOL_SIZE_MAX)
 * without disturbing any lease.  Growing starts connecting the new ones at
 * once.  Shrinking closes the idle (and reconnecting) connections beyond
 * the new size now, and each leased or busy one when it is released and
 * settled; until then pgmld_pool_stats() counts it as busy.  Returns 0, or
 * -EINVAL (size out of range), -ENOMEM (the pool is unchanged) or
 * -ESHUTDOWN, with `st` saying which. */
PGMLD_MUST_CHECK int pgmld_pool_resize(pgmld_pool_t *pool, unsigned size, pgmld_status_t *st);

/* Asks for a connection.  Requests are served first come, first served.  `cb`
 * gets the lease, or a status: DEADLINE_EXCEEDED when `deadline_ms` passed
 * with every connection busy, UNAVAILABLE when it passed while PostgreSQL was
 * unreachable (with the reason), RESOURCE_EXHAUSTED when the pool's
 * acquire_timeout_ms passed (no deadline given), CANCELLED after
 * pgmld_pool_acquire_cancel(), UNAVAILABLE when the pool closes.  The lease
 * keeps `deadline_ms` for the statements run on it.  *out_wait (may be NULL)
 * identifies the request until `cb` runs.  Fails with -EAGAIN when
 * max_waiters requests are already waiting, -ESHUTDOWN when closing. */
PGMLD_MUST_CHECK int pgmld_pool_acquire(pgmld_pool_t *pool, uint64_t deadline_ms,
                                        pgmld_pool_acquire_cb cb, void *data,
                                        pgmld_pool_wait_t **out_wait, pgmld_status_t *st);

/* Gives up a request that has not called back yet: its callback runs with
 * CANCELLED (and if a connection was already chosen for it, the connection
 * goes back to the pool).  Must not be called after the callback ran. */
void pgmld_pool_acquire_cancel(pgmld_pool_wait_t *wait);

/* Runs one statement on the lease.  -EBUSY if a statement is already
 * running on it, -EINVAL for a malformed statement (named in `st`).  A lease
 * whose connection was lost calls back with UNAVAILABLE. */
PGMLD_MUST_CHECK int pgmld_pool_query(pgmld_pool_conn_t *conn, const pgmld_pool_stmt_t *stmt,
                                      pgmld_pool_result_cb cb, void *data, pgmld_status_t *st);

/* Sends `n` statements in one pipeline with one Sync (one round trip), e.g.
 * BEGIN; DELETE; INSERT; INSERT; COMMIT.  After a statement fails the rest
 * are skipped by the server (PGRES_PIPELINE_ABORTED); a transaction the batch
 * opened is then left aborted and is rolled back when the lease is released,
 * or by the caller sending ROLLBACK.  1 <= n <= PGMLD_POOL_BATCH_MAX. */
PGMLD_MUST_CHECK int pgmld_pool_batch(pgmld_pool_conn_t *conn, const pgmld_pool_stmt_t *stmts,
                                      size_t n, pgmld_pool_batch_cb cb, void *data,
                                      pgmld_status_t *st);

/* Replaces the lease's deadline; it applies to the statement running now and
 * to later ones.  0 removes it. */
void pgmld_pool_set_deadline(pgmld_pool_conn_t *conn, uint64_t deadline_ms);

/* Cancels the statement running on the lease, on the server: its callback
 * gets CANCELLED once PostgreSQL has stopped it.  No-op when nothing runs. */
void pgmld_pool_cancel(pgmld_pool_conn_t *conn);

/* Ends the lease.  A statement still running is cancelled on the server and
 * its callback is not called; an open or aborted transaction is rolled back
 * before the connection is reused; a lost connection is reconnected.  The
 * caller must not use `conn` afterwards. */
void pgmld_pool_release(pgmld_pool_conn_t *conn);

/* The server's version as PQserverVersion() gives it (180001 for 18.1). */
int pgmld_pool_conn_server_version(const pgmld_pool_conn_t *conn);
/* The backend's process id (pg_backend_pid()), 0 if not connected. */
int pgmld_pool_conn_backend_pid(const pgmld_pool_conn_t *conn);

/* A word the lease holder may use to remember the session state it set on
 * this PostgreSQL session (e.g. settings made with set_config(..., false)),
 * so that it is not set again on every lease.  It is 0 on every new session
 * (a reconnect clears it) and the pool never reads it.  One user: the search
 * service's session settings (services/search.c). */
uint64_t *pgmld_pool_conn_session(pgmld_pool_conn_t *conn);

/* Fills *out with the pool's state and counters. */
void pgmld_pool_stats(const pgmld_pool_t *pool, pgmld_pool_stats_t *out);

/* The status a PostgreSQL error result maps to: 23505 ALREADY_EXISTS, 22xxx
 * INVALID_ARGUMENT, 42P01 NOT_FOUND when `flags` asks, 57014 CANCELLED,
 * connection-loss states (08xxx, 57P01..57P03) UNAVAILABLE, everything else
 * INTERNAL; the message carries PostgreSQL's message and SQLSTATE.  A
 * successful result leaves `st` unchanged.  Returns the code. */
pgmld_code_t pgmld_pool_status_from_result(const PGresult *res, unsigned flags,
                                           pgmld_status_t *st);

#endif
