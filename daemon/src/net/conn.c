/* conn.c - one client connection, whatever its transport: frames in, calls
 * out to the dispatcher, responses back, limits and backpressure. */
#include "net/conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/auth.h"
#include "core/idmap.h"
#include "core/log.h"
#include "core/metrics.h"
#include "rpc/call_internal.h"
#include "rpc/dispatch.h"
#include "rpc/envelope.h"

struct pgmld_conn_s {
  pgmld_list_t link;            /* in the server's live list, then its dead one */
  pgmld_server_t *srv;
  pgmld_transport_t *t;         /* NULL once the transport has closed */
  char name[128];               /* "conn#12 unix:pid=1234,uid=1000" */
  pgmld_idmap_t unanswered;     /* request id -> call, for CANCEL and duplicates */
  pgmld_list_t pending;         /* the same calls, in arrival order */
  pgmld_list_t answered;        /* answered calls whose handler is not done */
  size_t out_queued;            /* bytes given to the transport, not yet written,
                                 * and those in `batch` */
  uint8_t *batch;               /* responses made while the transport hands over
                                 * what one read brought, given to it in one
                                 * write at the end (pgmld__conn_batch_end());
                                 * owned */
  size_t batch_len, batch_cap;
  uint64_t batch_in, batch_out; /* bytes read and queued in this batch, for
                                 * the metrics at its end */
  const char *transport;        /* the transport's name, for metrics */
  uint64_t last_active;         /* uv_now() of the last frame read */
  uint64_t in_bytes;            /* request bytes held by calls not yet ended */
  uint64_t refused;             /* frames and requests refused so far */
  uint64_t refused_unlogged;    /* of those, not yet logged or summarised */
  uint64_t refused_summary_at;  /* uv_now() of the last refusal logged or summed up */
  unsigned authenticated : 1;   /* requests need no bearer token */
  unsigned token_seen : 1;      /* a request has passed the token check */
  unsigned paused : 1;          /* reading stopped: output backpressure or
                                 * limits.max_inflight_bytes */
  unsigned closing : 1;         /* no more frames are read or answered */
  unsigned dead : 1;            /* handed to the server to be freed */
  unsigned batching : 1;        /* between pgmld__conn_batch_begin() and _end() */
};

/* A batch is given to the transport before it would grow past BATCH_MAX;
 * a response larger than BATCH_FRAME_MAX is never copied into one. */
#define BATCH_MAX (256u * 1024u)
#define BATCH_FRAME_MAX (64u * 1024u)

/* Refusals logged one by one on a connection; after that they are counted
 * and summed up in one line at most every REFUSAL_SUMMARY_MS, and when the
 * connection closes, so that a client sending bad frames in a loop cannot
 * fill the disk. */
#define REFUSALS_LOGGED 10u
#define REFUSAL_SUMMARY_MS 10000u

/* Request bytes held by the calls of every connection and by transports
 * for requests still arriving (pgmld_conns_reserve_bytes()), for
 * limits.max_server_inflight_bytes.  One server per process. */
static uint64_t server_in_bytes;

int pgmld_conns_reserve_bytes(pgmld_server_t *srv, uint64_t bytes)
{
  uint64_t max = pgmld_server_config(srv)->limits.max_server_inflight_bytes;

  if (bytes > max || server_in_bytes > max - bytes)
    return -ENOBUFS;
  server_in_bytes += bytes;
  return 0;
}

void pgmld_conns_release_bytes(pgmld_server_t *srv, uint64_t bytes)
{
  (void)srv;
  /* More than is held would be a caller's bug; the count must not wrap
   * and refuse every request from then on. */
  if (bytes > server_in_bytes) {
    pgmld_log_error("conn", "releasing %llu in-flight bytes while only %llu are held",
                    (unsigned long long)bytes, (unsigned long long)server_in_bytes);
    bytes = server_in_bytes;
  }
  server_in_bytes -= bytes;
}

uint64_t pgmld_conns_reserved_bytes(const pgmld_server_t *srv)
{
  (void)srv;
  return server_in_bytes;
}

