/* test_splitter.c - the recursive_character, character and markdown splitters (text/splitter.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "text/splitter.h"
#include "text/utf8.h"

#define MAX_SEPS 20
#define MAX_CHUNKS 16

typedef struct split_case_s {
  const char *name;
  const char *splitter;
  uint32_t size, overlap;
  const char *seps[MAX_SEPS];   /* NULL-terminated; none: the defaults */
  const char *text;
  const char *want[MAX_CHUNKS]; /* NULL-terminated */
} split_case_t;

/* 日本語テキスト分割: nine 3-byte characters. */
#define JA "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88" \
           "\xE5\x88\x86\xE5\x89\xB2"
/* Five 4-byte emoji. */
#define E1 "\xF0\x9F\x98\x80"
#define E2 "\xF0\x9F\x98\x81"
#define E3 "\xF0\x9F\x98\x82"
#define E4 "\xF0\x9F\xA4\xA3"
#define E5 "\xF0\x9F\x98\x83"
/* 52 vertical tabs: ASCII whitespace that no default separator splits. */
#define VT4 "\v\v\v\v"
#define VT52 VT4 VT4 VT4 VT4 VT4 VT4 VT4 VT4 VT4 VT4 VT4 VT4 VT4

static const split_case_t cases[] = {
  {"fits in one chunk", NULL, 0, 0, {NULL}, "Short text.\n\nTwo paragraphs.",
   {"Short text.\n\nTwo paragraphs.", NULL}},
  {"empty text", NULL, 10, 0, {NULL}, "", {NULL}},
  {"blank text", NULL, 10, 0, {NULL}, " \n\n\t  \n", {NULL}},
  {"words merge up to size", "recursive_character", 10, 0, {NULL}, "aaa bbb ccc ddd",
   {"aaa bbb", "ccc ddd", NULL}},
  {"word overlap", "recursive_character", 10, 4, {NULL}, "aaa bbb ccc ddd",
   {"aaa bbb", "bbb ccc", "ccc ddd", NULL}},
  {"paragraphs first", NULL, 20, 0, {NULL},
   "Para one here.\n\nPara two is here.\n\nThird.",
   {"Para one here.", "Para two is here.", "Third.", NULL}},
  {"small paragraphs merge", NULL, 30, 0, {NULL}, "One.\n\nTwo.\n\nThree is longer here.",
   {"One.\n\nTwo.", "Three is longer here.", NULL}},
  {"long paragraph recurses to lines then words", NULL, 12, 0, {NULL},
   "alpha beta gamma delta\nshort\n\nend",
   {"alpha beta", "gamma delta", "short", "end", NULL}},
  /* The piece " abcdefghij" is cut without the space it starts with. */
  {"long word cut between code points", NULL, 4, 0, {NULL}, "ab abcdefghij cd",
   {"ab", "abcd", "efgh", "ij", "cd", NULL}},
  {"custom separators in order", "recursive_character", 6, 0, {"|", ",", NULL},
   "a,b,c|d,e,f,g,h", {"a,b,c", "|d,e,f", ",g,h", NULL}},
  {"separators without \"\" still cut hard", "recursive_character", 3, 0, {"|", NULL},
   "abcdefg|hi", {"abc", "def", "g", "|hi", NULL}},
  {"3-byte characters", NULL, 4, 0, {NULL}, JA,
   {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x83\x86",
    "\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE5\x88\x86", "\xE5\x89\xB2", NULL}},
  {"3-byte characters with overlap", NULL, 4, 1, {NULL}, JA,
   {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x83\x86",
    "\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88",
    "\xE3\x83\x88\xE5\x88\x86\xE5\x89\xB2", NULL}},
  {"4-byte characters", NULL, 2, 0, {NULL}, E1 E2 E3 E4 E5, {E1 E2, E3 E4, E5, NULL}},
  {"4-byte characters, size 3 overlap 2", NULL, 3, 2, {NULL}, E1 E2 E3 E4 E5,
   {E1 E2 E3, E2 E3 E4, E3 E4 E5, NULL}},
  {"mixed widths", NULL, 3, 0, {NULL}, "a\xC3\xA9" E1 "\xE2\x82\xAC" "b",
   {"a\xC3\xA9" E1, "\xE2\x82\xAC" "b", NULL}},
  {"character: default separator", "character", 12, 0, {NULL},
   "one\ntwo\n\nthree\n\nfour four",
   {"one\ntwo", "three", "four four", NULL}},
  {"character: merges pieces", "character", 30, 0, {NULL}, "one\n\ntwo\n\nthree",
   {"one\n\ntwo\n\nthree", NULL}},
  {"character: first separator only", "character", 5, 0, {";", "x", NULL}, "aa;bb;ccxdd",
   {"aa;bb", ";ccxd", "d", NULL}},
  {"character: long piece cut with overlap", "character", 4, 1, {"\n\n", NULL}, "abcdefghij",
   {"abcd", "defg", "ghij", NULL}},
  {"character: empty separator", "character", 3, 0, {"", NULL}, "abcdefg",
   {"abc", "def", "g", NULL}},
  /* The whitespace left between a trimmed piece and the next one is inside
   * the chunk that holds both, so it counts against chunk_size. */
  {"trimmed piece: the whitespace after it counts", "recursive_character", 6, 0, {"|", NULL},
   "ab        |c", {"ab", "|c", NULL}},
  /* tests/fuzz/crashes/splitter-recursive-custom-separators: one chunk of
   * 19 code points ("|b", 11 spaces, "|d;e f") came out. */
  {"fuzz: custom separators, trimmed piece", "recursive_character", 9, 2, {"|", ";", NULL},
   "a\x12|b         \x12|b           |d;e f   ", {"a\x12", "|b", "\x12", "|b", "|d;e f", NULL}},
  /* tests/fuzz/crashes/splitter-markdown-large-overlap: one chunk of 63
   * code points came out, with or without the overlap. */
  {"fuzz: markdown, large overlap", "markdown", 33, 32, {NULL}, " af    pa" VT52 "\nTl",
   {"af    pa", "Tl", NULL}},
  {"fuzz: recursive_character, large overlap", "recursive_character", 33, 32, {NULL},
   " af    pa" VT52 "\nTl", {"af    pa", "Tl", NULL}},
  {"fuzz: large overlap, no overlap", "recursive_character", 33, 0, {NULL},
   " af    pa" VT52 "\nTl", {"af    pa", "Tl", NULL}},
  {"markdown: sections", "markdown", 1000, 0, {NULL},
   "Intro text.\n\n# Title\n\nBody one.\n\n## Sub\n\nSub body.\n",
   {"Intro text.", "# Title\n\nBody one.", "## Sub\n\nSub body.", NULL}},
  {"markdown: no heading inside a fence", "markdown", 1000, 0, {NULL},
   "# A\n\n```sh\n# not a heading\n```\nafter\n# B\nb",
   {"# A\n\n```sh\n# not a heading\n```\nafter", "# B\nb", NULL}},
  {"markdown: tilde fence, closed only by tildes", "markdown", 1000, 0, {NULL},
   "# A\n~~~~\n```\n# no\n~~~\n# still no\n~~~~\n# B", 
   {"# A\n~~~~\n```\n# no\n~~~\n# still no\n~~~~", "# B", NULL}},
  {"markdown: what is not a heading", "markdown", 1000, 0, {NULL},
   "#hashtag\n####### seven\n    # code\n   ### three spaces\nx",
   {"#hashtag\n####### seven\n    # code", "### three spaces\nx", NULL}},
  {"markdown: every level, and an empty heading", "markdown", 1000, 0, {NULL},
   "# 1\n## 2\n### 3\n#### 4\n##### 5\n###### 6\n#\nend",
   {"# 1", "## 2", "### 3", "#### 4", "##### 5", "###### 6", "#\nend", NULL}},
  {"markdown: long section split inside", "markdown", 20, 0, {NULL},
   "# Head\n\nfirst paragraph here\n\nsecond one\n# Next\nshort",
   {"# Head", "first paragraph here", "second one", "# Next\nshort", NULL}},
  {"markdown: sections are never merged", "markdown", 1000, 0, {NULL}, "# a\n# b",
   {"# a", "# b", NULL}},
  {"markdown: unclosed fence hides the rest", "markdown", 1000, 0, {NULL},
   "# A\n```\n# B\n", {"# A\n```\n# B", NULL}},
};

