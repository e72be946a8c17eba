/* embedded.c - starts, supervises and stops the embedded PostgreSQL on the uv loop.
 *
 * One object, one state (pgmld_embedded_state_t), at most one child (initdb
 * or postgres) and at most one thread-pool job (prepare or probe) at a
 * time.  Handlers change the state first and call user callbacks last, so
 * that a callback which calls pgmld_embedded_stop() finds a consistent
 * object; stop only marks and signals, and the object is freed in the last
 * close callback once no child, job or handle remains.
 */
#include "embedded/embedded.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/log.h"
#include "embedded/layout.h"
#include "embedded/pgfind.h"
#include "embedded/pglog.h"
#include "embedded/probe.h"

#ifndef PGMLD_INSTALL_PREFIX
#define PGMLD_INSTALL_PREFIX "/usr/local"
#endif

#define WHERE "embedded"

#define DEFAULT_USER "pgmld"
#define DEFAULT_START_TIMEOUT_MS 120000u
#define DEFAULT_STOP_TIMEOUT_MS 30000u
#define DEFAULT_DELAY_MIN_MS 250u
#define DEFAULT_DELAY_MAX_MS 30000u
/* How often a starting server is asked whether it accepts connections. */
#define PROBE_INTERVAL_MS 100u
/* A server that ran this long before exiting is restarted after the
 * shortest delay again: it was not crash-looping. */
#define STABLE_RUN_MS 30000u
#define DISTRO_ROOT "/usr/lib/postgresql"
/* Environment variables the children get from pgmld; nothing else, so
 * that PGDATA, PGPORT, PGOPTIONS and the like cannot steer them. */
static const char *const passed_env[] = {"PATH", "TZ", "TMPDIR", "LD_LIBRARY_PATH"};
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
/* Settings pgmld decides; embedded.settings may not override them. */
static const char *const managed_settings[] = {
    "listen_addresses", "port", "unix_socket_directories", "unix_socket_permissions",
    "unix_socket_group", "logging_collector", "data_directory", "config_file", "hba_file",
    "ident_file"};

typedef enum { CHILD_INITDB, CHILD_POSTGRES } child_kind_t;
typedef enum { JOB_NONE, JOB_PREPARE, JOB_PROBE } job_kind_t;

typedef struct child_s {
  uv_process_t proc; /* first: the handle is cast back to the child */
  pgmld_embedded_t *e;
  child_kind_t kind;
  off_t log_from; /* where its output starts in postgres.log */
} child_t;

struct pgmld_embedded_s {
  uv_loop_t *loop;
  pgmld_embedded_state_t state;
  pgmld_embedded_state_t announced; /* last state given to the watcher */

  /* Settings, copied at start. */
  char *state_dir;
  char *bindir_cfg;
  char *path_env;
  char *user;
  char **settings; /* NULL-terminated */
  unsigned start_timeout_ms;
  unsigned stop_timeout_ms;
  unsigned delay_min_ms;
  unsigned delay_max_ms;
  int no_sync;
  char *env[PGMLD_ARRAY_LEN(passed_env) + 1]; /* "NAME=value", NULL-terminated */

  /* Filled by the prepare job, read-only afterwards. */
  pgmld__pgfind_result_t found;
  pgmld__layout_t layout;
  char *conninfo;

  /* The thread-pool job; its results are read in after_job(). */
  uv_work_t work;
  job_kind_t job;
  int job_rc;
  pgmld_status_t job_status;
  char *job_detail;
  char probe_err[512];

  child_t *child;        /* the running child, NULL if none */
  int kill_stage;        /* 0, or 1/2/3 after SIGINT/SIGQUIT/SIGKILL to it */
  uv_timer_t timer;      /* next probe, or the restart after a backoff */
  uv_timer_t deadline;   /* start time-out, then the stop escalation */
  unsigned delay_ms;     /* the next restart delay */
  unsigned restarts;
  uint64_t running_since;
  int ready_called;
  int prepared;          /* the prepare job succeeded: found, layout, conninfo */

  unsigned closing;      /* close callbacks still to come */
  int finishing;         /* the timers are being closed: last phase */

  pgmld_embedded_ready_cb ready;
  void *ready_data;
  pgmld_embedded_state_cb watch;
  void *watch_data;
  pgmld_embedded_stopped_cb stopped;
  void *stopped_data;
};

static void spawn_postgres(pgmld_embedded_t *e);
static void maybe_finish(pgmld_embedded_t *e);
static void deadline_cb(uv_timer_t *t);

