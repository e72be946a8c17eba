/* system.c - the service's own methods: Ping and ServerInfo. */
#include <stdint.h>

#include "core/server.h"
#include "pgml/v1/database.pb-c.h"
#include "rpc/envelope.h"
#include "services/registry.h"

static void ping(pgmld_call_t *call, const ProtobufCMessage *request)
{
  const Pgml__V1__PingRequest *req = (const Pgml__V1__PingRequest *)request;
  Pgml__V1__PingResponse resp = PGML__V1__PING_RESPONSE__INIT;

  /* The response borrows the request's bytes: reply encodes at once. */
  resp.data = req->data;
  pgmld_call_reply(call, &resp.base);
}

static void server_info(pgmld_call_t *call, const ProtobufCMessage *request)
{
  pgmld_server_t *srv = pgmld_call_server(call);
  Pgml__V1__ServerInfoResponse resp = PGML__V1__SERVER_INFO_RESPONSE__INIT;
  Pgml__V1__PoolInfo pool = PGML__V1__POOL_INFO__INIT;
  pgmld_pool_info_t pi;
  size_t n_features;
  const char *const *features = pgmld_server_features(srv, &n_features);

  (void)request;
  pgmld_server_pool_info(srv, &pi);
  pool.size = pi.size;
  pool.idle = pi.idle;
  pool.busy = pi.busy;
  pool.connecting = pi.connecting;
  pool.broken = pi.broken;
  pool.waiting = pi.waiting;

  resp.version = (char *)PGMLD_VERSION;
  resp.protocol_version = PGMLD_PROTOCOL_VERSION;
  resp.uptime_ms = pgmld_server_uptime_ms(srv);
  /* protobuf-c's char ** is never written through when packing. */
  resp.n_features = n_features;
  resp.features = (char **)features;
  resp.pool = &pool;
  resp.pgvector_version = (char *)pgmld_server_pgvector_version(srv);
  pgmld_call_reply(call, &resp.base);
}

const pgmld_handler_entry_t pgmld_system_handlers[] = {
  {"Ping", ping},
  {"ServerInfo", server_info},
  {NULL, NULL},
};
