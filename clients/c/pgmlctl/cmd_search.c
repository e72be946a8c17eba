/* cmd_search.c - pgmlctl search: vector, full-text or hybrid, shown as a
 * table, tab-separated lines or JSON. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pgml/database.h>

#include "output.h"
#include "pgmlctl.h"

#define MAX_VECTOR 16000u   /* pgvector's HNSW limit is lower; the server says */

/* Parses --vector's JSON array into a new float array.  Returns 0 (with
 * *out owned by the caller) or -EINVAL after printing why. */
static int parse_vector(const char *text, float **out, pb_size_t *n)
{
  json_error_t err;
  json_t *v = json_loads(text, 0, &err);
  size_t i, len;
  float *f;

  if (v == NULL || !json_is_array(v) || (len = json_array_size(v)) == 0 || len > MAX_VECTOR) {
    fprintf(stderr, "pgmlctl: --vector: expected a JSON array of 1 to %u numbers%s%s\n",
            MAX_VECTOR, v == NULL ? ": " : "", v == NULL ? err.text : "");
    json_decref(v);
    return -EINVAL;
  }
  if ((f = malloc(len * sizeof(*f))) == NULL) {
    json_decref(v);
    fprintf(stderr, "pgmlctl: out of memory\n");
    return -ENOMEM;
  }
  for (i = 0; i < len; i++) {
    json_t *x = json_array_get(v, i);
    if (!json_is_number(x)) {
      fprintf(stderr, "pgmlctl: --vector: element %zu is not a number\n", i);
      free(f);
      json_decref(v);
      return -EINVAL;
    }
    f[i] = (float)json_number_value(x);
  }
  json_decref(v);
  *out = f;
  *n = (pb_size_t)len;
  return 0;
}

static int show(const pgmlctl_ctx_t *ctx, const pgml_v1_SearchResponse *r)
{
  if (ctx->json) {
    json_t *arr = json_array();
    for (pb_size_t i = 0; i < r->results_count; i++) {
      const pgml_v1_SearchResult *h = &r->results[i];
      pgmlctl_json_push(&arr, json_pack("{s:f, s:s, s:I, s:s, s:o}", "score", h->score,
                                        "document_id", pgmlctl_str(h->document_id),
                                        "chunk_index", (json_int_t)h->chunk_index, "chunk",
                                        pgmlctl_str(h->chunk), "metadata",
                                        pgmlctl_json_field(h->metadata)));
    }
    return pgmlctl_json_out(arr);
  }
  if (!ctx->stdout_tty) {
    for (pb_size_t i = 0; i < r->results_count; i++) {
      const pgml_v1_SearchResult *h = &r->results[i];
      printf("%.6f\t%s\t%u\t", h->score, pgmlctl_str(h->document_id), h->chunk_index);
      for (const char *p = pgmlctl_str(h->chunk); *p != '\0'; p++)
        putchar(*p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p);
      putchar('\n');
    }
    return PGMLCTL_EXIT_OK;
  }
  static const char *const head[] = {"#", "SCORE", "DOCUMENT", "CHUNK", "METADATA", "TEXT"};
  pgmlctl_table_t *t = pgmlctl_table_new(6, head);
  for (pb_size_t i = 0; i < r->results_count; i++) {
    const pgml_v1_SearchResult *h = &r->results[i];
    char rank[16], score[32], chunk[16];
    snprintf(rank, sizeof(rank), "%u", (unsigned)i + 1);
    snprintf(score, sizeof(score), "%.4f", h->score);
    snprintf(chunk, sizeof(chunk), "%u", h->chunk_index);
    const char *row[] = {rank, score, h->document_id, chunk, h->metadata, h->chunk};
    pgmlctl_table_row(&t, row);
  }
  return pgmlctl_table_finish(t, pgmlctl_term_width(), "(no results)");
}

