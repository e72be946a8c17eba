/* pool.c - N asynchronous libpq connections on the loop, leased to services. */
#include "db/pool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/list.h"
#include "core/log.h"

#define WHERE "pool"

/* PQcancel() blocks while it connects to the postmaster, so it runs on the
 * libuv threadpool, which has only a few threads shared with file and DNS
 * work; beyond this many cancels in flight the connection is closed instead,
 * which also stops the statement (see request_cancel). */
#define CANCELS_MAX 2u

/* A backend checks this often whether its client is still there while a
 * statement runs (PostgreSQL >= 14; off by default).  Without it a statement
 * the pool stopped by closing the connection would run on to its end. */
#define CLIENT_CHECK_INTERVAL_MS 1000u

#define DEFAULT_SIZE 4u
#define DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define DEFAULT_BACKOFF_INITIAL_MS 100u
#define DEFAULT_BACKOFF_MAX_MS 10000u
#define DEFAULT_IDLE_CHECK_MS 30000u
#define DEFAULT_ACQUIRE_TIMEOUT_MS 30000u
#define DEFAULT_CANCEL_TIMEOUT_MS 5000u
#define DEFAULT_MAX_WAITERS 4096u
#define DEFAULT_MAX_PREPARED 256u
#define MAX_PREPARED_LIMIT 65536u
#define MAX_WAITERS_LIMIT 1048576u
#define TIMEOUT_LIMIT_MS (24u * 3600u * 1000u)

#define CONTAINER_OF(ptr, type, field) ((type *)(void *)((char *)(ptr) - offsetof(type, field)))

/* Inserting before the first node puts `n` at the front. */
static void list_push_front(pgmld_list_t *head, pgmld_list_t *n) { pgmld_list_append(head->next, n); }

/* ------------------------------------------------------------------ types */

/* Each connection is in exactly one state and in that state's list.
 *   CONNECTING  resolving the host or running PQconnectPoll
 *   BACKOFF     not connected; its timer starts the next attempt
 *   IDLE        connected, free; polled for readability so that a server
 *               that goes away is noticed at once
 *   CHECKING    a health check runs before it is leased to `waiter`
 *   LEASED      a caller holds it (pg == NULL: the connection was lost)
 *   RESETTING   released, but a statement is still stopping or a
 *               transaction is being rolled back
 *   CLOSED      the pool is closing; its handles are closed */
typedef enum {
  CONN_CONNECTING,
  CONN_BACKOFF,
  CONN_IDLE,
  CONN_CHECKING,
  CONN_LEASED,
  CONN_RESETTING,
  CONN_CLOSED,
  CONN_NSTATES
} conn_state_t;

static const char *const state_names[CONN_NSTATES] = {
    "connecting", "backoff", "idle", "checking", "leased", "resetting", "closed",
};

/* Allowed moves, [from] = bit set of destinations. */
#define B(s) (1u << (s))
static const unsigned transitions[CONN_NSTATES] = {
    [CONN_CONNECTING] = B(CONN_IDLE) | B(CONN_BACKOFF) | B(CONN_CLOSED),
    [CONN_BACKOFF] = B(CONN_CONNECTING) | B(CONN_CLOSED),
    [CONN_IDLE] = B(CONN_CHECKING) | B(CONN_LEASED) | B(CONN_BACKOFF) | B(CONN_CLOSED),
    [CONN_CHECKING] = B(CONN_LEASED) | B(CONN_IDLE) | B(CONN_BACKOFF),
    [CONN_LEASED] = B(CONN_IDLE) | B(CONN_RESETTING) | B(CONN_BACKOFF),
    [CONN_RESETTING] = B(CONN_IDLE) | B(CONN_BACKOFF),
    /* Only for a slot that pgmld_pool_resize() closed and takes back. */
    [CONN_CLOSED] = B(CONN_CONNECTING),
};
#undef B

typedef enum { OP_NONE, OP_QUERY, OP_BATCH, OP_CHECK, OP_RESET } op_kind_t;
typedef enum { EXPECT_PREPARE, EXPECT_STMT, EXPECT_SYNC } expect_kind_t;
typedef enum { TIMER_NONE, TIMER_CONNECT, TIMER_BACKOFF, TIMER_DEADLINE, TIMER_GRACE, TIMER_CHECK } timer_use_t;

/* One result the pipeline will produce, in order. */
typedef struct expect_s {
  expect_kind_t kind;
  uint32_t index;   /* statement it belongs to */
  uint32_t slot;    /* EXPECT_PREPARE: the prepared-cache slot */
  unsigned flags;   /* the statement's PGMLD_POOL_STMT_* */
} expect_t;

/* The one operation in flight on a connection. */
typedef struct op_s {
  op_kind_t kind;
  pgmld_pool_result_cb query_cb;  /* NULL once the lease was released */
  pgmld_pool_batch_cb batch_cb;
  void *data;
  size_t n;
  PGresult **results;
  PGresult *results_inline[1];
  expect_t *expect;
  expect_t expect_inline[3];
  size_t nexpect;
  size_t next;
  pgmld_code_t cancel_reason;     /* PGMLD_OK, or why we asked to cancel */
  int results_done;               /* all results are in (or never will be) */
  int deferred;                   /* in pool->deferred, completes from there */
  pgmld_status_t status;          /* first failure */
} op_t;

/* A prepared statement this connection knows, by name. */
typedef struct prep_s {
  char *name;         /* NULL: free slot */
  uint64_t sql_hash;
  int ready;          /* Parse was sent and did not fail */
} prep_t;

struct pgmld_pool_conn_s {
  pgmld_list_t link;                  /* in pool->lists[state] */
  pgmld_list_t dlink;                 /* in pool->deferred */
  pgmld_pool_t *pool;
  unsigned id;                  /* 1-based, for logs */
  conn_state_t state;
  PGconn *pg;
  uint64_t gen;                 /* bumped for every PGconn; stale work checks it */
  uv_poll_t *poll;              /* NULL when none; freed in its close cb */
  int poll_fd;
  int poll_events;
  uv_timer_t timer;
  timer_use_t timer_use;
  unsigned attempts;            /* failed attempts since the last success */
  uint64_t last_used;           /* loop ms when it last became idle */
  uint64_t deadline;            /* the lease's, loop ms; 0 none */
  int flushing;                 /* PQflush() returned 1 */
  int cancel_inflight;
  int lost_pending;             /* a result said the session is over */
  int server_version;
  int backend_pid;
  uint64_t session;             /* the caller's word: see pgmld_pool_conn_session */
  char *hostaddr;               /* resolved addresses for this attempt */
  pgmld_pool_wait_t *waiter;    /* CHECKING: the request it is checked for */
  op_t op;
  prep_t *prep;                 /* open-addressing table, prep_cap slots */
  size_t prep_cap;
  size_t prep_count;
  char fatal[256];              /* last FATAL notice, the best reason */
  char error[256];              /* why it was lost or failed */
};

typedef enum { WAIT_QUEUED, WAIT_CHECKING, WAIT_DONE, WAIT_FINISHED } wait_state_t;

struct pgmld_pool_wait_s {
  pgmld_list_t link;                  /* in pool->waiters or pool->done */
  pgmld_pool_t *pool;
  wait_state_t state;
  pgmld_pool_acquire_cb cb;
  void *data;
  uint64_t deadline;            /* the caller's; 0 none */
  int capped;                   /* the timer is acquire_timeout_ms, not `deadline` */
  uint64_t start_ns;
  pgmld_pool_conn_t *conn;      /* DONE with OK: the lease; CHECKING: candidate */
  pgmld_status_t status;
  uv_timer_t timer;             /* freed with the waiter, in its close cb */
};

/* A host of the connection string, and whether it needs a DNS lookup. */
typedef struct host_s {
  char *name;
  int resolve;
} host_t;

struct pgmld_pool_s {
  uv_loop_t *loop;
  pgmld_pool_config_t cfg;      /* strings owned */
  /* Slots, each allocated on its own so that a lease's pointer stays
   * valid when the array grows.  Slots [0, cfg.size) are the pool; a slot
   * beyond cfg.size (after pgmld_pool_resize() shrank it) is closed when it
   * next comes to rest (retire()), and reused if the pool grows again. */
  pgmld_pool_conn_t **conns;
  unsigned nslots;
  pgmld_list_t lists[CONN_NSTATES];
  unsigned counts[CONN_NSTATES];
  unsigned lost_leases;         /* LEASED with pg == NULL */
  pgmld_list_t waiters;               /* FIFO of WAIT_QUEUED */
  unsigned nwaiting;
  pgmld_list_t done;                  /* WAIT_DONE, callbacks to run */
  pgmld_list_t deferred;              /* connections whose op completes without I/O */
  uv_idle_t dispatcher;
  int dispatching;
  char *options;                /* libpq "options": the user's, then ours */
  host_t *hosts;
  size_t nhosts;
  int resolve;                  /* some host needs a DNS lookup */
  unsigned cancels_running;
  unsigned resolves_running;
  pgmld_list_t resolves;              /* resolve_req_t in flight, to cancel on close */
  unsigned handles;             /* open handles; freed when it reaches 0 */
  int closing;
  int closing_handles;
  pgmld_pool_close_cb close_cb;
  void *close_data;
  uint64_t rng;
  char last_error[256];
  pgmld_pool_stats_t stats;     /* counters only; states come from counts */
};

/* ------------------------------------------------------------------ small helpers */

static void schedule_dispatch(pgmld_pool_t *pool);
static void conn_lost(pgmld_pool_conn_t *c, const char *fmt, ...) PGMLD_PRINTF(2, 3);
static void start_connect(pgmld_pool_conn_t *c);
static void go_idle(pgmld_pool_conn_t *c);
static int retire_if_extra(pgmld_pool_conn_t *c);
static void settle(pgmld_pool_conn_t *c);
static void op_finish(pgmld_pool_conn_t *c);
static void on_io(uv_poll_t *h, int status, int events);
static void maybe_finish_close(pgmld_pool_t *pool);

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

/* A statement's prepared name: its own, or for PGMLD_POOL_STMT_PREPARE one
 * made from the text's FNV-1 hash and length into buf; NULL: unnamed.  The
 * slot check compares the FNV-1a hash of the text it was prepared with, so
 * a collision would have to fool two hashes at once. */
#define DERIVED_NAME_SIZE 48
static const char *stmt_name(const pgmld_pool_stmt_t *s, char buf[DERIVED_NAME_SIZE]) {
  if (s->name || !(s->flags & PGMLD_POOL_STMT_PREPARE)) return s->name;
  uint64_t h = 14695981039346656037ull;
  size_t len = strlen(s->sql);
  for (size_t i = 0; i < len; i++) {
    h *= 1099511628211ull;
    h ^= (unsigned char)s->sql[i];
  }
  snprintf(buf, DERIVED_NAME_SIZE, "pgmld_%016" PRIx64 "_%zx", h, len);
  return buf;
}

static uint64_t next_random(pgmld_pool_t *pool) {
  uint64_t x = pool->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  pool->rng = x;
  return x;
}

/* Copies libpq's multi-line message into dst as one line, without the
 * trailing newline. */
