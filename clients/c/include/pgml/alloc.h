/* alloc.h - routes every allocation libpgml makes to the embedder's allocator.
 *
 * libpgml allocates only through one internal wrapper; this header lets a
 * program (or pgmld, which shares the stream framing with the client) put
 * its own functions behind it.  The setting is process-wide: call it before
 * any client exists and before any other thread uses the library.
 *
 * Decoded nanopb messages (the `msg` of a pgml_msg_cb, the response filled
 * in by pgml_call_sync) are allocated by nanopb itself, which calls the C
 * library's realloc() and free(); release them with pb_release() only.
 */
#ifndef PGML_ALLOC_H
#define PGML_ALLOC_H

#include <stddef.h>

#include "pgml/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void *(*pgml_malloc_fn)(size_t size);
typedef void *(*pgml_realloc_fn)(void *p, size_t size);
typedef void (*pgml_free_fn)(void *p);

/* Installs malloc/realloc/free replacements; they must behave like the C
 * library's (realloc(NULL, n) allocates, free(NULL) does nothing).  All three
 * NULL restores the C library's.  Returns 0, or -EINVAL when only some are
 * NULL (nothing changes).  Memory allocated before the change is freed with
 * the functions in force when it is freed, so change it only while libpgml
 * holds no memory. */
PGML_MUST_CHECK int pgml_set_allocator(pgml_malloc_fn m, pgml_realloc_fn r,
                                       pgml_free_fn f);

#ifdef __cplusplus
}
#endif

#endif
