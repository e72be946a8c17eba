/* ws.c - the WebSocket transport (ws:// and wss://): one pgml.v1.Frame per
 * binary message over a non-blocking TCP connection, with OpenSSL for TLS.
 *
 * Opening goes through these states, each driven by io() without blocking:
 *   CONNECTING  TCP connect() in progress (waits for writable)
 *   TLS         wss:// only: the TLS handshake, certificate and host checked
 *   REQUEST     writing the HTTP upgrade request
 *   RESPONSE    reading the answer, up to the blank line (8 KiB at most)
 *   OPEN        frames flow; t->connected is set
 * The framing itself (headers, masking, reassembly, checks) is wsframe.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "alloc.h"
#include "pgml/client.h"
#include "sock.h"
#include "transport.h"
#include "ws.h"
#include "wsframe.h"

/* Reads per io() call, so that a server sending without pause cannot keep
 * the client from its deadlines and callbacks. */
#define MAX_READS 64
#define READ_CHUNK (64u * 1024u)
#define MAX_TOKEN 4096u

typedef enum { WS_IDLE, WS_CONNECTING, WS_TLS, WS_REQUEST, WS_RESPONSE, WS_OPEN } ws_state_t;

typedef struct {
  pgml__transport_t base;
  int tls;
  char *host;           /* for getaddrinfo, SNI and the certificate check */
  char *port;
  char *hostport;       /* as written in the address: Host header, messages */
  char *path;
  char *token;          /* NULL: no Authorization header */
  char *ca_file;        /* NULL: the system's CA store */
  uint32_t max_frame;
  int fd;
  ws_state_t state;
  SSL_CTX *ctx;         /* made at the first open, kept for the next ones */
  SSL *ssl;
  int want_write;       /* TLS: the last operation waits for writability */
  char key[PGML_WS_KEY_LEN + 1];
  char *req;            /* the upgrade request being written */
  size_t req_len;
  size_t req_off;
  char resp[PGML_WS_MAX_RESPONSE];
  size_t resp_len;
  pgml__outq_t out;     /* queued frames, oldest first */
  pgml_ws_reader_t reader;
} ws_t;

__attribute__((format(printf, 3, 4)))
static int set_err(ws_t *w, int rc, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(w->base.err, sizeof(w->base.err), fmt, ap);
  va_end(ap);
  return rc;
}

/* The first error on OpenSSL's queue, in words, and the queue emptied. */
static const char *tls_reason(char *buf, size_t len)
{
  unsigned long e = ERR_get_error();

  if (e == 0)
    snprintf(buf, len, "unknown TLS error");
  else
    ERR_error_string_n(e, buf, len);
  ERR_clear_error();
  return buf;
}

static void ws_close(pgml__transport_t *t)
{
  ws_t *w = (ws_t *)t;

  if (w->ssl != NULL) {
    SSL_free(w->ssl);
    w->ssl = NULL;
  }
  if (w->fd >= 0)
    close(w->fd);
  w->fd = -1;
  w->state = WS_IDLE;
  w->want_write = 0;
  w->base.connected = 0;
  /* The upgrade request holds the bearer token: wipe it even when the
   * connection ends before it was all sent. */
  if (w->req != NULL)
    OPENSSL_cleanse(w->req, w->req_len);
  pgml__free(w->req);
  w->req = NULL;
  w->req_len = w->req_off = 0;
  w->resp_len = 0;
  pgml__outq_clear(&w->out);
  pgml__ws_reader_free(&w->reader);
  pgml__ws_reader_init(&w->reader, w->max_frame);
}

static void ws_destroy(pgml__transport_t *t)
{
  ws_t *w = (ws_t *)t;

  ws_close(t);
  SSL_CTX_free(w->ctx);
  pgml__free(w->host);
  pgml__free(w->port);
  pgml__free(w->hostport);
  pgml__free(w->path);
  if (w->token != NULL)
    OPENSSL_cleanse(w->token, strlen(w->token));
  pgml__free(w->token);
  pgml__free(w->ca_file);
  pgml__free(w);
}

/* What SSL_read() (reading) or SSL_write() that returned n means, called
 * at once so that errno is still the call's: n when > 0, 0 when TLS waits
 * for the socket (want_write says which way), or a negative errno with the
 * reason in err (-ECONNRESET when the server closed). */