static void one_line(char *dst, size_t cap, const char *src) {
  size_t j = 0;
  if (!src || !*src) src = "unknown error";
  for (size_t i = 0; src[i] && j + 1 < cap; i++) {
    char ch = src[i];
    if (ch == '\n' || ch == '\r') {
      while (src[i + 1] == '\n' || src[i + 1] == '\r' || src[i + 1] == ' ' || src[i + 1] == '\t') i++;
      if (!src[i + 1]) break;
      if (j + 2 >= cap) break;
      dst[j++] = ';';
      dst[j++] = ' ';
      continue;
    }
    dst[j++] = ch;
  }
  while (j > 0 && (dst[j - 1] == ' ' || dst[j - 1] == ';')) j--;
  dst[j] = '\0';
}

static void change_state(pgmld_pool_conn_t *c, conn_state_t to) {
  pgmld_pool_t *pool = c->pool;
  if (!(transitions[c->state] & (1u << to))) {
    pgmld_log_error(WHERE, "connection %u: impossible move from %s to %s", c->id,
                    state_names[c->state], state_names[to]);
    abort();
  }
  if (c->state == CONN_LEASED && !c->pg) pool->lost_leases--;
  pgmld_list_remove(&c->link);
  pool->counts[c->state]--;
  c->state = to;
  pool->counts[to]++;
  /* Idle connections are taken from the front: the most recently used one is
   * leased first, so the others age and only they pay for a health check. */
  if (to == CONN_IDLE)
    list_push_front(&pool->lists[to], &c->link);
  else
    pgmld_list_append(&pool->lists[to], &c->link);
}

/* ------------------------------------------------------------------ handles */

static void pool_free(pgmld_pool_t *pool) {
  pgmld_pool_close_cb cb = pool->close_cb;
  void *data = pool->close_data;
  for (unsigned i = 0; i < pool->nslots; i++) {
    pgmld_free(pool->conns[i]->prep);
    pgmld_free(pool->conns[i]->hostaddr);
    pgmld_free(pool->conns[i]);
  }
  for (size_t i = 0; i < pool->nhosts; i++) pgmld_free(pool->hosts[i].name);
  pgmld_free(pool->hosts);
  pgmld_free(pool->options);
  pgmld_free(pool->conns);
  pgmld_free((char *)pool->cfg.conninfo);
  pgmld_free((char *)pool->cfg.application_name);
  pgmld_free(pool);
  if (cb) cb(data);
}

/* Every close callback ends here; the pool goes with its last handle. */
static void handle_gone(pgmld_pool_t *pool) {
  pool->handles--;
  if (pool->handles == 0 && pool->closing_handles) pool_free(pool);
}

static void on_handle_closed(uv_handle_t *h) { handle_gone(h->data); }

static void on_poll_closed(uv_handle_t *h) {
  pgmld_pool_t *pool = h->data;
  pgmld_free(h);
  handle_gone(pool);
}

/* Stops watching the connection's socket.  Must come before PQfinish() or
 * anything else that closes the fd: libuv must drop the fd from epoll while
 * it is still open. */
static void poll_close(pgmld_pool_conn_t *c) {
  if (!c->poll) return;
  c->poll->data = c->pool;
  uv_close((uv_handle_t *)c->poll, on_poll_closed);
  c->poll = NULL;
  c->poll_fd = -1;
  c->poll_events = 0;
}

/* Watches `fd` for `events`.  libpq may have replaced its socket since the
 * last call (a new host, a retry); a uv_poll handle is bound to one fd, so a
 * different fd gets a new handle and the old one is closed.  Returns 0 or a
 * libuv error. */
PGMLD_MUST_CHECK static int poll_arm(pgmld_pool_conn_t *c, int fd, int events, uv_poll_cb cb) {
  pgmld_pool_t *pool = c->pool;
  int r;
  if (fd < 0) return UV_EBADF;
  if (c->poll && c->poll_fd != fd) poll_close(c);
  if (!c->poll) {
    uv_poll_t *p = pgmld_malloc(sizeof(*p));
    if (!p) return UV_ENOMEM;
    r = uv_poll_init_socket(pool->loop, p, fd);
    if (r < 0) {
      pgmld_free(p);
      return r;
    }
    pool->handles++;
    p->data = c;
    c->poll = p;
    c->poll_fd = fd;
    c->poll_events = 0;
  }
  r = uv_poll_start(c->poll, events, cb);
  if (r < 0) return r;
  c->poll_events = events;
  return 0;
}

static void timer_stop(pgmld_pool_conn_t *c) {
  uv_timer_stop(&c->timer);
  c->timer_use = TIMER_NONE;
}

static void on_timer(uv_timer_t *t);

static void timer_start(pgmld_pool_conn_t *c, timer_use_t use, uint64_t ms) {
  c->timer_use = use;
  /* uv_timer_start() fails only for a closing handle or a NULL callback. */
  if (uv_timer_start(&c->timer, on_timer, ms, 0) < 0) c->timer_use = TIMER_NONE;
}

/* Arms the lease's deadline for the statement that was just sent. */
static void timer_deadline(pgmld_pool_conn_t *c) {
  uint64_t now = uv_now(c->pool->loop);
  if (!c->deadline) {
    timer_stop(c);
    return;
  }
  timer_start(c, TIMER_DEADLINE, c->deadline > now ? c->deadline - now : 0);
}

/* ------------------------------------------------------------------ prepared statements */

static void prep_clear(pgmld_pool_conn_t *c) {
  for (size_t i = 0; i < c->prep_cap; i++) {
    pgmld_free(c->prep[i].name);
    c->prep[i].name = NULL;
  }
  c->prep_count = 0;
}

/* The slot holding `name`, or the free slot where it would go; SIZE_MAX when
 * the table has no room (never: it has twice max_prepared slots). */
static size_t prep_slot(const pgmld_pool_conn_t *c, const char *name) {
  if (!c->prep_cap) return SIZE_MAX;
  size_t mask = c->prep_cap - 1;
  size_t i = (size_t)fnv1a(name) & mask;
  for (size_t probes = 0; probes < c->prep_cap; probes++, i = (i + 1) & mask) {
    if (!c->prep[i].name || strcmp(c->prep[i].name, name) == 0) return i;
  }
  return SIZE_MAX;
}

/* ------------------------------------------------------------------ status mapping */

static int is_conn_loss_state(const char *s) {
  if (!s) return 0;
  return strncmp(s, "08", 2) == 0 || strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 ||
         strcmp(s, "57P03") == 0;
}

/* Whether an error result means the session is over.  The SQLSTATE alone
 * does not say: a type's binary input function that runs out of bytes
 * raises 08P01 protocol_violation at ERROR severity, and the session goes
 * on.  Only a FATAL (or PANIC) error ends it; 57P0x are always FATAL. */
static int is_conn_loss(const PGresult *res) {
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (!is_conn_loss_state(state)) return 0;
  return !sev || strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0;
}

static int result_failed(ExecStatusType rs) {
  switch (rs) {
  case PGRES_COMMAND_OK:
  case PGRES_TUPLES_OK:
  case PGRES_EMPTY_QUERY:
  case PGRES_SINGLE_TUPLE:
  case PGRES_PIPELINE_SYNC:
    return 0;
  default:
    return 1;
  }
}

/* Maps an error result; `cancel_reason` (when not OK) is what a 57014 means
 * because the pool asked for the cancel. */
static pgmld_code_t map_result(const PGresult *res, unsigned flags, pgmld_code_t cancel_reason,
                               pgmld_status_t *st) {
  ExecStatusType rs = PQresultStatus(res);
  if (!result_failed(rs)) return PGMLD_OK;
  if (rs == PGRES_PIPELINE_ABORTED) {
    pgmld_status_set(st, PGMLD_ABORTED, "statement skipped: an earlier statement in the batch failed");
    return PGMLD_ABORTED;
  }
  if (rs == PGRES_COPY_IN || rs == PGRES_COPY_OUT || rs == PGRES_COPY_BOTH) {
    pgmld_status_set(st, PGMLD_INTERNAL, "COPY is not supported on pooled connections");
    return PGMLD_INTERNAL;
  }
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
  char msg[PGMLD_STATUS_MESSAGE_MAX];
  one_line(msg, sizeof(msg), primary ? primary : PQresultErrorMessage(res));

  pgmld_code_t code = PGMLD_INTERNAL;
  if (!state) {
    /* libpq's own errors carry no SQLSTATE; they mean the connection failed. */
    code = PGMLD_UNAVAILABLE;
    pgmld_status_set(st, code, "connection to PostgreSQL lost: %s", msg);
    return code;
  }
  if (strcmp(state, "57014") == 0) {
    code = cancel_reason != PGMLD_OK ? cancel_reason : PGMLD_CANCELLED;
    if (code == PGMLD_DEADLINE_EXCEEDED)
      pgmld_status_set(st, code, "deadline exceeded: PostgreSQL cancelled the statement");
    else
      pgmld_status_set(st, code, "statement cancelled: %s", msg);
    return code;
  }
  if (strcmp(state, "23505") == 0)
    code = PGMLD_ALREADY_EXISTS;
  else if (strncmp(state, "22", 2) == 0)
    code = PGMLD_INVALID_ARGUMENT;
  else if (strcmp(state, "42P01") == 0 && (flags & PGMLD_POOL_STMT_UNDEFINED_TABLE_NOT_FOUND))
    code = PGMLD_NOT_FOUND;
  else if (is_conn_loss(res))
    code = PGMLD_UNAVAILABLE;
  else if (strcmp(state, "08P01") == 0)
    code = PGMLD_INVALID_ARGUMENT;  /* a malformed binary parameter (see is_conn_loss) */
  else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
    code = PGMLD_ABORTED;

  if (code == PGMLD_UNAVAILABLE) {
    pgmld_status_set(st, code, "connection to PostgreSQL lost: %s (SQLSTATE %s)", msg, state);
  } else if (detail && *detail) {
    char d[256];
    one_line(d, sizeof(d), detail);
    pgmld_status_set(st, code, "PostgreSQL: %s (SQLSTATE %s; %s)", msg, state, d);
  } else {
    pgmld_status_set(st, code, "PostgreSQL: %s (SQLSTATE %s)", msg, state);
  }
  return code;
}

pgmld_code_t pgmld_pool_status_from_result(const PGresult *res, unsigned flags, pgmld_status_t *st) {
  if (!res) {
    pgmld_status_set(st, PGMLD_UNAVAILABLE, "no result from PostgreSQL");
    return PGMLD_UNAVAILABLE;
  }
  return map_result(res, flags, PGMLD_OK, st);
}

/* ------------------------------------------------------------------ operations */

static void op_reset(op_t *op) {
  memset(op, 0, sizeof(*op));
  op->kind = OP_NONE;
  op->status.code = PGMLD_OK;
}

/* Frees what an operation holds without calling anyone. */
static void op_discard(pgmld_pool_conn_t *c) {
  op_t *op = &c->op;
  if (op->deferred) {
    pgmld_list_remove(&c->dlink);
    op->deferred = 0;
  }
  for (size_t i = 0; op->results && i < op->n; i++) PQclear(op->results[i]);
  if (op->results != op->results_inline) pgmld_free(op->results);
  if (op->expect != op->expect_inline) pgmld_free(op->expect);
  op_reset(op);
}

/* Sets up the op's arrays for `n` statements.  Returns 0 or -ENOMEM (op
 * untouched). */