const char *pgmld_embedded_state_name(pgmld_embedded_state_t state) {
  switch (state) {
  case PGMLD_EMBEDDED_PREPARING: return "preparing";
  case PGMLD_EMBEDDED_INITDB: return "initdb";
  case PGMLD_EMBEDDED_STARTING: return "starting";
  case PGMLD_EMBEDDED_RUNNING: return "running";
  case PGMLD_EMBEDDED_BACKOFF: return "backoff";
  case PGMLD_EMBEDDED_FAILED: return "failed";
  case PGMLD_EMBEDDED_STOPPING: return "stopping";
  }
  return "unknown";
}

/* ---- settings -------------------------------------------------------- */

/* Checks one "name=value" of embedded.settings.  Returns 0, or a negative
 * errno with `st` naming the setting and what is wrong with it. */
static int check_setting(const char *s, pgmld_status_t *st) {
  const char *eq = strchr(s, '=');
  size_t nlen = eq ? (size_t)(eq - s) : strlen(s);
  size_t j;

  if (!eq || nlen == 0) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "embedded.settings: \"%.64s\" is not name=value",
                     s);
    return -EINVAL;
  }
  if (nlen > PGMLD_EMBEDDED_SETTING_NAME_MAX) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "embedded.settings: name \"%.64s...\" is longer than %d bytes", s,
                     PGMLD_EMBEDDED_SETTING_NAME_MAX);
    return -ENAMETOOLONG;
  }
  for (j = 0; j < nlen; j++) {
    char c = s[j];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
          (j > 0 && ((c >= '0' && c <= '9') || c == '.')))) {
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "embedded.settings: \"%.*s\" is not a setting name", (int)nlen, s);
      return -EINVAL;
    }
  }
  if (strlen(eq + 1) > PGMLD_EMBEDDED_SETTING_VALUE_MAX) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "embedded.settings: the value of %.*s is longer than %d bytes", (int)nlen, s,
                     PGMLD_EMBEDDED_SETTING_VALUE_MAX);
    return -E2BIG;
  }
  for (j = 1; eq[j]; j++) {
    if ((unsigned char)eq[j] < 0x20 || eq[j] == 0x7f) {
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "embedded.settings: the value of %.*s contains a control character",
                       (int)nlen, s);
      return -EINVAL;
    }
  }
  /* Setting names are case-insensitive in PostgreSQL. */
  for (j = 0; j < PGMLD_ARRAY_LEN(managed_settings); j++) {
    if (strlen(managed_settings[j]) == nlen && strncasecmp(s, managed_settings[j], nlen) == 0) {
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "embedded.settings: %s is set by pgmld and cannot be changed",
                       managed_settings[j]);
      return -EPERM;
    }
  }
  return 0;
}

/* Checks embedded.settings against the limits and the managed names.
 * Pure; runs in the prepare job. */
static int check_settings(char *const *settings, pgmld_status_t *st) {
  size_t i;
  int rc;

  for (i = 0; settings[i]; i++) {
    if (i == PGMLD_EMBEDDED_SETTINGS_MAX) {
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "embedded.settings: more than %d settings",
                       PGMLD_EMBEDDED_SETTINGS_MAX);
      return -E2BIG;
    }
    if ((rc = check_setting(settings[i], st)) < 0)
      return rc;
  }
  return 0;
}

/* ---- state ----------------------------------------------------------- */

/* Tells the watcher about the current state if it changed.  Called last in
 * a handler: the watcher may stop `e`. */
static void announce(pgmld_embedded_t *e) {
  if (e->state == PGMLD_EMBEDDED_STOPPING || e->state == e->announced)
    return;
  e->announced = e->state;
  if (e->watch)
    e->watch(e, e->state, e->watch_data);
}

/* "exit status 1" / "signal 9 (Killed)". */
static void describe_exit(int64_t status, int sig, char *buf, size_t n) {
  if (sig)
    snprintf(buf, n, "signal %d (%s)", sig, strsignal(sig));
  else
    snprintf(buf, n, "exit status %lld", (long long)status);
}

/* Sends the next signal of the shutdown sequence to the child and arms the
 * deadline for the one after: SIGINT, SIGQUIT, then SIGKILL. */
static void terminate_step(pgmld_embedded_t *e) {
  static const int sigs[] = {SIGINT, SIGQUIT, SIGKILL};
  static const char *const names[] = {"SIGINT (fast shutdown)", "SIGQUIT (immediate shutdown)",
                                      "SIGKILL"};
  int rc;

  if (!e->child || e->kill_stage >= (int)PGMLD_ARRAY_LEN(sigs))
    return;
  if (e->kill_stage > 0)
    pgmld_log_warn(WHERE, "%s (pid %d) still running %u ms after %s; sending %s",
                   e->child->kind == CHILD_INITDB ? "initdb" : "postgres", e->child->proc.pid,
                   e->stop_timeout_ms, names[e->kill_stage - 1], names[e->kill_stage]);
  rc = uv_process_kill(&e->child->proc, sigs[e->kill_stage]);
  if (rc < 0 && rc != UV_ESRCH)
    pgmld_log_error(WHERE, "cannot send %s to pid %d: %s", names[e->kill_stage],
                    e->child->proc.pid, uv_strerror(rc));
  e->kill_stage++;
  if (e->kill_stage < (int)PGMLD_ARRAY_LEN(sigs))
    uv_timer_start(&e->deadline, deadline_cb, e->stop_timeout_ms, 0);
}

