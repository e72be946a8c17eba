/* names.c - word splitting and the per-language spellings of .proto names. */
#include "names.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

typedef enum { CASE_LOWER, CASE_UPPER, CASE_PASCAL } word_case_t;

static bool is_up(char c) { return isupper((unsigned char)c) != 0; }
static bool is_low(char c) { return islower((unsigned char)c) != 0; }
static bool is_dig(char c) { return isdigit((unsigned char)c) != 0; }
static bool is_alnum(char c) { return isalnum((unsigned char)c) != 0; }

/* Whether a new word starts at name[i] (name[i] is alphanumeric and so is
 * name[i - 1]). */
static bool word_starts(const char *name, size_t i) {
  char prev = name[i - 1], cur = name[i], next = name[i + 1];
  if (is_up(cur) && (is_low(prev) || is_dig(prev)))
    return true; /* topK, base64Data */
  if (is_up(cur) && is_up(prev) && is_low(next))
    return true; /* HTTPServer: the S starts "Server" */
  return false;
}

/* Writes the words of `name` joined by `sep` (may be '\0' for none), each
 * cased as asked; `first` is how the first word is cased. */
static char *join_words(pgml_gen_arena_t *a, const char *name, char sep,
                        word_case_t first, word_case_t rest) {
  size_t len = strlen(name), o = 0;
  size_t words = 0;
  bool in_word = false;
  word_case_t wc = first;
  size_t pos_in_word = 0;
  /* Each input character yields at most one output character plus one
   * separator. */
  char *out = pgml_gen_arena_alloc(a, 2 * len + 1);

  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (!is_alnum(c)) {
      in_word = false;
      continue;
    }
    if (!in_word || word_starts(name, i)) {
      if (words > 0 && sep != '\0')
        out[o++] = sep;
      wc = words == 0 ? first : rest;
      words++;
      pos_in_word = 0;
      in_word = true;
    }
    switch (wc) {
    case CASE_LOWER:
      out[o++] = (char)tolower((unsigned char)c);
      break;
    case CASE_UPPER:
      out[o++] = (char)toupper((unsigned char)c);
      break;
    case CASE_PASCAL:
      out[o++] = pos_in_word == 0 ? (char)toupper((unsigned char)c)
                                  : (char)tolower((unsigned char)c);
      break;
    }
    pos_in_word++;
  }
  out[o] = '\0';
  return out;
}

char *pgml_gen_snake(pgml_gen_arena_t *a, const char *name) {
  return join_words(a, name, '_', CASE_LOWER, CASE_LOWER);
}

char *pgml_gen_camel(pgml_gen_arena_t *a, const char *name) {
  return join_words(a, name, '\0', CASE_LOWER, CASE_PASCAL);
}

char *pgml_gen_pascal(pgml_gen_arena_t *a, const char *name) {
  return join_words(a, name, '\0', CASE_PASCAL, CASE_PASCAL);
}

char *pgml_gen_upper(pgml_gen_arena_t *a, const char *name) {
  return join_words(a, name, '_', CASE_UPPER, CASE_UPPER);
}

char *pgml_gen_protoc_c_name(pgml_gen_arena_t *a, const char *full_name) {
  size_t len = strlen(full_name), o = 0;
  bool was_upper = true; /* no '_' before a leading capital */
  bool new_piece = false;
  /* Worst case: every character is a capital after a lower-case one (two
   * bytes), and every '.' becomes "__". */
  char *out = pgml_gen_arena_alloc(a, 2 * len + 1);

  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    char c = full_name[i];
    if (c == '.') {
      new_piece = true;
      was_upper = true;
      continue;
    }
    /* protoc-c skips empty pieces: a leading '.' adds no separator. */
    if (new_piece && o > 0) {
      out[o++] = '_';
      out[o++] = '_';
    }
    new_piece = false;
    if (is_up(c)) {
      if (!was_upper)
        out[o++] = '_';
      out[o++] = (char)tolower((unsigned char)c);
      was_upper = true;
    } else {
      out[o++] = c;
      was_upper = false;
    }
  }
  out[o] = '\0';
  return out;
}

char *pgml_gen_nanopb_name(pgml_gen_arena_t *a, const char *full_name) {
  const char *s = full_name[0] == '.' ? full_name + 1 : full_name;
  char *out = pgml_gen_arena_strdup(a, s);
  if (out == NULL)
    return NULL;
  for (char *p = out; *p != '\0'; p++)
    if (*p == '.')
      *p = '_';
  return out;
}

char *pgml_gen_proto_header(pgml_gen_arena_t *a, const char *proto_file,
                            const char *suffix) {
  size_t len = strlen(proto_file);
  if (len > 6 && strcmp(proto_file + len - 6, ".proto") == 0)
    len -= 6;
  return pgml_gen_arena_printf(a, "%.*s%s", (int)len, proto_file, suffix);
}

static bool in_list(const char *name, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(name, list[i]) == 0)
      return true;
  return false;
}

int pgml_gen_is_python_keyword(const char *name) {
  static const char *const kw[] = {
      "False",  "None",   "True",    "and",      "as",       "assert",
      "async",  "await",  "break",   "class",    "continue", "def",
      "del",    "elif",   "else",    "except",   "finally",  "for",
      "from",   "global", "if",      "import",   "in",       "is",
      "lambda", "nonlocal", "not",   "or",       "pass",     "raise",
      "return", "try",    "while",   "with",     "yield",
      /* Not keywords, but the generated methods take them as keyword
       * arguments of their own. */
      "self",   "timeout",
  };
  return in_list(name, kw, sizeof(kw) / sizeof(kw[0]));
}

int pgml_gen_is_js_reserved(const char *name) {
  static const char *const kw[] = {
      "break",    "case",     "catch",   "class",     "const",  "continue",
      "debugger", "default",  "delete",  "do",        "else",   "enum",
      "export",   "extends",  "false",   "finally",   "for",    "function",
      "if",       "import",   "in",      "instanceof", "new",   "null",
      "return",   "super",    "switch",  "this",      "throw",  "true",
      "try",      "typeof",   "var",     "void",      "while",  "with",
      "yield",    "let",      "static",  "implements", "interface",
      "package",  "private",  "protected", "public",  "await",
  };
  return in_list(name, kw, sizeof(kw) / sizeof(kw[0]));
}
