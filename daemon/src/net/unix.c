/* unix.c - Unix-socket listener (stale socket recovery, permissions) and
 * the stream transport on uv_pipe_t (chunked reads into the frame reader,
 * batched writes). */
#define _GNU_SOURCE /* struct ucred, SO_PEERCRED */
#include "net/unix.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/auth.h"
#include "core/log.h"
#include "core/sdnotify.h"
#include "frame.h"
#include "net/conn.h"
#include "net/transport.h"

/* Each read offers at least this much room, so that many small frames cost
 * one read system call. */
#define READ_CHUNK (64u * 1024u)
/* After a large frame, a read buffer bigger than this is released once it
 * is empty rather than kept for the life of the connection. */
#define KEEP_BUFFER (1u * 1024u * 1024u)
/* Frames given to one uv_write() at most (well under IOV_MAX). */
#define WRITE_BATCH 64u
#define LISTEN_BACKLOG 511

/* ------------------------------------------------------------ the stream */

typedef struct write_req_s {
  uv_write_t req;
  size_t bytes;
  unsigned n;
  uv_buf_t bufs[];
} write_req_t;

typedef struct unix_stream_s {
  pgmld_transport_t base;
  uv_pipe_t pipe;
  uv_idle_t resumed;         /* delivers frames read before a pause, after resume() */
  uv_idle_t wrote;           /* reports what uv_try_write() sent, after the
                              * callback that wrote it */
  unsigned handles_open;     /* pipe, resumed, wrote; freed when all are closed */
  size_t wrote_unreported;   /* bytes uv_try_write() sent, not yet reported */
  pgml_frame_reader_t reader;
  char peer[64];
  pgmld_outq_t out;          /* frames waiting for the next write, owned */
  write_req_t *writing;      /* the write in progress, or NULL */
  unsigned reading : 1;      /* uv_read_start() is in effect */
  unsigned paused : 1;       /* the connection asked for no frames */
  unsigned ended : 1;        /* EOF or a read error was seen */
  unsigned closing : 1;      /* close() was called */
  unsigned flushing : 1;     /* closing once the queue is written */
  unsigned handle_closing : 1;
} unix_stream_t;

static void stream_close(pgmld_transport_t *t, int flush);

static unix_stream_t *stream_of(pgmld_transport_t *t)
{
  return PGMLD_CONTAINER_OF(t, unix_stream_t, base);
}

static void free_queue(unix_stream_t *s)
{
  size_t i;

  for (i = 0; i < s->out.n; i++)
    pgmld_free(s->out.bufs[i].base);
  s->out.n = 0;
}

static void on_handle_closed(uv_handle_t *h)
{
  unix_stream_t *s = h->data;
  pgmld_conn_t *conn = s->base.conn;

  if (--s->handles_open > 0)
    return;
  free_queue(s);
  pgmld_free(s->out.bufs);
  pgml_frame_reader_free(&s->reader);
  pgmld_free(s);
  /* After the free: the connection must not touch the transport again. */
  if (conn != NULL)
    pgmld__conn_on_closed(conn);
}

static void close_handle(unix_stream_t *s)
{
  if (s->handle_closing)
    return;
  s->handle_closing = 1;
  uv_close((uv_handle_t *)&s->resumed, on_handle_closed);
  uv_close((uv_handle_t *)&s->wrote, on_handle_closed);
  /* A write in progress completes with UV_ECANCELED before the close
   * callback runs, and frees its buffers there. */
  uv_close((uv_handle_t *)&s->pipe, on_handle_closed);
}

/* Tells the connection the stream ended, once. */
static void report_end(unix_stream_t *s, int status)
{
  if (s->closing || s->base.conn == NULL)
    return;
  pgmld__conn_on_end(s->base.conn, status);
}

static void on_write(uv_write_t *req, int status);

/* Largest first frame try_write() sends itself. */
#define TRY_WRITE_MAX (64u * 1024u)

