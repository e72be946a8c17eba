/* test_frame.c - the stream framing shared by pgmld and libpgml
 * (clients/c/src/frame.h): partial and coalesced reads, byte-by-byte
 * delivery, the size limit checked before allocating, zero-length frames,
 * buffer compaction and allocation failure. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "frame.h"

/* The reader reads in chunks of at least this many bytes (frame.c). */
#define MIN_READ (64u * 1024u)

/* ------------------------------------------------------------ helpers */

/* A stream of frames, built in memory. */
typedef struct stream_s {
  uint8_t *bytes;
  size_t len;
  size_t n_frames;
  uint32_t lens[16];
} stream_t;

/* Body byte i of frame k: a pattern that differs per frame and position, so
 * a frame delivered with the wrong bytes or offset is caught. */
static uint8_t pattern(size_t k, size_t i)
{
  return (uint8_t)(k * 31u + i * 7u + (i >> 8));
}

static void stream_build(stream_t *s, const uint32_t *lens, size_t n)
{
  size_t total = 0, pos = 0, k, i;

  memset(s, 0, sizeof(*s));
  assert_true(n <= 16);
  for (k = 0; k < n; k++)
    total += PGML_FRAME_HEADER_SIZE + lens[k];
  s->bytes = malloc(total ? total : 1);
  assert_non_null(s->bytes);
  for (k = 0; k < n; k++) {
    pgml_frame_put_header(s->bytes + pos, lens[k]);
    pos += PGML_FRAME_HEADER_SIZE;
    for (i = 0; i < lens[k]; i++)
      s->bytes[pos++] = pattern(k, i);
    s->lens[k] = lens[k];
  }
  s->len = total;
  s->n_frames = n;
}

/* Feeds the stream to a reader in reads of chunk(i) bytes (at most what the
 * reader offers), taking frames out after every read, and checks each
 * frame's length and bytes.  Returns the number of frames seen. */
static size_t feed(pgml_frame_reader_t *r, const stream_t *s,
                   size_t (*chunk)(size_t i))
{
  size_t pos = 0, seen = 0, read_no = 0;

  while (pos < s->len) {
    uint8_t *space;
    size_t room, n;
    const uint8_t *body;
    uint32_t len;
    int rc;

    assert_int_equal(pgml_frame_reader_space(r, 0, &space, &room), 0);
    assert_true(room > 0);
    n = chunk(read_no++);
    if (n > room)
      n = room;
    if (n > s->len - pos)
      n = s->len - pos;
    memcpy(space, s->bytes + pos, n);
    pgml_frame_reader_commit(r, n);
    pos += n;
    while ((rc = pgml_frame_reader_next(r, &body, &len)) == 1) {
      size_t i;
      assert_true(seen < s->n_frames);
      assert_int_equal(len, s->lens[seen]);
      for (i = 0; i < len; i++)
        if (body[i] != pattern(seen, i))
          fail_msg("frame %zu byte %zu: got %u, want %u", seen, i, body[i],
                   pattern(seen, i));
      seen++;
    }
    assert_int_equal(rc, 0);
  }
  return seen;
}

static size_t chunk_all(size_t i) { (void)i; return SIZE_MAX; }
static size_t chunk_1(size_t i) { (void)i; return 1; }
static size_t chunk_3(size_t i) { (void)i; return 3; }
static size_t chunk_4(size_t i) { (void)i; return 4; }
static size_t chunk_5(size_t i) { (void)i; return 5; }
static size_t chunk_4093(size_t i) { (void)i; return 4093; }
/* Irregular: 1, 2, 3, ... 17, 1, 2, ... */
static size_t chunk_ramp(size_t i) { return 1 + i % 17; }

/* ------------------------------------------------------------ the table */

typedef struct feed_case_s {
  const char *name;
  uint32_t lens[8];
  size_t n;
  size_t (*chunk)(size_t i);
} feed_case_t;

static const feed_case_t feed_cases[] = {
  {"one frame, one read", {10}, 1, chunk_all},
  {"one frame, byte by byte", {10}, 1, chunk_1},
  {"zero-length frame alone", {0}, 1, chunk_all},
  {"zero-length frame byte by byte", {0}, 1, chunk_1},
  {"zero-length frames between others", {0, 5, 0, 0, 9, 0}, 6, chunk_all},
  {"zero-length frames byte by byte", {0, 5, 0, 0, 9, 0}, 6, chunk_1},
  {"several frames in one read", {1, 2, 3, 100, 1000}, 5, chunk_all},
  {"several frames, reads of 3", {1, 2, 3, 100, 1000}, 5, chunk_3},
  {"several frames, reads of 4 (header-sized)", {1, 2, 3, 100, 1000}, 5, chunk_4},
  {"several frames, reads of 5", {1, 2, 3, 100, 1000}, 5, chunk_5},
  {"several frames, irregular reads", {7, 0, 300, 2, 65536, 11}, 6, chunk_ramp},
  {"frame larger than one read chunk", {200000}, 1, chunk_all},
  {"frame larger than one read chunk, reads of 4093", {3, 200000, 5}, 3, chunk_4093},
  {"frames crossing the 64 KiB boundary", {65530, 65530, 65530}, 3, chunk_4093},
  {"frame of exactly the maximum", {1048576}, 1, chunk_all},
};

