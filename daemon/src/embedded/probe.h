/* probe.h - asks a starting PostgreSQL whether it accepts connections, and
 * creates the database pgmld uses once it does.
 *
 * Blocking libpq over the Unix socket (a local connect answers at once or
 * fails at once; connect_timeout bounds the rest): call on the thread pool.
 * Thread-safe (libpq is); logs nothing.
 */
#ifndef PGMLD_EMBEDDED_PROBE_H
#define PGMLD_EMBEDDED_PROBE_H

#include <stddef.h>

#include "core/common.h"

/* The database and role pgmld uses; initdb -U makes the role. */
#define PGMLD__PROBE_DBNAME "pgmld"
#define PGMLD__PROBE_USER "pgmld"
/* Seconds libpq may wait for one connection attempt. */
#define PGMLD__PROBE_CONNECT_TIMEOUT "10"

/* Connects to database "postgres" through the socket in `run_dir` and, once
 * in, creates database "pgmld" when it is missing.  Returns 0 when the
 * server accepts connections and the database exists; -EAGAIN when the
 * server does not accept connections yet (starting up, or no socket yet);
 * another negative errno when connected but the database could not be
 * checked or created.  On failure err[errsz] holds libpq's message. */
PGMLD_MUST_CHECK int pgmld__probe(const char *run_dir, int port, char *err, size_t errsz);

/* Builds the conninfo for database "pgmld" on the socket in `run_dir`:
 * "host='<run_dir>' port=N dbname=pgmld user=pgmld", with the host quoted
 * as libpq requires.  The port is explicit so that a PGPORT in pgmld's
 * environment cannot point libpq at another socket name.  Returns a new
 * string (pgmld_free) or NULL when out of memory. */
PGMLD_MUST_CHECK char *pgmld__probe_conninfo(const char *run_dir, int port);

#endif
