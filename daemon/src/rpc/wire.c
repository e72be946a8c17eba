/* wire.c - protobuf wire-format helpers: varints, the decode explainer,
 * UTF-8 repair. */
#include "rpc/wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/common.h"

/* Nested messages deeper than this are not scanned (pgml.v1 nests 3 deep). */
#define MAX_DEPTH 16

size_t pgmld_wire_varint_size(uint64_t v)
{
  size_t n = 1;

  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

size_t pgmld_wire_put_varint(uint8_t *p, uint64_t v)
{
  size_t n = 0;

  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* Reads a varint from p[*pos..len).  Returns 0, -1 when the bytes end
 * inside it, -2 when it is longer than 10 bytes. */
static int get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
  uint64_t v = 0;
  unsigned shift = 0;
  size_t i = *pos;

  for (;;) {
    if (i >= len)
      return -1;
    if (shift >= 70)
      return -2;
    v |= (uint64_t)(p[i] & 0x7f) << (shift < 64 ? shift : 63);
    shift += 7;
    if ((p[i++] & 0x80) == 0)
      break;
  }
  *pos = i;
  *out = v;
  return 0;
}

static const char *wire_type_name(unsigned wt)
{
  switch (wt) {
  case 0: return "0 (varint)";
  case 1: return "1 (64-bit)";
  case 2: return "2 (length-delimited)";
  case 5: return "5 (32-bit)";
  default: return "?";
  }
}

/* The wire type a field's values use when not packed. */
static unsigned expected_wire_type(const ProtobufCFieldDescriptor *fd)
{
  switch (fd->type) {
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_FLOAT:
    return 5;
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_FIXED64:
  case PROTOBUF_C_TYPE_DOUBLE:
    return 1;
  case PROTOBUF_C_TYPE_STRING:
  case PROTOBUF_C_TYPE_BYTES:
  case PROTOBUF_C_TYPE_MESSAGE:
    return 2;
  default:
    return 0;
  }
}

/* Records the first problem: `prefix` says in which nested field. */
static PGMLD_PRINTF(4, 5) int problem(char *buf, size_t len, const char *prefix,
                                      const char *fmt, ...)
{
  size_t n;
  va_list ap;

  snprintf(buf, len, "%s", prefix);
  n = strlen(buf);
  va_start(ap, fmt);
  vsnprintf(buf + n, len - n, fmt, ap);
  va_end(ap);
  return -1;
}

/* Checks that a packed run holds whole values of the field's wire type. */
static int packed_ok(unsigned wt, const uint8_t *p, size_t len)
{
  size_t pos = 0;
  uint64_t v;

  if (wt == 5)
    return len % 4 == 0;
  if (wt == 1)
    return len % 8 == 0;
  while (pos < len)
    if (get_varint(p, len, &pos, &v) < 0)
      return 0;
  return 1;
}

/* Scans p[0..len) as desc; `base` is p's offset in the outermost buffer.
 * Returns 0 when nothing is wrong, -1 with the reason in buf. */
static int scan(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                size_t len, size_t base, int depth, const char *prefix,
                char *buf, size_t buflen)
{
  size_t pos = 0;

  while (pos < len) {
    size_t at = pos;
    const ProtobufCFieldDescriptor *fd;
    uint64_t tag, v;
    unsigned wt, want;
    uint32_t num;
    size_t start;
    int rc = get_varint(p, len, &pos, &tag);

    if (rc == -1)
      return problem(buf, buflen, prefix, "the bytes end inside a field tag at byte %zu",
                     base + at);
    if (rc == -2 || tag >> 3 > 536870911u)
      return problem(buf, buflen, prefix, "malformed field tag at byte %zu", base + at);
    num = (uint32_t)(tag >> 3);
    wt = (unsigned)(tag & 7);
    if (num == 0)
      return problem(buf, buflen, prefix, "field number 0 at byte %zu", base + at);
    fd = protobuf_c_message_descriptor_get_field(desc, num);

    start = pos;
    switch (wt) {
    case 0:
      rc = get_varint(p, len, &pos, &v);
      if (rc < 0)
        return problem(buf, buflen, prefix, "field %u: %s varint at byte %zu", num,
                       rc == -1 ? "the bytes end inside a" : "malformed", base + start);
      break;
    case 1:
    case 5: {
      size_t need = wt == 1 ? 8 : 4;
      if (len - pos < need)
        return problem(buf, buflen, prefix,
                       "field %u: the bytes end inside a %zu-byte value at byte %zu",
                       num, need, base + start);
      pos += need;
      break;
    }
    case 2:
      rc = get_varint(p, len, &pos, &v);
      if (rc < 0)
        return problem(buf, buflen, prefix, "field %u: %s length at byte %zu", num,
                       rc == -1 ? "the bytes end inside its" : "malformed", base + start);
      if (v > len - pos)
        return problem(buf, buflen, prefix,
                       "field %u: length %llu at byte %zu runs past the end "
                       "(%zu bytes left)", num, (unsigned long long)v,
                       base + start, len - pos);
      start = pos;
      pos += (size_t)v;
      break;
    case 3:
    case 4:
      return problem(buf, buflen, prefix,
                     "field %u uses the group wire type %u at byte %zu, which "
                     "pgml.v1 does not use", num, wt, base + at);
    default:
      return problem(buf, buflen, prefix, "invalid wire type %u at byte %zu", wt,
                     base + at);
    }
    if (fd == NULL)
      continue;      /* unknown fields are skipped, as protobuf-c does */

    want = expected_wire_type(fd);
    if (wt != want) {
      if (!(wt == 2 && fd->label == PROTOBUF_C_LABEL_REPEATED && want != 2))
        return problem(buf, buflen, prefix,
                       "field %u (%s) has wire type %s, expected %s, at byte %zu",
                       num, fd->name, wire_type_name(wt), wire_type_name(want),
                       base + at);
      if (!packed_ok(want, p + start, pos - start))
        return problem(buf, buflen, prefix,
                       "field %u (%s): packed values at byte %zu are malformed",
                       num, fd->name, base + start);
    } else if (fd->type == PROTOBUF_C_TYPE_MESSAGE && depth < MAX_DEPTH) {
      char inner[256];
      snprintf(inner, sizeof(inner), "%sin field %u (%s): ", prefix, num, fd->name);
      if (scan(fd->descriptor, p + start, pos - start, base + start, depth + 1,
               inner, buf, buflen) < 0)
        return -1;
    }
  }
  return 0;
}

void pgmld_wire_explain(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                        size_t len, char *buf, size_t buflen)
{
  if (scan(desc, p, len, 0, 0, "", buf, buflen) == 0)
    snprintf(buf, buflen, "the fields are well-formed but protobuf-c refused them");
}

/* Length of the valid UTF-8 sequence at s, or 0 if s[0] does not start
 * one (overlong forms, surrogates and values past U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s)
{
  unsigned char c = s[0];
  size_t n, i;
  uint32_t cp;

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  for (i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

void pgmld_wire_utf8_copy(char *dst, size_t n, const char *src)
{
  const unsigned char *s = (const unsigned char *)src;
  size_t out = 0;

  while (*s != '\0') {
    size_t k = utf8_seq(s);
    if (k == 0) {
      if (out + 1 >= n)
        break;
      dst[out++] = '?';
      s++;
      continue;
    }
    if (out + k >= n)
      break;
    memcpy(dst + out, s, k);
    out += k;
    s += k;
  }
  dst[out] = '\0';
}
