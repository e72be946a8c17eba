/* filter.h - compiles a MongoDB-style filter (docs/filters.md) to a parameterised SQL boolean expression.
 *
 * The expression is written over a jsonb column expression the caller
 * names ("d.document"), and every value of the filter, key paths included,
 * becomes a parameter of the caller's sqlbuf: nothing a client sent is
 * ever part of the SQL text.  The module is pure: it does no database
 * access.
 *
 *   {"lang": "en", "year": {"$gte": 2020}}
 *   ->  ((d.document @> $1::jsonb OR d.document @> $2::jsonb) AND
 *        CASE jsonb_typeof((d.document #> $3::text[])) WHEN 'number' THEN ...)
 *
 * Operators: $eq $ne $gt $gte $lt $lte $in $nin $exists and $not on a
 * field; $and $or $not combining filters.  The expression is never SQL
 * NULL (when the column is not NULL), so NOT and $ne/$nin behave as in
 * MongoDB: a document without the field matches {"f": {"$ne": 1}}.
 *
 * Errors: 0 or a negative errno.  -EINVAL comes with an INVALID_ARGUMENT
 * status naming the operator and the key path ("unknown filter operator
 * $regex at metadata.lang"); -ENOMEM with RESOURCE_EXHAUSTED.  On failure
 * the sqlbuf is as it was before the call.
 */
#ifndef PGMLD_SQL_FILTER_H
#define PGMLD_SQL_FILTER_H

#include <stddef.h>

#include <jansson.h>

#include "core/common.h"
#include "rpc/status.h"
#include "sql/sqlbuf.h"

#define PGMLD_FILTER_MAX_DEPTH 32         /* nested objects and $and/$or/$not */
#define PGMLD_FILTER_MAX_CONDITIONS 1000  /* field conditions, each $in value counts */
#define PGMLD_FILTER_MAX_PATH_PARTS 32    /* "a.b.c" has 3 */
#define PGMLD_FILTER_MAX_PATH_BYTES 256
#define PGMLD_FILTER_MAX_TEXT_BYTES 65536 /* for pgmld_filter_compile_text() */

/* Appends the boolean expression for `filter` (a JSON object; NULL or {}
 * gives TRUE) over the jsonb expression `column` (trusted SQL text, at
 * most 64 bytes, a NOT NULL jsonb) to sb, with the filter's values as new
 * parameters.  The filter is borrowed. */
PGMLD_MUST_CHECK int pgmld_filter_compile(const json_t *filter, const char *column,
                                          pgmld_sqlbuf_t *sb, pgmld_status_t *st);

/* The same from JSON text, as the requests carry it: text[0..len), at
 * most PGMLD_FILTER_MAX_TEXT_BYTES; len 0 (no filter given) gives TRUE.
 * Text that is not JSON, or has a key twice in one object, is
 * INVALID_ARGUMENT "filter is not valid JSON: ...". */
PGMLD_MUST_CHECK int pgmld_filter_compile_text(const char *text, size_t len, const char *column,
                                               pgmld_sqlbuf_t *sb, pgmld_status_t *st);

#endif
