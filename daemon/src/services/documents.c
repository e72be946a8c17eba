/* documents.c - UpsertDocuments, GetDocuments, DeleteDocuments. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/server.h"
#include "services/registry.h"
#include "services/svc.h"
#include "sql/filter.h"
#include "sql/vector.h"

/* Longest document id, in bytes. */
#define DOC_ID_MAX 1024u
/* Most order_by entries in one GetDocuments. */
#define ORDER_BY_MAX 8u

/* ------------------------------------------------------------ Upsert */

typedef struct up_doc_s {
  size_t index;          /* position in the request */
  char *doc_id;          /* owned */
  json_t *doc;           /* owned */
  const float *vector;   /* borrowed from the request, or NULL */
  uint32_t dim;
} up_doc_t;

typedef struct up_job_s {
  pgmld_svc_job_t job;
  const Pgml__V1__UpsertDocumentsRequest *req;   /* borrowed: the call's */
  up_doc_t *docs;              /* sorted by doc_id, unique */
  size_t n;
  pgmld_svc_collection_t coll;
  int added_default;           /* the default pipeline was tried */
  int restarted;               /* ROLLBACK first: a transaction is aborted */
  /* per enabled pipeline, while writing */
  pgmld_svc_doc_t *cdocs;      /* n */
  pgmld_svc_chunks_t *chunks;  /* one per pipeline of coll */
  size_t next_pipeline;
  uint64_t n_chunks;
} up_job_t;

static void up_destroy(pgmld_svc_job_t *job)
{
  up_job_t *uj = (up_job_t *)job;
  size_t i;

  for (i = 0; i < uj->n; i++) {
    pgmld_free(uj->docs[i].doc_id);
    if (uj->docs[i].doc != NULL)
      json_decref(uj->docs[i].doc);
  }
  if (uj->chunks != NULL)
    for (i = 0; i < uj->coll.n_pipelines; i++)
      pgmld__svc_chunks_free(&uj->chunks[i]);
  pgmld_free(uj->chunks);
  pgmld_free(uj->cdocs);
  pgmld_free(uj->docs);
  pgmld__svc_collection_free(&uj->coll);
  pgmld_free(uj);
}

static int cmp_doc(const void *a, const void *b)
{
  const up_doc_t *x = a, *y = b;
  int c = strcmp(x->doc_id, y->doc_id);

  if (c != 0)
    return c;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Parses and checks every document of the request into uj->docs, sorted
 * by id with duplicates removed (the last one in the request wins). */
static int parse_docs(up_job_t *uj, const pgmld_config_t *cfg, pgmld_status_t *st)
{
  const Pgml__V1__UpsertDocumentsRequest *req = uj->req;
  size_t i, j;

  if (req->n_documents > cfg->limits.max_batch)
    return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                            "documents: %zu documents is more than limits.max_batch (%" PRIu32 ")",
                            req->n_documents, cfg->limits.max_batch), -EINVAL;
  if (req->n_vectors != 0 && req->n_vectors != req->n_documents)
    return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                            "vectors: %zu vectors for %zu documents; send one per document or none",
                            req->n_vectors, req->n_documents), -EINVAL;
  if (req->n_documents == 0)
    return 0;
  uj->docs = pgmld_calloc(req->n_documents, sizeof(*uj->docs));
  if (uj->docs == NULL)
    return pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory reading documents"),
           -ENOMEM;
  for (i = 0; i < req->n_documents; i++) {
    up_doc_t *d = &uj->docs[i];
    json_error_t jerr;
    json_t *id;
    char num[32];
    const char *text = req->documents[i];

    uj->n++;
    d->index = i;
    snprintf(num, sizeof(num), "documents[%zu]", i);
    if (pgmld__svc_check_utf8(text, num, st) < 0)
      return -EINVAL;
    d->doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (d->doc == NULL)
      return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                              "documents[%zu] is not valid JSON: %s (line %d, column %d)", i,
                              jerr.text, jerr.line, jerr.column), -EINVAL;
    if (!json_is_object(d->doc))
      return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                              "documents[%zu] is not a JSON object", i), -EINVAL;
    id = json_object_get(d->doc, "id");
    if (json_is_integer(id)) {
      snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
      d->doc_id = pgmld_strdup(num);
    } else if (json_is_string(id)) {
      if (json_string_length(id) == 0 || json_string_length(id) > DOC_ID_MAX ||
          strlen(json_string_value(id)) != json_string_length(id))
        return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                                "documents[%zu].id: must be 1 to %u bytes without NUL", i,
                                DOC_ID_MAX), -EINVAL;
      d->doc_id = pgmld_strdup(json_string_value(id));
    } else {
      return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                              "documents[%zu] has no \"id\" (a non-empty string or an integer)", i),
             -EINVAL;
    }
    if (d->doc_id == NULL)
      return pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory reading documents"),
             -ENOMEM;
    if (req->n_vectors != 0) {
      char what[64];

      snprintf(what, sizeof(what), "vectors[%zu]", i);
      d->vector = req->vectors[i]->values;
      d->dim = (uint32_t)req->vectors[i]->n_values;
      if (req->vectors[i]->n_values > PGMLD_VECTOR_MAX_DIMENSIONS ||
          pgmld_vector_check(d->vector, d->dim, what, st) < 0)
        return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "%s: bad vector", what), -EINVAL;
    }
  }
  qsort(uj->docs, uj->n, sizeof(*uj->docs), cmp_doc);
  /* Keep the last of each run of equal ids. */
  for (i = 0, j = 0; i < uj->n; i++) {
    if (i + 1 < uj->n && strcmp(uj->docs[i].doc_id, uj->docs[i + 1].doc_id) == 0) {
      pgmld_free(uj->docs[i].doc_id);
      json_decref(uj->docs[i].doc);
      continue;
    }
    uj->docs[j++] = uj->docs[i];
  }
  uj->n = j;
  return 0;
}

