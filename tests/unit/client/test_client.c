/* test_client.c - libpgml's state machine against a scripted fake server:
 * framing under partial reads and writes, answers out of order, lost
 * connections, cancellation, deadlines, size limits, bad frames, allocation
 * failures, and freeing with calls pending. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pb_decode.h>

#include "alloc.h"
#include "client_int.h"
#include "fake_server.h"
#include "pgml/blocking.h"
#include "pgml/client.h"
#include "pgml/uv.h"
#include "pgml/v1/database.pb.h"

/* What one call's callback saw. */
typedef struct {
  int runs;
  pgml_code_t code;
  char message[1024];
  char details[256];
  uint8_t *payload;
  size_t payload_len;
  int has_details;
} seen_t;

static void seen_free(seen_t *s, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++) {
    free(s[i].payload);
    s[i].payload = NULL;
  }
}

static void record(seen_t *s, const pgml_result_t *res)
{
  s->runs++;
  s->code = res->code;
  assert_non_null(res->message);
  snprintf(s->message, sizeof(s->message), "%s", res->message);
  s->has_details = res->details != NULL;
  if (res->details != NULL)
    snprintf(s->details, sizeof(s->details), "%s", res->details);
  free(s->payload);
  s->payload = NULL;
  s->payload_len = res->payload_len;
  if (res->code != PGML_OK || res->payload_len == 0)
    assert_null(res->payload);
  if (res->payload_len > 0) {
    s->payload = malloc(res->payload_len);
    assert_non_null(s->payload);
    memcpy(s->payload, res->payload, res->payload_len);
  }
}

static void on_raw(pgml_client_t *c, const pgml_result_t *res, void *ud)
{
  (void)c;
  record(ud, res);
}

static pgml_client_t *new_client(const char *address, const pgml_client_options_t *o)
{
  pgml_client_t *c = NULL;

  assert_int_equal(pgml_client_new(address, o, &c), 0);
  assert_non_null(c);
  return c;
}

static uint64_t call_raw(pgml_client_t *c, const char *method, const void *p, size_t len,
                         const pgml_call_options_t *o, seen_t *s)
{
  uint64_t id = 0;

  assert_int_equal(pgml_call_raw(c, method, p, len, o, on_raw, s, &id), 0);
  assert_true(id > 0);
  return id;
}

/* The request frame the fake server received for call `id`, or NULL. */
static Pgml__V1__Frame *frame_of(fake_t *f, uint64_t id, int kind)
{
  size_t i;

  for (i = 0; i < f->nframes; i++)
    if (f->frames[i]->id == id && (int)f->frames[i]->kind == kind)
      return f->frames[i];
  return NULL;
}

/* ------------------------------------------------------------ arguments */

static void test_codes_and_arguments(void **state)
{
  static const char *const names[17] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED"};
  const char *bad_md[] = {"", "v", NULL};
  const char *odd_md[] = {"k", NULL};
  pgml_call_options_t o = {0};
  pgml_client_options_t co = {0};
  char longpath[200];
  pgml_client_t *c = NULL;
  seen_t s = {0};
  int i;

  (void)state;
  for (i = 0; i < 17; i++)
    assert_string_equal(pgml_code_name((pgml_code_t)i), names[i]);
  assert_string_equal(pgml_code_name((pgml_code_t)17), "UNKNOWN");

  assert_int_equal(pgml_client_new(NULL, NULL, &c), -EINVAL);
  assert_int_equal(pgml_client_new("", NULL, &c), -EINVAL);
  assert_int_equal(pgml_client_new("/x", NULL, NULL), -EINVAL);
  /* ws:// and wss:// are tested in test_ws.c; here only that they exist. */
  assert_int_equal(pgml_client_new("ws://host/x", NULL, &c), 0);
  pgml_client_free(c);
  assert_int_equal(pgml_client_new("wss://host/x", NULL, &c), 0);
  pgml_client_free(c);
  c = NULL;
  assert_int_equal(pgml_client_new("tcp://host:1", NULL, &c), -EPROTONOSUPPORT);
  assert_int_equal(pgml_client_new("unix://", NULL, &c), -EINVAL);
  memset(longpath, 'a', sizeof(longpath) - 1);
  longpath[0] = '/';
  longpath[sizeof(longpath) - 1] = '\0';
  assert_int_equal(pgml_client_new(longpath, NULL, &c), -ENAMETOOLONG);
  assert_null(c);

  co.max_calls = 2;
  c = new_client("unix:///nonexistent/pgml-test.sock", &co);
  assert_string_equal(pgml_client_address(c), "unix:///nonexistent/pgml-test.sock");
  assert_int_equal(pgml_client_fd(c), -1);
  assert_int_equal(pgml_client_events(c), 0);
  assert_int_equal(pgml_client_next_timeout_ms(c), -1);
  assert_int_equal(pgml_call_raw(c, NULL, NULL, 0, NULL, on_raw, &s, NULL), -EINVAL);
  assert_int_equal(pgml_call_raw(c, "", NULL, 0, NULL, on_raw, &s, NULL), -EINVAL);
  assert_int_equal(pgml_call_raw(c, "a/b/c", NULL, 0, NULL, on_raw, &s, NULL), -EINVAL);
  assert_int_equal(pgml_call_raw(c, "/Ping", NULL, 0, NULL, on_raw, &s, NULL), -EINVAL);
  assert_int_equal(pgml_call_raw(c, "pgml.v1.Database/", NULL, 0, NULL, on_raw, &s, NULL),
                   -EINVAL);
  assert_int_equal(pgml_call_raw(c, "Ping", NULL, 3, NULL, on_raw, &s, NULL), -EINVAL);
  assert_int_equal(pgml_call_raw(c, "Ping", NULL, 0, NULL, NULL, &s, NULL), -EINVAL);
  o.metadata = bad_md;
  assert_int_equal(pgml_call_raw(c, "Ping", NULL, 0, &o, on_raw, &s, NULL), -EINVAL);
  o.metadata = odd_md;
  assert_int_equal(pgml_call_raw(c, "Ping", NULL, 0, &o, on_raw, &s, NULL), -EINVAL);
  assert_int_equal(pgml_cancel(c, 12345), -ENOENT);
  assert_int_equal(s.runs, 0);
  assert_int_equal(pgml_client_pending(c), 0);
  pgml_client_free(c);
  pgml_client_free(NULL);
}

