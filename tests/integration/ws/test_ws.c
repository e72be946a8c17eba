/* test_ws.c - pgmld over WebSocket and its access control, black-box: a
 * real pgmld (PGMLD_BIN) on the `postgres` fixture's cluster, driven by a
 * WebSocket client written here with libwebsockets' client API (one lws
 * context per client, serviced by the test itself), raw Unix sockets and
 * raw HTTP requests.
 *
 * Covered: Ping over ws:// and wss:// (a certificate made at test time with
 * the openssl command, verified by the client as its CA), a message sent
 * in many fragments, an oversized message (RESOURCE_EXHAUSTED naming
 * limits.max_frame_size, then closed), a message over
 * limits.max_server_inflight_bytes (refused, closed, bytes given back),
 * bearer tokens in the upgrade header and in metadata (UNAUTHENTICATED
 * without, on ws and wss), the Unix peer
 * allow-list (PERMISSION_DENIED naming the uid), the idle timeout, GET
 * /healthz, /readyz and /metrics (counters move with requests), and the
 * refusal to start on a public address without tokens.
 *
 * Environment: PGMLD_BIN, PGMLD_TEST_DATABASE_URL (set by ctest). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libwebsockets.h>

#include "pgml/v1/database.pb-c.h"
#include "pgml/v1/frame.pb-c.h"

#define PING "pgml.v1.Database/Ping"
#define MAX_FRAME 65536
/* A bound on every wait, so that a broken daemon fails the test instead of
 * hanging it; never an assertion about how fast anything is. */
#define WAIT_MS 20000
#define TOKEN "s3cret-token-for-tests"
#define TOKEN_SHA256 "sha256:"

/* ------------------------------------------------------------ the daemon */

typedef struct daemon_s {
  pid_t pid;
  char dir[256];
  char sock[300];
  char log[300];
  int ws_port, http_port;
  const char *url;          /* NULL: the fixture's cluster */
} daemon_t;

static daemon_t D;        /* ws + http, no tokens */
static daemon_t A;        /* wss + tokens */
static daemon_t X;        /* started by one test for itself */
static char tmpdir[256];  /* certificate and tokens file */
static char cert_path[300], key_path[300], tokens_path[300];
static char pgdir[256];   /* a cluster of the test's own, when started */

static int free_port(void)
{
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

  assert_true(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  port = ntohs(sa.sin_port);
  close(fd);
  return port;
}

static int connect_unix(const char *path)
{
  struct sockaddr_un sa;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  assert_true(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    close(fd);
    return -errno;
  }
  return fd;
}

static int connect_tcp(int port)
{
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  assert_true(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    close(fd);
    return -errno;
  }
  return fd;
}

static void daemon_stop(daemon_t *d);

/* Starts pgmld with the common settings and `extra`; waits until its Unix
 * socket and (when set) its TCP ports accept.  With expect_exit, waits
 * instead for it to exit and returns the status. */
static int daemon_run(daemon_t *d, const char *const *extra, int expect_exit)
{
  const char *bin = getenv("PGMLD_BIN");
  const char *url = d->url != NULL ? d->url : getenv("PGMLD_TEST_DATABASE_URL");
  char frame[32];
  int i, status;

  if (bin == NULL || url == NULL)
    fail_msg("PGMLD_BIN and PGMLD_TEST_DATABASE_URL must be set (run under ctest)");
  /* One left by a test that failed part way. */
  daemon_stop(d);
  snprintf(d->dir, sizeof(d->dir), "%s/pgmld-ws-XXXXXX", tmpdir);
  assert_non_null(mkdtemp(d->dir));
  snprintf(d->sock, sizeof(d->sock), "%s/pgmld.sock", d->dir);
  snprintf(d->log, sizeof(d->log), "%s/pgmld.log", d->dir);
  snprintf(frame, sizeof(frame), "%d", MAX_FRAME);

  d->pid = fork();
  assert_true(d->pid >= 0);
  if (d->pid == 0) {
    const char *argv[40] = {bin, "--server-socket-path", d->sock, "--database-url", url,
                            "--limits-max-frame-size", frame, "--log-level", "debug"};
    int n = 9, fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    for (i = 0; extra != NULL && extra[i] != NULL && n < 38; i++)
      argv[n++] = extra[i];
    argv[n] = NULL;
    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
    }
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  for (i = 0; i < WAIT_MS / 20; i++) {
    if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
      d->pid = 0;
      if (expect_exit)
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      fail_msg("pgmld exited during start-up (status %d); see %s", status, d->log);
    }
    if (!expect_exit) {
      int fd = connect_unix(d->sock), ok = fd >= 0;
      if (fd >= 0)
        close(fd);
      if (ok && d->ws_port > 0 && (fd = connect_tcp(d->ws_port)) >= 0)
        close(fd);
      else if (ok && d->ws_port > 0)
        ok = 0;
      if (ok && d->http_port > 0 && (fd = connect_tcp(d->http_port)) >= 0)
        close(fd);
      else if (ok && d->http_port > 0)
        ok = 0;
      if (ok)
        return 0;
    }
    usleep(20000);
  }
  fail_msg("pgmld did not %s within %d ms; see %s", expect_exit ? "exit" : "listen",
           WAIT_MS, d->log);
  return -1;
}

static void daemon_stop(daemon_t *d)
{
  char cmd[600];
  int status;

  if (d->pid > 0) {
    kill(d->pid, SIGTERM);
    if (waitpid(d->pid, &status, 0) == d->pid && !(WIFEXITED(status) &&
                                                    WEXITSTATUS(status) == 0))
      fprintf(stderr, "pgmld %s exited with status %d\n", d->dir, status);
    d->pid = 0;
  }
  if (d->dir[0] != '\0') {
    snprintf(cmd, sizeof(cmd), "tail -n 30 '%s' >&2; rm -rf '%s'", d->log, d->dir);
    if (getenv("PGMLD_TEST_KEEP") == NULL && system(cmd) != 0)
      fprintf(stderr, "cannot remove %s\n", d->dir);
    d->dir[0] = '\0';
  }
}

