/* test_load.c - concurrent upserts and searches from several client processes, a PostgreSQL restart in the middle of a load, and DDL racing document deletes. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "svctest.h"

/* 4 connections, each with 25 upserts and 25 searches in flight at once. */
enum { WORKERS = 4, ROUNDS = 25, DOCS = 10 };


/* Upserts documents "<prefix><i>" for i in [first, first + n). */
static int upsert_range(pgml_client_t *cl, const char *coll, const char *prefix, int first, int n,
                        const pgml_call_options_t *opts, char *msg, size_t len)
{
  char bufs[DOCS][128];
  const char *docs[DOCS];
  pgml_v1_UpsertDocumentsRequest req = {.collection = (char *)coll, .documents = (char **)docs};
  pgml_v1_UpsertDocumentsResponse resp = pgml_v1_UpsertDocumentsResponse_init_zero;
  pgml_sync_result_t res;
  int i, rc;

  for (i = 0; i < n && i < DOCS; i++) {
    snprintf(bufs[i], sizeof(bufs[i]),
             "{\"id\": \"%s%d\", \"text\": \"document number %d about topic %d\", \"n\": %d}",
             prefix, first + i, first + i, (first + i) % 7, first + i);
    docs[i] = bufs[i];
  }
  req.documents_count = (pb_size_t)i;
  rc = pgml_database_upsert_documents_sync(cl, &req, &resp, opts, &res);
  if (rc == 0)
    pb_release(pgml_v1_UpsertDocumentsResponse_fields, &resp);
  return svc_code_msg(rc, &res, msg, len);
}

typedef struct worker_s {
  int done, failures;
} worker_t;

static void upserted(pgml_client_t *c, const pgml_result_t *res,
                     pgml_v1_UpsertDocumentsResponse *resp, void *ud)
{
  worker_t *w = ud;

  (void)c;
  w->done++;
  if (res->code != PGML_OK || resp->upserted != DOCS) {
    fprintf(stderr, "upsert: %s: %s\n", pgml_code_name(res->code), res->message);
    w->failures++;
  }
}

static void searched(pgml_client_t *c, const pgml_result_t *res, pgml_v1_SearchResponse *resp,
                     void *ud)
{
  worker_t *w = ud;

  (void)c;
  w->done++;
  if (res->code != PGML_OK || resp->results_count == 0) {
    fprintf(stderr, "search: %s: %s\n", pgml_code_name(res->code), res->message);
    w->failures++;
  }
}

/* One worker process: its own connection, with ROUNDS upserts of DOCS
 * documents and ROUNDS searches all in flight at once; the blocking Pings
 * drive the client until every answer is in.  Exits 0 when all were OK. */
static void worker(const svc_daemon_t *d, const char *coll, int wn)
{
  pgml_client_t *cl;
  worker_t w = {0, 0};
  int r, i, guard;

  if (pgml_client_new(d->addr, NULL, &cl) != 0)
    _exit(2);
  for (r = 0; r < ROUNDS; r++) {
    char bufs[DOCS][128];
    const char *docs[DOCS];
    pgml_v1_UpsertDocumentsRequest ureq = {.collection = (char *)coll, .documents_count = DOCS,
                                           .documents = (char **)docs};
    pgml_v1_VectorSearchRequest sreq = {.collection = (char *)coll, .query = "document topic",
                                        .top_k = 5, .filter = "{\"n\": {\"$gte\": 0}}"};

    for (i = 0; i < DOCS; i++) {
      int id = r * DOCS + i;
      snprintf(bufs[i], sizeof(bufs[i]),
               "{\"id\": \"w%d-%d\", \"text\": \"document number %d about topic %d\", \"n\": %d}",
               wn, id, id, id % 7, id);
      docs[i] = bufs[i];
    }
    /* The requests are encoded before these return. */
    if (pgml_database_upsert_documents(cl, &ureq, &svc_opts, upserted, &w, NULL) != 0 ||
        pgml_database_vector_search(cl, &sreq, &svc_opts, searched, &w, NULL) != 0)
      _exit(3);
  }
  for (guard = 0; w.done < 2 * ROUNDS && guard < 100000; guard++) {
    pgml_v1_PingRequest preq = pgml_v1_PingRequest_init_zero;
    pgml_v1_PingResponse presp = pgml_v1_PingResponse_init_zero;
    pgml_sync_result_t res;

    if (pgml_database_ping_sync(cl, &preq, &presp, &svc_opts, &res) == 0)
      pb_release(pgml_v1_PingResponse_fields, &presp);
    pgml_sync_result_free(&res);
  }
  pgml_client_free(cl);
  _exit(w.failures == 0 && w.done == 2 * ROUNDS ? 0 : 1);
}