const char *pgmld_conn_name(const pgmld_conn_t *conn)
{
  return conn->name;
}

pgmld_server_t *pgmld_conn_server(const pgmld_conn_t *conn)
{
  return conn->srv;
}

/* Logs how many refusals went unlogged since the last line about them. */
static void summarize_refusals(pgmld_conn_t *conn, uint64_t now)
{
  if (conn->refused_unlogged == 0)
    return;
  pgmld_log_warn("conn", "%s: %llu more frames refused in the last %llu s, not "
                 "logged one by one (%llu refused on this connection)", conn->name,
                 (unsigned long long)conn->refused_unlogged,
                 (unsigned long long)((now - conn->refused_summary_at + 999) / 1000),
                 (unsigned long long)conn->refused);
  conn->refused_unlogged = 0;
  conn->refused_summary_at = now;
}

/* One refused frame or request: logged at `level` while the connection has
 * refused no more than REFUSALS_LOGGED, then counted (see above). */
PGMLD_PRINTF(3, 4)
static void log_refusal(pgmld_conn_t *conn, pgmld_log_level_t level, const char *fmt, ...)
{
  uint64_t now = uv_now(pgmld_server_loop(conn->srv));
  char line[PGMLD_STATUS_MESSAGE_MAX + 256];
  va_list ap;

  if (++conn->refused > REFUSALS_LOGGED) {
    conn->refused_unlogged++;
    if (now - conn->refused_summary_at >= REFUSAL_SUMMARY_MS)
      summarize_refusals(conn, now);
    return;
  }
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  conn->refused_summary_at = now;
  if (conn->refused < REFUSALS_LOGGED) {
    pgmld_log(level, "conn", "%s: %s", conn->name, line);
    return;
  }
  pgmld_log(level, "conn", "%s: %s (%u refusals logged; further ones on this "
            "connection are counted and summed up every %u s)", conn->name, line,
            REFUSALS_LOGGED, REFUSAL_SUMMARY_MS / 1000u);
}

/* Frees the batch without sending it (the connection is closing at once,
 * or its transport is gone). */
static void drop_batch(pgmld_conn_t *conn)
{
  conn->out_queued -= conn->batch_len < conn->out_queued ? conn->batch_len
                                                         : conn->out_queued;
  pgmld_free(conn->batch);
  conn->batch = NULL;
  conn->batch_len = conn->batch_cap = 0;
}

/* Hands the connection to the server once nothing can reach it any more:
 * the transport is closed (no upcall will come) and no call points to it. */
static void maybe_dead(pgmld_conn_t *conn)
{
  if (conn->dead || conn->t != NULL || !pgmld_list_empty(&conn->pending) ||
      !pgmld_list_empty(&conn->answered))
    return;
  conn->dead = 1;
  drop_batch(conn);
  summarize_refusals(conn, uv_now(pgmld_server_loop(conn->srv)));
  pgmld_idmap_free(&conn->unanswered);
  pgmld_metrics_conn_closed(conn->transport);
  pgmld_log_debug("conn", "%s: closed", conn->name);
  pgmld__server_conn_dead(conn->srv, &conn->link);
}

static void flush_batch(pgmld_conn_t *conn);

/* Stops the connection: every unanswered call is cancelled without an
 * answer (the client is gone, or the stream can no longer be trusted), and
 * the transport closes, after sending what is queued when `flush`. */
static void close_conn(pgmld_conn_t *conn, int flush)
{
  if (conn->closing) {
    drop_batch(conn);
    if (!flush && conn->t != NULL)
      conn->t->ops->close(conn->t, 0);
    return;
  }
  /* Responses batched so far go before the close, in order, or not at
   * all; giving them to the transport can fail and close the connection. */
  if (flush)
    flush_batch(conn);
  else
    drop_batch(conn);
  if (conn->closing)
    return;
  conn->closing = 1;
  /* Each abort moves the first call out of `pending` (to `answered`, or
   * ends it through its cancel hook), so this loop always advances. */
  while (!pgmld_list_empty(&conn->pending)) {
    pgmld_call_t *call = PGMLD_CONTAINER_OF(conn->pending.next, pgmld_call_t, link);
    pgmld__call_abort(call, PGMLD_OK, NULL);
  }
  if (conn->t != NULL)
    conn->t->ops->close(conn->t, flush);
}

