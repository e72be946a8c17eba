/* splitter.c - the recursive_character, character and markdown splitters over code-point sizes. */
#include "text/splitter.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "text/utf8.h"

typedef struct splitter_kind_s splitter_kind_t;

struct pgmld_splitter_s {
  pgmld_splitter_spec_t spec;   /* resolved; the strings below are owned */
  const splitter_kind_t *kind;
  char *name;
  char **seps;
  size_t *sep_lens;
};

/* One text being split: where chunks go, and the window of pieces that
 * are being merged into the next chunk. */
typedef struct piece_s {
  size_t off;   /* bytes */
  size_t len;   /* bytes */
  size_t cps;   /* code points */
  size_t gap;   /* code points between the previous piece in the window and
                 * this one (whitespace take_piece trimmed off); 0 for the
                 * first piece */
} piece_t;

typedef struct split_ctx_s {
  const pgmld_splitter_t *sp;
  const char *text;
  pgmld_chunk_list_t *out;
  piece_t *win;       /* owned; pieces [head, head + n) are in the window */
  size_t head, n, cap;
  size_t total;       /* code points the window spans, gaps included */
} split_ctx_t;

struct splitter_kind_s {
  const char *name;
  const char *const *default_seps;
  size_t n_default_seps;
  size_t max_seps;    /* separators kept from the spec */
  /* Splits text[0..len) of ctx; 0 or -ENOMEM. */
  int (*split)(split_ctx_t *ctx, size_t len);
};

static const char *const recursive_default_seps[] = {"\n\n", "\n", " ", ""};
static const char *const character_default_seps[] = {"\n\n"};

static int split_recursive_kind(split_ctx_t *ctx, size_t len);
static int split_markdown_kind(split_ctx_t *ctx, size_t len);

static const splitter_kind_t splitter_kinds[] = {
  {"recursive_character", recursive_default_seps, PGMLD_ARRAY_LEN(recursive_default_seps),
   PGMLD_SPLITTER_MAX_SEPARATORS, split_recursive_kind},
  /* character is recursive_character over its one separator: a piece
   * longer than chunk_size is then cut between code points, which is the
   * hard limit every splitter keeps. */
  {"character", character_default_seps, PGMLD_ARRAY_LEN(character_default_seps), 1,
   split_recursive_kind},
  {"markdown", recursive_default_seps, PGMLD_ARRAY_LEN(recursive_default_seps),
   PGMLD_SPLITTER_MAX_SEPARATORS, split_markdown_kind},
};

/* ------------------------------------------------------------ building */

static int is_printable_ascii(const char *s, size_t max) {
  size_t i;

  for (i = 0; s[i] != '\0'; i++)
    if (i >= max || (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
      return 0;
  return 1;
}

static int unknown_name(const char *name, pgmld_status_t *st) {
  /* The name is echoed only when it is short printable ASCII, so that the
   * message stays valid UTF-8 and readable whatever the client sent. */
  if (is_printable_ascii(name, 40))
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "splitter.name: unknown splitter \"%s\" (known: recursive_character, "
                     "character, markdown)",
                     name);
  else
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "splitter.name: unknown splitter (known: recursive_character, character, "
                     "markdown)");
  return -EINVAL;
}

static int validate_separators(const pgmld_splitter_spec_t *spec, pgmld_status_t *st) {
  size_t i, len;
  char what[64];

  if (spec->n_separators > PGMLD_SPLITTER_MAX_SEPARATORS) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "splitter.separators: %zu given, at most %u allowed", spec->n_separators,
                     PGMLD_SPLITTER_MAX_SEPARATORS);
    return -EINVAL;
  }
  for (i = 0; i < spec->n_separators; i++) {
    if (spec->separators[i] == NULL) {
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "splitter.separators[%zu]: missing", i);
      return -EINVAL;
    }
    len = strlen(spec->separators[i]);
    if (len > PGMLD_SPLITTER_MAX_SEPARATOR_BYTES) {
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "splitter.separators[%zu]: %zu bytes long, at most %u allowed", i, len,
                       PGMLD_SPLITTER_MAX_SEPARATOR_BYTES);
      return -EINVAL;
    }
    snprintf(what, sizeof(what), "splitter.separators[%zu]", i);
    if (pgmld_utf8_check(spec->separators[i], len, what, st) < 0)
      return -EINVAL;
  }
  return 0;
}