/* With nothing listening, the call completes (not the function) with
 * UNAVAILABLE naming the address and the system's reason; max_calls holds. */
static void test_connect_refused(void **state)
{
  pgml_client_options_t co = {.max_calls = 2};
  pgml_client_t *c = new_client("unix:///nonexistent/pgml-test.sock", &co);
  seen_t s[3] = {{0}};

  (void)state;
  call_raw(c, "Ping", "a", 1, NULL, &s[0]);
  call_raw(c, "Ping", "b", 1, NULL, &s[1]);
  assert_int_equal(pgml_call_raw(c, "Ping", "c", 1, NULL, on_raw, &s[2], NULL), -ENOBUFS);
  assert_int_equal(pgml_client_pending(c), 2);
  assert_int_equal(s[0].runs, 0);   /* never from inside pgml_call_raw() */
  assert_int_equal(pgml_client_next_timeout_ms(c), 0);
  assert_int_equal(pgml_client_step(c, 0), 0);
  assert_int_equal(s[0].runs, 1);
  assert_int_equal(s[1].runs, 1);
  assert_int_equal(s[0].code, PGML_UNAVAILABLE);
  assert_non_null(strstr(s[0].message, "/nonexistent/pgml-test.sock"));
  assert_non_null(strstr(s[0].message, "No such file or directory"));
  assert_int_equal(pgml_client_pending(c), 0);
  pgml_client_free(c);
  seen_free(s, 3);
}

/* ------------------------------------------------------ normal operation */

/* Three calls, answered in reverse order, each matched to its own request;
 * the request frames carry what the calls asked for. */
static void test_out_of_order(void **state)
{
  const char *md[] = {"tenant", "t1", "trace", "abc", NULL};
  pgml_call_options_t o = {.timeout_ms = 60000, .metadata = md};
  fake_t f;
  pgml_client_t *c;
  seen_t s[3] = {{0}};
  uint64_t id[3];
  Pgml__V1__Frame *fr;
  char pay[3][8];
  int i;

  (void)state;
  fake_start(&f);
  c = new_client(f.path, NULL);
  for (i = 0; i < 3; i++) {
    snprintf(pay[i], sizeof(pay[i]), "req-%d", i);
    id[i] = call_raw(c, i == 2 ? "pgml.v1.Other/Echo" : "Ping", pay[i], strlen(pay[i]),
                     i == 0 ? &o : NULL, &s[i]);
  }
  assert_true(id[0] != id[1] && id[1] != id[2] && id[0] != id[2]);
  assert_int_equal(pgml_client_pending(c), 3);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 3);

  for (i = 0; i < 3; i++) {
    fr = frame_of(&f, id[i], PGML__V1__FRAME__KIND__REQUEST);
    assert_non_null(fr);
    assert_string_equal(fr->method, i == 2 ? "pgml.v1.Other/Echo" : "pgml.v1.Database/Ping");
    assert_int_equal(fr->payload.len, strlen(pay[i]));
    assert_memory_equal(fr->payload.data, pay[i], strlen(pay[i]));
  }
  fr = frame_of(&f, id[0], PGML__V1__FRAME__KIND__REQUEST);
  assert_int_equal(fr->timeout_ms, 60000);
  assert_int_equal(fr->n_metadata, 2);
  assert_string_equal(fr->metadata[0]->key, "tenant");
  assert_string_equal(fr->metadata[0]->value, "t1");
  assert_string_equal(fr->metadata[1]->key, "trace");
  assert_string_equal(fr->metadata[1]->value, "abc");
  assert_int_equal(frame_of(&f, id[1], 0)->timeout_ms, 0);
  assert_int_equal(frame_of(&f, id[1], 0)->n_metadata, 0);

  fake_respond(&f, id[2], 0, "answer-2", 8, NULL, NULL);
  fake_respond(&f, id[0], 0, "answer-0", 8, NULL, NULL);
  fake_respond(&f, id[1], PGML__V1__CODE__NOT_FOUND, NULL, 0, "no such thing",
               "{\"collection\":\"x\"}");
  FAKE_PUMP_UNTIL(&f, c, s[0].runs && s[1].runs && s[2].runs);
  assert_int_equal(s[0].code, PGML_OK);
  assert_string_equal(s[0].message, "");
  assert_int_equal(s[0].payload_len, 8);
  assert_memory_equal(s[0].payload, "answer-0", 8);
  assert_false(s[0].has_details);
  assert_int_equal(s[2].code, PGML_OK);
  assert_memory_equal(s[2].payload, "answer-2", 8);
  assert_int_equal(s[1].code, PGML_NOT_FOUND);
  assert_string_equal(s[1].message, "no such thing");
  assert_string_equal(s[1].details, "{\"collection\":\"x\"}");
  assert_int_equal(s[1].payload_len, 0);

  /* A second answer for an id already answered is dropped. */
  fake_respond(&f, id[0], 0, "again", 5, NULL, NULL);
  fake_respond(&f, 999, 0, "never asked", 11, NULL, NULL);
  for (i = 0; i < 20; i++)
    fake_pump(&f, c);
  assert_int_equal(s[0].runs, 1);
  assert_int_equal(pgml_client_pending(c), 0);
  assert_int_equal(f.accepted, 1);
  pgml_client_free(c);
  fake_stop(&f);
  seen_free(s, 3);
}

