/* ws.h - the libwebsockets side of pgmld: one lws context on the server's
 * own libuv loop (a foreign loop: no second loop, no thread) with up to two
 * listeners, the WebSocket transport (websocket.listen, wss when tls.* is
 * set) and the health/metrics HTTP listener (http.listen, net/http.c).
 *
 * On a WebSocket, one binary message carries one Frame without the length
 * prefix; fragmented messages are reassembled up to limits.max_frame_size;
 * responses are written from a queue on WRITEABLE callbacks, and reading
 * stops (lws_rx_flow_control) while the connection has too many response
 * bytes queued.  docs/protocol.md section 13 is the contract.
 */
#ifndef PGMLD_WS_H
#define PGMLD_WS_H

#include "core/common.h"
#include "core/config.h"
#include "core/server.h"

typedef struct pgmld_ws_s pgmld_ws_t;

/* A parsed "host:port" / "[v6]:port" listen address. */
typedef struct pgmld_listen_addr_s {
  char host[64];       /* "127.0.0.1", "::1"; "" for any address */
  int port;
  int ipv6;
  int loopback;
} pgmld_listen_addr_t;

/* Parses `text`, the value of `setting`, into *out.  Returns 0, or -EINVAL
 * with err naming the setting and what is wrong. */
PGMLD_MUST_CHECK int pgmld_listen_addr_parse(const char *setting, const char *text,
                                             pgmld_listen_addr_t *out, char *err,
                                             size_t errlen);

/* Checks the WebSocket and HTTP settings before anything starts: the
 * addresses parse, tls.cert_file and tls.key_file come together and are
 * readable, websocket.path starts with '/', a non-loopback
 * websocket.listen has tokens (have_tokens) and TLS, or
 * websocket.allow_insecure_public, and a non-loopback http.listen has
 * http.allow_public.  Returns 0 or -EINVAL with err saying why. */
PGMLD_MUST_CHECK int pgmld_ws_check_config(const pgmld_config_t *cfg, int have_tokens,
                                           char *err, size_t errlen);

/* Creates the lws context on srv's loop and the listeners that are
 * configured (call only when websocket.listen or http.listen is set).
 * Returns 0 and *out, or a negative errno with the reason logged. */
PGMLD_MUST_CHECK int pgmld_ws_start(pgmld_server_t *srv, pgmld_ws_t **out);

/* limits.max_ws_connections, or when 0 three quarters of
 * limits.max_connections (at least 1). */
size_t pgmld_ws_max_connections(const pgmld_config_t *cfg);

/* After the server swapped in a reloaded token set: every WebSocket that
 * was authenticated by an Authorization header whose token is no longer in
 * the set is told UNAUTHENTICATED on id 0 and closed.  w may be NULL. */
void pgmld_ws_auth_reloaded(pgmld_ws_t *w);

/* The server a wsi of this module's context belongs to (net/http.c). */
struct lws;
pgmld_server_t *pgmld__ws_server(struct lws *wsi);

/* Begins destroying the context: listeners and connections close, lws's
 * handles on the loop close over the next iterations.  Call when the
 * server's connections are gone, before its loop must end. */
void pgmld_ws_close(pgmld_ws_t *w);

/* Frees what remains, after the loop has run the closes (or never ran). */
void pgmld_ws_free(pgmld_ws_t *w);

#endif