/* Stops reading while more than PGMLD_CONN_OUTPUT_HIGH response bytes wait
 * to be sent (until PGMLD_CONN_OUTPUT_LOW or fewer do), or while the calls
 * not yet ended hold more than limits.max_inflight_bytes of requests;
 * reads again when neither holds.  A request is counted once read, so one
 * larger than the limit still runs, alone. */
static void update_reading(pgmld_conn_t *conn)
{
  uint64_t max_in = pgmld_server_config(conn->srv)->limits.max_inflight_bytes;
  int in_high = conn->in_bytes > max_in;

  if (conn->closing || conn->t == NULL)
    return;
  if (!conn->paused) {
    if (conn->out_queued > PGMLD_CONN_OUTPUT_HIGH)
      pgmld_log_debug("conn", "%s: %zu response bytes queued; reading paused",
                      conn->name, conn->out_queued);
    else if (in_high)
      pgmld_log_debug("conn", "%s: requests in flight hold %llu bytes, over "
                      "limits.max_inflight_bytes (%llu); reading paused", conn->name,
                      (unsigned long long)conn->in_bytes, (unsigned long long)max_in);
    else
      return;
    conn->paused = 1;
    conn->t->ops->pause(conn->t);
    return;
  }
  if (conn->out_queued > PGMLD_CONN_OUTPUT_LOW || in_high)
    return;
  conn->paused = 0;
  pgmld_log_debug("conn", "%s: reading resumed", conn->name);
  conn->t->ops->resume(conn->t);
}

/* Gives the batch (if any) to the transport, as one buffer. */
static void flush_batch(pgmld_conn_t *conn)
{
  pgmld_outbuf_t ob = {conn->batch, conn->batch_len};
  int rc;

  if (conn->batch_len == 0)
    return;
  if (conn->t == NULL) {
    drop_batch(conn);
    return;
  }
  conn->batch = NULL;
  conn->batch_len = conn->batch_cap = 0;
  /* Its bytes are in out_queued and the metrics already. */
  rc = conn->t->ops->write(conn->t, &ob, 1);
  if (rc < 0) {
    pgmld_log_info("conn", "%s: cannot send: %s; closing", conn->name, uv_strerror(rc));
    close_conn(conn, 0);
  }
}

/* Room for len more bytes at the end of the batch, or NULL when the
 * connection is not batching (or is closing), the frame is too large to
 * copy, or memory ran out: the caller then sends it on its own. */
static uint8_t *batch_room(pgmld_conn_t *conn, size_t len)
{
  size_t cap;
  uint8_t *p;

  if (!conn->batching || conn->closing || conn->t == NULL || len > BATCH_FRAME_MAX)
    return NULL;
  if (conn->batch_len + len > BATCH_MAX) {
    flush_batch(conn);
    if (conn->closing)
      return NULL;
  }
  if (conn->batch_len + len > conn->batch_cap) {
    cap = conn->batch_cap ? conn->batch_cap : 4096u;
    while (cap < conn->batch_len + len)
      cap *= 2;
    p = pgmld_realloc(conn->batch, cap);
    if (p == NULL)
      return NULL;
    conn->batch = p;
    conn->batch_cap = cap;
  }
  return conn->batch + conn->batch_len;
}

/* The len bytes written at batch_room() are a frame to send. */
static void batch_commit(pgmld_conn_t *conn, size_t len)
{
  conn->batch_len += len;
  conn->out_queued += len;
  conn->batch_out += len;
  update_reading(conn);
}

/* Gives one encoded frame (owned) to the transport, or appends it to the
 * batch, and applies output backpressure. */