static void concurrent_upserts_and_searches(void **state)
{
  svc_daemon_t d;
  pgml_client_t *cl;
  PGconn *pg;
  char name[64], msg[600];
  pid_t pids[WORKERS];
  int w, status;
  int64_t pid;

  (void)state;
  svc_daemon_start(&d, NULL, NULL);
  cl = svc_client(&d);
  pg = svc_pg();
  svc_name(name, sizeof(name), "conc");
  assert_int_equal(svc_create(cl, name, NULL, 0), 0);
  /* The first document adds the default pipeline, so that every search
   * has something to find. */
  assert_int_equal(upsert_range(cl, name, "seed", 0, 1, &svc_opts, msg, sizeof(msg)), 0);
  for (w = 0; w < WORKERS; w++) {
    pids[w] = fork();
    assert_true(pids[w] >= 0);
    if (pids[w] == 0)
      worker(&d, name, w);
  }
  for (w = 0; w < WORKERS; w++) {
    assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  /* Nothing lost: every document, each with its one chunk. */
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.documents d JOIN pgmld.collections c"
                                  " ON c.id = d.collection_id WHERE c.name = '%s'", name),
                   WORKERS * ROUNDS * DOCS + 1);
  pid = svc_pipeline_id(pg, name, "default");
  assert_true(pid > 0);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.chunks_%lld WHERE embedding IS NOT NULL",
                              (long long)pid), WORKERS * ROUNDS * DOCS + 1);

  /* First upserts racing into a collection without a pipeline: the
   * default pipeline is added once and every document is written. */
  svc_name(name, sizeof(name), "race");
  assert_int_equal(svc_create(cl, name, NULL, 0), 0);
  for (w = 0; w < WORKERS; w++) {
    pids[w] = fork();
    assert_true(pids[w] >= 0);
    if (pids[w] == 0) {
      pgml_client_t *c2;
      char prefix[16];
      if (pgml_client_new(d.addr, NULL, &c2) != 0)
        _exit(2);
      snprintf(prefix, sizeof(prefix), "r%d-", w);
      status = upsert_range(c2, name, prefix, 0, DOCS, &svc_opts, msg, sizeof(msg));
      if (status != 0)
        fprintf(stderr, "racing upsert: %s\n", msg);
      pgml_client_free(c2);
      _exit(status == 0 ? 0 : 1);
    }
  }
  for (w = 0; w < WORKERS; w++) {
    assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.pipelines p JOIN pgmld.collections c"
                                  " ON c.id = p.collection_id WHERE c.name = '%s'", name), 1);
  assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.chunks_%lld",
                              (long long)svc_pipeline_id(pg, name, "default")), WORKERS * DOCS);
  PQfinish(pg);
  pgml_client_free(cl);
  svc_daemon_stop(&d);
}

/* ------------------------------------------------------------ restart */

static int cluster(const char *cmd, const char *dir)
{
  char line[1200];

  snprintf(line, sizeof(line), "'%s/scripts/pg-cluster.sh' %s '%s'", getenv("PGMLD_SOURCE_DIR"),
           cmd, dir);
  return system(line);
}

