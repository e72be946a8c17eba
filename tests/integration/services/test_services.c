/* test_services.c - the Database service end to end: every RPC and its errors, against a real pgmld and PostgreSQL. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "svctest.h"

static svc_daemon_t daemon_;
static pgml_client_t *cl;
static PGconn *pg;
static char msg[600];

static int group_setup(void **state)
{
  (void)state;
  static const char *const flags[] = {"--limits-max-batch", "1000", NULL};

  svc_daemon_start(&daemon_, NULL, flags);
  cl = svc_client(&daemon_);
  pg = svc_pg();
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  pgml_client_free(cl);
  PQfinish(pg);
  svc_daemon_stop(&daemon_);
  return 0;
}

/* ------------------------------------------------------------ helpers */

static int create(const char *name)
{
  return svc_create(cl, name, msg, sizeof(msg));
}

/* Upserts n JSON documents (with vectors when vecs is not NULL: dim each). */
static int upsert(const char *coll, const char *const *docs, size_t n, const float *vecs,
                  uint32_t dim, int merge, uint64_t *chunks)
{
  pgml_v1_UpsertDocumentsRequest req = {.collection = (char *)coll,
                                        .documents_count = (pb_size_t)n,
                                        .documents = (char **)docs,
                                        .merge = merge};
  pgml_v1_UpsertDocumentsResponse resp = pgml_v1_UpsertDocumentsResponse_init_zero;
  pgml_v1_Vector *v = NULL;
  pgml_sync_result_t res;
  size_t i;
  int rc;

  if (vecs != NULL) {
    v = calloc(n, sizeof(*v));
    for (i = 0; i < n; i++) {
      v[i].values_count = dim;
      v[i].values = (float *)vecs + i * dim;
    }
    req.vectors_count = (pb_size_t)n;
    req.vectors = v;
  }
  rc = pgml_database_upsert_documents_sync(cl, &req, &resp, &svc_opts, &res);
  free(v);
  if (rc == 0) {
    if (chunks != NULL)
      *chunks = resp.chunks;
    pb_release(pgml_v1_UpsertDocumentsResponse_fields, &resp);
  }
  return svc_code_msg(rc, &res, msg, sizeof(msg));
}

static int upsert1(const char *coll, const char *doc)
{
  return upsert(coll, &doc, 1, NULL, 0, 0, NULL);
}

static int add_pipeline(const char *coll, const char *name, const char *model, uint32_t dims,
                        const char *fulltext)
{
  pgml_v1_AddPipelineRequest req = pgml_v1_AddPipelineRequest_init_zero;
  pgml_v1_PipelineInfo info = pgml_v1_PipelineInfo_init_zero;
  pgml_sync_result_t res;
  int rc;

  req.collection = (char *)coll;
  req.name = (char *)name;
  req.has_model = true;
  req.model.name = (char *)model;
  req.model.dimensions = dims;
  req.fulltext_config = (char *)fulltext;
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  if (rc == 0) {
    assert_string_equal(info.name, name);
    assert_true(info.enabled);
    assert_int_equal(info.model.dimensions, dims ? dims : 384);
    pb_release(pgml_v1_PipelineInfo_fields, &info);
  }
  return svc_code_msg(rc, &res, msg, sizeof(msg));
}

/* Counts the documents GetDocuments returns for a filter (ids joined by
 * ',' into ids when not NULL). */
static int get_count(const char *coll, const char *filter, char *ids, size_t len)
{
  pgml_v1_GetDocumentsRequest req = pgml_v1_GetDocumentsRequest_init_zero;
  pgml_v1_GetDocumentsResponse resp = pgml_v1_GetDocumentsResponse_init_zero;
  pgml_sync_result_t res;
  int rc, n;
  pb_size_t i;

  req.collection = (char *)coll;
  req.filter = (char *)filter;
  rc = pgml_database_get_documents_sync(cl, &req, &resp, &svc_opts, &res);
  if (svc_code(rc, &res, filter) != 0)
    return -1;
  n = (int)resp.documents_count;
  if (ids != NULL) {
    ids[0] = '\0';
    for (i = 0; i < resp.documents_count; i++) {
      strncat(ids, resp.documents[i].id, len - strlen(ids) - 2);
      if (i + 1 < resp.documents_count)
        strcat(ids, ",");
    }
  }
  pb_release(pgml_v1_GetDocumentsResponse_fields, &resp);
  return n;
}

static int vsearch(const pgml_v1_VectorSearchRequest *req, pgml_v1_SearchResponse *resp)
{
  pgml_sync_result_t res;
  int rc = pgml_database_vector_search_sync(cl, req, resp, &svc_opts, &res);

  return svc_code_msg(rc, &res, msg, sizeof(msg));
}

/* ------------------------------------------------------------ collections */