static void send_frame(pgmld_conn_t *conn, uint8_t *buf, size_t len)
{
  pgmld_outbuf_t ob = {buf, len};
  uint8_t *room;
  int rc;

  if (conn->batching && (room = batch_room(conn, len)) != NULL) {
    memcpy(room, buf, len);
    pgmld_free(buf);
    batch_commit(conn, len);
    return;
  }
  /* Not after what is batched: responses leave in the order they were made. */
  flush_batch(conn);
  if (conn->t == NULL) {
    pgmld_free(buf);
    return;
  }
  rc = conn->t->ops->write(conn->t, &ob, 1);
  if (rc < 0) {
    pgmld_log_info("conn", "%s: cannot send: %s; closing", conn->name, uv_strerror(rc));
    close_conn(conn, 0);
    return;
  }
  conn->out_queued += len;
  pgmld_metrics_bytes(conn->transport, 0, len);
  update_reading(conn);
}

/* Answers a frame the connection refuses, without creating a call. */
static void reject(pgmld_conn_t *conn, uint64_t id, pgmld_code_t code,
                   const char *message, const char *details)
{
  uint8_t *buf;
  size_t len;

  if (conn->closing)
    return;
  if (pgmld_envelope_encode_error(id, code, message, details, &buf, &len) < 0) {
    pgmld_log_error("conn", "%s: out of memory answering id %llu; closing",
                    conn->name, (unsigned long long)id);
    close_conn(conn, 1);
    return;
  }
  send_frame(conn, buf, len);
}

int pgmld_conn_new(pgmld_server_t *srv, pgmld_transport_t *t, pgmld_conn_t **out)
{
  const pgmld_config_t *cfg = pgmld_server_config(srv);
  pgmld_conn_t *conn;
  uint64_t serial;

  *out = NULL;
  conn = pgmld_calloc(1, sizeof(*conn));
  if (conn == NULL) {
    pgmld_log_error("conn", "out of memory accepting a client (%s)", t->ops->peer(t));
    t->ops->close(t, 0);
    return -ENOMEM;
  }
  conn->srv = srv;
  conn->t = t;
  conn->transport = t->ops->name;
  conn->last_active = uv_now(pgmld_server_loop(srv));
  /* Until the transport says otherwise: with tokens configured, each request
   * must carry one (see request_authenticated()). */
  conn->authenticated = !pgmld_auth_tokens_required(pgmld__server_auth(srv));
  t->conn = conn;
  pgmld_metrics_conn_opened(conn->transport);
  pgmld_idmap_init(&conn->unanswered);
  pgmld_list_init(&conn->pending);
  pgmld_list_init(&conn->answered);
  serial = pgmld__server_conn_added(srv, &conn->link);
  snprintf(conn->name, sizeof(conn->name), "conn#%llu %s",
           (unsigned long long)serial, t->ops->peer(t));
  *out = conn;

  if (pgmld__server_conn_count(srv) > cfg->limits.max_connections) {
    char msg[160], details[96];
    snprintf(msg, sizeof(msg), "too many connections: limits.max_connections (%u) "
             "are open", cfg->limits.max_connections);
    snprintf(details, sizeof(details), "{\"limit\":\"max_connections\",\"value\":%u}",
             cfg->limits.max_connections);
    pgmld_log_warn("conn", "%s: refused: %s", conn->name, msg);
    reject(conn, 0, PGMLD_RESOURCE_EXHAUSTED, msg, details);
    close_conn(conn, 1);
    return 0;
  }
  pgmld_log_debug("conn", "%s: connected", conn->name);
  return 0;
}

/* A frame the connection could not use: one log line with the reason and
 * the peer, and an answer on id (0 when the frame had no usable id). */
static void bad_frame(pgmld_conn_t *conn, uint64_t id, uint32_t len,
                      const pgmld_status_t *st)
{
  log_refusal(conn, PGMLD_LOG_WARN, "rejected a %u-byte frame%s: %s", len,
              len == 0 ? " (empty)" : "", st->message);
  reject(conn, id, st->code, st->message, NULL);
}

static void handle_cancel(pgmld_conn_t *conn, uint64_t id)
{
  pgmld_call_t *call = pgmld_idmap_get(&conn->unanswered, id);

  if (call == NULL) {
    /* Normal: the answer and the CANCEL crossed on the wire. */
    pgmld_log_debug("conn", "%s: CANCEL for id %llu, not in flight: ignored",
                    conn->name, (unsigned long long)id);
    return;
  }
  pgmld__call_abort(call, PGMLD_CANCELLED, "cancelled by the client");
}