PGMLD_MUST_CHECK static int op_prepare(op_t *op, op_kind_t kind, size_t n) {
  PGresult **results = op->results_inline;
  expect_t *expect = op->expect_inline;
  if (n > 1) {
    results = pgmld_calloc(n, sizeof(*results));
    expect = pgmld_calloc(2 * n + 1, sizeof(*expect));
    if (!results || !expect) {
      pgmld_free(results);
      pgmld_free(expect);
      return -ENOMEM;
    }
  }
  op_reset(op);
  op->kind = kind;
  op->n = n;
  op->results = results;
  op->results[0] = NULL;
  op->expect = expect;
  return 0;
}

/* Completes the op from the dispatcher, e.g. when it failed before anything
 * was sent: callbacks never run inside the call that started them. */
static void op_defer(pgmld_pool_conn_t *c) {
  if (c->op.deferred) return;
  c->op.results_done = 1;
  c->op.deferred = 1;
  pgmld_list_append(&c->pool->deferred, &c->dlink);
  schedule_dispatch(c->pool);
}

static void op_try_finish(pgmld_pool_conn_t *c) {
  /* Until the cancel request is through, the server might still deliver it;
   * reporting the op earlier could let the caller's next statement be the
   * one it cancels. */
  if (c->op.kind != OP_NONE && c->op.results_done && !c->cancel_inflight && !c->op.deferred)
    op_finish(c);
}

/* Queues one statement (and its Parse on first use of a name) into the
 * pipeline.  Returns 0, or -1 when libpq refused (the connection is then
 * unusable: part of the pipeline may be queued). */
PGMLD_MUST_CHECK static int send_stmt(pgmld_pool_conn_t *c, const pgmld_pool_stmt_t *s, uint32_t index) {
  op_t *op = &c->op;
  pgmld_pool_t *pool = c->pool;
  char derived[DERIVED_NAME_SIZE];
  const char *sname = stmt_name(s, derived);
  if (sname) {
    size_t slot = prep_slot(c, sname);
    prep_t *p = NULL;
    if (slot != SIZE_MAX && c->prep[slot].name) {
      p = &c->prep[slot];
    } else if (slot != SIZE_MAX && c->prep_count < pool->cfg.max_prepared) {
      char *name = pgmld_strdup(sname);
      if (name) {  /* without memory for the name the statement runs unnamed */
        p = &c->prep[slot];
        p->name = name;
        p->sql_hash = fnv1a(s->sql);
        p->ready = 0;
        c->prep_count++;
      }
    }
    if (p) {
      if (!p->ready) {
        if (!PQsendPrepare(c->pg, sname, s->sql, s->nparams, s->types)) return -1;
        op->expect[op->nexpect++] = (expect_t){EXPECT_PREPARE, index, (uint32_t)slot, s->flags};
        /* Ready from now on, so that a second use in this same pipeline does
         * not prepare again; a failed Parse clears it. */
        p->ready = 1;
        pool->stats.prepared++;
      }
      if (!PQsendQueryPrepared(c->pg, sname, s->nparams, s->values, s->lengths, s->formats,
                               s->binary_result ? 1 : 0))
        return -1;
      op->expect[op->nexpect++] = (expect_t){EXPECT_STMT, index, 0, s->flags};
      return 0;
    }
  }
  if (!PQsendQueryParams(c->pg, s->sql, s->nparams, s->types, s->values, s->lengths, s->formats,
                         s->binary_result ? 1 : 0))
    return -1;
  op->expect[op->nexpect++] = (expect_t){EXPECT_STMT, index, 0, s->flags};
  return 0;
}

/* Writes what libpq has buffered; watches writability while it cannot.
 * Returns 0, or -1 after the connection was declared lost. */
static int flush_out(pgmld_pool_conn_t *c) {
  int r = PQflush(c->pg);
  if (r < 0) {
    conn_lost(c, "%s", PQerrorMessage(c->pg));
    return -1;
  }
  c->flushing = r == 1;
  int want = UV_READABLE | (c->flushing ? UV_WRITABLE : 0);
  if (want != c->poll_events) {
    int e = poll_arm(c, PQsocket(c->pg), want, on_io);
    if (e < 0) {
      conn_lost(c, "cannot watch the socket: %s", uv_strerror(e));
      return -1;
    }
  }
  return 0;
}

/* Sends the statements of c->op (already prepared for n) with one Sync.
 * Failures complete the op through the dispatcher. */
static void op_send(pgmld_pool_conn_t *c, const pgmld_pool_stmt_t *stmts, size_t n) {
  /* Every op goes through the pipeline, even a single statement: a named
   * statement's first use then prepares and executes in one round trip, and
   * results are read the same way for a statement and a batch.  Entering
   * and leaving pipeline mode is local to libpq (no message is sent); the
   * connection is out of it between ops, see process_results. */
  if (!PQenterPipelineMode(c->pg)) goto fail;
  for (size_t i = 0; i < n; i++) {
    if (send_stmt(c, &stmts[i], (uint32_t)i) < 0) goto fail;
  }
  if (!PQpipelineSync(c->pg)) goto fail;
  c->op.expect[c->op.nexpect++] = (expect_t){EXPECT_SYNC, 0, 0, 0};
  if (flush_out(c) < 0) return;
  if (c->op.kind == OP_QUERY || c->op.kind == OP_BATCH)
    timer_deadline(c);
  else
    timer_start(c, TIMER_CHECK, c->pool->cfg.connect_timeout_ms);
  return;
fail:
  conn_lost(c, "could not send to PostgreSQL: %s", PQerrorMessage(c->pg));
}

/* Runs an internal one-statement op (health check, rollback). */
static void op_internal(pgmld_pool_conn_t *c, op_kind_t kind, const char *sql) {
  pgmld_pool_stmt_t s = {.sql = sql};
  /* n == 1 uses inline storage and cannot fail. */
  if (op_prepare(&c->op, kind, 1) < 0) abort();
  op_send(c, &s, 1);
}

/* Stores one result of the pipeline where it belongs. */
static void take_result(pgmld_pool_conn_t *c, const expect_t *e, PGresult *res) {
  op_t *op = &c->op;
  ExecStatusType rs = PQresultStatus(res);
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

  if (result_failed(rs) && is_conn_loss(res)) {
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    char line[200];
    one_line(line, sizeof(line), m);
    snprintf(c->fatal, sizeof(c->fatal), "%s (SQLSTATE %s)", line, state);
    c->lost_pending = 1;
  }
  if (e->kind == EXPECT_PREPARE) {
    if (rs == PGRES_COMMAND_OK) {
      PQclear(res);
      return;
    }
    if (e->slot < c->prep_cap && c->prep[e->slot].name) c->prep[e->slot].ready = 0;
  }
  if (result_failed(rs)) map_result(res, e->flags, op->cancel_reason, &op->status);
  if (!op->results[e->index])
    op->results[e->index] = res;  /* the first result of a statement is its answer */
  else
    PQclear(res);
}

/* Reads every result that is complete without blocking. */
static void process_results(pgmld_pool_conn_t *c) {
  op_t *op = &c->op;
  while (op->kind != OP_NONE && !op->results_done) {
    /* PQgetResult() would block on a busy connection, even a nonblocking one. */
    /* A lost connection yields libpq's own error result, then only NULLs:
     * stop rather than walk the expected results with nothing to match. */
    if (PQstatus(c->pg) == CONNECTION_BAD) break;
    if (PQisBusy(c->pg)) break;
    PGresult *res = PQgetResult(c->pg);
    const expect_t *e = &op->expect[op->next];
    if (e->kind == EXPECT_SYNC) {
      if (res && PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
        PQclear(res);
        op->results_done = 1;
        /* Out of pipeline mode libpq is truly idle, and parses what the
         * server sends unasked, such as the FATAL message of a terminated
         * backend (on_notice): in pipeline mode it would leave it unread in
         * its buffer, and a dead connection would look alive (take_idle). */
        if (!PQexitPipelineMode(c->pg)) {
          conn_lost(c, "cannot leave pipeline mode: %s", PQerrorMessage(c->pg));
          return;
        }
        break;
      }
      char what[64];
      snprintf(what, sizeof(what), "%s", res ? PQresStatus(PQresultStatus(res)) : "no result");
      PQclear(res);
      conn_lost(c, "protocol confusion: %s where the end of the pipeline was expected", what);
      return;
    }
    if (!res) {  /* end of this statement's results */
      op->next++;
      continue;
    }
    take_result(c, e, res);
    if (PQstatus(c->pg) == CONNECTION_BAD) break;
  }
  if (PQstatus(c->pg) == CONNECTION_BAD) {
    conn_lost(c, "%s", c->fatal[0] ? c->fatal : PQerrorMessage(c->pg));
    return;
  }
  if (op->results_done) {
    if (c->lost_pending) {
      /* The server said this session is over (admin shutdown, ...): do not
       * wait for the socket to close before reconnecting. */
      conn_lost(c, "%s", c->fatal);
      return;
    }
    /* While a cancel is in flight its grace timer keeps running: the op
     * waits for the cancel to finish, but not forever. */
    if (!c->cancel_inflight) timer_stop(c);
    op_try_finish(c);
  }
}

/* ------------------------------------------------------------------ cancel */

#ifdef LIBPQ_HAS_ASYNC_CANCEL
/* libpq >= 17: the cancel request runs on the loop like a connection, with
 * PQcancelStart()/PQcancelPoll(); nothing blocks. */
typedef struct cancel_req_s {
  pgmld_pool_conn_t *conn;
  uint64_t gen;
  PGcancelConn *cc;
  uv_poll_t *poll;
  int fd;
} cancel_req_t;

static void cancel_done(cancel_req_t *r, const char *error);

static void cancel_poll_close(cancel_req_t *r) {
  if (!r->poll) return;
  r->poll->data = r->conn->pool;
  uv_close((uv_handle_t *)r->poll, on_poll_closed);
  r->poll = NULL;
}

static void on_cancel_io(uv_poll_t *h, int status, int events);

static void cancel_arm(cancel_req_t *r, int events) {
  pgmld_pool_t *pool = r->conn->pool;
  int fd = PQcancelSocket(r->cc);
  int e;
  if (fd < 0) {
    cancel_done(r, "cancel connection has no socket");
    return;
  }
  if (r->poll && r->fd != fd) cancel_poll_close(r);
  if (!r->poll) {
    r->poll = pgmld_malloc(sizeof(*r->poll));
    if (!r->poll) {
      cancel_done(r, "out of memory");
      return;
    }
    e = uv_poll_init_socket(pool->loop, r->poll, fd);
    if (e < 0) {
      pgmld_free(r->poll);
      r->poll = NULL;
      cancel_done(r, uv_strerror(e));
      return;
    }
    pool->handles++;
    r->poll->data = r;
    r->fd = fd;
  }
  e = uv_poll_start(r->poll, events, on_cancel_io);
  if (e < 0) cancel_done(r, uv_strerror(e));
}

static void on_cancel_io(uv_poll_t *h, int status, int events) {
  cancel_req_t *r = h->data;
  uv_poll_stop(h);
  switch (PQcancelPoll(r->cc)) {
  case PGRES_POLLING_OK:
    cancel_done(r, NULL);
    break;
  case PGRES_POLLING_READING:
    cancel_arm(r, UV_READABLE);
    break;
  case PGRES_POLLING_WRITING:
    cancel_arm(r, UV_WRITABLE);
    break;
  default:
    cancel_done(r, PQcancelErrorMessage(r->cc));
    break;
  }
}

