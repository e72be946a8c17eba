/* uv.c - the libuv adapter: a uv_poll_t on the client's descriptor and a
 * uv_timer_t for its timeouts, both stepping the client. */
#include <errno.h>
#include <stdlib.h>

#include "alloc.h"
#include "client_int.h"
#include "pgml/uv.h"

/* When the descriptor cannot be polled (uv_poll_init() failed), the timer
 * steps the client this often instead, so calls still complete. */
#define FALLBACK_MS 10

typedef struct {
  pgml_client_t *c;         /* NULL once detached */
  uv_loop_t *loop;
  uv_poll_t *poll;          /* watching poll_fd, or NULL */
  int poll_fd;
  unsigned poll_events;     /* UV_READABLE | UV_WRITABLE being watched */
  int poll_failed;          /* poll_fd could not be watched: use FALLBACK_MS */
  uv_timer_t timer;
  int open_handles;         /* handles not yet through their close callback */
} adapter_t;

static void on_watch(pgml_client_t *c, int fd, unsigned events, void *ud);

static void maybe_free(adapter_t *a)
{
  if (a->c == NULL && a->open_handles == 0)
    pgml__free(a);
}

static void on_closed(uv_handle_t *h)
{
  adapter_t *a = h->data;

  if (h != (uv_handle_t *)&a->timer)
    pgml__free(h);
  a->open_handles--;
  maybe_free(a);
}

static void stop_poll(adapter_t *a)
{
  if (a->poll != NULL) {
    uv_poll_stop(a->poll);
    uv_close((uv_handle_t *)a->poll, on_closed);
    a->poll = NULL;
  }
  a->poll_fd = -1;
  a->poll_events = 0;
  a->poll_failed = 0;
}

static void step(adapter_t *a, unsigned revents);

static void on_poll(uv_poll_t *h, int status, int events)
{
  adapter_t *a = h->data;
  unsigned revents = 0;

  /* An error on the descriptor is left for the read or write to report. */
  if (status < 0 || (events & (UV_READABLE | UV_DISCONNECT)))
    revents |= PGML_EV_READ;
  if (status < 0 || (events & UV_WRITABLE))
    revents |= PGML_EV_WRITE;
  step(a, revents);
}

static void on_timer(uv_timer_t *h)
{
  adapter_t *a = h->data;

  step(a, a->poll_failed ? PGML_EV_READ | PGML_EV_WRITE : 0);
}

/* Watches `fd` for `events` and arms the timer; keeps the loop alive only
 * while calls are pending. */
static void sync_watchers(adapter_t *a, int fd, unsigned events)
{
  unsigned uv_events = (events & PGML_EV_READ ? UV_READABLE : 0u) |
                       (events & PGML_EV_WRITE ? UV_WRITABLE : 0u);
  int pending = pgml_client_pending(a->c) > 0;
  int timeout = pgml_client_next_timeout_ms(a->c);

  if (fd != a->poll_fd)
    stop_poll(a);
  if (fd >= 0 && a->poll == NULL && !a->poll_failed) {
    a->poll_fd = fd;
    a->poll = pgml__malloc(sizeof(*a->poll));
    if (a->poll == NULL || uv_poll_init(a->loop, a->poll, fd) != 0) {
      pgml__free(a->poll);
      a->poll = NULL;
      a->poll_failed = 1;
    } else {
      a->poll->data = a;
      a->open_handles++;
    }
  }
  if (a->poll != NULL) {
    if (uv_events != a->poll_events) {
      if (uv_poll_start(a->poll, (int)uv_events, on_poll) == 0)
        a->poll_events = uv_events;
      else
        a->poll_failed = 1;
    }
    if (pending)
      uv_ref((uv_handle_t *)a->poll);
    else
      uv_unref((uv_handle_t *)a->poll);
  }
  if (a->poll_failed && fd >= 0 && (timeout < 0 || timeout > FALLBACK_MS))
    timeout = FALLBACK_MS;
  if (timeout < 0)
    uv_timer_stop(&a->timer);
  else
    uv_timer_start(&a->timer, on_timer, (uint64_t)timeout, 0);
  if (pending)
    uv_ref((uv_handle_t *)&a->timer);
  else
    uv_unref((uv_handle_t *)&a->timer);
}

static void step(adapter_t *a, unsigned revents)
{
  pgml_client_t *c = a->c;

  /* The step runs callbacks, which may detach the adapter: it stays
   * allocated until its handles are closed, and a->c says whether it is
   * still attached. */
  if (c == NULL || pgml_client_step(c, revents) != 0)
    return;
  if (a->c != NULL)
    sync_watchers(a, pgml_client_fd(c), pgml_client_events(c));
}

static void detach(adapter_t *a)
{
  stop_poll(a);
  uv_timer_stop(&a->timer);
  uv_close((uv_handle_t *)&a->timer, on_closed);
  a->c = NULL;
}

static void on_watch(pgml_client_t *c, int fd, unsigned events, void *ud)
{
  adapter_t *a = ud;

  if (events & PGML_EV_FREED) {
    detach(a);
    return;
  }
  /* fd and events come from the hook's arguments: when fd is -1 the client
   * is about to close the descriptor it still reports. */
  sync_watchers(a, fd, events);
}

int pgml_uv_attach(pgml_client_t *c, uv_loop_t *loop)
{
  adapter_t *a;
  int rc;

  if (c == NULL || loop == NULL)
    return -EINVAL;
  if (pgml__client_watch_ud(c, on_watch) != NULL)
    return -EBUSY;
  a = pgml__calloc(1, sizeof(*a));
  if (a == NULL)
    return -ENOMEM;
  a->c = c;
  a->loop = loop;
  a->poll_fd = -1;
  rc = uv_timer_init(loop, &a->timer);
  if (rc < 0) {
    pgml__free(a);
    return rc;
  }
  a->timer.data = a;
  a->open_handles = 1;
  pgml_client_set_watch(c, on_watch, a);
  sync_watchers(a, pgml_client_fd(c), pgml_client_events(c));
  return 0;
}

int pgml_uv_detach(pgml_client_t *c)
{
  adapter_t *a;

  if (c == NULL)
    return -EINVAL;
  a = pgml__client_watch_ud(c, on_watch);
  if (a == NULL)
    return -ENOENT;
  pgml_client_set_watch(c, NULL, NULL);
  detach(a);
  return 0;
}