static char *slurp(const char *path)
{
  FILE *fp = fopen(path, "r");
  char *buf;
  long n;

  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  buf = calloc(1, (size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
  fclose(fp);
  return buf;
}

static void assert_contains(const char *haystack, const char *needle)
{
  if (strstr(haystack, needle) == NULL)
    fail_msg("expected \"%s\" in:\n%s", needle, haystack);
}

/* ------------------------------------------------------------ frames */

/* A REQUEST for Ping with data, and optional metadata authorization. */
static uint8_t *ping_frame(uint64_t id, const char *data, const char *authorization,
                           size_t *len)
{
  Pgml__V1__PingRequest req = PGML__V1__PING_REQUEST__INIT;
  Pgml__V1__Frame f = PGML__V1__FRAME__INIT;
  Pgml__V1__Frame__MetadataEntry e = PGML__V1__FRAME__METADATA_ENTRY__INIT;
  Pgml__V1__Frame__MetadataEntry *ep = &e;
  uint8_t *payload, *out;

  req.data.data = (uint8_t *)data;
  req.data.len = strlen(data);
  payload = malloc(pgml__v1__ping_request__get_packed_size(&req) + 1);
  assert_non_null(payload);
  f.id = id;
  f.method = (char *)PING;
  f.payload.len = pgml__v1__ping_request__pack(&req, payload);
  f.payload.data = payload;
  f.timeout_ms = 10000;
  if (authorization != NULL) {
    e.key = (char *)"authorization";
    e.value = (char *)authorization;
    f.n_metadata = 1;
    f.metadata = &ep;
  }
  *len = pgml__v1__frame__get_packed_size(&f);
  out = malloc(*len + 4);
  assert_non_null(out);
  pgml__v1__frame__pack(&f, out);
  free(payload);
  return out;
}

/* Decodes a RESPONSE body; fails the test if it is not one. */
static Pgml__V1__Frame *decode(const uint8_t *body, size_t len)
{
  Pgml__V1__Frame *f = pgml__v1__frame__unpack(NULL, len, body);

  assert_non_null(f);
  assert_int_equal(f->kind, PGML__V1__FRAME__KIND__RESPONSE);
  return f;
}

static void expect_pong(Pgml__V1__Frame *f, uint64_t id, const char *data)
{
  Pgml__V1__PingResponse *r;

  assert_non_null(f);
  if (f->code != 0)
    fail_msg("id %llu: code %d: %s", (unsigned long long)f->id, f->code, f->message);
  assert_int_equal(f->id, id);
  r = pgml__v1__ping_response__unpack(NULL, f->payload.len, f->payload.data);
  assert_non_null(r);
  assert_int_equal(r->data.len, strlen(data));
  assert_memory_equal(r->data.data, data, strlen(data));
  pgml__v1__ping_response__free_unpacked(r, NULL);
  pgml__v1__frame__free_unpacked(f, NULL);
}

static void expect_error(Pgml__V1__Frame *f, uint64_t id, int code, const char *needle)
{
  assert_non_null(f);
  if (f->id != id || (int)f->code != code)
    fail_msg("expected id %llu code %d, got id %llu code %d: %s", (unsigned long long)id,
             code, (unsigned long long)f->id, f->code, f->message);
  assert_contains(f->message, needle);
  pgml__v1__frame__free_unpacked(f, NULL);
}

/* ------------------------------------------------------------ a WebSocket client */

typedef struct msg_s {
  uint8_t *data;
  size_t len;
} msg_t;

typedef struct wsc_s {
  struct lws_context *ctx;
  struct lws *wsi;
  const char *auth;             /* Authorization header value, or NULL */
  int established, closed, failed;
  char why[256];
  uint8_t *out;                 /* the message being sent, owned */
  size_t out_len, out_off, frag;
  uint8_t *scratch;
  uint8_t *in;                  /* the message being received */
  size_t in_len;
  msg_t msgs[64];               /* received, not yet taken */
  size_t n_msgs;
} wsc_t;

/* The Origin header wsc_connect() sends, as a browser would; NULL: none,
 * as programs send. */
static const char *wsc_origin;

static int wsc_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                        void *in, size_t len)
{
  struct lws_context *ctx = lws_get_context(wsi);
  wsc_t *c = ctx != NULL ? lws_context_user(ctx) : NULL;

  if (c == NULL)
    return 0;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
    /* By hand: lws's own origin option prefixes "http://". */
    if (wsc_origin != NULL) {
      unsigned char **p = in, *end = *p + len;
      if (lws_add_http_header_by_token(wsi, WSI_TOKEN_ORIGIN,
                                       (const unsigned char *)wsc_origin,
                                       (int)strlen(wsc_origin), p, end))
        return -1;
    }
    if (c->auth != NULL) {
      unsigned char **p = in, *end = *p + len;
      if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                       (const unsigned char *)c->auth,
                                       (int)strlen(c->auth), p, end))
        return -1;
    }
    break;
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    c->established = 1;
    break;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    c->failed = 1;
    snprintf(c->why, sizeof(c->why), "%s", in != NULL ? (const char *)in : "?");
    c->wsi = NULL;
    break;
  case LWS_CALLBACK_CLIENT_RECEIVE:
    c->in = realloc(c->in, c->in_len + len + 1);
    assert_non_null(c->in);
    memcpy(c->in + c->in_len, in, len);
    c->in_len += len;
    if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
      assert_true(c->n_msgs < 64);
      c->msgs[c->n_msgs].data = c->in;
      c->msgs[c->n_msgs++].len = c->in_len;
      c->in = NULL;
      c->in_len = 0;
    }
    break;
  case LWS_CALLBACK_CLIENT_WRITEABLE: {
    size_t chunk;
    int flags;
    if (c->out == NULL)
      break;
    chunk = c->out_len - c->out_off < c->frag ? c->out_len - c->out_off : c->frag;
    memcpy(c->scratch + LWS_PRE, c->out + c->out_off, chunk);
    flags = lws_write_ws_flags(LWS_WRITE_BINARY, c->out_off == 0,
                               c->out_off + chunk == c->out_len);
    if (lws_write(wsi, c->scratch + LWS_PRE, chunk, (enum lws_write_protocol)flags) <
        (int)chunk)
      return -1;
    c->out_off += chunk;
    if (c->out_off == c->out_len) {
      free(c->out);
      c->out = NULL;
    } else {
      lws_callback_on_writable(wsi);
    }
    break;
  }
  case LWS_CALLBACK_CLIENT_CLOSED:
    c->closed = 1;
    c->wsi = NULL;
    break;
  default:
    break;
  }
  return 0;
}

static const struct lws_protocols wsc_protocols[] = {
  {"pgml.v1", wsc_callback, 0, 65536, 0, NULL, 0},
  {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Services c's context until done(c) or the bound passes. */
static void wsc_pump(wsc_t *c, int (*done)(wsc_t *c), const char *what)
{
  struct timespec t0, t;

  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!done(c)) {
    lws_service(c->ctx, 50);
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > WAIT_MS)
      fail_msg("WebSocket client: no %s within %d ms", what, WAIT_MS);
  }
}

static int connected_or_failed(wsc_t *c)
{
  return c->established || c->failed || c->closed;
}

/* Connects to ws[s]://127.0.0.1:port/path; with tls the server certificate
 * must verify against cert_path, for the name localhost.  Returns the
 * client, established or failed (c->failed, c->why). */
static wsc_t *wsc_connect(int port, const char *path, int tls, const char *auth)
{
  struct lws_context_creation_info info;
  struct lws_client_connect_info ci;
  wsc_t *c = calloc(1, sizeof(*c));

  assert_non_null(c);
  c->auth = auth;
  c->scratch = malloc(LWS_PRE + MAX_FRAME * 2);
  assert_non_null(c->scratch);
  memset(&info, 0, sizeof(info));
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = wsc_protocols;
  info.user = c;
  if (tls) {
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.client_ssl_ca_filepath = cert_path;
  }
  c->ctx = lws_create_context(&info);
  assert_non_null(c->ctx);
  memset(&ci, 0, sizeof(ci));
  ci.context = c->ctx;
  ci.address = "127.0.0.1";
  ci.port = port;
  ci.path = path;
  ci.host = "localhost";
  ci.protocol = "pgml.v1";
  ci.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
  ci.pwsi = &c->wsi;
  if (lws_client_connect_via_info(&ci) == NULL) {
    c->failed = 1;
    snprintf(c->why, sizeof(c->why), "lws_client_connect_via_info failed");
    return c;
  }
  wsc_pump(c, connected_or_failed, "handshake");
  return c;
}

static int sent_or_closed(wsc_t *c)
{
  return c->out == NULL || c->closed;
}

/* Sends one binary message in fragments of at most frag bytes (data is
 * copied). */
static void wsc_send(wsc_t *c, const uint8_t *data, size_t len, size_t frag)
{
  assert_true(c->established && !c->closed);
  assert_null(c->out);
  c->out = malloc(len ? len : 1);
  assert_non_null(c->out);
  memcpy(c->out, data, len);
  c->out_len = len;
  c->out_off = 0;
  c->frag = frag;
  lws_callback_on_writable(c->wsi);
  wsc_pump(c, sent_or_closed, "room to send");
}

static int msg_or_closed(wsc_t *c)
{
  return c->n_msgs > 0 || c->closed;
}

/* The next response, decoded; NULL once the server closed. */
static Pgml__V1__Frame *wsc_recv(wsc_t *c)
{
  Pgml__V1__Frame *f;
  msg_t m;

  wsc_pump(c, msg_or_closed, "message");
  if (c->n_msgs == 0)
    return NULL;
  m = c->msgs[0];
  memmove(c->msgs, c->msgs + 1, --c->n_msgs * sizeof(m));
  f = decode(m.data, m.len);
  free(m.data);
  return f;
}

static void wsc_free(wsc_t *c)
{
  size_t i;

  lws_context_destroy(c->ctx);
  for (i = 0; i < c->n_msgs; i++)
    free(c->msgs[i].data);
  free(c->out);
  free(c->in);
  free(c->scratch);
  free(c);
}

static void ws_ping(wsc_t *c, uint64_t id, const char *auth)
{
  size_t len;
  uint8_t *buf = ping_frame(id, "hi", auth, &len);

  wsc_send(c, buf, len, 65536);
  free(buf);
}

/* ------------------------------------------------------------ HTTP */

/* GET path from the HTTP listener; returns the whole response (status line,
 * headers, body), malloc'ed. */
static char *http_get(int port, const char *path)
{
  char req[256], *buf = NULL;
  size_t len = 0;
  int fd = connect_tcp(port);

  assert_true(fd >= 0);
  snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
           path);
  assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
  for (;;) {
    struct pollfd pfd = {fd, POLLIN, 0};
    char chunk[4096];
    ssize_t n;
    if (poll(&pfd, 1, WAIT_MS) <= 0)
      fail_msg("no HTTP answer for %s within %d ms", path, WAIT_MS);
    n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0)
      break;
    buf = realloc(buf, len + (size_t)n + 1);
    assert_non_null(buf);
    memcpy(buf + len, chunk, (size_t)n);
    len += (size_t)n;
    buf[len] = '\0';
  }
  close(fd);
  assert_non_null(buf);
  return buf;
}