static void postgres_restart_under_load(void **state)
{
  char dir[512], url[700], name[64], msg[600], conninfo[600];
  svc_daemon_t d;
  pgml_client_t *cl;
  pgml_call_options_t opts = {.timeout_ms = 3000};
  int acked[400] = {0}, n = 0, i, rc, unavailable = 0, recovered = 0;
  PGconn *pg;

  (void)state;
  snprintf(dir, sizeof(dir), "%s", getenv("PGML_RESTART_PGDIR") ? getenv("PGML_RESTART_PGDIR")
                                                               : "/tmp/pgmld-restart-pg");
  /* A run that failed half-way may have left the cluster running. */
  (void)cluster("stop", dir);
  assert_int_equal(cluster("start", dir), 0);
  snprintf(url, sizeof(url), "postgresql://pgmld@/pgmld?host=%s", dir);
  {
    const char *const flags[] = {"--database-pool-size", "2", NULL};
    svc_daemon_start(&d, url, flags);
  }
  cl = svc_client(&d);
  svc_name(name, sizeof(name), "restart");
  assert_int_equal(svc_create(cl, name, NULL, 0), 0);

  /* load before the outage */
  for (i = 0; i < 20; i++, n++) {
    rc = upsert_range(cl, name, "r", n, 1, &opts, msg, sizeof(msg));
    assert_int_equal(rc, 0);
    acked[n] = 1;
  }
  assert_int_equal(cluster("stop", dir), 0);
  /* During the outage: UNAVAILABLE with the pool's reason, never a crash
   * nor a hang.  (The daemon ends its wait for a connection a little
   * before the call's deadline so that this, not DEADLINE_EXCEEDED, is
   * what the client sees.) */
  for (i = 0; i < 5; i++, n++) {
    rc = upsert_range(cl, name, "r", n, 1, &opts, msg, sizeof(msg));
    if (rc != PGML_UNAVAILABLE)
      fail_msg("upsert during the outage: %s: %s", pgml_code_name((pgml_code_t)rc), msg);
    unavailable++;
  }
  assert_int_equal(unavailable, 5);
  assert_int_equal(cluster("start", dir), 0);
  /* service resumes by itself: eventually an upsert is OK */
  for (i = 0; i < 120 && !recovered; i++, n++) {
    rc = upsert_range(cl, name, "r", n, 1, &opts, msg, sizeof(msg));
    if (rc == 0) {
      acked[n] = 1;
      recovered = 1;
    } else {
      usleep(250000);
    }
  }
  assert_true(recovered);
  for (i = 0; i < 20 && n < 400; i++, n++) {
    assert_int_equal(upsert_range(cl, name, "r", n, 1, &opts, msg, sizeof(msg)), 0);
    acked[n] = 1;
  }
  pgml_client_free(cl);
  svc_daemon_stop(&d);

  /* every acknowledged upsert is there */
  snprintf(conninfo, sizeof(conninfo), "host=%s dbname=pgmld user=pgmld", dir);
  pg = PQconnectdb(conninfo);
  assert_int_equal(PQstatus(pg), CONNECTION_OK);
  for (i = 0; i < n; i++) {
    if (!acked[i])
      continue;
    assert_int_equal(svc_pg_int(pg, "SELECT count(*) FROM pgmld.documents d JOIN pgmld.collections c"
                                    " ON c.id = d.collection_id WHERE c.name = '%s' AND d.doc_id = 'r%d'",
                                name, i), 1);
  }
  PQfinish(pg);
  assert_int_equal(cluster("stop", dir), 0);
}

/* ------------------------------------------------------------ cancel */

static void cancelled_cb(pgml_client_t *c, const pgml_result_t *res,
                         pgml_v1_UpsertDocumentsResponse *resp, void *ud)
{
  (void)c;
  (void)resp;
  *(int *)ud = (int)res->code;
}

/* A client cancels a large upsert in flight: the daemon cancels it on the
 * server and rolls back, so the batch is there whole or not at all, and
 * nothing keeps running for it; the daemon serves on. */
