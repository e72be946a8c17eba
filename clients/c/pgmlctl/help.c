/* help.c - --help for pgmlctl, its groups and commands. */
#include "help.h"

#include <string.h>

void pgmlctl_help_main(FILE *f)
{
  const char *last_group = "";

  fprintf(f,
          "Usage: pgmlctl [OPTIONS] COMMAND [ARGS...]\n"
          "\n"
          "Manage and query a pgmld daemon: collections, pipelines, documents, search.\n"
          "\n"
          "Commands:\n");
  for (unsigned i = 0; i < pgmlctl_n_commands; i++) {
    const pgmlctl_command_t *c = &pgmlctl_commands[i];
    char head[64];
    if (c->group != NULL && strcmp(c->group, last_group) != 0)
      last_group = c->group;
    snprintf(head, sizeof(head), "%s%s%s", c->group != NULL ? c->group : "",
             c->group != NULL ? " " : "", c->name);
    fprintf(f, "  %-22s %s\n", head, c->summary);
  }
  fprintf(f, "\nOptions (accepted by every command):\n");
  pgmlctl_print_opts(f, pgmlctl_global_opts);
  fprintf(f,
          "\n"
          "Exit status: 0 success; 1 local error (input file, I/O); 2 usage error;\n"
          "10 + the status code when pgmld (or the connection) answers an error:\n"
          "  13 INVALID_ARGUMENT  14 DEADLINE_EXCEEDED  15 NOT_FOUND  16 ALREADY_EXISTS\n"
          "  19 FAILED_PRECONDITION  22 UNIMPLEMENTED  23 INTERNAL  24 UNAVAILABLE ...\n"
          "\n"
          "Run 'pgmlctl COMMAND --help' for a command's options.\n");
}

void pgmlctl_help_group(FILE *f, const char *group)
{
  fprintf(f, "Usage: pgmlctl %s COMMAND [ARGS...]\n\nCommands:\n", group);
  for (unsigned i = 0; i < pgmlctl_n_commands; i++) {
    const pgmlctl_command_t *c = &pgmlctl_commands[i];
    if (c->group != NULL && strcmp(c->group, group) == 0) {
      char head[64];
      snprintf(head, sizeof(head), "%s %s", c->name, c->synopsis);
      fprintf(f, "  %-28s %s\n", head, c->summary);
    }
  }
  fprintf(f, "\nRun 'pgmlctl %s COMMAND --help' for a command's options.\n", group);
}

void pgmlctl_help_command(FILE *f, const pgmlctl_command_t *cmd)
{
  fprintf(f, "Usage: pgmlctl %s%s%s [OPTIONS]%s%s\n\n%s.\n", cmd->group != NULL ? cmd->group : "",
          cmd->group != NULL ? " " : "", cmd->name, cmd->synopsis[0] != '\0' ? " " : "",
          cmd->synopsis, cmd->summary);
  if (cmd->description != NULL)
    fprintf(f, "\n%s\n", cmd->description);
  if (cmd->opts != NULL && cmd->opts[0].name != NULL) {
    fprintf(f, "\nOptions:\n");
    pgmlctl_print_opts(f, cmd->opts);
  }
  fprintf(f, "\nGlobal options:\n");
  pgmlctl_print_opts(f, pgmlctl_global_opts);
}

int pgmlctl_help_topic(int argc, char **argv)
{
  if (argc == 0) {
    pgmlctl_help_main(stdout);
    return PGMLCTL_EXIT_OK;
  }
  for (unsigned i = 0; i < pgmlctl_n_commands; i++) {
    const pgmlctl_command_t *c = &pgmlctl_commands[i];
    bool match = c->group == NULL ? strcmp(c->name, argv[0]) == 0
                                  : argc >= 2 && strcmp(c->group, argv[0]) == 0 &&
                                        strcmp(c->name, argv[1]) == 0;
    if (match) {
      pgmlctl_help_command(stdout, c);
      return PGMLCTL_EXIT_OK;
    }
  }
  for (unsigned i = 0; i < pgmlctl_n_commands; i++) {
    if (pgmlctl_commands[i].group != NULL && strcmp(pgmlctl_commands[i].group, argv[0]) == 0) {
      pgmlctl_help_group(stdout, argv[0]);
      return PGMLCTL_EXIT_OK;
    }
  }
  fprintf(stderr, "pgmlctl: help: no command \"%s\" (see pgmlctl --help)\n", argv[0]);
  return PGMLCTL_EXIT_USAGE;
}
