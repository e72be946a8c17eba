/* diag.h - the generator's error reports: where, and what was wrong.
 *
 * Every error names the place in the .proto ("pgml/v1/database.proto:143:3")
 * or the element ("pgml.v1.AddPipelineRequest.collection") and says what was
 * expected.  Reports go to a stream (stderr in the program, none in tests);
 * the first one is also kept so that a test can check its text.
 */
#ifndef PGML_GEN_DIAG_H
#define PGML_GEN_DIAG_H

#include <stdio.h>

#include "arena.h"

#define PGML_GEN_DIAG_MAX 512

typedef struct pgml_gen_diag_s {
  FILE *stream;                 /* where reports are printed; NULL: nowhere */
  unsigned errors;              /* reports so far */
  char first[PGML_GEN_DIAG_MAX]; /* the first report, truncated if longer */
} pgml_gen_diag_t;

#define PGML_GEN_DIAG_INIT(stream) {(stream), 0, {0}}

/* Reports one error: "pgml-gen: <where>: <message>".  `where` may be NULL.
 * Returns -EINVAL, so that a caller can `return pgml_gen_error(...)`. */
PGML_GEN_PRINTF(3, 4)
int pgml_gen_error(pgml_gen_diag_t *d, const char *where, const char *fmt, ...);

#endif