PGMLD_MUST_CHECK static int cancel_start(pgmld_pool_conn_t *c, char *err, size_t errlen) {
  cancel_req_t *r = pgmld_calloc(1, sizeof(*r));
  if (!r) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  r->conn = c;
  r->gen = c->gen;
  r->fd = -1;
  r->cc = PQcancelCreate(c->pg);
  if (!r->cc || !PQcancelStart(r->cc)) {
    one_line(err, errlen, r->cc ? PQcancelErrorMessage(r->cc) : "out of memory");
    if (r->cc) PQcancelFinish(r->cc);
    pgmld_free(r);
    return -EIO;
  }
  c->pool->cancels_running++;
  /* As with PQconnectStart(): behave as if the last poll asked for writing. */
  cancel_arm(r, UV_WRITABLE);
  return 0;
}
#else
/* libpq < 17 has only PQcancel(), which connects to the postmaster and waits
 * for it to close the connection: a blocking call, so it runs on the libuv
 * threadpool.  PGcancel is a copy of what it needs and is safe to use from
 * another thread while the loop keeps using the PGconn. */
typedef struct cancel_req_s {
  uv_work_t work;
  pgmld_pool_conn_t *conn;
  uint64_t gen;
  PGcancel *pgc;
  int ok;
  char err[256];
} cancel_req_t;

static void cancel_done(cancel_req_t *r, const char *error);

static void cancel_work(uv_work_t *w) {
  cancel_req_t *r = CONTAINER_OF(w, cancel_req_t, work);
  r->ok = PQcancel(r->pgc, r->err, (int)sizeof(r->err));
}

static void cancel_after(uv_work_t *w, int status) {
  cancel_req_t *r = CONTAINER_OF(w, cancel_req_t, work);
  if (status < 0)
    cancel_done(r, uv_strerror(status));
  else
    cancel_done(r, r->ok ? NULL : r->err);
}

PGMLD_MUST_CHECK static int cancel_start(pgmld_pool_conn_t *c, char *err, size_t errlen) {
  cancel_req_t *r = pgmld_calloc(1, sizeof(*r));
  if (!r) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  r->conn = c;
  r->gen = c->gen;
  r->pgc = PQgetCancel(c->pg);
  if (!r->pgc) {
    snprintf(err, errlen, "PQgetCancel failed");
    pgmld_free(r);
    return -EIO;
  }
  int e = uv_queue_work(c->pool->loop, &r->work, cancel_work, cancel_after);
  if (e < 0) {
    snprintf(err, errlen, "%s", uv_strerror(e));
    PQfreeCancel(r->pgc);
    pgmld_free(r);
    return e;
  }
  c->pool->cancels_running++;
  return 0;
}
#endif

/* The cancel request finished (error NULL) or failed.  If the connection
 * was replaced meanwhile the request concerned an old backend: ignored. */
static void cancel_done(cancel_req_t *r, const char *error) {
  pgmld_pool_conn_t *c = r->conn;
  pgmld_pool_t *pool = c->pool;
#ifdef LIBPQ_HAS_ASYNC_CANCEL
  cancel_poll_close(r);
  PQcancelFinish(r->cc);
#else
  PQfreeCancel(r->pgc);
#endif
  pool->cancels_running--;
  if (c->gen == r->gen && c->cancel_inflight) {
    c->cancel_inflight = 0;
    if (error) {
      char line[200];
      one_line(line, sizeof(line), error);
      /* The grace timer still runs: if the statement does not stop, the
       * connection is closed, which stops it. */
      pgmld_log_warn(WHERE, "connection %u: cancel request failed: %s", c->id, line);
    }
    op_try_finish(c);
  }
  pgmld_free(r);
  schedule_dispatch(pool);
}

/* Asks the server to stop the op running on `c`, for `reason`. */
static void request_cancel(pgmld_pool_conn_t *c, pgmld_code_t reason) {
  pgmld_pool_t *pool = c->pool;
  op_t *op = &c->op;
  char err[256];
  if (op->kind == OP_NONE || op->results_done || op->cancel_reason != PGMLD_OK || !c->pg) return;
  op->cancel_reason = reason;
  pool->stats.cancels++;
  if (pool->cancels_running >= CANCELS_MAX) {
    /* Closing the connection stops the statement too, a little later. */
    conn_lost(c, "statement stopped by closing the connection (%u cancel requests already in flight)",
              pool->cancels_running);
    return;
  }
  if (cancel_start(c, err, sizeof(err)) < 0) {
    conn_lost(c, "statement stopped by closing the connection: cancel request failed: %s", err);
    return;
  }
  c->cancel_inflight = 1;
  timer_start(c, TIMER_GRACE, pool->cfg.cancel_timeout_ms);
}

/* ------------------------------------------------------------------ connection life */

static unsigned backoff_ms(pgmld_pool_conn_t *c) {
  const pgmld_pool_config_t *cfg = &c->pool->cfg;
  if (c->attempts == 0) return 0;
  uint64_t d = cfg->backoff_initial_ms;
  for (unsigned i = 1; i < c->attempts && d < cfg->backoff_max_ms; i++) d *= 2;
  if (d > cfg->backoff_max_ms) d = cfg->backoff_max_ms;
  /* Jitter in [d/2, d], so that N connections do not retry in lockstep. */
  uint64_t half = d / 2;
  return (unsigned)(half + next_random(c->pool) % (d - half + 1));
}

/* Moves a connection with no PGconn to BACKOFF and arms its next attempt. */
static void schedule_reconnect(pgmld_pool_conn_t *c) {
  unsigned delay = backoff_ms(c);
  change_state(c, CONN_BACKOFF);
  if (c->pool->closing) {
    timer_stop(c);
    return;
  }
  if (retire_if_extra(c)) return;
  timer_start(c, TIMER_BACKOFF, delay);
}

/* Forgets the PGconn: socket watch first, then PQfinish (see poll_close). */
static void drop_pg(pgmld_pool_conn_t *c) {
  poll_close(c);
  if (c->pg) PQfinish(c->pg);
  c->pg = NULL;
  c->gen++;
  c->flushing = 0;
  c->cancel_inflight = 0;  /* it concerned the old backend */
  c->lost_pending = 0;
  c->fatal[0] = '\0';
  c->server_version = 0;
  c->backend_pid = 0;
  c->session = 0;
  prep_clear(c);
}

static void connect_failed(pgmld_pool_conn_t *c, const char *why) {
  pgmld_pool_t *pool = c->pool;
  one_line(c->error, sizeof(c->error), c->fatal[0] ? c->fatal : why);
  snprintf(pool->last_error, sizeof(pool->last_error), "%s", c->error);
  pool->stats.failures++;
  drop_pg(c);
  timer_stop(c);
  if (c->attempts == 0)
    pgmld_log_warn(WHERE, "connection %u: cannot connect to PostgreSQL: %s", c->id, c->error);
  else
    pgmld_log_debug(WHERE, "connection %u: attempt %u failed: %s", c->id, c->attempts + 1, c->error);
  if (c->attempts < 64) c->attempts++;
  schedule_reconnect(c);
}

/* The connection is unusable: remember why, close it, and move on.  A lease
 * keeps its (now empty) connection until released; its running op fails
 * with UNAVAILABLE (or with the cancel reason when the pool closed it to stop
 * a statement).  Never calls a user callback directly. */
static void conn_lost(pgmld_pool_conn_t *c, const char *fmt, ...) {
  pgmld_pool_t *pool = c->pool;
  char why[256];
  va_list ap;
  if (!c->pg) return;
  va_start(ap, fmt);
  vsnprintf(why, sizeof(why), fmt, ap);
  va_end(ap);
  one_line(c->error, sizeof(c->error), why);
  snprintf(pool->last_error, sizeof(pool->last_error), "%s", c->error);
  pool->stats.failures++;
  pgmld_log_warn(WHERE, "connection %u (%s): lost: %s", c->id, state_names[c->state], c->error);

  op_t *op = &c->op;
  /* An op whose results are all in keeps the status they gave. */
  if (op->kind != OP_NONE && !op->deferred && !op->results_done) {
    if (op->cancel_reason != PGMLD_OK)
      pgmld_status_set(&op->status, op->cancel_reason, "%s: %s",
                       op->cancel_reason == PGMLD_DEADLINE_EXCEEDED ? "deadline exceeded"
                                                                    : "statement cancelled",
                       c->error);
    else
      pgmld_status_set(&op->status, PGMLD_UNAVAILABLE, "connection to PostgreSQL lost: %s", c->error);
  }
  drop_pg(c);
  timer_stop(c);
  c->attempts = 0;  /* the first reconnect is immediate */

  int user_op = (op->kind == OP_QUERY && op->query_cb) || (op->kind == OP_BATCH && op->batch_cb);
  if (op->kind != OP_NONE && !user_op) op_discard(c);

  switch (c->state) {
  case CONN_LEASED:
    pool->lost_leases++;
    if (user_op) op_defer(c);
    break;
  case CONN_CHECKING: {
    pgmld_pool_wait_t *w = c->waiter;
    c->waiter = NULL;
    if (w) {  /* it keeps its place at the head of the queue */
      w->state = WAIT_QUEUED;
      w->conn = NULL;
      list_push_front(&pool->waiters, &w->link);
      pool->nwaiting++;
    }
    schedule_reconnect(c);
    break;
  }
  case CONN_IDLE:
  case CONN_RESETTING:
    schedule_reconnect(c);
    break;
  default:
    /* CONNECTING uses connect_failed(); BACKOFF and CLOSED have no PGconn. */
    schedule_reconnect(c);
    break;
  }
  schedule_dispatch(pool);
}

static void on_notice(void *arg, const PGresult *res) {
  pgmld_pool_conn_t *c = arg;
  const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  char line[200];
  one_line(line, sizeof(line), msg ? msg : PQresultErrorMessage(res));
  if (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0)) {
    /* A FATAL message between statements (admin shutdown, terminated
     * backend) is the reason the socket is about to close. */
    snprintf(c->fatal, sizeof(c->fatal), "%s (SQLSTATE %s)", line, state ? state : "?");
    return;
  }
  pgmld_log_debug(WHERE, "connection %u: %s: %s", c->id, sev ? sev : "NOTICE", line);
}

static void connected(pgmld_pool_conn_t *c) {
  pgmld_pool_t *pool = c->pool;
  timer_stop(c);
  if (PQsetnonblocking(c->pg, 1) != 0) {
    connect_failed(c, "PQsetnonblocking failed");
    return;
  }
  c->server_version = PQserverVersion(c->pg);
  c->backend_pid = PQbackendPID(c->pg);
  int e = poll_arm(c, PQsocket(c->pg), UV_READABLE, on_io);
  if (e < 0) {
    connect_failed(c, uv_strerror(e));
    return;
  }
  pool->stats.connects++;
  if (c->attempts > 0)
    pgmld_log_info(WHERE, "connection %u: connected again after %u failed attempts", c->id, c->attempts);
  else
    pgmld_log_debug(WHERE, "connection %u: connected (backend %d)", c->id, c->backend_pid);
  c->attempts = 0;
  c->error[0] = '\0';
  go_idle(c);
}

