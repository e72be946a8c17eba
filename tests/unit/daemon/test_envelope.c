/* test_envelope.c - rpc/envelope.c: decoding a client's Frame, checking it,
 * encoding responses; the hex examples of docs/protocol.md; and allocation
 * fault injection over decode and encode. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "frame.h"
#include "pgml/v1/database.pb-c.h"
#include "pgml/v1/frame.pb-c.h"
#include "rpc/envelope.h"
#include "rpc/status.h"

#define PING "pgml.v1.Database/Ping"

/* ------------------------------------------------------------ helpers */

/* Packs a Frame with protobuf-c into a malloc'd buffer (no length prefix). */
static uint8_t *pack(const Pgml__V1__Frame *f, size_t *len)
{
  uint8_t *buf;

  *len = pgml__v1__frame__get_packed_size(f);
  buf = malloc(*len ? *len : 1);
  assert_non_null(buf);
  assert_int_equal(pgml__v1__frame__pack(f, buf), *len);
  return buf;
}

/* A REQUEST with every field a client may set. */
static uint8_t *full_request(size_t *len)
{
  static uint8_t payload[] = {0x0a, 0x02, 'h', 'i'};
  Pgml__V1__Frame__MetadataEntry e1 = PGML__V1__FRAME__METADATA_ENTRY__INIT;
  Pgml__V1__Frame__MetadataEntry e2 = PGML__V1__FRAME__METADATA_ENTRY__INIT;
  Pgml__V1__Frame__MetadataEntry e3 = PGML__V1__FRAME__METADATA_ENTRY__INIT;
  Pgml__V1__Frame__MetadataEntry *md[] = {&e1, &e2, &e3};
  Pgml__V1__Frame f = PGML__V1__FRAME__INIT;

  e1.key = "authorization";
  e1.value = "Bearer first";
  e2.key = "trace";
  e2.value = "abc";
  e3.key = "authorization";
  e3.value = "Bearer second";
  f.id = 0x1122334455667788ull;
  f.kind = PGML__V1__FRAME__KIND__REQUEST;
  f.method = PING;
  f.payload.data = payload;
  f.payload.len = sizeof(payload);
  f.timeout_ms = 1500;
  f.n_metadata = 3;
  f.metadata = md;
  return pack(&f, len);
}

/* Splits an encoded response (with its prefix) and decodes its Frame. */
static Pgml__V1__Frame *unpack_response(const uint8_t *buf, size_t len)
{
  const uint8_t *body;
  uint32_t blen;
  pgml_frame_reader_t r;
  uint8_t *space;
  size_t room;
  Pgml__V1__Frame *f;

  pgml_frame_reader_init(&r, 0);
  assert_int_equal(pgml_frame_reader_space(&r, len, &space, &room), 0);
  memcpy(space, buf, len);
  pgml_frame_reader_commit(&r, len);
  assert_int_equal(pgml_frame_reader_next(&r, &body, &blen), 1);
  assert_int_equal((size_t)blen + 4, len);   /* exactly one frame */
  f = pgml__v1__frame__unpack(NULL, blen, body);
  assert_non_null(f);
  pgml_frame_reader_free(&r);
  return f;
}

static void assert_contains(const char *haystack, const char *needle)
{
  if (strstr(haystack, needle) == NULL)
    fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static int setup(void **state)
{
  (void)state;
  pgmld_alloc_init();
  pgmld_alloc_fail_after(0, 0);
  return 0;
}

/* ------------------------------------------------------------ decode */

typedef struct decode_case_s {
  const char *name;
  const uint8_t *bytes;
  size_t len;
  int rc;                 /* expected result */
  const char *needle;     /* in the status message when rc < 0 */
} decode_case_t;

static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff};
/* method (field 3) sent as a varint. */
static const uint8_t method_varint[] = {0x08, 0x01, 0x18, 0x05};
/* method with length 50 and 3 bytes. */
static const uint8_t method_truncated[] = {0x08, 0x01, 0x1a, 0x32, 'a', 'b', 'c'};
/* A tag cut in the middle of its varint. */
static const uint8_t tag_cut[] = {0x08, 0x01, 0x80};
/* Field number 0. */
static const uint8_t field_zero[] = {0x00, 0x01};
/* A group wire type. */
static const uint8_t group[] = {0x0b, 0x0c};
/* An unknown field (number 100, varint) is skipped, as protobuf says. */
static const uint8_t unknown_field[] = {0x08, 0x07, 0xa0, 0x06, 0x01};
/* metadata entry (field 9) whose inner key has the wrong wire type. */
static const uint8_t bad_metadata[] = {0x08, 0x01, 0x4a, 0x02, 0x08, 0x01};

