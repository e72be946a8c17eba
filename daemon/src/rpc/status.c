/* status.c - building the status a client receives, and naming its codes. */
#include "rpc/status.h"

#include <stdarg.h>
#include <stdio.h>

int pgmld_status_set(pgmld_status_t *st, pgmld_code_t code, const char *fmt, ...)
{
  va_list ap;

  if (st == NULL || st->code != PGMLD_OK)
    return -1;
  st->code = code;
  va_start(ap, fmt);
  vsnprintf(st->message, sizeof(st->message), fmt, ap);
  va_end(ap);
  return -1;
}

const char *pgmld_code_name(pgmld_code_t code)
{
  /* The names come from the .proto's Code enum, not a second list. */
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&pgml__v1__code__descriptor, (int)code);

  return v != NULL ? v->name : "UNKNOWN";
}
