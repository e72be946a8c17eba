/* search.c - VectorSearch, TextSearch, HybridSearch. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/server.h"
#include "services/registry.h"
#include "services/svc.h"
#include "sql/filter.h"
#include "sql/vector.h"

#define TOP_K_DEFAULT 10u
/* Longest query text, in bytes. */
#define QUERY_MAX_BYTES (64u * 1024u)
/* pgvector's hnsw.ef_search range. */
#define EF_SEARCH_MAX 1000u

typedef enum { SEARCH_VECTOR, SEARCH_TEXT, SEARCH_HYBRID } search_kind_t;

typedef struct search_job_s {
  pgmld_svc_job_t job;
  search_kind_t kind;
  const char *collection;       /* the strings are borrowed from the request */
  const char *query;
  const float *vector;
  size_t n_vector;
  uint32_t top_k;
  const char *filter;
  uint32_t ef_search;
  const char *pipeline;
  int exact;
  double semantic_weight, keyword_weight;
  pgmld_svc_cached_t *cached;   /* a reference: the catalog in use */
  int checked;                  /* cached is unverified: the search batch
                                   checks catalog_version first */
  size_t select_at;             /* the search statement's index in its batch */
  int began;                    /* the batch opened a transaction (exact) */
  int sets_session;             /* the batch sets the session's settings */
  uint64_t session;             /* ...to this (see session_word) */
  pgmld_svc_pipeline_t pl;      /* the pipeline used: a copy of the cached
                                   one (strings and spec borrowed from it)
                                   with this job's own splitter and model */
  pgmld_svc_pipeline_t *p;      /* &pl once chosen */
  float *qvec;                  /* owned: the query's embedding */
} search_job_t;

/* Forgets the catalog and what was derived from it. */
static void search_reset(search_job_t *sj)
{
  if (sj->pl.splitter != NULL)
    pgmld_splitter_free(sj->pl.splitter);
  pgmld_model_close(sj->pl.model);
  memset(&sj->pl, 0, sizeof(sj->pl));
  sj->p = NULL;
  pgmld_free(sj->qvec);
  sj->qvec = NULL;
  pgmld__svc_cache_unref(sj->cached);
  sj->cached = NULL;
  sj->checked = 0;
  sj->began = 0;
  sj->sets_session = 0;
}

static void search_destroy(pgmld_svc_job_t *job)
{
  search_job_t *sj = (search_job_t *)job;

  search_reset(sj);
  pgmld_free(sj);
}

static void catalog_refresh(search_job_t *sj, int rollback_first);

/* ------------------------------------------------------------ results */

/* A failed search on a cached catalog runs again on a fresh one when the
 * catalog moved or its statement found its table dropped (42P01, mapped
 * to NOT_FOUND), unless the failure ends the call anyway. */
static int retryable(const search_job_t *sj, PGresult *const *res, size_t n,
                     const pgmld_status_t *st, int stale)
{
  switch (st->code) {
  case PGMLD_CANCELLED:
  case PGMLD_DEADLINE_EXCEEDED:
  case PGMLD_UNAVAILABLE:
  case PGMLD_RESOURCE_EXHAUSTED:
    return 0;
  default:
    break;
  }
  return stale || (st->code == PGMLD_NOT_FOUND && sj->select_at < n && res[sj->select_at] != NULL &&
                   PQresultStatus(res[sj->select_at]) == PGRES_FATAL_ERROR);
}

