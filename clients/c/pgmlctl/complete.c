/* complete.c - shell completion from the command table: the words that may
 * come next, printed for deploy/completion/pgmlctl.bash. */
#include <stdlib.h>
#include <string.h>

#include <pgml/database.h>

#include "help.h"

/* The option `word` names in `t` (ignoring any "=value"), or NULL. */
static const pgmlctl_opt_t *lookup(const pgmlctl_opt_t *t, const char *word)
{
  size_t len;

  if (t == NULL || word[0] != '-' || word[1] == '\0')
    return NULL;
  if (word[1] != '-') {
    for (unsigned i = 0; t[i].name != NULL; i++)
      if (t[i].short_name == word[1] && word[2] == '\0')
        return &t[i];
    return NULL;
  }
  len = strcspn(word + 2, "=");
  if (word[2 + len] == '=')
    return NULL;                   /* the value is in the same word */
  for (unsigned i = 0; t[i].name != NULL; i++)
    if (strlen(t[i].name) == len && strncmp(t[i].name, word + 2, len) == 0)
      return &t[i];
  return NULL;
}

static void offer(const char *word, const char *prefix)
{
  if (strncmp(word, prefix, strlen(prefix)) == 0)
    printf("%s\n", word);
}

static void offer_choices(const char *choices, const char *prefix)
{
  char buf[256];
  char *save = NULL;

  snprintf(buf, sizeof(buf), "%s", choices);
  for (char *w = strtok_r(buf, "|", &save); w != NULL; w = strtok_r(NULL, "|", &save))
    offer(w, prefix);
}

static void offer_opts(const pgmlctl_opt_t *t, const char *prefix)
{
  char buf[64];

  for (unsigned i = 0; t != NULL && t[i].name != NULL; i++) {
    snprintf(buf, sizeof(buf), "--%s", t[i].name);
    offer(buf, prefix);
  }
}

/* How long a completion waits for pgmld: a second, so that a shell does not
 * hang on a daemon that does not answer; PGMLCTL_COMPLETE_TIMEOUT_MS (1 to
 * 600000) changes it (the tests, on a loaded machine, wait longer). */
static uint32_t complete_timeout_ms(void)
{
  const char *v = getenv("PGMLCTL_COMPLETE_TIMEOUT_MS");
  char *end;
  unsigned long ms;

  if (v == NULL || *v == '\0')
    return 1000;
  ms = strtoul(v, &end, 10);
  return *end == '\0' && ms >= 1 && ms <= 600000 ? (uint32_t)ms : 1000;
}

/* Collection names from pgmld, quietly: a completion must not print errors. */
static void offer_collections(const char *address, const char *prefix)
{
  uint32_t ms = complete_timeout_ms();
  pgml_client_options_t o = {.connect_timeout_ms = ms};
  pgml_call_options_t co = {.timeout_ms = ms, .metadata = NULL};
  pgml_v1_ListCollectionsRequest req = pgml_v1_ListCollectionsRequest_init_zero;
  pgml_v1_ListCollectionsResponse resp = pgml_v1_ListCollectionsResponse_init_zero;
  pgml_sync_result_t res;
  pgml_client_t *c;
  int rc;

  if (pgml_client_new(address, &o, &c) < 0)
    return;
  rc = pgml_database_list_collections_sync(c, &req, &resp, &co, &res);
  if (rc == 0) {
    for (pb_size_t i = 0; i < resp.collections_count; i++)
      if (resp.collections[i].name != NULL)
        offer(resp.collections[i].name, prefix);
    pb_release(pgml_v1_ListCollectionsResponse_fields, &resp);
  }
  if (rc >= 0)
    pgml_sync_result_free(&res);
  pgml_client_free(c);
}

