/* test_vectors.c - nanopb (the C client) and protobuf-c (the daemon) encode
 * the shared test vectors in tests/vectors/ byte for byte, and decode them
 * to the same fields; libpgml's frame codec (envelope.c) does too. */
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
#include <pb_encode.h>

#include "envelope.h"
#include "pgml/v1/database.pb-c.h"
#include "pgml/v1/database.pb.h"
#include "pgml/v1/frame.pb-c.h"
#include "pgml/v1/frame.pb.h"

/* ------------------------------------------------------------ helpers */

typedef struct {
  uint8_t *data;
  size_t len;
} bytes_t;

static int hexval(int ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Reads tests/vectors/<name>.hex (hex digits, whitespace ignored). */
static bytes_t load(const char *name)
{
  char path[1024];
  bytes_t b = {NULL, 0};
  FILE *f;
  int ch, hi = -1;

  snprintf(path, sizeof(path), "%s/%s.hex", PGML_VECTORS_DIR, name);
  f = fopen(path, "r");
  if (f == NULL)
    fail_msg("cannot open %s: %s", path, strerror(errno));
  b.data = malloc(4096);
  assert_non_null(b.data);
  while ((ch = fgetc(f)) != EOF) {
    int v;
    if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
      continue;
    v = hexval(ch);
    if (v < 0)
      fail_msg("%s: not a hex digit: %c", path, ch);
    if (hi < 0) {
      hi = v;
      continue;
    }
    assert_true(b.len < 4096);
    b.data[b.len++] = (uint8_t)(hi << 4 | v);
    hi = -1;
  }
  fclose(f);
  assert_int_equal(hi, -1);
  return b;
}

static void assert_bytes(const bytes_t *want, const uint8_t *got, size_t got_len,
                         const char *who)
{
  if (got_len != want->len || memcmp(got, want->data, got_len) != 0) {
    size_t i;
    fprintf(stderr, "%s: %zu bytes, want %zu\n got: ", who, got_len, want->len);
    for (i = 0; i < got_len; i++)
      fprintf(stderr, "%02x", got[i]);
    fprintf(stderr, "\nwant: ");
    for (i = 0; i < want->len; i++)
      fprintf(stderr, "%02x", want->data[i]);
    fprintf(stderr, "\n");
    fail_msg("%s does not encode the vector byte for byte", who);
  }
}

/* A nanopb bytes field holding `n` bytes (freed by the caller). */
static pb_bytes_array_t *nano_bytes(const void *p, size_t n)
{
  pb_bytes_array_t *b = malloc(PB_BYTES_ARRAY_T_ALLOCSIZE(n));
  assert_non_null(b);
  b->size = (pb_size_t)n;
  memcpy(b->bytes, p, n);
  return b;
}

static void assert_nano_bytes(const pb_bytes_array_t *b, const void *p, size_t n)
{
  assert_non_null(b);
  assert_int_equal(b->size, n);
  assert_memory_equal(b->bytes, p, n);
}

static void assert_pbc_bytes(ProtobufCBinaryData b, const void *p, size_t n)
{
  assert_int_equal(b.len, n);
  assert_memory_equal(b.data, p, n);
}

/* Encodes `msg` with nanopb and compares. */
static void nano_encode_check(const pb_msgdesc_t *type, const void *msg, const bytes_t *want,
                              const char *name)
{
  uint8_t buf[4096];
  pb_ostream_t s = pb_ostream_from_buffer(buf, sizeof(buf));
  char who[128];

  if (!pb_encode(&s, type, msg))
    fail_msg("nanopb cannot encode %s: %s", name, PB_GET_ERROR(&s));
  snprintf(who, sizeof(who), "nanopb (%s)", name);
  assert_bytes(want, buf, s.bytes_written, who);
}

static void pbc_encode_check(const ProtobufCMessage *msg, const bytes_t *want,
                             const char *name)
{
  uint8_t buf[4096];
  size_t n = protobuf_c_message_get_packed_size(msg);
  char who[128];

  assert_true(n <= sizeof(buf));
  assert_int_equal(protobuf_c_message_pack(msg, buf), n);
  snprintf(who, sizeof(who), "protobuf-c (%s)", name);
  assert_bytes(want, buf, n, who);
}

/* Decodes with nanopb into a zeroed struct of `size` bytes. */
static void *nano_decode(const pb_msgdesc_t *type, size_t size, const bytes_t *b)
{
  void *msg = calloc(1, size);
  pb_istream_t s = pb_istream_from_buffer(b->data, b->len);

  assert_non_null(msg);
  if (!pb_decode(&s, type, msg))
    fail_msg("nanopb cannot decode: %s", PB_GET_ERROR(&s));
  return msg;
}

static void nano_free(const pb_msgdesc_t *type, void *msg)
{
  pb_release(type, msg);
  free(msg);
}

static ProtobufCMessage *pbc_decode(const ProtobufCMessageDescriptor *d, const bytes_t *b)
{
  ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, b->len, b->data);

  assert_non_null(m);
  return m;
}

