/* collections.c - CreateOrGetCollection, ListCollections, CollectionExists, ArchiveCollection, DropCollection. */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "services/registry.h"
#include "services/svc.h"

typedef struct coll_job_s {
  pgmld_svc_job_t job;        /* first: a pgmld_svc_job_t * is a coll_job_t * */
  const char *name;           /* borrowed from the request */
  int include_archived;
  int64_t id;
} coll_job_t;

static void coll_destroy(pgmld_svc_job_t *job)
{
  pgmld_free(job);
}

/* Starts a job for `name` (validated unless NULL) with `ready` as its first
 * step; ends the call itself on failure. */
static void coll_start(pgmld_call_t *call, const char *name, int include_archived,
                       void (*ready)(pgmld_svc_job_t *job))
{
  pgmld_status_t st = PGMLD_STATUS_INIT;
  coll_job_t *cj;

  if (name != NULL && pgmld_sql_check_name(name, "name", &st) < 0) {
    pgmld_call_fail_status(call, &st);
    return;
  }
  cj = pgmld_calloc(1, sizeof(*cj));
  if (cj == NULL) {
    pgmld_call_fail(call, PGMLD_RESOURCE_EXHAUSTED, "out of memory starting %s",
                    pgmld_call_method(call));
    return;
  }
  cj->name = name;
  cj->include_archived = include_archived;
  pgmld__svc_start(&cj->job, call, ready, coll_destroy);
}

/* Fills info from a row (name, archived, created_at_ms); strings borrowed
 * from res. */
static void info_from_row(const PGresult *res, int row, Pgml__V1__CollectionInfo *info)
{
  static const Pgml__V1__CollectionInfo init = PGML__V1__COLLECTION_INFO__INIT;

  *info = init;
  info->name = PQgetvalue(res, row, 0);
  info->archived = pgmld__svc_bool(res, row, 1);
  info->created_at_ms = pgmld__svc_int64(res, row, 2);
}

#define INFO_COLUMNS "name, archived, " PGMLD_SVC_MS("created_at")

/* Appends "<sql>$1" with the job's name as $1. */
static int sql_with_name(pgmld_svc_job_t *job, const char *sql, const char *tail)
{
  coll_job_t *cj = (coll_job_t *)job;
  pgmld_sqlbuf_t *sb;
  int rc = pgmld__svc_batch_add(&job->batch, &sb);

  if (rc < 0)
    return rc;
  rc = pgmld_sqlbuf_append(sb, sql);
  if (rc == 0)
    rc = pgmld_sqlbuf_append_text(sb, cj->name);
  if (rc == 0 && tail != NULL)
    rc = pgmld_sqlbuf_append(sb, tail);
  return rc;
}

/* ------------------------------------------------------------ CreateOrGet */

static void create_done(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                        const pgmld_status_t *st)
{
  coll_job_t *cj = (coll_job_t *)job;
  Pgml__V1__CollectionInfo info;

  (void)st;
  if (n < 2 || PQntuples(res[1]) != 1) {
    /* Archived between the two statements by another client. */
    pgmld__svc_fail(job, PGMLD_ABORTED, "collection %s changed while it was created; retry",
                    cj->name);
    return;
  }
  info_from_row(res[1], 0, &info);
  pgmld__svc_reply(job, &info.base);
}

static void create_ready(pgmld_svc_job_t *job)
{
  if (sql_with_name(job, "INSERT INTO pgmld.collections (name) VALUES (",
                    ") ON CONFLICT (name) WHERE NOT archived DO NOTHING") < 0 ||
      sql_with_name(job, "SELECT " INFO_COLUMNS " FROM pgmld.collections"
                         " WHERE NOT archived AND name = ", NULL) < 0) {
    pgmld__svc_fail_nomem(job, "building CreateOrGetCollection");
    return;
  }
  pgmld__svc_run(job, 0, create_done);
}

static void create_or_get(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__CreateOrGetCollectionRequest *req =
      (const Pgml__V1__CreateOrGetCollectionRequest *)request;

  coll_start(call, req->name, 0, create_ready);
}