void pgmld_splitter_free(pgmld_splitter_t *sp) {
  size_t i;

  if (sp == NULL)
    return;
  if (sp->seps != NULL)
    for (i = 0; i < sp->spec.n_separators; i++)
      pgmld_free(sp->seps[i]);
  pgmld_free(sp->seps);
  pgmld_free(sp->sep_lens);
  pgmld_free(sp->name);
  pgmld_free(sp);
}

int pgmld_splitter_new(const pgmld_splitter_spec_t *spec, pgmld_splitter_t **out,
                       pgmld_status_t *st) {
  const splitter_kind_t *kind = NULL;
  const char *name = spec->name != NULL && spec->name[0] != '\0' ? spec->name
                                                                    : PGMLD_SPLITTER_DEFAULT_NAME;
  uint32_t size = spec->chunk_size != 0 ? spec->chunk_size : PGMLD_SPLITTER_DEFAULT_CHUNK_SIZE;
  const char *const *seps;
  pgmld_splitter_t *sp;
  size_t i, n;

  *out = NULL;
  for (i = 0; i < PGMLD_ARRAY_LEN(splitter_kinds); i++)
    if (strcmp(name, splitter_kinds[i].name) == 0)
      kind = &splitter_kinds[i];
  if (kind == NULL)
    return unknown_name(name, st);
  if (size > PGMLD_SPLITTER_MAX_CHUNK_SIZE) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "splitter.chunk_size: %u is more than the maximum %u", size,
                     PGMLD_SPLITTER_MAX_CHUNK_SIZE);
    return -EINVAL;
  }
  if (spec->chunk_overlap >= size) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "splitter.chunk_overlap: %u must be less than chunk_size %u%s",
                     spec->chunk_overlap, size,
                     spec->chunk_size == 0 ? " (the default)" : "");
    return -EINVAL;
  }
  if (validate_separators(spec, st) < 0)
    return -EINVAL;

  if (spec->n_separators > 0) {
    seps = (const char *const *)spec->separators;
    n = spec->n_separators < kind->max_seps ? spec->n_separators : kind->max_seps;
  } else {
    seps = kind->default_seps;
    n = kind->n_default_seps;
  }

  sp = pgmld_calloc(1, sizeof(*sp));
  if (sp == NULL)
    goto nomem;
  sp->kind = kind;
  sp->name = pgmld_strdup(kind->name);
  sp->seps = pgmld_calloc(n, sizeof(*sp->seps));
  sp->sep_lens = pgmld_calloc(n, sizeof(*sp->sep_lens));
  /* n_separators counts the slots pgmld_splitter_free() must look at, so
   * it is set as soon as the (zeroed) array exists. */
  if (sp->seps != NULL)
    sp->spec.n_separators = n;
  if (sp->name == NULL || sp->seps == NULL || sp->sep_lens == NULL)
    goto nomem;
  for (i = 0; i < n; i++) {
    sp->seps[i] = pgmld_strdup(seps[i]);
    if (sp->seps[i] == NULL)
      goto nomem;
    sp->sep_lens[i] = strlen(seps[i]);
  }
  sp->spec.name = sp->name;
  sp->spec.chunk_size = size;
  sp->spec.chunk_overlap = spec->chunk_overlap;
  sp->spec.separators = sp->seps;
  *out = sp;
  return 0;

nomem:
  pgmld_splitter_free(sp);
  pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "splitter: out of memory");
  return -ENOMEM;
}

const pgmld_splitter_spec_t *pgmld_splitter_spec(const pgmld_splitter_t *sp) { return &sp->spec; }

void pgmld_chunk_list_free(pgmld_chunk_list_t *list) {
  pgmld_free(list->chunks);
  list->chunks = NULL;
  list->n = 0;
  list->cap = 0;
}

