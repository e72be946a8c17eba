/* client.c - a client's life: creating and freeing it, its connection, and
 * the step that an event loop calls to drive it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "client_int.h"

/* How long to wait before trying again when the server's listen backlog is
 * full. */
#define RETRY_MS 10u

static uint64_t real_now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t (*clock_fn)(void) = real_now_ms;

uint64_t pgml__now_ms(void)
{
  return clock_fn();
}

void pgml__set_clock(uint64_t (*now_ms)(void))
{
  clock_fn = now_ms != NULL ? now_ms : real_now_ms;
}

int pgml_client_new(const char *address, const pgml_client_options_t *opts,
                    pgml_client_t **out)
{
  pgml_client_t *c;
  int rc;

  if (address == NULL || address[0] == '\0' || out == NULL)
    return -EINVAL;
  c = pgml__calloc(1, sizeof(*c));
  if (c == NULL)
    return -ENOMEM;
  if (opts != NULL)
    c->opts = *opts;
  if (c->opts.max_frame_size == 0)
    c->opts.max_frame_size = PGML_DEFAULT_MAX_FRAME_SIZE;
  if (c->opts.connect_timeout_ms == 0)
    c->opts.connect_timeout_ms = PGML_DEFAULT_CONNECT_TIMEOUT_MS;
  if (c->opts.max_calls == 0)
    c->opts.max_calls = PGML_DEFAULT_MAX_CALLS;
  c->conn = CONN_CLOSED;
  c->next_id = 1;
  c->watch_fd = -1;
  c->watch_timeout_at = -1;
  c->address = pgml__strdup(address);
  if (c->address == NULL) {
    rc = -ENOMEM;
    goto fail;
  }
  rc = pgml__transport_create(address, &c->opts, &c->transport);
  if (rc < 0)
    goto fail;
  *out = c;
  return 0;

fail:
  pgml__free(c->address);
  pgml__free(c);
  return rc;
}

static int64_t next_timeout_at(const pgml_client_t *c, uint64_t now);

const char *pgml_client_address(const pgml_client_t *c)
{
  return c->address;
}

void pgml_client_set_watch(pgml_client_t *c,
                           void (*on_watch)(pgml_client_t *, int, unsigned, void *),
                           void *ud)
{
  c->opts.on_watch = on_watch;
  c->opts.watch_ud = ud;
  /* The new hook reads the state it starts from; it is told of changes. */
  c->watch_fd = pgml_client_fd(c);
  c->watch_events = pgml_client_events(c);
  c->watch_timeout_at = next_timeout_at(c, pgml__now_ms());
}

void *pgml__client_watch_ud(const pgml_client_t *c,
                            void (*fn)(pgml_client_t *, int, unsigned, void *))
{
  return c->opts.on_watch == fn ? c->opts.watch_ud : NULL;
}

int pgml_client_fd(const pgml_client_t *c)
{
  if (c->conn != CONN_OPENING && c->conn != CONN_OPEN)
    return -1;
  return c->transport->ops->fd(c->transport);
}

unsigned pgml_client_events(const pgml_client_t *c)
{
  if (pgml_client_fd(c) < 0)
    return 0;
  return c->transport->ops->events(c->transport);
}

size_t pgml_client_pending(const pgml_client_t *c)
{
  return c->calls.count;
}

/* The monotonic time by which step must run, or -1. */
static int64_t next_timeout_at(const pgml_client_t *c, uint64_t now)
{
  const pgml__call_t *top = pgml__heap_top(&c->deadlines);
  uint64_t at = UINT64_MAX;

  if (c->done_head != NULL)
    return (int64_t)now;
  if (top != NULL)
    at = top->deadline;
  if (c->conn == CONN_RETRY && c->retry_at < at)
    at = c->retry_at;
  if ((c->conn == CONN_RETRY || c->conn == CONN_OPENING) && c->connect_deadline < at)
    at = c->connect_deadline;
  return at == UINT64_MAX ? -1 : (int64_t)at;
}

int pgml_client_next_timeout_ms(const pgml_client_t *c)
{
  uint64_t now = pgml__now_ms();
  int64_t at = next_timeout_at(c, now);

  if (at < 0)
    return -1;
  if ((uint64_t)at <= now)
    return 0;
  return (uint64_t)at - now > INT_MAX ? INT_MAX : (int)((uint64_t)at - now);
}

void pgml__client_watch(pgml_client_t *c)
{
  int fd;
  unsigned events;
  int64_t at;

  if (c->opts.on_watch == NULL || c->dispatching)
    return;
  fd = pgml_client_fd(c);
  events = pgml_client_events(c);
  at = next_timeout_at(c, pgml__now_ms());
  if (fd == c->watch_fd && events == c->watch_events && at == c->watch_timeout_at)
    return;
  c->watch_fd = fd;
  c->watch_events = events;
  c->watch_timeout_at = at;
  c->opts.on_watch(c, fd, events, c->opts.watch_ud);
}

