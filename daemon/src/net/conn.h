/* conn.h - one client connection: frames in, calls dispatched, responses
 * out, over any transport (net/transport.h).
 *
 * A connection keeps the requests it has not answered in a map by request
 * id, enforces limits.max_inflight_per_conn, stops reading while more than
 * PGMLD_CONN_OUTPUT_HIGH response bytes wait to be sent, and outlives its
 * transport for as long as a call refers to it.  It is never freed inside
 * one of its own callbacks: once closed, with its transport closed and no
 * call left, it is handed to the server, which frees it from a later loop
 * iteration.
 */
#ifndef PGMLD_CONN_H
#define PGMLD_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"
#include "core/list.h"
#include "core/server.h"
#include "net/transport.h"
#include "rpc/status.h"

/* Output backpressure: reading stops above HIGH queued response bytes and
 * resumes at LOW or below. */
#define PGMLD_CONN_OUTPUT_HIGH (4u * 1024u * 1024u)
#define PGMLD_CONN_OUTPUT_LOW (1u * 1024u * 1024u)

/* Makes the connection for a freshly accepted transport and links it into
 * the server.  Takes ownership of t: on failure (-ENOMEM) t is closed.  When
 * the server is at limits.max_connections the client is told
 * RESOURCE_EXHAUSTED on id 0 and the connection closes itself. */
PGMLD_MUST_CHECK int pgmld_conn_new(pgmld_server_t *srv, pgmld_transport_t *t,
                                    pgmld_conn_t **out);

/* Answers every request still unanswered on every connection of srv with
 * `code` and `message` (UNAVAILABLE at shutdown), runs their cancel hooks,
 * and closes the connections once those answers are sent, without waiting
 * for the handlers. */
void pgmld_conns_abort_all(pgmld_server_t *srv, pgmld_code_t code,
                           const char *message);

/* Sets whether requests on conn need no bearer token (net/transport.h's
 * transports call it right after pgmld_conn_new(): the Unix socket always,
 * a WebSocket when its upgrade carried a valid Authorization header).
 * Until then, with auth.tokens_file set, each REQUEST must carry metadata
 * "authorization" = "Bearer <token>" or is answered UNAUTHENTICATED. */
void pgmld_conn_set_authenticated(pgmld_conn_t *conn, int yes);
/* Non-zero when the connection is authenticated, or one of its requests
 * has carried a valid token: transports use it to bound what a client that
 * has proven nothing may make them buffer. */
int pgmld_conn_trusted(const pgmld_conn_t *conn);

/* Refuses the peer of a new connection (e.g. PERMISSION_DENIED): one
 * RESPONSE on id 0 with code and message (copied), logged, then the
 * connection closes once that is sent. */
void pgmld_conn_refuse(pgmld_conn_t *conn, pgmld_code_t code, const char *message);

/* Closes, after telling them UNAVAILABLE on id 0, the connections with no
 * request in flight that have sent nothing for idle_ms (limits.idle_timeout_ms). */
void pgmld_conns_close_idle(pgmld_server_t *srv, uint32_t idle_ms);

/* Closes every connection of srv: once its queued responses are sent when
 * `flush`, else at once (what the socket does not take is dropped). */
void pgmld_conns_close_all(pgmld_server_t *srv, int flush);

/* Logs, as errors, every call still running on a connection of srv (its
 * method, id and connection), for a shutdown that stops waiting for them. */
void pgmld_conns_log_stuck(pgmld_server_t *srv);

/* Frees every connection the server was handed as dead (see
 * pgmld__server_conn_dead()); called by the server from its idle handle. */
void pgmld_conns_reap(pgmld_list_t *dead);

/* Reserves `bytes` in the server-wide count of request bytes in flight
 * that limits.max_server_inflight_bytes bounds: the bytes held by
 * unfinished calls plus those transports hold for requests not yet
 * complete (a WebSocket message being reassembled).  Returns 0, or
 * -ENOBUFS, reserving nothing, when that would take the count over the
 * limit.  What is reserved must be given back with
 * pgmld_conns_release_bytes(), which cannot fail. */
PGMLD_MUST_CHECK int pgmld_conns_reserve_bytes(pgmld_server_t *srv, uint64_t bytes);
void pgmld_conns_release_bytes(pgmld_server_t *srv, uint64_t bytes);
/* The bytes that count holds now, for error messages. */
uint64_t pgmld_conns_reserved_bytes(const pgmld_server_t *srv);

/* "conn#12 unix:pid=1234,uid=1000", for log lines. */
const char *pgmld_conn_name(const pgmld_conn_t *conn);
pgmld_server_t *pgmld_conn_server(const pgmld_conn_t *conn);

/* ---- upcalls from the transport (see net/transport.h) ---- */
void pgmld__conn_on_frame(pgmld_conn_t *conn, const uint8_t *body, uint32_t len);
void pgmld__conn_on_oversize(pgmld_conn_t *conn, uint64_t len);
void pgmld__conn_on_end(pgmld_conn_t *conn, int status);
void pgmld__conn_on_written(pgmld_conn_t *conn, size_t bytes);
void pgmld__conn_on_closed(pgmld_conn_t *conn);
/* Around the frames of one read: the responses made in between (those
 * answered at once, like Ping) are gathered in one buffer and given to the
 * transport in one write at _end(), in the order they were made.  A
 * transport that never calls them sends each response on its own. */
void pgmld__conn_batch_begin(pgmld_conn_t *conn);
void pgmld__conn_batch_end(pgmld_conn_t *conn);

#endif