static void collections_lifecycle(void **state)
{
  char name[64];
  pgml_sync_result_t res;
  int rc;

  (void)state;
  svc_name(name, sizeof(name), "coll");
  assert_int_equal(create(name), 0);
  assert_int_equal(create(name), 0);   /* get: same collection */
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.collections WHERE name = '%s'", name), 1);
  {
    pgml_v1_CollectionExistsRequest req = {.name = name};
    pgml_v1_CollectionExistsResponse resp = pgml_v1_CollectionExistsResponse_init_zero;
    rc = pgml_database_collection_exists_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "exists"), 0);
    assert_true(resp.exists);
  }
  {
    pgml_v1_ListCollectionsRequest req = {.include_archived = false};
    pgml_v1_ListCollectionsResponse resp = pgml_v1_ListCollectionsResponse_init_zero;
    int found = 0;
    rc = pgml_database_list_collections_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "list"), 0);
    for (pb_size_t i = 0; i < resp.collections_count; i++)
      found += strcmp(resp.collections[i].name, name) == 0;
    assert_int_equal(found, 1);
    pb_release(pgml_v1_ListCollectionsResponse_fields, &resp);
  }
  {
    pgml_v1_ArchiveCollectionRequest req = {.name = name};
    pgml_v1_CollectionInfo info = pgml_v1_CollectionInfo_init_zero;
    rc = pgml_database_archive_collection_sync(cl, &req, &info, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "archive"), 0);
    assert_true(info.archived);
    pb_release(pgml_v1_CollectionInfo_fields, &info);
    /* Archived again: no active collection has the name. */
    rc = pgml_database_archive_collection_sync(cl, &req, &info, &svc_opts, &res);
    assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_NOT_FOUND);
    assert_non_null(strstr(msg, name));
  }
  {
    pgml_v1_CollectionExistsRequest req = {.name = name};
    pgml_v1_CollectionExistsResponse resp = pgml_v1_CollectionExistsResponse_init_zero;
    rc = pgml_database_collection_exists_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "exists"), 0);
    assert_false(resp.exists);
  }
  {
    pgml_v1_ListCollectionsRequest req = {.include_archived = true};
    pgml_v1_ListCollectionsResponse resp = pgml_v1_ListCollectionsResponse_init_zero;
    int archived = 0;
    rc = pgml_database_list_collections_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "list"), 0);
    for (pb_size_t i = 0; i < resp.collections_count; i++)
      archived += strcmp(resp.collections[i].name, name) == 0 && resp.collections[i].archived;
    assert_int_equal(archived, 1);
    pb_release(pgml_v1_ListCollectionsResponse_fields, &resp);
  }
  /* The name is free again: a new collection, then dropped with its data. */
  assert_int_equal(create(name), 0);
  assert_int_equal(upsert1(name, "{\"id\": \"a\", \"text\": \"hello world\"}"), 0);
  int64_t pid = svc_pipeline_id(pg, name, "default");
  assert_true(pid > 0);
  {
    pgml_v1_DropCollectionRequest req = {.name = name};
    pgml_v1_DropCollectionResponse resp = pgml_v1_DropCollectionResponse_init_zero;
    rc = pgml_database_drop_collection_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "drop"), 0);
    rc = pgml_database_drop_collection_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_NOT_FOUND);
  }
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.collections WHERE name = '%s'"
                                  " AND NOT archived", name), 0);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pg_tables WHERE schemaname = 'pgmld'"
                                  " AND tablename = 'chunks_%lld'", (long long)pid), 0);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.pipelines WHERE id = %lld",
                              (long long)pid), 0);
}

/* Every RPC that names a collection answers NOT_FOUND, with the name, for
 * one that does not exist (or is archived). */
static void unknown_collection_everywhere(void **state)
{
  char *c = "t_never_created";
  pgml_sync_result_t res;
  int rc;

  (void)state;
#define EXPECT_NOT_FOUND(call, resp_t)                                              \
  do {                                                                              \
    resp_t resp;                                                                    \
    memset(&resp, 0, sizeof(resp));                                                 \
    rc = call;                                                                      \
    assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_NOT_FOUND);     \
    assert_non_null(strstr(msg, c));                                                \
  } while (0)
  {
    pgml_v1_ListPipelinesRequest req = {.collection = c};
    EXPECT_NOT_FOUND(pgml_database_list_pipelines_sync(cl, &req, &resp, &svc_opts, &res),
                     pgml_v1_ListPipelinesResponse);
  }
  {
    pgml_v1_EnablePipelineRequest req = {.collection = c, .name = "default"};
    EXPECT_NOT_FOUND(pgml_database_enable_pipeline_sync(cl, &req, &resp, &svc_opts, &res),
                     pgml_v1_PipelineInfo);
  }
  {
    pgml_v1_DisablePipelineRequest req = {.collection = c, .name = "default"};
    EXPECT_NOT_FOUND(pgml_database_disable_pipeline_sync(cl, &req, &resp, &svc_opts, &res),
                     pgml_v1_PipelineInfo);
  }
  {
    pgml_v1_RemovePipelineRequest req = {.collection = c, .name = "default"};
    EXPECT_NOT_FOUND(pgml_database_remove_pipeline_sync(cl, &req, &resp, &svc_opts, &res),
                     pgml_v1_RemovePipelineResponse);
  }
  {
    pgml_v1_PipelineStatusRequest req = {.collection = c, .name = "default"};
    EXPECT_NOT_FOUND(pgml_database_pipeline_status_sync(cl, &req, &resp, &svc_opts, &res),
                     pgml_v1_PipelineStatusResponse);
  }
  {
    pgml_v1_GetDocumentsRequest req = {.collection = c};
    EXPECT_NOT_FOUND(pgml_database_get_documents_sync(cl, &req, &resp, &svc_opts, &res),
                     pgml_v1_GetDocumentsResponse);
  }
  {
    pgml_v1_TextSearchRequest req = {.collection = c, .query = "x"};
    EXPECT_NOT_FOUND(pgml_database_text_search_sync(cl, &req, &resp, &svc_opts, &res),
                     pgml_v1_SearchResponse);
  }
  {
    pgml_v1_HybridSearchRequest req = {.collection = c, .query = "x"};
    EXPECT_NOT_FOUND(pgml_database_hybrid_search_sync(cl, &req, &resp, &svc_opts, &res),
                     pgml_v1_SearchResponse);
  }
  {
    pgml_v1_DropCollectionRequest req = {.name = c};
    EXPECT_NOT_FOUND(pgml_database_drop_collection_sync(cl, &req, &resp, &svc_opts, &res),
                     pgml_v1_DropCollectionResponse);
  }
#undef EXPECT_NOT_FOUND
}

/* Pipeline specs are validated before any database work, naming the field. */
static void pipeline_spec_errors(void **state)
{
  char name[64];
  pgml_v1_AddPipelineRequest req = pgml_v1_AddPipelineRequest_init_zero;
  pgml_v1_PipelineInfo info = pgml_v1_PipelineInfo_init_zero;
  pgml_sync_result_t res;
  int rc;

  (void)state;
  svc_name(name, sizeof(name), "spec");
  assert_int_equal(create(name), 0);
  req.collection = name;
  req.name = "p";
  req.has_hnsw = true;
  req.hnsw.m = 1;
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "hnsw.m"));
  req.hnsw.m = 16;
  req.hnsw.ef_construction = 20;
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "hnsw.ef_construction"));
  req.has_hnsw = false;
  req.has_splitter = true;
  req.splitter.chunk_size = 10;
  req.splitter.chunk_overlap = 10;
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "chunk_overlap"));
  req.splitter.chunk_overlap = 0;
  req.splitter.name = "no_such_splitter";
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
  req.splitter.name = "character";
  req.has_model = true;
  req.model.dimensions = 3000;
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "dimensions"));
  req.name = "bad name";
  req.has_model = false;
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "name"));
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.pipelines p JOIN pgmld.collections c"
                                  " ON c.id = p.collection_id WHERE c.name = '%s'", name), 0);
  /* and a good one: a character splitter with a custom text field */
  req.name = "body";
  req.text_field = "body";
  req.splitter.chunk_size = 20;
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  assert_int_equal(svc_code(rc, &res, "add"), 0);
  assert_string_equal(info.splitter.name, "character");
  assert_string_equal(info.text_field, "body");
  assert_true(info.fulltext_config == NULL || info.fulltext_config[0] == '\0');
  pb_release(pgml_v1_PipelineInfo_fields, &info);
  assert_int_equal(upsert1(name, "{\"id\": \"a\", \"body\": \"first part\\n\\nsecond part\", \"text\": 1}"), 0);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.chunks_%lld",
                              (long long)svc_pipeline_id(pg, name, "body")), 2);
}

