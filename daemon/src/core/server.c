/* server.c - the server's life: start-up order, signals, the graceful
 * shutdown, and the bookkeeping of connections and calls. */
#include "core/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/auth.h"
#include "core/list.h"
#include "core/log.h"
#include "core/reload.h"
#include "core/sdnotify.h"
#include "db/migrate.h"
#include "db/pool.h"
#include "embedded/embedded.h"
#include "net/conn.h"
#include "net/unix.h"
#include "net/ws.h"
#include "pgml/v1/database.pb-c.h"
#include "rpc/call_internal.h"
#include "rpc/deadline.h"
#include "rpc/dispatch.h"
#include "services/registry.h"

/* The server moves through these states in order, never back. */
typedef enum {
  STATE_STARTING,   /* database layers starting; not listening yet */
  STATE_RUNNING,    /* listening and serving */
  STATE_DRAINING,   /* shutdown began: not listening, waiting for calls */
  STATE_CLOSING,    /* calls done (or grace over): connections closing */
  STATE_STOPPING,   /* connections gone: database layers stopping */
  STATE_STOPPED,    /* handles closing; uv_run() is about to return */
} state_t;

static const char *state_name(state_t state)
{
  static const char *const names[] = {
    "starting", "running", "draining", "closing", "stopping", "stopped",
  };

  return (size_t)state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

struct pgmld_server_s {
  uv_loop_t loop;
  const pgmld_config_t *cfg;        /* borrowed */
  state_t state;
  int exit_status;
  int stop_requested;               /* a signal came while STARTING */
  uint64_t signal_ns;               /* uv_hrtime() of the first signal, or 0 */
  uint64_t start_ns;                /* uv_hrtime() at creation */

  pgmld_dispatch_t *dispatch;
  pgmld_deadlines_t deadlines;
  pgmld_unix_listener_t *listener;
  pgmld_auth_t *auth;               /* tokens and peer allow-lists */
  pgmld_ws_t *ws;                   /* WebSocket and HTTP listeners, or NULL */
  uv_timer_t idle;                  /* limits.idle_timeout_ms sweeps */

  pgmld_list_t conns;               /* live connections */
  pgmld_list_t dead;                /* closed ones waiting to be freed */
  size_t n_conns;
  uint64_t conn_serial;
  uint64_t n_calls;                 /* started and not yet ended */

  uv_signal_t sigterm;
  uv_signal_t sigint;
  uv_signal_t sighup;               /* reload the configuration */
  uv_timer_t watchdog;              /* systemd keep-alives; unref'd */
  uv_timer_t grace;                 /* bounds the shutdown */
  uv_idle_t reaper;                 /* frees dead connections */

  /* The database layers, started by backends_start() before listening
   * and stopped by backends_stop() after the last connection closed. */
  pgmld_embedded_t *embedded;       /* NULL unless database.url is "" */
  int embedded_ready;               /* its ready callback has run */
  pgmld_pool_t *pool;               /* NULL until created; freed by its close */
  pgmld_pool_wait_t *first_wait;    /* the start-up connection check, pending */
  int migrating;                    /* pgmld_migrate() has not called back */
  int forced_close;                 /* shutdown: connections closed at once */
  char pgvector_version[32];        /* from the migrations; "" before */

  const char *features[8];          /* static strings, for ServerInfo */
  size_t n_features;

  void *services_state;             /* services/'s caches, or NULL */
  void (*services_state_free)(void *state);
};

/* Start-up's first lease waits for at most database.connect_timeout_ms;
 * the migrations that follow may take this long in all (CREATE EXTENSION,
 * index builds of later migrations). */
#define MIGRATE_TIMEOUT_MS 120000u

/* After the grace period, how long the UNAVAILABLE answers may take to be
 * written before the connections are closed regardless. */
#define FLUSH_MS 1000u

/* After the connections were closed at once, how long handlers may take to
 * end their calls (a connection is freed only then) before the shutdown
 * goes on without them: closing the pool stops their statements. */
#define STUCK_MS 1000u

/* A signal this soon after the first one is taken as the same request; a
 * later one makes pgmld exit at once. */
#define SIGNAL_REPEAT_NS (500u * 1000000u)

static void begin_closing(pgmld_server_t *srv);
static void check_closed(pgmld_server_t *srv);

static void set_state(pgmld_server_t *srv, state_t state)
{
  /* Defensive: every step below relies on never going back (a closed
   * listener or pool is never reopened). */
  if (state < srv->state) {
    pgmld_log_error("server", "impossible state change %s -> %s", state_name(srv->state),
                    state_name(state));
    abort();
  }
  pgmld_log_debug("server", "%s -> %s", state_name(srv->state), state_name(state));
  srv->state = state;
}

/* ------------------------------------------------------------ accessors */

uv_loop_t *pgmld_server_loop(pgmld_server_t *srv)
{
  return &srv->loop;
}

const pgmld_config_t *pgmld_server_config(const pgmld_server_t *srv)
{
  return srv->cfg;
}

uint64_t pgmld_server_uptime_ms(const pgmld_server_t *srv)
{
  return (uv_hrtime() - srv->start_ns) / 1000000u;
}

struct pgmld_pool_s *pgmld_server_pool(const pgmld_server_t *srv)
{
  return srv->pool;
}

void pgmld_server_pool_info(const pgmld_server_t *srv, pgmld_pool_info_t *out)
{
  pgmld_pool_stats_t ps;

  memset(out, 0, sizeof(*out));
  if (srv->pool == NULL)
    return;
  pgmld_pool_stats(srv->pool, &ps);
  out->size = ps.size;
  out->idle = ps.idle;
  out->busy = ps.busy;
  out->connecting = ps.connecting;
  out->broken = ps.broken;
  out->waiting = ps.waiting;
}

const char *pgmld_server_pgvector_version(const pgmld_server_t *srv)
{
  return srv->pgvector_version;
}

const char *const *pgmld_server_features(const pgmld_server_t *srv, size_t *n)
{
  *n = srv->n_features;
  return srv->features;
}

void *pgmld_server_services_state(const pgmld_server_t *srv)
{
  return srv->services_state;
}

void pgmld_server_set_services_state(pgmld_server_t *srv, void *state,
                                     void (*free_fn)(void *state))
{
  if (srv->services_state != NULL && srv->services_state_free != NULL)
    srv->services_state_free(srv->services_state);
  srv->services_state = state;
  srv->services_state_free = free_fn;
}

const struct pgmld_dispatch_s *pgmld__server_dispatch(const pgmld_server_t *srv)
{
  return srv->dispatch;
}

struct pgmld_deadlines_s *pgmld__server_deadlines(pgmld_server_t *srv)
{
  return &srv->deadlines;
}

const struct pgmld_auth_s *pgmld__server_auth(const pgmld_server_t *srv)
{
  return srv->auth;
}

int pgmld__server_draining(const pgmld_server_t *srv)
{
  return srv->state >= STATE_DRAINING;
}

struct pgmld_list_s *pgmld__server_conns(pgmld_server_t *srv)
{
  return &srv->conns;
}

size_t pgmld__server_conn_count(const pgmld_server_t *srv)
{
  return srv->n_conns;
}

uint64_t pgmld__server_conn_added(pgmld_server_t *srv, struct pgmld_list_s *link)
{
  pgmld_list_append(&srv->conns, link);
  srv->n_conns++;
  return ++srv->conn_serial;
}

static void on_reap(uv_idle_t *idle)
{
  pgmld_server_t *srv = idle->data;

  uv_idle_stop(idle);
  pgmld_conns_reap(&srv->dead);
  check_closed(srv);
}

void pgmld__server_conn_dead(pgmld_server_t *srv, struct pgmld_list_s *link)
{
  pgmld_list_remove(link);
  pgmld_list_append(&srv->dead, link);
  srv->n_conns--;
  /* A call the shutdown gave up on (see on_grace_over()) may end after the
   * handles were closed: pgmld_server_free() reaps it then. */
  if (srv->state == STATE_STOPPED)
    return;
  /* An idle handle runs on the next loop iteration without blocking in
   * poll; by then no callback of the connection is on the stack. */
  (void)uv_idle_start(&srv->reaper, on_reap);
}

void pgmld__server_call_started(pgmld_server_t *srv)
{
  srv->n_calls++;
}

void pgmld__server_call_ended(pgmld_server_t *srv)
{
  srv->n_calls--;
  if (srv->state == STATE_DRAINING && srv->n_calls == 0)
    begin_closing(srv);
}

/* ------------------------------------------------------------ database layers */

static void listen_now(pgmld_server_t *srv);
static void stop_handles(pgmld_server_t *srv);
static void backends_stopped(pgmld_server_t *srv);

static void add_feature(pgmld_server_t *srv, const char *name)
{
  if (srv->n_features < PGMLD_ARRAY_LEN(srv->features))
    srv->features[srv->n_features++] = name;
}

/* The end of start-up's database part: listen, or give up.  Failures were
 * logged by the step that failed.  -EINVAL is a failure that starting again
 * cannot mend (a database URL libpq refuses, no PostgreSQL with pgvector to
 * embed, embedded.settings it cannot use): exit status 2, as for any configuration error, so that systemd's
 * RestartPreventExitStatus=2 does not retry it every few seconds. */
static void backends_started(pgmld_server_t *srv, int status)
{
  if (status < 0) {
    pgmld_sd_status("start-up failed (see the log)");
    srv->exit_status = status == -EINVAL ? 2 : 1;
    set_state(srv, STATE_CLOSING);
    check_closed(srv);
    return;
  }
  if (srv->stop_requested) {
    set_state(srv, STATE_CLOSING);
    check_closed(srv);
    return;
  }
  listen_now(srv);
}

static void on_migrated(const pgmld_migrate_result_t *result, const pgmld_status_t *status,
                        void *data)
{
  pgmld_server_t *srv = data;

  srv->migrating = 0;
  if (status->code != PGMLD_OK) {
    pgmld_log_error("server", "cannot prepare the database: %s (%s)", status->message,
                    pgmld_code_name(status->code));
    backends_started(srv, -EIO);
    return;
  }
  snprintf(srv->pgvector_version, sizeof(srv->pgvector_version), "%s",
           result->pgvector_version);
  if (result->pgvector_iterative_scan)
    add_feature(srv, "pgvector-iterative-scan");
  backends_started(srv, 0);
}

/* The first lease proves PostgreSQL answers; the migrations follow. */
static void on_first_conn(pgmld_pool_conn_t *conn, const pgmld_status_t *status, void *data)
{
  pgmld_server_t *srv = data;
  pgmld_status_t st = PGMLD_STATUS_INIT;

  srv->first_wait = NULL;
  if (conn == NULL) {
    if (srv->stop_requested) {
      backends_started(srv, 0);
      return;
    }
    pgmld_log_error("server", "cannot connect to PostgreSQL within "
                    "database.connect_timeout_ms (%u ms): %s",
                    srv->cfg->database.connect_timeout_ms, status->message);
    backends_started(srv, -EIO);
    return;
  }
  pgmld_log_info("server", "connected to PostgreSQL %d.%d",
                 pgmld_pool_conn_server_version(conn) / 10000,
                 pgmld_pool_conn_server_version(conn) % 10000);
  pgmld_pool_release(conn);
  if (srv->stop_requested) {
    backends_started(srv, 0);
    return;
  }
  pgmld_sd_status("applying the database migrations");
  if (pgmld_migrate(srv->pool, uv_now(&srv->loop) + MIGRATE_TIMEOUT_MS, on_migrated, srv,
                    &st) < 0) {
    pgmld_log_error("server", "cannot start the database migrations: %s", st.message);
    backends_started(srv, -EIO);
    return;
  }
  srv->migrating = 1;
}

/* Creates the pool on conninfo (copied) and checks that it connects. */
static void pool_start(pgmld_server_t *srv, const char *conninfo)
{
  const pgmld_config_t *cfg = srv->cfg;
  pgmld_pool_config_t pc = {0};
  pgmld_status_t st = PGMLD_STATUS_INIT;

  pc.conninfo = conninfo;
  pc.application_name = "pgmld";
  pc.size = cfg->database.pool_size;
  pc.connect_timeout_ms = cfg->database.connect_timeout_ms;
  pgmld_sd_status("connecting to PostgreSQL");
  if (pgmld_pool_new(&srv->loop, &pc, &srv->pool, &st) < 0) {
    pgmld_log_error("server", "cannot create the database pool: %s", st.message);
    /* A database.url libpq refuses is a configuration error. */
    backends_started(srv, st.code == PGMLD_INVALID_ARGUMENT ? -EINVAL : -EIO);
    return;
  }
  if (pgmld_pool_acquire(srv->pool, uv_now(&srv->loop) + cfg->database.connect_timeout_ms,
                         on_first_conn, srv, &srv->first_wait, &st) < 0) {
    pgmld_log_error("server", "cannot use the database pool: %s", st.message);
    backends_started(srv, -EIO);
  }
}

static void on_embedded_ready(pgmld_embedded_t *e, const pgmld_status_t *err,
                              const char *conninfo, void *data)
{
  pgmld_server_t *srv = data;

  srv->embedded_ready = 1;
  if (err != NULL) {
    pgmld_log_error("server", "the embedded PostgreSQL did not start: %s", err->message);
    /* No PostgreSQL found to run (NOT_FOUND), or embedded.settings it
     * cannot use (INVALID_ARGUMENT): a configuration matter, which
     * starting again will not mend.  Anything else may pass (a full disk,
     * a user database not up yet) and is worth a restart. */
    backends_started(srv, err->code == PGMLD_NOT_FOUND || err->code == PGMLD_INVALID_ARGUMENT
                              ? -EINVAL
                              : -EIO);
    return;
  }
  pgmld_log_info("server", "embedded PostgreSQL running (bin %s, pid %d)",
                 pgmld_embedded_bindir(e), (int)pgmld_embedded_pid(e));
  if (srv->stop_requested) {
    backends_started(srv, 0);
    return;
  }
  pool_start(srv, conninfo);
}

/* Start-up of the database layers, before the server listens, each step
 * continuing from the previous one's callback: the embedded PostgreSQL when
 * database.url is "", the pool and its first connection, the migrations. */
static void backends_start(pgmld_server_t *srv)
{
  const pgmld_config_t *cfg = srv->cfg;
  pgmld_embedded_config_t ec = {0};
  int rc;

  if (cfg->database.url[0] != '\0') {
    pool_start(srv, cfg->database.url);
    return;
  }
  ec.state_dir = cfg->embedded.state_dir;
  ec.postgres_bindir = cfg->embedded.postgres_bindir[0] ? cfg->embedded.postgres_bindir : NULL;
  ec.user = cfg->embedded.user[0] ? cfg->embedded.user : NULL;
  pgmld_log_info("server", "database.url is empty: starting the embedded PostgreSQL in %s",
                 ec.state_dir);
  pgmld_sd_status("starting the embedded PostgreSQL in %s", ec.state_dir);
  rc = pgmld_embedded_start(&srv->loop, &ec, on_embedded_ready, srv, &srv->embedded);
  if (rc < 0) {
    pgmld_log_error("server", "cannot start the embedded PostgreSQL: %s", uv_strerror(rc));
    backends_started(srv, rc);
    return;
  }
  add_feature(srv, "embedded-postgres");
}

/* A stop requested while starting: cut short what can be cut short.  The
 * migrations cannot (they finish within their deadline). */
static void backends_abort_start(pgmld_server_t *srv)
{
  if (srv->embedded != NULL && !srv->embedded_ready) {
    /* Its ready callback will not run: start-up ends here. */
    srv->embedded_ready = 1;
    backends_started(srv, 0);
  } else if (srv->first_wait != NULL) {
    pgmld_pool_acquire_cancel(srv->first_wait);   /* on_first_conn follows */
  }
}

static void on_embedded_stopped(void *data)
{
  pgmld_server_t *srv = data;

  pgmld_log_info("server", "embedded PostgreSQL stopped");
  backends_stopped(srv);
}

static void stop_embedded(pgmld_server_t *srv)
{
  pgmld_embedded_t *e = srv->embedded;

  if (e == NULL) {
    backends_stopped(srv);
    return;
  }
  srv->embedded = NULL;
  pgmld_embedded_stop(e, on_embedded_stopped, srv);
}

static void on_pool_closed(void *data)
{
  stop_embedded(data);
}

/* Shutdown of the database layers, after the last call ended and every
 * connection closed (so no handler still holds a pool connection): the
 * pool, then the embedded PostgreSQL. */
static void backends_stop(pgmld_server_t *srv)
{
  pgmld_pool_t *pool = srv->pool;

  set_state(srv, STATE_STOPPING);
  pgmld_sd_status("stopping: closing the database connections");
  if (pool == NULL) {
    stop_embedded(srv);
    return;
  }
  /* ServerInfo must not read a pool that is going away. */
  srv->pool = NULL;
  pgmld_pool_close(pool, on_pool_closed, srv);
}

static void backends_stopped(pgmld_server_t *srv)
{
  set_state(srv, STATE_STOPPED);
  stop_handles(srv);
}

/* ------------------------------------------------------------ shutdown */

static void stop_handles(pgmld_server_t *srv)
{
  uv_close((uv_handle_t *)&srv->sigterm, NULL);
  uv_close((uv_handle_t *)&srv->sigint, NULL);
  uv_close((uv_handle_t *)&srv->sighup, NULL);
  uv_close((uv_handle_t *)&srv->watchdog, NULL);
  uv_close((uv_handle_t *)&srv->grace, NULL);
  uv_close((uv_handle_t *)&srv->reaper, NULL);
  uv_close((uv_handle_t *)&srv->idle, NULL);
  /* lws closes its handles on this loop over the next iterations. */
  pgmld_ws_close(srv->ws);
  pgmld_deadlines_close(&srv->deadlines);
  pgmld_log_info("server", "stopped");
}

/* Moves on once every connection is gone. */
static void check_closed(pgmld_server_t *srv)
{
  if (srv->state != STATE_CLOSING || srv->n_conns > 0 || !pgmld_list_empty(&srv->dead))
    return;
  uv_timer_stop(&srv->grace);
  backends_stop(srv);
}

/* Every call has ended: close the connections once their answers are out. */
static void begin_closing(pgmld_server_t *srv)
{
  set_state(srv, STATE_CLOSING);
  pgmld_conns_close_all(srv, 1);
  check_closed(srv);
}

static void on_grace_over(uv_timer_t *t)
{
  pgmld_server_t *srv = t->data;
  char msg[160];

  if (srv->state == STATE_DRAINING) {
    pgmld_log_warn("server", "%llu calls still running after server.shutdown_grace_ms "
                   "(%u ms): answering them UNAVAILABLE",
                   (unsigned long long)srv->n_calls, srv->cfg->server.shutdown_grace_ms);
    set_state(srv, STATE_CLOSING);
    snprintf(msg, sizeof(msg), "pgmld shut down before the call finished "
             "(server.shutdown_grace_ms is %u)", srv->cfg->server.shutdown_grace_ms);
    pgmld_conns_abort_all(srv, PGMLD_UNAVAILABLE, msg);
    /* Those answers get a little time to reach clients that read. */
    (void)uv_timer_start(&srv->grace, on_grace_over, FLUSH_MS, 0);
  } else if (srv->state == STATE_CLOSING && !srv->forced_close) {
    pgmld_log_warn("server", "%zu connections still not closed %s; closing them now",
                   srv->n_conns, "(a client not reading its answers, or a handler "
                   "that has not ended its call)");
    srv->forced_close = 1;
    pgmld_conns_close_all(srv, 0);
    /* A handler that never ends its call would otherwise hold the shutdown
     * here for ever. */
    (void)uv_timer_start(&srv->grace, on_grace_over, STUCK_MS, 0);
  } else if (srv->state == STATE_CLOSING) {
    pgmld_log_error("server", "%llu calls on %zu connections still running %u ms after "
                    "their connections were closed; stopping the database without "
                    "waiting for them", (unsigned long long)srv->n_calls, srv->n_conns,
                    STUCK_MS);
    pgmld_conns_log_stuck(srv);
    backends_stop(srv);
    return;
  }
  check_closed(srv);
}

void pgmld_server_shutdown(pgmld_server_t *srv)
{
  switch (srv->state) {
  case STATE_STARTING:
    if (!srv->stop_requested) {
      srv->stop_requested = 1;
      (void)pgmld_sd_notify("STOPPING=1\nSTATUS=stopping during start-up");
      backends_abort_start(srv);
    }
    return;
  case STATE_RUNNING:
    break;
  default:
    return;
  }
  pgmld_log_info("server", "shutting down: %llu calls in flight, %zu connections; "
                 "waiting up to %u ms", (unsigned long long)srv->n_calls, srv->n_conns,
                 srv->cfg->server.shutdown_grace_ms);
  set_state(srv, STATE_DRAINING);
  (void)pgmld_sd_notifyf("STOPPING=1\nSTATUS=shutting down: %llu calls in flight, "
                         "%zu connections", (unsigned long long)srv->n_calls, srv->n_conns);
  if (srv->listener != NULL) {
    pgmld_unix_listener_close(srv->listener);
    srv->listener = NULL;
  }
  /* The grace timer bounds both the wait for calls and the flushing of
   * their answers to clients that might not be reading. */
  (void)uv_timer_start(&srv->grace, on_grace_over, srv->cfg->server.shutdown_grace_ms, 0);
  if (srv->n_calls == 0)
    begin_closing(srv);
}

static void on_signal(uv_signal_t *h, int signum)
{
  pgmld_server_t *srv = h->data;
  const char *name = signum == SIGTERM ? "SIGTERM" : "SIGINT";
  uint64_t now = uv_hrtime();

  if (srv->state >= STATE_DRAINING || srv->stop_requested) {
    /* Ctrl-C reaches the whole process group, so a supervising script's
     * own kill -TERM often follows within milliseconds: that is the same
     * request, not an operator who does not want to wait. */
    if (srv->signal_ns != 0 && now - srv->signal_ns < SIGNAL_REPEAT_NS) {
      pgmld_log_info("server", "received %s: shutdown already under way", name);
      return;
    }
    pgmld_log_warn("server", "received %s during the shutdown: exiting at once", name);
    /* No cleanup, no flushing; but PostgreSQL is told to stop rather than
     * left running without its supervisor. */
    if (srv->embedded != NULL && pgmld_embedded_pid(srv->embedded) > 0)
      (void)kill(pgmld_embedded_pid(srv->embedded), SIGINT);
    _exit(1);
  }
  srv->signal_ns = now;
  pgmld_log_info("server", "received %s", name);
  pgmld_server_shutdown(srv);
}

/* ------------------------------------------------------------ reload, watchdog */

extern char **environ;

/* The tokens file is read again on every reload (tokens are rotated by
 * rewriting it); the new set replaces the old only if it loads, and never
 * turns authentication off: a file emptied by mistake keeps the old tokens. */
static void reload_auth(pgmld_server_t *srv)
{
  pgmld_auth_t *a = NULL;
  char err[512];

  if (srv->auth == NULL || srv->cfg->auth.tokens_file[0] == '\0')
    return;
  if (pgmld_auth_new(srv->cfg, &a, err, sizeof(err)) < 0) {
    pgmld_log_error("server", "reload: keeping the previous tokens: %s", err);
    return;
  }
  if (pgmld_auth_tokens_required(srv->auth) && !pgmld_auth_tokens_required(a)) {
    pgmld_log_error("server", "reload: auth.tokens_file %s now holds no token; keeping "
                    "the previous %zu", srv->cfg->auth.tokens_file,
                    pgmld_auth_token_count(srv->auth));
    pgmld_auth_free(a);
    return;
  }
  pgmld_log_info("server", "reload: auth.tokens_file %s read again: %zu tokens (before: %zu)",
                 srv->cfg->auth.tokens_file, pgmld_auth_token_count(a),
                 pgmld_auth_token_count(srv->auth));
  pgmld_auth_free(srv->auth);
  srv->auth = a;
  /* Connections authenticated at their upgrade keep no token to check per
   * request: those whose token was removed are closed now. */
  pgmld_ws_auth_reloaded(srv->ws);
}

/* SIGHUP: read the configuration again and apply what can change live
 * (core/reload.h).  Connections and calls are not touched; a configuration
 * that does not load changes nothing. */
static void on_sighup(uv_signal_t *h, int signum)
{
  pgmld_server_t *srv = h->data;
  pgmld_reload_result_t res;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  char err[512];
  int ready = srv->state == STATE_RUNNING;

  (void)signum;
  if (srv->state >= STATE_DRAINING) {
    pgmld_log_info("server", "received SIGHUP during the shutdown: not reloading");
    return;
  }
  pgmld_log_info("server", "received SIGHUP: reloading the configuration");
  if (ready)
    (void)pgmld_sd_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the "
                           "configuration",
                           (unsigned long long)pgmld_sd_monotonic_usec());
  if (pgmld_reload(environ, &res, err, sizeof(err)) < 0) {
    pgmld_log_error("server", "reload failed, keeping the running configuration: %s", err);
    if (ready)
      (void)pgmld_sd_notifyf("READY=1\nSTATUS=reload failed (%s); serving with the "
                             "previous configuration", err);
    return;
  }
  if (res.pool_size_changed && srv->pool != NULL &&
      pgmld_pool_resize(srv->pool, srv->cfg->database.pool_size, &st) < 0)
    pgmld_log_error("server", "database.pool_size: cannot resize the pool to %u: %s; "
                    "it keeps %u connections", srv->cfg->database.pool_size, st.message,
                    res.old_pool_size);
  reload_auth(srv);
  pgmld_log_info("server", "configuration reloaded: %u settings changed, %u need a restart",
                 res.applied, res.need_restart);
  if (ready)
    (void)pgmld_sd_notifyf("READY=1\nSTATUS=serving; configuration reloaded (%u changed, "
                           "%u need a restart)", res.applied, res.need_restart);
}

