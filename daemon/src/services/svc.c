/* svc.c - the Database handlers' shared machinery: jobs on a leased connection, the catalog, chunking and chunk INSERTs. */
#include "services/svc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/server.h"
#include "sql/vector.h"

/* ------------------------------------------------------------ batches */

pgmld_sqlbuf_t *pgmld__svc_batch_add(pgmld_svc_batch_t *b)
{
  if (b->n == PGMLD_POOL_BATCH_MAX)
    return NULL;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 8;
    pgmld_sqlbuf_t *sb = pgmld_realloc(b->sb, cap * sizeof(*sb));

    if (sb == NULL)
      return NULL;
    b->sb = sb;
    b->cap = cap;
  }
  pgmld_sqlbuf_init(&b->sb[b->n]);
  return &b->sb[b->n++];
}

int pgmld__svc_batch_sql(pgmld_svc_batch_t *b, const char *sql)
{
  pgmld_sqlbuf_t *sb = pgmld__svc_batch_add(b);

  if (sb == NULL)
    return -ENOMEM;
  return pgmld_sqlbuf_append(sb, sql);
}

void pgmld__svc_batch_free(pgmld_svc_batch_t *b)
{
  size_t i;

  for (i = 0; i < b->n; i++)
    pgmld_sqlbuf_free(&b->sb[i]);
  pgmld_free(b->sb);
  b->sb = NULL;
  b->n = b->cap = 0;
}

/* ------------------------------------------------------------ jobs */

static void end_job(pgmld_svc_job_t *job)
{
  if (job->wait != NULL) {
    /* Defensive: a job ends while waiting only through the acquire
     * callback, which clears wait first. */
    pgmld_pool_acquire_cancel(job->wait);
    job->wait = NULL;
  }
  if (job->conn != NULL) {
    /* Rolls back a transaction the job left open or aborted. */
    pgmld_pool_release(job->conn);
    job->conn = NULL;
  }
  pgmld__svc_batch_free(&job->batch);
  job->destroy(job);
}

void pgmld__svc_reply(pgmld_svc_job_t *job, const ProtobufCMessage *response)
{
  pgmld_call_on_cancel(job->call, NULL, NULL);
  pgmld_call_reply(job->call, response);
  end_job(job);
}

void pgmld__svc_fail_status(pgmld_svc_job_t *job, const pgmld_status_t *st)
{
  pgmld_status_t copy = *st;

  if (copy.code == PGMLD_OK)
    pgmld_status_set(&copy, PGMLD_INTERNAL, "%s failed without a reason",
                     pgmld_call_method(job->call));
  pgmld_call_on_cancel(job->call, NULL, NULL);
  pgmld_call_fail_status(job->call, &copy);
  end_job(job);
}

void pgmld__svc_fail(pgmld_svc_job_t *job, pgmld_code_t code, const char *fmt, ...)
{
  pgmld_status_t st = PGMLD_STATUS_INIT;
  va_list ap;

  st.code = code;
  va_start(ap, fmt);
  vsnprintf(st.message, sizeof(st.message), fmt, ap);
  va_end(ap);
  pgmld__svc_fail_status(job, &st);
}

void pgmld__svc_fail_nomem(pgmld_svc_job_t *job, const char *what)
{
  pgmld__svc_fail(job, PGMLD_RESOURCE_EXHAUSTED, "out of memory while %s", what);
}

static void on_cancel(pgmld_call_t *call, void *data)
{
  pgmld_svc_job_t *job = data;

  (void)call;
  /* The dispatcher has answered the client already; stopping the work is
   * all that is left.  Each path below ends the job from its callback. */
  if (job->wait != NULL)
    pgmld_pool_acquire_cancel(job->wait);
  else if (job->querying && job->conn != NULL)
    pgmld_pool_cancel(job->conn);
}

