/* sock.h - what the stream transports (unix.c, ws.c) share on a
 * non-blocking socket: the queue of frames to write, gathered writes,
 * reads, and the end of a connect that went on in the background.
 *
 * Errors: 0 or a count on success, a negative errno otherwise; -EAGAIN
 * means "not now" (the socket is full, or has nothing to read).  These
 * functions write no message: the transport names the place and the peer in
 * its own err.
 */
#ifndef PGML_SOCK_H
#define PGML_SOCK_H

#include <stddef.h>
#include <sys/types.h>

#include "transport.h"

/* Frames waiting to be written, oldest first.  Owns the outbufs in it. */
typedef struct {
  pgml__outbuf_t *head;
  pgml__outbuf_t *tail;
} pgml__outq_t;

/* Appends `b`, whose start and len the transport has set; the queue owns it
 * afterwards. */
void pgml__outq_push(pgml__outq_t *q, pgml__outbuf_t *b);

/* Frees every queued outbuf and leaves the queue empty. */
void pgml__outq_clear(pgml__outq_t *q);

/* Takes `n` written bytes off the front of the queue, freeing each outbuf
 * written whole.  n must not be more than the queue holds. */
void pgml__outq_consume(pgml__outq_t *q, size_t n);

/* Writes from the front of the queue as much as `fd` takes in one gathered
 * sendmsg() (up to 64 outbufs), without SIGPIPE.  Does not consume.
 * Returns the bytes written (> 0), -EAGAIN when the socket is full, or the
 * negative errno of the write. */
PGML_MUST_CHECK ssize_t pgml__sock_writev(int fd, const pgml__outq_t *q);

/* recv() on `fd` retried on EINTR.  Returns the bytes read (> 0), 0 when the
 * peer closed the connection, -EAGAIN when there is nothing to read now, or
 * the negative errno of the read. */
PGML_MUST_CHECK ssize_t pgml__sock_recv(int fd, void *buf, size_t len);

/* send() on `fd` without SIGPIPE, retried on EINTR.  Returns the bytes
 * written (>= 0), -EAGAIN when the socket is full, or the negative errno. */
PGML_MUST_CHECK ssize_t pgml__sock_send(int fd, const void *buf, size_t len);

/* How the non-blocking connect() on `fd` ended, once the socket signalled:
 * 0 when connected, otherwise the negative errno, with *what set to the call
 * that reported it ("getsockopt", or "connect" for the connect's own error). */
PGML_MUST_CHECK int pgml__sock_connect_result(int fd, const char **what);

/* The reading and writing half of a transport's io(), once it is
 * connected: `drain` (the transport's reader) when `revents` has
 * PGML_EV_READ, then `flush` (its writer).  When the write fails, drain is
 * called once more, because the peer may have explained why before it went
 * away (a frame with id 0, a WebSocket close) and that reason should reach
 * the caller; t->err keeps the write's message unless that read fails
 * otherwise than by the peer having closed.  Returns 0 or the first error. */
typedef int (*pgml__drain_fn)(pgml__transport_t *t, pgml__frame_fn on_frame, void *ctx);
typedef int (*pgml__flush_fn)(pgml__transport_t *t);
PGML_MUST_CHECK int pgml__sock_io(pgml__transport_t *t, unsigned revents, pgml__drain_fn drain,
                                  pgml__flush_fn flush, pgml__frame_fn on_frame, void *ctx);

#endif