/* Soon after uv_try_write() sent bytes: tells the connection, which must
 * not hear of it from inside its own write().  An idle handle, not a check:
 * an active idle handle keeps the next poll from blocking, so a write made
 * from a timer callback (a deadline's answer) is reported in the same loop
 * turn, not after the next I/O event, which a connection whose reading is
 * paused for its output might never get. */
static void on_wrote(uv_idle_t *idle)
{
  unix_stream_t *s = idle->data;
  size_t bytes = s->wrote_unreported;

  uv_idle_stop(idle);
  s->wrote_unreported = 0;
  if (s->base.conn != NULL && !s->handle_closing && bytes > 0)
    pgmld__conn_on_written(s->base.conn, bytes);
}

/* With no write in progress, sends what the socket takes at once with
 * uv_try_write(), up to WRITE_BATCH frames: when that is everything (the
 * common case) no write request is made, and libuv leaves the descriptor's
 * epoll registration alone (uv_write() re-registers it on every turn).  A
 * frame sent in part keeps its rest, moved to its start. */
static void try_write(unix_stream_t *s)
{
  unsigned n = s->out.n < WRITE_BATCH ? (unsigned)s->out.n : WRITE_BATCH;
  uv_buf_t bufs[WRITE_BATCH];
  size_t left;
  unsigned i, done;
  int r;

  /* A large first frame goes to uv_write() whole: sent in part here, its
   * rest would be moved to the start of its buffer first. */
  if (n == 0 || s->out.bufs[0].len > TRY_WRITE_MAX)
    return;
  for (i = 0; i < n; i++)
    bufs[i] = uv_buf_init((char *)s->out.bufs[i].base, (unsigned)s->out.bufs[i].len);
  r = uv_try_write((uv_stream_t *)&s->pipe, bufs, n);
  if (r <= 0)
    return;               /* UV_EAGAIN, or an error uv_write() reports */
  left = (size_t)r;
  for (done = 0; done < n && left >= s->out.bufs[done].len; done++) {
    left -= s->out.bufs[done].len;
    pgmld_free(s->out.bufs[done].base);
  }
  s->out.n -= done;
  memmove(s->out.bufs, s->out.bufs + done, s->out.n * sizeof(*s->out.bufs));
  if (left > 0) {
    pgmld_outbuf_t *b = &s->out.bufs[0];
    memmove(b->base, b->base + left, b->len - left);
    b->len -= left;
  }
  s->wrote_unreported += (size_t)r;
  (void)uv_idle_start(&s->wrote, on_wrote);
}

/* Starts one uv_write() with up to WRITE_BATCH queued frames, after
 * try_write() sent what it could.  Returns 0 or a libuv error (the frames
 * taken are freed).  When flushing before a close and nothing is left,
 * closes the handle. */
static int start_write(unix_stream_t *s)
{
  unsigned n;
  write_req_t *w;
  unsigned i;
  int rc;

  if (s->writing != NULL || s->out.n == 0 || s->handle_closing)
    return 0;
  try_write(s);
  if (s->out.n == 0) {
    if (s->flushing)
      close_handle(s);
    return 0;
  }
  n = s->out.n < WRITE_BATCH ? (unsigned)s->out.n : WRITE_BATCH;
  w = pgmld_malloc(sizeof(*w) + n * sizeof(uv_buf_t));
  if (w == NULL)
    return UV_ENOMEM;
  w->n = n;
  w->bytes = 0;
  for (i = 0; i < n; i++) {
    w->bufs[i] = uv_buf_init((char *)s->out.bufs[i].base, (unsigned)s->out.bufs[i].len);
    w->bytes += s->out.bufs[i].len;
  }
  s->out.n -= n;
  memmove(s->out.bufs, s->out.bufs + n, s->out.n * sizeof(*s->out.bufs));
  s->writing = w;
  rc = uv_write(&w->req, (uv_stream_t *)&s->pipe, w->bufs, n, on_write);
  if (rc < 0) {
    s->writing = NULL;
    for (i = 0; i < n; i++)
      pgmld_free(w->bufs[i].base);
    pgmld_free(w);
  }
  return rc;
}