static void on_acquired(pgmld_pool_conn_t *conn, const pgmld_status_t *st, void *data)
{
  pgmld_svc_job_t *job = data;

  job->wait = NULL;
  if (conn == NULL || !pgmld_status_ok(st)) {
    if (conn != NULL)
      pgmld_pool_release(conn);
    pgmld__svc_fail_status(job, st);
    return;
  }
  job->conn = conn;
  /* The statements may use the whole of the call's time. */
  pgmld_pool_set_deadline(conn, pgmld_call_deadline(job->call));
  if (pgmld_call_cancelled(job->call)) {
    pgmld__svc_fail(job, PGMLD_CANCELLED, "%s cancelled", pgmld_call_method(job->call));
    return;
  }
  job->ready(job);
}

/* The wait for a connection ends a little before the call's deadline, so
 * that when PostgreSQL is unreachable the client learns that (UNAVAILABLE,
 * with the pool's reason) rather than a bare DEADLINE_EXCEEDED from the
 * dispatcher, which would otherwise fire at the same instant. */
static uint64_t acquire_deadline(pgmld_svc_job_t *job)
{
  uint64_t deadline = pgmld_call_deadline(job->call);
  uint64_t now = uv_now(pgmld_server_loop(job->srv)), margin;

  if (deadline <= now)
    return deadline;
  margin = (deadline - now) / 10;
  if (margin > 500)
    margin = 500;
  return deadline - margin;
}

void pgmld__svc_start(pgmld_svc_job_t *job, pgmld_call_t *call,
                      void (*ready)(pgmld_svc_job_t *job),
                      void (*destroy)(pgmld_svc_job_t *job))
{
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_pool_t *pool;
  int rc;

  job->call = call;
  job->srv = pgmld_call_server(call);
  job->ready = ready;
  job->destroy = destroy;
  pool = pgmld_server_pool(job->srv);
  if (pool == NULL) {
    pgmld__svc_fail(job, PGMLD_UNAVAILABLE, "the database is not available (no connection pool)");
    return;
  }
  rc = pgmld_pool_acquire(pool, acquire_deadline(job), on_acquired, job, &job->wait, &st);
  if (rc < 0) {
    job->wait = NULL;
    if (pgmld_status_ok(&st))
      pgmld_status_set(&st, rc == -EAGAIN ? PGMLD_RESOURCE_EXHAUSTED : PGMLD_UNAVAILABLE,
                       "no database connection could be requested (%s)", strerror(-rc));
    pgmld__svc_fail_status(job, &st);
    return;
  }
  /* Registered after the request is queued so that the hook always has
   * something to cancel; if the call was cancelled already it runs now and
   * the acquire callback ends the job. */
  pgmld_call_on_cancel(call, on_cancel, job);
}

static void on_batch(pgmld_pool_conn_t *conn, PGresult *const *results, size_t n,
                     const pgmld_status_t *st, void *data)
{
  pgmld_svc_job_t *job = data;

  (void)conn;
  job->querying = 0;
  if (!pgmld_status_ok(st) && !(job->run_flags & PGMLD_SVC_WANT_ERRORS)) {
    pgmld__svc_fail_status(job, st);
    return;
  }
  job->next(job, results, n, st);
}

void pgmld__svc_run(pgmld_svc_job_t *job, unsigned flags, pgmld_svc_next_fn next)
{
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_pool_stmt_t *stmts;
  size_t i, n = job->batch.n;
  int rc;

  if (pgmld_call_cancelled(job->call)) {
    pgmld__svc_fail(job, PGMLD_CANCELLED, "%s cancelled", pgmld_call_method(job->call));
    return;
  }
  if (n == 0) {
    pgmld__svc_fail(job, PGMLD_INTERNAL, "%s: empty statement batch", pgmld_call_method(job->call));
    return;
  }
  stmts = pgmld_calloc(n, sizeof(*stmts));
  if (stmts == NULL) {
    pgmld__svc_fail_nomem(job, "building the statements");
    return;
  }
  for (i = 0; i < n; i++) {
    pgmld_sqlbuf_t *sb = &job->batch.sb[i];

    stmts[i].sql = pgmld_sqlbuf_sql(sb);
    stmts[i].nparams = sb->n_params;
    stmts[i].types = sb->types;
    stmts[i].values = pgmld_sqlbuf_values(sb);
    stmts[i].lengths = sb->lengths;
    stmts[i].formats = sb->formats;
    /* A statement on a pipeline's table that a concurrent RemovePipeline
     * dropped is NOT_FOUND, not INTERNAL. */
    stmts[i].flags = PGMLD_POOL_STMT_UNDEFINED_TABLE_NOT_FOUND;
  }
  job->run_flags = flags;
  job->next = next;
  rc = pgmld_pool_batch(job->conn, stmts, n, on_batch, job, &st);
  /* libpq copied the statements into its buffer: ours can go now. */
  pgmld_free(stmts);
  pgmld__svc_batch_free(&job->batch);
  if (rc < 0) {
    if (pgmld_status_ok(&st))
      pgmld_status_set(&st, PGMLD_INTERNAL, "could not send the statements (%s)", strerror(-rc));
    pgmld__svc_fail_status(job, &st);
    return;
  }
  job->querying = 1;
}