int pgmlctl_cmd_search(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_SearchResponse r = pgml_v1_SearchResponse_init_zero;
  const char *mode = "vector", *filter = pgmlctl_arg(a, "filter");
  const char *query = a->n_operands > 1 ? a->operands[1] : NULL;
  const char *vec_text = pgmlctl_arg(a, "vector");
  uint32_t top_k = 0, ef = 0;
  float sw = 0, kw = 0, *vec = NULL;
  pb_size_t nvec = 0;
  int status;

  if (pgmlctl_arg_choice(a, "mode", &mode) < 0 ||
      pgmlctl_arg_u32(a, "top-k", 1, 100000, &top_k) < 0 ||
      pgmlctl_arg_u32(a, "ef-search", 1, 1000, &ef) < 0 ||
      pgmlctl_arg_float(a, "semantic-weight", 0.0f, 1000.0f, &sw) < 0 ||
      pgmlctl_arg_float(a, "keyword-weight", 0.0f, 1000.0f, &kw) < 0)
    return PGMLCTL_EXIT_USAGE;
  if (filter != NULL) {
    json_error_t err;
    json_t *f = json_loads(filter, 0, &err);
    bool ok = json_is_object(f);
    json_decref(f);
    if (!ok) {
      fprintf(stderr, "pgmlctl: --filter: expected a JSON object%s%s\n", f == NULL ? ": " : "",
              f == NULL ? err.text : "");
      return PGMLCTL_EXIT_USAGE;
    }
  }
  /* Options that the chosen RPC has no field for are refused, not dropped. */
  static const struct {
    const char *opt, *modes;
  } applies[] = {
    {"vector", "vector hybrid"}, {"ef-search", "vector hybrid"}, {"exact", "vector"},
    {"semantic-weight", "hybrid"}, {"keyword-weight", "hybrid"},
  };
  for (size_t i = 0; i < sizeof(applies) / sizeof(applies[0]); i++) {
    if (pgmlctl_arg(a, applies[i].opt) != NULL && strstr(applies[i].modes, mode) == NULL) {
      fprintf(stderr, "pgmlctl: --%s does not apply to --mode %s (only %s)\n", applies[i].opt,
              mode, applies[i].modes);
      return PGMLCTL_EXIT_USAGE;
    }
  }
  if (query == NULL && vec_text == NULL) {
    fprintf(stderr, "pgmlctl: search: give a QUERY%s (see --help)\n",
            strcmp(mode, "text") == 0 ? "" : " or --vector");
    return PGMLCTL_EXIT_USAGE;
  }
  if (vec_text != NULL && parse_vector(vec_text, &vec, &nvec) < 0)
    return PGMLCTL_EXIT_USAGE;

  if (strcmp(mode, "text") == 0) {
    pgml_v1_TextSearchRequest req = {
      .collection = (char *)a->operands[0], .query = (char *)query, .top_k = top_k,
      .filter = (char *)filter, .pipeline = (char *)pgmlctl_arg(a, "pipeline")};
    status = pgmlctl_call(ctx, PGML_DATABASE_TEXT_SEARCH, pgml_v1_TextSearchRequest_fields, &req,
                          pgml_v1_SearchResponse_fields, &r);
  } else if (strcmp(mode, "hybrid") == 0) {
    pgml_v1_HybridSearchRequest req = {
      .collection = (char *)a->operands[0], .query = (char *)query, .vector_count = nvec,
      .vector = vec, .top_k = top_k, .filter = (char *)filter, .semantic_weight = sw,
      .keyword_weight = kw, .ef_search = ef, .pipeline = (char *)pgmlctl_arg(a, "pipeline")};
    status = pgmlctl_call(ctx, PGML_DATABASE_HYBRID_SEARCH, pgml_v1_HybridSearchRequest_fields,
                          &req, pgml_v1_SearchResponse_fields, &r);
  } else {
    pgml_v1_VectorSearchRequest req = {
      .collection = (char *)a->operands[0], .query = (char *)query, .vector_count = nvec,
      .vector = vec, .top_k = top_k, .filter = (char *)filter, .ef_search = ef,
      .pipeline = (char *)pgmlctl_arg(a, "pipeline"), .exact = pgmlctl_arg_flag(a, "exact")};
    status = pgmlctl_call(ctx, PGML_DATABASE_VECTOR_SEARCH, pgml_v1_VectorSearchRequest_fields,
                          &req, pgml_v1_SearchResponse_fields, &r);
  }
  free(vec);
  if (status != 0)
    return status;
  status = show(ctx, &r);
  pb_release(pgml_v1_SearchResponse_fields, &r);
  return status;
}
