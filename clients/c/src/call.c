/* call.c - one call: starting it, matching its answer, cancelling it,
 * expiring it, and delivering its result to its callback. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "alloc.h"
#include "client_int.h"
#include "envelope.h"
#include "msgtypes.h"

#define DEFAULT_SERVICE "pgml.v1.Database/"
/* Longest full method name accepted, in bytes. */
#define MAX_METHOD 255
_Static_assert(sizeof(((pgml__call_t *)0)->method_buf) >= sizeof(DEFAULT_SERVICE) + MAX_METHOD,
               "a call's method_buf holds the service prefix, a name and its NUL");

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
/* Delivered call objects a client keeps for its next calls, at most, and
 * the largest response buffer one keeps. */
#define SPARE_CALLS_MAX 256u
#define SPARE_PAYLOAD_MAX 4096u

void pgml__call_free(pgml__call_t *call)
{
  pgml__free(call->message_buf);
  pgml__free(call->details);
  pgml__free(call->payload);
  pgml__free(call);
}

/* Drops a DONE call's result, to replace it. */
static void clear_result(pgml__call_t *call)
{
  pgml__free(call->message_buf);
  pgml__free(call->details);
  pgml__free(call->payload);
  call->message_buf = NULL;
  call->message = NULL;
  call->details = NULL;
  call->payload = NULL;
  call->payload_len = 0;
  call->payload_cap = 0;
}

/* A call object: a spare one, or a new one; its result, callbacks and
 * method are unset.  NULL when memory ran out. */
static pgml__call_t *new_call(pgml_client_t *c)
{
  pgml__call_t *call = c->spare_calls;
  uint8_t *payload;
  size_t cap;

  if (call == NULL)
    return pgml__calloc(1, sizeof(*call));
  c->spare_calls = call->dnext;
  c->n_spare_calls--;
  payload = call->payload;
  cap = call->payload_cap;
  /* Not the whole object: method_buf is written before it is read. */
  memset(call, 0, offsetof(pgml__call_t, method_buf));
  call->payload = payload;
  call->payload_cap = cap;
  return call;
}

/* Gives back a call whose callback has run (or will never run). */
static void release_call(pgml_client_t *c, pgml__call_t *call)
{
  if (!RECYCLE_CALLS || c->n_spare_calls >= SPARE_CALLS_MAX) {
    pgml__call_free(call);
    return;
  }
  pgml__free(call->message_buf);
  pgml__free(call->details);
  call->message_buf = NULL;
  call->details = NULL;
  if (call->payload_cap > SPARE_PAYLOAD_MAX) {
    pgml__free(call->payload);
    call->payload = NULL;
    call->payload_cap = 0;
  }
  call->dnext = c->spare_calls;
  c->spare_calls = call;
  c->n_spare_calls++;
}

void pgml__call_free_spares(pgml_client_t *c)
{
  while (c->spare_calls != NULL) {
    pgml__call_t *call = c->spare_calls;
    c->spare_calls = call->dnext;
    pgml__call_free(call);
  }
  c->n_spare_calls = 0;
}

/* Moves an IN_FLIGHT call to DONE; its result must be set. */
static void finish(pgml_client_t *c, pgml__call_t *call)
{
  pgml__heap_remove(&c->deadlines, call);
  call->state = CALL_DONE;
  call->dnext = NULL;
  if (c->done_tail != NULL)
    c->done_tail->dnext = call;
  else
    c->done_head = call;
  c->done_tail = call;
}

/* Sets the result's code and a formatted message; when memory runs out the
 * message is the code's name, so a result always has one. */
__attribute__((format(printf, 3, 0)))
static void set_message(pgml__call_t *call, pgml_code_t code, const char *fmt, va_list ap)
{
  va_list ap2;
  int n;

  call->code = code;
  call->message = pgml_code_name(code);
  va_copy(ap2, ap);
  n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    return;
  call->message_buf = pgml__malloc((size_t)n + 1);
  if (call->message_buf == NULL)
    return;
  vsnprintf(call->message_buf, (size_t)n + 1, fmt, ap);
  call->message = call->message_buf;
}

