/* pipelines.c - AddPipeline, ListPipelines, EnablePipeline, DisablePipeline, RemovePipeline, PipelineStatus. */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "services/registry.h"
#include "services/svc.h"

/* The state of a pipeline flow: the handlers' own, or a sub-flow of
 * another job (the default pipeline of UpsertDocuments), reached through
 * job->sub. */
typedef struct pl_state_s {
  char *collection;                 /* owned */
  char *name;                       /* owned */
  const Pgml__V1__AddPipelineRequest *add;  /* borrowed: AddPipeline */
  pgmld_svc_collection_t coll;      /* the catalog, once read */
  pgmld_svc_pipeline_t fresh;       /* AddPipeline: the pipeline being added */
  pgmld_svc_pipeline_t *p;          /* the pipeline the flow works on */
  int64_t collection_id;
  /* documents to process, copied out of a result */
  size_t n_docs;
  pgmld_svc_doc_t *docs;
  char **strings;                   /* 2 per document: id, text */
  pgmld_svc_chunks_t chunks;
  int rollback_first;
  pgmld_svc_added_fn added;         /* sub-flow: where to go when done */
  void (*processed)(pgmld_svc_job_t *job);  /* after the chunk INSERTs are queued */
  /* A handler started by pl_serve(): its first round trip and the context
   * of a build failure (static strings). */
  const char *lock;                 /* NULL: read the catalog unlocked, no BEGIN */
  pgmld_svc_next_fn first;
  const char *what;
} pl_state_t;

typedef struct pl_job_s {
  pgmld_svc_job_t job;
  pl_state_t s;
} pl_job_t;

static void state_free(pl_state_t *s)
{
  size_t i;

  pgmld_free(s->collection);
  pgmld_free(s->name);
  pgmld__svc_collection_free(&s->coll);
  if (s->fresh.spec != NULL)
    json_decref(s->fresh.spec);
  if (s->fresh.splitter != NULL)
    pgmld_splitter_free(s->fresh.splitter);
  pgmld_model_close(s->fresh.model);
  if (s->strings != NULL)
    for (i = 0; i < 2 * s->n_docs; i++)
      pgmld_free(s->strings[i]);
  pgmld_free(s->strings);
  pgmld_free(s->docs);
  pgmld__svc_chunks_free(&s->chunks);
  memset(s, 0, sizeof(*s));
}

static void pl_destroy(pgmld_svc_job_t *job)
{
  pl_job_t *pj = (pl_job_t *)job;

  state_free(&pj->s);
  pgmld_free(pj);
}

static pl_state_t *S(pgmld_svc_job_t *job)
{
  return job->sub;
}

/* Validates the names and makes a handler's job, not started yet; NULL
 * when the call was ended (bad name, no memory). */
static pl_job_t *pl_new(pgmld_call_t *call, const char *collection, const char *name)
{
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pl_job_t *pj;

  if (pgmld_sql_check_name(collection, "collection", &st) < 0 ||
      (name != NULL && pgmld_sql_check_name(name, "name", &st) < 0)) {
    pgmld_call_fail_status(call, &st);
    return NULL;
  }
  pj = pgmld_calloc(1, sizeof(*pj));
  if (pj != NULL) {
    pj->s.collection = pgmld_strdup(collection);
    pj->s.name = name != NULL ? pgmld_strdup(name) : NULL;
  }
  if (pj == NULL || pj->s.collection == NULL || (name != NULL && pj->s.name == NULL)) {
    if (pj != NULL)
      state_free(&pj->s);
    pgmld_free(pj);
    pgmld_call_fail(call, PGMLD_RESOURCE_EXHAUSTED, "out of memory starting %s",
                    pgmld_call_method(call));
    return NULL;
  }
  pj->job.sub = &pj->s;
  return pj;
}

/* Reads the catalog result into s->coll and finds s->name (if set) in it;
 * ends the call (NOT_FOUND) and returns -1 when either is missing. */