static void collection_bad_names(void **state)
{
  (void)state;
  assert_int_equal(create(""), PGML_INVALID_ARGUMENT);
  assert_int_equal(create("has space"), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "name"));
  assert_int_equal(create("0123456789012345678901234567890123456789012345678901234567890123"),
                   PGML_INVALID_ARGUMENT);
  assert_int_equal(create("semi;colon"), PGML_INVALID_ARGUMENT);
  assert_int_equal(upsert1("nope no", "{\"id\": \"a\"}"), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "collection"));
}

/* ------------------------------------------------------------ documents */

static void upsert_replaces_chunks(void **state)
{
  char name[64];
  const char *long_doc;
  char buf[8192];
  size_t i;
  uint64_t chunks = 0;

  (void)state;
  svc_name(name, sizeof(name), "rechunk");
  assert_int_equal(create(name), 0);
  /* ~20 chunks of at most 100 characters with a small splitter */
  {
    pgml_v1_AddPipelineRequest req = pgml_v1_AddPipelineRequest_init_zero;
    pgml_v1_PipelineInfo info = pgml_v1_PipelineInfo_init_zero;
    pgml_sync_result_t res;
    req.collection = name;
    req.name = "small";
    req.has_splitter = true;
    req.splitter.chunk_size = 100;
    req.fulltext_config = "english";
    int rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "add"), 0);
    assert_int_equal(info.splitter.chunk_size, 100);
    assert_string_equal(info.splitter.name, "recursive_character");
    pb_release(pgml_v1_PipelineInfo_fields, &info);
  }
  strcpy(buf, "{\"id\": \"big\", \"text\": \"");
  for (i = 0; i < 40; i++)
    strcat(buf, "lorem ipsum dolor sit amet, consectetur. ");
  strcat(buf, "\"}");
  long_doc = buf;
  assert_int_equal(upsert(name, &long_doc, 1, NULL, 0, 0, &chunks), 0);
  int64_t pid = svc_pipeline_id(pg, name, "small");
  assert_true(chunks > 10);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.chunks_%lld", (long long)pid),
                   (int64_t)chunks);
  /* Re-upsert with a short text: exactly one chunk remains. */
  assert_int_equal(upsert(name, (const char *[]){"{\"id\": \"big\", \"text\": \"short now\"}"}, 1,
                          NULL, 0, 0, &chunks), 0);
  assert_int_equal(chunks, 1);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.chunks_%lld", (long long)pid), 1);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.chunks_%lld WHERE chunk = 'short now'"
                                  " AND embedding IS NOT NULL AND tsv IS NOT NULL", (long long)pid), 1);
  /* Duplicate ids in one batch: the last wins. */
  assert_int_equal(upsert(name, (const char *[]){"{\"id\": \"d\", \"text\": \"first\"}",
                                                 "{\"id\": \"d\", \"text\": \"second\"}"},
                          2, NULL, 0, 0, NULL), 0);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.documents d JOIN pgmld.collections c"
                                  " ON c.id = d.collection_id WHERE c.name = '%s' AND d.doc_id = 'd'"
                                  " AND d.document->>'text' = 'second'", name), 1);
  /* An integer id is its decimal string. */
  assert_int_equal(upsert1(name, "{\"id\": 42, \"text\": \"answer\"}"), 0);
  assert_int_equal(get_count(name, "{\"id\": 42}", NULL, 0), 1);
}

static void upsert_merge(void **state)
{
  char name[64], ids[256];
  pgml_v1_GetDocumentsRequest req = pgml_v1_GetDocumentsRequest_init_zero;
  pgml_v1_GetDocumentsResponse resp = pgml_v1_GetDocumentsResponse_init_zero;
  pgml_sync_result_t res;
  int rc;

  (void)state;
  svc_name(name, sizeof(name), "merge");
  assert_int_equal(create(name), 0);
  assert_int_equal(upsert1(name, "{\"id\": \"m\", \"text\": \"alpha beta\", \"a\": 1, \"b\": {\"x\": 1}}"), 0);
  assert_int_equal(upsert(name, (const char *[]){"{\"id\": \"m\", \"b\": {\"y\": 2}, \"c\": 3}"}, 1,
                          NULL, 0, 1, NULL), 0);
  req.collection = name;
  rc = pgml_database_get_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code(rc, &res, "get"), 0);
  assert_int_equal(resp.documents_count, 1);
  /* Shallow: b replaced whole, a and the text kept, c added. */
  assert_non_null(strstr(resp.documents[0].document, "\"a\": 1"));
  assert_non_null(strstr(resp.documents[0].document, "\"c\": 3"));
  assert_non_null(strstr(resp.documents[0].document, "\"b\": {\"y\": 2}"));
  assert_non_null(strstr(resp.documents[0].document, "alpha beta"));
  assert_true(resp.documents[0].updated_at_ms > 0);
  pb_release(pgml_v1_GetDocumentsResponse_fields, &resp);
  /* The merged text is still chunked. */
  assert_int_equal(get_count(name, "{\"c\": 3}", ids, sizeof(ids)), 1);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.chunks_%lld WHERE chunk = 'alpha beta'",
                              (long long)svc_pipeline_id(pg, name, "default")), 1);
  /* Without merge the document is replaced. */
  assert_int_equal(upsert1(name, "{\"id\": \"m\", \"text\": \"gamma\"}"), 0);
  assert_int_equal(get_count(name, "{\"a\": {\"$exists\": true}}", NULL, 0), 0);
}