/* A 1 MiB request cannot go out in one write and its answer cannot come in
 * in one read; small frames dribbled one byte at a time are reassembled. */
static void test_partial_io(void **state)
{
  const size_t big = 1u << 20;
  uint8_t *data = malloc(big);
  fake_t f;
  pgml_client_t *c;
  seen_t s[4] = {{0}};
  uint64_t id[4];
  size_t i;

  (void)state;
  assert_non_null(data);
  for (i = 0; i < big; i++)
    data[i] = (uint8_t)(i * 7 + (i >> 13));
  fake_start(&f);
  f.read_limit = 4096;
  c = new_client(f.path, NULL);
  id[0] = call_raw(c, "Ping", data, big, NULL, &s[0]);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 1);
  assert_int_equal(f.frames[0]->payload.len, big);
  assert_memory_equal(f.frames[0]->payload.data, data, big);
  f.read_limit = 0;
  fake_respond(&f, id[0], 0, data, big, NULL, NULL);
  FAKE_PUMP_UNTIL(&f, c, s[0].runs == 1);
  assert_int_equal(s[0].code, PGML_OK);
  assert_int_equal(s[0].payload_len, big);
  assert_memory_equal(s[0].payload, data, big);

  /* Byte by byte, both ways. */
  fake_clear_frames(&f);
  f.read_limit = 1;
  f.write_limit = 1;
  for (i = 1; i < 4; i++)
    id[i] = call_raw(c, "Ping", data, i * 10, NULL, &s[i]);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 3);
  for (i = 1; i < 4; i++) {
    Pgml__V1__Frame *fr = frame_of(&f, id[i], PGML__V1__FRAME__KIND__REQUEST);
    assert_non_null(fr);
    assert_int_equal(fr->payload.len, i * 10);
    fake_respond(&f, id[i], 0, data + i, i * 10, NULL, NULL);
  }
  FAKE_PUMP_UNTIL(&f, c, s[1].runs && s[2].runs && s[3].runs);
  for (i = 1; i < 4; i++) {
    assert_int_equal(s[i].runs, 1);
    assert_int_equal(s[i].code, PGML_OK);
    assert_int_equal(s[i].payload_len, i * 10);
    assert_memory_equal(s[i].payload, data + i, i * 10);
  }
  pgml_client_free(c);
  fake_stop(&f);
  seen_free(s, 4);
  free(data);
}

/* ------------------------------------------------- many calls in a turn */

#define MANY 1200

/* The size of request i's payload: mostly small (written straight into the
 * transport's shared send buffer), every seventh over 1 KiB (a buffer of
 * its own), so that both kinds interleave. */
static size_t many_len(size_t i)
{
  return i % 7 == 0 ? 1500 + i : i % 40;
}

/* Many calls started before the client writes anything, more while the
 * first are half written: the server gets every request whole, in the
 * order they were made, whatever buffer each went out in; then the same
 * again, answered with other sizes, with the call objects of the first
 * round reused. */
static void test_many_calls(void **state)
{
  static const char *const md[] = {"tenant", "t-1", NULL};
  pgml_client_options_t co = {.max_calls = 2 * MANY};
  pgml_call_options_t with_md = {.metadata = md};
  uint8_t *data = malloc(4096);
  seen_t *s = calloc(MANY, sizeof(*s));
  uint64_t *id = calloc(MANY, sizeof(*id));
  pgml_client_t *c;
  fake_t f;
  size_t i, round;

  (void)state;
  assert_non_null(data);
  assert_non_null(s);
  assert_non_null(id);
  for (i = 0; i < 4096; i++)
    data[i] = (uint8_t)(i * 13 + 5);
  fake_start(&f);
  c = new_client(f.path, &co);
  for (round = 0; round < 2; round++) {
    fake_clear_frames(&f);
    f.read_limit = 700;
    for (i = 0; i < MANY / 2; i++)
      id[i] = call_raw(c, "Ping", data + i % 64, many_len(i), i % 11 == 0 ? &with_md : NULL,
                       &s[i]);
    fake_pump(&f, c);
    fake_pump(&f, c);
    for (; i < MANY; i++)
      id[i] = call_raw(c, "Ping", data + i % 64, many_len(i), i % 11 == 0 ? &with_md : NULL,
                       &s[i]);
    f.read_limit = 0;
    FAKE_PUMP_UNTIL(&f, c, f.nframes == MANY);
    for (i = 0; i < MANY; i++) {
      Pgml__V1__Frame *fr = f.frames[i];
      assert_int_equal(fr->id, id[i]);
      assert_int_equal(fr->kind, PGML__V1__FRAME__KIND__REQUEST);
      assert_string_equal(fr->method, "pgml.v1.Database/Ping");
      assert_int_equal(fr->payload.len, many_len(i));
      if (many_len(i) > 0)
        assert_memory_equal(fr->payload.data, data + i % 64, many_len(i));
      assert_int_equal(fr->n_metadata, i % 11 == 0 ? 1 : 0);
      if (i % 11 == 0) {
        assert_string_equal(fr->metadata[0]->key, "tenant");
        assert_string_equal(fr->metadata[0]->value, "t-1");
      }
      /* The second round's answers are shorter, or empty. */
      fake_respond(&f, id[i], 0, data + 1, round == 0 ? many_len(i) : i % 3, NULL, NULL);
    }
    FAKE_PUMP_UNTIL(&f, c, s[MANY - 1].runs == (int)round + 1);
    for (i = 0; i < MANY; i++) {
      size_t want = round == 0 ? many_len(i) : i % 3;
      assert_int_equal(s[i].runs, (int)round + 1);
      assert_int_equal(s[i].code, PGML_OK);
      assert_int_equal(s[i].payload_len, want);
      if (want > 0)
        assert_memory_equal(s[i].payload, data + 1, want);
    }
  }
  pgml_client_free(c);
  fake_stop(&f);
  seen_free(s, MANY);
  free(s);
  free(id);
  free(data);
}

