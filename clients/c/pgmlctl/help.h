/* help.h - pgmlctl's --help texts and shell completion, both read from the
 * command table (commands.c). */
#ifndef PGMLCTL_HELP_H
#define PGMLCTL_HELP_H

#include <stdio.h>

#include "pgmlctl.h"

void pgmlctl_help_main(FILE *f);
void pgmlctl_help_group(FILE *f, const char *group);
void pgmlctl_help_command(FILE *f, const pgmlctl_command_t *cmd);
/* "pgmlctl help [COMMAND...]": returns the exit code. */
int pgmlctl_help_topic(int argc, char **argv);

/* "pgmlctl __complete WORD... CURRENT": prints, one per line, the words that
 * may follow; "__files__" asks the shell to complete file names.  `argv`
 * holds the words after "pgmlctl", the last being the one being completed
 * (possibly empty).  Collection names are asked of pgmld with a 1 s
 * deadline; nothing is printed for them when it does not answer. */
int pgmlctl_complete(int argc, char **argv);

#endif
