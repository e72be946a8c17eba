/* filter.c - MongoDB-style filter to parameterised SQL over a jsonb column.
 *
 * What each operator becomes, with F = (column #> $path::text[]), the
 * field's value or SQL NULL when the path is missing:
 *
 *   {"f": v}, $eq   v a string, number or boolean and no path part all
 *                   digits: column @> {"f": v} OR column @> {"f": [v]}
 *                   (containment, so the GIN jsonb_path_ops index helps;
 *                   the second matches an array field holding v).
 *                   Otherwise (v null, an object or an array, or a path
 *                   with an array index): F = v, or F an array with an
 *                   element = v; v null also matches a missing field.
 *   $ne, $nin       NOT of $eq, $in: also true where the field is missing.
 *   $gt $gte $lt $lte
 *                   a CASE on jsonb_typeof(F), so that a field of another
 *                   type is false rather than a cast error: numbers compare
 *                   as numeric, strings by code point (COLLATE "C"); an
 *                   array field matches when one of its elements does.
 *   $in             OR of $eq over the array's values; [] is FALSE.
 *   $exists         F IS [NOT] NULL.
 *   $and $or $not   AND, OR, NOT of the compiled sub-filters.
 *
 * Every piece is true or false, never NULL, so NOT is safe anywhere.
 */
#include "sql/filter.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define PGMLD_OID_NUMERIC 1700
#define COLUMN_MAX 64
#define WHERE_MAX 192

typedef struct fctx_s {
  pgmld_sqlbuf_t *sb;
  const char *col;
  pgmld_status_t *st;
  unsigned conditions;
  /* Where we are among $and/$or/$not, for messages: "" at the top, else
   * e.g. "$or[1].$and[0]".  Truncated with "..." when deep. */
  char where[WHERE_MAX];
  size_t where_len;
} fctx_t;

/* A field's dotted key path, split into parts that point into the key. */
typedef struct fpath_s {
  const char *key;
  const char *parts[PGMLD_FILTER_MAX_PATH_PARTS];
  size_t lens[PGMLD_FILTER_MAX_PATH_PARTS];
  size_t n;
  int has_index;    /* a part is all digits: #> may read it as an array index */
  int param;        /* the text[] parameter, 0 until added */
  char expr[COLUMN_MAX + 32];   /* F */
} fpath_t;

/* ------------------------------------------------------------ errors */

PGMLD_PRINTF(2, 3) static int fail(fctx_t *ctx, const char *fmt, ...) {
  char msg[PGMLD_STATUS_MESSAGE_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  pgmld_status_set(ctx->st, PGMLD_INVALID_ARGUMENT, "%s", msg);
  return -EINVAL;
}

/* Turns a sqlbuf failure into the status a client sees. */
static int sb_fail(fctx_t *ctx, int rc) {
  if (rc == -ENOMEM)
    pgmld_status_set(ctx->st, PGMLD_RESOURCE_EXHAUSTED, "filter: out of memory");
  else if (rc == -E2BIG)
    pgmld_status_set(ctx->st, PGMLD_INVALID_ARGUMENT, "filter: too large for one SQL statement");
  else
    pgmld_status_set(ctx->st, PGMLD_INVALID_ARGUMENT, "filter: a value cannot be sent (%d)", rc);
  return rc;
}

#define TRY_SB(call)                                                                           \
  do {                                                                                         \
    int rc_ = (call);                                                                          \
    if (rc_ < 0)                                                                               \
      return sb_fail(ctx, rc_);                                                                \
  } while (0)

#define TRY(call)                                                                              \
  do {                                                                                         \
    int rc_ = (call);                                                                          \
    if (rc_ < 0)                                                                               \
      return rc_;                                                                              \
  } while (0)

/* " at $or[1]" or "" at the top level. */
static const char *where_at(const fctx_t *ctx, char *buf, size_t size) {
  if (ctx->where_len == 0)
    return "";
  snprintf(buf, size, " at %s", ctx->where);
  return buf;
}

/* Appends a step to `where`; returns the length to restore afterwards.
 * A path too long to name in full ends in "..." and grows no more. */
PGMLD_PRINTF(2, 3) static size_t where_push(fctx_t *ctx, const char *fmt, ...) {
  size_t old = ctx->where_len, room = sizeof(ctx->where) - old;
  va_list ap;
  int n;

  if (old >= 3 && memcmp(ctx->where + old - 3, "...", 3) == 0)
    return old;
  va_start(ap, fmt);
  n = vsnprintf(ctx->where + old, room, fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < room) {
    ctx->where_len = old + (size_t)n;
  } else if (room >= 4) {
    memcpy(ctx->where + old, "...", 4);
    ctx->where_len = old + 3;
  } else {
    ctx->where[old] = '\0';
  }
  return old;
}

static void where_pop(fctx_t *ctx, size_t old) {
  ctx->where_len = old;
  ctx->where[old] = '\0';
}

/* ------------------------------------------------------------ values */

static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER:
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  }
  return "a value";
}

