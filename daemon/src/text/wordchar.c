/* wordchar.c - word-character classification by binary search of a generated range table. */
#include "text/wordchar.h"

#include <stddef.h>

#include "core/common.h"
#include "text/wordchar_table.inc"

int pgmld_unicode_is_word(uint32_t cp) {
  size_t lo = 0, hi = PGMLD_ARRAY_LEN(wordchar_ranges), mid;

  if (cp < 0x80)
    return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
  while (lo < hi) {
    mid = lo + (hi - lo) / 2;
    if (cp < wordchar_ranges[mid].lo)
      hi = mid;
    else if (cp > wordchar_ranges[mid].hi)
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}

const char *pgmld_unicode_version(void) { return PGMLD_WORDCHAR_UNICODE_VERSION; }
