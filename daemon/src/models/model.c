/* model.c - the registry of embedding providers and the checks they share. */
#include "models/model.h"

#include <errno.h>
#include <string.h>

static const pgmld_model_ops_t *const providers[] = {
  &pgmld__lexical_model_ops,
  &pgmld__client_model_ops,
};

const pgmld_model_ops_t *pgmld_model_find(const char *name) {
  size_t i;

  if (name == NULL || name[0] == '\0')
    name = PGMLD_MODEL_DEFAULT_NAME;
  for (i = 0; i < PGMLD_ARRAY_LEN(providers); i++)
    if (strcmp(name, providers[i]->name) == 0)
      return providers[i];
  return NULL;
}

static int printable_ascii(const char *s, size_t max) {
  size_t i;

  for (i = 0; s[i] != '\0'; i++)
    if (i >= max || (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
      return 0;
  return 1;
}

int pgmld_model_open(const pgmld_model_spec_t *spec, pgmld_model_t **out, pgmld_status_t *st) {
  const pgmld_model_ops_t *ops = pgmld_model_find(spec->name);

  *out = NULL;
  if (ops == NULL) {
    /* Echo the name only when it is short printable ASCII, so the message
     * stays readable and valid UTF-8 whatever the client sent. */
    if (printable_ascii(spec->name, 64))
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "model.name: unknown model \"%s\" (known: builtin/lexical, client)",
                       spec->name);
    else
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "model.name: unknown model (known: builtin/lexical, client)");
    return -EINVAL;
  }
  return ops->open(spec, out, st);
}

int pgmld__model_check_dimensions(uint32_t dimensions, const char *model_name,
                                  pgmld_status_t *st) {
  if (dimensions == 0) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "model.dimensions: required for model %s (the length of its vectors)",
                     model_name);
    return -EINVAL;
  }
  if (dimensions > PGMLD_MODEL_MAX_DIMENSIONS) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "model.dimensions: %u is more than %u, the most pgvector's HNSW index "
                     "accepts for a vector column (every pipeline has one)",
                     dimensions, PGMLD_MODEL_MAX_DIMENSIONS);
    return -EINVAL;
  }
  return 0;
}
