/* wsframe.h - RFC 6455 WebSocket framing for libpgml's ws:// transport, as a
 * client sees it: the opening handshake's key and answer, frame headers
 * with masking for what the client sends, and a reader that checks and
 * reassembles what the server sends.
 *
 * Everything here is pure (no I/O, no TLS), so that ws.c only moves bytes
 * and the fuzz target and unit tests can drive the decoder directly.
 *
 * Errors: 0 or a positive count on success, a negative errno on failure
 * (-ENOMEM, -EMSGSIZE, -EPROTO); after -EPROTO or -EMSGSIZE the reader's
 * `err` says what the server did wrong, and `close_code` is the status the
 * client should close with.
 */
#ifndef PGML_WSFRAME_H
#define PGML_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "pgml/common.h"

/* Opcodes (RFC 6455 section 5.2). */
#define PGML_WS_CONT 0x0u
#define PGML_WS_TEXT 0x1u
#define PGML_WS_BINARY 0x2u
#define PGML_WS_CLOSE 0x8u
#define PGML_WS_PING 0x9u
#define PGML_WS_PONG 0xAu

/* The largest header a client frame needs: 2 bytes, 8 of extended length,
 * 4 of masking key. */
#define PGML_WS_MAX_HEADER 14u
/* Control frames carry at most this many payload bytes. */
#define PGML_WS_MAX_CONTROL 125u
/* Sec-WebSocket-Key is 16 random bytes in base64: 24 characters. */
#define PGML_WS_KEY_LEN 24u
/* Sec-WebSocket-Accept is a SHA-1 in base64: 28 characters. */
#define PGML_WS_ACCEPT_LEN 28u
/* The server's handshake answer may not be longer than this. */
#define PGML_WS_MAX_RESPONSE 8192u

/* The subprotocol offered (Sec-WebSocket-Protocol, docs/protocol.md section
 * 13). */
#define PGML_WS_SUBPROTOCOL "pgml.v1"

/* Close status codes used here. */
#define PGML_WS_CLOSE_NORMAL 1000u
#define PGML_WS_CLOSE_PROTOCOL 1002u
#define PGML_WS_CLOSE_UNSUPPORTED 1003u
#define PGML_WS_CLOSE_TOO_BIG 1009u

/* Writes the header of a frame of `len` payload bytes with opcode `op`,
 * FIN set, masked with `mask`, ending exactly at `end` (the header goes in
 * the bytes before it).  Returns the header's length (6 to 14). */
size_t pgml__ws_put_header(uint8_t *end, unsigned op, uint64_t len, const uint8_t mask[4]);

/* XORs `len` bytes with the masking key (RFC 6455 section 5.3), in place. */
void pgml__ws_mask(uint8_t *data, size_t len, const uint8_t mask[4]);

/* Sec-WebSocket-Accept for `key`: base64(SHA-1(key + the RFC's GUID)),
 * NUL-terminated in out.  Returns 0 or -ENOMEM (OpenSSL failed). */
PGML_MUST_CHECK int pgml__ws_accept_for(const char *key,
                                        char out[PGML_WS_ACCEPT_LEN + 1]);

/* Encodes 16 bytes as a Sec-WebSocket-Key (24 base64 characters and a NUL). */
void pgml__ws_key_encode(const uint8_t raw[16], char out[PGML_WS_KEY_LEN + 1]);

/* Checks the server's answer to the upgrade request: `resp` holds `len`
 * bytes up to and including the blank line.  Returns 0 when it is a
 * "101 Switching Protocols" with Upgrade: websocket, Connection: Upgrade,
 * the Sec-WebSocket-Accept `key` calls for, no extension, and no subprotocol
 * or PGML_WS_SUBPROTOCOL; otherwise -EPROTO with the reason
 * in err (for a refusal, the status line and any text in the body is not
 * read), and *http_status set to the status code when there was one (0
 * otherwise). */
PGML_MUST_CHECK int pgml__ws_check_response(const char *resp, size_t len, const char *key,
                                            int *http_status, char *err, size_t err_len);

/* What pgml__ws_reader_next() found. */
typedef struct pgml_ws_msg_s {
  unsigned op;              /* PGML_WS_BINARY, _PING, _PONG or _CLOSE */
  const uint8_t *data;      /* the whole message (reassembled); valid until
                               the next call on the reader */
  size_t len;
  unsigned close_code;      /* _CLOSE: the status (1005 when none was sent) */
} pgml_ws_msg_t;

typedef struct pgml_ws_reader_s {
  uint8_t *buf;        /* owned raw input; bytes [start, end) unconsumed */
  size_t cap;
  size_t start;
  size_t end;
  uint8_t *msg;        /* owned: fragments of a message not yet finished */
  size_t msg_len;
  size_t msg_cap;
  int in_msg;          /* a fragmented message is being reassembled */
  uint32_t max_msg;    /* largest message accepted, in bytes */
  unsigned close_code; /* after an error: the status to close with */
  char err[160];
} pgml_ws_reader_t;

/* Initialises an empty reader accepting messages of at most max_msg bytes
 * (0: 16 MiB); allocates nothing yet. */
void pgml__ws_reader_init(pgml_ws_reader_t *r, uint32_t max_msg);

/* Frees the reader's buffers; it may be initialised again. */
void pgml__ws_reader_free(pgml_ws_reader_t *r);

/* Offers at least min(want, what the frame being read still needs) bytes of
 * space to read into (valid until the next call on the reader).  0 or
 * -ENOMEM (nothing changed). */
PGML_MUST_CHECK int pgml__ws_reader_space(pgml_ws_reader_t *r, size_t want,
                                          uint8_t **out, size_t *out_len);

/* Records that n bytes were written into the space last offered. */
void pgml__ws_reader_commit(pgml_ws_reader_t *r, size_t n);

/* Takes the next whole message or control frame out.  Returns 1 with *msg
 * filled, 0 when more bytes are needed, -EMSGSIZE when a frame or the
 * reassembled message would exceed max_msg (found from the header, before
 * anything is allocated for it), -EPROTO when the server broke the protocol
 * (a masked frame, reserved bits or opcodes, a text message, a fragmented or
 * oversized control frame, a continuation without a start, a bad close
 * payload), or -ENOMEM.  After a negative result r->err and r->close_code
 * are set and the stream can no longer be trusted. */
PGML_MUST_CHECK int pgml__ws_reader_next(pgml_ws_reader_t *r, pgml_ws_msg_t *msg);

#endif