static void on_connect_io(uv_poll_t *h, int status, int events) {
  pgmld_pool_conn_t *c = h->data;
  /* Stop first: PQconnectPoll() may close this socket and open another, and
   * libuv must not be watching an fd when it is closed. */
  uv_poll_stop(h);
  PostgresPollingStatusType st = PQconnectPoll(c->pg);
  int e = 0;
  switch (st) {
  case PGRES_POLLING_OK:
    connected(c);
    return;
  case PGRES_POLLING_READING:
    e = poll_arm(c, PQsocket(c->pg), UV_READABLE, on_connect_io);
    break;
  case PGRES_POLLING_WRITING:
    e = poll_arm(c, PQsocket(c->pg), UV_WRITABLE, on_connect_io);
    break;
  default:
    connect_failed(c, PQerrorMessage(c->pg));
    return;
  }
  if (e < 0) connect_failed(c, uv_strerror(e));
}

/* Starts libpq's connection with the addresses resolved for this attempt. */
static void connect_begin(pgmld_pool_conn_t *c) {
  pgmld_pool_t *pool = c->pool;
  const char *keys[5] = {"dbname", "fallback_application_name", "options", NULL, NULL};
  const char *vals[5] = {pool->cfg.conninfo, pool->cfg.application_name, pool->options, NULL, NULL};
  if (c->hostaddr) {
    keys[3] = "hostaddr";
    vals[3] = c->hostaddr;
  }
  /* expand_dbname: the conninfo string (or URL) in "dbname" is expanded and
   * the keywords after it override what it says. */
  c->pg = PQconnectStartParams(keys, vals, 1);
  if (!c->pg) {
    connect_failed(c, "out of memory starting a connection");
    return;
  }
  PQsetNoticeReceiver(c->pg, on_notice, c);
  if (PQstatus(c->pg) == CONNECTION_BAD) {
    connect_failed(c, PQerrorMessage(c->pg));
    return;
  }
  /* libpq: before the first PQconnectPoll(), wait as if it asked for writing. */
  int e = poll_arm(c, PQsocket(c->pg), UV_WRITABLE, on_connect_io);
  if (e < 0) connect_failed(c, uv_strerror(e));
}

/* DNS: PQconnectStart() would call getaddrinfo() on the loop thread for a
 * host name, so names are resolved with uv_getaddrinfo() first and passed
 * as hostaddr (host stays, for TLS and messages). */
typedef struct resolve_req_s {
  uv_getaddrinfo_t req;
  pgmld_list_t link;                  /* in pool->resolves while running */
  pgmld_pool_conn_t *conn;
  uint64_t gen;
  size_t index;
  char **addrs;   /* nhosts entries, "" when the host needs no lookup */
} resolve_req_t;

static void resolve_free(resolve_req_t *r, size_t nhosts) {
  for (size_t i = 0; i < nhosts; i++) pgmld_free(r->addrs[i]);
  pgmld_free(r->addrs);
  pgmld_free(r);
}

static void resolve_next(resolve_req_t *r);

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  resolve_req_t *r = CONTAINER_OF(req, resolve_req_t, req);
  pgmld_pool_conn_t *c = r->conn;
  pgmld_pool_t *pool = c->pool;
  pool->resolves_running--;
  pgmld_list_remove(&r->link);
  if (c->gen != r->gen || c->state != CONN_CONNECTING || pool->closing) {
    uv_freeaddrinfo(res);
    resolve_free(r, pool->nhosts);
    schedule_dispatch(pool);
    return;
  }
  char ip[64] = "";
  if (status == 0 && res) {
    if (res->ai_family == AF_INET6)
      uv_ip6_name((const struct sockaddr_in6 *)(const void *)res->ai_addr, ip, sizeof(ip));
    else
      uv_ip4_name((const struct sockaddr_in *)(const void *)res->ai_addr, ip, sizeof(ip));
  }
  uv_freeaddrinfo(res);
  if (!ip[0]) {
    char why[256];
    snprintf(why, sizeof(why), "could not resolve host \"%s\": %s", pool->hosts[r->index].name,
             status < 0 ? uv_strerror(status) : "no address");
    resolve_free(r, pool->nhosts);
    connect_failed(c, why);
    return;
  }
  r->addrs[r->index] = pgmld_strdup(ip);
  if (!r->addrs[r->index]) {
    resolve_free(r, pool->nhosts);
    connect_failed(c, "out of memory resolving hosts");
    return;
  }
  r->index++;
  resolve_next(r);
}

static void resolve_next(resolve_req_t *r) {
  pgmld_pool_conn_t *c = r->conn;
  pgmld_pool_t *pool = c->pool;
  while (r->index < pool->nhosts && !pool->hosts[r->index].resolve) r->index++;
  if (r->index < pool->nhosts) {
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int e = uv_getaddrinfo(pool->loop, &r->req, on_resolved, pool->hosts[r->index].name, NULL, &hints);
    if (e < 0) {
      char why[256];
      snprintf(why, sizeof(why), "could not resolve host \"%s\": %s", pool->hosts[r->index].name,
               uv_strerror(e));
      resolve_free(r, pool->nhosts);
      connect_failed(c, why);
      return;
    }
    pool->resolves_running++;
    pgmld_list_append(&pool->resolves, &r->link);
    return;
  }
  /* All resolved: "a,b,,c" with empty entries for socket paths and numbers. */
  size_t len = 1;
  for (size_t i = 0; i < pool->nhosts; i++) len += (r->addrs[i] ? strlen(r->addrs[i]) : 0) + 1;
  pgmld_free(c->hostaddr);
  c->hostaddr = pgmld_malloc(len);
  if (!c->hostaddr) {
    resolve_free(r, pool->nhosts);
    connect_failed(c, "out of memory resolving hosts");
    return;
  }
  size_t off = 0;
  for (size_t i = 0; i < pool->nhosts; i++) {
    if (i) c->hostaddr[off++] = ',';
    size_t l = r->addrs[i] ? strlen(r->addrs[i]) : 0;
    if (l) memcpy(c->hostaddr + off, r->addrs[i], l);
    off += l;
  }
  c->hostaddr[off] = '\0';
  resolve_free(r, pool->nhosts);
  connect_begin(c);
}

static void start_connect(pgmld_pool_conn_t *c) {
  pgmld_pool_t *pool = c->pool;
  change_state(c, CONN_CONNECTING);
  c->gen++;
  c->session = 0;
  c->fatal[0] = '\0';
  timer_start(c, TIMER_CONNECT, pool->cfg.connect_timeout_ms);
  if (!pool->resolve) {
    connect_begin(c);
    return;
  }
  resolve_req_t *r = pgmld_calloc(1, sizeof(*r));
  char **addrs = pgmld_calloc(pool->nhosts, sizeof(*addrs));
  if (!r || !addrs) {
    pgmld_free(r);
    pgmld_free(addrs);
    connect_failed(c, "out of memory resolving hosts");
    return;
  }
  r->conn = c;
  r->gen = c->gen;
  r->addrs = addrs;
  pgmld_list_init(&r->link);
  resolve_next(r);
}

/* ------------------------------------------------------------------ idle, check, reset */

static void go_idle(pgmld_pool_conn_t *c) {
  c->last_used = uv_now(c->pool->loop);
  c->deadline = 0;
  change_state(c, CONN_IDLE);
  if (retire_if_extra(c)) return;
  schedule_dispatch(c->pool);
}

/* A slot beyond the pool's size (pgmld_pool_resize() shrank it) that has
 * come to rest, IDLE or BACKOFF: its connection is closed and the slot kept
 * for a later growth.  Returns 1 if it was retired. */
static int retire_if_extra(pgmld_pool_conn_t *c) {
  pgmld_pool_t *pool = c->pool;
  if (c->id <= pool->cfg.size || pool->closing) return 0;
  timer_stop(c);
  drop_pg(c);
  c->attempts = 0;
  c->error[0] = '\0';
  change_state(c, CONN_CLOSED);
  pgmld_log_debug(WHERE, "connection %u: closed (pool size is now %u)", c->id, pool->cfg.size);
  return 1;
}

/* A released connection with nothing running: roll back what the lease left
 * open, then make it idle. */
static void settle(pgmld_pool_conn_t *c) {
  if (c->state != CONN_RESETTING || c->op.kind != OP_NONE) return;
  if (!c->pg) {
    schedule_reconnect(c);
    return;
  }
  switch (PQtransactionStatus(c->pg)) {
  case PQTRANS_IDLE:
    go_idle(c);
    break;
  case PQTRANS_INTRANS:
  case PQTRANS_INERROR:
    op_internal(c, OP_RESET, "ROLLBACK");
    break;
  default:
    conn_lost(c, "connection in an unexpected transaction state after release");
    break;
  }
}

static void reset_done(pgmld_pool_conn_t *c, const pgmld_status_t *st) {
  if (c->state != CONN_RESETTING) return;
  if (!pgmld_status_ok(st)) {
    conn_lost(c, "rollback after release failed: %s", st->message);
    return;
  }
  settle(c);
}

static void waiter_complete(pgmld_pool_wait_t *w);

/* Hands `c` to `w`. */
static void lease(pgmld_pool_conn_t *c, pgmld_pool_wait_t *w) {
  pgmld_pool_t *pool = c->pool;
  change_state(c, CONN_LEASED);
  c->deadline = w->deadline;
  w->conn = c;
  pool->stats.acquired++;
  pool->stats.wait_us += (uv_hrtime() - w->start_ns) / 1000u;
  waiter_complete(w);
}

static void check_done(pgmld_pool_conn_t *c, const pgmld_status_t *st) {
  if (c->state != CONN_CHECKING) return;
  if (!pgmld_status_ok(st)) {
    conn_lost(c, "health check failed: %s", st->message);
    return;
  }
  pgmld_pool_wait_t *w = c->waiter;
  c->waiter = NULL;
  if (w) {
    lease(c, w);
  } else {
    change_state(c, CONN_IDLE);
    if (retire_if_extra(c)) return;
    c->last_used = uv_now(c->pool->loop);
    schedule_dispatch(c->pool);
  }
}

/* Calls the op's owner with its results, then frees them.  The op is
 * detached first, so the callback may start another statement on the lease
 * or release it. */
static void op_finish(pgmld_pool_conn_t *c) {
  op_t *op = &c->op;
  op_kind_t kind = op->kind;
  pgmld_pool_result_cb qcb = op->query_cb;
  pgmld_pool_batch_cb bcb = op->batch_cb;
  void *data = op->data;
  size_t n = op->n;
  pgmld_status_t st = op->status;
  PGresult *one = NULL;
  PGresult **results = op->results;

  if (results == op->results_inline) {
    one = op->results_inline[0];
    results = &one;
  }
  if (op->expect != op->expect_inline) pgmld_free(op->expect);
  if (op->deferred) pgmld_list_remove(&c->dlink);
  op_reset(op);
  if (c->timer_use == TIMER_DEADLINE || c->timer_use == TIMER_GRACE || c->timer_use == TIMER_CHECK)
    timer_stop(c);

  switch (kind) {
  case OP_QUERY:
    if (qcb)
      qcb(c, results[0], &st, data);
    else
      settle(c);
    break;
  case OP_BATCH:
    if (bcb)
      bcb(c, results, n, &st, data);
    else
      settle(c);
    break;
  case OP_CHECK:
    check_done(c, &st);
    break;
  case OP_RESET:
    reset_done(c, &st);
    break;
  case OP_NONE:
    break;
  }
  for (size_t i = 0; i < n; i++) PQclear(results[i]);
  if (results != &one) pgmld_free(results);
}

/* ------------------------------------------------------------------ I/O and timers */

