/* alloc.h - libpgml's one allocation wrapper, with fault injection.
 *
 * Every allocation libpgml makes goes through these functions, which call
 * the allocator installed with pgml_set_allocator() (the C library's by
 * default), so that a test can make the Nth allocation fail and check that
 * nothing leaks or crashes.  They behave like their C library namesakes; the
 * caller owns what they return and frees it with pgml__free().
 */
#ifndef PGML_INTERNAL_ALLOC_H
#define PGML_INTERNAL_ALLOC_H

#include <stddef.h>

#include "pgml/alloc.h"

PGML_MUST_CHECK void *pgml__malloc(size_t size);
/* Fails (NULL) when n * size overflows. */
PGML_MUST_CHECK void *pgml__calloc(size_t n, size_t size);
PGML_MUST_CHECK void *pgml__realloc(void *p, size_t size);
PGML_MUST_CHECK char *pgml__strdup(const char *s);
PGML_MUST_CHECK char *pgml__strndup(const char *s, size_t n);
/* Formats into a new string; NULL on allocation failure. */
PGML_MUST_CHECK __attribute__((format(printf, 1, 2)))
char *pgml__asprintf(const char *fmt, ...);
void pgml__free(void *p);

/* Fault injection, for tests: the nth allocation from now on (1-based)
 * fails, and every one after it too when `sticky`.  0 turns it off.  Not
 * thread-safe: tests only. */
void pgml__alloc_fail_after(unsigned long nth, int sticky);
/* Allocations attempted since the process started (failed ones included). */
unsigned long pgml__alloc_count(void);
/* Allocations refused by fault injection since the process started. */
unsigned long pgml__alloc_failures(void);

#endif