/* ------------------------------------------------------------ chunks out */

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Narrows [*a, *b) to leave out leading and trailing ASCII whitespace. */
static void trim(const char *text, size_t *a, size_t *b) {
  while (*a < *b && is_space(text[*a]))
    (*a)++;
  while (*b > *a && is_space(text[*b - 1]))
    (*b)--;
}

/* Appends text[a..b) with its ASCII whitespace trimmed, unless nothing is
 * left. */
static int emit(split_ctx_t *ctx, size_t a, size_t b) {
  pgmld_chunk_list_t *l = ctx->out;
  pgmld_chunk_t *grown;
  size_t cap;

  trim(ctx->text, &a, &b);
  if (a == b)
    return 0;
  if (l->n == l->cap) {
    cap = l->cap != 0 ? l->cap * 2 : 16;
    grown = pgmld_realloc(l->chunks, cap * sizeof(*grown));
    if (grown == NULL)
      return -ENOMEM;
    l->chunks = grown;
    l->cap = cap;
  }
  l->chunks[l->n].offset = a;
  l->chunks[l->n].length = b - a;
  l->n++;
  return 0;
}

/* Cuts text[a..b) into windows of chunk_size code points, each starting
 * chunk_overlap code points before the end of the previous one: what
 * merging one-code-point pieces gives, without a piece per code point.
 * Cuts fall between code points, so never inside a UTF-8 sequence. */
static int cut_code_points(split_ctx_t *ctx, size_t a, size_t b) {
  size_t size = ctx->sp->spec.chunk_size, overlap = ctx->sp->spec.chunk_overlap;
  size_t step, end;
  int rc;

  /* Defensive: pgmld_splitter_new() rejects overlap >= size, and a step
   * of 0 would never reach b. */
  step = overlap < size ? size - overlap : size;
  for (;;) {
    end = a + pgmld_utf8_advance(ctx->text + a, b - a, size);
    if ((rc = emit(ctx, a, end)) < 0)
      return rc;
    if (end == b)
      return 0;
    a += pgmld_utf8_advance(ctx->text + a, end - a, step);
  }
}

/* ------------------------------------------------------------ merging */

/* Emits the window as one chunk and empties it. */
static int window_flush(split_ctx_t *ctx) {
  const piece_t *first, *last;
  int rc;

  if (ctx->n == 0)
    return 0;
  first = &ctx->win[ctx->head];
  last = &ctx->win[ctx->head + ctx->n - 1];
  rc = emit(ctx, first->off, last->off + last->len);
  ctx->head = ctx->n = ctx->total = 0;
  return rc;
}

/* Drops the first piece of the window.  The gap before the new first
 * piece is no longer inside the window's span. */
static void window_drop_front(split_ctx_t *ctx) {
  ctx->total -= ctx->win[ctx->head].cps;
  ctx->head++;
  ctx->n--;
  if (ctx->n == 0) {
    ctx->head = 0;
    return;
  }
  ctx->total -= ctx->win[ctx->head].gap;
  ctx->win[ctx->head].gap = 0;
}

/* Adds a piece of at most chunk_size code points that starts at or after
 * the end of the window's last piece.  When the window's span would then
 * be longer than chunk_size, the window becomes a chunk, and pieces leave
 * its front until what is left (the overlap) is at most chunk_overlap
 * code points and leaves room for the new piece.
 *
 * The window is measured as the span its chunk will be, from the start of
 * its first piece to the end of its last one: a piece that take_piece()
 * trimmed leaves whitespace between it and the next piece, and that
 * whitespace is inside the chunk, so it counts against chunk_size too. */