static ssize_t tls_result(ws_t *w, int n, int reading)
{
  const char *op = reading ? "read" : "write";
  char why[200];

  if (n > 0) {
    w->want_write = 0;
    return n;
  }
  switch (SSL_get_error(w->ssl, n)) {
  case SSL_ERROR_WANT_READ:
    w->want_write = 0;
    return 0;
  case SSL_ERROR_WANT_WRITE:
    w->want_write = 1;
    return 0;
  case SSL_ERROR_ZERO_RETURN:
    if (!reading)
      break;
    return set_err(w, -ECONNRESET, "the server closed the connection");
  case SSL_ERROR_SYSCALL:
    if (errno != 0 && ERR_peek_error() == 0)
      return set_err(w, -errno, "%s(%s): %s", op, w->hostport, strerror(errno));
    return set_err(w, -ECONNRESET, "the server closed the connection");
  default:
    break;
  }
  return set_err(w, -EPROTO, "TLS %s %s %s: %s", op, reading ? "from" : "to", w->hostport,
                 tls_reason(why, sizeof(why)));
}

/* Reads up to len bytes: >0 read, 0 nothing to read now, or a negative
 * errno with the reason in err (-ECONNRESET when the server closed). */
static ssize_t raw_recv(ws_t *w, void *buf, size_t len)
{
  if (w->ssl == NULL) {
    ssize_t r = pgml__sock_recv(w->fd, buf, len);
    if (r > 0)
      return r;
    if (r == 0)
      return set_err(w, -ECONNRESET, "the server closed the connection");
    if (r == -EAGAIN)
      return 0;
    return set_err(w, (int)r, "read(%s): %s", w->hostport, strerror((int)-r));
  }
  ERR_clear_error();
  errno = 0;
  return tls_result(w, SSL_read(w->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len), 1);
}

/* Writes up to len bytes: >0 written, 0 cannot write now, or a negative
 * errno with the reason in err. */
static ssize_t raw_send(ws_t *w, const void *buf, size_t len)
{
  if (w->ssl == NULL) {
    ssize_t r = pgml__sock_send(w->fd, buf, len);
    if (r >= 0)
      return r;
    if (r == -EAGAIN)
      return 0;
    return set_err(w, (int)r, "write(%s): %s", w->hostport, strerror((int)-r));
  }
  ERR_clear_error();
  errno = 0;
  return tls_result(w, SSL_write(w->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len), 0);
}

/* OpenSSL's socket BIO writes with write(), which raises SIGPIPE when the
 * server has gone; that would kill the embedding program.  This BIO does
 * the same I/O with send(MSG_NOSIGNAL) and recv().  Its method table is
 * made once per process and never changes. */
static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *b, const char *buf, int len)
{
  int fd = (int)(intptr_t)BIO_get_data(b);
  ssize_t n;

  BIO_clear_retry_flags(b);
  /* On failure errno still holds the send()'s error, which raw_send reads
   * for SSL_ERROR_SYSCALL. */
  n = pgml__sock_send(fd, buf, (size_t)len);
  if (n == -EAGAIN)
    BIO_set_retry_write(b);
  return n < 0 ? -1 : (int)n;
}