static void up_committed(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                         const pgmld_status_t *st)
{
  up_job_t *uj = (up_job_t *)job;
  Pgml__V1__UpsertDocumentsResponse resp = PGML__V1__UPSERT_DOCUMENTS_RESPONSE__INIT;

  (void)res;
  (void)n;
  (void)st;
  resp.upserted = uj->n;
  resp.chunks = uj->n_chunks;
  pgmld__svc_reply(job, &resp.base);
}

/* Adds the ids of the documents as a text[] parameter; returns its number. */
static int ids_param(up_job_t *uj, pgmld_sqlbuf_t *sb)
{
  const char **ids = pgmld_calloc(uj->n ? uj->n : 1, sizeof(*ids));
  size_t i;
  int rc;

  if (ids == NULL)
    return -ENOMEM;
  for (i = 0; i < uj->n; i++)
    ids[i] = uj->docs[i].doc_id;
  rc = pgmld_sqlbuf_add_text_array(sb, ids, NULL, uj->n);
  pgmld_free(ids);
  return rc;
}

/* Every chunk is computed: the write round trip.  The rows go in doc_id
 * order, so that two upserts touching the same documents lock them in the
 * same order and cannot deadlock. */
static void up_write(pgmld_svc_job_t *job)
{
  up_job_t *uj = (up_job_t *)job;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_sqlbuf_t *sb;
  char **texts;
  size_t i;
  int rc = 0, p_ids = 0, p_docs = 0;

  texts = pgmld_calloc(uj->n, sizeof(*texts));
  if (texts == NULL)
    rc = -ENOMEM;
  for (i = 0; i < uj->n && rc == 0; i++)
    if ((texts[i] = json_dumps(uj->docs[i].doc, JSON_COMPACT)) == NULL)
      rc = -ENOMEM;
  if (rc == 0)
    rc = pgmld__svc_batch_add(&job->batch, &sb);
  if (rc == 0)
    rc = p_ids = ids_param(uj, sb);
  if (rc > 0)
    rc = p_docs = pgmld_sqlbuf_add_text_array(sb, (const char *const *)texts, NULL, uj->n);
  if (rc > 0)
    rc = pgmld_sqlbuf_appendf(sb, "INSERT INTO pgmld.documents (collection_id, doc_id, document)"
                                  " SELECT %" PRId64 ", u.doc_id, u.doc::jsonb"
                                  " FROM unnest($%d::text[], $%d::text[]) WITH ORDINALITY AS u(doc_id, doc, ord)"
                                  " ORDER BY u.ord"
                                  " ON CONFLICT (collection_id, doc_id) DO UPDATE SET document = %s,"
                                  " updated_at = now()",
                              uj->coll.id, p_ids, p_docs,
                              uj->req->merge ? "pgmld.documents.document || EXCLUDED.document"
                                             : "EXCLUDED.document");
  if (texts != NULL)
    for (i = 0; i < uj->n; i++)
      pgmld_free(texts[i]);   /* jansson allocates through pgmld_malloc */
  pgmld_free(texts);
  /* Old chunks go from every pipeline, enabled or not: a disabled one then
   * sees these documents as missing and processes them when enabled.  The
   * ids become an array first (an InitPlan), so that the chunks are found
   * through the (document_id, chunk_index) index whatever the statistics. */
  for (i = 0; i < uj->coll.n_pipelines && rc == 0; i++) {
    rc = pgmld__svc_batch_add(&job->batch, &sb);
    if (rc == 0)
      rc = p_ids = ids_param(uj, sb);
    if (rc > 0)
      rc = pgmld_sqlbuf_append(sb, "DELETE FROM ");
    if (rc == 0)
      rc = pgmld_sqlbuf_append_chunks_table(sb, uj->coll.pipelines[i].id);
    if (rc == 0)
      rc = pgmld_sqlbuf_appendf(sb, " WHERE document_id = ANY (ARRAY(SELECT d.id FROM pgmld.documents d"
                                    " WHERE d.collection_id = %" PRId64 " AND d.doc_id = ANY($%d::text[])))",
                                uj->coll.id, p_ids);
  }
  if (rc < 0) {
    pgmld__svc_fail_build(job, rc, "building the upsert");
    return;
  }
  for (i = 0; i < uj->coll.n_pipelines; i++) {
    pgmld_svc_pipeline_t *p = &uj->coll.pipelines[i];

    if (!p->enabled)
      continue;
    if (pgmld__svc_chunks_insert_sql(&job->batch, p, uj->coll.id, uj->cdocs, &uj->chunks[i],
                                     &st) < 0) {
      pgmld__svc_fail_status(job, &st);
      return;
    }
    uj->n_chunks += uj->chunks[i].n;
  }
  rc = pgmld__svc_batch_sql(&job->batch, "COMMIT");
  if (rc < 0) {
    pgmld__svc_fail_build(job, rc, "building the upsert");
    return;
  }
  pgmld__svc_run(job, 0, up_committed);
}

