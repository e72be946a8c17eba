/* server.c - the server's life: start-up order, signals, the graceful
 * shutdown, and the bookkeeping of connections and calls. */
#include "core/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/list.h"
#include "core/log.h"
#include "net/conn.h"
#include "net/unix.h"
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

static const char *const state_names[] = {
  "starting", "running", "draining", "closing", "stopping", "stopped",
};

struct pgmld_server_s {
  uv_loop_t loop;
  const pgmld_config_t *cfg;        /* borrowed */
  state_t state;
  int exit_status;
  int stop_requested;               /* a signal came while STARTING */
  uint64_t start_ns;                /* uv_hrtime() at creation */

  pgmld_dispatch_t *dispatch;
  pgmld_deadlines_t deadlines;
  pgmld_unix_listener_t *listener;

  pgmld_list_t conns;               /* live connections */
  pgmld_list_t dead;                /* closed ones waiting to be freed */
  size_t n_conns;
  uint64_t conn_serial;
  uint64_t n_calls;                 /* started and not yet ended */

  uv_signal_t sigterm;
  uv_signal_t sigint;
  uv_timer_t grace;                 /* bounds the shutdown */
  uv_idle_t reaper;                 /* frees dead connections */

  /* ==== HOOK(db): the pool, created by the db layer (daemon/src/db/pool.h)
   * in backends_start() and freed in backends_stop().  NULL until then. */
  struct pgmld_pool_s *pool;
};

static const char *const features[] = {"unix"};

static void begin_closing(pgmld_server_t *srv);
static void check_closed(pgmld_server_t *srv);

static void set_state(pgmld_server_t *srv, state_t state)
{
  pgmld_log_debug("server", "%s -> %s", state_names[srv->state], state_names[state]);
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
  memset(out, 0, sizeof(*out));
  /* ==== HOOK(db): when srv->pool is set, fill *out from the pool's
   * statistics (size, idle, busy, connecting, broken, waiting). */
  (void)srv;
}

const char *const *pgmld_server_features(const pgmld_server_t *srv, size_t *n)
{
  (void)srv;
  *n = PGMLD_ARRAY_LEN(features);
  return features;
}

const struct pgmld_dispatch_s *pgmld__server_dispatch(const pgmld_server_t *srv)
{
  return srv->dispatch;
}

