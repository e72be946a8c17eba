/* svctest.h - support for the Database service tests: a real pgmld on a temporary socket, libpgml clients, and a direct libpq connection for checks. */
#ifndef PGML_SVCTEST_H
#define PGML_SVCTEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libpq-fe.h>
#include <pb_decode.h>
#include <pgml/blocking.h>
#include <pgml/client.h>
#include <pgml/database.h>

typedef struct svc_daemon_s {
  pid_t pid;
  char dir[256];
  char sock[300];
  char addr[320];
  char log[300];
} svc_daemon_t;

/* Starts pgmld on a socket in a new temporary directory, with the
 * database URL `url` (NULL: PGMLD_TEST_DATABASE_URL) and extra flags
 * (NULL-terminated, may be NULL), and waits until it answers Ping. */
void svc_daemon_start(svc_daemon_t *d, const char *url, const char *const *extra);
/* SIGTERM, wait, remove the directory (the log is shown first). */
void svc_daemon_stop(svc_daemon_t *d);

/* A client for the daemon (fails the test when it cannot be made). */
pgml_client_t *svc_client(const svc_daemon_t *d);

/* Call options with a generous timeout. */
extern const pgml_call_options_t svc_opts;

/* The code a typed blocking call returned (0 OK, > 0 a pgml_code_t); prints
 * the message of a failure and frees the result. */
int svc_code(int rc, pgml_sync_result_t *res, const char *what);
/* As svc_code(), and the message is copied into msg. */
int svc_code_msg(int rc, pgml_sync_result_t *res, char *msg, size_t len);

/* CreateOrGetCollection `name`: as svc_code_msg() (msg may be NULL: the
 * failure is printed only). */
int svc_create(pgml_client_t *c, const char *name, char *msg, size_t len);

/* Direct SQL on the test database (PGMLD_TEST_PGHOST), or on another
 * database of the same server. */
PGconn *svc_pg(void);
PGconn *svc_pg_db(const char *dbname);
/* Makes `dbname` anew (dropped first if it exists) on the test server, for a
 * test that must not see other tests' catalog changes, and writes its URL. */
void svc_own_database(const char *dbname, char *url, size_t len);
/* The one value of a one-row, one-column query (formatted), as int64. */
int64_t svc_pg_int(PGconn *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The id of pipeline `pipeline` of active collection `collection`, or 0. */
int64_t svc_pipeline_id(PGconn *pg, const char *collection, const char *pipeline);

/* A unique collection name with the given prefix ("t_<prefix>_<pid>_<n>"). */
void svc_name(char *out, size_t len, const char *prefix);

#endif