static int window_add(split_ctx_t *ctx, const piece_t *p) {
  size_t size = ctx->sp->spec.chunk_size, overlap = ctx->sp->spec.chunk_overlap;
  piece_t *grown, q = *p;
  size_t cap, last_end = 0;
  int rc;

  q.gap = 0;
  if (ctx->n > 0) {
    const piece_t *last = &ctx->win[ctx->head + ctx->n - 1];
    last_end = last->off + last->len;
    q.gap = pgmld_utf8_count(ctx->text + last_end, q.off - last_end);
  }
  if (ctx->n > 0 && ctx->total + q.gap + q.cps > size) {
    if ((rc = emit(ctx, ctx->win[ctx->head].off, last_end)) < 0)
      return rc;
    /* The gap to the new piece stays the same while the last piece is
     * kept; once the window is empty the new piece starts it. */
    while (ctx->n > 0 && (ctx->total > overlap || ctx->total + q.gap + q.cps > size))
      window_drop_front(ctx);
    if (ctx->n == 0)
      q.gap = 0;
  }
  if (ctx->head + ctx->n == ctx->cap) {
    if (ctx->head > 0) {
      memmove(ctx->win, ctx->win + ctx->head, ctx->n * sizeof(*ctx->win));
      ctx->head = 0;
    } else {
      cap = ctx->cap != 0 ? ctx->cap * 2 : 64;
      grown = pgmld_realloc(ctx->win, cap * sizeof(*grown));
      if (grown == NULL)
        return -ENOMEM;
      ctx->win = grown;
      ctx->cap = cap;
    }
  }
  ctx->win[ctx->head + ctx->n] = q;
  ctx->n++;
  ctx->total += q.gap + q.cps;
  return 0;
}

/* ------------------------------------------------------------ recursive_character */

static const char *find(const char *hay, size_t n, const char *needle, size_t m) {
  const char *p = hay, *end = hay + n;

  while ((size_t)(end - p) >= m) {
    p = memchr(p, needle[0], (size_t)(end - p) - m + 1);
    if (p == NULL)
      return NULL;
    if (memcmp(p, needle, m) == 0)
      return p;
    p++;
  }
  return NULL;
}

static int split_span(split_ctx_t *ctx, size_t a, size_t b, size_t first_sep);

/* Handles one piece text[a..b) of the separator at index k: into the
 * window when it fits, else the window is flushed and the piece is split
 * with the separators after k.  A piece too long only because of the
 * whitespace around it (the separator it starts with, say) is taken
 * without that whitespace.  A chunk that ends with it would trim that
 * whitespace anyway; one that goes on to the next piece holds it, which is
 * why window_add() counts the gap. */
static int take_piece(split_ctx_t *ctx, size_t a, size_t b, size_t k) {
  size_t size = ctx->sp->spec.chunk_size;
  piece_t p;
  int rc;

  p.gap = 0;
  p.off = a;
  p.len = b - a;
  p.cps = pgmld_utf8_count(ctx->text + a, b - a);
  if (p.cps <= size)
    return window_add(ctx, &p);
  if ((rc = window_flush(ctx)) < 0)
    return rc;
  trim(ctx->text, &a, &b);
  p.off = a;
  p.len = b - a;
  p.cps = pgmld_utf8_count(ctx->text + a, b - a);
  if (p.cps <= size)
    return p.cps > 0 ? window_add(ctx, &p) : 0;
  return split_span(ctx, a, b, k + 1);
}

/* Splits text[a..b) with the first separator from first_sep on that occurs
 * in it.  Each separator stays at the start of the piece it precedes, so
 * pieces are contiguous and a chunk is one span of the text.  When no
 * separator is left (or "" is reached) the span is cut between code
 * points.  Recursion depth is at most the number of separators. */
static int split_span(split_ctx_t *ctx, size_t a, size_t b, size_t first_sep) {
  const pgmld_splitter_t *sp = ctx->sp;
  const char *sep = NULL, *hit;
  size_t k, m = 0, start, from;
  int rc;

  for (k = first_sep; k < sp->spec.n_separators; k++) {
    m = sp->sep_lens[k];
    if (m == 0 || find(ctx->text + a, b - a, sp->seps[k], m) != NULL) {
      sep = sp->seps[k];
      break;
    }
  }
  if (sep == NULL || m == 0)
    return cut_code_points(ctx, a, b);

  /* The window belongs to this level: a deeper level starts empty, and
   * what this level merged is flushed before going deeper (take_piece). */
  start = a;
  from = a;
  while ((hit = find(ctx->text + from, b - from, sep, m)) != NULL) {
    size_t at = (size_t)(hit - ctx->text);
    if (at > start && (rc = take_piece(ctx, start, at, k)) < 0)
      return rc;
    start = at;
    from = at + m;
  }
  if (b > start && (rc = take_piece(ctx, start, b, k)) < 0)
    return rc;
  return window_flush(ctx);
}