/* Checks a value compared against: PostgreSQL's jsonb and text cannot hold
 * U+0000, and its nesting is bounded like the filter's own. */
static int check_value(fctx_t *ctx, const fpath_t *path, json_t *v, int depth) {
  const char *key;
  size_t key_len, i;
  json_t *item;

  if (depth > PGMLD_FILTER_MAX_DEPTH)
    return fail(ctx, "filter value at %s nests deeper than %d levels", path->key,
                PGMLD_FILTER_MAX_DEPTH);
  switch (json_typeof(v)) {
  case JSON_STRING:
    if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
      return fail(ctx, "filter value at %s contains U+0000, which PostgreSQL cannot store",
                  path->key);
    return 0;
  case JSON_ARRAY:
    json_array_foreach(v, i, item) TRY(check_value(ctx, path, item, depth + 1));
    return 0;
  case JSON_OBJECT:
    json_object_keylen_foreach(v, key, key_len, item) {
      if (memchr(key, '\0', key_len) != NULL)
        return fail(ctx, "filter value at %s has a key containing U+0000", path->key);
      TRY(check_value(ctx, path, item, depth + 1));
    }
    return 0;
  default:
    return 0;
  }
}

/* JSON text written by this module.  jansson's own dump writes reals with
 * 17 significant digits (0.1 becomes 0.10000000000000001), which would
 * then not equal the 0.1 a document holds; numbers here are written as
 * the shortest decimal that reads back as the same double. */
typedef struct jbuf_s {
  char *p;   /* owned */
  size_t len, cap;
  int failed;   /* an allocation failed; the text is incomplete */
} jbuf_t;