/* The value of the series line that starts with `series` ("name{labels}"). */
static double metric(const char *text, const char *series)
{
  const char *p = text;
  size_t n = strlen(series);

  while ((p = strstr(p, series)) != NULL) {
    if ((p == text || p[-1] == '\n') && p[n] == ' ')
      return strtod(p + n + 1, NULL);
    p += n;
  }
  return -1;
}

/* ------------------------------------------------------------ tests */

/* ServerInfo over the WebSocket lists the transport among its features. */
static void expect_feature(wsc_t *c, const char *auth, const char *feature)
{
  Pgml__V1__Frame f = PGML__V1__FRAME__INIT, *r;
  Pgml__V1__Frame__MetadataEntry e = PGML__V1__FRAME__METADATA_ENTRY__INIT, *ep = &e;
  Pgml__V1__ServerInfoResponse *info;
  uint8_t *buf;
  size_t len, i;
  int found = 0;

  f.id = 99;
  f.method = (char *)"pgml.v1.Database/ServerInfo";
  if (auth != NULL) {
    e.key = (char *)"authorization";
    e.value = (char *)auth;
    f.n_metadata = 1;
    f.metadata = &ep;
  }
  len = pgml__v1__frame__get_packed_size(&f);
  buf = malloc(len);
  assert_non_null(buf);
  pgml__v1__frame__pack(&f, buf);
  wsc_send(c, buf, len, 65536);
  free(buf);
  r = wsc_recv(c);
  assert_non_null(r);
  if (r->code != 0)
    fail_msg("ServerInfo: code %d: %s", r->code, r->message);
  info = pgml__v1__server_info_response__unpack(NULL, r->payload.len, r->payload.data);
  assert_non_null(info);
  for (i = 0; i < info->n_features; i++)
    found |= strcmp(info->features[i], feature) == 0;
  if (!found)
    fail_msg("ServerInfo.features lacks \"%s\"", feature);
  pgml__v1__server_info_response__free_unpacked(info, NULL);
  pgml__v1__frame__free_unpacked(r, NULL);
}

static void test_ws_ping(void **state)
{
  wsc_t *c = wsc_connect(D.ws_port, "/v1", 0, NULL);
  int i;

  (void)state;
  if (!c->established)
    fail_msg("ws handshake failed: %s", c->why);
  for (i = 1; i <= 3; i++) {
    ws_ping(c, (uint64_t)i, NULL);
    expect_pong(wsc_recv(c), (uint64_t)i, "hi");
  }
  expect_feature(c, NULL, "ws");
  {
    /* Answered from a PostgreSQL result, outside any lws callback: the
     * answer must still go out. */
    Pgml__V1__Frame f = PGML__V1__FRAME__INIT, *r;
    uint8_t *buf;
    size_t len;
    for (i = 10; i < 20; i++) {
      f.id = (uint64_t)i;
      f.method = (char *)"pgml.v1.Database/ListCollections";
      len = pgml__v1__frame__get_packed_size(&f);
      buf = malloc(len);
      assert_non_null(buf);
      pgml__v1__frame__pack(&f, buf);
      wsc_send(c, buf, len, 65536);
      free(buf);
    }
    for (i = 10; i < 20; i++) {
      r = wsc_recv(c);
      assert_non_null(r);
      if (r->code != 0 || r->id < 10 || r->id >= 20)
        fail_msg("ListCollections: id %llu code %d: %s", (unsigned long long)r->id,
                 r->code, r->message);
      pgml__v1__frame__free_unpacked(r, NULL);
    }
  }
  wsc_free(c);
}

static void test_ws_fragmented(void **state)
{
  wsc_t *c = wsc_connect(D.ws_port, "/v1", 0, NULL);
  size_t len;
  uint8_t *buf = ping_frame(7, "fragmented in five-byte pieces", NULL, &len);

  (void)state;
  assert_true(c->established);
  wsc_send(c, buf, len, 5);
  free(buf);
  expect_pong(wsc_recv(c), 7, "fragmented in five-byte pieces");
  wsc_free(c);
}

static void test_ws_oversized(void **state)
{
  wsc_t *c = wsc_connect(D.ws_port, "/v1", 0, NULL);
  uint8_t *big = calloc(1, MAX_FRAME + 1);
  Pgml__V1__Frame *f;

  (void)state;
  assert_true(c->established);
  assert_non_null(big);
  wsc_send(c, big, MAX_FRAME + 1, 16384);
  free(big);
  f = wsc_recv(c);
  assert_non_null(f);
  assert_string_equal(f->details, "{\"limit\":\"max_frame_size\",\"value\":65536}");
  expect_error(f, 0, PGML__V1__CODE__RESOURCE_EXHAUSTED, "limits.max_frame_size (65536)");
  assert_null(wsc_recv(c));     /* then closed */
  wsc_free(c);
}

static void test_ws_wrong_path(void **state)
{
  wsc_t *c = wsc_connect(D.ws_port, "/not-v1", 0, NULL);

  (void)state;
  assert_false(c->established);
  wsc_free(c);
}

static void test_http_endpoints(void **state)
{
  char *r, *m1, *m2;
  wsc_t *c;
  int i;

  (void)state;
  r = http_get(D.http_port, "/healthz");
  assert_contains(r, "HTTP/1.1 200");
  assert_contains(r, "\r\n\r\nok\n");
  free(r);
  r = http_get(D.http_port, "/readyz");
  assert_contains(r, "HTTP/1.1 200");
  assert_contains(r, "ready");
  free(r);
  r = http_get(D.http_port, "/nope");
  assert_contains(r, "HTTP/1.1 404");
  free(r);

  m1 = http_get(D.http_port, "/metrics");
  assert_contains(m1, "HTTP/1.1 200");
  assert_contains(m1, "# TYPE pgmld_requests_total counter");
  assert_contains(m1, "# TYPE pgmld_request_duration_seconds histogram");
  assert_contains(m1, "pgmld_pool_connections{state=\"idle\"}");
  assert_true(metric(m1, "pgmld_pool_wait_seconds_total") >= 0);
  c = wsc_connect(D.ws_port, "/v1", 0, NULL);
  assert_true(c->established);
  for (i = 1; i <= 5; i++) {
    ws_ping(c, (uint64_t)i, NULL);
    expect_pong(wsc_recv(c), (uint64_t)i, "hi");
  }
  m2 = http_get(D.http_port, "/metrics");
  {
    const char *ok = "pgmld_requests_total{method=\"pgml.v1.Database/Ping\",code=\"OK\"}";
    const char *cnt = "pgmld_request_duration_seconds_count{method=\"pgml.v1.Database/Ping\"}";
    double before = metric(m1, ok), after = metric(m2, ok);
    if (before < 0)
      before = 0;
    assert_true(after >= before + 5);
    assert_true(metric(m2, cnt) >= 5);
    assert_true(metric(m2, "pgmld_connections{transport=\"ws\"}") >= 1);
    assert_true(metric(m2, "pgmld_bytes_received_total{transport=\"ws\"}") >
                metric(m1, "pgmld_bytes_received_total{transport=\"ws\"}"));
    assert_true(metric(m2, "pgmld_bytes_sent_total{transport=\"ws\"}") > 0);
    assert_true(metric(m2, "pgmld_inflight_requests") == 0);
  }
  wsc_free(c);
  free(m1);
  free(m2);
}

static void auth_cases(int port, int tls)
{
  char bearer[128];
  wsc_t *c;

  snprintf(bearer, sizeof(bearer), "Bearer %s", TOKEN);
  /* No token anywhere. */
  c = wsc_connect(port, "/v1", tls, NULL);
  if (!c->established)
    fail_msg("%s handshake failed: %s", tls ? "wss" : "ws", c->why);
  ws_ping(c, 1, NULL);
  expect_error(wsc_recv(c), 1, PGML__V1__CODE__UNAUTHENTICATED, "bearer token");
  /* One answer, then the connection is closed: it cannot hold a slot. */
  assert_null(wsc_recv(c));
  wsc_free(c);
  /* A wrong one in metadata: the same. */
  c = wsc_connect(port, "/v1", tls, NULL);
  assert_true(c->established);
  ws_ping(c, 2, "Bearer wrong-token");
  expect_error(wsc_recv(c), 2, PGML__V1__CODE__UNAUTHENTICATED, "bearer token");
  assert_null(wsc_recv(c));
  wsc_free(c);
  /* The right one in metadata, on each request. */
  c = wsc_connect(port, "/v1", tls, NULL);
  assert_true(c->established);
  ws_ping(c, 3, bearer);
  expect_pong(wsc_recv(c), 3, "hi");
  ws_ping(c, 33, bearer);
  expect_pong(wsc_recv(c), 33, "hi");
  wsc_free(c);
  /* The right one in the upgrade header: no metadata needed. */
  c = wsc_connect(port, "/v1", tls, bearer);
  assert_true(c->established);
  ws_ping(c, 4, NULL);
  expect_pong(wsc_recv(c), 4, "hi");
  wsc_free(c);
  /* A wrong one in the header: requests need metadata. */
  c = wsc_connect(port, "/v1", tls, "Bearer nope");
  assert_true(c->established);
  ws_ping(c, 5, NULL);
  expect_error(wsc_recv(c), 5, PGML__V1__CODE__UNAUTHENTICATED, "bearer token");
  wsc_free(c);
}

