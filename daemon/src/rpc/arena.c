/* arena.c - the per-call bump allocator protobuf-c decodes requests into. */
#include "rpc/arena.h"

#include "core/alloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_INLINE_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_INLINE_OFF 1
#endif
#endif
#ifndef ARENA_INLINE_OFF
#define ARENA_INLINE_OFF 0
#endif

/* A heap block, its header aligned like anything malloc returns. */
struct pgmld_arena_block_s {
  union {
    pgmld_arena_block_t *next;
    max_align_t align;
  } h;
};

#define ALIGN_UP(n) (((n) + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1))

static void *arena_alloc(void *data, size_t size)
{
  pgmld_arena_t *a = data;
  pgmld_arena_block_t *b;

  if (!ARENA_INLINE_OFF && size <= PGMLD_ARENA_INLINE - a->used) {
    void *p = a->buf + a->used;
    size_t step = ALIGN_UP(size);
    /* The last allocation may end the buffer unaligned: then it is full. */
    a->used = step <= PGMLD_ARENA_INLINE - a->used ? a->used + step : PGMLD_ARENA_INLINE;
    return p;
  }
  if (size > SIZE_MAX - sizeof(*b))
    return NULL;
  b = pgmld_malloc(sizeof(*b) + size);
  if (b == NULL)
    return NULL;
  b->h.next = a->spilled;
  a->spilled = b;
  return b + 1;
}

static void arena_free(void *data, void *p)
{
  /* Reclaimed by pgmld_arena_reset(): protobuf-c frees a partial message
   * when unpacking fails, and the caller resets the arena then too. */
  (void)data;
  (void)p;
}

void pgmld_arena_init(pgmld_arena_t *a)
{
  a->pc.alloc = arena_alloc;
  a->pc.free = arena_free;
  a->pc.allocator_data = a;
  a->spilled = NULL;
  a->used = 0;
}

void pgmld_arena_reset(pgmld_arena_t *a)
{
  while (a->spilled != NULL) {
    pgmld_arena_block_t *b = a->spilled;
    a->spilled = b->h.next;
    pgmld_free(b);
  }
  a->used = 0;
}
