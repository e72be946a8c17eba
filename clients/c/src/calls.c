/* calls.c - where pending calls are kept: by id, and by deadline. */
#include <errno.h>
#include <stdint.h>

#include "alloc.h"
#include "client_int.h"

#define MIN_BUCKETS 64u

static size_t bucket_of(uint64_t id, size_t nbuckets)
{
  /* Ids are sequential; a multiplicative hash spreads them anyway so that a
   * table grown from a small size keeps short chains. */
  return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (nbuckets - 1);
}

void pgml__table_free(pgml__call_table_t *t)
{
  pgml__free(t->buckets);
  t->buckets = NULL;
  t->nbuckets = 0;
  t->count = 0;
}

int pgml__table_reserve(pgml__call_table_t *t)
{
  pgml__call_t **nb;
  size_t n, i;

  if (t->count < t->nbuckets)
    return 0;
  n = t->nbuckets ? t->nbuckets * 2 : MIN_BUCKETS;
  nb = pgml__calloc(n, sizeof(*nb));
  if (nb == NULL) {
    /* Chains can grow longer than wanted: a full table still works. */
    return t->nbuckets ? 0 : -ENOMEM;
  }
  for (i = 0; i < t->nbuckets; i++) {
    pgml__call_t *call = t->buckets[i];
    while (call != NULL) {
      pgml__call_t *next = call->hnext;
      size_t b = bucket_of(call->id, n);
      call->hnext = nb[b];
      nb[b] = call;
      call = next;
    }
  }
  pgml__free(t->buckets);
  t->buckets = nb;
  t->nbuckets = n;
  return 0;
}

void pgml__table_insert(pgml__call_table_t *t, pgml__call_t *call)
{
  size_t b = bucket_of(call->id, t->nbuckets);

  call->hnext = t->buckets[b];
  t->buckets[b] = call;
  t->count++;
}

pgml__call_t *pgml__table_find(const pgml__call_table_t *t, uint64_t id)
{
  pgml__call_t *call;

  if (t->nbuckets == 0)
    return NULL;
  for (call = t->buckets[bucket_of(id, t->nbuckets)]; call != NULL; call = call->hnext)
    if (call->id == id)
      return call;
  return NULL;
}

void pgml__table_remove(pgml__call_table_t *t, pgml__call_t *call)
{
  pgml__call_t **p = &t->buckets[bucket_of(call->id, t->nbuckets)];

  for (; *p != NULL; p = &(*p)->hnext) {
    if (*p == call) {
      *p = call->hnext;
      call->hnext = NULL;
      t->count--;
      return;
    }
  }
}

void pgml__table_each(const pgml__call_table_t *t, void (*fn)(pgml__call_t *, void *),
                      void *ctx)
{
  size_t i;

  for (i = 0; i < t->nbuckets; i++) {
    pgml__call_t *call;
    for (call = t->buckets[i]; call != NULL; call = call->hnext)
      fn(call, ctx);
  }
}

void pgml__heap_free(pgml__deadline_heap_t *h)
{
  pgml__free(h->items);
  h->items = NULL;
  h->len = h->cap = 0;
}

int pgml__heap_reserve(pgml__deadline_heap_t *h)
{
  pgml__call_t **ni;
  size_t cap;

  if (h->len < h->cap)
    return 0;
  cap = h->cap ? h->cap * 2 : 64;
  ni = pgml__realloc(h->items, cap * sizeof(*ni));
  if (ni == NULL)
    return -ENOMEM;
  h->items = ni;
  h->cap = cap;
  return 0;
}

static void place(pgml__deadline_heap_t *h, size_t i, pgml__call_t *call)
{
  h->items[i] = call;
  call->heap_at = i;
}

static void sift_up(pgml__deadline_heap_t *h, size_t i)
{
  pgml__call_t *call = h->items[i];

  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h->items[parent]->deadline <= call->deadline)
      break;
    place(h, i, h->items[parent]);
    i = parent;
  }
  place(h, i, call);
}

static void sift_down(pgml__deadline_heap_t *h, size_t i)
{
  pgml__call_t *call = h->items[i];

  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= h->len)
      break;
    if (child + 1 < h->len && h->items[child + 1]->deadline < h->items[child]->deadline)
      child++;
    if (call->deadline <= h->items[child]->deadline)
      break;
    place(h, i, h->items[child]);
    i = child;
  }
  place(h, i, call);
}

void pgml__heap_push(pgml__deadline_heap_t *h, pgml__call_t *call)
{
  h->items[h->len] = call;
  sift_up(h, h->len++);
}

void pgml__heap_remove(pgml__deadline_heap_t *h, pgml__call_t *call)
{
  size_t i = call->heap_at;
  pgml__call_t *last;

  if (i == SIZE_MAX)
    return;
  call->heap_at = SIZE_MAX;
  last = h->items[--h->len];
  if (last == call)
    return;
  place(h, i, last);
  sift_down(h, i);
  sift_up(h, last->heap_at);
}

pgml__call_t *pgml__heap_top(const pgml__deadline_heap_t *h)
{
  return h->len ? h->items[0] : NULL;
}