static const uint8_t ping_data[] = {'h', 'e', 'l', 'l', 'o', 0x00, 0xff};

/* ------------------------------------------------------------ Ping */

static void test_ping_request(void **state)
{
  bytes_t want = load("ping_request");
  pgml_v1_PingRequest n = pgml_v1_PingRequest_init_zero;
  Pgml__V1__PingRequest p = PGML__V1__PING_REQUEST__INIT;
  pgml_v1_PingRequest *nd;
  Pgml__V1__PingRequest *pd;

  n.data = nano_bytes(ping_data, sizeof(ping_data));
  nano_encode_check(pgml_v1_PingRequest_fields, &n, &want, "PingRequest");
  free(n.data);
  p.data.data = (uint8_t *)ping_data;
  p.data.len = sizeof(ping_data);
  pbc_encode_check(&p.base, &want, "PingRequest");

  nd = nano_decode(pgml_v1_PingRequest_fields, sizeof(*nd), &want);
  assert_nano_bytes(nd->data, ping_data, sizeof(ping_data));
  nano_free(pgml_v1_PingRequest_fields, nd);
  pd = (Pgml__V1__PingRequest *)pbc_decode(&pgml__v1__ping_request__descriptor, &want);
  assert_pbc_bytes(pd->data, ping_data, sizeof(ping_data));
  protobuf_c_message_free_unpacked(&pd->base, NULL);
  free(want.data);
}

static void test_ping_response(void **state)
{
  bytes_t want = load("ping_response");
  pgml_v1_PingResponse n = pgml_v1_PingResponse_init_zero;
  Pgml__V1__PingResponse p = PGML__V1__PING_RESPONSE__INIT;
  pgml_v1_PingResponse *nd;
  Pgml__V1__PingResponse *pd;

  n.data = nano_bytes(ping_data, sizeof(ping_data));
  nano_encode_check(pgml_v1_PingResponse_fields, &n, &want, "PingResponse");
  free(n.data);
  p.data.data = (uint8_t *)ping_data;
  p.data.len = sizeof(ping_data);
  pbc_encode_check(&p.base, &want, "PingResponse");

  nd = nano_decode(pgml_v1_PingResponse_fields, sizeof(*nd), &want);
  assert_nano_bytes(nd->data, ping_data, sizeof(ping_data));
  nano_free(pgml_v1_PingResponse_fields, nd);
  pd = (Pgml__V1__PingResponse *)pbc_decode(&pgml__v1__ping_response__descriptor, &want);
  assert_pbc_bytes(pd->data, ping_data, sizeof(ping_data));
  protobuf_c_message_free_unpacked(&pd->base, NULL);
  free(want.data);
}

/* ------------------------------------------------------------ frames */

/* One Frame vector, described once and built for each codec from it. */
typedef struct {
  const char *name;
  uint64_t id;
  int kind;
  const char *method;
  const char *payload_vector;   /* name of the vector carried, or NULL */
  int code;
  const char *message;
  const char *details;
  uint32_t timeout_ms;
  const char *metadata[4];      /* key, value, key, value */
  size_t n_metadata;
} frame_case_t;

