/* ping.c - pings pgmld and prints its ServerInfo, with libpgml's blocking
 * calls.  Exits 0 when both calls succeed, 1 otherwise.
 *
 *   pgml_example_ping unix:///run/pgmld/pgmld.sock
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pgml/blocking.h>
#include <pgml/client.h>
#include <pgml/v1/database.pb.h>

static int ping(pgml_client_t *c)
{
  static const char hello[] = "hello, pgmld";
  pgml_v1_PingRequest req = pgml_v1_PingRequest_init_zero;
  pgml_v1_PingResponse resp = pgml_v1_PingResponse_init_zero;
  pgml_call_options_t opts = {.timeout_ms = 5000};
  pgml_sync_result_t res;
  int rc;

  req.data = malloc(PB_BYTES_ARRAY_T_ALLOCSIZE(sizeof(hello) - 1));
  if (req.data == NULL) {
    fprintf(stderr, "ping: out of memory\n");
    return -1;
  }
  req.data->size = sizeof(hello) - 1;
  memcpy(req.data->bytes, hello, sizeof(hello) - 1);
  rc = pgml_call_sync(c, "Ping", pgml_v1_PingRequest_fields, &req,
                      pgml_v1_PingResponse_fields, &resp, &opts, &res);
  free(req.data);
  if (rc < 0) {
    fprintf(stderr, "Ping: %s\n", strerror(-rc));
    return -1;
  }
  if (rc > 0) {
    fprintf(stderr, "Ping: %s: %s\n", pgml_code_name(res.code), res.message);
    pgml_sync_result_free(&res);
    return -1;
  }
  if (resp.data == NULL || resp.data->size != sizeof(hello) - 1 ||
      memcmp(resp.data->bytes, hello, sizeof(hello) - 1) != 0) {
    fprintf(stderr, "Ping: the answer does not echo the request\n");
    rc = -1;
  } else {
    printf("ping: %u bytes echoed\n", (unsigned)resp.data->size);
  }
  pb_release(pgml_v1_PingResponse_fields, &resp);
  pgml_sync_result_free(&res);
  return rc;
}

static int server_info(pgml_client_t *c)
{
  pgml_v1_ServerInfoRequest req = pgml_v1_ServerInfoRequest_init_zero;
  pgml_v1_ServerInfoResponse info = pgml_v1_ServerInfoResponse_init_zero;
  pgml_call_options_t opts = {.timeout_ms = 5000};
  pgml_sync_result_t res;
  pb_size_t i;
  int rc;

  rc = pgml_call_sync(c, "ServerInfo", pgml_v1_ServerInfoRequest_fields, &req,
                      pgml_v1_ServerInfoResponse_fields, &info, &opts, &res);
  if (rc < 0) {
    fprintf(stderr, "ServerInfo: %s\n", strerror(-rc));
    return -1;
  }
  if (rc > 0) {
    fprintf(stderr, "ServerInfo: %s: %s\n", pgml_code_name(res.code), res.message);
    pgml_sync_result_free(&res);
    return -1;
  }
  printf("version: %s\n", info.version ? info.version : "");
  printf("protocol_version: %" PRIu32 "\n", info.protocol_version);
  printf("uptime_ms: %" PRIu64 "\n", info.uptime_ms);
  printf("features:");
  for (i = 0; i < info.features_count; i++)
    printf(" %s", info.features[i]);
  printf("\n");
  if (info.has_pool)
    printf("pool: size %" PRIu32 ", idle %" PRIu32 ", busy %" PRIu32
           ", connecting %" PRIu32 ", broken %" PRIu32 ", waiting %" PRIu32 "\n",
           info.pool.size, info.pool.idle, info.pool.busy, info.pool.connecting,
           info.pool.broken, info.pool.waiting);
  if (info.pgvector_version != NULL)
    printf("pgvector_version: %s\n", info.pgvector_version);
  pb_release(pgml_v1_ServerInfoResponse_fields, &info);
  pgml_sync_result_free(&res);
  return 0;
}

int main(int argc, char **argv)
{
  pgml_client_t *c;
  int rc;

  if (argc != 2) {
    fprintf(stderr, "usage: %s ADDRESS   (unix:///path/to/pgmld.sock, or a path)\n",
            argv[0]);
    return 1;
  }
  rc = pgml_client_new(argv[1], NULL, &c);
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", argv[1], strerror(-rc));
    return 1;
  }
  rc = ping(c);
  if (rc == 0)
    rc = server_info(c);
  pgml_client_free(c);
  return rc == 0 ? 0 : 1;
}
