/* sqlbuf.h - the one way services build SQL: statement text plus a list of $n parameters.
 *
 * SQL text appended with pgmld_sqlbuf_append*() is trusted text written in
 * the daemon's source (keywords, column names, casts, numbers the daemon
 * formatted itself).  Every value that came from a client goes in as a
 * parameter ($1, $2, ...), never into the text.  The only identifiers ever
 * generated are quoted with pgmld_sqlbuf_append_ident() (and table names
 * are built from integer ids only: pgmld_sqlbuf_append_chunks_table()).
 * Collection and pipeline names are values, checked with
 * pgmld_sql_check_name() before they are stored.
 *
 * The parameter arrays are laid out for PQsendQueryParams() /
 * PQsendQueryPrepared():
 *
 *   PQsendQueryParams(conn, pgmld_sqlbuf_sql(&sb), sb.n_params, sb.types,
 *                     pgmld_sqlbuf_values(&sb), sb.lengths, sb.formats, 0);
 *
 * Errors: functions return 0 (or a parameter number) on success and a
 * negative errno on failure: -ENOMEM, -E2BIG (a limit below was reached),
 * -EINVAL (a text-format value holding a NUL byte, a bad identifier).  A
 * failed call leaves the buffer as it was before the call.  Only
 * pgmld_sql_check_name() produces a client-visible status; callers turn
 * the others into one at the place that knows what was being built.
 */
#ifndef PGMLD_SQL_SQLBUF_H
#define PGMLD_SQL_SQLBUF_H

#include <stddef.h>
#include <stdint.h>

#include <postgres_ext.h>   /* Oid */

#include "core/common.h"
#include "rpc/status.h"

/* The protocol counts parameters in an Int16. */
#define PGMLD_SQL_MAX_PARAMS 65535
#define PGMLD_SQL_MAX_TEXT_BYTES (64u * 1024u * 1024u)
/* PostgreSQL's largest field value. */
#define PGMLD_SQL_MAX_VALUE_BYTES (1024u * 1024u * 1024u - 1u)
/* Collection and pipeline names; also NAMEDATALEN - 1, the longest
 * identifier PostgreSQL keeps without truncating it. */
#define PGMLD_SQL_NAME_MAX 63

#define PGMLD_SQL_FORMAT_TEXT 0
#define PGMLD_SQL_FORMAT_BINARY 1

/* Built-in type OIDs (PostgreSQL's pg_type.dat; they never change). */
#define PGMLD_OID_UNKNOWN 0   /* let the server infer it from the statement */
#define PGMLD_OID_BOOL 16
#define PGMLD_OID_INT8 20
#define PGMLD_OID_INT4 23
#define PGMLD_OID_TEXT 25
#define PGMLD_OID_FLOAT8 701
#define PGMLD_OID_TEXT_ARRAY 1009
#define PGMLD_OID_JSONB 3802

typedef struct pgmld_sqlbuf_s {
  char *sql;        /* owned; NUL-terminated once anything was appended */
  size_t len;       /* bytes of sql, without the NUL */
  size_t cap;
  int n_params;
  int cap_params;
  char **values;    /* owned copies, each NUL-terminated; NULL is SQL NULL */
  int *lengths;     /* bytes; what libpq reads for binary values */
  int *formats;     /* PGMLD_SQL_FORMAT_* */
  Oid *types;       /* PGMLD_OID_* or an extension's OID, 0 to infer */
} pgmld_sqlbuf_t;

#define PGMLD_SQLBUF_INIT {NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL}

void pgmld_sqlbuf_init(pgmld_sqlbuf_t *sb);

/* Frees the text and every parameter; the buffer is empty again. */
void pgmld_sqlbuf_free(pgmld_sqlbuf_t *sb);

/* The statement text ("" when nothing was appended).  Borrowed. */
const char *pgmld_sqlbuf_sql(const pgmld_sqlbuf_t *sb);

/* The parameter values as libpq takes them.  Borrowed. */
const char *const *pgmld_sqlbuf_values(const pgmld_sqlbuf_t *sb);

