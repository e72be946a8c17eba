/* client_int.h - the client's state, shared by the files that implement it:
 * client.c (connection and step), call.c (calls and their completion),
 * calls.c (the tables calls live in).
 *
 * A call is in exactly one of these states:
 *   IN_FLIGHT  in the id table and, with a deadline, in the deadline heap;
 *              its REQUEST is queued on or written to the connection.
 *   DONE       completed (its result is set), still in the id table so that
 *              pgml_cancel() finds it, and on the done list; its callback
 *              runs at the next step.
 * A call leaves the id table just before its callback runs and is freed just
 * after.  Answers for ids not IN_FLIGHT are dropped: they are late answers to
 * calls that were cancelled or timed out here (ids are never reused).
 */
#ifndef PGML_CLIENT_INT_H
#define PGML_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pgml/client.h"
#include "transport.h"

typedef enum { CALL_IN_FLIGHT, CALL_DONE } pgml__call_state_t;

typedef struct pgml__call_s {
  uint64_t id;
  pgml__call_state_t state;
  struct pgml__call_s *hnext;     /* id table bucket chain */
  struct pgml__call_s *dnext;     /* done list */
  size_t heap_at;                 /* index in the deadline heap, or SIZE_MAX */
  uint64_t deadline;              /* monotonic ms; meaningful when in the heap */
  uint32_t timeout_ms;
  const char *method;             /* full name: method_buf */
  pgml_raw_cb raw_cb;             /* exactly one of raw_cb and msg_cb is set */
  pgml_msg_cb msg_cb;
  const pb_msgdesc_t *resp_type;  /* msg_cb only */
  void *ud;
  /* The result, once DONE.  message_buf and details are owned (message
   * points to message_buf, or to a static string when memory ran out). */
  pgml_code_t code;
  const char *message;
  char *message_buf;
  char *details;
  uint8_t *payload;               /* owned; kept (payload_cap) when the call
                                   * object is reused */
  size_t payload_len;
  size_t payload_cap;
  /* "pgml.v1.Database/" and a method name of at most 255 bytes, or a full
   * name of at most 255. */
  char method_buf[17 + 255 + 1];
} pgml__call_t;

/* Calls by id: a chained hash table. */
typedef struct {
  pgml__call_t **buckets;
  size_t nbuckets;        /* a power of two, or 0 */
  size_t count;
} pgml__call_table_t;

/* Calls with a deadline: a binary min-heap on `deadline`. */
typedef struct {
  pgml__call_t **items;
  size_t len;
  size_t cap;
} pgml__deadline_heap_t;

typedef enum {
  CONN_CLOSED,     /* no connection; the next call opens one */
  CONN_RETRY,      /* the server was busy; open again at retry_at */
  CONN_OPENING,    /* open in progress on the descriptor */
  CONN_OPEN,
} pgml__conn_state_t;

struct pgml_client_s {
  char *address;
  pgml_client_options_t opts;       /* with the defaults filled in */
  pgml__transport_t *transport;
  pgml__conn_state_t conn;
  uint64_t connect_deadline;        /* CONN_RETRY/CONN_OPENING: give up then */
  uint64_t retry_at;                /* CONN_RETRY */
  uint64_t next_id;
  pgml__call_table_t calls;
  pgml__deadline_heap_t deadlines;
  pgml__call_t *done_head;          /* completed calls, oldest first */
  pgml__call_t *done_tail;
  pgml__call_t *spare_calls;        /* delivered calls kept for reuse, via dnext */
  unsigned n_spare_calls;
  /* Set while the frames io() hands over are matched: a reason for closing
   * the connection found there (a frame with id 0, a malformed frame),
   * which is better than the transport's. */
  char proto_err[512];
  int dispatching;                  /* inside step or free: callbacks may run */
  int freeing;
  /* What on_watch was last told, to call it only on a change. */
  int watch_fd;
  unsigned watch_events;
  int64_t watch_timeout_at;         /* -1: none */
};

/* The monotonic clock, in milliseconds.  Tests can replace it. */
uint64_t pgml__now_ms(void);
/* Installs a replacement clock (NULL: the real one).  Tests only. */
void pgml__set_clock(uint64_t (*now_ms)(void));

/* calls.c: the id table and the deadline heap.  Both hold borrowed
 * pointers; the caller owns the calls. */
void pgml__table_free(pgml__call_table_t *t);
/* Makes room so that the next insert cannot fail.  0 or -ENOMEM. */
PGML_MUST_CHECK int pgml__table_reserve(pgml__call_table_t *t);
void pgml__table_insert(pgml__call_table_t *t, pgml__call_t *call);
pgml__call_t *pgml__table_find(const pgml__call_table_t *t, uint64_t id);
void pgml__table_remove(pgml__call_table_t *t, pgml__call_t *call);
/* Calls fn for every call; fn must not change the table. */
void pgml__table_each(const pgml__call_table_t *t, void (*fn)(pgml__call_t *, void *),
                      void *ctx);

void pgml__heap_free(pgml__deadline_heap_t *h);
PGML_MUST_CHECK int pgml__heap_reserve(pgml__deadline_heap_t *h);
void pgml__heap_push(pgml__deadline_heap_t *h, pgml__call_t *call);
void pgml__heap_remove(pgml__deadline_heap_t *h, pgml__call_t *call);
/* The call with the earliest deadline, or NULL. */
pgml__call_t *pgml__heap_top(const pgml__deadline_heap_t *h);

/* call.c */
/* Completes an IN_FLIGHT call with `code` and a message formatted from fmt
 * (a static fallback when memory runs out): leaves the heap, joins the done
 * list.  details/payload are taken over (may be NULL). */
__attribute__((format(printf, 4, 5)))
void pgml__call_fail(pgml_client_t *c, pgml__call_t *call, pgml_code_t code,
                     const char *fmt, ...);
/* Matches one decoded frame from the server.  Returns 0, or -EPROTO after
 * recording in c->proto_err why the connection must be closed. */
PGML_MUST_CHECK int pgml__call_on_frame(void *ctx, const uint8_t *body, size_t len);
/* Runs the callbacks of the calls on the done list when this is called
 * (not of those added meanwhile), freeing each call afterwards. */
void pgml__call_run_done(pgml_client_t *c);
/* Completes every IN_FLIGHT call with `code` and `message`. */
void pgml__call_fail_all(pgml_client_t *c, pgml_code_t code, const char *message);
/* Completes with DEADLINE_EXCEEDED every call whose deadline is <= now,
 * and sends a CANCEL for each. */
void pgml__call_expire(pgml_client_t *c, uint64_t now);
/* Completes every pending call with CANCELLED and `message`, including
 * those completed but not yet delivered. */
void pgml__call_cancel_all(pgml_client_t *c, const char *message);
/* Frees a call that has left every table. */
void pgml__call_free(pgml__call_t *call);
/* Frees the client's spare call objects (pgml_client_free()). */
void pgml__call_free_spares(pgml_client_t *c);

/* client.c */
/* Opens the connection if it is closed.  Failures complete the calls. */
void pgml__client_ensure_open(pgml_client_t *c);
/* Queues a frame on the connection (ownership passes). */
void pgml__client_send(pgml_client_t *c, pgml__outbuf_t *b);
/* Tells on_watch about a changed fd, events or timeout (not while
 * dispatching: the end of the step does). */
void pgml__client_watch(pgml_client_t *c);
/* The watch hook's user data if the hook is `fn`, else NULL (how an adapter
 * finds itself on a client). */
void *pgml__client_watch_ud(const pgml_client_t *c,
                            void (*fn)(pgml_client_t *, int, unsigned, void *));

#endif
