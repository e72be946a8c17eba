/* metrics.c - the counters behind GET /metrics and their Prometheus text. */
#include "core/metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

/* Latency bucket upper bounds, seconds (Prometheus' defaults). */
static const double bucket_le[] = {
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define N_BUCKETS PGMLD_ARRAY_LEN(bucket_le)
/* gRPC's codes 0..16. */
#define N_CODES 17u

typedef struct method_stats_s {
  const char *name;                 /* NULL: never seen */
  uint64_t by_code[N_CODES];
  uint64_t buckets[N_BUCKETS];      /* not cumulative; summed when rendered */
  uint64_t count;
  double sum_s;
} method_stats_t;

typedef struct transport_stats_s {
  const char *name;                 /* NULL: unused slot */
  uint64_t conns;
  uint64_t received, sent;
} transport_stats_t;

static struct {
  method_stats_t methods[PGMLD_METRICS_MAX_METHODS];
  transport_stats_t transports[PGMLD_METRICS_MAX_TRANSPORTS];
  uint64_t inflight;
} M;

void pgmld__metrics_reset(void)
{
  memset(&M, 0, sizeof(M));
}

void pgmld_metrics_request_started(void)
{
  M.inflight++;
}

void pgmld_metrics_request_done(size_t index, const char *method, pgmld_code_t code,
                                uint64_t duration_ns)
{
  method_stats_t *m;
  double s = (double)duration_ns / 1e9;
  size_t b;

  if (M.inflight > 0)
    M.inflight--;
  if (index >= PGMLD_METRICS_MAX_METHODS)
    index = PGMLD_METRICS_MAX_METHODS - 1;
  m = &M.methods[index];
  if (m->name == NULL)
    m->name = method;
  m->by_code[(unsigned)code < N_CODES ? (unsigned)code : PGMLD_UNKNOWN]++;
  for (b = 0; b < N_BUCKETS && s > bucket_le[b]; b++)
    ;
  if (b < N_BUCKETS)
    m->buckets[b]++;
  m->count++;
  m->sum_s += s;
}

/* The slot for a transport name, created on first use; NULL when the table
 * is full (the series are then not counted, never wrongly attributed). */
static transport_stats_t *transport(const char *name)
{
  size_t i;

  /* Callers pass their transport's static name: the same pointer each
   * time, so the string compare is only a fallback. */
  for (i = 0; i < PGMLD_METRICS_MAX_TRANSPORTS && M.transports[i].name != NULL; i++)
    if (M.transports[i].name == name)
      return &M.transports[i];
  for (i = 0; i < PGMLD_METRICS_MAX_TRANSPORTS; i++) {
    transport_stats_t *t = &M.transports[i];
    if (t->name == NULL) {
      t->name = name;
      return t;
    }
    if (strcmp(t->name, name) == 0)
      return t;
  }
  return NULL;
}

void pgmld_metrics_conn_opened(const char *name)
{
  transport_stats_t *t = transport(name);

  if (t != NULL)
    t->conns++;
}

void pgmld_metrics_conn_closed(const char *name)
{
  transport_stats_t *t = transport(name);

  if (t != NULL && t->conns > 0)
    t->conns--;
}

void pgmld_metrics_bytes(const char *name, uint64_t received, uint64_t sent)
{
  transport_stats_t *t = transport(name);

  if (t != NULL) {
    t->received += received;
    t->sent += sent;
  }
}

/* ------------------------------------------------------------ rendering */

typedef struct out_s {
  uint8_t *buf;
  size_t headroom, len, cap;
  int failed;
} out_t;

PGMLD_PRINTF(2, 3)
static void put(out_t *o, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (o->failed)
    return;
  for (;;) {
    size_t room = o->cap - o->headroom - o->len;
    va_start(ap, fmt);
    n = vsnprintf((char *)o->buf + o->headroom + o->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
      o->failed = 1;
      return;
    }
    if ((size_t)n < room) {
      o->len += (size_t)n;
      return;
    }
    {
      size_t cap = o->cap * 2;
      uint8_t *p;
      while (cap - o->headroom - o->len <= (size_t)n)
        cap *= 2;
      p = pgmld_realloc(o->buf, cap);
      if (p == NULL) {
        o->failed = 1;
        return;
      }
      o->buf = p;
      o->cap = cap;
    }
  }
}

static void render_requests(out_t *o)
{
  size_t i, c, b;

  put(o, "# HELP pgmld_requests_total Requests answered, by method and status code.\n"
         "# TYPE pgmld_requests_total counter\n");
  for (i = 0; i < PGMLD_METRICS_MAX_METHODS; i++) {
    const method_stats_t *m = &M.methods[i];
    if (m->name == NULL)
      continue;
    for (c = 0; c < N_CODES; c++)
      if (m->by_code[c] > 0)
        put(o, "pgmld_requests_total{method=\"%s\",code=\"%s\"} %llu\n", m->name,
            pgmld_code_name((pgmld_code_t)c), (unsigned long long)m->by_code[c]);
  }
  put(o, "# HELP pgmld_request_duration_seconds Time from reading a request to "
         "answering it.\n"
         "# TYPE pgmld_request_duration_seconds histogram\n");
  for (i = 0; i < PGMLD_METRICS_MAX_METHODS; i++) {
    const method_stats_t *m = &M.methods[i];
    uint64_t cum = 0;
    if (m->name == NULL)
      continue;
    for (b = 0; b < N_BUCKETS; b++) {
      cum += m->buckets[b];
      put(o, "pgmld_request_duration_seconds_bucket{method=\"%s\",le=\"%g\"} %llu\n",
          m->name, bucket_le[b], (unsigned long long)cum);
    }
    put(o, "pgmld_request_duration_seconds_bucket{method=\"%s\",le=\"+Inf\"} %llu\n"
           "pgmld_request_duration_seconds_sum{method=\"%s\"} %.9f\n"
           "pgmld_request_duration_seconds_count{method=\"%s\"} %llu\n",
        m->name, (unsigned long long)m->count, m->name, m->sum_s, m->name,
        (unsigned long long)m->count);
  }
  put(o, "# HELP pgmld_inflight_requests Requests read and not answered yet.\n"
         "# TYPE pgmld_inflight_requests gauge\n"
         "pgmld_inflight_requests %llu\n", (unsigned long long)M.inflight);
}

static void render_transports(out_t *o)
{
  size_t i;

  put(o, "# HELP pgmld_connections Client connections open, by transport.\n"
         "# TYPE pgmld_connections gauge\n");
  for (i = 0; i < PGMLD_METRICS_MAX_TRANSPORTS && M.transports[i].name; i++)
    put(o, "pgmld_connections{transport=\"%s\"} %llu\n", M.transports[i].name,
        (unsigned long long)M.transports[i].conns);
  put(o, "# HELP pgmld_bytes_received_total Frame bytes read from clients.\n"
         "# TYPE pgmld_bytes_received_total counter\n");
  for (i = 0; i < PGMLD_METRICS_MAX_TRANSPORTS && M.transports[i].name; i++)
    put(o, "pgmld_bytes_received_total{transport=\"%s\"} %llu\n", M.transports[i].name,
        (unsigned long long)M.transports[i].received);
  put(o, "# HELP pgmld_bytes_sent_total Frame bytes queued to clients.\n"
         "# TYPE pgmld_bytes_sent_total counter\n");
  for (i = 0; i < PGMLD_METRICS_MAX_TRANSPORTS && M.transports[i].name; i++)
    put(o, "pgmld_bytes_sent_total{transport=\"%s\"} %llu\n", M.transports[i].name,
        (unsigned long long)M.transports[i].sent);
}

static void render_pool(out_t *o, const pgmld_metrics_pool_t *p)
{
  put(o, "# HELP pgmld_pool_connections PostgreSQL connections of the pool, by state.\n"
         "# TYPE pgmld_pool_connections gauge\n"
         "pgmld_pool_connections{state=\"idle\"} %u\n"
         "pgmld_pool_connections{state=\"busy\"} %u\n"
         "pgmld_pool_connections{state=\"connecting\"} %u\n"
         "pgmld_pool_connections{state=\"broken\"} %u\n"
         "# HELP pgmld_pool_size Configured pool size (database.pool_size).\n"
         "# TYPE pgmld_pool_size gauge\n"
         "pgmld_pool_size %u\n"
         "# HELP pgmld_pool_waiting Requests waiting for a pool connection.\n"
         "# TYPE pgmld_pool_waiting gauge\n"
         "pgmld_pool_waiting %u\n"
         "# HELP pgmld_pool_wait_seconds_total Time requests spent waiting for a "
         "pool connection.\n"
         "# TYPE pgmld_pool_wait_seconds_total counter\n"
         "pgmld_pool_wait_seconds_total %.6f\n",
      p->idle, p->busy, p->connecting, p->broken, p->size, p->waiting,
      (double)p->wait_us / 1e6);
}

int pgmld_metrics_render(const pgmld_metrics_pool_t *pool, size_t headroom,
                         uint8_t **out, size_t *len)
{
  out_t o = {0};

  *out = NULL;
  *len = 0;
  o.headroom = headroom;
  o.cap = headroom + 8192;
  o.buf = pgmld_malloc(o.cap);
  if (o.buf == NULL)
    return -ENOMEM;
  render_requests(&o);
  render_transports(&o);
  if (pool != NULL)
    render_pool(&o, pool);
  if (o.failed) {
    pgmld_free(o.buf);
    return -ENOMEM;
  }
  *out = o.buf;
  *len = o.len;
  return 0;
}
