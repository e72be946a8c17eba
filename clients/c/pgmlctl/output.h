/* output.h - how pgmlctl shows results: JSON on stdout for scripts,
 * aligned tables for people, a progress bar on a terminal's stderr. */
#ifndef PGMLCTL_OUTPUT_H
#define PGMLCTL_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include <pgml/common.h>

/* s, or "" for NULL (nanopb leaves empty strings NULL). */
const char *pgmlctl_str(const char *s);

/* Seconds on the monotonic clock. */
double pgmlctl_now(void);

/* "2026-11-24T20:17:11Z" for milliseconds since the epoch into buf. */
void pgmlctl_format_time(int64_t ms, char *buf, size_t len);

/* Writes `v` (stolen: always released) as one line of JSON on stdout.
 * Returns 0, or PGMLCTL_EXIT_LOCAL after printing why (v NULL means an
 * allocation failed, or stdout could not be written). */
int pgmlctl_json_out(json_t *v);

/* Appends `v` (stolen: always released on failure) to the array *arr.  When
 * that fails (v NULL, no memory) *arr is released and set to NULL, which
 * pgmlctl_json_out() then reports; with *arr already NULL it only releases
 * v.  So a loop fills an array and checks once, at the end. */
void pgmlctl_json_push(json_t **arr, json_t *v);

/* With --json writes `json` (stolen) as pgmlctl_json_out() does; otherwise
 * releases it and, unless --quiet, prints the printf line `fmt` and a
 * newline.  Returns the exit code. */
struct pgmlctl_ctx_s;
int pgmlctl_report(const struct pgmlctl_ctx_s *ctx, json_t *json, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The JSON value of a (json) string field; a string value when `text` is
 * not valid JSON, null for NULL or "".  New reference, or NULL (no memory). */
json_t *pgmlctl_json_field(const char *text);

/* A table of strings, shown with aligned columns. */
typedef struct pgmlctl_table_s pgmlctl_table_t;

/* A table with `ncols` columns named by `headers` (borrowed, static). */
pgmlctl_table_t *pgmlctl_table_new(unsigned ncols, const char *const *headers);
/* Adds a row of `ncols` strings, copied (NULL shows as "").  Newlines and
 * tabs in a cell show as spaces.  Returns 0 or -ENOMEM. */
PGML_MUST_CHECK int pgmlctl_table_add(pgmlctl_table_t *t, const char *const *cells);
/* Prints the table on `f`.  With width > 0 the last column is cut so that
 * lines fit in `width` columns ("..." marks a cut). */
void pgmlctl_table_print(const pgmlctl_table_t *t, FILE *f, unsigned width);
void pgmlctl_table_free(pgmlctl_table_t *t);

/* Adds a row as pgmlctl_table_add() does; when that fails *t is freed and
 * set to NULL, and with *t already NULL nothing happens.  So a loop fills a
 * table and checks once, in pgmlctl_table_finish(). */
void pgmlctl_table_row(pgmlctl_table_t **t, const char *const *cells);

/* Prints `t` as pgmlctl_table_print() does, or the printf line `empty` and a
 * newline when it has no rows, and frees it.  t NULL (an allocation failed)
 * is reported on stderr.  Returns the exit code. */
int pgmlctl_table_finish(pgmlctl_table_t *t, unsigned width, const char *empty, ...)
    __attribute__((format(printf, 3, 4)));

/* The terminal's width for stdout, or 0 when stdout is not a terminal. */
unsigned pgmlctl_term_width(void);

/* A progress line on stderr, redrawn at most ten times a second. */
typedef struct pgmlctl_progress_s {
  bool enabled;            /* stderr is a terminal and not --quiet */
  uint64_t total_bytes;    /* 0 when unknown (stdin, a pipe) */
  uint64_t bytes;
  uint64_t docs;
  uint64_t chunks;
  double start;
  double last_draw;
  bool drawn;
} pgmlctl_progress_t;

void pgmlctl_progress_init(pgmlctl_progress_t *p, bool enabled, uint64_t total_bytes);
/* Redraws when enough time passed, or always with `force`. */
void pgmlctl_progress_draw(pgmlctl_progress_t *p, bool force);
/* Erases the line, so that what follows starts clean. */
void pgmlctl_progress_clear(pgmlctl_progress_t *p);

#endif
