/* sqlbuf.c - SQL text and parameter builder, identifier checks and quoting. */
#include "sql/sqlbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "text/utf8.h"

void pgmld_sqlbuf_init(pgmld_sqlbuf_t *sb) { memset(sb, 0, sizeof(*sb)); }

void pgmld_sqlbuf_free(pgmld_sqlbuf_t *sb) {
  int i;

  for (i = 0; i < sb->n_params; i++)
    pgmld_free(sb->values[i]);
  pgmld_free(sb->values);
  pgmld_free(sb->lengths);
  pgmld_free(sb->formats);
  pgmld_free(sb->types);
  pgmld_free(sb->sql);
  pgmld_sqlbuf_init(sb);
}

const char *pgmld_sqlbuf_sql(const pgmld_sqlbuf_t *sb) { return sb->sql != NULL ? sb->sql : ""; }

const char *const *pgmld_sqlbuf_values(const pgmld_sqlbuf_t *sb) {
  return (const char *const *)sb->values;
}

/* Makes room for n more bytes of text and its NUL. */
static int reserve(pgmld_sqlbuf_t *sb, size_t n) {
  size_t want, cap;
  char *grown;

  if (n > PGMLD_SQL_MAX_TEXT_BYTES - sb->len)
    return -E2BIG;
  want = sb->len + n + 1;
  if (want <= sb->cap)
    return 0;
  cap = sb->cap != 0 ? sb->cap : 256;
  while (cap < want)
    cap *= 2;
  grown = pgmld_realloc(sb->sql, cap);
  if (grown == NULL)
    return -ENOMEM;
  sb->sql = grown;
  sb->cap = cap;
  return 0;
}

int pgmld_sqlbuf_append_n(pgmld_sqlbuf_t *sb, const char *sql, size_t n) {
  int rc = reserve(sb, n);

  if (rc < 0)
    return rc;
  memcpy(sb->sql + sb->len, sql, n);
  sb->len += n;
  sb->sql[sb->len] = '\0';
  return 0;
}

int pgmld_sqlbuf_append(pgmld_sqlbuf_t *sb, const char *sql) {
  return pgmld_sqlbuf_append_n(sb, sql, strlen(sql));
}