void pgmld_conn_refuse(pgmld_conn_t *conn, pgmld_code_t code, const char *message)
{
  pgmld_log_warn("conn", "%s: refused: %s", conn->name, message);
  reject(conn, 0, code, message, NULL);
  close_conn(conn, 1);
}

void pgmld_conn_set_authenticated(pgmld_conn_t *conn, int yes)
{
  conn->authenticated = yes != 0;
}

int pgmld_conn_trusted(const pgmld_conn_t *conn)
{
  return conn->authenticated || conn->token_seen;
}

/* Whether a REQUEST may run: the connection is authenticated, or the
 * request's metadata "authorization" (the last one, if repeated) holds a
 * valid "Bearer <token>". */
static int request_authenticated(const pgmld_conn_t *conn, const Pgml__V1__Frame *f)
{
  const char *value = NULL;
  size_t i;

  if (conn->authenticated)
    return 1;
  if (f == NULL)
    return 0;     /* read in place: it had no metadata */
  for (i = 0; i < f->n_metadata; i++)
    if (f->metadata[i]->key != NULL && strcmp(f->metadata[i]->key, "authorization") == 0)
      value = f->metadata[i]->value;
  return value != NULL &&
         pgmld_auth_check_bearer(pgmld__server_auth(conn->srv), value, strlen(value));
}

/* Runs the REQUEST whose fields are in v: either read in place (f NULL, m
 * its method, found with a handler) or decoded (f owned, m NULL: looked up
 * here).  Answers it with an error itself when it cannot run. */
