/* client.c - the "client" model: the client supplies every vector, so the daemon never embeds. */
#include <errno.h>

#include "core/alloc.h"
#include "models/model.h"

typedef struct client_model_s {
  pgmld_model_t base;   /* first: a pgmld_model_t * points here */
  uint32_t dims;
} client_model_t;

/* Dimensions have no default: only the client knows its vectors' length. */
static int client_open(const pgmld_model_spec_t *spec, pgmld_model_t **out, pgmld_status_t *st) {
  client_model_t *m;

  *out = NULL;
  if (pgmld__model_check_dimensions(spec->dimensions, pgmld__client_model_ops.name, st) < 0)
    return -EINVAL;
  m = pgmld_calloc(1, sizeof(*m));
  if (m == NULL) {
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "model %s: out of memory",
                     pgmld__client_model_ops.name);
    return -ENOMEM;
  }
  m->base.ops = &pgmld__client_model_ops;
  m->dims = spec->dimensions;
  *out = &m->base;
  return 0;
}

/* Refused at once, so done is never called. */
static int client_embed(pgmld_model_t *model, const char *const *texts, const size_t *lens,
                        size_t n, float *out, pgmld_embed_done_cb done, void *data,
                        pgmld_status_t *st) {
  pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "pipeline model is client: send vectors");
  return -EINVAL;
}

static uint32_t client_dimensions(const pgmld_model_t *model) {
  return ((const client_model_t *)model)->dims;
}

static void client_close(pgmld_model_t *model) { pgmld_free(model); }

const pgmld_model_ops_t pgmld__client_model_ops = {
  .name = "client",
  .open = client_open,
  .embed = client_embed,
  .dimensions = client_dimensions,
  .close = client_close,
};