static void test_feed_table(void **state)
{
  size_t c;

  (void)state;
  for (c = 0; c < sizeof(feed_cases) / sizeof(feed_cases[0]); c++) {
    const feed_case_t *fc = &feed_cases[c];
    pgml_frame_reader_t r;
    stream_t s;
    size_t seen;

    print_message("case: %s\n", fc->name);
    stream_build(&s, fc->lens, fc->n);
    pgml_frame_reader_init(&r, 1048576);
    seen = feed(&r, &s, fc->chunk);
    assert_int_equal(seen, fc->n);
    /* Everything consumed: the reader holds nothing and rewound. */
    assert_int_equal(r.end - r.start, 0);
    pgml_frame_reader_free(&r);
    free(s.bytes);
  }
}

/* Byte by byte, the reader says "need more" until the very last byte. */
static void test_split_byte_by_byte_needs_more(void **state)
{
  static const uint32_t lens[] = {9};
  pgml_frame_reader_t r;
  const uint8_t *body;
  uint32_t len;
  stream_t s;
  size_t i;

  (void)state;
  stream_build(&s, lens, 1);
  pgml_frame_reader_init(&r, 0);
  for (i = 0; i < s.len; i++) {
    uint8_t *space;
    size_t room;
    assert_int_equal(pgml_frame_reader_next(&r, &body, &len), 0);
    assert_int_equal(pgml_frame_reader_space(&r, 1, &space, &room), 0);
    *space = s.bytes[i];
    pgml_frame_reader_commit(&r, 1);
  }
  assert_int_equal(pgml_frame_reader_next(&r, &body, &len), 1);
  assert_int_equal(len, 9);
  assert_memory_equal(body, s.bytes + 4, 9);
  assert_int_equal(pgml_frame_reader_next(&r, &body, &len), 0);
  pgml_frame_reader_free(&r);
  free(s.bytes);
}

/* A declared length over the maximum is refused as soon as the header is
 * there, before the reader allocates anything for the body, and a length
 * of exactly the maximum is not. */
typedef struct limit_case_s {
  uint32_t max;
  uint32_t declared;
  int refused;
} limit_case_t;

static const limit_case_t limit_cases[] = {
  {1024, 1024, 0},
  {1024, 1025, 1},
  {1024, 0xffffffffu, 1},
  {16u * 1024u * 1024u, 16u * 1024u * 1024u + 1u, 1},
  {0 /* default: 16 MiB */, 16u * 1024u * 1024u + 1u, 1},
  {0, 16u * 1024u * 1024u, 0},
};

static void test_oversized_refused_before_allocation(void **state)
{
  size_t c;

  (void)state;
  for (c = 0; c < sizeof(limit_cases) / sizeof(limit_cases[0]); c++) {
    const limit_case_t *lc = &limit_cases[c];
    pgml_frame_reader_t r;
    const uint8_t *body;
    uint8_t *space;
    size_t room, cap;
    unsigned long before;
    uint32_t len;
    int rc;

    pgml_frame_reader_init(&r, lc->max);
    assert_int_equal(pgml_frame_reader_space(&r, 0, &space, &room), 0);
    pgml_frame_put_header(space, lc->declared);
    pgml_frame_reader_commit(&r, PGML_FRAME_HEADER_SIZE);
    cap = r.cap;
    before = pgml__alloc_count();

    /* The header alone decides: nothing is allocated to find out. */
    rc = pgml_frame_reader_next(&r, &body, &len);
    assert_int_equal(pgml__alloc_count(), before);
    assert_int_equal(r.cap, cap);
    if (lc->refused) {
      assert_int_equal(rc, -EMSGSIZE);
      assert_int_equal(r.bad_len, lc->declared);
      /* It stays refused: the stream cannot be trusted any more. */
      assert_int_equal(pgml_frame_reader_next(&r, &body, &len), -EMSGSIZE);
      /* Asking for room after it never sizes the buffer for the declared
       * length (only the usual read chunk). */
      assert_int_equal(pgml_frame_reader_space(&r, 0, &space, &room), 0);
      assert_true(r.cap <= 2 * MIN_READ);
    } else {
      assert_int_equal(rc, 0);
      /* An accepted header makes room for the whole body at once. */
      assert_int_equal(pgml_frame_reader_space(&r, 0, &space, &room), 0);
      assert_true(room >= lc->declared);
    }
    pgml_frame_reader_free(&r);
  }
}