/* ------------------------------------------------------------ helpers */

int64_t pgmld__svc_int64(const PGresult *res, int row, int col)
{
  if (PQgetisnull(res, row, col))
    return 0;
  return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int pgmld__svc_bool(const PGresult *res, int row, int col)
{
  return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

/* ------------------------------------------------------------ catalog */

int pgmld__svc_catalog_sql(pgmld_svc_batch_t *b, const char *name, const char *lock)
{
  pgmld_sqlbuf_t *sb = pgmld__svc_batch_add(b);
  int rc;

  if (sb == NULL)
    return -ENOMEM;
  rc = pgmld_sqlbuf_append(sb,
                           "SELECT c.id, " PGMLD_SVC_MS("c.created_at") ", p.id, p.name, p.spec::text,"
                           " p.dimensions, p.enabled, " PGMLD_SVC_MS("p.created_at")
                           " FROM pgmld.collections c"
                           " LEFT JOIN pgmld.pipelines p ON p.collection_id = c.id"
                           " WHERE NOT c.archived AND c.name = ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_text(sb, name);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, " ORDER BY p.id");
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, lock);
  return rc;
}

static int pipeline_from_spec(pgmld_svc_pipeline_t *p, const char *spec_text, pgmld_status_t *st)
{
  json_error_t jerr;
  json_t *model;

  p->spec = json_loads(spec_text, 0, &jerr);
  if (p->spec == NULL || !json_is_object(p->spec))
    return pgmld_status_set(st, PGMLD_INTERNAL, "pipeline %s: stored spec is not a JSON object",
                            p->name), -EINVAL;
  model = json_object_get(p->spec, "model");
  p->model_name = json_string_value(json_object_get(model, "name"));
  p->fulltext_config = json_string_value(json_object_get(p->spec, "fulltext_config"));
  p->text_field = json_string_value(json_object_get(p->spec, "text_field"));
  if (p->model_name == NULL)
    p->model_name = PGMLD_MODEL_DEFAULT_NAME;
  if (p->fulltext_config == NULL)
    p->fulltext_config = "";
  if (p->text_field == NULL)
    p->text_field = "text";
  return 0;
}

int pgmld__svc_catalog_parse(const PGresult *res, const char *name, pgmld_svc_collection_t *out,
                             pgmld_status_t *st)
{
  int rows = PQntuples(res), i;

  memset(out, 0, sizeof(*out));
  if (rows == 0) {
    pgmld_status_set(st, PGMLD_NOT_FOUND, "collection %s not found", name);
    return -ENOENT;
  }
  out->id = pgmld__svc_int64(res, 0, 0);
  out->created_at_ms = pgmld__svc_int64(res, 0, 1);
  out->name = pgmld_strdup(name);
  if (out->name == NULL)
    goto nomem;
  if (PQgetisnull(res, 0, 2))
    return 0;
  out->pipelines = pgmld_calloc((size_t)rows, sizeof(*out->pipelines));
  if (out->pipelines == NULL)
    goto nomem;
  for (i = 0; i < rows; i++) {
    pgmld_svc_pipeline_t *p = &out->pipelines[i];

    out->n_pipelines++;
    p->id = pgmld__svc_int64(res, i, 2);
    p->name = pgmld_strdup(PQgetvalue(res, i, 3));
    if (p->name == NULL)
      goto nomem;
    p->dimensions = (uint32_t)pgmld__svc_int64(res, i, 5);
    p->enabled = pgmld__svc_bool(res, i, 6);
    p->created_at_ms = pgmld__svc_int64(res, i, 7);
    if (pipeline_from_spec(p, PQgetvalue(res, i, 4), st) < 0)
      return -EINVAL;
  }
  return 0;

nomem:
  pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory reading collection %s", name);
  return -ENOMEM;
}

void pgmld__svc_collection_free(pgmld_svc_collection_t *c)
{
  size_t i;

  for (i = 0; i < c->n_pipelines; i++) {
    pgmld_svc_pipeline_t *p = &c->pipelines[i];

    pgmld_free(p->name);
    if (p->spec != NULL)
      json_decref(p->spec);
    if (p->splitter != NULL)
      pgmld_splitter_free(p->splitter);
    pgmld_model_close(p->model);
  }
  pgmld_free(c->pipelines);
  pgmld_free(c->name);
  memset(c, 0, sizeof(*c));
}

pgmld_svc_pipeline_t *pgmld__svc_find_pipeline(pgmld_svc_collection_t *c, const char *name)
{
  size_t i;

  for (i = 0; i < c->n_pipelines; i++)
    if (strcmp(c->pipelines[i].name, name) == 0)
      return &c->pipelines[i];
  return NULL;
}

pgmld_svc_pipeline_t *pgmld__svc_search_pipeline(pgmld_svc_collection_t *c, const char *name,
                                                 pgmld_status_t *st)
{
  pgmld_svc_pipeline_t *found = NULL;
  char list[256];
  size_t i, used = 0, enabled = 0;

  if (name != NULL && name[0] != '\0') {
    found = pgmld__svc_find_pipeline(c, name);
    if (found == NULL)
      pgmld_status_set(st, PGMLD_NOT_FOUND, "pipeline %s not found in collection %s", name,
                       c->name);
    else if (!found->enabled)
      pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                       "pipeline %s of collection %s is disabled; enable it to search it", name,
                       c->name);
    return found != NULL && found->enabled ? found : NULL;
  }
  list[0] = '\0';
  for (i = 0; i < c->n_pipelines; i++) {
    if (!c->pipelines[i].enabled)
      continue;
    enabled++;
    found = &c->pipelines[i];
    if (used < sizeof(list)) {
      int w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "",
                       found->name);
      used += w > 0 ? (size_t)w : 0;
    }
  }
  if (enabled == 0) {
    pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                     "collection %s has no enabled pipeline to search (upsert documents or add a pipeline)",
                     c->name);
    return NULL;
  }
  if (enabled > 1) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "pipeline: collection %s has %zu enabled pipelines (%s); name one", c->name,
                     enabled, list);
    return NULL;
  }
  return found;
}