static const decode_case_t decode_cases[] = {
  {"empty body: an empty Frame", (const uint8_t *)"", 0, 0, NULL},
  {"all 0xff", garbage, sizeof(garbage), -EBADMSG, "is not a pgml.v1.Frame"},
  {"string field as varint", method_varint, sizeof(method_varint), -EBADMSG,
   "field 3 (method) has wire type 0 (varint), expected 2 (length-delimited)"},
  {"length past the end", method_truncated, sizeof(method_truncated), -EBADMSG,
   "length 50 at byte 3 runs past the end"},
  {"tag cut", tag_cut, sizeof(tag_cut), -EBADMSG, "byte 2"},
  {"field number 0", field_zero, sizeof(field_zero), -EBADMSG, "field number 0"},
  {"group wire type", group, sizeof(group), -EBADMSG, "group wire type"},
  {"unknown field skipped", unknown_field, sizeof(unknown_field), 0, NULL},
  {"bad nested metadata", bad_metadata, sizeof(bad_metadata), -EBADMSG,
   "in field 9 (metadata)"},
};

static void test_decode_table(void **state)
{
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
    const decode_case_t *c = &decode_cases[i];
    pgmld_status_t st = PGMLD_STATUS_INIT;
    Pgml__V1__Frame *f = (Pgml__V1__Frame *)1;
    long live = pgmld_alloc_live();
    int rc;

    print_message("case: %s\n", c->name);
    rc = pgmld_envelope_decode(c->bytes, c->len, &f, &st);
    assert_int_equal(rc, c->rc);
    if (rc == 0) {
      assert_non_null(f);
      assert_int_equal(st.code, PGMLD_OK);
      pgmld_envelope_free(f);
    } else {
      assert_null(f);
      assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
      assert_contains(st.message, c->needle);
      /* The message says how big the frame was. */
      assert_contains(st.message, "bytes is not a pgml.v1.Frame");
    }
    assert_int_equal(pgmld_alloc_live(), live);
  }
}

static void test_decode_full_request(void **state)
{
  pgmld_status_t st = PGMLD_STATUS_INIT;
  Pgml__V1__Frame *f;
  uint64_t reply_id = 99;
  size_t len;
  uint8_t *bytes = full_request(&len);

  (void)state;
  assert_int_equal(pgmld_envelope_decode(bytes, len, &f, &st), 0);
  assert_int_equal(f->id, 0x1122334455667788ull);
  assert_int_equal(f->kind, PGML__V1__FRAME__KIND__REQUEST);
  assert_string_equal(f->method, PING);
  assert_int_equal(f->payload.len, 4);
  assert_memory_equal(f->payload.data, "\x0a\x02hi", 4);
  assert_int_equal(f->timeout_ms, 1500);
  assert_int_equal(pgmld_envelope_validate(f, &reply_id, &st), 0);
  assert_int_equal(reply_id, 0x1122334455667788ull);
  /* A key given twice: the last one wins, as in a decoded map. */
  assert_string_equal(pgmld_envelope_metadata(f, "authorization"), "Bearer second");
  assert_string_equal(pgmld_envelope_metadata(f, "trace"), "abc");
  assert_null(pgmld_envelope_metadata(f, "Trace"));
  assert_null(pgmld_envelope_metadata(f, "missing"));
  pgmld_envelope_free(f);
  free(bytes);
}

