/* arena.h - the generator's one allocator: blocks freed all at once.
 *
 * pgml-gen builds a model of the .proto that lives until the program ends,
 * and many small strings (converted names, comments) hang off it.  They all
 * come from one arena, so the model has a single owner and a single free.
 * Every allocation goes through pgml_gen_arena_alloc(), which a test can make
 * fail (pgml_gen_arena_fail_after) to check that each failure is reported
 * and nothing leaks.
 *
 * Errors: the allocating functions return NULL when memory runs out (or an
 * injected failure hits); nothing else can fail.
 */
#ifndef PGML_GEN_ARENA_H
#define PGML_GEN_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#define PGML_GEN_MUST_CHECK __attribute__((warn_unused_result))
#define PGML_GEN_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

typedef struct pgml_gen_block_s pgml_gen_block_t;

typedef struct pgml_gen_arena_s {
  pgml_gen_block_t *head; /* newest block first; owned */
  size_t used;            /* bytes taken from head */
  size_t cap;             /* usable bytes in head */
} pgml_gen_arena_t;

#define PGML_GEN_ARENA_INIT {NULL, 0, 0}

/* Returns n zeroed bytes, aligned for any object, owned by the arena. */
PGML_GEN_MUST_CHECK void *pgml_gen_arena_alloc(pgml_gen_arena_t *a, size_t n);

/* Copies the first n bytes of s (or fewer, up to a NUL) into the arena. */
PGML_GEN_MUST_CHECK char *pgml_gen_arena_strndup(pgml_gen_arena_t *a,
                                                 const char *s, size_t n);
PGML_GEN_MUST_CHECK char *pgml_gen_arena_strdup(pgml_gen_arena_t *a,
                                                const char *s);

/* Formats into the arena. */
PGML_GEN_MUST_CHECK PGML_GEN_PRINTF(2, 3)
char *pgml_gen_arena_printf(pgml_gen_arena_t *a, const char *fmt, ...);

/* Frees every block; the arena is empty and may be used again. */
void pgml_gen_arena_free(pgml_gen_arena_t *a);

/* Fault injection, for tests: the nth arena allocation from now on
 * (1-based) fails, and every one after it.  0 turns it off. */
void pgml_gen_arena_fail_after(unsigned long nth);

#endif
