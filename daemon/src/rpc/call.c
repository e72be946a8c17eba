/* call.c - one request in flight: deadline, cancellation, and the single
 * response. */
#include "rpc/call_internal.h"

#include <errno.h>
#include <stdarg.h>
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

/* Records the answer and hands the bytes (NULL: none could be made) to the
 * connection. */
static void answer(pgmld_call_t *call, pgmld_code_t code, uint8_t *buf, size_t len)
{
  const pgmld_dispatch_t *d = pgmld__server_dispatch(call->srv);

  call->answered = 1;
  call->code = code;
  pgmld_metrics_request_done((size_t)(call->method - d->methods), call->method->full_name,
                             code, uv_hrtime() - call->started_ns);
  pgmld_deadlines_remove(pgmld__server_deadlines(call->srv), &call->deadline);
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
  pgmld_dispatch_free_request(call->request);
  pgmld_envelope_free(call->frame);
  pgmld_free(call);
  /* Last, because it may move the shutdown forward. */
  pgmld__server_call_ended(srv);
}

int pgmld__call_start(pgmld_conn_t *conn, const pgmld_frame_view_t *v,
                      Pgml__V1__Frame *frame, const pgmld_method_t *m,
                      ProtobufCMessage *request)
{
  pgmld_server_t *srv = pgmld_conn_server(conn);
  const pgmld_config_t *cfg = pgmld_server_config(srv);
  pgmld_call_t *call;
  uint32_t timeout;
  int rc;

  call = pgmld_calloc(1, sizeof(*call));
  if (call == NULL) {
    rc = -ENOMEM;
    goto fail;
  }
  pgmld_list_init(&call->link);
  pgmld_deadline_clear(&call->deadline);
  call->conn = conn;
  call->srv = srv;
  call->id = v->id;
  call->method = m;
  call->request = request;
  call->frame = frame;
  call->code = PGMLD_OK;
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
  pgmld_dispatch_free_request(request);
  pgmld_envelope_free(frame);
  pgmld_free(call);
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
  pgmld_status_t st = PGMLD_STATUS_INIT;
  uint64_t max_frame = pgmld_server_config(call->srv)->limits.max_frame_size;
  uint8_t *buf = NULL;
  size_t len = 0;

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
  if (pgmld_envelope_encode_reply(call->id, response, max_frame, &buf, &len, &st) < 0) {
    pgmld_log_warn("call", "%s id %llu %s: %s", pgmld_conn_name(call->conn),
                   (unsigned long long)call->id, call->method->full_name, st.message);
    answer_error(call, st.code, st.message);
    goto out;
  }
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
