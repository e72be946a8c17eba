/* test_dispatch.c - rpc/dispatch.c: the method table derived from the
 * service descriptor, handler registration, and request preparation
 * (unknown method, no handler, bad payload); rpc/status.c's code names. */
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
#include "pgml/v1/database.pb-c.h"
#include "rpc/arena.h"
#include "rpc/dispatch.h"
#include "rpc/envelope.h"
#include "rpc/status.h"

static void handler_a(pgmld_call_t *call, const ProtobufCMessage *request)
{
  (void)call;
  (void)request;
}

static void handler_b(pgmld_call_t *call, const ProtobufCMessage *request)
{
  (void)call;
  (void)request;
}

static void assert_contains(const char *haystack, const char *needle)
{
  if (strstr(haystack, needle) == NULL)
    fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static int setup(void **state)
{
  pgmld_dispatch_t *d;

  pgmld_alloc_fail_after(0, 0);
  assert_int_equal(pgmld_dispatch_new(&pgml__v1__database__descriptor, &d), 0);
  *state = d;
  return 0;
}

static int teardown(void **state)
{
  pgmld_dispatch_free(*state);
  return 0;
}

/* ------------------------------------------------------------ the table */

/* Every RPC of the .proto is in the table, under its wire name, and none
 * has a handler until one is registered. */
static void test_table_from_descriptor(void **state)
{
  const pgmld_dispatch_t *d = *state;
  const ProtobufCServiceDescriptor *sd = &pgml__v1__database__descriptor;
  size_t i;

  assert_string_equal(sd->name, "pgml.v1.Database");
  assert_int_equal(d->n_methods, sd->n_methods);
  assert_true(d->n_methods >= 2);
  for (i = 0; i < sd->n_methods; i++) {
    char want[128];
    const pgmld_method_t *m;

    snprintf(want, sizeof(want), "pgml.v1.Database/%s", sd->methods[i].name);
    assert_string_equal(d->methods[i].full_name, want);
    assert_ptr_equal(d->methods[i].desc, &sd->methods[i]);
    assert_null(d->methods[i].fn);
    m = pgmld_dispatch_find(d, want);
    assert_ptr_equal(m, &d->methods[i]);
    /* On the wire only the full name counts. */
    assert_null(pgmld_dispatch_find(d, sd->methods[i].name));
  }
}

typedef struct find_case_s {
  const char *name;
  int found;
} find_case_t;

static const find_case_t find_cases[] = {
  {"pgml.v1.Database/Ping", 1},
  {"pgml.v1.Database/ServerInfo", 1},
  {"Ping", 0},
  {"/Ping", 0},
  {"pgml.v1.Database/", 0},
  {"pgml.v1.Database", 0},
  {"pgml.v1.Database/ping", 0},
  {"pgml.v1.Database/Ping/", 0},
  {"pgml.v1.Databas/Ping", 0},
  {"pgml.v1.DatabaseX/Ping", 0},
  {"pgml.v2.Database/Ping", 0},
  {"", 0},
};

static void test_find_table(void **state)
{
  const pgmld_dispatch_t *d = *state;
  size_t i;

  for (i = 0; i < sizeof(find_cases) / sizeof(find_cases[0]); i++) {
    const pgmld_method_t *m = pgmld_dispatch_find(d, find_cases[i].name);
    if ((m != NULL) != find_cases[i].found)
      fail_msg("find(\"%s\"): got %p", find_cases[i].name, (const void *)m);
    if (m != NULL)
      assert_string_equal(m->full_name, find_cases[i].name);
  }
}

/* The same names, not NUL-terminated, as pgmld_envelope_peek() leaves
 * them in a read buffer: followed by more bytes that must not count. */
static void test_find_n(void **state)
{
  const pgmld_dispatch_t *d = *state;
  char buf[160];
  size_t i;

  for (i = 0; i < sizeof(find_cases) / sizeof(find_cases[0]); i++) {
    size_t n = strlen(find_cases[i].name);
    const pgmld_method_t *m;

    memcpy(buf, find_cases[i].name, n);
    memcpy(buf + n, "Ping\x01", 5);
    m = pgmld_dispatch_find_n(d, buf, n);
    if ((m != NULL) != find_cases[i].found)
      fail_msg("find_n(\"%s\"): got %p", find_cases[i].name, (const void *)m);
    if (m != NULL)
      assert_string_equal(m->full_name, find_cases[i].name);
  }
  for (i = 0; i < d->n_methods; i++) {
    const char *name = d->methods[i].full_name;
    size_t n = strlen(name);
    assert_ptr_equal(pgmld_dispatch_find_n(d, name, n), &d->methods[i]);
    /* Every proper prefix, and the name with a NUL inside, are not it. */
    assert_null(pgmld_dispatch_find_n(d, name, n - 1));
    memcpy(buf, name, n);
    buf[n - 2] = '\0';
    assert_null(pgmld_dispatch_find_n(d, buf, n));
  }
}

static void test_set_handler(void **state)
{
  pgmld_dispatch_t *d = *state;

  assert_int_equal(pgmld_dispatch_set_handler(d, "Ping", handler_a), 0);
  assert_ptr_equal(pgmld_dispatch_find(d, "pgml.v1.Database/Ping")->fn, handler_a);
  assert_int_equal(pgmld_dispatch_set_handler(d, "pgml.v1.Database/ServerInfo",
                                              handler_b), 0);
  assert_ptr_equal(pgmld_dispatch_find(d, "pgml.v1.Database/ServerInfo")->fn, handler_b);
  /* Twice: a programming error the registry reports. */
  assert_int_equal(pgmld_dispatch_set_handler(d, "Ping", handler_b), -EEXIST);
  assert_int_equal(pgmld_dispatch_set_handler(d, "pgml.v1.Database/Ping", handler_b),
                   -EEXIST);
  assert_ptr_equal(pgmld_dispatch_find(d, "pgml.v1.Database/Ping")->fn, handler_a);
  /* Names the descriptor lacks. */
  assert_int_equal(pgmld_dispatch_set_handler(d, "Pong", handler_a), -ENOENT);
  assert_int_equal(pgmld_dispatch_set_handler(d, "other.Service/Ping", handler_a),
                   -ENOENT);
  assert_int_equal(pgmld_dispatch_set_handler(d, "pgml.v1.Database/Pong", handler_a),
                   -ENOENT);
}

/* ------------------------------------------------------------ prepare */

typedef struct prepare_case_s {
  const char *name;
  const char *method;
  const uint8_t *payload;
  size_t payload_len;
  int rc;
  pgmld_code_t code;
  const char *needle;
} prepare_case_t;

static const uint8_t ping_hi[] = {0x0a, 0x02, 'h', 'i'};
/* data (field 1, bytes) sent as a varint. */
static const uint8_t ping_wrong_type[] = {0x08, 0x01};
/* data declared 9 bytes long, 2 present. */
static const uint8_t ping_truncated[] = {0x0a, 0x09, 'h', 'i'};
static const uint8_t garbage[] = {0xff, 0xff, 0xff};

static const prepare_case_t prepare_cases[] = {
  {"ping", "pgml.v1.Database/Ping", ping_hi, sizeof(ping_hi), 0, PGMLD_OK, NULL},
  {"ping, empty payload", "pgml.v1.Database/Ping", NULL, 0, 0, PGMLD_OK, NULL},
  {"unknown method", "pgml.v1.Database/Nope", NULL, 0, -ENOENT, PGMLD_UNIMPLEMENTED,
   "unknown method pgml.v1.Database/Nope"},
  {"short name is not a wire name", "Ping", NULL, 0, -ENOENT, PGMLD_UNIMPLEMENTED,
   "unknown method Ping"},
  {"unprintable method quoted", "bad\n\x01method", NULL, 0, -ENOENT,
   PGMLD_UNIMPLEMENTED, "unknown method bad??method"},
  {"method without handler", "pgml.v1.Database/ServerInfo", NULL, 0, -ENOSYS,
   PGMLD_UNIMPLEMENTED, "pgml.v1.Database/ServerInfo is not implemented by this server"},
  {"payload of the wrong wire type", "pgml.v1.Database/Ping", ping_wrong_type,
   sizeof(ping_wrong_type), -EBADMSG, PGMLD_INVALID_ARGUMENT,
   "payload of pgml.v1.Database/Ping is not a pgml.v1.PingRequest: field 1 (data) "
   "has wire type 0 (varint)"},
  {"truncated payload", "pgml.v1.Database/Ping", ping_truncated, sizeof(ping_truncated),
   -EBADMSG, PGMLD_INVALID_ARGUMENT,
   "payload of pgml.v1.Database/Ping is not a pgml.v1.PingRequest: field 1: length 9"},
  {"garbage payload", "pgml.v1.Database/Ping", garbage, sizeof(garbage), -EBADMSG,
   PGMLD_INVALID_ARGUMENT, "payload of pgml.v1.Database/Ping is not a pgml.v1.PingRequest"},
};

static void test_prepare_table(void **state)
{
  pgmld_dispatch_t *d = *state;
  size_t i;

  assert_int_equal(pgmld_dispatch_set_handler(d, "Ping", handler_a), 0);
  for (i = 0; i < sizeof(prepare_cases) / sizeof(prepare_cases[0]); i++) {
    const prepare_case_t *c = &prepare_cases[i];
    Pgml__V1__Frame f = PGML__V1__FRAME__INIT;
    pgmld_status_t st = PGMLD_STATUS_INIT;
    const pgmld_method_t *m = (const pgmld_method_t *)1;
    ProtobufCMessage *req = (ProtobufCMessage *)1;
    long live = pgmld_alloc_live();
    int rc;

    print_message("case: %s\n", c->name);
    f.id = i + 1;
    f.method = (char *)c->method;
    f.payload.data = (uint8_t *)c->payload;
    f.payload.len = c->payload_len;
    rc = pgmld_dispatch_prepare(d, &f, &m, &req, &st);
    assert_int_equal(rc, c->rc);
    assert_int_equal(st.code, c->code);
    if (rc == 0) {
      const Pgml__V1__PingRequest *p = (const Pgml__V1__PingRequest *)req;
      assert_non_null(m);
      assert_ptr_equal(m->fn, handler_a);
      assert_ptr_equal(req->descriptor, &pgml__v1__ping_request__descriptor);
      assert_int_equal(p->data.len, c->payload_len ? 2 : 0);
      pgmld_dispatch_free_request(req);
    } else {
      assert_null(m);
      assert_null(req);
      assert_contains(st.message, c->needle);
    }
    assert_int_equal(pgmld_alloc_live(), live);
  }
}

/* A long method name is cut in the message, so that a client cannot make
 * the server echo megabytes. */
static void test_prepare_long_method(void **state)
{
  pgmld_dispatch_t *d = *state;
  Pgml__V1__Frame f = PGML__V1__FRAME__INIT;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  const pgmld_method_t *m;
  ProtobufCMessage *req;
  char name[4096];

  memset(name, 'x', sizeof(name) - 1);
  name[sizeof(name) - 1] = '\0';
  f.id = 1;
  f.method = name;
  assert_int_equal(pgmld_dispatch_prepare(d, &f, &m, &req, &st), -ENOENT);
  assert_int_equal(st.code, PGMLD_UNIMPLEMENTED);
  assert_true(strlen(st.message) < 200);
  assert_contains(st.message, "xxx...");
}

/* Every method of the descriptor, given a handler, decodes an empty
 * payload as its (all-default) input message: nothing is per method. */
static void test_prepare_every_method(void **state)
{
  pgmld_dispatch_t *d = *state;
  size_t i;

  for (i = 0; i < d->n_methods; i++)
    assert_int_equal(pgmld_dispatch_set_handler(d, d->methods[i].full_name, handler_a), 0);
  for (i = 0; i < d->n_methods; i++) {
    Pgml__V1__Frame f = PGML__V1__FRAME__INIT;
    pgmld_status_t st = PGMLD_STATUS_INIT;
    const pgmld_method_t *m;
    ProtobufCMessage *req;

    f.id = 1;
    f.method = d->methods[i].full_name;
    assert_int_equal(pgmld_dispatch_prepare(d, &f, &m, &req, &st), 0);
    assert_ptr_equal(req->descriptor, d->methods[i].desc->input);
    pgmld_dispatch_free_request(req);
  }
}

/* Failing each allocation of table building and of request decoding in
 * turn: -ENOMEM (RESOURCE_EXHAUSTED when a status is taken), no leak. */
static void test_fault_injection(void **state)
{
  pgmld_dispatch_t *d = *state;
  unsigned long n;

  for (n = 1;; n++) {
    pgmld_dispatch_t *d2 = NULL;
    long live = pgmld_alloc_live();
    int rc;

    pgmld_alloc_fail_after(n, 0);
    rc = pgmld_dispatch_new(&pgml__v1__database__descriptor, &d2);
    pgmld_alloc_fail_after(0, 0);
    if (rc == 0) {
      pgmld_dispatch_free(d2);
      break;
    }
    assert_int_equal(rc, -ENOMEM);
    assert_null(d2);
    assert_int_equal(pgmld_alloc_live(), live);
  }
  /* The table and the array, one name per method, then the name index. */
  assert_int_equal(n, 2 + d->n_methods + 1 + 1);

  assert_int_equal(pgmld_dispatch_set_handler(d, "Ping", handler_a), 0);
  for (n = 1;; n++) {
    Pgml__V1__Frame f = PGML__V1__FRAME__INIT;
    pgmld_status_t st = PGMLD_STATUS_INIT;
    const pgmld_method_t *m;
    ProtobufCMessage *req;
    long live = pgmld_alloc_live();
    int rc;

    f.id = 1;
    f.method = "pgml.v1.Database/Ping";
    f.payload.data = (uint8_t *)ping_hi;
    f.payload.len = sizeof(ping_hi);
    pgmld_alloc_fail_after(n, 0);
    rc = pgmld_dispatch_prepare(d, &f, &m, &req, &st);
    pgmld_alloc_fail_after(0, 0);
    if (rc == 0) {
      pgmld_dispatch_free_request(req);
      break;
    }
    assert_int_equal(rc, -ENOMEM);
    assert_int_equal(st.code, PGMLD_RESOURCE_EXHAUSTED);
    assert_contains(st.message, "out of memory decoding the 4-byte payload of "
                                "pgml.v1.Database/Ping");
    assert_null(req);
    assert_int_equal(pgmld_alloc_live(), live);
  }
  assert_true(n >= 2);
}

/* ------------------------------------------------------------ the arena */

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_SPILLS_ALL 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_SPILLS_ALL 1
#endif
#endif
#ifndef ARENA_SPILLS_ALL
#define ARENA_SPILLS_ALL 0
#endif

/* A request decoded into a call's arena: a small one takes no heap memory
 * (except under ASan, where everything spills), a large one spills, a bad
 * one is refused as with the heap, and a reset gives everything back. */
static void test_decode_with_arena(void **state)
{
  pgmld_dispatch_t *d = *state;
  pgmld_status_t st = PGMLD_STATUS_INIT;
  const pgmld_method_t *m;
  const Pgml__V1__PingRequest *ping;
  ProtobufCMessage *req;
  static uint8_t big[3 + 2000];
  static const uint8_t bad[] = {0x0a, 0x05, 'x'};
  pgmld_arena_t a;
  long live = pgmld_alloc_live();
  size_t i;

  assert_int_equal(pgmld_dispatch_set_handler(d, "Ping", handler_a), 0);
  m = pgmld_dispatch_find(d, "pgml.v1.Database/Ping");
  assert_non_null(m);
  pgmld_arena_init(&a);

  assert_int_equal(pgmld_dispatch_decode_with(m, ping_hi, sizeof(ping_hi),
                                              pgmld_arena_allocator(&a), &req, &st), 0);
  ping = (const Pgml__V1__PingRequest *)req;
  assert_ptr_equal(req->descriptor, &pgml__v1__ping_request__descriptor);
  assert_int_equal(ping->data.len, 2);
  assert_memory_equal(ping->data.data, "hi", 2);
  if (!ARENA_SPILLS_ALL)
    assert_int_equal(pgmld_alloc_live(), live);
  pgmld_arena_reset(&a);
  assert_int_equal(pgmld_alloc_live(), live);

  big[0] = 0x0a;
  big[1] = (uint8_t)(0x80 | (2000 & 0x7f));
  big[2] = (uint8_t)(2000 >> 7);
  for (i = 3; i < sizeof(big); i++)
    big[i] = (uint8_t)i;
  assert_int_equal(pgmld_dispatch_decode_with(m, big, sizeof(big),
                                              pgmld_arena_allocator(&a), &req, &st), 0);
  ping = (const Pgml__V1__PingRequest *)req;
  assert_int_equal(ping->data.len, 2000);
  assert_memory_equal(ping->data.data, big + 3, 2000);
  assert_true(pgmld_alloc_live() > live);
  pgmld_arena_reset(&a);
  assert_int_equal(pgmld_alloc_live(), live);

  assert_int_equal(pgmld_dispatch_decode_with(m, bad, sizeof(bad),
                                              pgmld_arena_allocator(&a), &req, &st),
                   -EBADMSG);
  assert_null(req);
  assert_int_equal(st.code, PGMLD_INVALID_ARGUMENT);
  assert_contains(st.message, "payload of pgml.v1.Database/Ping is not a");
  pgmld_arena_reset(&a);
  assert_int_equal(pgmld_alloc_live(), live);

  /* What spills comes from core/alloc.h, so running out of it is told as
   * such, not as a bad payload. */
  st = (pgmld_status_t)PGMLD_STATUS_INIT;
  pgmld_alloc_fail_after(1, 0);
  assert_int_equal(pgmld_dispatch_decode_with(m, big, sizeof(big),
                                              pgmld_arena_allocator(&a), &req, &st),
                   -ENOMEM);
  pgmld_alloc_fail_after(0, 0);
  assert_int_equal(st.code, PGMLD_RESOURCE_EXHAUSTED);
  assert_contains(st.message, "out of memory decoding the 2003-byte payload");
  pgmld_arena_reset(&a);
  assert_int_equal(pgmld_alloc_live(), live);
}

/* ------------------------------------------------------------ status */

static void test_status(void **state)
{
  static const struct {
    pgmld_code_t code;
    int number;
    const char *name;
  } codes[] = {
    {PGMLD_OK, 0, "OK"},
    {PGMLD_CANCELLED, 1, "CANCELLED"},
    {PGMLD_UNKNOWN, 2, "UNKNOWN"},
    {PGMLD_INVALID_ARGUMENT, 3, "INVALID_ARGUMENT"},
    {PGMLD_DEADLINE_EXCEEDED, 4, "DEADLINE_EXCEEDED"},
    {PGMLD_NOT_FOUND, 5, "NOT_FOUND"},
    {PGMLD_ALREADY_EXISTS, 6, "ALREADY_EXISTS"},
    {PGMLD_PERMISSION_DENIED, 7, "PERMISSION_DENIED"},
    {PGMLD_RESOURCE_EXHAUSTED, 8, "RESOURCE_EXHAUSTED"},
    {PGMLD_FAILED_PRECONDITION, 9, "FAILED_PRECONDITION"},
    {PGMLD_ABORTED, 10, "ABORTED"},
    {PGMLD_OUT_OF_RANGE, 11, "OUT_OF_RANGE"},
    {PGMLD_UNIMPLEMENTED, 12, "UNIMPLEMENTED"},
    {PGMLD_INTERNAL, 13, "INTERNAL"},
    {PGMLD_UNAVAILABLE, 14, "UNAVAILABLE"},
    {PGMLD_DATA_LOSS, 15, "DATA_LOSS"},
    {PGMLD_UNAUTHENTICATED, 16, "UNAUTHENTICATED"},
  };
  pgmld_status_t st = PGMLD_STATUS_INIT;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    assert_int_equal((int)codes[i].code, codes[i].number);
    assert_string_equal(pgmld_code_name(codes[i].code), codes[i].name);
  }
  assert_string_equal(pgmld_code_name((pgmld_code_t)99), "UNKNOWN");
  /* The first error wins. */
  assert_int_equal(pgmld_status_set(&st, PGMLD_NOT_FOUND, "deep %d", 1), -1);
  assert_int_equal(pgmld_status_set(&st, PGMLD_INTERNAL, "shallow"), -1);
  assert_int_equal(st.code, PGMLD_NOT_FOUND);
  assert_string_equal(st.message, "deep 1");
  assert_int_equal(pgmld_status_set(NULL, PGMLD_INTERNAL, "ignored"), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_table_from_descriptor, setup, teardown),
    cmocka_unit_test_setup_teardown(test_find_table, setup, teardown),
    cmocka_unit_test_setup_teardown(test_find_n, setup, teardown),
    cmocka_unit_test_setup_teardown(test_set_handler, setup, teardown),
    cmocka_unit_test_setup_teardown(test_prepare_table, setup, teardown),
    cmocka_unit_test_setup_teardown(test_prepare_long_method, setup, teardown),
    cmocka_unit_test_setup_teardown(test_prepare_every_method, setup, teardown),
    cmocka_unit_test_setup_teardown(test_fault_injection, setup, teardown),
    cmocka_unit_test_setup_teardown(test_decode_with_arena, setup, teardown),
    cmocka_unit_test(test_status),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
