/* test_ws.c - libpgml's WebSocket framing (wsframe.c) table-driven, and the
 * ws:// transport (ws.c) against a tiny scripted WebSocket server in the
 * test: handshake checks, fragmented and masked frames, pings, close
 * frames, oversized messages, refused upgrades, bad addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "pgml/client.h"
#include "pgml/v1/frame.pb-c.h"
#include "wsframe.h"

/* ------------------------------------------------------------- decoder */

/* Appends a server frame (unmasked unless `mask`) to out. */
static size_t put_frame(uint8_t *out, int fin, unsigned op, int mask, const void *data,
                        size_t len)
{
  size_t n = 0;
  static const uint8_t key[4] = {1, 2, 3, 4};
  size_t i;

  out[n++] = (uint8_t)((fin ? 0x80u : 0u) | op);
  if (len < 126) {
    out[n++] = (uint8_t)((mask ? 0x80u : 0u) | len);
  } else if (len <= 0xFFFF) {
    out[n++] = (uint8_t)((mask ? 0x80u : 0u) | 126u);
    out[n++] = (uint8_t)(len >> 8);
    out[n++] = (uint8_t)len;
  } else {
    out[n++] = (uint8_t)((mask ? 0x80u : 0u) | 127u);
    for (i = 0; i < 8; i++)
      out[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  }
  if (mask) {
    memcpy(out + n, key, 4);
    n += 4;
  }
  for (i = 0; i < len; i++)
    out[n + i] = (uint8_t)(((const uint8_t *)data)[i] ^ (mask ? key[i & 3] : 0));
  return n + len;
}

typedef struct {
  const char *name;
  uint8_t in[512];
  size_t in_len;
  uint32_t max;
  int want_rc;              /* of the last next() */
  const char *want_err;     /* substring of r.err */
  unsigned want_ops[4];     /* ops of the messages before it */
  const char *want_data[4];
  size_t nmsgs;
} dec_case_t;

/* Feeds `in` `chunk` bytes at a time and collects what comes out. */
static void run_case(const dec_case_t *c, size_t chunk)
{
  pgml_ws_reader_t r;
  size_t off = 0, got = 0;
  int rc = 0;

  pgml__ws_reader_init(&r, c->max);
  while (off < c->in_len && rc >= 0) {
    uint8_t *space;
    size_t room, n = c->in_len - off < chunk ? c->in_len - off : chunk;
    pgml_ws_msg_t m;

    assert_int_equal(pgml__ws_reader_space(&r, n, &space, &room), 0);
    assert_true(room >= n);
    memcpy(space, c->in + off, n);
    pgml__ws_reader_commit(&r, n);
    off += n;
    while ((rc = pgml__ws_reader_next(&r, &m)) == 1) {
      if (got >= c->nmsgs)
        fail_msg("%s: unexpected message op %u", c->name, m.op);
      assert_int_equal(m.op, c->want_ops[got]);
      assert_int_equal(m.len, strlen(c->want_data[got]));
      assert_memory_equal(m.data, c->want_data[got], m.len);
      got++;
    }
  }
  if (rc != c->want_rc)
    fail_msg("%s (chunks of %zu): rc %d, want %d (%s)", c->name, chunk, rc, c->want_rc, r.err);
  assert_int_equal(got, c->nmsgs);
  if (c->want_err != NULL && strstr(r.err, c->want_err) == NULL)
    fail_msg("%s: error \"%s\" lacks \"%s\"", c->name, r.err, c->want_err);
  pgml__ws_reader_free(&r);
}

static void test_decoder(void **state)
{
  static dec_case_t cases[16];
  size_t n = 0, i;
  uint8_t big[300];
  dec_case_t *c;

  (void)state;
  memset(big, 'x', sizeof(big));
  memset(cases, 0, sizeof(cases));

  c = &cases[n++];
  c->name = "one binary message";
  c->in_len = put_frame(c->in, 1, PGML_WS_BINARY, 0, "hello", 5);
  c->nmsgs = 1, c->want_ops[0] = PGML_WS_BINARY, c->want_data[0] = "hello";

  c = &cases[n++];
  c->name = "fragments with a ping between them";
  c->in_len = put_frame(c->in, 0, PGML_WS_BINARY, 0, "he", 2);
  c->in_len += put_frame(c->in + c->in_len, 1, PGML_WS_PING, 0, "p", 1);
  c->in_len += put_frame(c->in + c->in_len, 0, PGML_WS_CONT, 0, "", 0);
  c->in_len += put_frame(c->in + c->in_len, 1, PGML_WS_CONT, 0, "llo", 3);
  c->in_len += put_frame(c->in + c->in_len, 1, PGML_WS_BINARY, 0, "x", 1);
  c->nmsgs = 3;
  c->want_ops[0] = PGML_WS_PING, c->want_data[0] = "p";
  c->want_ops[1] = PGML_WS_BINARY, c->want_data[1] = "hello";
  c->want_ops[2] = PGML_WS_BINARY, c->want_data[2] = "x";

  c = &cases[n++];
  c->name = "masked frame from the server";
  c->in_len = put_frame(c->in, 1, PGML_WS_BINARY, 1, "hello", 5);
  c->want_rc = -EPROTO, c->want_err = "masked";

  c = &cases[n++];
  c->name = "continuation without a start";
  c->in_len = put_frame(c->in, 1, PGML_WS_CONT, 0, "a", 1);
  c->want_rc = -EPROTO, c->want_err = "continuation";

  c = &cases[n++];
  c->name = "new message inside a fragmented one";
  c->in_len = put_frame(c->in, 0, PGML_WS_BINARY, 0, "a", 1);
  c->in_len += put_frame(c->in + c->in_len, 1, PGML_WS_BINARY, 0, "b", 1);
  c->want_rc = -EPROTO, c->want_err = "before finishing";

  c = &cases[n++];
  c->name = "text message";
  c->in_len = put_frame(c->in, 1, PGML_WS_TEXT, 0, "hi", 2);
  c->want_rc = -EPROTO, c->want_err = "text";

  c = &cases[n++];
  c->name = "reserved bits";
  c->in_len = put_frame(c->in, 1, PGML_WS_BINARY, 0, "hi", 2);
  c->in[0] |= 0x40;
  c->want_rc = -EPROTO, c->want_err = "reserved bits";

  c = &cases[n++];
  c->name = "reserved opcode";
  c->in_len = put_frame(c->in, 1, 0x3, 0, "hi", 2);
  c->want_rc = -EPROTO, c->want_err = "opcode 0x3";

  c = &cases[n++];
  c->name = "fragmented ping";
  c->in_len = put_frame(c->in, 0, PGML_WS_PING, 0, "hi", 2);
  c->want_rc = -EPROTO, c->want_err = "fragmented a control";

  c = &cases[n++];
  c->name = "ping over 125 bytes";
  c->in_len = put_frame(c->in, 1, PGML_WS_PING, 0, big, 126);
  c->want_rc = -EPROTO, c->want_err = "over 125";

  c = &cases[n++];
  c->name = "message over the limit, refused from its header";
  c->in_len = put_frame(c->in, 1, PGML_WS_BINARY, 0, big, 300);
  c->in_len = 4;   /* only the header: nothing was allocated for the body */
  c->max = 100;
  c->want_rc = -EMSGSIZE, c->want_err = "over max_frame_size 100";

  c = &cases[n++];
  c->name = "fragments adding up over the limit";
  c->in_len = put_frame(c->in, 0, PGML_WS_BINARY, 0, big, 60);
  c->in_len += put_frame(c->in + c->in_len, 1, PGML_WS_CONT, 0, big, 60);
  c->max = 100;
  c->want_rc = -EMSGSIZE, c->want_err = "max_frame_size";

  c = &cases[n++];
  c->name = "close with status and reason";
  c->in_len = put_frame(c->in, 1, PGML_WS_CLOSE, 0, "\x03\xe8" "bye", 5);
  c->nmsgs = 1, c->want_ops[0] = PGML_WS_CLOSE, c->want_data[0] = "bye";

  c = &cases[n++];
  c->name = "close with a 1-byte payload";
  c->in_len = put_frame(c->in, 1, PGML_WS_CLOSE, 0, "\x03", 1);
  c->want_rc = -EPROTO, c->want_err = "1-byte";

  c = &cases[n++];
  c->name = "close with an invalid status";
  c->in_len = put_frame(c->in, 1, PGML_WS_CLOSE, 0, "\x03\xed", 2);
  c->want_rc = -EPROTO, c->want_err = "invalid status 1005";

  c = &cases[n++];
  c->name = "length in more bytes than needed";
  c->in[0] = 0x82, c->in[1] = 126, c->in[2] = 0, c->in[3] = 5;
  memcpy(c->in + 4, "hello", 5);
  c->in_len = 9;
  c->want_rc = -EPROTO, c->want_err = "more bytes than needed";

  for (i = 0; i < n; i++) {
    run_case(&cases[i], cases[i].in_len);
    run_case(&cases[i], 1);
    run_case(&cases[i], 3);
  }
}

static void test_large_and_header(void **state)
{
  static const size_t lens[] = {0, 125, 126, 65535, 65536, 200000};
  static const size_t hlens[] = {6, 6, 8, 8, 14, 14};
  uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    uint8_t *buf = malloc(PGML_WS_MAX_HEADER + lens[i] + 1);
    uint8_t *body = buf + PGML_WS_MAX_HEADER;
    size_t h;

    assert_non_null(buf);
    memset(body, 'q', lens[i]);
    h = pgml__ws_put_header(body, PGML_WS_BINARY, lens[i], mask);
    assert_int_equal(h, hlens[i]);
    assert_int_equal(*(body - h), 0x82);
    assert_true(*(body - h + 1) & 0x80);           /* masked */
    assert_memory_equal(body - 4, mask, 4);
    pgml__ws_mask(body, lens[i], mask);
    if (lens[i] > 0)
      assert_int_equal(body[0], 'q' ^ 0xde);
    pgml__ws_mask(body, lens[i], mask);
    if (lens[i] > 5)
      assert_int_equal(body[5], 'q');
    free(buf);
  }

  /* A 200,000-byte message read in chunks. */
  {
    size_t len = 200000, off = 0;
    uint8_t *in = malloc(len + 16);
    uint8_t *payload = malloc(len);
    pgml_ws_reader_t r;
    pgml_ws_msg_t m;
    int rc = 0;

    assert_non_null(in);
    assert_non_null(payload);
    for (i = 0; i < len; i++)
      payload[i] = (uint8_t)(i * 7);
    len = put_frame(in, 1, PGML_WS_BINARY, 0, payload, 200000);
    pgml__ws_reader_init(&r, 0);
    while (off < len) {
      uint8_t *space;
      size_t room, n;
      assert_int_equal(pgml__ws_reader_space(&r, 1000, &space, &room), 0);
      n = len - off < 777 ? len - off : 777;
      memcpy(space, in + off, n);
      pgml__ws_reader_commit(&r, n);
      off += n;
      rc = pgml__ws_reader_next(&r, &m);
      if (off < len)
        assert_int_equal(rc, 0);
    }
    assert_int_equal(rc, 1);
    assert_int_equal(m.len, 200000);
    assert_memory_equal(m.data, payload, 200000);
    pgml__ws_reader_free(&r);
    free(in);
    free(payload);
  }
}

