/* envelope.c - pgml.v1.Frame decode, validation and response encoding. */
#include "rpc/envelope.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "frame.h"
#include "rpc/wire.h"

int pgmld_envelope_decode(const uint8_t *body, size_t len, Pgml__V1__Frame **out,
                          pgmld_status_t *st)
{
  unsigned long failures = pgmld_alloc_failures();
  char why[256];
  Pgml__V1__Frame *f;

  f = pgml__v1__frame__unpack(&pgmld_protobuf_allocator, len, body);
  *out = f;
  if (f != NULL)
    return 0;
  /* unpack says NULL for bad bytes and for no memory alike. */
  if (pgmld_alloc_failures() != failures) {
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED,
                     "out of memory decoding a frame of %zu bytes", len);
    return -ENOMEM;
  }
  pgmld_wire_explain(&pgml__v1__frame__descriptor, body, len, why, sizeof(why));
  pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                   "frame of %zu bytes is not a pgml.v1.Frame: %s", len, why);
  return -EBADMSG;
}

void pgmld_envelope_free(Pgml__V1__Frame *f)
{
  if (f != NULL)
    pgml__v1__frame__free_unpacked(f, &pgmld_protobuf_allocator);
}

int pgmld_envelope_validate(const Pgml__V1__Frame *f, uint64_t *reply_id,
                            pgmld_status_t *st)
{
  *reply_id = 0;
  switch (f->kind) {
  case PGML__V1__FRAME__KIND__REQUEST:
    if (f->id == 0) {
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "a REQUEST needs a non-zero id (id 0 is reserved "
                       "for the connection)");
      return -EINVAL;
    }
    *reply_id = f->id;
    if (f->method == NULL || f->method[0] == '\0') {
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "REQUEST %llu has no method",
                       (unsigned long long)f->id);
      return -EINVAL;
    }
    return 0;
  case PGML__V1__FRAME__KIND__CANCEL:
    return 0;
  case PGML__V1__FRAME__KIND__RESPONSE:
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "a client may not send RESPONSE frames (id %llu)",
                     (unsigned long long)f->id);
    return -EINVAL;
  default:
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "unknown frame kind %d (expected REQUEST=0 or "
                     "CANCEL=2)", (int)f->kind);
    return -EINVAL;
  }
}

const char *pgmld_envelope_metadata(const Pgml__V1__Frame *f, const char *key)
{
  size_t i;

  /* The last entry wins, as when a map is decoded into a dictionary. */
  for (i = f->n_metadata; i > 0; i--) {
    const Pgml__V1__Frame__MetadataEntry *e = f->metadata[i - 1];
    if (e->key != NULL && strcmp(e->key, key) == 0)
      return e->value != NULL ? e->value : "";
  }
  return NULL;
}

const char *pgmld_envelope_quote(const char *s, size_t max, char *buf, size_t len)
{
  size_t i, n = 0;

  if (len == 0)
    return buf;
  for (i = 0; s[i] != '\0' && n + 1 < len; i++) {
    if (i == max) {
      /* As many dots as fit with the NUL (a buffer under 4 bytes gets
       * fewer), written over the copied text when needed. */
      size_t dots = len - 1 < 3 ? len - 1 : 3;
      if (n + dots + 1 > len)
        n = len - 1 - dots;
      memcpy(buf + n, "...", dots);
      n += dots;
      break;
    }
    buf[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
  }
  buf[n] = '\0';
  return buf;
}

/* Packs f after a 4-byte length prefix, leaving `extra` bytes of room at
 * the end for the caller.  Returns 0 or -ENOMEM. */
static int pack_frame(const Pgml__V1__Frame *f, size_t extra, uint8_t **out,
                      size_t *out_len, size_t *frame_len)
{
  size_t n = pgml__v1__frame__get_packed_size(f);
  uint8_t *buf = pgmld_malloc(PGML_FRAME_HEADER_SIZE + n + extra);

  if (buf == NULL)
    return -ENOMEM;
  pgml__v1__frame__pack(f, buf + PGML_FRAME_HEADER_SIZE);
  *out = buf;
  *out_len = PGML_FRAME_HEADER_SIZE + n + extra;
  *frame_len = n;
  return 0;
}

int pgmld_envelope_encode_reply(uint64_t id, const ProtobufCMessage *payload,
                                uint64_t max_frame, uint8_t **out,
                                size_t *out_len, pgmld_status_t *st)
{
  Pgml__V1__Frame f = PGML__V1__FRAME__INIT;
  size_t plen = protobuf_c_message_get_packed_size(payload);
  size_t head, body, total, flen;
  uint8_t *p;
  int rc;

  f.id = id;
  f.kind = PGML__V1__FRAME__KIND__RESPONSE;
  f.code = PGML__V1__CODE__OK;
  /* The payload is appended as field 4 by hand rather than set in f, so the
   * response message is packed once, straight into the output buffer. */
  head = plen > 0 ? 1 + pgmld_wire_varint_size(plen) : 0;
  body = pgml__v1__frame__get_packed_size(&f) + head + plen;
  if (body > max_frame || body > UINT32_MAX) {
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED,
                     "response of %zu bytes exceeds limits.max_frame_size (%llu)",
                     body, (unsigned long long)max_frame);
    return -EMSGSIZE;
  }
  rc = pack_frame(&f, head + plen, out, &total, &flen);
  if (rc < 0) {
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED,
                     "out of memory encoding a response of %zu bytes", body);
    return rc;
  }
  p = *out + PGML_FRAME_HEADER_SIZE + flen;
  if (plen > 0) {
    *p++ = (4u << 3) | 2u;
    p += pgmld_wire_put_varint(p, plen);
    protobuf_c_message_pack(payload, p);
  }
  pgml_frame_put_header(*out, (uint32_t)body);
  *out_len = total;
  return 0;
}

int pgmld_envelope_encode_error(uint64_t id, pgmld_code_t code, const char *message,
                                const char *details, uint8_t **out, size_t *out_len)
{
  Pgml__V1__Frame f = PGML__V1__FRAME__INIT;
  char msg[PGMLD_STATUS_MESSAGE_MAX];
  char *det = NULL;
  size_t flen;
  int rc;

  f.id = id;
  f.kind = PGML__V1__FRAME__KIND__RESPONSE;
  f.code = (Pgml__V1__Code)code;
  /* proto3 strings must be UTF-8; a message cut at a fixed size or built
   * from a database error may not be. */
  pgmld_wire_utf8_copy(msg, sizeof(msg), message ? message : "");
  f.message = msg;
  if (details != NULL && details[0] != '\0') {
    size_t dlen = strlen(details) + 1;
    det = pgmld_malloc(dlen);
    if (det == NULL)
      return -ENOMEM;
    pgmld_wire_utf8_copy(det, dlen, details);
    f.details = det;
  }
  rc = pack_frame(&f, 0, out, out_len, &flen);
  pgmld_free(det);
  if (rc < 0)
    return rc;
  pgml_frame_put_header(*out, (uint32_t)flen);
  return 0;
}
