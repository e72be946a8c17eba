/* utf8.h - UTF-8 validation and code-point stepping for the text layer.
 *
 * Everything pgmld splits, embeds or stores as PostgreSQL text is UTF-8.
 * The validator is strict (RFC 3629): no overlong forms, no UTF-16
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
 * sequence.  The stepping functions assume text that passed validation,
 * except pgmld_utf8_decode() which checks every sequence it reads.
 *
 * Errors: pgmld_utf8_check() returns 0 or -EINVAL and records an
 * INVALID_ARGUMENT status naming the byte offset; the rest cannot fail.
 */
#ifndef PGMLD_TEXT_UTF8_H
#define PGMLD_TEXT_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"
#include "rpc/status.h"

/* Decodes the sequence at s[0..len), len > 0.  Returns its length in bytes
 * (1..4) and sets *cp, or returns 0 when the bytes there are not a valid
 * sequence (then *cp is U+FFFD). */
size_t pgmld_utf8_decode(const char *s, size_t len, uint32_t *cp);

/* The offset of the first byte that does not start a valid sequence, or
 * len when all of s[0..len) is valid UTF-8. */
size_t pgmld_utf8_find_invalid(const char *s, size_t len);

/* Checks that s[0..len) is valid UTF-8 without NUL bytes (PostgreSQL text
 * cannot hold U+0000).  On failure records INVALID_ARGUMENT naming `what`
 * and the byte offset ("text: invalid UTF-8 at byte 17") and returns
 * -EINVAL. */
PGMLD_MUST_CHECK int pgmld_utf8_check(const char *s, size_t len, const char *what,
                                      pgmld_status_t *st);

/* Length in bytes of the sequence that starts with `lead` in valid text:
 * 1..4 (1 for a byte that cannot start a sequence, so stepping always
 * advances). */
static inline size_t pgmld_utf8_seq_len(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return lead < 0xF8 ? 4 : 1;
}

/* Number of code points in valid text s[0..len). */
size_t pgmld_utf8_count(const char *s, size_t len);

/* Byte offset just after the first n code points of valid text s[0..len),
 * or len when it holds fewer. */
size_t pgmld_utf8_advance(const char *s, size_t len, size_t n);

#endif
