/* args.h - pgmlctl's command-line parser: option tables, parsed values and
 * their conversion with messages that name the option at fault.
 *
 * Errors.  The parser and the converters print what was wrong on stderr
 * ("pgmlctl: --top-k: expected ...") and return -EINVAL; the caller exits
 * with PGMLCTL_EXIT_USAGE.
 */
#ifndef PGMLCTL_ARGS_H
#define PGMLCTL_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <pgml/common.h>

typedef enum {
  PGMLCTL_OPT_FLAG,     /* --x */
  PGMLCTL_OPT_VALUE,    /* --x VALUE; the last one given wins */
  PGMLCTL_OPT_LIST,     /* --x VALUE, repeatable; every value kept in order */
} pgmlctl_opt_kind_t;

typedef struct pgmlctl_opt_s {
  const char *name;      /* long name without "--"; NULL ends a table */
  char short_name;       /* 0: none */
  pgmlctl_opt_kind_t kind;
  const char *metavar;   /* "N", "JSON", "FILE" (completes file names), ... */
  const char *choices;   /* "vector|text|hybrid" for completion, or NULL */
  const char *help;
} pgmlctl_opt_t;

/* Options every command accepts, before or after the command words. */
extern const pgmlctl_opt_t pgmlctl_global_opts[];

#define PGMLCTL_MAX_OPTS 48       /* global and command options together */
#define PGMLCTL_MAX_VALUES 256    /* option values kept, lists included */
#define PGMLCTL_MAX_OPERANDS 1024

/* The result of parsing.  Every string is borrowed from argv. */
typedef struct pgmlctl_args_s {
  const pgmlctl_opt_t *tables[2];   /* the globals, then the command's */
  unsigned n_given[PGMLCTL_MAX_OPTS];
  const char *last[PGMLCTL_MAX_OPTS];
  struct {
    unsigned opt;
    const char *value;
  } values[PGMLCTL_MAX_VALUES];
  unsigned n_values;
  const char *operands[PGMLCTL_MAX_OPERANDS];
  unsigned n_operands;
} pgmlctl_args_t;

/* Parses argv[from..argc) against the globals and `cmd_opts` (may be NULL).
 * With `stop_at_operand`, parsing stops at the first operand, whose index
 * is then stored in *stop (argc when there is none); otherwise every
 * operand is collected ("--" makes the rest operands, "-" is an operand).
 * Returns 0, or -EINVAL after printing the problem. */
PGML_MUST_CHECK int pgmlctl_args_parse(pgmlctl_args_t *a, int argc, char **argv, int from,
                                       const pgmlctl_opt_t *cmd_opts,
                                       bool stop_at_operand, int *stop);

/* The last value of option `name` (global or the command's), "" for a flag
 * that was given, or NULL when it was not given. */
const char *pgmlctl_arg(const pgmlctl_args_t *a, const char *name);
bool pgmlctl_arg_flag(const pgmlctl_args_t *a, const char *name);

/* The values of list option `name`, in order: fills up to `max` pointers
 * and returns how many were given. */
unsigned pgmlctl_arg_list(const pgmlctl_args_t *a, const char *name,
                          const char **out, unsigned max);

/* Converters.  An absent option leaves *out untouched and returns 0. */
PGML_MUST_CHECK int pgmlctl_arg_u32(const pgmlctl_args_t *a, const char *name,
                                    uint32_t min, uint32_t max, uint32_t *out);
PGML_MUST_CHECK int pgmlctl_arg_float(const pgmlctl_args_t *a, const char *name,
                                      float min, float max, float *out);
/* "250ms", "5s", "2min", or a plain number of milliseconds; 0 allowed. */
PGML_MUST_CHECK int pgmlctl_arg_duration_ms(const pgmlctl_args_t *a, const char *name,
                                            uint32_t *out);
/* Exactly one of `choices` ("a|b|c"). */
PGML_MUST_CHECK int pgmlctl_arg_choice(const pgmlctl_args_t *a, const char *name,
                                       const char **out);

/* Prints an option table for --help. */
void pgmlctl_print_opts(FILE *f, const pgmlctl_opt_t *opts);

#endif