/* The first start failed: log and report it once; stop any child; retry
 * nothing. */
static void fail_start_logged(pgmld_embedded_t *e, const pgmld_status_t *st, int logged) {
  e->state = PGMLD_EMBEDDED_FAILED;
  uv_timer_stop(&e->timer);
  uv_timer_stop(&e->deadline);
  if (!logged)
    pgmld_log_error(WHERE, "%s", st->message);
  if (e->child && e->kill_stage == 0)
    terminate_step(e);
  if (!e->ready_called) {
    e->ready_called = 1;
    e->ready(e, st, NULL, e->ready_data);
  }
  announce(e);
}

static void fail_start(pgmld_embedded_t *e, const pgmld_status_t *st) {
  fail_start_logged(e, st, 0);
}

static void became_ready(pgmld_embedded_t *e) {
  int first = !e->ready_called;

  e->state = PGMLD_EMBEDDED_RUNNING;
  e->running_since = uv_now(e->loop);
  uv_timer_stop(&e->deadline);
  if (first)
    pgmld_log_info(WHERE, "PostgreSQL ready (pid %d): %s", e->child->proc.pid, e->conninfo);
  else
    pgmld_log_info(WHERE, "PostgreSQL accepting connections again (pid %d, restart %u)",
                   e->child->proc.pid, e->restarts);
  if (first) {
    e->ready_called = 1;
    e->ready(e, NULL, e->conninfo, e->ready_data);
  }
  announce(e);
}

static void restart_cb(uv_timer_t *t) {
  pgmld_embedded_t *e = t->data;

  if (e->state != PGMLD_EMBEDDED_BACKOFF)
    return;
  e->restarts++;
  spawn_postgres(e);
  announce(e);
}

/* postgres is gone on its own: try again after the backoff delay. */
static void schedule_restart(pgmld_embedded_t *e, int was_running, const char *why) {
  uint64_t now = uv_now(e->loop);
  unsigned delay;

  if (was_running && now - e->running_since >= STABLE_RUN_MS)
    e->delay_ms = e->delay_min_ms;
  delay = e->delay_ms;
  e->delay_ms = delay >= e->delay_max_ms / 2 ? e->delay_max_ms : delay * 2;
  pgmld_log_error(WHERE, "%s; restarting in %u ms", why, delay);
  e->state = PGMLD_EMBEDDED_BACKOFF;
  uv_timer_stop(&e->deadline);
  uv_timer_start(&e->timer, restart_cb, delay, 0);
}

/* ---- the thread-pool jobs ------------------------------------------- */

static void after_job(uv_work_t *w, int status);

static void prepare_job(uv_work_t *w) {
  pgmld_embedded_t *e = w->data;
  pgmld__pgfind_spec_t spec = {
      .configured = e->bindir_cfg,
      .prefix = PGMLD_INSTALL_PREFIX,
      .path = e->path_env,
      .distro_root = DISTRO_ROOT,
  };
  pgmld__layout_t *l = &e->layout;
  int rc;

  if ((rc = check_settings(e->settings, &e->job_status)) < 0)
    goto out;
  /* Discovery first: it changes nothing on disk. */
  if ((rc = pgmld__pgfind(&spec, &e->found, &e->job_status, &e->job_detail)) < 0)
    goto out;
  if ((rc = pgmld__layout_prepare(e->state_dir, e->user, l, &e->job_status)) < 0)
    goto out;
  if (l->as_root &&
      ((rc = pgmld__layout_check_reachable(e->found.bindir, l->uid, l->gid, l->user,
                                           &e->job_status)) < 0 ||
       (rc = pgmld__layout_check_reachable(e->found.sharedir, l->uid, l->gid, l->user,
                                           &e->job_status)) < 0))
    goto out;
  if (!(e->conninfo = pgmld__probe_conninfo(l->run_dir, PGMLD_EMBEDDED_PORT))) {
    rc = -ENOMEM;
    pgmld_status_set(&e->job_status, PGMLD_RESOURCE_EXHAUSTED,
                     "out of memory preparing the embedded PostgreSQL");
  }
out:
  e->job_rc = rc;
}