/* The keep-alive comes from the loop itself, so a loop that hangs stops
 * sending it and systemd restarts pgmld. */
static void on_watchdog(uv_timer_t *t)
{
  (void)t;
  (void)pgmld_sd_notify("WATCHDOG=1");
}

/* ------------------------------------------------------------ start-up */

static void on_idle_sweep(uv_timer_t *t)
{
  pgmld_server_t *srv = t->data;

  if (srv->state == STATE_RUNNING)
    pgmld_conns_close_idle(srv, srv->cfg->limits.idle_timeout_ms);
}

/* The WebSocket and HTTP listeners and the idle sweep, once the Unix
 * listener is up.  Returns 0 or a negative errno (logged). */
static int listen_more(pgmld_server_t *srv)
{
  const pgmld_config_t *cfg = srv->cfg;
  uint64_t every;
  int rc;

  if (cfg->websocket.listen[0] != '\0' || cfg->http.listen[0] != '\0') {
    rc = pgmld_ws_start(srv, &srv->ws);
    if (rc < 0)
      return rc;
    if (cfg->websocket.listen[0] != '\0')
      add_feature(srv, cfg->tls.cert_file[0] != '\0' ? "wss" : "ws");
  }
  if (cfg->limits.idle_timeout_ms > 0) {
    /* Idle connections are closed between 1x and 1.25x the timeout. */
    every = cfg->limits.idle_timeout_ms / 4u;
    (void)uv_timer_start(&srv->idle, on_idle_sweep, every ? every : 1, every ? every : 1);
  }
  return 0;
}