static void search_done(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                        const pgmld_status_t *st)
{
  Pgml__V1__SearchResponse resp = PGML__V1__SEARCH_RESPONSE__INIT;
  Pgml__V1__SearchResult *out = NULL, **ptrs = NULL;
  search_job_t *sj = (search_job_t *)job;
  const PGresult *r;
  int rows, i;

  /* A failed batch rolled its settings back with the rest. */
  if (sj->sets_session && pgmld_status_ok(st))
    *pgmld_pool_conn_session(job->conn) = sj->session;
  if (sj->checked) {
    const PGresult *v = res[0];
    int stale = v != NULL && PQresultStatus(v) == PGRES_TUPLES_OK && PQntuples(v) == 1 &&
                pgmld__svc_int64(v, 0, 0) != sj->cached->version;

    /* The catalog changed since it was cached, or the pipeline's table
     * was dropped after the version was read (42P01, NOT_FOUND): the
     * results are discarded and the search runs once more on a fresh
     * catalog. */
    if (pgmld_status_ok(st) ? stale : retryable(sj, res, n, st, stale)) {
      /* An error left the batch's explicit transaction (if any) aborted;
       * an implicit one ended with the batch. */
      catalog_refresh(sj, !pgmld_status_ok(st) && sj->began);
      return;
    }
    if (!pgmld_status_ok(st)) {
      pgmld__svc_fail_status(job, st);
      return;
    }
  }
  if (sj->select_at >= n || res[sj->select_at] == NULL) {
    pgmld__svc_fail(job, PGMLD_INTERNAL, "%s: no result for the search statement",
                    pgmld_call_method(job->call));
    return;
  }
  r = res[sj->select_at];
  rows = PQntuples(r);
  if (rows > 0) {
    out = pgmld_calloc((size_t)rows, sizeof(*out));
    ptrs = pgmld_calloc((size_t)rows, sizeof(*ptrs));
    if (out == NULL || ptrs == NULL) {
      pgmld_free(out);
      pgmld_free(ptrs);
      pgmld__svc_fail_nomem(job, "reading search results");
      return;
    }
  }
  for (i = 0; i < rows; i++) {
    static const Pgml__V1__SearchResult init = PGML__V1__SEARCH_RESULT__INIT;

    out[i] = init;
    out[i].score = strtod(PQgetvalue(r, i, 0), NULL);
    out[i].chunk = PQgetvalue(r, i, 1);
    out[i].document_id = PQgetvalue(r, i, 2);
    out[i].metadata = PQgetvalue(r, i, 3);
    out[i].chunk_index = (uint32_t)pgmld__svc_int64(r, i, 4);
    ptrs[i] = &out[i];
  }
  resp.n_results = (size_t)rows;
  resp.results = ptrs;
  pgmld__svc_reply(job, &resp.base);
  pgmld_free(out);
  pgmld_free(ptrs);
}

/* ------------------------------------------------------------ SQL */

/* The FROM clause every search shares: the pipeline's chunks and their
 * documents. */
static int from_chunks(pgmld_sqlbuf_t *sb, const pgmld_svc_pipeline_t *p)
{
  int rc = pgmld_sqlbuf_append(sb, " FROM ");

  if (rc == 0)
    rc = pgmld_sqlbuf_append_chunks_table(sb, p->id);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, " c JOIN pgmld.documents d ON d.id = c.document_id");
  return rc;
}

static int add_filter(search_job_t *sj, pgmld_sqlbuf_t *sb, pgmld_status_t *st)
{
  if (pgmld_sqlbuf_append(sb, " AND ") < 0)
    return -ENOMEM;
  return pgmld_filter_compile_text(sj->filter, sj->filter != NULL ? strlen(sj->filter) : 0,
                                   "d.document", sb, st);
}

/* The index settings a search wants on its PostgreSQL session, as one word
 * (0 is "nothing set", a new session): hnsw.ef_search in the low 32 bits,
 * and bit 32 for hnsw.iterative_scan = relaxed_order.  With iterative scans
 * the index keeps producing candidates until the filter has let top_k
 * through (relaxed order: re-sorted outside). */
#define SESSION_ITERATIVE (1ull << 32)

static uint64_t session_word(search_job_t *sj, uint32_t *ef, int *iterative)
{
  const pgmld_config_t *cfg = pgmld_server_config(sj->job.srv);
  const char *const *features;
  size_t nf, i;

  *ef = sj->ef_search ? sj->ef_search : cfg->database.ef_search;
  *iterative = 0;
  features = pgmld_server_features(sj->job.srv, &nf);
  for (i = 0; i < nf; i++)
    *iterative |= strcmp(features[i], "pgvector-iterative-scan") == 0;
  return (uint64_t)*ef | (*iterative ? SESSION_ITERATIVE : 0);
}

