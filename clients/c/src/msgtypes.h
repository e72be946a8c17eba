/* msgtypes.h - the size of each pgml.v1 message struct, which nanopb's
 * descriptors do not record, so that a typed call can allocate its response.
 * The table (msgtypes.c) is generated from the nanopb headers by
 * clients/c/cmake/gen_msgtypes.cmake. */
#ifndef PGML_MSGTYPES_H
#define PGML_MSGTYPES_H

#include <stddef.h>

#include <pb.h>

/* sizeof the struct `type` describes, or 0 when it is not a pgml.v1 message
 * (or NULL). */
size_t pgml__msg_size(const pb_msgdesc_t *type);

#endif