static void upsert_errors(void **state)
{
  char name[64];

  (void)state;
  svc_name(name, sizeof(name), "uperr");
  assert_int_equal(upsert1(name, "{\"id\": \"x\"}"), PGML_NOT_FOUND);
  assert_non_null(strstr(msg, name));
  assert_int_equal(create(name), 0);
  assert_int_equal(upsert1(name, "{\"text\": \"no id\"}"), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "id"));
  assert_int_equal(upsert1(name, "{\"id\": \"\"}"), PGML_INVALID_ARGUMENT);
  assert_int_equal(upsert1(name, "[1, 2]"), PGML_INVALID_ARGUMENT);
  assert_int_equal(upsert1(name, "{\"id\": \"a\", \"text\": 5}"), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "text"));
  /* a bad document anywhere in the batch: nothing is written */
  assert_int_equal(upsert(name, (const char *[]){"{\"id\": \"ok\", \"text\": \"fine\"}", "{\"id\": 1.5}"},
                          2, NULL, 0, 0, NULL), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "documents[1]"));
  assert_int_equal(get_count(name, "{}", NULL, 0), 0);
}

static void upsert_max_batch(void **state)
{
  char name[64];
  static const char *docs[1001];
  static char bufs[1001][40];
  size_t i;

  (void)state;
  svc_name(name, sizeof(name), "batch");
  assert_int_equal(create(name), 0);
  for (i = 0; i < 1001; i++) {
    snprintf(bufs[i], sizeof(bufs[i]), "{\"id\": \"%zu\"}", i);
    docs[i] = bufs[i];
  }
  assert_int_equal(upsert(name, docs, 1001, NULL, 0, 0, NULL), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "limits.max_batch"));
  assert_non_null(strstr(msg, "1000"));
  assert_int_equal(upsert(name, docs, 1000, NULL, 0, 0, NULL), 0);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.documents d JOIN pgmld.collections c"
                                  " ON c.id = d.collection_id WHERE c.name = '%s'", name), 1000);
}

static void get_paging_and_order(void **state)
{
  char name[64], ids[512];
  pgml_v1_GetDocumentsRequest req = pgml_v1_GetDocumentsRequest_init_zero;
  pgml_v1_GetDocumentsResponse resp = pgml_v1_GetDocumentsResponse_init_zero;
  pgml_v1_OrderBy ob = {.field = "meta.year", .descending = true};
  pgml_sync_result_t res;
  int rc;

  (void)state;
  svc_name(name, sizeof(name), "get");
  assert_int_equal(create(name), 0);
  assert_int_equal(upsert(name, (const char *[]){"{\"id\": \"a\", \"meta\": {\"year\": 2001}}",
                                                 "{\"id\": \"b\", \"meta\": {\"year\": 1999}}",
                                                 "{\"id\": \"c\", \"meta\": {\"year\": 2010}}",
                                                 "{\"id\": \"d\", \"meta\": {\"year\": 2005}}",
                                                 "{\"id\": \"e\", \"meta\": {\"year\": 1980}}"},
                          5, NULL, 0, 0, NULL), 0);
  /* keyset paging by id, 2 at a time */
  req.collection = name;
  req.limit = 2;
  rc = pgml_database_get_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code(rc, &res, "get"), 0);
  assert_int_equal(resp.documents_count, 2);
  assert_string_equal(resp.documents[0].id, "a");
  assert_string_equal(resp.next_after_id, "b");
  pb_release(pgml_v1_GetDocumentsResponse_fields, &resp);
  req.after_id = "b";
  rc = pgml_database_get_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code(rc, &res, "get"), 0);
  assert_string_equal(resp.documents[0].id, "c");
  assert_string_equal(resp.documents[1].id, "d");
  pb_release(pgml_v1_GetDocumentsResponse_fields, &resp);
  req.after_id = "d";
  rc = pgml_database_get_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code(rc, &res, "get"), 0);
  assert_int_equal(resp.documents_count, 1);
  assert_true(resp.next_after_id == NULL || resp.next_after_id[0] == '\0');
  pb_release(pgml_v1_GetDocumentsResponse_fields, &resp);
  /* order by a metadata path, descending, with offset */
  req.after_id = NULL;
  req.limit = 3;
  req.offset = 1;
  req.order_by_count = 1;
  req.order_by = &ob;
  rc = pgml_database_get_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code(rc, &res, "get"), 0);
  assert_int_equal(resp.documents_count, 3);
  assert_string_equal(resp.documents[0].id, "d");
  assert_string_equal(resp.documents[1].id, "a");
  assert_string_equal(resp.documents[2].id, "b");
  pb_release(pgml_v1_GetDocumentsResponse_fields, &resp);
  /* after_id with another order */
  req.after_id = "a";
  rc = pgml_database_get_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "after_id"));
  /* limit above max_batch */
  req.after_id = NULL;
  req.order_by_count = 0;
  req.limit = 1001;
  rc = pgml_database_get_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "limits.max_batch"));
  /* a bad filter: the filter module's message */
  req.limit = 0;
  req.filter = "{\"meta.year\": {\"$regex\": \"x\"}}";
  rc = pgml_database_get_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "$regex"));
  (void)ids;
}