static void test_handshake_checks(void **state)
{
  /* RFC 6455 section 1.3's example. */
  const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
  char accept[PGML_WS_ACCEPT_LEN + 1], err[200], resp[512];
  uint8_t raw[16];
  int status;

  (void)state;
  assert_int_equal(pgml__ws_accept_for(key, accept), 0);
  assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  memcpy(raw, "the sample nonce", 16);
  pgml__ws_key_encode(raw, accept);
  assert_string_equal(accept, key);

#define OK_HEAD "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n" \
                "Connection: keep-alive, Upgrade\r\n"
  snprintf(resp, sizeof(resp), OK_HEAD
           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
           "Sec-WebSocket-Protocol: pgml.v1\r\n\r\n");
  assert_int_equal(pgml__ws_check_response(resp, strlen(resp), key, &status, err,
                                           sizeof(err)), 0);
  assert_int_equal(status, 101);

  snprintf(resp, sizeof(resp), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  assert_int_equal(pgml__ws_check_response(resp, strlen(resp), key, &status, err,
                                           sizeof(err)), -EPROTO);
  assert_int_equal(status, 404);
  assert_non_null(strstr(err, "refused the WebSocket upgrade: \"HTTP/1.1 404 Not Found\""));

  snprintf(resp, sizeof(resp), OK_HEAD "Sec-WebSocket-Accept: AAAALMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  assert_int_equal(pgml__ws_check_response(resp, strlen(resp), key, &status, err,
                                           sizeof(err)), -EPROTO);
  assert_non_null(strstr(err, "Sec-WebSocket-Accept"));

  snprintf(resp, sizeof(resp), "HTTP/1.1 101 OK\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  assert_int_equal(pgml__ws_check_response(resp, strlen(resp), key, &status, err,
                                           sizeof(err)), -EPROTO);
  assert_non_null(strstr(err, "Upgrade: websocket"));

  snprintf(resp, sizeof(resp), OK_HEAD "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
           "Sec-WebSocket-Protocol: chat\r\n\r\n");
  assert_int_equal(pgml__ws_check_response(resp, strlen(resp), key, &status, err,
                                           sizeof(err)), -EPROTO);
  assert_non_null(strstr(err, "subprotocol \"chat\""));

  snprintf(resp, sizeof(resp), OK_HEAD "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
           "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n");
  assert_int_equal(pgml__ws_check_response(resp, strlen(resp), key, &status, err,
                                           sizeof(err)), -EPROTO);
  assert_non_null(strstr(err, "extension"));

  snprintf(resp, sizeof(resp), "SSH-2.0-OpenSSH\r\n\r\n");
  assert_int_equal(pgml__ws_check_response(resp, strlen(resp), key, &status, err,
                                           sizeof(err)), -EPROTO);
  assert_int_equal(status, 0);
