/* diag.c - formats and records the generator's error reports. */
#include "diag.h"

#include <errno.h>
#include <stdarg.h>

int pgml_gen_error(pgml_gen_diag_t *d, const char *where, const char *fmt, ...) {
  char msg[PGML_GEN_DIAG_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (d->errors == 0)
    snprintf(d->first, sizeof(d->first), "%s%s%s", where ? where : "",
             where ? ": " : "", msg);
  d->errors++;
  if (d->stream != NULL)
    fprintf(d->stream, "pgml-gen: %s%s%s\n", where ? where : "",
            where ? ": " : "", msg);
  return -EINVAL;
}