static void jbuf_put(jbuf_t *b, const char *s, size_t n) {
  size_t cap;
  char *grown;

  if (b->failed)
    return;
  if (n > b->cap - b->len) {
    cap = b->cap != 0 ? b->cap : 64;
    while (cap - b->len < n)
      cap *= 2;
    grown = pgmld_realloc(b->p, cap);
    if (grown == NULL) {
      b->failed = 1;
      return;
    }
    b->p = grown;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void jbuf_string(jbuf_t *b, const char *s, size_t n) {
  char esc[8];
  size_t i, run = 0;
  unsigned char c;

  jbuf_put(b, "\"", 1);
  for (i = 0; i < n; i++) {
    c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    jbuf_put(b, s + run, i - run);
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      jbuf_put(b, esc, 2);
    } else {
      snprintf(esc, sizeof(esc), "\\u%04x", c);
      jbuf_put(b, esc, 6);
    }
    run = i + 1;
  }
  jbuf_put(b, s + run, n - run);
  jbuf_put(b, "\"", 1);
}

/* The shortest "%.*g" that strtod() reads back as d.  The daemon never
 * calls setlocale(), so the decimal point is '.'. */
static int format_number(const json_t *v, char *buf, size_t size) {
  double d;
  int prec;

  if (json_is_integer(v))
    return snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  d = json_real_value(v);
  for (prec = 1; prec < 17; prec++) {
    snprintf(buf, size, "%.*g", prec, d);
    if (strtod(buf, NULL) == d)
      break;
  }
  return snprintf(buf, size, "%.*g", prec, d);
}

/* Writes v; its depth was bounded by check_value(). */
static void jbuf_value(jbuf_t *b, json_t *v) {
  char num[40];
  const char *key;
  size_t key_len, i;
  json_t *item;
  int n;

  switch (json_typeof(v)) {
  case JSON_OBJECT:
    jbuf_put(b, "{", 1);
    i = 0;
    json_object_keylen_foreach(v, key, key_len, item) {
      if (i++ > 0)
        jbuf_put(b, ",", 1);
      jbuf_string(b, key, key_len);
      jbuf_put(b, ":", 1);
      jbuf_value(b, item);
    }
    jbuf_put(b, "}", 1);
    break;
  case JSON_ARRAY:
    jbuf_put(b, "[", 1);
    json_array_foreach(v, i, item) {
      if (i > 0)
        jbuf_put(b, ",", 1);
      jbuf_value(b, item);
    }
    jbuf_put(b, "]", 1);
    break;
  case JSON_STRING:
    jbuf_string(b, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
  case JSON_REAL:
    n = format_number(v, num, sizeof(num));
    jbuf_put(b, num, (size_t)n);
    break;
  case JSON_TRUE:
    jbuf_put(b, "true", 4);
    break;
  case JSON_FALSE:
    jbuf_put(b, "false", 5);
    break;
  case JSON_NULL:
    jbuf_put(b, "null", 4);
    break;
  }
}

/* Adds the text b holds as a jsonb parameter and frees it; returns the
 * parameter's number. */
static int add_jbuf_param(fctx_t *ctx, jbuf_t *b) {
  int num = b->failed ? -ENOMEM
                      : pgmld_sqlbuf_add_param(ctx->sb, b->p, b->len, PGMLD_SQL_FORMAT_TEXT,
                                               PGMLD_OID_JSONB);

  pgmld_free(b->p);
  return num < 0 ? sb_fail(ctx, num) : num;
}

/* v as a jsonb parameter.  `v` is borrowed. */
static int add_json_param(fctx_t *ctx, json_t *v) {
  jbuf_t b = {NULL, 0, 0, 0};

  jbuf_value(&b, v);
  return add_jbuf_param(ctx, &b);
}

/* {"a": {"b": v}} for the path a.b, or {"a": {"b": [v]}} when `wrap`, as
 * a jsonb parameter.  `v` is borrowed. */
static int add_nested_param(fctx_t *ctx, const fpath_t *path, json_t *v, int wrap) {
  jbuf_t b = {NULL, 0, 0, 0};
  size_t i;

  for (i = 0; i < path->n; i++) {
    jbuf_put(&b, "{", 1);
    jbuf_string(&b, path->parts[i], path->lens[i]);
    jbuf_put(&b, ":", 1);
  }
  if (wrap)
    jbuf_put(&b, "[", 1);
  jbuf_value(&b, v);
  if (wrap)
    jbuf_put(&b, "]", 1);
  for (i = 0; i < path->n; i++)
    jbuf_put(&b, "}", 1);
  return add_jbuf_param(ctx, &b);
}

/* A number or string operand of a comparison, with the SQL type its
 * parameter is cast to. */
static int add_scalar_param(fctx_t *ctx, json_t *v, const char **cast) {
  char num[40];
  int n;

  if (json_is_string(v)) {
    *cast = "text";
    n = pgmld_sqlbuf_add_param(ctx->sb, json_string_value(v), json_string_length(v),
                               PGMLD_SQL_FORMAT_TEXT, PGMLD_OID_TEXT);
  } else {
    *cast = "numeric";
    n = format_number(v, num, sizeof(num));
    n = pgmld_sqlbuf_add_param(ctx->sb, num, (size_t)n, PGMLD_SQL_FORMAT_TEXT,
                               PGMLD_OID_NUMERIC);
  }
  return n < 0 ? sb_fail(ctx, n) : n;
}

/* ------------------------------------------------------------ paths */

static int parse_path(fctx_t *ctx, const char *key, size_t key_len, fpath_t *p) {
  char at[WHERE_MAX + 4];
  size_t start = 0, i, j;

  memset(p, 0, sizeof(*p));
  p->key = key;
  if (key_len == 0)
    return fail(ctx, "filter has an empty field name%s", where_at(ctx, at, sizeof(at)));
  if (key_len > PGMLD_FILTER_MAX_PATH_BYTES)
    return fail(ctx, "filter field path of %zu bytes is longer than %d", key_len,
                PGMLD_FILTER_MAX_PATH_BYTES);
  for (i = 0; i <= key_len; i++) {
    if (i < key_len && key[i] != '.')
      continue;
    if (i == start)
      return fail(ctx, "filter field path %s has an empty part", key);
    if (p->n == PGMLD_FILTER_MAX_PATH_PARTS)
      return fail(ctx, "filter field path %s has more than %d parts", key,
                  PGMLD_FILTER_MAX_PATH_PARTS);
    p->parts[p->n] = key + start;
    p->lens[p->n] = i - start;
    for (j = start; j < i && key[j] >= '0' && key[j] <= '9'; j++)
      ;
    if (j == i)
      p->has_index = 1;
    p->n++;
    start = i + 1;
  }
  return 0;
}

/* F for this path: adds the path parameter the first time. */
static int field_expr(fctx_t *ctx, fpath_t *p) {
  int num;

  if (p->param == 0) {
    num = pgmld_sqlbuf_add_text_array(ctx->sb, p->parts, p->lens, p->n);
    if (num < 0)
      return sb_fail(ctx, num);
    p->param = num;
    snprintf(p->expr, sizeof(p->expr), "(%s #> $%d::text[])", ctx->col, num);
  }
  return 0;
}

static int count_condition(fctx_t *ctx) {
  if (++ctx->conditions > PGMLD_FILTER_MAX_CONDITIONS)
    return fail(ctx, "filter has more than %d conditions", PGMLD_FILTER_MAX_CONDITIONS);
  return 0;
}

/* ------------------------------------------------------------ field operators */

static int compile_eq(fctx_t *ctx, fpath_t *p, json_t *v) {
  pgmld_sqlbuf_t *sb = ctx->sb;
  int a, b;

  TRY(count_condition(ctx));
  TRY(check_value(ctx, p, v, 0));
  if ((json_is_string(v) || json_is_number(v) || json_is_boolean(v)) && !p->has_index) {
    TRY(a = add_nested_param(ctx, p, v, 0));
    TRY(b = add_nested_param(ctx, p, v, 1));
    TRY_SB(pgmld_sqlbuf_appendf(sb, "(%s @> $%d::jsonb OR %s @> $%d::jsonb)", ctx->col, a,
                                ctx->col, b));
    return 0;
  }
  TRY(field_expr(ctx, p));
  TRY(a = add_json_param(ctx, v));
  TRY_SB(pgmld_sqlbuf_appendf(sb,
                              "(COALESCE(%s = $%d::jsonb, false) OR EXISTS (SELECT 1 FROM "
                              "jsonb_array_elements(CASE WHEN jsonb_typeof(%s) = 'array' THEN %s "
                              "END) AS pgmld_e(v) WHERE pgmld_e.v = $%d::jsonb)",
                              p->expr, a, p->expr, p->expr, a));
  if (json_is_null(v))
    TRY_SB(pgmld_sqlbuf_appendf(sb, " OR %s IS NULL", p->expr));
  TRY_SB(pgmld_sqlbuf_append(sb, ")"));
  return 0;
}

static int compile_cmp(fctx_t *ctx, fpath_t *p, const char *op, const char *sqlop, json_t *v) {
  const char *cast, *type, *text;
  int num;

  if (!json_is_number(v) && !json_is_string(v))
    return fail(ctx, "%s at %s needs a number or a string, not %s", op, p->key, type_name(v));
  TRY(count_condition(ctx));
  TRY(check_value(ctx, p, v, 0));
  TRY(field_expr(ctx, p));
  TRY(num = add_scalar_param(ctx, v, &cast));
  type = json_is_string(v) ? "string" : "number";
  /* How a scalar of the right type is read for the comparison: strings
   * as text in code point order, numbers as numeric.  CASE, unlike AND,
   * guarantees the cast only runs on a value of the right type. */
  text = json_is_string(v) ? " #>> '{}') COLLATE \"C\"" : ")::numeric";
  TRY_SB(pgmld_sqlbuf_appendf(
      ctx->sb,
      "(CASE jsonb_typeof(%s) WHEN '%s' THEN (%s%s %s $%d::%s "
      "WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements(%s) AS pgmld_e(v) "
      "WHERE CASE WHEN jsonb_typeof(pgmld_e.v) = '%s' THEN (pgmld_e.v%s %s $%d::%s "
      "ELSE false END) ELSE false END)",
      p->expr, type, p->expr, text, sqlop, num, cast, p->expr, type, text, sqlop, num, cast));
  return 0;
}

static int compile_in(fctx_t *ctx, fpath_t *p, const char *op, json_t *arr) {
  size_t i;
  json_t *v;
  int negate = strcmp(op, "$nin") == 0;

  if (!json_is_array(arr))
    return fail(ctx, "%s at %s needs an array, not %s", op, p->key, type_name(arr));
  if (json_array_size(arr) == 0)
    return pgmld_sqlbuf_append(ctx->sb, negate ? "TRUE" : "FALSE") < 0
               ? sb_fail(ctx, -ENOMEM)
               : 0;
  TRY_SB(pgmld_sqlbuf_append(ctx->sb, negate ? "(NOT (" : "("));
  json_array_foreach(arr, i, v) {
    if (i > 0)
      TRY_SB(pgmld_sqlbuf_append(ctx->sb, " OR "));
    TRY(compile_eq(ctx, p, v));
  }
  TRY_SB(pgmld_sqlbuf_append(ctx->sb, negate ? "))" : ")"));
  return 0;
}

static int compile_field_ops(fctx_t *ctx, fpath_t *p, json_t *ops, int depth);

static int compile_field_op(fctx_t *ctx, fpath_t *p, const char *op, json_t *v, int depth) {
  static const struct {
    const char *op, *sql;
  } cmps[] = {{"$gt", ">"}, {"$gte", ">="}, {"$lt", "<"}, {"$lte", "<="}};
  size_t i;

  for (i = 0; i < PGMLD_ARRAY_LEN(cmps); i++)
    if (strcmp(op, cmps[i].op) == 0)
      return compile_cmp(ctx, p, op, cmps[i].sql, v);
  if (strcmp(op, "$eq") == 0)
    return compile_eq(ctx, p, v);
  if (strcmp(op, "$ne") == 0) {
    TRY_SB(pgmld_sqlbuf_append(ctx->sb, "(NOT "));
    TRY(compile_eq(ctx, p, v));
    TRY_SB(pgmld_sqlbuf_append(ctx->sb, ")"));
    return 0;
  }
  if (strcmp(op, "$in") == 0 || strcmp(op, "$nin") == 0)
    return compile_in(ctx, p, op, v);
  if (strcmp(op, "$exists") == 0) {
    if (!json_is_boolean(v))
      return fail(ctx, "$exists at %s needs true or false, not %s", p->key, type_name(v));
    TRY(count_condition(ctx));
    TRY(field_expr(ctx, p));
    TRY_SB(pgmld_sqlbuf_appendf(ctx->sb, "(%s IS %sNULL)", p->expr,
                                json_is_true(v) ? "NOT " : ""));
    return 0;
  }
  if (strcmp(op, "$not") == 0) {
    if (!json_is_object(v) || json_object_size(v) == 0 ||
        json_object_iter_key(json_object_iter(v))[0] != '$')
      return fail(ctx, "$not at %s needs an object of operators, like {\"$not\": {\"$gt\": 1}}",
                  p->key);
    TRY_SB(pgmld_sqlbuf_append(ctx->sb, "(NOT "));
    TRY(compile_field_ops(ctx, p, v, depth + 1));
    TRY_SB(pgmld_sqlbuf_append(ctx->sb, ")"));
    return 0;
  }
  if (strcmp(op, "$and") == 0 || strcmp(op, "$or") == 0)
    return fail(ctx, "filter operator %s at %s combines filters, not field conditions: use it "
                "at the top level",
                op, p->key);
  return fail(ctx, "unknown filter operator %s at %s", op, p->key);
}

/* {"$gt": 1, "$lt": 5}: every operator must hold.  The caller checked
 * that the first key is an operator; a plain key among them is an error,
 * since it could only mean an object to compare with. */
static int compile_field_ops(fctx_t *ctx, fpath_t *p, json_t *ops, int depth) {
  const char *op;
  json_t *v;
  int first = 1;

  if (depth > PGMLD_FILTER_MAX_DEPTH)
    return fail(ctx, "filter nests deeper than %d levels at %s", PGMLD_FILTER_MAX_DEPTH, p->key);
  json_object_foreach(ops, op, v) {
    if (op[0] != '$')
      return fail(ctx, "filter at %s mixes operators and field names (%s): compare with an "
                  "object using {\"$eq\": {...}}",
                  p->key, op);
  }
  if (json_object_size(ops) > 1)
    TRY_SB(pgmld_sqlbuf_append(ctx->sb, "("));
  json_object_foreach(ops, op, v) {
    if (!first)
      TRY_SB(pgmld_sqlbuf_append(ctx->sb, " AND "));
    first = 0;
    TRY(compile_field_op(ctx, p, op, v, depth));
  }
  if (json_object_size(ops) > 1)
    TRY_SB(pgmld_sqlbuf_append(ctx->sb, ")"));
  return 0;
}

static int compile_field(fctx_t *ctx, const char *key, size_t key_len, json_t *v, int depth) {
  fpath_t path;

  TRY(parse_path(ctx, key, key_len, &path));
  /* An object whose first key is an operator holds conditions; any other
   * value, objects included, is compared for equality. */
  if (json_is_object(v) && json_object_size(v) > 0 &&
      json_object_iter_key(json_object_iter(v))[0] == '$')
    return compile_field_ops(ctx, &path, v, depth + 1);
  return compile_eq(ctx, &path, v);
}

/* ------------------------------------------------------------ filters */

static int compile_filter(fctx_t *ctx, json_t *f, int depth);

static int compile_logical(fctx_t *ctx, const char *op, json_t *v, int depth) {
  char at[WHERE_MAX + 4];
  size_t i, saved;
  json_t *item;
  int rc;

  if (strcmp(op, "$not") == 0) {
    if (!json_is_object(v))
      return fail(ctx, "$not%s needs a filter object, not %s", where_at(ctx, at, sizeof(at)),
                  type_name(v));
    saved = where_push(ctx, "%s$not", ctx->where_len > 0 ? "." : "");
    TRY_SB(pgmld_sqlbuf_append(ctx->sb, "(NOT "));
    rc = compile_filter(ctx, v, depth + 1);
    where_pop(ctx, saved);
    TRY(rc);
    TRY_SB(pgmld_sqlbuf_append(ctx->sb, ")"));
    return 0;
  }
  if (!json_is_array(v) || json_array_size(v) == 0)
    return fail(ctx, "%s%s needs a non-empty array of filters", op, where_at(ctx, at, sizeof(at)));
  TRY_SB(pgmld_sqlbuf_append(ctx->sb, "("));
  json_array_foreach(v, i, item) {
    saved = where_push(ctx, "%s%s[%zu]", ctx->where_len > 0 ? "." : "", op, i);
    if (!json_is_object(item)) {
      rc = fail(ctx, "%s must be a filter object, not %s", ctx->where, type_name(item));
      where_pop(ctx, saved);
      return rc;
    }
    rc = i > 0 ? pgmld_sqlbuf_append(ctx->sb, strcmp(op, "$and") == 0 ? " AND " : " OR ") : 0;
    if (rc < 0)
      rc = sb_fail(ctx, rc);
    else
      rc = compile_filter(ctx, item, depth + 1);
    where_pop(ctx, saved);
    TRY(rc);
  }
  TRY_SB(pgmld_sqlbuf_append(ctx->sb, ")"));
  return 0;
}

static int is_field_operator(const char *op) {
  static const char *const ops[] = {"$eq", "$ne", "$gt", "$gte", "$lt",
                                    "$lte", "$in", "$nin", "$exists"};
  size_t i;

  for (i = 0; i < PGMLD_ARRAY_LEN(ops); i++)
    if (strcmp(op, ops[i]) == 0)
      return 1;
  return 0;
}

/* An object of conditions on fields and of $and/$or/$not, all of which
 * must hold. */
static int compile_filter(fctx_t *ctx, json_t *f, int depth) {
  char at[WHERE_MAX + 4];
  const char *key;
  size_t key_len;
  json_t *v;
  int first = 1;

  if (depth > PGMLD_FILTER_MAX_DEPTH)
    return fail(ctx, "filter nests deeper than %d levels%s", PGMLD_FILTER_MAX_DEPTH,
                where_at(ctx, at, sizeof(at)));
  if (json_object_size(f) == 0)
    return pgmld_sqlbuf_append(ctx->sb, "TRUE") < 0 ? sb_fail(ctx, -ENOMEM) : 0;
  if (json_object_size(f) > 1)
    TRY_SB(pgmld_sqlbuf_append(ctx->sb, "("));
  json_object_keylen_foreach(f, key, key_len, v) {
    if (!first)
      TRY_SB(pgmld_sqlbuf_append(ctx->sb, " AND "));
    first = 0;
    if (memchr(key, '\0', key_len) != NULL)
      return fail(ctx, "filter field name contains U+0000%s", where_at(ctx, at, sizeof(at)));
    if (key[0] != '$') {
      TRY(compile_field(ctx, key, key_len, v, depth));
    } else if (strcmp(key, "$and") == 0 || strcmp(key, "$or") == 0 ||
               strcmp(key, "$not") == 0) {
      TRY(compile_logical(ctx, key, v, depth));
    } else if (is_field_operator(key)) {
      return fail(ctx, "filter operator %s%s needs a field, like {\"year\": {\"%s\": ...}}", key,
                  where_at(ctx, at, sizeof(at)), key);
    } else {
      return fail(ctx, "unknown filter operator %s%s", key, where_at(ctx, at, sizeof(at)));
    }
  }
  if (json_object_size(f) > 1)
    TRY_SB(pgmld_sqlbuf_append(ctx->sb, ")"));
  return 0;
}

/* ------------------------------------------------------------ entry points */

int pgmld_filter_compile(const json_t *filter, const char *column, pgmld_sqlbuf_t *sb,
                         pgmld_status_t *st) {
  pgmld_sqlbuf_mark_t mark = pgmld_sqlbuf_mark(sb);
  fctx_t ctx;
  int rc;

  if (strlen(column) > COLUMN_MAX) {
    pgmld_status_set(st, PGMLD_INTERNAL, "filter: column expression longer than %d bytes",
                     COLUMN_MAX);
    return -EINVAL;
  }
  memset(&ctx, 0, sizeof(ctx));
  ctx.sb = sb;
  ctx.col = column;
  ctx.st = st;
  if (filter == NULL)
    rc = pgmld_sqlbuf_append(sb, "TRUE") < 0 ? sb_fail(&ctx, -ENOMEM) : 0;
  else if (!json_is_object(filter))
    rc = fail(&ctx, "filter must be a JSON object, not %s", type_name(filter));
  else
    /* jansson's iteration functions take a non-const object; nothing here
     * changes it. */
    rc = compile_filter(&ctx, (json_t *)filter, 1);
  if (rc < 0)
    pgmld_sqlbuf_rollback(sb, mark);
  return rc;
}

int pgmld_filter_compile_text(const char *text, size_t len, const char *column,
                              pgmld_sqlbuf_t *sb, pgmld_status_t *st) {
  json_error_t err;
  json_t *filter;
  int rc;

  if (len > PGMLD_FILTER_MAX_TEXT_BYTES) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "filter is %zu bytes long, at most %d allowed",
                     len, PGMLD_FILTER_MAX_TEXT_BYTES);
    return -EINVAL;
  }
  if (len == 0)
    return pgmld_filter_compile(NULL, column, sb, st);
  filter = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
  if (filter == NULL) {
    if (json_error_code(&err) == json_error_out_of_memory) {
      pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "filter: out of memory");
      return -ENOMEM;
    }
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "filter is not valid JSON: %s (line %d, column %d)",
                     err.text, err.line, err.column);
    return -EINVAL;
  }
  rc = pgmld_filter_compile(filter, column, sb, st);
  json_decref(filter);
  return rc;
}
