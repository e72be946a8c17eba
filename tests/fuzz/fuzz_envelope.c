/* fuzz_envelope.c - libFuzzer target over everything pgmld does with the
 * bytes a client sends before a handler runs: the stream framing
 * (clients/c/src/frame.c), Frame decoding and validation
 * (rpc/envelope.c), method lookup and payload decoding (rpc/dispatch.c),
 * and the encoding of the answers.
 *
 * Input: byte 0 picks the read size the stream is fed in (1 to 256 bytes,
 * so frames arrive split and coalesced); the rest is the stream.
 * Invariants checked (abort on violation): every decode failure carries
 * INVALID_ARGUMENT or UNIMPLEMENTED with a message; every answer encodes
 * and decodes back to what was meant; a decoded request is of the method's
 * input type and survives a pack/unpack round trip; whenever pgmld's fast
 * path (pgmld_envelope_peek() + pgmld_dispatch_find_n()) would take a
 * frame, protobuf-c decodes it too, to the same id, method, payload and
 * timeout, with nothing else set, and the request decoded from the view's
 * payload into a call arena (rpc/arena.c), as pgmld does, equals the one
 * from protobuf-c's; nothing leaks (the allocation
 * wrapper's live count returns to where it was). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "frame.h"
#include "pgml/v1/database.pb-c.h"
#include "pgml/v1/frame.pb-c.h"
#include "rpc/arena.h"
#include "rpc/dispatch.h"
#include "rpc/envelope.h"

/* Small, so that oversized frames are found quickly. */
#define MAX_FRAME (64u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,     \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static void handler(pgmld_call_t *call, const ProtobufCMessage *request)
{
  (void)call;
  (void)request;
}

/* Every method has a handler except ServerInfo, so that both UNIMPLEMENTED
 * answers are reachable. */
static pgmld_dispatch_t *table(void)
{
  static pgmld_dispatch_t *d;
  size_t i;

  if (d != NULL)
    return d;
  if (pgmld_dispatch_new(&pgml__v1__database__descriptor, &d) < 0)
    abort();
  for (i = 0; i < d->n_methods; i++)
    if (strcmp(d->methods[i].desc->name, "ServerInfo") != 0 &&
        pgmld_dispatch_set_handler(d, d->methods[i].full_name, handler) < 0)
      abort();
  return d;
}

/* The error answer for st encodes, frames and decodes back to the same id
 * and code, with a valid UTF-8 message (protobuf-c refuses invalid UTF-8
 * in strings only when asked, so length and code are checked). */