/* Closes the connection.  A loop watching the descriptor is told first, even
 * in the middle of a step, because a descriptor must not be closed while it
 * is polled: its number may be reused by the next connection at once. */
static void close_conn(pgml_client_t *c)
{
  if (c->opts.on_watch != NULL && pgml_client_fd(c) >= 0) {
    c->watch_fd = -1;
    c->watch_events = 0;
    c->opts.on_watch(c, -1, 0, c->opts.watch_ud);
  }
  c->transport->ops->close(c->transport);
  c->conn = CONN_CLOSED;
}

/* The connection is gone or could not be made: every call in flight
 * completes with UNAVAILABLE, naming the address, what failed, and why. */
static void conn_failed(pgml_client_t *c, const char *what, const char *why)
{
  char msg[1024];

  snprintf(msg, sizeof(msg), "pgmld at %s: %s: %s", c->address, what, why);
  close_conn(c);
  pgml__call_fail_all(c, PGML_UNAVAILABLE, msg);
}

/* Calls the transport's open() and records where that left the connection. */
static void open_conn(pgml_client_t *c, uint64_t now)
{
  pgml__transport_t *t = c->transport;
  int rc = t->ops->open(t);

  switch (rc) {
  case 0:
    c->conn = CONN_OPEN;
    break;
  case -EINPROGRESS:
    c->conn = CONN_OPENING;
    break;
  case -EAGAIN:
    c->conn = CONN_RETRY;
    c->retry_at = now + RETRY_MS;
    break;
  default:
    conn_failed(c, "cannot connect", t->err);
    break;
  }
}

void pgml__client_ensure_open(pgml_client_t *c)
{
  uint64_t now;

  if (c->conn != CONN_CLOSED)
    return;
  now = pgml__now_ms();
  c->connect_deadline = now + c->opts.connect_timeout_ms;
  open_conn(c, now);
}

void pgml__client_send(pgml_client_t *c, pgml__outbuf_t *b)
{
  c->transport->ops->send(c->transport, b);
}

/* Opening and I/O: the part of a step that talks to the transport. */
static void step_io(pgml_client_t *c, unsigned revents, uint64_t now)
{
  pgml__transport_t *t = c->transport;
  int rc;

  if (c->conn == CONN_RETRY && now >= c->retry_at)
    open_conn(c, now);
  if (c->conn == CONN_OPENING || c->conn == CONN_OPEN) {
    int was_open = c->conn == CONN_OPEN;

    c->proto_err[0] = '\0';
    rc = t->ops->io(t, revents, pgml__call_on_frame, c);
    if (c->conn == CONN_OPENING && t->connected)
      c->conn = CONN_OPEN;
    if (rc < 0) {
      conn_failed(c, was_open || c->conn == CONN_OPEN ? "connection lost" : "cannot connect",
                  c->proto_err[0] ? c->proto_err : t->err);
      return;
    }
  }
  if ((c->conn == CONN_RETRY || c->conn == CONN_OPENING) && now >= c->connect_deadline) {
    char why[64];
    snprintf(why, sizeof(why), "timed out after %u ms", c->opts.connect_timeout_ms);
    conn_failed(c, "cannot connect", why);
  }
}

int pgml_client_step(pgml_client_t *c, unsigned revents)
{
  if (c == NULL)
    return -EINVAL;
  if (c->dispatching)
    return -EBUSY;
  c->dispatching = 1;
  step_io(c, revents, pgml__now_ms());
  /* The clock is read again: reading the socket may have taken a while, and
   * answers that arrived in time have been matched by now. */
  pgml__call_expire(c, pgml__now_ms());
  pgml__call_run_done(c);
  c->dispatching = 0;
  pgml__client_watch(c);
  return 0;
}

void pgml_client_free(pgml_client_t *c)
{
  if (c == NULL)
    return;
  if (c->dispatching) {
    /* Freeing the client under its own callback would pull the state the
     * step is walking out from under it; there is no error to return. */
    fprintf(stderr, "libpgml: pgml_client_free() called from a callback of the client "
                    "for %s; free it after pgml_client_step() returns\n", c->address);
    abort();
  }
  c->freeing = 1;
  c->dispatching = 1;
  if (c->conn != CONN_CLOSED)
    close_conn(c);
  pgml__call_cancel_all(c, "the client was freed with the call pending");
  pgml__call_run_done(c);
  if (c->opts.on_watch != NULL)
    c->opts.on_watch(c, -1, PGML_EV_FREED, c->opts.watch_ud);
  c->transport->ops->destroy(c->transport);
  pgml__table_free(&c->calls);
  pgml__heap_free(&c->deadlines);
  pgml__call_free_spares(c);
  pgml__free(c->address);
  pgml__free(c);
}
