/* fuzz_filter.c - libFuzzer target over the filter compiler
 * (daemon/src/sql/filter.c): JSON text from a client to a parameterised
 * SQL expression.
 *
 * Invariants checked (abort on violation): the result is 0, -EINVAL with
 * INVALID_ARGUMENT, or -ENOMEM with RESOURCE_EXHAUSTED, always with a
 * message on failure; a failure leaves the sqlbuf exactly as it was; a
 * success only appends, and every parameter it adds is referenced in the
 * SQL text; nothing leaks. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sql/filter.h"
#include "sql/sqlbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,     \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int initialised;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_sqlbuf_t sb;
  char *before;
  size_t before_len;
  int before_params, rc, i;
  long live;

  if (!initialised) {
    pgmld_alloc_init();   /* jansson allocates through the wrapper */
    initialised = 1;
  }
  if (size > PGMLD_FILTER_MAX_TEXT_BYTES + 16)
    return 0;
  live = pgmld_alloc_live();
  pgmld_sqlbuf_init(&sb);
  /* Something already in the buffer, as in a real query. */
  if (pgmld_sqlbuf_append(&sb, "SELECT 1 FROM t d WHERE d.id = ") < 0 ||
      pgmld_sqlbuf_append_text(&sb, "x") < 0 || pgmld_sqlbuf_append(&sb, " AND ") < 0)
    abort();
  before = strdup(sb.sql);
  CHECK(before != NULL);
  before_len = sb.len;
  before_params = sb.n_params;

  rc = pgmld_filter_compile_text((const char *)data, size, "d.document", &sb, &st);
  if (rc < 0) {
    CHECK(rc == -EINVAL || rc == -ENOMEM);
    CHECK(st.code == (rc == -EINVAL ? PGMLD_INVALID_ARGUMENT : PGMLD_RESOURCE_EXHAUSTED));
    CHECK(st.message[0] != '\0');
    CHECK(sb.len == before_len);
    CHECK(sb.n_params == before_params);
    CHECK(memcmp(sb.sql, before, before_len) == 0);
  } else {
    CHECK(rc == 0);
    CHECK(st.code == PGMLD_OK);
    CHECK(sb.len > before_len);
    CHECK(memcmp(sb.sql, before, before_len) == 0);
    CHECK(strlen(sb.sql) == sb.len);
    /* Each new parameter is used: "$n" appears in the added text. */
    for (i = before_params + 1; i <= sb.n_params; i++) {
      char ref[16];
      const char *p = sb.sql + before_len;
      int found = 0;
      snprintf(ref, sizeof(ref), "$%d", i);
      while ((p = strstr(p, ref)) != NULL) {
        char next = p[strlen(ref)];
        if (next < '0' || next > '9') {
          found = 1;
          break;
        }
        p++;
      }
      CHECK(found);
    }
  }
  free(before);
  pgmld_sqlbuf_free(&sb);
  CHECK(pgmld_alloc_live() == live);
  return 0;
}
