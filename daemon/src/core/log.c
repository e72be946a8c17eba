/* log.c - levelled, one-line-per-event logging to stderr. */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* A longer line is cut and ends in "...". */
#define LINE_MAX_BYTES 2048

static pgmld_log_level_t current_level = PGMLD_LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void pgmld_log_set_level(pgmld_log_level_t level)
{
  current_level = level;
}

pgmld_log_level_t pgmld_log_get_level(void)
{
  return current_level;
}

int pgmld_log_parse_level(const char *s, pgmld_log_level_t *out)
{
  static const char *const names[] = {"error", "warn", "info", "debug"};
  size_t i;

  for (i = 0; i < PGMLD_ARRAY_LEN(names); i++) {
    if (strcasecmp(s, names[i]) == 0) {
      *out = (pgmld_log_level_t)i;
      return 0;
    }
  }
  return -EINVAL;
}

const char *pgmld_log_level_name(pgmld_log_level_t level)
{
  if ((unsigned)level >= PGMLD_ARRAY_LEN(level_names))
    return "?";
  return level_names[level];
}

/* Copies src into dst[*pos..cap), escaping control bytes as \xNN so that a
 * client-supplied string cannot forge a log line.  Stops when full. */
static void append_escaped(char *dst, size_t *pos, size_t cap, const char *src)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)src;

  for (; *s != '\0'; s++) {
    if (*s < 0x20 || *s == 0x7f) {
      if (cap - *pos < 5)
        return;
      dst[(*pos)++] = '\\';
      dst[(*pos)++] = 'x';
      dst[(*pos)++] = hex[*s >> 4];
      dst[(*pos)++] = hex[*s & 0xf];
    } else {
      if (cap - *pos < 2)
        return;
      dst[(*pos)++] = (char)*s;
    }
  }
}

void pgmld_log(pgmld_log_level_t level, const char *where, const char *fmt, ...)
{
  char msg[LINE_MAX_BYTES];
  char line[LINE_MAX_BYTES + 128];
  struct timespec ts;
  struct tm tm;
  size_t pos;
  va_list ap;
  int n, saved_errno = errno;

  if (level > current_level)
    return;

  va_start(ap, fmt);
  n = vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (n < 0)
    snprintf(msg, sizeof(msg), "(unformattable message: %s)", fmt);
  else if ((size_t)n >= sizeof(msg))
    memcpy(msg + sizeof(msg) - 4, "...", 4);

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  n = snprintf(line, sizeof(line),
               "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ pgmld[%ld] %s %s: ",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
               tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, (long)getpid(),
               pgmld_log_level_name(level), where ? where : "pgmld");
  pos = n < 0 ? 0 : (size_t)n;
  if (pos >= sizeof(line) - 1)
    pos = sizeof(line) - 2;
  append_escaped(line, &pos, sizeof(line) - 1, msg);
  line[pos++] = '\n';

  /* One write() per line so that lines from concurrent writers (the
   * embedded PostgreSQL shares stderr) do not interleave. */
  while (write(STDERR_FILENO, line, pos) < 0 && errno == EINTR)
    ;
  errno = saved_errno;
}