static void test_wss_auth(void **state)
{
  char bearer[128];
  wsc_t *c;

  (void)state;
  auth_cases(A.ws_port, 1);
  snprintf(bearer, sizeof(bearer), "Bearer %s", TOKEN);
  c = wsc_connect(A.ws_port, "/v1", 1, NULL);
  assert_true(c->established);
  expect_feature(c, bearer, "wss");
  wsc_free(c);
}

static void test_wss_untrusted_cert(void **state)
{
  /* Any CA other than the server's: the client must refuse.  The key file
   * is not a certificate, so nothing verifies. */
  char saved[300];
  wsc_t *c;

  (void)state;
  snprintf(saved, sizeof(saved), "%s", cert_path);
  snprintf(cert_path, sizeof(cert_path), "%s/other.pem", tmpdir);
  c = wsc_connect(A.ws_port, "/v1", 1, NULL);
  snprintf(cert_path, sizeof(cert_path), "%s", saved);
  assert_false(c->established);
  wsc_free(c);
}

static void test_ws_plain_auth(void **state)
{
  const char *extra[] = {"--websocket-listen", NULL, "--auth-tokens-file", tokens_path,
                         NULL};
  char addr[64];

  (void)state;
  X.ws_port = free_port();
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", X.ws_port);
  extra[1] = addr;
  daemon_run(&X, extra, 0);
  auth_cases(X.ws_port, 0);
  daemon_stop(&X);
  X.ws_port = 0;
}

/* Reads one length-prefixed frame from a Unix socket; NULL at EOF. */
static Pgml__V1__Frame *unix_read(int fd)
{
  uint8_t hdr[4], *body;
  size_t got = 0, len;
  Pgml__V1__Frame *f;

  while (got < 4) {
    struct pollfd pfd = {fd, POLLIN, 0};
    ssize_t n;
    if (poll(&pfd, 1, WAIT_MS) <= 0)
      fail_msg("no answer on the Unix socket within %d ms", WAIT_MS);
    n = recv(fd, hdr + got, 4 - got, 0);
    if (n <= 0)
      return NULL;
    got += (size_t)n;
  }
  len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
  assert_true(len <= MAX_FRAME);
  body = malloc(len + 1);
  assert_non_null(body);
  for (got = 0; got < len;) {
    ssize_t n = recv(fd, body + got, len - got, MSG_WAITALL);
    assert_true(n > 0);
    got += (size_t)n;
  }
  f = decode(body, len);
  free(body);
  return f;
}

/* Sends a Ping; -1 when the connection is gone (refused and closed). */
static int unix_try_ping(int fd, uint64_t id)
{
  size_t len;
  uint8_t *buf = ping_frame(id, "hi", NULL, &len), hdr[4];
  int rc;

  hdr[0] = (uint8_t)(len >> 24);
  hdr[1] = (uint8_t)(len >> 16);
  hdr[2] = (uint8_t)(len >> 8);
  hdr[3] = (uint8_t)len;
  rc = send(fd, hdr, 4, MSG_NOSIGNAL) == 4 && send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len
           ? 0 : -1;
  free(buf);
  return rc;
}

static void unix_ping(int fd, uint64_t id)
{
  assert_int_equal(unix_try_ping(fd, id), 0);
}

static void test_unix_no_token_needed(void **state)
{
  /* A daemon with tokens: the Unix socket still needs none. */
  int fd = connect_unix(A.sock);

  (void)state;
  assert_true(fd >= 0);
  unix_ping(fd, 1);
  expect_pong(unix_read(fd), 1, "hi");
  close(fd);
}

static void test_peer_allow_list(void **state)
{
  char other[32], mine[32];
  const char *extra[] = {"--server-allow-uids", other, NULL};
  char msg[96];
  int fd;

  (void)state;
  /* Only a uid that is not ours: refused, named. */
  snprintf(other, sizeof(other), "%u", (unsigned)getuid() + 12345u);
  daemon_run(&X, extra, 0);
  fd = connect_unix(X.sock);
  assert_true(fd >= 0);
  snprintf(msg, sizeof(msg), "uid %u ", (unsigned)getuid());
  {
    Pgml__V1__Frame *f = unix_read(fd);
    assert_non_null(f);
    assert_contains(f->message, "server.allow_uids");
    expect_error(f, 0, PGML__V1__CODE__PERMISSION_DENIED, msg);
  }
  assert_null(unix_read(fd));
  close(fd);
  daemon_stop(&X);

  /* Ours (and another): served. */
  snprintf(mine, sizeof(mine), "12345,%u", (unsigned)getuid());
  extra[1] = mine;
  daemon_run(&X, extra, 0);
  fd = connect_unix(X.sock);
  assert_true(fd >= 0);
  unix_ping(fd, 9);
  expect_pong(unix_read(fd), 9, "hi");
  close(fd);
  daemon_stop(&X);
}

/* server.socket_group gives the socket file its group; a group that does
 * not exist stops start-up naming it. */
static void test_socket_group(void **state)
{
  const char *extra[] = {"--server-socket-group", "12345", NULL};
  const char *bad[] = {"--server-socket-group", "no-such-group-here", NULL};
  struct stat st;
  char *log;

  (void)state;
  if (geteuid() != 0)
    skip();           /* only root may give a file any group */
  daemon_run(&X, extra, 0);
  assert_int_equal(stat(X.sock, &st), 0);
  assert_int_equal(st.st_gid, 12345);
  assert_int_equal(st.st_mode & 0777, 0660);
  daemon_stop(&X);
  assert_int_equal(daemon_run(&X, bad, 1), 1);
  log = slurp(X.log);
  assert_contains(log, "server.socket_group: no group named 'no-such-group-here'");
  free(log);
  daemon_stop(&X);
}

static void test_idle_timeout(void **state)
{
  const char *extra[] = {"--limits-idle-timeout-ms", "300", NULL};
  int fd;

  (void)state;
  daemon_run(&X, extra, 0);
  fd = connect_unix(X.sock);
  assert_true(fd >= 0);
  unix_ping(fd, 1);
  expect_pong(unix_read(fd), 1, "hi");
  /* Then silence: told why, then closed. */
  expect_error(unix_read(fd), 0, PGML__V1__CODE__UNAVAILABLE, "limits.idle_timeout_ms (300 ms)");
  assert_null(unix_read(fd));
  close(fd);
  daemon_stop(&X);
}

static void test_public_without_token_refused(void **state)
{
  const char *extra[] = {"--websocket-listen", "0.0.0.0:1", NULL};
  char *log;

  (void)state;
  assert_int_equal(daemon_run(&X, extra, 1), 1);
  log = slurp(X.log);
  assert_contains(log, "not a loopback address");
  assert_contains(log, "auth.tokens_file");
  free(log);
  daemon_stop(&X);
}

