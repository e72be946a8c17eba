/* fake_server.c - the scripted pgmld stand-in (see fake_server.h). */
#define _GNU_SOURCE   /* accept4 */
#include "fake_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

static void grow(uint8_t **buf, size_t *cap, size_t need)
{
  if (need <= *cap)
    return;
  while (*cap < need)
    *cap = *cap ? *cap * 2 : 4096;
  *buf = realloc(*buf, *cap);
  assert_non_null(*buf);
}

void fake_start(fake_t *f)
{
  struct sockaddr_un addr;

  memset(f, 0, sizeof(*f));
  f->fd = -1;
  snprintf(f->dir, sizeof(f->dir), "/tmp/pgml-test-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof(f->path), "%s/s", f->dir);
  f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(f->lfd >= 0);
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->path);
  assert_int_equal(bind(f->lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  assert_int_equal(listen(f->lfd, 64), 0);
}

void fake_clear_frames(fake_t *f)
{
  size_t i;

  for (i = 0; i < f->nframes; i++)
    pgml__v1__frame__free_unpacked(f->frames[i], NULL);
  f->nframes = 0;
}

void fake_drop(fake_t *f)
{
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
  f->in_len = 0;
  f->out_len = f->out_off = 0;
}

void fake_stop(fake_t *f)
{
  fake_drop(f);
  if (f->lfd >= 0)
    close(f->lfd);
  f->lfd = -1;
  unlink(f->path);
  rmdir(f->dir);
  fake_clear_frames(f);
  free(f->in);
  free(f->out);
  f->in = f->out = NULL;
}

void fake_send_raw(fake_t *f, const void *bytes, size_t len)
{
  grow(&f->out, &f->out_cap, f->out_len + len);
  memcpy(f->out + f->out_len, bytes, len);
  f->out_len += len;
}

void fake_send_frame(fake_t *f, const Pgml__V1__Frame *fr)
{
  size_t n = pgml__v1__frame__get_packed_size(fr);
  uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};

  fake_send_raw(f, hdr, 4);
  grow(&f->out, &f->out_cap, f->out_len + n);
  assert_int_equal(pgml__v1__frame__pack(fr, f->out + f->out_len), n);
  f->out_len += n;
}

void fake_respond(fake_t *f, uint64_t id, int code, const void *payload, size_t len,
                  const char *message, const char *details)
{
  Pgml__V1__Frame fr = PGML__V1__FRAME__INIT;

  fr.id = id;
  fr.kind = PGML__V1__FRAME__KIND__RESPONSE;
  fr.code = (Pgml__V1__Code)code;
  fr.payload.data = (uint8_t *)payload;
  fr.payload.len = len;
  if (message != NULL)
    fr.message = (char *)message;
  if (details != NULL)
    fr.details = (char *)details;
  fake_send_frame(f, &fr);
}

/* Moves whole frames from f->in to f->frames. */
static void parse_frames(fake_t *f)
{
  size_t off = 0;

  while (f->in_len - off >= 4) {
    const uint8_t *p = f->in + off;
    size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    Pgml__V1__Frame *fr;

    if (f->in_len - off - 4 < n)
      break;
    fr = pgml__v1__frame__unpack(NULL, n, p + 4);
    if (fr == NULL)
      fail_msg("the fake server cannot decode a %zu-byte frame from the client", n);
    assert_true(f->nframes < FAKE_MAX_FRAMES);
    f->frames[f->nframes++] = fr;
    off += 4 + n;
  }
  memmove(f->in, f->in + off, f->in_len - off);
  f->in_len -= off;
}

/* The server's side of a round: accept, read, write. */
static void server_io(fake_t *f, short lrevents, short revents)
{
  if (lrevents & POLLIN) {
    int fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      fake_drop(f);
      f->fd = fd;
      f->accepted++;
    }
  }
  if (f->fd < 0)
    return;
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    size_t want = f->read_limit ? f->read_limit : 65536;
    ssize_t n;
    grow(&f->in, &f->in_cap, f->in_len + want);
    n = read(f->fd, f->in + f->in_len, want);
    if (n > 0) {
      f->in_len += (size_t)n;
      parse_frames(f);
    } else if (n == 0) {
      fake_drop(f);
      return;
    }
  }
  if (f->out_off < f->out_len) {
    size_t want = f->out_len - f->out_off;
    ssize_t n;
    if (f->write_limit && want > f->write_limit)
      want = f->write_limit;
    n = send(f->fd, f->out + f->out_off, want, MSG_NOSIGNAL);
    if (n > 0)
      f->out_off += (size_t)n;
    if (f->out_off == f->out_len)
      f->out_off = f->out_len = 0;
  }
}