static void up_next_pipeline(up_job_t *uj);

static void up_embedded(const pgmld_status_t *st, void *data)
{
  up_job_t *uj = data;

  if (!pgmld_status_ok(st)) {
    pgmld__svc_fail_status(&uj->job, st);
    return;
  }
  uj->next_pipeline++;
  up_next_pipeline(uj);
}

/* Chunks and embeds the documents for each enabled pipeline in turn
 * (embedding may be asynchronous), then writes.  The chunks point into
 * the documents' JSON strings, which live as long as the job. */
static void up_next_pipeline(up_job_t *uj)
{
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_svc_pipeline_t *p;
  size_t i;

  while (uj->next_pipeline < uj->coll.n_pipelines &&
         !uj->coll.pipelines[uj->next_pipeline].enabled)
    uj->next_pipeline++;
  if (uj->next_pipeline == uj->coll.n_pipelines) {
    up_write(&uj->job);
    return;
  }
  p = &uj->coll.pipelines[uj->next_pipeline];
  for (i = 0; i < uj->n; i++) {
    up_doc_t *d = &uj->docs[i];
    json_t *t = json_object_get(d->doc, p->text_field);

    uj->cdocs[i].doc_id = d->doc_id;
    uj->cdocs[i].text = NULL;
    uj->cdocs[i].text_len = 0;
    uj->cdocs[i].vector = d->vector;
    uj->cdocs[i].vector_dim = d->dim;
    if (t != NULL && !json_is_null(t)) {
      if (!json_is_string(t)) {
        pgmld__svc_fail(&uj->job, PGMLD_INVALID_ARGUMENT,
                        "document %s: field %s (the text of pipeline %s) is not a string",
                        d->doc_id, p->text_field, p->name);
        return;
      }
      uj->cdocs[i].text = json_string_value(t);
      uj->cdocs[i].text_len = json_string_length(t);
    }
    if (pgmld__svc_pipeline_is_client(p)) {
      if (d->vector == NULL) {
        pgmld__svc_fail(&uj->job, PGMLD_INVALID_ARGUMENT,
                        "vectors: pipeline %s has model \"client\": send one vector per document",
                        p->name);
        return;
      }
      if (d->dim != p->dimensions) {
        pgmld__svc_fail(&uj->job, PGMLD_INVALID_ARGUMENT,
                        "vector for document %s has %" PRIu32 " dimensions; pipeline %s needs %" PRIu32,
                        d->doc_id, d->dim, p->name, p->dimensions);
        return;
      }
    }
  }
  if (pgmld__svc_chunk_docs(p, uj->cdocs, uj->n, &uj->chunks[uj->next_pipeline], &st) < 0) {
    pgmld__svc_fail_status(&uj->job, &st);
    return;
  }
  if (pgmld__svc_pipeline_is_client(p)) {
    up_embedded(&st, uj);
    return;
  }
  if (pgmld__svc_embed_chunks(p, &uj->chunks[uj->next_pipeline], up_embedded, uj, &st) < 0)
    pgmld__svc_fail_status(&uj->job, &st);
}