static void run_case(const split_case_t *c) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_chunk_list_t list = PGMLD_CHUNK_LIST_INIT;
  pgmld_splitter_spec_t spec = {c->splitter, c->size, c->overlap, 0, (char *const *)c->seps};
  pgmld_splitter_t *sp;
  size_t i, want = 0;

  while (c->seps[spec.n_separators] != NULL)
    spec.n_separators++;
  if (pgmld_splitter_new(&spec, &sp, &st) != 0)
    fail_msg("%s: %s", c->name, st.message);
  if (pgmld_splitter_split(sp, c->text, strlen(c->text), NULL, &list, &st) != 0)
    fail_msg("%s: %s", c->name, st.message);
  while (c->want[want] != NULL)
    want++;
  for (i = 0; i < list.n || i < want; i++) {
    const char *got = i < list.n ? c->text + list.chunks[i].offset : "(none)";
    int got_len = i < list.n ? (int)list.chunks[i].length : 6;
    if (i >= want || i >= list.n || strlen(c->want[i]) != list.chunks[i].length ||
        memcmp(c->want[i], got, list.chunks[i].length) != 0)
      fail_msg("%s: chunk %zu is \"%.*s\", expected \"%s\" (%zu chunks, expected %zu)", c->name,
               i, got_len, got, i < want ? c->want[i] : "(none)", list.n, want);
  }
  pgmld_chunk_list_free(&list);
  pgmld_splitter_free(sp);
}