/* ------------------------------------------------------- connection loss */

static void test_connection_loss(void **state)
{
  fake_t f;
  pgml_client_t *c;
  seen_t s[4] = {{0}};
  uint64_t id;
  int i;

  (void)state;
  fake_start(&f);
  c = new_client(f.path, NULL);
  for (i = 0; i < 3; i++)
    call_raw(c, "Ping", "x", 1, NULL, &s[i]);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 3);
  assert_true(pgml_client_fd(c) >= 0);
  fake_drop(&f);
  FAKE_PUMP_UNTIL(&f, c, s[0].runs && s[1].runs && s[2].runs);
  for (i = 0; i < 3; i++) {
    assert_int_equal(s[i].runs, 1);
    assert_int_equal(s[i].code, PGML_UNAVAILABLE);
    assert_non_null(strstr(s[i].message, f.path));
    assert_non_null(strstr(s[i].message, "connection lost"));
    assert_non_null(strstr(s[i].message, "closed the connection"));
  }
  assert_int_equal(pgml_client_fd(c), -1);
  assert_int_equal(pgml_client_pending(c), 0);

  /* The next call connects again. */
  fake_clear_frames(&f);
  id = call_raw(c, "Ping", "again", 5, NULL, &s[3]);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 1);
  assert_int_equal(f.accepted, 2);
  fake_respond(&f, id, 0, "again", 5, NULL, NULL);
  FAKE_PUMP_UNTIL(&f, c, s[3].runs == 1);
  assert_int_equal(s[3].code, PGML_OK);
  assert_memory_equal(s[3].payload, "again", 5);
  pgml_client_free(c);
  fake_stop(&f);
  seen_free(s, 4);
}

/* ------------------------------------------------------------ cancel */

typedef struct {
  pgml_client_t *c;
  uint64_t victim;
  int cancel_rc;
  seen_t seen;
} canceller_t;

/* Cancels another call whose answer arrived in the same read. */
static void on_cancel_other(pgml_client_t *c, const pgml_result_t *res, void *ud)
{
  canceller_t *k = ud;

  record(&k->seen, res);
  k->cancel_rc = pgml_cancel(c, k->victim);
}

static void test_cancel(void **state)
{
  fake_t f;
  pgml_client_t *c;
  seen_t s[3] = {{0}};
  canceller_t k = {0};
  uint64_t id, id2;
  int i;

  (void)state;
  fake_start(&f);
  c = new_client(f.path, NULL);
  id = call_raw(c, "Ping", "slow", 4, NULL, &s[0]);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 1);
  assert_int_equal(pgml_cancel(c, id), 0);
  /* Cancelling twice before the callback ran is harmless. */
  assert_int_equal(pgml_cancel(c, id), 0);
  assert_int_equal(s[0].runs, 0);
  FAKE_PUMP_UNTIL(&f, c, frame_of(&f, id, PGML__V1__FRAME__KIND__CANCEL) != NULL);
  assert_int_equal(s[0].runs, 1);
  assert_int_equal(s[0].code, PGML_CANCELLED);
  assert_non_null(strstr(s[0].message, "cancelled"));
  assert_int_equal(pgml_cancel(c, id), -ENOENT);
  /* The server's answer, late, is dropped: still exactly one callback. */
  fake_respond(&f, id, 0, "slow", 4, NULL, NULL);
  fake_respond(&f, id, PGML__V1__CODE__CANCELLED, NULL, 0, "cancelled", NULL);
  for (i = 0; i < 20; i++)
    fake_pump(&f, c);
  assert_int_equal(s[0].runs, 1);

  /* Answered and cancelled in the same step: CANCELLED wins, once. */
  fake_clear_frames(&f);
  k.c = c;
  assert_int_equal(pgml_call_raw(c, "Ping", "a", 1, NULL, on_cancel_other, &k, &id), 0);
  id2 = call_raw(c, "Ping", "b", 1, NULL, &s[1]);
  k.victim = id2;
  k.cancel_rc = 1;
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 2);
  fake_respond(&f, id, 0, "a", 1, NULL, NULL);
  fake_respond(&f, id2, 0, "b", 1, NULL, NULL);
  FAKE_PUMP_UNTIL(&f, c, k.seen.runs == 1 && s[1].runs == 1);
  assert_int_equal(k.seen.code, PGML_OK);
  assert_int_equal(k.cancel_rc, 0);
  assert_int_equal(s[1].code, PGML_CANCELLED);
  assert_null(s[1].payload);
  for (i = 0; i < 10; i++)
    fake_pump(&f, c);
  assert_int_equal(s[1].runs, 1);

  /* Cancelled while its answer is already in the socket: the answer is read
   * in the step that delivers the cancellation, and dropped. */
  fake_clear_frames(&f);
  id = call_raw(c, "Ping", "c", 1, NULL, &s[2]);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 1);
  fake_respond(&f, id, 0, "c", 1, NULL, NULL);
  for (i = 0; i < 1000 && f.out_len > 0; i++)
    fake_pump(&f, NULL);
  assert_int_equal(f.out_len, 0);
  assert_int_equal(pgml_cancel(c, id), 0);
  assert_int_equal(pgml_client_step(c, PGML_EV_READ), 0);
  assert_int_equal(s[2].runs, 1);
  assert_int_equal(s[2].code, PGML_CANCELLED);
  for (i = 0; i < 10; i++)
    fake_pump(&f, c);
  assert_int_equal(s[2].runs, 1);
  assert_int_equal(pgml_client_pending(c), 0);
  pgml_client_free(c);
  fake_stop(&f);
  seen_free(s, 3);
  seen_free(&k.seen, 1);
}

