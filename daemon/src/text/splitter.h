/* splitter.h - text splitters (recursive_character, character, markdown) behind one interface.
 *
 * A splitter is built once from a spec (the daemon's copy of a
 * pgml.v1.SplitterSpec, defaults filled in and validated) and then splits
 * any number of texts.  Sizes are counted in Unicode code points, and no
 * cut ever falls inside a UTF-8 sequence.  chunk_size is a hard limit for
 * every splitter: a piece that no separator can split is cut between code
 * points.  Every chunk has leading and trailing ASCII whitespace removed,
 * and chunks left empty are dropped, so an empty or all-blank text gives
 * no chunk at all.  docs/splitters.md describes each splitter.
 *
 * Chunks are spans (offset, length in bytes) into the text that was split:
 * nothing is copied, and the caller keeps the text alive while it uses
 * them.  Neighbouring chunks overlap when chunk_overlap > 0.
 *
 * Errors: functions return 0 or a negative errno (-ENOMEM, -EINVAL); every
 * -EINVAL, and -ENOMEM where a status is taken, comes with a status whose
 * message names the field ("splitter.chunk_overlap: ...").
 */
#ifndef PGMLD_TEXT_SPLITTER_H
#define PGMLD_TEXT_SPLITTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"
#include "rpc/status.h"

#define PGMLD_SPLITTER_DEFAULT_NAME "recursive_character"
#define PGMLD_SPLITTER_DEFAULT_CHUNK_SIZE 1000u
#define PGMLD_SPLITTER_MAX_CHUNK_SIZE 100000u      /* code points */
#define PGMLD_SPLITTER_MAX_SEPARATORS 16u
#define PGMLD_SPLITTER_MAX_SEPARATOR_BYTES 64u
#define PGMLD_SPLITTER_MAX_TEXT_BYTES (64u * 1024u * 1024u)

/* What a client asked for.  A zero or empty field takes its default:
 * name "recursive_character", chunk_size 1000, chunk_overlap 0, separators
 * ["\n\n", "\n", " ", ""] (recursive_character, markdown) or ["\n\n"]
 * (character, which uses only the first separator given).  The field
 * layout of `separators` matches protobuf-c's repeated string, so a
 * Pgml__V1__SplitterSpec's fields can be passed as they are. */
typedef struct pgmld_splitter_spec_s {
  const char *name;
  uint32_t chunk_size;
  uint32_t chunk_overlap;
  size_t n_separators;
  char *const *separators;
} pgmld_splitter_spec_t;

typedef struct pgmld_chunk_s {
  size_t offset;  /* bytes from the start of the text */
  size_t length;  /* bytes; never 0 */
} pgmld_chunk_t;

typedef struct pgmld_chunk_list_s {
  pgmld_chunk_t *chunks;  /* owned; in text order */
  size_t n;
  size_t cap;
} pgmld_chunk_list_t;

typedef struct pgmld_splitter_s pgmld_splitter_t;

/* Validates spec, fills in its defaults and builds a splitter.  Nothing in
 * spec is kept: the splitter holds its own copies.  On success *out is a
 * new splitter the caller frees with pgmld_splitter_free(); on failure
 * *out is NULL, st says which field was wrong (INVALID_ARGUMENT) or that
 * memory ran out (RESOURCE_EXHAUSTED), and the result is -EINVAL or
 * -ENOMEM. */
PGMLD_MUST_CHECK int pgmld_splitter_new(const pgmld_splitter_spec_t *spec, pgmld_splitter_t **out,
                                        pgmld_status_t *st);

void pgmld_splitter_free(pgmld_splitter_t *sp);

/* The spec in force, defaults filled in (for storing the pipeline's spec
 * and for showing it back).  Borrowed: valid while the splitter lives. */
const pgmld_splitter_spec_t *pgmld_splitter_spec(const pgmld_splitter_t *sp);

/* Splits text[0..len) and appends its chunks to `out`, which the caller
 * initialised with PGMLD_CHUNK_LIST_INIT (it may already hold chunks of
 * another text).  `what` names the text in error messages ("text",
 * "documents[3].text"; NULL means "text").  The text must be valid UTF-8
 * without NUL and at most PGMLD_SPLITTER_MAX_TEXT_BYTES long, else -EINVAL
 * with the byte offset in st.  On -ENOMEM the chunks appended so far stay
 * in `out` (the caller frees the list either way). */
PGMLD_MUST_CHECK int pgmld_splitter_split(const pgmld_splitter_t *sp, const char *text, size_t len,
                                          const char *what, pgmld_chunk_list_t *out,
                                          pgmld_status_t *st);

#define PGMLD_CHUNK_LIST_INIT {NULL, 0, 0}

/* Frees the list's array and empties it; the list can be reused. */
void pgmld_chunk_list_free(pgmld_chunk_list_t *list);

#endif