static void on_write(uv_write_t *req, int status)
{
  write_req_t *w = PGMLD_CONTAINER_OF(req, write_req_t, req);
  unix_stream_t *s = req->handle->data;
  size_t bytes = w->bytes;
  unsigned i;
  int rc;

  for (i = 0; i < w->n; i++)
    pgmld_free(w->bufs[i].base);
  pgmld_free(w);
  s->writing = NULL;
  if (status < 0) {
    if (status != UV_ECANCELED)
      report_end(s, status);
    if (s->closing)
      close_handle(s);
    return;
  }
  if (s->base.conn != NULL && !s->handle_closing)
    pgmld__conn_on_written(s->base.conn, bytes);
  if (s->handle_closing)
    return;
  rc = start_write(s);
  if (rc < 0) {
    report_end(s, rc);
    if (s->closing)
      close_handle(s);
    return;
  }
  if (s->flushing && s->writing == NULL)
    close_handle(s);
}

static int stream_write(pgmld_transport_t *t, pgmld_outbuf_t *bufs, size_t n)
{
  unix_stream_t *s = stream_of(t);
  size_t i;
  int rc;

  if (s->closing && !s->flushing) {
    for (i = 0; i < n; i++)
      pgmld_free(bufs[i].base);
    return UV_EPIPE;
  }
  if ((rc = pgmld__outq_push(&s->out, bufs, n)) < 0)
    return rc;
  /* With a write in progress, these wait and leave together in the next
   * one: that is the batching. */
  return start_write(s);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  unix_stream_t *s = h->data;
  uint8_t *p;
  size_t len;

  (void)suggested;
  if (pgml_frame_reader_space(&s->reader, READ_CHUNK, &p, &len) < 0) {
    *buf = uv_buf_init(NULL, 0);      /* read_cb gets UV_ENOBUFS */
    return;
  }
  *buf = uv_buf_init((char *)p, len > UINT32_MAX ? UINT32_MAX : (unsigned)len);
}

static void stop_reading(unix_stream_t *s)
{
  if (s->reading) {
    uv_read_stop((uv_stream_t *)&s->pipe);
    s->reading = 0;
  }
}

/* Hands every complete frame to the connection, until it pauses or closes;
 * the responses made meanwhile leave in one write. */
static void deliver(unix_stream_t *s)
{
  pgmld_conn_t *conn = s->base.conn;
  const uint8_t *body;
  uint32_t len;

  pgmld__conn_batch_begin(conn);
  while (!s->paused && !s->closing) {
    int rc = pgml_frame_reader_next(&s->reader, &body, &len);
    if (rc == 0)
      break;
    if (rc < 0) {
      /* The length cannot be trusted, so neither can anything after it. */
      stop_reading(s);
      s->ended = 1;
      pgmld__conn_on_oversize(conn, s->reader.bad_len);
      pgmld__conn_batch_end(conn);
      return;
    }
    pgmld__conn_on_frame(conn, body, len);
  }
  pgmld__conn_batch_end(conn);
  if (s->reader.start == s->reader.end && s->reader.cap > KEEP_BUFFER)
    pgml_frame_reader_free(&s->reader);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
  unix_stream_t *s = stream->data;

  (void)buf;
  if (nread > 0) {
    pgml_frame_reader_commit(&s->reader, (size_t)nread);
    deliver(s);
    return;
  }
  if (nread == 0)
    return;
  stop_reading(s);
  s->ended = 1;
  report_end(s, (int)nread);
}

static void start_reading(unix_stream_t *s)
{
  int rc;

  if (s->reading || s->paused || s->closing || s->ended)
    return;
  rc = uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
  if (rc < 0) {
    s->ended = 1;
    report_end(s, rc);
    return;
  }
  s->reading = 1;
}

