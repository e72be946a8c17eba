/* alloc.h - the daemon's one allocation wrapper.
 *
 * Every allocation in pgmld goes through these functions (jansson and
 * protobuf-c are given them too), so that a test can make the Nth
 * allocation fail and check that nothing leaks or crashes.  They behave like
 * their libc namesakes; the caller owns what they return and frees it with
 * pgmld_free().
 */
#ifndef PGMLD_ALLOC_H
#define PGMLD_ALLOC_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "core/common.h"

PGMLD_MUST_CHECK void *pgmld_malloc(size_t size);
PGMLD_MUST_CHECK void *pgmld_calloc(size_t n, size_t size);
PGMLD_MUST_CHECK void *pgmld_realloc(void *p, size_t size);
PGMLD_MUST_CHECK char *pgmld_strdup(const char *s);
PGMLD_MUST_CHECK char *pgmld_strndup(const char *s, size_t n);
/* Formats into a new string; NULL on allocation failure. */
PGMLD_MUST_CHECK PGMLD_PRINTF(1, 2) char *pgmld_asprintf(const char *fmt, ...);
void pgmld_free(void *p);

/* For protobuf_c_message_unpack()/pack: allocates through the wrapper. */
extern ProtobufCAllocator pgmld_protobuf_allocator;

/* Fault injection, for tests: the nth allocation from now on (1-based)
 * fails, and every one after it too when `sticky`.  0 turns it off. */
void pgmld_alloc_fail_after(unsigned long nth, int sticky);
/* Allocations made since start (for leak-free checks in tests). */
unsigned long pgmld_alloc_count(void);
/* Blocks allocated and not yet freed: a test compares it before and after. */
long pgmld_alloc_live(void);
/* Allocations that failed since start, injected or real.  A caller whose
 * library call failed without saying why (protobuf_c_message_unpack returns
 * NULL for bad input and for no memory alike) compares it before and after
 * to tell the two apart. */
unsigned long pgmld_alloc_failures(void);

/* Installs the wrapper as jansson's allocator.  Called once at start-up. */
void pgmld_alloc_init(void);

#endif