static int catalog_find(pgmld_svc_job_t *job, const PGresult *res)
{
  pl_state_t *s = S(job);
  pgmld_status_t st = PGMLD_STATUS_INIT;

  if (pgmld__svc_catalog_parse(res, s->collection, &s->coll, &st) < 0) {
    pgmld__svc_fail_status(job, &st);
    return -1;
  }
  s->collection_id = s->coll.id;
  if (s->name != NULL) {
    s->p = pgmld__svc_find_pipeline(&s->coll, s->name);
    if (s->p == NULL) {
      pgmld__svc_fail(job, PGMLD_NOT_FOUND, "pipeline %s not found in collection %s", s->name,
                      s->collection);
      return -1;
    }
  }
  return 0;
}

static void reply_info(pgmld_svc_job_t *job, const pgmld_svc_pipeline_t *p)
{
  pgmld_svc_pipeline_info_t info;

  pgmld__svc_pipeline_info(p, S(job)->collection, &info);
  pgmld__svc_reply(job, &info.info.base);
}

/* ------------------------------------------------------------ processing documents */

/* Copies the (doc_id, text) rows of `res` into s->docs. */
static int copy_docs(pl_state_t *s, const PGresult *res)
{
  int rows = PQntuples(res), i;

  if (rows == 0)
    return 0;
  s->docs = pgmld_calloc((size_t)rows, sizeof(*s->docs));
  s->strings = pgmld_calloc(2 * (size_t)rows, sizeof(*s->strings));
  if (s->docs == NULL || s->strings == NULL)
    return -ENOMEM;
  for (i = 0; i < rows; i++) {
    char *id = pgmld_strdup(PQgetvalue(res, i, 0));
    char *text = PQgetisnull(res, i, 1) ? NULL : pgmld_strdup(PQgetvalue(res, i, 1));

    s->strings[2 * i] = id;
    s->strings[2 * i + 1] = text;
    s->n_docs++;
    if (id == NULL || (text == NULL && !PQgetisnull(res, i, 1)))
      return -ENOMEM;
    s->docs[i].doc_id = id;
    s->docs[i].text = text;
    s->docs[i].text_len = text != NULL ? strlen(text) : 0;
  }
  return 0;
}

static void after_embed(const pgmld_status_t *st, void *data)
{
  pgmld_svc_job_t *job = data;
  pl_state_t *s = S(job);
  pgmld_status_t err = PGMLD_STATUS_INIT;

  if (!pgmld_status_ok(st)) {
    pgmld__svc_fail_status(job, st);
    return;
  }
  if (pgmld__svc_chunks_insert_sql(&job->batch, s->p, s->collection_id, s->docs, &s->chunks,
                                   &err) < 0) {
    pgmld__svc_fail_status(job, &err);
    return;
  }
  s->processed(job);
}

/* Splits and embeds the documents of `res` (doc_id, text) for s->p and
 * queues their chunk INSERTs in job->batch, then calls s->processed(job).
 * A "client" pipeline's chunks are inserted with a NULL embedding
 * (pending): only the client can supply the vectors. */
static void process_rows(pgmld_svc_job_t *job, const PGresult *res,
                         void (*processed)(pgmld_svc_job_t *job))
{
  pl_state_t *s = S(job);
  pgmld_status_t st = PGMLD_STATUS_INIT;

  s->processed = processed;
  if (copy_docs(s, res) < 0) {
    pgmld__svc_fail_nomem(job, "reading the collection's documents");
    return;
  }
  if (pgmld__svc_chunk_docs(s->p, s->docs, s->n_docs, &s->chunks, &st) < 0) {
    pgmld__svc_fail_status(job, &st);
    return;
  }
  if (pgmld__svc_pipeline_is_client(s->p)) {
    after_embed(&st, job);
    return;
  }
  if (pgmld__svc_embed_chunks(s->p, &s->chunks, after_embed, job, &st) < 0)
    pgmld__svc_fail_status(job, &st);
}

/* Appends "SELECT doc_id, document ->> <text field> FROM the collection's
 * documents [without chunks in p's table]". */
