/* fakefs.h - temporary directories and fake PostgreSQL installations for the embedded tests. */
#ifndef PGMLD_TEST_FAKEFS_H
#define PGMLD_TEST_FAKEFS_H

#include <stddef.h>

/* Creates a fresh directory under $TMPDIR (or /tmp), mode 0755 so that an
 * unprivileged PostgreSQL user can pass through it; aborts the test on
 * failure.  Returns a malloc'd path the caller frees. */
char *fake_tmpdir(const char *tag);
/* rm -rf; silently ignores what is already gone. */
void fake_rmtree(const char *path);
/* mkdir -p with mode 0755. */
void fake_mkdirs(const char *path);
/* Writes `text` to `path` (created 0644, or 0755 when `exec`). */
void fake_write(const char *path, const char *text, int exec);

/* Flags for fake_install(). */
enum {
  FAKE_NO_INITDB = 1,     /* leave out bin/initdb */
  FAKE_NO_VECTOR = 2,     /* leave out extension/vector.control */
  FAKE_SHARE_FLAT = 4,    /* extensions in <root>/share, not <root>/share/postgresql */
  FAKE_PG_CONFIG = 8,     /* a bin/pg_config that prints pg_config_share for --sharedir */
  FAKE_PG_CONFIG_FAIL = 16, /* a bin/pg_config that exits 1 */
};

/* Builds <root>/bin with executable stand-ins for initdb, postgres and
 * pg_ctl, and <root>/share/postgresql/extension/vector.control, as `flags`
 * say.  `pg_config_share` is what pg_config --sharedir prints (FAKE_PG_CONFIG). */
void fake_install(const char *root, int flags, const char *pg_config_share);

/* Joins with '/' into a new malloc'd string. */
char *fake_join(const char *a, const char *b);

#endif