static void listen_now(pgmld_server_t *srv)
{
  const pgmld_config_t *cfg = srv->cfg;
  size_t activated = pgmld_sd_listen_count();
  int rc, took_passed;

  rc = pgmld_unix_listen(srv, cfg->server.socket_path, cfg->server.socket_mode,
                         &srv->listener);
  if (rc == 0 && (rc = listen_more(srv)) < 0) {
    pgmld_unix_listener_close(srv->listener);
    srv->listener = NULL;
  }
  if (rc < 0) {
    pgmld_sd_status("start-up failed: cannot listen (see the log)");
    srv->exit_status = 1;
    set_state(srv, STATE_CLOSING);
    check_closed(srv);
    return;
  }
  set_state(srv, STATE_RUNNING);
  took_passed = activated && pgmld_sd_listen_count() < activated;
  /* Every listener is up: a passed socket none of them took (only the Unix
   * listener can be socket-activated) is closed, with a warning naming it,
   * rather than left open and unserved. */
  (void)pgmld_sd_listen_close_rest();
  if (took_passed) {
    pgmld_log_info("server", "pgmld %s listening on the socket systemd passed", PGMLD_VERSION);
    (void)pgmld_sd_notify("READY=1\nSTATUS=serving on the socket systemd passed");
  } else {
    pgmld_log_info("server", "pgmld %s listening on %s (mode %04o)", PGMLD_VERSION,
                   cfg->server.socket_path, cfg->server.socket_mode);
    (void)pgmld_sd_notifyf("READY=1\nSTATUS=serving on %s", cfg->server.socket_path);
  }
}

