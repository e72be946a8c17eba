/* batch.c - the statements of one round trip, each built in its own sqlbuf. */
#include <errno.h>

#include "core/alloc.h"
#include "services/svc.h"

pgmld_sqlbuf_t *pgmld__svc_batch_add(pgmld_svc_batch_t *b)
{
  if (b->n == PGMLD_POOL_BATCH_MAX)
    return NULL;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 8;
    pgmld_sqlbuf_t *sb = pgmld_realloc(b->sb, cap * sizeof(*sb));

    if (sb == NULL)
      return NULL;
    b->sb = sb;
    b->cap = cap;
  }
  pgmld_sqlbuf_init(&b->sb[b->n]);
  return &b->sb[b->n++];
}

int pgmld__svc_batch_sql(pgmld_svc_batch_t *b, const char *sql)
{
  pgmld_sqlbuf_t *sb = pgmld__svc_batch_add(b);

  if (sb == NULL)
    return -ENOMEM;
  return pgmld_sqlbuf_append(sb, sql);
}

void pgmld__svc_batch_free(pgmld_svc_batch_t *b)
{
  size_t i;

  for (i = 0; i < b->n; i++)
    pgmld_sqlbuf_free(&b->sb[i]);
  pgmld_free(b->sb);
  b->sb = NULL;
  b->n = b->cap = 0;
}