static void filter_operators(void **state)
{
  char name[64], ids[256];
  static const struct {
    const char *filter;
    const char *ids;
  } cases[] = {
    {"{}", "a,b,c,d"},
    {"{\"lang\": \"en\"}", "a,c"},
    {"{\"lang\": {\"$eq\": \"en\"}}", "a,c"},
    {"{\"lang\": {\"$ne\": \"en\"}}", "b,d"},
    {"{\"year\": {\"$gt\": 2000}}", "c,d"},
    {"{\"year\": {\"$gte\": 2000}}", "b,c,d"},
    {"{\"year\": {\"$lt\": 2000}}", "a"},
    {"{\"year\": {\"$lte\": 2000}}", "a,b"},
    {"{\"lang\": {\"$in\": [\"fr\", \"de\"]}}", "b"},
    {"{\"lang\": {\"$nin\": [\"fr\", \"de\"]}}", "a,c,d"},
    {"{\"lang\": {\"$exists\": false}}", "d"},
    {"{\"lang\": {\"$exists\": true}}", "a,b,c"},
    {"{\"year\": {\"$not\": {\"$gt\": 2000}}}", "a,b"},
    {"{\"$and\": [{\"lang\": \"en\"}, {\"year\": {\"$gt\": 2000}}]}", "c"},
    {"{\"$or\": [{\"lang\": \"fr\"}, {\"year\": {\"$gt\": 2015}}]}", "b,d"},
    {"{\"$not\": {\"lang\": \"en\"}}", "b,d"},
    {"{\"author.name\": \"Ann\"}", "a,d"},
    {"{\"tags\": \"x\"}", "a,b"},
  };
  size_t i;

  (void)state;
  svc_name(name, sizeof(name), "filter");
  assert_int_equal(create(name), 0);
  assert_int_equal(upsert(name, (const char *[]){
      "{\"id\": \"a\", \"lang\": \"en\", \"year\": 1990, \"author\": {\"name\": \"Ann\"}, \"tags\": [\"x\", \"y\"]}",
      "{\"id\": \"b\", \"lang\": \"fr\", \"year\": 2000, \"author\": {\"name\": \"Bob\"}, \"tags\": [\"x\"]}",
      "{\"id\": \"c\", \"lang\": \"en\", \"year\": 2010, \"tags\": []}",
      "{\"id\": \"d\", \"year\": 2020, \"author\": {\"name\": \"Ann\"}}"}, 4, NULL, 0, 0, NULL), 0);
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int n = get_count(name, cases[i].filter, ids, sizeof(ids));
    if (n < 0 || strcmp(ids, cases[i].ids) != 0)
      fail_msg("filter %s: got [%s], want [%s]", cases[i].filter, ids, cases[i].ids);
  }
  /* the same filter in a search and a delete */
  {
    pgml_v1_TextSearchRequest req = {.collection = name, .query = "anything", .filter = "{\"lang\": \"en\"}"};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    pgml_sync_result_t res;
    int rc = pgml_database_text_search_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "text search"), 0);
    assert_int_equal(resp.results_count, 0);
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
  {
    pgml_v1_DeleteDocumentsRequest req = {.collection = name, .filter = "{\"year\": {\"$gte\": 2010}}"};
    pgml_v1_DeleteDocumentsResponse resp = pgml_v1_DeleteDocumentsResponse_init_zero;
    pgml_sync_result_t res;
    int rc = pgml_database_delete_documents_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "delete"), 0);
    assert_int_equal(resp.deleted, 2);
  }
  assert_int_equal(get_count(name, "{}", ids, sizeof(ids)), 2);
  assert_string_equal(ids, "a,b");
}

static void delete_documents(void **state)
{
  char name[64], ids[128];
  pgml_v1_DeleteDocumentsRequest req = pgml_v1_DeleteDocumentsRequest_init_zero;
  pgml_v1_DeleteDocumentsResponse resp = pgml_v1_DeleteDocumentsResponse_init_zero;
  pgml_sync_result_t res;
  char *del_ids[] = {"a", "c", "zz"};
  int rc;
  int64_t pid;

  (void)state;
  svc_name(name, sizeof(name), "del");
  assert_int_equal(create(name), 0);
  assert_int_equal(upsert(name, (const char *[]){"{\"id\": \"a\", \"text\": \"one\", \"k\": 1}",
                                                 "{\"id\": \"b\", \"text\": \"two\", \"k\": 2}",
                                                 "{\"id\": \"c\", \"text\": \"three\", \"k\": 1}",
                                                 "{\"id\": \"d\", \"text\": \"four\", \"k\": 1}"},
                          4, NULL, 0, 0, NULL), 0);
  pid = svc_pipeline_id(pg, name, "default");
  req.collection = name;
  rc = pgml_database_delete_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "{}"));
  /* ids and a filter: only the ids that match */
  req.ids_count = 3;
  req.ids = del_ids;
  req.filter = "{\"text\": \"one\"}";
  rc = pgml_database_delete_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code(rc, &res, "delete"), 0);
  assert_int_equal(resp.deleted, 1);
  req.filter = NULL;
  rc = pgml_database_delete_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code(rc, &res, "delete"), 0);
  assert_int_equal(resp.deleted, 1);
  assert_int_equal(get_count(name, "{}", ids, sizeof(ids)), 2);
  assert_string_equal(ids, "b,d");
  /* chunks went with their documents */
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.chunks_%lld", (long long)pid), 2);
  req.ids_count = 0;
  req.filter = "{}";
  rc = pgml_database_delete_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code(rc, &res, "delete"), 0);
  assert_int_equal(resp.deleted, 2);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.chunks_%lld", (long long)pid), 0);
  req.collection = "t_no_such_collection";
  rc = pgml_database_delete_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_NOT_FOUND);
}

/* ------------------------------------------------------------ pipelines */

static void pipeline_status_t_(const char *coll, const char *name, pgml_v1_PipelineStatusResponse *out)
{
  pgml_v1_PipelineStatusRequest req = {.collection = (char *)coll, .name = (char *)name};
  pgml_sync_result_t res;
  int rc = pgml_database_pipeline_status_sync(cl, &req, out, &svc_opts, &res);

  assert_int_equal(svc_code(rc, &res, "status"), 0);
}