static void test_port_in_use_refused(void **state)
{
  const char *extra[] = {"--websocket-listen", NULL, NULL};
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  char addr[64], *log;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  (void)state;
  assert_true(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(fd, 1), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
  extra[1] = addr;
  assert_int_equal(daemon_run(&X, extra, 1), 1);
  close(fd);
  log = slurp(X.log);
  assert_contains(log, "cannot listen on 127.0.0.1:");
  free(log);
  daemon_stop(&X);
}

static int run(const char *cmd);

/* Starts or stops the test's own PostgreSQL in pgdir. */
static void own_cluster(const char *what)
{
  char cmd[800];

  snprintf(cmd, sizeof(cmd), "'%s/scripts/pg-cluster.sh' %s '%s' >/dev/null",
           getenv("PGMLD_SOURCE_DIR"), what, pgdir);
  if (run(cmd) != 0)
    fail_msg("scripts/pg-cluster.sh %s %s failed", what, pgdir);
}

/* Polls GET /readyz until it answers `code`; returns the last answer. */
static char *readyz_until(int port, const char *code)
{
  int i;

  for (i = 0; i < WAIT_MS / 100; i++) {
    char *r = http_get(port, "/readyz");
    if (strstr(r, code) != NULL)
      return r;
    free(r);
    usleep(100000);
  }
  fail_msg("/readyz did not answer %s within %d ms", code, WAIT_MS);
  return NULL;
}

/* /readyz follows PostgreSQL: 200, 503 with the reason while it is
 * stopped, 200 again once it is back. */
static void test_readyz_follows_postgres(void **state)
{
  const char *tmp = getenv("TMPDIR");
  const char *extra[] = {"--http-listen", NULL, NULL};
  char url[400], addr[64], *r;

  (void)state;
  if (getenv("PGMLD_SOURCE_DIR") == NULL)
    skip();
  snprintf(pgdir, sizeof(pgdir), "%s/pgmld-wspg-XXXXXX", tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(pgdir));
  assert_int_equal(chmod(pgdir, 0755), 0);
  own_cluster("start");
  snprintf(url, sizeof(url), "postgresql://pgmld@/pgmld?host=%s", pgdir);
  X.url = url;
  X.http_port = free_port();
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", X.http_port);
  extra[1] = addr;
  daemon_run(&X, extra, 0);
  r = readyz_until(X.http_port, "HTTP/1.1 200");
  assert_contains(r, "ready");
  free(r);
  own_cluster("stop");
  r = readyz_until(X.http_port, "HTTP/1.1 503");
  assert_contains(r, "not ready: no PostgreSQL connection is up");
  free(r);
  r = http_get(X.http_port, "/healthz");     /* alive all the same */
  assert_contains(r, "HTTP/1.1 200");
  free(r);
  own_cluster("start");
  free(readyz_until(X.http_port, "HTTP/1.1 200"));
  daemon_stop(&X);
  X.url = NULL;
  X.http_port = 0;
  own_cluster("stop");
}

/* ------------------------------------------------------------ a raw WebSocket */

/* Opens a WebSocket on 127.0.0.1:port/v1 by hand (no library), for a
 * client that misbehaves: returns the socket after the 101. */
static int raw_ws_open(int port)
{
  const char *req = "GET /v1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Protocol: pgml.v1\r\n\r\n";
  char resp[1024];
  size_t got = 0;
  int fd = connect_tcp(port);

  assert_true(fd >= 0);
  assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
  while (got < sizeof(resp) - 1) {
    ssize_t n = recv(fd, resp + got, 1, 0);
    assert_true(n == 1);
    got++;
    resp[got] = '\0';
    if (got >= 4 && memcmp(resp + got - 4, "\r\n\r\n", 4) == 0)
      break;
  }
  assert_contains(resp, "HTTP/1.1 101");
  return fd;
}

/* One masked binary frame (mask key 0: the payload goes as is). */
static size_t raw_ws_frame(uint8_t *out, const uint8_t *payload, size_t len)
{
  size_t h = 0;

  out[h++] = 0x82;
  if (len < 126) {
    out[h++] = (uint8_t)(0x80 | len);
  } else if (len < 65536) {
    out[h++] = 0x80 | 126;
    out[h++] = (uint8_t)(len >> 8);
    out[h++] = (uint8_t)len;
  } else {
    int i;
    out[h++] = 0x80 | 127;
    for (i = 7; i >= 0; i--)
      out[h++] = (uint8_t)((uint64_t)len >> (8 * i));
  }
  memset(out + h, 0, 4);
  h += 4;
  memcpy(out + h, payload, len);
  return h + len;
}

/* Reads one whole server frame (unmasked) into *payload (malloc'd);
 * returns its opcode, or -1 when the connection ended first. */
static int raw_ws_read(int fd, uint8_t **payload, size_t *len)
{
  uint8_t h[10];
  uint64_t n = 0;
  size_t got = 0, hl = 2;
  int i;

  while (got < hl) {
    ssize_t r = recv(fd, h + got, hl - got, 0);
    if (r <= 0)
      return -1;
    got += (size_t)r;
    if (got == 2)
      hl = (h[1] & 0x7f) == 126 ? 4 : (h[1] & 0x7f) == 127 ? 10 : 2;
  }
  if (hl == 2)
    n = h[1] & 0x7f;
  for (i = 2; i < (int)hl; i++)
    n = (n << 8) | h[i];
  assert_true(n < 1024 * 1024);
  *payload = malloc(n + 1);
  assert_non_null(*payload);
  for (got = 0; got < n;) {
    ssize_t r = recv(fd, *payload + got, n - got, 0);
    if (r <= 0) {
      free(*payload);
      return -1;
    }
    got += (size_t)r;
  }
  *len = (size_t)n;
  return h[0] & 0x0f;
}

/* A client that goes on sending an oversized message after pgmld refused
 * it: pgmld keeps reading (and dropping) while it answers and closes, so
 * the client's sends complete and it reads RESOURCE_EXHAUSTED and the
 * close, instead of a reset.  32 MiB is more than the kernel would buffer
 * for a peer that stopped reading. */
static void test_ws_oversized_sender_gets_answer(void **state)
{
  enum { BIG = 32 * 1024 * 1024, CHUNK = 1024 * 1024 };
  struct timeval tv = {20, 0};
  uint8_t hdr[14], *chunk, *payload;
  size_t off, len;
  int fd, op;
  Pgml__V1__Frame *f;

  (void)state;
  fd = raw_ws_open(D.ws_port);
  /* A regression stalls the sends: fail after 20 s instead of hanging. */
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
  hdr[0] = 0x82;
  hdr[1] = 0x80 | 127;
  for (int i = 0; i < 8; i++)
    hdr[2 + i] = (uint8_t)((uint64_t)BIG >> (8 * (7 - i)));
  memset(hdr + 10, 0, 4);       /* mask key 0 */
  assert_int_equal(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL), (ssize_t)sizeof(hdr));
  chunk = calloc(1, CHUNK);
  assert_non_null(chunk);
  for (off = 0; off < BIG;) {
    ssize_t n = send(fd, chunk, CHUNK, MSG_NOSIGNAL);
    if (n <= 0)
      fail_msg("sending the oversized message failed after %zu of %d bytes: %s", off, BIG,
               n < 0 ? strerror(errno) : "closed");
    off += (size_t)n;
  }
  free(chunk);
  op = raw_ws_read(fd, &payload, &len);
  assert_int_equal(op, 2);      /* binary: the answer on id 0 */
  f = decode(payload, len);
  free(payload);
  expect_error(f, 0, PGML__V1__CODE__RESOURCE_EXHAUSTED, "limits.max_frame_size (65536)");
  /* Then pgmld closes: its close frame, or the end of the stream. */
  errno = 0;
  op = raw_ws_read(fd, &payload, &len);
  if (op >= 0)
    free(payload);
  if (op != 8 && op != -1)
    fail_msg("after the answer: opcode %d, expected a close", op);
  fprintf(stderr, "after the answer: %s (%s)\n", op == 8 ? "close frame" : "end of stream",
          errno ? strerror(errno) : "no error");
  close(fd);
}

/* A client that sends requests and never reads their answers: pgmld must
 * stop reading it (its sends stall) rather than queue without bound, log
 * that it paused, and keep serving others. */
static void test_ws_slow_reader(void **state)
{
  static char data[48 * 1024];
  uint8_t *frame, *wire;
  size_t flen, wlen, sent_total = 0;
  int fd, stalled = 0;
  uint64_t id = 1;
  char *log;
  wsc_t *c;

  (void)state;
  memset(data, 'x', sizeof(data) - 1);
  fd = raw_ws_open(D.ws_port);
  assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
  wire = malloc(sizeof(data) + 64);
  assert_non_null(wire);
  /* Far more answers than PGMLD_CONN_OUTPUT_HIGH (4 MiB) plus what the
   * sockets can buffer; the loop ends when pgmld stops reading. */
  while (sent_total < 256u * 1024u * 1024u && !stalled) {
    size_t off = 0;
    frame = ping_frame(id++, data, NULL, &flen);
    wlen = raw_ws_frame(wire, frame, flen);
    free(frame);
    while (off < wlen) {
      struct pollfd pfd = {fd, POLLOUT, 0};
      ssize_t n = send(fd, wire + off, wlen - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += (size_t)n;
        continue;
      }
      assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
      /* Two seconds without room: pgmld is not reading.  (A false pass is
       * possible on a very slow machine, never a false failure.) */
      if (poll(&pfd, 1, 2000) == 0) {
        stalled = 1;
        break;
      }
    }
    sent_total += off;
  }
  free(wire);
  {
    /* For the record, not asserted: pgmld's peak memory at this point. */
    char path[64], line[128];
    FILE *fp;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)D.pid);
    fp = fopen(path, "r");
    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
      if (strncmp(line, "VmHWM:", 6) == 0)
        fprintf(stderr, "slow reader: pgmld stopped reading after %zu bytes of "
                "requests; pgmld %s", sent_total, line);
    if (fp != NULL)
      fclose(fp);
  }
  if (!stalled)
    fail_msg("pgmld kept reading %zu bytes of requests whose answers were never read",
             sent_total);
  /* Another client is served meanwhile. */
  c = wsc_connect(D.ws_port, "/v1", 0, NULL);
  assert_true(c->established);
  ws_ping(c, 1, NULL);
  expect_pong(wsc_recv(c), 1, "hi");
  wsc_free(c);
  log = slurp(D.log);
  assert_contains(log, "response bytes queued; reading paused");
  free(log);
  close(fd);
}

