/* deadline.h - the calls' deadlines: a min-heap of absolute times driving
 * one libuv timer, so that a call costs no timer handle of its own.
 *
 * A pgmld_deadline_t is embedded in the object it times (a call) and is in
 * the heap from pgmld_deadlines_add() until it fires or is removed.  When
 * its time comes it is taken out of the heap and then `expire` runs, so
 * expire may free the object.
 */
#ifndef PGMLD_DEADLINE_H
#define PGMLD_DEADLINE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/common.h"

#define PGMLD_DEADLINE_IDLE SIZE_MAX

typedef struct pgmld_deadline_s {
  uint64_t at;      /* uv_now() milliseconds */
  size_t slot;      /* index in the heap, or PGMLD_DEADLINE_IDLE */
} pgmld_deadline_t;

typedef struct pgmld_deadlines_s pgmld_deadlines_t;
typedef void (*pgmld_deadline_fn)(pgmld_deadlines_t *ds, pgmld_deadline_t *d);

struct pgmld_deadlines_s {
  uv_timer_t timer;
  pgmld_deadline_t **heap;   /* owned array; heap[0] is the earliest */
  size_t n, cap;
  uint64_t armed_at;         /* when the timer is due (no later than the
                              * earliest deadline), or UINT64_MAX */
  pgmld_deadline_fn expire;
  void *data;                /* for the owner */
};

/* Initialises the timer on loop, unreferenced (it never keeps the loop
 * alive; it may stay armed with no deadline left, and then fires once for
 * nothing).  Returns 0 or a libuv error. */
PGMLD_MUST_CHECK int pgmld_deadlines_init(pgmld_deadlines_t *ds, uv_loop_t *loop,
                                          pgmld_deadline_fn expire, void *data);

/* Marks d as in no heap (for objects created before their deadline is set). */
static inline void pgmld_deadline_clear(pgmld_deadline_t *d)
{
  d->slot = PGMLD_DEADLINE_IDLE;
}

/* Schedules d at `at` (uv_now() ms).  Returns 0 or -ENOMEM (d not added). */
PGMLD_MUST_CHECK int pgmld_deadlines_add(pgmld_deadlines_t *ds, pgmld_deadline_t *d,
                                         uint64_t at);
/* Takes d out if it is in; harmless otherwise. */
void pgmld_deadlines_remove(pgmld_deadlines_t *ds, pgmld_deadline_t *d);

/* Stops and closes the timer, frees the heap.  The struct must stay valid
 * until the loop has run the close callback (the owner frees it after
 * uv_run() returns). */
void pgmld_deadlines_close(pgmld_deadlines_t *ds);

#endif
