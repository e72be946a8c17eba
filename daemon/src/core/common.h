/* common.h - compiler attributes and small macros used by every daemon file. */
#ifndef PGMLD_COMMON_H
#define PGMLD_COMMON_H

#include <stddef.h>

/* On every function whose result says whether it failed. */
#define PGMLD_MUST_CHECK __attribute__((warn_unused_result))
#define PGMLD_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define PGMLD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The struct of type `type` whose member `member` is at `ptr`. */
#define PGMLD_CONTAINER_OF(ptr, type, member)                                  \
  ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
