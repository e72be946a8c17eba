/* arena.c - block allocator that owns everything the generator builds. */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_MIN 16384u

struct pgml_gen_block_s {
  pgml_gen_block_t *next;
  alignas(max_align_t) unsigned char data[];
};

/* Process-wide by design: the generator is a single-threaded program and the
 * counter only exists so that tests can inject failures. */
static unsigned long fail_countdown;

void pgml_gen_arena_fail_after(unsigned long nth) { fail_countdown = nth; }

static int injected_failure(void) {
  if (fail_countdown == 0)
    return 0;
  if (fail_countdown == 1)
    return 1; /* sticky: stays at 1 until reset */
  fail_countdown--;
  return 0;
}

void *pgml_gen_arena_alloc(pgml_gen_arena_t *a, size_t n) {
  const size_t align = alignof(max_align_t);
  size_t need;
  pgml_gen_block_t *b;
  void *p;

  if (injected_failure())
    return NULL;
  if (n > SIZE_MAX - align)
    return NULL;
  need = (n + align - 1) & ~(align - 1);
  if (need == 0)
    need = align;

  if (a->head == NULL || a->cap - a->used < need) {
    size_t cap = need > BLOCK_MIN ? need : BLOCK_MIN;
    if (cap > SIZE_MAX - sizeof(*b))
      return NULL;
    b = malloc(sizeof(*b) + cap);
    if (b == NULL)
      return NULL;
    b->next = a->head;
    a->head = b;
    a->used = 0;
    a->cap = cap;
  }
  p = a->head->data + a->used;
  a->used += need;
  memset(p, 0, n);
  return p;
}

char *pgml_gen_arena_strndup(pgml_gen_arena_t *a, const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *p = pgml_gen_arena_alloc(a, len + 1);
  if (p == NULL)
    return NULL;
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

char *pgml_gen_arena_strdup(pgml_gen_arena_t *a, const char *s) {
  return pgml_gen_arena_strndup(a, s, strlen(s));
}

char *pgml_gen_arena_printf(pgml_gen_arena_t *a, const char *fmt, ...) {
  va_list ap;
  int len;
  char *p;

  va_start(ap, fmt);
  len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (len < 0)
    return NULL;
  p = pgml_gen_arena_alloc(a, (size_t)len + 1);
  if (p == NULL)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(p, (size_t)len + 1, fmt, ap);
  va_end(ap);
  return p;
}

void pgml_gen_arena_free(pgml_gen_arena_t *a) {
  pgml_gen_block_t *b = a->head;
  while (b != NULL) {
    pgml_gen_block_t *next = b->next;
    free(b);
    b = next;
  }
  a->head = NULL;
  a->used = 0;
  a->cap = 0;
}
