/* frame.h - the stream framing of the pgmld protocol, shared by libpgml and
 * pgmld: every frame is a 4-byte big-endian length N, then N bytes.
 *
 * The reader is pure (no I/O, no protobuf): the caller reads bytes into the
 * space the reader offers and then takes whole frames out.  It handles
 * partial and coalesced reads, and refuses a length over its maximum before
 * allocating anything for it.
 *
 * Errors: functions return 0 or a positive count on success and a negative
 * errno value on failure (-ENOMEM, -EMSGSIZE); nothing else.
 */
#ifndef PGML_FRAME_H
#define PGML_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PGML_FRAME_HEADER_SIZE 4u
#define PGML_FRAME_DEFAULT_MAX (16u * 1024u * 1024u)

typedef struct pgml_frame_reader_s {
  uint8_t *buf;      /* owned; bytes [start, end) are unconsumed */
  size_t cap;
  size_t start;
  size_t end;
  uint32_t max_frame; /* largest accepted frame body, in bytes */
  uint32_t bad_len;   /* after -EMSGSIZE: the length that was refused */
} pgml_frame_reader_t;

/* Initialises an empty reader; allocates nothing yet. */
void pgml_frame_reader_init(pgml_frame_reader_t *r, uint32_t max_frame);

/* Frees the reader's buffer.  The reader may be initialised again. */
void pgml_frame_reader_free(pgml_frame_reader_t *r);

/* Offers space to read into: *out points into the reader's buffer, with
 * *out_len >= min(want, room the next frame needs) bytes free.  The space is
 * valid until the next call on the reader.  Returns 0 or -ENOMEM (nothing
 * changed). */
__attribute__((warn_unused_result))
int pgml_frame_reader_space(pgml_frame_reader_t *r, size_t want,
                            uint8_t **out, size_t *out_len);

/* Records that n bytes were written into the space last offered. */
void pgml_frame_reader_commit(pgml_frame_reader_t *r, size_t n);

/* Takes the next whole frame out.  Returns 1 and sets *body and *len (pointing
 * into the reader's buffer, valid until the next call that is not
 * pgml_frame_reader_next) when a frame is ready; 0 when more bytes are
 * needed; -EMSGSIZE when the next frame's declared length exceeds
 * max_frame (r->bad_len holds it).  After -EMSGSIZE the stream can no
 * longer be trusted: the caller closes it. */
__attribute__((warn_unused_result))
int pgml_frame_reader_next(pgml_frame_reader_t *r, const uint8_t **body,
                           uint32_t *len);

/* Writes the 4-byte header for a body of len bytes. */
void pgml_frame_put_header(uint8_t out[PGML_FRAME_HEADER_SIZE], uint32_t len);

#endif
