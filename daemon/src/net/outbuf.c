/* outbuf.c - the send queue the transports share (see transport.h). */
#include <string.h>

#include <uv.h>

#include "core/alloc.h"
#include "net/transport.h"

int pgmld__outq_push(pgmld_outq_t *q, pgmld_outbuf_t *bufs, size_t n)
{
  size_t i;

  if (q->n + n > q->cap) {
    size_t cap = q->cap ? q->cap : 16;
    pgmld_outbuf_t *grown;

    while (cap < q->n + n)
      cap *= 2;
    grown = pgmld_realloc(q->bufs, cap * sizeof(*grown));
    if (grown == NULL) {
      for (i = 0; i < n; i++)
        pgmld_free(bufs[i].base);
      return UV_ENOMEM;
    }
    q->bufs = grown;
    q->cap = cap;
  }
  memcpy(q->bufs + q->n, bufs, n * sizeof(*bufs));
  q->n += n;
  return 0;
}
