/* test_chunks.c - the services' pure parts (services/catalog.c, chunks.c) without a database: spec defaults and checks, chunking, embedding, chunk INSERTs, and every allocation failing in turn. */
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
#include "services/svc.h"

/* Fills p from a spec built by pgmld__svc_spec_build() (p takes the
 * reference), as the catalog does from a stored row. */
static void pipeline_from(pgmld_svc_pipeline_t *p, json_t *spec, uint32_t dims, int64_t id)
{
  memset(p, 0, sizeof(*p));
  p->id = id;
  p->name = (char *)"p";
  p->enabled = 1;
  p->dimensions = dims;
  p->spec = spec;
  p->model_name = json_string_value(json_object_get(json_object_get(spec, "model"), "name"));
  p->fulltext_config = json_string_value(json_object_get(spec, "fulltext_config"));
  p->text_field = json_string_value(json_object_get(spec, "text_field"));
}

static void pipeline_done(pgmld_svc_pipeline_t *p)
{
  json_decref(p->spec);
  if (p->splitter != NULL)
    pgmld_splitter_free(p->splitter);
  pgmld_model_close(p->model);
}

static void spec_defaults(void **state)
{
  Pgml__V1__AddPipelineRequest req = PGML__V1__ADD_PIPELINE_REQUEST__INIT;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  uint32_t dims = 0;
  json_t *spec, *sp;
  char *text;

  (void)state;
  req.collection = (char *)"c";
  req.name = (char *)"p";
  spec = pgmld__svc_spec_build(&req, &dims, &st);
  assert_non_null(spec);
  assert_int_equal(dims, 384);
  sp = json_object_get(spec, "splitter");
  assert_string_equal(json_string_value(json_object_get(sp, "name")), "recursive_character");
  assert_int_equal(json_integer_value(json_object_get(sp, "chunk_size")), 1000);
  assert_int_equal(json_integer_value(json_object_get(sp, "chunk_overlap")), 0);
  assert_int_equal(json_array_size(json_object_get(sp, "separators")), 4);
  assert_string_equal(json_string_value(json_object_get(json_object_get(spec, "model"), "name")),
                      "builtin/lexical");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(spec, "hnsw"), "m")), 16);
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(spec, "hnsw"), "ef_construction")), 64);
  assert_string_equal(json_string_value(json_object_get(spec, "text_field")), "text");
  assert_string_equal(json_string_value(json_object_get(spec, "fulltext_config")), "");
  text = json_dumps(spec, JSON_COMPACT);
  assert_non_null(text);
  pgmld_free(text);
  json_decref(spec);
}

static void spec_errors(void **state)
{
  static const struct {
    const char *model;
    uint32_t dims, m, efc, chunk_size, overlap;
    const char *field;
  } cases[] = {
    {"client", 0, 0, 0, 0, 0, "dimensions"},
    {"nope", 0, 0, 0, 0, 0, "model"},
    {"", 2001, 0, 0, 0, 0, "dimensions"},
    {"", 0, 1, 0, 0, 0, "hnsw.m"},
    {"", 0, 101, 0, 0, 0, "hnsw.m"},
    {"", 0, 40, 64, 0, 0, "hnsw.ef_construction"},
    {"", 0, 0, 1001, 0, 0, "hnsw.ef_construction"},
    {"", 0, 0, 0, 100, 100, "chunk_overlap"},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    Pgml__V1__AddPipelineRequest req = PGML__V1__ADD_PIPELINE_REQUEST__INIT;
    Pgml__V1__ModelSpec model = PGML__V1__MODEL_SPEC__INIT;
    Pgml__V1__HnswSpec hnsw = PGML__V1__HNSW_SPEC__INIT;
    Pgml__V1__SplitterSpec sp = PGML__V1__SPLITTER_SPEC__INIT;
    pgmld_status_t st = PGMLD_STATUS_INIT;
    uint32_t dims = 0;

    model.name = (char *)cases[i].model;
    model.dimensions = cases[i].dims;
    hnsw.m = cases[i].m;
    hnsw.ef_construction = cases[i].efc;
    sp.chunk_size = cases[i].chunk_size;
    sp.chunk_overlap = cases[i].overlap;
    req.model = &model;
    req.hnsw = &hnsw;
    req.splitter = &sp;
    assert_null(pgmld__svc_spec_build(&req, &dims, &st));
    assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
    if (strstr(st.message, cases[i].field) == NULL)
      fail_msg("case %zu: \"%s\" does not name %s", i, st.message, cases[i].field);
  }
}