int pgmld_sqlbuf_appendf(pgmld_sqlbuf_t *sb, const char *fmt, ...) {
  va_list ap;
  int n, rc;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return -EINVAL;
  if ((rc = reserve(sb, (size_t)n)) < 0)
    return rc;
  va_start(ap, fmt);
  vsnprintf(sb->sql + sb->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb->len += (size_t)n;
  return 0;
}

/* Grows the four parameter arrays together, so they always have the same
 * capacity. */
static int reserve_param(pgmld_sqlbuf_t *sb) {
  int cap;
  void *p;

  if (sb->n_params >= PGMLD_SQL_MAX_PARAMS)
    return -E2BIG;
  if (sb->n_params < sb->cap_params)
    return 0;
  cap = sb->cap_params != 0 ? sb->cap_params * 2 : 8;
  if (cap > PGMLD_SQL_MAX_PARAMS)
    cap = PGMLD_SQL_MAX_PARAMS;
  /* Each array that grew is kept even if a later one fails: capacity only
   * counts once all four have it. */
  if ((p = pgmld_realloc(sb->values, (size_t)cap * sizeof(*sb->values))) == NULL)
    return -ENOMEM;
  sb->values = p;
  if ((p = pgmld_realloc(sb->lengths, (size_t)cap * sizeof(*sb->lengths))) == NULL)
    return -ENOMEM;
  sb->lengths = p;
  if ((p = pgmld_realloc(sb->formats, (size_t)cap * sizeof(*sb->formats))) == NULL)
    return -ENOMEM;
  sb->formats = p;
  if ((p = pgmld_realloc(sb->types, (size_t)cap * sizeof(*sb->types))) == NULL)
    return -ENOMEM;
  sb->types = p;
  sb->cap_params = cap;
  return 0;
}

int pgmld_sqlbuf_add_param(pgmld_sqlbuf_t *sb, const void *value, size_t len, int format,
                           Oid type) {
  char *copy = NULL;
  int rc;

  if (format != PGMLD_SQL_FORMAT_TEXT && format != PGMLD_SQL_FORMAT_BINARY)
    return -EINVAL;
  if (value != NULL) {
    if (len > PGMLD_SQL_MAX_VALUE_BYTES)
      return -E2BIG;
    if (format == PGMLD_SQL_FORMAT_TEXT && memchr(value, '\0', len) != NULL)
      return -EINVAL;
  }
  if ((rc = reserve_param(sb)) < 0)
    return rc;
  if (value != NULL) {
    copy = pgmld_malloc(len + 1);
    if (copy == NULL)
      return -ENOMEM;
    if (len > 0)
      memcpy(copy, value, len);
    copy[len] = '\0';
  }
  sb->values[sb->n_params] = copy;
  sb->lengths[sb->n_params] = value != NULL ? (int)len : 0;
  sb->formats[sb->n_params] = format;
  sb->types[sb->n_params] = type;
  return ++sb->n_params;
}

pgmld_sqlbuf_mark_t pgmld_sqlbuf_mark(const pgmld_sqlbuf_t *sb) {
  pgmld_sqlbuf_mark_t m;

  m.len = sb->len;
  m.n_params = sb->n_params;
  return m;
}

void pgmld_sqlbuf_rollback(pgmld_sqlbuf_t *sb, pgmld_sqlbuf_mark_t mark) {
  while (sb->n_params > mark.n_params)
    pgmld_free(sb->values[--sb->n_params]);
  if (sb->sql != NULL && mark.len < sb->len) {
    sb->len = mark.len;
    sb->sql[sb->len] = '\0';
  }
}

int pgmld_sqlbuf_append_param(pgmld_sqlbuf_t *sb, const void *value, size_t len, int format,
                              Oid type) {
  pgmld_sqlbuf_mark_t mark = pgmld_sqlbuf_mark(sb);
  int n = pgmld_sqlbuf_add_param(sb, value, len, format, type), rc;

  if (n < 0)
    return n;
  if ((rc = pgmld_sqlbuf_appendf(sb, "$%d", n)) < 0) {
    pgmld_sqlbuf_rollback(sb, mark);
    return rc;
  }
  return 0;
}

int pgmld_sqlbuf_append_text(pgmld_sqlbuf_t *sb, const char *s) {
  return pgmld_sqlbuf_append_param(sb, s, s != NULL ? strlen(s) : 0, PGMLD_SQL_FORMAT_TEXT,
                                   PGMLD_OID_TEXT);
}

int pgmld_sqlbuf_append_int64(pgmld_sqlbuf_t *sb, int64_t v) {
  char num[24];
  int n = snprintf(num, sizeof(num), "%" PRId64, v);

  return pgmld_sqlbuf_append_param(sb, num, (size_t)n, PGMLD_SQL_FORMAT_TEXT, PGMLD_OID_INT8);
}

int pgmld_sqlbuf_add_text_array(pgmld_sqlbuf_t *sb, const char *const *elems,
                                const size_t *lens, size_t n) {
  size_t i, j, len, size = 3;   /* "{}" and the NUL */
  char *lit, *p;
  int num;

  /* Each element is written "..." with \ before " and \, so nothing in it
   * (commas, braces, the word NULL) can change the array's shape. */
  for (i = 0; i < n; i++) {
    len = lens != NULL ? lens[i] : strlen(elems[i]);
    if (memchr(elems[i], '\0', len) != NULL)
      return -EINVAL;
    if (len > (PGMLD_SQL_MAX_VALUE_BYTES - size) / 2 - 3)
      return -E2BIG;
    size += 2 * len + 3;
  }
  lit = pgmld_malloc(size);
  if (lit == NULL)
    return -ENOMEM;
  p = lit;
  *p++ = '{';
  for (i = 0; i < n; i++) {
    len = lens != NULL ? lens[i] : strlen(elems[i]);
    if (i > 0)
      *p++ = ',';
    *p++ = '"';
    for (j = 0; j < len; j++) {
      if (elems[i][j] == '"' || elems[i][j] == '\\')
        *p++ = '\\';
      *p++ = elems[i][j];
    }
    *p++ = '"';
  }
  *p++ = '}';
  num = pgmld_sqlbuf_add_param(sb, lit, (size_t)(p - lit), PGMLD_SQL_FORMAT_TEXT,
                               PGMLD_OID_TEXT_ARRAY);
  pgmld_free(lit);
  return num;
}

int pgmld_sqlbuf_append_text_array(pgmld_sqlbuf_t *sb, const char *const *elems,
                                   const size_t *lens, size_t n) {
  pgmld_sqlbuf_mark_t mark = pgmld_sqlbuf_mark(sb);
  int num = pgmld_sqlbuf_add_text_array(sb, elems, lens, n), rc;

  if (num < 0)
    return num;
  if ((rc = pgmld_sqlbuf_appendf(sb, "$%d::text[]", num)) < 0) {
    pgmld_sqlbuf_rollback(sb, mark);
    return rc;
  }
  return 0;
}

int pgmld_sqlbuf_append_ident(pgmld_sqlbuf_t *sb, const char *name) {
  size_t len = strlen(name), quotes = 0, i;
  char *p;
  int rc;

  if (len == 0 || len > PGMLD_SQL_NAME_MAX || pgmld_utf8_find_invalid(name, len) != len)
    return -EINVAL;
  for (i = 0; i < len; i++)
    quotes += name[i] == '"';
  if ((rc = reserve(sb, len + quotes + 2)) < 0)
    return rc;
  p = sb->sql + sb->len;
  *p++ = '"';
  for (i = 0; i < len; i++) {
    if (name[i] == '"')
      *p++ = '"';
    *p++ = name[i];
  }
  *p++ = '"';
  *p = '\0';
  sb->len = (size_t)(p - sb->sql);
  return 0;
}

int pgmld_sqlbuf_append_chunks_table(pgmld_sqlbuf_t *sb, int64_t pipeline_id) {
  if (pipeline_id <= 0)
    return -EINVAL;
  return pgmld_sqlbuf_appendf(sb, "pgmld.\"chunks_%" PRId64 "\"", pipeline_id);
}

#define NAME_RULE "a name is 1 to 63 characters: letters, digits, '_' and '-'"

int pgmld_sql_check_name(const char *name, const char *field, pgmld_status_t *st) {
  size_t i;
  unsigned char c;

  if (name == NULL || name[0] == '\0') {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "%s: empty; " NAME_RULE, field);
    return -EINVAL;
  }
  for (i = 0; name[i] != '\0'; i++) {
    c = (unsigned char)name[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '_' || c == '-')
      continue;
    if (c >= 0x20 && c < 0x7F)
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "%s: character %zu ('%c') is not allowed; " NAME_RULE, field, i + 1, c);
    else
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "%s: character %zu (byte 0x%02X) is not allowed; " NAME_RULE, field, i + 1,
                       (unsigned)c);
    return -EINVAL;
  }
  if (i > PGMLD_SQL_NAME_MAX) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "%s: %zu characters long; " NAME_RULE, field, i);
    return -EINVAL;
  }
  return 0;
}