static void cancel_upsert_in_flight(void **state)
{
  enum { CN = 1000, CDIM = 384 };
  svc_daemon_t d;
  pgml_client_t *cl;
  PGconn *pg;
  static char bufs[CN][32];
  static const char *docs[CN];
  static pgml_v1_Vector pv[CN];
  float *vecs = malloc((size_t)CN * CDIM * sizeof(float));
  char name[64], msg[600];
  uint64_t id = 0;
  int i, code = -1, guard;
  int64_t n;

  (void)state;
  assert_non_null(vecs);
  svc_daemon_start(&d, NULL, NULL);
  cl = svc_client(&d);
  pg = svc_pg();
  svc_name(name, sizeof(name), "cancel");
  assert_int_equal(svc_create(cl, name, NULL, 0), 0);
  {
    pgml_v1_AddPipelineRequest req = pgml_v1_AddPipelineRequest_init_zero;
    pgml_v1_PipelineInfo info = pgml_v1_PipelineInfo_init_zero;
    pgml_sync_result_t res;
    req.collection = name;
    req.name = "v";
    req.has_model = true;
    req.model.name = "client";
    req.model.dimensions = CDIM;
    assert_int_equal(svc_code(pgml_database_add_pipeline_sync(cl, &req, &info, &svc_opts, &res),
                              &res, "add pipeline"), 0);
    pb_release(pgml_v1_PipelineInfo_fields, &info);
  }
  for (i = 0; i < CN * CDIM; i++)
    vecs[i] = (float)(((unsigned)i * 7919u) % 1000u) / 1000.0f - 0.5f;
  for (i = 0; i < CN; i++) {
    snprintf(bufs[i], sizeof(bufs[i]), "{\"id\": \"c%d\"}", i);
    docs[i] = bufs[i];
    pv[i].values_count = CDIM;
    pv[i].values = vecs + (size_t)i * CDIM;
  }
  {
    pgml_v1_UpsertDocumentsRequest req = {.collection = name, .documents_count = CN,
                                          .documents = (char **)docs, .vectors_count = CN,
                                          .vectors = pv};
    assert_int_equal(pgml_database_upsert_documents(cl, &req, &svc_opts, cancelled_cb, &code, &id), 0);
  }
  usleep(300000);
  assert_int_equal(pgml_cancel(cl, id), 0);
  for (guard = 0; code < 0 && guard < 1000; guard++) {
    pgml_v1_PingRequest preq = pgml_v1_PingRequest_init_zero;
    pgml_v1_PingResponse presp = pgml_v1_PingResponse_init_zero;
    pgml_sync_result_t res;
    if (pgml_database_ping_sync(cl, &preq, &presp, &svc_opts, &res) == 0)
      pb_release(pgml_v1_PingResponse_fields, &presp);
    pgml_sync_result_free(&res);
  }
  assert_int_equal(code, PGML_CANCELLED);
  /* eventually nothing runs for it on the server */
  for (guard = 0; guard < 600; guard++) {
    if (svc_pg_int(pg, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                       " AND query LIKE 'INSERT INTO pgmld.%%'") == 0)
      break;
    usleep(100000);
  }
  assert_true(guard < 600);
  n = svc_pg_int(pg, "SELECT count(*) FROM pgmld.documents d JOIN pgmld.collections c"
                     " ON c.id = d.collection_id WHERE c.name = '%s'", name);
  printf("cancelled upsert: %lld of %d documents present (all or nothing)\n", (long long)n, CN);
  assert_true(n == 0 || n == CN);
  /* the daemon serves on */
  assert_int_equal(upsert_range(cl, name, "after", 0, 1, &svc_opts, msg, sizeof(msg)), PGML_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "client"));   /* no vector for the client pipeline */
  free(vecs);
  PQfinish(pg);
  pgml_client_free(cl);
  svc_daemon_stop(&d);
}

/* ------------------------------------------------------------ DDL against deletes */

enum { DDL_ROUNDS = 40 };

/* A round of one side: the number of calls that failed (printed). */
typedef int (*round_fn)(pgml_client_t *cl, const char *coll, int r);

/* Upserts documents of `coll`, then deletes them all: the DELETE cascades
 * into every chunk table, with pgmld.documents locked first. */
static int delete_round(pgml_client_t *cl, const char *coll, int r)
{
  pgml_v1_DeleteDocumentsRequest req = {.collection = (char *)coll, .filter = "{}"};
  pgml_v1_DeleteDocumentsResponse resp = pgml_v1_DeleteDocumentsResponse_init_zero;
  pgml_sync_result_t res;
  char msg[600];
  int rc, failures = 0;

  if (upsert_range(cl, coll, "del", 0, DOCS, &svc_opts, msg, sizeof(msg)) != 0) {
    fprintf(stderr, "deleter upsert %d: %s\n", r, msg);
    failures++;
  }
  rc = pgml_database_delete_documents_sync(cl, &req, &resp, &svc_opts, &res);
  if (svc_code_msg(rc, &res, msg, sizeof(msg)) != 0) {
    fprintf(stderr, "deleter delete %d: %s\n", r, msg);
    failures++;
  }
  return failures;
}