static void handle_request(pgmld_conn_t *conn, const pgmld_frame_view_t *v,
                           const pgmld_method_t *m, Pgml__V1__Frame *f)
{
  const pgmld_config_t *cfg = pgmld_server_config(conn->srv);
  pgmld_status_t st;
  ProtobufCMessage *request;
  pgmld_call_t *call;
  uint64_t id = v->id;
  char details[96];
  int rc;

  pgmld_status_init(&st);
  if (!request_authenticated(conn, f)) {
    /* The token is neither logged nor echoed. */
    pgmld_status_set(&st, PGMLD_UNAUTHENTICATED,
                     "missing or invalid bearer token: send \"Authorization: Bearer "
                     "<token>\" at the upgrade or metadata \"authorization\" = "
                     "\"Bearer <token>\" with each request");
    goto refuse;
  }
  conn->token_seen = 1;
  if (pgmld_idmap_get(&conn->unanswered, id) != NULL) {
    pgmld_status_set(&st, PGMLD_INVALID_ARGUMENT,
                     "request id %llu is already in flight on this connection",
                     (unsigned long long)id);
    goto refuse;
  }
  if (pgmld__server_draining(conn->srv)) {
    pgmld_status_set(&st, PGMLD_UNAVAILABLE, "pgmld is shutting down");
    goto refuse;
  }
  if (pgmld_idmap_count(&conn->unanswered) >= cfg->limits.max_inflight_per_conn) {
    snprintf(details, sizeof(details),
             "{\"limit\":\"max_inflight_per_conn\",\"value\":%u}",
             cfg->limits.max_inflight_per_conn);
    pgmld_status_set(&st, PGMLD_RESOURCE_EXHAUSTED,
                     "too many requests in flight on this connection: "
                     "limits.max_inflight_per_conn is %u",
                     cfg->limits.max_inflight_per_conn);
    log_refusal(conn, PGMLD_LOG_INFO, "id %llu refused: %s", (unsigned long long)id,
                st.message);
    reject(conn, id, st.code, st.message, details);
    goto out;
  }
  /* The request's bytes are held until its call ends; what it decodes to
   * is of the same order. */
  if (server_in_bytes + v->payload_len > cfg->limits.max_server_inflight_bytes) {
    snprintf(details, sizeof(details),
             "{\"limit\":\"max_server_inflight_bytes\",\"value\":%llu}",
             (unsigned long long)cfg->limits.max_server_inflight_bytes);
    pgmld_status_set(&st, PGMLD_RESOURCE_EXHAUSTED,
                     "server busy: requests in flight hold %llu bytes and this one has "
                     "%zu, over limits.max_server_inflight_bytes (%llu); retry later",
                     (unsigned long long)server_in_bytes, v->payload_len,
                     (unsigned long long)cfg->limits.max_server_inflight_bytes);
    log_refusal(conn, PGMLD_LOG_WARN, "id %llu refused: %s", (unsigned long long)id,
                st.message);
    reject(conn, id, st.code, st.message, details);
    goto out;
  }
  call = pgmld__call_new(conn);
  if (call == NULL) {
    pgmld_status_set(&st, PGMLD_RESOURCE_EXHAUSTED, "out of memory starting %s",
                     m != NULL ? m->full_name : "a request");
    pgmld_log_error("conn", "%s: id %llu: %s", conn->name, (unsigned long long)id,
                    st.message);
    reject(conn, id, st.code, st.message, NULL);
    goto out;
  }
  /* Read in place, the request is decoded into the call's own memory; the
   * general path's decoded frame comes with a request on the heap. */
  if (m == NULL) {
    rc = pgmld_dispatch_prepare(pgmld__server_dispatch(conn->srv), f, &m, &request, &st);
    call->request_on_heap = 1;
  } else {
    rc = pgmld_dispatch_decode_with(m, v->payload, v->payload_len,
                                    pgmld_arena_allocator(&call->arena), &request, &st);
  }
  if (rc < 0) {
    pgmld__call_discard(call);
    goto refuse;
  }
  rc = pgmld__call_start(call, v, f, m, request);
  if (rc < 0) {
    pgmld_status_set(&st, PGMLD_RESOURCE_EXHAUSTED, "out of memory starting %s",
                     m->full_name);
    pgmld_log_error("conn", "%s: id %llu: %s", conn->name, (unsigned long long)id,
                    st.message);
    reject(conn, id, st.code, st.message, NULL);
  }
  return;   /* f belongs to the call, or was freed by pgmld__call_start() */

refuse:
  log_refusal(conn, PGMLD_LOG_INFO, "id %llu refused: %s", (unsigned long long)id,
              st.message);
  reject(conn, id, st.code, st.message, NULL);
  /* A client without a valid token gets one answer, then the connection
   * closes (once the answer is written): it cannot hold the slot. */
  if (st.code == PGMLD_UNAUTHENTICATED)
    close_conn(conn, 1);
out:
  pgmld_envelope_free(f);
}

void pgmld__conn_on_frame(pgmld_conn_t *conn, const uint8_t *body, uint32_t len)
{
  pgmld_status_t st;
  pgmld_frame_view_t v;
  Pgml__V1__Frame *f;
  uint64_t reply_id;

  if (conn->closing)
    return;
  pgmld_status_init(&st);
  conn->last_active = uv_now(pgmld_server_loop(conn->srv));
  if (conn->batching)
    conn->batch_in += len;
  else
    pgmld_metrics_bytes(conn->transport, len, 0);
  /* The common REQUEST, for a method this server implements, runs without
   * a decoded copy of its frame; everything else (metadata, CANCEL, an
   * unknown method, a malformed frame) takes the general path below,
   * which answers it exactly as it always did. */
  if (pgmld_envelope_peek(body, len, &v)) {
    const pgmld_method_t *m =
        pgmld_dispatch_find_n(pgmld__server_dispatch(conn->srv), v.method, v.method_len);
    if (m != NULL && m->fn != NULL) {
      handle_request(conn, &v, m, NULL);
      return;
    }
  }
  if (pgmld_envelope_decode(body, len, &f, &st) < 0) {
    bad_frame(conn, 0, len, &st);
    return;
  }
  if (pgmld_envelope_validate(f, &reply_id, &st) < 0) {
    bad_frame(conn, reply_id, len, &st);
    pgmld_envelope_free(f);
    return;
  }
  if (f->kind == PGML__V1__FRAME__KIND__CANCEL) {
    handle_cancel(conn, f->id);
    pgmld_envelope_free(f);
    return;
  }
  pgmld_envelope_view(f, &v);
  handle_request(conn, &v, NULL, f);
}