/* ------------------------------------------------------------ validate */

typedef struct validate_case_s {
  const char *name;
  uint64_t id;
  int kind;
  const char *method;
  int rc;
  uint64_t reply_id;
  const char *needle;
} validate_case_t;

static const validate_case_t validate_cases[] = {
  {"request", 7, PGML__V1__FRAME__KIND__REQUEST, PING, 0, 7, NULL},
  {"request with id 0", 0, PGML__V1__FRAME__KIND__REQUEST, PING, -EINVAL, 0,
   "a REQUEST needs a non-zero id"},
  {"request without method", 9, PGML__V1__FRAME__KIND__REQUEST, NULL, -EINVAL, 9,
   "REQUEST 9 has no method"},
  {"request with empty method", 10, PGML__V1__FRAME__KIND__REQUEST, "", -EINVAL, 10,
   "REQUEST 10 has no method"},
  {"empty frame (zero-length body)", 0, PGML__V1__FRAME__KIND__REQUEST, NULL, -EINVAL,
   0, "non-zero id"},
  {"cancel", 5, PGML__V1__FRAME__KIND__CANCEL, NULL, 0, 0, NULL},
  {"cancel of id 0", 0, PGML__V1__FRAME__KIND__CANCEL, NULL, 0, 0, NULL},
  {"response from a client", 11, PGML__V1__FRAME__KIND__RESPONSE, NULL, -EINVAL, 0,
   "a client may not send RESPONSE frames (id 11)"},
  {"unknown kind", 12, 7, PING, -EINVAL, 0, "unknown frame kind 7"},
};

static void test_validate_table(void **state)
{
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(validate_cases) / sizeof(validate_cases[0]); i++) {
    const validate_case_t *c = &validate_cases[i];
    pgmld_status_t st = PGMLD_STATUS_INIT;
    Pgml__V1__Frame in = PGML__V1__FRAME__INIT;
    Pgml__V1__Frame *f;
    uint64_t reply_id = 12345;
    uint8_t *bytes;
    size_t len;

    print_message("case: %s\n", c->name);
    in.id = c->id;
    in.kind = (Pgml__V1__Frame__Kind)c->kind;
    in.method = (char *)(c->method ? c->method : "");
    /* Through the wire, as the daemon sees it: an unknown kind survives
     * decoding as its number. */
    bytes = pack(&in, &len);
    assert_int_equal(pgmld_envelope_decode(bytes, len, &f, &st), 0);
    assert_int_equal(pgmld_envelope_validate(f, &reply_id, &st), c->rc);
    assert_int_equal(reply_id, c->reply_id);
    if (c->rc < 0) {
      assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
      assert_contains(st.message, c->needle);
    } else {
      assert_int_equal(st.code, PGMLD_OK);
    }
    pgmld_envelope_free(f);
    free(bytes);
  }
}

/* ------------------------------------------------------------ encode */

static void test_encode_reply_roundtrip(void **state)
{
  static const size_t sizes[] = {0, 1, 127, 128, 16383, 16384, 100000};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    Pgml__V1__PingResponse resp = PGML__V1__PING_RESPONSE__INIT;
    Pgml__V1__PingResponse *back;
    pgmld_status_t st = PGMLD_STATUS_INIT;
    Pgml__V1__Frame *f;
    uint8_t *data = malloc(sizes[i] + 1), *buf;
    size_t len, k;

    for (k = 0; k < sizes[i]; k++)
      data[k] = (uint8_t)(k * 13);
    resp.data.data = data;
    resp.data.len = sizes[i];
    assert_int_equal(pgmld_envelope_encode_reply(42 + i, &resp.base, 1u << 20, &buf,
                                                 &len, &st), 0);
    f = unpack_response(buf, len);
    assert_int_equal(f->id, 42 + i);
    assert_int_equal(f->kind, PGML__V1__FRAME__KIND__RESPONSE);
    assert_int_equal(f->code, PGML__V1__CODE__OK);
    assert_string_equal(f->message, "");
    back = pgml__v1__ping_response__unpack(NULL, f->payload.len, f->payload.data);
    assert_non_null(back);
    assert_int_equal(back->data.len, sizes[i]);
    if (sizes[i] > 0)
      assert_memory_equal(back->data.data, data, sizes[i]);
    pgml__v1__ping_response__free_unpacked(back, NULL);
    pgml__v1__frame__free_unpacked(f, NULL);
    pgmld_free(buf);
    free(data);
  }
}

