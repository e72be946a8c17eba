/* main.c - pgmlctl's entry point: global options, finding the command,
 * the client it uses, and how a call's outcome becomes the exit code. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pgml/blocking.h>

#include "help.h"
#include "pgmlctl.h"

int pgmlctl_exit_for_code(pgml_code_t code)
{
  return code == PGML_OK ? PGMLCTL_EXIT_OK : PGMLCTL_EXIT_STATUS_BASE + (int)code;
}

pgml_client_t *pgmlctl_client(pgmlctl_ctx_t *ctx)
{
  pgml_client_options_t o = {0};
  int rc;

  if (ctx->client != NULL)
    return ctx->client;
  /* The connect timeout is the call's when shorter, so that --timeout bounds
   * the whole command even when the socket does not answer. */
  if (ctx->timeout_ms != 0 && ctx->timeout_ms < PGML_DEFAULT_CONNECT_TIMEOUT_MS)
    o.connect_timeout_ms = ctx->timeout_ms;
  /* From the environment only: a token on the command line would show in
   * ps.  libpgml sends it with a ws:// or wss:// upgrade, and ignores it on
   * a Unix socket. */
  o.token = getenv("PGML_TOKEN");
  if (o.token != NULL && o.token[0] == '\0')
    o.token = NULL;
  rc = pgml_client_new(ctx->address, &o, &ctx->client);
  if (rc < 0) {
    fprintf(stderr, "pgmlctl: %s: cannot use this address: %s\n", ctx->address,
            rc == -EPROTONOSUPPORT
                ? "unsupported scheme (use unix:///path, a path, ws:// or wss://)"
            : rc == -EINVAL && o.token != NULL
                ? "bad address, or $PGML_TOKEN is not printable ASCII without spaces"
                : strerror(-rc));
    ctx->client = NULL;
  }
  return ctx->client;
}

pgml_call_options_t pgmlctl_call_opts(const pgmlctl_ctx_t *ctx)
{
  pgml_call_options_t o = {.timeout_ms = ctx->timeout_ms, .metadata = NULL};

  return o;
}

int pgmlctl_check(const pgmlctl_ctx_t *ctx, const char *rpc, int rc, pgml_sync_result_t *res)
{
  int code;

  if (rc == 0) {
    pgml_sync_result_free(res);
    return PGMLCTL_EXIT_OK;
  }
  if (rc < 0) {
    fprintf(stderr, "pgmlctl: %s: %s could not be sent: %s\n", ctx->address, rpc,
            strerror(-rc));
    return PGMLCTL_EXIT_LOCAL;
  }
  fprintf(stderr, "pgmlctl: %s: %s failed: %s: %s\n", ctx->address, rpc,
          pgml_code_name(res->code), res->message != NULL ? res->message : "");
  if (res->details != NULL && res->details[0] != '\0')
    fprintf(stderr, "pgmlctl: details: %s\n", res->details);
  code = pgmlctl_exit_for_code(res->code);
  pgml_sync_result_free(res);
  return code;
}

int pgmlctl_call(pgmlctl_ctx_t *ctx, const char *method, const pb_msgdesc_t *req_type,
                 const void *req, const pb_msgdesc_t *resp_type, void *resp)
{
  pgml_call_options_t co = pgmlctl_call_opts(ctx);
  pgml_sync_result_t res;
  const char *rpc = strrchr(method, '/');
  pgml_client_t *c;

  if ((c = pgmlctl_client(ctx)) == NULL)
    return PGMLCTL_EXIT_LOCAL;
  return pgmlctl_check(ctx, rpc != NULL ? rpc + 1 : method,
                       pgml_call_sync(c, method, req_type, req, resp_type, resp, &co, &res),
                       &res);
}

/* The command named by argv[i] (and argv[i+1] for a group); *used gets how
 * many words it took.  NULL when there is none: *group_only is set when
 * argv[i] names a group whose sub-command is missing or unknown. */
static const pgmlctl_command_t *find_command(int argc, char **argv, int i, int *used,
                                             const char **group_only)
{
  *group_only = NULL;
  for (unsigned k = 0; k < pgmlctl_n_commands; k++) {
    const pgmlctl_command_t *c = &pgmlctl_commands[k];
    if (c->group == NULL && strcmp(c->name, argv[i]) == 0) {
      *used = 1;
      return c;
    }
    if (c->group != NULL && strcmp(c->group, argv[i]) == 0) {
      *group_only = c->group;
      if (i + 1 < argc && strcmp(c->name, argv[i + 1]) == 0) {
        *used = 2;
        return c;
      }
    }
  }
  return NULL;
}

