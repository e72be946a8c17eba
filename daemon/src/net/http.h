/* http.h - GET /healthz, /readyz and /metrics, served on the http.listen
 * vhost of the lws context that net/ws.c creates.
 *
 *   /healthz  200 "ok" while the loop runs
 *   /readyz   200 "ready" once the migrations are applied and the pool has
 *             a connection up (idle or busy); 503 with the reason otherwise
 *             (starting, shutting down, no PostgreSQL connection)
 *   /metrics  Prometheus text (core/metrics.h)
 * Anything else is 404; a method other than GET is 405.
 */
#ifndef PGMLD_HTTP_H
#define PGMLD_HTTP_H

#include <libwebsockets.h>

/* The lws protocol callback of the HTTP vhost (net/ws.c creates it); the
 * server comes from pgmld__ws_server(wsi). */
int pgmld__http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len);

/* Per-connection state size for that protocol. */
size_t pgmld__http_session_size(void);

#endif
