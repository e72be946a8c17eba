/* wordchar.h - which code points belong to words (letters, marks, digits).
 *
 * ASCII: [A-Za-z0-9].  Beyond ASCII: Unicode general categories L*, M*, Nd
 * and Nl, from the table wordchar_table.inc that gen_wordchar.py generates
 * (the Unicode version is PGMLD_WORDCHAR_UNICODE_VERSION).  Everything
 * else, punctuation, symbols, spaces and controls, separates words.
 */
#ifndef PGMLD_TEXT_WORDCHAR_H
#define PGMLD_TEXT_WORDCHAR_H

#include <stdint.h>

/* 1 when cp is a word character, else 0. */
int pgmld_unicode_is_word(uint32_t cp);

/* The Unicode version the table was generated from, e.g. "14.0.0". */
const char *pgmld_unicode_version(void);

#endif