static void test_cases(void **state) {
  size_t i;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    run_case(&cases[i]);
}

/* Properties that hold for every size and overlap: chunks are valid UTF-8
 * (no cut inside a sequence), at most chunk_size code points, in order,
 * trimmed, and together they cover every non-blank byte of the text. */
static void test_properties(void **state) {
  static const char *const texts[] = {
    "a\xC3\xA9" E1 "\xE2\x82\xAC b\n\n" JA " " E2 E3 "x\ny" E4 "\xC3\xA9\xC3\xA9 " E5,
    "# T\n\n" JA "\n```\n# c " E1 "\n```\n## U\n" E2 E3 E4 " ab\xC3\xA9 cd\n\nend",
  };
  static const char *const names[] = {"recursive_character", "character", "markdown"};
  size_t t, n, i, k, covered_to;
  uint32_t size, overlap;

  for (t = 0; t < 2; t++) {
    const char *text = texts[t];
    size_t len = strlen(text);
    for (n = 0; n < 3; n++) {
      for (size = 1; size <= 12; size++) {
        for (overlap = 0; overlap < size; overlap += 1 + size / 4) {
          pgmld_status_t st = PGMLD_STATUS_INIT;
          pgmld_chunk_list_t list = PGMLD_CHUNK_LIST_INIT;
          pgmld_splitter_spec_t spec = {names[n], size, overlap, 0, NULL};
          pgmld_splitter_t *sp;

          assert_int_equal(pgmld_splitter_new(&spec, &sp, &st), 0);
          assert_int_equal(pgmld_splitter_split(sp, text, len, NULL, &list, &st), 0);
          covered_to = 0;
          for (i = 0; i < list.n; i++) {
            const pgmld_chunk_t *c = &list.chunks[i];
            assert_true(c->length > 0 && c->offset + c->length <= len);
            assert_int_equal(pgmld_utf8_find_invalid(text + c->offset, c->length), c->length);
            if (pgmld_utf8_count(text + c->offset, c->length) > size)
              fail_msg("%s size %u: chunk %zu has %zu code points", names[n], size, i,
                       pgmld_utf8_count(text + c->offset, c->length));
            assert_true(text[c->offset] != ' ' && text[c->offset] != '\n');
            assert_true(text[c->offset + c->length - 1] != ' ');
            if (i > 0)
              assert_true(c->offset >= list.chunks[i - 1].offset);
            /* Every non-blank byte between the previous coverage and this
             * chunk would be lost. */
            for (k = covered_to; k < c->offset; k++)
              if (text[k] != ' ' && text[k] != '\n')
                fail_msg("%s size %u overlap %u: byte %zu lost", names[n], size, overlap, k);
            if (c->offset + c->length > covered_to)
              covered_to = c->offset + c->length;
          }
          for (k = covered_to; k < len; k++)
            assert_true(text[k] == ' ' || text[k] == '\n');
          pgmld_chunk_list_free(&list);
          pgmld_splitter_free(sp);
        }
      }
    }
  }
}