static int set_globals(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  const char *addr = pgmlctl_arg(a, "address");

  if (addr == NULL)
    addr = getenv("PGML_ADDRESS");
  if (addr == NULL || addr[0] == '\0')
    addr = PGMLCTL_DEFAULT_ADDRESS;
  ctx->address = addr;
  ctx->timeout_ms = PGMLCTL_DEFAULT_TIMEOUT_MS;
  if (pgmlctl_arg_duration_ms(a, "timeout", &ctx->timeout_ms) < 0)
    return -EINVAL;
  ctx->json = pgmlctl_arg_flag(a, "json");
  ctx->quiet = pgmlctl_arg_flag(a, "quiet");
  ctx->stdout_tty = isatty(STDOUT_FILENO) != 0;
  ctx->stderr_tty = isatty(STDERR_FILENO) != 0;
  return 0;
}

int main(int argc, char **argv)
{
  static pgmlctl_args_t a;          /* large: not on the stack */
  pgmlctl_ctx_t ctx = {0};
  const pgmlctl_command_t *cmd;
  const char *group;
  int at, used = 0, status;

  if (argc >= 2 && strcmp(argv[1], "__complete") == 0)
    return pgmlctl_complete(argc - 2, argv + 2);

  if (pgmlctl_args_parse(&a, argc, argv, 1, NULL, true, &at) < 0)
    return PGMLCTL_EXIT_USAGE;
  if (pgmlctl_arg_flag(&a, "version")) {
    printf("pgmlctl %s (libpgml %s)\n", PGMLCTL_VERSION, pgml_version());
    return PGMLCTL_EXIT_OK;
  }
  if (at == argc) {
    pgmlctl_help_main(pgmlctl_arg_flag(&a, "help") ? stdout : stderr);
    return pgmlctl_arg_flag(&a, "help") ? PGMLCTL_EXIT_OK : PGMLCTL_EXIT_USAGE;
  }
  if (strcmp(argv[at], "help") == 0)
    return pgmlctl_help_topic(argc - at - 1, argv + at + 1);

  cmd = find_command(argc, argv, at, &used, &group);
  if (cmd == NULL) {
    bool help = false;
    /* "pgmlctl collections --help" asks for the group's help. */
    for (int i = at + 1; i < argc; i++)
      help = help || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
    if (group != NULL && (help || at + 1 == argc)) {
      pgmlctl_help_group(help ? stdout : stderr, group);
      return help ? PGMLCTL_EXIT_OK : PGMLCTL_EXIT_USAGE;
    }
    if (group != NULL)
      fprintf(stderr, "pgmlctl: unknown command \"%s %s\" (see pgmlctl %s --help)\n",
              group, argv[at + 1], group);
    else
      fprintf(stderr, "pgmlctl: unknown command \"%s\" (see pgmlctl --help)\n", argv[at]);
    return PGMLCTL_EXIT_USAGE;
  }

  /* The globals given before the command count too: parse again from the
   * start, now knowing the command's options, and drop its words. */
  if (pgmlctl_args_parse(&a, argc, argv, 1, cmd->opts, false, NULL) < 0)
    return PGMLCTL_EXIT_USAGE;
  memmove(&a.operands[0], &a.operands[used], (a.n_operands - (unsigned)used) * sizeof(a.operands[0]));
  a.n_operands -= (unsigned)used;

  if (pgmlctl_arg_flag(&a, "help")) {
    pgmlctl_help_command(stdout, cmd);
    return PGMLCTL_EXIT_OK;
  }
  if (a.n_operands < cmd->min_operands || a.n_operands > cmd->max_operands) {
    fprintf(stderr, "pgmlctl: %s%s%s: expected %s%s (see --help)\n",
            cmd->group != NULL ? cmd->group : "", cmd->group != NULL ? " " : "", cmd->name,
            cmd->synopsis[0] != '\0' ? cmd->synopsis : "no operands",
            a.n_operands < cmd->min_operands ? "" : ", got more");
    return PGMLCTL_EXIT_USAGE;
  }
  if (set_globals(&ctx, &a) < 0)
    return PGMLCTL_EXIT_USAGE;

  status = cmd->run(&ctx, &a);
  pgml_client_free(ctx.client);
  if (fflush(stdout) != 0 && status == PGMLCTL_EXIT_OK) {
    fprintf(stderr, "pgmlctl: cannot write to stdout: %s\n", strerror(errno));
    status = PGMLCTL_EXIT_LOCAL;
  }
  return status;
}