/* The settings of an index search.  An exact search turns index scans off
 * for its own transaction (BEGIN ... COMMIT around it).  Otherwise the
 * settings are the session's: set once per PostgreSQL session and again
 * only when a search wants other values, so that the common search is its
 * one statement, in the implicit transaction of its round trip. */
static int settings_sql(search_job_t *sj, pgmld_svc_batch_t *b)
{
  uint32_t ef;
  int iterative, rc;
  uint64_t want = session_word(sj, &ef, &iterative);
  pgmld_sqlbuf_t *sb;

  if (sj->exact) {
    sj->began = 1;
    rc = pgmld__svc_batch_sql(b, "BEGIN");
    if (rc == 0)
      rc = pgmld__svc_batch_sql(b, "SELECT set_config('enable_indexscan', 'off', true)");
    return rc;
  }
  if (*pgmld_pool_conn_session(sj->job.conn) == want)
    return 0;
  sj->sets_session = 1;
  sj->session = want;
  rc = pgmld__svc_batch_add(b, &sb);
  if (rc == 0)
    rc = pgmld_sqlbuf_appendf(sb, "SELECT set_config('hnsw.ef_search', '%" PRIu32 "', false)%s", ef,
                              iterative ? ", set_config('hnsw.iterative_scan', 'relaxed_order', false)"
                                        : "");
  return rc;
}

/* Adds the query vector as one binary parameter; returns its number. */
static int vector_param(search_job_t *sj, pgmld_sqlbuf_t *sb)
{
  const float *v = sj->qvec != NULL ? sj->qvec : sj->vector;
  uint32_t dim = sj->p->dimensions;
  size_t len = pgmld_vector_binary_size(dim);
  uint8_t *buf = pgmld_malloc(len);
  int rc;

  if (buf == NULL)
    return -ENOMEM;
  rc = pgmld_vector_encode_binary(v, dim, buf, len);
  if (rc == 0)
    rc = pgmld_sqlbuf_add_param(sb, buf, len, PGMLD_SQL_FORMAT_BINARY, PGMLD_OID_UNKNOWN);
  pgmld_free(buf);
  return rc;
}

static int vector_sql(search_job_t *sj, pgmld_sqlbuf_t *sb, pgmld_status_t *st)
{
  int v = vector_param(sj, sb), tf, rc;

  if (v < 0)
    return v;
  tf = pgmld_sqlbuf_add_param(sb, sj->p->text_field, strlen(sj->p->text_field),
                              PGMLD_SQL_FORMAT_TEXT, PGMLD_OID_TEXT);
  if (tf < 0)
    return tf;
  rc = pgmld_sqlbuf_appendf(sb, "SELECT s.score, s.chunk, s.doc_id, s.meta, s.chunk_index FROM ("
                                "SELECT 1 - (c.embedding <=> $%d::vector) AS score, c.chunk, d.doc_id,"
                                " (d.document - $%d::text)::text AS meta, c.chunk_index,"
                                " c.embedding <=> $%d::vector AS dist",
                            v, tf, v);
  if (rc == 0)
    rc = from_chunks(sb, sj->p);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, " WHERE c.embedding IS NOT NULL");
  if (rc == 0 && (rc = add_filter(sj, sb, st)) < 0)
    return rc;
  if (rc == 0)
    rc = pgmld_sqlbuf_appendf(sb, " ORDER BY c.embedding <=> $%d::vector LIMIT %" PRIu32 ") s"
                                  " ORDER BY s.dist, s.doc_id COLLATE \"C\", s.chunk_index",
                              v, sj->top_k);
  return rc;
}

/* The parameters of a keyword search: its text search configuration, the
 * query, and the document field that holds the text (left out of the
 * metadata returned).  Their numbers go to *cfg, *q, *tf. */
