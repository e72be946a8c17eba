/* unix.c - the Unix-socket stream transport: length-prefixed frames over a
 * non-blocking SOCK_STREAM connection. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alloc.h"
#include "frame.h"
#include "pgml/client.h"
#include "sock.h"
#include "transport.h"

/* Reads per io() call, so that a server sending without pause cannot keep
 * the client from its deadlines and callbacks. */
#define MAX_READS 64
#define READ_CHUNK (64u * 1024u)

typedef struct {
  pgml__transport_t base;
  int fd;
  int connecting;              /* connect() returned EINPROGRESS */
  pgml__outq_t out;             /* queued frames, oldest first */
  pgml__outbuf_t *batch;        /* the last of `out`, holding appended frames,
                                 * while more may be appended to it; NULL
                                 * once written or followed by a sent frame */
  pgml__outbuf_t *spare;        /* the next batch, reserved; owned */
  pgml_frame_reader_t reader;
  uint32_t max_frame;
  struct sockaddr_un addr;
  socklen_t addrlen;
} unix_t;

static int set_err(unix_t *u, int err, const char *what)
{
  snprintf(u->base.err, sizeof(u->base.err), "%s(%s): %s", what, u->addr.sun_path,
           strerror(-err));
  return err;
}

static void unix_close(pgml__transport_t *t)
{
  unix_t *u = (unix_t *)t;

  if (u->fd >= 0)
    close(u->fd);
  u->fd = -1;
  u->connecting = 0;
  u->base.connected = 0;
  pgml__outq_clear(&u->out);
  u->batch = NULL;
  pgml_frame_reader_free(&u->reader);
  pgml_frame_reader_init(&u->reader, u->max_frame);
}

static void unix_destroy(pgml__transport_t *t)
{
  unix_t *u = (unix_t *)t;

  unix_close(t);
  pgml__free(u->spare);
  pgml__free(t);
}

static int unix_open(pgml__transport_t *t)
{
  unix_t *u = (unix_t *)t;
  int err;

  if (u->fd >= 0)
    return u->base.connected ? 0 : -EINPROGRESS;
  u->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (u->fd < 0)
    return set_err(u, -errno, "socket");
  if (connect(u->fd, (const struct sockaddr *)&u->addr, u->addrlen) == 0) {
    u->base.connected = 1;
    return 0;
  }
  err = -errno;
  /* A non-blocking connect interrupted by a signal carries on in the
   * background, like EINPROGRESS. */
  if (err == -EINPROGRESS || err == -EINTR) {
    u->connecting = 1;
    return -EINPROGRESS;
  }
  close(u->fd);
  u->fd = -1;
  /* On Linux a Unix socket whose listen backlog is full refuses at once with
   * EAGAIN instead of connecting in the background. */
  if (err == -EAGAIN) {
    set_err(u, err, "connect");
    return -EAGAIN;
  }
  return set_err(u, err, "connect");
}

static void unix_send(pgml__transport_t *t, pgml__outbuf_t *b)
{
  unix_t *u = (unix_t *)t;

  pgml_frame_put_header(b->data, (uint32_t)b->body_len);
  b->start = b->data;
  b->len = PGML_FRAME_HEADER_SIZE + b->body_len;
  pgml__outq_push(&u->out, b);
  /* What is appended now must go after b. */
  u->batch = NULL;
}

/* Frames appended into one batch buffer, at most: a batch is one
 * allocation for a whole turn's worth of small requests. */
#define BATCH_CAP (16u * 1024u)
/* Larger frames are sent in buffers of their own. */
#define BATCH_FRAME_MAX 1024u

static int unix_reserve(pgml__transport_t *t, size_t body_len)
{
  unix_t *u = (unix_t *)t;

  if (body_len > BATCH_FRAME_MAX - PGML_FRAME_HEADER_SIZE)
    return -EMSGSIZE;
  /* A spare always, even when the batch has room: a close() before the
   * append() drops the batch. */
  if (u->spare == NULL) {
    u->spare = pgml__outbuf_new(0, BATCH_CAP);
    if (u->spare == NULL)
      return -ENOMEM;
  }
  return 0;
}

static uint8_t *unix_append(pgml__transport_t *t, size_t body_len)
{
  unix_t *u = (unix_t *)t;
  size_t frame = PGML_FRAME_HEADER_SIZE + body_len;
  pgml__outbuf_t *b = u->batch;
  uint8_t *p;

  if (b == NULL || b->len + frame > BATCH_CAP) {
    /* unix_reserve() made sure there is one. */
    b = u->spare;
    u->spare = NULL;
    b->start = b->data;
    b->len = 0;
    pgml__outq_push(&u->out, b);
    u->batch = b;
  }
  /* The batch may be partly written: its start stays, its end grows. */
  p = b->data + b->len;
  pgml_frame_put_header(p, (uint32_t)body_len);
  b->len += frame;
  return p + PGML_FRAME_HEADER_SIZE;
}