static const frame_case_t frames[] = {
  {"frame_request_ping", 1, 0, "pgml.v1.Database/Ping", "ping_request", 0, NULL, NULL,
   2500, {NULL}, 0},
  {"frame_request_metadata", UINT64_C(1099511627783), 0, "pgml.v1.Database/ServerInfo",
   NULL, 0, NULL, NULL, 0, {"authorization", "Bearer abc", "x-request-id", "42"}, 2},
  {"frame_response_ping", 1, 1, NULL, "ping_response", 0, NULL, NULL, 0, {NULL}, 0},
  {"frame_response_error", 9, 1, NULL, NULL, 3,
   "unknown filter operator $regex at metadata.lang",
   "{\"at\":\"metadata.lang\",\"operator\":\"$regex\"}", 0, {NULL}, 0},
  {"frame_cancel", 9, 2, NULL, NULL, 0, NULL, NULL, 0, {NULL}, 0},
  {"frame_connection_error", 0, 1, NULL, NULL, 8,
   "frame of 16777217 bytes exceeds max_frame_size 16777216",
   "{\"limit\":\"max_frame_size\",\"value\":16777216}", 0, {NULL}, 0},
};

static void nano_frame_check(const frame_case_t *fc, const pgml_v1_Frame *f,
                             const bytes_t *payload)
{
  size_t i;

  assert_int_equal(f->id, fc->id);
  assert_int_equal(f->kind, fc->kind);
  assert_int_equal(f->code, fc->code);
  assert_int_equal(f->timeout_ms, fc->timeout_ms);
  if (fc->method)
    assert_string_equal(f->method, fc->method);
  else
    assert_null(f->method);
  if (fc->message)
    assert_string_equal(f->message, fc->message);
  else
    assert_null(f->message);
  if (fc->details)
    assert_string_equal(f->details, fc->details);
  else
    assert_null(f->details);
  if (payload != NULL)
    assert_nano_bytes(f->payload, payload->data, payload->len);
  else
    assert_null(f->payload);
  assert_int_equal(f->metadata_count, fc->n_metadata);
  for (i = 0; i < fc->n_metadata; i++) {
    assert_string_equal(f->metadata[i].key, fc->metadata[2 * i]);
    assert_string_equal(f->metadata[i].value, fc->metadata[2 * i + 1]);
  }
}