static void pipelines_lifecycle(void **state)
{
  char name[64];
  pgml_v1_PipelineStatusResponse st = pgml_v1_PipelineStatusResponse_init_zero;
  pgml_sync_result_t res;
  int rc;
  float v[3 * 4] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};

  (void)state;
  svc_name(name, sizeof(name), "pipes");
  assert_int_equal(create(name), 0);
  assert_int_equal(add_pipeline(name, "vec", "client", 4, ""), 0);
  assert_int_equal(add_pipeline(name, "vec", "client", 4, ""), PGML_ALREADY_EXISTS);
  assert_non_null(strstr(msg, "vec"));
  assert_int_equal(add_pipeline(name, "bad", "client", 0, ""), PGML_INVALID_ARGUMENT);
  assert_int_equal(add_pipeline(name, "bad", "no-such-model", 0, ""), PGML_INVALID_ARGUMENT);
  assert_int_equal(add_pipeline(name, "bad", "", 0, "no_such_config"), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "fulltext_config"));
  assert_int_equal(add_pipeline("t_no_such_coll", "x", "", 0, ""), PGML_NOT_FOUND);
  /* the failed adds left nothing behind */
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.pipelines p JOIN pgmld.collections c"
                                  " ON c.id = p.collection_id WHERE c.name = '%s'", name), 1);

  assert_int_equal(upsert(name, (const char *[]){"{\"id\": \"a\", \"text\": \"x\"}",
                                                 "{\"id\": \"b\", \"text\": \"y\"}",
                                                 "{\"id\": \"c\"}"},
                          3, v, 4, 0, NULL), 0);
  /* dimension mismatch */
  assert_int_equal(upsert(name, (const char *[]){"{\"id\": \"a\"}"}, 1, v, 3, 0, NULL),
                   PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "vector for document a has 3 dimensions; pipeline vec needs 4"));
  /* no vectors for a client pipeline */
  assert_int_equal(upsert1(name, "{\"id\": \"z\"}"), PGML_INVALID_ARGUMENT);

  pipeline_status_t_(name, "vec", &st);
  assert_int_equal(st.documents, 3);
  assert_int_equal(st.documents_embedded, 3);
  assert_int_equal(st.documents_pending, 0);
  assert_int_equal(st.chunks, 3);
  assert_int_equal(st.chunks_embedded, 3);
  pb_release(pgml_v1_PipelineStatusResponse_fields, &st);

  /* A second pipeline (lexical) processes the documents already there. */
  assert_int_equal(add_pipeline(name, "lex", "", 0, "english"), 0);
  pipeline_status_t_(name, "lex", &st);
  assert_int_equal(st.documents, 3);
  assert_int_equal(st.chunks, 2);   /* "c" has no text */
  assert_int_equal(st.chunks_embedded, 2);
  pb_release(pgml_v1_PipelineStatusResponse_fields, &st);
  {
    pgml_v1_ListPipelinesRequest req = {.collection = name};
    pgml_v1_ListPipelinesResponse resp = pgml_v1_ListPipelinesResponse_init_zero;
    rc = pgml_database_list_pipelines_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "list"), 0);
    assert_int_equal(resp.pipelines_count, 2);
    assert_string_equal(resp.pipelines[0].name, "vec");
    assert_string_equal(resp.pipelines[0].model.name, "client");
    assert_string_equal(resp.pipelines[1].model.name, "builtin/lexical");
    assert_int_equal(resp.pipelines[1].model.dimensions, 384);
    assert_int_equal(resp.pipelines[1].hnsw.m, 16);
    assert_int_equal(resp.pipelines[1].hnsw.ef_construction, 64);
    assert_string_equal(resp.pipelines[1].text_field, "text");
    assert_string_equal(resp.pipelines[1].fulltext_config, "english");
    pb_release(pgml_v1_ListPipelinesResponse_fields, &resp);
  }
  /* Two enabled pipelines: a search must name one. */
  {
    pgml_v1_VectorSearchRequest req = {.collection = name, .vector_count = 4, .vector = v};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    assert_int_equal(vsearch(&req, &resp), PGML_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "vec"));
    assert_non_null(strstr(msg, "lex"));
    req.pipeline = "vec";
    assert_int_equal(vsearch(&req, &resp), 0);
    assert_int_equal(resp.results_count, 3);
    assert_string_equal(resp.results[0].document_id, "a");
    assert_true(fabs(resp.results[0].score - 1.0) < 1e-6);
    pb_release(pgml_v1_SearchResponse_fields, &resp);
    req.pipeline = "nope";
    assert_int_equal(vsearch(&req, &resp), PGML_NOT_FOUND);
    assert_non_null(strstr(msg, "nope"));
    req.pipeline = "vec";
    req.vector_count = 3;
    assert_int_equal(vsearch(&req, &resp), PGML_INVALID_ARGUMENT);
    req.vector_count = 4;
    req.top_k = 100000;
    assert_int_equal(vsearch(&req, &resp), PGML_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "limits.max_top_k"));
    req.top_k = 0;
    req.query = "text";
    assert_int_equal(vsearch(&req, &resp), PGML_INVALID_ARGUMENT);   /* both */
  }
  /* Disable lex, upsert while disabled, enable: the missed document is processed. */
  {
    pgml_v1_DisablePipelineRequest req = {.collection = name, .name = "lex"};
    pgml_v1_PipelineInfo info = pgml_v1_PipelineInfo_init_zero;
    rc = pgml_database_disable_pipeline_sync(cl, &req, &info, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "disable"), 0);
    assert_false(info.enabled);
    pb_release(pgml_v1_PipelineInfo_fields, &info);
  }
  {
    pgml_v1_TextSearchRequest req = {.collection = name, .query = "x", .pipeline = "lex"};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    rc = pgml_database_text_search_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_FAILED_PRECONDITION);
    /* vec has no full-text config */
    req.pipeline = "";
    rc = pgml_database_text_search_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_FAILED_PRECONDITION);
    assert_non_null(strstr(msg, "fulltext_config"));
  }
  assert_int_equal(upsert(name, (const char *[]){"{\"id\": \"e\", \"text\": \"late arrival\"}"}, 1,
                          v, 4, 0, NULL), 0);
  pipeline_status_t_(name, "lex", &st);
  assert_false(st.enabled);
  assert_int_equal(st.documents, 4);
  assert_int_equal(st.chunks, 2);
  pb_release(pgml_v1_PipelineStatusResponse_fields, &st);
  {
    pgml_v1_EnablePipelineRequest req = {.collection = name, .name = "lex"};
    pgml_v1_PipelineInfo info = pgml_v1_PipelineInfo_init_zero;
    rc = pgml_database_enable_pipeline_sync(cl, &req, &info, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "enable"), 0);
    assert_true(info.enabled);
    pb_release(pgml_v1_PipelineInfo_fields, &info);
  }
  pipeline_status_t_(name, "lex", &st);
  assert_true(st.enabled);
  assert_int_equal(st.chunks, 3);
  assert_int_equal(st.documents_embedded, 3);
  pb_release(pgml_v1_PipelineStatusResponse_fields, &st);
  {
    pgml_v1_TextSearchRequest req = {.collection = name, .query = "arrival", .pipeline = "lex"};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    rc = pgml_database_text_search_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "text search"), 0);
    assert_int_equal(resp.results_count, 1);
    assert_string_equal(resp.results[0].document_id, "e");
    assert_string_equal(resp.results[0].chunk, "late arrival");
    assert_null(strstr(resp.results[0].metadata, "late arrival"));   /* minus the text field */
    assert_true(resp.results[0].score > 0);
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
  /* Remove: the table and the row go. */
  int64_t pid = svc_pipeline_id(pg, name, "lex");
  {
    pgml_v1_RemovePipelineRequest req = {.collection = name, .name = "lex"};
    pgml_v1_RemovePipelineResponse resp = pgml_v1_RemovePipelineResponse_init_zero;
    rc = pgml_database_remove_pipeline_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "remove"), 0);
    rc = pgml_database_remove_pipeline_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_NOT_FOUND);
    assert_non_null(strstr(msg, "lex"));
  }
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pg_tables WHERE schemaname = 'pgmld'"
                                  " AND tablename = 'chunks_%lld'", (long long)pid), 0);
  /* With vec alone, the pipeline may be omitted. */
  {
    pgml_v1_VectorSearchRequest req = {.collection = name, .vector_count = 4, .vector = v + 4,
                                       .top_k = 1};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    assert_int_equal(vsearch(&req, &resp), 0);
    assert_int_equal(resp.results_count, 1);
    assert_string_equal(resp.results[0].document_id, "b");
    pb_release(pgml_v1_SearchResponse_fields, &resp);
    req.query = "a query";
    req.vector_count = 0;
    assert_int_equal(vsearch(&req, &resp), PGML_INVALID_ARGUMENT);   /* client model: no text */
  }
}