static int keyword_params(search_job_t *sj, pgmld_sqlbuf_t *sb, int *cfg, int *q, int *tf)
{
  *cfg = pgmld_sqlbuf_add_param(sb, sj->p->fulltext_config, strlen(sj->p->fulltext_config),
                                PGMLD_SQL_FORMAT_TEXT, PGMLD_OID_TEXT);
  if (*cfg < 0)
    return *cfg;
  *q = pgmld_sqlbuf_add_param(sb, sj->query, strlen(sj->query), PGMLD_SQL_FORMAT_TEXT,
                              PGMLD_OID_TEXT);
  if (*q < 0)
    return *q;
  *tf = pgmld_sqlbuf_add_param(sb, sj->p->text_field, strlen(sj->p->text_field),
                               PGMLD_SQL_FORMAT_TEXT, PGMLD_OID_TEXT);
  return *tf < 0 ? *tf : 0;
}

static int text_sql(search_job_t *sj, pgmld_sqlbuf_t *sb, pgmld_status_t *st)
{
  int cfg, q, tf, rc;

  if ((rc = keyword_params(sj, sb, &cfg, &q, &tf)) < 0)
    return rc;
  rc = pgmld_sqlbuf_appendf(sb, "SELECT ts_rank(c.tsv, q.q)::float8 AS score, c.chunk, d.doc_id,"
                                " (d.document - $%d::text)::text, c.chunk_index",
                            tf);
  if (rc == 0)
    rc = from_chunks(sb, sj->p);
  if (rc == 0)
    rc = pgmld_sqlbuf_appendf(sb, " CROSS JOIN websearch_to_tsquery($%d::regconfig, $%d::text) AS q(q)"
                                  " WHERE c.tsv @@ q.q",
                              cfg, q);
  if (rc == 0 && (rc = add_filter(sj, sb, st)) < 0)
    return rc;
  if (rc == 0)
    rc = pgmld_sqlbuf_appendf(sb, " ORDER BY score DESC, d.doc_id COLLATE \"C\", c.chunk_index"
                                  " LIMIT %" PRIu32,
                              sj->top_k);
  return rc;
}

/* Candidates per part of a hybrid search. */
static uint32_t hybrid_candidates(uint32_t top_k)
{
  uint32_t c = top_k * 4u;

  return c < 40u ? 40u : c;
}

/* Each part picks its own candidates (the nearest chunks by the index,
 * the best-ranked by ts_rank); every candidate is then scored on both:
 * cosine similarity, and ts_rank divided by the best ts_rank among the
 * keyword candidates (so that the keyword part lies in [0, 1]). */
static int hybrid_sql(search_job_t *sj, pgmld_sqlbuf_t *sb, pgmld_status_t *st)
{
  uint32_t cand = hybrid_candidates(sj->top_k);
  int v = vector_param(sj, sb), cfg, q, tf, sw, kw, rc;
  char w[2][32];

  if (v < 0)
    return v;
  if ((rc = keyword_params(sj, sb, &cfg, &q, &tf)) < 0)
    return rc;
  snprintf(w[0], sizeof(w[0]), "%.17g", sj->semantic_weight);
  snprintf(w[1], sizeof(w[1]), "%.17g", sj->keyword_weight);
  sw = pgmld_sqlbuf_add_param(sb, w[0], strlen(w[0]), PGMLD_SQL_FORMAT_TEXT, PGMLD_OID_FLOAT8);
  kw = sw < 0 ? sw : pgmld_sqlbuf_add_param(sb, w[1], strlen(w[1]), PGMLD_SQL_FORMAT_TEXT, PGMLD_OID_FLOAT8);
  if (kw < 0)
    return kw;
  rc = pgmld_sqlbuf_append(sb, "WITH sem AS (SELECT c.id");
  if (rc == 0)
    rc = from_chunks(sb, sj->p);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, " WHERE c.embedding IS NOT NULL");
  if (rc == 0 && (rc = add_filter(sj, sb, st)) < 0)
    return rc;
  if (rc == 0)
    rc = pgmld_sqlbuf_appendf(sb, " ORDER BY c.embedding <=> $%d::vector LIMIT %" PRIu32 "),"
                                  " kw AS (SELECT c.id, ts_rank(c.tsv, q.q)::float8 AS r",
                              v, cand);
  if (rc == 0)
    rc = from_chunks(sb, sj->p);
  if (rc == 0)
    rc = pgmld_sqlbuf_appendf(sb, " CROSS JOIN websearch_to_tsquery($%d::regconfig, $%d::text) AS q(q)"
                                  " WHERE c.tsv @@ q.q",
                              cfg, q);
  if (rc == 0 && (rc = add_filter(sj, sb, st)) < 0)
    return rc;
  if (rc == 0)
    rc = pgmld_sqlbuf_appendf(
        sb,
        " ORDER BY r DESC LIMIT %" PRIu32 "),"
        " kwmax AS (SELECT max(r) AS m FROM kw),"
        " ids AS (SELECT id FROM sem UNION SELECT id FROM kw)"
        " SELECT ($%d::float8 * COALESCE(1 - (c.embedding <=> $%d::vector), 0)"
        " + $%d::float8 * COALESCE(kw.r / NULLIF(kwmax.m, 0), 0))::float8 AS score,"
        " c.chunk, d.doc_id, (d.document - $%d::text)::text, c.chunk_index"
        " FROM ids JOIN ",
        cand, sw, v, kw, tf);
  if (rc == 0)
    rc = pgmld_sqlbuf_append_chunks_table(sb, sj->p->id);
  if (rc == 0)
    rc = pgmld_sqlbuf_appendf(sb, " c ON c.id = ids.id JOIN pgmld.documents d ON d.id = c.document_id"
                                  " LEFT JOIN kw ON kw.id = c.id CROSS JOIN kwmax"
                                  " ORDER BY score DESC, d.doc_id COLLATE \"C\", c.chunk_index"
                                  " LIMIT %" PRIu32,
                              sj->top_k);
  return rc;
}

