/* envelope.c - the pgml.v1.Frame codec, nanopb around a large payload. */
#include "envelope.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "alloc.h"
#include "pgml/client.h"

/* Writes `f` in field order: the fields numbered below the payload's, the
 * payload, then the others.  Concatenated protobuf messages merge, so this
 * is the same Frame, and the same bytes protobuf-c writes for it. */
static bool encode_parts(pb_ostream_t *s, const pgml_v1_Frame *f,
                         const uint8_t *payload, size_t len)
{
  pgml_v1_Frame head = pgml_v1_Frame_init_zero;
  pgml_v1_Frame tail = *f;

  head.id = f->id;
  head.kind = f->kind;
  head.method = f->method;
  tail.id = 0;
  tail.kind = pgml_v1_Frame_Kind_REQUEST;
  tail.method = NULL;
  tail.payload = NULL;
  if (!pb_encode(s, pgml_v1_Frame_fields, &head))
    return false;
  if (len > 0) {
    if (!pb_encode_tag(s, PB_WT_STRING, pgml_v1_Frame_payload_tag) ||
        !pb_encode_string(s, payload, len))
      return false;
  }
  return pb_encode(s, pgml_v1_Frame_fields, &tail);
}

int pgml__envelope_size(const pgml_v1_Frame *f, size_t len, size_t *size)
{
  pb_ostream_t s = PB_OSTREAM_SIZING;

  if (f->payload != NULL)
    return -EINVAL;
  if (!encode_parts(&s, f, NULL, len))
    return -EINVAL;
  if (s.bytes_written > UINT32_MAX)
    return -EMSGSIZE;
  *size = s.bytes_written;
  return 0;
}

int pgml__envelope_encode(const pgml_v1_Frame *f, const uint8_t *payload, size_t len,
                          uint8_t *buf, size_t cap, size_t *written)
{
  pb_ostream_t s = pb_ostream_from_buffer(buf, cap);
  size_t need;
  int rc;

  rc = pgml__envelope_size(f, len, &need);
  if (rc < 0)
    return rc;
  if (need > cap)
    return -EMSGSIZE;
  if (!encode_parts(&s, f, payload, len))
    return -EINVAL;
  *written = s.bytes_written;
  return 0;
}

/* ---- the two frames a client sends, written by hand
 *
 * A REQUEST or CANCEL is a handful of varints and strings: writing them
 * directly costs a few dozen instructions where nanopb's descriptor walk
 * (sized twice, then encoded) cost thousands per call.  The bytes are the
 * canonical ones nanopb and protobuf-c produce for the same Frame: fields
 * in number order, proto3 defaults left out (tests/unit/client checks them
 * against the shared vectors). */

/* Field tags: (number << 3) | wire type. */
#define TAG_ID 0x08u          /* 1, varint */
#define TAG_KIND 0x10u        /* 2, varint */
#define TAG_METHOD 0x1au      /* 3, length-delimited */
#define TAG_PAYLOAD 0x22u     /* 4, length-delimited */
#define TAG_CODE 0x28u        /* 5, varint */
#define TAG_TIMEOUT 0x40u     /* 8, varint */
#define TAG_METADATA 0x4au    /* 9, length-delimited */
#define TAG_ENTRY_KEY 0x0au   /* MetadataEntry.key */
#define TAG_ENTRY_VALUE 0x12u /* MetadataEntry.value */