/* Appends trusted SQL text: never a client's string. */
PGMLD_MUST_CHECK int pgmld_sqlbuf_append(pgmld_sqlbuf_t *sb, const char *sql);
PGMLD_MUST_CHECK int pgmld_sqlbuf_append_n(pgmld_sqlbuf_t *sb, const char *sql, size_t n);
/* printf into the text: for numbers and trusted text only. */
PGMLD_MUST_CHECK PGMLD_PRINTF(2, 3) int pgmld_sqlbuf_appendf(pgmld_sqlbuf_t *sb,
                                                             const char *fmt, ...);

/* Adds a parameter holding a copy of value[0..len) (value NULL: SQL NULL)
 * and returns its number (1-based), which the caller writes into the text
 * as $n, as often as it likes.  A text-format value must not hold a NUL
 * byte (libpq reads text values up to the first NUL): -EINVAL. */
PGMLD_MUST_CHECK int pgmld_sqlbuf_add_param(pgmld_sqlbuf_t *sb, const void *value, size_t len,
                                            int format, Oid type);

/* pgmld_sqlbuf_add_param(), then "$n" into the text. */
PGMLD_MUST_CHECK int pgmld_sqlbuf_append_param(pgmld_sqlbuf_t *sb, const void *value, size_t len,
                                               int format, Oid type);

/* A point to return to: pgmld_sqlbuf_rollback() removes the text and
 * the parameters added after pgmld_sqlbuf_mark() was taken, so that a
 * builder that fails half-way leaves the buffer as it found it. */
typedef struct pgmld_sqlbuf_mark_s {
  size_t len;
  int n_params;
} pgmld_sqlbuf_mark_t;

pgmld_sqlbuf_mark_t pgmld_sqlbuf_mark(const pgmld_sqlbuf_t *sb);
void pgmld_sqlbuf_rollback(pgmld_sqlbuf_t *sb, pgmld_sqlbuf_mark_t mark);

/* A text parameter (the NUL-terminated s; NULL for SQL NULL), as "$n". */
PGMLD_MUST_CHECK int pgmld_sqlbuf_append_text(pgmld_sqlbuf_t *sb, const char *s);

/* An int8 parameter, as "$n". */
PGMLD_MUST_CHECK int pgmld_sqlbuf_append_int64(pgmld_sqlbuf_t *sb, int64_t v);

/* Adds a text[] parameter of n elements elems[i][0..lens[i]) (lens NULL:
 * each NUL-terminated) and returns its number.  Elements may hold any
 * character but NUL (-EINVAL); they are quoted inside the array literal,
 * never parsed as SQL. */
PGMLD_MUST_CHECK int pgmld_sqlbuf_add_text_array(pgmld_sqlbuf_t *sb, const char *const *elems,
                                                 const size_t *lens, size_t n);

/* pgmld_sqlbuf_add_text_array(), then "$n::text[]" into the text. */
PGMLD_MUST_CHECK int pgmld_sqlbuf_append_text_array(pgmld_sqlbuf_t *sb, const char *const *elems,
                                                    const size_t *lens, size_t n);

/* Appends name as a quoted identifier ("na""me").  name is 1..63 bytes of
 * valid UTF-8, else -EINVAL. */
PGMLD_MUST_CHECK int pgmld_sqlbuf_append_ident(pgmld_sqlbuf_t *sb, const char *name);

/* Appends the chunk table of a pipeline: pgmld."chunks_<pipeline_id>".
 * pipeline_id > 0, else -EINVAL. */
PGMLD_MUST_CHECK int pgmld_sqlbuf_append_chunks_table(pgmld_sqlbuf_t *sb, int64_t pipeline_id);

/* Checks a collection or pipeline name: 1 to 63 characters, each an ASCII
 * letter, digit, '_' or '-'.  On failure records INVALID_ARGUMENT naming
 * `field` and the rule ("collection: character 4 (' ') is not allowed; a
 * name is 1 to 63 characters: letters, digits, '_' and '-'") and returns
 * -EINVAL. */
PGMLD_MUST_CHECK int pgmld_sql_check_name(const char *name, const char *field,
                                          pgmld_status_t *st);

#endif
