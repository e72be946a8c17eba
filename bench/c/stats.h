/* Latency samples and the one-line JSON result every bench program prints. */
#ifndef PGML_BENCH_STATS_H
#define PGML_BENCH_STATS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
  uint32_t *us; /* latencies in microseconds (ns / 1000, at least 1) */
  size_t n, cap;
} stats_t;

static inline uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Keeps at most `cap` samples; later ones are counted by the caller only. */
static inline int stats_init(stats_t *s, size_t cap)
{
  s->n = 0;
  s->cap = cap;
  s->us = malloc(cap * sizeof *s->us);
  return s->us != NULL ? 0 : -1;
}

static inline void stats_add(stats_t *s, uint64_t ns)
{
  uint64_t us = ns / 1000;
  if (s->n < s->cap)
    s->us[s->n++] = us > 0 ? (uint32_t)(us > UINT32_MAX ? UINT32_MAX : us) : 1;
}

static int cmp_u32(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static inline double stats_pct(stats_t *s, double p)
{
  size_t i;
  if (s->n == 0)
    return 0;
  i = (size_t)(p * (double)(s->n - 1) + 0.5);
  return s->us[i];
}

/* Prints {"side":..,"conc":..,"n":..,"secs":..,"rps":..,"p50_us":..,"p99_us":..}. */
static inline void stats_print(stats_t *s, const char *side, int conc, uint64_t done,
                               double secs)
{
  qsort(s->us, s->n, sizeof *s->us, cmp_u32);
  printf("{\"side\":\"%s\",\"conc\":%d,\"n\":%llu,\"secs\":%.4f,\"rps\":%.1f,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
         side, conc, (unsigned long long)done, secs, (double)done / secs,
         stats_pct(s, 0.50), stats_pct(s, 0.99));
  fflush(stdout);
}

#endif
