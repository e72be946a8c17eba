/* status.h - the error that reaches a client: a pgml.v1.Code and a message.
 *
 * Layers below rpc/ return negative errno codes; where a failure becomes
 * something a client will see, it is turned into a pgmld_status_t that says
 * what was wrong and where ("unknown filter operator $regex at
 * metadata.lang").  The first error set wins: pgmld_status_set() on a
 * status that already holds an error does nothing, so the most specific
 * cause (set deepest) is the one reported.
 */
#ifndef PGMLD_STATUS_H
#define PGMLD_STATUS_H

#include <stddef.h>

#include "core/common.h"
#include "pgml/v1/frame.pb-c.h"

typedef enum {
  PGMLD_OK = PGML__V1__CODE__OK,
  PGMLD_CANCELLED = PGML__V1__CODE__CANCELLED,
  PGMLD_UNKNOWN = PGML__V1__CODE__UNKNOWN,
  PGMLD_INVALID_ARGUMENT = PGML__V1__CODE__INVALID_ARGUMENT,
  PGMLD_DEADLINE_EXCEEDED = PGML__V1__CODE__DEADLINE_EXCEEDED,
  PGMLD_NOT_FOUND = PGML__V1__CODE__NOT_FOUND,
  PGMLD_ALREADY_EXISTS = PGML__V1__CODE__ALREADY_EXISTS,
  PGMLD_PERMISSION_DENIED = PGML__V1__CODE__PERMISSION_DENIED,
  PGMLD_RESOURCE_EXHAUSTED = PGML__V1__CODE__RESOURCE_EXHAUSTED,
  PGMLD_FAILED_PRECONDITION = PGML__V1__CODE__FAILED_PRECONDITION,
  PGMLD_ABORTED = PGML__V1__CODE__ABORTED,
  PGMLD_OUT_OF_RANGE = PGML__V1__CODE__OUT_OF_RANGE,
  PGMLD_UNIMPLEMENTED = PGML__V1__CODE__UNIMPLEMENTED,
  PGMLD_INTERNAL = PGML__V1__CODE__INTERNAL,
  PGMLD_UNAVAILABLE = PGML__V1__CODE__UNAVAILABLE,
  PGMLD_DATA_LOSS = PGML__V1__CODE__DATA_LOSS,
  PGMLD_UNAUTHENTICATED = PGML__V1__CODE__UNAUTHENTICATED,
} pgmld_code_t;

#define PGMLD_STATUS_MESSAGE_MAX 512

typedef struct pgmld_status_s {
  pgmld_code_t code;                       /* PGMLD_OK when no error */
  char message[PGMLD_STATUS_MESSAGE_MAX];  /* truncated if longer */
} pgmld_status_t;

#define PGMLD_STATUS_INIT {PGMLD_OK, {0}}

/* PGMLD_STATUS_INIT without clearing the whole message: for a status on a
 * path taken by every request, where zeroing 512 bytes shows. */
static inline void pgmld_status_init(pgmld_status_t *st)
{
  st->code = PGMLD_OK;
  st->message[0] = '\0';
}

/* Records an error unless one is already recorded.  Returns -1 so that a
 * caller can `return pgmld_status_set(st, ...)`.  `st` may be NULL. */
PGMLD_PRINTF(3, 4)
int pgmld_status_set(pgmld_status_t *st, pgmld_code_t code, const char *fmt, ...);

static inline int pgmld_status_ok(const pgmld_status_t *st) { return st->code == PGMLD_OK; }

/* "NOT_FOUND" etc.; "UNKNOWN" for a value outside the enum. */
const char *pgmld_code_name(pgmld_code_t code);

#endif
