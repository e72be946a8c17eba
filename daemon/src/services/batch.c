/* batch.c - the statements of one round trip, each built in its own sqlbuf. */
#include <errno.h>

#include "core/alloc.h"
#include "services/svc.h"

int pgmld__svc_batch_add(pgmld_svc_batch_t *b, pgmld_sqlbuf_t **out)
{
  *out = NULL;
  if (b->n == PGMLD_POOL_BATCH_MAX)
    return -E2BIG;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 8;
    pgmld_sqlbuf_t *sb = pgmld_realloc(b->sb, cap * sizeof(*sb));
    unsigned char *prepare;

    if (sb == NULL)
      return -ENOMEM;
    b->sb = sb;
    prepare = pgmld_realloc(b->prepare, cap);
    if (prepare == NULL)
      return -ENOMEM;
    b->prepare = prepare;
    b->cap = cap;
  }
  pgmld_sqlbuf_init(&b->sb[b->n]);
  b->prepare[b->n] = 0;
  *out = &b->sb[b->n++];
  return 0;
}

void pgmld__svc_batch_prepare(pgmld_svc_batch_t *b)
{
  if (b->n > 0)
    b->prepare[b->n - 1] = 1;
}

int pgmld__svc_batch_sql(pgmld_svc_batch_t *b, const char *sql)
{
  pgmld_sqlbuf_t *sb;
  int rc = pgmld__svc_batch_add(b, &sb);

  return rc < 0 ? rc : pgmld_sqlbuf_append(sb, sql);
}

void pgmld__svc_build_status(pgmld_status_t *st, int rc, const char *what)
{
  if (rc == -E2BIG)
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "%s: more than %u statements in one round trip (PGMLD_POOL_BATCH_MAX)",
                     what, PGMLD_POOL_BATCH_MAX);
  else
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory while %s", what);
}

void pgmld__svc_batch_free(pgmld_svc_batch_t *b)
{
  size_t i;

  for (i = 0; i < b->n; i++)
    pgmld_sqlbuf_free(&b->sb[i]);
  pgmld_free(b->sb);
  pgmld_free(b->prepare);
  b->sb = NULL;
  b->prepare = NULL;
  b->n = b->cap = 0;
}
