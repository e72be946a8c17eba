/* svc.h - what the Database service handlers share: a call's database job (lease, batches, cancel), the collection/pipeline catalog, and chunking.
 *
 * Implemented in job.c (jobs), batch.c (statement batches), catalog.c
 * (reading the catalog), catalog_cache.c (its per-server cache), spec.c (pipeline specs) and chunks.c (splitting,
 * embedding, chunk INSERTs); batch.c, catalog.c, spec.c and chunks.c do no
 * I/O and are unit-tested on their own
 * (tests/integration/services/test_chunks.c).
 *
 * A handler allocates a job (its own struct with pgmld_svc_job_t first),
 * starts it with pgmld__svc_start(), and moves from step to step by filling
 * job->batch and calling pgmld__svc_run(): every step is one pipelined round
 * trip on the same leased connection.  The job ends the call exactly once
 * (pgmld__svc_reply / _fail / _fail_status), which also releases the lease
 * (rolling back a transaction left open) and frees the job.  The call's
 * cancel hook leaves the pool's wait queue or cancels the running statement
 * on the server.
 *
 * Errors: functions that can fail return 0 or a negative errno and record a
 * client-visible status in `st`.
 */
#ifndef PGMLD_SERVICES_SVC_H
#define PGMLD_SERVICES_SVC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core/common.h"
#include "db/pool.h"
#include "models/model.h"
#include "pgml/v1/database.pb-c.h"
#include "rpc/call.h"
#include "rpc/status.h"
#include "sql/sqlbuf.h"
#include "text/splitter.h"
#include "text/utf8.h"

/* ------------------------------------------------------------ batches */

/* The statements of one round trip, each its own sqlbuf. */
typedef struct pgmld_svc_batch_s {
  pgmld_sqlbuf_t *sb;
  unsigned char *prepare;       /* per statement: 1 to run it prepared */
  size_t n, cap;
} pgmld_svc_batch_t;

/* A new empty statement at the end of the batch in *out (owned by the
 * batch).  -ENOMEM, or -E2BIG when the batch has PGMLD_POOL_BATCH_MAX
 * statements already; *out is then NULL. */
PGMLD_MUST_CHECK int pgmld__svc_batch_add(pgmld_svc_batch_t *b, pgmld_sqlbuf_t **out);
/* A statement without parameters (trusted text).  Errors as above. */
PGMLD_MUST_CHECK int pgmld__svc_batch_sql(pgmld_svc_batch_t *b, const char *sql);
/* Runs the batch's last statement as a prepared statement, named after its
 * text: the first use on a PostgreSQL connection prepares it, later uses
 * only bind and execute it (no parse, no plan).  Only for statements whose
 * text takes a bounded number of forms (values go in parameters, not in the
 * text): each form takes one of the connection's limited prepared slots
 * (database.max_prepared); beyond them statements run unprepared. */
void pgmld__svc_batch_prepare(pgmld_svc_batch_t *b);

/* Dropping a chunk table also locks pgmld.documents (its foreign key's
 * triggers live there), while a DELETE of documents anywhere cascades into
 * every chunk table with documents already locked.  A transaction that drops
 * chunk tables therefore takes this lock first, so both sides lock in the
 * same order: documents, then chunk tables.  Blocks document writes only for
 * the rest of that (short, rare) transaction, which the DROP would anyway. */
#define PGMLD_SVC_LOCK_DOCUMENTS_SQL "LOCK TABLE pgmld.documents IN ACCESS EXCLUSIVE MODE"
/* The status of a failure to build a batch: -E2BIG is INVALID_ARGUMENT
 * naming PGMLD_POOL_BATCH_MAX, anything else RESOURCE_EXHAUSTED ("out of
 * memory while <what>"). */
void pgmld__svc_build_status(pgmld_status_t *st, int rc, const char *what);
void pgmld__svc_batch_free(pgmld_svc_batch_t *b);

/* ------------------------------------------------------------ jobs */

typedef struct pgmld_svc_job_s pgmld_svc_job_t;

