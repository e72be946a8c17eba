/* Ping through libpgml's asynchronous API: 1 or N calls in flight on one connection. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>

#include <pgml/client.h>

#include "stats.h"

typedef struct {
  pgml_client_t *c;
  stats_t st;
  uint64_t rec_start, end, done, failed;
  int inflight;
} bench_t;

typedef struct {
  bench_t *b;
  uint64_t sent;
} slot_t;

/* PingRequest{data: 12 bytes}, encoded once. */
static const uint8_t ping_req[] = {0x0a, 12, 'p', 'g', 'm', 'l', 'd', '-', 'b', 'e', 'n', 'c', 'h', '!'};

static int start(bench_t *b, slot_t *s);

static void on_pong(pgml_client_t *c, const pgml_result_t *res, void *ud)
{
  slot_t *s = ud;
  bench_t *b = s->b;
  uint64_t t = now_ns();

  (void)c;
  b->inflight--;
  if (res->code != PGML_OK) {
    if (b->failed++ == 0)
      fprintf(stderr, "cping: Ping: %s: %s\n", pgml_code_name(res->code), res->message);
    return;
  }
  if (s->sent >= b->rec_start && s->sent < b->end) {
    stats_add(&b->st, t - s->sent);
    b->done++;
  }
  if (t < b->end && b->failed == 0 && start(b, s) < 0)
    b->failed++;
}

static int start(bench_t *b, slot_t *s)
{
  int rc;

  s->sent = now_ns();
  rc = pgml_call_raw(b->c, "Ping", ping_req, sizeof ping_req, NULL, on_pong, s, NULL);
  if (rc < 0) {
    fprintf(stderr, "cping: pgml_call_raw: %s\n", strerror(-rc));
    return rc;
  }
  b->inflight++;
  return 0;
}

/* The whole event loop is poll() on the client's one descriptor. */
static int drive(bench_t *b)
{
  while (pgml_client_pending(b->c) > 0) {
    struct pollfd p = {pgml_client_fd(b->c), 0, 0};
    unsigned ev = pgml_client_events(b->c), rev = 0;
    int timeout = pgml_client_next_timeout_ms(b->c), rc;

    p.events = (short)((ev & PGML_EV_READ ? POLLIN : 0) | (ev & PGML_EV_WRITE ? POLLOUT : 0));
    if (p.fd >= 0) {
      if (poll(&p, 1, timeout) < 0 && errno != EINTR)
        return -errno;
      if (p.revents & (POLLIN | POLLHUP | POLLERR))
        rev |= PGML_EV_READ;
      if (p.revents & (POLLOUT | POLLERR))
        rev |= PGML_EV_WRITE;
    }
    rc = pgml_client_step(b->c, rev);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int run(const char *addr, int conc, double warm, double secs)
{
  bench_t b = {0};
  slot_t *slots = calloc((size_t)conc, sizeof *slots);
  uint64_t t0;
  int i, rc;

  if (slots == NULL || stats_init(&b.st, 20000000) < 0)
    return -ENOMEM;
  rc = pgml_client_new(addr, NULL, &b.c);
  if (rc < 0) {
    fprintf(stderr, "cping: pgml_client_new(%s): %s\n", addr, strerror(-rc));
    return rc;
  }
  t0 = now_ns();
  b.rec_start = t0 + (uint64_t)(warm * 1e9);
  b.end = b.rec_start + (uint64_t)(secs * 1e9);
  for (i = 0; i < conc && rc == 0; i++) {
    slots[i].b = &b;
    rc = start(&b, &slots[i]);
  }
  if (rc == 0)
    rc = drive(&b);
  pgml_client_free(b.c);
  if (rc == 0 && b.failed == 0)
    stats_print(&b.st, "c", conc, b.done, secs);
  free(b.st.us);
  free(slots);
  return rc < 0 ? rc : b.failed ? -EIO : 0;
}

int main(int argc, char **argv)
{
  double secs = argc > 3 ? atof(argv[3]) : 1.0, warm = argc > 4 ? atof(argv[4]) : 0.2;
  char *list, *tok, *save = NULL;

  if (argc < 3) {
    fprintf(stderr, "usage: cping ADDRESS CONC[,CONC...] [SECONDS] [WARMUP_SECONDS]\n");
    return 2;
  }
  list = strdup(argv[2]);
  for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int conc = atoi(tok);
    if (conc < 1 || conc > 65536) {
      fprintf(stderr, "cping: concurrency %s out of 1..65536\n", tok);
      return 2;
    }
    if (run(argv[1], conc, warm, secs) < 0)
      return 1;
  }
  free(list);
  return 0;
}
