/* test_utf8.c - strings that are not UTF-8 (which protobuf-c lets through in proto3 strings) answered INVALID_ARGUMENT naming the field, by every RPC that takes text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pb_encode.h>

#include "svctest.h"

static svc_daemon_t daemon_;
static pgml_client_t *cl;
static PGconn *pg;
static char coll[64];

/* A lone continuation byte, an overlong '/', a truncated sequence and a
 * UTF-16 surrogate: each refused by the strict validator. */
#define BAD1 "ab\xff"
#define BAD2 "\xc0\xaf"
#define BAD3 "caf\xc3"
#define BAD4 "\xed\xa0\x80"

static int group_setup(void **state)
{
  pgml_v1_CreateOrGetCollectionRequest req = pgml_v1_CreateOrGetCollectionRequest_init_zero;
  pgml_v1_CollectionInfo info = pgml_v1_CollectionInfo_init_zero;
  pgml_sync_result_t res;
  int rc;

  (void)state;
  svc_daemon_start(&daemon_, NULL, NULL);
  cl = svc_client(&daemon_);
  pg = svc_pg();
  svc_name(coll, sizeof(coll), "utf8");
  req.name = coll;
  rc = pgml_database_create_or_get_collection_sync(cl, &req, &info, &svc_opts, &res);
  if (svc_code(rc, &res, "create") != 0)
    return -1;
  pb_release(pgml_v1_CollectionInfo_fields, &info);
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

/* The call failed with INVALID_ARGUMENT and a message that starts with
 * "<field>: invalid UTF-8" (NOT "out of memory", not INTERNAL). */
static void expect_field(int rc, pgml_sync_result_t *res, const char *field)
{
  char msg[600], want[128];

  assert_int_equal(svc_code_msg(rc, res, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
  snprintf(want, sizeof(want), "%s: invalid UTF-8 at byte ", field);
  if (strstr(msg, want) == NULL)
    fail_msg("expected \"%s...\", got \"%s\"", want, msg);
}

static void add_pipeline_fields(void **state)
{
  pgml_v1_AddPipelineRequest req = pgml_v1_AddPipelineRequest_init_zero;
  pgml_v1_PipelineInfo info = pgml_v1_PipelineInfo_init_zero;
  char *seps[2] = {(char *)"\n\n", (char *)BAD1};
  pgml_sync_result_t res;
  int rc;

  (void)state;
  req.collection = coll;
  req.name = (char *)"p";
  /* jansson's json_string() returns NULL for these: formerly answered as
   * RESOURCE_EXHAUSTED "out of memory building the pipeline spec". */
  req.has_splitter = true;
  req.splitter.separators_count = 2;
  req.splitter.separators = seps;
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  expect_field(rc, &res, "splitter.separators[1]");
  req.splitter.separators_count = 0;
  req.splitter.name = (char *)BAD2;
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  expect_field(rc, &res, "splitter.name");
  req.has_splitter = false;
  req.fulltext_config = (char *)BAD3;
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  expect_field(rc, &res, "fulltext_config");
  req.fulltext_config = NULL;
  req.text_field = (char *)BAD4;
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  expect_field(rc, &res, "text_field");
  req.text_field = NULL;
  req.has_model = true;
  req.model.name = (char *)BAD1;
  rc = pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res);
  expect_field(rc, &res, "model.name");
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.pipelines p JOIN pgmld.collections c"
                                  " ON c.id = p.collection_id WHERE c.name = '%s'", coll), 0);
}

static void upsert_document(void **state)
{
  const char *docs[2] = {"{\"id\": \"a\", \"text\": \"fine\"}",
                         "{\"id\": \"b\", \"text\": \"caf\xe9\"}"};   /* Latin-1 */
  pgml_v1_UpsertDocumentsRequest req = pgml_v1_UpsertDocumentsRequest_init_zero;
  pgml_v1_UpsertDocumentsResponse resp = pgml_v1_UpsertDocumentsResponse_init_zero;
  pgml_sync_result_t res;
  int rc;

  (void)state;
  req.collection = coll;
  req.documents_count = 2;
  req.documents = (char **)docs;
  rc = pgml_database_upsert_documents_sync(cl, &req, &resp, &svc_opts, &res);
  expect_field(rc, &res, "documents[1]");
  /* Nothing of the request was written. */
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.documents d JOIN pgmld.collections c"
                                  " ON c.id = d.collection_id WHERE c.name = '%s'", coll), 0);
}