static int bio_read(BIO *b, char *buf, int len)
{
  int fd = (int)(intptr_t)BIO_get_data(b);
  ssize_t n;

  BIO_clear_retry_flags(b);
  /* On failure errno still holds the recv()'s error, which raw_recv reads
   * for SSL_ERROR_SYSCALL. */
  n = pgml__sock_recv(fd, buf, (size_t)len);
  if (n == -EAGAIN)
    BIO_set_retry_read(b);
  return n < 0 ? -1 : (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
  BIO_set_init(b, 1);
  return 1;
}

static void make_bio_method(void)
{
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pgml socket");

  if (m == NULL)
    return;
  if (BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1 ||
      BIO_meth_set_ctrl(m, bio_ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1) {
    BIO_meth_free(m);
    return;
  }
  bio_method = m;
}

/* The TLS context: peer verification on, the CA file or the system store. */
static int make_ctx(ws_t *w)
{
  char why[200];
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

  if (ctx == NULL)
    return set_err(w, -ENOMEM, "cannot create a TLS context: %s", tls_reason(why, sizeof(why)));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  /* A frame is written by as many SSL_write() calls as the socket takes,
   * each retried from where the last one stopped. */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (w->ca_file != NULL) {
    if (SSL_CTX_load_verify_locations(ctx, w->ca_file, NULL) != 1) {
      SSL_CTX_free(ctx);
      return set_err(w, -ENOENT, "cannot load the CA file %s: %s", w->ca_file,
                     tls_reason(why, sizeof(why)));
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    SSL_CTX_free(ctx);
    return set_err(w, -ENOENT, "cannot load the system's CA certificates: %s",
                   tls_reason(why, sizeof(why)));
  }
  w->ctx = ctx;
  return 0;
}

/* TCP is up: TLS starts, or the upgrade request goes out. */
static int after_connect(ws_t *w)
{
  char why[200];
  unsigned char ip[sizeof(struct in6_addr)];
  int one = 1, is_ip;

  /* Frames are small and answered one by one: no Nagle delay. */
  (void)setsockopt(w->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (!w->tls) {
    w->state = WS_REQUEST;
    return 0;
  }
  if (pthread_once(&bio_once, make_bio_method) != 0 || bio_method == NULL)
    return set_err(w, -ENOMEM, "cannot start TLS: no BIO method: %s",
                   tls_reason(why, sizeof(why)));
  w->ssl = SSL_new(w->ctx);
  if (w->ssl == NULL)
    return set_err(w, -ENOMEM, "cannot start TLS: %s", tls_reason(why, sizeof(why)));
  {
    BIO *bio = BIO_new(bio_method);
    if (bio == NULL)
      return set_err(w, -ENOMEM, "cannot start TLS: %s", tls_reason(why, sizeof(why)));
    BIO_set_data(bio, (void *)(intptr_t)w->fd);
    SSL_set_bio(w->ssl, bio, bio);   /* one reference, owned by the SSL */
  }
  is_ip = inet_pton(AF_INET, w->host, ip) == 1 || inet_pton(AF_INET6, w->host, ip) == 1;
  /* The certificate must name the host of the address: its DNS name, or its
   * IP address (which is not sent as SNI). */
  if (is_ip) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(w->ssl), w->host) != 1)
      return set_err(w, -EINVAL, "cannot check the certificate against %s", w->host);
  } else {
    if (SSL_set1_host(w->ssl, w->host) != 1 || SSL_set_tlsext_host_name(w->ssl, w->host) != 1)
      return set_err(w, -EINVAL, "cannot check the certificate against %s", w->host);
  }
  SSL_set_connect_state(w->ssl);
  w->state = WS_TLS;
  /* The client speaks first (ClientHello): io() must run once the socket
   * is writable, even if TCP connected at once in open(). */
  w->want_write = 1;
  return 0;
}

static int ws_open(pgml__transport_t *t)
{
  ws_t *w = (ws_t *)t;
  struct addrinfo hints, *res = NULL, *ai;
  uint8_t raw[16];
  int rc;

  if (w->fd >= 0)
    return w->base.connected ? 0 : -EINPROGRESS;
  if (w->tls && w->ctx == NULL) {
    rc = make_ctx(w);
    if (rc < 0)
      return rc;
  }
  if (RAND_bytes(raw, sizeof(raw)) != 1)
    return set_err(w, -EIO, "no random bytes for Sec-WebSocket-Key");
  pgml__ws_key_encode(raw, w->key);
  w->req = pgml__asprintf("GET %s HTTP/1.1\r\n"
                          "Host: %s\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: Upgrade\r\n"
                          "Sec-WebSocket-Key: %s\r\n"
                          "Sec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Protocol: " PGML_WS_SUBPROTOCOL "\r\n"
                          "%s%s%s"
                          "User-Agent: libpgml/%s\r\n"
                          "\r\n",
                          w->path, w->hostport, w->key,
                          w->token ? "Authorization: Bearer " : "",
                          w->token ? w->token : "", w->token ? "\r\n" : "",
                          pgml_version());
  if (w->req == NULL)
    return set_err(w, -ENOMEM, "out of memory for the upgrade request");
  w->req_len = strlen(w->req);
  w->req_off = 0;

  /* getaddrinfo() blocks while a name is looked up (not for a numeric
   * address); docs/clients/c.md says so. */
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
  rc = getaddrinfo(w->host, w->port, &hints, &res);
  if (rc != 0) {
    set_err(w, -EHOSTUNREACH, "cannot resolve %s: %s", w->host,
            rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    goto fail;
  }
  rc = -ECONNREFUSED;
  /* The first address that does not refuse at once is the one used. */
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0) {
      rc = set_err(w, -errno, "socket: %s", strerror(errno));
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      w->fd = fd;
      rc = after_connect(w);
      break;
    }
    if (errno == EINPROGRESS || errno == EINTR) {
      w->fd = fd;
      w->state = WS_CONNECTING;
      rc = 0;
      break;
    }
    rc = set_err(w, -errno, "connect(%s): %s", w->hostport, strerror(errno));
    close(fd);
  }
  freeaddrinfo(res);
  if (rc < 0)
    goto fail;
  return -EINPROGRESS;

fail:
  {
    char err[sizeof(w->base.err)];
    memcpy(err, w->base.err, sizeof(err));
    ws_close(t);
    memcpy(w->base.err, err, sizeof(err));
  }
  return rc;
}

