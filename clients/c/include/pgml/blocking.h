/* blocking.h - libpgml's blocking calls, for simple programs: start a call
 * and drive the client with poll() until it completes.
 *
 * Not reentrant with the asynchronous use of the same client: these must not
 * be called from a callback or on_watch of the client (-EBUSY).  Calls
 * already pending on the client keep running while a blocking call waits, and
 * their callbacks run inside it; an event-loop adapter attached to the client
 * is told about changes as usual but is not needed.
 */
#ifndef PGML_BLOCKING_H
#define PGML_BLOCKING_H

#include <stddef.h>
#include <stdint.h>

#include <pb.h>
#include <pb_decode.h>   /* pb_release(), for the responses filled in */

#include "pgml/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a blocking call returns beside its code.  Owned by the caller after a
 * blocking call filled it in; release with pgml_sync_result_free(). */
typedef struct pgml_sync_result_s {
  pgml_code_t code;
  char *message;        /* never NULL after a call: "" when code is PGML_OK */
  char *details;        /* the server's JSON details, or NULL */
  uint8_t *payload;     /* pgml_call_raw_sync() with code OK: the response */
  size_t payload_len;
} pgml_sync_result_t;

/* Frees what a blocking call put in `r` and zeroes it.  NULL is a no-op. */
void pgml_sync_result_free(pgml_sync_result_t *r);

/* Makes a call and waits for it (arguments as for pgml_call_raw()).  `out`
 * is overwritten (not freed first) and owned by the caller afterwards, when
 * the result is not negative.
 * Returns 0 when the call completed with PGML_OK, the pgml_code_t (> 0) it
 * completed with otherwise (out->message says why), or a negative errno when
 * it could not be made or waited for: those of pgml_call_raw(), -EBUSY
 * (called from a callback), or poll()'s error; out is then zeroed. */
PGML_MUST_CHECK int pgml_call_raw_sync(pgml_client_t *c, const char *method,
                                       const void *payload, size_t len,
                                       const pgml_call_options_t *opts,
                                       pgml_sync_result_t *out);

/* Like pgml_call_raw_sync() with `req` (a struct of req_type) encoded and,
 * when the result is 0, the response decoded into `resp`, a struct of
 * resp_type owned by the caller, which releases it with pb_release(resp_type,
 * resp).  `resp` is written only when the call completed with PGML_OK; if
 * the response then cannot be decoded, the result is PGML_INTERNAL and resp
 * holds nothing to release.  out->payload stays NULL. */
PGML_MUST_CHECK int pgml_call_sync(pgml_client_t *c, const char *method,
                                   const pb_msgdesc_t *req_type, const void *req,
                                   const pb_msgdesc_t *resp_type, void *resp,
                                   const pgml_call_options_t *opts,
                                   pgml_sync_result_t *out);

#ifdef __cplusplus
}
#endif

#endif
