/* main.c - pgmld's entry point: configuration, logging, the server.
 * Exit status: 0 after a clean shutdown, 1 when start-up or the server
 * failed, 2 for a configuration error (including a bad systemd variable). */
#include <stdio.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"
#include "core/reload.h"
#include "core/sdnotify.h"
#include "core/server.h"
#include "pgml/alloc.h"

extern char **environ;

int main(int argc, char **argv)
{
  pgmld_config_t cfg;
  pgmld_config_action_t action;
  pgmld_server_t *srv;
  char err[512];
  int status;

  pgmld_alloc_init();
  /* The stream framing is the client library's; it allocates through ours
   * so that fault injection and leak counts cover it too. */
  if (pgml_set_allocator(pgmld_malloc, pgmld_realloc, pgmld_free) != 0) {
    fprintf(stderr, "pgmld: cannot install the frame reader's allocator\n");
    return 1;
  }
  if (pgmld_config_load(&cfg, argc, argv, environ, PGMLD_DEFAULT_CONFIG_PATH, &action,
                        err, sizeof(err)) < 0) {
    fprintf(stderr, "pgmld: %s\n", err);
    fprintf(stderr, "pgmld: run `pgmld --help` for the list of settings\n");
    return 2;
  }
  switch (action) {
  case PGMLD_CONFIG_HELP:
    pgmld_config_print_help(stdout, PGMLD_DEFAULT_CONFIG_PATH);
    pgmld_config_free(&cfg);
    return 0;
  case PGMLD_CONFIG_VERSION:
    printf("pgmld %s\n", PGMLD_VERSION);
    pgmld_config_free(&cfg);
    return 0;
  case PGMLD_CONFIG_RUN:
    break;
  }
  pgmld_log_set_level(cfg.log.level);
  /* systemd's variables are read (and removed from the environment) before
   * anything starts a child process. */
  if (pgmld_sd_init(err, sizeof(err)) < 0) {
    fprintf(stderr, "pgmld: %s\n", err);
    pgmld_config_free(&cfg);
    return 2;
  }
  /* SIGHUP reads the same file and environment again; the flags stay. */
  pgmld_reload_init(&cfg, argc, argv, PGMLD_DEFAULT_CONFIG_PATH);

  if (pgmld_server_new(&cfg, &srv) < 0) {
    pgmld_config_free(&cfg);
    return 1;
  }
  status = pgmld_server_run(srv);
  pgmld_server_free(srv);
  pgmld_config_free(&cfg);
  return status;
}
