/* test_sdunit.c - core/sdnotify.c and core/reload.c on their own: the
 * notify datagram on an abstract socket, bad variables refused by name, the
 * watchdog only for our pid, passed sockets picked by name and checked by
 * kind; a reload that applies live settings, keeps flags and restart-only
 * settings, and changes nothing when the file is broken. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"
#include "core/reload.h"
#include "core/sdnotify.h"

static void recv_one(int fd, char *buf, size_t len)
{
  struct pollfd pfd = {fd, POLLIN, 0};
  ssize_t n;

  assert_int_equal(poll(&pfd, 1, 10000), 1);
  n = recv(fd, buf, len - 1, 0);
  assert_true(n >= 0);
  buf[n] = '\0';
}

static void test_notify_abstract(void **state)
{
  struct sockaddr_un sa;
  char name[64], env[80], buf[256], err[256];
  socklen_t len;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  (void)state;
  assert_true(fd >= 0);
  snprintf(name, sizeof(name), "pgmld-sdtest-%ld", (long)getpid());
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path + 1, name, strlen(name));
  len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);

  snprintf(env, sizeof(env), "@%s", name);
  setenv("NOTIFY_SOCKET", env, 1);
  pgmld__sd_reset();
  assert_int_equal(pgmld_sd_init(err, sizeof(err)), 0);
  /* Read once and removed, so that child processes do not see it. */
  assert_null(getenv("NOTIFY_SOCKET"));
  assert_true(pgmld_sd_notify_enabled());
  assert_int_equal(pgmld_sd_notify("READY=1"), 1);
  recv_one(fd, buf, sizeof(buf));
  assert_string_equal(buf, "READY=1");
  /* One status stays one line. */
  pgmld_sd_status("two\nlines %d", 7);
  recv_one(fd, buf, sizeof(buf));
  assert_string_equal(buf, "STATUS=two lines 7");
  close(fd);
  pgmld__sd_reset();
  /* Without NOTIFY_SOCKET: nothing is sent, nothing fails. */
  assert_int_equal(pgmld_sd_init(err, sizeof(err)), 0);
  assert_false(pgmld_sd_notify_enabled());
  assert_int_equal(pgmld_sd_notify("READY=1"), 0);
  pgmld__sd_reset();
}

static void test_bad_variables(void **state)
{
  char err[256];

  (void)state;
  setenv("NOTIFY_SOCKET", "relative/notify", 1);
  pgmld__sd_reset();
  assert_int_equal(pgmld_sd_init(err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "NOTIFY_SOCKET=relative/notify"));
  assert_false(pgmld_sd_notify_enabled());

  setenv("WATCHDOG_USEC", "soon", 1);
  pgmld__sd_reset();
  assert_int_equal(pgmld_sd_init(err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "WATCHDOG_USEC=soon"));

  setenv("LISTEN_FDS", "two", 1);
  {
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("LISTEN_PID", pid, 1);
  }
  pgmld__sd_reset();
  assert_int_equal(pgmld_sd_init(err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "LISTEN_FDS=two"));
  pgmld__sd_reset();
}

static void test_watchdog_pid(void **state)
{
  char err[256], pid[32];

  (void)state;
  snprintf(pid, sizeof(pid), "%ld", (long)getpid());
  setenv("WATCHDOG_USEC", "500000", 1);
  setenv("WATCHDOG_PID", pid, 1);
  pgmld__sd_reset();
  assert_int_equal(pgmld_sd_init(err, sizeof(err)), 0);
  assert_int_equal(pgmld_sd_watchdog_usec(), 500000);
  assert_null(getenv("WATCHDOG_USEC"));

  /* Meant for another process. */
  setenv("WATCHDOG_USEC", "500000", 1);
  setenv("WATCHDOG_PID", "1", 1);
  pgmld__sd_reset();
  assert_int_equal(pgmld_sd_init(err, sizeof(err)), 0);
  assert_int_equal(pgmld_sd_watchdog_usec(), 0);

  /* No WATCHDOG_PID: ours. */
  setenv("WATCHDOG_USEC", "2000000", 1);
  pgmld__sd_reset();
  assert_int_equal(pgmld_sd_init(err, sizeof(err)), 0);
  assert_int_equal(pgmld_sd_watchdog_usec(), 2000000);
  pgmld__sd_reset();
}

