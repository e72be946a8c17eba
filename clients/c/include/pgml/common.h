/* common.h - attributes shared by libpgml's public headers. */
#ifndef PGML_COMMON_H
#define PGML_COMMON_H

#if defined(__GNUC__) || defined(__clang__)
/* On every function whose result says whether it failed. */
#define PGML_MUST_CHECK __attribute__((warn_unused_result))
#else
#define PGML_MUST_CHECK
#endif

#endif