int pgmld_server_new(const pgmld_config_t *cfg, pgmld_server_t **out)
{
  pgmld_server_t *srv;
  int rc;

  *out = NULL;
  srv = pgmld_calloc(1, sizeof(*srv));
  if (srv == NULL) {
    pgmld_log_error("server", "out of memory");
    return -ENOMEM;
  }
  srv->cfg = cfg;
  srv->start_ns = uv_hrtime();
  add_feature(srv, "unix");
  pgmld_list_init(&srv->conns);
  pgmld_list_init(&srv->dead);
  rc = uv_loop_init(&srv->loop);
  if (rc < 0) {
    pgmld_log_error("server", "cannot create the event loop: %s", uv_strerror(rc));
    pgmld_free(srv);
    return rc;
  }

  rc = pgmld_dispatch_new(&pgml__v1__database__descriptor, &srv->dispatch);
  if (rc == 0)
    rc = pgmld_registry_install(srv->dispatch);
  if (rc < 0)
    goto fail_loop;

  /* None of these can fail on a fresh loop, but check anyway. */
  if ((rc = pgmld_deadlines_init(&srv->deadlines, &srv->loop,
                                 pgmld__call_deadline_expired, srv)) < 0 ||
      (rc = uv_signal_init(&srv->loop, &srv->sigterm)) < 0 ||
      (rc = uv_signal_init(&srv->loop, &srv->sigint)) < 0 ||
      (rc = uv_signal_init(&srv->loop, &srv->sighup)) < 0 ||
      (rc = uv_timer_init(&srv->loop, &srv->watchdog)) < 0 ||
      (rc = uv_timer_init(&srv->loop, &srv->grace)) < 0 ||
      (rc = uv_idle_init(&srv->loop, &srv->reaper)) < 0) {
    pgmld_log_error("server", "cannot set up the event loop: %s", uv_strerror(rc));
    goto fail_handles;
  }
  srv->sigterm.data = srv->sigint.data = srv->grace.data = srv->reaper.data = srv;
  srv->sighup.data = srv->watchdog.data = srv;
  if ((rc = uv_timer_init(&srv->loop, &srv->idle)) < 0) {
    pgmld_log_error("server", "cannot set up the event loop: %s", uv_strerror(rc));
    goto fail_handles;
  }
  srv->idle.data = srv;
  {
    char err[512];
    if ((rc = pgmld_auth_new(cfg, &srv->auth, err, sizeof(err))) < 0 ||
        (rc = pgmld_ws_check_config(cfg, pgmld_auth_tokens_required(srv->auth), err,
                                    sizeof(err))) < 0) {
      pgmld_log_error("server", "%s", err);
      goto fail_handles;
    }
  }
  *out = srv;
  return 0;

fail_handles:
  /* Close whatever was initialised and let the loop finish the closes. */
  uv_walk(&srv->loop, (uv_walk_cb)(void (*)(void))uv_close, NULL);
  (void)uv_run(&srv->loop, UV_RUN_DEFAULT);
fail_loop:
  pgmld_dispatch_free(srv->dispatch);
  pgmld_auth_free(srv->auth);
  (void)uv_loop_close(&srv->loop);
  pgmld_free(srv);
  return rc;
}

