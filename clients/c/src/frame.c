/* frame.c - length-prefixed stream framing (see frame.h). */
#include "frame.h"

#include <errno.h>
#include <string.h>

#include "alloc.h"

/* Reads are done in chunks of at least this many bytes, so that many small
 * frames arriving together cost one read. */
#define MIN_READ (64u * 1024u)

static uint32_t get_be32(const uint8_t *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

void pgml_frame_put_header(uint8_t out[PGML_FRAME_HEADER_SIZE], uint32_t len)
{
  out[0] = (uint8_t)(len >> 24);
  out[1] = (uint8_t)(len >> 16);
  out[2] = (uint8_t)(len >> 8);
  out[3] = (uint8_t)len;
}

void pgml_frame_reader_init(pgml_frame_reader_t *r, uint32_t max_frame)
{
  memset(r, 0, sizeof(*r));
  r->max_frame = max_frame ? max_frame : PGML_FRAME_DEFAULT_MAX;
}

void pgml_frame_reader_free(pgml_frame_reader_t *r)
{
  pgml__free(r->buf);
  r->buf = NULL;
  r->cap = r->start = r->end = 0;
}

int pgml_frame_reader_space(pgml_frame_reader_t *r, size_t want,
                            uint8_t **out, size_t *out_len)
{
  size_t pending = r->end - r->start;
  size_t need = MIN_READ;

  if (want > need)
    need = want;
  /* When a frame header is complete, make room for the whole frame so a
   * large frame is read without repeated growth.  The length was already
   * checked against max_frame by pgml_frame_reader_next(), and is checked
   * again here because the caller may not have called it yet. */
  if (pending >= PGML_FRAME_HEADER_SIZE) {
    uint32_t len = get_be32(r->buf + r->start);
    if (len <= r->max_frame) {
      size_t frame = (size_t)len + PGML_FRAME_HEADER_SIZE;
      if (frame > pending && frame - pending > need)
        need = frame - pending;
    }
  }

  /* Move unconsumed bytes to the front before growing. */
  if (r->start > 0 && r->cap - r->end < need) {
    memmove(r->buf, r->buf + r->start, pending);
    r->start = 0;
    r->end = pending;
  }
  if (r->cap - r->end < need) {
    size_t cap = r->cap ? r->cap : MIN_READ;
    uint8_t *nb;
    while (cap - r->end < need)
      cap *= 2;
    nb = pgml__realloc(r->buf, cap);
    if (nb == NULL)
      return -ENOMEM;
    r->buf = nb;
    r->cap = cap;
  }
  *out = r->buf + r->end;
  *out_len = r->cap - r->end;
  return 0;
}

void pgml_frame_reader_commit(pgml_frame_reader_t *r, size_t n)
{
  r->end += n;
}

int pgml_frame_reader_next(pgml_frame_reader_t *r, const uint8_t **body,
                           uint32_t *len)
{
  size_t pending = r->end - r->start;
  uint32_t n;

  if (pending < PGML_FRAME_HEADER_SIZE)
    goto need_more;
  n = get_be32(r->buf + r->start);
  if (n > r->max_frame) {
    r->bad_len = n;
    return -EMSGSIZE;
  }
  if (pending - PGML_FRAME_HEADER_SIZE < n)
    goto need_more;
  *body = r->buf + r->start + PGML_FRAME_HEADER_SIZE;
  *len = n;
  r->start += PGML_FRAME_HEADER_SIZE + (size_t)n;
  return 1;

need_more:
  /* Nothing unconsumed: rewind so the buffer does not creep forward. */
  if (pending == 0)
    r->start = r->end = 0;
  return 0;
}
