/* test_c_client.c - libpgml against the real pgmld: 1,000 Pings in flight on
 * one connection, the blocking API, the libuv adapter, ServerInfo, the
 * example programs, and reconnecting after the daemon restarts.
 *
 * Environment (tests/CMakeLists.txt sets it): PGMLD_BIN, the daemon;
 * PGMLD_TEST_DATABASE_URL, the fixture's PostgreSQL.  The example programs'
 * paths come from the build (PGML_PING_BIN, PGML_UV_PING_BIN).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pb_decode.h>
#include <pgml/blocking.h>
#include <pgml/client.h>
#include <pgml/uv.h>
#include <pgml/v1/database.pb.h>

#include "../common/client_loop.h"

#define POOL_SIZE 3
#define INFLIGHT 1000
/* Bounds on waiting for the daemon: attempts, not a timing assertion. */
#define START_ATTEMPTS 600
#define ATTEMPT_MS 50

static struct {
  char dir[64];
  char sock[128];
  char log[128];
  char conf[128];
  pid_t pid;
} d = {.pid = -1};

static void print_log(void)
{
  char line[1024];
  FILE *f = fopen(d.log, "r");

  if (f == NULL)
    return;
  fprintf(stderr, "---- %s\n", d.log);
  while (fgets(line, sizeof(line), f) != NULL)
    fputs(line, stderr);
  fclose(f);
}

/* Pings the daemon once with the blocking API; 0 when it answered. */
static int ping_once(void)
{
  pgml_call_options_t o = {.timeout_ms = 1000};
  pgml_sync_result_t out;
  pgml_client_t *c;
  int rc;

  if (pgml_client_new(d.sock, NULL, &c) != 0)
    return -1;
  rc = pgml_call_raw_sync(c, "Ping", NULL, 0, &o, &out);
  if (rc >= 0)
    pgml_sync_result_free(&out);
  pgml_client_free(c);
  return rc;
}