static void on_io(uv_poll_t *h, int status, int events) {
  pgmld_pool_conn_t *c = h->data;
  if (status < 0 && status != UV_EAGAIN) {
    conn_lost(c, "socket error: %s", uv_strerror(status));
    return;
  }
  if ((events & UV_WRITABLE) && c->flushing) {
    if (flush_out(c) < 0) return;
  }
  if (events & UV_READABLE) {
    if (!PQconsumeInput(c->pg)) {
      conn_lost(c, "%s", c->fatal[0] ? c->fatal : PQerrorMessage(c->pg));
      return;
    }
    /* libpq: after reading, try flushing again when output was pending. */
    if (c->flushing && flush_out(c) < 0) return;
  }
  /* PQnotifies() also parses what arrived; a FATAL notice sets c->fatal. */
  PGnotify *n;
  while ((n = PQnotifies(c->pg)) != NULL) PQfreemem(n);
  if (c->op.kind != OP_NONE && !c->op.results_done) {
    process_results(c);
    return;
  }
  /* Between ops a FATAL message means the server is closing the session. */
  if (PQstatus(c->pg) == CONNECTION_BAD || c->fatal[0])
    conn_lost(c, "%s", c->fatal[0] ? c->fatal : PQerrorMessage(c->pg));
}

static void on_timer(uv_timer_t *t) {
  pgmld_pool_conn_t *c = t->data;
  pgmld_pool_t *pool = c->pool;
  timer_use_t use = c->timer_use;
  c->timer_use = TIMER_NONE;
  switch (use) {
  case TIMER_CONNECT: {
    char why[128];
    snprintf(why, sizeof(why), "connection attempt timed out after %u ms", pool->cfg.connect_timeout_ms);
    if (c->state == CONN_CONNECTING) connect_failed(c, why);
    break;
  }
  case TIMER_BACKOFF:
    if (c->state == CONN_BACKOFF && !pool->closing) start_connect(c);
    break;
  case TIMER_DEADLINE:
    request_cancel(c, PGMLD_DEADLINE_EXCEEDED);
    break;
  case TIMER_GRACE:
    conn_lost(c, "PostgreSQL did not stop the statement within %u ms of a cancel request",
              pool->cfg.cancel_timeout_ms);
    break;
  case TIMER_CHECK:
    conn_lost(c, "no answer from PostgreSQL within %u ms", pool->cfg.connect_timeout_ms);
    break;
  case TIMER_NONE:
    break;
  }
}

/* ------------------------------------------------------------------ waiters and dispatch */

static void on_waiter_closed(uv_handle_t *h) {
  pgmld_pool_wait_t *w = CONTAINER_OF(h, pgmld_pool_wait_t, timer);
  pgmld_pool_t *pool = w->pool;
  pgmld_free(w);
  handle_gone(pool);
}

/* Moves a waiter whose outcome is decided (w->status, w->conn) to the list
 * of callbacks the dispatcher runs. */
static void waiter_complete(pgmld_pool_wait_t *w) {
  if (w->state == WAIT_QUEUED) {
    pgmld_list_remove(&w->link);
    w->pool->nwaiting--;
  }
  w->state = WAIT_DONE;
  uv_timer_stop(&w->timer);
  pgmld_list_append(&w->pool->done, &w->link);
  schedule_dispatch(w->pool);
}

static void waiter_finish(pgmld_pool_wait_t *w) {
  pgmld_list_remove(&w->link);
  w->state = WAIT_FINISHED;
  w->cb(w->conn, &w->status, w->data);
  uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
}

static unsigned live_conns(const pgmld_pool_t *pool) {
  return pool->counts[CONN_IDLE] + pool->counts[CONN_CHECKING] + pool->counts[CONN_LEASED] +
         pool->counts[CONN_RESETTING] - pool->lost_leases;
}

static void on_waiter_timer(uv_timer_t *t) {
  pgmld_pool_wait_t *w = CONTAINER_OF(t, pgmld_pool_wait_t, timer);
  pgmld_pool_t *pool = w->pool;
  if (w->state == WAIT_CHECKING) {
    if (w->conn) w->conn->waiter = NULL;
    w->conn = NULL;
  } else if (w->state != WAIT_QUEUED) {
    return;
  }
  if (live_conns(pool) == 0)
    pgmld_status_set(&w->status, PGMLD_UNAVAILABLE, "PostgreSQL is unavailable: %s",
                     pool->last_error[0] ? pool->last_error : "no connection established yet");
  else if (!w->capped)
    pgmld_status_set(&w->status, PGMLD_DEADLINE_EXCEEDED,
                     "deadline exceeded waiting for a PostgreSQL connection (%u of %u in use, %u waiting)",
                     live_conns(pool) - pool->counts[CONN_IDLE], pool->cfg.size, pool->nwaiting);
  else
    pgmld_status_set(&w->status, PGMLD_RESOURCE_EXHAUSTED,
                     "no PostgreSQL connection became free within %u ms (pool size %u, %u waiting)",
                     pool->cfg.acquire_timeout_ms, pool->cfg.size, pool->nwaiting);
  waiter_complete(w);
}

/* Takes the idle connection at the front if it is still alive.  Reading
 * the socket here costs no round trip and catches a server that closed the
 * connection since (pg_terminate_backend, restart) before a caller gets it. */
static pgmld_pool_conn_t *take_idle(pgmld_pool_t *pool) {
  while (!pgmld_list_empty(&pool->lists[CONN_IDLE])) {
    pgmld_pool_conn_t *c = CONTAINER_OF(pool->lists[CONN_IDLE].next, pgmld_pool_conn_t, link);
    /* PQisBusy() parses what was read: a FATAL notice sets c->fatal. */
    if (!PQconsumeInput(c->pg) || (PQisBusy(c->pg), PQstatus(c->pg) == CONNECTION_BAD) || c->fatal[0]) {
      conn_lost(c, "%s", c->fatal[0] ? c->fatal : PQerrorMessage(c->pg));
      continue;
    }
    return c;
  }
  return NULL;
}

static void on_dispatch(uv_idle_t *h) {
  pgmld_pool_t *pool = h->data;
  pgmld_pool_conn_t *c;

  pool->dispatching = 1;
  while (!pool->closing && !pgmld_list_empty(&pool->waiters) && (c = take_idle(pool)) != NULL) {
    /* take_idle() may have moved a waiter back; re-read the head. */
    if (pgmld_list_empty(&pool->waiters)) break;
    pgmld_pool_wait_t *w = CONTAINER_OF(pool->waiters.next, pgmld_pool_wait_t, link);
    pgmld_list_remove(&w->link);
    pool->nwaiting--;
    if (uv_now(pool->loop) - c->last_used >= pool->cfg.idle_check_ms) {
      w->state = WAIT_CHECKING;
      w->conn = c;
      c->waiter = w;
      change_state(c, CONN_CHECKING);
      op_internal(c, OP_CHECK, "SELECT 1 AS health_check");
    } else {
      w->state = WAIT_DONE;  /* lease() moves it to pool->done */
      lease(c, w);
    }
  }
  while (!pgmld_list_empty(&pool->deferred)) {
    c = CONTAINER_OF(pool->deferred.next, pgmld_pool_conn_t, dlink);
    pgmld_list_remove(&c->dlink);
    c->op.deferred = 0;
    op_finish(c);
  }
  while (!pgmld_list_empty(&pool->done))
    waiter_finish(CONTAINER_OF(pool->done.next, pgmld_pool_wait_t, link));
  pool->dispatching = 0;

  int more = !pgmld_list_empty(&pool->deferred) || !pgmld_list_empty(&pool->done) ||
             (!pool->closing && !pgmld_list_empty(&pool->waiters) && !pgmld_list_empty(&pool->lists[CONN_IDLE]));
  if (!more) uv_idle_stop(&pool->dispatcher);
  maybe_finish_close(pool);
}

static void schedule_dispatch(pgmld_pool_t *pool) {
  if (pool->closing_handles) return;
  /* An idle handle runs on the next loop iteration without waiting for I/O;
   * starting an active one is a no-op. */
  uv_idle_start(&pool->dispatcher, on_dispatch);
}

/* ------------------------------------------------------------------ close */

static void maybe_finish_close(pgmld_pool_t *pool) {
  if (!pool->closing || pool->closing_handles) return;
  if (pool->counts[CONN_LEASED] || pool->counts[CONN_CHECKING] || pool->counts[CONN_RESETTING] ||
      !pgmld_list_empty(&pool->deferred) || !pgmld_list_empty(&pool->done) || pool->cancels_running ||
      pool->resolves_running)
    return;
  pool->closing_handles = 1;
  for (unsigned i = 0; i < pool->nslots; i++) {
    pgmld_pool_conn_t *c = pool->conns[i];
    timer_stop(c);
    drop_pg(c);
    if (c->state != CONN_CLOSED) change_state(c, CONN_CLOSED);
    c->timer.data = pool;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  }
  uv_idle_stop(&pool->dispatcher);
  uv_close((uv_handle_t *)&pool->dispatcher, on_handle_closed);
}

void pgmld_pool_close(pgmld_pool_t *pool, pgmld_pool_close_cb cb, void *data) {
  if (!pool || pool->closing) return;
  pool->closing = 1;
  pool->close_cb = cb;
  pool->close_data = data;
  while (!pgmld_list_empty(&pool->waiters)) {
    pgmld_pool_wait_t *w = CONTAINER_OF(pool->waiters.next, pgmld_pool_wait_t, link);
    pgmld_status_set(&w->status, PGMLD_UNAVAILABLE, "the connection pool is shutting down");
    waiter_complete(w);
  }
  for (pgmld_list_t *l = pool->lists[CONN_CHECKING].next; l != &pool->lists[CONN_CHECKING]; l = l->next) {
    pgmld_pool_conn_t *c = CONTAINER_OF(l, pgmld_pool_conn_t, link);
    pgmld_pool_wait_t *w = c->waiter;
    if (!w) continue;
    c->waiter = NULL;
    w->conn = NULL;
    pgmld_status_set(&w->status, PGMLD_UNAVAILABLE, "the connection pool is shutting down");
    waiter_complete(w);
  }
  for (unsigned i = 0; i < pool->nslots; i++) {
    pgmld_pool_conn_t *c = pool->conns[i];
    if (c->state == CONN_BACKOFF) timer_stop(c);
  }
  /* A lookup that has not started yet is dropped; one that has finishes
   * (uv_cancel fails with EBUSY) and its callback sees the pool closing. */
  for (pgmld_list_t *l = pool->resolves.next; l != &pool->resolves; l = l->next)
    (void)uv_cancel((uv_req_t *)&CONTAINER_OF(l, resolve_req_t, link)->req);
  schedule_dispatch(pool);
}

/* ------------------------------------------------------------------ config */

static int has_password(const char *conninfo) {
  if (strstr(conninfo, "password") != NULL) return 1;
  /* postgresql://user:secret@host */
  const char *scheme = strstr(conninfo, "://");
  if (scheme) {
    const char *at = strchr(scheme + 3, '@');
    const char *colon = strchr(scheme + 3, ':');
    if (at && colon && colon < at) return 1;
  }
  return 0;
}

/* Reads the host list from the connection string (or PGHOST) and marks the
 * names that need a DNS lookup.  Returns 0 or a negative errno with `st`. */
