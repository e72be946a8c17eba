/* sock.c - the non-blocking socket work the stream transports share: the
 * write queue, gathered writes, reads, and finishing a background connect. */
#include "sock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "alloc.h"
#include "pgml/client.h"

/* Frames gathered into one sendmsg(). */
#define MAX_IOV 64

void pgml__outq_push(pgml__outq_t *q, pgml__outbuf_t *b)
{
  b->off = 0;
  b->next = NULL;
  if (q->tail != NULL)
    q->tail->next = b;
  else
    q->head = b;
  q->tail = b;
}

void pgml__outq_clear(pgml__outq_t *q)
{
  pgml__outbuf_t *b;

  while ((b = q->head) != NULL) {
    q->head = b->next;
    pgml__free(b);
  }
  q->tail = NULL;
}

void pgml__outq_consume(pgml__outq_t *q, size_t n)
{
  while (n > 0 && q->head != NULL) {
    pgml__outbuf_t *b = q->head;
    size_t left = b->len - b->off;

    if (n < left) {
      b->off += n;
      break;
    }
    n -= left;
    q->head = b->next;
    pgml__free(b);
  }
  if (q->head == NULL)
    q->tail = NULL;
}

ssize_t pgml__sock_writev(int fd, const pgml__outq_t *q)
{
  struct iovec iov[MAX_IOV];
  struct msghdr msg;
  const pgml__outbuf_t *b = q->head;
  int cnt = 0;
  ssize_t n;

  for (; b != NULL && cnt < MAX_IOV; b = b->next, cnt++) {
    iov[cnt].iov_base = b->start + b->off;
    iov[cnt].iov_len = b->len - b->off;
  }
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = iov;
  msg.msg_iovlen = (size_t)cnt;
  /* MSG_NOSIGNAL: a peer that went away is an error to report, not a
   * SIGPIPE that kills the embedding program. */
  while ((n = sendmsg(fd, &msg, MSG_NOSIGNAL)) < 0) {
    if (errno == EINTR)
      continue;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
  return n;
}

ssize_t pgml__sock_recv(int fd, void *buf, size_t len)
{
  ssize_t n;

  while ((n = recv(fd, buf, len, 0)) < 0) {
    if (errno == EINTR)
      continue;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
  return n;
}

ssize_t pgml__sock_send(int fd, const void *buf, size_t len)
{
  ssize_t n;

  while ((n = send(fd, buf, len, MSG_NOSIGNAL)) < 0) {
    if (errno == EINTR)
      continue;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
  return n;
}

int pgml__sock_connect_result(int fd, const char **what)
{
  int so_err = 0;
  socklen_t len = sizeof(so_err);

  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &len) != 0) {
    *what = "getsockopt";
    return -errno;
  }
  *what = "connect";
  return -so_err;
}

int pgml__sock_io(pgml__transport_t *t, unsigned revents, pgml__drain_fn drain,
                  pgml__flush_fn flush, pgml__frame_fn on_frame, void *ctx)
{
  char write_err[sizeof(t->err)];
  int rc, wrc;

  if (revents & PGML_EV_READ) {
    rc = drain(t, on_frame, ctx);
    if (rc < 0)
      return rc;
  }
  wrc = flush(t);
  if (wrc == 0)
    return 0;
  memcpy(write_err, t->err, sizeof(write_err));
  rc = drain(t, on_frame, ctx);
  if (rc < 0 && rc != -ECONNRESET)
    return rc;
  memcpy(t->err, write_err, sizeof(write_err));
  return wrc;
}
