/* test_systemd.c - pgmld under systemd's protocols, without systemd: the
 * test plays the service manager.  It makes a real NOTIFY_SOCKET datagram
 * socket and reads what pgmld sends (STATUS lines, READY=1 only once the
 * socket accepts connections, WATCHDOG=1 keep-alives, STOPPING=1 on
 * SIGTERM); passes a listening socket as fd 3 with LISTEN_FDS/LISTEN_PID
 * the way systemd does (and a socket of the wrong kind, refused); and
 * reloads the configuration with SIGHUP while a client has calls in flight
 * (they complete, the connection survives, the new limits apply, the log
 * names each change, a broken file changes nothing).
 *
 * Environment: PGMLD_BIN (the daemon), PGMLD_TEST_DATABASE_URL (the
 * `postgres` fixture's cluster). */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pgml/v1/database.pb-c.h"
#include "pgml/v1/frame.pb-c.h"
#include "pgmld_proc.h"

#define PING "pgml.v1.Database/Ping"
#define LIST "pgml.v1.Database/ListCollections"
#define INFO "pgml.v1.Database/ServerInfo"
#define VSEARCH "pgml.v1.Database/VectorSearch"
/* A bound on every wait, so that a broken daemon fails the test instead of
 * hanging it; never an assertion about how fast anything is. */
#define WAIT_MS 30000

typedef struct daemon_s {
  pgml_test_proc_t proc; /* pid, directory, client socket, log */
  char conf[300];
  char notify[300];     /* our NOTIFY_SOCKET, "" for none */
  int notify_fd;        /* the test's end of it */
  int pass_fd;          /* passed as fd 3 with LISTEN_FDS=1, or -1 */
  const char *fd_names; /* LISTEN_FDNAMES, or NULL */
  const char *watchdog_usec;
} daemon_t;

static daemon_t D;

/* ------------------------------------------------------------ sockets */

static int connect_sock(const char *path)
{
  return pgml_test_connect(path);
}