/* ------------------------------------------------------------ List */

static void list_done(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                      const pgmld_status_t *st)
{
  Pgml__V1__ListCollectionsResponse resp = PGML__V1__LIST_COLLECTIONS_RESPONSE__INIT;
  Pgml__V1__CollectionInfo *infos = NULL, **ptrs = NULL;
  int rows = PQntuples(res[0]), i;

  (void)n;
  (void)st;
  if (rows > 0) {
    infos = pgmld_calloc((size_t)rows, sizeof(*infos));
    ptrs = pgmld_calloc((size_t)rows, sizeof(*ptrs));
    if (infos == NULL || ptrs == NULL) {
      pgmld_free(infos);
      pgmld_free(ptrs);
      pgmld__svc_fail_nomem(job, "listing collections");
      return;
    }
  }
  for (i = 0; i < rows; i++) {
    info_from_row(res[0], i, &infos[i]);
    ptrs[i] = &infos[i];
  }
  resp.n_collections = (size_t)rows;
  resp.collections = ptrs;
  pgmld__svc_reply(job, &resp.base);
  pgmld_free(infos);
  pgmld_free(ptrs);
}

static void list_ready(pgmld_svc_job_t *job)
{
  coll_job_t *cj = (coll_job_t *)job;

  if (pgmld__svc_batch_sql(&job->batch,
                           cj->include_archived
                               ? "SELECT " INFO_COLUMNS " FROM pgmld.collections ORDER BY created_at, id"
                               : "SELECT " INFO_COLUMNS " FROM pgmld.collections WHERE NOT archived"
                                 " ORDER BY created_at, id") < 0) {
    pgmld__svc_fail_nomem(job, "building ListCollections");
    return;
  }
  pgmld__svc_run(job, 0, list_done);
}

static void list_collections(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__ListCollectionsRequest *req = (const Pgml__V1__ListCollectionsRequest *)request;

  coll_start(call, NULL, req->include_archived, list_ready);
}

/* ------------------------------------------------------------ Exists */

static void exists_done(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                        const pgmld_status_t *st)
{
  Pgml__V1__CollectionExistsResponse resp = PGML__V1__COLLECTION_EXISTS_RESPONSE__INIT;

  (void)n;
  (void)st;
  resp.exists = PQntuples(res[0]) > 0;
  pgmld__svc_reply(job, &resp.base);
}

static void exists_ready(pgmld_svc_job_t *job)
{
  if (sql_with_name(job, "SELECT 1 FROM pgmld.collections WHERE NOT archived AND name = ",
                    NULL) < 0) {
    pgmld__svc_fail_nomem(job, "building CollectionExists");
    return;
  }
  pgmld__svc_run(job, 0, exists_done);
}

static void collection_exists(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__CollectionExistsRequest *req = (const Pgml__V1__CollectionExistsRequest *)request;

  coll_start(call, req->name, 0, exists_ready);
}

/* ------------------------------------------------------------ Archive */

static void archive_done(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                         const pgmld_status_t *st)
{
  coll_job_t *cj = (coll_job_t *)job;
  Pgml__V1__CollectionInfo info;

  (void)n;
  (void)st;
  pgmld__svc_cache_invalidate(job->srv, cj->name);
  if (PQntuples(res[0]) != 1) {
    pgmld__svc_fail(job, PGMLD_NOT_FOUND, "collection %s not found", cj->name);
    return;
  }
  info_from_row(res[0], 0, &info);
  pgmld__svc_reply(job, &info.base);
}

static void archive_ready(pgmld_svc_job_t *job)
{
  if (sql_with_name(job, "UPDATE pgmld.collections SET archived = true, archived_at = now()"
                         " WHERE NOT archived AND name = ",
                    " RETURNING " INFO_COLUMNS) < 0) {
    pgmld__svc_fail_nomem(job, "building ArchiveCollection");
    return;
  }
  pgmld__svc_run(job, 0, archive_done);
}

