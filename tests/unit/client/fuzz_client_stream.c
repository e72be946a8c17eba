/* fuzz_client_stream.c - libFuzzer target for everything libpgml decodes
 * from the server: the input is the byte stream a client reads (frame
 * lengths, Frame envelopes, typed responses), with raw and typed calls in
 * flight and one of them cancelled.  Every call must complete exactly once
 * and nothing may leak, whatever the bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pgml/client.h"
#include "pgml/v1/database.pb.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CALLS 5
/* Steps after which a client that has not completed every call is a bug
 * (each step reads what is there; the server's end is closed by then). */
#define MAX_STEPS 10000

static char dir[64];
static char path[128];
static int lfd = -1;

static void cleanup(void)
{
  if (lfd >= 0)
    close(lfd);
  unlink(path);
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  struct sockaddr_un addr;

  (void)argc;
  (void)argv;
  snprintf(dir, sizeof(dir), "/tmp/pgml-fuzz-XXXXXX");
  if (mkdtemp(dir) == NULL)
    abort();
  snprintf(path, sizeof(path), "%s/s", dir);
  lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
      listen(lfd, 16) != 0)
    abort();
  atexit(cleanup);
  return 0;
}

/* Reads everything a callback is given, so that ASan sees a bad pointer. */
static size_t touch(const pgml_result_t *res)
{
  size_t n = strlen(res->message);
  size_t i;

  if (res->details != NULL)
    n += strlen(res->details);
  for (i = 0; i < res->payload_len; i++)
    n += res->payload[i];
  return n;
}

static void on_raw(pgml_client_t *c, const pgml_result_t *res, void *ud)
{
  int *runs = ud;

  (void)c;
  (void)touch(res);
  if (res->code == PGML_OK && res->payload_len > 0 && res->payload == NULL)
    abort();
  (*runs)++;
}

static void on_msg(pgml_client_t *c, const pgml_result_t *res, void *msg, void *ud)
{
  int *runs = ud;

  (void)c;
  (void)touch(res);
  if ((res->code == PGML_OK) != (msg != NULL))
    abort();
  (*runs)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  pgml_client_options_t o = {.max_frame_size = 64 * 1024};
  pgml_v1_PingRequest ping = pgml_v1_PingRequest_init_zero;
  pgml_v1_ServerInfoRequest info = pgml_v1_ServerInfoRequest_init_zero;
  pgml_v1_VectorSearchRequest search = pgml_v1_VectorSearchRequest_init_zero;
  pgml_client_t *c;
  int runs[CALLS] = {0};
  uint64_t ids[CALLS] = {0};
  size_t off = 0;
  int sfd, i, steps;

  if (pgml_client_new(path, &o, &c) != 0)
    abort();
  search.collection = "c";
  search.query = "q";
  /* Ids 1..5, so that inputs can answer them. */
  if (pgml_call_raw(c, "Ping", "\x0a\x01x", 3, NULL, on_raw, &runs[0], &ids[0]) != 0 ||
      pgml_call(c, "Ping", pgml_v1_PingRequest_fields, &ping, pgml_v1_PingResponse_fields,
                NULL, on_msg, &runs[1], &ids[1]) != 0 ||
      pgml_call(c, "ServerInfo", pgml_v1_ServerInfoRequest_fields, &info,
                pgml_v1_ServerInfoResponse_fields, NULL, on_msg, &runs[2], &ids[2]) != 0 ||
      pgml_call(c, "VectorSearch", pgml_v1_VectorSearchRequest_fields, &search,
                pgml_v1_SearchResponse_fields, NULL, on_msg, &runs[3], &ids[3]) != 0 ||
      pgml_call(c, "Ping", pgml_v1_PingRequest_fields, &ping, pgml_v1_PingResponse_fields,
                NULL, on_msg, &runs[4], &ids[4]) != 0)
    abort();
  /* The client connected while starting the first call: the connection is
   * in the listen queue. */
  sfd = accept(lfd, NULL, NULL);
  if (sfd < 0)
    abort();
  for (steps = 0; pgml_client_pending(c) > 0; steps++) {
    if (steps > MAX_STEPS)
      abort();
    if (sfd >= 0 && off < size) {
      ssize_t n = send(sfd, data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0)
        off += (size_t)n;
    }
    if (sfd >= 0 && off == size) {
      /* Everything sent: the server goes away, so the calls not answered
       * complete with UNAVAILABLE. */
      close(sfd);
      sfd = -1;
    }
    if (steps == 1)
      (void)pgml_cancel(c, ids[4]);
    if (pgml_client_step(c, PGML_EV_READ | PGML_EV_WRITE) != 0)
      abort();
  }
  for (i = 0; i < CALLS; i++)
    if (runs[i] != 1)
      abort();
  pgml_client_free(c);
  if (sfd >= 0)
    close(sfd);
  return 0;
}
