/* unix.h - the Unix-socket listener and its stream transport.
 *
 * A stream carries frames as a 4-byte big-endian length and a body
 * (clients/c/src/frame.h); the transport reads in large chunks straight
 * into the frame reader's buffer and batches its writes.
 */
#ifndef PGMLD_UNIX_H
#define PGMLD_UNIX_H

#include "core/common.h"
#include "core/server.h"

typedef struct pgmld_unix_listener_s pgmld_unix_listener_t;

/* Listens on `path` with permission bits `mode`.  A socket file left by a
 * crashed run (nothing answers a connect) is replaced; if something answers,
 * or the path is not a socket, start-up must stop.  Returns 0 and *out
 * (closed with pgmld_unix_listener_close()), or a negative errno / libuv
 * code with the reason logged ("another process is listening on ..."). */
PGMLD_MUST_CHECK int pgmld_unix_listen(pgmld_server_t *srv, const char *path,
                                       unsigned mode, pgmld_unix_listener_t **out);

/* Stops accepting and removes the socket file if it is still the one this
 * listener created.  The listener is freed once its handle has closed. */
void pgmld_unix_listener_close(pgmld_unix_listener_t *l);

#endif
