/* test_models.c - the model registry, builtin/lexical and client (models/model.c, lexical.c, client.c). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "models/model.h"

typedef struct done_s {
  int calls;
  pgmld_code_t code;
  pgmld_model_t *model;
} done_t;

static void on_done(pgmld_model_t *model, const pgmld_status_t *st, void *data) {
  done_t *d = data;

  d->calls++;
  d->code = st->code;
  d->model = model;
}

static pgmld_model_t *open_lexical(uint32_t dims) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_model_spec_t spec = {"builtin/lexical", dims};
  pgmld_model_t *m = NULL;

  if (pgmld_model_open(&spec, &m, &st) != 0)
    fail_msg("open: %s", st.message);
  return m;
}

/* Embeds one text; out has pgmld_model_dimensions(m) floats. */
static void embed1(pgmld_model_t *m, const char *text, float *out) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  const char *texts[1] = {text};
  size_t lens[1] = {strlen(text)};
  done_t d = {0, PGMLD_UNKNOWN, NULL};

  assert_int_equal(pgmld_model_embed(m, texts, lens, 1, out, on_done, &d, &st), 0);
  /* Synchronous provider: done ran before embed returned, once. */
  assert_int_equal(d.calls, 1);
  assert_int_equal(d.code, PGMLD_OK);
  assert_ptr_equal(d.model, m);
}

static double dot(const float *a, const float *b, uint32_t n) {
  double s = 0;
  uint32_t i;

  for (i = 0; i < n; i++)
    s += (double)a[i] * (double)b[i];
  return s;
}

static void test_registry(void **state) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_model_spec_t spec = {NULL, 0};
  pgmld_model_t *m;

  assert_ptr_equal(pgmld_model_find(NULL), &pgmld__lexical_model_ops);
  assert_ptr_equal(pgmld_model_find(""), &pgmld__lexical_model_ops);
  assert_ptr_equal(pgmld_model_find("builtin/lexical"), &pgmld__lexical_model_ops);
  assert_ptr_equal(pgmld_model_find("client"), &pgmld__client_model_ops);
  assert_null(pgmld_model_find("openai/text-embedding-3-small"));

  assert_int_equal(pgmld_model_open(&spec, &m, &st), 0);
  assert_string_equal(pgmld_model_name(m), "builtin/lexical");
  assert_int_equal(pgmld_model_dimensions(m), 384);
  pgmld_model_close(m);
  pgmld_model_close(NULL);

  spec.name = "client";
  spec.dimensions = 1536;
  assert_int_equal(pgmld_model_open(&spec, &m, &st), 0);
  assert_string_equal(pgmld_model_name(m), "client");
  assert_int_equal(pgmld_model_dimensions(m), 1536);
  pgmld_model_close(m);

  spec.name = "builtin/lexical";
  spec.dimensions = 2000;
  assert_int_equal(pgmld_model_open(&spec, &m, &st), 0);
  assert_int_equal(pgmld_model_dimensions(m), 2000);
  pgmld_model_close(m);
  spec.dimensions = 1;
  assert_int_equal(pgmld_model_open(&spec, &m, &st), 0);
  pgmld_model_close(m);
  assert_int_equal(st.code, PGMLD_OK);
}

static void test_open_errors(void **state) {
  static const struct {
    pgmld_model_spec_t spec;
    const char *message;
  } cases[] = {
    {{"gpt", 0}, "model.name: unknown model \"gpt\" (known: builtin/lexical, client)"},
    {{"\x01", 0}, "model.name: unknown model (known: builtin/lexical, client)"},
    {{"client", 0},
     "model.dimensions: required for model client (the length of its vectors)"},
    {{"client", 2001},
     "model.dimensions: 2001 is more than 2000, the most pgvector's HNSW index accepts for a "
     "vector column (every pipeline has one)"},
    {{"builtin/lexical", 16000},
     "model.dimensions: 16000 is more than 2000, the most pgvector's HNSW index accepts for a "
     "vector column (every pipeline has one)"},
  };
  size_t i;

  for (i = 0; i < PGMLD_ARRAY_LEN(cases); i++) {
    pgmld_status_t st = PGMLD_STATUS_INIT;
    pgmld_model_t *m = (pgmld_model_t *)&st;
    assert_int_equal(pgmld_model_open(&cases[i].spec, &m, &st), -EINVAL);
    assert_null(m);
    assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
    assert_string_equal(st.message, cases[i].message);
  }
}