static void stream_pause(pgmld_transport_t *t)
{
  unix_stream_t *s = stream_of(t);

  s->paused = 1;
  uv_idle_stop(&s->resumed);
  stop_reading(s);
}

/* The loop iteration after resume(): the frames read before the pause,
 * then reading again (in that order, so that the buffer does not grow
 * while they wait). */
static void on_resumed(uv_idle_t *idle)
{
  unix_stream_t *s = idle->data;

  uv_idle_stop(idle);
  deliver(s);
  start_reading(s);
}

static void stream_resume(pgmld_transport_t *t)
{
  unix_stream_t *s = stream_of(t);

  s->paused = 0;
  if (s->closing)
    return;
  /* Not from here: resume() is called by the connection, often from inside
   * its own handling of a frame or of a call's end, which a frame
   * delivered now would re-enter (net/transport.h). */
  if (s->reader.start != s->reader.end) {
    (void)uv_idle_start(&s->resumed, on_resumed);
    return;
  }
  start_reading(s);
}

static void stream_close(pgmld_transport_t *t, int flush)
{
  unix_stream_t *s = stream_of(t);

  if (s->handle_closing)
    return;
  stop_reading(s);
  s->closing = 1;
  if (flush && (s->writing != NULL || s->out.n > 0)) {
    s->flushing = 1;
    if (start_write(s) < 0)
      close_handle(s);
    return;
  }
  s->flushing = 0;
  /* Closing at once: what the socket takes without waiting still goes out
   * (an UNAVAILABLE at shutdown), the rest is dropped. */
  while (s->writing == NULL && s->out.n > 0) {
    uv_buf_t b = uv_buf_init((char *)s->out.bufs[0].base, (unsigned)s->out.bufs[0].len);
    if (uv_try_write((uv_stream_t *)&s->pipe, &b, 1) != (int)b.len)
      break;
    pgmld_free(s->out.bufs[0].base);
    s->out.n--;
    memmove(s->out.bufs, s->out.bufs + 1, s->out.n * sizeof(*s->out.bufs));
  }
  close_handle(s);
}

static const char *stream_peer(const pgmld_transport_t *t)
{
  return PGMLD_CONTAINER_OF(t, const unix_stream_t, base)->peer;
}

static const pgmld_transport_ops_t unix_ops = {
  .name = "unix",
  .write = stream_write,
  .pause = stream_pause,
  .resume = stream_resume,
  .close = stream_close,
  .peer = stream_peer,
};

