/* pglog.c - marks child runs in postgres.log and extracts why a child failed. */
#include "embedded/pglog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

off_t pgmld__pglog_offset(int fd) {
  struct stat sb;

  return fstat(fd, &sb) == 0 ? sb.st_size : 0;
}

void pgmld__pglog_mark(int fd, const char *fmt, ...) {
  char line[1024];
  struct tm tm;
  time_t now = time(NULL);
  va_list ap;
  size_t n;
  int k;

  gmtime_r(&now, &tm);
  n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S UTC pgmld: ", &tm);
  va_start(ap, fmt);
  k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
  va_end(ap);
  if (k < 0)
    return;
  n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k : sizeof(line) - n - 2;
  line[n++] = '\n';
  /* O_APPEND makes the write atomic with respect to the child's lines. */
  while (write(fd, line, n) < 0 && errno == EINTR)
    ;
}

/* The part of `line` that says what happened: from the severity keyword
 * on, dropping the "2026-01-01 00:00:00.000 UTC [123] " prefix. */
static const char *strip_prefix(const char *line, const char *kw) {
  const char *p = strstr(line, kw);

  return p ? p : line;
}

static const char *find_keyword(const char *line, const char *const *kws, size_t nkws) {
  size_t i;

  for (i = 0; i < nkws; i++)
    if (strstr(line, kws[i]))
      return kws[i];
  return NULL;
}

/* Appends `s` to out[*len..] with a separating space and collapsing runs
 * of blanks (PostgreSQL pads after "FATAL:"). */
static void append(char *out, size_t outsz, size_t *len, const char *s) {
  int blank = *len > 0;

  if (*len > 0 && *len + 1 < outsz)
    out[(*len)++] = ' ';
  for (; *s && *len + 1 < outsz; s++) {
    int is_blank = *s == ' ' || *s == '\t';
    if (is_blank && blank)
      continue;
    blank = is_blank;
    out[(*len)++] = *s;
  }
  out[*len] = '\0';
}

int pgmld__pglog_last_error(int fd, off_t from, char *out, size_t outsz) {
  static const char *const errkw[] = {"PANIC:", "FATAL:", "error:"};
  static const char *const morekw[] = {"DETAIL:", "HINT:", "hint:", "detail:"};
  char buf[PGMLD__PGLOG_TAIL_MAX + 1];
  char *lines[512];
  size_t nlines = 0;
  off_t end = pgmld__pglog_offset(fd);
  ssize_t got;
  size_t len = 0;
  size_t i, last = (size_t)-1;

  if (outsz == 0)
    return 0;
  out[0] = '\0';
  if (end - from > PGMLD__PGLOG_TAIL_MAX)
    from = end - PGMLD__PGLOG_TAIL_MAX;
  if (from < 0 || end <= from)
    return 0;
  do
    got = pread(fd, buf, (size_t)(end - from), from);
  while (got < 0 && errno == EINTR);
  if (got <= 0)
    return 0;
  buf[got] = '\0';

  for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    if (nlines == PGMLD_ARRAY_LEN(lines)) {
      memmove(lines, lines + 1, sizeof(lines) - sizeof(lines[0]));
      nlines--;
    }
    lines[nlines++] = l;
  }
  for (i = nlines; i-- > 0;) {
    if (find_keyword(lines[i], errkw, PGMLD_ARRAY_LEN(errkw))) {
      last = i;
      break;
    }
  }
  if (last == (size_t)-1) {
    for (i = nlines; i-- > 0;) {
      if (lines[i][strspn(lines[i], " \t\r")] != '\0') {
        append(out, outsz, &len, lines[i]);
        break;
      }
    }
    return 0;
  }
  append(out, outsz, &len,
         strip_prefix(lines[last], find_keyword(lines[last], errkw, PGMLD_ARRAY_LEN(errkw))));
  for (i = last + 1; i < nlines; i++) {
    const char *kw = find_keyword(lines[i], morekw, PGMLD_ARRAY_LEN(morekw));
    if (!kw)
      break;
    append(out, outsz, &len, strip_prefix(lines[i], kw));
  }
  return 1;
}