/* The continuation of a step: results[i] belongs to the i-th statement of
 * the batch that was run; borrowed until it returns.  Called only with an
 * OK status unless the step was run with PGMLD_SVC_WANT_ERRORS. */
typedef void (*pgmld_svc_next_fn)(pgmld_svc_job_t *job, PGresult *const *results, size_t n,
                                  const pgmld_status_t *st);

#define PGMLD_SVC_WANT_ERRORS 0x1u

struct pgmld_svc_job_s {
  pgmld_call_t *call;
  pgmld_server_t *srv;
  pgmld_pool_conn_t *conn;      /* the lease, once acquired */
  pgmld_pool_wait_t *wait;      /* while waiting for it */
  int querying;                 /* a batch is out */
  unsigned run_flags;
  pgmld_svc_batch_t batch;      /* the next step's statements */
  pgmld_svc_next_fn next;
  void (*ready)(pgmld_svc_job_t *job);    /* the lease is there */
  void (*destroy)(pgmld_svc_job_t *job);  /* frees the handler's struct */
  void *sub;                    /* a sub-flow's state (pipelines.c) */
  void (*sub_free)(void *sub);  /* frees it if the job ends inside the sub-flow */
};

/* Starts `job` for `call`: asks the pool for a connection (bounded by the
 * call's deadline) and calls ready(job) with it.  The job is owned by the
 * job machinery from now on: it is destroyed when the call ends, including
 * when this fails (the call is then ended with the reason). */
void pgmld__svc_start(pgmld_svc_job_t *job, pgmld_call_t *call,
                      void (*ready)(pgmld_svc_job_t *job),
                      void (*destroy)(pgmld_svc_job_t *job));

/* Sends job->batch (emptied afterwards) as one round trip; next() gets the
 * results.  On a failure to send, the call ends with the reason. */
void pgmld__svc_run(pgmld_svc_job_t *job, unsigned flags, pgmld_svc_next_fn next);

/* End the call (and the job): see call.h for reply / fail. */
void pgmld__svc_reply(pgmld_svc_job_t *job, const ProtobufCMessage *response);
PGMLD_PRINTF(3, 4)
void pgmld__svc_fail(pgmld_svc_job_t *job, pgmld_code_t code, const char *fmt, ...);
void pgmld__svc_fail_status(pgmld_svc_job_t *job, const pgmld_status_t *st);
/* Ends the call with RESOURCE_EXHAUSTED "out of memory while <what>". */
void pgmld__svc_fail_nomem(pgmld_svc_job_t *job, const char *what);
/* Ends the call with pgmld__svc_build_status(rc, what). */
void pgmld__svc_fail_build(pgmld_svc_job_t *job, int rc, const char *what);

/* ------------------------------------------------------------ catalog */

typedef struct pgmld_svc_pipeline_s {
  int64_t id;
  char *name;
  int enabled;
  uint32_t dimensions;
  int64_t created_at_ms;
  json_t *spec;                   /* owned */
  const char *model_name;         /* borrowed from spec */
  const char *fulltext_config;    /* borrowed from spec; "" none */
  const char *text_field;         /* borrowed from spec */
  pgmld_splitter_t *splitter;     /* by pgmld__svc_pipeline_open() */
  pgmld_model_t *model;
} pgmld_svc_pipeline_t;

typedef struct pgmld_svc_collection_s {
  int64_t id;
  char *name;
  int64_t created_at_ms;
  size_t n_pipelines;
  pgmld_svc_pipeline_t *pipelines;
} pgmld_svc_collection_t;

/* Appends to the batch the statement that reads the active collection
 * `name` and its pipelines; `lock` is "" or a trusted locking clause
 * (" FOR UPDATE OF c", " FOR SHARE OF c"). */
PGMLD_MUST_CHECK int pgmld__svc_catalog_sql(pgmld_svc_batch_t *b, const char *name,
                                            const char *lock);

/* Reads that statement's result into *out (which the caller frees with
 * pgmld__svc_collection_free(), also after a failure).  0, or -ENOENT with
 * NOT_FOUND "collection <name> not found", or -ENOMEM / -EINVAL. */
