/* pgml_gen.c - pgml-gen: turns the descriptor set of the .proto into every
 * client's glue (C calls, Python and Node method tables and type stubs).
 *
 *   pgml-gen --descriptor-set pgml.desc --out DIR
 *            [--service pgml.v1.Database] [--codes pgml.v1.Code]
 *
 * Exit status: 0 when every file was written, 1 when the .proto or the
 * descriptor set is wrong or a file could not be written (each problem is
 * printed), 2 for a usage error.  docs/generator.md describes the outputs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "emit.h"
#include "model.h"

/* A descriptor set is a few hundred kilobytes; refuse what cannot be one. */
#define DESC_MAX (64u * 1024u * 1024u)

static void usage(FILE *f) {
  fprintf(f,
          "usage: pgml-gen --descriptor-set FILE --out DIR [--service NAME] "
          "[--codes ENUM]\n"
          "  --descriptor-set  what protoc --include_imports --include_source_info\n"
          "                    --descriptor_set_out wrote\n"
          "  --out             directory for the generated files (created)\n"
          "  --service         the service to generate (default pgml.v1.Database)\n"
          "  --codes           the status-code enum (default <package>.Code)\n");
}

/* Reads the whole file into the arena.  Returns 0 or a negative errno after
 * reporting it. */
static int read_file(pgml_gen_arena_t *a, const char *path, uint8_t **data, size_t *len,
                     pgml_gen_diag_t *d) {
  struct stat st;
  FILE *f = fopen(path, "rb");
  uint8_t *buf;
  int rc = 0;

  if (f == NULL) {
    rc = -errno;
    pgml_gen_error(d, path, "cannot open the descriptor set: %s", strerror(errno));
    return rc;
  }
  if (fstat(fileno(f), &st) < 0) {
    rc = -errno;
    pgml_gen_error(d, path, "cannot stat: %s", strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > DESC_MAX) {
    rc = pgml_gen_error(d, path,
                        "is not a descriptor set: expected a regular file of 1 byte "
                        "to %u MiB, found %lld bytes",
                        DESC_MAX >> 20, (long long)st.st_size);
    goto out;
  }
  buf = pgml_gen_arena_alloc(a, (size_t)st.st_size);
  if (buf == NULL) {
    rc = -ENOMEM;
    pgml_gen_error(d, path, "out of memory reading %lld bytes", (long long)st.st_size);
    goto out;
  }
  if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
    rc = ferror(f) ? -EIO : -ENODATA;
    pgml_gen_error(d, path, "%s", ferror(f) ? "read error" : "file shrank while reading");
    goto out;
  }
  *data = buf;
  *len = (size_t)st.st_size;
out:
  fclose(f);
  return rc;
}

int main(int argc, char **argv) {
  const char *desc = NULL, *out = NULL, *service = "pgml.v1.Database", *codes = NULL;
  pgml_gen_diag_t d = PGML_GEN_DIAG_INIT(stderr);
  pgml_gen_arena_t file_arena = PGML_GEN_ARENA_INIT;
  pgml_gen_model_t m;
  uint8_t *data = NULL;
  size_t len = 0;
  int rc;

  for (int i = 1; i < argc; i++) {
    const char **slot = NULL;
    if (strcmp(argv[i], "--descriptor-set") == 0)
      slot = &desc;
    else if (strcmp(argv[i], "--out") == 0)
      slot = &out;
    else if (strcmp(argv[i], "--service") == 0)
      slot = &service;
    else if (strcmp(argv[i], "--codes") == 0)
      slot = &codes;
    else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    }
    if (slot == NULL || i + 1 >= argc || argv[i + 1][0] == '\0') {
      fprintf(stderr, "pgml-gen: %s %s\n", argv[i],
              slot == NULL ? "is not an option" : "needs a value");
      usage(stderr);
      return 2;
    }
    *slot = argv[++i];
  }
  if (desc == NULL || out == NULL) {
    fprintf(stderr, "pgml-gen: --descriptor-set and --out are required\n");
    usage(stderr);
    return 2;
  }

  if (read_file(&file_arena, desc, &data, &len, &d) < 0) {
    pgml_gen_arena_free(&file_arena);
    return 1;
  }
  rc = pgml_gen_model_load(&m, data, len, service, codes, &d);
  pgml_gen_arena_free(&file_arena);
  if (rc < 0) {
    fprintf(stderr, "pgml-gen: %s: %u error%s; nothing written\n", desc, d.errors,
            d.errors == 1 ? "" : "s");
    return 1;
  }
  /* Every emitter runs even after one fails, so that one run reports every
   * file that could not be written. */
  rc = 0;
  if (pgml_gen_emit_c(&m, out, &d) < 0)
    rc = 1;
  if (pgml_gen_emit_table(&m, PGML_GEN_LANG_PYTHON, out, &d) < 0)
    rc = 1;
  if (pgml_gen_emit_table(&m, PGML_GEN_LANG_NODE, out, &d) < 0)
    rc = 1;
  if (pgml_gen_emit_pyi(&m, out, &d) < 0)
    rc = 1;
  if (pgml_gen_emit_dts(&m, out, &d) < 0)
    rc = 1;
  pgml_gen_model_free(&m);
  return rc;
}