static void test_client_refuses_embed(void **state) {
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_model_spec_t spec = {"client", 3};
  const char *texts[1] = {"hello"};
  size_t lens[1] = {5};
  float out[3];
  done_t d = {0, PGMLD_OK, NULL};
  pgmld_model_t *m;

  assert_int_equal(pgmld_model_open(&spec, &m, &st), 0);
  assert_int_equal(pgmld_model_embed(m, texts, lens, 1, out, on_done, &d, &st), -EINVAL);
  assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
  assert_string_equal(st.message, "pipeline model is client: send vectors");
  assert_int_equal(d.calls, 0);
  pgmld_model_close(m);
}

/* The algorithm of docs/models.md, written out again from the document
 * for a small case: "Hello, World!" is the words "hello" and "world", the
 * features "hello", "world" and "hello world". */
static void test_matches_documented_algorithm(void **state) {
  const char *features[] = {"hello", "world", "hello world"};
  const uint32_t dims = 64;
  double counts[64] = {0}, norm = 0;
  float got[64];
  pgmld_model_t *m = open_lexical(dims);
  size_t i;

  for (i = 0; i < 3; i++) {
    XXH64_hash_t h = XXH3_64bits(features[i], strlen(features[i]));
    counts[h % dims] += (h >> 63) ? -1.0 : 1.0;
  }
  for (i = 0; i < dims; i++)
    norm += counts[i] * counts[i];
  norm = sqrt(norm);
  embed1(m, "Hello, World!", got);
  for (i = 0; i < dims; i++)
    assert_true(got[i] == (float)(counts[i] / norm));
  pgmld_model_close(m);
}

/* Pinned values: the vectors stored in databases depend on them, so a
 * change here is a change of the embedding that needs a new model name. */
static void test_known_values(void **state) {
  static const struct {
    const char *text;
    uint32_t dims;
    int nonzero;
    uint32_t index[4];
    float value[4];
  } cases[] = {
#include "lexical_golden.inc"
  };
  size_t c, i, k;
  float *v;

  for (c = 0; c < PGMLD_ARRAY_LEN(cases); c++) {
    pgmld_model_t *m = open_lexical(cases[c].dims);
    int nonzero = 0;
    v = calloc(cases[c].dims, sizeof(*v));
    assert_non_null(v);
    embed1(m, cases[c].text, v);
    for (i = 0; i < cases[c].dims; i++)
      nonzero += v[i] != 0.0f;
    assert_int_equal(nonzero, cases[c].nonzero);
    for (k = 0; k < 4; k++)
      if (v[cases[c].index[k]] != cases[c].value[k])
        fail_msg("\"%s\": v[%u] = %.9g, expected %.9g", cases[c].text, cases[c].index[k],
                 (double)v[cases[c].index[k]], (double)cases[c].value[k]);
    free(v);
    pgmld_model_close(m);
  }
}

static void test_unit_norm(void **state) {
  static const char *const texts[] = {
    "a", "The quick brown fox", "日本語のテキスト と English words 123",
    "repeat repeat repeat repeat repeat", "x y z x y z x y z",
  };
  float v[384];
  pgmld_model_t *m = open_lexical(384);
  size_t i;

  for (i = 0; i < PGMLD_ARRAY_LEN(texts); i++) {
    embed1(m, texts[i], v);
    assert_true(fabs(dot(v, v, 384) - 1.0) < 1e-5);
  }
  pgmld_model_close(m);
}

static void test_zero_vector(void **state) {
  static const char *const texts[] = {"", "   ", "!!! --- ???", "\xE2\x80\x94 \xF0\x9F\x98\x80",
                                      "\xFF\xFE"};
  float v[16];
  pgmld_model_t *m = open_lexical(16);
  size_t i, k;

  for (i = 0; i < PGMLD_ARRAY_LEN(texts); i++) {
    memset(v, 0x7F, sizeof(v));
    embed1(m, texts[i], v);
    for (k = 0; k < 16; k++)
      assert_true(v[k] == 0.0f);
  }
  pgmld_model_close(m);
}

/* Pairs that normalise to the same words give the same vector; pairs that
 * do not, do not. */
static void test_normalisation(void **state) {
  static const struct {
    const char *a, *b;
    int same;
  } cases[] = {
    {"Hello World", "hello, WORLD!!", 1},
    {"  tabs\tand\nnewlines ", "tabs and newlines", 1},
    {"snake_case-and.dots", "snake case and dots", 1},
    {"ab\xFF" "cd", "ab cd", 1},                       /* bad byte separates */
    {"caf\xC3\xA9 cr\xC3\xA8me", "caf\xC3\xA9, cr\xC3\xA8me.", 1},
    {"na\xC3\xAFve", "na ve", 0},                       /* i-diaeresis is a letter */
    {"\xC3\x89mile", "\xC3\xA9mile", 0},                /* only ASCII is lower-cased */
    {"version 2", "version 3", 0},                      /* digits are words */
    {"new york", "york new", 0},                        /* bigrams keep order */
  };
  float a[256], b[256];
  pgmld_model_t *m = open_lexical(256);
  size_t i;

  for (i = 0; i < PGMLD_ARRAY_LEN(cases); i++) {
    embed1(m, cases[i].a, a);
    embed1(m, cases[i].b, b);
    if ((memcmp(a, b, sizeof(a)) == 0) != cases[i].same)
      fail_msg("\"%s\" vs \"%s\": expected %s", cases[i].a, cases[i].b,
               cases[i].same ? "equal" : "different");
  }
  pgmld_model_close(m);
}

