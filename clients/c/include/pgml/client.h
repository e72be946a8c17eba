/* client.h - libpgml, the C client of pgmld: asynchronous calls with
 * deadlines and cancellation, driven by any event loop.
 *
 * A client talks to one pgmld address over one connection, opened on the
 * first call and opened again by the first call after it was lost.  Many
 * calls can be in flight at once; each completes exactly once, through its
 * callback, with a pgml_code_t (gRPC's codes and numbering).
 *
 * Errors.  Functions that can fail return 0 (or a count) on success and a
 * negative errno value on failure; they never report a call's outcome that
 * way.  A call's outcome (the server's answer, a lost connection, a
 * deadline, a cancellation) always arrives through its callback.
 *
 * Threads.  A client is used by one thread at a time; different clients are
 * independent.  pgml_set_allocator() (pgml/alloc.h) is process-wide.
 *
 * Driving a client.  Nothing happens behind the caller's back: I/O, deadlines
 * and callbacks run inside pgml_client_step().  An event loop watches
 * pgml_client_fd() for pgml_client_events(), arms a timer for
 * pgml_client_next_timeout_ms(), and calls pgml_client_step() when either
 * fires.  pgml/uv.h does this for libuv, pgml/blocking.h with poll().
 *
 * Reentrancy.  Callbacks (pgml_raw_cb, pgml_msg_cb) run inside
 * pgml_client_step() or pgml_client_free().  From a callback a program may
 * start new calls and cancel calls (on this client or others), and free its
 * own data; it must not call pgml_client_step(), pgml_client_free(), or the
 * blocking API on the same client (they return -EBUSY, or abort() for
 * pgml_client_free(), which cannot report an error).  The on_watch hook may
 * only read the client's state (pgml_client_fd/_events/_next_timeout_ms).
 */
#ifndef PGML_CLIENT_H
#define PGML_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <pb.h>

#include "pgml/alloc.h"
#include "pgml/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The outcome of a call: pgml.v1.Code, with gRPC's numbering. */
typedef enum {
  PGML_OK = 0,
  PGML_CANCELLED = 1,
  PGML_UNKNOWN = 2,
  PGML_INVALID_ARGUMENT = 3,
  PGML_DEADLINE_EXCEEDED = 4,
  PGML_NOT_FOUND = 5,
  PGML_ALREADY_EXISTS = 6,
  PGML_PERMISSION_DENIED = 7,
  PGML_RESOURCE_EXHAUSTED = 8,
  PGML_FAILED_PRECONDITION = 9,
  PGML_ABORTED = 10,
  PGML_OUT_OF_RANGE = 11,
  PGML_UNIMPLEMENTED = 12,
  PGML_INTERNAL = 13,
  PGML_UNAVAILABLE = 14,
  PGML_DATA_LOSS = 15,
  PGML_UNAUTHENTICATED = 16,
} pgml_code_t;

/* "OK", "NOT_FOUND", ...; "UNKNOWN" for a value outside the enum.  The
 * string is static. */
const char *pgml_code_name(pgml_code_t code);

/* libpgml's version, e.g. "0.1.0".  Static. */
const char *pgml_version(void);

typedef struct pgml_client_s pgml_client_t;

/* Events for pgml_client_events(), pgml_client_step() and on_watch. */
#define PGML_EV_READ 0x01u
#define PGML_EV_WRITE 0x02u
/* Only in on_watch: the client is being freed.  Stop watching and forget
 * it; it must not be used once on_watch returns. */
#define PGML_EV_FREED 0x100u

/* Largest frame sent or accepted when max_frame_size is 0: 16 MiB. */
#define PGML_DEFAULT_MAX_FRAME_SIZE (16u * 1024u * 1024u)
#define PGML_DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define PGML_DEFAULT_MAX_CALLS 65536u
/* Metadata pairs a call may carry. */
#define PGML_MAX_METADATA 64u

