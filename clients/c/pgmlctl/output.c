/* output.c - JSON on stdout, aligned tables, and the progress line. */
#include "output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "pgmlctl.h"

const char *pgmlctl_str(const char *s)
{
  return s != NULL ? s : "";
}

double pgmlctl_now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void pgmlctl_format_time(int64_t ms, char *buf, size_t len)
{
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;

  if (ms <= 0 || gmtime_r(&secs, &tm) == NULL) {
    snprintf(buf, len, "-");
    return;
  }
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int pgmlctl_json_out(json_t *v)
{
  int rc;

  if (v == NULL) {
    fprintf(stderr, "pgmlctl: out of memory building the JSON output\n");
    return PGMLCTL_EXIT_LOCAL;
  }
  rc = json_dumpf(v, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(v);
  if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
    fprintf(stderr, "pgmlctl: cannot write to stdout: %s\n", strerror(errno));
    return PGMLCTL_EXIT_LOCAL;
  }
  return 0;
}

void pgmlctl_json_push(json_t **arr, json_t *v)
{
  if (*arr == NULL) {
    json_decref(v);
    return;
  }
  /* json_array_append_new() releases v also when it fails. */
  if (json_array_append_new(*arr, v) < 0) {
    json_decref(*arr);
    *arr = NULL;
  }
}

int pgmlctl_report(const pgmlctl_ctx_t *ctx, json_t *json, const char *fmt, ...)
{
  va_list ap;

  if (ctx->json)
    return pgmlctl_json_out(json);
  json_decref(json);
  if (!ctx->quiet) {
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
  }
  return PGMLCTL_EXIT_OK;
}

json_t *pgmlctl_json_field(const char *text)
{
  json_t *v;

  if (text == NULL || text[0] == '\0')
    return json_null();
  v = json_loads(text, JSON_DECODE_ANY, NULL);
  return v != NULL ? v : json_string(text);
}

/* ------------------------------------------------------------------ tables */

struct pgmlctl_table_s {
  unsigned ncols;
  const char *const *headers;
  char **cells;            /* rows * ncols, owned */
  size_t rows, cap;
};

pgmlctl_table_t *pgmlctl_table_new(unsigned ncols, const char *const *headers)
{
  pgmlctl_table_t *t = calloc(1, sizeof(*t));

  if (t == NULL)
    return NULL;
  t->ncols = ncols;
  t->headers = headers;
  return t;
}

int pgmlctl_table_add(pgmlctl_table_t *t, const char *const *cells)
{
  if (t->rows == t->cap) {
    size_t cap = t->cap != 0 ? t->cap * 2 : 16;
    char **n = realloc(t->cells, cap * t->ncols * sizeof(*n));
    if (n == NULL)
      return -ENOMEM;
    t->cells = n;
    t->cap = cap;
  }
  for (unsigned c = 0; c < t->ncols; c++) {
    char *s = strdup(pgmlctl_str(cells[c]));
    if (s == NULL) {
      while (c-- > 0)
        free(t->cells[t->rows * t->ncols + c]);
      return -ENOMEM;
    }
    for (char *p = s; *p != '\0'; p++)
      if (*p == '\n' || *p == '\t' || *p == '\r')
        *p = ' ';
    t->cells[t->rows * t->ncols + c] = s;
  }
  t->rows++;
  return 0;
}

/* Display columns of a UTF-8 string: code points, not bytes (wide and
 * combining characters are not measured; close enough for a table). */
static size_t display_len(const char *s)
{
  size_t n = 0;

  for (; *s != '\0'; s++)
    if (((unsigned char)*s & 0xC0) != 0x80)
      n++;
  return n;
}

/* Prints s padded to `width` columns, or cut to `width` with "..." when it
 * is longer and `cut` is set; never splits a UTF-8 sequence. */
static void put_cell(FILE *f, const char *s, size_t width, bool pad, bool cut)
{
  size_t len = display_len(s);

  if (cut && len > width) {
    size_t keep = width > 3 ? width - 3 : 0, cols = 0;
    const char *p = s;
    while (*p != '\0') {
      if (((unsigned char)*p & 0xC0) != 0x80) {
        if (cols == keep)
          break;
        cols++;
      }
      p++;
    }
    fprintf(f, "%.*s...", (int)(p - s), s);
    return;
  }
  fputs(s, f);
  if (pad)
    for (; len < width; len++)
      fputc(' ', f);
}

void pgmlctl_table_print(const pgmlctl_table_t *t, FILE *f, unsigned width)
{
  size_t w[16] = {0};
  size_t used = 0;
  unsigned nc = t->ncols < 16 ? t->ncols : 16;

  for (unsigned c = 0; c < nc; c++) {
    w[c] = display_len(t->headers[c]);
    for (size_t r = 0; r < t->rows; r++) {
      size_t l = display_len(t->cells[r * t->ncols + c]);
      if (l > w[c])
        w[c] = l;
    }
    if (c + 1 < nc)
      used += w[c] + 2;
  }
  /* Only the last column is cut, and never below 10 columns. */
  bool cut = width > 0 && used + w[nc - 1] > width;
  size_t last = cut ? (width > used + 10 ? width - used : 10) : w[nc - 1];

  for (size_t r = 0; r <= t->rows; r++) {
    for (unsigned c = 0; c < nc; c++) {
      const char *s = r == 0 ? t->headers[c] : t->cells[(r - 1) * t->ncols + c];
      bool is_last = c + 1 == nc;
      put_cell(f, s, is_last ? last : w[c], !is_last, is_last && cut);
      if (!is_last)
        fputs("  ", f);
    }
    fputc('\n', f);
  }
}

void pgmlctl_table_free(pgmlctl_table_t *t)
{
  if (t == NULL)
    return;
  for (size_t i = 0; i < t->rows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  free(t);
}

void pgmlctl_table_row(pgmlctl_table_t **t, const char *const *cells)
{
  if (*t != NULL && pgmlctl_table_add(*t, cells) < 0) {
    pgmlctl_table_free(*t);
    *t = NULL;
  }
}

int pgmlctl_table_finish(pgmlctl_table_t *t, unsigned width, const char *empty, ...)
{
  va_list ap;

  if (t == NULL) {
    fprintf(stderr, "pgmlctl: out of memory\n");
    return PGMLCTL_EXIT_LOCAL;
  }
  if (t->rows == 0) {
    va_start(ap, empty);
    vprintf(empty, ap);
    va_end(ap);
    putchar('\n');
  } else {
    pgmlctl_table_print(t, stdout, width);
  }
  pgmlctl_table_free(t);
  return PGMLCTL_EXIT_OK;
}

unsigned pgmlctl_term_width(void)
{
  struct winsize ws;

  if (!isatty(STDOUT_FILENO))
    return 0;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  return 80;
}

/* ---------------------------------------------------------------- progress */

void pgmlctl_progress_init(pgmlctl_progress_t *p, bool enabled, uint64_t total_bytes)
{
  memset(p, 0, sizeof(*p));
  p->enabled = enabled;
  p->total_bytes = total_bytes;
  p->start = pgmlctl_now();
}

static void human_bytes(uint64_t n, char *buf, size_t len)
{
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)n;
  unsigned u = 0;

  while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
    v /= 1024.0;
    u++;
  }
  snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

void pgmlctl_progress_draw(pgmlctl_progress_t *p, bool force)
{
  double now = pgmlctl_now();
  double elapsed = now - p->start;
  char done[32], total[32];

  if (!p->enabled || (!force && now - p->last_draw < 0.1))
    return;
  p->last_draw = now;
  p->drawn = true;
  human_bytes(p->bytes, done, sizeof(done));
  double rate = elapsed > 0 ? (double)p->docs / elapsed : 0.0;
  if (p->total_bytes > 0) {
    enum { BAR = 30 };
    double frac = (double)p->bytes / (double)p->total_bytes;
    char bar[BAR + 1];
    if (frac > 1.0)
      frac = 1.0;
    unsigned fill = (unsigned)(frac * BAR);
    for (unsigned i = 0; i < BAR; i++)
      bar[i] = i < fill ? '#' : '.';
    bar[BAR] = '\0';
    human_bytes(p->total_bytes, total, sizeof(total));
    fprintf(stderr, "\r\033[K[%s] %3.0f%%  %s / %s  %llu docs  %.0f docs/s", bar,
            frac * 100.0, done, total, (unsigned long long)p->docs, rate);
  } else {
    fprintf(stderr, "\r\033[K%s read  %llu docs  %.0f docs/s", done,
            (unsigned long long)p->docs, rate);
  }
  fflush(stderr);
}

void pgmlctl_progress_clear(pgmlctl_progress_t *p)
{
  if (p->enabled && p->drawn) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
}