/* The hand-written reply is byte for byte what protobuf-c packs for the
 * same Frame (ids of every varint length, payloads empty and not). */
static void test_encode_reply_bytes(void **state)
{
  static const uint64_t ids[] = {1, 127, 128, 300, 1ull << 35, UINT64_MAX};
  static const size_t sizes[] = {0, 1, 200};
  size_t i, j;

  (void)state;
  for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
    for (j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
      Pgml__V1__PingResponse resp = PGML__V1__PING_RESPONSE__INIT;
      Pgml__V1__Frame f = PGML__V1__FRAME__INIT;
      pgmld_status_t st = PGMLD_STATUS_INIT;
      uint8_t data[200], inner[256], *want, *buf;
      size_t wlen, len;

      memset(data, 0x5a, sizeof(data));
      resp.data.data = data;
      resp.data.len = sizes[j];
      f.id = ids[i];
      f.kind = PGML__V1__FRAME__KIND__RESPONSE;
      f.payload.len = pgml__v1__ping_response__pack(&resp, inner);
      f.payload.data = inner;
      want = pack(&f, &wlen);
      assert_int_equal(pgmld_envelope_encode_reply(ids[i], &resp.base, 1u << 20, &buf,
                                                   &len, &st), 0);
      assert_int_equal(len, PGML_FRAME_HEADER_SIZE + wlen);
      assert_int_equal(((uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
                        (uint32_t)buf[2] << 8 | buf[3]), wlen);
      assert_memory_equal(buf + PGML_FRAME_HEADER_SIZE, want, wlen);
      pgmld_free(buf);
      free(want);
    }
  }
}

typedef struct peek_case_s {
  const char *what;
  const uint8_t *bytes;
  size_t len;
  int taken;
} peek_case_t;

/* The fast reader takes the plain REQUEST and leaves everything else to
 * protobuf-c: what it takes it reads exactly as protobuf-c does. */