static void up_start_ready(pgmld_svc_job_t *job);

static void up_default_added(pgmld_svc_job_t *job, const pgmld_status_t *st)
{
  up_job_t *uj = (up_job_t *)job;

  /* ALREADY_EXISTS: a concurrent upsert added it first; either way the
   * catalog is read again. */
  if (!pgmld_status_ok(st) && st->code != PGMLD_ALREADY_EXISTS) {
    pgmld__svc_fail_status(job, st);
    return;
  }
  /* After ALREADY_EXISTS the sub-flow's transaction is left aborted. */
  uj->restarted = !pgmld_status_ok(st);
  pgmld__svc_collection_free(&uj->coll);
  up_start_ready(job);
}

static void up_locked(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                      const pgmld_status_t *st)
{
  up_job_t *uj = (up_job_t *)job;
  pgmld_status_t err = PGMLD_STATUS_INIT;
  /* res: [ROLLBACK,] BEGIN, catalog[, stored documents] */
  size_t base = uj->restarted ? 2 : 1, i;

  (void)n;
  (void)st;
  if (pgmld__svc_catalog_parse(res[base], uj->req->collection, &uj->coll, &err) < 0) {
    pgmld__svc_fail_status(job, &err);
    return;
  }
  /* Nothing to write: the collection exists, that is all. */
  if (uj->n == 0) {
    if (pgmld__svc_batch_sql(&job->batch, "COMMIT") < 0) {
      pgmld__svc_fail_nomem(job, "building the upsert");
      return;
    }
    pgmld__svc_run(job, 0, up_committed);
    return;
  }
  if (uj->coll.n_pipelines == 0) {
    if (uj->added_default) {
      pgmld__svc_fail(job, PGMLD_ABORTED,
                      "collection %s: its pipelines were removed during the upsert; retry",
                      uj->req->collection);
      return;
    }
    uj->added_default = 1;
    pgmld__svc_add_default_pipeline(job, uj->req->collection, 1, up_default_added);
    return;
  }
  if (uj->req->merge) {
    const PGresult *stored = res[base + 1];
    int rows = PQntuples(stored), r;

    /* Both lists are sorted by doc_id (the SELECT orders with "C"). */
    for (r = 0, i = 0; r < rows; r++) {
      const char *id = PQgetvalue(stored, r, 0);
      json_t *old;
      json_error_t jerr;

      while (i < uj->n && strcmp(uj->docs[i].doc_id, id) < 0)
        i++;
      if (i == uj->n || strcmp(uj->docs[i].doc_id, id) != 0)
        continue;
      old = json_loads(PQgetvalue(stored, r, 1), 0, &jerr);
      if (old == NULL || json_object_update(old, uj->docs[i].doc) < 0) {
        if (old != NULL)
          json_decref(old);
        pgmld__svc_fail_nomem(job, "merging documents");
        return;
      }
      json_decref(uj->docs[i].doc);
      uj->docs[i].doc = old;
    }
  }
  uj->chunks = pgmld_calloc(uj->coll.n_pipelines, sizeof(*uj->chunks));
  uj->cdocs = pgmld_calloc(uj->n, sizeof(*uj->cdocs));
  if (uj->chunks == NULL || uj->cdocs == NULL) {
    pgmld__svc_fail_nomem(job, "preparing the chunks");
    return;
  }
  uj->next_pipeline = 0;
  up_next_pipeline(uj);
}