static void describe_peer(unix_stream_t *s)
{
  struct ucred cred;
  socklen_t len = sizeof(cred);
  uv_os_fd_t fd;

  if (uv_fileno((uv_handle_t *)&s->pipe, &fd) == 0 &&
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
    snprintf(s->peer, sizeof(s->peer), "unix:pid=%ld,uid=%ld", (long)cred.pid,
             (long)cred.uid);
  else
    snprintf(s->peer, sizeof(s->peer), "unix:?");
}

/* Checks the peer against server.allow_uids / server.allow_gids.  A peer
 * not allowed is told PERMISSION_DENIED on id 0 and the connection closes;
 * returns 0 then, 1 when the peer may go on. */
static int peer_allowed(pgmld_server_t *srv, unix_stream_t *s, pgmld_conn_t *conn)
{
  const pgmld_auth_t *auth = pgmld__server_auth(srv);
  struct ucred cred;
  socklen_t len = sizeof(cred);
  uv_os_fd_t fd;
  char msg[160];

  if (!pgmld_auth_peer_lists_set(auth))
    return 1;
  if (uv_fileno((uv_handle_t *)&s->pipe, &fd) < 0 ||
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
    snprintf(msg, sizeof(msg), "the peer's credentials cannot be read (SO_PEERCRED), "
             "so server.allow_uids / server.allow_gids cannot allow it");
  } else if (pgmld_auth_peer_allowed(auth, cred.uid, cred.gid)) {
    return 1;
  } else {
    snprintf(msg, sizeof(msg), "uid %ld (gid %ld) is not allowed: server.allow_uids / "
             "server.allow_gids", (long)cred.uid, (long)cred.gid);
  }
  pgmld_conn_refuse(conn, PGMLD_PERMISSION_DENIED, msg);
  return 0;
}

/* ------------------------------------------------------------ the listener */

struct pgmld_unix_listener_s {
  uv_pipe_t pipe;
  uv_pipe_t reject;          /* takes a client we cannot afford to serve */
  uv_timer_t retry;          /* accepts again after `reject` could not be set up */
  pgmld_server_t *srv;
  char *path;                /* owned */
  dev_t dev;                 /* of the socket file we created */
  ino_t ino;
  unsigned bound : 1;
  unsigned rejecting : 1;    /* `reject` is in use */
  unsigned reject_again : 1; /* a client waits for `reject` */
  unsigned handles_open;     /* pipe, retry, and reject while rejecting */
};

/* When a client could be neither served nor refused, libuv keeps it and
 * accepts nothing else: the listener tries again after this long. */
#define ACCEPT_RETRY_MS 100u

static void on_listener_closed(uv_handle_t *h)
{
  pgmld_unix_listener_t *l = h->data;

  if (--l->handles_open > 0)
    return;
  pgmld_free(l->path);
  pgmld_free(l);
}

static void reject_client(pgmld_unix_listener_t *l);
static void on_connection(uv_stream_t *server, int status);

static void on_accept_retry(uv_timer_t *t)
{
  pgmld_unix_listener_t *l = t->data;

  if (uv_is_closing((uv_handle_t *)&l->pipe))
    return;
  pgmld_log_info("unix", "accepting the waiting client on %s again", l->path);
  on_connection((uv_stream_t *)&l->pipe, 0);
}

static void on_reject_closed(uv_handle_t *h)
{
  pgmld_unix_listener_t *l = h->data;

  l->rejecting = 0;
  l->handles_open--;
  if (l->reject_again && !uv_is_closing((uv_handle_t *)&l->pipe)) {
    l->reject_again = 0;
    reject_client(l);
  }
  if (l->handles_open == 0) {
    pgmld_free(l->path);
    pgmld_free(l);
  }
}

/* Out of memory for a new client: accept it into the spare handle and
 * close it, so the listener keeps accepting.  libuv holds a client that is
 * not accepted and stops listening until it is, so a second one waits for
 * the spare. */
static void reject_client(pgmld_unix_listener_t *l)
{
  int rc;

  if (l->rejecting) {
    l->reject_again = 1;
    return;
  }
  rc = uv_pipe_init(l->pipe.loop, &l->reject, 0);
  if (rc < 0) {
    pgmld_log_error("unix", "cannot refuse a client on %s either (%s): accepting nothing "
                    "until a retry in %u ms succeeds", l->path, uv_strerror(rc),
                    ACCEPT_RETRY_MS);
    (void)uv_timer_start(&l->retry, on_accept_retry, ACCEPT_RETRY_MS, 0);
    return;
  }
  l->rejecting = 1;
  l->handles_open++;
  l->reject.data = l;
  rc = uv_accept((uv_stream_t *)&l->pipe, (uv_stream_t *)&l->reject);
  if (rc < 0)
    pgmld_log_warn("unix", "refusing a client on %s: %s", l->path, uv_strerror(rc));
  uv_close((uv_handle_t *)&l->reject, on_reject_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
  pgmld_unix_listener_t *l = server->data;
  const pgmld_config_t *cfg = pgmld_server_config(l->srv);
  unix_stream_t *s;
  pgmld_conn_t *conn;
  int rc;

  if (status < 0) {
    pgmld_log_warn("unix", "accepting on %s: %s", l->path, uv_strerror(status));
    return;
  }
  s = pgmld_calloc(1, sizeof(*s));
  if (s == NULL) {
    pgmld_log_error("unix", "out of memory accepting a client on %s", l->path);
    reject_client(l);
    return;
  }
  s->base.ops = &unix_ops;
  pgml_frame_reader_init(&s->reader, (uint32_t)cfg->limits.max_frame_size);
  rc = uv_pipe_init(server->loop, &s->pipe, 0);
  if (rc < 0) {
    pgmld_log_error("unix", "accepting a client on %s: %s", l->path, uv_strerror(rc));
    pgmld_free(s);
    reject_client(l);
    return;
  }
  s->pipe.data = s;
  /* uv_idle_init() cannot fail: it only fills in the handle. */
  (void)uv_idle_init(server->loop, &s->resumed);
  s->resumed.data = s;
  (void)uv_idle_init(server->loop, &s->wrote);
  s->wrote.data = s;
  s->handles_open = 3;
  rc = uv_accept(server, (uv_stream_t *)&s->pipe);
  if (rc < 0) {
    pgmld_log_warn("unix", "accepting a client on %s: %s", l->path, uv_strerror(rc));
    close_handle(s);
    return;
  }
  describe_peer(s);
  if (pgmld_conn_new(l->srv, &s->base, &conn) < 0)
    return;                 /* the transport is closing; already logged */
  /* Whoever may open the socket file (and passes the allow-lists) needs
   * no token: the file's mode and group are the Unix socket's access
   * control. */
  if (!peer_allowed(l->srv, s, conn))
    return;
  pgmld_conn_set_authenticated(conn, 1);
  start_reading(s);
}

/* Deals with whatever is at path before binding: nothing, a stale socket
 * file (removed), or something that must not be touched (error). */
static int clear_stale_socket(const char *path)
{
  struct sockaddr_un addr;
  struct stat st;
  int fd, rc;

  if (lstat(path, &st) < 0) {
    if (errno == ENOENT)
      return 0;
    rc = -errno;
    pgmld_log_error("unix", "cannot inspect %s: %s", path, strerror(-rc));
    return rc;
  }
  if (!S_ISSOCK(st.st_mode)) {
    pgmld_log_error("unix", "%s exists and is not a socket; not replacing it", path);
    return -EEXIST;
  }
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    rc = -errno;
    pgmld_log_error("unix", "socket(): %s", strerror(-rc));
    return rc;
  }
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
  rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ? -errno : 0;
  close(fd);
  /* EAGAIN: a listener whose backlog is full, which is still a listener. */
  if (rc == 0 || rc == -EAGAIN || rc == -EINPROGRESS) {
    pgmld_log_error("unix", "another process (another pgmld?) is listening on %s; "
                    "stop it or choose another server.socket_path", path);
    return -EADDRINUSE;
  }
  if (rc == -ENOENT)
    return 0;
  if (rc != -ECONNREFUSED) {
    pgmld_log_error("unix", "cannot tell whether %s is in use: connect: %s", path,
                    strerror(-rc));
    return rc;
  }
  if (unlink(path) < 0 && errno != ENOENT) {
    rc = -errno;
    pgmld_log_error("unix", "cannot remove the stale socket %s: %s", path, strerror(-rc));
    return rc;
  }
  pgmld_log_info("unix", "removed the stale socket %s left by a process that exited",
                 path);
  return 0;
}

/* libuv reports a missing directory as EACCES (as Windows would), which
 * sends the operator looking at permissions: look at the directory. */
static void log_bind_error(const char *path, int rc)
{
  const char *slash = strrchr(path, '/');
  char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
  struct stat st;

  if (slash != NULL && slash != path) {
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) < 0 && errno == ENOENT) {
      pgmld_log_error("unix", "cannot bind %s: the directory %s does not exist", path, dir);
      return;
    }
  }
  pgmld_log_error("unix", "cannot bind %s: %s", path, uv_strerror(rc));
}

