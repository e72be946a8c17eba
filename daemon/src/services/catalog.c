/* catalog.c - the collection/pipeline catalog as the handlers see it: the statement that reads it, its parsing, finding a pipeline. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "services/svc.h"

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
  pgmld_sqlbuf_t *sb;
  int rc = pgmld__svc_batch_add(b, &sb);

  if (rc < 0)
    return rc;
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