void pgml__call_fail(pgml_client_t *c, pgml__call_t *call, pgml_code_t code,
                     const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  set_message(call, code, fmt, ap);
  va_end(ap);
  finish(c, call);
}

typedef struct {
  pgml__call_t **list;
  size_t n;
} collect_t;

static void collect_in_flight(pgml__call_t *call, void *ctx)
{
  collect_t *col = ctx;

  if (call->state == CALL_IN_FLIGHT)
    col->list[col->n++] = call;
}

static int by_id(const void *a, const void *b)
{
  const pgml__call_t *x = *(pgml__call_t *const *)a;
  const pgml__call_t *y = *(pgml__call_t *const *)b;

  return x->id < y->id ? -1 : x->id > y->id;
}

static void fail_one(pgml__call_t *call, void *ctx)
{
  void **args = ctx;

  if (call->state == CALL_IN_FLIGHT)
    pgml__call_fail(args[0], call, *(pgml_code_t *)args[1], "%s", (const char *)args[2]);
}

void pgml__call_fail_all(pgml_client_t *c, pgml_code_t code, const char *message)
{
  collect_t col = {NULL, 0};
  size_t i;

  if (c->calls.count == 0)
    return;
  /* Callbacks then run in the order the calls were made.  Without memory for
   * the list they run in table order, which is still each exactly once. */
  col.list = pgml__malloc(c->calls.count * sizeof(*col.list));
  if (col.list == NULL) {
    void *args[3] = {c, &code, (void *)message};
    pgml__table_each(&c->calls, fail_one, args);
    return;
  }
  pgml__table_each(&c->calls, collect_in_flight, &col);
  qsort(col.list, col.n, sizeof(*col.list), by_id);
  for (i = 0; i < col.n; i++)
    pgml__call_fail(c, col.list[i], code, "%s", message);
  pgml__free(col.list);
}

/* Queues a CANCEL for `call` if its REQUEST went (or is going) out on the
 * current connection.  Best effort: without memory for the frame the server
 * finishes the request and its answer is dropped here. */
static void send_cancel(pgml_client_t *c, const pgml__call_t *call)
{
  pgml__outbuf_t *b;

  if (c->conn == CONN_CLOSED)
    return;
  if (pgml__envelope_cancel(c->transport->ops->headroom, call->id, &b) == 0)
    pgml__client_send(c, b);
}

static int valid_metadata(const char *const *md)
{
  size_t n;

  for (n = 0; md != NULL && md[2 * n] != NULL; n++) {
    if (n == PGML_MAX_METADATA || md[2 * n][0] == '\0' || md[2 * n + 1] == NULL)
      return 0;
  }
  return 1;
}

/* "Ping" -> "pgml.v1.Database/Ping" into buf (sizeof(pgml__call_t.method_buf)
 * bytes); a full name is checked and copied.  0, or -EINVAL when the name is
 * not valid. */
static int full_method(const char *method, char *buf)
{
  const char *slash;
  size_t n;

  if (method == NULL || method[0] == '\0' || (n = strlen(method)) > MAX_METHOD)
    return -EINVAL;
  slash = memchr(method, '/', n);
  if (slash == NULL) {
    size_t pre = sizeof(DEFAULT_SERVICE) - 1;
    memcpy(buf, DEFAULT_SERVICE, pre);
    memcpy(buf + pre, method, n + 1);
    return 0;
  }
  if (slash == method || slash[1] == '\0' || strchr(slash + 1, '/') != NULL)
    return -EINVAL;
  memcpy(buf, method, n + 1);
  return 0;
}

/* Starts a call.  Ownership: nothing passed in is kept; on failure nothing
 * is left behind and neither callback will run. */
