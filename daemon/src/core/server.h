/* server.h - the daemon as a whole: its libuv loop, configuration,
 * listeners and connections, start-up and graceful shutdown.
 *
 * Start-up, in order: the method table is built from the service
 * descriptor and the handlers registered (a handler for a method the
 * descriptor lacks fails start-up); when database.url is "" the embedded
 * PostgreSQL starts (embedded.state_dir, embedded.postgres_bindir,
 * embedded.user) and its conninfo is used; the pool opens
 * database.pool_size connections and one must answer within
 * database.connect_timeout_ms; the migrations run (pgvector missing, or a
 * database newer than this binary, fails start-up); only then does the
 * server listen.  A failure at any step is logged and pgmld_server_run()
 * returns 1 after undoing the steps before it.  A signal during start-up
 * stops it where it is (exit 0).
 *
 * Shutdown, on SIGTERM or SIGINT (or pgmld_server_shutdown()): the
 * listeners close at once (the socket file is removed); requests that
 * arrive afterwards on open connections are answered UNAVAILABLE; calls in
 * flight may finish for up to server.shutdown_grace_ms, then those still
 * running are answered UNAVAILABLE and their cancel hooks run; answers get
 * one more second to be written.  Once the last call has ended and the
 * connections are closed, the pool closes, the embedded PostgreSQL stops
 * and pgmld_server_run() returns 0.  A second signal, 0.5 s or more after
 * the first, exits the process at once with status 1 (after telling the
 * embedded PostgreSQL to shut down); one sooner than that is taken as a
 * repeat of the first (Ctrl-C plus a script's kill -TERM) and ignored.
 *
 * Errors: functions return 0 or a negative errno / libuv code.
 */
#ifndef PGMLD_SERVER_H
#define PGMLD_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/common.h"
#include "core/config.h"

typedef struct pgmld_server_s pgmld_server_t;

/* The database pool (daemon/src/db/pool.h: pgmld_pool_t). */
struct pgmld_pool_s;

/* What ServerInfo reports about the pool: all zero until a pool exists. */
typedef struct pgmld_pool_info_s {
  uint32_t size;
  uint32_t idle;
  uint32_t busy;
  uint32_t connecting;
  uint32_t broken;
  uint32_t waiting;
} pgmld_pool_info_t;

/* Creates a server for cfg (borrowed: it must outlive the server), with
 * its own loop; nothing listens yet.  Returns 0 and *out (free with
 * pgmld_server_free()), or a negative error, logged, and *out NULL. */
PGMLD_MUST_CHECK int pgmld_server_new(const pgmld_config_t *cfg,
                                      pgmld_server_t **out);

/* Starts up, serves until shut down, and returns the process exit status:
 * 0 after a clean shutdown, 1 when start-up or the loop failed.  Makes the
 * process ignore SIGPIPE (a write to a vanished client must fail, not kill
 * the daemon). */
PGMLD_MUST_CHECK int pgmld_server_run(pgmld_server_t *srv);

/* Frees a server whose run returned (or never ran). */
void pgmld_server_free(pgmld_server_t *srv);

/* Begins the graceful shutdown, as SIGTERM does.  Safe to call twice. */
void pgmld_server_shutdown(pgmld_server_t *srv);

uv_loop_t *pgmld_server_loop(pgmld_server_t *srv);
const pgmld_config_t *pgmld_server_config(const pgmld_server_t *srv);
uint64_t pgmld_server_uptime_ms(const pgmld_server_t *srv);

/* The pool, for handlers (db/pool.h: pgmld_pool_acquire() ...).  Never
 * NULL while the server listens: it exists before listening starts and is
 * closed only after the last call ended. */
struct pgmld_pool_s *pgmld_server_pool(const pgmld_server_t *srv);
/* Fills *out with the pool's state (zeros without a pool). */
void pgmld_server_pool_info(const pgmld_server_t *srv, pgmld_pool_info_t *out);

/* The pgvector version the migrations found ("0.8.2"), "" before. */
const char *pgmld_server_pgvector_version(const pgmld_server_t *srv);

/* Build and runtime features for ServerInfo ("unix", ...); *n gets the
 * count.  Owned by the server. */
const char *const *pgmld_server_features(const pgmld_server_t *srv, size_t *n);

/* One slot for the services' own state (services/catalog.c's cache),
 * created by them on first use.  Setting it frees the previous state with
 * its free_fn; pgmld_server_free() frees the last one after the loop has
 * drained.  NULL until set. */
void *pgmld_server_services_state(const pgmld_server_t *srv);
void pgmld_server_set_services_state(pgmld_server_t *srv, void *state,
                                     void (*free_fn)(void *state));

/* ---- used by net/ and rpc/ only ---- */
struct pgmld_dispatch_s;
struct pgmld_deadlines_s;
struct pgmld_list_s;

const struct pgmld_dispatch_s *pgmld__server_dispatch(const pgmld_server_t *srv);
struct pgmld_deadlines_s *pgmld__server_deadlines(pgmld_server_t *srv);
/* Bearer tokens and Unix peer allow-lists (core/auth.h); never NULL once
 * pgmld_server_new() succeeded. */
struct pgmld_auth_s;
const struct pgmld_auth_s *pgmld__server_auth(const pgmld_server_t *srv);
/* True once shutdown began: new requests are refused. */
int pgmld__server_draining(const pgmld_server_t *srv);

/* Connection bookkeeping: the list holds each live connection's link. */
struct pgmld_list_s *pgmld__server_conns(pgmld_server_t *srv);
size_t pgmld__server_conn_count(const pgmld_server_t *srv);
/* Links a new connection in; returns its serial number (1, 2, ...) for
 * its name in logs. */
uint64_t pgmld__server_conn_added(pgmld_server_t *srv, struct pgmld_list_s *link);
/* The connection at link is closed and no call refers to it: the server
 * frees it (pgmld_conns_reap()) from a later loop iteration. */
void pgmld__server_conn_dead(pgmld_server_t *srv, struct pgmld_list_s *link);

/* Calls whose handler has not ended them yet, across all connections. */
void pgmld__server_call_started(pgmld_server_t *srv);
void pgmld__server_call_ended(pgmld_server_t *srv);

#endif
