/* sdnotify.c - systemd's notify, watchdog and socket-activation protocols,
 * read from the environment once and spoken over plain sockets. */
#define _GNU_SOURCE /* MSG_NOSIGNAL */
#include "core/sdnotify.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#ifdef PGMLD_NO_SYSTEMD
#define SYSTEMD_SUPPORT 0
#else
#define SYSTEMD_SUPPORT 1
#endif

/* A datagram carries at most this much: STATUS lines are short. */
#define NOTIFY_MAX 1024

typedef struct passed_s {
  int fd;                 /* -1 once taken */
  char name[256];
} passed_t;

static struct {
  int inited;
  int notify_fd;          /* our datagram socket, or -1 */
  struct sockaddr_un addr;
  socklen_t addr_len;     /* 0: no NOTIFY_SOCKET */
  int warned;             /* a send failed and was logged at warn */
  uint64_t watchdog_usec;
  passed_t passed[PGMLD_SD_LISTEN_FDS_MAX];
  size_t n_passed;
} sd = {.notify_fd = -1};

static PGMLD_PRINTF(3, 4) int problem(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -EINVAL;
}

/* A decimal number with nothing around it. */
static int parse_u64(const char *s, uint64_t *out)
{
  char *end;
  unsigned long long v;

  if (s == NULL || !isdigit((unsigned char)s[0]))
    return -EINVAL;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return -EINVAL;
  *out = v;
  return 0;
}

static int read_notify(char *err, size_t errlen)
{
  const char *e = getenv("NOTIFY_SOCKET");
  size_t len;

  if (e == NULL || e[0] == '\0')
    return 0;
  len = strlen(e);
  if (e[0] != '/' && e[0] != '@')
    return problem(err, errlen, "NOTIFY_SOCKET=%s: not an absolute path or an @abstract "
                   "socket name (other address kinds are not supported)", e);
  if (len >= sizeof(sd.addr.sun_path))
    return problem(err, errlen, "NOTIFY_SOCKET is %zu bytes long; a Unix socket address "
                   "holds at most %zu", len, sizeof(sd.addr.sun_path) - 1);
  memset(&sd.addr, 0, sizeof(sd.addr));
  sd.addr.sun_family = AF_UNIX;
  memcpy(sd.addr.sun_path, e, len);
  /* An abstract name starts with a NUL byte and its length is exact; a
   * path's length includes its terminating NUL. */
  if (e[0] == '@') {
    sd.addr.sun_path[0] = '\0';
    sd.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  } else {
    sd.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
  }
  return 0;
}

static int read_watchdog(char *err, size_t errlen)
{
  const char *usec = getenv("WATCHDOG_USEC");
  const char *pid = getenv("WATCHDOG_PID");
  uint64_t v, p;

  if (usec == NULL || usec[0] == '\0')
    return 0;
  if (parse_u64(usec, &v) < 0 || v == 0)
    return problem(err, errlen, "WATCHDOG_USEC=%s is not a positive number of "
                   "microseconds", usec);
  if (pid != NULL && pid[0] != '\0') {
    if (parse_u64(pid, &p) < 0)
      return problem(err, errlen, "WATCHDOG_PID=%s is not a process id", pid);
    /* Meant for another process (a wrapper that exec'd us would pass its
     * own): not ours to answer. */
    if (p != (uint64_t)getpid())
      return 0;
  }
  sd.watchdog_usec = v;
  return 0;
}

