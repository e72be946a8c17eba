/* vector.h - pgvector's wire formats for a float vector: binary (send/recv) and text "[1,2,3]".
 *
 * The binary form is what vector_recv() reads: int16 dim, int16 unused (0),
 * then dim float4, all big-endian.  Sent as a binary parameter with type
 * OID 0 and an explicit cast in the text ("$3::vector"), the server infers
 * the type and calls vector_recv(), so the extension's OID (which differs
 * between databases) is never needed.
 *
 * pgvector refuses NaN and infinite elements and more than 16000
 * dimensions; pgmld_vector_check() refuses them first, with a message that
 * says which element.
 *
 * Errors: 0 or a negative errno (-EINVAL, -ENOMEM, -E2BIG); only
 * pgmld_vector_check() records a status.
 */
#ifndef PGMLD_SQL_VECTOR_H
#define PGMLD_SQL_VECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"
#include "rpc/status.h"
#include "sql/sqlbuf.h"

/* pgvector's VECTOR_MAX_DIM. */
#define PGMLD_VECTOR_MAX_DIMENSIONS 16000u

/* Bytes of the binary form of a vector of dim elements. */
static inline size_t pgmld_vector_binary_size(uint32_t dim) { return 4u + 4u * (size_t)dim; }

/* Checks v[0..dim): 1 <= dim <= 16000 and every element finite.  On
 * failure records INVALID_ARGUMENT naming `what` ("vector: element 3 is
 * NaN") and returns -EINVAL. */
PGMLD_MUST_CHECK int pgmld_vector_check(const float *v, uint32_t dim, const char *what,
                                        pgmld_status_t *st);

/* 1 when every element is 0 (a vector without direction: cosine distance
 * to it is undefined, so it cannot be searched with). */
int pgmld_vector_is_zero(const float *v, uint32_t dim);

/* Writes the binary form of v[0..dim) into out, which has room for
 * pgmld_vector_binary_size(dim) bytes (out_len).  -EINVAL when dim is 0
 * or above 16000, -E2BIG when out is too small. */
PGMLD_MUST_CHECK int pgmld_vector_encode_binary(const float *v, uint32_t dim, uint8_t *out,
                                                size_t out_len);

/* Formats v[0..dim) as "[x,y,...]", each element the shortest decimal
 * that reads back as the same float.  On success *out is a new
 * NUL-terminated string the caller frees with pgmld_free(), *out_len its
 * length.  -EINVAL for dim 0, above 16000, or a non-finite element;
 * -ENOMEM. */
PGMLD_MUST_CHECK int pgmld_vector_encode_text(const float *v, uint32_t dim, char **out,
                                              size_t *out_len);

/* Adds v as a binary parameter and appends "$n::vector" to the text.
 * Errors as pgmld_vector_encode_binary() and pgmld_sqlbuf_add_param(). */
PGMLD_MUST_CHECK int pgmld_sqlbuf_append_vector(pgmld_sqlbuf_t *sb, const float *v, uint32_t dim);

#endif
