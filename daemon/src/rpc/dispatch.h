/* dispatch.h - the method table, derived at start-up from the protobuf-c
 * service descriptor (pgml__v1__database__descriptor), and the checks that
 * turn a REQUEST frame into a method and a decoded request.
 *
 * Nothing here is written per method: every RPC the .proto declares is in
 * the table; one without a registered handler answers UNIMPLEMENTED.
 * Methods are named on the wire "<service>/<Method>", e.g.
 * "pgml.v1.Database/Ping".
 *
 * Errors: negative errno; what the client sees goes into a pgmld_status_t.
 */
#ifndef PGMLD_DISPATCH_H
#define PGMLD_DISPATCH_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "core/common.h"
#include "pgml/v1/frame.pb-c.h"
#include "rpc/call.h"
#include "rpc/status.h"

typedef struct pgmld_method_s {
  const ProtobufCMethodDescriptor *desc;
  char *full_name;          /* "pgml.v1.Database/Ping", owned */
  size_t full_len;
  pgmld_handler_fn fn;      /* NULL: not implemented by this server */
} pgmld_method_t;

typedef struct pgmld_dispatch_s {
  const ProtobufCServiceDescriptor *service;
  pgmld_method_t *methods;  /* owned; in the descriptor's order */
  size_t n_methods;
  /* Full names -> methods: open addressing, linear probing, a power of
   * two at least twice n_methods; NULL slots are empty.  Owned. */
  pgmld_method_t **by_name;
  size_t by_name_mask;
} pgmld_dispatch_t;

/* Builds the table for `service` with no handlers.  Returns 0 and *out
 * (free with pgmld_dispatch_free()) or -ENOMEM. */
PGMLD_MUST_CHECK int pgmld_dispatch_new(const ProtobufCServiceDescriptor *service,
                                        pgmld_dispatch_t **out);
void pgmld_dispatch_free(pgmld_dispatch_t *d);

/* Registers fn for `method`, given as "Ping" or "pgml.v1.Database/Ping".
 * Returns 0; -ENOENT when the service has no such method; -EEXIST when it
 * already has a handler.  Either error is a programming error that the
 * caller reports and that stops start-up. */
PGMLD_MUST_CHECK int pgmld_dispatch_set_handler(pgmld_dispatch_t *d,
                                                const char *method,
                                                pgmld_handler_fn fn);

/* The method named `name` on the wire, or NULL. */
const pgmld_method_t *pgmld_dispatch_find(const pgmld_dispatch_t *d, const char *name);

/* The method whose wire name is the len bytes at name (no NUL needed), or
 * NULL: pgmld_dispatch_find() for a name read in place. */
const pgmld_method_t *pgmld_dispatch_find_n(const pgmld_dispatch_t *d, const char *name,
                                            size_t len);

/* Decodes the payload of a request for m (which has a handler) as m's
 * input.  Returns 0 and *request (owned by the caller:
 * pgmld_dispatch_free_request()), or -EBADMSG / -ENOMEM with st set as
 * pgmld_dispatch_prepare() says. */
PGMLD_MUST_CHECK int pgmld_dispatch_decode(const pgmld_method_t *m, const uint8_t *payload,
                                           size_t len, ProtobufCMessage **request,
                                           pgmld_status_t *st);

/* pgmld_dispatch_decode() into memory from alloc (a call's arena,
 * rpc/arena.h): *request is then released with that allocator's owner
 * (pgmld_arena_reset()), never with pgmld_dispatch_free_request().  Out of
 * memory is detected through core/alloc.h's failure count, so alloc must
 * take what it cannot serve itself from there. */
PGMLD_MUST_CHECK int pgmld_dispatch_decode_with(const pgmld_method_t *m,
                                                const uint8_t *payload, size_t len,
                                                ProtobufCAllocator *alloc,
                                                ProtobufCMessage **request,
                                                pgmld_status_t *st);

/* Turns a valid REQUEST (pgmld_envelope_validate() passed) into its method
 * and decoded request.  On success returns 0, *m is the method, and
 * *request (owned by the caller: pgmld_dispatch_free_request()) the payload
 * decoded as the method's input.  On failure returns a negative errno and
 * st holds what the client is told:
 *   unknown method             -ENOENT   UNIMPLEMENTED "unknown method X"
 *   no handler                 -ENOSYS   UNIMPLEMENTED "X is not implemented
 *                                        by this server"
 *   payload not the input type -EBADMSG  INVALID_ARGUMENT naming the method,
 *                                        the message type and the reason
 *   out of memory              -ENOMEM   RESOURCE_EXHAUSTED */
PGMLD_MUST_CHECK int pgmld_dispatch_prepare(const pgmld_dispatch_t *d,
                                            const Pgml__V1__Frame *f,
                                            const pgmld_method_t **m,
                                            ProtobufCMessage **request,
                                            pgmld_status_t *st);
void pgmld_dispatch_free_request(ProtobufCMessage *request);

#endif