/* A span that fits is one chunk, whatever separators it holds. */
static int split_section(split_ctx_t *ctx, size_t a, size_t b) {
  trim(ctx->text, &a, &b);
  if (pgmld_utf8_count(ctx->text + a, b - a) <= ctx->sp->spec.chunk_size)
    return emit(ctx, a, b);
  return split_span(ctx, a, b, 0);
}

static int split_recursive_kind(split_ctx_t *ctx, size_t len) {
  return split_section(ctx, 0, len);
}

/* ------------------------------------------------------------ markdown */

/* Spaces (at most 3) that may indent a heading or a fence, as in CommonMark. */
static size_t indent(const char *s, size_t n) {
  size_t i = 0;

  while (i < n && i < 3 && s[i] == ' ')
    i++;
  return i;
}

/* A run of at least 3 '`' or '~' opening or closing a fenced code block:
 * returns the run length and sets *ch, or returns 0. */
static size_t fence(const char *s, size_t n, char *ch) {
  size_t i = indent(s, n), j;

  if (i >= n || (s[i] != '`' && s[i] != '~'))
    return 0;
  for (j = i; j < n && s[j] == s[i]; j++)
    ;
  if (j - i < 3)
    return 0;
  *ch = s[i];
  return j - i;
}

static int is_heading(const char *s, size_t n) {
  size_t i = indent(s, n), j;

  for (j = i; j < n && s[j] == '#'; j++)
    ;
  return j > i && j - i <= 6 && (j == n || s[j] == ' ' || s[j] == '\t' || s[j] == '\r');
}

/* A section runs from a heading line to the next heading line that is
 * outside a fenced code block; text before the first heading is a section
 * of its own.  Sections are never merged, so no chunk spans two of them. */
static int split_markdown_kind(split_ctx_t *ctx, size_t len) {
  const char *t = ctx->text, *nl;
  size_t line = 0, end, section = 0, run, close, k;
  char fch = 0, ch;
  size_t frun = 0;   /* run length of the open fence; 0 outside a fence */
  int rc;

  while (line < len) {
    nl = memchr(t + line, '\n', len - line);
    end = nl != NULL ? (size_t)(nl - t) : len;
    if (frun > 0) {
      /* A closing fence is the same character, at least as long, and
       * nothing but blanks after it. */
      close = fence(t + line, end - line, &ch);
      if (close >= frun && ch == fch) {
        k = line + indent(t + line, end - line) + close;
        while (k < end && (t[k] == ' ' || t[k] == '\t' || t[k] == '\r'))
          k++;
        if (k == end)
          frun = 0;
      }
    } else if ((run = fence(t + line, end - line, &ch)) > 0) {
      frun = run;
      fch = ch;
    } else if (is_heading(t + line, end - line) && line > section) {
      if ((rc = split_section(ctx, section, line)) < 0)
        return rc;
      section = line;
    }
    line = end + 1;
  }
  return split_section(ctx, section, len);
}

/* ------------------------------------------------------------ entry */

int pgmld_splitter_split(const pgmld_splitter_t *sp, const char *text, size_t len,
                         const char *what, pgmld_chunk_list_t *out, pgmld_status_t *st) {
  split_ctx_t ctx;
  int rc;

  if (what == NULL)
    what = "text";
  if (len > PGMLD_SPLITTER_MAX_TEXT_BYTES) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "%s: %zu bytes long, at most %u allowed", what,
                     len, PGMLD_SPLITTER_MAX_TEXT_BYTES);
    return -EINVAL;
  }
  if (pgmld_utf8_check(text, len, what, st) < 0)
    return -EINVAL;
  memset(&ctx, 0, sizeof(ctx));
  ctx.sp = sp;
  ctx.text = text;
  ctx.out = out;
  rc = sp->kind->split(&ctx, len);
  pgmld_free(ctx.win);
  if (rc < 0)
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "%s: out of memory while splitting", what);
  return rc;
}