/* Two passed sockets, fds 3 and 4, named the way a unit would name them. */
static void test_listen_fds(void **state)
{
  char err[256], pid[32];
  const char *name = NULL;
  static const char *const others[] = {"ws", "http", NULL};
  int s[2], d, fd;

  (void)state;
  if (fcntl(3, F_GETFD) >= 0 || fcntl(4, F_GETFD) >= 0)
    skip();   /* the test runner holds them */
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
  d = socket(AF_UNIX, SOCK_DGRAM, 0);
  assert_true(d >= 0);
  assert_int_equal(dup2(d, 3), 3);
  assert_int_equal(dup2(s[0], 4), 4);
  close(d);
  close(s[0]);

  /* Not ours: ignored, left open. */
  setenv("LISTEN_FDS", "2", 1);
  setenv("LISTEN_PID", "1", 1);
  pgmld__sd_reset();
  assert_int_equal(pgmld_sd_init(err, sizeof(err)), 0);
  assert_int_equal(pgmld_sd_listen_count(), 0);
  assert_null(getenv("LISTEN_FDS"));

  snprintf(pid, sizeof(pid), "%ld", (long)getpid());
  setenv("LISTEN_FDS", "2", 1);
  setenv("LISTEN_PID", pid, 1);
  setenv("LISTEN_FDNAMES", "ws:unix", 1);
  pgmld__sd_reset();
  assert_int_equal(pgmld_sd_init(err, sizeof(err)), 0);
  assert_int_equal(pgmld_sd_listen_count(), 2);
  /* Close-on-exec, for the embedded PostgreSQL's sake. */
  assert_true(fcntl(3, F_GETFD) & FD_CLOEXEC);
  fd = pgmld_sd_listen_take("unix", others, &name);
  assert_int_equal(fd, 4);
  assert_string_equal(name, "unix");
  assert_int_equal(pgmld_sd_check_socket(fd, name, AF_UNIX, SOCK_STREAM, "Unix listener",
                                         err, sizeof(err)), 0);
  /* fd 3 is "ws": not the Unix listener's even as a fallback. */
  assert_int_equal(pgmld_sd_listen_take("unix", others, NULL), -ENOENT);
  assert_int_equal(pgmld_sd_check_socket(3, "ws", AF_UNIX, SOCK_STREAM, "Unix listener",
                                         err, sizeof(err)), -EPROTOTYPE);
  assert_non_null(strstr(err, "fd 3 (ws) is an AF_UNIX datagram socket; the Unix listener "
                              "needs an AF_UNIX stream socket"));
  /* Not a socket at all. */
  {
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pgmld_sd_check_socket(p[0], "", AF_UNIX, SOCK_STREAM, "Unix listener",
                                           err, sizeof(err)), -ENOTSOCK);
    assert_non_null(strstr(err, "is not a socket"));
    close(p[0]);
    close(p[1]);
  }
  assert_int_equal(pgmld_sd_listen_close_rest(), 1);
  assert_true(fcntl(3, F_GETFD) < 0);
  close(4);
  close(s[1]);
  pgmld__sd_reset();
}

/* ------------------------------------------------------------ reload */

static char conf_path[256];

static void write_conf(const char *text)
{
  FILE *fp = fopen(conf_path, "w");

  assert_non_null(fp);
  fputs(text, fp);
  assert_int_equal(fclose(fp), 0);
}

