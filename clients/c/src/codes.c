/* codes.c - names of the call outcomes, and the library's version. */
#include "pgml/client.h"

#ifndef PGML_VERSION
#error "PGML_VERSION must be defined by the build"
#endif

static const char *const names[] = {
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
  "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
  "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

const char *pgml_code_name(pgml_code_t code)
{
  unsigned i = (unsigned)code;

  return i < sizeof(names) / sizeof(names[0]) ? names[i] : "UNKNOWN";
}

const char *pgml_version(void)
{
  return PGML_VERSION;
}