static void test_frames(void **state)
{
  size_t k;

  for (k = 0; k < sizeof(frames) / sizeof(frames[0]); k++) {
    const frame_case_t *fc = &frames[k];
    bytes_t want = load(fc->name);
    bytes_t payload = {NULL, 0};
    pgml_v1_Frame_MetadataEntry nmd[2];
    Pgml__V1__Frame__MetadataEntry pmd_store[2];
    Pgml__V1__Frame__MetadataEntry *pmd[2];
    pgml_v1_Frame n = pgml_v1_Frame_init_zero;
    Pgml__V1__Frame p = PGML__V1__FRAME__INIT;
    pgml__envelope_t env;
    pgml_v1_Frame *nd;
    Pgml__V1__Frame *pd;
    uint8_t buf[4096];
    size_t written, i;
    char err[256];

    if (fc->payload_vector != NULL)
      payload = load(fc->payload_vector);

    /* nanopb */
    n.id = fc->id;
    n.kind = (pgml_v1_Frame_Kind)fc->kind;
    n.method = (char *)fc->method;
    n.payload = payload.data ? nano_bytes(payload.data, payload.len) : NULL;
    n.code = (pgml_v1_Code)fc->code;
    n.message = (char *)fc->message;
    n.details = (char *)fc->details;
    n.timeout_ms = fc->timeout_ms;
    for (i = 0; i < fc->n_metadata; i++) {
      nmd[i].key = (char *)fc->metadata[2 * i];
      nmd[i].value = (char *)fc->metadata[2 * i + 1];
    }
    n.metadata_count = (pb_size_t)fc->n_metadata;
    n.metadata = fc->n_metadata ? nmd : NULL;
    nano_encode_check(pgml_v1_Frame_fields, &n, &want, fc->name);

    /* libpgml's envelope: the payload outside the struct */
    free(n.payload);
    n.payload = NULL;
    assert_int_equal(pgml__envelope_encode(&n, payload.data, payload.len, buf, sizeof(buf),
                                           &written), 0);
    assert_bytes(&want, buf, written, "libpgml envelope");

    /* protobuf-c */
    p.id = fc->id;
    p.kind = (Pgml__V1__Frame__Kind)fc->kind;
    if (fc->method)
      p.method = (char *)fc->method;
    p.payload.data = payload.data;
    p.payload.len = payload.len;
    p.code = (Pgml__V1__Code)fc->code;
    if (fc->message)
      p.message = (char *)fc->message;
    if (fc->details)
      p.details = (char *)fc->details;
    p.timeout_ms = fc->timeout_ms;
    for (i = 0; i < fc->n_metadata; i++) {
      pgml__v1__frame__metadata_entry__init(&pmd_store[i]);
      pmd_store[i].key = (char *)fc->metadata[2 * i];
      pmd_store[i].value = (char *)fc->metadata[2 * i + 1];
      pmd[i] = &pmd_store[i];
    }
    p.n_metadata = fc->n_metadata;
    p.metadata = fc->n_metadata ? pmd : NULL;
    pbc_encode_check(&p.base, &want, fc->name);

    /* decoding, three ways */
    nd = nano_decode(pgml_v1_Frame_fields, sizeof(*nd), &want);
    nano_frame_check(fc, nd, payload.data ? &payload : NULL);
    nano_free(pgml_v1_Frame_fields, nd);

    assert_int_equal(pgml__envelope_decode(want.data, want.len, &env, err, sizeof(err)), 0);
    nano_frame_check(fc, &env.frame, NULL);
    assert_int_equal(env.payload_len, payload.len);
    if (payload.len)
      assert_memory_equal(env.payload, payload.data, payload.len);
    pgml__envelope_release(&env);

    pd = (Pgml__V1__Frame *)pbc_decode(&pgml__v1__frame__descriptor, &want);
    assert_int_equal(pd->id, fc->id);
    assert_int_equal(pd->kind, fc->kind);
    assert_string_equal(pd->method, fc->method ? fc->method : "");
    assert_pbc_bytes(pd->payload, payload.data, payload.len);
    assert_int_equal(pd->code, fc->code);
    assert_string_equal(pd->message, fc->message ? fc->message : "");
    assert_string_equal(pd->details, fc->details ? fc->details : "");
    assert_int_equal(pd->timeout_ms, fc->timeout_ms);
    assert_int_equal(pd->n_metadata, fc->n_metadata);
    for (i = 0; i < fc->n_metadata; i++) {
      assert_string_equal(pd->metadata[i]->key, fc->metadata[2 * i]);
      assert_string_equal(pd->metadata[i]->value, fc->metadata[2 * i + 1]);
    }
    protobuf_c_message_free_unpacked(&pd->base, NULL);
    free(payload.data);
    free(want.data);
  }
}

/* ------------------------------------------------------------ documents */

static const char *const docs[] = {
  "{\"id\":\"a\",\"text\":\"h\xc3\xa9llo world\"}",
  "{\"id\":\"b\",\"lang\":\"en\"}",
};
static const float vec0[] = {0.5f, -1.25f, 3.0f};
static const float vec1[] = {0.0f, 0.001f, 65504.0f};