static int docs_sql(pgmld_svc_batch_t *b, const pgmld_svc_pipeline_t *p, int64_t collection_id,
                    int missing_only)
{
  pgmld_sqlbuf_t *sb;
  int rc = pgmld__svc_batch_add(b, &sb);

  if (rc < 0)
    return rc;
  rc = pgmld_sqlbuf_append(sb, "SELECT d.doc_id, d.document ->> ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_text(sb, p->text_field);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, "::text FROM pgmld.documents d WHERE d.collection_id = ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_int64(sb, collection_id);
  if (rc == 0 && missing_only) {
    rc = pgmld_sqlbuf_append(sb, " AND NOT EXISTS (SELECT 1 FROM ");
    if (rc == 0)
      rc = pgmld_sqlbuf_append_chunks_table(sb, p->id);
    if (rc == 0)
      rc = pgmld_sqlbuf_append(sb, " c WHERE c.document_id = d.id)");
  }
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, " ORDER BY d.doc_id");
  return rc;
}

/* ------------------------------------------------------------ AddPipeline */

static void add_finish(pgmld_svc_job_t *job, const pgmld_status_t *st)
{
  pl_state_t *s = S(job);
  pgmld_svc_added_fn added = s->added;

  /* The cached catalog would be caught by its version anyway; this saves
   * the next search here the wasted round trip. */
  if (pgmld_status_ok(st))
    pgmld__svc_cache_invalidate(job->srv, s->collection);
  if (added != NULL) {
    /* A sub-flow: hand the job back to its owner. */
    state_free(s);
    pgmld_free(s);
    job->sub = NULL;
    job->sub_free = NULL;
    added(job, st);
    return;
  }
  if (!pgmld_status_ok(st)) {
    pgmld__svc_fail_status(job, st);
    return;
  }
  s->fresh.enabled = 1;
  reply_info(job, &s->fresh);
}

static void add_committed(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                          const pgmld_status_t *st)
{
  (void)res;
  (void)n;
  add_finish(job, st);
}

/* The chunk INSERTs are queued: the indexes come after them (building an
 * HNSW index over the rows is faster than updating it row by row). */
static void add_processed(pgmld_svc_job_t *job)
{
  pl_state_t *s = S(job);
  json_t *hnsw = json_object_get(s->fresh.spec, "hnsw");
  pgmld_sqlbuf_t *sb;
  int rc = pgmld__svc_batch_add(&job->batch, &sb);

  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, "CREATE INDEX ON ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_chunks_table(sb, s->fresh.id);
  if (rc == 0)
    rc = pgmld_sqlbuf_appendf(sb, " USING hnsw (embedding vector_cosine_ops)"
                                  " WITH (m = %d, ef_construction = %d)",
                              (int)json_integer_value(json_object_get(hnsw, "m")),
                              (int)json_integer_value(json_object_get(hnsw, "ef_construction")));
  if (rc == 0 && s->fresh.fulltext_config[0] != '\0') {
    rc = pgmld__svc_batch_add(&job->batch, &sb);
    if (rc == 0)
      rc = pgmld_sqlbuf_append(sb, "CREATE INDEX ON ");
    if (rc == 0)
      rc = pgmld_sqlbuf_append_chunks_table(sb, s->fresh.id);
    if (rc == 0)
      rc = pgmld_sqlbuf_append(sb, " USING gin (tsv)");
  }
  if (rc == 0)
    rc = pgmld__svc_batch_sql(&job->batch, "COMMIT");
  if (rc < 0) {
    pgmld__svc_fail_build(job, rc, "building AddPipeline");
    return;
  }
  pgmld__svc_run(job, PGMLD_SVC_WANT_ERRORS, add_committed);
}

static void add_table_created(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                              const pgmld_status_t *st)
{
  if (!pgmld_status_ok(st)) {
    add_finish(job, st);
    return;
  }
  process_rows(job, res[n - 1], add_processed);
}

