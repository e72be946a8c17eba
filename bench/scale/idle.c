/* Opens N idle client connections to pgmld and reports the daemon's RSS growth per connection. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* VmRSS of `pid` in KB, or -1. */
static long rss_kb(long pid)
{
  char path[64], line[256];
  long kb = -1;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  f = fopen(path, "r");
  if (f == NULL)
    return -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "VmRSS:", 6) == 0)
      kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

/* Open descriptors of `pid` (it must be ours or we must be root), or -1. */
static long fd_count(long pid)
{
  char path[64];
  struct dirent *d;
  long k = 0;
  DIR *dir;

  snprintf(path, sizeof path, "/proc/%ld/fd", pid);
  dir = opendir(path);
  if (dir == NULL)
    return -1;
  while ((d = readdir(dir)) != NULL)
    k += d->d_name[0] != '.';
  closedir(dir);
  return k;
}

int main(int argc, char **argv)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  struct rlimit rl;
  long pid, n, i, before, after, fds_before, fds_after;
  int *fds;

  if (argc != 4) {
    fprintf(stderr, "usage: idle SOCKET_PATH DAEMON_PID N\n");
    return 2;
  }
  pid = strtol(argv[2], NULL, 10);
  n = strtol(argv[3], NULL, 10);
  if (strlen(argv[1]) >= sizeof sa.sun_path || n < 1) {
    fprintf(stderr, "idle: bad socket path or count\n");
    return 2;
  }
  strcpy(sa.sun_path, argv[1]);
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
    rl.rlim_cur = (rlim_t)n + 64;
    if (rl.rlim_max < rl.rlim_cur)
      rl.rlim_max = rl.rlim_cur;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
      fprintf(stderr, "idle: cannot raise the descriptor limit to %ld: %s\n", n + 64,
              strerror(errno));
      return 1;
    }
  }
  fds = calloc((size_t)n, sizeof *fds);
  if (fds == NULL)
    return 1;
  sleep(1);
  before = rss_kb(pid);
  fds_before = fd_count(pid);
  for (i = 0; i < n; i++) {
    fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof sa) < 0) {
      fprintf(stderr, "idle: connection %ld of %ld: %s\n", i + 1, n, strerror(errno));
      return 1;
    }
  }
  /* Let the daemon accept all of them and settle. */
  sleep(3);
  after = rss_kb(pid);
  fds_after = fd_count(pid);
  /* Only connections the daemon accepted count: a full accept backlog or
   * the daemon's own descriptor limit would otherwise flatter it. */
  printf("{\"connections\":%ld,\"accepted\":%ld,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,"
         "\"per_conn_kb\":%.2f}\n",
         n, fds_after - fds_before, before, after,
         fds_after > fds_before ? (double)(after - before) / (double)(fds_after - fds_before) : -1.0);
  for (i = 0; i < n; i++)
    close(fds[i]);
  free(fds);
  return 0;
}
