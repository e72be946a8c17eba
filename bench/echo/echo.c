/* The floor of the Ping comparison: a raw Unix-socket echo of Ping-sized frames. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../c/stats.h"

/* A Ping request frame as libpgml sends it is about this size (4-byte
 * length, Frame{id, method "pgml.v1.Database/Ping", payload{data: 12
 * bytes}}); the answer is a little smaller. */
#define FRAME 48
#define MAXC 4096

/* The server side: one process, reads in large chunks, writes back. */
static void serve(int fd)
{
  static char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf), off = 0;
    if (n <= 0)
      _exit(0);
    while (off < n) {
      ssize_t w = write(fd, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        _exit(1);
      off += w;
    }
  }
}

static int write_all(int fd, const char *p, size_t len)
{
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* `conc` frames in flight on `fd` for `secs` (after `warm` seconds not
 * recorded); replies come back in order, so send times are a ring. */
static int run(int fd, int conc, double warm, double secs)
{
  static char out[MAXC * FRAME], in[1 << 16];
  static uint64_t sent_at[MAXC];
  size_t head = 0, tail = 0, have = 0; /* ring of send times */
  uint64_t t0 = now_ns(), rec_start = t0 + (uint64_t)(warm * 1e9);
  uint64_t end = rec_start + (uint64_t)(secs * 1e9), done = 0, t;
  int inflight = 0, i, sending = 1;
  stats_t st;

  if (stats_init(&st, 20000000) < 0)
    return -1;
  memset(out, 0, sizeof out);
  for (i = 0; i < conc; i++) {
    uint32_t len = htonl(FRAME - 4);
    memcpy(out + (size_t)i * FRAME, &len, 4);
    sent_at[tail++ % MAXC] = now_ns();
  }
  if (write_all(fd, out, (size_t)conc * FRAME) < 0)
    return -1;
  inflight = conc;
  while (inflight > 0) {
    ssize_t n = read(fd, in + have, sizeof in - have);
    size_t frames, k;
    if (n <= 0)
      return -1;
    have += (size_t)n;
    frames = have / FRAME;
    have -= frames * FRAME;
    memmove(in, in + frames * FRAME, have);
    t = now_ns();
    sending = t < end;
    for (k = 0; k < frames; k++) {
      uint64_t s = sent_at[head++ % MAXC];
      inflight--;
      if (s >= rec_start && s < end) {
        stats_add(&st, t - s);
        done++;
      }
    }
    if (sending && frames > 0) {
      for (k = 0; k < frames; k++)
        sent_at[tail++ % MAXC] = t;
      if (write_all(fd, out, frames * FRAME) < 0)
        return -1;
      inflight += (int)frames;
    }
  }
  stats_print(&st, "echo", conc, done, secs);
  free(st.us);
  return 0;
}

int main(int argc, char **argv)
{
  int sv[2], concs[16], nc = 0;
  double secs = argc > 2 ? atof(argv[2]) : 1.0, warm = argc > 3 ? atof(argv[3]) : 0.2;
  char *list, *tok, *save = NULL;
  pid_t pid;

  if (argc < 2) {
    fprintf(stderr, "usage: echo CONC[,CONC...] [SECONDS] [WARMUP_SECONDS]\n");
    return 2;
  }
  list = strdup(argv[1]);
  for (tok = strtok_r(list, ",", &save); tok && nc < 16; tok = strtok_r(NULL, ",", &save)) {
    concs[nc] = atoi(tok);
    if (concs[nc] < 1 || concs[nc] > MAXC) {
      fprintf(stderr, "echo: concurrency %s out of 1..%d\n", tok, MAXC);
      return 2;
    }
    nc++;
  }
  /* A socketpair is the same AF_UNIX stream path as a connected socket,
   * without a file in the file system. */
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
    perror("echo: socketpair");
    return 1;
  }
  pid = fork();
  if (pid < 0) {
    perror("echo: fork");
    return 1;
  }
  if (pid == 0) {
    close(sv[0]);
    serve(sv[1]);
  }
  close(sv[1]);
  for (int i = 0; i < nc; i++)
    if (run(sv[0], concs[i], warm, secs) < 0) {
      fprintf(stderr, "echo: run at %d in flight failed: %s\n", concs[i], strerror(errno));
      kill(pid, SIGTERM);
      return 1;
    }
  close(sv[0]);
  waitpid(pid, NULL, 0);
  free(list);
  return 0;
}