int pgmld__svc_pipeline_is_client(const pgmld_svc_pipeline_t *p)
{
  return strcmp(p->model_name, "client") == 0;
}

/* The splitter spec stored in a pipeline's spec ("splitter" object); the
 * separators are borrowed from the JSON and copied into `seps`. */
static void splitter_spec_of(const json_t *spec, pgmld_splitter_spec_t *out,
                             char **seps)
{
  json_t *sp = json_object_get(spec, "splitter");
  json_t *arr = json_object_get(sp, "separators");
  size_t i;

  memset(out, 0, sizeof(*out));
  out->name = json_string_value(json_object_get(sp, "name"));
  out->chunk_size = (uint32_t)json_integer_value(json_object_get(sp, "chunk_size"));
  out->chunk_overlap = (uint32_t)json_integer_value(json_object_get(sp, "chunk_overlap"));
  for (i = 0; i < json_array_size(arr) && i < PGMLD_SPLITTER_MAX_SEPARATORS; i++)
    seps[out->n_separators++] = (char *)json_string_value(json_array_get(arr, i));
  out->separators = seps;
}

int pgmld__svc_pipeline_open(pgmld_svc_pipeline_t *p, pgmld_status_t *st)
{
  pgmld_splitter_spec_t sspec;
  char *seps[PGMLD_SPLITTER_MAX_SEPARATORS];
  pgmld_model_spec_t mspec;

  if (p->splitter == NULL) {
    splitter_spec_of(p->spec, &sspec, seps);
    if (pgmld_splitter_new(&sspec, &p->splitter, st) < 0)
      return -EINVAL;
  }
  if (p->model == NULL) {
    mspec.name = p->model_name;
    mspec.dimensions = p->dimensions;
    if (pgmld_model_open(&mspec, &p->model, st) < 0)
      return -EINVAL;
  }
  return 0;
}