static void test_upsert_documents_request(void **state)
{
  bytes_t want = load("upsert_documents_request");
  pgml_v1_UpsertDocumentsRequest n = pgml_v1_UpsertDocumentsRequest_init_zero;
  pgml_v1_Vector nv[2] = {{3, (float *)vec0}, {3, (float *)vec1}};
  Pgml__V1__UpsertDocumentsRequest p = PGML__V1__UPSERT_DOCUMENTS_REQUEST__INIT;
  Pgml__V1__Vector pv_store[2];
  Pgml__V1__Vector *pv[2] = {&pv_store[0], &pv_store[1]};
  pgml_v1_UpsertDocumentsRequest *nd;
  Pgml__V1__UpsertDocumentsRequest *pd;

  n.collection = "docs";
  n.documents_count = 2;
  n.documents = (char **)docs;
  n.merge = true;
  n.vectors_count = 2;
  n.vectors = nv;
  nano_encode_check(pgml_v1_UpsertDocumentsRequest_fields, &n, &want, "UpsertDocumentsRequest");

  pgml__v1__vector__init(&pv_store[0]);
  pgml__v1__vector__init(&pv_store[1]);
  pv_store[0].n_values = 3;
  pv_store[0].values = (float *)vec0;
  pv_store[1].n_values = 3;
  pv_store[1].values = (float *)vec1;
  p.collection = "docs";
  p.n_documents = 2;
  p.documents = (char **)docs;
  p.merge = 1;
  p.n_vectors = 2;
  p.vectors = pv;
  pbc_encode_check(&p.base, &want, "UpsertDocumentsRequest");

  nd = nano_decode(pgml_v1_UpsertDocumentsRequest_fields, sizeof(*nd), &want);
  assert_string_equal(nd->collection, "docs");
  assert_int_equal(nd->documents_count, 2);
  assert_string_equal(nd->documents[0], docs[0]);
  assert_string_equal(nd->documents[1], docs[1]);
  assert_true(nd->merge);
  assert_int_equal(nd->vectors_count, 2);
  assert_int_equal(nd->vectors[0].values_count, 3);
  assert_memory_equal(nd->vectors[0].values, vec0, sizeof(vec0));
  assert_int_equal(nd->vectors[1].values_count, 3);
  assert_memory_equal(nd->vectors[1].values, vec1, sizeof(vec1));
  nano_free(pgml_v1_UpsertDocumentsRequest_fields, nd);

  pd = (Pgml__V1__UpsertDocumentsRequest *)pbc_decode(
    &pgml__v1__upsert_documents_request__descriptor, &want);
  assert_string_equal(pd->collection, "docs");
  assert_int_equal(pd->n_documents, 2);
  assert_string_equal(pd->documents[0], docs[0]);
  assert_string_equal(pd->documents[1], docs[1]);
  assert_true(pd->merge);
  assert_int_equal(pd->n_vectors, 2);
  assert_int_equal(pd->vectors[0]->n_values, 3);
  assert_memory_equal(pd->vectors[0]->values, vec0, sizeof(vec0));
  assert_int_equal(pd->vectors[1]->n_values, 3);
  assert_memory_equal(pd->vectors[1]->values, vec1, sizeof(vec1));
  protobuf_c_message_free_unpacked(&pd->base, NULL);
  free(want.data);
}

/* ------------------------------------------------------------ search */