static void search_build(search_job_t *sj)
{
  pgmld_svc_job_t *job = &sj->job;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_sqlbuf_t *sb;
  int rc = 0;

  /* In the same round trip, before the search: is the cached catalog
   * still the database's? */
  if (sj->checked) {
    rc = pgmld__svc_batch_sql(&job->batch, PGMLD_SVC_CATALOG_VERSION_SQL);
    pgmld__svc_batch_prepare(&job->batch);
  }
  if (rc == 0 && sj->kind != SEARCH_TEXT)
    rc = settings_sql(sj, &job->batch);
  if (rc == 0) {
    sj->select_at = job->batch.n;
    rc = pgmld__svc_batch_add(&job->batch, &sb);
  }
  if (rc == 0) {
    switch (sj->kind) {
    case SEARCH_TEXT: rc = text_sql(sj, sb, &st); break;
    case SEARCH_VECTOR: rc = vector_sql(sj, sb, &st); break;
    case SEARCH_HYBRID: rc = hybrid_sql(sj, sb, &st); break;
    }
  }
  /* A vector search without a filter varies only with the pipeline and
   * top_k (the values are parameters), and its plan does not depend on
   * them (the index orders by distance to whatever vector): it is worth
   * preparing.  A filter's constants are in its text; and a keyword
   * search's plan depends on its query's words, which a generic plan of a
   * prepared statement would not see. */
  if (rc == 0 && sj->kind == SEARCH_VECTOR && (sj->filter == NULL || sj->filter[0] == '\0'))
    pgmld__svc_batch_prepare(&job->batch);
  if (rc == 0 && sj->began)
    rc = pgmld__svc_batch_sql(&job->batch, "COMMIT");
  if (rc < 0) {
    if (pgmld_status_ok(&st))
      pgmld_status_set(&st, PGMLD_RESOURCE_EXHAUSTED, "out of memory building the search");
    pgmld__svc_fail_status(job, &st);
    return;
  }
  pgmld__svc_run(job, sj->checked ? PGMLD_SVC_WANT_ERRORS : 0, search_done);
}

static void query_embedded(pgmld_model_t *model, const pgmld_status_t *st, void *data)
{
  search_job_t *sj = data;

  (void)model;
  if (!pgmld_status_ok(st)) {
    pgmld__svc_fail_status(&sj->job, st);
    return;
  }
  if (pgmld_vector_is_zero(sj->qvec, sj->p->dimensions)) {
    pgmld__svc_fail(&sj->job, PGMLD_INVALID_ARGUMENT,
                    "query: its embedding is all zeros (no word the model knows); use TextSearch or other words");
    return;
  }
  search_build(sj);
}