#undef OK_HEAD
}

static void test_addresses(void **state)
{
  static const char *bad[] = {
    "ws://", "ws://:80/v1", "ws://h:0/v1", "ws://h:65536", "ws://h:x/v1", "ws://h:/v1",
    "ws://[::1/v1", "ws://user@h:1/v1", "ws://h:1/a b", "wss://h:99999999/",
  };
  static const char *good[] = {
    "ws://127.0.0.1:7700/v1", "ws://localhost", "wss://[::1]:8443/v1", "ws://h:1/v1?x=1",
  };
  pgml_client_options_t o;
  pgml_client_t *c;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (pgml_client_new(bad[i], NULL, &c) != -EINVAL)
      fail_msg("%s was accepted", bad[i]);
  }
  for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    if (pgml_client_new(good[i], NULL, &c) != 0)
      fail_msg("%s was refused", good[i]);
    pgml_client_free(c);
  }
  memset(&o, 0, sizeof(o));
  o.token = "has space";
  assert_int_equal(pgml_client_new("ws://h:1/v1", &o, &c), -EINVAL);
  o.token = "line\r\nX-Injected: 1";
  assert_int_equal(pgml_client_new("ws://h:1/v1", &o, &c), -EINVAL);
  o.token = "";
  assert_int_equal(pgml_client_new("ws://h:1/v1", &o, &c), -EINVAL);
  o.token = "s3cr3t-token";
  o.ca_file = "";
  assert_int_equal(pgml_client_new("wss://h:1/v1", &o, &c), -EINVAL);
  o.ca_file = NULL;
  assert_int_equal(pgml_client_new("ws://h:1/v1", &o, &c), 0);
  pgml_client_free(c);
  assert_int_equal(pgml_client_new("gopher://h:1/v1", NULL, &c), -EPROTONOSUPPORT);
}

