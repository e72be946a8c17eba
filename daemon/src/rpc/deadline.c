/* deadline.c - min-heap of deadlines behind one uv_timer_t. */
#include "rpc/deadline.h"

#include <errno.h>

#include "core/alloc.h"

static void place(pgmld_deadlines_t *ds, size_t i, pgmld_deadline_t *d)
{
  ds->heap[i] = d;
  d->slot = i;
}

static void sift_up(pgmld_deadlines_t *ds, size_t i)
{
  pgmld_deadline_t *d = ds->heap[i];

  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (ds->heap[parent]->at <= d->at)
      break;
    place(ds, i, ds->heap[parent]);
    i = parent;
  }
  place(ds, i, d);
}

static void sift_down(pgmld_deadlines_t *ds, size_t i)
{
  pgmld_deadline_t *d = ds->heap[i];

  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= ds->n)
      break;
    if (child + 1 < ds->n && ds->heap[child + 1]->at < ds->heap[child]->at)
      child++;
    if (d->at <= ds->heap[child]->at)
      break;
    place(ds, i, ds->heap[child]);
    i = child;
  }
  place(ds, i, d);
}

static void take_out(pgmld_deadlines_t *ds, pgmld_deadline_t *d)
{
  size_t i = d->slot;
  pgmld_deadline_t *last = ds->heap[--ds->n];

  d->slot = PGMLD_DEADLINE_IDLE;
  if (last == d)
    return;
  place(ds, i, last);
  if (i > 0 && ds->heap[(i - 1) / 2]->at > last->at)
    sift_up(ds, i);
  else
    sift_down(ds, i);
}

static void on_timer(uv_timer_t *t);

/* Arms the timer for `at` unless it is due no later already.  The timer
 * is never moved later and never stopped when calls end: the earliest
 * deadline usually belongs to the oldest call, which is answered first, so
 * following it would restart the timer on nearly every reply.  A timer
 * that fires early finds nothing due and re-arms once for the new
 * earliest deadline, which is far cheaper. */
static void arm(pgmld_deadlines_t *ds, uint64_t at)
{
  uint64_t now;

  if (at >= ds->armed_at)
    return;
  now = uv_now(ds->timer.loop);
  /* uv_timer_start cannot fail on a timer with a callback. */
  (void)uv_timer_start(&ds->timer, on_timer, at > now ? at - now : 0, 0);
  ds->armed_at = at;
}

static void on_timer(uv_timer_t *t)
{
  pgmld_deadlines_t *ds = PGMLD_CONTAINER_OF(t, pgmld_deadlines_t, timer);
  uint64_t now = uv_now(t->loop);

  ds->armed_at = UINT64_MAX;
  /* expire may add or remove other deadlines; the heap is consistent
   * before each call because d is taken out first. */
  while (ds->n > 0 && ds->heap[0]->at <= now) {
    pgmld_deadline_t *d = ds->heap[0];
    take_out(ds, d);
    ds->expire(ds, d);
  }
  if (ds->n > 0)
    arm(ds, ds->heap[0]->at);
}

int pgmld_deadlines_init(pgmld_deadlines_t *ds, uv_loop_t *loop,
                         pgmld_deadline_fn expire, void *data)
{
  int rc;

  ds->heap = NULL;
  ds->n = ds->cap = 0;
  ds->armed_at = UINT64_MAX;
  ds->expire = expire;
  ds->data = data;
  rc = uv_timer_init(loop, &ds->timer);
  if (rc < 0)
    return rc;
  /* Left armed when no call is in flight (see arm()), so it must not keep
   * the loop alive by itself. */
  uv_unref((uv_handle_t *)&ds->timer);
  return 0;
}

int pgmld_deadlines_add(pgmld_deadlines_t *ds, pgmld_deadline_t *d, uint64_t at)
{
  if (ds->n == ds->cap) {
    size_t cap = ds->cap ? ds->cap * 2 : 64;
    pgmld_deadline_t **heap = pgmld_realloc(ds->heap, cap * sizeof(*heap));
    if (heap == NULL)
      return -ENOMEM;
    ds->heap = heap;
    ds->cap = cap;
  }
  d->at = at;
  place(ds, ds->n++, d);
  sift_up(ds, d->slot);
  arm(ds, at);
  return 0;
}

void pgmld_deadlines_remove(pgmld_deadlines_t *ds, pgmld_deadline_t *d)
{
  if (d->slot == PGMLD_DEADLINE_IDLE)
    return;
  take_out(ds, d);
}

void pgmld_deadlines_close(pgmld_deadlines_t *ds)
{
  size_t i;

  for (i = 0; i < ds->n; i++)
    ds->heap[i]->slot = PGMLD_DEADLINE_IDLE;
  pgmld_free(ds->heap);
  ds->heap = NULL;
  ds->n = ds->cap = 0;
  uv_close((uv_handle_t *)&ds->timer, NULL);
}
