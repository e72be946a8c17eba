/* reload.c - the configuration read again on SIGHUP, compared setting by
 * setting with the running one, and the live settings copied in. */
#include "core/reload.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

/* Settings that may change while pgmld runs: each is read where it is used,
 * from the running configuration.  A NULL key stands for the whole section.
 * Anything not listed (including settings added later) needs a restart
 * until someone makes it live and lists it here (limits.idle_timeout_ms is
 * not: its sweep timer is armed once, at start-up). */
static const struct {
  const char *section;
  const char *key;
} live_settings[] = {
  {"log", "level"},
  {"limits", "max_frame_size"},
  {"limits", "max_inflight_per_conn"},
  {"limits", "max_connections"},
  {"limits", "default_timeout_ms"},
  {"limits", "max_timeout_ms"},
  {"limits", "max_top_k"},
  {"limits", "max_batch"},
  {"limits", "max_inflight_bytes"},          /* read where used */
  {"limits", "max_server_inflight_bytes"},
  {"server", "shutdown_grace_ms"},
  {"database", "pool_size"},
  {"database", "ef_search"},
};

typedef struct hook_s {
  pgmld_reload_hook_fn fn;
  void *data;
  const char *const *settings;   /* "section.key", NULL-terminated, or NULL */
} hook_t;

static struct {
  hook_t hooks[PGMLD_RELOAD_HOOKS_MAX];
  size_t n_hooks;
  pgmld_config_t *live;
  int argc;
  char *const *argv;
  const char *default_path;
} reg;

void pgmld_reload_init(pgmld_config_t *live, int argc, char *const argv[],
                       const char *default_path)
{
  reg.live = live;
  reg.argc = argc;
  reg.argv = argv;
  reg.default_path = default_path;
}

int pgmld_reload_add_hook(const char *const *settings, pgmld_reload_hook_fn fn,
                          void *data)
{
  if (reg.n_hooks >= PGMLD_RELOAD_HOOKS_MAX)
    return -ENOSPC;
  reg.hooks[reg.n_hooks].fn = fn;
  reg.hooks[reg.n_hooks].data = data;
  reg.hooks[reg.n_hooks].settings = settings;
  reg.n_hooks++;
  return 0;
}

void pgmld_reload_remove_hook(pgmld_reload_hook_fn fn, void *data)
{
  size_t i;

  for (i = 0; i < reg.n_hooks; i++) {
    if (reg.hooks[i].fn == fn && reg.hooks[i].data == data) {
      memmove(&reg.hooks[i], &reg.hooks[i + 1], (reg.n_hooks - i - 1) * sizeof(hook_t));
      reg.n_hooks--;
      return;
    }
  }
}

/* "section.key" names s. */
static int names(const char *name, const pgmld_setting_t *s)
{
  size_t len = strlen(s->section);

  return strncmp(name, s->section, len) == 0 && name[len] == '.' &&
         strcmp(name + len + 1, s->key) == 0;
}

int pgmld_reload_is_live(const pgmld_setting_t *s)
{
  size_t i, j;

  for (i = 0; i < PGMLD_ARRAY_LEN(live_settings); i++)
    if (strcmp(live_settings[i].section, s->section) == 0 &&
        (live_settings[i].key == NULL || strcmp(live_settings[i].key, s->key) == 0))
      return 1;
  for (i = 0; i < reg.n_hooks; i++)
    for (j = 0; reg.hooks[i].settings != NULL && reg.hooks[i].settings[j] != NULL; j++)
      if (names(reg.hooks[i].settings[j], s))
        return 1;
  return 0;
}

static void *field(pgmld_config_t *cfg, const pgmld_setting_t *s)
{
  return (char *)cfg + s->offset;
}

static int same(const pgmld_setting_t *s, const void *a, const void *b)
{
  switch (s->type) {
  case PGMLD_CFG_STRING:
    return strcmp(*(char *const *)a, *(char *const *)b) == 0;
  case PGMLD_CFG_BOOL:
    return *(const bool *)a == *(const bool *)b;
  case PGMLD_CFG_LOG_LEVEL:
    return *(const pgmld_log_level_t *)a == *(const pgmld_log_level_t *)b;
  case PGMLD_CFG_SIZE:
    return *(const uint64_t *)a == *(const uint64_t *)b;
  case PGMLD_CFG_INT:
  case PGMLD_CFG_MODE:
  case PGMLD_CFG_DURATION_MS:
    return *(const uint32_t *)a == *(const uint32_t *)b;
  }
  return 1;
}