static void add_inserted(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                         const pgmld_status_t *st)
{
  pl_state_t *s = S(job);
  pgmld_status_t err = PGMLD_STATUS_INIT;
  const PGresult *insert = res[n - 1];
  const PGresult *lock = res[n - 2];
  pgmld_sqlbuf_t *sb;
  int rc;

  if (!pgmld_status_ok(st)) {
    if (st->code == PGMLD_ALREADY_EXISTS)
      pgmld_status_set(&err, PGMLD_ALREADY_EXISTS, "pipeline %s already exists in collection %s",
                       s->name, s->collection);
    else
      err = *st;
    add_finish(job, &err);
    return;
  }
  if (s->fresh.fulltext_config[0] != '\0' && PQgetisnull(res[n - 3], 0, 0)) {
    pgmld_status_set(&err, PGMLD_INVALID_ARGUMENT,
                     "fulltext_config: %s is not a text search configuration of the database",
                     s->fresh.fulltext_config);
    add_finish(job, &err);
    return;
  }
  if (PQntuples(lock) != 1 || PQntuples(insert) != 1) {
    pgmld_status_set(&err, PGMLD_NOT_FOUND, "collection %s not found", s->collection);
    add_finish(job, &err);
    return;
  }
  s->collection_id = pgmld__svc_int64(lock, 0, 0);
  s->fresh.id = pgmld__svc_int64(insert, 0, 0);
  s->fresh.created_at_ms = pgmld__svc_int64(insert, 0, 1);
  s->p = &s->fresh;

  rc = pgmld__svc_batch_add(&job->batch, &sb);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, "CREATE TABLE ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_chunks_table(sb, s->fresh.id);
  if (rc == 0)
    rc = pgmld_sqlbuf_appendf(sb, " (id bigserial PRIMARY KEY,"
                                  " document_id bigint NOT NULL REFERENCES pgmld.documents ON DELETE CASCADE,"
                                  " chunk_index int NOT NULL, chunk text NOT NULL,"
                                  " embedding vector(%u), tsv tsvector,"
                                  " UNIQUE (document_id, chunk_index))",
                              s->fresh.dimensions);
  if (rc == 0)
    rc = docs_sql(&job->batch, &s->fresh, s->collection_id, 0);
  if (rc < 0) {
    pgmld_status_set(&err, PGMLD_RESOURCE_EXHAUSTED, "out of memory building AddPipeline");
    add_finish(job, &err);
    return;
  }
  pgmld__svc_run(job, PGMLD_SVC_WANT_ERRORS, add_table_created);
}

/* First round trip: lock the collection, check the text search config,
 * insert the pipelines row. */
static int add_begin_sql(pgmld_svc_job_t *job)
{
  pl_state_t *s = S(job);
  pgmld_sqlbuf_t *sb;
  char *spec_text;
  int rc = 0;

  if (s->rollback_first)
    rc = pgmld__svc_batch_sql(&job->batch, "ROLLBACK");
  if (rc == 0)
    rc = pgmld__svc_batch_sql(&job->batch, "BEGIN");
  if (rc == 0 && s->fresh.fulltext_config[0] != '\0') {
    rc = pgmld__svc_batch_add(&job->batch, &sb);
    if (rc == 0)
      rc = pgmld_sqlbuf_append(sb, "SELECT (SELECT c.oid FROM pg_catalog.pg_ts_config c"
                                              " JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace"
                                              " WHERE c.cfgname = $1 OR n.nspname || '.' || c.cfgname = ");
    if (rc == 0)
      rc = pgmld_sqlbuf_append_text(sb, s->fresh.fulltext_config);
    if (rc == 0)
      rc = pgmld_sqlbuf_append(sb, " LIMIT 1)");
  }
  if (rc < 0)
    return rc;
  rc = pgmld__svc_batch_add(&job->batch, &sb);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, "SELECT id FROM pgmld.collections WHERE NOT archived AND name = ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_text(sb, s->collection);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, " FOR UPDATE");
  if (rc < 0)
    return rc;
  spec_text = json_dumps(s->fresh.spec, JSON_COMPACT);
  if (spec_text == NULL)
    return -ENOMEM;
  rc = pgmld__svc_batch_add(&job->batch, &sb);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, "INSERT INTO pgmld.pipelines (collection_id, name, spec, dimensions)"
                                            " SELECT id, ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_text(sb, s->name);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, ", ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_text(sb, spec_text);
  if (rc == 0)
    rc = pgmld_sqlbuf_appendf(sb, "::jsonb, %u FROM pgmld.collections WHERE NOT archived AND name = ",
                              s->fresh.dimensions);
  if (rc == 0)
    rc = pgmld_sqlbuf_append_text(sb, s->collection);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, " RETURNING id, " PGMLD_SVC_MS("created_at"));
  pgmld_free(spec_text);   /* jansson allocates through pgmld_malloc */
  return rc;
}