static int finish_connect(ws_t *w)
{
  const char *what;
  int rc = pgml__sock_connect_result(w->fd, &what);

  if (rc < 0)
    return set_err(w, rc, "%s(%s): %s", what, w->hostport, strerror(-rc));
  return after_connect(w);
}

/* Drives the TLS handshake: 1 while it goes on, 0 when done. */
static int tls_handshake(ws_t *w)
{
  char why[200];
  long vr;
  int n, e;

  ERR_clear_error();
  errno = 0;
  n = SSL_do_handshake(w->ssl);
  if (n == 1) {
    w->want_write = 0;
    w->state = WS_REQUEST;
    return 0;
  }
  e = SSL_get_error(w->ssl, n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    w->want_write = e == SSL_ERROR_WANT_WRITE;
    return 1;
  }
  vr = SSL_get_verify_result(w->ssl);
  if (vr != X509_V_OK) {
    ERR_clear_error();
    return set_err(w, -EPROTO, "certificate verify failed: %s (server %s%s%s)",
                   X509_verify_cert_error_string(vr), w->hostport,
                   w->ca_file ? ", CA file " : ", system CA store",
                   w->ca_file ? w->ca_file : "");
  }
  if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
    return set_err(w, errno ? -errno : -ECONNRESET, "TLS handshake with %s: %s", w->hostport,
                   errno ? strerror(errno) : "the server closed the connection");
  return set_err(w, -EPROTO, "TLS handshake with %s: %s", w->hostport,
                 tls_reason(why, sizeof(why)));
}

/* Writes the upgrade request: 1 while some is left, 0 when all is out. */
static int send_request(ws_t *w)
{
  while (w->req_off < w->req_len) {
    ssize_t n = raw_send(w, w->req + w->req_off, w->req_len - w->req_off);
    if (n < 0)
      return (int)n;
    if (n == 0)
      return 1;
    w->req_off += (size_t)n;
  }
  OPENSSL_cleanse(w->req, w->req_len);   /* it carries the token */
  pgml__free(w->req);
  w->req = NULL;
  w->state = WS_RESPONSE;
  return 0;
}

/* Just past the blank line ending the head of an HTTP answer, or NULL. */
static const char *end_of_head(const char *p, size_t len)
{
  size_t i;

  for (i = 0; i + 4 <= len; i++)
    if (p[i] == '\r' && memcmp(p + i, "\r\n\r\n", 4) == 0)
      return p + i + 4;
  return NULL;
}

/* Reads the answer to the upgrade: 1 while it is incomplete, 0 once it was
 * accepted (what followed it is in the reader), or a negative errno. */