/* A reader of server frames on a raw socket: bytes in, whole messages
 * (reassembled from fragments) out. */
typedef struct raw_reader_s {
  uint8_t *buf;
  size_t len, cap;
  uint8_t *msg;
  size_t msg_len;
} raw_reader_t;

/* Takes one complete message out of r if there is one: returns 1 and
 * the message in *out (malloc'ed) and *out_len, else 0. */
static int raw_next_message(raw_reader_t *r, uint8_t **out, size_t *out_len)
{
  for (;;) {
    size_t h = 2, plen;
    int fin, op;
    if (r->len < 2)
      return 0;
    fin = r->buf[0] & 0x80;
    op = r->buf[0] & 0x0f;
    plen = r->buf[1] & 0x7f;
    assert_int_equal(r->buf[1] & 0x80, 0);      /* a server never masks */
    if (plen == 126) {
      if (r->len < 4)
        return 0;
      plen = (size_t)r->buf[2] << 8 | r->buf[3];
      h = 4;
    } else if (plen == 127) {
      int i;
      if (r->len < 10)
        return 0;
      for (plen = 0, i = 2; i < 10; i++)
        plen = plen << 8 | r->buf[i];
      h = 10;
    }
    if (r->len < h + plen)
      return 0;
    assert_true(op == 0x2 || op == 0x0);
    r->msg = realloc(r->msg, r->msg_len + plen + 1);
    assert_non_null(r->msg);
    memcpy(r->msg + r->msg_len, r->buf + h, plen);
    r->msg_len += plen;
    memmove(r->buf, r->buf + h + plen, r->len - h - plen);
    r->len -= h + plen;
    if (fin) {
      *out = r->msg;
      *out_len = r->msg_len;
      r->msg = NULL;
      r->msg_len = 0;
      return 1;
    }
  }
}

/* Requests sent without reading until pgmld stops reading them, then all
 * the answers read while the rest is sent: every request is answered once,
 * so reading resumed and the messages held meanwhile were delivered. */
static void test_ws_pause_resume(void **state)
{
  enum { N = 400 };
  static char data[48 * 1024];
  static int seen[N + 1];
  raw_reader_t r = {0};
  uint8_t *wire = malloc(sizeof(data) + 64), *frame = NULL;
  size_t flen = 0, wlen = 0, off = 0;
  int fd, next = 1, answered = 0, reading = 0;

  (void)state;
  assert_non_null(wire);
  memset(seen, 0, sizeof(seen));
  memset(data, 'z', sizeof(data) - 1);
  fd = raw_ws_open(D.ws_port);
  assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
  r.cap = 1 << 20;
  r.buf = malloc(r.cap);
  assert_non_null(r.buf);
  while (answered < N) {
    struct pollfd pfd = {fd, (short)((next <= N || off < wlen ? POLLOUT : 0) |
                                     (reading ? POLLIN : 0)), 0};
    int rc = poll(&pfd, 1, reading ? WAIT_MS : 2000);
    assert_true(rc >= 0);
    if (rc == 0) {
      /* pgmld stopped reading our requests: start reading answers. */
      assert_false(reading);
      reading = 1;
      continue;
    }
    if (pfd.revents & POLLOUT) {
      if (off == wlen && next <= N) {
        frame = ping_frame((uint64_t)next++, data, NULL, &flen);
        wlen = raw_ws_frame(wire, frame, flen);
        free(frame);
        off = 0;
      }
      if (off < wlen) {
        ssize_t n = send(fd, wire + off, wlen - off, MSG_NOSIGNAL);
        if (n > 0)
          off += (size_t)n;
      }
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
      uint8_t *m;
      size_t mlen;
      ssize_t n;
      if (r.cap - r.len < 65536) {
        r.cap *= 2;
        r.buf = realloc(r.buf, r.cap);
        assert_non_null(r.buf);
      }
      n = recv(fd, r.buf + r.len, r.cap - r.len, 0);
      if (n <= 0)
        fail_msg("pgmld closed the connection after %d answers", answered);
      r.len += (size_t)n;
      while (raw_next_message(&r, &m, &mlen)) {
        Pgml__V1__Frame *f = decode(m, mlen);
        free(m);
        if (f->code != 0 || f->id < 1 || f->id > N || seen[f->id])
          fail_msg("unexpected answer id %llu code %d: %s", (unsigned long long)f->id,
                   f->code, f->message);
        seen[f->id] = 1;
        answered++;
        pgml__v1__frame__free_unpacked(f, NULL);
      }
    }
  }
  assert_true(reading);    /* the pause happened */
  free(r.buf);
  free(r.msg);
  free(wire);
  close(fd);
}

static void test_ws_max_connections(void **state)
{
  const char *extra[] = {"--websocket-listen", NULL, "--limits-max-connections", "1", NULL};
  char addr[64];
  Pgml__V1__Frame *f;
  wsc_t *c;
  int fd;

  (void)state;
  X.ws_port = free_port();
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", X.ws_port);
  extra[1] = addr;
  daemon_run(&X, extra, 0);
  /* The one allowed.  The start-up probe's connection may not be reaped
   * yet: until it is, this one is refused too, so try again. */
  for (;;) {
    fd = connect_unix(X.sock);
    assert_true(fd >= 0);
    /* A refused connection may be closed before the Ping is even sent. */
    f = unix_try_ping(fd, 1) == 0 ? unix_read(fd) : NULL;
    if (f != NULL && f->id != 0)
      break;
    if (f != NULL) {
      assert_int_equal(f->code, PGML__V1__CODE__RESOURCE_EXHAUSTED);
      pgml__v1__frame__free_unpacked(f, NULL);
    }
    close(fd);
    usleep(20000);
  }
  expect_pong(f, 1, "hi");
  c = wsc_connect(X.ws_port, "/v1", 0, NULL);
  assert_true(c->established);
  f = wsc_recv(c);
  assert_non_null(f);
  assert_string_equal(f->details, "{\"limit\":\"max_connections\",\"value\":1}");
  expect_error(f, 0, PGML__V1__CODE__RESOURCE_EXHAUSTED, "limits.max_connections (1)");
  assert_null(wsc_recv(c));
  wsc_free(c);
  close(fd);
  daemon_stop(&X);
  X.ws_port = 0;
}

/* Waits for X to exit; returns its status. */
static int daemon_exit_status(daemon_t *d)
{
  int i, status;

  for (i = 0; i < WAIT_MS / 20; i++) {
    if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
      d->pid = 0;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    usleep(20000);
  }
  fail_msg("pgmld did not exit within %d ms", WAIT_MS);
  return -1;
}

/* SIGTERM with an idle WebSocket client and one that never reads its
 * answers: the first is closed, the second cut off after the grace
 * period, and pgmld exits 0. */
static void test_ws_shutdown_with_clients(void **state)
{
  const char *extra[] = {"--websocket-listen", NULL, "--server-shutdown-grace-ms", "500",
                         "--limits-idle-timeout-ms", "200", NULL};
  static char data[48 * 1024];
  uint8_t *frame, *wire;
  size_t flen, wlen;
  char addr[64];
  wsc_t *c, *idle;
  int fd, i;

  (void)state;
  memset(data, 'y', sizeof(data) - 1);
  X.ws_port = free_port();
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", X.ws_port);
  extra[1] = addr;
  daemon_run(&X, extra, 0);
  /* Idle over WebSocket: told why, then closed (the same path a shutdown
   * takes for a client that reads). */
  idle = wsc_connect(X.ws_port, "/v1", 0, NULL);
  assert_true(idle->established);
  expect_error(wsc_recv(idle), 0, PGML__V1__CODE__UNAVAILABLE, "limits.idle_timeout_ms");
  assert_null(wsc_recv(idle));
  wsc_free(idle);

  c = wsc_connect(X.ws_port, "/v1", 0, NULL);
  assert_true(c->established);
  ws_ping(c, 1, NULL);
  expect_pong(wsc_recv(c), 1, "hi");
  fd = raw_ws_open(X.ws_port);
  assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
  wire = malloc(sizeof(data) + 64);
  assert_non_null(wire);
  /* Enough unread answers to fill the socket buffers; pgmld keeps the
   * connection (a request is in flight or answers are queued). */
  for (i = 1; i <= 400; i++) {
    frame = ping_frame((uint64_t)i, data, NULL, &flen);
    wlen = raw_ws_frame(wire, frame, flen);
    free(frame);
    if (send(fd, wire, wlen, MSG_NOSIGNAL) != (ssize_t)wlen)
      break;          /* pgmld stopped reading: enough */
  }
  free(wire);
  kill(X.pid, SIGTERM);
  assert_int_equal(daemon_exit_status(&X), 0);
  close(fd);
  wsc_free(c);
  daemon_stop(&X);
  X.ws_port = 0;
}