static int start(pgml_client_t *c, const char *method, const uint8_t *payload,
                 size_t len, const pgml_call_options_t *opts, pgml_raw_cb raw_cb,
                 pgml_msg_cb msg_cb, const pb_msgdesc_t *resp_type, void *ud,
                 uint64_t *id_out)
{
  uint32_t timeout_ms = opts != NULL ? opts->timeout_ms : 0;
  const char *const *md = opts != NULL ? opts->metadata : NULL;
  const pgml__transport_ops_t *ops;
  pgml__outbuf_t *b = NULL;
  pgml__call_t *call;
  size_t size;
  int rc, direct;

  if (c == NULL || (raw_cb == NULL && msg_cb == NULL) || (payload == NULL && len > 0))
    return -EINVAL;
  if (!valid_metadata(md))
    return -EINVAL;
  if (c->freeing)
    return -ESHUTDOWN;
  if (c->calls.count >= c->opts.max_calls)
    return -ENOBUFS;
  if (len > c->opts.max_frame_size)
    return -EMSGSIZE;

  call = new_call(c);
  if (call == NULL)
    return -ENOMEM;
  call->heap_at = SIZE_MAX;
  call->method = call->method_buf;
  rc = full_method(method, call->method_buf);
  if (rc < 0)
    goto fail;
  rc = pgml__table_reserve(&c->calls);
  if (rc == 0 && timeout_ms > 0)
    rc = pgml__heap_reserve(&c->deadlines);
  if (rc < 0)
    goto fail;
  rc = pgml__envelope_request_size(c->opts.max_frame_size, c->next_id, call->method,
                                   len, timeout_ms, md, &size);
  if (rc < 0)
    goto fail;
  /* Small requests are written straight into the transport's send buffer
   * (one for all the requests of a turn); others get a buffer each. */
  ops = c->transport->ops;
  direct = ops->reserve != NULL && ops->reserve(c->transport, size) == 0;
  if (!direct) {
    rc = pgml__envelope_request(ops->headroom, c->opts.max_frame_size, c->next_id,
                                call->method, payload, len, timeout_ms, md, &b);
    if (rc < 0)
      goto fail;
  }

  /* Nothing can fail from here on. */
  call->id = c->next_id++;
  call->state = CALL_IN_FLIGHT;
  call->timeout_ms = timeout_ms;
  call->raw_cb = raw_cb;
  call->msg_cb = msg_cb;
  call->resp_type = resp_type;
  call->ud = ud;
  pgml__table_insert(&c->calls, call);
  if (timeout_ms > 0) {
    call->deadline = pgml__now_ms() + timeout_ms;
    pgml__heap_push(&c->deadlines, call);
  }
  if (id_out != NULL)
    *id_out = call->id;
  /* The call is in the table before the connection is opened, so that a
   * connection that cannot be opened completes it with the others. */
  pgml__client_ensure_open(c);
  if (c->conn == CONN_CLOSED)
    pgml__free(b);
  else if (direct)
    pgml__envelope_request_write(ops->append(c->transport, size), call->id, call->method,
                                 payload, len, timeout_ms, md);
  else
    pgml__client_send(c, b);
  pgml__client_watch(c);
  return 0;

fail:
  release_call(c, call);
  return rc;
}

int pgml_call_raw(pgml_client_t *c, const char *method, const void *payload, size_t len,
                  const pgml_call_options_t *opts, pgml_raw_cb cb, void *ud,
                  uint64_t *id_out)
{
  if (cb == NULL)
    return -EINVAL;
  return start(c, method, payload, len, opts, cb, NULL, NULL, ud, id_out);
}