static int read_response(ws_t *w)
{
  for (;;) {
    const char *eoh;
    size_t room = sizeof(w->resp) - w->resp_len;
    ssize_t n;
    int status, rc;

    if (room == 0)
      return set_err(w, -EPROTO, "the server's answer to the WebSocket upgrade is over %u "
                                 "bytes", PGML_WS_MAX_RESPONSE);
    n = raw_recv(w, w->resp + w->resp_len, room);
    if (n < 0) {
      if (n == -ECONNRESET)
        set_err(w, -ECONNRESET, "the server closed the connection during the WebSocket "
                                "upgrade (is %s a pgmld WebSocket listener?)", w->hostport);
      return (int)n;
    }
    if (n == 0)
      return 1;
    w->resp_len += (size_t)n;
    eoh = end_of_head(w->resp, w->resp_len);
    if (eoh == NULL)
      continue;
    rc = pgml__ws_check_response(w->resp, (size_t)(eoh - w->resp), w->key, &status,
                                 w->base.err, sizeof(w->base.err));
    if (rc < 0)
      return rc;
    /* The server may have sent its first frames right behind the answer. */
    {
      size_t extra = w->resp_len - (size_t)(eoh - w->resp);
      uint8_t *space;
      size_t space_len;

      if (extra > 0) {
        rc = pgml__ws_reader_space(&w->reader, extra, &space, &space_len);
        if (rc < 0)
          return set_err(w, rc, "out of memory for the input buffer of %s", w->hostport);
        memcpy(space, eoh, extra);
        pgml__ws_reader_commit(&w->reader, extra);
      }
    }
    w->state = WS_OPEN;
    w->base.connected = 1;
    return 0;
  }
}

/* Queues a masked frame around the body of b, which is at data +
 * PGML_WS_MAX_HEADER. */
static void queue_frame(ws_t *w, pgml__outbuf_t *b, unsigned op)
{
  uint8_t mask[4];
  uint8_t *body = b->data + PGML_WS_MAX_HEADER;
  size_t hlen;

  /* RAND_bytes does not fail once OpenSSL's generator is seeded, which the
   * Sec-WebSocket-Key of this connection already needed; should it fail,
   * a mask of zeros is still a valid (if predictable) mask. */
  if (RAND_bytes(mask, sizeof(mask)) != 1)
    memset(mask, 0, sizeof(mask));
  hlen = pgml__ws_put_header(body, op, b->body_len, mask);
  pgml__ws_mask(body, b->body_len, mask);
  b->start = body - hlen;
  b->len = hlen + b->body_len;
  pgml__outq_push(&w->out, b);
}

static void ws_send(pgml__transport_t *t, pgml__outbuf_t *b)
{
  queue_frame((ws_t *)t, b, PGML_WS_BINARY);
}

/* Queues a control frame (a pong, a close).  0 or -ENOMEM. */
static int queue_control(ws_t *w, unsigned op, const uint8_t *data, size_t len)
{
  pgml__outbuf_t *b = pgml__outbuf_new(PGML_WS_MAX_HEADER, len);

  if (b == NULL)
    return set_err(w, -ENOMEM, "out of memory for a control frame to %s", w->hostport);
  if (len > 0)
    memcpy(b->data + PGML_WS_MAX_HEADER, data, len);
  queue_frame(w, b, op);
  return 0;
}

/* Writes queued frames until the queue is empty or the socket is full.
 * Without TLS the frames go out gathered; TLS takes one at a time. */
static int flush(pgml__transport_t *t)
{
  ws_t *w = (ws_t *)t;

  while (w->out.head != NULL) {
    const pgml__outbuf_t *b = w->out.head;
    ssize_t n;

    if (w->ssl == NULL) {
      n = pgml__sock_writev(w->fd, &w->out);
      if (n == -EAGAIN)
        return 0;
      if (n < 0)
        return set_err(w, (int)n, "write(%s): %s", w->hostport, strerror((int)-n));
    } else {
      n = raw_send(w, b->start + b->off, b->len - b->off);
      if (n < 0)
        return (int)n;
      if (n == 0)
        return 0;
    }
    pgml__outq_consume(&w->out, (size_t)n);
  }
  return 0;
}

/* Sends a close frame with `code` if the queue lets it out now; the
 * connection is being dropped either way, so failures do not matter. */
static void try_close_frame(ws_t *w, unsigned code)
{
  uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};

  if (queue_control(w, PGML_WS_CLOSE, p, sizeof(p)) == 0)
    (void)flush(&w->base);
}

/* Hands over every whole message the reader holds, answers pings, and
 * stops at a close. */
