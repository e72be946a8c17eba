/* test_unix.c - the Unix-socket transport (net/unix.c) on its own, under a
 * stand-in connection and server: frames read before a pause are handed
 * over after resume() returns, never inside it (net/transport.h); a
 * listener that can neither serve nor refuse a client says so and accepts
 * again later instead of stalling. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/auth.h"
#include "core/config.h"
#include "core/server.h"
#include "net/conn.h"
#include "net/transport.h"
#include "net/unix.h"

#define MAX_CONNS 4
/* Bounds every wait (loop turns of at most GUARD_MS each), so that a stall
 * fails the test instead of hanging it. */
#define GUARD_MS 10
#define MAX_TURNS 1000

struct pgmld_server_s {
  int unused;
};

struct pgmld_conn_s {
  pgmld_transport_t *t;
  unsigned frames;              /* frames delivered */
  unsigned frames_in_resume;    /* of those, delivered inside resume() */
  int closed;                   /* pgmld__conn_on_closed() ran */
  int in_batch;                 /* between pgmld__conn_batch_begin() and _end() */
  int batches;                  /* pgmld__conn_batch_begin() calls */
};

static uv_loop_t loop;
static uv_timer_t guard;
static pgmld_config_t cfg;
static struct pgmld_server_s server;
static struct pgmld_conn_s conns[MAX_CONNS];
static int n_conns;
static int in_resume;           /* the test is inside a call to resume() */
static int pipe_init_failures;  /* the next this many uv_pipe_init() calls fail */
static char dir[256], path[300];

/* ------------------------------------------------------------ stand-ins */

/* Interposed on libuv's: unix.c, compiled into this test, calls this one. */
int uv_pipe_init(uv_loop_t *l, uv_pipe_t *handle, int ipc)
{
  static int (*real)(uv_loop_t *, uv_pipe_t *, int);

  if (pipe_init_failures > 0) {
    pipe_init_failures--;
    return UV_ENOMEM;
  }
  if (real == NULL)
    *(void **)&real = dlsym(RTLD_NEXT, "uv_pipe_init");
  assert_non_null(real);
  return real(l, handle, ipc);
}

uv_loop_t *pgmld_server_loop(pgmld_server_t *srv)
{
  (void)srv;
  return &loop;
}

const pgmld_config_t *pgmld_server_config(const pgmld_server_t *srv)
{
  (void)srv;
  return &cfg;
}

const struct pgmld_auth_s *pgmld__server_auth(const pgmld_server_t *srv)
{
  (void)srv;
  return NULL;
}

int pgmld_auth_peer_lists_set(const pgmld_auth_t *a)
{
  (void)a;
  return 0;
}

int pgmld_auth_peer_allowed(const pgmld_auth_t *a, uid_t uid, gid_t gid)
{
  (void)a;
  (void)uid;
  (void)gid;
  return 1;
}

int pgmld_conn_new(pgmld_server_t *srv, pgmld_transport_t *t, pgmld_conn_t **out)
{
  pgmld_conn_t *c;

  (void)srv;
  assert_true(n_conns < MAX_CONNS);
  c = &conns[n_conns++];
  memset(c, 0, sizeof(*c));
  c->t = t;
  t->conn = c;
  *out = c;
  return 0;
}

void pgmld_conn_set_authenticated(pgmld_conn_t *conn, int yes)
{
  (void)conn;
  (void)yes;
}

void pgmld_conn_refuse(pgmld_conn_t *conn, pgmld_code_t code, const char *message)
{
  (void)conn;
  (void)code;
  fail_msg("unexpected refusal: %s", message);
}

/* Pauses after the first frame, as output backpressure would. */
void pgmld__conn_on_frame(pgmld_conn_t *conn, const uint8_t *body, uint32_t len)
{
  (void)body;
  (void)len;
  /* Frames come inside a batch, so that their responses leave together. */
  assert_true(conn->in_batch);
  conn->frames++;
  if (in_resume)
    conn->frames_in_resume++;
  if (conn->frames == 1)
    conn->t->ops->pause(conn->t);
}

void pgmld__conn_on_oversize(pgmld_conn_t *conn, uint64_t len)
{
  (void)conn;
  fail_msg("unexpected oversize frame of %llu bytes", (unsigned long long)len);
}

void pgmld__conn_on_end(pgmld_conn_t *conn, int status)
{
  (void)status;
  conn->t->ops->close(conn->t, 0);
}

void pgmld__conn_on_written(pgmld_conn_t *conn, size_t bytes)
{
  (void)conn;
  (void)bytes;
}

void pgmld__conn_on_closed(pgmld_conn_t *conn)
{
  conn->t = NULL;
  conn->closed = 1;
}

/* Every delivery of frames is bracketed, never nested. */
void pgmld__conn_batch_begin(pgmld_conn_t *conn)
{
  assert_false(conn->in_batch);
  conn->in_batch = 1;
  conn->batches++;
}