/* Fills s->fresh from the request; st set on failure. */
static int add_prepare(pl_state_t *s, const Pgml__V1__AddPipelineRequest *req, pgmld_status_t *st)
{
  json_t *model;

  s->fresh.spec = pgmld__svc_spec_build(req, &s->fresh.dimensions, st);
  if (s->fresh.spec == NULL)
    return -EINVAL;
  s->fresh.name = s->name;
  model = json_object_get(s->fresh.spec, "model");
  s->fresh.model_name = json_string_value(json_object_get(model, "name"));
  s->fresh.fulltext_config = json_string_value(json_object_get(s->fresh.spec, "fulltext_config"));
  s->fresh.text_field = json_string_value(json_object_get(s->fresh.spec, "text_field"));
  return 0;
}

static void add_ready(pgmld_svc_job_t *job)
{
  int rc = add_begin_sql(job);

  if (rc < 0) {
    pgmld__svc_fail_build(job, rc, "building AddPipeline");
    return;
  }
  pgmld__svc_run(job, PGMLD_SVC_WANT_ERRORS, add_inserted);
}

static void add_pipeline(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__AddPipelineRequest *req = (const Pgml__V1__AddPipelineRequest *)request;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pl_job_t *pj = pl_new(call, req->collection, req->name);

  if (pj == NULL)
    return;
  /* The whole spec is validated before any database work. */
  if (add_prepare(&pj->s, req, &st) < 0) {
    pl_destroy(&pj->job);
    pgmld_call_fail_status(call, &st);
    return;
  }
  pgmld__svc_start(&pj->job, call, add_ready, pl_destroy);
}

static void sub_free(void *sub)
{
  state_free(sub);
  pgmld_free(sub);
}

void pgmld__svc_add_default_pipeline(pgmld_svc_job_t *job, const char *collection,
                                     int rollback_first, pgmld_svc_added_fn done)
{
  Pgml__V1__AddPipelineRequest req = PGML__V1__ADD_PIPELINE_REQUEST__INIT;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pl_state_t *s = pgmld_calloc(1, sizeof(*s));

  req.name = (char *)"default";
  req.collection = (char *)collection;
  req.fulltext_config = (char *)"english";
  if (s == NULL || (s->collection = pgmld_strdup(collection)) == NULL ||
      (s->name = pgmld_strdup("default")) == NULL) {
    if (s != NULL)
      state_free(s);
    pgmld_free(s);
    pgmld_status_set(&st, PGMLD_RESOURCE_EXHAUSTED, "out of memory adding the default pipeline");
    done(job, &st);
    return;
  }
  s->added = done;
  s->rollback_first = rollback_first;
  job->sub = s;
  job->sub_free = sub_free;
  if (add_prepare(s, &req, &st) < 0 || add_begin_sql(job) < 0) {
    pgmld_status_set(&st, PGMLD_INTERNAL, "could not build the default pipeline");
    add_finish(job, &st);
    return;
  }
  pgmld__svc_run(job, PGMLD_SVC_WANT_ERRORS, add_inserted);
}

/* ------------------------------------------------------------ List */