/* ------------------------------------------------------------ deadline */

static uint64_t fake_now = 1000000;

static uint64_t fake_clock(void)
{
  return fake_now;
}

static void test_deadline(void **state)
{
  pgml_call_options_t o = {.timeout_ms = 50};
  pgml_call_options_t later = {.timeout_ms = 500};
  fake_t f;
  pgml_client_t *c;
  seen_t s[3] = {{0}};
  uint64_t id, id2, id3;
  int i;

  (void)state;
  pgml__set_clock(fake_clock);
  fake_start(&f);
  c = new_client(f.path, NULL);
  id = call_raw(c, "Ping", "x", 1, &o, &s[0]);
  id2 = call_raw(c, "Ping", "y", 1, &later, &s[1]);
  id3 = call_raw(c, "Ping", "z", 1, NULL, &s[2]);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 3);
  assert_int_equal(frame_of(&f, id, 0)->timeout_ms, 50);
  assert_int_equal(frame_of(&f, id2, 0)->timeout_ms, 500);
  assert_int_equal(pgml_client_next_timeout_ms(c), 50);
  fake_now += 49;
  for (i = 0; i < 5; i++)
    fake_pump(&f, c);
  assert_int_equal(s[0].runs, 0);
  assert_int_equal(pgml_client_next_timeout_ms(c), 1);
  fake_now += 1;
  assert_int_equal(pgml_client_next_timeout_ms(c), 0);
  FAKE_PUMP_UNTIL(&f, c, s[0].runs == 1);
  assert_int_equal(s[0].code, PGML_DEADLINE_EXCEEDED);
  assert_non_null(strstr(s[0].message, "50 ms"));
  assert_non_null(strstr(s[0].message, f.path));
  FAKE_PUMP_UNTIL(&f, c, frame_of(&f, id, PGML__V1__FRAME__KIND__CANCEL) != NULL);
  assert_int_equal(pgml_client_next_timeout_ms(c), 450);
  /* The late answer is dropped; the others are unaffected. */
  fake_respond(&f, id, 0, "x", 1, NULL, NULL);
  fake_respond(&f, id3, 0, "z", 1, NULL, NULL);
  FAKE_PUMP_UNTIL(&f, c, s[2].runs == 1);
  assert_int_equal(s[0].runs, 1);
  assert_int_equal(s[2].code, PGML_OK);
  assert_int_equal(s[1].runs, 0);
  fake_now += 1000;
  FAKE_PUMP_UNTIL(&f, c, s[1].runs == 1);
  assert_int_equal(s[1].code, PGML_DEADLINE_EXCEEDED);
  assert_int_equal(pgml_client_next_timeout_ms(c), -1);
  pgml_client_free(c);
  fake_stop(&f);
  pgml__set_clock(NULL);
  seen_free(s, 3);
}

/* ------------------------------------------------------------ limits */

static void test_frame_limits(void **state)
{
  pgml_client_options_t co = {.max_frame_size = 1024};
  uint8_t big[2048] = {0};
  uint8_t hdr[4] = {0, 0, 0x13, 0x88};   /* 5000 bytes */
  fake_t f;
  pgml_client_t *c;
  seen_t s[2] = {{0}};
  uint64_t id;

  (void)state;
  fake_start(&f);
  c = new_client(f.path, &co);
  assert_int_equal(pgml_call_raw(c, "Ping", big, sizeof(big), NULL, on_raw, &s[0], NULL),
                   -EMSGSIZE);
  /* A payload that fits but whose frame, with the envelope, does not. */
  assert_int_equal(pgml_call_raw(c, "Ping", big, 1020, NULL, on_raw, &s[0], NULL),
                   -EMSGSIZE);
  assert_int_equal(pgml_client_pending(c), 0);
  id = call_raw(c, "Ping", big, 100, NULL, &s[0]);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 1);
  /* A frame over the limit ends the connection before anything is
   * allocated for it. */
  fake_send_raw(&f, hdr, sizeof(hdr));
  FAKE_PUMP_UNTIL(&f, c, s[0].runs == 1);
  assert_int_equal(s[0].code, PGML_UNAVAILABLE);
  assert_non_null(strstr(s[0].message, "5000 bytes"));
  assert_non_null(strstr(s[0].message, "max_frame_size 1024"));
  assert_non_null(strstr(s[0].message, f.path));
  (void)id;
  pgml_client_free(c);
  fake_stop(&f);
  seen_free(s, 2);
}

/* Malformed frames and connection-level errors end the connection with a
 * message that says what the server did. */