static void probe_job(uv_work_t *w) {
  pgmld_embedded_t *e = w->data;

  e->job_rc = pgmld__probe(e->layout.run_dir, PGMLD_EMBEDDED_PORT, e->probe_err,
                           sizeof(e->probe_err));
}

static int queue_job(pgmld_embedded_t *e, job_kind_t kind) {
  int rc;

  e->job = kind;
  e->job_rc = 0;
  e->work.data = e;
  rc = uv_queue_work(e->loop, &e->work, kind == JOB_PREPARE ? prepare_job : probe_job, after_job);
  if (rc < 0)
    e->job = JOB_NONE;
  return rc;
}

static void probe_cb(uv_timer_t *t) {
  pgmld_embedded_t *e = t->data;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  int rc;

  if (e->state != PGMLD_EMBEDDED_STARTING || !e->child || e->job != JOB_NONE)
    return;
  if ((rc = queue_job(e, JOB_PROBE)) < 0) {
    pgmld_status_set(&st, PGMLD_INTERNAL, "embedded PostgreSQL: cannot queue the probe: %s",
                     uv_strerror(rc));
    if (!e->ready_called)
      fail_start(e, &st);
    else
      uv_timer_start(&e->timer, probe_cb, PROBE_INTERVAL_MS, 0);
  }
}

static void after_probe(pgmld_embedded_t *e) {
  pgmld_status_t st = PGMLD_STATUS_INIT;

  /* The child may have exited while the job ran; its exit callback has
   * dealt with that already. */
  if (e->state != PGMLD_EMBEDDED_STARTING || !e->child)
    return;
  if (e->job_rc == 0) {
    became_ready(e);
    return;
  }
  if (e->job_rc == -EAGAIN) {
    pgmld_log_debug(WHERE, "not accepting connections yet: %s", e->probe_err);
    uv_timer_start(&e->timer, probe_cb, PROBE_INTERVAL_MS, 0);
    return;
  }
  if (!e->ready_called) {
    pgmld_status_set(&st, PGMLD_UNAVAILABLE, "embedded PostgreSQL: %s", e->probe_err);
    fail_start(e, &st);
    return;
  }
  pgmld_log_warn(WHERE, "%s; trying again in %u ms", e->probe_err, e->delay_ms);
  uv_timer_start(&e->timer, probe_cb, e->delay_ms, 0);
}

static void spawn_initdb(pgmld_embedded_t *e);

static void after_prepare(pgmld_embedded_t *e) {
  pgmld__layout_t *l = &e->layout;

  if (e->job_rc < 0) {
    /* The status holds at most PGMLD_STATUS_MESSAGE_MAX bytes: the log
     * gets the whole story. */
    int logged = e->job_detail && strlen(e->job_detail) >= sizeof(e->job_status.message);
    if (logged)
      pgmld_log_error(WHERE, "%s", e->job_detail);
    fail_start_logged(e, &e->job_status, logged);
    return;
  }
  e->prepared = 1;
  pgmld_log_info(WHERE, "PostgreSQL from %s (extensions in %s/extension), cluster in %s, "
                 "running as %s", e->found.bindir, e->found.sharedir, l->data_dir, l->user);
  if (!l->as_root && e->user && strcmp(e->user, l->user) != 0 && strcmp(e->user, DEFAULT_USER))
    pgmld_log_info(WHERE, "embedded.user %s is not used: pgmld is not root, so PostgreSQL runs "
                   "as pgmld's own user %s", e->user, l->user);
  if (l->need_initdb)
    spawn_initdb(e);
  else
    spawn_postgres(e);
}

static void after_job(uv_work_t *w, int status) {
  pgmld_embedded_t *e = w->data;
  job_kind_t kind = e->job;

  e->job = JOB_NONE;
  if (e->state == PGMLD_EMBEDDED_STOPPING || status == UV_ECANCELED) {
    maybe_finish(e);
    return;
  }
  if (kind == JOB_PREPARE)
    after_prepare(e);
  else
    after_probe(e);
  announce(e);
}

/* ---- children -------------------------------------------------------- */

static void child_closed(uv_handle_t *h) {
  child_t *c = (child_t *)h;
  pgmld_embedded_t *e = c->e;

  pgmld_free(c);
  e->closing--;
  maybe_finish(e);
}

