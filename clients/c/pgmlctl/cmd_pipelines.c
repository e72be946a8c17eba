/* cmd_pipelines.c - pgmlctl pipelines add, list, status, enable, disable
 * and remove. */
#include <stdlib.h>
#include <string.h>

#include <pgml/database.h>

#include "output.h"
#include "pgmlctl.h"

#define MAX_SEPARATORS 32

static json_t *pipeline_json(const pgml_v1_PipelineInfo *p)
{
  json_t *seps = json_array();

  for (pb_size_t i = 0; seps != NULL && i < p->splitter.separators_count; i++)
    json_array_append_new(seps, json_string(pgmlctl_str(p->splitter.separators[i])));
  return json_pack("{s:s, s:s, s:b, s:{s:s, s:I, s:I, s:o}, s:{s:s, s:I}, s:{s:I, s:I}, "
                   "s:s, s:s, s:I}",
                   "collection", pgmlctl_str(p->collection), "name", pgmlctl_str(p->name),
                   "enabled", p->enabled,
                   "splitter", "name", pgmlctl_str(p->splitter.name), "chunk_size",
                   (json_int_t)p->splitter.chunk_size, "chunk_overlap",
                   (json_int_t)p->splitter.chunk_overlap, "separators", seps,
                   "model", "name", pgmlctl_str(p->model.name), "dimensions",
                   (json_int_t)p->model.dimensions,
                   "hnsw", "m", (json_int_t)p->hnsw.m, "ef_construction",
                   (json_int_t)p->hnsw.ef_construction,
                   "fulltext_config", pgmlctl_str(p->fulltext_config), "text_field",
                   pgmlctl_str(p->text_field), "created_at_ms", (json_int_t)p->created_at_ms);
}

static void print_pipeline(const pgml_v1_PipelineInfo *p)
{
  char when[32];

  pgmlctl_format_time(p->created_at_ms, when, sizeof(when));
  printf("pipeline %s of %s (%s, created %s)\n", pgmlctl_str(p->name), pgmlctl_str(p->collection),
         p->enabled ? "enabled" : "disabled", when);
  printf("  splitter  %s, chunk_size %u, chunk_overlap %u\n", pgmlctl_str(p->splitter.name),
         p->splitter.chunk_size, p->splitter.chunk_overlap);
  printf("  model     %s, %u dimensions\n", pgmlctl_str(p->model.name), p->model.dimensions);
  printf("  hnsw      m %u, ef_construction %u\n", p->hnsw.m, p->hnsw.ef_construction);
  printf("  fulltext  %s\n", p->fulltext_config != NULL && p->fulltext_config[0] != '\0'
                                 ? p->fulltext_config : "(none)");
  printf("  text      field \"%s\"\n", pgmlctl_str(p->text_field));
}

/* Makes `method`, which answers a PipelineInfo, and shows that pipeline. */
static int call_show_pipeline(pgmlctl_ctx_t *ctx, const char *method,
                              const pb_msgdesc_t *req_type, const void *req)
{
  pgml_v1_PipelineInfo p = pgml_v1_PipelineInfo_init_zero;
  int status;

  status = pgmlctl_call(ctx, method, req_type, req, pgml_v1_PipelineInfo_fields, &p);
  if (status != 0)
    return status;
  if (ctx->json)
    status = pgmlctl_json_out(pipeline_json(&p));
  else
    print_pipeline(&p);
  pb_release(pgml_v1_PipelineInfo_fields, &p);
  return status;
}

/* A copy of `s` with \n, \t, \r and \\ turned into what they stand for.
 * NULL when out of memory. */
static char *unescape(const char *s)
{
  char *out = malloc(strlen(s) + 1), *o = out;

  if (out == NULL)
    return NULL;
  for (; *s != '\0'; s++) {
    if (s[0] == '\\' && s[1] != '\0') {
      char e = s[1];
      *o++ = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
      s++;
    } else {
      *o++ = *s;
    }
  }
  *o = '\0';
  return out;
}