int pgml_call(pgml_client_t *c, const char *method, const pb_msgdesc_t *req_type,
              const void *req, const pb_msgdesc_t *resp_type,
              const pgml_call_options_t *opts, pgml_msg_cb cb, void *ud,
              uint64_t *id_out)
{
  pb_ostream_t s;
  uint8_t *buf;
  size_t size;
  int rc;

  if (c == NULL || req_type == NULL || req == NULL || cb == NULL ||
      pgml__msg_size(resp_type) == 0)
    return -EINVAL;
  if (!pb_get_encoded_size(&size, req_type, req))
    return -EINVAL;
  if (size > c->opts.max_frame_size)
    return -EMSGSIZE;
  buf = pgml__malloc(size);
  if (buf == NULL)
    return -ENOMEM;
  s = pb_ostream_from_buffer(buf, size);
  if (!pb_encode(&s, req_type, req)) {
    pgml__free(buf);
    return -EINVAL;
  }
  rc = start(c, method, buf, s.bytes_written, opts, NULL, cb, resp_type, ud, id_out);
  pgml__free(buf);
  return rc;
}

int pgml_cancel(pgml_client_t *c, uint64_t id)
{
  pgml__call_t *call;

  if (c == NULL)
    return -EINVAL;
  call = pgml__table_find(&c->calls, id);
  if (call == NULL)
    return -ENOENT;
  if (call->state == CALL_IN_FLIGHT) {
    send_cancel(c, call);
    pgml__call_fail(c, call, PGML_CANCELLED, "%s cancelled by the client", call->method);
  } else if (call->code != PGML_CANCELLED) {
    /* Completed but not yet delivered: the promise is that the callback
     * sees CANCELLED once pgml_cancel() returned 0. */
    clear_result(call);
    call->code = PGML_CANCELLED;
    call->message_buf = pgml__asprintf("%s cancelled by the client", call->method);
    call->message = call->message_buf ? call->message_buf : pgml_code_name(PGML_CANCELLED);
  }
  pgml__client_watch(c);
  return 0;
}

/* Completes `call` with the server's answer in `env`. */
static void answer(pgml_client_t *c, pgml__call_t *call, const pgml__envelope_t *env)
{
  const pgml_v1_Frame *f = &env->frame;
  int code = (int)f->code;

  if (code == PGML_OK) {
    call->code = PGML_OK;
    call->message = "";
    if (env->payload_len > 0) {
      if (env->payload_len > call->payload_cap) {
        pgml__free(call->payload);
        call->payload_cap = 0;
        call->payload = pgml__malloc(env->payload_len);
        if (call->payload != NULL)
          call->payload_cap = env->payload_len;
      }
      if (call->payload == NULL) {
        pgml__call_fail(c, call, PGML_RESOURCE_EXHAUSTED,
                        "out of memory for the %zu-byte response of %s",
                        env->payload_len, call->method);
        return;
      }
      memcpy(call->payload, env->payload, env->payload_len);
      call->payload_len = env->payload_len;
    }
    finish(c, call);
    return;
  }
  if (f->details != NULL && f->details[0] != '\0')
    call->details = pgml__strdup(f->details);
  if (code < PGML_OK || code > PGML_UNAUTHENTICATED) {
    pgml__call_fail(c, call, PGML_UNKNOWN, "pgmld answered with unknown code %d: %s",
                    code, f->message ? f->message : "");
    return;
  }
  if (f->message == NULL || f->message[0] == '\0')
    pgml__call_fail(c, call, (pgml_code_t)code, "%s", pgml_code_name((pgml_code_t)code));
  else
    pgml__call_fail(c, call, (pgml_code_t)code, "%s", f->message);
}

int pgml__call_on_frame(void *ctx, const uint8_t *body, size_t len)
{
  pgml_client_t *c = ctx;
  pgml__envelope_t env;
  pgml__call_t *call;
  char why[256];
  int rc;

  rc = pgml__envelope_decode(body, len, &env, why, sizeof(why));
  if (rc < 0) {
    snprintf(c->proto_err, sizeof(c->proto_err), "protocol error: %s", why);
    return -EPROTO;
  }
  if (env.frame.kind != pgml_v1_Frame_Kind_RESPONSE) {
    snprintf(c->proto_err, sizeof(c->proto_err),
             "protocol error: the server sent a frame of kind %d (id %llu); "
             "a client only receives RESPONSE",
             (int)env.frame.kind, (unsigned long long)env.frame.id);
    pgml__envelope_release(&env);
    return -EPROTO;
  }
  if (env.frame.id == 0) {
    /* An error about the connection itself: the server could not read one of
     * our frames and will not answer it. */
    snprintf(c->proto_err, sizeof(c->proto_err), "the server reported %s: %s%s%s",
             pgml_code_name((pgml_code_t)env.frame.code),
             env.frame.message ? env.frame.message : "",
             env.frame.details ? " " : "", env.frame.details ? env.frame.details : "");
    pgml__envelope_release(&env);
    return -EPROTO;
  }
  call = pgml__table_find(&c->calls, env.frame.id);
  if (call != NULL && call->state == CALL_IN_FLIGHT)
    answer(c, call, &env);
  pgml__envelope_release(&env);
  return 0;
}