static void test_search_response(void **state)
{
  bytes_t want = load("search_response");
  pgml_v1_SearchResult nr[2] = {
    {0.875, "hello world", "a", "{\"lang\":\"en\"}", 2},
    {-0.25, "second", "b", "{}", 0},
  };
  pgml_v1_SearchResponse n = pgml_v1_SearchResponse_init_zero;
  Pgml__V1__SearchResult pr_store[2];
  Pgml__V1__SearchResult *pr[2] = {&pr_store[0], &pr_store[1]};
  Pgml__V1__SearchResponse p = PGML__V1__SEARCH_RESPONSE__INIT;
  pgml_v1_SearchResponse *nd;
  Pgml__V1__SearchResponse *pd;
  size_t i;

  n.results_count = 2;
  n.results = nr;
  nano_encode_check(pgml_v1_SearchResponse_fields, &n, &want, "SearchResponse");

  for (i = 0; i < 2; i++) {
    pgml__v1__search_result__init(&pr_store[i]);
    pr_store[i].score = nr[i].score;
    pr_store[i].chunk = nr[i].chunk;
    pr_store[i].document_id = nr[i].document_id;
    pr_store[i].metadata = nr[i].metadata;
    pr_store[i].chunk_index = nr[i].chunk_index;
  }
  p.n_results = 2;
  p.results = pr;
  pbc_encode_check(&p.base, &want, "SearchResponse");

  nd = nano_decode(pgml_v1_SearchResponse_fields, sizeof(*nd), &want);
  pd = (Pgml__V1__SearchResponse *)pbc_decode(&pgml__v1__search_response__descriptor, &want);
  assert_int_equal(nd->results_count, 2);
  assert_int_equal(pd->n_results, 2);
  for (i = 0; i < 2; i++) {
    assert_true(nd->results[i].score == nr[i].score);
    assert_string_equal(nd->results[i].chunk, nr[i].chunk);
    assert_string_equal(nd->results[i].document_id, nr[i].document_id);
    assert_string_equal(nd->results[i].metadata, nr[i].metadata);
    assert_int_equal(nd->results[i].chunk_index, nr[i].chunk_index);
    assert_true(pd->results[i]->score == nr[i].score);
    assert_string_equal(pd->results[i]->chunk, nr[i].chunk);
    assert_string_equal(pd->results[i]->document_id, nr[i].document_id);
    assert_string_equal(pd->results[i]->metadata, nr[i].metadata);
    assert_int_equal(pd->results[i]->chunk_index, nr[i].chunk_index);
  }
  nano_free(pgml_v1_SearchResponse_fields, nd);
  protobuf_c_message_free_unpacked(&pd->base, NULL);
  free(want.data);
}

/* ------------------------------------------------------------ ServerInfo */

static char *const features[] = {"unix", "pgvector-iterative-scan"};

static void test_server_info_response(void **state)
{
  bytes_t want = load("server_info_response");
  pgml_v1_ServerInfoResponse n = pgml_v1_ServerInfoResponse_init_zero;
  Pgml__V1__ServerInfoResponse p = PGML__V1__SERVER_INFO_RESPONSE__INIT;
  Pgml__V1__PoolInfo pool = PGML__V1__POOL_INFO__INIT;
  pgml_v1_ServerInfoResponse *nd;
  Pgml__V1__ServerInfoResponse *pd;

  n.version = "0.1.0";
  n.protocol_version = 1;
  n.uptime_ms = UINT64_C(123456789012);
  n.features_count = 2;
  n.features = (char **)features;
  n.has_pool = true;
  n.pool.size = 8;
  n.pool.idle = 6;
  n.pool.busy = 2;
  n.pgvector_version = "0.8.2";
  nano_encode_check(pgml_v1_ServerInfoResponse_fields, &n, &want, "ServerInfoResponse");

  pool.size = 8;
  pool.idle = 6;
  pool.busy = 2;
  p.version = "0.1.0";
  p.protocol_version = 1;
  p.uptime_ms = UINT64_C(123456789012);
  p.n_features = 2;
  p.features = (char **)features;
  p.pool = &pool;
  p.pgvector_version = "0.8.2";
  pbc_encode_check(&p.base, &want, "ServerInfoResponse");

  nd = nano_decode(pgml_v1_ServerInfoResponse_fields, sizeof(*nd), &want);
  assert_string_equal(nd->version, "0.1.0");
  assert_int_equal(nd->protocol_version, 1);
  assert_int_equal(nd->uptime_ms, UINT64_C(123456789012));
  assert_int_equal(nd->features_count, 2);
  assert_string_equal(nd->features[1], "pgvector-iterative-scan");
  assert_true(nd->has_pool);
  assert_int_equal(nd->pool.size, 8);
  assert_int_equal(nd->pool.idle, 6);
  assert_int_equal(nd->pool.busy, 2);
  assert_string_equal(nd->pgvector_version, "0.8.2");
  nano_free(pgml_v1_ServerInfoResponse_fields, nd);

  pd = (Pgml__V1__ServerInfoResponse *)pbc_decode(
    &pgml__v1__server_info_response__descriptor, &want);
  assert_string_equal(pd->version, "0.1.0");
  assert_int_equal(pd->uptime_ms, UINT64_C(123456789012));
  assert_int_equal(pd->n_features, 2);
  assert_string_equal(pd->features[0], "unix");
  assert_non_null(pd->pool);
  assert_int_equal(pd->pool->idle, 6);
  assert_string_equal(pd->pgvector_version, "0.8.2");
  protobuf_c_message_free_unpacked(&pd->base, NULL);
  free(want.data);
}