json_t *pgmld__svc_spec_build(const Pgml__V1__AddPipelineRequest *req, uint32_t *dims,
                              pgmld_status_t *st)
{
  pgmld_splitter_spec_t sspec;
  const pgmld_splitter_spec_t *full;
  pgmld_splitter_t *sp = NULL;
  pgmld_model_spec_t mspec;
  pgmld_model_t *model = NULL;
  json_t *spec = NULL, *seps = NULL;
  uint32_t m = 16, efc = 64;
  const char *text_field = "text";
  size_t i;

  memset(&sspec, 0, sizeof(sspec));
  if (req->splitter != NULL) {
    sspec.name = req->splitter->name != NULL && req->splitter->name[0] ? req->splitter->name : NULL;
    sspec.chunk_size = req->splitter->chunk_size;
    sspec.chunk_overlap = req->splitter->chunk_overlap;
    sspec.n_separators = req->splitter->n_separators;
    sspec.separators = req->splitter->separators;
  }
  if (pgmld_splitter_new(&sspec, &sp, st) < 0)
    return NULL;
  full = pgmld_splitter_spec(sp);

  mspec.name = req->model != NULL && req->model->name != NULL && req->model->name[0]
                   ? req->model->name : PGMLD_MODEL_DEFAULT_NAME;
  mspec.dimensions = req->model != NULL ? req->model->dimensions : 0;
  if (pgmld_model_open(&mspec, &model, st) < 0)
    goto out;
  *dims = pgmld_model_dimensions(model);

  if (req->hnsw != NULL) {
    if (req->hnsw->m != 0)
      m = req->hnsw->m;
    if (req->hnsw->ef_construction != 0)
      efc = req->hnsw->ef_construction;
  }
  /* pgvector's own ranges: m 2..100, ef_construction 4..1000 and at least
   * 2 * m; checked here so that the message names the field. */
  if (m < 2 || m > 100) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "hnsw.m: %u is out of range (2 to 100)", m);
    goto out;
  }
  if (efc < 4 || efc > 1000 || efc < 2 * m) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "hnsw.ef_construction: %u is out of range (4 to 1000, and at least 2 * hnsw.m = %u)",
                     efc, 2 * m);
    goto out;
  }
  if (req->text_field != NULL && req->text_field[0] != '\0')
    text_field = req->text_field;
  if (strlen(text_field) > 255) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "text_field: longer than 255 bytes");
    goto out;
  }
  if (req->fulltext_config != NULL && strlen(req->fulltext_config) > 255) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "fulltext_config: longer than 255 bytes");
    goto out;
  }

  seps = json_array();
  if (seps == NULL)
    goto nomem;
  for (i = 0; i < full->n_separators; i++)
    if (json_array_append_new(seps, json_string(full->separators[i])) < 0)
      goto nomem;
  spec = json_pack("{s:{s:s,s:I,s:I,s:O},s:{s:s,s:I},s:{s:I,s:I},s:s,s:s}",
                   "splitter", "name", full->name, "chunk_size", (json_int_t)full->chunk_size,
                   "chunk_overlap", (json_int_t)full->chunk_overlap, "separators", seps,
                   "model", "name", pgmld_model_name(model), "dimensions", (json_int_t)*dims,
                   "hnsw", "m", (json_int_t)m, "ef_construction", (json_int_t)efc,
                   "fulltext_config", req->fulltext_config != NULL ? req->fulltext_config : "",
                   "text_field", text_field);
  if (spec == NULL)
    goto nomem;
  goto out;