/* A small deterministic generator (xorshift64), so that a failure names a
 * seed that reproduces it. */
static uint64_t rnd_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static size_t rnd_below(uint64_t *s, size_t n) { return (size_t)(rnd_next(s) % n); }

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_continuation(char c) { return ((unsigned char)c & 0xC0) == 0x80; }

/* Checks one split of text[0..len) against what splitter.h promises:
 * every chunk non-empty, inside the text, on code-point boundaries,
 * trimmed, at most `size` code points; chunks in text order (starts and
 * ends never go back); and every non-blank byte inside some chunk. */
static void check_chunks(const char *what, uint64_t seed, const char *text, size_t len,
                         uint32_t size, const pgmld_chunk_list_t *list) {
  size_t i, k, covered_to = 0, prev_off = 0, prev_end = 0, cps;

  for (i = 0; i < list->n; i++) {
    const pgmld_chunk_t *c = &list->chunks[i];
    if (c->length == 0 || c->offset > len || c->length > len - c->offset)
      fail_msg("%s seed %llu: chunk %zu (%zu+%zu) outside the text of %zu bytes", what,
               (unsigned long long)seed, i, c->offset, c->length, len);
    if (is_continuation(text[c->offset]) ||
        (c->offset + c->length < len && is_continuation(text[c->offset + c->length])) ||
        pgmld_utf8_find_invalid(text + c->offset, c->length) != c->length)
      fail_msg("%s seed %llu: chunk %zu cut inside a UTF-8 sequence", what,
               (unsigned long long)seed, i);
    if (is_blank(text[c->offset]) || is_blank(text[c->offset + c->length - 1]))
      fail_msg("%s seed %llu: chunk %zu not trimmed", what, (unsigned long long)seed, i);
    cps = pgmld_utf8_count(text + c->offset, c->length);
    if (cps > size)
      fail_msg("%s seed %llu: chunk %zu has %zu code points, chunk_size %u", what,
               (unsigned long long)seed, i, cps, size);
    if (c->offset < prev_off || c->offset + c->length < prev_end)
      fail_msg("%s seed %llu: chunk %zu goes back in the text", what, (unsigned long long)seed,
               i);
    for (k = covered_to; k < c->offset; k++)
      if (!is_blank(text[k]))
        fail_msg("%s seed %llu: byte %zu lost before chunk %zu", what, (unsigned long long)seed,
                 k, i);
    prev_off = c->offset;
    prev_end = c->offset + c->length;
    if (prev_end > covered_to)
      covered_to = prev_end;
  }
  for (k = covered_to; k < len; k++)
    if (!is_blank(text[k]))
      fail_msg("%s seed %llu: byte %zu lost after the last chunk", what,
               (unsigned long long)seed, k);
}

/* The same properties over many random texts and specs: texts built from
 * fragments that hit the separators, blank runs the trimming removes,
 * markdown headings and fences, and 2-, 3- and 4-byte characters; sizes
 * from 1 to 40 with any overlap below them, often the largest. */