static void test_similarity(void **state) {
  const char *base = "the quick brown fox jumps over the lazy dog";
  const char *similar = "a quick brown fox jumped over a lazy dog";
  const char *unrelated = "stock markets fell sharply on interest rate fears";
  float v0[384], v1[384], v2[384], v3[384], v4[384];
  pgmld_model_t *m = open_lexical(384);

  embed1(m, base, v0);
  embed1(m, similar, v1);
  embed1(m, unrelated, v2);
  assert_true(dot(v0, v1, 384) > 0.4);
  assert_true(fabs(dot(v0, v2, 384)) < 0.25);
  assert_true(dot(v0, v1, 384) > dot(v0, v2, 384) + 0.3);

  /* Same words, different order: unigrams agree, bigrams do not. */
  embed1(m, "new york city", v3);
  embed1(m, "city york new", v4);
  assert_true(dot(v3, v4, 384) < 0.99);
  assert_true(dot(v3, v4, 384) > 0.3);
  /* A shared bigram makes texts closer than shared words alone. */
  embed1(m, "new york pizza", v0);
  embed1(m, "york new pizza", v1);
  embed1(m, "new york bagels", v2);
  assert_true(dot(v0, v2, 384) > dot(v1, v2, 384));
  pgmld_model_close(m);
}

static void test_batch_equals_single(void **state) {
  const char *texts[3] = {"first text", "", "third, and last, text"};
  size_t lens[3] = {10, 0, 21};
  float batch[3 * 32], one[32];
  pgmld_status_t st = PGMLD_STATUS_INIT;
  done_t d = {0, PGMLD_UNKNOWN, NULL};
  pgmld_model_t *m = open_lexical(32);
  size_t i;

  assert_int_equal(pgmld_model_embed(m, texts, lens, 3, batch, on_done, &d, &st), 0);
  assert_int_equal(d.calls, 1);
  for (i = 0; i < 3; i++) {
    embed1(m, texts[i], one);
    assert_memory_equal(batch + i * 32, one, sizeof(one));
  }
  /* No texts: done is still called once. */
  assert_int_equal(pgmld_model_embed(m, texts, lens, 0, batch, on_done, &d, &st), 0);
  assert_int_equal(d.calls, 2);
  pgmld_model_close(m);
}

static void test_allocation_failures(void **state) {
  const char *texts[2] = {"some words to embed", "more words"};
  size_t lens[2] = {19, 10};
  float out[2 * 48];
  unsigned long nth;
  int ok = 0;

  for (nth = 1; !ok && nth < 100; nth++) {
    pgmld_status_t st = PGMLD_STATUS_INIT;
    pgmld_model_spec_t spec = {NULL, 48};
    done_t d = {0, PGMLD_UNKNOWN, NULL};
    pgmld_model_t *m = NULL;
    long live = pgmld_alloc_live();
    int rc;

    pgmld_alloc_fail_after(nth, 0);
    rc = pgmld_model_open(&spec, &m, &st);
    if (rc == 0)
      rc = pgmld_model_embed(m, texts, lens, 2, out, on_done, &d, &st);
    pgmld_alloc_fail_after(0, 0);
    if (rc == 0) {
      ok = 1;
      assert_int_equal(d.calls, 1);
    } else {
      assert_int_equal(rc, -ENOMEM);
      assert_int_equal(st.code, PGMLD_RESOURCE_EXHAUSTED);
      assert_int_equal(d.calls, 0);
    }
    pgmld_model_close(m);
    assert_int_equal(pgmld_alloc_live(), live);
  }
  assert_true(ok);
  assert_true(nth > 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_registry),
    cmocka_unit_test(test_open_errors),
    cmocka_unit_test(test_client_refuses_embed),
    cmocka_unit_test(test_matches_documented_algorithm),
    cmocka_unit_test(test_known_values),
    cmocka_unit_test(test_unit_norm),
    cmocka_unit_test(test_zero_vector),
    cmocka_unit_test(test_normalisation),
    cmocka_unit_test(test_similarity),
    cmocka_unit_test(test_batch_equals_single),
    cmocka_unit_test(test_allocation_failures),
  };
  pgmld_alloc_init();
  return cmocka_run_group_tests(tests, NULL, NULL);
}
