/* registry.h - the handler tables of every service, installed into the
 * method table at start-up.
 *
 * Each service file exports one NULL-terminated table of
 * { "Method", handler } (the short name, or "pgml.v1.Database/Method"),
 * and registry.c lists the tables.  Adding a service is two lines in
 * registry.c (the extern and the list entry) and its source in
 * services/CMakeLists.txt.  A method named in a table that the service
 * descriptor lacks, or named twice, stops start-up: it is a programming
 * error, not a runtime condition.
 */
#ifndef PGMLD_REGISTRY_H
#define PGMLD_REGISTRY_H

#include "core/common.h"
#include "rpc/call.h"
#include "rpc/dispatch.h"

typedef struct {
  const char *method;   /* "Ping" or "pgml.v1.Database/Ping"; NULL ends a table */
  pgmld_handler_fn fn;
} pgmld_handler_entry_t;

/* services/system.c: Ping, ServerInfo. */
extern const pgmld_handler_entry_t pgmld_system_handlers[];

/* Registers every table's handlers with d.  Returns 0, or -ENOENT /
 * -EEXIST after logging the table and method at fault. */
PGMLD_MUST_CHECK int pgmld_registry_install(pgmld_dispatch_t *d);

/* Registers one table (for tests that serve a chosen set of handlers).
 * `name` is for the log line on failure.  Returns as above. */
PGMLD_MUST_CHECK int pgmld_registry_install_table(pgmld_dispatch_t *d, const char *name,
                                                  const pgmld_handler_entry_t *table);

#endif
