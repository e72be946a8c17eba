/* sdnotify.h - systemd's service protocols, implemented directly (no
 * libsystemd): readiness and status notification, the watchdog interval,
 * and socket activation.
 *
 * Notification (sd_notify(3)): when $NOTIFY_SOCKET names an AF_UNIX
 * datagram socket ("/run/systemd/notify", or "@name" in the abstract
 * namespace), each pgmld_sd_notify() sends one datagram of "KEY=value"
 * lines: READY=1, STATUS=..., STOPPING=1, RELOADING=1, WATCHDOG=1.
 *
 * Socket activation (sd_listen_fds(3)): when $LISTEN_PID is this process,
 * $LISTEN_FDS sockets start at fd 3, named by $LISTEN_FDNAMES (colon
 * separated; systemd names them after FileDescriptorName= or the socket
 * unit).  A listener takes its socket with pgmld_sd_listen_take().
 *
 * pgmld_sd_init() reads these variables once and removes them from the
 * environment, so that the embedded PostgreSQL (a child process) neither
 * notifies systemd on pgmld's behalf nor believes the sockets are its own.
 * The state is process-wide, as the environment is.
 *
 * Without systemd (no variables) every function is a cheap no-op; so it is
 * in a build with PGML_SYSTEMD=OFF (PGMLD_NO_SYSTEMD), which ignores the
 * variables (and still removes them).
 */
#ifndef PGMLD_SDNOTIFY_H
#define PGMLD_SDNOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

/* The first descriptor systemd passes. */
#define PGMLD_SD_LISTEN_FDS_START 3
/* Most passed sockets pgmld looks at; more is a unit file error. */
#define PGMLD_SD_LISTEN_FDS_MAX 16

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID, LISTEN_FDS, LISTEN_PID
 * and LISTEN_FDNAMES, unsets them, and marks the passed sockets
 * close-on-exec.  Returns 0, or -EINVAL with err naming the variable and
 * its bad value (a NOTIFY_SOCKET that is not a path or @name, a LISTEN_FDS
 * that is not a number or too large).  Calling it again re-reads nothing
 * and returns 0. */
PGMLD_MUST_CHECK int pgmld_sd_init(char *err, size_t errlen);

/* Whether $NOTIFY_SOCKET was set. */
int pgmld_sd_notify_enabled(void);

/* Sends `state` (newline-separated KEY=value lines) to the notify socket.
 * Returns 1 when sent, 0 when there is no notify socket, or a negative
 * errno (logged once at warn; later failures at debug). */
int pgmld_sd_notify(const char *state);
PGMLD_PRINTF(1, 2) int pgmld_sd_notifyf(const char *fmt, ...);

/* STATUS=<text> (control characters and newlines are replaced by spaces,
 * as one status line must stay one line). */
PGMLD_PRINTF(1, 2) void pgmld_sd_status(const char *fmt, ...);

/* The keep-alive period systemd expects: $WATCHDOG_USEC when the watchdog
 * is on for this process ($WATCHDOG_PID unset or ours), else 0. */
uint64_t pgmld_sd_watchdog_usec(void);

/* CLOCK_MONOTONIC in microseconds, for RELOADING=1's MONOTONIC_USEC. */
uint64_t pgmld_sd_monotonic_usec(void);

/* Passed sockets not taken yet. */
size_t pgmld_sd_listen_count(void);

/* Takes one passed socket for a listener: the one named `name`; else, when
 * `others` is not NULL, the first one not taken whose name is not in
 * `others` (NULL-terminated: the names other listeners claim), so that an
 * unnamed socket or one named after its unit goes to the main listener.
 * Returns the descriptor, now the caller's, or -ENOENT when there is none.
 * *got_name (may be NULL) gets its name ("" if unnamed), valid until
 * pgmld__sd_reset(). */
int pgmld_sd_listen_take(const char *name, const char *const *others,
                         const char **got_name);

/* Closes, with a warning naming each, the passed sockets no listener took.
 * Returns how many there were. */
size_t pgmld_sd_listen_close_rest(void);

/* Checks that fd is a socket of `family` (AF_UNIX, AF_INET...) and `type`
 * (SOCK_STREAM ...).  Returns 0, -ENOTSOCK or -EPROTOTYPE with err saying
 * what it is instead ("fd 3 (pgmld.socket) is an AF_INET datagram
 * socket; the unix listener needs an AF_UNIX stream socket"). */
PGMLD_MUST_CHECK int pgmld_sd_check_socket(int fd, const char *fd_name, int family,
                                           int type, const char *what, char *err,
                                           size_t errlen);

/* Forgets everything read by pgmld_sd_init() (closing no passed socket),
 * so that a test can run it again. */
void pgmld__sd_reset(void);

#endif