static int read_listen(char *err, size_t errlen)
{
  const char *fds = getenv("LISTEN_FDS");
  const char *pid = getenv("LISTEN_PID");
  const char *names = getenv("LISTEN_FDNAMES");
  uint64_t n, p;
  size_t i;

  if (fds == NULL || fds[0] == '\0')
    return 0;
  if (pid == NULL || parse_u64(pid, &p) < 0 || p != (uint64_t)getpid()) {
    pgmld_log_warn("systemd", "LISTEN_FDS is set but LISTEN_PID (%s) is not this process "
                   "(%ld): the sockets are not ours; binding server.socket_path instead",
                   pid ? pid : "unset", (long)getpid());
    return 0;
  }
  if (parse_u64(fds, &n) < 0)
    return problem(err, errlen, "LISTEN_FDS=%s is not a number", fds);
  if (n > PGMLD_SD_LISTEN_FDS_MAX)
    return problem(err, errlen, "LISTEN_FDS=%s: more than %d sockets passed; pgmld "
                   "uses a few (see docs/operations.md)", fds, PGMLD_SD_LISTEN_FDS_MAX);
  for (i = 0; i < n; i++) {
    int fd = PGMLD_SD_LISTEN_FDS_START + (int)i;
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0)
      return problem(err, errlen, "LISTEN_FDS=%s but fd %d is not open", fds, fd);
    /* Not for the embedded PostgreSQL or any other child. */
    (void)fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    sd.passed[i].fd = fd;
    sd.passed[i].name[0] = '\0';
  }
  sd.n_passed = (size_t)n;
  /* Names: "a:b:c", one per descriptor; missing ones stay "". */
  for (i = 0; names != NULL && *names != '\0' && i < sd.n_passed; i++) {
    const char *colon = strchr(names, ':');
    size_t len = colon ? (size_t)(colon - names) : strlen(names);
    snprintf(sd.passed[i].name, sizeof(sd.passed[i].name), "%.*s", (int)len, names);
    if (colon == NULL)
      break;
    names = colon + 1;
  }
  return 0;
}

int pgmld_sd_init(char *err, size_t errlen)
{
  int rc;

  if (sd.inited)
    return 0;
  sd.inited = 1;
  rc = 0;
  /* Built without systemd support (PGML_SYSTEMD=OFF) the variables are
   * ignored, and still removed below, so that no child acts on them. */
  if (SYSTEMD_SUPPORT && ((rc = read_notify(err, errlen)) < 0 ||
                          (rc = read_watchdog(err, errlen)) < 0 ||
                          (rc = read_listen(err, errlen)) < 0)) {
    sd.addr_len = 0;
    sd.watchdog_usec = 0;
    sd.n_passed = 0;
  }
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDNAMES");
  return rc;
}

void pgmld__sd_reset(void)
{
  if (sd.notify_fd >= 0)
    close(sd.notify_fd);
  memset(&sd, 0, sizeof(sd));
  sd.notify_fd = -1;
}

int pgmld_sd_notify_enabled(void)
{
  return sd.addr_len > 0;
}

int pgmld_sd_notify(const char *state)
{
  size_t len = strlen(state);
  int rc;

  if (sd.addr_len == 0)
    return 0;
  /* One socket for the life of the process: the watchdog sends every few
   * seconds. */
  if (sd.notify_fd < 0) {
    sd.notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sd.notify_fd < 0) {
      rc = -errno;
      goto failed;
    }
  }
  if (sendto(sd.notify_fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&sd.addr,
             sd.addr_len) < 0) {
    rc = -errno;
    goto failed;
  }
  return 1;

failed:
  if (!sd.warned) {
    sd.warned = 1;
    pgmld_log_warn("systemd", "cannot notify systemd on NOTIFY_SOCKET: %s (further "
                   "failures are logged at debug)", strerror(-rc));
  } else {
    pgmld_log_debug("systemd", "cannot notify systemd: %s", strerror(-rc));
  }
  return rc;
}

int pgmld_sd_notifyf(const char *fmt, ...)
{
  char buf[NOTIFY_MAX];
  va_list ap;

  if (sd.addr_len == 0)
    return 0;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return pgmld_sd_notify(buf);
}

