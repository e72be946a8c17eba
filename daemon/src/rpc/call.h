/* call.h - one request in flight: THE API a service handler uses.
 *
 * The dispatcher decodes a REQUEST, creates a call and runs the method's
 * handler with the decoded request.  The contract, for every handler:
 *
 * - The handler ends the call exactly once, with pgmld_call_reply(),
 *   pgmld_call_fail() or pgmld_call_fail_status(): before it returns, or
 *   later from another callback (a query result, a timer).  After that the
 *   call and the request are gone; touching them is a use after free.
 * - The client gets exactly one response per request.  If the client
 *   cancels, the deadline passes, the connection goes away or the server
 *   shuts down first, the dispatcher answers at once (CANCELLED,
 *   DEADLINE_EXCEEDED, nothing, UNAVAILABLE), pgmld_call_cancelled()
 *   becomes non-zero and the cancel hook runs.  The handler must still end
 *   the call; its late reply is dropped.
 * - Deadlines: a REQUEST's timeout_ms counts from when the frame is read;
 *   0 means limits.default_timeout_ms; more than limits.max_timeout_ms is
 *   lowered to it (clamped, not refused).
 *
 * Everything here runs on the server's loop thread.
 */
#ifndef PGMLD_CALL_H
#define PGMLD_CALL_H

#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stdint.h>

#include "core/common.h"
#include "core/server.h"
#include "rpc/status.h"

typedef struct pgmld_call_s pgmld_call_t;

/* A method's handler.  `request` is the decoded input message (cast it to
 * the method's input type, e.g. const Pgml__V1__PingRequest *); it is owned
 * by the call and valid until the call ends. */
typedef void (*pgmld_handler_fn)(pgmld_call_t *call, const ProtobufCMessage *request);

/* The server the call runs on (for its config, loop and pool). */
pgmld_server_t *pgmld_call_server(pgmld_call_t *call);

/* The deadline: absolute, in uv_now() milliseconds of the server's loop. */
uint64_t pgmld_call_deadline(pgmld_call_t *call);

/* Non-zero once the client cancelled, the deadline passed, the connection
 * went away or the shutdown grace ran out.  A handler that is about to
 * start more work checks it first. */
int pgmld_call_cancelled(pgmld_call_t *call);

/* Sets the function run once, at the moment of cancellation, so that the
 * handler can stop its work (cancel a PostgreSQL query, stop a timer); it
 * may end the call itself.  A later call replaces the hook; fn NULL removes
 * it.  If the call is already cancelled, fn runs at once, before this
 * returns (so that registering is never too late): the call may then have
 * ended when this returns, if fn ended it. */
void pgmld_call_on_cancel(pgmld_call_t *call,
                          void (*fn)(pgmld_call_t *call, void *data), void *data);

/* Ends the call with code OK and `response`, which must be of the
 * method's output type (anything else answers INTERNAL and is logged).
 * The response is encoded before this returns: the caller keeps ownership
 * of it and may free it right after.  A response larger than
 * limits.max_frame_size answers RESOURCE_EXHAUSTED instead. */
void pgmld_call_reply(pgmld_call_t *call, const ProtobufCMessage *response);

/* Ends the call with an error: `code` (not PGMLD_OK) and a message that
 * names what was wrong and where. */
PGMLD_PRINTF(3, 4)
void pgmld_call_fail(pgmld_call_t *call, pgmld_code_t code, const char *fmt, ...);
/* pgmld_call_fail() with the arguments as a va_list. */
PGMLD_PRINTF(3, 0)
void pgmld_call_failv(pgmld_call_t *call, pgmld_code_t code, const char *fmt, va_list ap);

/* Ends the call with the error held in *st (copied). */
void pgmld_call_fail_status(pgmld_call_t *call, const pgmld_status_t *st);

/* The client's request id on its connection. */
uint64_t pgmld_call_id(const pgmld_call_t *call);
/* "pgml.v1.Database/Ping". */
const char *pgmld_call_method(const pgmld_call_t *call);
/* "conn#12 unix:pid=1234,uid=1000", for log lines about the call. */
const char *pgmld_call_peer(const pgmld_call_t *call);
/* The REQUEST's metadata value for key, or NULL.  Valid until the call
 * ends. */
const char *pgmld_call_metadata(const pgmld_call_t *call, const char *key);

#endif