static void up_start_ready(pgmld_svc_job_t *job)
{
  up_job_t *uj = (up_job_t *)job;
  pgmld_sqlbuf_t *sb;
  int rc = 0, p;

  if (uj->restarted)
    rc = pgmld__svc_batch_sql(&job->batch, "ROLLBACK");
  if (rc == 0)
    rc = pgmld__svc_batch_sql(&job->batch, "BEGIN");
  /* FOR SHARE: concurrent upserts go together; AddPipeline, RemovePipeline
   * and DropCollection (FOR UPDATE) wait for them, and they for those. */
  if (rc == 0)
    rc = pgmld__svc_catalog_sql(&job->batch, uj->req->collection, " FOR SHARE OF c");
  if (rc == 0 && uj->req->merge && uj->n > 0) {
    rc = pgmld__svc_batch_add(&job->batch, &sb);
    p = rc < 0 ? rc : ids_param(uj, sb);
    rc = p < 0 ? p : pgmld_sqlbuf_append(sb, "SELECT d.doc_id, d.document::text FROM pgmld.documents d"
                                             " JOIN pgmld.collections c ON c.id = d.collection_id"
                                             " WHERE NOT c.archived AND c.name = ");
    if (rc == 0)
      rc = pgmld_sqlbuf_append_text(sb, uj->req->collection);
    if (rc == 0)
      rc = pgmld_sqlbuf_appendf(sb, " AND d.doc_id = ANY($%d::text[])"
                                    " ORDER BY d.doc_id COLLATE \"C\" FOR UPDATE OF d", p);
  }
  if (rc < 0) {
    pgmld__svc_fail_build(job, rc, "building the upsert");
    return;
  }
  pgmld__svc_run(job, 0, up_locked);
}

static void upsert_documents(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__UpsertDocumentsRequest *req = (const Pgml__V1__UpsertDocumentsRequest *)request;
  const pgmld_config_t *cfg = pgmld_server_config(pgmld_call_server(call));
  pgmld_status_t st = PGMLD_STATUS_INIT;
  up_job_t *uj;

  if (pgmld_sql_check_name(req->collection, "collection", &st) < 0) {
    pgmld_call_fail_status(call, &st);
    return;
  }
  uj = pgmld_calloc(1, sizeof(*uj));
  if (uj == NULL) {
    pgmld_call_fail(call, PGMLD_RESOURCE_EXHAUSTED, "out of memory starting UpsertDocuments");
    return;
  }
  uj->req = req;
  /* Every document is checked before the database is touched. */
  if (parse_docs(uj, cfg, &st) < 0) {
    up_destroy(&uj->job);
    pgmld_call_fail_status(call, &st);
    return;
  }
  pgmld__svc_start(&uj->job, call, up_start_ready, up_destroy);
}

/* ------------------------------------------------------------ Get */

typedef struct get_job_s {
  pgmld_svc_job_t job;
  const Pgml__V1__GetDocumentsRequest *req;
  uint32_t limit;
} get_job_t;

static void simple_destroy(pgmld_svc_job_t *job)
{
  pgmld_free(job);
}