void pgmld__conn_on_oversize(pgmld_conn_t *conn, uint64_t len)
{
  uint64_t max = pgmld_server_config(conn->srv)->limits.max_frame_size;
  char msg[160], details[96];

  snprintf(msg, sizeof(msg), "frame of %llu bytes exceeds limits.max_frame_size (%llu)",
           (unsigned long long)len, (unsigned long long)max);
  snprintf(details, sizeof(details), "{\"limit\":\"max_frame_size\",\"value\":%llu}",
           (unsigned long long)max);
  pgmld_log_warn("conn", "%s: %s; closing the connection", conn->name, msg);
  reject(conn, 0, PGMLD_RESOURCE_EXHAUSTED, msg, details);
  close_conn(conn, 1);
}

void pgmld__conn_on_end(pgmld_conn_t *conn, int status)
{
  size_t n = pgmld_idmap_count(&conn->unanswered);

  if (status == UV_EOF)
    pgmld_log_debug("conn", "%s: closed by the client (%zu requests unanswered)",
                    conn->name, n);
  else
    pgmld_log_info("conn", "%s: %s (%zu requests unanswered); closing", conn->name,
                   uv_strerror(status), n);
  close_conn(conn, 0);
}

void pgmld__conn_on_written(pgmld_conn_t *conn, size_t bytes)
{
  conn->out_queued -= bytes < conn->out_queued ? bytes : conn->out_queued;
  update_reading(conn);
}

void pgmld__conn_batch_begin(pgmld_conn_t *conn)
{
  conn->batching = 1;
}

void pgmld__conn_batch_end(pgmld_conn_t *conn)
{
  conn->batching = 0;
  pgmld_metrics_bytes(conn->transport, conn->batch_in, conn->batch_out);
  conn->batch_in = conn->batch_out = 0;
  flush_batch(conn);
}

void pgmld__conn_on_closed(pgmld_conn_t *conn)
{
  drop_batch(conn);
  conn->t = NULL;
  conn->closing = 1;
  maybe_dead(conn);
}

/* ------------------------------------------------------------ for calls */

int pgmld__conn_call_added(pgmld_conn_t *conn, pgmld_call_t *call)
{
  int rc = pgmld_idmap_put(&conn->unanswered, call->id, call);

  if (rc < 0)
    return rc;
  pgmld_list_append(&conn->pending, &call->link);
  conn->in_bytes += call->bytes;
  server_in_bytes += call->bytes;
  update_reading(conn);
  return 0;
}

uint8_t *pgmld__conn_reply_room(pgmld_conn_t *conn, size_t len)
{
  return batch_room(conn, len);
}

void pgmld__conn_call_answered_in_batch(pgmld_conn_t *conn, pgmld_call_t *call,
                                        size_t len)
{
  /* As below; the bytes are already at the end of the batch. */
  pgmld_idmap_del(&conn->unanswered, call->id);
  pgmld_list_remove(&call->link);
  pgmld_list_append(&conn->answered, &call->link);
  if (conn->closing || conn->t == NULL)
    return;
  batch_commit(conn, len);
}

void pgmld__conn_call_answered(pgmld_conn_t *conn, pgmld_call_t *call,
                               uint8_t *buf, size_t len)
{
  /* Out of the map first: the client may reuse the id as soon as it reads
   * the answer, and the call must not be cancelled twice. */
  pgmld_idmap_del(&conn->unanswered, call->id);
  pgmld_list_remove(&call->link);
  pgmld_list_append(&conn->answered, &call->link);
  if (conn->closing || conn->t == NULL) {
    pgmld_free(buf);
    return;
  }
  if (buf == NULL) {
    pgmld_log_error("conn", "%s: out of memory encoding the answer to id %llu; closing",
                    conn->name, (unsigned long long)call->id);
    close_conn(conn, 1);
    return;
  }
  send_frame(conn, buf, len);
}

