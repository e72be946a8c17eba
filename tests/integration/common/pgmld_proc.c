/* pgmld_proc.c - a real pgmld as a child process, and raw framing over its Unix socket, for the integration tests. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pgmld_proc.h"

/* How often a wait looks again; never an assertion about speed. */
#define POLL_US 20000

void pgml_test_proc_dir(pgml_test_proc_t *p, const char *prefix)
{
  const char *tmp = getenv("TMPDIR");

  snprintf(p->dir, sizeof(p->dir), "%s/%s-XXXXXX", tmp ? tmp : "/tmp", prefix);
  if (mkdtemp(p->dir) == NULL)
    fail_msg("mkdtemp %s: %s", p->dir, strerror(errno));
  if (p->sock[0] == '\0')
    snprintf(p->sock, sizeof(p->sock), "%s/pgmld.sock", p->dir);
  snprintf(p->log, sizeof(p->log), "%s/pgmld.log", p->dir);
}

void pgml_test_proc_spawn(pgml_test_proc_t *p, const char *const *argv,
                          pgml_test_child_fn setup, void *arg)
{
  p->pid = fork();
  if (p->pid < 0)
    fail_msg("fork: %s", strerror(errno));
  if (p->pid == 0) {
    int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd >= 0) {
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
    }
    if (setup != NULL)
      setup(arg);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
}

void pgml_test_proc_wait_listening(pgml_test_proc_t *p, int wait_ms)
{
  int i;

  for (i = 0; i < wait_ms / (POLL_US / 1000); i++) {
    int status, fd = pgml_test_connect(p->sock);
    if (fd >= 0) {
      close(fd);
      return;
    }
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
      p->pid = 0;
      fail_msg("pgmld exited during start-up (status %d); see %s", status, p->log);
    }
    usleep(POLL_US);
  }
  fail_msg("pgmld did not listen on %s within %d ms; see %s", p->sock, wait_ms, p->log);
}

int pgml_test_proc_wait_exit(pgml_test_proc_t *p, int wait_ms)
{
  int i, status;

  for (i = 0; i < wait_ms / (POLL_US / 1000); i++) {
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) {
      p->pid = 0;
      if (WIFEXITED(status))
        return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    usleep(POLL_US);
  }
  fail_msg("pgmld did not exit within %d ms; see %s", wait_ms, p->log);
  return -1;
}

int pgml_test_proc_stop(pgml_test_proc_t *p, int wait_ms)
{
  if (p->pid <= 0)
    fail_msg("pgmld is not running");
  if (kill(p->pid, SIGTERM) < 0)
    fail_msg("kill %ld: %s", (long)p->pid, strerror(errno));
  return pgml_test_proc_wait_exit(p, wait_ms);
}

void pgml_test_proc_cleanup(pgml_test_proc_t *p, int tail_lines)
{
  char cmd[700];

  if (p->pid > 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
  }
  if (p->dir[0] == '\0')
    return;
  /* Keep the log of a failed run next to the test's output. */
  snprintf(cmd, sizeof(cmd), "tail -n %d '%s' >&2; rm -rf '%s'", tail_lines, p->log, p->dir);
  if (getenv("PGMLD_TEST_KEEP") == NULL && system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", p->dir);
  p->dir[0] = '\0';
}

int pgml_test_connect(const char *path)
{
  struct sockaddr_un sa;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    fail_msg("socket: %s", strerror(errno));
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

void pgml_test_send_all(int fd, const void *buf, size_t len)
{
  const uint8_t *p = buf;

  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail_msg("send: %s", strerror(errno));
    p += n;
    len -= (size_t)n;
  }
}

int pgml_test_read_exact(int fd, uint8_t *buf, size_t len, int wait_ms)
{
  size_t got = 0;

  while (got < len) {
    struct pollfd pfd = {fd, POLLIN, 0};
    ssize_t n;
    int rc = poll(&pfd, 1, wait_ms);
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc == 0)
      fail_msg("no answer from pgmld within %d ms", wait_ms);
    n = recv(fd, buf + got, len - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno != ECONNRESET)
      fail_msg("recv: %s", strerror(errno));
    if (n <= 0)
      return got == 0 ? 0 : -1;
    got += (size_t)n;
  }
  return 1;
}

Pgml__V1__Frame *pgml_test_read_frame(int fd, size_t max_len, int wait_ms)
{
  uint8_t hdr[4], *body;
  uint32_t len;
  Pgml__V1__Frame *f;
  int rc = pgml_test_read_exact(fd, hdr, 4, wait_ms);

  if (rc == 0)
    return NULL;
  assert_int_equal(rc, 1);
  len = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) | hdr[3];
  if (max_len != 0 && len > max_len)
    fail_msg("frame of %u bytes, more than the %zu allowed", len, max_len);
  body = malloc(len ? len : 1);
  assert_non_null(body);
  assert_int_equal(pgml_test_read_exact(fd, body, len, wait_ms), 1);
  f = pgml__v1__frame__unpack(NULL, len, body);
  free(body);
  if (f == NULL)
    fail_msg("a frame of %u bytes from pgmld does not decode", len);
  return f;
}

void pgml_test_send_request(int fd, uint64_t id, const char *method,
                            const ProtobufCMessage *msg)
{
  Pgml__V1__Frame f = PGML__V1__FRAME__INIT;
  uint8_t *payload = NULL, *out;
  size_t plen = 0, n;

  if (msg != NULL) {
    payload = malloc(protobuf_c_message_get_packed_size(msg) + 1);
    assert_non_null(payload);
    plen = protobuf_c_message_pack(msg, payload);
  }
  f.id = id;
  f.kind = PGML__V1__FRAME__KIND__REQUEST;
  f.method = (char *)method;
  f.payload.data = payload;
  f.payload.len = plen;
  n = pgml__v1__frame__get_packed_size(&f);
  out = malloc(n + 4);
  assert_non_null(out);
  out[0] = (uint8_t)(n >> 24);
  out[1] = (uint8_t)(n >> 16);
  out[2] = (uint8_t)(n >> 8);
  out[3] = (uint8_t)n;
  pgml__v1__frame__pack(&f, out + 4);
  pgml_test_send_all(fd, out, n + 4);
  free(out);
  free(payload);
}

char *pgml_test_read_file(const char *path)
{
  FILE *fp = fopen(path, "r");
  char *text = NULL;
  size_t len = 0, cap = 0, n;

  if (fp == NULL)
    fail_msg("open %s: %s", path, strerror(errno));
  do {
    if (cap - len < 4096) {
      cap = cap * 2 + 8192;
      text = realloc(text, cap);
      assert_non_null(text);
    }
    n = fread(text + len, 1, cap - len - 1, fp);
    len += n;
  } while (n > 0);
  fclose(fp);
  text[len] = '\0';
  return text;
}

void pgml_test_assert_contains(const char *haystack, const char *needle)
{
  if (haystack == NULL || strstr(haystack, needle) == NULL)
    fail_msg("\"%s\" does not contain \"%s\"", haystack ? haystack : "(null)", needle);
}