static void test_random_properties(void **state) {
  static const char *const frags[] = {
    "a", "bc", "word", " ", "   ", "\t", "\v\v", "\n", "\n\n", "\r\n", "|", ";", "\xC3\xA9",
    "\xE2\x82\xAC", E1, "# ", "\n## h\n", "\n```\n", "ab", "\xE2\x82\xAC\xE2\x82\xAC",
  };
  static const char *const sep_pool[] = {
    "|", ";", " ", "\n", "\n\n", "", "ab", "\xE2\x82\xAC", "\xC3\xA9", "\v", "# ",
  };
  static const char *const names[] = {"recursive_character", "character", "markdown"};
  char text[1024];
  char *seps[4];
  uint64_t seed;
  unsigned run;

  for (run = 0; run < 20000; run++) {
    pgmld_status_t st = PGMLD_STATUS_INIT;
    pgmld_chunk_list_t list = PGMLD_CHUNK_LIST_INIT;
    pgmld_splitter_spec_t spec;
    pgmld_splitter_t *sp;
    uint64_t s;
    size_t len = 0, nfrag, i, fl;
    uint32_t size;

    seed = 0x9E3779B97F4A7C15ull ^ ((uint64_t)run * 0x100000001B3ull);
    s = seed;
    memset(&spec, 0, sizeof(spec));
    spec.name = names[rnd_below(&s, PGMLD_ARRAY_LEN(names))];
    size = 1u + (uint32_t)rnd_below(&s, 40);
    spec.chunk_size = size;
    spec.chunk_overlap = rnd_below(&s, 3) == 0 ? size - 1 : (uint32_t)rnd_below(&s, size);
    if (rnd_below(&s, 2) == 0) {
      spec.n_separators = 1 + rnd_below(&s, PGMLD_ARRAY_LEN(seps));
      for (i = 0; i < spec.n_separators; i++)
        seps[i] = (char *)sep_pool[rnd_below(&s, PGMLD_ARRAY_LEN(sep_pool))];
      spec.separators = seps;
    }
    nfrag = rnd_below(&s, 120);
    for (i = 0; i < nfrag; i++) {
      const char *f = frags[rnd_below(&s, PGMLD_ARRAY_LEN(frags))];
      fl = strlen(f);
      if (len + fl >= sizeof(text))
        break;
      memcpy(text + len, f, fl);
      len += fl;
    }
    text[len] = '\0';

    if (pgmld_splitter_new(&spec, &sp, &st) != 0)
      fail_msg("seed %llu: %s", (unsigned long long)seed, st.message);
    if (pgmld_splitter_split(sp, text, len, NULL, &list, &st) != 0)
      fail_msg("seed %llu: %s", (unsigned long long)seed, st.message);
    check_chunks(spec.name, seed, text, len, size, &list);
    pgmld_chunk_list_free(&list);
    pgmld_splitter_free(sp);
  }
}

static void test_overlap_shares_text(void **state) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_chunk_list_t list = PGMLD_CHUNK_LIST_INIT;
  pgmld_splitter_spec_t spec = {NULL, 20, 8, 0, NULL};
  const char *text = "one two three four five six seven eight nine ten";
  pgmld_splitter_t *sp;
  size_t i;

  assert_int_equal(pgmld_splitter_new(&spec, &sp, &st), 0);
  assert_int_equal(pgmld_splitter_split(sp, text, strlen(text), NULL, &list, &st), 0);
  assert_true(list.n >= 3);
  for (i = 1; i < list.n; i++) {
    /* Each chunk starts inside the previous one: they share words. */
    assert_true(list.chunks[i].offset < list.chunks[i - 1].offset + list.chunks[i - 1].length);
    assert_true(list.chunks[i].offset > list.chunks[i - 1].offset);
  }
  pgmld_chunk_list_free(&list);
  pgmld_splitter_free(sp);
}

static void test_defaults(void **state) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_splitter_spec_t spec = {NULL, 0, 0, 0, NULL};
  const pgmld_splitter_spec_t *got;
  pgmld_splitter_t *sp;
  char *three[] = {"a", "b", "c"};

  assert_int_equal(pgmld_splitter_new(&spec, &sp, &st), 0);
  got = pgmld_splitter_spec(sp);
  assert_string_equal(got->name, "recursive_character");
  assert_int_equal(got->chunk_size, 1000);
  assert_int_equal(got->chunk_overlap, 0);
  assert_int_equal(got->n_separators, 4);
  assert_string_equal(got->separators[0], "\n\n");
  assert_string_equal(got->separators[1], "\n");
  assert_string_equal(got->separators[2], " ");
  assert_string_equal(got->separators[3], "");
  pgmld_splitter_free(sp);

  spec.name = "character";
  assert_int_equal(pgmld_splitter_new(&spec, &sp, &st), 0);
  got = pgmld_splitter_spec(sp);
  assert_int_equal(got->n_separators, 1);
  assert_string_equal(got->separators[0], "\n\n");
  pgmld_splitter_free(sp);

  spec.separators = three;
  spec.n_separators = 3;
  assert_int_equal(pgmld_splitter_new(&spec, &sp, &st), 0);
  got = pgmld_splitter_spec(sp);
  assert_int_equal(got->n_separators, 1);
  assert_string_equal(got->separators[0], "a");
  pgmld_splitter_free(sp);

  spec.name = "markdown";
  spec.n_separators = 0;
  spec.chunk_size = 50;
  spec.chunk_overlap = 10;
  assert_int_equal(pgmld_splitter_new(&spec, &sp, &st), 0);
  got = pgmld_splitter_spec(sp);
  assert_string_equal(got->name, "markdown");
  assert_int_equal(got->chunk_size, 50);
  assert_int_equal(got->chunk_overlap, 10);
  assert_int_equal(got->n_separators, 4);
  pgmld_splitter_free(sp);
  assert_int_equal(st.code, PGMLD_OK);
}