static void initdb_exited(pgmld_embedded_t *e, child_t *c, int64_t status, int sig) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  char how[64];
  char last[320];

  if (e->state == PGMLD_EMBEDDED_STOPPING) {
    pgmld_log_info(WHERE, "initdb interrupted by shutdown; the next start runs it again");
    return;
  }
  if (e->state != PGMLD_EMBEDDED_INITDB)
    return;
  if (status == 0 && sig == 0) {
    pgmld_log_info(WHERE, "initdb created the cluster in %s", e->layout.data_dir);
    spawn_postgres(e);
    return;
  }
  describe_exit(status, sig, how, sizeof(how));
  (void)pgmld__pglog_last_error(e->layout.log_fd, c->log_from, last, sizeof(last));
  pgmld_status_set(&st, PGMLD_FAILED_PRECONDITION,
                   "embedded PostgreSQL: initdb failed (%s): %s (see %s)", how,
                   last[0] ? last : "no output", e->layout.log_path);
  fail_start(e, &st);
}

static void postgres_exited(pgmld_embedded_t *e, child_t *c, int64_t status, int sig) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  char how[64];
  char last[320];
  char why[512];

  describe_exit(status, sig, how, sizeof(how));
  switch (e->state) {
  case PGMLD_EMBEDDED_STOPPING:
    pgmld_log_info(WHERE, "PostgreSQL (pid %d) stopped (%s)", c->proc.pid, how);
    return;
  case PGMLD_EMBEDDED_FAILED:
    return;
  case PGMLD_EMBEDDED_STARTING:
  case PGMLD_EMBEDDED_RUNNING:
    break;
  default:
    return;
  }
  int is_error = pgmld__pglog_last_error(e->layout.log_fd, c->log_from, last, sizeof(last));
  if (e->state == PGMLD_EMBEDDED_STARTING && !e->ready_called) {
    if (strstr(last, "lock file") && strstr(last, "already exists"))
      pgmld_status_set(&st, PGMLD_FAILED_PRECONDITION,
                       "embedded PostgreSQL: another PostgreSQL is already running on %s (%s); "
                       "stop it, or give this pgmld its own state_dir",
                       e->layout.pg_dir, last);
    else
      pgmld_status_set(&st, PGMLD_UNAVAILABLE,
                       "embedded PostgreSQL: postgres exited during start-up (%s): %s (see %s)",
                       how, last[0] ? last : "no output", e->layout.log_path);
    fail_start(e, &st);
    return;
  }
  /* A server that ran for a while may have logged errors of no account
   * (a client's failed login): say what the line is, not that it is why. */
  snprintf(why, sizeof(why), "PostgreSQL (pid %d) exited unexpectedly (%s)%s%s", c->proc.pid,
           how, is_error ? "; last error in postgres.log: " : "", is_error ? last : "");
  schedule_restart(e, e->state == PGMLD_EMBEDDED_RUNNING, why);
}

static void child_exited(uv_process_t *p, int64_t status, int sig) {
  child_t *c = (child_t *)p;
  pgmld_embedded_t *e = c->e;

  if (e->child == c) {
    e->child = NULL;
    e->kill_stage = 0;
    /* The deadline escalates a shutdown or times a start; neither
     * applies to a child that is gone. */
    uv_timer_stop(&e->deadline);
  }
  e->closing++;
  uv_close((uv_handle_t *)p, child_closed);
  if (c->kind == CHILD_INITDB)
    initdb_exited(e, c, status, sig);
  else
    postgres_exited(e, c, status, sig);
  announce(e);
}

/* Starts `argv[0]` as PostgreSQL's user, its output appended to the log.
 * Returns 0 with e->child set, or a libuv error (the half-made handle is
 * being closed; nothing else remains). */
static int spawn_child(pgmld_embedded_t *e, child_kind_t kind, char **argv) {
  uv_stdio_container_t stdio[3];
  uv_process_options_t opt;
  pgmld__layout_t *l = &e->layout;
  child_t *c;
  int rc;

  if (!(c = pgmld_calloc(1, sizeof(*c))))
    return UV_ENOMEM;
  c->e = e;
  c->kind = kind;
  c->log_from = pgmld__pglog_offset(l->log_fd);
  pgmld__pglog_mark(l->log_fd, "starting %s", argv[0]);

  memset(&opt, 0, sizeof(opt));
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = l->log_fd;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = l->log_fd;
  opt.file = argv[0];
  opt.args = argv;
  opt.env = e->env;
  /* A directory PostgreSQL's user can read: pgmld's own working directory
   * may be closed to it, and initdb looks at its working directory. */
  opt.cwd = l->pg_dir;
  opt.stdio = stdio;
  opt.stdio_count = 3;
  opt.exit_cb = child_exited;
  /* Its own session: a Ctrl-C at pgmld's terminal must not reach
   * PostgreSQL behind pgmld's back; pgmld orders the shutdown. */
  opt.flags = UV_PROCESS_DETACHED;
  if (l->as_root) {
    /* libuv also drops the supplementary groups (setgroups(0, NULL)). */
    opt.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
    opt.uid = l->uid;
    opt.gid = l->gid;
  }
  rc = uv_spawn(e->loop, &c->proc, &opt);
  if (rc < 0) {
    /* uv_spawn() initialised the handle even on failure: it must be closed. */
    e->closing++;
    uv_close((uv_handle_t *)&c->proc, child_closed);
    return rc;
  }
  e->child = c;
  e->kill_stage = 0;
  return 0;
}

