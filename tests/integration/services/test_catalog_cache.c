/* test_catalog_cache.c - two pgmld on one database: a search on one daemon sees the catalog changes made through the other (catalog cache and pgmld.catalog_version). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "svctest.h"

#define DIM 3

/* A searches (and caches the catalog); B changes it. */
static svc_daemon_t da, db;
static pgml_client_t *ca, *cb;
static PGconn *pg;
static char msg[600];

/* A database of its own: the tests check catalog_version, which every
 * other test's collections and pipelines would move. */
#define DBNAME "pgmld_catalog_cache"

static int group_setup(void **state)
{
  char url[400];

  (void)state;
  svc_own_database(DBNAME, url, sizeof(url));
  svc_daemon_start(&da, url, NULL);
  svc_daemon_start(&db, url, NULL);
  ca = svc_client(&da);
  cb = svc_client(&db);
  pg = svc_pg_db(DBNAME);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  pgml_client_free(ca);
  pgml_client_free(cb);
  PQfinish(pg);
  svc_daemon_stop(&da);
  svc_daemon_stop(&db);
  return 0;
}

/* ------------------------------------------------------------ helpers */

static int create(pgml_client_t *c, const char *name)
{
  return svc_create(c, name, msg, sizeof(msg));
}

static int add_client_pipeline_ft(pgml_client_t *c, const char *coll, const char *name,
                                  uint32_t dims, const char *fulltext)
{
  pgml_v1_AddPipelineRequest req = pgml_v1_AddPipelineRequest_init_zero;
  pgml_v1_PipelineInfo info = pgml_v1_PipelineInfo_init_zero;
  pgml_sync_result_t res;
  int rc;

  req.collection = (char *)coll;
  req.name = (char *)name;
  req.has_model = true;
  req.model.name = "client";
  req.model.dimensions = dims;
  req.fulltext_config = (char *)fulltext;
  rc = pgml_database_add_pipeline_sync(c, &req, &info, &svc_opts, &res);
  if (rc == 0)
    pb_release(pgml_v1_PipelineInfo_fields, &info);
  return svc_code_msg(rc, &res, msg, sizeof(msg));
}

static int add_client_pipeline(pgml_client_t *c, const char *coll, const char *name,
                               uint32_t dims)
{
  return add_client_pipeline_ft(c, coll, name, dims, NULL);
}