int pgmld_server_run(pgmld_server_t *srv)
{
  int rc;

  signal(SIGPIPE, SIG_IGN);
  if (pgmld_sd_watchdog_usec() > 0) {
    /* Half the period, as systemd recommends; at least 1 ms. */
    uint64_t ms = pgmld_sd_watchdog_usec() / 2000u;
    if (ms == 0)
      ms = 1;
    (void)pgmld_sd_notify("WATCHDOG=1");
    (void)uv_timer_start(&srv->watchdog, on_watchdog, ms, ms);
    /* Never what keeps the loop running. */
    uv_unref((uv_handle_t *)&srv->watchdog);
    pgmld_log_info("server", "systemd watchdog: a keep-alive every %llu ms",
                   (unsigned long long)ms);
  }
  if ((rc = uv_signal_start(&srv->sigterm, on_signal, SIGTERM)) < 0 ||
      (rc = uv_signal_start(&srv->sigint, on_signal, SIGINT)) < 0 ||
      (rc = uv_signal_start(&srv->sighup, on_sighup, SIGHUP)) < 0) {
    pgmld_log_error("server", "cannot catch SIGTERM/SIGINT/SIGHUP: %s", uv_strerror(rc));
    srv->exit_status = 1;
    set_state(srv, STATE_CLOSING);
    check_closed(srv);
  } else {
    backends_start(srv);
  }
  rc = uv_run(&srv->loop, UV_RUN_DEFAULT);
  if (rc != 0 || srv->state != STATE_STOPPED) {
    pgmld_log_error("server", "the event loop ended early (state %s)",
                    state_name(srv->state));
    return 1;
  }
  return srv->exit_status;
}

void pgmld_server_free(pgmld_server_t *srv)
{
  if (srv == NULL)
    return;
  if (srv->state != STATE_STOPPED) {
    /* run() never ran or failed: close what is open and drain the loop. */
    uv_walk(&srv->loop, (uv_walk_cb)(void (*)(void))uv_close, NULL);
    (void)uv_run(&srv->loop, UV_RUN_DEFAULT);
  }
  pgmld_conns_reap(&srv->dead);
  /* After the loop drained: no call can still refer to the state. */
  pgmld_server_set_services_state(srv, NULL, NULL);
  pgmld_ws_free(srv->ws);
  pgmld_auth_free(srv->auth);
  if (uv_loop_close(&srv->loop) != 0)
    pgmld_log_error("server", "the event loop still had handles open at exit");
  pgmld_dispatch_free(srv->dispatch);
  pgmld_free(srv);
}
