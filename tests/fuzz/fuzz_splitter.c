/* fuzz_splitter.c - libFuzzer target over the text splitters
 * (daemon/src/text/splitter.c), which cut client text into chunks.
 *
 * Input: byte 0 picks the splitter (recursive_character, character,
 * markdown, or an unknown name), byte 1 chunk_size (1 to 64, small so that
 * texts split into many chunks), byte 2 chunk_overlap, byte 3 whether
 * custom separators follow (up to 4, each ended by 0x01, the list ended by
 * 0x02); the rest is the text.
 *
 * Invariants checked (abort on violation), from splitter.h: a bad spec or
 * bad text is -EINVAL with INVALID_ARGUMENT and a message; each chunk lies
 * inside the text, is not empty, starts and ends on UTF-8 boundaries, has
 * no leading or trailing ASCII whitespace and at most chunk_size code
 * points; chunks come in text order; nothing leaks. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "text/splitter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,     \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static int is_ascii_space(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_continuation(unsigned char c)
{
  return (c & 0xc0) == 0x80;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const names[] = {"recursive_character", "character", "markdown",
                                      "no_such_splitter"};
  pgmld_chunk_list_t chunks = PGMLD_CHUNK_LIST_INIT;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  pgmld_splitter_spec_t spec;
  pgmld_splitter_t *sp = NULL;
  char *seps[4];
  char *text;
  size_t pos = 4, n_seps = 0, i, text_len, prev_off = 0;
  long live;
  int rc;

  if (size < 4)
    return 0;
  live = pgmld_alloc_live();
  memset(&spec, 0, sizeof(spec));
  spec.name = names[data[0] % 4];
  spec.chunk_size = 1u + data[1] % 64u;
  spec.chunk_overlap = data[2] % 80u;
  if (data[3] & 1) {
    while (pos < size && data[pos] != 0x02 && n_seps < 4) {
      size_t start = pos;
      while (pos < size && data[pos] != 0x01 && data[pos] != 0x02)
        pos++;
      seps[n_seps] = strndup((const char *)data + start, pos - start);
      CHECK(seps[n_seps] != NULL);
      n_seps++;
      if (pos < size && data[pos] == 0x01)
        pos++;
    }
    if (pos < size && data[pos] == 0x02)
      pos++;
    spec.n_separators = n_seps;
    spec.separators = seps;
  }
  text_len = size - pos;
  text = malloc(text_len + 1);
  CHECK(text != NULL);
  memcpy(text, data + pos, text_len);
  text[text_len] = '\0';

  rc = pgmld_splitter_new(&spec, &sp, &st);
  if (rc < 0) {
    CHECK(rc == -EINVAL || rc == -ENOMEM);
    CHECK(sp == NULL);
    CHECK(st.code != PGMLD_OK && st.message[0] != '\0');
    goto out;
  }
  rc = pgmld_splitter_split(sp, text, text_len, "text", &chunks, &st);
  if (rc < 0) {
    CHECK(rc == -EINVAL || rc == -ENOMEM);
    CHECK(st.code != PGMLD_OK && st.message[0] != '\0');
    goto out;
  }
  for (i = 0; i < chunks.n; i++) {
    const pgmld_chunk_t *c = &chunks.chunks[i];
    size_t k, cps = 0;

    CHECK(c->length > 0);
    CHECK(c->offset <= text_len && c->length <= text_len - c->offset);
    CHECK(c->offset >= prev_off);
    prev_off = c->offset;
    CHECK(!is_continuation((unsigned char)text[c->offset]));
    CHECK(c->offset + c->length == text_len ||
          !is_continuation((unsigned char)text[c->offset + c->length]));
    CHECK(!is_ascii_space((unsigned char)text[c->offset]));
    CHECK(!is_ascii_space((unsigned char)text[c->offset + c->length - 1]));
    for (k = 0; k < c->length; k++)
      cps += !is_continuation((unsigned char)text[c->offset + k]);
    CHECK(cps <= pgmld_splitter_spec(sp)->chunk_size);
  }

out:
  pgmld_chunk_list_free(&chunks);
  pgmld_splitter_free(sp);
  for (i = 0; i < n_seps; i++)
    free(seps[i]);
  free(text);
  CHECK(pgmld_alloc_live() == live);
  return 0;
}