static int dispatch(ws_t *w, pgml__frame_fn on_frame, void *ctx)
{
  pgml_ws_msg_t m;
  char reason[128];
  size_t i;
  int rc;

  while ((rc = pgml__ws_reader_next(&w->reader, &m)) == 1) {
    switch (m.op) {
    case PGML_WS_BINARY:
      rc = on_frame(ctx, m.data, m.len);
      if (rc < 0)
        return rc;
      break;
    case PGML_WS_PING:
      rc = queue_control(w, PGML_WS_PONG, m.data, m.len);
      if (rc < 0)
        return rc;
      break;
    case PGML_WS_CLOSE:
      for (i = 0; i < m.len && i + 1 < sizeof(reason); i++)
        reason[i] = (m.data[i] >= 0x20 && m.data[i] < 0x7f) ? (char)m.data[i] : '?';
      reason[i] = '\0';
      try_close_frame(w, m.close_code == 1005 ? PGML_WS_CLOSE_NORMAL : m.close_code);
      return set_err(w, -ECONNRESET, "the server closed the WebSocket connection (status %u%s%s)",
                     m.close_code, reason[0] ? ": " : "", reason);
    default:              /* PGML_WS_PONG: pings are never sent */
      break;
    }
  }
  if (rc < 0) {
    set_err(w, rc, "%s", w->reader.err);
    try_close_frame(w, w->reader.close_code);
    return rc;
  }
  return 0;
}