static void list_done(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                      const pgmld_status_t *st)
{
  pl_state_t *s = S(job);
  Pgml__V1__ListPipelinesResponse resp = PGML__V1__LIST_PIPELINES_RESPONSE__INIT;
  pgmld_svc_pipeline_info_t *infos = NULL;
  Pgml__V1__PipelineInfo **ptrs = NULL;
  size_t i;

  (void)n;
  (void)st;
  if (catalog_find(job, res[0]) < 0)
    return;
  if (s->coll.n_pipelines > 0) {
    infos = pgmld_calloc(s->coll.n_pipelines, sizeof(*infos));
    ptrs = pgmld_calloc(s->coll.n_pipelines, sizeof(*ptrs));
    if (infos == NULL || ptrs == NULL) {
      pgmld_free(infos);
      pgmld_free(ptrs);
      pgmld__svc_fail_nomem(job, "listing pipelines");
      return;
    }
  }
  for (i = 0; i < s->coll.n_pipelines; i++) {
    pgmld__svc_pipeline_info(&s->coll.pipelines[i], s->collection, &infos[i]);
    ptrs[i] = &infos[i].info;
  }
  resp.n_pipelines = s->coll.n_pipelines;
  resp.pipelines = ptrs;
  pgmld__svc_reply(job, &resp.base);
  pgmld_free(infos);
  pgmld_free(ptrs);
}

/* Appends the catalog read (with `lock`, see pgmld__svc_catalog_sql()) to
 * the statements already in job->batch and runs them; next() gets the
 * results.  The call ends with the reason when the batch cannot be built
 * (`what` says what was being built). */
static void catalog_then(pgmld_svc_job_t *job, const char *lock, pgmld_svc_next_fn next,
                         const char *what)
{
  int rc = pgmld__svc_catalog_sql(&job->batch, S(job)->collection, lock);

  if (rc < 0) {
    pgmld__svc_fail_build(job, rc, what);
    return;
  }
  pgmld__svc_run(job, 0, next);
}

/* BEGIN, then the catalog read with the collection row locked (`lock`):
 * next() gets [BEGIN, catalog]. */
static void begin_locked(pgmld_svc_job_t *job, const char *lock, pgmld_svc_next_fn next,
                         const char *what)
{
  int rc = pgmld__svc_batch_sql(&job->batch, "BEGIN");

  if (rc < 0) {
    pgmld__svc_fail_build(job, rc, what);
    return;
  }
  catalog_then(job, lock, next, what);
}

/* The first step of every pl_serve() handler: the catalog read (inside
 * BEGIN with the collection row locked when s->lock is set), then
 * s->first. */
static void serve_ready(pgmld_svc_job_t *job)
{
  pl_state_t *s = S(job);

  if (s->lock != NULL)
    begin_locked(job, s->lock, s->first, s->what);
  else
    catalog_then(job, "", s->first, s->what);
}

/* pl_new() and start with serve_ready(): `first` gets the catalog result
 * ([catalog], or [BEGIN, catalog] with `lock`).  `lock` and `what` must be
 * static strings.  The job owns itself from here; the call is ended when
 * the job cannot be made. */
static void pl_serve(pgmld_call_t *call, const char *collection, const char *name,
                     const char *lock, pgmld_svc_next_fn first, const char *what)
{
  pl_job_t *pj = pl_new(call, collection, name);

  if (pj == NULL)
    return;
  pj->s.lock = lock;
  pj->s.first = first;
  pj->s.what = what;
  pgmld__svc_start(&pj->job, call, serve_ready, pl_destroy);
}

/* Sends the batch built so far and goes on with next(), or ends the call
 * naming s->what when building it failed (rc < 0). */
static void run_built(pgmld_svc_job_t *job, int rc, pgmld_svc_next_fn next)
{
  if (rc < 0) {
    pgmld__svc_fail_build(job, rc, S(job)->what);
    return;
  }
  pgmld__svc_run(job, 0, next);
}

/* Appends the statement `prefix` followed by a pipeline id. */
static int by_id_sql(pgmld_svc_batch_t *batch, const char *prefix, int64_t id)
{
  pgmld_sqlbuf_t *sb;
  int rc = pgmld__svc_batch_add(batch, &sb);

  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, prefix);
  if (rc == 0)
    rc = pgmld_sqlbuf_append_int64(sb, id);
  return rc;
}

