/* idmap.c - open-addressing hash map from 64-bit ids to pointers. */
#include "core/idmap.h"

#include <errno.h>

#include "core/alloc.h"

#define MIN_CAP 16

/* Fibonacci hashing: ids are often sequential, and the multiply spreads
 * them over the whole table. */
static size_t home(const pgmld_idmap_t *m, uint64_t key)
{
  return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
}

void pgmld_idmap_init(pgmld_idmap_t *m)
{
  m->slots = NULL;
  m->cap = 0;
  m->n = 0;
}

void pgmld_idmap_free(pgmld_idmap_t *m)
{
  pgmld_free(m->slots);
  pgmld_idmap_init(m);
}

static size_t find(const pgmld_idmap_t *m, uint64_t key)
{
  size_t i = home(m, key);

  while (m->slots[i].key != 0 && m->slots[i].key != key)
    i = (i + 1) & (m->cap - 1);
  return i;
}

static int grow(pgmld_idmap_t *m)
{
  size_t cap = m->cap ? m->cap * 2 : MIN_CAP;
  pgmld_idmap_slot_t *old = m->slots;
  size_t old_cap = m->cap, i;

  if (cap < m->cap)
    return -ENOMEM;
  m->slots = pgmld_calloc(cap, sizeof(*m->slots));
  if (m->slots == NULL) {
    m->slots = old;
    return -ENOMEM;
  }
  m->cap = cap;
  for (i = 0; i < old_cap; i++)
    if (old[i].key != 0)
      m->slots[find(m, old[i].key)] = old[i];
  pgmld_free(old);
  return 0;
}

int pgmld_idmap_put(pgmld_idmap_t *m, uint64_t key, void *value)
{
  size_t i;
  int rc;

  if (key == 0)
    return -EINVAL;
  if (m->cap > 0 && m->slots[find(m, key)].key == key)
    return -EEXIST;
  /* Keep the load at most 3/4 so probes stay short. */
  if ((m->n + 1) * 4 > m->cap * 3) {
    rc = grow(m);
    if (rc < 0)
      return rc;
  }
  i = find(m, key);
  m->slots[i].key = key;
  m->slots[i].value = value;
  m->n++;
  return 0;
}

void *pgmld_idmap_get(const pgmld_idmap_t *m, uint64_t key)
{
  size_t i;

  if (m->cap == 0 || key == 0)
    return NULL;
  i = find(m, key);
  return m->slots[i].key == key ? m->slots[i].value : NULL;
}

void *pgmld_idmap_del(pgmld_idmap_t *m, uint64_t key)
{
  size_t i, j, mask = m->cap - 1;
  void *value;

  if (m->cap == 0 || key == 0)
    return NULL;
  i = find(m, key);
  if (m->slots[i].key != key)
    return NULL;
  value = m->slots[i].value;
  /* Backward shift: pull later members of the probe run into the hole so
   * that lookups never stop early at it. */
  j = i;
  for (;;) {
    size_t h;
    j = (j + 1) & mask;
    if (m->slots[j].key == 0)
      break;
    h = home(m, m->slots[j].key);
    /* Move slot j into the hole at i unless its home lies cyclically in
     * (i, j], where it would become unreachable. */
    if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
      m->slots[i] = m->slots[j];
      i = j;
    }
  }
  m->slots[i].key = 0;
  m->slots[i].value = NULL;
  m->n--;
  return value;
}