static void test_bad_tokens_file_refused(void **state)
{
  char path[400];
  const char *extra[] = {"--auth-tokens-file", path, NULL};
  char *log;
  FILE *fp;

  (void)state;
  snprintf(path, sizeof(path), "%s/bad-tokens", tmpdir);
  fp = fopen(path, "w");
  assert_non_null(fp);
  fprintf(fp, "# a token pasted instead of its hash\n\nplain-secret-token\n");
  fclose(fp);
  assert_int_equal(daemon_run(&X, extra, 1), 1);
  log = slurp(X.log);
  assert_contains(log, "bad-tokens:3: expected sha256:");
  if (strstr(log, "plain-secret-token") != NULL)
    fail_msg("the log shows the content of a tokens file line:\n%s", log);
  free(log);
  daemon_stop(&X);
}

/* A browser page may open a WebSocket only from an origin listed in
 * websocket.allowed_origins; clients sending no Origin are not affected. */
static void test_ws_origin(void **state)
{
  const char *extra[] = {"--websocket-listen", NULL, "--websocket-allowed-origins",
                         "http://good.example:8080, https://app.example", NULL};
  char addr[64];
  wsc_t *c;

  (void)state;
  /* D lists no origin: every browser page is refused. */
  wsc_origin = "http://127.0.0.1:8080";
  c = wsc_connect(D.ws_port, "/v1", 0, NULL);
  wsc_origin = NULL;
  assert_false(c->established);
  wsc_free(c);

  X.ws_port = free_port();
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", X.ws_port);
  extra[1] = addr;
  daemon_run(&X, extra, 0);
  wsc_origin = "http://evil.example";
  c = wsc_connect(X.ws_port, "/v1", 0, NULL);
  assert_false(c->established);
  wsc_free(c);
  wsc_origin = "https://APP.example";
  c = wsc_connect(X.ws_port, "/v1", 0, NULL);
  assert_true(c->established);
  ws_ping(c, 1, NULL);
  expect_pong(wsc_recv(c), 1, "hi");
  wsc_free(c);
  wsc_origin = "http://good.example:8080";
  c = wsc_connect(X.ws_port, "/v1", 0, NULL);
  wsc_origin = NULL;
  assert_true(c->established);
  wsc_free(c);
  /* No Origin: a program, not a page. */
  c = wsc_connect(X.ws_port, "/v1", 0, NULL);
  assert_true(c->established);
  ws_ping(c, 2, NULL);
  expect_pong(wsc_recv(c), 2, "hi");
  wsc_free(c);
  daemon_stop(&X);
  X.ws_port = 0;
}

/* A connection that has shown no token may send messages of at most
 * 64 KiB, whatever limits.max_frame_size; with a token in the upgrade
 * header the full limit applies. */
static void test_ws_untrusted_message_cap(void **state)
{
  const char *extra[] = {"--websocket-listen", NULL, "--auth-tokens-file", tokens_path,
                         "--limits-max-frame-size", "1048576", NULL};
  char addr[64], bearer[128];
  size_t big = 64 * 1024 + 100, len;
  char *data = malloc(big + 1);
  uint8_t *buf;
  wsc_t *c;

  (void)state;
  assert_non_null(data);
  memset(data, 'x', big);
  data[big] = '\0';
  snprintf(bearer, sizeof(bearer), "Bearer %s", TOKEN);
  X.ws_port = free_port();
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", X.ws_port);
  extra[1] = addr;
  daemon_run(&X, extra, 0);
  buf = ping_frame(1, data, NULL, &len);
  c = wsc_connect(X.ws_port, "/v1", 0, NULL);
  assert_true(c->established);
  wsc_send(c, buf, len, 16384);
  expect_error(wsc_recv(c), 0, PGML__V1__CODE__RESOURCE_EXHAUSTED,
               "until the connection is authenticated");
  assert_null(wsc_recv(c));
  wsc_free(c);
  free(buf);
  /* Authenticated at the upgrade: the same message is served. */
  buf = ping_frame(2, data, NULL, &len);
  c = wsc_connect(X.ws_port, "/v1", 0, bearer);
  assert_true(c->established);
  wsc_send(c, buf, len, 16384);
  expect_pong(wsc_recv(c), 2, data);
  wsc_free(c);
  free(buf);
  free(data);
  daemon_stop(&X);
  X.ws_port = 0;
}

/* A Ping REQUEST of exactly `size` bytes; *data gets its data (owned). */
static uint8_t *ping_frame_of(uint64_t id, size_t size, char **data)
{
  char *d = malloc(size + 1);
  size_t n, len;

  assert_non_null(d);
  memset(d, 'p', size);
  for (n = size; n > 0; n--) {
    uint8_t *buf;
    d[n] = '\0';
    buf = ping_frame(id, d, NULL, &len);
    if (len == size) {
      *data = d;
      return buf;
    }
    free(buf);
  }
  fail_msg("no Ping frame of %zu bytes", size);
  return NULL;
}

/* The reassembly buffers of authenticated WebSocket connections count
 * against limits.max_server_inflight_bytes: a message that would take
 * them over it is refused on id 0 and its connection closed, and what it
 * held is given back, so the next client is served.  A message under the
 * limit is served even when doubling its buffer would go over. */
static void test_ws_server_inflight_bytes(void **state)
{
  const char *extra[] = {"--websocket-listen", NULL,
                         "--limits-max-server-inflight-bytes", "15000", NULL};
  char addr[64], *data;
  uint8_t *buf;
  wsc_t *c;

  (void)state;
  X.ws_port = free_port();
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", X.ws_port);
  extra[1] = addr;
  daemon_run(&X, extra, 0);

  /* 12000 bytes in 4096-byte fragments: the buffer would double to 16384. */
  c = wsc_connect(X.ws_port, "/v1", 0, NULL);
  assert_true(c->established);
  buf = ping_frame_of(1, 12000, &data);
  wsc_send(c, buf, 12000, 4096);
  free(buf);
  expect_pong(wsc_recv(c), 1, data);
  free(data);
  wsc_free(c);

  /* 15001 bytes: over the limit with its last byte (so that the client
   * has sent everything and reads the answer), refused, then closed. */
  c = wsc_connect(X.ws_port, "/v1", 0, NULL);
  assert_true(c->established);
  buf = ping_frame_of(2, 15001, &data);
  wsc_send(c, buf, 15001, 4096);
  free(buf);
  free(data);
  expect_error(wsc_recv(c), 0, PGML__V1__CODE__RESOURCE_EXHAUSTED,
               "over limits.max_server_inflight_bytes (15000)");
  assert_null(wsc_recv(c));
  wsc_free(c);

  /* The refused message's bytes were given back: another client is served
   * a message of the whole limit. */
  c = wsc_connect(X.ws_port, "/v1", 0, NULL);
  assert_true(c->established);
  buf = ping_frame_of(3, 15000, &data);
  wsc_send(c, buf, 15000, 4096);
  free(buf);
  expect_pong(wsc_recv(c), 3, data);
  free(data);
  wsc_free(c);

  daemon_stop(&X);
  X.ws_port = 0;
}

/* limits.max_ws_connections: WebSocket clients cannot take the slots the
 * Unix socket needs. */
static void test_ws_connection_cap(void **state)
{
  const char *extra[] = {"--websocket-listen", NULL, "--limits-max-ws-connections", "1",
                         NULL};
  char addr[64];
  wsc_t *c1, *c2;
  int fd;

  (void)state;
  X.ws_port = free_port();
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", X.ws_port);
  extra[1] = addr;
  daemon_run(&X, extra, 0);
  c1 = wsc_connect(X.ws_port, "/v1", 0, NULL);
  assert_true(c1->established);
  ws_ping(c1, 1, NULL);
  expect_pong(wsc_recv(c1), 1, "hi");
  c2 = wsc_connect(X.ws_port, "/v1", 0, NULL);
  assert_true(c2->established);
  expect_error(wsc_recv(c2), 0, PGML__V1__CODE__RESOURCE_EXHAUSTED,
               "limits.max_ws_connections (1)");
  assert_null(wsc_recv(c2));
  wsc_free(c2);
  fd = connect_unix(X.sock);
  assert_true(fd >= 0);
  unix_ping(fd, 7);
  expect_pong(unix_read(fd), 7, "hi");
  close(fd);
  wsc_free(c1);
  daemon_stop(&X);
  X.ws_port = 0;
}