static int bind_sock(const char *path, int type)
{
  struct sockaddr_un sa;
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

  assert_true(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  unlink(path);
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
    fail_msg("bind %s: %s", path, strerror(errno));
  if (type == SOCK_STREAM && listen(fd, 64) < 0)
    fail_msg("listen %s: %s", path, strerror(errno));
  return fd;
}

static Pgml__V1__Frame *read_frame(int fd)
{
  return pgml_test_read_frame(fd, 0, WAIT_MS);
}

/* One request frame (length prefix included) sent on fd. */
static void send_request(int fd, uint64_t id, const char *method, const ProtobufCMessage *msg)
{
  pgml_test_send_request(fd, id, method, msg);
}

/* Reads one answer and checks its id and code; returns it (caller frees). */
static Pgml__V1__Frame *expect_answer(int fd, uint64_t id, int code)
{
  Pgml__V1__Frame *f = read_frame(fd);

  if (f == NULL)
    fail_msg("connection closed while waiting for the answer to id %llu",
             (unsigned long long)id);
  if (f->id != id || (int)f->code != code)
    fail_msg("expected id %llu code %d, got id %llu code %d: %s", (unsigned long long)id,
             code, (unsigned long long)f->id, f->code, f->message);
  return f;
}

static void ping_ok(int fd, uint64_t id)
{
  Pgml__V1__PingRequest req = PGML__V1__PING_REQUEST__INIT;

  req.data.data = (uint8_t *)"hello";
  req.data.len = 5;
  send_request(fd, id, PING, &req.base);
  pgml__v1__frame__free_unpacked(expect_answer(fd, id, PGML__V1__CODE__OK), NULL);
}

__attribute__((format(printf, 2, 3)))
static void write_file(const char *path, const char *fmt, ...)
{
  FILE *fp = fopen(path, "w");
  va_list ap;

  assert_non_null(fp);
  va_start(ap, fmt);
  vfprintf(fp, fmt, ap);
  va_end(ap);
  assert_int_equal(fclose(fp), 0);
}

/* ------------------------------------------------------------ notify socket */

/* The next datagram pgmld sent to our NOTIFY_SOCKET, NUL-terminated in
 * buf.  Fails the test when none comes within WAIT_MS. */
static void notify_next(daemon_t *d, char *buf, size_t len)
{
  struct pollfd pfd = {d->notify_fd, POLLIN, 0};
  ssize_t n;
  int rc;

  do
    rc = poll(&pfd, 1, WAIT_MS);
  while (rc < 0 && errno == EINTR);
  if (rc == 0)
    fail_msg("nothing on NOTIFY_SOCKET within %d ms; see %s", WAIT_MS, d->proc.log);
  n = recv(d->notify_fd, buf, len - 1, 0);
  assert_true(n >= 0);
  buf[n] = '\0';
}

/* Reads datagrams until one has the line `want` ("READY=1"); every one read
 * is appended to seen (may be NULL), newline-separated. */
static void notify_until(daemon_t *d, const char *want, char *seen, size_t seen_len)
{
  char buf[2048];

  for (;;) {
    notify_next(d, buf, sizeof(buf));
    if (seen != NULL)
      snprintf(seen + strlen(seen), seen_len - strlen(seen), "%s\n", buf);
    /* A line of its own: at the start or after a newline, and ending. */
    for (const char *p = buf; (p = strstr(p, want)) != NULL; p++) {
      size_t wl = strlen(want);
      if ((p == buf || p[-1] == '\n') && (p[wl] == '\0' || p[wl] == '\n'))
        return;
    }
  }
}

/* ------------------------------------------------------------ the daemon */

/* Sets up the directory and the NOTIFY_SOCKET before daemon_start(). */
static void daemon_prepare(daemon_t *d, int with_notify)
{
  memset(d, 0, sizeof(*d));
  d->notify_fd = -1;
  d->pass_fd = -1;
  pgml_test_proc_dir(&d->proc, "pgmld-sd");
  snprintf(d->conf, sizeof(d->conf), "%s/pgmld.conf", d->proc.dir);
  if (with_notify) {
    snprintf(d->notify, sizeof(d->notify), "%s/notify.sock", d->proc.dir);
    d->notify_fd = bind_sock(d->notify, SOCK_DGRAM);
  }
}

/* In the child, after fork and before exec: the environment systemd
 * would give the daemon (LISTEN_PID must be the daemon's own pid). */
static void child_env(void *arg)
{
  const daemon_t *d = arg;
  char pid[32];

  unsetenv("NOTIFY_SOCKET");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDNAMES");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  if (d->notify[0] != '\0')
    setenv("NOTIFY_SOCKET", d->notify, 1);
  if (d->watchdog_usec != NULL)
    setenv("WATCHDOG_USEC", d->watchdog_usec, 1);
  if (d->pass_fd >= 0) {
    /* dup2 clears close-on-exec on the copy, as systemd's fd is. */
    if (d->pass_fd == 3) {
      int flags = fcntl(3, F_GETFD);
      fcntl(3, F_SETFD, flags & ~FD_CLOEXEC);
    } else if (dup2(d->pass_fd, 3) < 0) {
      _exit(126);
    }
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("LISTEN_FDS", "1", 1);
    setenv("LISTEN_PID", pid, 1);
    if (d->fd_names != NULL)
      setenv("LISTEN_FDNAMES", d->fd_names, 1);
  }
}

/* Forks and execs pgmld with `args` after the binary (NULL-terminated),
 * in the environment child_env() makes. */
static void daemon_exec(daemon_t *d, const char *const *args)
{
  const char *bin = getenv("PGMLD_BIN");
  const char *argv[32] = {bin};
  int n = 1, i;

  if (bin == NULL || getenv("PGMLD_TEST_DATABASE_URL") == NULL)
    fail_msg("PGMLD_BIN and PGMLD_TEST_DATABASE_URL must be set (run under ctest)");
  for (i = 0; args[i] != NULL && n < 31; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pgml_test_proc_spawn(&d->proc, argv, child_env, d);
}

static int daemon_wait(daemon_t *d)
{
  return pgml_test_proc_wait_exit(&d->proc, WAIT_MS);
}

static void daemon_cleanup(daemon_t *d)
{
  if (d->notify_fd >= 0)
    close(d->notify_fd);
  if (d->pass_fd >= 0)
    close(d->pass_fd);
  d->notify_fd = d->pass_fd = -1;
  pgml_test_proc_cleanup(&d->proc, 30);
}

static int teardown(void **state)
{
  (void)state;
  daemon_cleanup(&D);
  return 0;
}

/* ------------------------------------------------------------ tests */

/* READY=1 comes once the socket accepts connections, after STATUS lines
 * for each start-up step; WATCHDOG=1 keeps coming; STOPPING=1 on SIGTERM. */
static void test_notify_ready_watchdog_stopping(void **state)
{
  char seen[8192] = "", buf[2048];
  int fd, watchdogs = 0;

  (void)state;
  daemon_prepare(&D, 1);
  D.watchdog_usec = "200000";
  {
    const char *args[] = {"--server-socket-path", D.proc.sock, "--database-url",
                          getenv("PGMLD_TEST_DATABASE_URL"), "--log-level", "debug", NULL};
    daemon_exec(&D, args);
  }
  notify_until(&D, "READY=1", seen, sizeof(seen));
  /* Ready means serving: the very next connect succeeds and is answered. */
  fd = connect_sock(D.proc.sock);
  if (fd < 0)
    fail_msg("READY=1 arrived but %s refuses connections: %s", D.proc.sock, strerror(-fd));
  ping_ok(fd, 1);
  pgml_test_assert_contains(seen, "STATUS=connecting to PostgreSQL");
  pgml_test_assert_contains(seen, "STATUS=applying the database migrations");
  pgml_test_assert_contains(seen, "STATUS=serving on ");
  pgml_test_assert_contains(strstr(seen, "migrations"), "READY=1");
  print_message("notifications before READY:\n%s", seen);

  /* Keep-alives at half of WATCHDOG_USEC; a few of them, whatever else
   * comes in between. */
  while (watchdogs < 3) {
    notify_next(&D, buf, sizeof(buf));
    watchdogs += strcmp(buf, "WATCHDOG=1") == 0;
  }
  {
    char *log = pgml_test_read_file(D.proc.log);
    pgml_test_assert_contains(log, "systemd watchdog: a keep-alive every 100 ms");
    free(log);
  }

  ping_ok(fd, 2);
  close(fd);
  assert_int_equal(kill(D.proc.pid, SIGTERM), 0);
  seen[0] = '\0';
  notify_until(&D, "STOPPING=1", seen, sizeof(seen));
  assert_int_equal(daemon_wait(&D), 0);
}

/* A listening socket passed as fd 3 is used in place of server.socket_path,
 * which is never created; the socket file is systemd's and stays. */
static void test_socket_activation(void **state)
{
  char configured[320], seen[4096] = "";
  struct stat st;
  int fd;

  (void)state;
  daemon_prepare(&D, 1);
  /* The socket systemd would have made from ListenStream=. */
  snprintf(configured, sizeof(configured), "%s/configured.sock", D.proc.dir);
  D.pass_fd = bind_sock(D.proc.sock, SOCK_STREAM);
  D.fd_names = "pgmld.socket";
  {
    const char *args[] = {"--server-socket-path", configured, "--database-url",
                          getenv("PGMLD_TEST_DATABASE_URL"), NULL};
    daemon_exec(&D, args);
  }
  notify_until(&D, "READY=1", seen, sizeof(seen));
  fd = connect_sock(D.proc.sock);
  assert_true(fd >= 0);
  ping_ok(fd, 1);
  ping_ok(fd, 2);
  /* pgmld never bound the path it was configured with. */
  assert_int_equal(stat(configured, &st), -1);
  {
    char *log = pgml_test_read_file(D.proc.log), want[400];
    snprintf(want, sizeof(want), "using the socket systemd passed: fd 3 (pgmld.socket) on %s",
             D.proc.sock);
    pgml_test_assert_contains(log, want);
    free(log);
  }
  close(fd);
  assert_int_equal(kill(D.proc.pid, SIGTERM), 0);
  assert_int_equal(daemon_wait(&D), 0);
  /* Not removed at shutdown: it belongs to the socket unit. */
  assert_int_equal(stat(D.proc.sock, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
}

/* A passed socket of the wrong kind stops start-up with a message saying
 * what it is and what is needed. */
static void test_socket_activation_wrong_kind(void **state)
{
  char dgram[320];
  char *log;

  (void)state;
  daemon_prepare(&D, 0);
  snprintf(dgram, sizeof(dgram), "%s/dgram.sock", D.proc.dir);
  D.pass_fd = bind_sock(dgram, SOCK_DGRAM);
  D.fd_names = "unix";
  {
    const char *args[] = {"--server-socket-path", D.proc.sock, "--database-url",
                          getenv("PGMLD_TEST_DATABASE_URL"), NULL};
    daemon_exec(&D, args);
  }
  assert_int_equal(daemon_wait(&D), 1);
  log = pgml_test_read_file(D.proc.log);
  pgml_test_assert_contains(log, "socket activation: fd 3 (unix) is an AF_UNIX datagram socket; "
                       "the Unix listener needs an AF_UNIX stream socket");
  free(log);
}

static void write_conf(const daemon_t *d, const char *level, unsigned top_k, unsigned pool,
                       const char *socket_path)
{
  write_file(d->conf,
             "# written by test_systemd\n"
             "[server]\nsocket_path = %s\n"
             "[log]\nlevel = %s\n"
             "[limits]\nmax_top_k = %u\n"
             "[database]\npool_size = %u\n",
             socket_path, level, top_k, pool);
}

static Pgml__V1__Frame *vector_search(int fd, uint64_t id, unsigned top_k, int code)
{
  Pgml__V1__VectorSearchRequest req = PGML__V1__VECTOR_SEARCH_REQUEST__INIT;
  float v[3] = {1, 0, 0};

  req.collection = "sdtest_none";
  req.vector = v;
  req.n_vector = 3;
  req.top_k = top_k;
  send_request(fd, id, VSEARCH, &req.base);
  return expect_answer(fd, id, code);
}

static unsigned pool_size(int fd, uint64_t id)
{
  Pgml__V1__Frame *f;
  Pgml__V1__ServerInfoResponse *info;
  unsigned size;

  send_request(fd, id, INFO, NULL);
  f = expect_answer(fd, id, PGML__V1__CODE__OK);
  info = pgml__v1__server_info_response__unpack(NULL, f->payload.len, f->payload.data);
  assert_non_null(info);
  assert_non_null(info->pool);
  size = info->pool->size;
  pgml__v1__server_info_response__free_unpacked(info, NULL);
  pgml__v1__frame__free_unpacked(f, NULL);
  return size;
}

/* SIGHUP with calls in flight: all of them complete, the connection stays,
 * the new limit and pool size apply, the log names each change and the
 * setting that needs a restart; then a broken file changes nothing. */
static void test_sighup_reload(void **state)
{
  enum { CALLS = 200 };
  char seen[4096] = "", moved[320];
  Pgml__V1__Frame *f;
  char *log;
  int fd, i;

  (void)state;
  daemon_prepare(&D, 1);
  write_conf(&D, "info", 1000, 4, D.proc.sock);
  {
    /* The database URL as a flag: flags stay as given across reloads. */
    const char *args[] = {"--config", D.conf, "--database-url",
                          getenv("PGMLD_TEST_DATABASE_URL"), NULL};
    daemon_exec(&D, args);
  }
  notify_until(&D, "READY=1", NULL, 0);
  fd = connect_sock(D.proc.sock);
  assert_true(fd >= 0);
  ping_ok(fd, 1);
  assert_int_equal(pool_size(fd, 2), 4);
  /* 60 is within the old limit: the search goes on to the database, which
   * has no such collection. */
  f = vector_search(fd, 3, 60, PGML__V1__CODE__NOT_FOUND);
  pgml__v1__frame__free_unpacked(f, NULL);

  /* New limits, a smaller pool, and a setting that needs a restart. */
  snprintf(moved, sizeof(moved), "%s/elsewhere.sock", D.proc.dir);
  write_conf(&D, "debug", 50, 2, moved);
  /* Calls in flight on the pool when the signal lands. */
  for (i = 0; i < CALLS; i++)
    send_request(fd, 100 + (uint64_t)i, LIST, NULL);
  assert_int_equal(kill(D.proc.pid, SIGHUP), 0);
  /* Every call answered OK, each once, in whatever order the pool ends
   * them. */
  {
    char answered[CALLS] = {0};
    for (i = 0; i < CALLS; i++) {
      f = read_frame(fd);
      if (f == NULL)
        fail_msg("the connection closed after %d of %d answers", i, CALLS);
      if (f->id < 100 || f->id >= 100 + CALLS || answered[f->id - 100] ||
          f->code != PGML__V1__CODE__OK)
        fail_msg("unexpected answer id %llu code %d: %s", (unsigned long long)f->id,
                 f->code, f->message);
      answered[f->id - 100] = 1;
      pgml__v1__frame__free_unpacked(f, NULL);
    }
  }
  notify_until(&D, "RELOADING=1", seen, sizeof(seen));
  pgml_test_assert_contains(seen, "MONOTONIC_USEC=");
  notify_until(&D, "READY=1", seen, sizeof(seen));
  pgml_test_assert_contains(seen, "STATUS=serving; configuration reloaded (3 changed, 1 need a restart)");

  /* Same connection, new limit, named in the answer. */
  ping_ok(fd, 4);
  f = vector_search(fd, 5, 60, PGML__V1__CODE__INVALID_ARGUMENT);
  pgml_test_assert_contains(f->message, "top_k: 60 is more than limits.max_top_k (50)");
  pgml__v1__frame__free_unpacked(f, NULL);
  assert_int_equal(pool_size(fd, 6), 2);

  log = pgml_test_read_file(D.proc.log);
  pgml_test_assert_contains(log, "reload: log.level: INFO -> DEBUG");
  pgml_test_assert_contains(log, "reload: limits.max_top_k: 1000 -> 50");
  pgml_test_assert_contains(log, "reload: database.pool_size: 4 -> 2");
  pgml_test_assert_contains(log, "reload: server.socket_path changed");
  pgml_test_assert_contains(log, "needs a restart");
  pgml_test_assert_contains(log, "pool size 4 -> 2");
  free(log);

  /* A broken file: logged, the running configuration kept. */
  write_file(D.conf, "[limits]\nmax_top_k = zero\n");
  seen[0] = '\0';
  assert_int_equal(kill(D.proc.pid, SIGHUP), 0);
  notify_until(&D, "READY=1", seen, sizeof(seen));
  pgml_test_assert_contains(seen, "STATUS=reload failed");
  log = pgml_test_read_file(D.proc.log);
  pgml_test_assert_contains(log, "reload failed, keeping the running configuration: ");
  pgml_test_assert_contains(log, "pgmld.conf:2: limits.max_top_k: 'zero' is not a whole number");
  free(log);
  f = vector_search(fd, 7, 60, PGML__V1__CODE__INVALID_ARGUMENT);
  pgml_test_assert_contains(f->message, "limits.max_top_k (50)");
  pgml__v1__frame__free_unpacked(f, NULL);
  ping_ok(fd, 8);

  /* Growing again: the two closed slots reconnect and a fifth is added;
   * calls keep being served throughout. */
  write_conf(&D, "debug", 50, 5, D.proc.sock);
  for (i = 0; i < 20; i++)
    send_request(fd, 300 + (uint64_t)i, LIST, NULL);
  seen[0] = '\0';
  assert_int_equal(kill(D.proc.pid, SIGHUP), 0);
  for (i = 0; i < 20; i++) {
    f = read_frame(fd);
    assert_non_null(f);
    assert_int_equal(f->code, PGML__V1__CODE__OK);
    pgml__v1__frame__free_unpacked(f, NULL);
  }
  notify_until(&D, "READY=1", seen, sizeof(seen));
  pgml_test_assert_contains(seen, "configuration reloaded (1 changed, 0 need a restart)");
  assert_int_equal(pool_size(fd, 9), 5);
  for (i = 0; i < 20; i++)
    send_request(fd, 400 + (uint64_t)i, LIST, NULL);
  for (i = 0; i < 20; i++) {
    f = read_frame(fd);
    assert_non_null(f);
    assert_int_equal(f->code, PGML__V1__CODE__OK);
    pgml__v1__frame__free_unpacked(f, NULL);
  }
  log = pgml_test_read_file(D.proc.log);
  pgml_test_assert_contains(log, "reload: database.pool_size: 2 -> 5");
  pgml_test_assert_contains(log, "pool size 2 -> 5");
  free(log);

  close(fd);
  assert_int_equal(kill(D.proc.pid, SIGTERM), 0);
  assert_int_equal(daemon_wait(&D), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_notify_ready_watchdog_stopping, teardown),
    cmocka_unit_test_teardown(test_socket_activation, teardown),
    cmocka_unit_test_teardown(test_socket_activation_wrong_kind, teardown),
    cmocka_unit_test_teardown(test_sighup_reload, teardown),
  };

  signal(SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
