/* alloc.c - the allocation wrapper, its fault injection, and the allocator
 * handed to jansson and protobuf-c. */
#include "core/alloc.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The daemon runs its loop on one thread and these counters are only read by
 * tests, so plain variables are enough. */
static unsigned long n_allocs;    /* successful allocations */
static unsigned long n_failures;  /* failed allocations, injected or real */
static long n_live;               /* blocks not yet freed */
static unsigned long fail_at;     /* 0: off; else fail when n_attempts reaches it */
static unsigned long n_attempts;  /* attempts since fault injection was armed */
static int fail_sticky;

/* Decides whether this allocation attempt is one a test asked to fail. */
static int inject_failure(void)
{
  if (fail_at == 0)
    return 0;
  n_attempts++;
  if (n_attempts == fail_at)
    return 1;
  return fail_sticky && n_attempts > fail_at;
}

static void *note(void *p)
{
  if (p == NULL) {
    n_failures++;
    return NULL;
  }
  n_allocs++;
  n_live++;
  return p;
}

void *pgmld_malloc(size_t size)
{
  if (inject_failure())
    return note(NULL);
  /* malloc(0) may return NULL, which callers would take for failure. */
  return note(malloc(size ? size : 1));
}

void *pgmld_calloc(size_t n, size_t size)
{
  if (inject_failure())
    return note(NULL);
  if (n == 0 || size == 0)
    n = size = 1;
  return note(calloc(n, size));
}

void *pgmld_realloc(void *p, size_t size)
{
  void *np;

  if (p == NULL)
    return pgmld_malloc(size);
  /* A failed realloc leaves p allocated: the caller still owns it. */
  if (inject_failure()) {
    n_failures++;
    return NULL;
  }
  np = realloc(p, size ? size : 1);
  if (np == NULL) {
    n_failures++;
    return NULL;
  }
  n_allocs++;
  return np;
}

char *pgmld_strdup(const char *s)
{
  return pgmld_strndup(s, strlen(s));
}

char *pgmld_strndup(const char *s, size_t n)
{
  size_t len = strnlen(s, n);
  char *d = pgmld_malloc(len + 1);

  if (d == NULL)
    return NULL;
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

char *pgmld_asprintf(const char *fmt, ...)
{
  va_list ap;
  int len;
  char *s;

  va_start(ap, fmt);
  len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (len < 0)
    return NULL;
  s = pgmld_malloc((size_t)len + 1);
  if (s == NULL)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)len + 1, fmt, ap);
  va_end(ap);
  return s;
}

void pgmld_free(void *p)
{
  if (p == NULL)
    return;
  n_live--;
  free(p);
}

void pgmld_alloc_fail_after(unsigned long nth, int sticky)
{
  fail_at = nth;
  fail_sticky = sticky;
  n_attempts = 0;
}

unsigned long pgmld_alloc_count(void)
{
  return n_allocs;
}

long pgmld_alloc_live(void)
{
  return n_live;
}

unsigned long pgmld_alloc_failures(void)
{
  return n_failures;
}

static void *protobuf_alloc(void *data, size_t size)
{
  (void)data;
  return pgmld_malloc(size);
}

static void protobuf_free(void *data, void *p)
{
  (void)data;
  pgmld_free(p);
}

ProtobufCAllocator pgmld_protobuf_allocator = {
  .alloc = protobuf_alloc,
  .free = protobuf_free,
  .allocator_data = NULL,
};

/* jansson takes functions without the warn_unused_result attribute. */
static void *json_alloc(size_t size)
{
  return pgmld_malloc(size);
}

void pgmld_alloc_init(void)
{
  json_set_alloc_funcs(json_alloc, pgmld_free);
}