static void test_bad_frames(void **state)
{
  static const uint8_t garbage[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
  Pgml__V1__Frame fr = PGML__V1__FRAME__INIT;
  fake_t f;
  pgml_client_t *c;
  seen_t s[3] = {{0}};

  (void)state;
  fake_start(&f);
  c = new_client(f.path, NULL);
  call_raw(c, "Ping", "x", 1, NULL, &s[0]);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 1);
  fake_send_raw(&f, garbage, sizeof(garbage));
  FAKE_PUMP_UNTIL(&f, c, s[0].runs == 1);
  assert_int_equal(s[0].code, PGML_UNAVAILABLE);
  assert_non_null(strstr(s[0].message, "protocol error"));

  /* id 0: the server reports an error about the connection. */
  fake_clear_frames(&f);
  call_raw(c, "Ping", "x", 1, NULL, &s[1]);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 1 && f.accepted == 2);
  fake_respond(&f, 0, PGML__V1__CODE__INVALID_ARGUMENT, NULL, 0, "frame 7 is not a Frame",
               NULL);
  FAKE_PUMP_UNTIL(&f, c, s[1].runs == 1);
  assert_int_equal(s[1].code, PGML_UNAVAILABLE);
  assert_non_null(strstr(s[1].message, "INVALID_ARGUMENT"));
  assert_non_null(strstr(s[1].message, "frame 7 is not a Frame"));

  /* A REQUEST from the server is not something a client accepts. */
  fake_clear_frames(&f);
  call_raw(c, "Ping", "x", 1, NULL, &s[2]);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 1 && f.accepted == 3);
  fr.id = 1;
  fr.kind = PGML__V1__FRAME__KIND__REQUEST;
  fr.method = "pgml.v1.Database/Ping";
  fake_send_frame(&f, &fr);
  FAKE_PUMP_UNTIL(&f, c, s[2].runs == 1);
  assert_int_equal(s[2].code, PGML_UNAVAILABLE);
  assert_non_null(strstr(s[2].message, "a client only receives RESPONSE"));
  pgml_client_free(c);
  fake_stop(&f);
  seen_free(s, 3);
}

/* ------------------------------------------------------------ typed calls */

typedef struct {
  int runs;
  pgml_code_t code;
  char data[64];
  char message[256];
} pong_t;

static void on_pong(pgml_client_t *c, const pgml_result_t *res, void *msg, void *ud)
{
  pong_t *p = ud;
  const pgml_v1_PingResponse *r = msg;

  (void)c;
  p->runs++;
  p->code = res->code;
  snprintf(p->message, sizeof(p->message), "%s", res->message);
  if (res->code == PGML_OK) {
    assert_non_null(r);
    if (r->data != NULL)
      snprintf(p->data, sizeof(p->data), "%.*s", (int)r->data->size, r->data->bytes);
  } else {
    assert_null(r);
  }
}

static void test_typed_call(void **state)
{
  struct {
    pb_size_t size;
    pb_byte_t bytes[5];
  } data = {5, {'h', 'e', 'l', 'l', 'o'}};
  pgml_v1_PingRequest req = pgml_v1_PingRequest_init_zero;
  fake_t f;
  pgml_client_t *c;
  pong_t p[2] = {{0}};
  uint64_t id, id2;
  static const uint8_t not_ping[] = {0x0a, 0x09, 'x'};   /* truncated field */

  (void)state;
  req.data = (pb_bytes_array_t *)&data;
  fake_start(&f);
  c = new_client(f.path, NULL);
  assert_int_equal(pgml_call(c, "Ping", pgml_v1_PingRequest_fields, &req, NULL, NULL,
                             on_pong, &p[0], NULL), -EINVAL);
  assert_int_equal(pgml_call(c, "Ping", pgml_v1_PingRequest_fields, &req,
                             pgml_v1_PingResponse_fields, NULL, on_pong, &p[0], &id), 0);
  assert_int_equal(pgml_call(c, "Ping", pgml_v1_PingRequest_fields, &req,
                             pgml_v1_PingResponse_fields, NULL, on_pong, &p[1], &id2), 0);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 2);
  fake_respond(&f, id, 0, f.frames[0]->payload.data, f.frames[0]->payload.len, NULL, NULL);
  fake_respond(&f, id2, 0, not_ping, sizeof(not_ping), NULL, NULL);
  FAKE_PUMP_UNTIL(&f, c, p[0].runs && p[1].runs);
  assert_int_equal(p[0].code, PGML_OK);
  assert_string_equal(p[0].data, "hello");
  assert_int_equal(p[1].code, PGML_INTERNAL);
  assert_non_null(strstr(p[1].message, "cannot decode the response of pgml.v1.Database/Ping"));
  pgml_client_free(c);
  fake_stop(&f);
}

/* ------------------------------------------------------------ free */

typedef struct {
  seen_t seen;
  int call_rc;
} freeing_t;

static void on_freeing(pgml_client_t *c, const pgml_result_t *res, void *ud)
{
  freeing_t *fr = ud;
  seen_t other = {0};

  record(&fr->seen, res);
  fr->call_rc = pgml_call_raw(c, "Ping", NULL, 0, NULL, on_raw, &other, NULL);
  assert_int_equal(pgml_client_step(c, 0), -EBUSY);
}

static void test_free_pending(void **state)
{
  fake_t f;
  pgml_client_t *c;
  freeing_t fr[3];
  int i;

  (void)state;
  memset(fr, 0, sizeof(fr));
  fake_start(&f);
  c = new_client(f.path, NULL);
  for (i = 0; i < 3; i++)
    assert_int_equal(pgml_call_raw(c, "Ping", "x", 1, NULL, on_freeing, &fr[i], NULL), 0);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 3);
  /* The first is answered but the answer is not read before the free. */
  fake_respond(&f, f.frames[0]->id, 0, "x", 1, NULL, NULL);
  pgml_client_free(c);
  for (i = 0; i < 3; i++) {
    assert_int_equal(fr[i].seen.runs, 1);
    assert_int_equal(fr[i].seen.code, PGML_CANCELLED);
    assert_non_null(strstr(fr[i].seen.message, "freed"));
    assert_int_equal(fr[i].call_rc, -ESHUTDOWN);
    seen_free(&fr[i].seen, 1);
  }
  fake_stop(&f);
}

/* ------------------------------------------------------------ on_watch */

typedef struct {
  int calls;
  int last_fd;
  unsigned last_events;
  int saw_close;
  int freed;
} watch_t;