void pgmld__conn_batch_end(pgmld_conn_t *conn)
{
  assert_true(conn->in_batch);
  conn->in_batch = 0;
}

/* ------------------------------------------------------------ helpers */

static void on_guard(uv_timer_t *t)
{
  (void)t;
}

/* Runs the loop until *flag >= want, for a bounded number of turns. */
static void run_until(const int *flag, int want)
{
  int i;

  for (i = 0; i < MAX_TURNS && *flag < want; i++)
    (void)uv_run(&loop, UV_RUN_ONCE);
  if (*flag < want)
    fail_msg("still %d (waiting for %d) after %d loop turns", *flag, want, MAX_TURNS);
}

static int client(void)
{
  struct sockaddr_un sa;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  assert_true(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  return fd;
}

static pgmld_unix_listener_t *start(void)
{
  pgmld_unix_listener_t *l;
  const char *tmp = getenv("TMPDIR");

  memset(&cfg, 0, sizeof(cfg));
  cfg.limits.max_frame_size = 65536;
  cfg.server.socket_group = (char *)"";
  memset(conns, 0, sizeof(conns));
  n_conns = 0;
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(uv_timer_init(&loop, &guard), 0);
  assert_int_equal(uv_timer_start(&guard, on_guard, GUARD_MS, GUARD_MS), 0);
  snprintf(dir, sizeof(dir), "%s/pgmld-unix-XXXXXX", tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/s", dir);
  assert_int_equal(pgmld_unix_listen(&server, path, 0600, &l), 0);
  return l;
}

/* Closes every transport, the listener and the loop; nothing may leak. */
static void stop(pgmld_unix_listener_t *l)
{
  int i;

  for (i = 0; i < n_conns; i++) {
    if (conns[i].t != NULL)
      conns[i].t->ops->close(conns[i].t, 0);
    run_until(&conns[i].closed, 1);
  }
  pgmld_unix_listener_close(l);
  uv_close((uv_handle_t *)&guard, NULL);
  (void)uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  rmdir(dir);
}

/* ------------------------------------------------------------ tests */

/* Three frames arrive in one read; the connection pauses after the first.
 * resume() must return without delivering the other two (the connection
 * calls it from inside its own frame and call handling); they come on the
 * next loop turns, in order. */
static void test_resume_delivers_later(void **state)
{
  static const uint8_t frames[] = {0, 0, 0, 1, 'a', 0, 0, 0, 1, 'b', 0, 0, 0, 1, 'c'};
  long live = pgmld_alloc_live();
  pgmld_unix_listener_t *l = start();
  int fd, i, delivered;

  (void)state;
  fd = client();
  assert_int_equal(send(fd, frames, sizeof(frames), 0), (ssize_t)sizeof(frames));
  run_until(&n_conns, 1);
  delivered = 0;
  for (i = 0; i < MAX_TURNS && delivered < 1; i++) {
    (void)uv_run(&loop, UV_RUN_ONCE);
    delivered = (int)conns[0].frames;
  }
  /* A few more turns: paused, nothing else arrives. */
  for (i = 0; i < 5; i++)
    (void)uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(conns[0].frames, 1);

  in_resume = 1;
  conns[0].t->ops->resume(conns[0].t);
  in_resume = 0;
  assert_int_equal(conns[0].frames_in_resume, 0);
  assert_int_equal(conns[0].frames, 1);

  delivered = 0;
  for (i = 0; i < MAX_TURNS && delivered < 3; i++) {
    (void)uv_run(&loop, UV_RUN_ONCE);
    delivered = (int)conns[0].frames;
  }
  assert_int_equal(conns[0].frames, 3);
  /* The frames held over the pause came in a batch of their own. */
  assert_false(conns[0].in_batch);
  assert_true(conns[0].batches >= 2);
  close(fd);
  stop(l);
  assert_int_equal(pgmld_alloc_live(), live);
}

/* Out of memory for a new client, and the spare handle that would refuse
 * it cannot be set up either: the listener logs it and accepts again from
 * a timer.  (libuv holds a client that is not accepted and stops
 * listening, so without the retry the client and every later one would
 * wait forever.) */
static void test_listener_recovers_from_failed_reject(void **state)
{
  long live = pgmld_alloc_live();
  pgmld_unix_listener_t *l = start();
  int a, b;

  (void)state;
  a = client();
  /* The connection's stream allocation, then the spare's init. */
  pgmld_alloc_fail_after(1, 0);
  pipe_init_failures = 1;
  run_until(&n_conns, 1);
  assert_int_equal(pipe_init_failures, 0);
  /* And the listener goes on accepting. */
  b = client();
  run_until(&n_conns, 2);
  close(a);
  close(b);
  stop(l);
  assert_int_equal(pgmld_alloc_live(), live);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_resume_delivers_later),
    cmocka_unit_test(test_listener_recovers_from_failed_reject),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
