/* envelope.h - the pgml.v1.Frame envelope: decoding what a client sent,
 * checking it is a frame a client may send, encoding the server's answers.
 *
 * Pure functions over bytes (no I/O, no loop), so that the unit tests and
 * the fuzz target drive them directly.  Memory comes from core/alloc.h.
 * Errors: negative errno, with the reason the client will see in a
 * pgmld_status_t.
 */
#ifndef PGMLD_ENVELOPE_H
#define PGMLD_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"
#include "pgml/v1/frame.pb-c.h"
#include "rpc/status.h"

/* The wire protocol version ServerInfo reports (docs/protocol.md). */
#define PGMLD_PROTOCOL_VERSION 1

/* The fields of a REQUEST that pgmld uses, whichever way it was read. */
typedef struct pgmld_frame_view_s {
  uint64_t id;
  const char *method;       /* method_len bytes; NUL-terminated only when
                             * it points into a decoded Frame */
  size_t method_len;
  const uint8_t *payload;   /* borrowed: from the read buffer or the Frame */
  size_t payload_len;
  uint32_t timeout_ms;
} pgmld_frame_view_t;

/* The fast path for the common REQUEST: reads body in place, without
 * allocating or copying.  Returns 1 and fills *v (pointing into body) when
 * the frame is a REQUEST with a non-zero id and a non-empty method, made
 * only of the fields id, kind, method, payload and timeout_ms, each at most
 * once.  Returns 0 for anything else (metadata, a CANCEL, an odd or
 * malformed encoding): the caller then decodes the frame with
 * pgmld_envelope_decode(), which accepts or refuses it as before.  The
 * method is the raw bytes (protobuf-c's copy would stop at a NUL): the
 * caller takes this path only for a name found by pgmld_dispatch_find_n(),
 * and then protobuf-c decodes the frame to the same values
 * (tests/fuzz/fuzz_envelope.c checks it on every input). */
PGMLD_MUST_CHECK int pgmld_envelope_peek(const uint8_t *body, size_t len,
                                         pgmld_frame_view_t *v);

/* Fills *v from a decoded frame (borrowing f's method and payload). */
void pgmld_envelope_view(const Pgml__V1__Frame *f, pgmld_frame_view_t *v);

/* Decodes one frame body (without its length prefix).  On success returns 0
 * and *out owns the Frame (free with pgmld_envelope_free()).  On failure
 * returns -EBADMSG (st: INVALID_ARGUMENT and where the bytes stop being a
 * Frame) or -ENOMEM (st: RESOURCE_EXHAUSTED), and *out is NULL. */
PGMLD_MUST_CHECK int pgmld_envelope_decode(const uint8_t *body, size_t len,
                                           Pgml__V1__Frame **out,
                                           pgmld_status_t *st);
void pgmld_envelope_free(Pgml__V1__Frame *f);

/* Checks a decoded frame is one a client may send: kind REQUEST with a
 * non-zero id and a method, or CANCEL.  Returns 0, or -EINVAL with st set
 * (INVALID_ARGUMENT) and *reply_id the id to answer on: the request's id
 * when the frame is a REQUEST with one, else 0. */
PGMLD_MUST_CHECK int pgmld_envelope_validate(const Pgml__V1__Frame *f,
                                             uint64_t *reply_id,
                                             pgmld_status_t *st);

/* The value of metadata key `key` in f (NULL: a frame read by
 * pgmld_envelope_peek(), which has none), or NULL. */
const char *pgmld_envelope_metadata(const Pgml__V1__Frame *f, const char *key);

/* pgmld_envelope_encode_reply() in two steps, for a caller that places
 * the frame in a buffer of its own: the size first (*plen, the payload's
 * packed size, to pass on; *total, the bytes the length-prefixed frame
 * takes), with the same -EMSGSIZE refusal; then the bytes, written into dst
 * (at least *total bytes).  payload must not change in between. */
PGMLD_MUST_CHECK int pgmld_envelope_reply_size(uint64_t id,
                                               const ProtobufCMessage *payload,
                                               uint64_t max_frame, size_t *plen,
                                               size_t *total, pgmld_status_t *st);
void pgmld_envelope_reply_write(uint64_t id, const ProtobufCMessage *payload,
                                size_t plen, size_t total, uint8_t *dst);

/* Encodes a RESPONSE with code OK and `payload` as its message, preceded by
 * the 4-byte big-endian length, into one new buffer: *out (owned by the
 * caller, pgmld_free()) holds *out_len bytes.  Returns 0; -EMSGSIZE when the
 * frame would exceed max_frame bytes (st: RESOURCE_EXHAUSTED naming both
 * sizes); -ENOMEM. */
PGMLD_MUST_CHECK int pgmld_envelope_encode_reply(uint64_t id,
                                                 const ProtobufCMessage *payload,
                                                 uint64_t max_frame,
                                                 uint8_t **out, size_t *out_len,
                                                 pgmld_status_t *st);

/* Encodes a RESPONSE carrying an error: code, message and optional details
 * (a JSON object as text, or NULL), with its length prefix, into one new
 * buffer as above.  The message is cut to PGMLD_STATUS_MESSAGE_MAX bytes.
 * Returns 0 or -ENOMEM. */
PGMLD_MUST_CHECK int pgmld_envelope_encode_error(uint64_t id, pgmld_code_t code,
                                                 const char *message,
                                                 const char *details,
                                                 uint8_t **out, size_t *out_len);

/* Copies `s` into buf (size len) for quoting in a message: at most `max`
 * bytes of it, bytes outside printable ASCII as '?', "..." when cut.
 * Returns buf. */
const char *pgmld_envelope_quote(const char *s, size_t max, char *buf, size_t len);

#endif