static void on_watch(pgml_client_t *c, int fd, unsigned events, void *ud)
{
  watch_t *w = ud;

  w->calls++;
  if (events & PGML_EV_FREED) {
    w->freed++;
    return;
  }
  if (fd < 0 && w->last_fd >= 0)
    w->saw_close++;
  w->last_fd = fd;
  w->last_events = events;
  /* The hook may read the state. */
  (void)pgml_client_next_timeout_ms(c);
}

static void test_watch_hook(void **state)
{
  watch_t w = {0, -1, 0, 0, 0};
  pgml_client_options_t co = {.on_watch = on_watch, .watch_ud = &w};
  fake_t f;
  pgml_client_t *c;
  seen_t s = {0};

  (void)state;
  fake_start(&f);
  c = new_client(f.path, &co);
  assert_int_equal(w.calls, 0);
  call_raw(c, "Ping", "x", 1, NULL, &s);
  assert_true(w.calls >= 1);
  assert_int_equal(w.last_fd, pgml_client_fd(c));
  assert_true(w.last_fd >= 0);
  assert_true(w.last_events & PGML_EV_WRITE);
  FAKE_PUMP_UNTIL(&f, c, f.nframes == 1);
  assert_int_equal(w.last_events, PGML_EV_READ);
  fake_drop(&f);
  FAKE_PUMP_UNTIL(&f, c, s.runs == 1);
  assert_int_equal(w.saw_close, 1);
  assert_int_equal(w.last_fd, -1);
  pgml_client_free(c);
  assert_int_equal(w.freed, 1);
  fake_stop(&f);
  seen_free(&s, 1);
}

/* ------------------------------------------------------ allocation failure */

/* One complete session: typed and raw calls with metadata, answers, an
 * error, a cancel, and a lost connection.  Whatever allocation fails, every
 * call started gets exactly one callback, nothing leaks (ASan), and the
 * failure surfaces as -ENOMEM or a call's code. */
static void session(int *started, int *completed, seen_t *s)
{
  const char *md[] = {"k", "v", NULL};
  pgml_call_options_t o = {.timeout_ms = 60000, .metadata = md};
  struct {
    pb_size_t size;
    pb_byte_t bytes[3];
  } data = {3, {'a', 'b', 'c'}};
  pgml_v1_PingRequest req = pgml_v1_PingRequest_init_zero;
  pong_t p = {0};
  pgml_client_t *c = NULL;
  fake_t f;
  uint64_t ids[4] = {0};
  int i, rc, n = 0;
  size_t k;

  req.data = (pb_bytes_array_t *)&data;
  fake_start(&f);
  rc = pgml_client_new(f.path, NULL, &c);
  if (rc < 0) {
    assert_int_equal(rc, -ENOMEM);
    assert_null(c);
    fake_stop(&f);
    return;
  }
  for (i = 0; i < 3; i++) {
    rc = pgml_call_raw(c, "Ping", "payload", 7, &o, on_raw, &s[i], &ids[i]);
    if (rc == 0)
      n++;
    else
      assert_int_equal(rc, -ENOMEM);
  }
  rc = pgml_call(c, "Ping", pgml_v1_PingRequest_fields, &req, pgml_v1_PingResponse_fields,
                 &o, on_pong, &p, &ids[3]);
  if (rc == 0)
    n++;
  else
    assert_int_equal(rc, -ENOMEM);
  *started += n;
  if (ids[1] != 0)
    assert_int_equal(pgml_cancel(c, ids[1]), 0);
  /* The server answers what it gets: call 0 with an error, the rest OK. */
  for (i = 0; i < 200 && f.fd < 0 && pgml_client_pending(c) > 0; i++)
    fake_pump(&f, c);
  FAKE_PUMP_UNTIL(&f, c, pgml_client_pending(c) == 0 || f.nframes >= (size_t)n);
  for (k = 0; k < f.nframes; k++) {
    Pgml__V1__Frame *fr = f.frames[k];
    if (fr->kind != PGML__V1__FRAME__KIND__REQUEST)
      continue;
    if (fr->id == ids[0])
      fake_respond(&f, fr->id, PGML__V1__CODE__ABORTED, NULL, 0, "aborted", "{\"a\":1}");
    else
      fake_respond(&f, fr->id, 0, fr->payload.data, fr->payload.len, NULL, NULL);
  }
  for (i = 0; i < 50 && pgml_client_pending(c) > 0; i++)
    fake_pump(&f, c);
  /* Whatever is left (its request or answer lost to a failed allocation)
   * ends with the connection. */
  fake_drop(&f);
  FAKE_PUMP_UNTIL(&f, c, pgml_client_pending(c) == 0);
  pgml_client_free(c);
  for (i = 0; i < 3; i++) {
    if (ids[i] == 0)
      continue;
    assert_int_equal(s[i].runs, 1);
    (*completed)++;
    if (i == 1)
      assert_int_equal(s[i].code, PGML_CANCELLED);
  }
  if (ids[3] != 0) {
    assert_int_equal(p.runs, 1);
    (*completed)++;
    if (p.code == PGML_OK)
      assert_string_equal(p.data, "abc");
  }
  fake_stop(&f);
}

static void test_alloc_failure_every_n(void **state)
{
  unsigned long n;
  int started = 0, completed = 0;
  int clean = 0;

  (void)state;
  for (n = 1; n < 2000 && !clean; n++) {
    seen_t s[3] = {{0}};
    unsigned long before = pgml__alloc_failures();

    pgml__alloc_fail_after(n, 0);
    session(&started, &completed, s);
    pgml__alloc_fail_after(0, 0);
    seen_free(s, 3);
    clean = pgml__alloc_failures() == before;
  }
  print_message("allocation failure injected at each of the first %lu allocations; "
                "%d calls started, %d completed once\n", n - 2, started, completed);
  assert_true(clean);
  assert_true(n > 10);
  assert_int_equal(started, completed);
}