static void test_peek(void **state)
{
  /* id 300, method "pgml.v1.Database/Ping", payload {0a 02 68 69},
   * timeout_ms 1500 */
  static const uint8_t plain[] = {
    0x08, 0xac, 0x02, 0x1a, 21, 'p', 'g', 'm', 'l', '.', 'v', '1', '.', 'D', 'a',
    't', 'a', 'b', 'a', 's', 'e', '/', 'P', 'i', 'n', 'g', 0x22, 0x04, 0x0a, 0x02,
    'h', 'i', 0x40, 0xdc, 0x0b};
  static const uint8_t kind0[] = {0x08, 0x01, 0x10, 0x00, 0x1a, 0x01, 'X'};
  static const uint8_t cancel[] = {0x08, 0x01, 0x10, 0x02};
  static const uint8_t no_id[] = {0x1a, 0x01, 'X'};
  static const uint8_t no_method[] = {0x08, 0x01, 0x22, 0x00};
  static const uint8_t twice[] = {0x08, 0x01, 0x08, 0x02, 0x1a, 0x01, 'X'};
  static const uint8_t metadata[] = {0x08, 0x01, 0x1a, 0x01, 'X', 0x4a, 0x03, 0x0a, 0x01, 'k'};
  static const uint8_t code[] = {0x08, 0x01, 0x1a, 0x01, 'X', 0x28, 0x01};
  static const uint8_t unknown[] = {0x08, 0x01, 0x1a, 0x01, 'X', 0x50, 0x01};
  static const uint8_t cut_len[] = {0x08, 0x01, 0x1a, 0x05, 'X'};
  static const uint8_t cut_varint[] = {0x1a, 0x01, 'X', 0x08, 0x81};
  static const uint8_t big_timeout[] = {0x08, 0x01, 0x1a, 0x01, 'X', 0x40, 0x80, 0x80,
                                        0x80, 0x80, 0x10};
  static const uint8_t wrong_type[] = {0x08, 0x01, 0x18, 0x01};
  static const peek_case_t cases[] = {
    {"plain request", plain, sizeof(plain), 1},
    {"explicit kind REQUEST", kind0, sizeof(kind0), 1},
    {"cancel", cancel, sizeof(cancel), 0},
    {"id 0", no_id, sizeof(no_id), 0},
    {"no method", no_method, sizeof(no_method), 0},
    {"id twice", twice, sizeof(twice), 0},
    {"metadata", metadata, sizeof(metadata), 0},
    {"code set", code, sizeof(code), 0},
    {"unknown field", unknown, sizeof(unknown), 0},
    {"length past the end", cut_len, sizeof(cut_len), 0},
    {"varint cut", cut_varint, sizeof(cut_varint), 0},
    {"timeout over 32 bits", big_timeout, sizeof(big_timeout), 0},
    {"method as varint", wrong_type, sizeof(wrong_type), 0},
    {"empty", plain, 0, 0},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    pgmld_status_t st = PGMLD_STATUS_INIT;
    pgmld_frame_view_t v;
    Pgml__V1__Frame *f;

    if (pgmld_envelope_peek(cases[i].bytes, cases[i].len, &v) != cases[i].taken)
      fail_msg("peek(%s): expected %d", cases[i].what, cases[i].taken);
    if (!cases[i].taken)
      continue;
    assert_int_equal(pgmld_envelope_decode(cases[i].bytes, cases[i].len, &f, &st), 0);
    assert_int_equal(v.id, f->id);
    assert_int_equal(v.method_len, strlen(f->method));
    assert_memory_equal(v.method, f->method, v.method_len);
    assert_int_equal(v.payload_len, f->payload.len);
    if (v.payload_len > 0)
      assert_memory_equal(v.payload, f->payload.data, v.payload_len);
    assert_int_equal(v.timeout_ms, f->timeout_ms);
    pgmld_envelope_free(f);
  }
  {
    pgmld_frame_view_t v;
    assert_int_equal(pgmld_envelope_peek(plain, sizeof(plain), &v), 1);
    assert_int_equal(v.id, 300);
    assert_int_equal(v.timeout_ms, 1500);
    assert_int_equal(v.method_len, strlen(PING));
    assert_memory_equal(v.method, PING, v.method_len);
    assert_ptr_equal(v.payload, plain + 28);
    assert_int_equal(v.payload_len, 4);
  }
}

static void test_encode_reply_limit(void **state)
{
  Pgml__V1__PingResponse resp = PGML__V1__PING_RESPONSE__INIT;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  uint8_t data[2000] = {0};
  uint8_t *buf = NULL;
  size_t len = 0;
  long live = pgmld_alloc_live();

  (void)state;
  resp.data.data = data;
  resp.data.len = sizeof(data);
  /* Frame body: id (2) + kind (2) + payload tag/len (3) + 2000 + 3 = 2010. */
  assert_int_equal(pgmld_envelope_encode_reply(1, &resp.base, 1024, &buf, &len, &st),
                   -EMSGSIZE);
  assert_null(buf);
  assert_int_equal(st.code, PGMLD_RESOURCE_EXHAUSTED);
  assert_contains(st.message, "response of 2010 bytes exceeds "
                              "limits.max_frame_size (1024)");
  assert_int_equal(pgmld_alloc_live(), live);
  /* The exact size is allowed. */
  assert_int_equal(pgmld_envelope_encode_reply(1, &resp.base, 2010, &buf, &len, &st), 0);
  assert_int_equal(len, 2014);
  pgmld_free(buf);
}