/* ------------------------------------------------------- scripted server */

typedef enum { HS_OK, HS_REFUSE, HS_BAD_ACCEPT } hs_mode_t;

typedef struct {
  int lfd, fd;
  uint16_t port;
  hs_mode_t mode;
  int upgraded;
  char request[2048];       /* the upgrade request received */
  uint8_t in[1 << 20];
  size_t in_len;
  uint8_t out[1 << 18];
  size_t out_len, out_off;
  /* client messages received, unmasked */
  unsigned ops[64];
  uint8_t *data[64];
  size_t lens[64];
  size_t nmsgs;
  int unmasked_seen;        /* a client frame without the mask bit */
} srv_t;

static void srv_start(srv_t *s, hs_mode_t mode)
{
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);

  memset(s, 0, sizeof(*s));
  s->fd = -1;
  s->mode = mode;
  s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(s->lfd >= 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(s->lfd, 4), 0);
  assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
  s->port = ntohs(a.sin_port);
}

static void srv_stop(srv_t *s)
{
  size_t i;

  if (s->fd >= 0)
    close(s->fd);
  close(s->lfd);
  for (i = 0; i < s->nmsgs; i++)
    free(s->data[i]);
}

static void srv_queue(srv_t *s, const void *p, size_t len)
{
  assert_true(s->out_len + len <= sizeof(s->out));
  memcpy(s->out + s->out_len, p, len);
  s->out_len += len;
}

static void srv_frame(srv_t *s, int fin, unsigned op, int mask, const void *data, size_t len)
{
  uint8_t *f = malloc(len + 16);

  assert_non_null(f);
  srv_queue(s, f, put_frame(f, fin, op, mask, data, len));
  free(f);
}

