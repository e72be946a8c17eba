/* metrics.h - process-wide counters for GET /metrics, fed by rpc/call.c
 * (requests) and net/conn.c (connections, bytes), rendered in the
 * Prometheus text format.
 *
 * Like Redis's stat_* fields, the counters are plain globals: pgmld has one
 * loop thread, and every function here runs on it.
 */
#ifndef PGMLD_METRICS_H
#define PGMLD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"
#include "rpc/status.h"

/* Methods with their own series; a method index at or above this is
 * counted under the last one. */
#define PGMLD_METRICS_MAX_METHODS 64u
/* Transports with their own series ("unix", "ws"). */
#define PGMLD_METRICS_MAX_TRANSPORTS 4u

/* The pool as the renderer reports it (db/pool.h: pgmld_pool_stats()). */
typedef struct pgmld_metrics_pool_s {
  unsigned size, idle, busy, connecting, broken, waiting;
  uint64_t wait_us;
} pgmld_metrics_pool_t;

/* A request was read and a call started (pgmld_inflight_requests + 1). */
void pgmld_metrics_request_started(void);

/* A request was answered.  `method` (borrowed; it must outlive the process's
 * use of metrics: the dispatch table's names do) labels index `index`.
 * `duration_ns` counts from when its frame was read. */
void pgmld_metrics_request_done(size_t index, const char *method, pgmld_code_t code,
                                uint64_t duration_ns);

/* Connection bookkeeping by transport name (a static string). */
void pgmld_metrics_conn_opened(const char *transport);
void pgmld_metrics_conn_closed(const char *transport);
void pgmld_metrics_bytes(const char *transport, uint64_t received, uint64_t sent);

/* Renders every series as Prometheus text (version 0.0.4) into a buffer
 * allocated with pgmld_malloc(), `headroom` bytes after its start (for a
 * transport's header; those bytes are left uninitialised).  pool may be
 * NULL (no pool series).  Returns 0 with *out (owned by the caller) and
 * *len (the text's length, excluding headroom), or -ENOMEM. */
PGMLD_MUST_CHECK int pgmld_metrics_render(const pgmld_metrics_pool_t *pool, size_t headroom,
                                          uint8_t **out, size_t *len);

/* Zeroes everything, for tests. */
void pgmld__metrics_reset(void);

#endif