nomem:
  pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory building the pipeline spec");
out:
  if (seps != NULL)
    json_decref(seps);
  pgmld_model_close(model);
  pgmld_splitter_free(sp);
  return spec;
}

void pgmld__svc_pipeline_info(const pgmld_svc_pipeline_t *p, const char *collection,
                              pgmld_svc_pipeline_info_t *out)
{
  static const Pgml__V1__PipelineInfo info_init = PGML__V1__PIPELINE_INFO__INIT;
  static const Pgml__V1__SplitterSpec splitter_init = PGML__V1__SPLITTER_SPEC__INIT;
  static const Pgml__V1__ModelSpec model_init = PGML__V1__MODEL_SPEC__INIT;
  static const Pgml__V1__HnswSpec hnsw_init = PGML__V1__HNSW_SPEC__INIT;
  json_t *sp = json_object_get(p->spec, "splitter");
  json_t *hnsw = json_object_get(p->spec, "hnsw");
  json_t *seps = json_object_get(sp, "separators");
  size_t i;

  out->info = info_init;
  out->splitter = splitter_init;
  out->model = model_init;
  out->hnsw = hnsw_init;
  out->info.collection = (char *)collection;
  out->info.name = p->name;
  out->splitter.name = (char *)json_string_value(json_object_get(sp, "name"));
  if (out->splitter.name == NULL)
    out->splitter.name = (char *)"";
  out->splitter.chunk_size = (uint32_t)json_integer_value(json_object_get(sp, "chunk_size"));
  out->splitter.chunk_overlap = (uint32_t)json_integer_value(json_object_get(sp, "chunk_overlap"));
  for (i = 0; i < json_array_size(seps) && i < PGMLD_SPLITTER_MAX_SEPARATORS; i++) {
    const char *s = json_string_value(json_array_get(seps, i));

    out->separators[i] = (char *)(s != NULL ? s : "");
  }
  out->splitter.n_separators = i;
  out->splitter.separators = out->separators;
  out->model.name = (char *)p->model_name;
  out->model.dimensions = p->dimensions;
  out->hnsw.m = (uint32_t)json_integer_value(json_object_get(hnsw, "m"));
  out->hnsw.ef_construction = (uint32_t)json_integer_value(json_object_get(hnsw, "ef_construction"));
  out->info.splitter = &out->splitter;
  out->info.model = &out->model;
  out->info.hnsw = &out->hnsw;
  out->info.fulltext_config = (char *)p->fulltext_config;
  out->info.text_field = (char *)p->text_field;
  out->info.enabled = p->enabled != 0;
  out->info.created_at_ms = p->created_at_ms;
}

/* ------------------------------------------------------------ chunks */

void pgmld__svc_chunks_free(pgmld_svc_chunks_t *c)
{
  pgmld_free(c->doc);
  pgmld_free(c->index);
  pgmld_free(c->text);
  pgmld_free(c->len);
  pgmld_free(c->vectors);
  memset(c, 0, sizeof(*c));
}

static int chunks_push(pgmld_svc_chunks_t *c, size_t doc, uint32_t index, const char *text,
                       size_t len)
{
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    size_t *d = pgmld_realloc(c->doc, cap * sizeof(*d));

    if (d == NULL)
      return -ENOMEM;
    c->doc = d;
    uint32_t *ix = pgmld_realloc(c->index, cap * sizeof(*ix));
    if (ix == NULL)
      return -ENOMEM;
    c->index = ix;
    const char **t = pgmld_realloc(c->text, cap * sizeof(*t));
    if (t == NULL)
      return -ENOMEM;
    c->text = t;
    size_t *l = pgmld_realloc(c->len, cap * sizeof(*l));
    if (l == NULL)
      return -ENOMEM;
    c->len = l;
    c->cap = cap;
  }
  c->doc[c->n] = doc;
  c->index[c->n] = index;
  c->text[c->n] = text;
  c->len[c->n] = len;
  c->n++;
  return 0;
}

