/* blocking.c - blocking calls: one call, then poll() and step until it has
 * completed. */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "alloc.h"
#include "client_int.h"
#include "msgtypes.h"
#include "pgml/blocking.h"

typedef struct {
  int done;
  int rc;                      /* 0, or -ENOMEM when the result was not copied */
  pgml_sync_result_t *out;
} wait_t;

void pgml_sync_result_free(pgml_sync_result_t *r)
{
  if (r == NULL)
    return;
  pgml__free(r->message);
  pgml__free(r->details);
  pgml__free(r->payload);
  memset(r, 0, sizeof(*r));
}

/* Copies the result out of the callback, which only borrows it. */
static void on_done(pgml_client_t *c, const pgml_result_t *res, void *ud)
{
  wait_t *w = ud;
  pgml_sync_result_t *out = w->out;

  w->done = 1;
  out->code = res->code;
  out->message = pgml__strdup(res->message);
  if (res->details != NULL)
    out->details = pgml__strdup(res->details);
  if (res->payload_len > 0) {
    out->payload = pgml__malloc(res->payload_len);
    if (out->payload != NULL) {
      memcpy(out->payload, res->payload, res->payload_len);
      out->payload_len = res->payload_len;
    }
  }
  if (out->message == NULL || (res->details != NULL && out->details == NULL) ||
      (res->payload_len > 0 && out->payload == NULL)) {
    pgml_sync_result_free(out);
    w->rc = -ENOMEM;
  }
}

static unsigned to_revents(short re)
{
  unsigned ev = 0;

  /* Hang-up and error are reported as readable so that the read finds out
   * what happened (end of stream, or the socket's error). */
  if (re & (POLLIN | POLLHUP | POLLERR))
    ev |= PGML_EV_READ;
  if (re & (POLLOUT | POLLERR))
    ev |= PGML_EV_WRITE;
  return ev;
}

/* Steps `c` until call `id` completed.  A pending call must never be left
 * behind with `w` (on this stack) as its user data: when waiting fails the
 * call is cancelled and stepped to completion before returning. */
static int wait_for(pgml_client_t *c, uint64_t id, wait_t *w)
{
  int failed = 0;

  while (!w->done) {
    struct pollfd p;
    int fd = pgml_client_fd(c);
    int timeout = pgml_client_next_timeout_ms(c);
    unsigned events = pgml_client_events(c);
    unsigned revents = 0;
    int n = 0;

    if (fd >= 0 && timeout != 0) {
      p.fd = fd;
      p.events = (short)((events & PGML_EV_READ ? POLLIN : 0) |
                         (events & PGML_EV_WRITE ? POLLOUT : 0));
      p.revents = 0;
      n = poll(&p, 1, timeout);
      if (n > 0)
        revents = to_revents(p.revents);
    } else if (timeout != 0) {
      /* Defensive: a pending call has a descriptor or a timeout; never
       * sleep forever without one. */
      n = poll(NULL, 0, timeout < 0 ? 10 : timeout);
    }
    if (n < 0 && errno != EINTR && !failed) {
      failed = -errno;
      if (pgml_cancel(c, id) != 0)
        return failed;
    }
    if (pgml_client_step(c, revents) != 0)
      return -EBUSY;
  }
  return failed;
}

int pgml_call_raw_sync(pgml_client_t *c, const char *method, const void *payload,
                       size_t len, const pgml_call_options_t *opts,
                       pgml_sync_result_t *out)
{
  wait_t w = {0, 0, out};
  uint64_t id;
  int rc;

  if (out == NULL)
    return -EINVAL;
  memset(out, 0, sizeof(*out));
  if (c == NULL)
    return -EINVAL;
  if (c->dispatching)
    return -EBUSY;
  rc = pgml_call_raw(c, method, payload, len, opts, on_done, &w, &id);
  if (rc < 0)
    return rc;
  rc = wait_for(c, id, &w);
  if (rc == 0)
    rc = w.rc;
  if (rc < 0) {
    pgml_sync_result_free(out);
    return rc;
  }
  return (int)out->code;
}

int pgml_call_sync(pgml_client_t *c, const char *method, const pb_msgdesc_t *req_type,
                   const void *req, const pb_msgdesc_t *resp_type, void *resp,
                   const pgml_call_options_t *opts, pgml_sync_result_t *out)
{
  pb_ostream_t os;
  pb_istream_t is;
  uint8_t *buf;
  size_t size;
  int rc;

  if (out == NULL)
    return -EINVAL;
  memset(out, 0, sizeof(*out));
  if (c == NULL || req_type == NULL || req == NULL || resp_type == NULL || resp == NULL)
    return -EINVAL;
  if (!pb_get_encoded_size(&size, req_type, req))
    return -EINVAL;
  if (size > c->opts.max_frame_size)
    return -EMSGSIZE;
  buf = pgml__malloc(size);
  if (buf == NULL)
    return -ENOMEM;
  os = pb_ostream_from_buffer(buf, size);
  if (!pb_encode(&os, req_type, req)) {
    pgml__free(buf);
    return -EINVAL;
  }
  rc = pgml_call_raw_sync(c, method, buf, os.bytes_written, opts, out);
  pgml__free(buf);
  if (rc != 0)
    return rc;

  is = pb_istream_from_buffer(out->payload, out->payload_len);
  if (!pb_decode(&is, resp_type, resp)) {
    char *why = pgml__asprintf("cannot decode the response of %s: %s", method,
                               PB_GET_ERROR(&is));
    pgml_sync_result_free(out);
    if (why == NULL)
      return -ENOMEM;
    out->code = PGML_INTERNAL;
    out->message = why;
    return PGML_INTERNAL;
  }
  pgml__free(out->payload);
  out->payload = NULL;
  out->payload_len = 0;
  return 0;
}
