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