PGMLD_MUST_CHECK static int parse_hosts(pgmld_pool_t *pool, pgmld_status_t *st) {
  char *err = NULL;
  PQconninfoOption *opts = PQconninfoParse(pool->cfg.conninfo, &err);
  if (!opts) {
    if (!err) return pgmld_status_set(st, PGMLD_INTERNAL, "out of memory parsing the database URL"), -ENOMEM;
    char line[256];
    one_line(line, sizeof(line), err);
    PQfreemem(err);
    if (has_password(pool->cfg.conninfo))
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "invalid database URL or connection string (details withheld: it contains a password)");
    else
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "invalid database URL or connection string: %s", line);
    return -EINVAL;
  }
  const char *host = NULL, *hostaddr = NULL, *options = NULL;
  for (PQconninfoOption *o = opts; o->keyword; o++) {
    if (strcmp(o->keyword, "host") == 0) host = o->val;
    if (strcmp(o->keyword, "hostaddr") == 0) hostaddr = o->val;
    if (strcmp(o->keyword, "options") == 0) options = o->val;
  }
  /* Our "options" keyword replaces the connection string's (and PGOPTIONS),
   * so theirs come first and ours are appended. */
  if (!options || !*options) options = getenv("PGOPTIONS");
  int rc = 0;
  pool->options = pgmld_asprintf("%s%s-c client_connection_check_interval=%u", options ? options : "",
                                 options && *options ? " " : "", CLIENT_CHECK_INTERVAL_MS);
  if (!pool->options) {
    rc = -ENOMEM;
    goto out;
  }
  if (!host || !*host) host = getenv("PGHOST");
  if (!hostaddr || !*hostaddr) hostaddr = getenv("PGHOSTADDR");
  if (host && *host && !(hostaddr && *hostaddr)) {
    size_t n = 1;
    for (const char *p = host; *p; p++) n += *p == ',';
    pool->hosts = pgmld_calloc(n, sizeof(*pool->hosts));
    if (!pool->hosts) {
      rc = -ENOMEM;
      goto out;
    }
    const char *p = host;
    for (size_t i = 0; i < n; i++) {
      const char *end = strchr(p, ',');
      size_t len = end ? (size_t)(end - p) : strlen(p);
      char *name = pgmld_strndup(p, len);
      if (!name) {
        rc = -ENOMEM;
        goto out;
      }
      pool->hosts[i].name = name;
      pool->nhosts = i + 1;
      unsigned char buf[16];
      int path = len == 0 || name[0] == '/' || name[0] == '@';
      int numeric = uv_inet_pton(AF_INET, name, buf) == 0 || uv_inet_pton(AF_INET6, name, buf) == 0;
      pool->hosts[i].resolve = !path && !numeric;
      pool->resolve |= pool->hosts[i].resolve;
      p = end ? end + 1 : p + len;
    }
  }
out:
  PQconninfoFree(opts);
  if (rc == -ENOMEM) pgmld_status_set(st, PGMLD_INTERNAL, "out of memory reading the database hosts");
  return rc;
}

static int check_range(pgmld_status_t *st, const char *name, unsigned v, unsigned lo, unsigned hi) {
  if (v < lo || v > hi) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "pool setting %s = %u is out of range [%u, %u]", name, v, lo, hi);
    return -EINVAL;
  }
  return 0;
}

/* Slots of the prepared-statement table of one connection. */
static size_t prep_capacity(const pgmld_pool_t *pool) {
  size_t cap = 1;
  while (cap < 2u * pool->cfg.max_prepared) cap *= 2;
  return cap;
}

/* Makes slot `i` a connection of the pool, not connected (BACKOFF, no
 * timer running); the caller starts it.  Cannot fail: the memory is there. */
static void slot_init(pgmld_pool_t *pool, pgmld_pool_conn_t *c, unsigned i) {
  c->pool = pool;
  c->id = i + 1;
  c->poll_fd = -1;
  pgmld_list_init(&c->link);
  pgmld_list_init(&c->dlink);
  op_reset(&c->op);
  uv_timer_init(pool->loop, &c->timer);
  c->timer.data = c;
  pool->handles++;
  c->state = CONN_BACKOFF;
  pgmld_list_append(&pool->lists[CONN_BACKOFF], &c->link);
  pool->counts[CONN_BACKOFF]++;
}

#define DEFAULT(field, value) \
  do {                        \
    if (!cfg.field) cfg.field = (value); \
  } while (0)

int pgmld_pool_new(uv_loop_t *loop, const pgmld_pool_config_t *config, pgmld_pool_t **out,
                   pgmld_status_t *st) {
  pgmld_pool_t *pool = NULL;
  int rc;
  *out = NULL;
  if (!loop || !config || !config->conninfo || !*config->conninfo) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "pool: no database URL or connection string given");
    return -EINVAL;
  }
  pgmld_pool_config_t cfg = *config;
  DEFAULT(application_name, "pgmld");
  DEFAULT(size, DEFAULT_SIZE);
  DEFAULT(connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS);
  DEFAULT(backoff_initial_ms, DEFAULT_BACKOFF_INITIAL_MS);
  DEFAULT(backoff_max_ms, cfg.backoff_initial_ms > DEFAULT_BACKOFF_MAX_MS ? cfg.backoff_initial_ms
                                                                          : DEFAULT_BACKOFF_MAX_MS);
  DEFAULT(idle_check_ms, DEFAULT_IDLE_CHECK_MS);
  DEFAULT(acquire_timeout_ms, DEFAULT_ACQUIRE_TIMEOUT_MS);
  DEFAULT(cancel_timeout_ms, DEFAULT_CANCEL_TIMEOUT_MS);
  DEFAULT(max_waiters, DEFAULT_MAX_WAITERS);
  DEFAULT(max_prepared, DEFAULT_MAX_PREPARED);
  if ((rc = check_range(st, "size", cfg.size, 1, PGMLD_POOL_SIZE_MAX)) < 0 ||
      (rc = check_range(st, "connect_timeout_ms", cfg.connect_timeout_ms, 10, TIMEOUT_LIMIT_MS)) < 0 ||
      (rc = check_range(st, "backoff_initial_ms", cfg.backoff_initial_ms, 1, TIMEOUT_LIMIT_MS)) < 0 ||
      (rc = check_range(st, "backoff_max_ms", cfg.backoff_max_ms, cfg.backoff_initial_ms, TIMEOUT_LIMIT_MS)) < 0 ||
      (rc = check_range(st, "idle_check_ms", cfg.idle_check_ms, 1, TIMEOUT_LIMIT_MS)) < 0 ||
      (rc = check_range(st, "acquire_timeout_ms", cfg.acquire_timeout_ms, 1, TIMEOUT_LIMIT_MS)) < 0 ||
      (rc = check_range(st, "cancel_timeout_ms", cfg.cancel_timeout_ms, 10, TIMEOUT_LIMIT_MS)) < 0 ||
      (rc = check_range(st, "max_waiters", cfg.max_waiters, 1, MAX_WAITERS_LIMIT)) < 0 ||
      (rc = check_range(st, "max_prepared", cfg.max_prepared, 1, MAX_PREPARED_LIMIT)) < 0)
    return rc;

  pool = pgmld_calloc(1, sizeof(*pool));
  if (!pool) goto nomem;
  pool->loop = loop;
  pool->cfg = cfg;
  pool->cfg.conninfo = pgmld_strdup(cfg.conninfo);
  pool->cfg.application_name = pgmld_strdup(cfg.application_name);
  pool->conns = pgmld_calloc(cfg.size, sizeof(*pool->conns));
  if (!pool->cfg.conninfo || !pool->cfg.application_name || !pool->conns) goto nomem;
  for (unsigned i = 0; i < cfg.size; i++) {
    pool->conns[i] = pgmld_calloc(1, sizeof(**pool->conns));
    if (!pool->conns[i]) goto nomem;
  }
  for (int s = 0; s < CONN_NSTATES; s++) pgmld_list_init(&pool->lists[s]);
  pgmld_list_init(&pool->waiters);
  pgmld_list_init(&pool->done);
  pgmld_list_init(&pool->deferred);
  pgmld_list_init(&pool->resolves);
  pool->rng = (uv_hrtime() ^ (uint64_t)(uintptr_t)pool) | 1u;
  for (unsigned i = 0; i < cfg.size; i++) {
    pgmld_pool_conn_t *c = pool->conns[i];
    c->prep_cap = prep_capacity(pool);
    c->prep = pgmld_calloc(c->prep_cap, sizeof(*c->prep));
    if (!c->prep) goto nomem;
  }
  rc = parse_hosts(pool, st);
  if (rc < 0) goto fail;

  /* From here on handles exist, and the pool is freed only by closing. */
  uv_idle_init(loop, &pool->dispatcher);
  pool->dispatcher.data = pool;
  pool->handles++;
  for (unsigned i = 0; i < cfg.size; i++) slot_init(pool, pool->conns[i], i);
  pool->nslots = cfg.size;
  for (unsigned i = 0; i < cfg.size; i++) start_connect(pool->conns[i]);
  *out = pool;
  return 0;

nomem:
  pgmld_status_set(st, PGMLD_INTERNAL, "out of memory creating the connection pool");
  rc = -ENOMEM;
fail:
  if (pool) {
    for (unsigned i = 0; pool->conns && i < cfg.size; i++) {
      if (pool->conns[i]) pgmld_free(pool->conns[i]->prep);
      pgmld_free(pool->conns[i]);
    }
    for (size_t i = 0; i < pool->nhosts; i++) pgmld_free(pool->hosts[i].name);
    pgmld_free(pool->hosts);
    pgmld_free(pool->options);
    pgmld_free(pool->conns);
    pgmld_free((char *)pool->cfg.conninfo);
    pgmld_free((char *)pool->cfg.application_name);
    pgmld_free(pool);
  }
  return rc;
}

/* ------------------------------------------------------------------ resize */

int pgmld_pool_resize(pgmld_pool_t *pool, unsigned size, pgmld_status_t *st) {
  unsigned old = pool->cfg.size, have = pool->nslots;
  int rc;
  if (pool->closing) {
    pgmld_status_set(st, PGMLD_UNAVAILABLE, "the connection pool is shutting down");
    return -ESHUTDOWN;
  }
  if ((rc = check_range(st, "size", size, 1, PGMLD_POOL_SIZE_MAX)) < 0) return rc;
  if (size > have) {
    /* All the memory first, so that a failure leaves the pool as it was. */
    pgmld_pool_conn_t **conns = pgmld_realloc(pool->conns, size * sizeof(*conns));
    if (!conns) goto nomem;
    pool->conns = conns;
    for (unsigned i = have; i < size; i++) {
      pgmld_pool_conn_t *c = pgmld_calloc(1, sizeof(*c));
      if (c) c->prep_cap = prep_capacity(pool);
      if (c) c->prep = pgmld_calloc(c->prep_cap, sizeof(*c->prep));
      if (!c || !c->prep) {
        if (c) pgmld_free(c->prep);
        pgmld_free(c);
        for (unsigned j = have; j < i; j++) {
          pgmld_free(conns[j]->prep);
          pgmld_free(conns[j]);
        }
        goto nomem;
      }
      conns[i] = c;
    }
    for (unsigned i = have; i < size; i++) slot_init(pool, conns[i], i);
    pool->nslots = size;
  }
  pool->cfg.size = size;
  /* Growing: new slots and slots closed by an earlier shrink connect.  A
   * slot still waiting to be retired simply stays. */
  for (unsigned i = 0; i < size; i++) {
    pgmld_pool_conn_t *c = pool->conns[i];
    if (c->state == CONN_CLOSED || (i >= have && c->state == CONN_BACKOFF)) start_connect(c);
  }
  /* Shrinking: what is at rest closes now, a lease or a check when it ends;
   * no statement is interrupted. */
  for (unsigned i = size; i < pool->nslots; i++) {
    pgmld_pool_conn_t *c = pool->conns[i];
    if (c->state == CONN_IDLE || c->state == CONN_BACKOFF) (void)retire_if_extra(c);
  }
  if (size != old) pgmld_log_info(WHERE, "pool size %u -> %u", old, size);
  schedule_dispatch(pool);
  return 0;

nomem:
  pgmld_status_set(st, PGMLD_INTERNAL, "out of memory growing the connection pool to %u", size);
  return -ENOMEM;
}