void pgmld_sd_status(const char *fmt, ...)
{
  char buf[NOTIFY_MAX];
  size_t i;
  va_list ap;

  if (sd.addr_len == 0)
    return;
  memcpy(buf, "STATUS=", 7);
  va_start(ap, fmt);
  vsnprintf(buf + 7, sizeof(buf) - 7, fmt, ap);
  va_end(ap);
  for (i = 7; buf[i] != '\0'; i++)
    if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
      buf[i] = ' ';
  (void)pgmld_sd_notify(buf);
}

uint64_t pgmld_sd_watchdog_usec(void)
{
  return sd.watchdog_usec;
}

uint64_t pgmld_sd_monotonic_usec(void)
{
  struct timespec ts;

  if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
    return 0;
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

size_t pgmld_sd_listen_count(void)
{
  size_t i, n = 0;

  for (i = 0; i < sd.n_passed; i++)
    n += sd.passed[i].fd >= 0;
  return n;
}

static int claimed(const char *name, const char *const *others)
{
  size_t i;

  for (i = 0; others[i] != NULL; i++)
    if (strcmp(others[i], name) == 0)
      return 1;
  return 0;
}

int pgmld_sd_listen_take(const char *name, const char *const *others,
                         const char **got_name)
{
  passed_t *p = NULL;
  size_t i;
  int fd;

  for (i = 0; name != NULL && i < sd.n_passed && p == NULL; i++)
    if (sd.passed[i].fd >= 0 && strcmp(sd.passed[i].name, name) == 0)
      p = &sd.passed[i];
  for (i = 0; others != NULL && i < sd.n_passed && p == NULL; i++)
    if (sd.passed[i].fd >= 0 && !claimed(sd.passed[i].name, others))
      p = &sd.passed[i];
  if (p == NULL)
    return -ENOENT;
  if (got_name != NULL)
    *got_name = p->name;
  fd = p->fd;
  p->fd = -1;
  return fd;
}

size_t pgmld_sd_listen_close_rest(void)
{
  size_t i, n = 0;

  for (i = 0; i < sd.n_passed; i++) {
    if (sd.passed[i].fd < 0)
      continue;
    pgmld_log_warn("systemd", "socket activation: fd %d (%s) is not used by any listener; "
                   "closing it", sd.passed[i].fd,
                   sd.passed[i].name[0] ? sd.passed[i].name : "unnamed");
    close(sd.passed[i].fd);
    sd.passed[i].fd = -1;
    n++;
  }
  return n;
}

static const char *family_name(int family)
{
  switch (family) {
  case AF_UNIX: return "AF_UNIX";
  case AF_INET: return "AF_INET";
  case AF_INET6: return "AF_INET6";
  case AF_NETLINK: return "AF_NETLINK";
  }
  return "unknown-family";
}

static const char *type_name(int type)
{
  switch (type) {
  case SOCK_STREAM: return "stream";
  case SOCK_DGRAM: return "datagram";
  case SOCK_SEQPACKET: return "seqpacket";
  case SOCK_RAW: return "raw";
  }
  return "unknown-type";
}

int pgmld_sd_check_socket(int fd, const char *fd_name, int family, int type,
                          const char *what, char *err, size_t errlen)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  int got_type = 0;
  socklen_t tlen = sizeof(got_type);
  const char *label = fd_name != NULL && fd_name[0] != '\0' ? fd_name : "unnamed";

  memset(&ss, 0, sizeof(ss));
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &got_type, &tlen) < 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
    int e = errno;
    snprintf(err, errlen, "socket activation: fd %d (%s) is not a socket (%s); the %s "
             "needs an %s %s socket", fd, label, strerror(e), what, family_name(family),
             type_name(type));
    return -ENOTSOCK;
  }
  if (ss.ss_family != family || got_type != type) {
    snprintf(err, errlen, "socket activation: fd %d (%s) is an %s %s socket; the %s needs "
             "an %s %s socket (check ListenStream= in the .socket unit)", fd, label,
             family_name(ss.ss_family), type_name(got_type), what, family_name(family),
             type_name(type));
    return -EPROTOTYPE;
  }
  return 0;
}
