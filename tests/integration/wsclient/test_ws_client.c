/* test_ws_client.c - libpgml over ws:// and wss:// against the real pgmld:
 * 1,000 Pings in flight and a 300 KB Ping on one WebSocket connection, bearer
 * tokens (header, metadata, missing, wrong: UNAUTHENTICATED), and TLS with
 * a certificate made here by the openssl CLI (verified with a CA file;
 * refused without it, with another CA, and for a host the certificate does
 * not name, each with a message naming the reason and the address).
 *
 * Two daemons share the fixture's PostgreSQL: one serves ws:// and one
 * wss://, both requiring a token.  Environment (tests/CMakeLists.txt):
 * PGMLD_BIN, PGMLD_TEST_DATABASE_URL; WSC_RUN_TLS=0 skips wss://.
 */
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
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pb_decode.h>
#include <pgml/blocking.h>
#include <pgml/client.h>
#include <pgml/v1/database.pb.h>

#include "../common/client_loop.h"

#define INFLIGHT 1000
#define BIG_PING (300u * 1024u)
#define TOKEN "wsc-test-token-7f3a"
/* Bounds on waiting for a daemon: attempts, not a timing assertion. */
#define START_ATTEMPTS 600
#define ATTEMPT_MS 50

typedef struct {
  const char *name;
  char sock[160];
  char log[160];
  char conf[160];
  int port;
  pid_t pid;
} daemon_t;

static struct {
  char dir[64];
  char ca[160];        /* the CA that signed the server's certificate */
  char other_ca[160];  /* a CA that did not */
  daemon_t ws;
  daemon_t wss;
  int tls;
} g;

static void print_log(const daemon_t *dm)
{
  char line[1024];
  FILE *f = fopen(dm->log, "r");

  if (f == NULL)
    return;
  fprintf(stderr, "---- %s\n", dm->log);
  while (fgets(line, sizeof(line), f) != NULL)
    fputs(line, stderr);
  fclose(f);
}

