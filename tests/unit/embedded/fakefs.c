/* fakefs.c - temporary directories and fake PostgreSQL installations for the embedded tests. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "fakefs.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

char *fake_join(const char *a, const char *b) {
  size_t n = strlen(a) + 1 + strlen(b) + 1;
  char *p = malloc(n);

  assert_non_null(p);
  snprintf(p, n, "%s/%s", a, b);
  return p;
}

char *fake_tmpdir(const char *tag) {
  const char *base = getenv("TMPDIR");
  char tmpl[4096];

  snprintf(tmpl, sizeof(tmpl), "%s/pgmld-%s-XXXXXX", base && base[0] ? base : "/tmp", tag);
  assert_non_null(mkdtemp(tmpl));
  assert_int_equal(chmod(tmpl, 0755), 0);
  char *p = strdup(tmpl);
  assert_non_null(p);
  return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

void fake_rmtree(const char *path) {
  nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void fake_mkdirs(const char *path) {
  char buf[4096];
  size_t i, n = strlen(path);

  assert_true(n < sizeof(buf));
  memcpy(buf, path, n + 1);
  for (i = 1; i <= n; i++) {
    if (buf[i] == '/' || buf[i] == '\0') {
      char c = buf[i];
      buf[i] = '\0';
      if (mkdir(buf, 0755) != 0)
        assert_int_equal(errno, EEXIST);
      buf[i] = c;
    }
  }
}

void fake_write(const char *path, const char *text, int exec) {
  FILE *f = fopen(path, "w");

  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(chmod(path, exec ? 0755 : 0644), 0);
}

void fake_install(const char *root, int flags, const char *pg_config_share) {
  char *bin = fake_join(root, "bin");
  char *ext = fake_join(root, flags & FAKE_SHARE_FLAT ? "share/extension"
                                                      : "share/postgresql/extension");
  const char *progs[] = {"initdb", "postgres", "pg_ctl"};
  size_t i;

  fake_mkdirs(bin);
  fake_mkdirs(ext);
  for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
    if (i == 0 && (flags & FAKE_NO_INITDB))
      continue;
    char *p = fake_join(bin, progs[i]);
    fake_write(p, "#!/bin/sh\nexit 0\n", 1);
    free(p);
  }
  if (!(flags & FAKE_NO_VECTOR)) {
    char *p = fake_join(ext, "vector.control");
    fake_write(p, "default_version = '0.8.2'\n", 0);
    free(p);
  }
  if (flags & (FAKE_PG_CONFIG | FAKE_PG_CONFIG_FAIL)) {
    char script[4096];
    char *p = fake_join(bin, "pg_config");
    if (flags & FAKE_PG_CONFIG_FAIL)
      snprintf(script, sizeof(script), "#!/bin/sh\necho 'pg_config: broken' >&2\nexit 1\n");
    else
      snprintf(script, sizeof(script),
               "#!/bin/sh\ncase \"$1\" in\n--sharedir) echo '%s' ;;\n--bindir) echo '%s' ;;\n"
               "*) exit 1 ;;\nesac\n",
               pg_config_share ? pg_config_share : "", bin);
    fake_write(p, script, 1);
    free(p);
  }
  free(bin);
  free(ext);
}