PGMLD_MUST_CHECK int pgmld__svc_catalog_parse(const PGresult *res, const char *name,
                                              pgmld_svc_collection_t *out, pgmld_status_t *st);
void pgmld__svc_collection_free(pgmld_svc_collection_t *c);

/* ------------------------------------------------------------ catalog cache
 *
 * Per server: collection name -> its catalog as read (specs parsed once),
 * tagged with pgmld.catalog_version as read just before it (migration 2:
 * triggers bump it in every transaction that changes pgmld.collections or
 * pgmld.pipelines).  A user of an entry must check the version in the
 * same round trip as its statements (PGMLD_SVC_CATALOG_VERSION_SQL) and
 * refresh when it differs.  Entries are reference-counted: a job keeps the
 * one it uses alive across a refresh.  Loop thread only. */

#define PGMLD_SVC_CATALOG_VERSION_SQL "SELECT v FROM pgmld.catalog_version"

typedef struct pgmld_svc_cached_s {
  struct pgmld_svc_cached_s *next;  /* in its hash chain */
  unsigned refs;                    /* the cache's own, plus one per user */
  int64_t version;
  pgmld_svc_collection_t coll;
} pgmld_svc_cached_t;

/* The entry for `name`, as a new reference (release it with
 * pgmld__svc_cache_unref()), or NULL. */
pgmld_svc_cached_t *pgmld__svc_cache_get(pgmld_server_t *srv, const char *name);

/* Stores *coll (moved: *coll is emptied) read at `version` as the entry
 * for its name, replacing an older one, and returns a new reference to
 * the entry now cached for that name (the older one when the cache held a
 * newer version already).  -ENOMEM (then *coll is freed and *out NULL). */
PGMLD_MUST_CHECK int pgmld__svc_cache_put(pgmld_server_t *srv, pgmld_svc_collection_t *coll,
                                          int64_t version, pgmld_svc_cached_t **out);

/* Drops the entry for `name` (local DDL on it); users keep theirs. */
void pgmld__svc_cache_invalidate(pgmld_server_t *srv, const char *name);

void pgmld__svc_cache_unref(pgmld_svc_cached_t *e);

/* The pipeline called `name`, or NULL. */
pgmld_svc_pipeline_t *pgmld__svc_find_pipeline(pgmld_svc_collection_t *c, const char *name);

/* The pipeline a search uses: the one named (NOT_FOUND if none), or the one
 * enabled pipeline (FAILED_PRECONDITION when none; INVALID_ARGUMENT listing
 * them when several).  A disabled pipeline named explicitly is
 * FAILED_PRECONDITION.  NULL on failure, with st set. */
pgmld_svc_pipeline_t *pgmld__svc_search_pipeline(pgmld_svc_collection_t *c, const char *name,
                                                 pgmld_status_t *st);

/* Opens the pipeline's splitter and model from its spec (idempotent). */
PGMLD_MUST_CHECK int pgmld__svc_pipeline_open(pgmld_svc_pipeline_t *p, pgmld_status_t *st);

/* Validates an AddPipeline request and returns its spec with every default
 * filled in (a new reference, the caller's) and the vector dimensions in
 * *dims.  NULL with st set (INVALID_ARGUMENT naming the field). */
json_t *pgmld__svc_spec_build(const Pgml__V1__AddPipelineRequest *req, uint32_t *dims,
                              pgmld_status_t *st);

/* A PipelineInfo and the sub-messages it points to, filled from p; the
 * strings are borrowed from p, which must outlive it. */
typedef struct pgmld_svc_pipeline_info_s {
  Pgml__V1__PipelineInfo info;
  Pgml__V1__SplitterSpec splitter;
  Pgml__V1__ModelSpec model;
  Pgml__V1__HnswSpec hnsw;
  char *separators[PGMLD_SPLITTER_MAX_SEPARATORS];
} pgmld_svc_pipeline_info_t;

void pgmld__svc_pipeline_info(const pgmld_svc_pipeline_t *p, const char *collection,
                              pgmld_svc_pipeline_info_t *out);

/* The model named in p's spec is "client". */
int pgmld__svc_pipeline_is_client(const pgmld_svc_pipeline_t *p);