/* A TCP port free right now on 127.0.0.1. */
static int free_port(void)
{
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;

  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static int run(const char *cmd)
{
  int rc = system(cmd);

  if (rc != 0)
    fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
  return rc;
}

static int ping_unix(const daemon_t *dm)
{
  pgml_call_options_t o = {.timeout_ms = 1000};
  pgml_sync_result_t out;
  pgml_client_t *c;
  int rc;

  if (pgml_client_new(dm->sock, NULL, &c) != 0)
    return -1;
  rc = pgml_call_raw_sync(c, "Ping", NULL, 0, &o, &out);
  if (rc >= 0)
    pgml_sync_result_free(&out);
  pgml_client_free(c);
  return rc;
}

static int start_daemon(daemon_t *dm, const char *extra_conf)
{
  const char *bin = getenv("PGMLD_BIN");
  const char *url = getenv("PGMLD_TEST_DATABASE_URL");
  FILE *f;
  int i, status;

  if (bin == NULL || url == NULL) {
    fprintf(stderr, "PGMLD_BIN and PGMLD_TEST_DATABASE_URL must be set (ctest sets them)\n");
    return -1;
  }
  snprintf(dm->sock, sizeof(dm->sock), "%s/%s.sock", g.dir, dm->name);
  snprintf(dm->log, sizeof(dm->log), "%s/%s.log", g.dir, dm->name);
  snprintf(dm->conf, sizeof(dm->conf), "%s/%s.conf", g.dir, dm->name);
  dm->port = free_port();
  if (dm->port < 0)
    return -1;
  f = fopen(dm->conf, "w");
  if (f == NULL)
    return -1;
  fprintf(f, "[websocket]\nlisten = 127.0.0.1:%d\n\n[auth]\ntokens_file = %s/tokens\n\n%s",
          dm->port, g.dir, extra_conf);
  fclose(f);
  dm->pid = fork();
  if (dm->pid < 0)
    return -1;
  if (dm->pid == 0) {
    int fd = open(dm->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execl(bin, "pgmld", "--config", dm->conf, "--server-socket-path", dm->sock,
          "--database-url", url, "--database-pool-size", "2", "--log-level", "info",
          (char *)NULL);
    fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
    _exit(127);
  }
  for (i = 0; i < START_ATTEMPTS; i++) {
    if (waitpid(dm->pid, &status, WNOHANG) == dm->pid) {
      fprintf(stderr, "pgmld (%s) exited before answering (status %d)\n", dm->name, status);
      dm->pid = -1;
      print_log(dm);
      return -1;
    }
    if (ping_unix(dm) == 0)
      return 0;
    pgml_test_sleep_ms(ATTEMPT_MS);
  }
  fprintf(stderr, "pgmld (%s) did not answer a Ping on %s\n", dm->name, dm->sock);
  print_log(dm);
  return -1;
}

static int stop_daemon(daemon_t *dm)
{
  int i, status = 0;

  if (dm->pid <= 0)
    return 0;
  kill(dm->pid, SIGTERM);
  for (i = 0; i < START_ATTEMPTS; i++) {
    if (waitpid(dm->pid, &status, WNOHANG) == dm->pid)
      break;
    pgml_test_sleep_ms(ATTEMPT_MS);
  }
  if (i == START_ATTEMPTS) {
    kill(dm->pid, SIGKILL);
    waitpid(dm->pid, &status, 0);
  }
  dm->pid = -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* The test's certificates: a CA, a server certificate it signs naming only
 * DNS:localhost (so that 127.0.0.1 does not match), and an unrelated CA. */
static int make_certs(void)
{
  char cmd[2048];

  snprintf(cmd, sizeof(cmd),
           "cd %s && "
           "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
           "-subj '/CN=pgml wsclient test CA' 2>/dev/null && "
           "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem "
           "-days 2 -subj '/CN=pgml wsclient other CA' 2>/dev/null && "
           "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
           "-subj '/CN=localhost' 2>/dev/null && "
           "printf 'subjectAltName=DNS:localhost\\n' > server.ext && "
           "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
           "-out server.pem -days 2 -extfile server.ext 2>/dev/null && "
           "printf '# test token\\nsha256:%%s\\n' "
           "\"$(printf %%s '" TOKEN "' | sha256sum | cut -d' ' -f1)\" > tokens",
           g.dir);
  if (run(cmd) != 0)
    return -1;
  snprintf(g.ca, sizeof(g.ca), "%s/ca.pem", g.dir);
  snprintf(g.other_ca, sizeof(g.other_ca), "%s/other.pem", g.dir);
  return 0;
}

static int group_setup(void **state)
{
  char tls_conf[512];
  const char *run_tls = getenv("WSC_RUN_TLS");

  (void)state;
  snprintf(g.dir, sizeof(g.dir), "/tmp/pgml-wsc-it-XXXXXX");
  if (mkdtemp(g.dir) == NULL)
    return -1;
  if (make_certs() != 0)
    return -1;
  g.ws.name = "ws";
  g.wss.name = "wss";
  if (start_daemon(&g.ws, "") != 0)
    return -1;
  g.tls = run_tls == NULL || strcmp(run_tls, "0") != 0;
  if (!g.tls)
    return 0;
  snprintf(tls_conf, sizeof(tls_conf), "[tls]\ncert_file = %s/server.pem\nkey_file = %s/server.key\n",
           g.dir, g.dir);
  return start_daemon(&g.wss, tls_conf);
}

static int group_teardown(void **state)
{
  char cmd[128];
  int rc = 0;

  (void)state;
  if (stop_daemon(&g.ws) != 0) {
    print_log(&g.ws);
    rc = -1;
  }
  if (stop_daemon(&g.wss) != 0) {
    print_log(&g.wss);
    rc = -1;
  }
  snprintf(cmd, sizeof(cmd), "rm -rf %s", g.dir);
  if (strncmp(g.dir, "/tmp/pgml-wsc-it-", 17) == 0)
    (void)run(cmd);
  return rc;
}

/* ------------------------------------------------------------- helpers */

typedef struct {
  uint8_t *req;        /* an encoded PingRequest with BIG_PING bytes */
  size_t req_len;
  int runs;
  int ok;
} big_t;

static void on_big(pgml_client_t *c, const pgml_result_t *res, void *ud)
{
  big_t *b = ud;

  (void)c;
  b->runs++;
  if (res->code != PGML_OK) {
    fprintf(stderr, "big Ping: %s: %s\n", pgml_code_name(res->code), res->message);
    return;
  }
  /* PingResponse.data is field 1 like PingRequest.data: the same bytes. */
  b->ok = res->payload_len == b->req_len && memcmp(res->payload, b->req, b->req_len) == 0;
}

/* PingRequest{data: BIG_PING pseudo-random bytes}, encoded by hand: nanopb
 * as built here cannot hold a bytes field over 65535. */
static void make_big(big_t *b)
{
  size_t i, n = 0;
  uint32_t len = BIG_PING, x = 12345;

  b->req = malloc(BIG_PING + 8);
  assert_non_null(b->req);
  b->req[n++] = 0x0a;
  while (len >= 0x80) {
    b->req[n++] = (uint8_t)(len | 0x80);
    len >>= 7;
  }
  b->req[n++] = (uint8_t)len;
  for (i = 0; i < BIG_PING; i++) {
    x = x * 1103515245u + 12345u;
    b->req[n++] = (uint8_t)(x >> 16);
  }
  b->req_len = n;
  b->runs = b->ok = 0;
}

/* 1,000 Pings with distinct payloads and one of 300 KB, all in flight at
 * once on the connection to `address`, each answered with its own bytes. */
static void many_pings(const char *address, const pgml_client_options_t *co)
{
  pgml_call_options_t o = {.timeout_ms = 60000};
  pgml_test_ping_t *slots = calloc(INFLIGHT, sizeof(*slots));
  pgml_client_t *c;
  big_t big;
  size_t i;
  int fd;

  assert_non_null(slots);
  make_big(&big);
  assert_int_equal(pgml_client_new(address, co, &c), 0);
  for (i = 0; i < INFLIGHT; i++) {
    pgml_test_ping_send(c, "ws ", i, INFLIGHT, &o, &slots[i]);
    if (i == INFLIGHT / 2)
      assert_int_equal(pgml_call_raw(c, "Ping", big.req, big.req_len, &o, on_big, &big, NULL),
                       0);
  }
  assert_int_equal(pgml_client_pending(c), INFLIGHT + 1);
  fd = pgml_client_fd(c);
  assert_true(fd >= 0);
  pgml_test_drive(c, NULL);
  for (i = 0; i < INFLIGHT; i++) {
    assert_int_equal(slots[i].runs, 1);
    if (!slots[i].ok)
      fail_msg("Ping %zu over %s did not get its own payload back", i, address);
  }
  assert_int_equal(big.runs, 1);
  assert_true(big.ok);
  print_message("%s: %d Pings and one of %u bytes in flight on one connection, all matched\n",
                address, INFLIGHT, BIG_PING);
  pgml_client_free(c);
  free(big.req);
  free(slots);
}

/* One Ping; returns its code and copies the message. */
static pgml_code_t ping_code(const char *address, const pgml_client_options_t *co,
                             const char *const *md, char *msg, size_t msg_len)
{
  pgml_call_options_t o = {.timeout_ms = 10000, .metadata = md};
  pgml_sync_result_t out;
  pgml_client_t *c;
  pgml_code_t code;
  int rc;

  assert_int_equal(pgml_client_new(address, co, &c), 0);
  rc = pgml_call_raw_sync(c, "Ping", NULL, 0, &o, &out);
  assert_true(rc >= 0);
  code = out.code;
  snprintf(msg, msg_len, "%s", out.message);
  pgml_sync_result_free(&out);
  pgml_client_free(c);
  return code;
}

/* ServerInfo.features over `address`, space-separated, into out. */
static void features(const char *address, const pgml_client_options_t *co, char *out,
                     size_t out_len)
{
  pgml_v1_ServerInfoRequest ireq = pgml_v1_ServerInfoRequest_init_zero;
  pgml_v1_ServerInfoResponse info = pgml_v1_ServerInfoResponse_init_zero;
  pgml_call_options_t o = {.timeout_ms = 10000};
  pgml_sync_result_t res;
  pgml_client_t *c;
  pb_size_t i;
  size_t n = 0;

  assert_int_equal(pgml_client_new(address, co, &c), 0);
  assert_int_equal(pgml_call_sync(c, "ServerInfo", pgml_v1_ServerInfoRequest_fields, &ireq,
                                  pgml_v1_ServerInfoResponse_fields, &info, &o, &res), 0);
  out[0] = '\0';
  for (i = 0; i < info.features_count; i++)
    n += (size_t)snprintf(out + n, out_len > n ? out_len - n : 0, " %s", info.features[i]);
  pb_release(pgml_v1_ServerInfoResponse_fields, &info);
  pgml_sync_result_free(&res);
  pgml_client_free(c);
}

/* --------------------------------------------------------------- tests */

static void test_ws_pings(void **state)
{
  pgml_client_options_t co = {.token = TOKEN};
  char addr[96], feats[256];

  (void)state;
  snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/v1", g.ws.port);
  features(addr, &co, feats, sizeof(feats));
  assert_non_null(strstr(feats, " ws"));
  many_pings(addr, &co);
}

static void test_ws_tokens(void **state)
{
  pgml_client_options_t none = {0}, wrong = {.token = "not-the-token"}, right = {.token = TOKEN};
  const char *md_ok[] = {"authorization", "Bearer " TOKEN, NULL};
  const char *md_bad[] = {"authorization", "Bearer nope", NULL};
  char addr[96], msg[1024];

  (void)state;
  snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/v1", g.ws.port);
  assert_int_equal(ping_code(addr, &none, NULL, msg, sizeof(msg)), PGML_UNAUTHENTICATED);
  assert_non_null(strstr(msg, "missing or invalid bearer token"));
  assert_int_equal(ping_code(addr, &wrong, NULL, msg, sizeof(msg)), PGML_UNAUTHENTICATED);
  assert_int_equal(ping_code(addr, &none, md_bad, msg, sizeof(msg)), PGML_UNAUTHENTICATED);
  /* The browser's way: the token in each request's metadata. */
  assert_int_equal(ping_code(addr, &none, md_ok, msg, sizeof(msg)), PGML_OK);
  assert_int_equal(ping_code(addr, &right, NULL, msg, sizeof(msg)), PGML_OK);
  /* A path pgmld does not serve is refused at the upgrade. */
  snprintf(addr, sizeof(addr), "ws://127.0.0.1:%d/elsewhere", g.ws.port);
  assert_int_equal(ping_code(addr, &right, NULL, msg, sizeof(msg)), PGML_UNAVAILABLE);
  assert_non_null(strstr(msg, "cannot connect: "));
}

static void test_wss_pings(void **state)
{
  pgml_client_options_t co = {.token = TOKEN, .ca_file = g.ca};
  char addr[96], feats[256];

  (void)state;
  if (!g.tls)
    skip();
  snprintf(addr, sizeof(addr), "wss://localhost:%d/v1", g.wss.port);
  features(addr, &co, feats, sizeof(feats));
  assert_non_null(strstr(feats, " wss"));
  many_pings(addr, &co);
}

static void test_wss_verification(void **state)
{
  pgml_client_options_t sys = {.token = TOKEN};
  pgml_client_options_t other = {.token = TOKEN, .ca_file = g.other_ca};
  pgml_client_options_t right = {.token = TOKEN, .ca_file = g.ca};
  pgml_client_options_t missing = {.token = TOKEN, .ca_file = "/nonexistent/ca.pem"};
  char addr[96], ip_addr[96], want[160], msg[1024];

  (void)state;
  if (!g.tls)
    skip();
  snprintf(addr, sizeof(addr), "wss://localhost:%d/v1", g.wss.port);
  snprintf(ip_addr, sizeof(ip_addr), "wss://127.0.0.1:%d/v1", g.wss.port);

  /* The system's store does not know the test's CA. */
  assert_int_equal(ping_code(addr, &sys, NULL, msg, sizeof(msg)), PGML_UNAVAILABLE);
  snprintf(want, sizeof(want), "pgmld at %s: cannot connect: certificate verify failed: ", addr);
  if (strstr(msg, want) == NULL)
    fail_msg("\"%s\" lacks \"%s\"", msg, want);
  assert_non_null(strstr(msg, "system CA store"));

  assert_int_equal(ping_code(addr, &other, NULL, msg, sizeof(msg)), PGML_UNAVAILABLE);
  if (strstr(msg, want) == NULL)
    fail_msg("\"%s\" lacks \"%s\"", msg, want);
  assert_non_null(strstr(msg, g.other_ca));

  /* The right CA, but the certificate names localhost, not 127.0.0.1. */
  assert_int_equal(ping_code(ip_addr, &right, NULL, msg, sizeof(msg)), PGML_UNAVAILABLE);
  assert_non_null(strstr(msg, "certificate verify failed: IP address mismatch"));

  assert_int_equal(ping_code(addr, &missing, NULL, msg, sizeof(msg)), PGML_UNAVAILABLE);
  assert_non_null(strstr(msg, "cannot load the CA file /nonexistent/ca.pem"));

  /* Plain ws:// to the TLS listener fails with a reason, not a hang. */
  snprintf(addr, sizeof(addr), "ws://localhost:%d/v1", g.wss.port);
  assert_int_equal(ping_code(addr, &right, NULL, msg, sizeof(msg)), PGML_UNAVAILABLE);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ws_pings),
    cmocka_unit_test(test_ws_tokens),
    cmocka_unit_test(test_wss_pings),
    cmocka_unit_test(test_wss_verification),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