/* ------------------------------------------------------------ search */

static uint32_t rng_state = 12345;

static float frand(void)
{
  rng_state = rng_state * 1664525u + 1013904223u;
  return (float)((rng_state >> 8) & 0xffff) / 65536.0f - 0.5f;
}

static double cosine(const float *a, const float *b, uint32_t dim)
{
  double ab = 0, aa = 0, bb = 0;
  uint32_t i;

  for (i = 0; i < dim; i++) {
    ab += (double)a[i] * b[i];
    aa += (double)a[i] * a[i];
    bb += (double)b[i] * b[i];
  }
  return ab / (sqrt(aa) * sqrt(bb));
}

/* Exact search (no index) equals brute force, with and without a filter. */
static void exact_search_matches_brute_force(void **state)
{
  enum { N = 600, DIM = 16, K = 10, Q = 10 };
  static float vecs[N * DIM];
  static char bufs[N][64];
  static const char *docs[N];
  char name[64];
  int q, i, j;

  (void)state;
  svc_name(name, sizeof(name), "exact");
  assert_int_equal(create(name), 0);
  assert_int_equal(add_pipeline(name, "v", "client", DIM, ""), 0);
  for (i = 0; i < N * DIM; i++)
    vecs[i] = frand();
  for (i = 0; i < N; i++) {
    snprintf(bufs[i], sizeof(bufs[i]), "{\"id\": \"doc%04d\", \"group\": %d}", i, i % 3);
    docs[i] = bufs[i];
  }
  assert_int_equal(upsert(name, docs, N, vecs, DIM, 0, NULL), 0);
  for (q = 0; q < Q; q++) {
    float query[DIM];
    int filtered = q % 2;
    int best[K];
    double bestsc[K];
    pgml_v1_VectorSearchRequest req = {.collection = name, .vector_count = DIM, .vector = query,
                                       .top_k = K, .exact = true,
                                       .filter = filtered ? "{\"group\": 1}" : NULL};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;

    for (i = 0; i < DIM; i++)
      query[i] = frand();
    for (j = 0; j < K; j++) {
      best[j] = -1;
      bestsc[j] = -2;
    }
    for (i = 0; i < N; i++) {
      double s;
      if (filtered && i % 3 != 1)
        continue;
      s = cosine(query, vecs + i * DIM, DIM);
      for (j = K - 1; j >= 0 && s > bestsc[j]; j--) {
        if (j + 1 < K) {
          bestsc[j + 1] = bestsc[j];
          best[j + 1] = best[j];
        }
        bestsc[j] = s;
        best[j] = i;
      }
    }
    assert_int_equal(vsearch(&req, &resp), 0);
    assert_int_equal(resp.results_count, K);
    for (j = 0; j < K; j++) {
      char want[16];
      snprintf(want, sizeof(want), "doc%04d", best[j]);
      if (strcmp(resp.results[j].document_id, want) != 0)
        fail_msg("query %d rank %d: got %s (%.6f), want %s (%.6f)", q, j,
                 resp.results[j].document_id, resp.results[j].score, want, bestsc[j]);
      assert_true(fabs(resp.results[j].score - bestsc[j]) < 1e-4);
    }
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
}

/* A selective filter still gets top_k rows through the HNSW index: with
 * ef_search 10 the index yields 10 candidates, of which about 5% pass
 * {"g": {"$lt": 5}}; pgvector's iterative scan keeps going until 10 pass.
 * (For a range filter like this one PostgreSQL plans the index scan; for
 * an equality that the documents' GIN index answers it may prefer an
 * exact scan of the few matching rows, which is right too.) */
static void filtered_index_search(void **state)
{
  enum { N = 3000, DIM = 8, GROUPS = 100 };
  static float vecs[N * DIM];
  static char bufs[1000][64];
  static const char *docs[1000];
  char name[64];
  int i, b;

  (void)state;
  svc_name(name, sizeof(name), "filtidx");
  assert_int_equal(create(name), 0);
  assert_int_equal(add_pipeline(name, "v", "client", DIM, ""), 0);
  for (i = 0; i < N * DIM; i++)
    vecs[i] = frand();
  for (b = 0; b < N / 1000; b++) {
    for (i = 0; i < 1000; i++) {
      snprintf(bufs[i], sizeof(bufs[i]), "{\"id\": \"f%05d\", \"g\": %d}", b * 1000 + i,
               (b * 1000 + i) % GROUPS);
      docs[i] = bufs[i];
    }
    assert_int_equal(upsert(name, docs, 1000, vecs + (size_t)b * 1000 * DIM, DIM, 0, NULL), 0);
  }
  {
    float query[DIM];
    pgml_v1_VectorSearchRequest req = {.collection = name, .vector_count = DIM, .vector = query,
                                       .top_k = 10, .ef_search = 10,
                                       .filter = "{\"g\": {\"$lt\": 5}}"};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;

    for (i = 0; i < DIM; i++)
      query[i] = frand();
    assert_int_equal(vsearch(&req, &resp), 0);
    assert_int_equal(resp.results_count, 10);
    for (i = 0; i < 10; i++) {
      const char *g = strstr(resp.results[i].metadata, "\"g\": ");
      assert_non_null(g);
      assert_true(atoi(g + 5) < 5);
      if (i > 0)
        assert_true(resp.results[i].score <= resp.results[i - 1].score);
    }
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
}

static void text_and_hybrid_search(void **state)
{
  char name[64];
  pgml_sync_result_t res;
  int rc;

  (void)state;
  svc_name(name, sizeof(name), "hybrid");
  assert_int_equal(create(name), 0);
  assert_int_equal(upsert(name, (const char *[]){
      "{\"id\": \"cats\", \"text\": \"Cats are small furry animals that purr\", \"kind\": \"pet\"}",
      "{\"id\": \"dogs\", \"text\": \"Dogs are loyal animals that bark\", \"kind\": \"pet\"}",
      "{\"id\": \"cars\", \"text\": \"Cars are machines with engines and wheels\", \"kind\": \"machine\"}"},
      3, NULL, 0, 0, NULL), 0);
  {
    pgml_v1_VectorSearchRequest req = {.collection = name, .query = "furry cats purr", .top_k = 2};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    assert_int_equal(vsearch(&req, &resp), 0);
    assert_int_equal(resp.results_count, 2);
    assert_string_equal(resp.results[0].document_id, "cats");
    assert_true(resp.results[0].score >= resp.results[1].score);
    assert_non_null(strstr(resp.results[0].metadata, "\"kind\""));
    assert_null(strstr(resp.results[0].metadata, "purr"));
    assert_int_equal(resp.results[0].chunk_index, 0);
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
  {
    pgml_v1_TextSearchRequest req = {.collection = name, .query = "animals -bark"};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    rc = pgml_database_text_search_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "text"), 0);
    assert_int_equal(resp.results_count, 1);
    assert_string_equal(resp.results[0].document_id, "cats");
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
  {
    pgml_v1_HybridSearchRequest req = {.collection = name, .query = "engines wheels", .top_k = 3};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    rc = pgml_database_hybrid_search_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "hybrid"), 0);
    assert_true(resp.results_count >= 1);
    assert_string_equal(resp.results[0].document_id, "cars");
    /* 0.5 * cosine + 0.5 * (rank / best rank = 1) */
    assert_true(resp.results[0].score > 0.5 && resp.results[0].score <= 1.0 + 1e-9);
    pb_release(pgml_v1_SearchResponse_fields, &resp);
    /* keyword part only: the best keyword match scores exactly 1 */
    req.keyword_weight = 1;
    rc = pgml_database_hybrid_search_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "hybrid"), 0);
    assert_true(fabs(resp.results[0].score - 1.0) < 1e-9);
    pb_release(pgml_v1_SearchResponse_fields, &resp);
    req.keyword_weight = -1;
    rc = pgml_database_hybrid_search_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "keyword_weight"));
    req.keyword_weight = 0;
    req.filter = "{\"kind\": \"pet\"}";
    rc = pgml_database_hybrid_search_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "hybrid"), 0);
    for (pb_size_t i = 0; i < resp.results_count; i++)
      assert_string_not_equal(resp.results[i].document_id, "cars");
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
  {
    pgml_v1_VectorSearchRequest req = {.collection = "t_missing_coll", .query = "x"};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    assert_int_equal(vsearch(&req, &resp), PGML_NOT_FOUND);
    assert_non_null(strstr(msg, "t_missing_coll"));
    req.collection = name;
    req.filter = "{\"$where\": 1}";
    assert_int_equal(vsearch(&req, &resp), PGML_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "$where"));
  }
  /* Hybrid with the client's vector on a "client" pipeline that has a
   * full-text config: the vector picks the semantic part. */
  {
    char cname[64];
    float v[2 * 2] = {1, 0, 0, 1};
    pgml_v1_HybridSearchRequest req = {.collection = cname, .query = "apples",
                                       .vector_count = 2, .vector = v + 2,
                                       .semantic_weight = 1};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    svc_name(cname, sizeof(cname), "hybvec");
    assert_int_equal(create(cname), 0);
    assert_int_equal(add_pipeline(cname, "cv", "client", 2, "english"), 0);
    assert_int_equal(upsert(cname, (const char *[]){"{\"id\": \"x\", \"text\": \"apples and pears\"}",
                                                    "{\"id\": \"y\", \"text\": \"plums\"}"},
                            2, v, 2, 0, NULL), 0);
    rc = pgml_database_hybrid_search_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code(rc, &res, "hybrid with a vector"), 0);
    assert_int_equal(resp.results_count, 2);
    /* semantic only: y's vector is the query's */
    assert_string_equal(resp.results[0].document_id, "y");
    assert_true(fabs(resp.results[0].score - 1.0) < 1e-6);
    pb_release(pgml_v1_SearchResponse_fields, &resp);
    req.vector_count = 0;
    rc = pgml_database_hybrid_search_sync(cl, &req, &resp, &svc_opts, &res);
    assert_int_equal(svc_code_msg(rc, &res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "client"));
  }
  /* A collection without a pipeline cannot be searched. */
  {
    char empty[64];
    pgml_v1_VectorSearchRequest req = {.collection = empty, .query = "x"};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    svc_name(empty, sizeof(empty), "empty");
    assert_int_equal(create(empty), 0);
    assert_int_equal(vsearch(&req, &resp), PGML_FAILED_PRECONDITION);
  }
}