static void test_validation_errors(void **state) {
  static char long_sep[PGMLD_SPLITTER_MAX_SEPARATOR_BYTES + 2];
  static char *many[PGMLD_SPLITTER_MAX_SEPARATORS + 1];
  static char *bad_utf8[] = {"ok", "\xFF"};
  static char *one_long[] = {" ", long_sep};
  static const struct {
    pgmld_splitter_spec_t spec;
    const char *message;
  } bad_specs[] = {
    {{"sentence", 0, 0, 0, NULL},
     "splitter.name: unknown splitter \"sentence\" (known: recursive_character, character, "
     "markdown)"},
    {{"bad\nname", 0, 0, 0, NULL},
     "splitter.name: unknown splitter (known: recursive_character, character, markdown)"},
    {{NULL, 10, 10, 0, NULL}, "splitter.chunk_overlap: 10 must be less than chunk_size 10"},
    {{NULL, 10, 11, 0, NULL}, "splitter.chunk_overlap: 11 must be less than chunk_size 10"},
    {{NULL, 0, 1000, 0, NULL},
     "splitter.chunk_overlap: 1000 must be less than chunk_size 1000 (the default)"},
    {{NULL, PGMLD_SPLITTER_MAX_CHUNK_SIZE + 1, 0, 0, NULL},
     "splitter.chunk_size: 100001 is more than the maximum 100000"},
    {{NULL, 0, 0, PGMLD_SPLITTER_MAX_SEPARATORS + 1, many},
     "splitter.separators: 17 given, at most 16 allowed"},
    {{NULL, 0, 0, 2, one_long}, "splitter.separators[1]: 65 bytes long, at most 64 allowed"},
    {{"character", 0, 0, 2, bad_utf8},
     "splitter.separators[1]: invalid UTF-8 at byte 0 (0xFF)"},
  };
  size_t i;

  memset(long_sep, '-', sizeof(long_sep) - 1);
  for (i = 0; i < PGMLD_ARRAY_LEN(many); i++)
    many[i] = "x";
  for (i = 0; i < PGMLD_ARRAY_LEN(bad_specs); i++) {
    pgmld_status_t st = PGMLD_STATUS_INIT;
    pgmld_splitter_t *sp = (pgmld_splitter_t *)&st;
    assert_int_equal(pgmld_splitter_new(&bad_specs[i].spec, &sp, &st), -EINVAL);
    assert_null(sp);
    assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
    assert_string_equal(st.message, bad_specs[i].message);
  }
  /* At the limits: accepted. */
  {
    pgmld_status_t st = PGMLD_STATUS_INIT;
    pgmld_splitter_spec_t spec = {NULL, PGMLD_SPLITTER_MAX_CHUNK_SIZE,
                                  PGMLD_SPLITTER_MAX_CHUNK_SIZE - 1, PGMLD_SPLITTER_MAX_SEPARATORS,
                                  many};
    pgmld_splitter_t *sp;
    long_sep[PGMLD_SPLITTER_MAX_SEPARATOR_BYTES] = '\0';
    assert_int_equal(pgmld_splitter_new(&spec, &sp, &st), 0);
    pgmld_splitter_free(sp);
    spec.separators = one_long;
    spec.n_separators = 2;
    assert_int_equal(pgmld_splitter_new(&spec, &sp, &st), 0);
    pgmld_splitter_free(sp);
  }
}