/* Rotating the tokens file and reloading cuts off the connections that
 * were authenticated at their upgrade by a token now removed. */
static void test_ws_token_revoked_on_reload(void **state)
{
  char path[400], bearer[128], *log = NULL;
  const char *extra[] = {"--websocket-listen", NULL, "--auth-tokens-file", path, NULL};
  char addr[64], cmd[1000];
  wsc_t *c;
  int i;

  (void)state;
  snprintf(path, sizeof(path), "%s/rotating-tokens", tmpdir);
  snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", tokens_path, path);
  assert_int_equal(run(cmd), 0);
  snprintf(bearer, sizeof(bearer), "Bearer %s", TOKEN);
  X.ws_port = free_port();
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", X.ws_port);
  extra[1] = addr;
  daemon_run(&X, extra, 0);
  c = wsc_connect(X.ws_port, "/v1", 0, bearer);
  assert_true(c->established);
  ws_ping(c, 1, NULL);
  expect_pong(wsc_recv(c), 1, "hi");
  /* Another token only (the SHA-256 of "other"). */
  snprintf(cmd, sizeof(cmd), "printf 'sha256:%%s\\n' $(printf %%s other | sha256sum | "
           "cut -d' ' -f1) > '%s'", path);
  assert_int_equal(run(cmd), 0);
  assert_int_equal(kill(X.pid, SIGHUP), 0);
  expect_error(wsc_recv(c), 0, PGML__V1__CODE__UNAUTHENTICATED, "no longer accepted");
  assert_null(wsc_recv(c));
  wsc_free(c);
  for (i = 0; i < WAIT_MS / 20; i++) {
    log = slurp(X.log);
    if (strstr(log, "closed 1 WebSocket connections whose token was removed") != NULL)
      break;
    free(log);
    log = NULL;
    usleep(20000);
  }
  assert_non_null(log);
  free(log);
  daemon_stop(&X);
  X.ws_port = 0;
}

/* Public listeners that would expose tokens or unauthenticated endpoints
 * refuse to start, saying why. */
static void test_public_insecure_refused(void **state)
{
  const char *ws_extra[] = {"--websocket-listen", "0.0.0.0:1", "--auth-tokens-file",
                            tokens_path, NULL};
  const char *http_extra[] = {"--http-listen", "0.0.0.0:1", NULL};
  char *log;

  (void)state;
  assert_int_equal(daemon_run(&X, ws_extra, 1), 1);
  log = slurp(X.log);
  assert_contains(log, "clear text");
  assert_contains(log, "websocket.allow_insecure_public");
  free(log);
  daemon_stop(&X);
  assert_int_equal(daemon_run(&X, http_extra, 1), 1);
  log = slurp(X.log);
  assert_contains(log, "http.allow_public");
  free(log);
  daemon_stop(&X);
}

/* ------------------------------------------------------------ set-up */

static int run(const char *cmd)
{
  int rc = system(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int group_setup(void **state)
{
  const char *tmp = getenv("TMPDIR");
  char cmd[1400], hashline[128], wsl[64], httpl[64], awsl[64];
  FILE *fp;

  (void)state;
  lws_set_log_level(LLL_ERR, NULL);
  snprintf(tmpdir, sizeof(tmpdir), "%s/pgmld-wstest-XXXXXX", tmp ? tmp : "/tmp");
  if (mkdtemp(tmpdir) == NULL)
    return -1;
  snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmpdir);
  snprintf(key_path, sizeof(key_path), "%s/key.pem", tmpdir);
  snprintf(tokens_path, sizeof(tokens_path), "%s/tokens", tmpdir);
  /* A throw-away certificate for localhost, and an unrelated one. */
  snprintf(cmd, sizeof(cmd),
           "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
           "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '%s' -out '%s' "
           "2>/dev/null && openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
           "-subj /CN=localhost -keyout '%s/other.key' -out '%s/other.pem' 2>/dev/null",
           key_path, cert_path, tmpdir, tmpdir);
  if (run(cmd) != 0) {
    fprintf(stderr, "openssl could not make a test certificate\n");
    return -1;
  }
  snprintf(cmd, sizeof(cmd), "printf %%s '%s' | sha256sum | cut -d' ' -f1", TOKEN);
  fp = popen(cmd, "r");
  if (fp == NULL || fgets(hashline, sizeof(hashline), fp) == NULL)
    return -1;
  pclose(fp);
  hashline[strcspn(hashline, "\n")] = '\0';
  fp = fopen(tokens_path, "w");
  if (fp == NULL)
    return -1;
  fprintf(fp, "# test tokens\n\n%s%s\n", TOKEN_SHA256, hashline);
  fclose(fp);

  D.ws_port = free_port();
  D.http_port = free_port();
  snprintf(wsl, sizeof(wsl), "127.0.0.1:%d", D.ws_port);
  snprintf(httpl, sizeof(httpl), "127.0.0.1:%d", D.http_port);
  {
    const char *extra[] = {"--websocket-listen", wsl, "--http-listen", httpl, NULL};
    daemon_run(&D, extra, 0);
  }
  A.ws_port = free_port();
  snprintf(awsl, sizeof(awsl), "127.0.0.1:%d", A.ws_port);
  {
    const char *extra[] = {"--websocket-listen", awsl, "--tls-cert-file", cert_path,
                           "--tls-key-file", key_path, "--auth-tokens-file", tokens_path,
                           NULL};
    daemon_run(&A, extra, 0);
  }
  return 0;
}

static int group_teardown(void **state)
{
  char cmd[400];

  (void)state;
  daemon_stop(&X);
  if (pgdir[0] != '\0') {
    snprintf(cmd, sizeof(cmd), "'%s/scripts/pg-cluster.sh' stop '%s' >/dev/null 2>&1; "
             "rm -rf '%s'", getenv("PGMLD_SOURCE_DIR"), pgdir, pgdir);
    if (run(cmd) != 0)
      fprintf(stderr, "cannot remove %s\n", pgdir);
  }
  daemon_stop(&A);
  daemon_stop(&D);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  if (tmpdir[0] != '\0' && getenv("PGMLD_TEST_KEEP") == NULL && run(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", tmpdir);
  return 0;
}

/* Before each test: no daemon X left over from a test that failed. */
static int reset_x(void **state)
{
  (void)state;
  daemon_stop(&X);
  X.ws_port = X.http_port = 0;
  X.url = NULL;
  wsc_origin = NULL;
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(test_ws_ping, reset_x),
    cmocka_unit_test_setup(test_ws_fragmented, reset_x),
    cmocka_unit_test_setup(test_ws_oversized, reset_x),
    cmocka_unit_test_setup(test_ws_oversized_sender_gets_answer, reset_x),
    cmocka_unit_test_setup(test_ws_wrong_path, reset_x),
    cmocka_unit_test_setup(test_http_endpoints, reset_x),
    cmocka_unit_test_setup(test_wss_auth, reset_x),
    cmocka_unit_test_setup(test_wss_untrusted_cert, reset_x),
    cmocka_unit_test_setup(test_ws_plain_auth, reset_x),
    cmocka_unit_test_setup(test_unix_no_token_needed, reset_x),
    cmocka_unit_test_setup(test_peer_allow_list, reset_x),
    cmocka_unit_test_setup(test_socket_group, reset_x),
    cmocka_unit_test_setup(test_idle_timeout, reset_x),
    cmocka_unit_test_setup(test_public_without_token_refused, reset_x),
    cmocka_unit_test_setup(test_port_in_use_refused, reset_x),
    cmocka_unit_test_setup(test_readyz_follows_postgres, reset_x),
    cmocka_unit_test_setup(test_ws_slow_reader, reset_x),
    cmocka_unit_test_setup(test_ws_pause_resume, reset_x),
    cmocka_unit_test_setup(test_ws_max_connections, reset_x),
    cmocka_unit_test_setup(test_bad_tokens_file_refused, reset_x),
    cmocka_unit_test_setup(test_ws_origin, reset_x),
    cmocka_unit_test_setup(test_ws_untrusted_message_cap, reset_x),
    cmocka_unit_test_setup(test_ws_connection_cap, reset_x),
    cmocka_unit_test_setup(test_ws_server_inflight_bytes, reset_x),
    cmocka_unit_test_setup(test_ws_token_revoked_on_reload, reset_x),
    cmocka_unit_test_setup(test_public_insecure_refused, reset_x),
    cmocka_unit_test_setup(test_ws_shutdown_with_clients, reset_x),
  };

  signal(SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
