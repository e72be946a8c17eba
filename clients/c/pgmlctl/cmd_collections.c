/* cmd_collections.c - pgmlctl collections list, create, exists, archive
 * and drop. */
#include <string.h>

#include <pgml/database.h>

#include "output.h"
#include "pgmlctl.h"

static json_t *collection_json(const pgml_v1_CollectionInfo *ci)
{
  char when[32];

  pgmlctl_format_time(ci->created_at_ms, when, sizeof(when));
  return json_pack("{s:s, s:b, s:I, s:s}", "name", pgmlctl_str(ci->name), "archived",
                   ci->archived, "created_at_ms", (json_int_t)ci->created_at_ms, "created_at",
                   when);
}

/* Makes `method`, which answers a CollectionInfo, and prints that collection
 * after `verb` (as create and archive show it). */
static int call_show_one(pgmlctl_ctx_t *ctx, const char *verb, const char *method,
                         const pb_msgdesc_t *req_type, const void *req)
{
  pgml_v1_CollectionInfo ci = pgml_v1_CollectionInfo_init_zero;
  char when[32];
  int status;

  status = pgmlctl_call(ctx, method, req_type, req, pgml_v1_CollectionInfo_fields, &ci);
  if (status != 0)
    return status;
  if (ctx->json) {
    status = pgmlctl_json_out(collection_json(&ci));
  } else {
    pgmlctl_format_time(ci.created_at_ms, when, sizeof(when));
    printf("%s %s (created %s%s)\n", verb, pgmlctl_str(ci.name), when,
           ci.archived ? ", archived" : "");
  }
  pb_release(pgml_v1_CollectionInfo_fields, &ci);
  return status;
}

int pgmlctl_cmd_collections_list(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_ListCollectionsRequest req = {.include_archived = pgmlctl_arg_flag(a, "all")};
  pgml_v1_ListCollectionsResponse r = pgml_v1_ListCollectionsResponse_init_zero;
  int status;

  status = pgmlctl_call(ctx, PGML_DATABASE_LIST_COLLECTIONS, pgml_v1_ListCollectionsRequest_fields,
                        &req, pgml_v1_ListCollectionsResponse_fields, &r);
  if (status != 0)
    return status;
  if (ctx->json) {
    json_t *arr = json_array();
    for (pb_size_t i = 0; i < r.collections_count; i++)
      pgmlctl_json_push(&arr, collection_json(&r.collections[i]));
    status = pgmlctl_json_out(arr);
  } else if (!ctx->stdout_tty) {
    /* One name per line: what `xargs` and `while read` want. */
    for (pb_size_t i = 0; i < r.collections_count; i++)
      printf("%s\n", pgmlctl_str(r.collections[i].name));
  } else {
    static const char *const head[] = {"NAME", "CREATED", "ARCHIVED"};
    pgmlctl_table_t *t = pgmlctl_table_new(3, head);
    for (pb_size_t i = 0; i < r.collections_count; i++) {
      char when[32];
      pgmlctl_format_time(r.collections[i].created_at_ms, when, sizeof(when));
      const char *row[] = {r.collections[i].name, when, r.collections[i].archived ? "yes" : "no"};
      pgmlctl_table_row(&t, row);
    }
    status = pgmlctl_table_finish(t, 0, "(no collections)");
  }
  pb_release(pgml_v1_ListCollectionsResponse_fields, &r);
  return status;
}

int pgmlctl_cmd_collections_create(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_CreateOrGetCollectionRequest req = {.name = (char *)a->operands[0]};

  return call_show_one(ctx, "collection", PGML_DATABASE_CREATE_OR_GET_COLLECTION,
                       pgml_v1_CreateOrGetCollectionRequest_fields, &req);
}

int pgmlctl_cmd_collections_exists(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_CollectionExistsRequest req = {.name = (char *)a->operands[0]};
  pgml_v1_CollectionExistsResponse r = pgml_v1_CollectionExistsResponse_init_zero;
  int status;

  status = pgmlctl_call(ctx, PGML_DATABASE_COLLECTION_EXISTS,
                        pgml_v1_CollectionExistsRequest_fields, &req,
                        pgml_v1_CollectionExistsResponse_fields, &r);
  if (status != 0)
    return status;
  status = pgmlctl_report(ctx, json_pack("{s:s, s:b}", "name", a->operands[0], "exists", r.exists),
                          "%s", r.exists ? "yes" : "no");
  if (status == 0 && !r.exists)
    status = pgmlctl_exit_for_code(PGML_NOT_FOUND);
  return status;
}

int pgmlctl_cmd_collections_archive(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_ArchiveCollectionRequest req = {.name = (char *)a->operands[0]};

  return call_show_one(ctx, "archived", PGML_DATABASE_ARCHIVE_COLLECTION,
                       pgml_v1_ArchiveCollectionRequest_fields, &req);
}

int pgmlctl_cmd_collections_drop(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_DropCollectionRequest req = {.name = (char *)a->operands[0]};
  pgml_v1_DropCollectionResponse r = pgml_v1_DropCollectionResponse_init_zero;
  int status;

  if (!pgmlctl_arg_flag(a, "yes")) {
    fprintf(stderr,
            "pgmlctl: collections drop deletes \"%s\" and every document in it; "
            "add --yes to do it\n", a->operands[0]);
    return PGMLCTL_EXIT_USAGE;
  }
  status = pgmlctl_call(ctx, PGML_DATABASE_DROP_COLLECTION, pgml_v1_DropCollectionRequest_fields,
                        &req, pgml_v1_DropCollectionResponse_fields, &r);
  if (status != 0)
    return status;
  pb_release(pgml_v1_DropCollectionResponse_fields, &r);
  return pgmlctl_report(ctx, json_pack("{s:s, s:b}", "name", a->operands[0], "dropped", 1),
                        "dropped %s", a->operands[0]);
}