static void test_text_errors(void **state) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_chunk_list_t list = PGMLD_CHUNK_LIST_INIT;
  pgmld_splitter_spec_t spec = {"markdown", 5, 0, 0, NULL};
  pgmld_splitter_t *sp;
  char *big;

  assert_int_equal(pgmld_splitter_new(&spec, &sp, &st), 0);
  assert_int_equal(pgmld_splitter_split(sp, "abc\xC3(", 5, NULL, &list, &st), -EINVAL);
  assert_string_equal(st.message, "text: invalid UTF-8 at byte 3 (0xC3)");
  assert_int_equal(list.n, 0);

  memset(&st, 0, sizeof(st));
  assert_int_equal(pgmld_splitter_split(sp, "ab\0c", 4, "documents[1].body", &list, &st),
                   -EINVAL);
  assert_string_equal(st.message, "documents[1].body: NUL character at byte 2 (PostgreSQL text "
                                  "cannot hold U+0000)");

  memset(&st, 0, sizeof(st));
  big = malloc(PGMLD_SPLITTER_MAX_TEXT_BYTES + 1u);
  assert_non_null(big);
  memset(big, 'a', PGMLD_SPLITTER_MAX_TEXT_BYTES + 1u);
  assert_int_equal(pgmld_splitter_split(sp, big, PGMLD_SPLITTER_MAX_TEXT_BYTES + 1u, NULL, &list,
                                        &st),
                   -EINVAL);
  assert_string_equal(st.message, "text: 67108865 bytes long, at most 67108864 allowed");
  free(big);
  assert_int_equal(list.n, 0);
  pgmld_splitter_free(sp);
}

/* Chunks of several texts go into one list. */
static void test_list_appends(void **state) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_chunk_list_t list = PGMLD_CHUNK_LIST_INIT;
  pgmld_splitter_spec_t spec = {NULL, 3, 0, 0, NULL};
  pgmld_splitter_t *sp;

  assert_int_equal(pgmld_splitter_new(&spec, &sp, &st), 0);
  assert_int_equal(pgmld_splitter_split(sp, "abcdef", 6, NULL, &list, &st), 0);
  assert_int_equal(pgmld_splitter_split(sp, "xy", 2, NULL, &list, &st), 0);
  assert_int_equal(list.n, 3);
  assert_int_equal(list.chunks[2].offset, 0);
  assert_int_equal(list.chunks[2].length, 2);
  pgmld_chunk_list_free(&list);
  assert_null(list.chunks);
  assert_int_equal(list.n, 0);
  pgmld_splitter_free(sp);
}

/* Fails each allocation in turn, through to a run that needs no failure:
 * every failure is reported as -ENOMEM with a status, nothing leaks. */
static void test_allocation_failures(void **state) {
  static char *seps[] = {"\n\n", "\n", " ", ""};
  pgmld_splitter_spec_t spec = {"markdown", 8, 3, 4, seps};
  const char *text = "# Title\n\nSome words that go on " JA "\n\n## Two\n\n" E1 E2 E3
                     " and a longer tail of text to split into many chunks";
  unsigned long nth;
  int done = 0;

  for (nth = 1; !done && nth < 10000; nth++) {
    pgmld_status_t st = PGMLD_STATUS_INIT;
    pgmld_chunk_list_t list = PGMLD_CHUNK_LIST_INIT;
    pgmld_splitter_t *sp = NULL;
    long live = pgmld_alloc_live();
    int rc;

    pgmld_alloc_fail_after(nth, 0);
    rc = pgmld_splitter_new(&spec, &sp, &st);
    if (rc == 0)
      rc = pgmld_splitter_split(sp, text, strlen(text), NULL, &list, &st);
    pgmld_alloc_fail_after(0, 0);
    if (rc == 0) {
      done = 1;
      assert_true(list.n > 5);
    } else {
      assert_int_equal(rc, -ENOMEM);
      assert_int_equal(st.code, PGMLD_RESOURCE_EXHAUSTED);
    }
    pgmld_chunk_list_free(&list);
    pgmld_splitter_free(sp);
    assert_int_equal(pgmld_alloc_live(), live);
  }
  assert_true(done);
  assert_true(nth > 5);   /* the loop did fail several allocations */
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_cases),
    cmocka_unit_test(test_properties),
    cmocka_unit_test(test_random_properties),
    cmocka_unit_test(test_overlap_shares_text),
    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_validation_errors),
    cmocka_unit_test(test_text_errors),
    cmocka_unit_test(test_list_appends),
    cmocka_unit_test(test_allocation_failures),
  };
  pgmld_alloc_init();
  return cmocka_run_group_tests(tests, NULL, NULL);
}