int pgmld__svc_chunk_docs(pgmld_svc_pipeline_t *p, const pgmld_svc_doc_t *docs, size_t n,
                          pgmld_svc_chunks_t *out, pgmld_status_t *st)
{
  pgmld_chunk_list_t list = PGMLD_CHUNK_LIST_INIT;
  char what[96];
  size_t i, j;
  int rc = 0;

  memset(out, 0, sizeof(*out));
  out->dims = p->dimensions;
  if (pgmld__svc_pipeline_open(p, st) < 0)
    return -EINVAL;
  if (pgmld__svc_pipeline_is_client(p)) {
    int any = 0;

    for (i = 0; i < n; i++) {
      if (chunks_push(out, i, 0, docs[i].text != NULL ? docs[i].text : "", docs[i].text_len) < 0)
        goto nomem;
      any |= docs[i].vector != NULL;
    }
    if (any && n > 0) {
      out->vectors = pgmld_calloc(n, (size_t)p->dimensions * sizeof(float));
      if (out->vectors == NULL)
        goto nomem;
      for (i = 0; i < n; i++)
        if (docs[i].vector != NULL)
          memcpy(out->vectors + i * p->dimensions, docs[i].vector,
                 (size_t)p->dimensions * sizeof(float));
      out->embedded = 1;
    }
    return 0;
  }
  for (i = 0; i < n; i++) {
    if (docs[i].text == NULL || docs[i].text_len == 0)
      continue;
    list.n = 0;
    snprintf(what, sizeof(what), "document %.64s: %s", docs[i].doc_id, p->text_field);
    rc = pgmld_splitter_split(p->splitter, docs[i].text, docs[i].text_len, what, &list, st);
    if (rc < 0)
      goto out;
    for (j = 0; j < list.n; j++)
      if (chunks_push(out, i, (uint32_t)j, docs[i].text + list.chunks[j].offset,
                      list.chunks[j].length) < 0)
        goto nomem;
  }
  goto out;

nomem:
  rc = -ENOMEM;
  pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory splitting documents for pipeline %s",
                   p->name);
out:
  pgmld_chunk_list_free(&list);
  return rc;
}

typedef struct embed_req_s {
  pgmld_svc_chunks_t *chunks;
  pgmld_svc_embed_cb done;
  void *data;
} embed_req_t;

static void on_embedded(pgmld_model_t *model, const pgmld_status_t *st, void *data)
{
  embed_req_t *r = data;
  pgmld_svc_embed_cb done = r->done;
  void *ud = r->data;

  (void)model;
  if (pgmld_status_ok(st))
    r->chunks->embedded = 1;
  pgmld_free(r);
  done(st, ud);
}

int pgmld__svc_embed_chunks(pgmld_svc_pipeline_t *p, pgmld_svc_chunks_t *c,
                            pgmld_svc_embed_cb done, void *data, pgmld_status_t *st)
{
  embed_req_t *r;
  int rc;

  if (pgmld__svc_pipeline_open(p, st) < 0)
    return -EINVAL;
  if (c->n == 0) {
    pgmld_status_t ok = PGMLD_STATUS_INIT;

    c->embedded = 1;
    done(&ok, data);
    return 0;
  }
  c->vectors = pgmld_calloc(c->n, (size_t)c->dims * sizeof(float));
  r = pgmld_malloc(sizeof(*r));
  if (c->vectors == NULL || r == NULL) {
    pgmld_free(r);
    return pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory embedding %zu chunks",
                            c->n), -ENOMEM;
  }
  r->chunks = c;
  r->done = done;
  r->data = data;
  rc = pgmld_model_embed(p->model, c->text, c->len, c->n, c->vectors, on_embedded, r, st);
  if (rc < 0) {
    pgmld_free(r);
    return rc;
  }
  return 0;
}

