/* chunks.c - documents to chunk rows for one pipeline: splitting, embedding, and the INSERTs into its table. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "services/svc.h"
#include "sql/vector.h"

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

/* Built-in type OID not in sqlbuf.h (pg_type.dat; it never changes). */
#define OID_INT4_ARRAY 1007

/* Rows per chunk INSERT: each row's vector is one parameter, and the
 * protocol counts them in 16 bits. */
#define ROWS_PER_INSERT 32768u

/* Adds v[0..n) as one int4[] parameter (text). */
static int add_int_array_param(pgmld_sqlbuf_t *sb, const uint32_t *v, size_t n)
{
  size_t size = 3 + n * 11, used = 1, i;
  char *lit = pgmld_malloc(size);
  int rc;

  if (lit == NULL)
    return -ENOMEM;
  lit[0] = '{';
  for (i = 0; i < n; i++)
    used += (size_t)snprintf(lit + used, size - used, "%s%" PRIu32, i ? "," : "",
                             v[i] > INT32_MAX ? (uint32_t)INT32_MAX : v[i]);
  lit[used++] = '}';
  rc = pgmld_sqlbuf_add_param(sb, lit, used, PGMLD_SQL_FORMAT_TEXT, OID_INT4_ARRAY);
  pgmld_free(lit);
  return rc;
}

/* Whether chunk i gets its vector (else a NULL embedding: pending). */
static int chunk_has_vector(const pgmld_svc_pipeline_t *p, const pgmld_svc_doc_t *docs,
                            const pgmld_svc_chunks_t *c, size_t i)
{
  if (!c->embedded || c->vectors == NULL)
    return 0;
  /* A "client" document sent without its vector stays pending. */
  return !(pgmld__svc_pipeline_is_client(p) && docs[c->doc[i]].vector == NULL);
}

/* The INSERT of chunks [start, end) into p's table, as one statement whose
 * text does not grow with the rows' contents: the ids, chunk indexes and
 * texts are three array parameters, and the vectors one ARRAY[] of binary
 * parameters (pgvector's format, read without parsing text), all unnested
 * together into rows.  A VALUES list with parameters per row costs a
 * parse and plan per row.  Each row finds its document by a lookup in the
 * (collection_id, doc_id) unique index: a join would let the planner hash
 * every document of the collection on each upsert.  A chunk whose document
 * is gone (deleted by a concurrent request since it was read) is skipped. */
