/* lexical.c - builtin/lexical: a deterministic signed feature-hashing embedding of word unigrams and bigrams.
 *
 * The algorithm, exactly (docs/models.md has it with an example, so that
 * another implementation can reproduce the vectors bit for bit):
 *
 *  1. Words.  The text is read as UTF-8; a byte that does not start a
 *     valid sequence counts as a separator.  A word is a maximal run of
 *     word characters (text/wordchar.h: ASCII letters and digits, Unicode
 *     letters, marks, decimal digits and letter numbers); everything else
 *     separates words.  ASCII A-Z become a-z; every other character is
 *     kept as it is.  The words, joined by single spaces, form the
 *     normalised text.
 *  2. Features.  Each word (unigram) and each pair of neighbouring words
 *     (bigram, the two words with the one space between them, as they
 *     stand in the normalised text) is a feature.  h = XXH3_64bits(feature
 *     bytes) with seed 0; index = h mod dim; sign = -1 when bit 63 of h is
 *     set, else +1.  counts[index] += sign.
 *  3. Vector.  norm = sqrt(sum of counts[i]^2) in double, summed in index
 *     order; v[i] = (float)(counts[i] / norm).  A text without any word
 *     gives the zero vector (norm 0): it has no direction, so a service
 *     must not search with it (see docs/models.md).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <xxhash.h>

#include "core/alloc.h"
#include "models/model.h"
#include "text/utf8.h"
#include "text/wordchar.h"

#define LEXICAL_DEFAULT_DIMENSIONS 384u

typedef struct lexical_model_s {
  pgmld_model_t base;   /* first: a pgmld_model_t * points here */
  uint32_t dims;
} lexical_model_t;

static int lexical_open(const pgmld_model_spec_t *spec, pgmld_model_t **out,
                        pgmld_status_t *st) {
  uint32_t dims = spec->dimensions != 0 ? spec->dimensions : LEXICAL_DEFAULT_DIMENSIONS;
  lexical_model_t *m;

  *out = NULL;
  if (pgmld__model_check_dimensions(dims, pgmld__lexical_model_ops.name, st) < 0)
    return -EINVAL;
  m = pgmld_calloc(1, sizeof(*m));
  if (m == NULL) {
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "model %s: out of memory",
                     pgmld__lexical_model_ops.name);
    return -ENOMEM;
  }
  m->base.ops = &pgmld__lexical_model_ops;
  m->dims = dims;
  *out = &m->base;
  return 0;
}

static void add_feature(int64_t *counts, uint32_t dims, const char *s, size_t n) {
  XXH64_hash_t h = XXH3_64bits(s, n);

  counts[h % dims] += (h >> 63) != 0 ? -1 : 1;
}

/* Steps 1 and 2 for one text: `norm` has room for len bytes (the
 * normalised text is never longer, since every space it holds replaces at
 * least one separator byte). */
static void count_features(const char *text, size_t len, char *norm, int64_t *counts,
                           uint32_t dims) {
  size_t i = 0, n, w = 0, word = 0, prev = SIZE_MAX;
  int in_word = 0;
  uint32_t cp;

  for (;;) {
    n = 0;
    if (i < len) {
      n = pgmld_utf8_decode(text + i, len - i, &cp);
      if (n == 0) {
        n = 1;   /* an undecodable byte separates words */
        cp = ' ';
      }
    }
    if (i < len && pgmld_unicode_is_word(cp)) {
      if (!in_word) {
        if (w > 0)
          norm[w++] = ' ';
        word = w;
        in_word = 1;
      }
      if (cp >= 'A' && cp <= 'Z')
        norm[w++] = (char)(cp + ('a' - 'A'));
      else {
        memcpy(norm + w, text + i, n);
        w += n;
      }
    } else if (in_word) {
      add_feature(counts, dims, norm + word, w - word);
      if (prev != SIZE_MAX)
        add_feature(counts, dims, norm + prev, w - prev);
      prev = word;
      in_word = 0;
    }
    if (i >= len)
      break;
    i += n;
  }
}

static void normalise(const int64_t *counts, uint32_t dims, float *out) {
  double sum = 0.0, norm;
  uint32_t i;

  for (i = 0; i < dims; i++)
    sum += (double)counts[i] * (double)counts[i];
  norm = sqrt(sum);
  for (i = 0; i < dims; i++)
    out[i] = norm > 0.0 ? (float)((double)counts[i] / norm) : 0.0f;
}

static int lexical_embed(pgmld_model_t *model, const char *const *texts, const size_t *lens,
                         size_t n, float *out, pgmld_embed_done_cb done, void *data,
                         pgmld_status_t *st) {
  lexical_model_t *m = (lexical_model_t *)model;
  pgmld_status_t ok = PGMLD_STATUS_INIT;
  int64_t *counts;
  char *norm;
  size_t i, longest = 1;

  for (i = 0; i < n; i++)
    if (lens[i] > longest)
      longest = lens[i];
  counts = pgmld_malloc(m->dims * sizeof(*counts));
  norm = pgmld_malloc(longest);
  if (counts == NULL || norm == NULL) {
    pgmld_free(counts);
    pgmld_free(norm);
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "model %s: out of memory embedding %zu texts",
                     pgmld__lexical_model_ops.name, n);
    return -ENOMEM;
  }
  for (i = 0; i < n; i++) {
    memset(counts, 0, m->dims * sizeof(*counts));
    count_features(texts[i], lens[i], norm, counts, m->dims);
    normalise(counts, m->dims, out + i * m->dims);
  }
  pgmld_free(counts);
  pgmld_free(norm);
  /* Synchronous: the request is complete before embed returns. */
  done(model, &ok, data);
  return 0;
}

static uint32_t lexical_dimensions(const pgmld_model_t *model) {
  return ((const lexical_model_t *)model)->dims;
}

static void lexical_close(pgmld_model_t *model) { pgmld_free(model); }

const pgmld_model_ops_t pgmld__lexical_model_ops = {
  .name = "builtin/lexical",
  .open = lexical_open,
  .embed = lexical_embed,
  .dimensions = lexical_dimensions,
  .close = lexical_close,
};
