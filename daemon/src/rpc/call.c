/* call.c - one request in flight: deadline, cancellation, and the single
 * response. */
#include "rpc/call_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "net/conn.h"
#include "rpc/envelope.h"

/* ------------------------------------------------------------ accessors */

pgmld_server_t *pgmld_call_server(pgmld_call_t *call)
{
  return call->srv;
}

uint64_t pgmld_call_deadline(pgmld_call_t *call)
{
  return call->deadline.at;
}

int pgmld_call_cancelled(pgmld_call_t *call)
{
  return call->cancelled;
}

uint64_t pgmld_call_id(const pgmld_call_t *call)
{
  return call->id;
}

const char *pgmld_call_method(const pgmld_call_t *call)
{
  return call->method->full_name;
}

const char *pgmld_call_peer(const pgmld_call_t *call)
{
  return pgmld_conn_name(call->conn);
}

const char *pgmld_call_metadata(const pgmld_call_t *call, const char *key)
{
  return pgmld_envelope_metadata(call->frame, key);
}

/* ------------------------------------------------------------ life cycle */

static void run_cancel_hook(pgmld_call_t *call)
{
  void (*fn)(pgmld_call_t *, void *) = call->cancel_fn;

  if (fn == NULL)
    return;
  call->cancel_fn = NULL;
  fn(call, call->cancel_data);
}

/* Records the answer. */
static void answered(pgmld_call_t *call, pgmld_code_t code)
{
  const pgmld_dispatch_t *d = pgmld__server_dispatch(call->srv);

  call->answered = 1;
  call->code = code;
  pgmld_metrics_request_done((size_t)(call->method - d->methods), call->method->full_name,
                             code, uv_hrtime() - call->started_ns);
  pgmld_deadlines_remove(pgmld__server_deadlines(call->srv), &call->deadline);
}

/* Records the answer and hands the bytes (NULL: none could be made) to the
 * connection. */
static void answer(pgmld_call_t *call, pgmld_code_t code, uint8_t *buf, size_t len)
{
  answered(call, code);
  pgmld__conn_call_answered(call->conn, call, buf, len);
}

static void answer_error(pgmld_call_t *call, pgmld_code_t code, const char *message)
{
  uint8_t *buf = NULL;
  size_t len = 0;

  if (pgmld_envelope_encode_error(call->id, code, message, NULL, &buf, &len) < 0)
    buf = NULL;
  answer(call, code, buf, len);
}

/* ------------------------------------------------------------ call objects */

#if defined(__SANITIZE_ADDRESS__)
#define RECYCLE_CALLS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RECYCLE_CALLS 0
#endif
#endif
#ifndef RECYCLE_CALLS
#define RECYCLE_CALLS 1
#endif
/* Ended calls kept for reuse, at most: enough for a few busy connections'
 * worth of requests in flight, without holding much memory after a burst. */
#define FREE_CALLS_MAX 256u

/* Ended calls, chained through `link.next`: one process, one loop thread. */
static pgmld_call_t *free_calls;
static unsigned n_free_calls;

pgmld_call_t *pgmld__call_new(pgmld_conn_t *conn)
{
  pgmld_call_t *call = free_calls;

  if (call != NULL) {
    free_calls = (pgmld_call_t *)call->link.next;
    n_free_calls--;
  } else {
    call = pgmld_malloc(sizeof(*call));
    if (call == NULL)
      return NULL;
  }
  /* Everything but the arena, which needs no clearing. */
  memset(call, 0, offsetof(pgmld_call_t, arena));
  pgmld_arena_init(&call->arena);
  pgmld_list_init(&call->link);
  pgmld_deadline_clear(&call->deadline);
  call->conn = conn;
  call->srv = pgmld_conn_server(conn);
  call->code = PGMLD_OK;
  return call;
}

/* Frees the call's request, however it was decoded. */
static void free_request(pgmld_call_t *call)
{
  if (call->request_on_heap)
    pgmld_dispatch_free_request(call->request);
  call->request = NULL;
  pgmld_arena_reset(&call->arena);
}

void pgmld__call_discard(pgmld_call_t *call)
{
  free_request(call);
  if (RECYCLE_CALLS && n_free_calls < FREE_CALLS_MAX) {
    call->link.next = (pgmld_list_t *)free_calls;
    free_calls = call;
    n_free_calls++;
    return;
  }
  pgmld_free(call);
}

/* Frees the call; the handler is done with it. */
static void end(pgmld_call_t *call)
{
  pgmld_server_t *srv = call->srv;

  pgmld_log_debug("call", "%s id %llu %s: %s%s after %.3f ms", pgmld_conn_name(call->conn),
                  (unsigned long long)call->id, call->method->full_name,
                  pgmld_code_name(call->code), call->cancelled ? " (cancelled)" : "",
                  (double)(uv_hrtime() - call->started_ns) / 1e6);
  pgmld_deadlines_remove(pgmld__server_deadlines(srv), &call->deadline);
  pgmld__conn_call_ended(call->conn, call);
  pgmld_envelope_free(call->frame);
  pgmld__call_discard(call);
  /* Last, because it may move the shutdown forward. */
  pgmld__server_call_ended(srv);
}