/* Reads what is there and hands over every whole message. */
static int drain(pgml__transport_t *t, pgml__frame_fn on_frame, void *ctx)
{
  ws_t *w = (ws_t *)t;
  int reads;

  /* Bytes that arrived behind the upgrade answer are already in. */
  int rc = dispatch(w, on_frame, ctx);
  if (rc < 0)
    return rc;
  /* TLS may hold decrypted bytes the socket no longer signals: read until
   * it has none left even past MAX_READS (at most one TLS record). */
  for (reads = 0; reads < MAX_READS || (w->ssl != NULL && SSL_pending(w->ssl) > 0); reads++) {
    uint8_t *space;
    size_t room;
    ssize_t n;

    rc = pgml__ws_reader_space(&w->reader, READ_CHUNK, &space, &room);
    if (rc < 0)
      return set_err(w, rc, "out of memory for the input buffer of %s", w->hostport);
    n = raw_recv(w, space, room);
    if (n < 0)
      return (int)n;
    if (n == 0)
      return 0;
    pgml__ws_reader_commit(&w->reader, (size_t)n);
    rc = dispatch(w, on_frame, ctx);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int ws_io(pgml__transport_t *t, unsigned revents, pgml__frame_fn on_frame, void *ctx)
{
  ws_t *w = (ws_t *)t;
  int rc;

  if (w->fd < 0)
    return 0;
  if (w->state == WS_CONNECTING) {
    /* SO_ERROR reads 0 while the connect is still in progress. */
    if (!(revents & (PGML_EV_WRITE | PGML_EV_READ)))
      return 0;
    rc = finish_connect(w);
    if (rc < 0)
      return rc;
  }
  if (w->state == WS_TLS) {
    rc = tls_handshake(w);
    if (rc != 0)
      return rc < 0 ? rc : 0;
  }
  if (w->state == WS_REQUEST) {
    rc = send_request(w);
    if (rc != 0)
      return rc < 0 ? rc : 0;
  }
  if (w->state == WS_RESPONSE) {
    rc = read_response(w);
    if (rc != 0)
      return rc < 0 ? rc : 0;
    revents |= PGML_EV_READ;   /* frames may have come with the answer */
  }
  return pgml__sock_io(t, revents, drain, flush, on_frame, ctx);
}

static int ws_fd(const pgml__transport_t *t)
{
  return ((const ws_t *)t)->fd;
}

static unsigned ws_events(const pgml__transport_t *t)
{
  const ws_t *w = (const ws_t *)t;
  unsigned ev = 0;

  if (w->fd < 0)
    return 0;
  switch (w->state) {
  case WS_CONNECTING:
  case WS_REQUEST:
    ev = PGML_EV_WRITE;
    break;
  case WS_TLS:
    ev = PGML_EV_READ;
    break;
  case WS_RESPONSE:
    ev = PGML_EV_READ;
    break;
  case WS_OPEN:
    ev = PGML_EV_READ | (w->out.head != NULL ? PGML_EV_WRITE : 0u);
    break;
  case WS_IDLE:
    break;
  }
  /* TLS may need to write (a handshake message, a record) before it can
   * go on reading. */
  if (w->ssl != NULL && w->want_write)
    ev |= PGML_EV_WRITE;
  return ev;
}

static const pgml__transport_ops_t ws_ops = {
  .scheme = "ws",
  .headroom = PGML_WS_MAX_HEADER,
  .open = ws_open,
  .io = ws_io,
  .send = ws_send,
  .fd = ws_fd,
  .events = ws_events,
  .close = ws_close,
  .destroy = ws_destroy,
};

/* Splits "host[:port][/path]" (host may be "[v6]").  0 or -EINVAL. */
static int parse_rest(ws_t *w, const char *rest)
{
  const char *p = rest, *hs, *he, *ps = NULL, *pe;
  const char *slash;
  char port[8];
  unsigned long pn;
  char *endp;

  slash = strchr(rest, '/');
  pe = slash ? slash : rest + strlen(rest);
  if (memchr(rest, '@', (size_t)(pe - rest)) != NULL)
    return -EINVAL;            /* user:password@ is not supported */
  if (*p == '[') {
    hs = p + 1;
    he = memchr(hs, ']', (size_t)(pe - hs));
    if (he == NULL)
      return -EINVAL;
    p = he + 1;
  } else {
    hs = p;
    he = memchr(p, ':', (size_t)(pe - p));
    if (he == NULL)
      he = pe;
    p = he;
  }
  if (he == hs)
    return -EINVAL;
  if (p < pe) {
    if (*p != ':' || p + 1 == pe)
      return -EINVAL;
    ps = p + 1;
  }
  if (ps != NULL) {
    if ((size_t)(pe - ps) >= sizeof(port))
      return -EINVAL;
    memcpy(port, ps, (size_t)(pe - ps));
    port[pe - ps] = '\0';
    if (port[0] < '0' || port[0] > '9')
      return -EINVAL;
    pn = strtoul(port, &endp, 10);
    if (*endp != '\0' || pn == 0 || pn > 65535)
      return -EINVAL;
  } else {
    snprintf(port, sizeof(port), "%s", w->tls ? "443" : "80");
  }
  w->host = pgml__strndup(hs, (size_t)(he - hs));
  w->port = pgml__strdup(port);
  w->hostport = pgml__strndup(rest, (size_t)(pe - rest));
  w->path = pgml__strdup(slash ? slash : "/");
  if (w->host == NULL || w->port == NULL || w->hostport == NULL || w->path == NULL)
    return -ENOMEM;
  /* The path goes into the request line as it is. */
  for (p = w->path; *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f)
      return -EINVAL;
  return 0;
}

int pgml__ws_create(const char *rest, int tls, const pgml_client_options_t *opts,
                    pgml__transport_t **out)
{
  ws_t *w;
  const char *s;
  int rc;

  if (opts->token != NULL) {
    /* A token is printable ASCII without spaces (docs/protocol.md section
     * 13); anything else could also split the upgrade request. */
    if (opts->token[0] == '\0' || strlen(opts->token) > MAX_TOKEN)
      return -EINVAL;
    for (s = opts->token; *s; s++)
      if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
        return -EINVAL;
  }
  if (opts->ca_file != NULL && opts->ca_file[0] == '\0')
    return -EINVAL;
  w = pgml__calloc(1, sizeof(*w));
  if (w == NULL)
    return -ENOMEM;
  w->base.ops = &ws_ops;
  w->fd = -1;
  w->tls = tls;
  w->max_frame = opts->max_frame_size;
  pgml__ws_reader_init(&w->reader, w->max_frame);
  rc = parse_rest(w, rest);
  if (rc < 0)
    goto fail;
  rc = -ENOMEM;
  if (opts->token != NULL && (w->token = pgml__strdup(opts->token)) == NULL)
    goto fail;
  if (opts->ca_file != NULL && (w->ca_file = pgml__strdup(opts->ca_file)) == NULL)
    goto fail;
  *out = &w->base;
  return 0;

fail:
  ws_destroy(&w->base);
  return rc;
}