struct pgmld_deadlines_s *pgmld__server_deadlines(pgmld_server_t *srv)
{
  return &srv->deadlines;
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

/* ==== HOOK(embedded, db): start-up of the database layers, before the
 * server listens.  The intended sequence, each step continuing from the
 * previous one's callback:
 *   1. if srv->cfg->database.url is "", start the embedded PostgreSQL
 *      (daemon/src/embedded/) and take the URL it serves on;
 *   2. srv->pool = pgmld_pool_new(&srv->loop, url, srv->cfg, ...), and
 *      wait until it can serve (or until database.connect_timeout_ms);
 *   3. backends_started(srv, 0), or backends_started(srv, -errno) after
 *      logging why start-up failed.
 * Until those layers exist, the server starts without a database. */
static void backends_started(pgmld_server_t *srv, int status)
{
  if (status < 0) {
    pgmld_log_error("server", "the database layers failed to start");
    srv->exit_status = 1;
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

static void backends_start(pgmld_server_t *srv)
{
  backends_started(srv, 0);
}

/* ==== HOOK(db, embedded): shutdown of the database layers, after the last
 * call ended and every connection closed (so no handler still holds a pool
 * connection):
 *   1. pgmld_pool_free(srv->pool); srv->pool = NULL;
 *   2. stop the embedded PostgreSQL, if started, and wait for it to exit;
 *   3. backends_stopped(srv). */
static void backends_stopped(pgmld_server_t *srv)
{
  set_state(srv, STATE_STOPPED);
  stop_handles(srv);
}

static void backends_stop(pgmld_server_t *srv)
{
  set_state(srv, STATE_STOPPING);
  backends_stopped(srv);
}

/* ------------------------------------------------------------ shutdown */

static void stop_handles(pgmld_server_t *srv)
{
  uv_close((uv_handle_t *)&srv->sigterm, NULL);
  uv_close((uv_handle_t *)&srv->sigint, NULL);
  uv_close((uv_handle_t *)&srv->grace, NULL);
  uv_close((uv_handle_t *)&srv->reaper, NULL);
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
  pgmld_conns_close_all(srv);
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
  } else {
    pgmld_log_warn("server", "%zu connections still flushing after "
                   "server.shutdown_grace_ms; closing them", srv->n_conns);
  }
  snprintf(msg, sizeof(msg), "pgmld shut down before the call finished "
           "(server.shutdown_grace_ms is %u)", srv->cfg->server.shutdown_grace_ms);
  pgmld_conns_abort_all(srv, PGMLD_UNAVAILABLE, msg);
  check_closed(srv);
}

void pgmld_server_shutdown(pgmld_server_t *srv)
{
  switch (srv->state) {
  case STATE_STARTING:
    srv->stop_requested = 1;
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

  if (srv->state >= STATE_DRAINING || srv->stop_requested) {
    /* The operator does not want to wait: no cleanup, no flushing. */
    static const char msg[] = "pgmld: second signal, exiting at once\n";
    ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)n;
    _exit(1);
  }
  pgmld_log_info("server", "received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  pgmld_server_shutdown(srv);
}

/* ------------------------------------------------------------ start-up */

static void listen_now(pgmld_server_t *srv)
{
  const pgmld_config_t *cfg = srv->cfg;
  int rc;

  rc = pgmld_unix_listen(srv, cfg->server.socket_path, cfg->server.socket_mode,
                         &srv->listener);
  if (rc < 0) {
    srv->exit_status = 1;
    set_state(srv, STATE_CLOSING);
    check_closed(srv);
    return;
  }
  set_state(srv, STATE_RUNNING);
  pgmld_log_info("server", "pgmld %s listening on %s (mode %04o)", PGMLD_VERSION,
                 cfg->server.socket_path, cfg->server.socket_mode);
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
      (rc = uv_timer_init(&srv->loop, &srv->grace)) < 0 ||
      (rc = uv_idle_init(&srv->loop, &srv->reaper)) < 0) {
    pgmld_log_error("server", "cannot set up the event loop: %s", uv_strerror(rc));
    goto fail_handles;
  }
  srv->sigterm.data = srv->sigint.data = srv->grace.data = srv->reaper.data = srv;
  *out = srv;
  return 0;

fail_handles:
  /* Close whatever was initialised and let the loop finish the closes. */
  uv_walk(&srv->loop, (uv_walk_cb)(void (*)(void))uv_close, NULL);
  (void)uv_run(&srv->loop, UV_RUN_DEFAULT);
fail_loop:
  pgmld_dispatch_free(srv->dispatch);
  (void)uv_loop_close(&srv->loop);
  pgmld_free(srv);
  return rc;
}

int pgmld_server_run(pgmld_server_t *srv)
{
  int rc;

  signal(SIGPIPE, SIG_IGN);
  if ((rc = uv_signal_start(&srv->sigterm, on_signal, SIGTERM)) < 0 ||
      (rc = uv_signal_start(&srv->sigint, on_signal, SIGINT)) < 0) {
    pgmld_log_error("server", "cannot catch SIGTERM/SIGINT: %s", uv_strerror(rc));
    srv->exit_status = 1;
    set_state(srv, STATE_CLOSING);
    check_closed(srv);
  } else {
    backends_start(srv);
  }
  rc = uv_run(&srv->loop, UV_RUN_DEFAULT);
  if (rc != 0 || srv->state != STATE_STOPPED) {
    pgmld_log_error("server", "the event loop ended early (state %s)",
                    state_names[srv->state]);
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
  if (uv_loop_close(&srv->loop) != 0)
    pgmld_log_error("server", "the event loop still had handles open at exit");
  pgmld_dispatch_free(srv->dispatch);
  pgmld_free(srv);
}
