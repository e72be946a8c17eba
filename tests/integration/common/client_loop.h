/* client_loop.h - integration-test helper: drive a libpgml client with poll() the way an application's event loop would, and Pings that check their own payload.
 *
 * Header-only on purpose: the suites that use it link only the shared
 * libpgml, as applications do, and need no extra library for these few
 * lines.  cmocka test code: a failure fails the running test. */
#ifndef PGML_TEST_CLIENT_LOOP_H
#define PGML_TEST_CLIENT_LOOP_H

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <pgml/client.h>
#include <pgml/v1/database.pb.h>

/* Sleeps ms milliseconds, resumed after a signal. */
static inline void pgml_test_sleep_ms(unsigned ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Drives c until nothing is pending: watch pgml_client_fd() for
 * pgml_client_events(), wake up after pgml_client_next_timeout_ms(), call
 * pgml_client_step().  *max_steps (when given) gets how many steps it
 * took; a step that fails, or a million of them, fails the test. */
static inline void pgml_test_drive(pgml_client_t *c, size_t *max_steps)
{
  size_t steps = 0;

  while (pgml_client_pending(c) > 0) {
    struct pollfd p = {pgml_client_fd(c), 0, 0};
    unsigned ev = pgml_client_events(c), rev = 0;
    int timeout = pgml_client_next_timeout_ms(c);

    assert_true(++steps < 1000000);
    p.events = (short)((ev & PGML_EV_READ ? POLLIN : 0) | (ev & PGML_EV_WRITE ? POLLOUT : 0));
    if (p.fd >= 0) {
      assert_true(poll(&p, 1, timeout) >= 0);
      if (p.revents & (POLLIN | POLLHUP | POLLERR))
        rev |= PGML_EV_READ;
      if (p.revents & (POLLOUT | POLLERR))
        rev |= PGML_EV_WRITE;
    } else {
      assert_true(timeout >= 0);
      pgml_test_sleep_ms((unsigned)timeout);
    }
    assert_int_equal(pgml_client_step(c, rev), 0);
  }
  if (max_steps != NULL)
    *max_steps = steps;
}

/* One Ping in flight and what became of it. */
typedef struct pgml_test_ping_s {
  uint64_t id;
  uint8_t data[64];  /* the payload sent, to be echoed */
  size_t len;
  int runs;          /* how many times the callback ran: must end as 1 */
  int ok;            /* the answer was OK and carried exactly data */
} pgml_test_ping_t;

static inline void pgml_test_ping_done(pgml_client_t *c, const pgml_result_t *res, void *msg,
                                       void *ud)
{
  const pgml_v1_PingResponse *r = msg;
  pgml_test_ping_t *s = ud;

  (void)c;
  s->runs++;
  if (res->code != PGML_OK) {
    fprintf(stderr, "Ping %llu: %s: %s\n", (unsigned long long)s->id,
            pgml_code_name(res->code), res->message);
    return;
  }
  s->ok = s->len == 0 ? (r->data == NULL || r->data->size == 0)
                      : (r->data != NULL && r->data->size == s->len &&
                         memcmp(r->data->bytes, s->data, s->len) == 0);
}

/* Queues Ping number i of n on c with a payload of its own (empty for
 * i == 0, else "<tag>ping i of n ..." of varying length) kept in *s for
 * pgml_test_ping_done() to check; *s must outlive the call. */
static inline void pgml_test_ping_send(pgml_client_t *c, const char *tag, size_t i, size_t n,
                                       const pgml_call_options_t *o, pgml_test_ping_t *s)
{
  pgml_v1_PingRequest req = pgml_v1_PingRequest_init_zero;
  struct {
    pb_size_t size;
    pb_byte_t bytes[64];
  } data;

  s->len = i == 0 ? 0 : (size_t)snprintf((char *)s->data, sizeof(s->data), "%sping %zu of %zu %.*s",
                                         tag, i, n, (int)(i % 29), "abcdefghijklmnopqrstuvwxyz012");
  if (s->len >= sizeof(s->data))
    s->len = sizeof(s->data) - 1;
  data.size = (pb_size_t)s->len;
  memcpy(data.bytes, s->data, s->len);
  req.data = s->len ? (pb_bytes_array_t *)&data : NULL;
  assert_int_equal(pgml_call(c, "Ping", pgml_v1_PingRequest_fields, &req,
                             pgml_v1_PingResponse_fields, o, pgml_test_ping_done, s, &s->id),
                   0);
}

#endif