static unsigned to_pgml(short re)
{
  return ((re & (POLLIN | POLLHUP | POLLERR)) ? PGML_EV_READ : 0u) |
         ((re & (POLLOUT | POLLERR)) ? PGML_EV_WRITE : 0u);
}

void fake_pump(fake_t *f, pgml_client_t *c)
{
  struct pollfd p[3];
  int cfd = c ? pgml_client_fd(c) : -1;
  unsigned cev = c ? pgml_client_events(c) : 0;
  int timeout = c ? pgml_client_next_timeout_ms(c) : -1;
  nfds_t n = 0;
  int ci = -1, li, si = -1;

  li = (int)n;
  p[n].fd = f->lfd;
  p[n].events = POLLIN;
  p[n++].revents = 0;
  if (f->fd >= 0) {
    si = (int)n;
    p[n].fd = f->fd;
    p[n].events = (short)(POLLIN | (f->out_off < f->out_len ? POLLOUT : 0));
    p[n++].revents = 0;
  }
  if (cfd >= 0) {
    ci = (int)n;
    p[n].fd = cfd;
    p[n].events = (short)((cev & PGML_EV_READ ? POLLIN : 0) | (cev & PGML_EV_WRITE ? POLLOUT : 0));
    p[n++].revents = 0;
  }
  if (timeout < 0 || timeout > 5)
    timeout = 5;
  assert_true(poll(p, n, timeout) >= 0);
  if (c != NULL)
    assert_int_equal(pgml_client_step(c, ci >= 0 ? to_pgml(p[ci].revents) : 0), 0);
  server_io(f, p[li].revents, si >= 0 ? p[si].revents : 0);
}

/* ------------------------------------------------------------ echo thread */

static void *echo_main(void *arg)
{
  echo_t *e = arg;
  fake_t *f = &e->f;

  for (;;) {
    struct pollfd p[3];
    nfds_t n = 2;
    size_t i;

    p[0].fd = e->stop_pipe[0];
    p[0].events = POLLIN;
    p[1].fd = f->lfd;
    p[1].events = POLLIN;
    p[0].revents = p[1].revents = 0;
    if (f->fd >= 0) {
      p[2].fd = f->fd;
      p[2].events = (short)(POLLIN | (f->out_off < f->out_len ? POLLOUT : 0));
      p[2].revents = 0;
      n = 3;
    }
    if (poll(p, n, -1) < 0)
      continue;
    if (p[0].revents)
      return NULL;
    server_io(f, p[1].revents, n == 3 ? p[2].revents : 0);
    for (i = 0; i < f->nframes; i++) {
      Pgml__V1__Frame *fr = f->frames[i];
      size_t mlen = strlen(fr->method);
      if (fr->kind != PGML__V1__FRAME__KIND__REQUEST)
        continue;
      if (mlen >= 5 && strcmp(fr->method + mlen - 5, "/Fail") == 0)
        fake_respond(f, fr->id, PGML__V1__CODE__INVALID_ARGUMENT, NULL, 0,
                     "Fail always fails", "{\"asked\":true}");
      else
        fake_respond(f, fr->id, 0, fr->payload.data, fr->payload.len, NULL, NULL);
      e->answered++;
    }
    fake_clear_frames(f);
  }
}

void echo_start(echo_t *e)
{
  memset(e, 0, sizeof(*e));
  fake_start(&e->f);
  assert_int_equal(pipe(e->stop_pipe), 0);
  assert_int_equal(pthread_create(&e->thread, NULL, echo_main, e), 0);
}

void echo_stop(echo_t *e)
{
  assert_int_equal(write(e->stop_pipe[1], "x", 1), 1);
  assert_int_equal(pthread_join(e->thread, NULL), 0);
  close(e->stop_pipe[0]);
  close(e->stop_pipe[1]);
  fake_stop(&e->f);
}