/* ------------------------------------------------------------------ public lease API */

int pgmld_pool_acquire(pgmld_pool_t *pool, uint64_t deadline_ms, pgmld_pool_acquire_cb cb, void *data,
                       pgmld_pool_wait_t **out_wait, pgmld_status_t *st) {
  if (out_wait) *out_wait = NULL;
  if (!pool || !cb) {
    pgmld_status_set(st, PGMLD_INTERNAL, "pool acquire: no pool or no callback");
    return -EINVAL;
  }
  if (pool->closing) {
    pgmld_status_set(st, PGMLD_UNAVAILABLE, "the connection pool is shutting down");
    return -ESHUTDOWN;
  }
  if (pool->nwaiting >= pool->cfg.max_waiters) {
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED,
                     "too many requests waiting for a PostgreSQL connection (%u, the limit)", pool->nwaiting);
    return -EAGAIN;
  }
  pgmld_pool_wait_t *w = pgmld_calloc(1, sizeof(*w));
  if (!w) {
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory queueing a request for a connection");
    return -ENOMEM;
  }
  w->pool = pool;
  w->cb = cb;
  w->data = data;
  w->deadline = deadline_ms;
  w->start_ns = uv_hrtime();
  w->status.code = PGMLD_OK;
  uv_timer_init(pool->loop, &w->timer);
  pool->handles++;

  uint64_t now = uv_now(pool->loop);
  uint64_t cap = now + pool->cfg.acquire_timeout_ms;
  uint64_t until = deadline_ms ? deadline_ms : cap;
  w->capped = !deadline_ms;
  uv_timer_start(&w->timer, on_waiter_timer, until > now ? until - now : 0, 0);

  w->state = WAIT_QUEUED;
  pgmld_list_append(&pool->waiters, &w->link);
  pool->nwaiting++;
  schedule_dispatch(pool);
  if (out_wait) *out_wait = w;
  return 0;
}

void pgmld_pool_acquire_cancel(pgmld_pool_wait_t *w) {
  if (!w) return;
  switch (w->state) {
  case WAIT_QUEUED:
    pgmld_status_set(&w->status, PGMLD_CANCELLED, "request cancelled while waiting for a connection");
    waiter_complete(w);
    break;
  case WAIT_CHECKING:
    if (w->conn) w->conn->waiter = NULL;
    w->conn = NULL;
    pgmld_status_set(&w->status, PGMLD_CANCELLED, "request cancelled while waiting for a connection");
    waiter_complete(w);
    break;
  case WAIT_DONE:
    if (w->conn && pgmld_status_ok(&w->status)) {
      pgmld_pool_conn_t *c = w->conn;
      w->conn = NULL;
      pgmld_pool_release(c);
      pgmld_status_set(&w->status, PGMLD_CANCELLED, "request cancelled while waiting for a connection");
    }
    break;
  case WAIT_FINISHED:
    break;
  }
}

static int lease_check(pgmld_pool_conn_t *c, const char *what, pgmld_status_t *st) {
  if (!c || c->state != CONN_LEASED) {
    pgmld_status_set(st, PGMLD_INTERNAL, "pool %s: not a leased connection", what);
    return -EINVAL;
  }
  if (c->op.kind != OP_NONE) {
    pgmld_status_set(st, PGMLD_INTERNAL, "pool %s: a statement is already running on this connection", what);
    return -EBUSY;
  }
  return 0;
}

static int stmt_check(const pgmld_pool_conn_t *c, const pgmld_pool_stmt_t *s, size_t i, pgmld_status_t *st) {
  if (!s->sql) {
    pgmld_status_set(st, PGMLD_INTERNAL, "statement %zu has no SQL", i);
    return -EINVAL;
  }
  if (s->nparams < 0 || s->nparams > PGMLD_POOL_PARAMS_MAX) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "statement %zu has %d parameters; PostgreSQL accepts at most %d", i, s->nparams,
                     PGMLD_POOL_PARAMS_MAX);
    return -EINVAL;
  }
  if (s->nparams > 0 && !s->values) {
    pgmld_status_set(st, PGMLD_INTERNAL, "statement %zu has %d parameters but no values", i, s->nparams);
    return -EINVAL;
  }
  for (int j = 0; s->formats && j < s->nparams; j++) {
    if (s->formats[j] != 0 && s->formats[j] != 1) {
      pgmld_status_set(st, PGMLD_INTERNAL, "statement %zu parameter $%d has format %d (0 text, 1 binary)", i,
                       j + 1, s->formats[j]);
      return -EINVAL;
    }
    if (s->formats[j] == 1 && s->values[j] && (!s->lengths || s->lengths[j] < 0)) {
      pgmld_status_set(st, PGMLD_INTERNAL, "statement %zu parameter $%d is binary but has no length", i, j + 1);
      return -EINVAL;
    }
  }
  char derived[DERIVED_NAME_SIZE];
  const char *sname = stmt_name(s, derived);
  if (sname) {
    size_t len = strlen(sname);
    if (len == 0 || len > PGMLD_POOL_NAME_MAX) {
      pgmld_status_set(st, PGMLD_INTERNAL, "prepared statement name of %zu bytes (1 to %u allowed)", len,
                       PGMLD_POOL_NAME_MAX);
      return -EINVAL;
    }
    size_t slot = prep_slot(c, sname);
    if (slot != SIZE_MAX && c->prep[slot].name && c->prep[slot].sql_hash != fnv1a(s->sql)) {
      pgmld_status_set(st, PGMLD_INTERNAL, "prepared statement \"%s\" was given different SQL than when it was prepared",
                       s->name);
      return -EINVAL;
    }
  }
  return 0;
}

/* Common start of query and batch: the op is prepared; send it or fail it
 * through the dispatcher. */
static void op_start(pgmld_pool_conn_t *c, const pgmld_pool_stmt_t *stmts, size_t n) {
  if (!c->pg) {
    pgmld_status_set(&c->op.status, PGMLD_UNAVAILABLE, "connection to PostgreSQL lost: %s",
                     c->error[0] ? c->error : "unknown reason");
    op_defer(c);
    return;
  }
  if (c->deadline && c->deadline <= uv_now(c->pool->loop)) {
    pgmld_status_set(&c->op.status, PGMLD_DEADLINE_EXCEEDED, "deadline exceeded before the statement was sent");
    op_defer(c);
    return;
  }
  op_send(c, stmts, n);
}

int pgmld_pool_query(pgmld_pool_conn_t *c, const pgmld_pool_stmt_t *stmt, pgmld_pool_result_cb cb, void *data,
                     pgmld_status_t *st) {
  int rc = lease_check(c, "query", st);
  if (rc < 0) return rc;
  if (!stmt || !cb) {
    pgmld_status_set(st, PGMLD_INTERNAL, "pool query: no statement or no callback");
    return -EINVAL;
  }
  if ((rc = stmt_check(c, stmt, 0, st)) < 0) return rc;
  if (op_prepare(&c->op, OP_QUERY, 1) < 0) abort();  /* inline: cannot fail */
  c->op.query_cb = cb;
  c->op.data = data;
  op_start(c, stmt, 1);
  return 0;
}

int pgmld_pool_batch(pgmld_pool_conn_t *c, const pgmld_pool_stmt_t *stmts, size_t n, pgmld_pool_batch_cb cb,
                     void *data, pgmld_status_t *st) {
  int rc = lease_check(c, "batch", st);
  if (rc < 0) return rc;
  if (!stmts || !cb) {
    pgmld_status_set(st, PGMLD_INTERNAL, "pool batch: no statements or no callback");
    return -EINVAL;
  }
  if (n == 0 || n > PGMLD_POOL_BATCH_MAX) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "a batch of %zu statements (1 to %u allowed)", n,
                     PGMLD_POOL_BATCH_MAX);
    return -EINVAL;
  }
  for (size_t i = 0; i < n; i++)
    if ((rc = stmt_check(c, &stmts[i], i, st)) < 0) return rc;
  if (op_prepare(&c->op, OP_BATCH, n) < 0) {
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory for a batch of %zu statements", n);
    return -ENOMEM;
  }
  c->op.batch_cb = cb;
  c->op.data = data;
  op_start(c, stmts, n);
  return 0;
}

void pgmld_pool_set_deadline(pgmld_pool_conn_t *c, uint64_t deadline_ms) {
  if (!c || c->state != CONN_LEASED) return;
  c->deadline = deadline_ms;
  /* Re-arm only a statement that is running and not already being cancelled. */
  if (c->op.kind != OP_NONE && !c->op.results_done && c->op.cancel_reason == PGMLD_OK && c->pg)
    timer_deadline(c);
}

void pgmld_pool_cancel(pgmld_pool_conn_t *c) {
  if (!c || c->state != CONN_LEASED) return;
  request_cancel(c, PGMLD_CANCELLED);
}

void pgmld_pool_release(pgmld_pool_conn_t *c) {
  if (!c) return;
  if (c->state != CONN_LEASED) {
    pgmld_log_error(WHERE, "connection %u: released while %s (not leased): ignored", c->id, state_names[c->state]);
    return;
  }
  op_t *op = &c->op;
  c->deadline = 0;
  if (op->kind != OP_NONE) {
    /* The caller is gone: its callback must not run. */
    op->query_cb = NULL;
    op->batch_cb = NULL;
    if (op->deferred || !c->pg) op_discard(c);
  }
  if (!c->pg) {
    schedule_reconnect(c);
    schedule_dispatch(c->pool);
    return;
  }
  change_state(c, CONN_RESETTING);
  if (op->kind != OP_NONE) {
    if (!op->results_done) request_cancel(c, PGMLD_CANCELLED);
    /* settle() runs when the op finishes. */
    return;
  }
  settle(c);
}

int pgmld_pool_conn_server_version(const pgmld_pool_conn_t *c) { return c ? c->server_version : 0; }

int pgmld_pool_conn_backend_pid(const pgmld_pool_conn_t *c) { return c && c->pg ? c->backend_pid : 0; }

uint64_t *pgmld_pool_conn_session(pgmld_pool_conn_t *c) { return &c->session; }

void pgmld_pool_stats(const pgmld_pool_t *pool, pgmld_pool_stats_t *out) {
  *out = pool->stats;
  out->size = pool->cfg.size;
  out->idle = pool->counts[CONN_IDLE];
  out->busy = pool->counts[CONN_CHECKING] + pool->counts[CONN_LEASED] + pool->counts[CONN_RESETTING] -
              pool->lost_leases;
  out->connecting = pool->counts[CONN_CONNECTING];
  out->broken = pool->counts[CONN_BACKOFF] + pool->lost_leases;
  out->waiting = pool->nwaiting;
}
