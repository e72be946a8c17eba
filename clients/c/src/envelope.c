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

/* Sizes, allocates and encodes `f` into a new outbuf. */
static int encode_new(const pgml_v1_Frame *f, const uint8_t *payload, size_t len,
                      size_t headroom, uint32_t max_frame, pgml__outbuf_t **out)
{
  pgml__outbuf_t *b;
  size_t size, written;
  int rc;

  rc = pgml__envelope_size(f, len, &size);
  if (rc < 0)
    return rc;
  if (size > max_frame)
    return -EMSGSIZE;
  b = pgml__outbuf_new(headroom, size);
  if (b == NULL)
    return -ENOMEM;
  rc = pgml__envelope_encode(f, payload, len, b->data + headroom, size, &written);
  if (rc < 0) {
    pgml__free(b);
    return rc;
  }
  *out = b;
  return 0;
}

int pgml__envelope_request(size_t headroom, uint32_t max_frame, uint64_t id,
                           const char *method, const uint8_t *payload, size_t len,
                           uint32_t timeout_ms, const char *const *metadata,
                           pgml__outbuf_t **out)
{
  pgml_v1_Frame_MetadataEntry entries[PGML_MAX_METADATA];
  pgml_v1_Frame f = pgml_v1_Frame_init_zero;
  size_t n = 0;

  /* nanopb writes every non-NULL pointer field, protobuf-c skips empty
   * strings in proto3: leave empty values out to get the same bytes. */
  for (; metadata != NULL && metadata[2 * n] != NULL; n++) {
    if (n == PGML_MAX_METADATA)
      return -EINVAL;
    entries[n].key = (char *)metadata[2 * n];
    entries[n].value = metadata[2 * n + 1][0] ? (char *)metadata[2 * n + 1] : NULL;
  }
  f.id = id;
  f.kind = pgml_v1_Frame_Kind_REQUEST;
  f.method = (char *)method;
  f.timeout_ms = timeout_ms;
  f.metadata_count = (pb_size_t)n;
  f.metadata = n ? entries : NULL;
  return encode_new(&f, payload, len, headroom, max_frame, out);
}

int pgml__envelope_cancel(size_t headroom, uint64_t id, pgml__outbuf_t **out)
{
  pgml_v1_Frame f = pgml_v1_Frame_init_zero;

  f.id = id;
  f.kind = pgml_v1_Frame_Kind_CANCEL;
  return encode_new(&f, NULL, 0, headroom, UINT32_MAX, out);
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

int pgml__envelope_decode(const uint8_t *body, size_t len, pgml__envelope_t *env,
                          char *err, size_t errlen)
{
  pb_istream_t s = pb_istream_from_buffer(body, len);
  cut_stream_t cs = {body, len, len, 0};
  int found = 0;

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
  return 0;
}

void pgml__envelope_release(pgml__envelope_t *env)
{
  pb_release(pgml_v1_Frame_fields, &env->frame);
  memset(env, 0, sizeof(*env));
}