static void spawn_initdb(pgmld_embedded_t *e) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld__layout_t *l = &e->layout;
  char *prog = pgmld_asprintf("%s/initdb", e->found.bindir);
  char *argv[] = {prog, "-D", l->data_dir, "-U", PGMLD__PROBE_USER, "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8", e->no_sync ? "--no-sync" : NULL, NULL};
  int rc = prog ? spawn_child(e, CHILD_INITDB, argv) : UV_ENOMEM;

  if (rc < 0) {
    pgmld_status_set(&st, PGMLD_FAILED_PRECONDITION,
                     "embedded PostgreSQL: cannot run %s as user %s: %s", prog ? prog : "initdb",
                     l->user, uv_strerror(rc));
    pgmld_free(prog);
    fail_start(e, &st);
    return;
  }
  pgmld_free(prog);
  pgmld_log_info(WHERE, "initdb (pid %d) is creating the cluster in %s", e->child->proc.pid,
                 l->data_dir);
  e->state = PGMLD_EMBEDDED_INITDB;
}

/* "-c" "name=value" pairs: pgmld's own settings, then the configured ones.
 * Returns a NULL-terminated vector whose strings are all owned, or NULL. */
static char **postgres_argv(pgmld_embedded_t *e) {
  pgmld__layout_t *l = &e->layout;
  size_t nset = 0, n = 0, i;
  char **v;

  while (e->settings[nset])
    nset++;
  if (!(v = pgmld_calloc(3 + 2 * (8 + nset) + 1, sizeof(*v))))
    return NULL;
#define ADD(expr)                                                                                  \
  do {                                                                                             \
    if (!(v[n++] = (expr)))                                                                        \
      goto oom;                                                                                    \
  } while (0)
  ADD(pgmld_asprintf("%s/postgres", e->found.bindir));
  ADD(pgmld_strdup("-D"));
  ADD(pgmld_strdup(l->data_dir));
  ADD(pgmld_strdup("-c"));
  ADD(pgmld_strdup("listen_addresses="));
  ADD(pgmld_strdup("-c"));
  ADD(pgmld_asprintf("port=%d", PGMLD_EMBEDDED_PORT));
  ADD(pgmld_strdup("-c"));
  {
    /* A double-quoted list element, "" for a quote inside, so that a
     * comma or blank in the path is not taken as a separator. */
    size_t len = strlen(l->run_dir), j, k = 0;
    char *q = pgmld_malloc(2 * len + 3);
    if (!q)
      goto oom;
    q[k++] = '"';
    for (j = 0; j < len; j++) {
      if (l->run_dir[j] == '"')
        q[k++] = '"';
      q[k++] = l->run_dir[j];
    }
    q[k++] = '"';
    q[k] = '\0';
    v[n] = pgmld_asprintf("unix_socket_directories=%s", q);
    pgmld_free(q);
    if (!v[n++])
      goto oom;
  }
  ADD(pgmld_strdup("-c"));
  ADD(pgmld_strdup("unix_socket_permissions=0700"));
  ADD(pgmld_strdup("-c"));
  ADD(pgmld_strdup("logging_collector=off"));
  ADD(pgmld_strdup("-c"));
  ADD(pgmld_strdup("cluster_name=pgmld"));
  if (e->no_sync) {
    ADD(pgmld_strdup("-c"));
    ADD(pgmld_strdup("fsync=off"));
  }
  for (i = 0; i < nset; i++) {
    ADD(pgmld_strdup("-c"));
    ADD(pgmld_strdup(e->settings[i]));
  }
#undef ADD
  return v;

oom:
  for (i = 0; i < n; i++)
    pgmld_free(v[i]);
  pgmld_free(v);
  return NULL;
}

static void free_argv(char **v) {
  size_t i;

  if (!v)
    return;
  for (i = 0; v[i]; i++)
    pgmld_free(v[i]);
  pgmld_free(v);
}