/* Decodes a typed call's response and calls its callback. */
static void deliver_msg(pgml_client_t *c, pgml__call_t *call, pgml_result_t *res)
{
  char why[512];
  void *msg = NULL;

  if (res->code == PGML_OK) {
    msg = pgml__calloc(1, pgml__msg_size(call->resp_type));
    if (msg == NULL) {
      res->code = PGML_RESOURCE_EXHAUSTED;
      snprintf(why, sizeof(why), "out of memory for the response of %s", call->method);
      res->message = why;
    } else {
      pb_istream_t s = pb_istream_from_buffer(res->payload, res->payload_len);
      if (!pb_decode(&s, call->resp_type, msg)) {
        /* pb_decode() released what it had allocated. */
        pgml__free(msg);
        msg = NULL;
        res->code = PGML_INTERNAL;
        snprintf(why, sizeof(why), "cannot decode the response of %s: %s", call->method,
                 PB_GET_ERROR(&s));
        res->message = why;
      }
    }
    if (msg == NULL) {
      res->payload = NULL;
      res->payload_len = 0;
    }
  }
  call->msg_cb(c, res, msg, call->ud);
  if (msg != NULL) {
    pb_release(call->resp_type, msg);
    pgml__free(msg);
  }
}

void pgml__call_run_done(pgml_client_t *c)
{
  pgml__call_t *call = c->done_head;

  /* Calls completed by these callbacks (a new call whose connection cannot
   * be opened) wait for the next step, so a callback that always starts a
   * new call cannot keep this loop going. */
  c->done_head = c->done_tail = NULL;
  while (call != NULL) {
    pgml__call_t *next = call->dnext;
    pgml_result_t res;

    pgml__table_remove(&c->calls, call);
    res.code = call->code;
    res.message = call->message != NULL ? call->message : "";
    res.details = call->details;
    /* A reused call may hold a buffer from an earlier answer: no payload
     * is NULL, as it always was. */
    res.payload_len = call->code == PGML_OK ? call->payload_len : 0;
    res.payload = res.payload_len > 0 ? call->payload : NULL;
    if (call->raw_cb != NULL)
      call->raw_cb(c, &res, call->ud);
    else
      deliver_msg(c, call, &res);
    release_call(c, call);
    call = next;
  }
}

void pgml__call_expire(pgml_client_t *c, uint64_t now)
{
  pgml__call_t *call;

  while ((call = pgml__heap_top(&c->deadlines)) != NULL && call->deadline <= now) {
    send_cancel(c, call);
    pgml__call_fail(c, call, PGML_DEADLINE_EXCEEDED,
                    "deadline of %u ms exceeded waiting for %s from pgmld at %s",
                    call->timeout_ms, call->method, c->address);
  }
}

void pgml__call_cancel_all(pgml_client_t *c, const char *message)
{
  pgml__call_t *call;

  pgml__call_fail_all(c, PGML_CANCELLED, message);
  for (call = c->done_head; call != NULL; call = call->dnext) {
    if (call->code == PGML_CANCELLED)
      continue;
    clear_result(call);
    call->code = PGML_CANCELLED;
    call->message_buf = pgml__strdup(message);
    call->message = call->message_buf ? call->message_buf : pgml_code_name(PGML_CANCELLED);
  }
}