/* A refusal decided from the catalog: final when the catalog was just
 * read, else it may be stale, so it is read again first. */
static void refuse(search_job_t *sj, const pgmld_status_t *st)
{
  if (sj->checked)
    catalog_refresh(sj, 0);
  else
    pgmld__svc_fail_status(&sj->job, st);
}

/* Chooses the pipeline from sj->cached and goes on to the search. */
static void search_with_catalog(search_job_t *sj)
{
  pgmld_svc_job_t *job = &sj->job;
  pgmld_status_t err = PGMLD_STATUS_INIT;
  pgmld_svc_pipeline_t *cp;
  size_t len;

  cp = pgmld__svc_search_pipeline(&sj->cached->coll, sj->pipeline, &err);
  if (cp == NULL) {
    refuse(sj, &err);
    return;
  }
  sj->pl = *cp;
  sj->pl.splitter = NULL;
  sj->pl.model = NULL;
  sj->p = &sj->pl;
  if (sj->kind != SEARCH_VECTOR && sj->p->fulltext_config[0] == '\0') {
    if (sj->checked) {
      catalog_refresh(sj, 0);
      return;
    }
    pgmld__svc_fail(job, PGMLD_FAILED_PRECONDITION,
                    "pipeline %s of collection %s has no fulltext_config: it cannot do %s",
                    sj->p->name, sj->collection,
                    sj->kind == SEARCH_TEXT ? "TextSearch" : "HybridSearch");
    return;
  }
  if (sj->kind == SEARCH_TEXT) {
    search_build(sj);
    return;
  }
  if (sj->n_vector > 0) {
    if (sj->n_vector != sj->p->dimensions) {
      if (sj->checked) {
        catalog_refresh(sj, 0);
        return;
      }
      pgmld__svc_fail(job, PGMLD_INVALID_ARGUMENT,
                      "vector: %zu dimensions; pipeline %s needs %" PRIu32, sj->n_vector,
                      sj->p->name, sj->p->dimensions);
      return;
    }
    search_build(sj);
    return;
  }
  if (pgmld__svc_pipeline_is_client(sj->p)) {
    if (sj->checked) {
      catalog_refresh(sj, 0);
      return;
    }
    pgmld__svc_fail(job, PGMLD_INVALID_ARGUMENT,
                    "vector: pipeline %s has model \"client\": send the query's vector, not its text",
                    sj->p->name);
    return;
  }
  if (pgmld__svc_pipeline_open(sj->p, &err) < 0) {
    pgmld__svc_fail_status(job, &err);
    return;
  }
  sj->qvec = pgmld_calloc(sj->p->dimensions, sizeof(float));
  if (sj->qvec == NULL) {
    pgmld__svc_fail_nomem(job, "embedding the query");
    return;
  }
  len = strlen(sj->query);
  /* done may run before this returns, and end the job. */
  if (pgmld_model_embed(sj->p->model, &sj->query, &len, 1, sj->qvec, query_embedded, sj, &err) < 0)
    pgmld__svc_fail_status(job, &err);
}

/* The answer to catalog_refresh()'s batch: [ROLLBACK,] version, catalog. */
static void catalog_read(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                         const pgmld_status_t *st)
{
  search_job_t *sj = (search_job_t *)job;
  pgmld_status_t err = PGMLD_STATUS_INIT;
  pgmld_svc_collection_t coll;
  size_t at = n - 2;
  int64_t version;

  (void)st;
  version = pgmld__svc_int64(res[at], 0, 0);
  if (pgmld__svc_catalog_parse(res[at + 1], sj->collection, &coll, &err) < 0) {
    pgmld__svc_collection_free(&coll);
    if (err.code == PGMLD_NOT_FOUND)
      pgmld__svc_cache_invalidate(job->srv, sj->collection);
    pgmld__svc_fail_status(job, &err);
    return;
  }
  if (pgmld__svc_cache_put(job->srv, &coll, version, &sj->cached) < 0) {
    pgmld__svc_fail_nomem(job, "caching the catalog");
    return;
  }
  /* Even when the cache kept a newer entry than this read, it is newer
   * still, so it needs no check before use. */
  sj->checked = 0;
  search_with_catalog(sj);
}