/* Moves the new value into place; a string's old pointer goes to `fresh`,
 * to be freed with it. */
static void take(const pgmld_setting_t *s, void *dst, void *src)
{
  size_t size;

  switch (s->type) {
  case PGMLD_CFG_STRING: {
    char *old = *(char **)dst;
    *(char **)dst = *(char **)src;
    *(char **)src = old;
    return;
  }
  case PGMLD_CFG_BOOL: size = sizeof(bool); break;
  case PGMLD_CFG_LOG_LEVEL: size = sizeof(pgmld_log_level_t); break;
  case PGMLD_CFG_SIZE: size = sizeof(uint64_t); break;
  default: size = sizeof(uint32_t); break;
  }
  memcpy(dst, src, size);
}

/* Values that may hold a secret are not written to the log. */
static int secret(const pgmld_setting_t *s)
{
  return strstr(s->key, "url") != NULL || strstr(s->key, "token") != NULL ||
         strstr(s->key, "password") != NULL || strstr(s->key, "secret") != NULL;
}

static void format(const pgmld_setting_t *s, const void *v, char *buf, size_t len)
{
  switch (s->type) {
  case PGMLD_CFG_STRING:
    if (secret(s))
      snprintf(buf, len, "(not shown)");
    else
      snprintf(buf, len, "\"%s\"", *(char *const *)v);
    return;
  case PGMLD_CFG_BOOL:
    snprintf(buf, len, "%s", *(const bool *)v ? "true" : "false");
    return;
  case PGMLD_CFG_LOG_LEVEL:
    snprintf(buf, len, "%s", pgmld_log_level_name(*(const pgmld_log_level_t *)v));
    return;
  case PGMLD_CFG_SIZE:
    snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)v);
    return;
  case PGMLD_CFG_MODE:
    snprintf(buf, len, "0%o", (unsigned)*(const uint32_t *)v);
    return;
  case PGMLD_CFG_DURATION_MS:
    snprintf(buf, len, "%u ms", (unsigned)*(const uint32_t *)v);
    return;
  case PGMLD_CFG_INT:
    snprintf(buf, len, "%u", (unsigned)*(const uint32_t *)v);
    return;
  }
  snprintf(buf, len, "?");
}

void pgmld_reload_apply(pgmld_config_t *live, pgmld_config_t *fresh,
                        pgmld_reload_result_t *res)
{
  const pgmld_setting_t *table;
  char was[160], now[160];
  size_t n, i;

  memset(res, 0, sizeof(*res));
  res->old_pool_size = live->database.pool_size;
  table = pgmld_config_settings(&n);
  for (i = 0; i < n; i++) {
    const pgmld_setting_t *s = &table[i];
    void *a = field(live, s), *b = field(fresh, s);

    if (same(s, a, b))
      continue;
    format(s, a, was, sizeof(was));
    format(s, b, now, sizeof(now));
    if (!pgmld_reload_is_live(s)) {
      pgmld_log_warn("reload", "%s.%s changed (%s -> %s) but needs a restart; "
                     "still using %s", s->section, s->key, was, now, was);
      res->need_restart++;
      continue;
    }
    pgmld_log_info("reload", "%s.%s: %s -> %s", s->section, s->key, was, now);
    take(s, a, b);
    res->applied++;
    if (s->offset == offsetof(pgmld_config_t, database.pool_size))
      res->pool_size_changed = 1;
  }
  /* Last, so that the lines above are written under the level that was in
   * force when the operator asked for the reload. */
  pgmld_log_set_level(live->log.level);
}

int pgmld_reload(char *const envp[], pgmld_reload_result_t *res, char *err, size_t errlen)
{
  pgmld_config_t fresh;
  pgmld_config_action_t action;
  size_t i;
  int rc;

  memset(res, 0, sizeof(*res));
  if (reg.live == NULL) {
    snprintf(err, errlen, "reloading is not set up in this process");
    return -ENOSYS;
  }
  rc = pgmld_config_load(&fresh, reg.argc, reg.argv, envp, reg.default_path, &action,
                         err, errlen);
  if (rc < 0)
    return rc;
  pgmld_reload_apply(reg.live, &fresh, res);
  pgmld_config_free(&fresh);
  for (i = 0; i < reg.n_hooks; i++)
    reg.hooks[i].fn(reg.live, reg.hooks[i].data);
  return 0;
}