/* Rows per INSERT: 5 parameters each, well under the protocol's 65535. */
#define ROWS_PER_INSERT 1000u

int pgmld__svc_chunks_insert_sql(pgmld_svc_batch_t *b, const pgmld_svc_pipeline_t *p,
                                 int64_t collection_id, const pgmld_svc_doc_t *docs,
                                 const pgmld_svc_chunks_t *c, pgmld_status_t *st)
{
  size_t start, i;
  int rc = 0;

  for (start = 0; start < c->n; start += ROWS_PER_INSERT) {
    size_t end = start + ROWS_PER_INSERT < c->n ? start + ROWS_PER_INSERT : c->n;
    pgmld_sqlbuf_t *sb = pgmld__svc_batch_add(b);

    if (sb == NULL)
      goto toobig;
    rc = pgmld_sqlbuf_append(sb, "INSERT INTO ");
    if (rc == 0)
      rc = pgmld_sqlbuf_append_chunks_table(sb, p->id);
    if (rc == 0)
      rc = pgmld_sqlbuf_append(sb, " (document_id, chunk_index, chunk, embedding, tsv)"
                                   " SELECT d.id, v.ci, v.chunk, v.emb, ");
    if (rc == 0) {
      if (p->fulltext_config[0] != '\0') {
        rc = pgmld_sqlbuf_append(sb, "to_tsvector(");
        if (rc == 0)
          rc = pgmld_sqlbuf_append_text(sb, p->fulltext_config);
        if (rc == 0)
          rc = pgmld_sqlbuf_append(sb, "::regconfig, v.chunk)");
      } else {
        rc = pgmld_sqlbuf_append(sb, "NULL::tsvector");
      }
    }
    if (rc == 0)
      rc = pgmld_sqlbuf_append(sb, " FROM (VALUES ");
    for (i = start; i < end && rc == 0; i++) {
      const pgmld_svc_doc_t *d = &docs[c->doc[i]];

      rc = pgmld_sqlbuf_append(sb, i > start ? ",(" : "(");
      if (rc == 0)
        rc = pgmld_sqlbuf_append_text(sb, d->doc_id);
      if (rc == 0)
        rc = pgmld_sqlbuf_appendf(sb, ",%" PRIu32 ",", c->index[i]);
      if (rc == 0)
        rc = pgmld_sqlbuf_append_param(sb, c->text[i], c->len[i], PGMLD_SQL_FORMAT_TEXT,
                                       PGMLD_OID_TEXT);
      if (rc == 0)
        rc = pgmld_sqlbuf_append(sb, "::text,");
      if (rc == 0) {
        int has_vec = c->embedded && c->vectors != NULL;

        /* A "client" document sent without its vector stays pending. */
        if (pgmld__svc_pipeline_is_client(p) && d->vector == NULL)
          has_vec = 0;
        if (has_vec)
          rc = pgmld_sqlbuf_append_vector(sb, c->vectors + i * c->dims, c->dims);
        else
          rc = pgmld_sqlbuf_append(sb, "NULL::vector");
      }
      if (rc == 0)
        rc = pgmld_sqlbuf_append(sb, ")");
    }
    if (rc == 0)
      rc = pgmld_sqlbuf_append(sb, ") AS v(doc_id, ci, chunk, emb)"
                                   " JOIN pgmld.documents d ON d.doc_id = v.doc_id"
                                   " AND d.collection_id = ");
    if (rc == 0)
      rc = pgmld_sqlbuf_append_int64(sb, collection_id);
    if (rc < 0)
      break;
  }
  if (rc == -ENOMEM)
    return pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory building chunk rows"),
           rc;
  if (rc == -EINVAL)
    return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                            "a chunk of pipeline %s holds a NUL byte or a vector with bad dimensions",
                            p->name), rc;
  if (rc < 0)
    goto toobig;
  return 0;

toobig:
  return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                          "too many chunks in one request for pipeline %s (%zu); send fewer documents",
                          p->name, c->n), -E2BIG;
}
