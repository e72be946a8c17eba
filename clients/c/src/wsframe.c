/* wsframe.c - RFC 6455 framing and handshake checks for the client side
 * (see wsframe.h). */
#include "wsframe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "alloc.h"

/* Reads are offered at least this much space, so that many small messages
 * arriving together cost one read. */
#define MIN_READ (64u * 1024u)

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

size_t pgml__ws_put_header(uint8_t *end, unsigned op, uint64_t len, const uint8_t mask[4])
{
  uint8_t h[PGML_WS_MAX_HEADER];
  size_t n = 0;
  int i;

  h[n++] = (uint8_t)(0x80u | (op & 0x0Fu));
  if (len < 126) {
    h[n++] = (uint8_t)(0x80u | len);
  } else if (len <= 0xFFFFu) {
    h[n++] = 0x80u | 126u;
    h[n++] = (uint8_t)(len >> 8);
    h[n++] = (uint8_t)len;
  } else {
    h[n++] = 0x80u | 127u;
    for (i = 7; i >= 0; i--)
      h[n++] = (uint8_t)(len >> (8 * i));
  }
  memcpy(h + n, mask, 4);
  n += 4;
  memcpy(end - n, h, n);
  return n;
}

void pgml__ws_mask(uint8_t *data, size_t len, const uint8_t mask[4])
{
  size_t i;

  for (i = 0; i < len; i++)
    data[i] ^= mask[i & 3u];
}

void pgml__ws_key_encode(const uint8_t raw[16], char out[PGML_WS_KEY_LEN + 1])
{
  EVP_EncodeBlock((unsigned char *)out, raw, 16);
}

int pgml__ws_accept_for(const char *key, char out[PGML_WS_ACCEPT_LEN + 1])
{
  char joined[128];
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  int n;

  n = snprintf(joined, sizeof(joined), "%s%s", key, ws_guid);
  if (n < 0 || (size_t)n >= sizeof(joined))
    return -EINVAL;
  if (EVP_Digest(joined, (size_t)n, digest, &dlen, EVP_sha1(), NULL) != 1 || dlen != 20)
    return -ENOMEM;
  EVP_EncodeBlock((unsigned char *)out, digest, 20);
  return 0;
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
  return -EPROTO;
}