static void list_pipelines(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__ListPipelinesRequest *req = (const Pgml__V1__ListPipelinesRequest *)request;
  pl_serve(call, req->collection, NULL, NULL, list_done, "building ListPipelines");
}

/* ------------------------------------------------------------ Enable */

static void enable_committed(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                             const pgmld_status_t *st)
{
  (void)res;
  (void)n;
  (void)st;
  pgmld__svc_cache_invalidate(job->srv, S(job)->collection);
  S(job)->p->enabled = 1;
  reply_info(job, S(job)->p);
}

static void enable_processed(pgmld_svc_job_t *job)
{
  if (pgmld__svc_batch_sql(&job->batch, "COMMIT") < 0) {
    pgmld__svc_fail_nomem(job, S(job)->what);
    return;
  }
  pgmld__svc_run(job, 0, enable_committed);
}

static void enable_missing(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                           const pgmld_status_t *st)
{
  (void)st;
  process_rows(job, res[n - 1], enable_processed);
}

static void enable_locked(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                          const pgmld_status_t *st)
{
  pl_state_t *s = S(job);
  int rc;

  (void)n;
  (void)st;
  if (catalog_find(job, res[1]) < 0)
    return;
  rc = by_id_sql(&job->batch, "UPDATE pgmld.pipelines SET enabled = true WHERE id = ", s->p->id);
  if (rc == 0)
    rc = docs_sql(&job->batch, s->p, s->collection_id, 1);
  run_built(job, rc, enable_missing);
}

static void enable_pipeline(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__EnablePipelineRequest *req = (const Pgml__V1__EnablePipelineRequest *)request;
  pl_serve(call, req->collection, req->name, " FOR UPDATE OF c", enable_locked,
           "building EnablePipeline");
}

/* ------------------------------------------------------------ Disable */

static void disable_done(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                         const pgmld_status_t *st)
{
  (void)n;
  (void)st;
  pgmld__svc_cache_invalidate(job->srv, S(job)->collection);
  if (catalog_find(job, res[1]) < 0)
    return;
  reply_info(job, S(job)->p);
}

static void disable_ready(pgmld_svc_job_t *job)
{
  pl_state_t *s = S(job);
  pgmld_sqlbuf_t *sb;
  int rc = pgmld__svc_batch_add(&job->batch, &sb);

  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, "UPDATE pgmld.pipelines p SET enabled = false"
                                            " FROM pgmld.collections c WHERE c.id = p.collection_id"
                                            " AND NOT c.archived AND c.name = ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_text(sb, s->collection);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, " AND p.name = ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_text(sb, s->name);
  if (rc < 0) {
    pgmld__svc_fail_build(job, rc, s->what);
    return;
  }
  catalog_then(job, "", disable_done, s->what);
}

static void disable_pipeline(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__DisablePipelineRequest *req = (const Pgml__V1__DisablePipelineRequest *)request;
  pl_job_t *pj = pl_new(call, req->collection, req->name);

  /* Not pl_serve(): the UPDATE goes in the same round trip as the catalog
   * read, before it, so that the reply shows the new state. */
  if (pj == NULL)
    return;
  pj->s.what = "building DisablePipeline";
  pgmld__svc_start(&pj->job, call, disable_ready, pl_destroy);
}

/* ------------------------------------------------------------ Remove */

static void remove_done(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                        const pgmld_status_t *st)
{
  Pgml__V1__RemovePipelineResponse resp = PGML__V1__REMOVE_PIPELINE_RESPONSE__INIT;

  (void)res;
  (void)n;
  (void)st;
  pgmld__svc_cache_invalidate(job->srv, S(job)->collection);
  pgmld__svc_reply(job, &resp.base);
}