/* Reads the catalog (and its version, first, so that the entry is never
 * tagged newer than what it holds) and searches with it. */
static void catalog_refresh(search_job_t *sj, int rollback_first)
{
  pgmld_svc_job_t *job = &sj->job;
  int rc = 0;

  search_reset(sj);
  if (rollback_first)
    rc = pgmld__svc_batch_sql(&job->batch, "ROLLBACK");
  if (rc == 0)
    rc = pgmld__svc_batch_sql(&job->batch, PGMLD_SVC_CATALOG_VERSION_SQL);
  if (rc == 0)
    rc = pgmld__svc_catalog_sql(&job->batch, sj->collection, "");
  if (rc < 0) {
    pgmld__svc_fail_nomem(job, "reading the catalog");
    return;
  }
  pgmld__svc_run(job, 0, catalog_read);
}

static void search_ready(pgmld_svc_job_t *job)
{
  search_job_t *sj = (search_job_t *)job;

  sj->cached = pgmld__svc_cache_get(job->srv, sj->collection);
  if (sj->cached == NULL) {
    catalog_refresh(sj, 0);
    return;
  }
  sj->checked = 1;
  search_with_catalog(sj);
}

/* Checks what can be checked without the database, then starts. */
static void search_start(pgmld_call_t *call, search_job_t *sj)
{
  const pgmld_config_t *cfg = pgmld_server_config(pgmld_call_server(call));
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_sqlbuf_t scratch = PGMLD_SQLBUF_INIT;
  size_t qlen = sj->query != NULL ? strlen(sj->query) : 0;

  if (sj->query == NULL)
    sj->query = "";
  if (sj->pipeline != NULL && sj->pipeline[0] != '\0' &&
      pgmld_sql_check_name(sj->pipeline, "pipeline", &st) < 0)
    goto fail;
  if (pgmld_sql_check_name(sj->collection, "collection", &st) < 0)
    goto fail;
  if (pgmld__svc_check_utf8(sj->query, "query", &st) < 0 ||
      pgmld__svc_check_utf8(sj->filter, "filter", &st) < 0)
    goto fail;
  if (sj->top_k == 0)
    sj->top_k = TOP_K_DEFAULT;
  if (sj->top_k > cfg->limits.max_top_k) {
    pgmld_status_set(&st, PGMLD_INVALID_ARGUMENT,
                     "top_k: %" PRIu32 " is more than limits.max_top_k (%" PRIu32 ")", sj->top_k,
                     cfg->limits.max_top_k);
    goto fail;
  }
  if (sj->ef_search > EF_SEARCH_MAX) {
    pgmld_status_set(&st, PGMLD_INVALID_ARGUMENT,
                     "ef_search: %" PRIu32 " is out of range (1 to %u; 0 for the server's default)",
                     sj->ef_search, EF_SEARCH_MAX);
    goto fail;
  }
  if (qlen > QUERY_MAX_BYTES) {
    pgmld_status_set(&st, PGMLD_INVALID_ARGUMENT, "query: %zu bytes is more than %u", qlen,
                     QUERY_MAX_BYTES);
    goto fail;
  }
  if (sj->kind == SEARCH_VECTOR && (qlen > 0) == (sj->n_vector > 0)) {
    pgmld_status_set(&st, PGMLD_INVALID_ARGUMENT,
                     "give exactly one of query and vector (got %s)", qlen ? "both" : "neither");
    goto fail;
  }
  if (sj->kind != SEARCH_VECTOR && qlen == 0) {
    pgmld_status_set(&st, PGMLD_INVALID_ARGUMENT, "query: required");
    goto fail;
  }
  if (sj->n_vector > 0) {
    if (sj->n_vector > PGMLD_VECTOR_MAX_DIMENSIONS ||
        pgmld_vector_check(sj->vector, (uint32_t)sj->n_vector, "vector", &st) < 0) {
      pgmld_status_set(&st, PGMLD_INVALID_ARGUMENT, "vector: more than %u dimensions",
                       PGMLD_VECTOR_MAX_DIMENSIONS);
      goto fail;
    }
    if (pgmld_vector_is_zero(sj->vector, (uint32_t)sj->n_vector)) {
      pgmld_status_set(&st, PGMLD_INVALID_ARGUMENT,
                       "vector: all zeros, which has no direction to compare by cosine");
      goto fail;
    }
  }
  if (sj->kind == SEARCH_HYBRID) {
    if (!isfinite(sj->semantic_weight) || !isfinite(sj->keyword_weight) ||
        sj->semantic_weight < 0 || sj->keyword_weight < 0) {
      pgmld_status_set(&st, PGMLD_INVALID_ARGUMENT,
                       "semantic_weight and keyword_weight must be finite and not negative (got %g and %g)",
                       sj->semantic_weight, sj->keyword_weight);
      goto fail;
    }
    if (sj->semantic_weight == 0 && sj->keyword_weight == 0)
      sj->semantic_weight = sj->keyword_weight = 0.5;
  }
  /* A bad filter is refused before any database work. */
  if (pgmld_filter_compile_text(sj->filter, sj->filter != NULL ? strlen(sj->filter) : 0,
                                "d.document", &scratch, &st) < 0) {
    pgmld_sqlbuf_free(&scratch);
    goto fail;
  }
  pgmld_sqlbuf_free(&scratch);
  pgmld__svc_start(&sj->job, call, search_ready, search_destroy);
  return;

fail:
  pgmld_free(sj);
  pgmld_call_fail_status(call, &st);
}

