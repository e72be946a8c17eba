/* spec.c - pipeline specs: an AddPipeline request validated into the stored JSON spec with its defaults, the splitter and model a spec opens, PipelineInfo from a spec. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "services/svc.h"

int pgmld__svc_pipeline_is_client(const pgmld_svc_pipeline_t *p)
{
  return strcmp(p->model_name, "client") == 0;
}

/* The splitter spec stored in a pipeline's spec ("splitter" object); the
 * separators are borrowed from the JSON and copied into `seps`. */
static void splitter_spec_of(const json_t *spec, pgmld_splitter_spec_t *out,
                             char **seps)
{
  json_t *sp = json_object_get(spec, "splitter");
  json_t *arr = json_object_get(sp, "separators");
  size_t i;

  memset(out, 0, sizeof(*out));
  out->name = json_string_value(json_object_get(sp, "name"));
  out->chunk_size = (uint32_t)json_integer_value(json_object_get(sp, "chunk_size"));
  out->chunk_overlap = (uint32_t)json_integer_value(json_object_get(sp, "chunk_overlap"));
  for (i = 0; i < json_array_size(arr) && i < PGMLD_SPLITTER_MAX_SEPARATORS; i++)
    seps[out->n_separators++] = (char *)json_string_value(json_array_get(arr, i));
  out->separators = seps;
}

int pgmld__svc_pipeline_open(pgmld_svc_pipeline_t *p, pgmld_status_t *st)
{
  pgmld_splitter_spec_t sspec;
  char *seps[PGMLD_SPLITTER_MAX_SEPARATORS];
  pgmld_model_spec_t mspec;

  if (p->splitter == NULL) {
    splitter_spec_of(p->spec, &sspec, seps);
    if (pgmld_splitter_new(&sspec, &p->splitter, st) < 0)
      return -EINVAL;
  }
  if (p->model == NULL) {
    mspec.name = p->model_name;
    mspec.dimensions = p->dimensions;
    if (pgmld_model_open(&mspec, &p->model, st) < 0)
      return -EINVAL;
  }
  return 0;
}

json_t *pgmld__svc_spec_build(const Pgml__V1__AddPipelineRequest *req, uint32_t *dims,
                              pgmld_status_t *st)
{
  pgmld_splitter_spec_t sspec;
  const pgmld_splitter_spec_t *full;
  pgmld_splitter_t *sp = NULL;
  pgmld_model_spec_t mspec;
  pgmld_model_t *model = NULL;
  json_t *spec = NULL, *seps = NULL;
  uint32_t m = 16, efc = 64;
  const char *text_field = "text";
  size_t i;

  /* jansson refuses invalid UTF-8 (json_string() gives NULL), and so
   * does PostgreSQL: checked first, so that the message names the field. */
  if (pgmld__svc_check_utf8(req->fulltext_config, "fulltext_config", st) < 0 ||
      pgmld__svc_check_utf8(req->text_field, "text_field", st) < 0 ||
      (req->model != NULL && pgmld__svc_check_utf8(req->model->name, "model.name", st) < 0))
    return NULL;
  if (req->splitter != NULL) {
    char what[48];

    if (pgmld__svc_check_utf8(req->splitter->name, "splitter.name", st) < 0)
      return NULL;
    for (i = 0; i < req->splitter->n_separators; i++) {
      snprintf(what, sizeof(what), "splitter.separators[%zu]", i);
      if (pgmld__svc_check_utf8(req->splitter->separators[i], what, st) < 0)
        return NULL;
    }
  }
  memset(&sspec, 0, sizeof(sspec));
  if (req->splitter != NULL) {
    sspec.name = req->splitter->name != NULL && req->splitter->name[0] ? req->splitter->name : NULL;
    sspec.chunk_size = req->splitter->chunk_size;
    sspec.chunk_overlap = req->splitter->chunk_overlap;
    sspec.n_separators = req->splitter->n_separators;
    sspec.separators = req->splitter->separators;
  }
  if (pgmld_splitter_new(&sspec, &sp, st) < 0)
    return NULL;
  full = pgmld_splitter_spec(sp);

  mspec.name = req->model != NULL && req->model->name != NULL && req->model->name[0]
                   ? req->model->name : PGMLD_MODEL_DEFAULT_NAME;
  mspec.dimensions = req->model != NULL ? req->model->dimensions : 0;
  if (pgmld_model_open(&mspec, &model, st) < 0)
    goto out;
  *dims = pgmld_model_dimensions(model);

  if (req->hnsw != NULL) {
    if (req->hnsw->m != 0)
      m = req->hnsw->m;
    if (req->hnsw->ef_construction != 0)
      efc = req->hnsw->ef_construction;
  }
  /* pgvector's own ranges: m 2..100, ef_construction 4..1000 and at least
   * 2 * m; checked here so that the message names the field. */
  if (m < 2 || m > 100) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "hnsw.m: %u is out of range (2 to 100)", m);
    goto out;
  }
  if (efc < 4 || efc > 1000 || efc < 2 * m) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "hnsw.ef_construction: %u is out of range (4 to 1000, and at least 2 * hnsw.m = %u)",
                     efc, 2 * m);
    goto out;
  }
  if (req->text_field != NULL && req->text_field[0] != '\0')
    text_field = req->text_field;
  if (strlen(text_field) > 255) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "text_field: longer than 255 bytes");
    goto out;
  }
  if (req->fulltext_config != NULL && strlen(req->fulltext_config) > 255) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "fulltext_config: longer than 255 bytes");
    goto out;
  }

  seps = json_array();
  if (seps == NULL)
    goto nomem;
  for (i = 0; i < full->n_separators; i++)
    if (json_array_append_new(seps, json_string(full->separators[i])) < 0)
      goto nomem;
  spec = json_pack("{s:{s:s,s:I,s:I,s:O},s:{s:s,s:I},s:{s:I,s:I},s:s,s:s}",
                   "splitter", "name", full->name, "chunk_size", (json_int_t)full->chunk_size,
                   "chunk_overlap", (json_int_t)full->chunk_overlap, "separators", seps,
                   "model", "name", pgmld_model_name(model), "dimensions", (json_int_t)*dims,
                   "hnsw", "m", (json_int_t)m, "ef_construction", (json_int_t)efc,
                   "fulltext_config", req->fulltext_config != NULL ? req->fulltext_config : "",
                   "text_field", text_field);
  if (spec == NULL)
    goto nomem;
  goto out;