static void test_reload(void **state)
{
  pgmld_config_t cfg;
  pgmld_config_action_t action;
  pgmld_reload_result_t res;
  char err[512];
  char *argv[] = {"pgmld", "--config", conf_path, "--limits-max-batch", "7", NULL};
  char *env[] = {"PGMLD_DATABASE_EF_SEARCH=90", NULL};
  char *env2[] = {"PGMLD_DATABASE_EF_SEARCH=91", NULL};
  char *socket_path;

  (void)state;
  snprintf(conf_path, sizeof(conf_path), "/tmp/pgmld-sdunit-%ld.conf", (long)getpid());
  write_conf("[server]\nsocket_path = /tmp/a.sock\n[limits]\nmax_top_k = 100\n"
             "max_batch = 9\n[database]\nurl = postgresql://u:secret@h/db\n");
  assert_int_equal(pgmld_config_load(&cfg, 5, argv, env, NULL, &action, err, sizeof(err)), 0);
  assert_int_equal(cfg.limits.max_batch, 7);
  assert_int_equal(cfg.database.ef_search, 90);
  socket_path = cfg.server.socket_path;

  /* Not set up yet. */
  pgmld_reload_init(NULL, 0, NULL, NULL);
  assert_int_equal(pgmld_reload(env, &res, err, sizeof(err)), -ENOSYS);

  pgmld_reload_init(&cfg, 5, argv, NULL);
  write_conf("[server]\nsocket_path = /tmp/b.sock\n[limits]\nmax_top_k = 50\n"
             "max_batch = 11\n[log]\nlevel = warn\n"
             "[database]\nurl = postgresql://u:other@h/db\npool_size = 3\n");
  assert_int_equal(pgmld_reload(env2, &res, err, sizeof(err)), 0);
  /* Live: max_top_k, log.level, pool_size, ef_search (environment). */
  assert_int_equal(res.applied, 4);
  assert_int_equal(cfg.limits.max_top_k, 50);
  assert_int_equal(cfg.log.level, PGMLD_LOG_WARN);
  assert_int_equal(pgmld_log_get_level(), PGMLD_LOG_WARN);
  assert_int_equal(cfg.database.ef_search, 91);
  assert_true(res.pool_size_changed);
  assert_int_equal(res.old_pool_size, 8);
  assert_int_equal(cfg.database.pool_size, 3);
  /* The flag still wins over the file. */
  assert_int_equal(cfg.limits.max_batch, 7);
  /* Restart-only: socket_path and url keep their values (the same string). */
  assert_int_equal(res.need_restart, 2);
  assert_ptr_equal(cfg.server.socket_path, socket_path);
  assert_string_equal(cfg.server.socket_path, "/tmp/a.sock");
  assert_string_equal(cfg.database.url, "postgresql://u:secret@h/db");

  /* Broken: an error naming the file, line and setting; nothing changes. */
  write_conf("[limits]\nmax_top_k = 0\n");
  assert_true(pgmld_reload(env2, &res, err, sizeof(err)) < 0);
  assert_non_null(strstr(err, ":2: limits.max_top_k: 0 is out of range"));
  assert_int_equal(cfg.limits.max_top_k, 50);
  assert_int_equal(res.applied, 0);
  unlink(conf_path);
  assert_int_equal(pgmld_reload(env2, &res, err, sizeof(err)), -ENOENT);
  assert_non_null(strstr(err, "cannot read config file"));

  pgmld_reload_init(NULL, 0, NULL, NULL);
  pgmld_config_free(&cfg);
  pgmld_log_set_level(PGMLD_LOG_INFO);
}

static int hook_calls;
static void hook(const pgmld_config_t *cfg, void *data)
{
  (void)cfg;
  *(int *)data += 1;
}

/* A hook makes its settings live and runs after each successful reload. */
static void test_reload_hook(void **state)
{
  static const char *const names[] = {"embedded.user", NULL};
  pgmld_setting_t s = {"embedded", "user", PGMLD_CFG_STRING, "", 0, 0, 0, ""};
  pgmld_config_t cfg;
  pgmld_config_action_t action;
  pgmld_reload_result_t res;
  char err[512];
  char *argv[] = {"pgmld", "--config", conf_path, NULL};

  (void)state;
  snprintf(conf_path, sizeof(conf_path), "/tmp/pgmld-sdunit-%ld.conf", (long)getpid());
  write_conf("[embedded]\nuser = one\n");
  assert_int_equal(pgmld_config_load(&cfg, 3, argv, NULL, NULL, &action, err, sizeof(err)), 0);
  pgmld_reload_init(&cfg, 3, argv, NULL);
  assert_false(pgmld_reload_is_live(&s));
  assert_int_equal(pgmld_reload_add_hook(names, hook, &hook_calls), 0);
  assert_true(pgmld_reload_is_live(&s));
  write_conf("[embedded]\nuser = two\n");
  assert_int_equal(pgmld_reload(NULL, &res, err, sizeof(err)), 0);
  assert_int_equal(hook_calls, 1);
  assert_string_equal(cfg.embedded.user, "two");
  pgmld_reload_remove_hook(hook, &hook_calls);
  assert_false(pgmld_reload_is_live(&s));
  assert_int_equal(pgmld_reload(NULL, &res, err, sizeof(err)), 0);
  assert_int_equal(hook_calls, 1);
  unlink(conf_path);
  pgmld_reload_init(NULL, 0, NULL, NULL);
  pgmld_config_free(&cfg);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_notify_abstract),
    cmocka_unit_test(test_bad_variables),
    cmocka_unit_test(test_watchdog_pid),
    cmocka_unit_test(test_listen_fds),
    cmocka_unit_test(test_reload),
    cmocka_unit_test(test_reload_hook),
  };

  pgmld_alloc_init();
  return cmocka_run_group_tests(tests, NULL, NULL);
}