static int insert_sql(pgmld_sqlbuf_t *sb, const pgmld_svc_pipeline_t *p, int64_t collection_id,
                      const pgmld_svc_doc_t *docs, const pgmld_svc_chunks_t *c, size_t start,
                      size_t end, const char **ids, size_t *id_lens)
{
  size_t n = end - start, i;
  int any_vec = 0, coll, pids, pidx, ptexts, cfg = 0, rc;
  char num[24];

  for (i = start; i < end; i++) {
    ids[i - start] = docs[c->doc[i]].doc_id;
    id_lens[i - start] = strlen(ids[i - start]);
    any_vec |= chunk_has_vector(p, docs, c, i);
  }
  snprintf(num, sizeof(num), "%" PRId64, collection_id);
  coll = pgmld_sqlbuf_add_param(sb, num, strlen(num), PGMLD_SQL_FORMAT_TEXT, PGMLD_OID_INT8);
  if (coll < 0)
    return coll;
  if ((pids = pgmld_sqlbuf_add_text_array(sb, ids, id_lens, n)) < 0)
    return pids;
  if ((pidx = add_int_array_param(sb, c->index + start, n)) < 0)
    return pidx;
  if ((ptexts = pgmld_sqlbuf_add_text_array(sb, c->text + start, c->len + start, n)) < 0)
    return ptexts;
  if (p->fulltext_config[0] != '\0' &&
      (cfg = pgmld_sqlbuf_add_param(sb, p->fulltext_config, strlen(p->fulltext_config),
                                    PGMLD_SQL_FORMAT_TEXT, PGMLD_OID_TEXT)) < 0)
    return cfg;
  rc = pgmld_sqlbuf_append(sb, "INSERT INTO ");
  if (rc == 0)
    rc = pgmld_sqlbuf_append_chunks_table(sb, p->id);
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, " (document_id, chunk_index, chunk, embedding, tsv)"
                                 " SELECT s.did, s.ci, s.chunk, s.emb, ");
  if (rc == 0)
    rc = cfg > 0 ? pgmld_sqlbuf_appendf(sb, "to_tsvector($%d::regconfig, s.chunk)", cfg)
                 : pgmld_sqlbuf_append(sb, "NULL::tsvector");
  if (rc == 0)
    rc = pgmld_sqlbuf_appendf(sb, " FROM (SELECT (SELECT d.id FROM pgmld.documents d"
                                  " WHERE d.collection_id = $%d AND d.doc_id = u.doc_id) AS did,"
                                  " u.ci, u.chunk, %s FROM unnest($%d::text[], $%d::int4[], $%d::text[]",
                              coll, any_vec ? "u.emb" : "NULL::vector AS emb", pids, pidx, ptexts);
  if (rc == 0 && any_vec) {
    rc = pgmld_sqlbuf_append(sb, ", ARRAY[");
    for (i = start; i < end && rc == 0; i++) {
      if (i > start)
        rc = pgmld_sqlbuf_append(sb, ",");
      if (rc == 0)
        rc = chunk_has_vector(p, docs, c, i)
                 ? pgmld_sqlbuf_append_vector(sb, c->vectors + i * c->dims, c->dims)
                 : pgmld_sqlbuf_append(sb, "NULL::vector");
    }
    if (rc == 0)
      rc = pgmld_sqlbuf_append(sb, "]");
  }
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, any_vec ? ") AS u(doc_id, ci, chunk, emb)"
                                         : ") AS u(doc_id, ci, chunk)");
  /* OFFSET 0 keeps the subquery whole, so that the lookup runs once per
   * row rather than once in the SELECT list and again in the WHERE. */
  if (rc == 0)
    rc = pgmld_sqlbuf_append(sb, " OFFSET 0) s WHERE s.did IS NOT NULL");
  return rc;
}

int pgmld__svc_chunks_insert_sql(pgmld_svc_batch_t *b, const pgmld_svc_pipeline_t *p,
                                 int64_t collection_id, const pgmld_svc_doc_t *docs,
                                 const pgmld_svc_chunks_t *c, pgmld_status_t *st)
{
  size_t rows = c->n < ROWS_PER_INSERT ? c->n : ROWS_PER_INSERT, start;
  const char **ids;
  size_t *id_lens;
  pgmld_sqlbuf_t *sb;
  int rc = 0;

  if (c->n == 0)
    return 0;
  ids = pgmld_calloc(rows, sizeof(*ids));
  id_lens = pgmld_calloc(rows, sizeof(*id_lens));
  if (ids == NULL || id_lens == NULL)
    rc = -ENOMEM;
  for (start = 0; start < c->n && rc == 0; start += ROWS_PER_INSERT) {
    size_t end = c->n - start > ROWS_PER_INSERT ? start + ROWS_PER_INSERT : c->n;

    rc = pgmld__svc_batch_add(b, &sb);
    if (rc == 0)
      rc = insert_sql(sb, p, collection_id, docs, c, start, end, ids, id_lens);
  }
  pgmld_free(ids);
  pgmld_free(id_lens);
  if (rc == -ENOMEM)
    return pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory building chunk rows"),
           rc;
  if (rc == -EINVAL)
    return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                            "a chunk of pipeline %s holds a NUL byte or a vector with bad dimensions",
                            p->name), rc;
  if (rc < 0)
    return pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                            "too many chunks in one request for pipeline %s (%zu: more than one"
                            " PostgreSQL value holds, or PGMLD_POOL_BATCH_MAX = %u statements);"
                            " send fewer documents",
                            p->name, c->n, PGMLD_POOL_BATCH_MAX), rc;
  return 0;
}