nomem:
  pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory building the pipeline spec");
out:
  if (seps != NULL)
    json_decref(seps);
  pgmld_model_close(model);
  pgmld_splitter_free(sp);
  return spec;
}

void pgmld__svc_pipeline_info(const pgmld_svc_pipeline_t *p, const char *collection,
                              pgmld_svc_pipeline_info_t *out)
{
  static const Pgml__V1__PipelineInfo info_init = PGML__V1__PIPELINE_INFO__INIT;
  static const Pgml__V1__SplitterSpec splitter_init = PGML__V1__SPLITTER_SPEC__INIT;
  static const Pgml__V1__ModelSpec model_init = PGML__V1__MODEL_SPEC__INIT;
  static const Pgml__V1__HnswSpec hnsw_init = PGML__V1__HNSW_SPEC__INIT;
  json_t *sp = json_object_get(p->spec, "splitter");
  json_t *hnsw = json_object_get(p->spec, "hnsw");
  json_t *seps = json_object_get(sp, "separators");
  size_t i;

  out->info = info_init;
  out->splitter = splitter_init;
  out->model = model_init;
  out->hnsw = hnsw_init;
  out->info.collection = (char *)collection;
  out->info.name = p->name;
  out->splitter.name = (char *)json_string_value(json_object_get(sp, "name"));
  if (out->splitter.name == NULL)
    out->splitter.name = (char *)"";
  out->splitter.chunk_size = (uint32_t)json_integer_value(json_object_get(sp, "chunk_size"));
  out->splitter.chunk_overlap = (uint32_t)json_integer_value(json_object_get(sp, "chunk_overlap"));
  for (i = 0; i < json_array_size(seps) && i < PGMLD_SPLITTER_MAX_SEPARATORS; i++) {
    const char *s = json_string_value(json_array_get(seps, i));

    out->separators[i] = (char *)(s != NULL ? s : "");
  }
  out->splitter.n_separators = i;
  out->splitter.separators = out->separators;
  out->model.name = (char *)p->model_name;
  out->model.dimensions = p->dimensions;
  out->hnsw.m = (uint32_t)json_integer_value(json_object_get(hnsw, "m"));
  out->hnsw.ef_construction = (uint32_t)json_integer_value(json_object_get(hnsw, "ef_construction"));
  out->info.splitter = &out->splitter;
  out->info.model = &out->model;
  out->info.hnsw = &out->hnsw;
  out->info.fulltext_config = (char *)p->fulltext_config;
  out->info.text_field = (char *)p->text_field;
  out->info.enabled = p->enabled != 0;
  out->info.created_at_ms = p->created_at_ms;
}
