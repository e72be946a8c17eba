/* envelope.h - encodes and decodes the pgml.v1.Frame envelope with nanopb.
 *
 * The payload travels outside nanopb's structs: nanopb as built on this
 * system keeps a bytes field's length in 16 bits, and a frame's payload may
 * be up to max_frame_size.  Encoding writes the Frame in field order with
 * the payload field written by pb_encode_string() between the fields before
 * it and after it, so the bytes are the canonical ones protobuf-c produces;
 * decoding finds the payload field first and lets pb_decode() read every
 * other field.
 *
 * Errors: 0 or a negative errno; decoding also writes a reason to `err`.
 */
#ifndef PGML_ENVELOPE_H
#define PGML_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "pgml/common.h"
#include "pgml/v1/frame.pb.h"
#include "transport.h"

/* A decoded frame.  `frame` owns its strings (nanopb's allocation, released
 * by pgml__envelope_release()); frame.payload is always NULL and the payload
 * is `payload`, borrowed from the buffer that was decoded. */
typedef struct pgml__envelope_s {
  pgml_v1_Frame frame;
  const uint8_t *payload;
  size_t payload_len;
  int allocated;         /* pb_decode() ran: frame's strings need releasing */
} pgml__envelope_t;

/* Encodes a REQUEST into a new outbuf with `headroom` bytes before the body.
 * `metadata` is NULL or key, value, ..., NULL (validated by the caller).
 * Returns 0 and *out (owned by the caller), -EMSGSIZE when the body would
 * exceed max_frame, or -ENOMEM. */
PGML_MUST_CHECK int pgml__envelope_request(size_t headroom, uint32_t max_frame,
                                           uint64_t id, const char *method,
                                           const uint8_t *payload, size_t len,
                                           uint32_t timeout_ms,
                                           const char *const *metadata,
                                           pgml__outbuf_t **out);

/* pgml__envelope_request() in two steps, for a body placed by the caller:
 * the body's size (*size; -EMSGSIZE, -EINVAL as there), then the bytes,
 * written at p (at least *size bytes) from the same arguments. */
PGML_MUST_CHECK int pgml__envelope_request_size(uint32_t max_frame, uint64_t id,
                                                const char *method, size_t len,
                                                uint32_t timeout_ms,
                                                const char *const *metadata,
                                                size_t *size);
void pgml__envelope_request_write(uint8_t *p, uint64_t id, const char *method,
                                  const uint8_t *payload, size_t len,
                                  uint32_t timeout_ms, const char *const *metadata);

/* Encodes a CANCEL of request `id`; as pgml__envelope_request(). */
PGML_MUST_CHECK int pgml__envelope_cancel(size_t headroom, uint64_t id,
                                          pgml__outbuf_t **out);

/* Encodes any frame into `buf` (`cap` bytes), the payload taken from
 * `payload`/`len` (f->payload must be NULL).  Sets *written.  Returns 0,
 * -EMSGSIZE (does not fit) or -EINVAL (nanopb refused the struct). */
PGML_MUST_CHECK int pgml__envelope_encode(const pgml_v1_Frame *f,
                                          const uint8_t *payload, size_t len,
                                          uint8_t *buf, size_t cap, size_t *written);

/* The encoded size of that frame, or -EINVAL / -EMSGSIZE (over 4 GiB). */
PGML_MUST_CHECK int pgml__envelope_size(const pgml_v1_Frame *f, size_t len,
                                        size_t *size);

/* Decodes `len` bytes of `body`.  On success returns 0 and env owns the
 * decoded strings (release with pgml__envelope_release()) and borrows the
 * payload from `body`.  On failure returns -EBADMSG or -ENOMEM, writes the
 * reason to err, and env holds nothing. */
PGML_MUST_CHECK int pgml__envelope_decode(const uint8_t *body, size_t len,
                                          pgml__envelope_t *env, char *err,
                                          size_t errlen);

void pgml__envelope_release(pgml__envelope_t *env);

#endif