int pgmld__call_start(pgmld_call_t *call, const pgmld_frame_view_t *v,
                      Pgml__V1__Frame *frame, const pgmld_method_t *m,
                      ProtobufCMessage *request)
{
  pgmld_conn_t *conn = call->conn;
  pgmld_server_t *srv = call->srv;
  const pgmld_config_t *cfg = pgmld_server_config(srv);
  uint32_t timeout;
  int rc;

  call->id = v->id;
  call->method = m;
  call->request = request;
  call->frame = frame;
  call->started_ns = uv_hrtime();
  /* What the connection counts against limits.max_inflight_bytes and
   * limits.max_server_inflight_bytes from pgmld__conn_call_added() to end(). */
  call->bytes = v->payload_len;
  timeout = v->timeout_ms;
  /* The payload is decoded into request; its bytes are not needed any
   * more, and may be megabytes.  (v may point into frame: read it first.) */
  if (frame != NULL) {
    pgmld_free(frame->payload.data);
    frame->payload.data = NULL;
    frame->payload.len = 0;
  }

  if (timeout == 0)
    timeout = cfg->limits.default_timeout_ms;
  else if (timeout > cfg->limits.max_timeout_ms)
    timeout = cfg->limits.max_timeout_ms;

  rc = pgmld_deadlines_add(pgmld__server_deadlines(srv), &call->deadline,
                           uv_now(pgmld_server_loop(srv)) + timeout);
  if (rc < 0)
    goto fail;
  rc = pgmld__conn_call_added(conn, call);
  if (rc < 0) {
    pgmld_deadlines_remove(pgmld__server_deadlines(srv), &call->deadline);
    goto fail;
  }
  pgmld__server_call_started(srv);
  pgmld_metrics_request_started();
  m->fn(call, request);
  return 0;

fail:
  call->frame = NULL;
  pgmld_envelope_free(frame);
  pgmld__call_discard(call);
  return rc;
}

void pgmld__call_abort(pgmld_call_t *call, pgmld_code_t code, const char *message)
{
  if (call->answered)
    return;
  call->cancelled = 1;
  if (code == PGMLD_OK)
    answer(call, PGMLD_CANCELLED, NULL, 0);
  else
    answer_error(call, code, message);
  run_cancel_hook(call);
}

void pgmld__call_deadline_expired(pgmld_deadlines_t *ds, pgmld_deadline_t *d)
{
  pgmld_call_t *call = PGMLD_CONTAINER_OF(d, pgmld_call_t, deadline);
  char msg[128];

  (void)ds;
  snprintf(msg, sizeof(msg), "deadline exceeded after %.0f ms",
           (double)(uv_hrtime() - call->started_ns) / 1e6);
  pgmld__call_abort(call, PGMLD_DEADLINE_EXCEEDED, msg);
}

void pgmld_call_on_cancel(pgmld_call_t *call,
                          void (*fn)(pgmld_call_t *call, void *data), void *data)
{
  call->cancel_fn = fn;
  call->cancel_data = data;
  if (call->cancelled)
    run_cancel_hook(call);
}

void pgmld_call_reply(pgmld_call_t *call, const ProtobufCMessage *response)
{
  const ProtobufCMessageDescriptor *want = call->method->desc->output;
  pgmld_status_t st;
  uint64_t max_frame = pgmld_server_config(call->srv)->limits.max_frame_size;
  uint8_t *buf = NULL, *room;
  size_t len = 0, plen;

  pgmld_status_init(&st);
  if (call->answered)
    goto out;
  if (response == NULL || response->descriptor != want) {
    pgmld_log_error("call", "%s id %llu: the handler of %s replied with %s instead of %s",
                    pgmld_conn_name(call->conn), (unsigned long long)call->id,
                    call->method->full_name,
                    response ? response->descriptor->name : "NULL", want->name);
    answer_error(call, PGMLD_INTERNAL, "the server built a wrong response type");
    goto out;
  }
  if (pgmld_envelope_reply_size(call->id, response, max_frame, &plen, &len, &st) < 0) {
    pgmld_log_warn("call", "%s id %llu %s: %s", pgmld_conn_name(call->conn),
                   (unsigned long long)call->id, call->method->full_name, st.message);
    answer_error(call, st.code, st.message);
    goto out;
  }
  /* Encoded straight into the connection's batch when it has one (a
   * response made while the frames of one read are handled). */
  room = pgmld__conn_reply_room(call->conn, len);
  /* Making room may flush the batch; a failed flush closes the connection,
   * which ends its calls, this one included. */
  if (call->answered)
    goto out;
  if (room != NULL) {
    pgmld_envelope_reply_write(call->id, response, plen, len, room);
    answered(call, PGMLD_OK);
    pgmld__conn_call_answered_in_batch(call->conn, call, len);
    goto out;
  }
  buf = pgmld_malloc(len);
  if (buf == NULL) {
    answer_error(call, PGMLD_RESOURCE_EXHAUSTED, "out of memory encoding the response");
    goto out;
  }
  pgmld_envelope_reply_write(call->id, response, plen, len, buf);
  answer(call, PGMLD_OK, buf, len);
out:
  end(call);
}

void pgmld_call_fail_status(pgmld_call_t *call, const pgmld_status_t *st)
{
  pgmld_code_t code = st->code;

  if (!call->answered) {
    if (code == PGMLD_OK) {
      pgmld_log_error("call", "%s id %llu %s: failed with code OK",
                      pgmld_conn_name(call->conn), (unsigned long long)call->id,
                      call->method->full_name);
      code = PGMLD_INTERNAL;
    }
    if (code == PGMLD_INTERNAL)
      pgmld_log_error("call", "%s id %llu %s: %s", pgmld_conn_name(call->conn),
                      (unsigned long long)call->id, call->method->full_name,
                      st->message);
    answer_error(call, code, st->message);
  }
  end(call);
}

void pgmld_call_failv(pgmld_call_t *call, pgmld_code_t code, const char *fmt, va_list ap)
{
  pgmld_status_t st = PGMLD_STATUS_INIT;

  st.code = code;
  vsnprintf(st.message, sizeof(st.message), fmt, ap);
  pgmld_call_fail_status(call, &st);
}

void pgmld_call_fail(pgmld_call_t *call, pgmld_code_t code, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  pgmld_call_failv(call, code, fmt, ap);
  va_end(ap);
}