/* Zero-initialised options give the defaults. */
typedef struct pgml_client_options_s {
  /* Largest frame body sent or accepted, in bytes (0: 16 MiB).  A call whose
   * request would be larger is refused with -EMSGSIZE; a larger frame from
   * the server ends the connection. */
  uint32_t max_frame_size;
  /* How long opening the connection may take (0: 10 s). */
  uint32_t connect_timeout_ms;
  /* Called when the client's fd, the events it wants, or its next timeout
   * may have changed (outside pgml_client_step(), at once; inside it, once
   * at its end), so that an event-loop adapter can update its watchers.
   * `fd` is pgml_client_fd() and `events` pgml_client_events(), or
   * PGML_EV_FREED.  It is called with fd -1 before the client closes a
   * descriptor, so that a loop stops polling it while it is still valid.
   * May be NULL. */
  void (*on_watch)(pgml_client_t *c, int fd, unsigned events, void *ud);
  void *watch_ud;
  /* Calls pending at once (in flight, or completed and waiting for their
   * callback) (0: 65536).  pgml_call*() beyond it returns -ENOBUFS. */
  uint32_t max_calls;
  /* ws:// and wss:// only (ignored on a Unix socket).  A bearer token sent
   * as "Authorization: Bearer <token>" with the WebSocket upgrade, so that
   * every call on the connection is authenticated (NULL: none; printable
   * ASCII without spaces, at most 4096 bytes).  Copied. */
  const char *token;
  /* wss:// only: a PEM file of the CA certificates the server's certificate
   * must chain to, instead of the system's store (NULL).  The server's
   * certificate is always verified, and must name the address's host.
   * Copied; read at the first connect. */
  const char *ca_file;
} pgml_client_options_t;

/* Creates a client for `address`: "unix:///path/to/socket" or a plain path,
 * or a WebSocket address "ws://host:port/path" or "wss://host:port/path"
 * (TLS; host may be "[v6]", port 80/443 and path "/" by default; pgmld
 * serves "/v1").  Nothing is connected until the first call.
 * `opts` may be NULL (defaults); it is copied.
 * On success *out owns the new client (free it with pgml_client_free()) and
 * 0 is returned; otherwise *out is untouched and the result is -EINVAL (no
 * or empty address, out NULL, a bad host, port, token or ca_file),
 * -EPROTONOSUPPORT (unknown scheme),
 * -ENAMETOOLONG (socket path longer than the system allows) or -ENOMEM. */
PGML_MUST_CHECK int pgml_client_new(const char *address,
                                    const pgml_client_options_t *opts,
                                    pgml_client_t **out);

/* Frees the client.  Every call still pending first completes, with
 * PGML_CANCELLED, and its callback runs before this returns (calls started
 * from those callbacks are refused with -ESHUTDOWN).  on_watch is then called
 * with PGML_EV_FREED.  NULL is a no-op.  Must not be called from one of this
 * client's callbacks (it aborts, naming the mistake). */
void pgml_client_free(pgml_client_t *c);

/* The address given to pgml_client_new(), for messages.  Owned by c. */
const char *pgml_client_address(const pgml_client_t *c);

/* Replaces the options' on_watch and watch_ud (an adapter installs itself
 * with this; NULL removes the hook).  Does not call the new hook. */
void pgml_client_set_watch(pgml_client_t *c,
                           void (*on_watch)(pgml_client_t *, int, unsigned, void *),
                           void *ud);

/* A call's outcome.  Everything is borrowed from the library and valid only
 * during the callback. */
typedef struct pgml_result_s {
  pgml_code_t code;
  /* Never NULL: "" when code is PGML_OK, otherwise a human-readable reason
   * (the server's, or the library's naming the address and what failed). */
  const char *message;
  /* The server's JSON object with machine-readable facts, or NULL. */
  const char *details;
  /* code PGML_OK: the encoded response message (payload_len may be 0 and
   * payload then NULL).  Otherwise NULL and 0. */
  const uint8_t *payload;
  size_t payload_len;
} pgml_result_t;

typedef void (*pgml_raw_cb)(pgml_client_t *c, const pgml_result_t *res, void *ud);

/* A call's decoded response: `msg` is a struct of the call's resp_type, NULL
 * unless res->code is PGML_OK.  It is owned by the library and released
 * (pb_release() and freed) after the callback returns; copy what must
 * outlive it. */
typedef void (*pgml_msg_cb)(pgml_client_t *c, const pgml_result_t *res, void *msg,
                            void *ud);

