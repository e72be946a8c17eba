/* vector.c - encodes float vectors in pgvector's binary and text formats. */
#include "sql/vector.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

int pgmld_vector_check(const float *v, uint32_t dim, const char *what, pgmld_status_t *st) {
  uint32_t i;

  if (dim == 0) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "%s: empty", what);
    return -EINVAL;
  }
  if (dim > PGMLD_VECTOR_MAX_DIMENSIONS) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "%s: %u dimensions, pgvector allows at most %u", what, dim,
                     PGMLD_VECTOR_MAX_DIMENSIONS);
    return -EINVAL;
  }
  for (i = 0; i < dim; i++) {
    if (isnan(v[i]) || isinf(v[i])) {
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "%s: element %u is %s", what, i,
                       isnan(v[i]) ? "NaN" : "infinite");
      return -EINVAL;
    }
  }
  return 0;
}

int pgmld_vector_is_zero(const float *v, uint32_t dim) {
  uint32_t i;

  for (i = 0; i < dim; i++)
    if (v[i] != 0.0f)
      return 0;
  return 1;
}

int pgmld_vector_encode_binary(const float *v, uint32_t dim, uint8_t *out, size_t out_len) {
  uint32_t i, bits;

  if (dim == 0 || dim > PGMLD_VECTOR_MAX_DIMENSIONS)
    return -EINVAL;
  if (out_len < pgmld_vector_binary_size(dim))
    return -E2BIG;
  out[0] = (uint8_t)(dim >> 8);
  out[1] = (uint8_t)dim;
  out[2] = 0;
  out[3] = 0;
  for (i = 0; i < dim; i++) {
    memcpy(&bits, &v[i], sizeof(bits));
    out[4 + 4 * i] = (uint8_t)(bits >> 24);
    out[5 + 4 * i] = (uint8_t)(bits >> 16);
    out[6 + 4 * i] = (uint8_t)(bits >> 8);
    out[7 + 4 * i] = (uint8_t)bits;
  }
  return 0;
}

/* The shortest "%.*g" (6 to 9 significant digits) that strtof() reads back
 * as f; 9 always does for a float.  The daemon never calls setlocale(), so
 * the decimal point is '.'. */
static int format_float(char *buf, size_t size, float f) {
  int prec, n = 0;

  for (prec = 6; prec <= 9; prec++) {
    n = snprintf(buf, size, "%.*g", prec, (double)f);
    if (strtof(buf, NULL) == f)
      break;
  }
  return n;
}

int pgmld_vector_encode_text(const float *v, uint32_t dim, char **out, size_t *out_len) {
  /* "-1.23456789e-38" is 15 characters; with the comma, 16 per element. */
  size_t cap = 2 + 16 * (size_t)dim + 1, len = 0;
  char *s;
  uint32_t i;

  *out = NULL;
  *out_len = 0;
  if (dim == 0 || dim > PGMLD_VECTOR_MAX_DIMENSIONS)
    return -EINVAL;
  for (i = 0; i < dim; i++)
    if (!isfinite(v[i]))
      return -EINVAL;
  s = pgmld_malloc(cap);
  if (s == NULL)
    return -ENOMEM;
  s[len++] = '[';
  for (i = 0; i < dim; i++) {
    if (i > 0)
      s[len++] = ',';
    len += (size_t)format_float(s + len, cap - len, v[i]);
  }
  s[len++] = ']';
  s[len] = '\0';
  *out = s;
  *out_len = len;
  return 0;
}

int pgmld_sqlbuf_append_vector(pgmld_sqlbuf_t *sb, const float *v, uint32_t dim) {
  pgmld_sqlbuf_mark_t mark = pgmld_sqlbuf_mark(sb);
  uint8_t *bin;
  size_t size;
  int n, rc;

  if (dim == 0 || dim > PGMLD_VECTOR_MAX_DIMENSIONS)
    return -EINVAL;
  size = pgmld_vector_binary_size(dim);
  bin = pgmld_malloc(size);
  if (bin == NULL)
    return -ENOMEM;
  rc = pgmld_vector_encode_binary(v, dim, bin, size);
  n = rc < 0 ? rc
             : pgmld_sqlbuf_add_param(sb, bin, size, PGMLD_SQL_FORMAT_BINARY, PGMLD_OID_UNKNOWN);
  pgmld_free(bin);
  if (n < 0)
    return n;
  if ((rc = pgmld_sqlbuf_appendf(sb, "$%d::vector", n)) < 0) {
    pgmld_sqlbuf_rollback(sb, mark);
    return rc;
  }
  return 0;
}