static int finish_connect(unix_t *u)
{
  const char *what;
  int rc = pgml__sock_connect_result(u->fd, &what);

  if (rc < 0)
    return set_err(u, rc, what);
  u->connecting = 0;
  u->base.connected = 1;
  return 0;
}

/* Writes queued frames until the queue is empty or the socket is full. */
static int flush(pgml__transport_t *t)
{
  unix_t *u = (unix_t *)t;

  while (u->out.head != NULL) {
    ssize_t n = pgml__sock_writev(u->fd, &u->out);

    if (n == -EAGAIN)
      return 0;
    if (n < 0)
      return set_err(u, (int)n, "write");
    pgml__outq_consume(&u->out, (size_t)n);
    /* The batch is always last: an empty queue means it was written and
     * freed. */
    if (u->out.head == NULL)
      u->batch = NULL;
  }
  return 0;
}

/* Reads what is there and hands over every whole frame. */
static int drain(pgml__transport_t *t, pgml__frame_fn on_frame, void *ctx)
{
  unix_t *u = (unix_t *)t;
  int reads;

  for (reads = 0; reads < MAX_READS; reads++) {
    const uint8_t *body;
    uint32_t body_len;
    uint8_t *space;
    size_t room;
    ssize_t n;
    int rc;

    rc = pgml_frame_reader_space(&u->reader, READ_CHUNK, &space, &room);
    if (rc < 0) {
      snprintf(u->base.err, sizeof(u->base.err),
               "out of memory for the input buffer of %s", u->addr.sun_path);
      return rc;
    }
    n = pgml__sock_recv(u->fd, space, room);
    if (n == -EAGAIN)
      return 0;
    if (n < 0)
      return set_err(u, (int)n, "read");
    if (n == 0) {
      snprintf(u->base.err, sizeof(u->base.err), "the server closed the connection");
      return -ECONNRESET;
    }
    pgml_frame_reader_commit(&u->reader, (size_t)n);
    while ((rc = pgml_frame_reader_next(&u->reader, &body, &body_len)) == 1) {
      rc = on_frame(ctx, body, body_len);
      if (rc < 0)
        return rc;
    }
    if (rc == -EMSGSIZE) {
      snprintf(u->base.err, sizeof(u->base.err),
               "the server sent a frame of %u bytes, over max_frame_size %u",
               u->reader.bad_len, u->reader.max_frame);
      return rc;
    }
  }
  return 0;
}

static int unix_io(pgml__transport_t *t, unsigned revents, pgml__frame_fn on_frame,
                   void *ctx)
{
  unix_t *u = (unix_t *)t;
  int rc;

  if (u->fd < 0)
    return 0;
  if (u->connecting) {
    if (!(revents & (PGML_EV_WRITE | PGML_EV_READ)))
      return 0;
    rc = finish_connect(u);
    if (rc < 0)
      return rc;
  }
  return pgml__sock_io(t, revents, drain, flush, on_frame, ctx);
}

static int unix_fd(const pgml__transport_t *t)
{
  return ((const unix_t *)t)->fd;
}

static unsigned unix_events(const pgml__transport_t *t)
{
  const unix_t *u = (const unix_t *)t;

  if (u->fd < 0)
    return 0;
  if (u->connecting)
    return PGML_EV_WRITE;
  return PGML_EV_READ | (u->out.head != NULL ? PGML_EV_WRITE : 0u);
}

static const pgml__transport_ops_t unix_ops = {
  .scheme = "unix",
  .headroom = PGML_FRAME_HEADER_SIZE,
  .open = unix_open,
  .io = unix_io,
  .send = unix_send,
  .reserve = unix_reserve,
  .append = unix_append,
  .fd = unix_fd,
  .events = unix_events,
  .close = unix_close,
  .destroy = unix_destroy,
};

int pgml__unix_create(const char *path, uint32_t max_frame, pgml__transport_t **out)
{
  unix_t *u;
  size_t len = strlen(path);

  if (len == 0)
    return -EINVAL;
  if (len >= sizeof(u->addr.sun_path))
    return -ENAMETOOLONG;
  u = pgml__calloc(1, sizeof(*u));
  if (u == NULL)
    return -ENOMEM;
  u->base.ops = &unix_ops;
  u->fd = -1;
  u->max_frame = max_frame;
  pgml_frame_reader_init(&u->reader, max_frame);
  u->addr.sun_family = AF_UNIX;
  memcpy(u->addr.sun_path, path, len + 1);
  u->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
  *out = &u->base;
  return 0;
}