/* ------------------------------------------------ blocking API and libuv */

static void test_blocking(void **state)
{
  struct {
    pb_size_t size;
    pb_byte_t bytes[4];
  } data = {4, {'s', 'y', 'n', 'c'}};
  pgml_v1_PingRequest req = pgml_v1_PingRequest_init_zero;
  pgml_v1_PingResponse resp = pgml_v1_PingResponse_init_zero;
  pgml_sync_result_t out;
  pgml_client_t *c;
  echo_t e;
  int rc;

  (void)state;
  echo_start(&e);
  c = new_client(e.f.path, NULL);
  rc = pgml_call_raw_sync(c, "Ping", "raw", 3, NULL, &out);
  assert_int_equal(rc, 0);
  assert_int_equal(out.code, PGML_OK);
  assert_string_equal(out.message, "");
  assert_int_equal(out.payload_len, 3);
  assert_memory_equal(out.payload, "raw", 3);
  pgml_sync_result_free(&out);
  assert_null(out.payload);

  rc = pgml_call_raw_sync(c, "pgml.v1.Test/Fail", NULL, 0, NULL, &out);
  assert_int_equal(rc, PGML_INVALID_ARGUMENT);
  assert_string_equal(out.message, "Fail always fails");
  assert_string_equal(out.details, "{\"asked\":true}");
  assert_null(out.payload);
  pgml_sync_result_free(&out);

  req.data = (pb_bytes_array_t *)&data;
  rc = pgml_call_sync(c, "Ping", pgml_v1_PingRequest_fields, &req,
                      pgml_v1_PingResponse_fields, &resp, NULL, &out);
  assert_int_equal(rc, 0);
  assert_non_null(resp.data);
  assert_int_equal(resp.data->size, 4);
  assert_memory_equal(resp.data->bytes, "sync", 4);
  assert_null(out.payload);
  pb_release(pgml_v1_PingResponse_fields, &resp);
  pgml_sync_result_free(&out);

  assert_int_equal(pgml_call_raw_sync(c, "a/b/c", NULL, 0, NULL, &out), -EINVAL);
  assert_null(out.message);
  pgml_client_free(c);
  echo_stop(&e);

  /* Nobody listening any more: the code, not a negative errno. */
  c = new_client(e.f.path, NULL);
  rc = pgml_call_raw_sync(c, "Ping", NULL, 0, NULL, &out);
  assert_int_equal(rc, PGML_UNAVAILABLE);
  assert_non_null(strstr(out.message, e.f.path));
  pgml_sync_result_free(&out);
  pgml_client_free(c);
}

#define UV_CALLS 200

typedef struct {
  int answered;
  int bad;
} uv_tally_t;

static void on_uv_pong(pgml_client_t *c, const pgml_result_t *res, void *msg, void *ud)
{
  uv_tally_t *t = ud;
  const pgml_v1_PingResponse *r = msg;

  (void)c;
  if (res->code == PGML_OK && r->data != NULL && r->data->size == 1)
    t->answered++;
  else
    t->bad++;
}

static void test_uv_adapter(void **state)
{
  pgml_v1_PingRequest req = pgml_v1_PingRequest_init_zero;
  struct {
    pb_size_t size;
    pb_byte_t bytes[1];
  } data = {1, {'u'}};
  uv_tally_t t = {0, 0};
  uv_loop_t loop;
  pgml_client_t *c;
  echo_t e;
  int i;

  (void)state;
  req.data = (pb_bytes_array_t *)&data;
  echo_start(&e);
  assert_int_equal(uv_loop_init(&loop), 0);
  c = new_client(e.f.path, NULL);
  assert_int_equal(pgml_uv_attach(c, &loop), 0);
  assert_int_equal(pgml_uv_attach(c, &loop), -EBUSY);
  for (i = 0; i < UV_CALLS; i++)
    assert_int_equal(pgml_call(c, "Ping", pgml_v1_PingRequest_fields, &req,
                               pgml_v1_PingResponse_fields, NULL, on_uv_pong, &t, NULL),
                     0);
  /* Returns when every call completed: the adapter keeps the loop alive only
   * while calls are pending. */
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(t.answered, UV_CALLS);
  assert_int_equal(t.bad, 0);
  assert_int_equal(pgml_client_pending(c), 0);

  /* Detached and attached again, still working. */
  assert_int_equal(pgml_uv_detach(c), 0);
  assert_int_equal(pgml_uv_detach(c), -ENOENT);
  assert_int_equal(pgml_uv_attach(c, &loop), 0);
  assert_int_equal(pgml_call(c, "Ping", pgml_v1_PingRequest_fields, &req,
                             pgml_v1_PingResponse_fields, NULL, on_uv_pong, &t, NULL), 0);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(t.answered, UV_CALLS + 1);

  pgml_client_free(c);
  /* The adapter's handles close in their callbacks. */
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
  echo_stop(&e);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_codes_and_arguments),
    cmocka_unit_test(test_connect_refused),
    cmocka_unit_test(test_out_of_order),
    cmocka_unit_test(test_partial_io),
    cmocka_unit_test(test_many_calls),
    cmocka_unit_test(test_connection_loss),
    cmocka_unit_test(test_cancel),
    cmocka_unit_test(test_deadline),
    cmocka_unit_test(test_frame_limits),
    cmocka_unit_test(test_bad_frames),
    cmocka_unit_test(test_typed_call),
    cmocka_unit_test(test_free_pending),
    cmocka_unit_test(test_watch_hook),
    cmocka_unit_test(test_blocking),
    cmocka_unit_test(test_uv_adapter),
    cmocka_unit_test(test_alloc_failure_every_n),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