int pgmlctl_complete(int argc, char **argv)
{
  const char *cur = argc > 0 ? argv[argc - 1] : "";
  const char *address = getenv("PGML_ADDRESS");
  const char *group = NULL;
  const pgmlctl_command_t *cmd = NULL;
  const pgmlctl_opt_t *pending = NULL;   /* the option whose value is `cur` */
  unsigned operand = 0;

  for (int i = 0; i + 1 < argc; i++) {
    const char *w = argv[i];
    const pgmlctl_opt_t *o;

    if (pending != NULL) {
      if (strcmp(pending->name, "address") == 0)
        address = w;
      pending = NULL;
      continue;
    }
    if (w[0] == '-' && w[1] != '\0') {
      o = lookup(pgmlctl_global_opts, w);
      if (o == NULL && cmd != NULL)
        o = lookup(cmd->opts, w);
      if (o != NULL && o->kind != PGMLCTL_OPT_FLAG)
        pending = o;
      else if (strncmp(w, "--address=", 10) == 0)
        address = w + 10;
      continue;
    }
    if (cmd != NULL) {
      operand++;
      continue;
    }
    for (unsigned k = 0; k < pgmlctl_n_commands && cmd == NULL; k++) {
      const pgmlctl_command_t *c = &pgmlctl_commands[k];
      if (group == NULL && c->group == NULL && strcmp(c->name, w) == 0)
        cmd = c;
      else if (group != NULL && c->group != NULL && strcmp(c->group, group) == 0 &&
               strcmp(c->name, w) == 0)
        cmd = c;
    }
    if (cmd == NULL && group == NULL) {
      for (unsigned k = 0; k < pgmlctl_n_commands; k++)
        if (pgmlctl_commands[k].group != NULL && strcmp(pgmlctl_commands[k].group, w) == 0)
          group = pgmlctl_commands[k].group;
    }
  }
  if (address == NULL || address[0] == '\0')
    address = PGMLCTL_DEFAULT_ADDRESS;

  if (pending != NULL) {
    if (pending->choices != NULL)
      offer_choices(pending->choices, cur);
    else if (strstr(pending->metavar, "FILE") != NULL)
      printf("__files__\n");
    return PGMLCTL_EXIT_OK;
  }
  if (cur[0] == '-') {
    offer_opts(pgmlctl_global_opts, cur);
    if (cmd != NULL)
      offer_opts(cmd->opts, cur);
    return PGMLCTL_EXIT_OK;
  }
  if (cmd == NULL) {
    const char *last = "";
    for (unsigned k = 0; k < pgmlctl_n_commands; k++) {
      const pgmlctl_command_t *c = &pgmlctl_commands[k];
      if (group == NULL && c->group == NULL)
        offer(c->name, cur);
      else if (group == NULL && strcmp(c->group, last) != 0)
        offer(last = c->group, cur);
      else if (group != NULL && c->group != NULL && strcmp(c->group, group) == 0)
        offer(c->name, cur);
    }
    if (group == NULL)
      offer("help", cur);
    return PGMLCTL_EXIT_OK;
  }

  /* An operand: what the synopsis names at this place ("COLLECTION [FILE...]"
   * repeats its last word). */
  char syn[128], *save = NULL, *word = NULL;
  unsigned n = 0;
  snprintf(syn, sizeof(syn), "%s", cmd->synopsis);
  for (char *w = strtok_r(syn, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
    word = w;
    if (n++ == operand)
      break;
  }
  /* Past the synopsis, unless its last word repeats. */
  if (word == NULL || (n <= operand && strstr(word, "...") == NULL))
    return PGMLCTL_EXIT_OK;
  {
    if (strcmp(word, "COLLECTION") == 0 ||
        (strcmp(word, "NAME") == 0 && cmd->group != NULL &&
         strcmp(cmd->group, "collections") == 0 && strcmp(cmd->name, "create") != 0))
      offer_collections(address, cur);
    else if (strstr(word, "FILE") != NULL)
      printf("__files__\n");
  }
  return PGMLCTL_EXIT_OK;
}