void pgmld__conn_call_ended(pgmld_conn_t *conn, pgmld_call_t *call)
{
  conn->in_bytes -= call->bytes;
  server_in_bytes -= call->bytes;
  pgmld_list_remove(&call->link);
  maybe_dead(conn);
  /* A dead connection has no transport: this is then a no-op. */
  update_reading(conn);
}

/* ------------------------------------------------------------ all of them */

void pgmld_conns_abort_all(pgmld_server_t *srv, pgmld_code_t code, const char *message)
{
  pgmld_list_t *head = pgmld__server_conns(srv), *pos, *tmp;

  /* A cancel hook can only end calls, which at worst moves this very
   * connection to the dead list; tmp stays valid. */
  pgmld_list_foreach_safe(pos, tmp, head) {
    pgmld_conn_t *conn = PGMLD_CONTAINER_OF(pos, pgmld_conn_t, link);
    while (!conn->closing && !pgmld_list_empty(&conn->pending)) {
      pgmld_call_t *call = PGMLD_CONTAINER_OF(conn->pending.next, pgmld_call_t, link);
      pgmld__call_abort(call, code, message);
    }
    close_conn(conn, 1);
  }
}

void pgmld_conns_close_all(pgmld_server_t *srv, int flush)
{
  pgmld_list_t *head = pgmld__server_conns(srv), *pos, *tmp;

  pgmld_list_foreach_safe(pos, tmp, head) {
    close_conn(PGMLD_CONTAINER_OF(pos, pgmld_conn_t, link), flush);
  }
}

void pgmld_conns_close_idle(pgmld_server_t *srv, uint32_t idle_ms)
{
  pgmld_list_t *head = pgmld__server_conns(srv), *pos, *tmp;
  uint64_t now = uv_now(pgmld_server_loop(srv));
  char msg[160], details[96];

  snprintf(msg, sizeof(msg), "closing an idle connection: nothing received for "
           "limits.idle_timeout_ms (%u ms)", idle_ms);
  snprintf(details, sizeof(details), "{\"limit\":\"idle_timeout_ms\",\"value\":%u}",
           idle_ms);
  pgmld_list_foreach_safe(pos, tmp, head) {
    pgmld_conn_t *conn = PGMLD_CONTAINER_OF(pos, pgmld_conn_t, link);
    /* A request in flight is not idleness: its answer is awaited. */
    if (conn->closing || pgmld_idmap_count(&conn->unanswered) > 0 ||
        now - conn->last_active < idle_ms)
      continue;
    pgmld_log_info("conn", "%s: %s", conn->name, msg);
    reject(conn, 0, PGMLD_UNAVAILABLE, msg, details);
    close_conn(conn, 1);
  }
}

static void log_stuck_list(const pgmld_conn_t *conn, const pgmld_list_t *head,
                           uint64_t now_ns)
{
  const pgmld_list_t *pos;

  for (pos = head->next; pos != head; pos = pos->next) {
    const pgmld_call_t *call = PGMLD_CONTAINER_OF(pos, pgmld_call_t, link);
    pgmld_log_error("conn", "%s: id %llu %s has not ended after %.0f ms%s", conn->name,
                    (unsigned long long)call->id, call->method->full_name,
                    (double)(now_ns - call->started_ns) / 1e6,
                    call->answered ? " (its client was answered)" : "");
  }
}

void pgmld_conns_log_stuck(pgmld_server_t *srv)
{
  pgmld_list_t *head = pgmld__server_conns(srv), *pos;
  uint64_t now_ns = uv_hrtime();

  for (pos = head->next; pos != head; pos = pos->next) {
    const pgmld_conn_t *conn = PGMLD_CONTAINER_OF(pos, pgmld_conn_t, link);
    log_stuck_list(conn, &conn->pending, now_ns);
    log_stuck_list(conn, &conn->answered, now_ns);
  }
}

void pgmld_conns_reap(pgmld_list_t *dead)
{
  while (!pgmld_list_empty(dead)) {
    pgmld_conn_t *conn = PGMLD_CONTAINER_OF(dead->next, pgmld_conn_t, link);
    pgmld_list_remove(&conn->link);
    pgmld_free(conn);
  }
}
