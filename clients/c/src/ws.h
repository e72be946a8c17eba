/* ws.h - the WebSocket transport (ws.c): ws:// and wss:// behind
 * transport.h's interface. */
#ifndef PGML_WS_H
#define PGML_WS_H

#include "pgml/client.h"
#include "transport.h"

/* Creates the WebSocket transport for `rest`, the address after "ws://" or
 * "wss://" ("host[:port][/path]", host may be "[v6]"; port 80 or 443 and
 * path "/" by default), with TLS when `tls`.  From `opts` it takes
 * max_frame_size (the largest message accepted), token (sent as
 * "Authorization: Bearer" at the upgrade) and ca_file (wss:// only),
 * copying the strings.  Nothing is connected yet.  Returns 0 and *out
 * (owned by the caller, freed with ops->destroy), -EINVAL (bad host, port
 * or path, a token that is empty, longer than 4096 bytes or not printable
 * ASCII without spaces, an empty ca_file) or -ENOMEM. */
PGML_MUST_CHECK int pgml__ws_create(const char *rest, int tls,
                                    const pgml_client_options_t *opts,
                                    pgml__transport_t **out);

#endif