/* Starts pgmld on d.sock and waits until it answers a Ping. */
static int start_daemon(void)
{
  const char *bin = getenv("PGMLD_BIN");
  const char *url = getenv("PGMLD_TEST_DATABASE_URL");
  int i, status;

  if (bin == NULL || url == NULL) {
    fprintf(stderr, "PGMLD_BIN and PGMLD_TEST_DATABASE_URL must be set (ctest sets them)\n");
    return -1;
  }
  if (access(bin, X_OK) != 0) {
    fprintf(stderr, "PGMLD_BIN=%s: %s\n", bin, strerror(errno));
    return -1;
  }
  d.pid = fork();
  if (d.pid < 0)
    return -1;
  if (d.pid == 0) {
    int fd = open(d.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execl(bin, "pgmld", "--config", d.conf, "--server-socket-path", d.sock,
          "--database-url", url, "--database-pool-size", "3", "--log-level", "info",
          (char *)NULL);
    fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
    _exit(127);
  }
  for (i = 0; i < START_ATTEMPTS; i++) {
    if (waitpid(d.pid, &status, WNOHANG) == d.pid) {
      fprintf(stderr, "pgmld exited before answering (status %d)\n", status);
      d.pid = -1;
      print_log();
      return -1;
    }
    if (ping_once() == 0)
      return 0;
    pgml_test_sleep_ms(ATTEMPT_MS);
  }
  fprintf(stderr, "pgmld did not answer a Ping on %s\n", d.sock);
  print_log();
  return -1;
}

/* Stops pgmld with SIGTERM (SIGKILL if it does not exit); 0 when it exited
 * with status 0. */
static int stop_daemon(void)
{
  int i, status = 0;

  if (d.pid < 0)
    return 0;
  kill(d.pid, SIGTERM);
  for (i = 0; i < START_ATTEMPTS; i++) {
    if (waitpid(d.pid, &status, WNOHANG) == d.pid)
      break;
    pgml_test_sleep_ms(ATTEMPT_MS);
  }
  if (i == START_ATTEMPTS) {
    kill(d.pid, SIGKILL);
    waitpid(d.pid, &status, 0);
  }
  d.pid = -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
  FILE *f;

  (void)state;
  snprintf(d.dir, sizeof(d.dir), "/tmp/pgml-c-it-XXXXXX");
  if (mkdtemp(d.dir) == NULL)
    return -1;
  snprintf(d.sock, sizeof(d.sock), "%s/pgmld.sock", d.dir);
  snprintf(d.log, sizeof(d.log), "%s/pgmld.log", d.dir);
  snprintf(d.conf, sizeof(d.conf), "%s/pgmld.conf", d.dir);
  /* An empty configuration file, so that /etc/pgmld/pgmld.conf is not read. */
  f = fopen(d.conf, "w");
  if (f == NULL)
    return -1;
  fclose(f);
  return start_daemon();
}

static int group_teardown(void **state)
{
  int rc;

  (void)state;
  rc = stop_daemon();
  if (rc != 0)
    print_log();
  unlink(d.sock);
  unlink(d.log);
  unlink(d.conf);
  rmdir(d.dir);
  return rc;
}

/* ------------------------------------------- 1,000 Pings on one connection */

typedef struct {
  int closes;
  int last_fd;
} conn_watch_t;

static void on_watch(pgml_client_t *c, int fd, unsigned events, void *ud)
{
  conn_watch_t *w = ud;

  (void)c;
  (void)events;
  if (fd < 0 && w->last_fd >= 0)
    w->closes++;
  w->last_fd = fd;
}

static void test_thousand_in_flight(void **state)
{
  conn_watch_t w = {0, -1};
  pgml_client_options_t co = {.on_watch = on_watch, .watch_ud = &w};
  pgml_call_options_t o = {.timeout_ms = 60000};
  pgml_test_ping_t *slots = calloc(INFLIGHT, sizeof(*slots));
  pgml_client_t *c;
  size_t i, j, steps = 0;
  int fd;

  (void)state;
  assert_non_null(slots);
  assert_int_equal(pgml_client_new(d.sock, &co, &c), 0);
  /* Distinct payloads of varying lengths (0 for the first). */
  for (i = 0; i < INFLIGHT; i++)
    pgml_test_ping_send(c, "", i, INFLIGHT, &o, &slots[i]);
  /* All of them are in flight before any is answered. */
  assert_int_equal(pgml_client_pending(c), INFLIGHT);
  fd = pgml_client_fd(c);
  assert_true(fd >= 0);
  for (i = 1; i < INFLIGHT; i++)
    for (j = i < 8 ? 0 : i - 8; j < i; j++)
      assert_true(slots[i].id != slots[j].id);
  pgml_test_drive(c, &steps);
  for (i = 0; i < INFLIGHT; i++) {
    assert_int_equal(slots[i].runs, 1);
    if (!slots[i].ok)
      fail_msg("Ping %zu (id %llu) did not get its own payload back", i,
               (unsigned long long)slots[i].id);
  }
  /* One connection throughout. */
  assert_int_equal(w.closes, 0);
  assert_int_equal(pgml_client_fd(c), fd);
  print_message("%d Pings in flight on one connection, all matched, in %zu steps\n",
                INFLIGHT, steps);
  pgml_client_free(c);
  free(slots);
}

/* ------------------------------------------------------ the blocking API */

static void test_blocking_and_server_info(void **state)
{
  pgml_v1_ServerInfoRequest ireq = pgml_v1_ServerInfoRequest_init_zero;
  pgml_v1_ServerInfoResponse info = pgml_v1_ServerInfoResponse_init_zero;
  pgml_v1_PingRequest preq = pgml_v1_PingRequest_init_zero;
  pgml_v1_PingResponse pong = pgml_v1_PingResponse_init_zero;
  struct {
    pb_size_t size;
    pb_byte_t bytes[5];
  } data = {5, {'b', 'l', 'o', 'c', 'k'}};
  pgml_sync_result_t out;
  pgml_client_t *c;
  char addr[160];
  pb_size_t i;
  int rc, unix_feature = 0;

  (void)state;
  snprintf(addr, sizeof(addr), "unix://%s", d.sock);
  assert_int_equal(pgml_client_new(addr, NULL, &c), 0);

  preq.data = (pb_bytes_array_t *)&data;
  rc = pgml_call_sync(c, "pgml.v1.Database/Ping", pgml_v1_PingRequest_fields, &preq,
                      pgml_v1_PingResponse_fields, &pong, NULL, &out);
  assert_int_equal(rc, 0);
  assert_non_null(pong.data);
  assert_int_equal(pong.data->size, 5);
  assert_memory_equal(pong.data->bytes, "block", 5);
  pb_release(pgml_v1_PingResponse_fields, &pong);
  pgml_sync_result_free(&out);

  rc = pgml_call_sync(c, "ServerInfo", pgml_v1_ServerInfoRequest_fields, &ireq,
                      pgml_v1_ServerInfoResponse_fields, &info, NULL, &out);
  assert_int_equal(rc, 0);
  assert_non_null(info.version);
  assert_string_equal(info.version, pgml_version());
  assert_true(info.protocol_version >= 1);
  for (i = 0; i < info.features_count; i++)
    unix_feature |= strcmp(info.features[i], "unix") == 0;
  assert_true(unix_feature);
  assert_true(info.has_pool);
  assert_int_equal(info.pool.size, POOL_SIZE);
  assert_true(info.pool.idle + info.pool.busy + info.pool.connecting + info.pool.broken <=
              POOL_SIZE);
  assert_non_null(info.pgvector_version);
  assert_true(strchr(info.pgvector_version, '.') != NULL);
  print_message("ServerInfo: version %s, protocol %u, pgvector %s, pool %u\n", info.version,
                (unsigned)info.protocol_version, info.pgvector_version,
                (unsigned)info.pool.size);
  pb_release(pgml_v1_ServerInfoResponse_fields, &info);
  pgml_sync_result_free(&out);

  /* An unknown method: the server's code and message come through. */
  rc = pgml_call_raw_sync(c, "NoSuchMethod", NULL, 0, NULL, &out);
  assert_int_equal(rc, PGML_UNIMPLEMENTED);
  assert_non_null(strstr(out.message, "NoSuchMethod"));
  pgml_sync_result_free(&out);

  /* A request the server cannot decode is refused with INVALID_ARGUMENT,
   * and the connection stays usable. */
  rc = pgml_call_raw_sync(c, "Ping", "\x0a\x09x", 3, NULL, &out);
  assert_int_equal(rc, PGML_INVALID_ARGUMENT);
  pgml_sync_result_free(&out);
  rc = pgml_call_raw_sync(c, "Ping", NULL, 0, NULL, &out);
  assert_int_equal(rc, 0);
  pgml_sync_result_free(&out);
  pgml_client_free(c);
}

/* ------------------------------------------------------- the libuv adapter */

#define UV_PINGS 300

typedef struct {
  int ok;
  int bad;
  int cancelled;
} uv_tally_t;

static void on_uv(pgml_client_t *c, const pgml_result_t *res, void *ud)
{
  uv_tally_t *t = ud;

  (void)c;
  if (res->code == PGML_OK)
    t->ok++;
  else if (res->code == PGML_CANCELLED)
    t->cancelled++;
  else
    t->bad++;
}

static void test_uv_adapter(void **state)
{
  uv_tally_t t = {0, 0, 0};
  uv_loop_t loop;
  pgml_client_t *c;
  uint64_t id = 0;
  int i;

  (void)state;
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(pgml_client_new(d.sock, NULL, &c), 0);
  assert_int_equal(pgml_uv_attach(c, &loop), 0);
  for (i = 0; i < UV_PINGS; i++) {
    uint8_t payload[2 + sizeof(int)] = {0x0a, sizeof(int)};
    memcpy(payload + 2, &i, sizeof(int));
    assert_int_equal(pgml_call_raw(c, "Ping", payload, sizeof(payload), NULL, on_uv, &t,
                                   i == UV_PINGS / 2 ? &id : NULL), 0);
  }
  /* One of them cancelled before the loop runs: exactly one callback. */
  assert_int_equal(pgml_cancel(c, id), 0);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(t.ok, UV_PINGS - 1);
  assert_int_equal(t.cancelled, 1);
  assert_int_equal(t.bad, 0);
  assert_int_equal(pgml_client_pending(c), 0);
  pgml_client_free(c);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* ------------------------------------------------------ the example programs */

/* Runs a command; returns its exit status and its output in buf. */
static int run(const char *cmd, char *buf, size_t len)
{
  FILE *p = popen(cmd, "r");
  size_t n = 0;
  int status;

  assert_non_null(p);
  while (n + 1 < len) {
    size_t r = fread(buf + n, 1, len - 1 - n, p);
    if (r == 0)
      break;
    n += r;
  }
  buf[n] = '\0';
  status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_examples(void **state)
{
  char cmd[512], out[8192], want[64];

  (void)state;
  snprintf(cmd, sizeof(cmd), "%s unix://%s 2>&1", PGML_PING_BIN, d.sock);
  assert_int_equal(run(cmd, out, sizeof(out)), 0);
  snprintf(want, sizeof(want), "version: %s\n", pgml_version());
  assert_non_null(strstr(out, want));
  assert_non_null(strstr(out, "ping: 12 bytes echoed"));
  assert_non_null(strstr(out, "pool: size 3"));

  snprintf(cmd, sizeof(cmd), "%s %s 2>&1", PGML_PING_BIN, d.sock);
  assert_int_equal(run(cmd, out, sizeof(out)), 0);

  snprintf(cmd, sizeof(cmd), "%s %s/no-such.sock 2>&1", PGML_PING_BIN, d.dir);
  assert_int_equal(run(cmd, out, sizeof(out)), 1);
  assert_non_null(strstr(out, "UNAVAILABLE"));
  assert_non_null(strstr(out, "no-such.sock"));

  snprintf(cmd, sizeof(cmd), "%s 2>&1", PGML_PING_BIN);
  assert_int_equal(run(cmd, out, sizeof(out)), 1);
  assert_non_null(strstr(out, "usage"));

  snprintf(cmd, sizeof(cmd), "%s unix://%s 1000 2>&1", PGML_UV_PING_BIN, d.sock);
  assert_int_equal(run(cmd, out, sizeof(out)), 0);
  assert_non_null(strstr(out, "1000 of 1000 Pings answered"));
}

/* ------------------------------------------- the daemon goes away and back */

static void test_reconnect_after_restart(void **state)
{
  pgml_sync_result_t out;
  pgml_client_t *c;
  int rc;

  (void)state;
  assert_int_equal(pgml_client_new(d.sock, NULL, &c), 0);
  assert_int_equal(pgml_call_raw_sync(c, "Ping", NULL, 0, NULL, &out), 0);
  pgml_sync_result_free(&out);
  assert_int_equal(pgml_client_fd(c) >= 0, 1);

  assert_int_equal(stop_daemon(), 0);
  rc = pgml_call_raw_sync(c, "Ping", NULL, 0, NULL, &out);
  assert_int_equal(rc, PGML_UNAVAILABLE);
  assert_non_null(strstr(out.message, d.sock));
  pgml_sync_result_free(&out);

  assert_int_equal(start_daemon(), 0);
  rc = pgml_call_raw_sync(c, "Ping", "\x0a\x04" "back", 6, NULL, &out);
  assert_int_equal(rc, 0);
  assert_int_equal(out.payload_len, 6);   /* PingResponse{data: "back"} */
  assert_memory_equal(out.payload + 2, "back", 4);
  pgml_sync_result_free(&out);
  pgml_client_free(c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_thousand_in_flight),
    cmocka_unit_test(test_blocking_and_server_info),
    cmocka_unit_test(test_uv_adapter),
    cmocka_unit_test(test_examples),
    cmocka_unit_test(test_reconnect_after_restart),
  };

  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
