/* embedded.h - the private PostgreSQL that pgmld starts and supervises when
 * no database URL is configured.
 *
 * pgmld_embedded_start() finds a PostgreSQL with pgvector (see pgfind.h),
 * lays out <state_dir>/postgres (see layout.h), runs initdb the first time,
 * then runs `postgres` as a direct child of pgmld, listening on a Unix
 * socket only.  When it accepts connections and the database "pgmld" exists,
 * the ready callback receives the conninfo the pool should use.  Afterwards
 * the supervisor restarts postgres, with backoff, whenever it exits on its
 * own; pgmld_embedded_stop() shuts it down (SIGINT, then SIGQUIT after a
 * timeout) and calls back once every process has exited and every handle
 * is closed.
 *
 * Everything runs on the caller's uv loop: children through uv_spawn, the
 * blocking parts (file system set-up, binary discovery, the libpq probe) on
 * the libuv thread pool.  All functions must be called on the loop thread.
 *
 * Errors: functions return 0 or a negative errno (libuv's UV_E* included);
 * what went wrong at start-up reaches the ready callback as a
 * pgmld_status_t naming the cause.
 */
#ifndef PGMLD_EMBEDDED_H
#define PGMLD_EMBEDDED_H

#include <sys/types.h>

#include <uv.h>

#include "core/common.h"
#include "rpc/status.h"

/* Settings, filled by the server from [embedded] in the configuration.  A
 * zero or NULL field takes the default given beside it.  pgmld_embedded_start()
 * copies what it needs: the struct and its strings may go away after it
 * returns. */
typedef struct pgmld_embedded_config_s {
  const char *state_dir;        /* required; the cluster lives in <state_dir>/postgres */
  const char *postgres_bindir;  /* NULL: searched (pgfind.h) */
  const char *user;             /* NULL: "pgmld"; the OS user PostgreSQL runs as when pgmld is root */
  const char *const *settings;  /* NULL-terminated "name=value" extra server settings, or NULL */
  unsigned start_timeout_ms;    /* 0: 120000; first start only, initdb excluded */
  unsigned stop_timeout_ms;     /* 0: 30000; SIGINT to SIGQUIT, and SIGQUIT to SIGKILL */
  unsigned restart_delay_min_ms; /* 0: 250; first delay before a restart */
  unsigned restart_delay_max_ms; /* 0: 30000; the delay doubles up to this */
  int no_sync;                  /* initdb --no-sync and fsync=off: throw-away clusters, tests */
} pgmld_embedded_config_t;

/* Limits on `settings`, enforced at start. */
#define PGMLD_EMBEDDED_SETTINGS_MAX 64
#define PGMLD_EMBEDDED_SETTING_NAME_MAX 63   /* PostgreSQL's NAMEDATALEN - 1 */
#define PGMLD_EMBEDDED_SETTING_VALUE_MAX 1024

/* The socket file name inside the run directory follows from this port. */
#define PGMLD_EMBEDDED_PORT 5432

typedef enum {
  PGMLD_EMBEDDED_PREPARING = 0, /* finding binaries, creating directories */
  PGMLD_EMBEDDED_INITDB,        /* initdb running (first start only) */
  PGMLD_EMBEDDED_STARTING,      /* postgres spawned, not yet accepting connections */
  PGMLD_EMBEDDED_RUNNING,       /* accepting connections; database "pgmld" exists */
  PGMLD_EMBEDDED_BACKOFF,       /* exited unexpectedly; restart pending */
  PGMLD_EMBEDDED_FAILED,        /* the first start failed; nothing will be retried */
  PGMLD_EMBEDDED_STOPPING,      /* pgmld_embedded_stop() called */
} pgmld_embedded_state_t;

typedef struct pgmld_embedded_s pgmld_embedded_t;

/* `err` is NULL on success, and `conninfo` (a libpq conninfo string, owned
 * by `e`, valid until the stopped callback) is NULL on failure. */
typedef void (*pgmld_embedded_ready_cb)(pgmld_embedded_t *e, const pgmld_status_t *err,
                                        const char *conninfo, void *data);
typedef void (*pgmld_embedded_state_cb)(pgmld_embedded_t *e, pgmld_embedded_state_t state,
                                        void *data);
typedef void (*pgmld_embedded_stopped_cb)(void *data);

/* Starts the embedded PostgreSQL on `loop`.
 *
 * On success returns 0 and sets *out; `ready` will be called exactly once,
 * from the loop, with the conninfo or with the reason the first start
 * failed, unless pgmld_embedded_stop() is called first (then never).  After
 * a successful return the caller owns *out and must release it with
 * pgmld_embedded_stop(), whatever happened since, even after a failure.
 *
 * Returns -EINVAL if an argument is NULL or cfg->state_dir is NULL or
 * empty, -ENOMEM, or a libuv error; then nothing was started, *out is
 * untouched, `ready` is never called, and the reason has been logged.
 * Everything else (bad settings, no PostgreSQL found, missing user, initdb
 * or postgres failing) is reported through `ready`. */
PGMLD_MUST_CHECK int pgmld_embedded_start(uv_loop_t *loop, const pgmld_embedded_config_t *cfg,
                                          pgmld_embedded_ready_cb ready, void *data,
                                          pgmld_embedded_t **out);

/* Shuts the server down and frees `e`.  Call exactly once per successful
 * start; `e` must not be used after this returns.  A running initdb or
 * postgres gets SIGINT (fast shutdown: sessions are disconnected, a
 * checkpoint is written), SIGQUIT after stop_timeout_ms, SIGKILL after as
 * much again.  `stopped` (may be NULL) is called from the loop once no
 * child remains and every handle is closed, after `e` has been freed.  Safe
 * to call from the ready or state callback. */
void pgmld_embedded_stop(pgmld_embedded_t *e, pgmld_embedded_stopped_cb stopped, void *data);

/* Calls `cb` on every later state change (restarts included), until stop.
 * NULL turns it off.  The callback may call pgmld_embedded_stop(). */
void pgmld_embedded_watch(pgmld_embedded_t *e, pgmld_embedded_state_cb cb, void *data);

pgmld_embedded_state_t pgmld_embedded_state(const pgmld_embedded_t *e);
/* "preparing", "initdb", ... for logs. */
const char *pgmld_embedded_state_name(pgmld_embedded_state_t state);
/* The process id of the running initdb or postgres, 0 if none. */
pid_t pgmld_embedded_pid(const pgmld_embedded_t *e);
/* How many times postgres was restarted after exiting on its own. */
unsigned pgmld_embedded_restarts(const pgmld_embedded_t *e);
/* The conninfo once known (NULL before), owned by `e`. */
const char *pgmld_embedded_conninfo(const pgmld_embedded_t *e);
/* The bin/ directory in use (NULL before discovery), owned by `e`. */
const char *pgmld_embedded_bindir(const pgmld_embedded_t *e);

#endif
