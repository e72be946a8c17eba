/* transport.h - the one interface between a connection and the bytes under
 * it (a Unix stream socket today, a WebSocket later).
 *
 * A transport moves whole frames.  Going up, it calls the connection with
 * each frame body it reads (a stream transport strips the 4-byte length
 * prefix; a message transport hands over each message) and with the events
 * below.  Going down, the connection uses only this table: conn.c never
 * asks which transport it is on.
 *
 * Upcalls, declared in net/conn.h, from transport to connection:
 *   pgmld__conn_on_frame(conn, body, len)  a frame arrived (body valid only
 *                                          during the call)
 *   pgmld__conn_on_oversize(conn, len)     a frame declared len bytes, over
 *                                          limits.max_frame_size; no more
 *                                          frames follow
 *   pgmld__conn_on_end(conn, status)       the peer closed (UV_EOF) or an I/O
 *                                          error happened; no more frames
 *   pgmld__conn_on_written(conn, bytes)    queued bytes left the process
 *   pgmld__conn_on_closed(conn)            the transport is closed and freed;
 *                                          it will never call again
 * No upcall is made from inside a call into the table below: each comes from
 * a libuv callback, so the connection is never re-entered.  In particular
 * resume() does not deliver the frames that wait: a transport hands them
 * over from a later loop iteration (unix.c: a uv_idle_t), because the
 * connection resumes from inside its own frame and call-end handling.
 *
 * Errors: functions return 0 or a negative errno / libuv error code.
 */
#ifndef PGMLD_TRANSPORT_H
#define PGMLD_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

typedef struct pgmld_transport_s pgmld_transport_t;
typedef struct pgmld_conn_s pgmld_conn_t;

/* One encoded frame to send.  For a stream transport the first
 * PGML_FRAME_HEADER_SIZE bytes are the length prefix; a message transport
 * skips them. */
typedef struct pgmld_outbuf_s {
  uint8_t *base;    /* allocated with pgmld_malloc(); see write() */
  size_t len;
} pgmld_outbuf_t;

/* A transport's queue of frames not yet handed to the socket.  The
 * transport owns `bufs` and what each entry points to. */
typedef struct pgmld_outq_s {
  pgmld_outbuf_t *bufs;
  size_t n, cap;
} pgmld_outq_t;

/* Appends n frames to q, taking ownership of every bufs[i].base whatever
 * the result: on UV_ENOMEM they are freed and q is unchanged. */
PGMLD_MUST_CHECK int pgmld__outq_push(pgmld_outq_t *q, pgmld_outbuf_t *bufs, size_t n);

typedef struct pgmld_transport_ops_s {
  /* "unix", "ws": for logs and ServerInfo features. */
  const char *name;

  /* Queues n frames to be sent in order, and takes ownership of every
   * bufs[i].base whatever the result: each is freed once written or when
   * the transport closes.  Writes are batched: frames queued while a write
   * is in progress go out together in the next one.  Returns 0, or a
   * negative error when the transport can no longer send (closing, or the
   * socket failed); the connection then treats the peer as gone. */
  PGMLD_MUST_CHECK int (*write)(pgmld_transport_t *t, pgmld_outbuf_t *bufs, size_t n);

  /* Stops delivering frames, for output backpressure.  Frames already read
   * wait in the transport. */
  void (*pause)(pgmld_transport_t *t);
  /* Reads again: frames that wait are delivered first, from a later loop
   * iteration, never before resume returns. */
  void (*resume)(pgmld_transport_t *t);

  /* Stops reading and closes.  With flush, frames already queued are sent
   * first; without, they are dropped.  pgmld__conn_on_closed() follows,
   * never before close returns.  Calling it again only turns a flushing
   * close into an immediate one when flush is 0. */
  void (*close)(pgmld_transport_t *t, int flush);

  /* Who is at the other end, for logs: "unix:pid=1234,uid=1000". */
  const char *(*peer)(const pgmld_transport_t *t);
} pgmld_transport_ops_t;

/* The part every transport begins with. */
struct pgmld_transport_s {
  const pgmld_transport_ops_t *ops;
  pgmld_conn_t *conn;      /* set by pgmld_conn_new(); receives the upcalls */
};

#endif
