/* probe.c - calls the RPCs test_new_rpc.py adds to the .proto, through the
 * typed C functions pgml-gen wrote for them.  Built only in that test's
 * scratch build (-DPGML_GEN_PROBE=this file): it does not compile against
 * the real .proto, which has no Echo.
 *
 *   probe SOCKET ping    exit 0 when the daemon answers a Ping
 *   probe SOCKET echo    calls Echo and EchoInCollection with the blocking
 *                        functions, then Echo with the asynchronous one
 *                        (driving the client with poll()); prints one line
 *                        per call, "<rpc> <CODE_NAME> <message>" (the last
 *                        one as EchoAsync), and exits 0 when each completed
 *                        (whatever the code)
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "pgml/blocking.h"
#include "pgml/client.h"
#include "pgml/database.h"

/* Prints how one blocking call ended; returns 0 when it completed. */
static int report(const char *rpc, int rc, pgml_sync_result_t *out) {
  if (rc < 0) {
    fprintf(stderr, "%s: the call could not be made: %s\n", rpc, strerror(-rc));
    return 1;
  }
  printf("%s %s %s\n", rpc, pgml_code_name(out->code), out->message);
  pgml_sync_result_free(out);
  return 0;
}

typedef struct async_s {
  int done;
  pgml_code_t code;
  char message[512];
} async_t;

/* The typed callback: the response arrives as a pgml_v1_EchoResponse. */
static void on_echo(pgml_client_t *c, const pgml_result_t *res, pgml_v1_EchoResponse *resp,
                    void *ud) {
  async_t *a = ud;
  (void)c;
  (void)resp;
  a->done = 1;
  a->code = res->code;
  snprintf(a->message, sizeof(a->message), "%s", res->message);
}

/* Calls Echo with pgml_database_echo() and steps the client until its
 * callback has run. */
static int echo_async(pgml_client_t *c) {
  pgml_v1_EchoRequest req = pgml_v1_EchoRequest_init_zero;
  pgml_call_options_t opts = {.timeout_ms = 10000, .metadata = NULL};
  async_t a = {0, PGML_OK, ""};
  uint64_t id = 0;
  int rc;

  req.text = (char *)"hello";
  rc = pgml_database_echo(c, &req, &opts, on_echo, &a, &id);
  if (rc < 0) {
    fprintf(stderr, "EchoAsync: the call could not be made: %s\n", strerror(-rc));
    return 1;
  }
  while (!a.done) {
    struct pollfd p = {.fd = pgml_client_fd(c), .events = 0, .revents = 0};
    unsigned want = pgml_client_events(c), got = 0;
    int timeout = pgml_client_next_timeout_ms(c);
    if (p.fd < 0 && timeout < 0)
      timeout = 100; /* nothing to watch yet: look again soon */
    p.events = (short)(((want & PGML_EV_READ) ? POLLIN : 0) |
                       ((want & PGML_EV_WRITE) ? POLLOUT : 0));
    if (poll(&p, p.fd >= 0 ? 1 : 0, timeout) < 0 && errno != EINTR) {
      fprintf(stderr, "EchoAsync: poll: %s\n", strerror(errno));
      return 1;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR))
      got |= PGML_EV_READ;
    if (p.revents & (POLLOUT | POLLERR))
      got |= PGML_EV_WRITE;
    if ((rc = pgml_client_step(c, got)) < 0) {
      fprintf(stderr, "EchoAsync: pgml_client_step: %s\n", strerror(-rc));
      return 1;
    }
  }
  printf("EchoAsync %s %s\n", pgml_code_name(a.code), a.message);
  return 0;
}

static int echo(pgml_client_t *c) {
  pgml_v1_EchoRequest req = pgml_v1_EchoRequest_init_zero;
  pgml_v1_EchoInCollectionRequest breq = pgml_v1_EchoInCollectionRequest_init_zero;
  pgml_v1_EchoResponse resp = pgml_v1_EchoResponse_init_zero;
  pgml_call_options_t opts = {.timeout_ms = 10000, .metadata = NULL};
  pgml_sync_result_t out;
  int rc, failed = 0;

  req.text = (char *)"hello";
  req.repeat_count = 3;
  req.big_count = UINT64_C(1) << 60;
  rc = pgml_database_echo_sync(c, &req, &resp, &opts, &out);
  if (rc == 0)
    pb_release(pgml_v1_EchoResponse_fields, &resp);
  failed |= report("Echo", rc, &out);

  breq.collection = (char *)"docs";
  breq.text = (char *)"hello";
  rc = pgml_database_echo_in_collection_sync(c, &breq, &resp, &opts, &out);
  if (rc == 0)
    pb_release(pgml_v1_EchoResponse_fields, &resp);
  failed |= report("EchoInCollection", rc, &out);
  failed |= echo_async(c);
  return failed;
}

static int ping(pgml_client_t *c) {
  pgml_v1_PingResponse resp = pgml_v1_PingResponse_init_zero;
  pgml_call_options_t opts = {.timeout_ms = 2000, .metadata = NULL};
  pgml_sync_result_t out;
  int rc = pgml_database_ping_sync(c, NULL, &resp, &opts, &out);

  if (rc == 0)
    pb_release(pgml_v1_PingResponse_fields, &resp);
  if (rc >= 0)
    pgml_sync_result_free(&out);
  return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  pgml_client_t *c;
  int rc;

  if (argc != 3 || (strcmp(argv[2], "ping") != 0 && strcmp(argv[2], "echo") != 0)) {
    fprintf(stderr, "usage: probe SOCKET ping|echo\n");
    return 2;
  }
  rc = pgml_client_new(argv[1], NULL, &c);
  if (rc < 0) {
    fprintf(stderr, "probe: %s: %s\n", argv[1], strerror(-rc));
    return 1;
  }
  rc = strcmp(argv[2], "ping") == 0 ? ping(c) : echo(c);
  pgml_client_free(c);
  return rc;
}