int pgmlctl_cmd_pipelines_add(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_AddPipelineRequest req = pgml_v1_AddPipelineRequest_init_zero;
  const char *raw[MAX_SEPARATORS];
  char *seps[MAX_SEPARATORS] = {0};
  const char *splitter = NULL, *model = NULL;
  unsigned nsep;
  int status = PGMLCTL_EXIT_USAGE;

  req.collection = (char *)a->operands[0];
  req.name = (char *)a->operands[1];
  nsep = pgmlctl_arg_list(a, "separator", raw, MAX_SEPARATORS);
  if (nsep > MAX_SEPARATORS) {
    fprintf(stderr, "pgmlctl: --separator: at most %u, got %u\n", MAX_SEPARATORS, nsep);
    return PGMLCTL_EXIT_USAGE;
  }
  if (pgmlctl_arg_choice(a, "splitter", &splitter) < 0 ||
      pgmlctl_arg_choice(a, "model", &model) < 0 ||
      pgmlctl_arg_u32(a, "chunk-size", 1, 1000000, &req.splitter.chunk_size) < 0 ||
      pgmlctl_arg_u32(a, "chunk-overlap", 0, 1000000, &req.splitter.chunk_overlap) < 0 ||
      pgmlctl_arg_u32(a, "dimensions", 1, 16000, &req.model.dimensions) < 0 ||
      pgmlctl_arg_u32(a, "hnsw-m", 2, 100, &req.hnsw.m) < 0 ||
      pgmlctl_arg_u32(a, "hnsw-ef-construction", 4, 1000, &req.hnsw.ef_construction) < 0)
    return PGMLCTL_EXIT_USAGE;
  req.splitter.name = (char *)splitter;
  req.model.name = (char *)model;
  req.has_splitter = splitter != NULL || nsep > 0 || pgmlctl_arg(a, "chunk-size") != NULL ||
                     pgmlctl_arg(a, "chunk-overlap") != NULL;
  req.has_model = model != NULL || pgmlctl_arg(a, "dimensions") != NULL;
  req.has_hnsw = pgmlctl_arg(a, "hnsw-m") != NULL ||
                 pgmlctl_arg(a, "hnsw-ef-construction") != NULL;
  req.fulltext_config = (char *)pgmlctl_arg(a, "fulltext");
  req.text_field = (char *)pgmlctl_arg(a, "text-field");

  for (unsigned i = 0; i < nsep; i++) {
    if ((seps[i] = unescape(raw[i])) == NULL) {
      fprintf(stderr, "pgmlctl: out of memory\n");
      status = PGMLCTL_EXIT_LOCAL;
      goto out;
    }
  }
  req.splitter.separators_count = (pb_size_t)nsep;
  req.splitter.separators = nsep > 0 ? seps : NULL;

  status = call_show_pipeline(ctx, PGML_DATABASE_ADD_PIPELINE, pgml_v1_AddPipelineRequest_fields,
                              &req);
out:
  for (unsigned i = 0; i < nsep; i++)
    free(seps[i]);
  return status;
}

int pgmlctl_cmd_pipelines_list(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_ListPipelinesRequest req = {.collection = (char *)a->operands[0]};
  pgml_v1_ListPipelinesResponse r = pgml_v1_ListPipelinesResponse_init_zero;
  int status;

  status = pgmlctl_call(ctx, PGML_DATABASE_LIST_PIPELINES, pgml_v1_ListPipelinesRequest_fields,
                        &req, pgml_v1_ListPipelinesResponse_fields, &r);
  if (status != 0)
    return status;
  if (ctx->json) {
    json_t *arr = json_array();
    for (pb_size_t i = 0; i < r.pipelines_count; i++)
      pgmlctl_json_push(&arr, pipeline_json(&r.pipelines[i]));
    status = pgmlctl_json_out(arr);
  } else {
    static const char *const head[] = {"NAME", "ENABLED", "SPLITTER", "MODEL", "DIMS",
                                       "FULLTEXT"};
    pgmlctl_table_t *t = pgmlctl_table_new(6, head);
    for (pb_size_t i = 0; i < r.pipelines_count; i++) {
      const pgml_v1_PipelineInfo *p = &r.pipelines[i];
      char dims[16];
      snprintf(dims, sizeof(dims), "%u", p->model.dimensions);
      const char *row[] = {p->name, p->enabled ? "yes" : "no", p->splitter.name, p->model.name,
                           dims, p->fulltext_config};
      pgmlctl_table_row(&t, row);
    }
    status = pgmlctl_table_finish(t, pgmlctl_term_width(), "(no pipelines in %s)",
                                  a->operands[0]);
  }
  pb_release(pgml_v1_ListPipelinesResponse_fields, &r);
  return status;
}