static void get_done(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                     const pgmld_status_t *st)
{
  get_job_t *gj = (get_job_t *)job;
  Pgml__V1__GetDocumentsResponse resp = PGML__V1__GET_DOCUMENTS_RESPONSE__INIT;
  Pgml__V1__Document *docs = NULL, **ptrs = NULL;
  const PGresult *r = res[1];
  int rows = PQntuples(r), i;

  (void)n;
  (void)st;
  if (PQntuples(res[0]) != 1) {
    pgmld__svc_fail(job, PGMLD_NOT_FOUND, "collection %s not found", gj->req->collection);
    return;
  }
  if (rows > 0) {
    docs = pgmld_calloc((size_t)rows, sizeof(*docs));
    ptrs = pgmld_calloc((size_t)rows, sizeof(*ptrs));
    if (docs == NULL || ptrs == NULL) {
      pgmld_free(docs);
      pgmld_free(ptrs);
      pgmld__svc_fail_nomem(job, "reading documents");
      return;
    }
  }
  for (i = 0; i < rows; i++) {
    static const Pgml__V1__Document init = PGML__V1__DOCUMENT__INIT;

    docs[i] = init;
    docs[i].id = PQgetvalue(r, i, 0);
    docs[i].document = PQgetvalue(r, i, 1);
    docs[i].updated_at_ms = pgmld__svc_int64(r, i, 2);
    ptrs[i] = &docs[i];
  }
  resp.n_documents = (size_t)rows;
  resp.documents = ptrs;
  resp.next_after_id = (char *)((uint32_t)rows == gj->limit && rows > 0 ? PQgetvalue(r, rows - 1, 0)
                                                                       : "");
  pgmld__svc_reply(job, &resp.base);
  pgmld_free(docs);
  pgmld_free(ptrs);
}

/* Appends the sort key of an order_by field: d.doc_id for "id", else the
 * metadata path as a text[] parameter. */
static int order_key(pgmld_sqlbuf_t *sb, const char *field, size_t k, pgmld_status_t *st)
{
  const char *parts[PGMLD_FILTER_MAX_PATH_PARTS];
  size_t lens[PGMLD_FILTER_MAX_PATH_PARTS], np = 0;
  const char *p = field, *dot;

  if (strcmp(field, "id") == 0)
    return pgmld_sqlbuf_append(sb, "d.doc_id COLLATE \"C\"");
  if (field[0] == '\0' || strlen(field) > PGMLD_FILTER_MAX_PATH_BYTES)
    return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                            "order_by[%zu].field: must be \"id\" or a key path of 1 to %u bytes", k,
                            PGMLD_FILTER_MAX_PATH_BYTES), -EINVAL;
  for (;;) {
    dot = strchr(p, '.');
    if (np == PGMLD_FILTER_MAX_PATH_PARTS)
      return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                              "order_by[%zu].field: more than %u parts", k,
                              PGMLD_FILTER_MAX_PATH_PARTS), -EINVAL;
    parts[np] = p;
    lens[np] = dot != NULL ? (size_t)(dot - p) : strlen(p);
    if (lens[np] == 0)
      return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                              "order_by[%zu].field: empty part in key path %s", k, field), -EINVAL;
    np++;
    if (dot == NULL)
      break;
    p = dot + 1;
  }
  if (pgmld_sqlbuf_append(sb, "(d.document #> ") < 0 ||
      pgmld_sqlbuf_append_text_array(sb, parts, lens, np) < 0 || pgmld_sqlbuf_append(sb, ")") < 0)
    return pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory building order_by"),
           -ENOMEM;
  return 0;
}

/* The two statements GetDocuments and DeleteDocuments share: whether the
 * collection exists (res[0]), then `head` (up to "WHERE ") followed by
 * the collection's condition and the compiled filter, left in *out for
 * the caller to finish.  On failure st says why (the filter's message, or
 * no memory). */
static int docs_where(pgmld_svc_job_t *job, const char *collection, const char *head,
                      const char *filter, pgmld_sqlbuf_t **out, pgmld_status_t *st)
{
  pgmld_sqlbuf_t *sb;
  int rc = pgmld__svc_batch_add(&job->batch, &sb);

  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, "SELECT id FROM pgmld.collections WHERE NOT archived AND name = ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_text(sb, collection);
  if (rc == 0)
    rc = pgmld__svc_batch_add(&job->batch, &sb);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, head);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, "d.collection_id = (SELECT id FROM pgmld.collections"
                                 " WHERE NOT archived AND name = ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_text(sb, collection);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, ") AND ");
  if (rc < 0) {
    pgmld__svc_build_status(st, rc, pgmld_call_method(job->call));
    return rc;
  }
  *out = sb;
  return pgmld_filter_compile_text(filter, filter != NULL ? strlen(filter) : 0, "d.document", sb,
                                   st);
}

