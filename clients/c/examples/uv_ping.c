/* uv_ping.c - many Pings in flight at once on one connection, driven by a
 * libuv loop through pgml/uv.h.  Exits 0 when every Ping came back with the
 * data it carried, 1 otherwise.
 *
 *   pgml_example_uv_ping unix:///run/pgmld/pgmld.sock [COUNT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pgml/client.h>
#include <pgml/uv.h>
#include <pgml/v1/database.pb.h>

typedef struct {
  unsigned count;
  unsigned answered;
  unsigned failed;
  unsigned char *seen;      /* seen[i]: Ping number i came back */
} tally_t;

/* Each Ping carries its own number; the answer must carry back one that was
 * sent and not yet answered. */
static void on_pong(pgml_client_t *c, const pgml_result_t *res, void *msg, void *ud)
{
  const pgml_v1_PingResponse *pong = msg;
  tally_t *t = ud;
  unsigned n;

  if (res->code != PGML_OK) {
    fprintf(stderr, "Ping to %s: %s: %s\n", pgml_client_address(c),
            pgml_code_name(res->code), res->message);
    t->failed++;
    return;
  }
  if (pong->data == NULL || pong->data->size != sizeof(n)) {
    fprintf(stderr, "Ping: the answer does not carry a Ping number\n");
    t->failed++;
    return;
  }
  memcpy(&n, pong->data->bytes, sizeof(n));
  if (n >= t->count || t->seen[n]) {
    fprintf(stderr, "Ping: answer %u was not expected\n", n);
    t->failed++;
    return;
  }
  t->seen[n] = 1;
  t->answered++;
}

int main(int argc, char **argv)
{
  unsigned count = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 100;
  pgml_call_options_t opts = {.timeout_ms = 10000};
  tally_t tally = {0, 0, 0, NULL};
  pgml_client_t *c;
  uv_loop_t loop;
  unsigned i;
  int rc;

  if (argc < 2 || argc > 3 || count == 0) {
    fprintf(stderr, "usage: %s ADDRESS [COUNT]\n", argv[0]);
    return 1;
  }
  tally.count = count;
  tally.seen = calloc(count, 1);
  if (tally.seen == NULL || uv_loop_init(&loop) != 0)
    return 1;
  rc = pgml_client_new(argv[1], NULL, &c);
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", argv[1], strerror(-rc));
    return 1;
  }
  rc = pgml_uv_attach(c, &loop);
  for (i = 0; rc == 0 && i < count; i++) {
    struct {
      pb_size_t size;
      pb_byte_t bytes[sizeof(unsigned)];
    } data = {sizeof(unsigned), {0}};
    pgml_v1_PingRequest req = pgml_v1_PingRequest_init_zero;

    memcpy(data.bytes, &i, sizeof(i));
    req.data = (pb_bytes_array_t *)&data;
    rc = pgml_call(c, "Ping", pgml_v1_PingRequest_fields, &req,
                   pgml_v1_PingResponse_fields, &opts, on_pong, &tally, NULL);
  }
  if (rc < 0) {
    fprintf(stderr, "Ping: %s\n", strerror(-rc));
  } else {
    /* Returns once every call completed: the adapter keeps the loop alive
     * only while calls are pending. */
    uv_run(&loop, UV_RUN_DEFAULT);
    printf("%u of %u Pings answered\n", tally.answered, count);
  }
  pgml_client_free(c);
  /* Let the adapter's handles run their close callbacks. */
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    fprintf(stderr, "uv_loop_close: handles left open\n");
  free(tally.seen);
  return rc == 0 && tally.answered == count && tally.failed == 0 ? 0 : 1;
}
