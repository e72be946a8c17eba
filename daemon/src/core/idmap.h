/* idmap.h - a hash map from non-zero 64-bit ids to pointers (the calls in
 * flight on a connection, by request id).
 *
 * Open addressing with linear probing and backward-shift deletion: no
 * tombstones, so a map that sees millions of ids come and go stays fast.
 * The map owns its slot array, never the values.
 */
#ifndef PGMLD_IDMAP_H
#define PGMLD_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

typedef struct pgmld_idmap_slot_s {
  uint64_t key;                /* 0: empty */
  void *value;
} pgmld_idmap_slot_t;

typedef struct pgmld_idmap_s {
  pgmld_idmap_slot_t *slots;   /* owned; NULL until the first put */
  size_t cap;                  /* a power of two, or 0 */
  size_t n;
} pgmld_idmap_t;

/* An empty map; allocates nothing. */
void pgmld_idmap_init(pgmld_idmap_t *m);
/* Frees the slots (not the values); the map is empty and usable again. */
void pgmld_idmap_free(pgmld_idmap_t *m);

/* Adds key -> value.  Returns 0, -EEXIST (key present; map unchanged),
 * -EINVAL (key 0) or -ENOMEM (map unchanged). */
PGMLD_MUST_CHECK int pgmld_idmap_put(pgmld_idmap_t *m, uint64_t key, void *value);
/* The value for key, or NULL. */
void *pgmld_idmap_get(const pgmld_idmap_t *m, uint64_t key);
/* Removes key; returns its value, or NULL if it was absent. */
void *pgmld_idmap_del(pgmld_idmap_t *m, uint64_t key);

static inline size_t pgmld_idmap_count(const pgmld_idmap_t *m) { return m->n; }

#endif
