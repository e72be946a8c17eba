/* out.h - writes one generated file: all of it, or none of it.
 *
 * Text goes to "<path>.tmp", which replaces <path> only when everything was
 * written and flushed, so an interrupted or failed run never leaves a
 * half-written file for the build to compile.  Write errors are sticky: the
 * emitters write freely and pgml_gen_out_close() reports the first one.
 */
#ifndef PGML_GEN_OUT_H
#define PGML_GEN_OUT_H

#include <stdio.h>

#include "arena.h"
#include "diag.h"

#define PGML_GEN_PATH_MAX 4096

typedef struct pgml_gen_out_s {
  FILE *f;
  int err; /* first errno seen, 0 if none */
  char path[PGML_GEN_PATH_MAX];
  char tmp[PGML_GEN_PATH_MAX];
} pgml_gen_out_t;

/* Opens <dir>/<rel> for writing, creating the directories on the way.
 * Returns 0, or a negative errno (reported through d). */
PGML_GEN_MUST_CHECK int pgml_gen_out_open(pgml_gen_out_t *o, const char *dir,
                                          const char *rel, pgml_gen_diag_t *d);

PGML_GEN_PRINTF(2, 3) void pgml_gen_out_printf(pgml_gen_out_t *o, const char *fmt, ...);
void pgml_gen_out_puts(pgml_gen_out_t *o, const char *s);

/* How comment text is escaped for the language it is written into. */
typedef enum {
  PGML_GEN_ESC_BLOCK,     /* inside C and JSDoc block comments: no "*" "/" */
  PGML_GEN_ESC_PYDOC,     /* inside a Python """docstring""" */
  PGML_GEN_ESC_C_STRING,  /* inside a C string literal */
} pgml_gen_esc_t;

/* Writes each line of `text` as <indent><prefix><line>\n (a blank line gets
 * the prefix without trailing blanks), escaped as `esc` says.  NULL text
 * writes nothing. */
void pgml_gen_out_lines(pgml_gen_out_t *o, const char *indent, const char *prefix,
                        const char *text, pgml_gen_esc_t esc);

/* Writes `text` escaped as `esc`, with no line handling.  NULL writes "". */
void pgml_gen_out_escaped(pgml_gen_out_t *o, const char *text, pgml_gen_esc_t esc);

/* Writes the first line of `text` (without its '\n') escaped as `esc`, and
 * returns the rest after the '\n', or NULL when there is no more. */
const char *pgml_gen_out_first_line(pgml_gen_out_t *o, const char *text,
                                    pgml_gen_esc_t esc);

/* Flushes, closes, and renames the file into place.  Returns 0, or a
 * negative errno after reporting which file failed and why; the temporary
 * file is then removed and the old file (if any) left as it was. */
PGML_GEN_MUST_CHECK int pgml_gen_out_close(pgml_gen_out_t *o, pgml_gen_diag_t *d);

/* Abandons the file: closes and removes the temporary.  For error paths. */
void pgml_gen_out_abort(pgml_gen_out_t *o);

#endif
