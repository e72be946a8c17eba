/* args.c - parses pgmlctl's command line against the global and the
 * command's option tables, and converts option values. */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const pgmlctl_opt_t pgmlctl_global_opts[] = {
  {"address", 'a', PGMLCTL_OPT_VALUE, "ADDRESS", NULL,
   "pgmld to talk to: unix:///path, a socket path, or ws://host:port/v1 "
   "(wss:// with TLS; the token from $PGML_TOKEN) (default: $PGML_ADDRESS, "
   "else unix:///run/pgmld/pgmld.sock)"},
  {"timeout", 't', PGMLCTL_OPT_VALUE, "DURATION", NULL,
   "deadline of each call: 500ms, 5s, 2min or milliseconds; 0 for none "
   "(default 30s)"},
  {"json", 0, PGMLCTL_OPT_FLAG, NULL, NULL, "print JSON on stdout, for scripts"},
  {"quiet", 'q', PGMLCTL_OPT_FLAG, NULL, NULL,
   "no progress bar and no summary on stderr"},
  {"help", 'h', PGMLCTL_OPT_FLAG, NULL, NULL, "show help and exit"},
  {"version", 'V', PGMLCTL_OPT_FLAG, NULL, NULL, "print the version and exit"},
  {NULL, 0, 0, NULL, NULL, NULL},
};

static unsigned table_len(const pgmlctl_opt_t *t)
{
  unsigned n = 0;

  while (t != NULL && t[n].name != NULL)
    n++;
  return n;
}

/* The option's index across both tables, or -1. */
static int find_long(const pgmlctl_args_t *a, const char *name, size_t len)
{
  unsigned base = 0;

  for (int t = 0; t < 2; t++) {
    const pgmlctl_opt_t *o = a->tables[t];
    for (unsigned i = 0; o != NULL && o[i].name != NULL; i++) {
      if (strlen(o[i].name) == len && strncmp(o[i].name, name, len) == 0)
        return (int)(base + i);
    }
    base += table_len(o);
  }
  return -1;
}

static int find_short(const pgmlctl_args_t *a, char c)
{
  unsigned base = 0;

  for (int t = 0; t < 2; t++) {
    const pgmlctl_opt_t *o = a->tables[t];
    for (unsigned i = 0; o != NULL && o[i].name != NULL; i++) {
      if (o[i].short_name == c)
        return (int)(base + i);
    }
    base += table_len(o);
  }
  return -1;
}

static const pgmlctl_opt_t *opt_at(const pgmlctl_args_t *a, unsigned idx)
{
  unsigned n0 = table_len(a->tables[0]);

  return idx < n0 ? &a->tables[0][idx] : &a->tables[1][idx - n0];
}

static int record(pgmlctl_args_t *a, unsigned idx, const char *value)
{
  if (a->n_values == PGMLCTL_MAX_VALUES) {
    fprintf(stderr, "pgmlctl: too many options (at most %u)\n", PGMLCTL_MAX_VALUES);
    return -EINVAL;
  }
  a->values[a->n_values].opt = idx;
  a->values[a->n_values].value = value;
  a->n_values++;
  a->n_given[idx]++;
  a->last[idx] = value;
  return 0;
}

int pgmlctl_args_parse(pgmlctl_args_t *a, int argc, char **argv, int from,
                       const pgmlctl_opt_t *cmd_opts, bool stop_at_operand, int *stop)
{
  bool only_operands = false;

  memset(a, 0, sizeof(*a));
  a->tables[0] = pgmlctl_global_opts;
  a->tables[1] = cmd_opts;
  if (table_len(pgmlctl_global_opts) + table_len(cmd_opts) > PGMLCTL_MAX_OPTS) {
    fprintf(stderr, "pgmlctl: internal error: option table too large\n");
    return -EINVAL;
  }
  if (stop != NULL)
    *stop = argc;
  for (int i = from; i < argc; i++) {
    const char *arg = argv[i];
    const char *inline_value = NULL;
    int idx;

    if (only_operands || arg[0] != '-' || strcmp(arg, "-") == 0) {
      if (stop_at_operand) {
        *stop = i;
        return 0;
      }
      if (a->n_operands == PGMLCTL_MAX_OPERANDS) {
        fprintf(stderr, "pgmlctl: too many operands (at most %u)\n", PGMLCTL_MAX_OPERANDS);
        return -EINVAL;
      }
      a->operands[a->n_operands++] = arg;
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      if (stop_at_operand) {
        *stop = i + 1 < argc ? i + 1 : argc;
        return 0;
      }
      only_operands = true;
      continue;
    }
    if (arg[1] == '-') {
      const char *eq = strchr(arg + 2, '=');
      size_t len = eq != NULL ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
      idx = find_long(a, arg + 2, len);
      if (idx < 0) {
        fprintf(stderr, "pgmlctl: unknown option --%.*s (see --help)\n", (int)len, arg + 2);
        return -EINVAL;
      }
      if (eq != NULL)
        inline_value = eq + 1;
    } else {
      idx = find_short(a, arg[1]);
      if (idx < 0) {
        fprintf(stderr, "pgmlctl: unknown option -%c (see --help)\n", arg[1]);
        return -EINVAL;
      }
      if (arg[2] != '\0')
        inline_value = arg + 2;
    }

    const pgmlctl_opt_t *o = opt_at(a, (unsigned)idx);
    if (o->kind == PGMLCTL_OPT_FLAG) {
      if (inline_value != NULL) {
        fprintf(stderr, "pgmlctl: option --%s takes no value\n", o->name);
        return -EINVAL;
      }
      if (record(a, (unsigned)idx, "") < 0)
        return -EINVAL;
      continue;
    }
    if (inline_value == NULL) {
      if (i + 1 >= argc) {
        fprintf(stderr, "pgmlctl: option --%s needs a value (%s)\n", o->name, o->metavar);
        return -EINVAL;
      }
      inline_value = argv[++i];
    }
    if (record(a, (unsigned)idx, inline_value) < 0)
      return -EINVAL;
  }
  return 0;
}

