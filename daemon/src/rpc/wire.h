/* wire.h - protobuf wire-format facts protobuf-c does not expose: varint
 * sizes, a scanner that says where bytes stop being a given message, and
 * UTF-8 repair for the strings pgmld sends. */
#ifndef PGMLD_WIRE_H
#define PGMLD_WIRE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes the varint encoding of v takes (1 to 10). */
size_t pgmld_wire_varint_size(uint64_t v);
/* Writes v as a varint at p (room for pgmld_wire_varint_size(v) bytes);
 * returns the bytes written. */
size_t pgmld_wire_put_varint(uint8_t *p, uint64_t v);

/* After protobuf-c refused to unpack `len` bytes as `desc`, writes into buf
 * the first reason found, with its byte offset and field ("field 3 (method)
 * has wire type 0, expected 2 (length-delimited), at byte 4").  Scans
 * nested messages too.  Never reads outside [p, p+len). */
void pgmld_wire_explain(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                        size_t len, char *buf, size_t buflen);

/* Copies the NUL-terminated src into dst (size n > 0) as valid UTF-8: an
 * invalid byte becomes '?', and a character that does not fit whole is
 * left out rather than cut.  dst is always NUL-terminated. */
void pgmld_wire_utf8_copy(char *dst, size_t n, const char *src);

#endif