/* Names of passed sockets that belong to other listeners: none, since the
 * WebSocket and HTTP listeners bind their own addresses.  The Unix
 * listener takes the socket named "unix", or else the first passed one
 * whatever its name (unnamed, or named after its .socket unit); the
 * server closes the rest, with a warning (pgmld_sd_listen_close_rest()). */
static const char *const other_listeners[] = {NULL};

/* Socket activation: listens on the AF_UNIX stream socket systemd passed
 * (fd, taken: closed on failure).  The socket file is systemd's: it is
 * neither chmod'ed nor removed. */
static int listen_passed(pgmld_server_t *srv, int fd, const char *fd_name,
                         pgmld_unix_listener_t **out)
{
  pgmld_unix_listener_t *l;
  struct sockaddr_un sa;
  socklen_t len = sizeof(sa);
  char where[sizeof(sa.sun_path) + 32];
  char err[256];
  int rc;

  rc = pgmld_sd_check_socket(fd, fd_name, AF_UNIX, SOCK_STREAM, "Unix listener", err,
                             sizeof(err));
  if (rc < 0) {
    pgmld_log_error("unix", "%s", err);
    close(fd);
    return rc;
  }
  memset(&sa, 0, sizeof(sa));
  if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0 &&
      len > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0] != '\0')
    snprintf(where, sizeof(where), "%.*s", (int)sizeof(sa.sun_path), sa.sun_path);
  else if (len > offsetof(struct sockaddr_un, sun_path) + 1)
    snprintf(where, sizeof(where), "@%.*s",
             (int)(len - offsetof(struct sockaddr_un, sun_path) - 1), sa.sun_path + 1);
  else
    snprintf(where, sizeof(where), "fd %d", fd);
  l = pgmld_calloc(1, sizeof(*l));
  if (l == NULL || (l->path = pgmld_strdup(where)) == NULL) {
    pgmld_free(l);
    close(fd);
    return -ENOMEM;
  }
  l->srv = srv;
  rc = uv_pipe_init(pgmld_server_loop(srv), &l->pipe, 0);
  if (rc < 0) {
    pgmld_free(l->path);
    pgmld_free(l);
    close(fd);
    return rc;
  }
  l->pipe.data = l;
  /* uv_timer_init() cannot fail: it only fills in the handle. */
  (void)uv_timer_init(pgmld_server_loop(srv), &l->retry);
  l->retry.data = l;
  l->handles_open = 2;
  rc = uv_pipe_open(&l->pipe, fd);
  if (rc < 0) {
    pgmld_log_error("unix", "cannot use the socket systemd passed (fd %d): %s", fd,
                    uv_strerror(rc));
    close(fd);
    goto fail;
  }
  rc = uv_listen((uv_stream_t *)&l->pipe, LISTEN_BACKLOG, on_connection);
  if (rc < 0) {
    pgmld_log_error("unix", "cannot listen on the socket systemd passed (fd %d, %s): %s",
                    fd, where, uv_strerror(rc));
    goto fail;
  }
  pgmld_log_info("unix", "using the socket systemd passed: fd %d (%s) on %s; "
                 "server.socket_path and server.socket_mode are not used", fd,
                 fd_name[0] ? fd_name : "unnamed", where);
  *out = l;
  return 0;

