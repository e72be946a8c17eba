/* fake_server.h - a scripted pgmld stand-in for libpgml's unit tests: a real
 * Unix socket in a temporary directory, frames read and written with
 * protobuf-c (the daemon's codec, not the client's).
 *
 * Two ways to run it:
 *   - in the test's own thread: fake_pump() polls the client and the server
 *     together, steps the client and moves the server's bytes, so a test can
 *     script exactly what the server does and when (partial reads and
 *     writes, answers out of order, a dropped connection);
 *   - echo_start(): a thread that answers every REQUEST with its own payload
 *     (for the blocking API and the libuv adapter, which block in poll()).
 */
#ifndef PGML_TEST_FAKE_SERVER_H
#define PGML_TEST_FAKE_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "pgml/client.h"
#include "pgml/v1/frame.pb-c.h"

#define FAKE_MAX_FRAMES 4096

typedef struct fake_s {
  char dir[256];
  char path[300];
  int lfd;                  /* listening socket */
  int fd;                   /* the accepted connection, or -1 */
  size_t accepted;          /* connections accepted so far */
  uint8_t *in;              /* bytes read, not yet a whole frame */
  size_t in_len, in_cap;
  uint8_t *out;             /* bytes to write */
  size_t out_len, out_off, out_cap;
  size_t read_limit;        /* > 0: read at most this many bytes per pump */
  size_t write_limit;       /* > 0: write at most this many bytes per pump */
  Pgml__V1__Frame *frames[FAKE_MAX_FRAMES];   /* received, oldest first */
  size_t nframes;
} fake_t;

/* Listens on a new socket; f->path is its path. */
void fake_start(fake_t *f);
/* Closes everything, removes the socket and frees the frames. */
void fake_stop(fake_t *f);
/* One round: poll the client's and the server's descriptors (at most a few
 * milliseconds), step the client, accept, read and write for the server. */
void fake_pump(fake_t *f, pgml_client_t *c);
/* Pumps until `cond` holds; fails the test after many rounds instead of
 * hanging (a bound on the work, not a timing assertion). */
#define FAKE_PUMP_UNTIL(f, c, cond)                                            \
  do {                                                                         \
    int rounds_ = 0;                                                           \
    while (!(cond)) {                                                          \
      if (++rounds_ > 20000)                                                   \
        fail_msg("gave up waiting for %s", #cond);                             \
      fake_pump(f, c);                                                         \
    }                                                                          \
  } while (0)

/* Queues a RESPONSE for request `id`. */
void fake_respond(fake_t *f, uint64_t id, int code, const void *payload, size_t len,
                  const char *message, const char *details);
/* Queues any frame. */
void fake_send_frame(fake_t *f, const Pgml__V1__Frame *fr);
/* Queues raw bytes as they are (a header must be included by the caller). */
void fake_send_raw(fake_t *f, const void *bytes, size_t len);
/* Closes the accepted connection and forgets its pending bytes. */
void fake_drop(fake_t *f);
/* Frees the frames received so far. */
void fake_clear_frames(fake_t *f);

/* The echo server thread. */
typedef struct echo_s {
  fake_t f;
  pthread_t thread;
  int stop_pipe[2];
  size_t answered;
} echo_t;

void echo_start(echo_t *e);
void echo_stop(echo_t *e);

#endif
