/* cmd_system.c - pgmlctl ping and info: is pgmld there, and what is it. */
#include <stdlib.h>
#include <string.h>

#include <pgml/database.h>

#include "output.h"
#include "pgmlctl.h"

int pgmlctl_cmd_ping(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  const char *data = pgmlctl_arg(a, "data");
  pgml_call_options_t co = pgmlctl_call_opts(ctx);
  uint32_t count = 1;
  double best = 0, total = 0;
  pgml_client_t *c;
  json_t *times = NULL;
  size_t len;

  if (pgmlctl_arg_u32(a, "count", 1, 1000000, &count) < 0)
    return PGMLCTL_EXIT_USAGE;
  if (data == NULL)
    data = "pgmlctl";
  len = strlen(data);
  if (len > 65535) {
    fprintf(stderr, "pgmlctl: --data: at most 65535 bytes, got %zu\n", len);
    return PGMLCTL_EXIT_USAGE;
  }
  if ((c = pgmlctl_client(ctx)) == NULL)
    return PGMLCTL_EXIT_LOCAL;
  pb_bytes_array_t *bytes = malloc(PB_BYTES_ARRAY_T_ALLOCSIZE(len));
  if (bytes == NULL || (ctx->json && (times = json_array()) == NULL)) {
    free(bytes);
    fprintf(stderr, "pgmlctl: out of memory\n");
    return PGMLCTL_EXIT_LOCAL;
  }
  bytes->size = (pb_size_t)len;
  memcpy(bytes->bytes, data, len);

  for (uint32_t i = 0; i < count; i++) {
    pgml_v1_PingRequest req = {.data = bytes};
    pgml_v1_PingResponse resp = pgml_v1_PingResponse_init_zero;
    pgml_sync_result_t res;
    double t0 = pgmlctl_now();
    int rc = pgml_database_ping_sync(c, &req, &resp, &co, &res);
    double ms = (pgmlctl_now() - t0) * 1000.0;
    int status = pgmlctl_check(ctx, "Ping", rc, &res);

    if (status != 0) {
      free(bytes);
      json_decref(times);
      return status;
    }
    bool echoed = resp.data != NULL ? resp.data->size == len &&
                                          memcmp(resp.data->bytes, data, len) == 0
                                    : len == 0;
    pb_release(pgml_v1_PingResponse_fields, &resp);
    if (!echoed) {
      fprintf(stderr, "pgmlctl: %s: Ping answered with other data than was sent\n",
              ctx->address);
      free(bytes);
      json_decref(times);
      return PGMLCTL_EXIT_STATUS_BASE + PGML_DATA_LOSS;
    }
    total += ms;
    if (i == 0 || ms < best)
      best = ms;
    if (ctx->json)
      json_array_append_new(times, json_real(ms));
    else if (!ctx->quiet)
      printf("pong from %s: seq=%u time=%.3f ms\n", ctx->address, i + 1, ms);
  }
  free(bytes);
  if (ctx->json)
    return pgmlctl_json_out(json_pack("{s:s, s:b, s:I, s:o, s:f}", "address", ctx->address,
                                      "ok", 1, "count", (json_int_t)count, "times_ms",
                                      times, "avg_ms", total / count));
  if (count > 1 && !ctx->quiet)
    printf("%u pings: min %.3f ms, avg %.3f ms\n", count, best, total / count);
  return PGMLCTL_EXIT_OK;
}

int pgmlctl_cmd_info(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  pgml_v1_ServerInfoRequest req = pgml_v1_ServerInfoRequest_init_zero;
  pgml_v1_ServerInfoResponse r = pgml_v1_ServerInfoResponse_init_zero;
  int status;

  (void)a;
  status = pgmlctl_call(ctx, PGML_DATABASE_SERVER_INFO, pgml_v1_ServerInfoRequest_fields, &req,
                        pgml_v1_ServerInfoResponse_fields, &r);
  if (status != 0)
    return status;

  if (ctx->json) {
    json_t *features = json_array();
    for (pb_size_t i = 0; features != NULL && i < r.features_count; i++)
      json_array_append_new(features, json_string(pgmlctl_str(r.features[i])));
    json_t *pool = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "size", (json_int_t)r.pool.size,
                             "idle", (json_int_t)r.pool.idle, "busy", (json_int_t)r.pool.busy,
                             "connecting", (json_int_t)r.pool.connecting, "broken",
                             (json_int_t)r.pool.broken, "waiting", (json_int_t)r.pool.waiting);
    status = pgmlctl_json_out(json_pack(
        "{s:s, s:s, s:I, s:I, s:o, s:o*, s:s}", "address", ctx->address, "version",
        pgmlctl_str(r.version), "protocol_version", (json_int_t)r.protocol_version,
        "uptime_ms", (json_int_t)r.uptime_ms, "features", features, "pool",
        r.has_pool ? pool : NULL, "pgvector_version", pgmlctl_str(r.pgvector_version)));
    if (!r.has_pool)
      json_decref(pool);
  } else {
    uint64_t s = r.uptime_ms / 1000;
    printf("address           %s\n", ctx->address);
    printf("version           %s\n", pgmlctl_str(r.version));
    printf("protocol version  %u\n", r.protocol_version);
    printf("uptime            %llud %02lluh %02llum %02llus\n", (unsigned long long)(s / 86400),
           (unsigned long long)(s / 3600 % 24), (unsigned long long)(s / 60 % 60),
           (unsigned long long)(s % 60));
    printf("pgvector          %s\n", r.pgvector_version != NULL && r.pgvector_version[0] != '\0'
                                         ? r.pgvector_version : "(unknown)");
    printf("features         ");
    for (pb_size_t i = 0; i < r.features_count; i++)
      printf(" %s", pgmlctl_str(r.features[i]));
    printf("\n");
    if (r.has_pool)
      printf("pool              size %u, idle %u, busy %u, connecting %u, broken %u, "
             "waiting %u\n", r.pool.size, r.pool.idle, r.pool.busy, r.pool.connecting,
             r.pool.broken, r.pool.waiting);
  }
  pb_release(pgml_v1_ServerInfoResponse_fields, &r);
  return status;
}