static void check_error_answer(uint64_t id, const pgmld_status_t *st)
{
  Pgml__V1__Frame *back;
  uint8_t *buf;
  size_t len;

  CHECK(st->code != PGMLD_OK);
  CHECK(st->message[0] != '\0');
  if (pgmld_envelope_encode_error(id, st->code, st->message, NULL, &buf, &len) < 0)
    return;   /* out of memory: allowed */
  CHECK(len >= PGML_FRAME_HEADER_SIZE);
  CHECK(((uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 |
         buf[3]) == len - PGML_FRAME_HEADER_SIZE);
  back = pgml__v1__frame__unpack(NULL, len - PGML_FRAME_HEADER_SIZE,
                                 buf + PGML_FRAME_HEADER_SIZE);
  CHECK(back != NULL);
  CHECK(back->id == id);
  CHECK(back->kind == PGML__V1__FRAME__KIND__RESPONSE);
  CHECK((int)back->code == (int)st->code);
  CHECK(strlen(back->message) <= PGMLD_STATUS_MESSAGE_MAX);
  pgml__v1__frame__free_unpacked(back, NULL);
  pgmld_free(buf);
}

/* A decoded request packs, unpacks and is answered with itself as payload. */
static void check_request(uint64_t id, const ProtobufCMessage *req)
{
  size_t n = protobuf_c_message_get_packed_size(req);
  uint8_t *tmp = malloc(n ? n : 1), *buf;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  ProtobufCMessage *again;
  Pgml__V1__Frame *back;
  size_t len;

  CHECK(tmp != NULL);
  CHECK(protobuf_c_message_pack(req, tmp) == n);
  again = protobuf_c_message_unpack(req->descriptor, NULL, n, tmp);
  CHECK(again != NULL);
  CHECK(protobuf_c_message_get_packed_size(again) == n);
  protobuf_c_message_free_unpacked(again, NULL);

  if (pgmld_envelope_encode_reply(id, req, MAX_FRAME, &buf, &len, &st) == 0) {
    back = pgml__v1__frame__unpack(NULL, len - PGML_FRAME_HEADER_SIZE,
                                   buf + PGML_FRAME_HEADER_SIZE);
    CHECK(back != NULL);
    CHECK(back->id == id);
    CHECK(back->code == PGML__V1__CODE__OK);
    CHECK(back->payload.len == n);
    CHECK(n == 0 || memcmp(back->payload.data, tmp, n) == 0);
    pgml__v1__frame__free_unpacked(back, NULL);
    pgmld_free(buf);
  } else {
    CHECK(st.code == PGMLD_RESOURCE_EXHAUSTED);
  }
  free(tmp);
}

/* pgmld__conn_on_frame() runs a frame without decoding it when peek
 * accepts it and its method is one with a handler: protobuf-c must then
 * agree on every field pgmld uses and on the request itself. */
static void check_fast_path(const uint8_t *body, uint32_t len)
{
  pgmld_status_t st = PGMLD_STATUS_INIT;
  ProtobufCMessage *fast, *slow;
  const pgmld_method_t *m, *m2;
  pgmld_frame_view_t v;
  pgmld_arena_t arena;
  Pgml__V1__Frame *f;
  size_t n;
  uint8_t *a, *b;
  int rc;

  pgmld_arena_init(&arena);
  if (!pgmld_envelope_peek(body, len, &v)) {
    /* The general path then decides; a frame peek refuses can be valid. */
    return;
  }
  CHECK(v.id != 0 && v.method_len > 0);
  CHECK(v.method >= (const char *)body && v.method + v.method_len <= (const char *)body + len);
  CHECK(v.payload_len == 0 ||
        (v.payload >= body && v.payload + v.payload_len <= body + len));
  m = pgmld_dispatch_find_n(table(), v.method, v.method_len);
  if (m == NULL || m->fn == NULL)
    return;
  if (pgmld_envelope_decode(body, len, &f, &st) < 0) {
    CHECK(st.code == PGMLD_RESOURCE_EXHAUSTED);   /* out of memory only */
    return;
  }
  CHECK(f->kind == PGML__V1__FRAME__KIND__REQUEST);
  CHECK(f->id == v.id);
  CHECK(f->method != NULL && strlen(f->method) == v.method_len &&
        memcmp(f->method, v.method, v.method_len) == 0);
  CHECK(f->payload.len == v.payload_len);
  CHECK(v.payload_len == 0 || memcmp(f->payload.data, v.payload, v.payload_len) == 0);
  CHECK(f->timeout_ms == v.timeout_ms);
  CHECK(f->n_metadata == 0 && (int)f->code == 0);
  CHECK(f->message == NULL || f->message[0] == '\0');
  CHECK(f->details == NULL || f->details[0] == '\0');
  CHECK(pgmld_envelope_validate(f, &(uint64_t){0}, &st) == 0);
  rc = pgmld_dispatch_prepare(table(), f, &m2, &slow, &st);
  if (rc < 0) {
    /* A payload that is not the input type: the fast path refuses the
     * same bytes the same way. */
    CHECK(rc == -EBADMSG || rc == -ENOMEM);
    if (rc == -EBADMSG)
      CHECK(pgmld_dispatch_decode_with(m, v.payload, v.payload_len,
                                       pgmld_arena_allocator(&arena), &fast,
                                       &st) == -EBADMSG &&
            fast == NULL && st.code == PGMLD_INVALID_ARGUMENT);
    pgmld_arena_reset(&arena);
    pgmld_envelope_free(f);
    return;
  }
  CHECK(m2 == m);
  /* The fast path decodes into the call's arena, as pgmld does. */
  if (pgmld_dispatch_decode_with(m, v.payload, v.payload_len, pgmld_arena_allocator(&arena),
                                 &fast, &st) == 0) {
    n = protobuf_c_message_get_packed_size(slow);
    CHECK(protobuf_c_message_get_packed_size(fast) == n);
    a = malloc(n ? n : 1);
    b = malloc(n ? n : 1);
    CHECK(a != NULL && b != NULL);
    protobuf_c_message_pack(slow, a);
    protobuf_c_message_pack(fast, b);
    CHECK(memcmp(a, b, n) == 0);
    free(a);
    free(b);
  } else {
    CHECK(st.code == PGMLD_RESOURCE_EXHAUSTED);
  }
  pgmld_arena_reset(&arena);
  pgmld_dispatch_free_request(slow);
  pgmld_envelope_free(f);
}

static void one_frame(const uint8_t *body, uint32_t len)
{
  pgmld_status_t st = PGMLD_STATUS_INIT;
  const pgmld_method_t *m;
  ProtobufCMessage *req;
  Pgml__V1__Frame *f;
  uint64_t reply_id;
  int rc;

  check_fast_path(body, len);
  rc = pgmld_envelope_decode(body, len, &f, &st);
  if (rc < 0) {
    CHECK(f == NULL);
    CHECK(st.code == PGMLD_INVALID_ARGUMENT || st.code == PGMLD_RESOURCE_EXHAUSTED);
    check_error_answer(0, &st);
    return;
  }
  CHECK(f != NULL);
  (void)pgmld_envelope_metadata(f, "authorization");
  rc = pgmld_envelope_validate(f, &reply_id, &st);
  if (rc < 0) {
    CHECK(st.code == PGMLD_INVALID_ARGUMENT);
    CHECK(reply_id == 0 || reply_id == f->id);
    check_error_answer(reply_id, &st);
    goto out;
  }
  if (f->kind != PGML__V1__FRAME__KIND__REQUEST)
    goto out;
  CHECK(f->id != 0 && f->method != NULL && f->method[0] != '\0');
  rc = pgmld_dispatch_prepare(table(), f, &m, &req, &st);
  if (rc < 0) {
    CHECK(m == NULL && req == NULL);
    CHECK(st.code == PGMLD_UNIMPLEMENTED || st.code == PGMLD_INVALID_ARGUMENT ||
          st.code == PGMLD_RESOURCE_EXHAUSTED);
    check_error_answer(f->id, &st);
    goto out;
  }
  CHECK(m != NULL && m->fn == handler);
  CHECK(strcmp(m->full_name, f->method) == 0);
  CHECK(req->descriptor == m->desc->input);
  check_request(f->id, req);
  pgmld_dispatch_free_request(req);
out:
  pgmld_envelope_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  pgml_frame_reader_t r;
  long live;
  size_t chunk, pos = 1;

  if (size < 1)
    return 0;
  (void)table();
  live = pgmld_alloc_live();
  chunk = (size_t)data[0] + 1;
  pgml_frame_reader_init(&r, MAX_FRAME);
  while (pos < size) {
    uint8_t *space;
    size_t room, n;
    const uint8_t *body;
    uint32_t len;
    int rc;

    if (pgml_frame_reader_space(&r, 0, &space, &room) < 0)
      break;
    n = size - pos < chunk ? size - pos : chunk;
    if (n > room)
      n = room;
    memcpy(space, data + pos, n);
    pgml_frame_reader_commit(&r, n);
    pos += n;
    while ((rc = pgml_frame_reader_next(&r, &body, &len)) == 1) {
      CHECK(len <= MAX_FRAME);
      one_frame(body, len);
    }
    if (rc == -EMSGSIZE) {
      pgmld_status_t st = PGMLD_STATUS_INIT;
      CHECK(r.bad_len > MAX_FRAME);
      pgmld_status_set(&st, PGMLD_RESOURCE_EXHAUSTED, "frame of %u bytes exceeds "
                       "limits.max_frame_size (%u)", r.bad_len, MAX_FRAME);
      check_error_answer(0, &st);
      break;   /* the stream can no longer be trusted */
    }
    CHECK(rc == 0);
  }
  pgml_frame_reader_free(&r);
  CHECK(pgmld_alloc_live() == live);
  return 0;
}
