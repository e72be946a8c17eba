/* job.c - a handler's database job: the lease, its statement batches as round trips, cancel, and ending the call exactly once. */
#include "services/svc.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/server.h"

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
  if (job->sub_free != NULL) {
    /* The call ended in the middle of a sub-flow (a failure, a cancel). */
    job->sub_free(job->sub);
    job->sub = NULL;
    job->sub_free = NULL;
  }
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
  va_list ap;

  pgmld_call_on_cancel(job->call, NULL, NULL);
  va_start(ap, fmt);
  pgmld_call_failv(job->call, code, fmt, ap);
  va_end(ap);
  end_job(job);
}

void pgmld__svc_fail_nomem(pgmld_svc_job_t *job, const char *what)
{
  pgmld__svc_fail(job, PGMLD_RESOURCE_EXHAUSTED, "out of memory while %s", what);
}

void pgmld__svc_fail_build(pgmld_svc_job_t *job, int rc, const char *what)
{
  pgmld_status_t st = PGMLD_STATUS_INIT;

  pgmld__svc_build_status(&st, rc, what);
  pgmld__svc_fail_status(job, &st);
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
    stmts[i].flags = PGMLD_POOL_STMT_UNDEFINED_TABLE_NOT_FOUND |
                     (job->batch.prepare[i] ? PGMLD_POOL_STMT_PREPARE : 0u);
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
