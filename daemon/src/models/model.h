/* model.h - the one interface every embedding provider fills in, and the registry of providers.
 *
 * A provider is a table of operations (pgmld_model_ops_t), like a curl
 * connection filter: the services only ever call pgmld_model_open(),
 * pgmld_model_embed(), pgmld_model_dimensions() and pgmld_model_close(),
 * so a native transformer or an HTTP embedding service is added by writing
 * one more table and listing it in model.c, without touching a service.
 *
 * Providers today (docs/models.md):
 *   "builtin/lexical"  deterministic feature hashing of word unigrams and
 *                      bigrams (models/lexical.c); synchronous
 *   "client"           the client sends every vector; embed() refuses
 *                      (models/client.c)
 *
 * Errors: functions return 0 or a negative errno (-EINVAL, -ENOMEM, ...)
 * and record a client-visible status that names the field or the reason.
 * Models live on the loop thread; none of these functions is thread-safe.
 */
#ifndef PGMLD_MODELS_MODEL_H
#define PGMLD_MODELS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"
#include "rpc/status.h"

#define PGMLD_MODEL_DEFAULT_NAME "builtin/lexical"
/* pgvector stores up to 16000 dimensions in a vector, but its HNSW index
 * (which every pipeline has) accepts at most 2000, so that is the limit. */
#define PGMLD_MODEL_MAX_DIMENSIONS 2000u

/* What a client asked for (pgml.v1.ModelSpec).  An empty name means
 * "builtin/lexical"; dimensions 0 means the provider's default, for those
 * that have one. */
typedef struct pgmld_model_spec_s {
  const char *name;
  uint32_t dimensions;
} pgmld_model_spec_t;

typedef struct pgmld_model_s pgmld_model_t;
typedef struct pgmld_model_ops_s pgmld_model_ops_t;

/* Every provider's model starts with this header, so that a
 * pgmld_model_t * is also a pointer to the provider's own struct. */
struct pgmld_model_s {
  const pgmld_model_ops_t *ops;
};

/* Called exactly once per accepted embed request.  `st` is OK when every
 * vector was written, otherwise it says what failed (out is then
 * unspecified).  `st` is borrowed for the duration of the call. */
typedef void (*pgmld_embed_done_cb)(pgmld_model_t *model, const pgmld_status_t *st, void *data);

struct pgmld_model_ops_s {
  /* The name clients use in ModelSpec.name. */
  const char *name;

  /* Validates spec (its name already matched this provider), fills in
   * defaults and creates a model.  Nothing in spec is kept.  On success
   * *out is the caller's, to release with close(); on failure *out is NULL
   * and st says why. */
  int (*open)(const pgmld_model_spec_t *spec, pgmld_model_t **out, pgmld_status_t *st);

  /* Embeds texts[i][0..lens[i]) for i < n into out[i * dim .. (i+1) * dim),
   * dim = dimensions(model).
   *
   * Asynchronous by contract: a return of 0 means the request is accepted
   * and done(model, status, data) will be called exactly once.  A
   * synchronous provider (builtin/lexical) calls done before embed
   * returns, so a caller must not touch anything that its done callback
   * may free after embed returns 0.  texts, lens and out are borrowed and
   * must stay valid until done runs.  A negative return means the request
   * was refused at once: st says why and done is never called.  Texts need
   * not be valid UTF-8: a provider treats what it cannot decode as a word
   * separator, never as an error. */
  int (*embed)(pgmld_model_t *model, const char *const *texts, const size_t *lens, size_t n,
               float *out, pgmld_embed_done_cb done, void *data, pgmld_status_t *st);

  /* The length of every vector this model produces (1..2000). */
  uint32_t (*dimensions)(const pgmld_model_t *model);

  /* Frees the model.  No embed request may be in flight. */
  void (*close)(pgmld_model_t *model);
};

/* The provider registered under `name` (NULL or "" means
 * "builtin/lexical"), or NULL when none is. */
const pgmld_model_ops_t *pgmld_model_find(const char *name);

/* Finds the provider spec->name names and opens a model with it.  An
 * unknown name is INVALID_ARGUMENT "model.name: unknown model ...".
 * Ownership as for ops->open. */
PGMLD_MUST_CHECK int pgmld_model_open(const pgmld_model_spec_t *spec, pgmld_model_t **out,
                                      pgmld_status_t *st);

/* Checks dimensions against 1..PGMLD_MODEL_MAX_DIMENSIONS for the model
 * named `model_name`; INVALID_ARGUMENT naming model.dimensions and the
 * reason.  For providers. */
PGMLD_MUST_CHECK int pgmld__model_check_dimensions(uint32_t dimensions, const char *model_name,
                                                   pgmld_status_t *st);

/* See pgmld_model_ops_t.embed for the contract. */
PGMLD_MUST_CHECK static inline int pgmld_model_embed(pgmld_model_t *model,
                                                     const char *const *texts,
                                                     const size_t *lens, size_t n, float *out,
                                                     pgmld_embed_done_cb done, void *data,
                                                     pgmld_status_t *st) {
  return model->ops->embed(model, texts, lens, n, out, done, data, st);
}

static inline uint32_t pgmld_model_dimensions(const pgmld_model_t *model) {
  return model->ops->dimensions(model);
}

static inline const char *pgmld_model_name(const pgmld_model_t *model) { return model->ops->name; }

/* Frees the model; NULL is allowed.  No embed request may be in flight. */
static inline void pgmld_model_close(pgmld_model_t *model) {
  if (model != NULL)
    model->ops->close(model);
}

/* The providers, for the registry in model.c. */
extern const pgmld_model_ops_t pgmld__lexical_model_ops;
extern const pgmld_model_ops_t pgmld__client_model_ops;

#endif