/* The header value of `name` in the request, or "". */
static void header_of(const char *req, const char *name, char *out, size_t out_len)
{
  const char *p = strstr(req, name), *e;

  out[0] = '\0';
  if (p == NULL)
    return;
  p += strlen(name);
  while (*p == ' ')
    p++;
  e = strstr(p, "\r\n");
  snprintf(out, out_len, "%.*s", (int)(e ? e - p : 0), p);
}

static void srv_handshake(srv_t *s)
{
  char key[64], accept[PGML_WS_ACCEPT_LEN + 1], resp[512];
  uint8_t *eoh = NULL;
  size_t i, hl;

  for (i = 0; i + 4 <= s->in_len; i++)
    if (memcmp(s->in + i, "\r\n\r\n", 4) == 0) {
      eoh = s->in + i + 4;
      break;
    }
  if (eoh == NULL)
    return;
  hl = (size_t)(eoh - s->in);
  assert_true(hl < sizeof(s->request));
  memcpy(s->request, s->in, hl);
  s->request[hl] = '\0';
  memmove(s->in, eoh, s->in_len - hl);
  s->in_len -= hl;
  header_of(s->request, "Sec-WebSocket-Key:", key, sizeof(key));
  assert_int_equal(pgml__ws_accept_for(key, accept), 0);
  if (s->mode == HS_REFUSE) {
    srv_queue(s, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 45);
    return;
  }
  if (s->mode == HS_BAD_ACCEPT)
    accept[0] = accept[0] == 'A' ? 'B' : 'A';
  snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
           "Sec-WebSocket-Protocol: pgml.v1\r\n\r\n", accept);
  srv_queue(s, resp, strlen(resp));
  s->upgraded = 1;
}

/* Takes whole client frames out of s->in. */
static void srv_parse(srv_t *s)
{
  for (;;) {
    uint8_t *p = s->in;
    size_t h = 2, len, i;
    uint8_t key[4] = {0, 0, 0, 0};

    if (s->in_len < 2)
      return;
    len = p[1] & 0x7Fu;
    if (len == 126)
      h += 2;
    else if (len == 127)
      h += 8;
    if (p[1] & 0x80)
      h += 4;
    else
      s->unmasked_seen = 1;
    if (s->in_len < h)
      return;
    if (len == 126)
      len = ((size_t)p[2] << 8) | p[3];
    else if (len == 127)
      for (len = 0, i = 0; i < 8; i++)
        len = (len << 8) | p[2 + i];
    if (s->in_len < h + len)
      return;
    if (p[1] & 0x80)
      memcpy(key, p + h - 4, 4);
    assert_true(s->nmsgs < 64);
    s->ops[s->nmsgs] = p[0] & 0x0Fu;
    s->data[s->nmsgs] = malloc(len + 1);
    for (i = 0; i < len; i++)
      s->data[s->nmsgs][i] = p[h + i] ^ key[i & 3];
    s->lens[s->nmsgs++] = len;
    memmove(s->in, s->in + h + len, s->in_len - h - len);
    s->in_len -= h + len;
  }
}

static unsigned to_pgml(short re)
{
  return (re & (POLLIN | POLLHUP | POLLERR) ? PGML_EV_READ : 0u) |
         (re & (POLLOUT | POLLERR) ? PGML_EV_WRITE : 0u);
}

static void pump(srv_t *s, pgml_client_t *c)
{
  struct pollfd p[3];
  nfds_t n = 0;
  int ci = -1, si = -1;
  unsigned cev = pgml_client_events(c);

  p[n].fd = s->lfd, p[n].events = POLLIN, p[n++].revents = 0;
  if (s->fd >= 0) {
    si = (int)n;
    p[n].fd = s->fd;
    p[n].events = (short)(POLLIN | (s->out_off < s->out_len ? POLLOUT : 0));
    p[n++].revents = 0;
  }
  if (pgml_client_fd(c) >= 0) {
    ci = (int)n;
    p[n].fd = pgml_client_fd(c);
    p[n].events = (short)((cev & PGML_EV_READ ? POLLIN : 0) | (cev & PGML_EV_WRITE ? POLLOUT : 0));
    p[n++].revents = 0;
  }
  assert_true(poll(p, n, 5) >= 0);
  assert_int_equal(pgml_client_step(c, ci >= 0 ? to_pgml(p[ci].revents) : 0), 0);
  if ((p[0].revents & POLLIN) && s->fd < 0) {
    s->fd = accept(s->lfd, NULL, NULL);
    assert_true(s->fd >= 0);
    assert_int_equal(fcntl(s->fd, F_SETFL, O_NONBLOCK), 0);
  }
  if (si >= 0 && (p[si].revents & (POLLIN | POLLHUP | POLLERR))) {
    ssize_t r = read(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len);
    if (r > 0) {
      s->in_len += (size_t)r;
      if (!s->upgraded)
        srv_handshake(s);
      if (s->upgraded)
        srv_parse(s);
    } else if (r == 0) {
      close(s->fd);
      s->fd = -1;
      return;
    }
  }
  if (s->fd >= 0 && s->out_off < s->out_len) {
    ssize_t w = write(s->fd, s->out + s->out_off, s->out_len - s->out_off);
    if (w > 0)
      s->out_off += (size_t)w;
    if (s->out_off == s->out_len)
      s->out_off = s->out_len = 0;
  }
}

