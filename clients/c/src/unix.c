/* unix.c - the Unix-socket stream transport: length-prefixed frames over a
 * non-blocking SOCK_STREAM connection. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "alloc.h"
#include "frame.h"
#include "pgml/client.h"
#include "transport.h"

/* Frames gathered into one sendmsg(). */
#define MAX_IOV 64
/* Reads per io() call, so that a server sending without pause cannot keep
 * the client from its deadlines and callbacks. */
#define MAX_READS 64
#define READ_CHUNK (64u * 1024u)

typedef struct {
  pgml__transport_t base;
  int fd;
  int connecting;              /* connect() returned EINPROGRESS */
  pgml__outbuf_t *head;        /* queued frames, oldest first */
  pgml__outbuf_t *tail;
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
  pgml__outbuf_t *b;

  if (u->fd >= 0)
    close(u->fd);
  u->fd = -1;
  u->connecting = 0;
  u->base.connected = 0;
  while ((b = u->head) != NULL) {
    u->head = b->next;
    pgml__free(b);
  }
  u->tail = NULL;
  pgml_frame_reader_free(&u->reader);
  pgml_frame_reader_init(&u->reader, u->max_frame);
}

static void unix_destroy(pgml__transport_t *t)
{
  unix_close(t);
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
  b->off = 0;
  b->next = NULL;
  if (u->tail != NULL)
    u->tail->next = b;
  else
    u->head = b;
  u->tail = b;
}

static int finish_connect(unix_t *u)
{
  int so_err = 0;
  socklen_t len = sizeof(so_err);

  if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &so_err, &len) != 0)
    return set_err(u, -errno, "getsockopt");
  if (so_err != 0)
    return set_err(u, -so_err, "connect");
  u->connecting = 0;
  u->base.connected = 1;
  return 0;
}

/* Writes queued frames until the queue is empty or the socket is full. */
static int flush(unix_t *u)
{
  while (u->head != NULL) {
    struct iovec iov[MAX_IOV];
    struct msghdr msg;
    pgml__outbuf_t *b = u->head;
    ssize_t n;
    int cnt = 0;

    for (; b != NULL && cnt < MAX_IOV; b = b->next, cnt++) {
      iov[cnt].iov_base = b->start + b->off;
      iov[cnt].iov_len = b->len - b->off;
    }
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)cnt;
    /* MSG_NOSIGNAL: a peer that went away is an error to report, not a
     * SIGPIPE that kills the embedding program. */
    n = sendmsg(u->fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return set_err(u, -errno, "write");
    }
    while (n > 0) {
      size_t left = u->head->len - u->head->off;
      if ((size_t)n < left) {
        u->head->off += (size_t)n;
        break;
      }
      n -= (ssize_t)left;
      b = u->head;
      u->head = b->next;
      pgml__free(b);
    }
    if (u->head == NULL)
      u->tail = NULL;
  }
  return 0;
}

/* Reads what is there and hands over every whole frame. */
static int drain(unix_t *u, pgml__frame_fn on_frame, void *ctx)
{
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
    n = recv(u->fd, space, room, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return set_err(u, -errno, "read");
    }
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
  if (revents & PGML_EV_READ) {
    rc = drain(u, on_frame, ctx);
    if (rc < 0)
      return rc;
  }
  rc = flush(u);
  if (rc < 0) {
    /* The server may have explained why before it went away (a frame with
     * id 0); read what it sent so that the reason reaches the caller. */
    char write_err[sizeof(u->base.err)];
    int rrc;

    memcpy(write_err, u->base.err, sizeof(write_err));
    rrc = drain(u, on_frame, ctx);
    if (rrc < 0 && rrc != -ECONNRESET)
      return rrc;
    memcpy(u->base.err, write_err, sizeof(write_err));
    return rc;
  }
  return 0;
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
  return PGML_EV_READ | (u->head != NULL ? PGML_EV_WRITE : 0u);
}

static const pgml__transport_ops_t unix_ops = {
  .scheme = "unix",
  .headroom = PGML_FRAME_HEADER_SIZE,
  .open = unix_open,
  .io = unix_io,
  .send = unix_send,
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
