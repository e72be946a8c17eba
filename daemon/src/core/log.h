/* log.h - levelled logging to stderr.
 *
 * One line per event: "2026-11-24T19:36:27.123Z pgmld[pid] LEVEL where: message".
 * `where` names the module and, for connections and calls, the peer and
 * request id.  Secrets (tokens, passwords in URLs) are never logged.
 * Control characters in the message are written as \xNN, so text that came
 * from a client cannot start a line of its own.  Logging never fails and
 * leaves errno as it was.
 */
#ifndef PGMLD_LOG_H
#define PGMLD_LOG_H

#include "core/common.h"

typedef enum {
  PGMLD_LOG_ERROR = 0,
  PGMLD_LOG_WARN = 1,
  PGMLD_LOG_INFO = 2,
  PGMLD_LOG_DEBUG = 3,
} pgmld_log_level_t;

void pgmld_log_set_level(pgmld_log_level_t level);
pgmld_log_level_t pgmld_log_get_level(void);
/* Parses "error", "warn", "info", "debug" (any case); returns 0 or -EINVAL. */
PGMLD_MUST_CHECK int pgmld_log_parse_level(const char *s, pgmld_log_level_t *out);
/* "ERROR", "WARN", "INFO", "DEBUG"; "?" for a value outside the enum. */
const char *pgmld_log_level_name(pgmld_log_level_t level);

PGMLD_PRINTF(3, 4)
void pgmld_log(pgmld_log_level_t level, const char *where, const char *fmt, ...);

#define pgmld_log_error(where, ...) pgmld_log(PGMLD_LOG_ERROR, where, __VA_ARGS__)
#define pgmld_log_warn(where, ...)  pgmld_log(PGMLD_LOG_WARN, where, __VA_ARGS__)
#define pgmld_log_info(where, ...)  pgmld_log(PGMLD_LOG_INFO, where, __VA_ARGS__)
#define pgmld_log_debug(where, ...)                                            \
  do {                                                                         \
    if (pgmld_log_get_level() >= PGMLD_LOG_DEBUG)                              \
      pgmld_log(PGMLD_LOG_DEBUG, where, __VA_ARGS__);                          \
  } while (0)

#endif