#define PUMP_UNTIL(s, c, cond)                                                 \
  do {                                                                         \
    int rounds_ = 0;                                                           \
    while (!(cond)) {                                                          \
      if (++rounds_ > 20000)                                                   \
        fail_msg("gave up waiting for %s", #cond);                             \
      pump(s, c);                                                              \
    }                                                                          \
  } while (0)

typedef struct {
  int runs;
  pgml_code_t code;
  char message[1024];
  char payload[256];
  size_t payload_len;
} seen_t;

static void on_done(pgml_client_t *c, const pgml_result_t *res, void *ud)
{
  seen_t *s = ud;

  (void)c;
  s->runs++;
  s->code = res->code;
  snprintf(s->message, sizeof(s->message), "%s", res->message);
  s->payload_len = res->payload_len;
  if (res->payload_len > 0 && res->payload_len < sizeof(s->payload))
    memcpy(s->payload, res->payload, res->payload_len);
}

/* The REQUEST frame in client message i, unpacked (free with
 * pgml__v1__frame__free_unpacked). */
static Pgml__V1__Frame *request_in(srv_t *s, size_t i)
{
  Pgml__V1__Frame *f;

  assert_true(i < s->nmsgs);
  assert_int_equal(s->ops[i], PGML_WS_BINARY);
  f = pgml__v1__frame__unpack(NULL, s->lens[i], s->data[i]);
  assert_non_null(f);
  return f;
}

/* An encoded RESPONSE for id with payload; returns its length. */
static size_t response(uint64_t id, const char *payload, uint8_t *out)
{
  Pgml__V1__Frame f = PGML__V1__FRAME__INIT;

  f.id = id;
  f.kind = PGML__V1__FRAME__KIND__RESPONSE;
  f.payload.data = (uint8_t *)payload;
  f.payload.len = strlen(payload);
  return pgml__v1__frame__pack(&f, out);
}

/* A client connected to the scripted server, one call sent and the REQUEST
 * received; returns its id. */
static uint64_t start_call(srv_t *s, pgml_client_t **c, const pgml_client_options_t *o,
                           seen_t *seen)
{
  char addr[64];
  Pgml__V1__Frame *f;
  uint64_t id;

  snprintf(addr, sizeof(addr), "ws://127.0.0.1:%u/v1", s->port);
  assert_int_equal(pgml_client_new(addr, o, c), 0);
  assert_int_equal(pgml_call_raw(*c, "Ping", "ping!", 5, NULL, on_done, seen, NULL), 0);
  PUMP_UNTIL(s, *c, s->nmsgs >= 1 || seen->runs > 0);
  assert_int_equal(seen->runs, 0);
  f = request_in(s, 0);
  assert_string_equal(f->method, "pgml.v1.Database/Ping");
  assert_int_equal(f->payload.len, 5);
  id = f->id;
  pgml__v1__frame__free_unpacked(f, NULL);
  return id;
}

static void test_transport_fragmented(void **state)
{
  srv_t *s = malloc(sizeof(*s));
  pgml_client_options_t o;
  pgml_client_t *c;
  seen_t seen;
  uint8_t resp[256];
  size_t n;
  uint64_t id;
  char hv[128];

  (void)state;
  memset(&o, 0, sizeof(o));
  memset(&seen, 0, sizeof(seen));
  o.token = "tok-123";
  srv_start(s, HS_OK);
  id = start_call(s, &c, &o, &seen);
  /* The upgrade request: path, subprotocol, token, and every client frame
   * masked. */
  assert_non_null(strstr(s->request, "GET /v1 HTTP/1.1\r\n"));
  header_of(s->request, "Sec-WebSocket-Protocol:", hv, sizeof(hv));
  assert_string_equal(hv, "pgml.v1");
  header_of(s->request, "Authorization:", hv, sizeof(hv));
  assert_string_equal(hv, "Bearer tok-123");
  header_of(s->request, "Host:", hv, sizeof(hv));
  assert_non_null(strstr(hv, "127.0.0.1:"));
  assert_false(s->unmasked_seen);

  /* The answer in three fragments with a ping between them. */
  n = response(id, "pong!", resp);
  srv_frame(s, 0, PGML_WS_BINARY, 0, resp, 3);
  srv_frame(s, 1, PGML_WS_PING, 0, "are you there", 13);
  srv_frame(s, 0, PGML_WS_CONT, 0, resp + 3, 4);
  srv_frame(s, 1, PGML_WS_CONT, 0, resp + 7, n - 7);
  PUMP_UNTIL(s, c, seen.runs == 1 && s->nmsgs >= 2);
  assert_int_equal(seen.code, PGML_OK);
  assert_int_equal(seen.payload_len, 5);
  assert_memory_equal(seen.payload, "pong!", 5);
  assert_int_equal(s->ops[1], PGML_WS_PONG);
  assert_int_equal(s->lens[1], 13);
  assert_memory_equal(s->data[1], "are you there", 13);
  assert_false(s->unmasked_seen);
  pgml_client_free(c);
  srv_stop(s);
  free(s);
}

typedef struct {
  const char *name;
  hs_mode_t mode;
  uint32_t max_frame;
  int what;                 /* 0 masked, 1 close, 2 oversized, 3 text, 4 eof */
  const char *want;         /* in the call's message */
  unsigned want_close;      /* the close status the client sends, 0: none */
} fail_case_t;

static void test_transport_failures(void **state)
{
  static const fail_case_t cases[] = {
    {"masked frame", HS_OK, 0, 0, "connection lost: the server sent a masked frame", 1002},
    {"close frame", HS_OK, 0, 1, "the server closed the WebSocket connection (status 1008: "
                                 "go away)", 1008},
    {"oversized", HS_OK, 1024, 2, "message of 2000 bytes or more, over max_frame_size 1024",
     1009},
    {"text message", HS_OK, 0, 3, "text message", 1003},
    {"upgrade refused", HS_REFUSE, 0, -1, "cannot connect: the server refused the WebSocket "
                                          "upgrade: \"HTTP/1.1 403 Forbidden\"", 0},
    {"bad accept", HS_BAD_ACCEPT, 0, -1, "cannot connect: the server's Sec-WebSocket-Accept",
     0},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const fail_case_t *fc = &cases[i];
    srv_t *s = malloc(sizeof(*s));
    pgml_client_options_t o;
    pgml_client_t *c;
    seen_t seen;
    char addr[64];
    uint8_t big[2000];

    memset(&o, 0, sizeof(o));
    memset(&seen, 0, sizeof(seen));
    o.max_frame_size = fc->max_frame;
    srv_start(s, fc->mode);
    if (fc->what < 0) {
      snprintf(addr, sizeof(addr), "ws://127.0.0.1:%u/v1", s->port);
      assert_int_equal(pgml_client_new(addr, &o, &c), 0);
      assert_int_equal(pgml_call_raw(c, "Ping", "x", 1, NULL, on_done, &seen, NULL), 0);
    } else {
      start_call(s, &c, &o, &seen);
      switch (fc->what) {
      case 0: srv_frame(s, 1, PGML_WS_BINARY, 1, "abc", 3); break;
      case 1: srv_frame(s, 1, PGML_WS_CLOSE, 0, "\x03\xf0go away", 9); break;
      case 2:
        memset(big, 0, sizeof(big));
        srv_frame(s, 1, PGML_WS_BINARY, 0, big, sizeof(big));
        break;
      case 3: srv_frame(s, 1, PGML_WS_TEXT, 0, "{}", 2); break;
      default: break;
      }
    }
    PUMP_UNTIL(s, c, seen.runs == 1);
    assert_int_equal(seen.code, PGML_UNAVAILABLE);
    if (strstr(seen.message, fc->want) == NULL)
      fail_msg("%s: message \"%s\" lacks \"%s\"", fc->name, seen.message, fc->want);
    assert_non_null(strstr(seen.message, "pgmld at ws://127.0.0.1:"));
    if (fc->want_close) {
      /* The client said why before it went away. */
      PUMP_UNTIL(s, c, s->nmsgs >= 2 || s->fd < 0);
      if (s->in_len > 0)
        srv_parse(s);
      assert_true(s->nmsgs >= 2);
      assert_int_equal(s->ops[s->nmsgs - 1], PGML_WS_CLOSE);
      assert_int_equal(((unsigned)s->data[s->nmsgs - 1][0] << 8) | s->data[s->nmsgs - 1][1],
                       fc->want_close);
    }
    pgml_client_free(c);
    srv_stop(s);
    free(s);
  }
}

/* Each allocation of a whole session (create, connect, upgrade, a call, a
 * fragmented answer) fails in turn: nothing crashes or leaks (ASan), and
 * the call, when it could be made, completes exactly once. */
static void test_transport_alloc_failures(void **state)
{
  unsigned long n;
  int completed_ok = 0;

  (void)state;
  for (n = 1; n < 400; n++) {
    srv_t *s = malloc(sizeof(*s));
    unsigned long failures = pgml__alloc_failures();
    pgml_client_t *c = NULL;
    seen_t seen;
    char addr[64];
    int answered = 0, rounds = 0;

    memset(&seen, 0, sizeof(seen));
    srv_start(s, HS_OK);
    snprintf(addr, sizeof(addr), "ws://127.0.0.1:%u/v1", s->port);
    pgml__alloc_fail_after(n, 0);
    if (pgml_client_new(addr, NULL, &c) == 0) {
      if (pgml_call_raw(c, "Ping", "ping!", 5, NULL, on_done, &seen, NULL) == 0) {
        while (seen.runs == 0) {
          if (++rounds > 20000)
            fail_msg("allocation %lu: the call never completed", n);
          pump(s, c);
          if (!answered && s->nmsgs >= 1) {
            Pgml__V1__Frame *f = request_in(s, 0);
            uint8_t resp[64];
            size_t len = response(f->id, "pong!", resp);

            pgml__v1__frame__free_unpacked(f, NULL);
            srv_frame(s, 0, PGML_WS_BINARY, 0, resp, 2);
            srv_frame(s, 1, PGML_WS_CONT, 0, resp + 2, len - 2);
            answered = 1;
          }
        }
        assert_int_equal(seen.runs, 1);
        /* A failure says why (UNAVAILABLE for the connection, or what the
         * call layer reports, e.g. RESOURCE_EXHAUSTED). */
        if (seen.code == PGML_OK)
          completed_ok++;
        else
          assert_true(seen.message[0] != '\0');
      }
      pgml_client_free(c);
    }
    pgml__alloc_fail_after(0, 0);
    srv_stop(s);
    free(s);
    if (pgml__alloc_failures() == failures)
      break;                      /* the nth allocation was never reached */
  }
  assert_true(n < 400);
  assert_true(completed_ok >= 1);
  print_message("%lu allocations failed in turn, %d sessions still succeeded\n", n - 1,
                completed_ok);
}

static void test_connect_refused(void **state)
{
  srv_t *s = malloc(sizeof(*s));
  pgml_client_t *c;
  seen_t seen;
  char addr[64];

  (void)state;
  memset(&seen, 0, sizeof(seen));
  srv_start(s, HS_OK);
  snprintf(addr, sizeof(addr), "ws://127.0.0.1:%u/v1", s->port);
  srv_stop(s);   /* nothing listens there any more */
  assert_int_equal(pgml_client_new(addr, NULL, &c), 0);
  assert_int_equal(pgml_call_raw(c, "Ping", "x", 1, NULL, on_done, &seen, NULL), 0);
  s->lfd = socket(AF_INET, SOCK_STREAM, 0);   /* something valid for pump() to poll */
  s->fd = -1;
  s->nmsgs = 0;
  PUMP_UNTIL(s, c, seen.runs == 1);
  assert_int_equal(seen.code, PGML_UNAVAILABLE);
  assert_non_null(strstr(seen.message, "cannot connect: connect(127.0.0.1:"));
  assert_non_null(strstr(seen.message, "Connection refused"));
  pgml_client_free(c);
  close(s->lfd);
  free(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_decoder),
    cmocka_unit_test(test_large_and_header),
    cmocka_unit_test(test_handshake_checks),
    cmocka_unit_test(test_addresses),
    cmocka_unit_test(test_transport_fragmented),
    cmocka_unit_test(test_transport_failures),
    cmocka_unit_test(test_transport_alloc_failures),
    cmocka_unit_test(test_connect_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