int pgmlctl_cmd_pipelines_status(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_PipelineStatusRequest req = {.collection = (char *)a->operands[0],
                                       .name = (char *)a->operands[1]};
  pgml_v1_PipelineStatusResponse r = pgml_v1_PipelineStatusResponse_init_zero;
  int status;

  status = pgmlctl_call(ctx, PGML_DATABASE_PIPELINE_STATUS, pgml_v1_PipelineStatusRequest_fields,
                        &req, pgml_v1_PipelineStatusResponse_fields, &r);
  if (status != 0)
    return status;
  if (ctx->json) {
    status = pgmlctl_json_out(json_pack(
        "{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "name", pgmlctl_str(r.name), "enabled",
        r.enabled, "documents", (json_int_t)r.documents, "documents_embedded",
        (json_int_t)r.documents_embedded, "documents_pending", (json_int_t)r.documents_pending,
        "chunks", (json_int_t)r.chunks, "chunks_embedded", (json_int_t)r.chunks_embedded,
        "chunks_pending", (json_int_t)r.chunks_pending));
  } else {
    printf("pipeline %s of %s: %s\n", pgmlctl_str(r.name), a->operands[0],
           r.enabled ? "enabled" : "disabled");
    printf("  documents  %llu (%llu embedded, %llu pending)\n", (unsigned long long)r.documents,
           (unsigned long long)r.documents_embedded, (unsigned long long)r.documents_pending);
    printf("  chunks     %llu (%llu embedded, %llu pending)\n", (unsigned long long)r.chunks,
           (unsigned long long)r.chunks_embedded, (unsigned long long)r.chunks_pending);
  }
  pb_release(pgml_v1_PipelineStatusResponse_fields, &r);
  return status;
}

/* enable and disable answer a PipelineInfo; remove answers nothing. */
int pgmlctl_cmd_pipelines_enable(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_EnablePipelineRequest req = {.collection = (char *)a->operands[0],
                                       .name = (char *)a->operands[1]};

  return call_show_pipeline(ctx, PGML_DATABASE_ENABLE_PIPELINE,
                            pgml_v1_EnablePipelineRequest_fields, &req);
}

int pgmlctl_cmd_pipelines_disable(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_DisablePipelineRequest req = {.collection = (char *)a->operands[0],
                                        .name = (char *)a->operands[1]};

  return call_show_pipeline(ctx, PGML_DATABASE_DISABLE_PIPELINE,
                            pgml_v1_DisablePipelineRequest_fields, &req);
}

int pgmlctl_cmd_pipelines_remove(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_RemovePipelineRequest req = {.collection = (char *)a->operands[0],
                                       .name = (char *)a->operands[1]};
  pgml_v1_RemovePipelineResponse r = pgml_v1_RemovePipelineResponse_init_zero;
  int status;

  status = pgmlctl_call(ctx, PGML_DATABASE_REMOVE_PIPELINE, pgml_v1_RemovePipelineRequest_fields,
                        &req, pgml_v1_RemovePipelineResponse_fields, &r);
  if (status != 0)
    return status;
  pb_release(pgml_v1_RemovePipelineResponse_fields, &r);
  return pgmlctl_report(ctx, json_pack("{s:s, s:s, s:b}", "collection", a->operands[0], "name",
                                       a->operands[1], "removed", 1),
                        "removed pipeline %s of %s", a->operands[1], a->operands[0]);
}
