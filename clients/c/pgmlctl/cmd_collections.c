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

/* Prints one collection the way create and archive show it. */
static int show_one(const pgmlctl_ctx_t *ctx, const char *verb, const pgml_v1_CollectionInfo *ci)
{
  char when[32];

  if (ctx->json)
    return pgmlctl_json_out(collection_json(ci));
  pgmlctl_format_time(ci->created_at_ms, when, sizeof(when));
  printf("%s %s (created %s%s)\n", verb, pgmlctl_str(ci->name), when,
         ci->archived ? ", archived" : "");
  return PGMLCTL_EXIT_OK;
}

int pgmlctl_cmd_collections_list(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_ListCollectionsRequest req = {.include_archived = pgmlctl_arg_flag(a, "all")};
  pgml_v1_ListCollectionsResponse r = pgml_v1_ListCollectionsResponse_init_zero;
  pgml_call_options_t co = pgmlctl_call_opts(ctx);
  pgml_sync_result_t res;
  pgml_client_t *c;
  int status;

  if ((c = pgmlctl_client(ctx)) == NULL)
    return PGMLCTL_EXIT_LOCAL;
  status = pgmlctl_check(ctx, "ListCollections",
                         pgml_database_list_collections_sync(c, &req, &r, &co, &res), &res);
  if (status != 0)
    return status;
  if (ctx->json) {
    json_t *arr = json_array();
    for (pb_size_t i = 0; arr != NULL && i < r.collections_count; i++)
      if (json_array_append_new(arr, collection_json(&r.collections[i])) < 0) {
        json_decref(arr);
        arr = NULL;
      }
    status = pgmlctl_json_out(arr);
  } else if (!ctx->stdout_tty) {
    /* One name per line: what `xargs` and `while read` want. */
    for (pb_size_t i = 0; i < r.collections_count; i++)
      printf("%s\n", pgmlctl_str(r.collections[i].name));
  } else {
    static const char *const head[] = {"NAME", "CREATED", "ARCHIVED"};
    pgmlctl_table_t *t = pgmlctl_table_new(3, head);
    for (pb_size_t i = 0; t != NULL && i < r.collections_count; i++) {
      char when[32];
      pgmlctl_format_time(r.collections[i].created_at_ms, when, sizeof(when));
      const char *row[] = {r.collections[i].name, when, r.collections[i].archived ? "yes" : "no"};
      if (pgmlctl_table_add(t, row) < 0) {
        pgmlctl_table_free(t);
        t = NULL;
      }
    }
    if (t == NULL) {
      fprintf(stderr, "pgmlctl: out of memory\n");
      status = PGMLCTL_EXIT_LOCAL;
    } else if (r.collections_count == 0) {
      printf("(no collections)\n");
    } else {
      pgmlctl_table_print(t, stdout, 0);
    }
    pgmlctl_table_free(t);
  }
  pb_release(pgml_v1_ListCollectionsResponse_fields, &r);
  return status;
}

int pgmlctl_cmd_collections_create(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_CreateOrGetCollectionRequest req = {.name = (char *)a->operands[0]};
  pgml_v1_CollectionInfo r = pgml_v1_CollectionInfo_init_zero;
  pgml_call_options_t co = pgmlctl_call_opts(ctx);
  pgml_sync_result_t res;
  pgml_client_t *c;
  int status;

  if ((c = pgmlctl_client(ctx)) == NULL)
    return PGMLCTL_EXIT_LOCAL;
  status = pgmlctl_check(ctx, "CreateOrGetCollection",
                         pgml_database_create_or_get_collection_sync(c, &req, &r, &co, &res),
                         &res);
  if (status != 0)
    return status;
  status = show_one(ctx, "collection", &r);
  pb_release(pgml_v1_CollectionInfo_fields, &r);
  return status;
}

int pgmlctl_cmd_collections_exists(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_CollectionExistsRequest req = {.name = (char *)a->operands[0]};
  pgml_v1_CollectionExistsResponse r = pgml_v1_CollectionExistsResponse_init_zero;
  pgml_call_options_t co = pgmlctl_call_opts(ctx);
  pgml_sync_result_t res;
  pgml_client_t *c;
  int status;

  if ((c = pgmlctl_client(ctx)) == NULL)
    return PGMLCTL_EXIT_LOCAL;
  status = pgmlctl_check(ctx, "CollectionExists",
                         pgml_database_collection_exists_sync(c, &req, &r, &co, &res), &res);
  if (status != 0)
    return status;
  if (ctx->json)
    status = pgmlctl_json_out(json_pack("{s:s, s:b}", "name", a->operands[0], "exists", r.exists));
  else if (!ctx->quiet)
    printf("%s\n", r.exists ? "yes" : "no");
  if (status == 0 && !r.exists)
    status = pgmlctl_exit_for_code(PGML_NOT_FOUND);
  return status;
}

int pgmlctl_cmd_collections_archive(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_ArchiveCollectionRequest req = {.name = (char *)a->operands[0]};
  pgml_v1_CollectionInfo r = pgml_v1_CollectionInfo_init_zero;
  pgml_call_options_t co = pgmlctl_call_opts(ctx);
  pgml_sync_result_t res;
  pgml_client_t *c;
  int status;

  if ((c = pgmlctl_client(ctx)) == NULL)
    return PGMLCTL_EXIT_LOCAL;
  status = pgmlctl_check(ctx, "ArchiveCollection",
                         pgml_database_archive_collection_sync(c, &req, &r, &co, &res), &res);
  if (status != 0)
    return status;
  status = show_one(ctx, "archived", &r);
  pb_release(pgml_v1_CollectionInfo_fields, &r);
  return status;
}

int pgmlctl_cmd_collections_drop(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_DropCollectionRequest req = {.name = (char *)a->operands[0]};
  pgml_v1_DropCollectionResponse r = pgml_v1_DropCollectionResponse_init_zero;
  pgml_call_options_t co = pgmlctl_call_opts(ctx);
  pgml_sync_result_t res;
  pgml_client_t *c;
  int status;

  if (!pgmlctl_arg_flag(a, "yes")) {
    fprintf(stderr,
            "pgmlctl: collections drop deletes \"%s\" and every document in it; "
            "add --yes to do it\n", a->operands[0]);
    return PGMLCTL_EXIT_USAGE;
  }
  if ((c = pgmlctl_client(ctx)) == NULL)
    return PGMLCTL_EXIT_LOCAL;
  status = pgmlctl_check(ctx, "DropCollection",
                         pgml_database_drop_collection_sync(c, &req, &r, &co, &res), &res);
  if (status != 0)
    return status;
  pb_release(pgml_v1_DropCollectionResponse_fields, &r);
  if (ctx->json)
    return pgmlctl_json_out(json_pack("{s:s, s:b}", "name", a->operands[0], "dropped", 1));
  if (!ctx->quiet)
    printf("dropped %s\n", a->operands[0]);
  return PGMLCTL_EXIT_OK;
}