static void embedded_cb(const pgmld_status_t *st, void *data)
{
  int *calls = data;

  assert_int_equal(st->code, PGMLD_OK);
  (*calls)++;
}

/* Spec, split, embed and build the INSERTs for three documents; returns 0
 * or the first failure (for the fault-injection loop), freeing everything
 * either way. */
static int run_pipeline(int check, pgmld_status_t *st)
{
  Pgml__V1__AddPipelineRequest req = PGML__V1__ADD_PIPELINE_REQUEST__INIT;
  Pgml__V1__SplitterSpec sp = PGML__V1__SPLITTER_SPEC__INIT;
  static const char t0[] = "alpha beta gamma delta epsilon zeta eta theta iota kappa";
  static const char t2[] = "short";
  pgmld_svc_doc_t docs[3] = {{"d0", t0, sizeof(t0) - 1, NULL, 0},
                             {"d1", NULL, 0, NULL, 0},
                             {"d2", t2, sizeof(t2) - 1, NULL, 0}};
  pgmld_svc_pipeline_t p;
  pgmld_svc_chunks_t chunks;
  pgmld_svc_batch_t batch = {0};
  uint32_t dims = 0;
  json_t *spec;
  int rc, calls = 0;

  sp.chunk_size = 20;
  req.splitter = &sp;
  req.fulltext_config = (char *)"english";
  spec = pgmld__svc_spec_build(&req, &dims, st);
  if (spec == NULL)
    return -1;
  pipeline_from(&p, spec, dims, 7);
  rc = pgmld__svc_chunk_docs(&p, docs, 3, &chunks, st);
  if (rc == 0)
    rc = pgmld__svc_embed_chunks(&p, &chunks, embedded_cb, &calls, st);
  if (rc == 0)
    rc = pgmld__svc_chunks_insert_sql(&batch, &p, 42, docs, &chunks, st);
  if (rc == 0 && check) {
    const char *sql;
    size_t k, last;

    /* "alpha ... kappa" in chunks of at most 20 characters, nothing for
     * the document without text, one for "short" */
    assert_int_equal(calls, 1);
    assert_true(chunks.embedded);
    assert_true(chunks.n >= 4);
    last = chunks.n - 1;
    for (k = 0; k < last; k++) {
      assert_int_equal(chunks.doc[k], 0);
      assert_int_equal(chunks.index[k], k);
      assert_true(chunks.len[k] <= 20);
    }
    assert_int_equal(chunks.doc[last], 2);
    assert_int_equal(chunks.index[last], 0);
    assert_int_equal(chunks.len[last], 5);
    assert_int_equal(batch.n, 1);
    sql = pgmld_sqlbuf_sql(&batch.sb[0]);
    assert_non_null(strstr(sql, "INSERT INTO pgmld.\"chunks_7\""));
    /* the collection id, then the ids, chunk indexes and texts as three
     * arrays, the config, and one binary parameter per vector */
    assert_non_null(strstr(sql, "to_tsvector($5::regconfig"));
    assert_non_null(strstr(sql, "d.collection_id = $1 AND d.doc_id = u.doc_id"));
    assert_non_null(strstr(sql, "unnest($2::text[], $3::int4[], $4::text[], ARRAY[$6::vector,"));
    assert_null(strstr(sql, "alpha"));   /* values are parameters */
    assert_int_equal(batch.sb[0].n_params, 5 + (int)chunks.n);
    assert_string_equal(batch.sb[0].values[0], "42");
    assert_int_equal(batch.sb[0].types[2], 1007);            /* int4[] */
    assert_non_null(strstr(batch.sb[0].values[3], "\"alpha"));
    assert_int_equal(batch.sb[0].formats[5], PGMLD_SQL_FORMAT_BINARY);
    assert_int_equal(batch.sb[0].formats[5 + chunks.n - 1], PGMLD_SQL_FORMAT_BINARY);
  }
  pgmld__svc_batch_free(&batch);
  pgmld__svc_chunks_free(&chunks);
  pipeline_done(&p);
  return rc;
}

static void chunks_and_inserts(void **state)
{
  pgmld_status_t st = PGMLD_STATUS_INIT;

  (void)state;
  assert_int_equal(run_pipeline(1, &st), 0);
}

/* A "client" pipeline: one chunk per document, its vector as sent; a
 * document sent without one stays pending (NULL embedding). */