static void remove_locked(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                          const pgmld_status_t *st)
{
  pl_state_t *s = S(job);
  pgmld_sqlbuf_t *sb;
  int rc;

  (void)n;
  (void)st;
  if (catalog_find(job, res[1]) < 0)
    return;
  /* documents before the chunk table, as every writer orders them: the DROP
   * must also lock pgmld.documents (to remove the foreign key's triggers),
   * and a DELETE of documents elsewhere cascades into every chunk table
   * while it holds documents - taking the chunk table first deadlocks. */
  rc = pgmld__svc_batch_sql(&job->batch, PGMLD_SVC_LOCK_DOCUMENTS_SQL);
  if (rc == 0)
    rc = pgmld__svc_batch_add(&job->batch, &sb);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, "DROP TABLE IF EXISTS ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_chunks_table(sb, s->p->id);
  if (rc == 0)
    rc = by_id_sql(&job->batch, "DELETE FROM pgmld.pipelines WHERE id = ", s->p->id);
  if (rc == 0)
    rc = pgmld__svc_batch_sql(&job->batch, "COMMIT");
  run_built(job, rc, remove_done);
}

static void remove_pipeline(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__RemovePipelineRequest *req = (const Pgml__V1__RemovePipelineRequest *)request;
  pl_serve(call, req->collection, req->name, " FOR UPDATE OF c", remove_locked,
           "building RemovePipeline");
}

/* ------------------------------------------------------------ Status */

static void status_done(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                        const pgmld_status_t *st)
{
  pl_state_t *s = S(job);
  Pgml__V1__PipelineStatusResponse resp = PGML__V1__PIPELINE_STATUS_RESPONSE__INIT;
  const PGresult *r = res[0];

  (void)n;
  (void)st;
  resp.name = s->p->name;
  resp.enabled = s->p->enabled != 0;
  resp.documents = (uint64_t)pgmld__svc_int64(r, 0, 0);
  resp.documents_embedded = (uint64_t)pgmld__svc_int64(r, 0, 1);
  resp.documents_pending = (uint64_t)pgmld__svc_int64(r, 0, 2);
  resp.chunks = (uint64_t)pgmld__svc_int64(r, 0, 3);
  resp.chunks_embedded = (uint64_t)pgmld__svc_int64(r, 0, 4);
  resp.chunks_pending = resp.chunks - resp.chunks_embedded;
  pgmld__svc_reply(job, &resp.base);
}

static void status_found(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                         const pgmld_status_t *st)
{
  pl_state_t *s = S(job);
  pgmld_sqlbuf_t *sb;
  int64_t t;
  int rc;

  (void)n;
  (void)st;
  if (catalog_find(job, res[0]) < 0)
    return;
  t = s->p->id;
  rc = pgmld__svc_batch_add(&job->batch, &sb);
#define T() (rc == 0 ? (rc = pgmld_sqlbuf_append_chunks_table(sb, t)) : rc)
#define A(text) (rc == 0 ? (rc = pgmld_sqlbuf_append(sb, text)) : rc)
  A("SELECT (SELECT count(*) FROM pgmld.documents WHERE collection_id = ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_int64(sb, s->collection_id);
  A("), (SELECT count(DISTINCT document_id) FROM ");
  T();
  A(" WHERE embedding IS NOT NULL), (SELECT count(*) FROM pgmld.documents d"
    " WHERE d.collection_id = $1 AND NOT EXISTS (SELECT 1 FROM ");
  T();
  A(" c WHERE c.document_id = d.id AND c.embedding IS NOT NULL) OR EXISTS (SELECT 1 FROM ");
  T();
  A(" c WHERE c.document_id = d.id AND c.embedding IS NULL AND d.collection_id = $1)),"
    " (SELECT count(*) FROM ");
  T();
  A("), (SELECT count(embedding) FROM ");
  T();
  A(")");
#undef T
#undef A
  run_built(job, rc, status_done);
}

static void pipeline_status(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__PipelineStatusRequest *req = (const Pgml__V1__PipelineStatusRequest *)request;
  pl_serve(call, req->collection, req->name, NULL, status_found, "building PipelineStatus");
}

const pgmld_handler_entry_t pgmld_pipelines_handlers[] = {
  {"AddPipeline", add_pipeline},
  {"ListPipelines", list_pipelines},
  {"EnablePipeline", enable_pipeline},
  {"DisablePipeline", disable_pipeline},
  {"RemovePipeline", remove_pipeline},
  {"PipelineStatus", pipeline_status},
  {NULL, NULL},
};
