/* uv.h - runs a libpgml client on a libuv loop, with a uv_poll_t for its
 * descriptor and a uv_timer_t for its deadlines.
 *
 * pgml_uv_attach() installs the adapter as the client's on_watch hook; from
 * then on the loop calls pgml_client_step() whenever the descriptor is ready
 * or a timeout passes, so callbacks run from the loop.  The adapter's
 * handles are closed by pgml_uv_detach(), or by pgml_client_free() (which
 * detaches), and their memory is freed in their close callbacks: run the
 * loop once more after either so they are reclaimed (uv_loop_close() returns
 * UV_EBUSY until then).  The adapter keeps the loop alive only while the
 * client has calls pending.
 */
#ifndef PGML_UV_H
#define PGML_UV_H

#include <uv.h>

#include "pgml/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Attaches client `c` to `loop` (both borrowed: the loop must outlive the
 * attachment).  Replaces the client's on_watch hook.  Returns 0, -EBUSY if
 * already attached, -ENOMEM, or a libuv error (nothing attached). */
PGML_MUST_CHECK int pgml_uv_attach(pgml_client_t *c, uv_loop_t *loop);

/* Stops watching and closes the adapter's handles (freed in their close
 * callbacks); the client keeps its calls and can be driven otherwise or
 * attached again.  Returns 0, or -ENOENT if not attached.  Must not be
 * called from one of the client's callbacks. */
PGML_MUST_CHECK int pgml_uv_detach(pgml_client_t *c);

#ifdef __cplusplus
}
#endif

#endif
