/* pgfind.h - finding a PostgreSQL installation that has pgvector.
 *
 * Candidates, in order (docs/embedded.md):
 *   1. embedded.postgres_bindir (file, --embedded-postgres-bindir or
 *      $PGMLD_EMBEDDED_POSTGRES_BINDIR), when configured: the only candidate;
 *   2. else, searched: <prefix>/lib/pgmld/postgres/bin, then the bindir that
 *      the first pg_config on PATH reports, then
 *      /usr/lib/postgresql/<version>/bin, newest version first.
 * A named directory is never passed over for another: running a different
 * PostgreSQL than the one the operator chose could leave the data directory
 * unreadable by either.
 *
 * A candidate qualifies when it holds executable initdb, postgres and
 * pg_ctl, and its extension directory has vector.control.  The share
 * directory comes from `<bindir>/pg_config --sharedir` when that program is
 * there, else <bindir>/../share/postgresql, then <bindir>/../share.
 *
 * Blocking (stat, and running pg_config with a time limit): call it on the
 * thread pool, not on the loop.  Thread-safe; it logs nothing.
 */
#ifndef PGMLD_EMBEDDED_PGFIND_H
#define PGMLD_EMBEDDED_PGFIND_H

#include "core/common.h"
#include "rpc/status.h"

typedef struct pgmld__pgfind_spec_s {
  const char *configured;  /* embedded.postgres_bindir, or NULL */
  const char *prefix;      /* the install prefix, or NULL to skip that candidate */
  const char *path;        /* the value of $PATH, or NULL to skip pg_config */
  const char *distro_root; /* "/usr/lib/postgresql", or NULL to skip */
} pgmld__pgfind_spec_t;

typedef struct pgmld__pgfind_result_s {
  char *bindir;   /* canonical absolute path, owned */
  char *sharedir; /* the one that has extension/vector.control, owned */
} pgmld__pgfind_result_t;

/* At most this many versions under distro_root are examined. */
#define PGMLD__PGFIND_VERSIONS_MAX 32
/* pg_config must answer within this time or it is killed. */
#define PGMLD__PGFIND_PGCONFIG_TIMEOUT_MS 10000

/* Finds the first qualifying candidate.  On success returns 0 and fills
 * `out` (the caller frees it with pgmld__pgfind_result_free()).  On failure
 * returns -ENOENT when nothing qualified, -ENOMEM; `out` is left empty, `st`
 * gets FAILED_PRECONDITION (or RESOURCE_EXHAUSTED) and a message, and
 * *detail (when `detail` is not NULL) a full, untruncated report the caller
 * owns: every candidate, why it was rejected, and how to get PostgreSQL
 * with pgvector. */
PGMLD_MUST_CHECK int pgmld__pgfind(const pgmld__pgfind_spec_t *spec, pgmld__pgfind_result_t *out,
                                   pgmld_status_t *st, char **detail);

void pgmld__pgfind_result_free(pgmld__pgfind_result_t *r);

#endif