static void get_ready(pgmld_svc_job_t *job)
{
  get_job_t *gj = (get_job_t *)job;
  const Pgml__V1__GetDocumentsRequest *req = gj->req;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_sqlbuf_t *sb;
  size_t k;
  int rc;

  if (docs_where(job, req->collection,
                 "SELECT d.doc_id, d.document::text, " PGMLD_SVC_MS("d.updated_at")
                 " FROM pgmld.documents d WHERE ",
                 req->filter, &sb, &st) < 0)
    goto fail;
  if (req->after_id != NULL && req->after_id[0] != '\0') {
    rc = pgmld_sqlbuf_append(sb, " AND d.doc_id COLLATE \"C\" > ");
    if (rc == 0)
      rc = pgmld_sqlbuf_append_text(sb, req->after_id);
    if (rc < 0)
      goto nomem;
  }
  if (pgmld_sqlbuf_append(sb, " ORDER BY ") < 0)
    goto nomem;
  for (k = 0; k < req->n_order_by; k++) {
    if (order_key(sb, req->order_by[k]->field != NULL ? req->order_by[k]->field : "", k, &st) < 0)
      goto fail;
    if (pgmld_sqlbuf_append(sb, req->order_by[k]->descending ? " DESC, " : ", ") < 0)
      goto nomem;
  }
  if (pgmld_sqlbuf_appendf(sb, "d.doc_id COLLATE \"C\" LIMIT %" PRIu32 " OFFSET %" PRIu64,
                           gj->limit, req->offset) < 0)
    goto nomem;
  pgmld__svc_run(job, 0, get_done);
  return;

nomem:
  pgmld_status_set(&st, PGMLD_RESOURCE_EXHAUSTED, "out of memory building GetDocuments");
fail:
  pgmld__svc_fail_status(job, &st);
}

static void get_documents(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__GetDocumentsRequest *req = (const Pgml__V1__GetDocumentsRequest *)request;
  const pgmld_config_t *cfg = pgmld_server_config(pgmld_call_server(call));
  pgmld_status_t st = PGMLD_STATUS_INIT;
  uint32_t limit = req->limit ? req->limit : 100;
  get_job_t *gj;
  size_t k;

  if (pgmld_sql_check_name(req->collection, "collection", &st) < 0) {
    pgmld_call_fail_status(call, &st);
    return;
  }
  if (limit > cfg->limits.max_batch) {
    pgmld_call_fail(call, PGMLD_INVALID_ARGUMENT,
                    "limit: %" PRIu32 " is more than limits.max_batch (%" PRIu32 ")", limit,
                    cfg->limits.max_batch);
    return;
  }
  if (req->offset > INT64_MAX) {
    pgmld_call_fail(call, PGMLD_INVALID_ARGUMENT, "offset: %" PRIu64 " is too large", req->offset);
    return;
  }
  if (req->n_order_by > ORDER_BY_MAX) {
    pgmld_call_fail(call, PGMLD_INVALID_ARGUMENT, "order_by: at most %u fields", ORDER_BY_MAX);
    return;
  }
  for (k = 0; k < req->n_order_by; k++) {
    char what[40];

    snprintf(what, sizeof(what), "order_by[%zu].field", k);
    if (pgmld__svc_check_utf8(req->order_by[k]->field, what, &st) < 0) {
      pgmld_call_fail_status(call, &st);
      return;
    }
  }
  if (pgmld__svc_check_utf8(req->after_id, "after_id", &st) < 0 ||
      pgmld__svc_check_utf8(req->filter, "filter", &st) < 0) {
    pgmld_call_fail_status(call, &st);
    return;
  }
  if (req->after_id != NULL && req->after_id[0] != '\0') {
    for (k = 0; k < req->n_order_by; k++)
      if (req->order_by[k]->field == NULL || strcmp(req->order_by[k]->field, "id") != 0 ||
          req->order_by[k]->descending) {
        pgmld_call_fail(call, PGMLD_INVALID_ARGUMENT,
                        "after_id: keyset paging works only with the default order (by id, ascending)");
        return;
      }
  }
  gj = pgmld_calloc(1, sizeof(*gj));
  if (gj == NULL) {
    pgmld_call_fail(call, PGMLD_RESOURCE_EXHAUSTED, "out of memory starting GetDocuments");
    return;
  }
  gj->req = req;
  gj->limit = limit;
  pgmld__svc_start(&gj->job, call, get_ready, simple_destroy);
}