/* Adds a pipeline of `coll` and removes it: the removal drops its chunk
 * table, whose foreign key's triggers live on pgmld.documents. */
static int pipeline_round(pgml_client_t *cl, const char *coll, int r)
{
  pgml_v1_AddPipelineRequest add = {.collection = (char *)coll, .name = "churn"};
  pgml_v1_PipelineInfo info = pgml_v1_PipelineInfo_init_zero;
  pgml_v1_RemovePipelineRequest rm = {.collection = (char *)coll, .name = "churn"};
  pgml_v1_RemovePipelineResponse rmresp = pgml_v1_RemovePipelineResponse_init_zero;
  pgml_sync_result_t res;
  char msg[600];
  int failures = 0, rc = pgml_database_add_pipeline_sync(cl, &add, &info, &svc_opts, &res);

  if (rc == 0)
    pb_release(pgml_v1_PipelineInfo_fields, &info);
  if (svc_code_msg(rc, &res, msg, sizeof(msg)) != 0) {
    fprintf(stderr, "remover add %d: %s\n", r, msg);
    failures++;
  }
  rc = pgml_database_remove_pipeline_sync(cl, &rm, &rmresp, &svc_opts, &res);
  if (svc_code_msg(rc, &res, msg, sizeof(msg)) != 0) {
    fprintf(stderr, "remover remove %d: %s\n", r, msg);
    failures++;
  }
  return failures;
}

/* A child process: DDL_ROUNDS rounds on its own connection; exits with the
 * number of failed calls. */
static void churn(const svc_daemon_t *d, const char *coll, round_fn round)
{
  pgml_client_t *cl;
  int r, failures = 0;

  if (pgml_client_new(d->addr, NULL, &cl) != 0)
    _exit(100);
  for (r = 0; r < DDL_ROUNDS; r++)
    failures += round(cl, coll, r);
  pgml_client_free(cl);
  _exit(failures > 99 ? 99 : failures);
}

/* RemovePipeline (DROP TABLE of a chunk table) against DeleteDocuments in
 * another collection (a cascade into every chunk table): both must lock
 * pgmld.documents before chunk tables, or PostgreSQL finds a deadlock
 * (40P01) and one of the calls fails.  This interleaving is what a
 * pgmlctl run beside other suites once hit; here it is repeated on two
 * connections at once. */
static void ddl_against_deletes(void **state)
{
  svc_daemon_t d;
  pgml_client_t *cl;
  char a[64], b[64];
  pid_t pd, pr;
  int st_d, st_r;

  (void)state;
  svc_daemon_start(&d, NULL, NULL);
  cl = svc_client(&d);
  svc_name(a, sizeof(a), "dela");
  svc_name(b, sizeof(b), "delb");
  assert_int_equal(svc_create(cl, a, NULL, 0), 0);
  assert_int_equal(svc_create(cl, b, NULL, 0), 0);
  pgml_client_free(cl);
  pd = fork();
  assert_true(pd >= 0);
  if (pd == 0)
    churn(&d, a, delete_round);
  pr = fork();
  assert_true(pr >= 0);
  if (pr == 0)
    churn(&d, b, pipeline_round);
  assert_int_equal(waitpid(pd, &st_d, 0), pd);
  assert_int_equal(waitpid(pr, &st_r, 0), pr);
  svc_daemon_stop(&d);
  assert_true(WIFEXITED(st_d));
  assert_true(WIFEXITED(st_r));
  /* The number of failed calls on each side (see stderr for why). */
  assert_int_equal(WEXITSTATUS(st_d), 0);
  assert_int_equal(WEXITSTATUS(st_r), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(concurrent_upserts_and_searches),
    cmocka_unit_test(postgres_restart_under_load),
    cmocka_unit_test(cancel_upsert_in_flight),
    cmocka_unit_test(ddl_against_deletes),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