/* ------------------------------------------------------------ envelope */

/* A payload over nanopb's 16-bit bytes limit goes through the envelope
 * codec both ways, and protobuf-c reads what it wrote. */
static void test_envelope_large_payload(void **state)
{
  size_t len = 300000, size, written;
  pgml_v1_Frame f = pgml_v1_Frame_init_zero;
  uint8_t *payload = malloc(len), *buf;
  pgml__envelope_t env;
  Pgml__V1__Frame *pd;
  char err[256];
  size_t i;

  assert_non_null(payload);
  for (i = 0; i < len; i++)
    payload[i] = (uint8_t)(i * 7);
  f.id = 77;
  f.kind = pgml_v1_Frame_Kind_RESPONSE;
  assert_int_equal(pgml__envelope_size(&f, len, &size), 0);
  buf = malloc(size);
  assert_non_null(buf);
  assert_int_equal(pgml__envelope_encode(&f, payload, len, buf, size, &written), 0);
  assert_int_equal(written, size);
  assert_int_equal(pgml__envelope_encode(&f, payload, len, buf, size - 1, &written),
                   -EMSGSIZE);

  assert_int_equal(pgml__envelope_decode(buf, size, &env, err, sizeof(err)), 0);
  assert_int_equal(env.frame.id, 77);
  assert_int_equal(env.payload_len, len);
  assert_memory_equal(env.payload, payload, len);
  pgml__envelope_release(&env);

  pd = pgml__v1__frame__unpack(NULL, size, buf);
  assert_non_null(pd);
  assert_int_equal(pd->id, 77);
  assert_pbc_bytes(pd->payload, payload, len);
  protobuf_c_message_free_unpacked(&pd->base, NULL);
  free(buf);
  free(payload);
}

/* Malformed frames are refused with a reason, never read past their end. */
static void test_envelope_malformed(void **state)
{
  static const struct {
    const char *what;
    uint8_t bytes[16];
    size_t len;
  } cases[] = {
    {"truncated varint", {0x08, 0x80}, 2},
    {"payload longer than the frame", {0x22, 0x05, 'a', 'b'}, 4},
    {"payload given twice", {0x22, 0x01, 'a', 0x22, 0x01, 'b'}, 6},
    {"field number 0", {0x00, 0x01}, 2},
    {"truncated string", {0x1a, 0x09, 'p', 'g'}, 4},
    {"wrong wire type for id", {0x0a, 0x01, 'x'}, 3},
    {"reserved wire type", {0x0f}, 1},
  };
  size_t i;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    pgml__envelope_t env;
    char err[256] = "";
    int rc = pgml__envelope_decode(cases[i].bytes, cases[i].len, &env, err, sizeof(err));
    if (rc != -EBADMSG)
      fail_msg("%s: decode returned %d, want -EBADMSG", cases[i].what, rc);
    assert_true(strncmp(err, "malformed frame", 15) == 0);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ping_request),
    cmocka_unit_test(test_ping_response),
    cmocka_unit_test(test_frames),
    cmocka_unit_test(test_upsert_documents_request),
    cmocka_unit_test(test_search_response),
    cmocka_unit_test(test_server_info_response),
    cmocka_unit_test(test_envelope_large_payload),
    cmocka_unit_test(test_envelope_malformed),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
