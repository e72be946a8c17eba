/* alloc.c - the allocation wrapper and its fault injection (see alloc.h). */
#include "alloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pgml_malloc_fn malloc_fn = malloc;
static pgml_realloc_fn realloc_fn = realloc;
static pgml_free_fn free_fn = free;

/* Process-wide, and touched from every thread that uses libpgml (Node
 * worker threads, say): atomic, so the counting is exact; fault injection
 * itself is meant for single-threaded tests. */
static atomic_ulong attempts;
static atomic_ulong failures;
static atomic_ulong fail_at;    /* attempt number that fails; 0: none */
static atomic_int fail_sticky;

int pgml_set_allocator(pgml_malloc_fn m, pgml_realloc_fn r, pgml_free_fn f)
{
  if (m == NULL && r == NULL && f == NULL) {
    malloc_fn = malloc;
    realloc_fn = realloc;
    free_fn = free;
    return 0;
  }
  if (m == NULL || r == NULL || f == NULL)
    return -EINVAL;
  malloc_fn = m;
  realloc_fn = r;
  free_fn = f;
  return 0;
}

void pgml__alloc_fail_after(unsigned long nth, int sticky)
{
  atomic_store(&fail_sticky, sticky);
  atomic_store(&fail_at, nth ? atomic_load(&attempts) + nth : 0);
}

unsigned long pgml__alloc_count(void)
{
  return atomic_load(&attempts);
}

unsigned long pgml__alloc_failures(void)
{
  return atomic_load(&failures);
}

/* Counts an attempt; says whether fault injection refuses it. */
static int injected_failure(void)
{
  unsigned long n = atomic_fetch_add_explicit(&attempts, 1, memory_order_relaxed) + 1;
  unsigned long at = atomic_load_explicit(&fail_at, memory_order_relaxed);

  if (at == 0 || n < at)
    return 0;
  if (n > at && !atomic_load_explicit(&fail_sticky, memory_order_relaxed))
    return 0;
  atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
  return 1;
}

void *pgml__malloc(size_t size)
{
  if (injected_failure())
    return NULL;
  /* malloc(0) may return NULL, which callers would take for a failure. */
  return malloc_fn(size ? size : 1);
}

void *pgml__calloc(size_t n, size_t size)
{
  void *p;

  if (size != 0 && n > SIZE_MAX / size)
    return NULL;
  p = pgml__malloc(n * size);
  if (p != NULL)
    memset(p, 0, n * size);
  return p;
}

void *pgml__realloc(void *p, size_t size)
{
  if (injected_failure())
    return NULL;
  return realloc_fn(p, size ? size : 1);
}

char *pgml__strndup(const char *s, size_t n)
{
  size_t len = strnlen(s, n);
  char *d = pgml__malloc(len + 1);

  if (d == NULL)
    return NULL;
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

char *pgml__strdup(const char *s)
{
  return pgml__strndup(s, SIZE_MAX);
}

char *pgml__asprintf(const char *fmt, ...)
{
  va_list ap;
  int n;
  char *s;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  s = pgml__malloc((size_t)n + 1);
  if (s == NULL)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

void pgml__free(void *p)
{
  if (p != NULL)
    free_fn(p);
}
