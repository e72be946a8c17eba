/* pgmlctl.h - what pgmlctl's files share: the run context, the command
 * table's shape and the exit codes.
 *
 * Errors.  Functions here return an exit code (PGMLCTL_EXIT_*, or
 * pgmlctl_exit_for_code() of a call's status), having already printed what
 * went wrong on stderr; 0 means success.
 */
#ifndef PGMLCTL_H
#define PGMLCTL_H

#include <stdbool.h>
#include <stdint.h>

#include <pgml/blocking.h>
#include <pgml/client.h>

#include "args.h"

/* Exit codes (docs/pgmlctl.md).  A call that completed with a pgml_code_t
 * other than OK exits with PGMLCTL_EXIT_STATUS_BASE + code, so 11 CANCELLED
 * ... 24 UNAVAILABLE ... 26 UNAUTHENTICATED. */
#define PGMLCTL_EXIT_OK 0
#define PGMLCTL_EXIT_LOCAL 1        /* local failure: input file, memory, I/O */
#define PGMLCTL_EXIT_USAGE 2        /* bad command line */
#define PGMLCTL_EXIT_STATUS_BASE 10

#define PGMLCTL_DEFAULT_ADDRESS "unix:///run/pgmld/pgmld.sock"
#define PGMLCTL_DEFAULT_TIMEOUT_MS 30000u

/* One run of pgmlctl: the global options and the client, created on first
 * use by pgmlctl_client(). */
typedef struct pgmlctl_ctx_s {
  const char *address;     /* borrowed from argv or the environment */
  uint32_t timeout_ms;     /* per call; 0 means none */
  bool json;               /* --json: machine-readable output on stdout */
  bool quiet;              /* --quiet: no progress, no chatter on stderr */
  bool stdout_tty;
  bool stderr_tty;
  pgml_client_t *client;   /* owned; NULL until pgmlctl_client() */
} pgmlctl_ctx_t;

typedef int (*pgmlctl_run_fn)(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);

/* One command or sub-command ("collections list").  `group` is NULL for a
 * top-level command. */
typedef struct pgmlctl_command_s {
  const char *group;
  const char *name;
  const char *synopsis;              /* the operands, e.g. "COLLECTION NAME" */
  const char *summary;               /* one line */
  const char *description;           /* paragraphs for --help, or NULL */
  const pgmlctl_opt_t *opts;         /* terminated by an entry with name NULL */
  unsigned min_operands, max_operands;
  pgmlctl_run_fn run;
} pgmlctl_command_t;

/* The commands, in the order --help lists them (commands.c). */
extern const pgmlctl_command_t pgmlctl_commands[];
extern const unsigned pgmlctl_n_commands;

/* The client for ctx->address, created on first use.  NULL after printing
 * why it could not be created (ctx keeps nothing then). */
pgml_client_t *pgmlctl_client(pgmlctl_ctx_t *ctx);

/* The call options every RPC uses (the --timeout). */
pgml_call_options_t pgmlctl_call_opts(const pgmlctl_ctx_t *ctx);

/* Reports a typed call's result on stderr, naming `rpc` and the address,
 * and returns the exit code: 0 for rc 0, PGMLCTL_EXIT_STATUS_BASE + code for
 * a status, PGMLCTL_EXIT_LOCAL for a negative errno.  Frees `res` when rc is
 * not negative (the typed calls' contract). */
int pgmlctl_check(const pgmlctl_ctx_t *ctx, const char *rpc, int rc,
                  pgml_sync_result_t *res);

/* Makes the blocking call `method` (a PGML_DATABASE_* name from
 * pgml/database.h) with `req`, a struct of req_type, on ctx's client, and
 * reports its result as pgmlctl_check() does, naming the RPC.  Returns 0 with
 * `resp` (a struct of resp_type) filled in and owned by the caller, who
 * releases it with pb_release(resp_type, resp); otherwise the exit code, with
 * nothing in `resp` to release. */
int pgmlctl_call(pgmlctl_ctx_t *ctx, const char *method, const pb_msgdesc_t *req_type,
                 const void *req, const pb_msgdesc_t *resp_type, void *resp);

/* The exit code for a call that completed with `code`. */
int pgmlctl_exit_for_code(pgml_code_t code);

/* The commands' entry points (cmd_*.c). */
int pgmlctl_cmd_ping(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_info(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_collections_list(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_collections_create(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_collections_exists(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_collections_archive(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_collections_drop(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_pipelines_add(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_pipelines_list(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_pipelines_status(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_pipelines_enable(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_pipelines_disable(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_pipelines_remove(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_upsert(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);
int pgmlctl_cmd_search(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a);

#endif