/* ------------------------------------------------------------ Delete */

typedef struct del_job_s {
  pgmld_svc_job_t job;
  const Pgml__V1__DeleteDocumentsRequest *req;
} del_job_t;

static void del_done(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                     const pgmld_status_t *st)
{
  del_job_t *dj = (del_job_t *)job;
  Pgml__V1__DeleteDocumentsResponse resp = PGML__V1__DELETE_DOCUMENTS_RESPONSE__INIT;

  (void)n;
  (void)st;
  if (PQntuples(res[0]) != 1) {
    pgmld__svc_fail(job, PGMLD_NOT_FOUND, "collection %s not found", dj->req->collection);
    return;
  }
  resp.deleted = strtoull(PQcmdTuples(res[1]), NULL, 10);
  pgmld__svc_reply(job, &resp.base);
}

static void del_ready(pgmld_svc_job_t *job)
{
  del_job_t *dj = (del_job_t *)job;
  const Pgml__V1__DeleteDocumentsRequest *req = dj->req;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_sqlbuf_t *sb;
  int rc;

  /* Chunks go with their documents (ON DELETE CASCADE). */
  if (docs_where(job, req->collection, "DELETE FROM pgmld.documents d WHERE ", req->filter, &sb,
                 &st) < 0)
    goto fail;
  if (req->n_ids > 0) {
    rc = pgmld_sqlbuf_append(sb, " AND d.doc_id = ANY(");
    if (rc == 0)
      rc = pgmld_sqlbuf_append_text_array(sb, (const char *const *)req->ids, NULL, req->n_ids);
    if (rc == 0)
      rc = pgmld_sqlbuf_append(sb, ")");
    if (rc == -EINVAL) {
      pgmld_status_set(&st, PGMLD_INVALID_ARGUMENT, "ids: an id holds a NUL byte");
      goto fail;
    }
    if (rc < 0)
      goto nomem;
  }
  pgmld__svc_run(job, 0, del_done);
  return;

nomem:
  pgmld_status_set(&st, PGMLD_RESOURCE_EXHAUSTED, "out of memory building DeleteDocuments");
fail:
  pgmld__svc_fail_status(job, &st);
}

static void delete_documents(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__DeleteDocumentsRequest *req = (const Pgml__V1__DeleteDocumentsRequest *)request;
  const pgmld_config_t *cfg = pgmld_server_config(pgmld_call_server(call));
  pgmld_status_t st = PGMLD_STATUS_INIT;
  del_job_t *dj;
  size_t k;

  if (pgmld_sql_check_name(req->collection, "collection", &st) < 0) {
    pgmld_call_fail_status(call, &st);
    return;
  }
  if ((req->filter == NULL || req->filter[0] == '\0') && req->n_ids == 0) {
    pgmld_call_fail(call, PGMLD_INVALID_ARGUMENT,
                    "filter and ids are both empty; give ids, a filter, or {} to delete every document");
    return;
  }
  if (req->n_ids > cfg->limits.max_batch) {
    pgmld_call_fail(call, PGMLD_INVALID_ARGUMENT,
                    "ids: %zu ids is more than limits.max_batch (%" PRIu32 ")", req->n_ids,
                    cfg->limits.max_batch);
    return;
  }
  for (k = 0; k < req->n_ids; k++) {
    char what[32];

    snprintf(what, sizeof(what), "ids[%zu]", k);
    if (pgmld__svc_check_utf8(req->ids[k], what, &st) < 0) {
      pgmld_call_fail_status(call, &st);
      return;
    }
  }
  if (pgmld__svc_check_utf8(req->filter, "filter", &st) < 0) {
    pgmld_call_fail_status(call, &st);
    return;
  }
  dj = pgmld_calloc(1, sizeof(*dj));
  if (dj == NULL) {
    pgmld_call_fail(call, PGMLD_RESOURCE_EXHAUSTED, "out of memory starting DeleteDocuments");
    return;
  }
  dj->req = req;
  pgmld__svc_start(&dj->job, call, del_ready, simple_destroy);
}

const pgmld_handler_entry_t pgmld_documents_handlers[] = {
  {"UpsertDocuments", upsert_documents},
  {"GetDocuments", get_documents},
  {"DeleteDocuments", delete_documents},
  {NULL, NULL},
};