fail:
  pgmld_unix_listener_close(l);
  return rc;
}

/* Gives the socket file the group server.socket_group (a name or a
 * number; "" leaves it alone). */
static int set_group(const char *path, const char *group)
{
  struct group gr, *res = NULL;
  char buf[4096], *end;
  unsigned long gid;
  int rc;

  if (group[0] == '\0')
    return 0;
  gid = strtoul(group, &end, 10);
  if (end == group || *end != '\0') {
    rc = getgrnam_r(group, &gr, buf, sizeof(buf), &res);
    if (rc != 0 || res == NULL) {
      pgmld_log_error("unix", "server.socket_group: no group named '%s'%s%s", group,
                      rc != 0 ? ": " : "", rc != 0 ? strerror(rc) : "");
      return rc != 0 ? -rc : -ENOENT;
    }
    gid = res->gr_gid;
  }
  if (chown(path, (uid_t)-1, (gid_t)gid) < 0) {
    rc = -errno;
    pgmld_log_error("unix", "server.socket_group: cannot give %s the group %s (gid %lu): "
                    "%s", path, group, gid, strerror(-rc));
    return rc;
  }
  return 0;
}

int pgmld_unix_listen(pgmld_server_t *srv, const char *path, unsigned mode,
                      pgmld_unix_listener_t **out)
{
  pgmld_unix_listener_t *l;
  struct stat st;
  mode_t old_umask;
  const char *fd_name = "";
  int rc;

  *out = NULL;
  rc = pgmld_sd_listen_take("unix", other_listeners, &fd_name);
  if (rc >= 0)
    return listen_passed(srv, rc, fd_name, out);
  /* sockaddr_un has a fixed size; a longer path would be cut short and the
   * socket created somewhere else. */
  if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    pgmld_log_error("unix", "server.socket_path %s is %zu bytes long; a Unix socket "
                    "path can have at most %zu", path, strlen(path),
                    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    return -ENAMETOOLONG;
  }
  rc = clear_stale_socket(path);
  if (rc < 0)
    return rc;
  l = pgmld_calloc(1, sizeof(*l));
  if (l == NULL)
    return -ENOMEM;
  l->path = pgmld_strdup(path);
  if (l->path == NULL) {
    pgmld_free(l);
    return -ENOMEM;
  }
  l->srv = srv;
  rc = uv_pipe_init(pgmld_server_loop(srv), &l->pipe, 0);
  if (rc < 0) {
    pgmld_free(l->path);
    pgmld_free(l);
    return rc;
  }
  l->pipe.data = l;
  /* uv_timer_init() cannot fail: it only fills in the handle. */
  (void)uv_timer_init(pgmld_server_loop(srv), &l->retry);
  l->retry.data = l;
  l->handles_open = 2;

  /* Bind under a umask that lets nobody in, then widen to `mode`: clients
   * must never see the socket with looser permissions than configured.
   * Start-up is single-threaded, so the process-wide umask is safe here. */
  old_umask = umask(0177);
  rc = uv_pipe_bind(&l->pipe, path);
  umask(old_umask);
  if (rc < 0) {
    log_bind_error(path, rc);
    goto fail;
  }
  l->bound = 1;
  if (stat(path, &st) == 0) {
    l->dev = st.st_dev;
    l->ino = st.st_ino;
  }
  if (chmod(path, (mode_t)mode) < 0) {
    rc = -errno;
    pgmld_log_error("unix", "cannot set mode %04o on %s: %s", mode, path, strerror(-rc));
    goto fail;
  }
  rc = set_group(path, pgmld_server_config(srv)->server.socket_group);
  if (rc < 0)
    goto fail;
  rc = uv_listen((uv_stream_t *)&l->pipe, LISTEN_BACKLOG, on_connection);
  if (rc < 0) {
    pgmld_log_error("unix", "cannot listen on %s: %s", path, uv_strerror(rc));
    goto fail;
  }
  *out = l;
  return 0;

fail:
  pgmld_unix_listener_close(l);
  return rc;
}

void pgmld_unix_listener_close(pgmld_unix_listener_t *l)
{
  struct stat st;

  if (uv_is_closing((uv_handle_t *)&l->pipe))
    return;
  /* Remove the file only if it is still ours: a second pgmld started by
   * mistake must not delete the socket of the one that is running. */
  if (l->bound && stat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
    unlink(l->path);
  l->reject_again = 0;
  uv_close((uv_handle_t *)&l->retry, on_listener_closed);
  uv_close((uv_handle_t *)&l->pipe, on_listener_closed);
}
