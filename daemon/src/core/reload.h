/* reload.h - SIGHUP: the configuration read again from the same sources,
 * and the settings that can change while pgmld runs applied in place.
 *
 * The file (--config PATH, or the default file) and the environment are
 * read again; the command-line flags are applied again as given, so a flag
 * still wins.  A configuration that does not load (syntax error, a value
 * out of range) changes nothing: the error is returned and pgmld keeps
 * serving with the settings it had.
 *
 * Live settings (pgmld_reload_is_live()) are copied into the running
 * configuration, which every reader consults at the time of use: log.level,
 * the limits.* checked per request or connection (limits.max_frame_size for
 * frames read by connections opened afterwards; not idle_timeout_ms),
 * server.shutdown_grace_ms, database.pool_size (the server resizes the
 * pool) and database.ef_search.  Every other setting
 * that changed is logged as needing a restart and keeps its old value.
 * Each change is logged on a line of its own naming the setting.
 *
 * The registration is process-wide, as the signal is.
 */
#ifndef PGMLD_RELOAD_H
#define PGMLD_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"
#include "core/config.h"

/* What a reload did. */
typedef struct pgmld_reload_result_s {
  unsigned applied;           /* settings changed live */
  unsigned need_restart;      /* settings changed but kept until a restart */
  int pool_size_changed;      /* database.pool_size was applied: resize */
  uint32_t old_pool_size;     /* its value before */
} pgmld_reload_result_t;

/* Remembers where the running configuration came from.  `live` is the
 * configuration the server reads (main()'s); argv and default_path are
 * main()'s and pgmld_config_load()'s.  All borrowed: they must outlive the
 * last pgmld_reload(). */
void pgmld_reload_init(pgmld_config_t *live, int argc, char *const argv[],
                       const char *default_path);

/* Reloads (see above).  envp is the environment to read (environ).
 * Returns 0 and fills *res; or -ENOSYS (pgmld_reload_init() never ran),
 * -EINVAL / -ENOENT / -ENOMEM from loading, with err naming the setting, the
 * file and line, and the running configuration untouched. */
PGMLD_MUST_CHECK int pgmld_reload(char *const envp[], pgmld_reload_result_t *res,
                                  char *err, size_t errlen);

/* The comparison and copy pgmld_reload() does: every live setting that
 * differs moves from `fresh` into `live` (strings change hands, so freeing
 * `fresh` afterwards frees the old ones), each difference is logged, and the
 * log level is set when it changed.  `fresh` must still be freed. */
void pgmld_reload_apply(pgmld_config_t *live, pgmld_config_t *fresh,
                        pgmld_reload_result_t *res);

/* Whether setting s can change without a restart: it is in the built-in
 * list above, or a registered hook names it. */
int pgmld_reload_is_live(const pgmld_setting_t *s);

/* Runs after every successful reload, once the live settings are in place;
 * `cfg` is the running configuration.  For a module that caches something
 * derived from a setting or from a file it names.  (The tokens file is not
 * read through a hook: core/server.c reads it again after every reload,
 * changed path or not, and tells net/ws.c.) */
typedef void (*pgmld_reload_hook_fn)(const pgmld_config_t *cfg, void *data);

#define PGMLD_RELOAD_HOOKS_MAX 8

/* Registers fn(data), and makes the settings named in `settings`
 * ("auth.tokens_file", ...; NULL-terminated, may be NULL; the strings are
 * borrowed and must be static) live while it is registered.  Returns 0, or
 * -ENOSPC when PGMLD_RELOAD_HOOKS_MAX are registered. */
PGMLD_MUST_CHECK int pgmld_reload_add_hook(const char *const *settings,
                                           pgmld_reload_hook_fn fn, void *data);
/* Unregisters the hook registered with fn and data (no-op if none). */
void pgmld_reload_remove_hook(pgmld_reload_hook_fn fn, void *data);

#endif