static void spawn_postgres(pgmld_embedded_t *e) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  char **argv = postgres_argv(e);
  int rc = argv ? spawn_child(e, CHILD_POSTGRES, argv) : UV_ENOMEM;
  char why[PATH_MAX + 256];

  if (rc < 0) {
    snprintf(why, sizeof(why), "cannot run %s/postgres as user %s: %s", e->found.bindir,
             e->layout.user, uv_strerror(rc));
    free_argv(argv);
    if (!e->ready_called) {
      pgmld_status_set(&st, PGMLD_FAILED_PRECONDITION, "embedded PostgreSQL: %s", why);
      fail_start(e, &st);
    } else {
      schedule_restart(e, 0, why);
    }
    return;
  }
  free_argv(argv);
  pgmld_log_info(WHERE, "postgres (pid %d) starting on %s", e->child->proc.pid,
                 e->layout.data_dir);
  e->state = PGMLD_EMBEDDED_STARTING;
  uv_timer_start(&e->timer, probe_cb, PROBE_INTERVAL_MS, 0);
  /* Only the first start has a time limit: a restart may be crash
   * recovery of a large cluster, and there is nothing better to do than
   * wait for it. */
  if (!e->ready_called)
    uv_timer_start(&e->deadline, deadline_cb, e->start_timeout_ms, 0);
}

/* The deadline: the first start took too long, or the child ignored the
 * last shutdown signal. */
static void deadline_cb(uv_timer_t *t) {
  pgmld_embedded_t *e = t->data;
  pgmld_status_t st = PGMLD_STATUS_INIT;

  if (e->kill_stage > 0) {
    terminate_step(e);
    return;
  }
  if (e->state == PGMLD_EMBEDDED_STARTING && !e->ready_called) {
    pgmld_status_set(&st, PGMLD_DEADLINE_EXCEEDED,
                     "embedded PostgreSQL did not accept connections within %u ms (last: %s); "
                     "see %s",
                     e->start_timeout_ms, e->probe_err[0] ? e->probe_err : "no answer",
                     e->layout.log_path);
    fail_start(e, &st);
  }
}

/* ---- start and stop ------------------------------------------------- */

/* Frees what `e` owns, and `e`. */
static void destroy(pgmld_embedded_t *e) {
  size_t i;

  pgmld__layout_free(&e->layout);
  pgmld__pgfind_result_free(&e->found);
  pgmld_free(e->conninfo);
  pgmld_free(e->job_detail);
  pgmld_free(e->state_dir);
  pgmld_free(e->bindir_cfg);
  pgmld_free(e->path_env);
  pgmld_free(e->user);
  for (i = 0; e->settings && e->settings[i]; i++)
    pgmld_free(e->settings[i]);
  pgmld_free(e->settings);
  for (i = 0; e->env[i]; i++)
    pgmld_free(e->env[i]);
  pgmld_free(e);
}

static void timer_closed(uv_handle_t *h) {
  pgmld_embedded_t *e = h->data;
  pgmld_embedded_stopped_cb cb;
  void *data;

  if (--e->closing > 0)
    return;
  cb = e->stopped;
  data = e->stopped_data;
  destroy(e);
  if (cb)
    cb(data);
}

/* Frees `e` once nothing refers to it any more: no child, no job, no close
 * callback outstanding.  The timers are closed last, and the final one
 * frees. */
static void maybe_finish(pgmld_embedded_t *e) {
  if (e->state != PGMLD_EMBEDDED_STOPPING || e->finishing || e->child || e->job != JOB_NONE ||
      e->closing > 0)
    return;
  e->finishing = 1;
  e->closing = 2;
  uv_close((uv_handle_t *)&e->timer, timer_closed);
  uv_close((uv_handle_t *)&e->deadline, timer_closed);
}

static int copy_config(pgmld_embedded_t *e, const pgmld_embedded_config_t *cfg) {
  size_t n = 0, i, k = 0;
  const char *v;

#define DUP(dst, src)                                                                              \
  do {                                                                                             \
    if ((src) && !((dst) = pgmld_strdup(src)))                                                     \
      return -ENOMEM;                                                                              \
  } while (0)
  DUP(e->state_dir, cfg->state_dir);
  if (cfg->postgres_bindir && cfg->postgres_bindir[0])
    DUP(e->bindir_cfg, cfg->postgres_bindir);
  DUP(e->path_env, getenv("PATH"));
  DUP(e->user, cfg->user && cfg->user[0] ? cfg->user : DEFAULT_USER);
#undef DUP
  while (cfg->settings && cfg->settings[n])
    n++;
  if (!(e->settings = pgmld_calloc(n + 1, sizeof(*e->settings))))
    return -ENOMEM;
  for (i = 0; i < n; i++)
    if (!(e->settings[i] = pgmld_strdup(cfg->settings[i])))
      return -ENOMEM;

  for (i = 0; i < PGMLD_ARRAY_LEN(passed_env); i++) {
    v = getenv(passed_env[i]);
    if (!v && strcmp(passed_env[i], "PATH") == 0)
      v = DEFAULT_PATH;
    if (v && !(e->env[k++] = pgmld_asprintf("%s=%s", passed_env[i], v)))
      return -ENOMEM;
  }

  e->start_timeout_ms = cfg->start_timeout_ms ? cfg->start_timeout_ms : DEFAULT_START_TIMEOUT_MS;
  e->stop_timeout_ms = cfg->stop_timeout_ms ? cfg->stop_timeout_ms : DEFAULT_STOP_TIMEOUT_MS;
  e->delay_min_ms = cfg->restart_delay_min_ms ? cfg->restart_delay_min_ms : DEFAULT_DELAY_MIN_MS;
  e->delay_max_ms = cfg->restart_delay_max_ms ? cfg->restart_delay_max_ms : DEFAULT_DELAY_MAX_MS;
  if (e->delay_max_ms < e->delay_min_ms)
    e->delay_max_ms = e->delay_min_ms;
  e->delay_ms = e->delay_min_ms;
  e->no_sync = cfg->no_sync;
  return 0;
}