const char *pgmlctl_arg(const pgmlctl_args_t *a, const char *name)
{
  int idx = find_long(a, name, strlen(name));

  return idx < 0 ? NULL : a->last[idx];
}

bool pgmlctl_arg_flag(const pgmlctl_args_t *a, const char *name)
{
  return pgmlctl_arg(a, name) != NULL;
}

unsigned pgmlctl_arg_list(const pgmlctl_args_t *a, const char *name,
                          const char **out, unsigned max)
{
  int idx = find_long(a, name, strlen(name));
  unsigned n = 0;

  if (idx < 0)
    return 0;
  for (unsigned i = 0; i < a->n_values; i++) {
    if (a->values[i].opt == (unsigned)idx) {
      if (n < max)
        out[n] = a->values[i].value;
      n++;
    }
  }
  return n;
}

int pgmlctl_arg_u32(const pgmlctl_args_t *a, const char *name, uint32_t min,
                    uint32_t max, uint32_t *out)
{
  const char *v = pgmlctl_arg(a, name);
  char *end;
  unsigned long long n;

  if (v == NULL)
    return 0;
  errno = 0;
  n = strtoull(v, &end, 10);
  if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < min || n > max) {
    fprintf(stderr, "pgmlctl: --%s: expected a whole number from %u to %u, got \"%s\"\n",
            name, min, max, v);
    return -EINVAL;
  }
  *out = (uint32_t)n;
  return 0;
}

int pgmlctl_arg_float(const pgmlctl_args_t *a, const char *name, float min, float max,
                      float *out)
{
  const char *v = pgmlctl_arg(a, name);
  char *end;
  double d;

  if (v == NULL)
    return 0;
  errno = 0;
  d = strtod(v, &end);
  if (end == v || *end != '\0' || errno != 0 || !isfinite(d) || d < min || d > max) {
    fprintf(stderr, "pgmlctl: --%s: expected a number from %g to %g, got \"%s\"\n", name,
            (double)min, (double)max, v);
    return -EINVAL;
  }
  *out = (float)d;
  return 0;
}

int pgmlctl_arg_duration_ms(const pgmlctl_args_t *a, const char *name, uint32_t *out)
{
  static const struct {
    const char *suffix;
    unsigned long long scale;
  } units[] = {{"", 1}, {"ms", 1}, {"s", 1000}, {"min", 60000}};
  const char *v = pgmlctl_arg(a, name);
  char *end;
  unsigned long long n;

  if (v == NULL)
    return 0;
  errno = 0;
  n = strtoull(v, &end, 10);
  if (v[0] >= '0' && v[0] <= '9' && errno == 0) {
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
      if (strcmp(end, units[i].suffix) == 0 && n <= UINT32_MAX / units[i].scale) {
        *out = (uint32_t)(n * units[i].scale);
        return 0;
      }
    }
  }
  fprintf(stderr,
          "pgmlctl: --%s: expected a duration such as 500ms, 5s or 2min (at most "
          "%u ms), got \"%s\"\n", name, UINT32_MAX, v);
  return -EINVAL;
}

int pgmlctl_arg_choice(const pgmlctl_args_t *a, const char *name, const char **out)
{
  int idx = find_long(a, name, strlen(name));
  const pgmlctl_opt_t *o;
  const char *v;
  size_t len;

  if (idx < 0 || (v = a->last[idx]) == NULL)
    return 0;
  o = opt_at(a, (unsigned)idx);
  len = strlen(v);
  for (const char *p = o->choices; p != NULL && *p != '\0';) {
    const char *bar = strchr(p, '|');
    size_t n = bar != NULL ? (size_t)(bar - p) : strlen(p);
    if (n == len && strncmp(p, v, n) == 0) {
      *out = v;
      return 0;
    }
    p = bar != NULL ? bar + 1 : p + n;
  }
  fprintf(stderr, "pgmlctl: --%s: expected one of %s, got \"%s\"\n", name,
          o->choices != NULL ? o->choices : "(none)", v);
  return -EINVAL;
}

void pgmlctl_print_opts(FILE *f, const pgmlctl_opt_t *opts)
{
  for (unsigned i = 0; opts != NULL && opts[i].name != NULL; i++) {
    const pgmlctl_opt_t *o = &opts[i];
    char head[64];
    int n;

    if (o->short_name != 0)
      n = snprintf(head, sizeof(head), "-%c, --%s", o->short_name, o->name);
    else
      n = snprintf(head, sizeof(head), "    --%s", o->name);
    if (o->kind != PGMLCTL_OPT_FLAG && n > 0 && (size_t)n < sizeof(head))
      snprintf(head + n, sizeof(head) - (size_t)n, " %s", o->metavar);
    fprintf(f, "  %-30s %s%s\n", head, o->help,
            o->kind == PGMLCTL_OPT_LIST ? " (repeatable)" : "");
  }
}