typedef struct error_case_s {
  const char *name;
  uint64_t id;
  pgmld_code_t code;
  const char *message;
  const char *details;
  const char *want_message;   /* NULL: same as message */
  const char *want_details;   /* "" when none */
} error_case_t;

static const error_case_t error_cases[] = {
  {"plain", 3, PGMLD_NOT_FOUND, "collection x does not exist", NULL, NULL, ""},
  {"connection-level, with details", 0, PGMLD_RESOURCE_EXHAUSTED,
   "frame of 99 bytes exceeds limits.max_frame_size (10)",
   "{\"limit\":\"max_frame_size\",\"value\":10}", NULL,
   "{\"limit\":\"max_frame_size\",\"value\":10}"},
  {"invalid UTF-8 repaired", 4, PGMLD_INVALID_ARGUMENT, "bad \xff\xfe byte", NULL,
   "bad ?? byte", ""},
  {"valid UTF-8 kept", 5, PGMLD_INVALID_ARGUMENT, "caf\xc3\xa9", NULL, NULL, ""},
  {"NULL message", 6, PGMLD_INTERNAL, NULL, NULL, "", ""},
  {"empty details left out", 7, PGMLD_ABORTED, "x", "", NULL, ""},
};

static void test_encode_error_table(void **state)
{
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
    const error_case_t *c = &error_cases[i];
    Pgml__V1__Frame *f;
    uint8_t *buf;
    size_t len;

    print_message("case: %s\n", c->name);
    assert_int_equal(pgmld_envelope_encode_error(c->id, c->code, c->message,
                                                 c->details, &buf, &len), 0);
    f = unpack_response(buf, len);
    assert_int_equal(f->id, c->id);
    assert_int_equal(f->kind, PGML__V1__FRAME__KIND__RESPONSE);
    assert_int_equal(f->code, (int)c->code);
    assert_string_equal(f->message, c->want_message ? c->want_message : c->message);
    assert_string_equal(f->details, c->want_details);
    assert_int_equal(f->payload.len, 0);
    pgml__v1__frame__free_unpacked(f, NULL);
    pgmld_free(buf);
  }
}