/* Adds the pipeline "default" (the .proto's defaults) to `collection` on
 * the job's lease, in its own transaction, processing the documents
 * already there, then calls done(job, st): OK, or ALREADY_EXISTS when a
 * concurrent request added it first, or the failure (the call is still
 * the caller's to end).  rollback_first sends ROLLBACK first, for a job
 * with a transaction open.  Uses job->sub until done is called. */
typedef void (*pgmld_svc_added_fn)(pgmld_svc_job_t *job, const pgmld_status_t *st);
void pgmld__svc_add_default_pipeline(pgmld_svc_job_t *job, const char *collection,
                                     int rollback_first, pgmld_svc_added_fn done);

/* ------------------------------------------------------------ chunks */

/* One document's input to chunking: its id and text (borrowed), and for a
 * "client" pipeline its vector (NULL: leave the embedding pending). */
typedef struct pgmld_svc_doc_s {
  const char *doc_id;
  const char *text;
  size_t text_len;
  const float *vector;
  uint32_t vector_dim;
} pgmld_svc_doc_t;

/* The chunks of a set of documents for one pipeline, and their vectors. */
typedef struct pgmld_svc_chunks_s {
  size_t n, cap;
  size_t *doc;          /* index into the docs array */
  uint32_t *index;      /* chunk_index within its document */
  const char **text;    /* borrowed from the document's text */
  size_t *len;
  float *vectors;       /* n * dims, or NULL when the embeddings stay NULL */
  uint32_t dims;
  int embedded;         /* vectors hold the embeddings */
} pgmld_svc_chunks_t;

void pgmld__svc_chunks_free(pgmld_svc_chunks_t *c);

/* Splits docs[0..n) with p's splitter (a "client" pipeline makes one chunk
 * per document: its whole text, vector docs[i].vector) into *out.  The
 * texts must outlive *out. */
PGMLD_MUST_CHECK int pgmld__svc_chunk_docs(pgmld_svc_pipeline_t *p, const pgmld_svc_doc_t *docs,
                                           size_t n, pgmld_svc_chunks_t *out,
                                           pgmld_status_t *st);

/* Embeds the chunks with p's model (not "client") into out->vectors; done
 * is called exactly once when 0 is returned (possibly before it returns). */
typedef void (*pgmld_svc_embed_cb)(const pgmld_status_t *st, void *data);
PGMLD_MUST_CHECK int pgmld__svc_embed_chunks(pgmld_svc_pipeline_t *p, pgmld_svc_chunks_t *c,
                                             pgmld_svc_embed_cb done, void *data,
                                             pgmld_status_t *st);

/* Appends to the batch the INSERTs of the chunks into p's table, joined to
 * the documents of collection `collection_id` by doc_id.  Adds the number
 * of rows to *rows when not NULL. */
PGMLD_MUST_CHECK int pgmld__svc_chunks_insert_sql(pgmld_svc_batch_t *b,
                                                  const pgmld_svc_pipeline_t *p,
                                                  int64_t collection_id,
                                                  const pgmld_svc_doc_t *docs,
                                                  const pgmld_svc_chunks_t *c,
                                                  pgmld_status_t *st);

/* ------------------------------------------------------------ helpers */

/* Checks a client's string (NULL: absent, fine) before it reaches jansson
 * or a text parameter, both of which refuse invalid UTF-8 in ways that
 * would not name the field: INVALID_ARGUMENT "<what>: invalid UTF-8 at
 * byte N" and -EINVAL. */
PGMLD_MUST_CHECK static inline int pgmld__svc_check_utf8(const char *s, const char *what,
                                                         pgmld_status_t *st)
{
  return s == NULL ? 0 : pgmld_utf8_check(s, strlen(s), what, st);
}

/* The int8 / int4 / bool of a text-format result cell. */
int64_t pgmld__svc_int64(const PGresult *res, int row, int col);
int pgmld__svc_bool(const PGresult *res, int row, int col);

/* The SQL for "milliseconds since the epoch" of a timestamptz expression. */
#define PGMLD_SVC_MS(expr) "(extract(epoch from " expr ") * 1000)::int8"

#endif
