/* arena.h - a bump allocator for one decoded request: protobuf-c unpacks
 * into a buffer inside the call object, with no malloc for a small request
 * and no descriptor walk to free it.
 *
 * What does not fit in the inline buffer is taken from the heap (core/alloc.h)
 * and chained; pgmld_arena_reset() gives all of it back at once.  Freeing one
 * allocation is a no-op: memory is reclaimed only by the reset.  Under
 * AddressSanitizer every allocation goes to the heap, so that reads past an
 * allocation or after the reset are still reported.
 */
#ifndef PGMLD_ARENA_H
#define PGMLD_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes served from inside the arena before it spills to the heap: a
 * Ping, a Get by id, a small search's options fit; a 384-float vector
 * does not, and costs one heap block. */
#define PGMLD_ARENA_INLINE 448u

typedef struct pgmld_arena_block_s pgmld_arena_block_t;

typedef struct pgmld_arena_s {
  ProtobufCAllocator pc;          /* hands allocations to protobuf-c */
  pgmld_arena_block_t *spilled;   /* heap blocks, newest first; owned */
  size_t used;                    /* bytes of buf handed out */
  _Alignas(max_align_t) uint8_t buf[PGMLD_ARENA_INLINE];
} pgmld_arena_t;

/* Makes a an empty arena.  a must not move while anything allocated from it
 * is in use (it lives in the call object). */
void pgmld_arena_init(pgmld_arena_t *a);

/* The allocator to give protobuf-c (protobuf_c_message_unpack()); its free
 * is a no-op. */
static inline ProtobufCAllocator *pgmld_arena_allocator(pgmld_arena_t *a)
{
  return &a->pc;
}

/* Frees what spilled to the heap and empties the arena: every pointer it
 * gave out is invalid afterwards.  The arena can be used again. */
void pgmld_arena_reset(pgmld_arena_t *a);

#endif