static void test_encode_error_cut(void **state)
{
  char big[2000];
  Pgml__V1__Frame *f;
  uint8_t *buf;
  size_t len;

  (void)state;
  memset(big, 'm', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  /* A multi-byte character straddling the cut is left out, not split. */
  memcpy(big + PGMLD_STATUS_MESSAGE_MAX - 2, "\xe2\x82\xac", 3);
  assert_int_equal(pgmld_envelope_encode_error(1, PGMLD_INTERNAL, big, NULL, &buf,
                                               &len), 0);
  f = unpack_response(buf, len);
  assert_int_equal(strlen(f->message), PGMLD_STATUS_MESSAGE_MAX - 2);
  pgml__v1__frame__free_unpacked(f, NULL);
  pgmld_free(buf);
}

static void test_quote(void **state)
{
  static const struct {
    const char *in;
    size_t max;
    size_t buflen;
    const char *out;
  } cases[] = {
    {"pgml.v1.Database/Ping", 128, 64, "pgml.v1.Database/Ping"},
    {"a\nb\x01" "c\xff", 128, 64, "a?b?c?"},
    {"abcdefghij", 4, 64, "abcd..."},
    {"abcdefghij", 128, 6, "abcde"},
    {"", 128, 8, ""},
    /* Buffers too small for "...": no byte written outside them. */
    {"abcdefghij", 2, 4, "..."},
    {"abcdefghij", 1, 3, ".."},
    {"abcdefghij", 1, 2, "a"},
    {"abcdefghij", 0, 2, "."},
    {"abcdefghij", 0, 1, ""},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    /* Guard bytes after the buffer the function is told about. */
    char buf[64 + 8];
    memset(buf, '#', sizeof(buf));
    assert_string_equal(pgmld_envelope_quote(cases[i].in, cases[i].max, buf,
                                             cases[i].buflen), cases[i].out);
    assert_memory_equal(buf + cases[i].buflen, "########", 8);
  }
}

/* ------------------------------------------------------------ docs/protocol.md */

/* The Ping example of docs/protocol.md, byte for byte.  If the encoding
 * ever changes, this test fails and the page must be regenerated. */
static const uint8_t doc_ping_request[] = {
  0x00, 0x00, 0x00, 0x22,                         /* length 34 */
  0x08, 0x01,                                     /* 1 id = 1 */
  0x1a, 0x15, 'p', 'g', 'm', 'l', '.', 'v', '1', '.', 'D', 'a', 't', 'a', 'b',
  'a', 's', 'e', '/', 'P', 'i', 'n', 'g',         /* 3 method */
  0x22, 0x04, 0x0a, 0x02, 'h', 'i',               /* 4 payload: PingRequest */
  0x40, 0xe8, 0x07,                               /* 8 timeout_ms = 1000 */
};

static const uint8_t doc_ping_response[] = {
  0x00, 0x00, 0x00, 0x0a,                         /* length 10 */
  0x08, 0x01,                                     /* 1 id = 1 */
  0x10, 0x01,                                     /* 2 kind = RESPONSE */
  0x22, 0x04, 0x0a, 0x02, 'h', 'i',               /* 4 payload: PingResponse */
};

static const uint8_t doc_error_response[] = {
  0x00, 0x00, 0x00, 0x2c,                         /* length 44 */
  0x08, 0x02,                                     /* 1 id = 2 */
  0x10, 0x01,                                     /* 2 kind = RESPONSE */
  0x28, 0x0c,                                     /* 5 code = UNIMPLEMENTED */
  0x32, 0x24, 'u', 'n', 'k', 'n', 'o', 'w', 'n', ' ', 'm', 'e', 't', 'h', 'o',
  'd', ' ', 'p', 'g', 'm', 'l', '.', 'v', '1', '.', 'D', 'a', 't', 'a', 'b',
  'a', 's', 'e', '/', 'N', 'o', 'p', 'e',         /* 6 message */
};

static void test_doc_examples(void **state)
{
  Pgml__V1__PingRequest preq = PGML__V1__PING_REQUEST__INIT;
  Pgml__V1__PingResponse presp = PGML__V1__PING_RESPONSE__INIT;
  Pgml__V1__Frame f = PGML__V1__FRAME__INIT;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  uint8_t payload[16], *buf;
  size_t plen, len;

  (void)state;
  /* The request, as a client encodes it. */
  preq.data.data = (uint8_t *)"hi";
  preq.data.len = 2;
  plen = pgml__v1__ping_request__pack(&preq, payload);
  f.id = 1;
  f.kind = PGML__V1__FRAME__KIND__REQUEST;
  f.method = PING;
  f.payload.data = payload;
  f.payload.len = plen;
  f.timeout_ms = 1000;
  buf = pack(&f, &len);
  assert_int_equal(len + 4, sizeof(doc_ping_request));
  assert_memory_equal(buf, doc_ping_request + 4, len);
  free(buf);

  /* The response, as pgmld encodes it. */
  presp.data.data = (uint8_t *)"hi";
  presp.data.len = 2;
  assert_int_equal(pgmld_envelope_encode_reply(1, &presp.base, 1u << 24, &buf, &len,
                                               &st), 0);
  assert_int_equal(len, sizeof(doc_ping_response));
  assert_memory_equal(buf, doc_ping_response, len);
  pgmld_free(buf);

  assert_int_equal(pgmld_envelope_encode_error(2, PGMLD_UNIMPLEMENTED,
                                               "unknown method pgml.v1.Database/Nope",
                                               NULL, &buf, &len), 0);
  assert_int_equal(len, sizeof(doc_error_response));
  assert_memory_equal(buf, doc_error_response, len);
  pgmld_free(buf);
}

/* ------------------------------------------------------------ fault injection */

/* Fails the 1st, 2nd, ... allocation of fn until it succeeds; each failure
 * must report RESOURCE_EXHAUSTED (when the function takes a status) and
 * leave no block allocated.  Returns the number of allocations fn needs. */
typedef int (*alloc_fn)(pgmld_status_t *st, void **out);

static unsigned long inject(alloc_fn fn, void (*release)(void *), int has_status)
{
  unsigned long n;

  for (n = 1; n < 10000; n++) {
    pgmld_status_t st = PGMLD_STATUS_INIT;
    long live = pgmld_alloc_live();
    void *out = NULL;
    int rc;

    pgmld_alloc_fail_after(n, 0);
    rc = fn(&st, &out);
    pgmld_alloc_fail_after(0, 0);
    if (rc == 0) {
      release(out);
      assert_int_equal(pgmld_alloc_live(), live);
      return n;
    }
    assert_int_equal(rc, -ENOMEM);
    if (has_status) {
      assert_int_equal(st.code, PGMLD_RESOURCE_EXHAUSTED);
      assert_contains(st.message, "out of memory");
    }
    assert_null(out);
    assert_int_equal(pgmld_alloc_live(), live);
  }
  fail_msg("still failing after %lu injected failures", n);
  return 0;
}

static uint8_t *fi_bytes;
static size_t fi_len;

static int do_decode(pgmld_status_t *st, void **out)
{
  Pgml__V1__Frame *f;
  int rc = pgmld_envelope_decode(fi_bytes, fi_len, &f, st);

  *out = f;
  return rc;
}

static void release_frame(void *p)
{
  pgmld_envelope_free(p);
}

static int do_encode_reply(pgmld_status_t *st, void **out)
{
  Pgml__V1__PingResponse resp = PGML__V1__PING_RESPONSE__INIT;
  uint8_t *buf = NULL;
  size_t len;
  int rc;

  resp.data.data = (uint8_t *)"payload";
  resp.data.len = 7;
  rc = pgmld_envelope_encode_reply(9, &resp.base, 1u << 20, &buf, &len, st);
  *out = buf;
  return rc;
}

static int do_encode_error(pgmld_status_t *st, void **out)
{
  uint8_t *buf = NULL;
  size_t len;
  int rc = pgmld_envelope_encode_error(9, PGMLD_INTERNAL, "boom", "{\"a\":1}", &buf,
                                       &len);

  (void)st;
  *out = buf;
  return rc;
}

static void release_buf(void *p)
{
  pgmld_free(p);
}

static void test_fault_injection(void **state)
{
  unsigned long n;

  (void)state;
  fi_bytes = full_request(&fi_len);
  n = inject(do_decode, release_frame, 1);
  /* The frame, method, payload, metadata array and 3 entries with 2
   * strings each: a decode that allocates is really exercised. */
  assert_true(n > 8);
  print_message("decode: %lu allocations, each failed once\n", n - 1);
  free(fi_bytes);
  n = inject(do_encode_reply, release_buf, 1);
  assert_true(n >= 2);
  n = inject(do_encode_error, release_buf, 0);
  assert_true(n >= 3);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(test_decode_table, setup),
    cmocka_unit_test_setup(test_decode_full_request, setup),
    cmocka_unit_test_setup(test_validate_table, setup),
    cmocka_unit_test_setup(test_encode_reply_roundtrip, setup),
    cmocka_unit_test_setup(test_encode_reply_bytes, setup),
    cmocka_unit_test_setup(test_peek, setup),
    cmocka_unit_test_setup(test_encode_reply_limit, setup),
    cmocka_unit_test_setup(test_encode_error_table, setup),
    cmocka_unit_test_setup(test_encode_error_cut, setup),
    cmocka_unit_test_setup(test_quote, setup),
    cmocka_unit_test_setup(test_doc_examples, setup),
    cmocka_unit_test_setup(test_fault_injection, setup),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
