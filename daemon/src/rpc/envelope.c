/* envelope.c - pgml.v1.Frame decode, validation and response encoding. */
#include "rpc/envelope.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "frame.h"
#include "rpc/wire.h"

/* Field tags, (number << 3) | wire type, of the fields read or written by
 * hand below. */
#define TAG_ID 0x08u         /* 1, varint */
#define TAG_KIND 0x10u       /* 2, varint */
#define TAG_METHOD 0x1au     /* 3, length-delimited */
#define TAG_PAYLOAD 0x22u    /* 4, length-delimited */
#define TAG_TIMEOUT 0x40u    /* 8, varint */

/* Reads a varint of at most `max` (<= 9) bytes at *p, before end.  -1 when
 * it is longer or cut short: the frame is then left to protobuf-c. */
static int get_varint(const uint8_t **p, const uint8_t *end, size_t max, uint64_t *v)
{
  const uint8_t *q = *p;
  uint64_t r = 0;
  size_t i;

  for (i = 0; i < max && q < end; i++) {
    uint8_t b = *q++;
    r |= (uint64_t)(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      *p = q;
      *v = r;
      return 0;
    }
  }
  return -1;
}

int pgmld_envelope_peek(const uint8_t *body, size_t len, pgmld_frame_view_t *v)
{
  const uint8_t *p = body, *end = body + len;
  unsigned seen = 0;
  uint64_t x;

  memset(v, 0, sizeof(*v));
  while (p < end) {
    unsigned tag = *p++;

    /* Field numbers 1 to 8 fit the bit set; 9 (metadata) is left out. */
    if (tag >= 0x48 || (seen & (1u << (tag >> 3))) != 0)
      return 0;
    seen |= 1u << (tag >> 3);
    switch (tag) {
    case TAG_ID:
      if (get_varint(&p, end, 9, &x) < 0)
        return 0;
      v->id = x;
      break;
    case TAG_KIND:
      /* REQUEST is 0; a CANCEL or anything else takes the general path. */
      if (get_varint(&p, end, 1, &x) < 0 || x != PGML__V1__FRAME__KIND__REQUEST)
        return 0;
      break;
    case TAG_METHOD:
    case TAG_PAYLOAD:
      if (get_varint(&p, end, 4, &x) < 0 || x > (uint64_t)(end - p))
        return 0;
      if (tag == TAG_METHOD) {
        v->method = (const char *)p;
        v->method_len = (size_t)x;
      } else {
        v->payload = p;
        v->payload_len = (size_t)x;
      }
      p += x;
      break;
    case TAG_TIMEOUT:
      if (get_varint(&p, end, 5, &x) < 0 || x > UINT32_MAX)
        return 0;
      v->timeout_ms = (uint32_t)x;
      break;
    default:
      return 0;
    }
  }
  return v->id != 0 && v->method_len > 0;
}

void pgmld_envelope_view(const Pgml__V1__Frame *f, pgmld_frame_view_t *v)
{
  v->id = f->id;
  v->method = f->method != NULL ? f->method : "";
  v->method_len = strlen(v->method);
  v->payload = f->payload.data;
  v->payload_len = f->payload.len;
  v->timeout_ms = f->timeout_ms;
}

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

  if (f == NULL)
    return NULL;
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

int pgmld_envelope_reply_size(uint64_t id, const ProtobufCMessage *payload,
                              uint64_t max_frame, size_t *plen, size_t *total,
                              pgmld_status_t *st)
{
  size_t pl = protobuf_c_message_get_packed_size(payload);
  size_t body;

  body = (id != 0 ? 1 + pgmld_wire_varint_size(id) : 0) + 2 +
         (pl > 0 ? 1 + pgmld_wire_varint_size(pl) + pl : 0);
  if (body > max_frame || body > UINT32_MAX) {
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED,
                     "response of %zu bytes exceeds limits.max_frame_size (%llu)",
                     body, (unsigned long long)max_frame);
    return -EMSGSIZE;
  }
  *plen = pl;
  *total = PGML_FRAME_HEADER_SIZE + body;
  return 0;
}

void pgmld_envelope_reply_write(uint64_t id, const ProtobufCMessage *payload,
                                size_t plen, size_t total, uint8_t *dst)
{
  uint8_t *p = dst + PGML_FRAME_HEADER_SIZE;

  /* Frame{id, kind: RESPONSE, payload} written by hand, in field order and
   * with proto3's defaults (id 0, code OK, no payload) left out: the bytes
   * protobuf-c would write, without its descriptor walks for the
   * envelope.  The payload is packed once, straight into place. */
  pgml_frame_put_header(dst, (uint32_t)(total - PGML_FRAME_HEADER_SIZE));
  if (id != 0) {
    *p++ = TAG_ID;
    p += pgmld_wire_put_varint(p, id);
  }
  *p++ = TAG_KIND;
  *p++ = PGML__V1__FRAME__KIND__RESPONSE;
  if (plen > 0) {
    *p++ = TAG_PAYLOAD;
    p += pgmld_wire_put_varint(p, plen);
    protobuf_c_message_pack(payload, p);
  }
}

int pgmld_envelope_encode_reply(uint64_t id, const ProtobufCMessage *payload,
                                uint64_t max_frame, uint8_t **out,
                                size_t *out_len, pgmld_status_t *st)
{
  size_t plen, total;
  uint8_t *buf;
  int rc;

  rc = pgmld_envelope_reply_size(id, payload, max_frame, &plen, &total, st);
  if (rc < 0)
    return rc;
  buf = pgmld_malloc(total);
  if (buf == NULL) {
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED,
                     "out of memory encoding a response of %zu bytes",
                     total - PGML_FRAME_HEADER_SIZE);
    return -ENOMEM;
  }
  pgmld_envelope_reply_write(id, payload, plen, total, buf);
  *out = buf;
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