int pgmld_embedded_start(uv_loop_t *loop, const pgmld_embedded_config_t *cfg,
                         pgmld_embedded_ready_cb ready, void *data, pgmld_embedded_t **out) {
  pgmld_embedded_t *e;
  int rc;

  if (!loop || !cfg || !ready || !out) {
    pgmld_log_error(WHERE, "pgmld_embedded_start: loop, cfg, ready and out are required");
    return -EINVAL;
  }
  if (!cfg->state_dir || !cfg->state_dir[0]) {
    pgmld_log_error(WHERE, "embedded PostgreSQL needs a state directory (state_dir is empty)");
    return -EINVAL;
  }
  if (!(e = pgmld_calloc(1, sizeof(*e)))) {
    pgmld_log_error(WHERE, "out of memory starting the embedded PostgreSQL");
    return -ENOMEM;
  }
  e->loop = loop;
  e->ready = ready;
  e->ready_data = data;
  e->state = e->announced = PGMLD_EMBEDDED_PREPARING;
  pgmld__layout_init(&e->layout);
  if ((rc = copy_config(e, cfg)) < 0) {
    pgmld_log_error(WHERE, "out of memory starting the embedded PostgreSQL");
    destroy(e);
    return rc;
  }
  uv_timer_init(loop, &e->timer);
  uv_timer_init(loop, &e->deadline);
  e->timer.data = e;
  e->deadline.data = e;
  if ((rc = queue_job(e, JOB_PREPARE)) < 0) {
    pgmld_log_error(WHERE, "cannot start the embedded PostgreSQL: %s", uv_strerror(rc));
    /* The timers are on the loop now: `e` goes in their close callbacks. */
    e->state = PGMLD_EMBEDDED_STOPPING;
    maybe_finish(e);
    return rc;
  }
  *out = e;
  return 0;
}

void pgmld_embedded_stop(pgmld_embedded_t *e, pgmld_embedded_stopped_cb stopped, void *data) {
  if (e->state == PGMLD_EMBEDDED_STOPPING) {
    pgmld_log_error(WHERE, "pgmld_embedded_stop called twice; ignored");
    return;
  }
  e->state = PGMLD_EMBEDDED_STOPPING;
  e->stopped = stopped;
  e->stopped_data = data;
  e->watch = NULL;
  uv_timer_stop(&e->timer);
  if (e->child && e->kill_stage == 0) {
    pgmld_log_info(WHERE, "stopping %s (pid %d)",
                   e->child->kind == CHILD_INITDB ? "initdb" : "PostgreSQL", e->child->proc.pid);
    uv_timer_stop(&e->deadline);
    terminate_step(e);
  }
  if (e->job != JOB_NONE)
    (void)uv_cancel((uv_req_t *)&e->work); /* too late once running: after_job comes anyway */
  maybe_finish(e);
}

void pgmld_embedded_watch(pgmld_embedded_t *e, pgmld_embedded_state_cb cb, void *data) {
  if (e->state == PGMLD_EMBEDDED_STOPPING)
    return;
  e->watch = cb;
  e->watch_data = data;
}

pgmld_embedded_state_t pgmld_embedded_state(const pgmld_embedded_t *e) { return e->state; }

pid_t pgmld_embedded_pid(const pgmld_embedded_t *e) { return e->child ? e->child->proc.pid : 0; }

unsigned pgmld_embedded_restarts(const pgmld_embedded_t *e) { return e->restarts; }

const char *pgmld_embedded_conninfo(const pgmld_embedded_t *e) {
  return e->prepared ? e->conninfo : NULL;
}

const char *pgmld_embedded_bindir(const pgmld_embedded_t *e) {
  return e->prepared ? e->found.bindir : NULL;
}