/* A TextSearch through daemon A for "document"; the number of results. */
static int text_a(const char *coll, int *count)
{
  pgml_v1_TextSearchRequest req = pgml_v1_TextSearchRequest_init_zero;
  pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
  pgml_sync_result_t res;
  int rc;

  req.collection = (char *)coll;
  req.query = "document";
  *count = -1;
  rc = pgml_database_text_search_sync(ca, &req, &resp, &svc_opts, &res);
  if (rc == 0) {
    *count = (int)resp.results_count;
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
  return svc_code_msg(rc, &res, msg, sizeof(msg));
}

/* Upserts one document `id` with vector v (dims floats). */
static int upsert(pgml_client_t *c, const char *coll, const char *id, const float *v,
                  uint32_t dims)
{
  char doc[128];
  char *docs[1] = {doc};
  pgml_v1_Vector vec = {.values_count = dims, .values = (float *)v};
  pgml_v1_UpsertDocumentsRequest req = {.collection = (char *)coll,
                                        .documents_count = 1,
                                        .documents = docs,
                                        .vectors_count = 1,
                                        .vectors = &vec};
  pgml_v1_UpsertDocumentsResponse resp = pgml_v1_UpsertDocumentsResponse_init_zero;
  pgml_sync_result_t res;
  int rc;

  snprintf(doc, sizeof(doc), "{\"id\": \"%s\", \"text\": \"document %s\"}", id, id);
  rc = pgml_database_upsert_documents_sync(c, &req, &resp, &svc_opts, &res);
  if (rc == 0)
    pb_release(pgml_v1_UpsertDocumentsResponse_fields, &resp);
  return svc_code_msg(rc, &res, msg, sizeof(msg));
}

/* A top-1 VectorSearch through daemon A; the best document's id is
 * copied into best ("" when no result). */
static int search_a(const char *coll, const char *pipeline, const float *v, uint32_t dims,
                    char *best, size_t len)
{
  pgml_v1_VectorSearchRequest req = pgml_v1_VectorSearchRequest_init_zero;
  pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
  pgml_sync_result_t res;
  int rc;

  req.collection = (char *)coll;
  req.pipeline = (char *)pipeline;
  req.vector_count = dims;
  req.vector = (float *)v;
  req.top_k = 1;
  best[0] = '\0';
  rc = pgml_database_vector_search_sync(ca, &req, &resp, &svc_opts, &res);
  if (rc == 0) {
    if (resp.results_count > 0)
      snprintf(best, len, "%s", resp.results[0].document_id);
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
  return svc_code_msg(rc, &res, msg, sizeof(msg));
}

static int pipeline_call(pgml_client_t *c, const char *coll, const char *name, int what)
{
  pgml_sync_result_t res;
  int rc;

  if (what == 'd' || what == 'e') {
    pgml_v1_DisablePipelineRequest dreq = {.collection = (char *)coll, .name = (char *)name};
    pgml_v1_EnablePipelineRequest ereq = {.collection = (char *)coll, .name = (char *)name};
    pgml_v1_PipelineInfo info = pgml_v1_PipelineInfo_init_zero;

    rc = what == 'd' ? pgml_database_disable_pipeline_sync(c, &dreq, &info, &svc_opts, &res)
                     : pgml_database_enable_pipeline_sync(c, &ereq, &info, &svc_opts, &res);
    if (rc == 0)
      pb_release(pgml_v1_PipelineInfo_fields, &info);
  } else {
    pgml_v1_RemovePipelineRequest req = {.collection = (char *)coll, .name = (char *)name};
    pgml_v1_RemovePipelineResponse resp = pgml_v1_RemovePipelineResponse_init_zero;

    rc = pgml_database_remove_pipeline_sync(c, &req, &resp, &svc_opts, &res);
    if (rc == 0)
      pb_release(pgml_v1_RemovePipelineResponse_fields, &resp);
  }
  return svc_code_msg(rc, &res, msg, sizeof(msg));
}

static int drop(pgml_client_t *c, const char *name)
{
  pgml_v1_DropCollectionRequest req = {.name = (char *)name};
  pgml_v1_DropCollectionResponse resp = pgml_v1_DropCollectionResponse_init_zero;
  pgml_sync_result_t res;
  int rc = pgml_database_drop_collection_sync(c, &req, &resp, &svc_opts, &res);

  if (rc == 0)
    pb_release(pgml_v1_DropCollectionResponse_fields, &resp);
  return svc_code_msg(rc, &res, msg, sizeof(msg));
}

static const float vx[DIM] = {1, 0, 0}, vy[DIM] = {0, 1, 0};

/* A collection `name` with pipeline "p" and documents x and y, searched
 * once through A so that A has it cached. */
static void setup_cached(const char *name)
{
  char best[64];

  assert_int_equal(create(ca, name), 0);
  assert_int_equal(add_client_pipeline(ca, name, "p", DIM), 0);
  assert_int_equal(upsert(ca, name, "x", vx, DIM), 0);
  assert_int_equal(upsert(ca, name, "y", vy, DIM), 0);
  assert_int_equal(search_a(name, NULL, vx, DIM, best, sizeof(best)), 0);
  assert_string_equal(best, "x");
}

/* ------------------------------------------------------------ tests */

static void version_moves_with_the_catalog(void **state)
{
  char name[64];
  int64_t v0, v1, v2;

  (void)state;
  svc_name(name, sizeof(name), "cv");
  v0 = svc_pg_int(pg, "SELECT v FROM pgmld.catalog_version");
  assert_int_equal(create(cb, name), 0);
  v1 = svc_pg_int(pg, "SELECT v FROM pgmld.catalog_version");
  assert_true(v1 > v0);
  /* An existing collection: no row changes, no bump. */
  assert_int_equal(create(cb, name), 0);
  assert_int_equal(svc_pg_int(pg, "SELECT v FROM pgmld.catalog_version"), v1);
  assert_int_equal(add_client_pipeline(cb, name, "p", DIM), 0);
  v2 = svc_pg_int(pg, "SELECT v FROM pgmld.catalog_version");
  assert_true(v2 > v1);
  /* Searching and upserting documents leave it alone. */
  assert_int_equal(upsert(cb, name, "x", vx, DIM), 0);
  assert_int_equal(svc_pg_int(pg, "SELECT v FROM pgmld.catalog_version"), v2);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.catalog_version"), 1);
}

/* The cache is used: a catalog change the version does not show is not
 * seen; once the version moves, it is. */
static void cache_used_until_version_moves(void **state)
{
  char name[64], best[64], sql[256];
  PGresult *r;

  (void)state;
  svc_name(name, sizeof(name), "cu");
  setup_cached(name);
  /* Disable "p" behind the triggers' back. */
  snprintf(sql, sizeof(sql),
           "SET session_replication_role = replica;"
           " UPDATE pgmld.pipelines SET enabled = false WHERE id = %lld;"
           " RESET session_replication_role",
           (long long)svc_pipeline_id(pg, name, "p"));
  r = PQexec(pg, sql);
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  assert_int_equal(search_a(name, NULL, vy, DIM, best, sizeof(best)), 0);
  assert_string_equal(best, "y");
  r = PQexec(pg, "UPDATE pgmld.catalog_version SET v = v + 1");
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  assert_int_equal(search_a(name, NULL, vy, DIM, best, sizeof(best)), PGML_FAILED_PRECONDITION);
  assert_non_null(strstr(msg, "no enabled pipeline"));
}

static void disabled_elsewhere(void **state)
{
  char name[64], best[64];

  (void)state;
  svc_name(name, sizeof(name), "dis");
  setup_cached(name);
  assert_int_equal(pipeline_call(cb, name, "p", 'd'), 0);
  assert_int_equal(search_a(name, NULL, vx, DIM, best, sizeof(best)), PGML_FAILED_PRECONDITION);
  assert_int_equal(search_a(name, "p", vx, DIM, best, sizeof(best)), PGML_FAILED_PRECONDITION);
  assert_non_null(strstr(msg, "is disabled"));
  /* And back: the negative answer was not cached. */
  assert_int_equal(pipeline_call(cb, name, "p", 'e'), 0);
  assert_int_equal(search_a(name, NULL, vy, DIM, best, sizeof(best)), 0);
  assert_string_equal(best, "y");
}

static void removed_and_replaced_elsewhere(void **state)
{
  static const float w4[4] = {0, 0, 0, 1};
  char name[64], best[64];

  (void)state;
  svc_name(name, sizeof(name), "rm");
  setup_cached(name);
  assert_int_equal(pipeline_call(cb, name, "p", 'r'), 0);
  assert_int_equal(search_a(name, "p", vx, DIM, best, sizeof(best)), PGML_NOT_FOUND);
  assert_non_null(strstr(msg, "pipeline p not found"));
  assert_int_equal(search_a(name, NULL, vx, DIM, best, sizeof(best)), PGML_FAILED_PRECONDITION);
  /* A new pipeline "q" of 4 dimensions with one new document: A searches
   * its table, not p's. */
  assert_int_equal(add_client_pipeline(cb, name, "q", 4), 0);
  assert_int_equal(upsert(cb, name, "w", w4, 4), 0);
  assert_int_equal(search_a(name, NULL, vx, DIM, best, sizeof(best)), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "needs 4"));
  assert_int_equal(search_a(name, NULL, w4, 4, best, sizeof(best)), 0);
  assert_string_equal(best, "w");
}

static void dropped_and_recreated_elsewhere(void **state)
{
  static const float z[DIM] = {0, 0, 1};
  char name[64], best[64];

  (void)state;
  svc_name(name, sizeof(name), "drop");
  setup_cached(name);
  assert_int_equal(drop(cb, name), 0);
  assert_int_equal(search_a(name, NULL, vx, DIM, best, sizeof(best)), PGML_NOT_FOUND);
  assert_non_null(strstr(msg, "not found"));
  /* Same name, new collection and pipeline ids: only its document. */
  assert_int_equal(create(cb, name), 0);
  assert_int_equal(add_client_pipeline(cb, name, "p", DIM), 0);
  assert_int_equal(upsert(cb, name, "z", z, DIM), 0);
  assert_int_equal(search_a(name, "p", vx, DIM, best, sizeof(best)), 0);
  assert_string_equal(best, "z");
}

/* The pipeline's table disappears without the version moving (a DROP the
 * search's version read could not see): the search reads the catalog
 * again and answers from it, not with PostgreSQL's undefined table. */
static void table_gone_without_version(void **state)
{
  char name[64], best[64], sql[512];
  long long id;
  PGresult *r;

  (void)state;
  svc_name(name, sizeof(name), "gone");
  setup_cached(name);
  id = (long long)svc_pipeline_id(pg, name, "p");
  snprintf(sql, sizeof(sql),
           "SET session_replication_role = replica;"
           " DELETE FROM pgmld.pipelines WHERE id = %lld;"
           " DROP TABLE pgmld.\"chunks_%lld\";"
           " RESET session_replication_role",
           id, id);
  r = PQexec(pg, sql);
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  assert_int_equal(search_a(name, "p", vx, DIM, best, sizeof(best)), PGML_NOT_FOUND);
  assert_non_null(strstr(msg, "pipeline p not found"));
  /* The daemon's lease is usable afterwards (the aborted transaction was
   * rolled back): a search on another collection works. */
  svc_name(name, sizeof(name), "gone2");
  setup_cached(name);
}

/* TextSearch goes through the same cache: a replaced pipeline is seen. */
static void text_search_follows(void **state)
{
  char name[64];
  int count;

  (void)state;
  svc_name(name, sizeof(name), "txt");
  assert_int_equal(create(ca, name), 0);
  assert_int_equal(add_client_pipeline_ft(ca, name, "t", DIM, "english"), 0);
  assert_int_equal(upsert(ca, name, "x", vx, DIM), 0);
  assert_int_equal(upsert(ca, name, "y", vy, DIM), 0);
  assert_int_equal(text_a(name, &count), 0);
  assert_int_equal(count, 2);
  /* Replaced through B by a pipeline without full text: refused, not
   * answered from the old table. */
  assert_int_equal(pipeline_call(cb, name, "t", 'r'), 0);
  assert_int_equal(add_client_pipeline(cb, name, "v", DIM), 0);
  assert_int_equal(text_a(name, &count), PGML_FAILED_PRECONDITION);
  assert_non_null(strstr(msg, "no fulltext_config"));
}

/* Local changes are seen at once too (through the same daemon). */
static void local_changes(void **state)
{
  char name[64], best[64];

  (void)state;
  svc_name(name, sizeof(name), "loc");
  setup_cached(name);
  assert_int_equal(pipeline_call(ca, name, "p", 'd'), 0);
  assert_int_equal(search_a(name, NULL, vx, DIM, best, sizeof(best)), PGML_FAILED_PRECONDITION);
  assert_int_equal(drop(ca, name), 0);
  assert_int_equal(search_a(name, NULL, vx, DIM, best, sizeof(best)), PGML_NOT_FOUND);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(version_moves_with_the_catalog),
    cmocka_unit_test(cache_used_until_version_moves),
    cmocka_unit_test(disabled_elsewhere),
    cmocka_unit_test(removed_and_replaced_elsewhere),
    cmocka_unit_test(dropped_and_recreated_elsewhere),
    cmocka_unit_test(table_gone_without_version),
    cmocka_unit_test(text_search_follows),
    cmocka_unit_test(local_changes),
  };

  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
