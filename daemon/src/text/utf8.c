/* utf8.c - strict UTF-8 validation and code-point stepping. */
#include "text/utf8.h"

#include <errno.h>

size_t pgmld_utf8_decode(const char *s, size_t len, uint32_t *cp) {
  const unsigned char *p = (const unsigned char *)s;
  uint32_t c, min;
  size_t n, i;

  *cp = 0xFFFD;
  if (p[0] < 0x80) {
    *cp = p[0];
    return 1;
  }
  if (p[0] < 0xC2) /* continuation byte, or the overlong leads C0/C1 */
    return 0;
  if (p[0] < 0xE0) {
    n = 2;
    c = p[0] & 0x1F;
    min = 0x80;
  } else if (p[0] < 0xF0) {
    n = 3;
    c = p[0] & 0x0F;
    min = 0x800;
  } else if (p[0] < 0xF5) {
    n = 4;
    c = p[0] & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (len < n)
    return 0;
  for (i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    c = (c << 6) | (p[i] & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
    return 0;
  *cp = c;
  return n;
}

size_t pgmld_utf8_find_invalid(const char *s, size_t len) {
  size_t i = 0, n;
  uint32_t cp;

  while (i < len) {
    /* ASCII runs are the common case: skip them without decoding. */
    if ((unsigned char)s[i] < 0x80) {
      i++;
      continue;
    }
    n = pgmld_utf8_decode(s + i, len - i, &cp);
    if (n == 0)
      return i;
    i += n;
  }
  return len;
}

int pgmld_utf8_check(const char *s, size_t len, const char *what, pgmld_status_t *st) {
  size_t bad = pgmld_utf8_find_invalid(s, len);
  size_t i;

  for (i = 0; i < bad; i++) {
    if (s[i] == '\0') {
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "%s: NUL character at byte %zu (PostgreSQL text cannot hold U+0000)",
                       what, i);
      return -EINVAL;
    }
  }
  if (bad < len) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "%s: invalid UTF-8 at byte %zu (0x%02X)", what,
                     bad, (unsigned)(unsigned char)s[bad]);
    return -EINVAL;
  }
  return 0;
}

size_t pgmld_utf8_count(const char *s, size_t len) {
  size_t i, n = 0;

  /* Every byte that is not a continuation byte starts a code point. */
  for (i = 0; i < len; i++)
    n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

size_t pgmld_utf8_advance(const char *s, size_t len, size_t n) {
  size_t i = 0;

  while (n > 0 && i < len) {
    i += pgmld_utf8_seq_len((unsigned char)s[i]);
    n--;
  }
  return i < len ? i : len;
}
