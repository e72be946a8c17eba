/* config.h - pgmld's settings: one table, four sources, one struct.
 *
 * Every setting is one row of the table in config.c (section, key, type,
 * default, range, help text); `pgmld --help` and docs/configuration.md are
 * generated from it.  The sources, lowest priority first:
 *
 *   1. the built-in default;
 *   2. the config file: `--config PATH`, else /etc/pgmld/pgmld.conf if that
 *      file exists (INI: `[section]` then `key = value`);
 *   3. the environment: PGMLD_<SECTION>_<KEY>, e.g. PGMLD_SERVER_SOCKET_PATH;
 *   4. flags: --<section>-<key> VALUE (or =VALUE), e.g. --server-socket-path.
 *
 * Readers use the struct, one member per section:
 * cfg->server.socket_path, cfg->limits.max_frame_size,
 * cfg->database.pool_size.  Storage by type: string `char *` (owned by the
 * config, never NULL, may be ""), int/mode/duration-ms `uint32_t`
 * (durations in milliseconds), size `uint64_t` (bytes), bool `bool`,
 * log-level `pgmld_log_level_t`.  Every value is within its row's range once
 * pgmld_config_load() succeeded, so readers need not check again.
 *
 * Errors: functions return 0 or a negative errno and write a message that
 * names the setting and where its bad value came from.
 */
#ifndef PGMLD_CONFIG_H
#define PGMLD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/common.h"
#include "core/log.h"

/* The file read when --config is not given, if it exists. */
#define PGMLD_DEFAULT_CONFIG_PATH "/etc/pgmld/pgmld.conf"

typedef struct pgmld_config_s {
  struct {
    char *socket_path;
    uint32_t socket_mode;        /* permission bits, e.g. 0660 */
    uint32_t shutdown_grace_ms;
    char *socket_group;          /* "" means the process's group */
    char *allow_uids;            /* "" means any; else "0,1000,..." */
    char *allow_gids;
  } server;
  struct {
    pgmld_log_level_t level;
  } log;
  struct {
    uint64_t max_frame_size;     /* bytes; at most 1 GiB, so it fits a uint32_t */
    uint32_t max_inflight_per_conn;
    uint64_t max_inflight_bytes;        /* per connection: reading pauses above */
    uint64_t max_server_inflight_bytes; /* all connections: requests refused above */
    uint32_t max_connections;
    uint32_t max_ws_connections; /* 0 means 3/4 of max_connections */
    uint32_t default_timeout_ms; /* never more than max_timeout_ms */
    uint32_t max_timeout_ms;
    uint32_t max_top_k;
    uint32_t max_batch;
    uint32_t idle_timeout_ms;    /* 0 means never */
  } limits;
  struct {
    char *url;                   /* "" means the embedded PostgreSQL */
    uint32_t pool_size;
    uint32_t connect_timeout_ms;
    uint32_t ef_search;
  } database;
  struct {
    char *state_dir;
    char *postgres_bindir;       /* "" means: look for the programs */
    char *user;                  /* only used when pgmld runs as root */
  } embedded;
  struct {
    char *listen;                /* "" means off; "127.0.0.1:7700", "[::1]:7700" */
    char *path;                  /* "/v1" */
    bool allow_insecure_public;
    char *allowed_origins;       /* "" means no browser origin */
  } websocket;
  struct {
    char *cert_file;             /* both set: the WebSocket listener is wss */
    char *key_file;
  } tls;
  struct {
    char *tokens_file;           /* "" means no tokens (no authentication) */
  } auth;
  struct {
    char *listen;                /* health and metrics; "" means off */
    bool allow_public;           /* a non-loopback http.listen */
  } http;
} pgmld_config_t;

typedef enum {
  PGMLD_CFG_STRING,
  PGMLD_CFG_INT,
  PGMLD_CFG_BOOL,
  PGMLD_CFG_MODE,        /* octal permission bits */
  PGMLD_CFG_DURATION_MS, /* 250, 250ms, 30s, 5min, 1h */
  PGMLD_CFG_SIZE,        /* 1048576, 1024k, 16M, 1G (powers of 1024) */
  PGMLD_CFG_LOG_LEVEL,   /* error, warn, info, debug */
} pgmld_config_type_t;

/* One row of the settings table. */
typedef struct pgmld_setting_s {
  const char *section;
  const char *key;
  pgmld_config_type_t type;
  const char *def;       /* the default, written as a user would write it */
  uint64_t min, max;     /* numbers: inclusive range; strings: max (max length, 0 = any) */
  size_t offset;         /* of the value in pgmld_config_t */
  const char *help;
} pgmld_setting_t;

typedef enum {
  PGMLD_CONFIG_RUN,      /* start the daemon */
  PGMLD_CONFIG_HELP,     /* --help was given: print pgmld_config_print_help() */
  PGMLD_CONFIG_VERSION,  /* --version was given */
} pgmld_config_action_t;

/* Fills *cfg from the four sources.  argv is main()'s; envp is a
 * NULL-terminated "NAME=value" list (environ); default_path is the file read
 * when no --config is given and only if it exists (NULL: no such file).
 *
 * On success returns 0, sets *action, and *cfg owns its strings (free with
 * pgmld_config_free(); with HELP or VERSION *cfg holds the defaults).  On
 * failure returns -EINVAL (unknown or bad setting, unknown flag), -ENOENT or
 * another errno (config file unreadable) or -ENOMEM, writes one line saying
 * what and where into err (e.g. "pgmld.conf:12: limits.max_top_k: 0 is out
 * of range (1 to 100000)"), and *cfg holds nothing to free. */
PGMLD_MUST_CHECK int pgmld_config_load(pgmld_config_t *cfg, int argc,
                                       char *const argv[], char *const envp[],
                                       const char *default_path,
                                       pgmld_config_action_t *action,
                                       char *err, size_t errlen);

/* Frees the strings *cfg owns; *cfg may then be loaded again. */
void pgmld_config_free(pgmld_config_t *cfg);

/* The table, for tools and tests; *n gets its length. */
const pgmld_setting_t *pgmld_config_settings(size_t *n);

/* "string", "int", "bool", "mode", "duration-ms", "size", "log-level". */
const char *pgmld_config_type_name(pgmld_config_type_t type);

/* Writes the setting's environment variable name (PGMLD_SERVER_SOCKET_PATH)
 * or flag (--server-socket-path) into buf, truncating to len. */
void pgmld_config_env_name(const pgmld_setting_t *s, char *buf, size_t len);
void pgmld_config_flag_name(const pgmld_setting_t *s, char *buf, size_t len);

/* `pgmld --help`, generated from the table. */
void pgmld_config_print_help(FILE *out, const char *default_path);

/* The settings as a Markdown table, the one docs/configuration.md holds. */
void pgmld_config_print_markdown(FILE *out);

/* Parses `text` as setting `s` into *dst (a value of the type's storage
 * type; a string is replaced, the old one freed).  Returns 0, or -EINVAL
 * with the problem in err ("'12q' is not a size ...") and *dst unchanged, or
 * -ENOMEM.  Exposed for the unit tests. */
PGMLD_MUST_CHECK int pgmld__config_parse_value(const pgmld_setting_t *s,
                                               const char *text, void *dst,
                                               char *err, size_t errlen);

#endif
