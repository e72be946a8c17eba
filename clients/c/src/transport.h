/* transport.h - the one interface every libpgml transport fills in.
 *
 * A transport carries whole frames (encoded pgml.v1.Frame bodies) to and from
 * pgmld: the stream transport (unix.c) adds the 4-byte length prefix, the
 * WebSocket transport (ws.c) sends one binary message per frame.  The client
 * core (client.c) never asks which one it is on: it queues frames, asks for
 * the descriptor and the events to watch, and calls io() when they fire.
 *
 * Errors: 0 or a negative errno; after a failure t->err says what failed and
 * why, in words fit for a message ("connect(/run/pgmld.sock): No such file
 * or directory").
 */
#ifndef PGML_TRANSPORT_H
#define PGML_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "pgml/common.h"

typedef struct pgml__transport_s pgml__transport_t;
typedef struct pgml__transport_ops_s pgml__transport_ops_t;

/* One frame waiting to be written.  The body is at data + headroom (the
 * transport's ops->headroom); the transport writes its own header just
 * before it and sets `start` and `len` to the bytes to write. */
typedef struct pgml__outbuf_s {
  struct pgml__outbuf_s *next;
  uint8_t *start;   /* first byte to write (set by the transport) */
  size_t len;       /* bytes from start to the end of the body */
  size_t off;       /* bytes of them already written */
  size_t body_len;
  uint8_t data[];
} pgml__outbuf_t;

/* Called by io() for each whole frame received; `body` is valid only during
 * the call.  A negative result stops io(), which returns it. */
typedef int (*pgml__frame_fn)(void *ctx, const uint8_t *body, size_t len);

struct pgml__transport_ops_s {
  const char *scheme;     /* "unix" */
  size_t headroom;        /* bytes reserved before each body for a header */

  /* Starts opening the connection, without blocking.  Returns 0 when open
   * (t->connected set), -EINPROGRESS when io() will finish it once the
   * descriptor is writable, -EAGAIN when the server is busy and open() should
   * be called again a little later (no descriptor meanwhile), or another
   * negative errno (nothing open, t->err set). */
  int (*open)(pgml__transport_t *t);

  /* Non-blocking I/O after the loop saw `revents` (or 0): finishes opening,
   * writes queued frames, reads and hands each whole frame to on_frame.
   * Returns 0, or a negative errno when the connection is lost or broken
   * (t->err set; the caller then calls close()). */
  int (*io)(pgml__transport_t *t, unsigned revents, pgml__frame_fn on_frame,
            void *ctx);

  /* Queues `b` (ownership passes to the transport, which frees it with
   * pgml__free() once written or on close()).  The frame is sent in queue
   * order by later io() calls; queueing while opening is allowed. */
  void (*send)(pgml__transport_t *t, pgml__outbuf_t *b);

  /* Optional (NULL: every frame goes through send()): a small frame written
   * straight into the transport's queue, with no buffer of its own, so that
   * the frames of one turn leave from one buffer.  reserve() makes sure the
   * next append() of a body_len-byte body cannot fail: 0, or a negative
   * errno (the frame is too large for this, no memory) and the caller uses
   * send().  A close() in between does not undo it.  append() queues the
   * frame, writes its header and returns where its body_len-byte body goes,
   * which the caller fills before anything else is queued. */
  int (*reserve)(pgml__transport_t *t, size_t body_len);
  uint8_t *(*append)(pgml__transport_t *t, size_t body_len);

  /* The descriptor and the PGML_EV_* wanted; -1 and 0 when closed. */
  int (*fd)(const pgml__transport_t *t);
  unsigned (*events)(const pgml__transport_t *t);

  /* Closes the connection and drops queued frames and partial input.  The
   * transport may be opened again.  Harmless when closed. */
  void (*close)(pgml__transport_t *t);

  /* Closes and frees the transport. */
  void (*destroy)(pgml__transport_t *t);
};

/* What every transport starts with. */
struct pgml__transport_s {
  const pgml__transport_ops_t *ops;
  int connected;          /* set by the transport once frames can flow */
  char err[256];
};

struct pgml_client_options_s;

/* Creates the transport `address` names ("unix:///path" or a plain path,
 * "ws://host:port/path", "wss://..."); `opts` are the client's options with
 * the defaults filled in (max_frame_size bounds the frames accepted; token
 * and ca_file are the WebSocket transport's), borrowed for the call.
 * Returns 0 and *out (owned by the caller, freed with ops->destroy),
 * -EPROTONOSUPPORT (unknown scheme), -EINVAL (empty address or path, bad
 * host or port, bad token), -ENAMETOOLONG, or -ENOMEM. */
PGML_MUST_CHECK int pgml__transport_create(const char *address,
                                           const struct pgml_client_options_s *opts,
                                           pgml__transport_t **out);

/* The Unix-socket stream transport for `path`; as pgml__transport_create(). */
PGML_MUST_CHECK int pgml__unix_create(const char *path, uint32_t max_frame,
                                      pgml__transport_t **out);

/* Allocates an outbuf able to hold a body of body_len bytes behind
 * `headroom` bytes; NULL on allocation failure. */
PGML_MUST_CHECK pgml__outbuf_t *pgml__outbuf_new(size_t headroom, size_t body_len);

#endif