/* Copies at most out_len-1 printable bytes of [p, p+len) into out. */
static void printable(const char *p, size_t len, char *out, size_t out_len)
{
  size_t i, n = 0;

  for (i = 0; i < len && n + 1 < out_len; i++)
    out[n++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
  out[n] = '\0';
}

/* Whether the comma-separated list [v, v+len) holds `token`
 * (case-insensitively). */
static int has_token(const char *v, size_t len, const char *token)
{
  size_t tl = strlen(token);
  size_t i = 0;

  while (i < len) {
    size_t s, e;
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    s = i;
    while (i < len && v[i] != ',')
      i++;
    e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
      return 1;
  }
  return 0;
}

int pgml__ws_check_response(const char *resp, size_t len, const char *key,
                            int *http_status, char *err, size_t err_len)
{
  char expect[PGML_WS_ACCEPT_LEN + 1];
  char shown[96];
  const char *p = resp, *end = resp + len, *eol;
  int status = 0, upgrade = 0, connection = 0, accept = 0;
  size_t i;

  *http_status = 0;
  eol = memchr(p, '\n', len);
  if (eol == NULL)
    return fail(err, err_len, "the server's answer to the WebSocket upgrade has no status line");
  printable(p, (size_t)(eol - p) - (eol > p && eol[-1] == '\r'), shown, sizeof(shown));
  if ((size_t)(eol - p) < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
    return fail(err, err_len, "the server did not answer the WebSocket upgrade with HTTP: \"%s\"",
                shown);
  for (i = 9; i < 12; i++) {
    if (p[i] < '0' || p[i] > '9')
      return fail(err, err_len, "bad HTTP status line in the server's answer: \"%s\"", shown);
    status = status * 10 + (p[i] - '0');
  }
  *http_status = status;
  if (status != 101)
    return fail(err, err_len, "the server refused the WebSocket upgrade: \"%s\"", shown);
  if (pgml__ws_accept_for(key, expect) < 0)
    return fail(err, err_len, "cannot compute Sec-WebSocket-Accept");

  for (p = eol + 1; p < end; p = eol + 1) {
    const char *colon, *v, *ve;
    size_t nlen;

    eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL)
      eol = end;
    ve = eol;
    if (ve > p && ve[-1] == '\r')
      ve--;
    if (ve == p)
      break;                      /* the blank line */
    colon = memchr(p, ':', (size_t)(ve - p));
    if (colon == NULL) {
      printable(p, (size_t)(ve - p), shown, sizeof(shown));
      return fail(err, err_len, "malformed header line in the server's answer: \"%s\"", shown);
    }
    nlen = (size_t)(colon - p);
    for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
      ;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
      ve--;
#define IS(name) (nlen == sizeof(name) - 1 && strncasecmp(p, name, nlen) == 0)
    if (IS("Upgrade")) {
      upgrade = has_token(v, (size_t)(ve - v), "websocket");
    } else if (IS("Connection")) {
      connection = has_token(v, (size_t)(ve - v), "upgrade");
    } else if (IS("Sec-WebSocket-Accept")) {
      accept = (size_t)(ve - v) == PGML_WS_ACCEPT_LEN &&
               memcmp(v, expect, PGML_WS_ACCEPT_LEN) == 0;
      if (!accept) {
        printable(v, (size_t)(ve - v), shown, sizeof(shown));
        return fail(err, err_len, "the server's Sec-WebSocket-Accept \"%s\" is not \"%s\"",
                    shown, expect);
      }
    } else if (IS("Sec-WebSocket-Protocol")) {
      /* Only the one offered may be chosen; none is fine too. */
      if ((size_t)(ve - v) != sizeof(PGML_WS_SUBPROTOCOL) - 1 ||
          strncmp(v, PGML_WS_SUBPROTOCOL, sizeof(PGML_WS_SUBPROTOCOL) - 1) != 0) {
        printable(v, (size_t)(ve - v), shown, sizeof(shown));
        return fail(err, err_len, "the server chose subprotocol \"%s\", not \"%s\"", shown,
                    PGML_WS_SUBPROTOCOL);
      }
    } else if (IS("Sec-WebSocket-Extensions")) {
      /* None was offered, so none may be in use (RFC 6455 section 4.1). */
      printable(v, (size_t)(ve - v), shown, sizeof(shown));
      return fail(err, err_len, "the server chose a WebSocket extension not offered: \"%s\"",
                  shown);
    }
#undef IS
  }
  if (!upgrade)
    return fail(err, err_len, "the server's answer lacks \"Upgrade: websocket\"");
  if (!connection)
    return fail(err, err_len, "the server's answer lacks \"Connection: Upgrade\"");
  if (!accept)
    return fail(err, err_len, "the server's answer lacks Sec-WebSocket-Accept");
  return 0;
}

void pgml__ws_reader_init(pgml_ws_reader_t *r, uint32_t max_msg)
{
  memset(r, 0, sizeof(*r));
  r->max_msg = max_msg ? max_msg : 16u * 1024u * 1024u;
}

void pgml__ws_reader_free(pgml_ws_reader_t *r)
{
  pgml__free(r->buf);
  pgml__free(r->msg);
  r->buf = r->msg = NULL;
  r->cap = r->start = r->end = 0;
  r->msg_len = r->msg_cap = 0;
  r->in_msg = 0;
}

/* Parses the header at the front of the input: 1 with the header's length
 * and the payload length, 0 when incomplete. */
static int peek_header(const pgml_ws_reader_t *r, size_t *hlen, uint64_t *plen)
{
  size_t pending = r->end - r->start;
  const uint8_t *p;
  unsigned len7;
  int i;

  if (pending < 2)
    return 0;
  p = r->buf + r->start;
  len7 = p[1] & 0x7Fu;
  *hlen = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((p[1] & 0x80u) ? 4 : 0);
  if (pending < *hlen)
    return 0;
  if (len7 < 126) {
    *plen = len7;
  } else if (len7 == 126) {
    *plen = ((uint64_t)p[2] << 8) | p[3];
  } else {
    *plen = 0;
    for (i = 0; i < 8; i++)
      *plen = (*plen << 8) | p[2 + i];
  }
  return 1;
}

int pgml__ws_reader_space(pgml_ws_reader_t *r, size_t want, uint8_t **out, size_t *out_len)
{
  size_t pending = r->end - r->start;
  size_t need = want > MIN_READ ? want : MIN_READ;
  size_t hlen;
  uint64_t plen;

  /* With the header in, make room for the whole frame at once; the length is
   * trusted only when within max_msg (next() refuses it otherwise). */
  if (peek_header(r, &hlen, &plen) && plen <= r->max_msg) {
    size_t frame = hlen + (size_t)plen;
    if (frame > pending && frame - pending > need)
      need = frame - pending;
  }
  if (r->start > 0 && r->cap - r->end < need) {
    memmove(r->buf, r->buf + r->start, pending);
    r->start = 0;
    r->end = pending;
  }
  if (r->cap - r->end < need) {
    size_t cap = r->cap ? r->cap : MIN_READ;
    uint8_t *nb;
    while (cap - r->end < need)
      cap *= 2;
    nb = pgml__realloc(r->buf, cap);
    if (nb == NULL)
      return -ENOMEM;
    r->buf = nb;
    r->cap = cap;
  }
  *out = r->buf + r->end;
  *out_len = r->cap - r->end;
  return 0;
}

void pgml__ws_reader_commit(pgml_ws_reader_t *r, size_t n)
{
  r->end += n;
}

__attribute__((format(printf, 4, 5)))
static int reader_fail(pgml_ws_reader_t *r, int rc, unsigned close_code, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(r->err, sizeof(r->err), fmt, ap);
  va_end(ap);
  r->close_code = close_code;
  return rc;
}

/* Whether a status may appear in a Close frame (RFC 6455 section 7.4). */
static int close_code_valid(unsigned code)
{
  if (code >= 3000 && code <= 4999)
    return 1;
  return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

static int append(pgml_ws_reader_t *r, const uint8_t *p, size_t len)
{
  if (len == 0)
    return 0;
  if (r->msg_cap - r->msg_len < len) {
    size_t cap = r->msg_cap ? r->msg_cap : 4096;
    uint8_t *nm;
    while (cap - r->msg_len < len)
      cap *= 2;
    nm = pgml__realloc(r->msg, cap);
    if (nm == NULL)
      return reader_fail(r, -ENOMEM, PGML_WS_CLOSE_TOO_BIG,
                         "out of memory reassembling a message of %zu bytes", r->msg_len + len);
    r->msg = nm;
    r->msg_cap = cap;
  }
  memcpy(r->msg + r->msg_len, p, len);
  r->msg_len += len;
  return 0;
}

int pgml__ws_reader_next(pgml_ws_reader_t *r, pgml_ws_msg_t *msg)
{
  for (;;) {
    size_t pending = r->end - r->start;
    const uint8_t *p;
    size_t hlen, len;
    uint64_t plen;
    unsigned fin, op;
    int rc;

    if (pending < 2)
      break;
    p = r->buf + r->start;
    fin = p[0] & 0x80u;
    op = p[0] & 0x0Fu;
    if (p[0] & 0x70u)
      return reader_fail(r, -EPROTO, PGML_WS_CLOSE_PROTOCOL,
                         "the server set reserved bits 0x%02x in a frame header "
                         "(no extension was negotiated)", p[0] & 0x70u);
    /* Section 5.1: a client must close on a masked frame from the server. */
    if (p[1] & 0x80u)
      return reader_fail(r, -EPROTO, PGML_WS_CLOSE_PROTOCOL,
                         "the server sent a masked frame (servers must not mask)");
    switch (op) {
    case PGML_WS_CONT: case PGML_WS_BINARY:
    case PGML_WS_CLOSE: case PGML_WS_PING: case PGML_WS_PONG:
      break;
    case PGML_WS_TEXT:
      return reader_fail(r, -EPROTO, PGML_WS_CLOSE_UNSUPPORTED,
                         "the server sent a text message; pgmld frames are binary messages");
    default:
      return reader_fail(r, -EPROTO, PGML_WS_CLOSE_PROTOCOL,
                         "the server sent a frame with reserved opcode 0x%x", op);
    }
    if (!peek_header(r, &hlen, &plen))
      break;
    if ((p[1] & 0x7Fu) == 127 && (plen >> 63))
      return reader_fail(r, -EPROTO, PGML_WS_CLOSE_PROTOCOL,
                         "the server sent a 64-bit frame length with the top bit set");
    if (((p[1] & 0x7Fu) == 126 && plen < 126) || ((p[1] & 0x7Fu) == 127 && plen <= 0xFFFFu))
      return reader_fail(r, -EPROTO, PGML_WS_CLOSE_PROTOCOL,
                         "the server encoded a frame length of %llu in more bytes than needed",
                         (unsigned long long)plen);
    if (op >= PGML_WS_CLOSE) {
      if (!fin)
        return reader_fail(r, -EPROTO, PGML_WS_CLOSE_PROTOCOL,
                           "the server fragmented a control frame (opcode 0x%x)", op);
      if (plen > PGML_WS_MAX_CONTROL)
        return reader_fail(r, -EPROTO, PGML_WS_CLOSE_PROTOCOL,
                           "the server sent a control frame of %llu bytes, over 125",
                           (unsigned long long)plen);
    } else {
      size_t so_far = r->in_msg ? r->msg_len : 0;
      if (op == PGML_WS_CONT && !r->in_msg)
        return reader_fail(r, -EPROTO, PGML_WS_CLOSE_PROTOCOL,
                           "the server sent a continuation frame with no message to continue");
      if (op != PGML_WS_CONT && r->in_msg)
        return reader_fail(r, -EPROTO, PGML_WS_CLOSE_PROTOCOL,
                           "the server started a new message before finishing a fragmented one");
      /* Checked from the header, before anything is allocated for it. */
      if (plen > r->max_msg || so_far > r->max_msg - plen)
        return reader_fail(r, -EMSGSIZE, PGML_WS_CLOSE_TOO_BIG,
                           "the server sent a message of %llu bytes or more, over "
                           "max_frame_size %u", (unsigned long long)(so_far + plen),
                           r->max_msg);
    }
    if (pending - hlen < plen)
      break;
    len = (size_t)plen;
    p += hlen;
    r->start += hlen + len;

    if (op >= PGML_WS_CLOSE) {
      memset(msg, 0, sizeof(*msg));
      msg->op = op;
      msg->data = p;
      msg->len = len;
      if (op == PGML_WS_CLOSE) {
        msg->close_code = 1005;
        if (len == 1)
          return reader_fail(r, -EPROTO, PGML_WS_CLOSE_PROTOCOL,
                             "the server sent a close frame with a 1-byte payload");
        if (len >= 2) {
          msg->close_code = ((unsigned)p[0] << 8) | p[1];
          if (!close_code_valid(msg->close_code))
            return reader_fail(r, -EPROTO, PGML_WS_CLOSE_PROTOCOL,
                               "the server sent a close frame with invalid status %u",
                               msg->close_code);
          msg->data = p + 2;
          msg->len = len - 2;
        }
      }
      return 1;
    }
    if (fin && op != PGML_WS_CONT) {
      memset(msg, 0, sizeof(*msg));
      msg->op = PGML_WS_BINARY;
      msg->data = p;
      msg->len = len;
      return 1;
    }
    if (op != PGML_WS_CONT) {
      r->in_msg = 1;
      r->msg_len = 0;
    }
    rc = append(r, p, len);
    if (rc < 0)
      return rc;
    if (fin) {
      r->in_msg = 0;
      memset(msg, 0, sizeof(*msg));
      msg->op = PGML_WS_BINARY;
      msg->data = r->msg;
      msg->len = r->msg_len;
      return 1;
    }
  }
  /* Nothing unconsumed: rewind so that the buffer does not creep forward. */
  if (r->end == r->start)
    r->start = r->end = 0;
  return 0;
}
