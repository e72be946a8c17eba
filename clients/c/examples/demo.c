/* demo.c - the tour scripts/run.sh shows: a collection, a few documents,
 * and the three kinds of search, with the typed blocking calls that pgml-gen
 * generates from the .proto (pgml/database.h).  Exits 0 when every step
 * succeeded, 1 otherwise.
 *
 *   pgml-demo unix:///run/pgmld/pgmld.sock [COLLECTION]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pgml/blocking.h>
#include <pgml/client.h>
#include <pgml/database.h>

static const char *const documents[] = {
  "{\"id\": \"pg\", \"text\": \"PostgreSQL is a relational database with "
  "transactions, JSON and full-text search.\", \"kind\": \"database\", \"year\": 1996}",
  "{\"id\": \"pgvector\", \"text\": \"pgvector adds a vector type and HNSW "
  "indexes to the PostgreSQL database for similarity search.\", "
  "\"kind\": \"extension\", \"year\": 2021}",
  "{\"id\": \"c\", \"text\": \"C is a systems programming language; libuv and "
  "libpq are written in C.\", \"kind\": \"language\", \"year\": 1972}",
  "{\"id\": \"rust\", \"text\": \"Rust is a systems language with memory safety "
  "without a garbage collector.\", \"kind\": \"language\", \"year\": 2015}",
  "{\"id\": \"redis\", \"text\": \"Redis is an in-memory data store, often used "
  "as a cache in front of a database.\", \"kind\": \"database\", \"year\": 2009}",
};

/* Reports a call's failure; returns 0 when rc says it succeeded. */
static int check(const char *what, int rc, pgml_sync_result_t *res)
{
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, strerror(-rc));
    return -1;
  }
  if (rc > 0) {
    fprintf(stderr, "%s: %s: %s\n", what, pgml_code_name(res->code), res->message);
    pgml_sync_result_free(res);
    return -1;
  }
  pgml_sync_result_free(res);
  return 0;
}

static void print_results(const char *title, const pgml_v1_SearchResponse *r)
{
  printf("  %s\n", title);
  for (pb_size_t i = 0; i < r->results_count; i++) {
    const pgml_v1_SearchResult *hit = &r->results[i];
    printf("    %.4f  %-9s %s\n", hit->score, hit->document_id ? hit->document_id : "",
           hit->chunk ? hit->chunk : "");
  }
  if (r->results_count == 0)
    printf("    (no results)\n");
}

static int demo(pgml_client_t *c, char *name)
{
  pgml_call_options_t opts = {.timeout_ms = 60000};
  pgml_sync_result_t res;
  int rc;

  {
    pgml_v1_CreateOrGetCollectionRequest req = {.name = name};
    pgml_v1_CollectionInfo info = pgml_v1_CollectionInfo_init_zero;
    rc = pgml_database_create_or_get_collection_sync(c, &req, &info, &opts, &res);
    if (check("CreateOrGetCollection", rc, &res) < 0)
      return -1;
    printf("collection %s\n", info.name ? info.name : name);
    pb_release(pgml_v1_CollectionInfo_fields, &info);
  }
  {
    pgml_v1_UpsertDocumentsRequest req = {
      .collection = name,
      .documents_count = (pb_size_t)(sizeof(documents) / sizeof(documents[0])),
      .documents = (char **)documents,
    };
    pgml_v1_UpsertDocumentsResponse resp = pgml_v1_UpsertDocumentsResponse_init_zero;
    rc = pgml_database_upsert_documents_sync(c, &req, &resp, &opts, &res);
    if (check("UpsertDocuments", rc, &res) < 0)
      return -1;
    printf("upserted %llu documents (split, embedded and indexed by the "
           "collection's \"default\" pipeline)\n", (unsigned long long)resp.upserted);
    pb_release(pgml_v1_UpsertDocumentsResponse_fields, &resp);
  }
  {
    pgml_v1_VectorSearchRequest req = {
      .collection = name, .query = "Which one is a database?", .top_k = 3,
    };
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    rc = pgml_database_vector_search_sync(c, &req, &resp, &opts, &res);
    if (check("VectorSearch", rc, &res) < 0)
      return -1;
    print_results("vector search \"Which one is a database?\":", &resp);
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
  {
    pgml_v1_VectorSearchRequest req = {
      .collection = name, .query = "systems language", .top_k = 3,
      .filter = "{\"kind\": {\"$eq\": \"language\"}, \"year\": {\"$gt\": 2000}}",
    };
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    rc = pgml_database_vector_search_sync(c, &req, &resp, &opts, &res);
    if (check("VectorSearch with a filter", rc, &res) < 0)
      return -1;
    print_results("vector search \"systems language\" where kind = language and year > 2000:",
                  &resp);
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
  {
    pgml_v1_TextSearchRequest req = {.collection = name, .query = "database", .top_k = 3};
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    rc = pgml_database_text_search_sync(c, &req, &resp, &opts, &res);
    if (check("TextSearch", rc, &res) < 0)
      return -1;
    print_results("full-text search \"database\":", &resp);
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
  {
    pgml_v1_HybridSearchRequest req = {
      .collection = name, .query = "vector similarity in PostgreSQL", .top_k = 3,
      .semantic_weight = 0.7f, .keyword_weight = 0.3f,
    };
    pgml_v1_SearchResponse resp = pgml_v1_SearchResponse_init_zero;
    rc = pgml_database_hybrid_search_sync(c, &req, &resp, &opts, &res);
    if (check("HybridSearch", rc, &res) < 0)
      return -1;
    print_results("hybrid search \"vector similarity in PostgreSQL\" (0.7 semantic, 0.3 keyword):",
                  &resp);
    pb_release(pgml_v1_SearchResponse_fields, &resp);
  }
  return 0;
}

int main(int argc, char **argv)
{
  pgml_client_t *c;
  int rc;

  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: %s ADDRESS [COLLECTION]   (ADDRESS: unix:///path/to/pgmld.sock)\n",
            argv[0]);
    return 1;
  }
  rc = pgml_client_new(argv[1], NULL, &c);
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", argv[1], strerror(-rc));
    return 1;
  }
  rc = demo(c, argc == 3 ? argv[2] : "demo");
  pgml_client_free(c);
  return rc == 0 ? 0 : 1;
}
