/* fuzz_ws_frame.c - libFuzzer target for what libpgml decodes from a
 * WebSocket server: the answer to the upgrade (pgml__ws_check_response) and
 * the frame stream (pgml_ws_reader_t), fed in chunks of varying size.
 *
 * Input: byte 0 picks the part (even: frames, odd: the handshake answer);
 * for frames, bytes 1-2 are max_frame_size (1..65536) and byte 3 the chunk
 * size (1..256); the rest is the server's bytes.  Every message handed out
 * must fit max_frame_size, a control frame 125 bytes, and nothing may leak
 * or read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wsframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_frames(const uint8_t *data, size_t size)
{
  pgml_ws_reader_t r;
  uint32_t max;
  size_t chunk, off = 0;
  int rc = 0;

  if (size < 4)
    return;
  max = ((uint32_t)data[1] << 8 | data[2]) + 1u;
  chunk = (size_t)data[3] + 1u;
  data += 4;
  size -= 4;
  pgml__ws_reader_init(&r, max);
  while (off < size && rc >= 0) {
    uint8_t *space;
    size_t room, n = size - off < chunk ? size - off : chunk;
    pgml_ws_msg_t m;

    if (pgml__ws_reader_space(&r, n, &space, &room) < 0 || room < n)
      abort();
    memcpy(space, data + off, n);
    pgml__ws_reader_commit(&r, n);
    off += n;
    while ((rc = pgml__ws_reader_next(&r, &m)) == 1) {
      volatile uint8_t sink = 0;
      size_t i;

      if (m.op == PGML_WS_BINARY && m.len > max)
        abort();
      if (m.op != PGML_WS_BINARY && m.len > PGML_WS_MAX_CONTROL)
        abort();
      if (m.op != PGML_WS_BINARY && m.op != PGML_WS_PING && m.op != PGML_WS_PONG &&
          m.op != PGML_WS_CLOSE)
        abort();
      for (i = 0; i < m.len; i++)      /* every byte handed out is readable */
        sink ^= m.data[i];
      (void)sink;
    }
    if (rc < 0 && r.err[0] == '\0')
      abort();                          /* every failure says why */
  }
  pgml__ws_reader_free(&r);
}

static void fuzz_response(const uint8_t *data, size_t size)
{
  char err[160];
  int status;

  /* The key of RFC 6455 section 1.3, so that a valid answer is reachable. */
  if (pgml__ws_check_response((const char *)data, size, "dGhlIHNhbXBsZSBub25jZQ==", &status,
                              err, sizeof(err)) < 0 && err[0] == '\0')
    abort();
  if (status < 0 || status > 999)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  if (data[0] & 1)
    fuzz_response(data + 1, size - 1);
  else
    fuzz_frames(data, size);
  return 0;
}