static size_t varint_size(uint64_t v)
{
  size_t n = 1;

  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

/* Size of a length-delimited field of n bytes, tag included. */
static size_t ld_size(size_t n)
{
  return 1 + varint_size(n) + n;
}

static uint8_t *put_ld(uint8_t *p, unsigned tag, const void *data, size_t n)
{
  *p++ = (uint8_t)tag;
  p = put_varint(p, n);
  if (n > 0)
    memcpy(p, data, n);
  return p + n;
}

/* The body of one MetadataEntry (an empty value is left out, as protobuf-c
 * leaves out an empty proto3 string). */
static size_t entry_size(const char *key, const char *value)
{
  size_t n = ld_size(strlen(key));

  if (value[0] != '\0')
    n += ld_size(strlen(value));
  return n;
}

int pgml__envelope_request_size(uint32_t max_frame, uint64_t id, const char *method,
                                size_t len, uint32_t timeout_ms,
                                const char *const *metadata, size_t *out)
{
  size_t mlen = strlen(method), size = 0, n;

  for (n = 0; metadata != NULL && metadata[2 * n] != NULL; n++) {
    if (n == PGML_MAX_METADATA)
      return -EINVAL;
    size += ld_size(entry_size(metadata[2 * n], metadata[2 * n + 1]));
  }
  /* Each term is bounded (the payload by the caller's max_frame check,
   * metadata by its count); only the sum is compared. */
  if (id != 0)
    size += 1 + varint_size(id);
  if (mlen > 0)
    size += ld_size(mlen);
  if (len > 0)
    size += ld_size(len);
  if (timeout_ms > 0)
    size += 1 + varint_size(timeout_ms);
  if (size > max_frame || size > UINT32_MAX)
    return -EMSGSIZE;
  *out = size;
  return 0;
}

void pgml__envelope_request_write(uint8_t *p, uint64_t id, const char *method,
                                  const uint8_t *payload, size_t len,
                                  uint32_t timeout_ms, const char *const *metadata)
{
  size_t mlen = strlen(method), i;

  if (id != 0) {
    *p++ = TAG_ID;
    p = put_varint(p, id);
  }
  if (mlen > 0)
    p = put_ld(p, TAG_METHOD, method, mlen);
  if (len > 0)
    p = put_ld(p, TAG_PAYLOAD, payload, len);
  if (timeout_ms > 0) {
    *p++ = TAG_TIMEOUT;
    p = put_varint(p, timeout_ms);
  }
  for (i = 0; metadata != NULL && metadata[2 * i] != NULL; i++) {
    const char *key = metadata[2 * i], *value = metadata[2 * i + 1];
    *p++ = TAG_METADATA;
    p = put_varint(p, entry_size(key, value));
    p = put_ld(p, TAG_ENTRY_KEY, key, strlen(key));
    if (value[0] != '\0')
      p = put_ld(p, TAG_ENTRY_VALUE, value, strlen(value));
  }
}

int pgml__envelope_request(size_t headroom, uint32_t max_frame, uint64_t id,
                           const char *method, const uint8_t *payload, size_t len,
                           uint32_t timeout_ms, const char *const *metadata,
                           pgml__outbuf_t **out)
{
  pgml__outbuf_t *b;
  size_t size;
  int rc;

  rc = pgml__envelope_request_size(max_frame, id, method, len, timeout_ms, metadata,
                                   &size);
  if (rc < 0)
    return rc;
  b = pgml__outbuf_new(headroom, size);
  if (b == NULL)
    return -ENOMEM;
  pgml__envelope_request_write(b->data + headroom, id, method, payload, len, timeout_ms,
                               metadata);
  *out = b;
  return 0;
}

int pgml__envelope_cancel(size_t headroom, uint64_t id, pgml__outbuf_t **out)
{
  pgml__outbuf_t *b = pgml__outbuf_new(headroom, (id != 0 ? 1 + varint_size(id) : 0) + 2);
  uint8_t *p;

  if (b == NULL)
    return -ENOMEM;
  p = b->data + headroom;
  if (id != 0) {
    *p++ = TAG_ID;
    p = put_varint(p, id);
  }
  *p++ = TAG_KIND;
  *p = (uint8_t)pgml_v1_Frame_Kind_CANCEL;
  *out = b;
  return 0;
}

/* A stream over `body` with the bytes [cut_from, cut_to) left out. */
typedef struct {
  const uint8_t *body;
  size_t cut_from;
  size_t cut_to;
  size_t pos;            /* next byte of body to read */
} cut_stream_t;

static bool cut_read(pb_istream_t *s, pb_byte_t *buf, size_t count)
{
  cut_stream_t *cs = s->state;

  while (count > 0) {
    size_t avail, n;

    if (cs->pos == cs->cut_from)
      cs->pos = cs->cut_to;
    /* pb_read() never asks for more than bytes_left, so `avail` only runs
     * out at the cut, which the line above steps over. */
    avail = cs->pos < cs->cut_from ? cs->cut_from - cs->pos : SIZE_MAX;
    n = count < avail ? count : avail;
    if (buf != NULL) {
      memcpy(buf, cs->body + cs->pos, n);
      buf += n;
    }
    cs->pos += n;
    count -= n;
  }
  return true;
}

static int bad(char *err, size_t errlen, const char *what, const char *why)
{
  snprintf(err, errlen, "%s: %s", what, why);
  return -EBADMSG;
}

/* Reads a varint of at most `max` bytes at *p (before end).  Returns 0, or
 * -1 when it is longer, cut short, or wider than 63 bits: the caller then
 * leaves the frame to the general decoder. */
static int get_varint(const uint8_t **p, const uint8_t *end, size_t max, uint64_t *v)
{
  const uint8_t *q = *p;
  uint64_t r = 0;
  unsigned shift = 0;
  size_t i;

  for (i = 0; i < max && i < 9 && q < end; i++, shift += 7) {
    uint8_t b = *q++;
    r |= (uint64_t)(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *p = q;
      *v = r;
      return 0;
    }
  }
  return -1;
}

/* The common RESPONSE, read in place: only id, kind, code and payload, each
 * at most once, with kind and code among the values the .proto declares.
 * Returns 1 with env filled in (no string set, nothing allocated), or 0
 * when the frame has anything else (a message, details, an unknown or
 * repeated field, an odd encoding): pb_decode() then reads it, refusing it
 * or not exactly as before.  What this accepts, nanopb decodes to the same
 * values (fuzz_client_stream drives both). */
static int decode_fast(const uint8_t *body, size_t len, pgml__envelope_t *env)
{
  const uint8_t *p = body, *end = body + len;
  unsigned seen = 0;
  uint64_t v;

  memset(env, 0, sizeof(*env));
  while (p < end) {
    unsigned tag = *p++;
    unsigned bit = 1u << (tag >> 3 & 7);

    if (tag >= 0x80 || (seen & bit) != 0)
      return 0;
    seen |= bit;
    switch (tag) {
    case TAG_ID:
      if (get_varint(&p, end, 9, &v) < 0)
        return 0;
      env->frame.id = v;
      break;
    case TAG_KIND:
      if (get_varint(&p, end, 1, &v) < 0 || v > pgml_v1_Frame_Kind_CANCEL)
        return 0;
      env->frame.kind = (pgml_v1_Frame_Kind)v;
      break;
    case TAG_CODE:
      if (get_varint(&p, end, 1, &v) < 0 || v > pgml_v1_Code_UNAUTHENTICATED)
        return 0;
      env->frame.code = (pgml_v1_Code)v;
      break;
    case TAG_PAYLOAD:
      if (get_varint(&p, end, 5, &v) < 0 || v > (uint64_t)(end - p))
        return 0;
      env->payload = p;
      env->payload_len = (size_t)v;
      p += v;
      break;
    default:
      return 0;
    }
  }
  return 1;
}

int pgml__envelope_decode(const uint8_t *body, size_t len, pgml__envelope_t *env,
                          char *err, size_t errlen)
{
  pb_istream_t s = pb_istream_from_buffer(body, len);
  cut_stream_t cs = {body, len, len, 0};
  int found = 0;

  if (decode_fast(body, len, env))
    return 0;
  memset(env, 0, sizeof(*env));
  /* First pass: find the payload and check that every field is well formed,
   * so the second pass can rely on the byte counts. */
  while (s.bytes_left > 0) {
    size_t field_at = len - s.bytes_left;
    pb_wire_type_t wt;
    uint32_t tag;
    bool eof;

    if (!pb_decode_tag(&s, &wt, &tag, &eof))
      return bad(err, errlen, "malformed frame", eof ? "field number 0" : PB_GET_ERROR(&s));
    if (tag == pgml_v1_Frame_payload_tag && wt == PB_WT_STRING) {
      uint32_t n;
      if (!pb_decode_varint32(&s, &n))
        return bad(err, errlen, "malformed frame payload", PB_GET_ERROR(&s));
      if (n > s.bytes_left)
        return bad(err, errlen, "malformed frame", "payload longer than the frame");
      if (found)
        return bad(err, errlen, "malformed frame", "payload field given twice");
      found = 1;
      env->payload = body + (len - s.bytes_left);
      env->payload_len = n;
      cs.cut_from = field_at;
      cs.cut_to = (len - s.bytes_left) + n;
      if (!pb_read(&s, NULL, n))
        return bad(err, errlen, "malformed frame", PB_GET_ERROR(&s));
      continue;
    }
    if (!pb_skip_field(&s, wt))
      return bad(err, errlen, "malformed frame", PB_GET_ERROR(&s));
  }

  memset(&s, 0, sizeof(s));
  s.callback = cut_read;
  s.state = &cs;
  s.bytes_left = len - (cs.cut_to - cs.cut_from);
  if (!pb_decode(&s, pgml_v1_Frame_fields, &env->frame)) {
    const char *why = PB_GET_ERROR(&s);
    /* pb_decode() released what it had allocated. */
    memset(env, 0, sizeof(*env));
    if (strcmp(why, "realloc failed") == 0) {
      snprintf(err, errlen, "out of memory decoding a frame of %zu bytes", len);
      return -ENOMEM;
    }
    return bad(err, errlen, "malformed frame", why);
  }
  if (!found) {
    env->payload = NULL;
    env->payload_len = 0;
  }
  env->allocated = 1;
  return 0;
}

void pgml__envelope_release(pgml__envelope_t *env)
{
  /* pb_release() walks every field descriptor even when nothing was
   * allocated, which costs more than the fast decode itself. */
  if (env->allocated)
    pb_release(pgml_v1_Frame_fields, &env->frame);
  memset(env, 0, sizeof(*env));
}