static void get_and_delete(void **state)
{
  pgml_v1_GetDocumentsRequest get = pgml_v1_GetDocumentsRequest_init_zero;
  pgml_v1_GetDocumentsResponse gresp = pgml_v1_GetDocumentsResponse_init_zero;
  pgml_v1_DeleteDocumentsRequest del = pgml_v1_DeleteDocumentsRequest_init_zero;
  pgml_v1_DeleteDocumentsResponse dresp = pgml_v1_DeleteDocumentsResponse_init_zero;
  pgml_v1_OrderBy order[2] = {{(char *)"id", false}, {(char *)BAD3, false}};
  char *ids[2] = {(char *)"ok", (char *)BAD2};
  pgml_sync_result_t res;
  int rc;

  (void)state;
  get.collection = coll;
  get.after_id = (char *)BAD1;
  rc = pgml_database_get_documents_sync(cl, &get, &gresp, &svc_opts, &res);
  expect_field(rc, &res, "after_id");
  get.after_id = NULL;
  get.filter = (char *)"{\"tag\": \"" BAD4 "\"}";
  rc = pgml_database_get_documents_sync(cl, &get, &gresp, &svc_opts, &res);
  expect_field(rc, &res, "filter");
  get.filter = NULL;
  get.order_by_count = 2;
  get.order_by = order;
  rc = pgml_database_get_documents_sync(cl, &get, &gresp, &svc_opts, &res);
  expect_field(rc, &res, "order_by[1].field");

  del.collection = coll;
  del.ids_count = 2;
  del.ids = ids;
  rc = pgml_database_delete_documents_sync(cl, &del, &dresp, &svc_opts, &res);
  expect_field(rc, &res, "ids[1]");
  del.ids_count = 0;
  del.filter = (char *)"{\"" BAD1 "\": 1}";
  rc = pgml_database_delete_documents_sync(cl, &del, &dresp, &svc_opts, &res);
  expect_field(rc, &res, "filter");
}

static void searches(void **state)
{
  pgml_v1_VectorSearchRequest vreq = pgml_v1_VectorSearchRequest_init_zero;
  pgml_v1_TextSearchRequest treq = pgml_v1_TextSearchRequest_init_zero;
  pgml_v1_HybridSearchRequest hreq = pgml_v1_HybridSearchRequest_init_zero;
  pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
  pgml_sync_result_t res;
  int rc;

  (void)state;
  vreq.collection = coll;
  vreq.query = (char *)BAD1;
  rc = pgml_database_vector_search_sync(cl, &vreq, &resp, &svc_opts, &res);
  expect_field(rc, &res, "query");
  treq.collection = coll;
  treq.query = (char *)"fine";
  treq.filter = (char *)"{\"a\": \"" BAD2 "\"}";
  rc = pgml_database_text_search_sync(cl, &treq, &resp, &svc_opts, &res);
  expect_field(rc, &res, "filter");
  hreq.collection = coll;
  hreq.query = (char *)BAD4;
  rc = pgml_database_hybrid_search_sync(cl, &hreq, &resp, &svc_opts, &res);
  expect_field(rc, &res, "query");
}

/* The same strings, valid, work: the checks refuse only what is broken. */
static void valid_utf8_accepted(void **state)
{
  const char *docs[1] = {"{\"id\": \"caf\xc3\xa9\", \"text\": \"na\xc3\xafve \xe2\x82\xac \xf0\x9f\x98\x80\"}"};
  pgml_v1_UpsertDocumentsRequest req = pgml_v1_UpsertDocumentsRequest_init_zero;
  pgml_v1_UpsertDocumentsResponse resp = pgml_v1_UpsertDocumentsResponse_init_zero;
  pgml_v1_DeleteDocumentsRequest del = pgml_v1_DeleteDocumentsRequest_init_zero;
  pgml_v1_DeleteDocumentsResponse dresp = pgml_v1_DeleteDocumentsResponse_init_zero;
  char *ids[1] = {(char *)"caf\xc3\xa9"};
  pgml_sync_result_t res;
  int rc;

  (void)state;
  req.collection = coll;
  req.documents_count = 1;
  req.documents = (char **)docs;
  rc = pgml_database_upsert_documents_sync(cl, &req, &resp, &svc_opts, &res);
  assert_int_equal(svc_code(rc, &res, "upsert"), 0);
  assert_int_equal(resp.upserted, 1);
  assert_int_equal(resp.chunks, 1);
  del.collection = coll;
  del.ids_count = 1;
  del.ids = ids;
  rc = pgml_database_delete_documents_sync(cl, &del, &dresp, &svc_opts, &res);
  assert_int_equal(svc_code(rc, &res, "delete"), 0);
  assert_int_equal(dresp.deleted, 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(add_pipeline_fields),
    cmocka_unit_test(upsert_document),
    cmocka_unit_test(get_and_delete),
    cmocka_unit_test(searches),
    cmocka_unit_test(valid_utf8_accepted),
  };

  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
