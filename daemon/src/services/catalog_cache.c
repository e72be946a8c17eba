/* catalog_cache.c - the per-server cache of parsed collection catalogs, tagged with pgmld.catalog_version (see svc.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/server.h"
#include "services/svc.h"

#define CACHE_BUCKETS 256u
/* More collections than this in use at once: the cache starts over
 * rather than grow without bound. */
#define CACHE_MAX_ENTRIES 4096u

typedef struct cache_s {
  pgmld_svc_cached_t *bucket[CACHE_BUCKETS];
  size_t n;
} cache_t;

void pgmld__svc_cache_unref(pgmld_svc_cached_t *e)
{
  if (e == NULL || --e->refs > 0)
    return;
  pgmld__svc_collection_free(&e->coll);
  pgmld_free(e);
}

static void cache_clear(cache_t *c)
{
  size_t i;

  for (i = 0; i < CACHE_BUCKETS; i++) {
    while (c->bucket[i] != NULL) {
      pgmld_svc_cached_t *e = c->bucket[i];

      c->bucket[i] = e->next;
      e->next = NULL;
      pgmld__svc_cache_unref(e);
    }
  }
  c->n = 0;
}

static void cache_free(void *state)
{
  cache_clear(state);
  pgmld_free(state);
}

/* FNV-1a. */
static size_t cache_slot(const char *name)
{
  uint32_t h = 2166136261u;

  for (; *name != '\0'; name++)
    h = (h ^ (uint8_t)*name) * 16777619u;
  return h % CACHE_BUCKETS;
}

/* The server's cache; created on first use when `create`.  NULL without
 * memory (callers then work uncached). */
static cache_t *cache_of(pgmld_server_t *srv, int create)
{
  cache_t *c = pgmld_server_services_state(srv);

  if (c == NULL && create) {
    c = pgmld_calloc(1, sizeof(*c));
    if (c != NULL)
      pgmld_server_set_services_state(srv, c, cache_free);
  }
  return c;
}

/* Unlinks the entry for name, returning the cache's reference to it. */
static pgmld_svc_cached_t *cache_unlink(cache_t *c, const char *name)
{
  pgmld_svc_cached_t **pp = &c->bucket[cache_slot(name)], *e;

  for (; (e = *pp) != NULL; pp = &e->next) {
    if (strcmp(e->coll.name, name) == 0) {
      *pp = e->next;
      e->next = NULL;
      c->n--;
      return e;
    }
  }
  return NULL;
}

pgmld_svc_cached_t *pgmld__svc_cache_get(pgmld_server_t *srv, const char *name)
{
  cache_t *c = cache_of(srv, 0);
  pgmld_svc_cached_t *e;

  if (c == NULL)
    return NULL;
  for (e = c->bucket[cache_slot(name)]; e != NULL; e = e->next) {
    if (strcmp(e->coll.name, name) == 0) {
      e->refs++;
      return e;
    }
  }
  return NULL;
}

int pgmld__svc_cache_put(pgmld_server_t *srv, pgmld_svc_collection_t *coll, int64_t version,
                         pgmld_svc_cached_t **out)
{
  cache_t *c = cache_of(srv, 1);
  pgmld_svc_cached_t *e = pgmld_calloc(1, sizeof(*e)), *old;
  size_t slot;

  *out = NULL;
  if (e == NULL) {
    pgmld__svc_collection_free(coll);
    return -ENOMEM;
  }
  e->refs = 1;
  e->version = version;
  e->coll = *coll;
  memset(coll, 0, sizeof(*coll));
  if (c == NULL) {
    /* No cache: the entry serves this one user. */
    *out = e;
    return 0;
  }
  old = cache_unlink(c, e->coll.name);
  if (old != NULL && old->version > version) {
    /* A search that read the catalog later stored it first: keep that. */
    pgmld__svc_cache_unref(e);
    e = old;
  } else {
    pgmld__svc_cache_unref(old);
  }
  if (c->n >= CACHE_MAX_ENTRIES)
    cache_clear(c);
  slot = cache_slot(e->coll.name);
  e->next = c->bucket[slot];
  c->bucket[slot] = e;
  c->n++;
  e->refs++;
  *out = e;
  return 0;
}

void pgmld__svc_cache_invalidate(pgmld_server_t *srv, const char *name)
{
  cache_t *c = cache_of(srv, 0);

  if (c != NULL && name != NULL)
    pgmld__svc_cache_unref(cache_unlink(c, name));
}