/* Unconsumed bytes move to the front of the buffer: a reader fed an
 * endless stream of frames, each read filling all the room offered and
 * cutting a frame, keeps a bounded buffer instead of creeping forward. */
static void test_compaction(void **state)
{
  enum { BODY = 100, FRAME = BODY + 4 };
  pgml_frame_reader_t r;
  uint64_t written = 0, taken = 0;
  int round;

  (void)state;
  pgml_frame_reader_init(&r, 0);
  for (round = 0; round < 200; round++) {
    const uint8_t *body;
    uint8_t *space;
    size_t room, i, pending_before;
    uint32_t len;

    pending_before = r.end - r.start;
    assert_int_equal(pgml_frame_reader_space(&r, 0, &space, &room), 0);
    /* The partial frame left by the last round now starts the buffer. */
    if (round > 0) {
      assert_int_equal(r.start, 0);
      assert_int_equal(r.end, pending_before);
    }
    assert_true(r.cap <= 2 * MIN_READ);
    /* Write the stream's next bytes: frames of BODY bytes of value
     * (frame number % 251). */
    for (i = 0; i < room; i++, written++) {
      uint64_t k = written / FRAME, at = written % FRAME;
      uint8_t hdr[4];
      pgml_frame_put_header(hdr, BODY);
      space[i] = at < 4 ? hdr[at] : (uint8_t)(k % 251);
    }
    pgml_frame_reader_commit(&r, room);
    while (pgml_frame_reader_next(&r, &body, &len) == 1) {
      assert_int_equal(len, BODY);
      assert_int_equal(body[0], (uint8_t)(taken % 251));
      assert_int_equal(body[BODY - 1], (uint8_t)(taken % 251));
      taken++;
    }
    assert_int_equal(taken, written / FRAME);
    /* Every round ends inside a frame, so there is something to move. */
    assert_true(r.end - r.start > 0 || written % FRAME == 0);
  }
  assert_true(taken > 200);
  pgml_frame_reader_free(&r);
}

/* A failed allocation changes nothing, and a later call succeeds. */
static void test_enomem(void **state)
{
  static const uint32_t lens[] = {70000};
  pgml_frame_reader_t r;
  const uint8_t *body;
  uint8_t *space;
  size_t room;
  uint32_t len;
  stream_t s;

  (void)state;
  pgml_frame_reader_init(&r, 0);
  pgml__alloc_fail_after(1, 0);
  assert_int_equal(pgml_frame_reader_space(&r, 0, &space, &room), -ENOMEM);
  assert_null(r.buf);
  assert_int_equal(r.cap, 0);
  assert_int_equal(pgml_frame_reader_space(&r, 0, &space, &room), 0);

  /* Growing for a large frame fails the same way: the bytes already read
   * are kept. */
  stream_build(&s, lens, 1);
  memcpy(space, s.bytes, 100);
  pgml_frame_reader_commit(&r, 100);
  pgml__alloc_fail_after(1, 0);
  assert_int_equal(pgml_frame_reader_space(&r, 0, &space, &room), -ENOMEM);
  assert_int_equal(r.end - r.start, 100);
  assert_memory_equal(r.buf + r.start, s.bytes, 100);
  assert_int_equal(pgml_frame_reader_space(&r, 0, &space, &room), 0);
  assert_true(room >= s.len - 100);
  memcpy(space, s.bytes + 100, s.len - 100);
  pgml_frame_reader_commit(&r, s.len - 100);
  assert_int_equal(pgml_frame_reader_next(&r, &body, &len), 1);
  assert_int_equal(len, 70000);
  assert_memory_equal(body, s.bytes + 4, 70000);
  pgml__alloc_fail_after(0, 0);
  pgml_frame_reader_free(&r);
  free(s.bytes);
}

static void test_put_header(void **state)
{
  static const struct {
    uint32_t len;
    uint8_t bytes[4];
  } cases[] = {
    {0, {0, 0, 0, 0}},
    {1, {0, 0, 0, 1}},
    {0x0102, {0, 0, 1, 2}},
    {0x01020304, {1, 2, 3, 4}},
    {0xffffffffu, {0xff, 0xff, 0xff, 0xff}},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint8_t out[4];
    pgml_frame_put_header(out, cases[i].len);
    assert_memory_equal(out, cases[i].bytes, 4);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_feed_table),
    cmocka_unit_test(test_split_byte_by_byte_needs_more),
    cmocka_unit_test(test_oversized_refused_before_allocation),
    cmocka_unit_test(test_compaction),
    cmocka_unit_test(test_enomem),
    cmocka_unit_test(test_put_header),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
