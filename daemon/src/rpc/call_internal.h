/* call_internal.h - what a call is, for rpc/call.c and net/conn.c only.
 * Handlers use rpc/call.h. */
#ifndef PGMLD_CALL_INTERNAL_H
#define PGMLD_CALL_INTERNAL_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "core/list.h"
#include "pgml/v1/frame.pb-c.h"
#include "rpc/arena.h"
#include "rpc/call.h"
#include "rpc/deadline.h"
#include "rpc/dispatch.h"
#include "rpc/envelope.h"

typedef struct pgmld_conn_s pgmld_conn_t;

struct pgmld_call_s {
  pgmld_list_t link;             /* conn's unanswered list, then its answered one */
  pgmld_conn_t *conn;            /* borrowed: a connection outlives its calls */
  pgmld_server_t *srv;
  uint64_t id;
  const pgmld_method_t *method;
  ProtobufCMessage *request;     /* owned: in arena, or on the heap when
                                  * request_on_heap */
  Pgml__V1__Frame *frame;        /* owned: the REQUEST, kept for its metadata;
                                  * NULL when it was read in place (it had none) */
  pgmld_deadline_t deadline;
  uint64_t started_ns;           /* uv_hrtime(), for the debug log */
  uint64_t bytes;                /* the request's payload size, held until end() */
  void (*cancel_fn)(pgmld_call_t *call, void *data);
  void *cancel_data;
  pgmld_code_t code;             /* what the client was told, once answered */
  unsigned answered : 1;         /* the client has its response, or never will */
  unsigned cancelled : 1;
  unsigned request_on_heap : 1;  /* decoded by pgmld_dispatch_prepare() */
  pgmld_arena_t arena;           /* last: not cleared when the call is reused */
};

/* A call object for a request about to be decoded on conn, from a free
 * list of ended calls (not kept under AddressSanitizer) or the heap; NULL
 * when out of memory.  Decode its request into pgmld_arena_allocator(
 * &call->arena), or set request_on_heap; then pgmld__call_start() it, or
 * give it back with pgmld__call_discard() (which releases what the arena
 * holds). */
pgmld_call_t *pgmld__call_new(pgmld_conn_t *conn);
void pgmld__call_discard(pgmld_call_t *call);

/* Starts call (from pgmld__call_new()) for its decoded request whose
 * frame's fields are in v: registers it with its connection under v->id,
 * arms its deadline and runs m's handler.  v is read before the handler
 * runs and not kept.  frame is the decoded REQUEST (for its metadata) or
 * NULL when it was read in place.  Takes ownership of call, frame and
 * request whatever happens.  Returns 0 once the handler ran (the call may
 * already have ended), or -ENOMEM / -EEXIST before anything started, in
 * which case the caller answers the client. */
PGMLD_MUST_CHECK int pgmld__call_start(pgmld_call_t *call, const pgmld_frame_view_t *v,
                                       Pgml__V1__Frame *frame, const pgmld_method_t *m,
                                       ProtobufCMessage *request);

/* Cancels the call from outside its handler: unless it is answered
 * already, answers it now with code and message (with nothing when code is
 * PGMLD_OK: the connection is gone), marks it cancelled and runs its cancel
 * hook.  The call may have ended, and be freed, when this returns. */
void pgmld__call_abort(pgmld_call_t *call, pgmld_code_t code, const char *message);

/* The server's deadline heap calls this when a call's deadline passes. */
void pgmld__call_deadline_expired(pgmld_deadlines_t *ds, pgmld_deadline_t *d);

/* ---- provided by net/conn.c for call.c ---- */

/* Adds call to conn's unanswered requests.  Returns 0, -EEXIST (the id is in
 * flight already) or -ENOMEM. */
PGMLD_MUST_CHECK int pgmld__conn_call_added(pgmld_conn_t *conn, pgmld_call_t *call);
/* The call is answered: it leaves the unanswered map, and buf (owned; the
 * encoded response) is sent if the connection is still open.  buf NULL on
 * an open connection means the response could not be encoded: the client
 * would wait forever, so the connection is closed. */
void pgmld__conn_call_answered(pgmld_conn_t *conn, pgmld_call_t *call,
                               uint8_t *buf, size_t len);
/* The call ended: the connection forgets it and may now be reclaimed. */
void pgmld__conn_call_ended(pgmld_conn_t *conn, pgmld_call_t *call);
/* Room for a len-byte response at the end of conn's batch (see
 * pgmld__conn_batch_begin()), or NULL: then encode it into a buffer of its
 * own.  What is written there is sent by
 * pgmld__conn_call_answered_in_batch(conn, call, len), called before
 * anything else is sent on conn. */
uint8_t *pgmld__conn_reply_room(pgmld_conn_t *conn, size_t len);
void pgmld__conn_call_answered_in_batch(pgmld_conn_t *conn, pgmld_call_t *call,
                                        size_t len);

#endif