/* A deadline shorter than the work: DEADLINE_EXCEEDED, and the daemon
 * serves on. */
static void deadline_exceeded(void **state)
{
  char name[64];
  pgml_call_options_t opts = {.timeout_ms = 1};
  pgml_v1_PipelineStatusRequest req;
  pgml_v1_PipelineStatusResponse resp = pgml_v1_PipelineStatusResponse_init_zero;
  pgml_sync_result_t res;
  int rc, i, seen = 0;

  (void)state;
  svc_name(name, sizeof(name), "deadline");
  assert_int_equal(create(name), 0);
  assert_int_equal(upsert1(name, "{\"id\": \"a\", \"text\": \"x\"}"), 0);
  req.collection = name;
  req.name = "default";
  for (i = 0; i < 20 && !seen; i++) {
    rc = pgml_database_pipeline_status_sync(cl, &req, &resp, &opts, &res);
    if (rc == 0)
      pb_release(pgml_v1_PipelineStatusResponse_fields, &resp);
    rc = svc_code_msg(rc, &res, msg, sizeof(msg));
    assert_true(rc == 0 || rc == PGML_DEADLINE_EXCEEDED);
    seen = rc == PGML_DEADLINE_EXCEEDED;
  }
  assert_true(seen);
  assert_int_equal(create(name), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(collections_lifecycle),
    cmocka_unit_test(collection_bad_names),
    cmocka_unit_test(unknown_collection_everywhere),
    cmocka_unit_test(pipeline_spec_errors),
    cmocka_unit_test(upsert_replaces_chunks),
    cmocka_unit_test(upsert_merge),
    cmocka_unit_test(upsert_errors),
    cmocka_unit_test(upsert_max_batch),
    cmocka_unit_test(get_paging_and_order),
    cmocka_unit_test(filter_operators),
    cmocka_unit_test(delete_documents),
    cmocka_unit_test(pipelines_lifecycle),
    cmocka_unit_test(exact_search_matches_brute_force),
    cmocka_unit_test(filtered_index_search),
    cmocka_unit_test(text_and_hybrid_search),
    cmocka_unit_test(deadline_exceeded),
  };

  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
