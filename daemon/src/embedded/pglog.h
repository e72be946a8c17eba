/* pglog.h - pgmld's side of postgres.log: marks where each child starts and
 * pulls the reason a child failed out of what it wrote.
 *
 * The log is opened once (layout.h) and handed to every initdb and postgres
 * as stdout and stderr.  These calls do small, bounded reads and writes on
 * a local file and are used on the loop thread.
 */
#ifndef PGMLD_EMBEDDED_PGLOG_H
#define PGMLD_EMBEDDED_PGLOG_H

#include <stddef.h>
#include <sys/types.h>

#include "core/common.h"

/* At most this many bytes at the end of a child's output are examined. */
#define PGMLD__PGLOG_TAIL_MAX 16384

/* The current size of the log, where a child about to start will begin
 * writing; 0 if it cannot be known. */
off_t pgmld__pglog_offset(int fd);

/* Appends one line "<UTC time> pgmld: <message>\n" to the log, so that a
 * reader sees which run of initdb or postgres the lines below belong to.
 * Failure to write is ignored: the log is for people, not for pgmld. */
PGMLD_PRINTF(2, 3) void pgmld__pglog_mark(int fd, const char *fmt, ...);

/* Puts the most telling lines written since `from` into out[outsz]: the
 * last FATAL, PANIC or "error:" line and the DETAIL and HINT lines after
 * it, each without its timestamp prefix, joined by spaces; or, when there
 * is none of those, the last non-empty line; or "" when nothing was
 * written.  `out` is truncated to fit.  Returns 1 when an error line was
 * found, 0 when `out` holds only the last line or nothing. */
int pgmld__pglog_last_error(int fd, off_t from, char *out, size_t outsz);

#endif