static void archive_collection(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__ArchiveCollectionRequest *req = (const Pgml__V1__ArchiveCollectionRequest *)request;

  coll_start(call, req->name, 0, archive_ready);
}

/* ------------------------------------------------------------ Drop */

static void drop_done(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                      const pgmld_status_t *st)
{
  Pgml__V1__DropCollectionResponse resp = PGML__V1__DROP_COLLECTION_RESPONSE__INIT;

  (void)res;
  (void)n;
  (void)st;
  pgmld__svc_cache_invalidate(job->srv, ((coll_job_t *)job)->name);
  pgmld__svc_reply(job, &resp.base);
}

/* The collection row is locked: drop every pipeline's chunk table, then the
 * rows (pipelines and documents go by ON DELETE CASCADE), and commit. */
static void drop_locked(pgmld_svc_job_t *job, PGresult *const *res, size_t n,
                        const pgmld_status_t *st)
{
  coll_job_t *cj = (coll_job_t *)job;
  pgmld_sqlbuf_t *sb;
  int rows, i, rc = 0;

  (void)n;
  (void)st;
  if (PQntuples(res[1]) != 1) {
    pgmld__svc_fail(job, PGMLD_NOT_FOUND, "collection %s not found", cj->name);
    return;
  }
  cj->id = pgmld__svc_int64(res[1], 0, 0);
  rows = PQntuples(res[2]);
  /* documents before the chunk tables (see PGMLD_SVC_LOCK_DOCUMENTS_SQL). */
  if (rows > 0)
    rc = pgmld__svc_batch_sql(&job->batch, PGMLD_SVC_LOCK_DOCUMENTS_SQL);
  for (i = 0; i < rows && rc == 0; i++) {
    rc = pgmld__svc_batch_add(&job->batch, &sb);
    if (rc == 0)
      rc = pgmld_sqlbuf_append(sb, "DROP TABLE IF EXISTS ");
    if (rc == 0)
      rc = pgmld_sqlbuf_append_chunks_table(sb, pgmld__svc_int64(res[2], i, 0));
  }
  if (rc == 0) {
    rc = pgmld__svc_batch_add(&job->batch, &sb);
    if (rc == 0)
      rc = pgmld_sqlbuf_append(sb, "DELETE FROM pgmld.collections WHERE id = ");
    if (rc == 0)
      rc = pgmld_sqlbuf_append_int64(sb, cj->id);
  }
  if (rc == 0)
    rc = pgmld__svc_batch_sql(&job->batch, "COMMIT");
  if (rc < 0) {
    pgmld__svc_fail_nomem(job, "building DropCollection");
    return;
  }
  pgmld__svc_run(job, 0, drop_done);
}

static void drop_ready(pgmld_svc_job_t *job)
{
  /* The lock first: a concurrent AddPipeline (which locks the same row)
   * cannot add a table this transaction would not see. */
  if (pgmld__svc_batch_sql(&job->batch, "BEGIN") < 0 ||
      sql_with_name(job, "SELECT id FROM pgmld.collections WHERE NOT archived AND name = ",
                    " FOR UPDATE") < 0 ||
      sql_with_name(job, "SELECT p.id FROM pgmld.pipelines p JOIN pgmld.collections c"
                         " ON c.id = p.collection_id WHERE NOT c.archived AND c.name = ",
                    " ORDER BY p.id") < 0) {
    pgmld__svc_fail_nomem(job, "building DropCollection");
    return;
  }
  pgmld__svc_run(job, 0, drop_locked);
}

static void drop_collection(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__DropCollectionRequest *req = (const Pgml__V1__DropCollectionRequest *)request;

  coll_start(call, req->name, 0, drop_ready);
}

const pgmld_handler_entry_t pgmld_collections_handlers[] = {
  {"CreateOrGetCollection", create_or_get},
  {"ListCollections", list_collections},
  {"CollectionExists", collection_exists},
  {"ArchiveCollection", archive_collection},
  {"DropCollection", drop_collection},
  {NULL, NULL},
};