static void client_pipeline(void **state)
{
  Pgml__V1__AddPipelineRequest req = PGML__V1__ADD_PIPELINE_REQUEST__INIT;
  Pgml__V1__ModelSpec model = PGML__V1__MODEL_SPEC__INIT;
  static const float v[3] = {1, 2, 3};
  pgmld_svc_doc_t docs[2] = {{"a", "text a", 6, v, 3}, {"b", NULL, 0, NULL, 0}};
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_svc_pipeline_t p;
  pgmld_svc_chunks_t chunks;
  pgmld_svc_batch_t batch = {0};
  uint32_t dims = 0;
  json_t *spec;

  (void)state;
  model.name = (char *)"client";
  model.dimensions = 3;
  req.model = &model;
  spec = pgmld__svc_spec_build(&req, &dims, &st);
  assert_non_null(spec);
  assert_int_equal(dims, 3);
  pipeline_from(&p, spec, dims, 9);
  assert_true(pgmld__svc_pipeline_is_client(&p));
  assert_int_equal(pgmld__svc_chunk_docs(&p, docs, 2, &chunks, &st), 0);
  assert_int_equal(chunks.n, 2);
  assert_true(chunks.embedded);
  assert_int_equal(pgmld__svc_chunks_insert_sql(&batch, &p, 1, docs, &chunks, &st), 0);
  /* a's vector, then NULL for b (pending) */
  assert_non_null(strstr(pgmld_sqlbuf_sql(&batch.sb[0]), "ARRAY[$5::vector,NULL::vector]"));
  assert_non_null(strstr(pgmld_sqlbuf_sql(&batch.sb[0]), "NULL::tsvector"));
  pgmld__svc_batch_free(&batch);
  pgmld__svc_chunks_free(&chunks);
  pipeline_done(&p);
}

/* Every allocation of the whole sequence fails in turn: each run fails
 * cleanly (no crash) and leaves nothing allocated. */
static void allocation_failures(void **state)
{
  long live = pgmld_alloc_live();
  unsigned long n;
  int rc = -1;

  (void)state;
  for (n = 1; n < 100000 && rc != 0; n++) {
    pgmld_status_t st = PGMLD_STATUS_INIT;

    pgmld_alloc_fail_after(n, 1);
    rc = run_pipeline(0, &st);
    pgmld_alloc_fail_after(0, 0);
    if (rc != 0)
      assert_int_not_equal(st.code, PGMLD_OK);
    assert_int_equal(pgmld_alloc_live(), live);
  }
  assert_int_equal(rc, 0);
  printf("%lu allocations, each failed in turn\n", n - 2);
}

/* A batch holds at most PGMLD_POOL_BATCH_MAX statements: the next one is
 * -E2BIG (not -ENOMEM), which the handlers answer INVALID_ARGUMENT naming
 * the limit. */
static void batch_limit(void **state)
{
  pgmld_svc_batch_t batch = {0};
  pgmld_status_t st = PGMLD_STATUS_INIT, st2 = PGMLD_STATUS_INIT;
  pgmld_sqlbuf_t *sb = NULL;
  size_t i;

  (void)state;
  for (i = 0; i < PGMLD_POOL_BATCH_MAX; i++)
    assert_int_equal(pgmld__svc_batch_add(&batch, &sb), 0);
  assert_non_null(sb);
  assert_int_equal(pgmld__svc_batch_add(&batch, &sb), -E2BIG);
  assert_null(sb);
  assert_int_equal(pgmld__svc_batch_sql(&batch, "COMMIT"), -E2BIG);
  assert_int_equal(batch.n, PGMLD_POOL_BATCH_MAX);
  pgmld__svc_build_status(&st, -E2BIG, "building the upsert");
  assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
  assert_non_null(strstr(st.message, "building the upsert: more than 8192 statements"));
  pgmld__svc_build_status(&st2, -ENOMEM, "building the upsert");
  assert_int_equal(st2.code, PGMLD_RESOURCE_EXHAUSTED);
  pgmld__svc_batch_free(&batch);
  assert_int_equal(batch.n, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(spec_defaults),
    cmocka_unit_test(spec_errors),
    cmocka_unit_test(chunks_and_inserts),
    cmocka_unit_test(client_pipeline),
    cmocka_unit_test(allocation_failures),
    cmocka_unit_test(batch_limit),
  };

  pgmld_alloc_init();
  return cmocka_run_group_tests(tests, NULL, NULL);
}