typedef struct pgml_call_options_s {
  /* Deadline, in milliseconds from the start of the call (0: none on the
   * client, the server's default on the server).  Sent to the server as
   * timeout_ms and enforced here too: when it passes, the call completes
   * with PGML_DEADLINE_EXCEEDED and a CANCEL is sent. */
  uint32_t timeout_ms;
  /* NULL, or key, value, key, value, ..., NULL: at most PGML_MAX_METADATA
   * pairs, keys not empty.  Borrowed; copied into the request. */
  const char *const *metadata;
} pgml_call_options_t;

/* Starts a call of `method` ("Ping", meaning "pgml.v1.Database/Ping", or a
 * full "<package>.<Service>/<Method>") with an already-encoded request
 * (`payload`, `len` bytes; NULL when len is 0).  `payload`, `method` and
 * `opts` are borrowed for the duration of the call to this function only.
 * On success returns 0, sets *id_out (if non-NULL) to the call's id, and
 * `cb` will run exactly once, from pgml_client_step() or pgml_client_free(),
 * never from inside this function.  On failure `cb` never runs and the
 * result is -EINVAL (bad argument), -EMSGSIZE (the request frame would exceed
 * max_frame_size), -ENOBUFS (max_calls reached), -ESHUTDOWN (the client is
 * being freed) or -ENOMEM.  A connection that cannot be opened is not a
 * failure here: the call completes with PGML_UNAVAILABLE. */
PGML_MUST_CHECK int pgml_call_raw(pgml_client_t *c, const char *method,
                                  const void *payload, size_t len,
                                  const pgml_call_options_t *opts, pgml_raw_cb cb,
                                  void *ud, uint64_t *id_out);

/* Like pgml_call_raw(), with the request encoded from `req` (a struct of
 * `req_type`, borrowed) and the response decoded into a struct of
 * `resp_type` for `cb`.  resp_type must be one of the pgml.v1 messages
 * (-EINVAL otherwise).  A response that cannot be decoded completes the call
 * with PGML_INTERNAL.  Note that nanopb, as built on this system, cannot
 * decode bytes fields longer than 65535 bytes nor repeated fields with more
 * than 65535 items; use pgml_call_raw() with your own decoder for those. */
PGML_MUST_CHECK int pgml_call(pgml_client_t *c, const char *method,
                              const pb_msgdesc_t *req_type, const void *req,
                              const pb_msgdesc_t *resp_type,
                              const pgml_call_options_t *opts, pgml_msg_cb cb,
                              void *ud, uint64_t *id_out);

/* Cancels call `id`: its callback will run once, with PGML_CANCELLED, at the
 * next pgml_client_step() (whatever the server answers, or had answered and
 * was not yet delivered), and a CANCEL frame is sent so that the server
 * stops working on it.  Returns 0, or -ENOENT when no call with this id is
 * pending (its callback already ran, or never will). */
PGML_MUST_CHECK int pgml_cancel(pgml_client_t *c, uint64_t id);

/* The descriptor to watch, or -1 when there is none (not connected, or
 * waiting to retry a connect). */
int pgml_client_fd(const pgml_client_t *c);

/* PGML_EV_READ | PGML_EV_WRITE: what to watch pgml_client_fd() for.  0 when
 * there is no descriptor. */
unsigned pgml_client_events(const pgml_client_t *c);

/* Milliseconds until pgml_client_step() must be called even if the
 * descriptor stays quiet (a deadline, a connect timeout, callbacks waiting
 * to run), 0 for "at once", or -1 for "only when the descriptor is ready". */
int pgml_client_next_timeout_ms(const pgml_client_t *c);

/* Does whatever can be done without blocking: finishes connecting, writes
 * queued frames, reads and matches responses (`revents`: the events the
 * loop saw on the descriptor, or 0 after a timer), expires deadlines, and
 * runs the callbacks of completed calls.  Connection failures are not
 * returned: they complete the calls concerned.  Returns 0, or -EBUSY when
 * called from one of this client's callbacks (nothing done). */
PGML_MUST_CHECK int pgml_client_step(pgml_client_t *c, unsigned revents);

/* Calls pending: in flight, or completed and waiting for their callback. */
size_t pgml_client_pending(const pgml_client_t *c);

#ifdef __cplusplus
}
#endif

#endif