/* A job with the fields the search requests share (TextSearch has no
 * vector nor ef_search: NULL, 0, 0); NULL when the call was ended (no
 * memory).  The strings and the vector are borrowed from the request. */
static search_job_t *search_new(pgmld_call_t *call, search_kind_t kind, const char *collection,
                                const char *query, uint32_t top_k, const char *filter,
                                const char *pipeline, const float *vector, size_t n_vector,
                                uint32_t ef_search)
{
  search_job_t *sj = pgmld_calloc(1, sizeof(*sj));

  if (sj == NULL) {
    pgmld_call_fail(call, PGMLD_RESOURCE_EXHAUSTED, "out of memory starting %s",
                    pgmld_call_method(call));
    return NULL;
  }
  sj->kind = kind;
  sj->collection = collection;
  sj->query = query;
  sj->top_k = top_k;
  sj->filter = filter;
  sj->pipeline = pipeline;
  sj->vector = vector;
  sj->n_vector = n_vector;
  sj->ef_search = ef_search;
  return sj;
}

static void vector_search(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__VectorSearchRequest *req = (const Pgml__V1__VectorSearchRequest *)request;
  search_job_t *sj = search_new(call, SEARCH_VECTOR, req->collection, req->query, req->top_k,
                                req->filter, req->pipeline, req->vector, req->n_vector,
                                req->ef_search);

  if (sj == NULL)
    return;
  sj->exact = req->exact;
  search_start(call, sj);
}

static void text_search(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__TextSearchRequest *req = (const Pgml__V1__TextSearchRequest *)request;
  search_job_t *sj = search_new(call, SEARCH_TEXT, req->collection, req->query, req->top_k,
                                req->filter, req->pipeline, NULL, 0, 0);

  if (sj != NULL)
    search_start(call, sj);
}

static void hybrid_search(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__HybridSearchRequest *req = (const Pgml__V1__HybridSearchRequest *)request;
  search_job_t *sj = search_new(call, SEARCH_HYBRID, req->collection, req->query, req->top_k,
                                req->filter, req->pipeline, req->vector, req->n_vector,
                                req->ef_search);

  if (sj == NULL)
    return;
  sj->semantic_weight = req->semantic_weight;
  sj->keyword_weight = req->keyword_weight;
  search_start(call, sj);
}

const pgmld_handler_entry_t pgmld_search_handlers[] = {
  {"VectorSearch", vector_search},
  {"TextSearch", text_search},
  {"HybridSearch", hybrid_search},
  {NULL, NULL},
};
