/* config.c - the settings table and the four sources that fill it: defaults,
 * the INI file (inih), the environment and the command line. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/alloc.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define HOUR_MS (3600ull * 1000ull)

/* sun_path holds 108 bytes with the terminating NUL. */
#define SOCKET_PATH_MAX 107

#define OFF(field) offsetof(pgmld_config_t, field)

/* THE table.  Keep docs/configuration.md in sync: the test
 * config_doc_in_sync compares it with pgmld_config_print_markdown(). */
static const pgmld_setting_t settings[] = {
  {"server", "socket_path", PGMLD_CFG_STRING, "/run/pgmld/pgmld.sock",
   0, SOCKET_PATH_MAX, OFF(server.socket_path),
   "The Unix socket clients connect to.  A stale socket file left by a "
   "crashed pgmld is replaced; a live one makes start-up fail."},
  {"server", "socket_mode", PGMLD_CFG_MODE, "0660", 0, 0777,
   OFF(server.socket_mode),
   "Permission bits of the socket file (octal): who may connect."},
  {"server", "shutdown_grace_ms", PGMLD_CFG_DURATION_MS, "10000", 0, HOUR_MS,
   OFF(server.shutdown_grace_ms),
   "On SIGTERM or SIGINT, how long calls in flight may take to finish "
   "before they are answered UNAVAILABLE and the connections closed."},
  {"server", "socket_group", PGMLD_CFG_STRING, "", 0, 64,
   OFF(server.socket_group),
   "Group (name or number) the socket file is given, so that its members "
   "may connect with server.socket_mode 0660.  Empty: the process's group."},
  {"server", "allow_uids", PGMLD_CFG_STRING, "", 0, 4096,
   OFF(server.allow_uids),
   "Comma-separated user ids allowed on the Unix socket (checked with "
   "SO_PEERCRED at accept; a peer not allowed gets PERMISSION_DENIED).  "
   "Empty, with server.allow_gids empty too: anyone who can open the socket."},
  {"server", "allow_gids", PGMLD_CFG_STRING, "", 0, 4096,
   OFF(server.allow_gids),
   "Comma-separated group ids allowed on the Unix socket (the peer's primary "
   "group).  A peer is allowed if its uid or its gid is listed."},
  {"log", "level", PGMLD_CFG_LOG_LEVEL, "info", 0, 0, OFF(log.level),
   "Least severe messages logged: error, warn, info or debug."},
  {"limits", "max_frame_size", PGMLD_CFG_SIZE, "16777216", 1 * KIB, 1 * GIB,
   OFF(limits.max_frame_size),
   "Largest frame, in bytes, accepted from a client or sent to one.  A "
   "larger incoming frame closes the connection."},
  {"limits", "max_inflight_per_conn", PGMLD_CFG_INT, "4096", 1, 1000000,
   OFF(limits.max_inflight_per_conn),
   "Requests one connection may have unanswered at once; more are refused "
   "with RESOURCE_EXHAUSTED."},
  {"limits", "max_inflight_bytes", PGMLD_CFG_SIZE, "67108864", 1 * KIB, 64 * GIB,
   OFF(limits.max_inflight_bytes),
   "Request bytes one connection's unfinished calls may hold; above it pgmld "
   "stops reading that connection until calls end."},
  {"limits", "max_server_inflight_bytes", PGMLD_CFG_SIZE, "536870912", 1 * KIB,
   1024 * GIB, OFF(limits.max_server_inflight_bytes),
   "Request bytes the unfinished calls of all connections, and the WebSocket "
   "messages being reassembled for authenticated clients, may hold; a request "
   "that would go over it is refused with RESOURCE_EXHAUSTED."},
  {"limits", "max_connections", PGMLD_CFG_INT, "1024", 1, 1000000,
   OFF(limits.max_connections),
   "Client connections open at once; a connection over the limit is told "
   "RESOURCE_EXHAUSTED and closed."},
  {"limits", "max_ws_connections", PGMLD_CFG_INT, "0", 0, 1000000,
   OFF(limits.max_ws_connections),
   "WebSocket connections open at once, within limits.max_connections, so "
   "that WebSocket clients cannot take the slots the Unix socket needs; one "
   "over it is told RESOURCE_EXHAUSTED and closed.  0: three quarters of "
   "limits.max_connections (at least 1)."},
  {"limits", "default_timeout_ms", PGMLD_CFG_DURATION_MS, "30000", 1,
   24 * HOUR_MS, OFF(limits.default_timeout_ms),
   "Deadline of a request whose timeout_ms is 0.  At most "
   "limits.max_timeout_ms."},
  {"limits", "max_timeout_ms", PGMLD_CFG_DURATION_MS, "300000", 1,
   24 * HOUR_MS, OFF(limits.max_timeout_ms),
   "Longest deadline a request may ask for; a larger timeout_ms is lowered "
   "to this."},
  {"limits", "max_top_k", PGMLD_CFG_INT, "1000", 1, 100000,
   OFF(limits.max_top_k), "Most results one search may ask for (top_k)."},
  {"limits", "max_batch", PGMLD_CFG_INT, "10000", 1, 1000000,
   OFF(limits.max_batch),
   "Most documents one upsert, get or delete may carry or return."},
  {"limits", "idle_timeout_ms", PGMLD_CFG_DURATION_MS, "0", 0, 24 * HOUR_MS,
   OFF(limits.idle_timeout_ms),
   "A connection with no request in flight that sends nothing for this long "
   "is told UNAVAILABLE on id 0 and closed.  0: never."},
  {"database", "url", PGMLD_CFG_STRING, "", 0, 0, OFF(database.url),
   "libpq connection URI or key=value string of the PostgreSQL to use.  "
   "Empty: pgmld starts and supervises its own (see [embedded])."},
  /* 1024: PGMLD_POOL_SIZE_MAX in db/pool.h. */
  {"database", "pool_size", PGMLD_CFG_INT, "8", 1, 1024,
   OFF(database.pool_size), "PostgreSQL connections pgmld keeps open."},
  {"database", "connect_timeout_ms", PGMLD_CFG_DURATION_MS, "5000", 1,
   HOUR_MS, OFF(database.connect_timeout_ms),
   "How long connecting to PostgreSQL may take."},
  {"database", "ef_search", PGMLD_CFG_INT, "40", 1, 1000,
   OFF(database.ef_search),
   "pgvector's hnsw.ef_search for searches that do not give their own."},
  {"embedded", "state_dir", PGMLD_CFG_STRING, "/var/lib/pgmld", 0, 0,
   OFF(embedded.state_dir),
   "Where the embedded PostgreSQL keeps its data directory and socket."},
  {"embedded", "postgres_bindir", PGMLD_CFG_STRING, "", 0, 0,
   OFF(embedded.postgres_bindir),
   "Directory holding initdb and postgres.  Empty: pgmld looks for them."},
  {"embedded", "user", PGMLD_CFG_STRING, "pgmld", 0, 0, OFF(embedded.user),
   "System user the embedded PostgreSQL runs as when pgmld runs as root "
   "(PostgreSQL refuses to run as root)."},
  {"websocket", "listen", PGMLD_CFG_STRING, "", 0, 128, OFF(websocket.listen),
   "Address and port of the WebSocket listener: 127.0.0.1:7700, "
   "[::1]:7700, 0.0.0.0:7700.  Empty: no WebSocket listener."},
  {"websocket", "path", PGMLD_CFG_STRING, "/v1", 0, 128, OFF(websocket.path),
   "URL path WebSocket clients connect to (ws://host:port/v1)."},
  {"websocket", "allow_insecure_public", PGMLD_CFG_BOOL, "false", 0, 1,
   OFF(websocket.allow_insecure_public),
   "Allow websocket.listen on a non-loopback address without "
   "auth.tokens_file, or with tokens but without TLS (the tokens would "
   "cross the network in clear text).  Otherwise pgmld refuses to start."},
  {"websocket", "allowed_origins", PGMLD_CFG_STRING, "", 0, 0,
   OFF(websocket.allowed_origins),
   "Comma-separated browser origins allowed to open a WebSocket "
   "(http://127.0.0.1:8080,https://app.example.com).  An upgrade whose "
   "Origin header is not listed is refused; clients that send no Origin "
   "(every non-browser client) are not affected.  Empty: every browser is "
   "refused."},
  {"tls", "cert_file", PGMLD_CFG_STRING, "", 0, 0, OFF(tls.cert_file),
   "PEM certificate (chain) of the WebSocket listener.  With tls.key_file "
   "set too, the listener speaks only TLS (wss://)."},
  {"tls", "key_file", PGMLD_CFG_STRING, "", 0, 0, OFF(tls.key_file),
   "PEM private key for tls.cert_file."},
  {"auth", "tokens_file", PGMLD_CFG_STRING, "", 0, 0, OFF(auth.tokens_file),
   "File of accepted WebSocket bearer tokens, one per line as sha256: and "
   "the 64 hex digits of the token's SHA-256 (# comments).  Empty: "
   "WebSocket clients need no token."},
  {"http", "listen", PGMLD_CFG_STRING, "", 0, 128, OFF(http.listen),
   "Address and port serving GET /healthz, /readyz and /metrics "
   "(Prometheus): 127.0.0.1:9187.  Empty: off."},
  {"http", "allow_public", PGMLD_CFG_BOOL, "false", 0, 1, OFF(http.allow_public),
   "Allow http.listen on a non-loopback address.  The endpoints have no "
   "authentication, so otherwise pgmld refuses to start."},
};

#define N_SETTINGS PGMLD_ARRAY_LEN(settings)

/* Where a value came from, for error messages. */
typedef struct load_s {
  pgmld_config_t *cfg;
  char *err;
  size_t errlen;
  int failed;                      /* first error wins */
  const char *file;                /* while reading the config file */
  int line;
  int line_too_long;
  FILE *fp;
  char sources[N_SETTINGS][96];    /* "default", "flag --x", ... */
} load_t;

const pgmld_setting_t *pgmld_config_settings(size_t *n)
{
  *n = N_SETTINGS;
  return settings;
}

const char *pgmld_config_type_name(pgmld_config_type_t type)
{
  switch (type) {
  case PGMLD_CFG_STRING: return "string";
  case PGMLD_CFG_INT: return "int";
  case PGMLD_CFG_BOOL: return "bool";
  case PGMLD_CFG_MODE: return "mode";
  case PGMLD_CFG_DURATION_MS: return "duration-ms";
  case PGMLD_CFG_SIZE: return "size";
  case PGMLD_CFG_LOG_LEVEL: return "log-level";
  }
  return "?";
}

static const char *type_metavar(pgmld_config_type_t type)
{
  switch (type) {
  case PGMLD_CFG_STRING: return "STRING";
  case PGMLD_CFG_INT: return "INT";
  case PGMLD_CFG_BOOL: return "BOOL";
  case PGMLD_CFG_MODE: return "MODE";
  case PGMLD_CFG_DURATION_MS: return "DURATION";
  case PGMLD_CFG_SIZE: return "SIZE";
  case PGMLD_CFG_LOG_LEVEL: return "LEVEL";
  }
  return "VALUE";
}

void pgmld_config_env_name(const pgmld_setting_t *s, char *buf, size_t len)
{
  size_t i;

  snprintf(buf, len, "PGMLD_%s_%s", s->section, s->key);
  for (i = 0; buf[i] != '\0'; i++)
    buf[i] = (char)toupper((unsigned char)buf[i]);
}

void pgmld_config_flag_name(const pgmld_setting_t *s, char *buf, size_t len)
{
  size_t i;

  snprintf(buf, len, "--%s-%s", s->section, s->key);
  for (i = 0; buf[i] != '\0'; i++)
    if (buf[i] == '_')
      buf[i] = '-';
}

static void *field_of(pgmld_config_t *cfg, const pgmld_setting_t *s)
{
  return (char *)cfg + s->offset;
}

/* ------------------------------------------------------------ value parsing */

/* Parses decimal digits (no sign, no spaces) into *out; *end gets the first
 * byte after them.  Returns 0, -EINVAL (no digits) or -ERANGE. */
static int parse_digits(const char *text, uint64_t *out, const char **end)
{
  uint64_t v = 0;
  const char *p = text;

  if (!isdigit((unsigned char)*p))
    return -EINVAL;
  for (; isdigit((unsigned char)*p); p++) {
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -ERANGE;
    v = v * 10 + d;
  }
  *out = v;
  *end = p;
  return 0;
}

typedef struct unit_s {
  const char *suffix;
  uint64_t scale;
} unit_t;

static const unit_t size_units[] = {
  {"", 1}, {"b", 1},
  {"k", KIB}, {"kb", KIB}, {"kib", KIB},
  {"m", MIB}, {"mb", MIB}, {"mib", MIB},
  {"g", GIB}, {"gb", GIB}, {"gib", GIB},
};

static const unit_t duration_units[] = {
  {"", 1}, {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", HOUR_MS},
};

/* A number with an optional unit suffix from `units`. */
static int parse_scaled(const char *text, const unit_t *units, size_t n_units,
                        uint64_t *out)
{
  const char *end;
  uint64_t v;
  size_t i;
  int rc = parse_digits(text, &v, &end);

  if (rc < 0)
    return rc;
  for (i = 0; i < n_units; i++) {
    if (strcasecmp(end, units[i].suffix) == 0) {
      if (units[i].scale > 1 && v > UINT64_MAX / units[i].scale)
        return -ERANGE;
      *out = v * units[i].scale;
      return 0;
    }
  }
  return -EINVAL;
}

static int parse_bool(const char *text, bool *out)
{
  static const char *const yes[] = {"true", "yes", "on", "1"};
  static const char *const no[] = {"false", "no", "off", "0"};
  size_t i;

  for (i = 0; i < PGMLD_ARRAY_LEN(yes); i++) {
    if (strcasecmp(text, yes[i]) == 0) {
      *out = true;
      return 0;
    }
    if (strcasecmp(text, no[i]) == 0) {
      *out = false;
      return 0;
    }
  }
  return -EINVAL;
}

static int parse_mode(const char *text, uint64_t *out)
{
  uint64_t v = 0;
  const char *p = text;

  if (*p == '\0' || strlen(p) > 5)
    return -EINVAL;
  for (; *p != '\0'; p++) {
    if (*p < '0' || *p > '7')
      return -EINVAL;
    v = v * 8 + (uint64_t)(*p - '0');
  }
  *out = v;
  return 0;
}

static PGMLD_PRINTF(3, 4) int problem(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -EINVAL;
}

/* Writes `v` as the setting's type shows it (modes in octal). */
static void format_number(const pgmld_setting_t *s, uint64_t v, char *buf, size_t len)
{
  if (s->type == PGMLD_CFG_MODE)
    snprintf(buf, len, "0%llo", (unsigned long long)v);
  else
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

int pgmld__config_parse_value(const pgmld_setting_t *s, const char *text,
                              void *dst, char *err, size_t errlen)
{
  uint64_t v = 0;
  int rc = 0;

  switch (s->type) {
  case PGMLD_CFG_STRING: {
    char *copy;
    if (s->max > 0 && strlen(text) > s->max)
      return problem(err, errlen, "%zu bytes is too long (at most %llu)",
                     strlen(text), (unsigned long long)s->max);
    copy = pgmld_strdup(text);
    if (copy == NULL) {
      problem(err, errlen, "out of memory");
      return -ENOMEM;
    }
    pgmld_free(*(char **)dst);
    *(char **)dst = copy;
    return 0;
  }
  case PGMLD_CFG_BOOL:
    if (parse_bool(text, (bool *)dst) < 0)
      return problem(err, errlen, "'%s' is not a boolean (true/false, yes/no, "
                     "on/off, 1/0)", text);
    return 0;
  case PGMLD_CFG_LOG_LEVEL:
    if (pgmld_log_parse_level(text, (pgmld_log_level_t *)dst) < 0)
      return problem(err, errlen, "'%s' is not a log level (error, warn, "
                     "info, debug)", text);
    return 0;
  case PGMLD_CFG_INT:
    rc = parse_scaled(text, size_units, 1, &v);
    if (rc == -EINVAL)
      return problem(err, errlen, "'%s' is not a whole number", text);
    break;
  case PGMLD_CFG_MODE:
    rc = parse_mode(text, &v);
    if (rc < 0)
      return problem(err, errlen, "'%s' is not an octal file mode (e.g. 0660)",
                     text);
    break;
  case PGMLD_CFG_DURATION_MS:
    rc = parse_scaled(text, duration_units, PGMLD_ARRAY_LEN(duration_units), &v);
    if (rc == -EINVAL)
      return problem(err, errlen, "'%s' is not a duration (milliseconds, or a "
                     "number with ms, s, min or h)", text);
    break;
  case PGMLD_CFG_SIZE:
    rc = parse_scaled(text, size_units, PGMLD_ARRAY_LEN(size_units), &v);
    if (rc == -EINVAL)
      return problem(err, errlen, "'%s' is not a size (bytes, or a number with "
                     "k, M or G)", text);
    break;
  }

  if (rc == -ERANGE || v < s->min || v > s->max) {
    char lo[32], hi[32];
    format_number(s, s->min, lo, sizeof(lo));
    format_number(s, s->max, hi, sizeof(hi));
    return problem(err, errlen, "%s is out of range (%s to %s)", text, lo, hi);
  }
  if (s->type == PGMLD_CFG_SIZE)
    *(uint64_t *)dst = v;
  else
    *(uint32_t *)dst = (uint32_t)v;
  return 0;
}

/* ------------------------------------------------------------ sources */

static PGMLD_PRINTF(2, 3) void fail(load_t *L, const char *fmt, ...)
{
  va_list ap;

  if (L->failed)
    return;
  L->failed = 1;
  va_start(ap, fmt);
  vsnprintf(L->err, L->errlen, fmt, ap);
  va_end(ap);
}

/* Sets one value from a source; `source` describes it ("flag --x").
 * Returns 0 or the parse error (recorded in L). */
static int apply(load_t *L, const pgmld_setting_t *s, const char *text,
                 const char *source)
{
  char why[256];
  int rc = pgmld__config_parse_value(s, text, field_of(L->cfg, s), why, sizeof(why));

  if (rc < 0) {
    fail(L, "%s: %s.%s: %s", source, s->section, s->key, why);
    return rc;
  }
  snprintf(L->sources[s - settings], sizeof(L->sources[0]), "%s", source);
  return 0;
}

static const pgmld_setting_t *find_setting(const char *section, const char *key)
{
  size_t i;

  for (i = 0; i < N_SETTINGS; i++)
    if (strcmp(settings[i].section, section) == 0 &&
        strcmp(settings[i].key, key) == 0)
      return &settings[i];
  return NULL;
}

/* Whether the first len bytes of `section` name a section of the table;
 * environment variables spell it in capitals, the file in lower case. */
static int known_section(const char *section, size_t len, int any_case)
{
  size_t i;

  for (i = 0; i < N_SETTINGS; i++) {
    if (strlen(settings[i].section) != len)
      continue;
    if (any_case ? strncasecmp(settings[i].section, section, len) == 0
                 : strncmp(settings[i].section, section, len) == 0)
      return 1;
  }
  return 0;
}

/* inih calls the reader once per line, so counting calls gives the line
 * number of the pair the handler is about to see. */
static char *ini_reader_fn(char *str, int num, void *stream)
{
  load_t *L = stream;
  size_t len;

  if (L->line_too_long || fgets(str, num, L->fp) == NULL)
    return NULL;
  L->line++;
  len = strlen(str);
  if (len == (size_t)num - 1 && str[len - 1] != '\n' && !feof(L->fp)) {
    L->line_too_long = 1;
    fail(L, "%s:%d: line is longer than %d bytes", L->file, L->line, num - 2);
    return NULL;
  }
  return str;
}

static int ini_handler_fn(void *user, const char *section, const char *name,
                          const char *value)
{
  load_t *L = user;
  const pgmld_setting_t *s;
  char source[64 + 32];

  if (L->failed)
    return 0;
  snprintf(source, sizeof(source), "%.64s:%d", L->file, L->line);
  if (section[0] == '\0') {
    fail(L, "%s: %s = ... is outside any [section]", source, name);
    return 0;
  }
  if (!known_section(section, strlen(section), 0)) {
    fail(L, "%s: unknown section [%s]", source, section);
    return 0;
  }
  s = find_setting(section, name);
  if (s == NULL) {
    fail(L, "%s: unknown setting '%s' in [%s]", source, name, section);
    return 0;
  }
  return apply(L, s, value, source) == 0;
}

/* Reads the config file.  `required`: it was named with --config, so its
 * absence is an error; otherwise a missing file is skipped. */
static int load_file(load_t *L, const char *path, int required)
{
  int rc;

  L->fp = fopen(path, "r");
  if (L->fp == NULL) {
    rc = -errno;
    if (rc == -ENOENT && !required)
      return 0;
    fail(L, "cannot read config file %s: %s", path, strerror(-rc));
    return rc;
  }
  L->file = path;
  L->line = 0;
  rc = ini_parse_stream(ini_reader_fn, L, ini_handler_fn, L);
  if (rc > 0 && !L->failed)
    fail(L, "%s:%d: syntax error (expected [section] or key = value)", path, rc);
  else if (rc < 0 && !L->failed)
    fail(L, "cannot parse config file %s (inih error %d)", path, rc);
  fclose(L->fp);
  L->fp = NULL;
  return L->failed ? -EINVAL : 0;
}

static int load_env(load_t *L, char *const envp[])
{
  char name[128];
  size_t i, j;

  if (envp == NULL)
    return 0;
  for (i = 0; envp[i] != NULL; i++) {
    const char *e = envp[i];
    const char *eq = strchr(e, '=');
    const char *rest;
    int matched = 0;

    if (strncmp(e, "PGMLD_", 6) != 0 || eq == NULL)
      continue;
    for (j = 0; j < N_SETTINGS; j++) {
      pgmld_config_env_name(&settings[j], name, sizeof(name));
      if (strlen(name) == (size_t)(eq - e) && strncmp(e, name, (size_t)(eq - e)) == 0) {
        char source[160];
        snprintf(source, sizeof(source), "environment variable %s", name);
        if (apply(L, &settings[j], eq + 1, source) < 0)
          return -EINVAL;
        matched = 1;
        break;
      }
    }
    if (matched)
      continue;
    /* PGMLD_<SECTION>_... with a known section is a misspelt setting; any
     * other PGMLD_ variable (PGMLD_BIN, PGMLD_TEST_...) is not ours. */
    rest = e + 6;
    for (j = 0; rest + j < eq && rest[j] != '_'; j++)
      ;
    if (rest + j < eq && known_section(rest, j, 1)) {
      fail(L, "environment variable %.*s: no such setting (see pgmld --help)",
           (int)(eq - e), e);
      return -EINVAL;
    }
  }
  return 0;
}

/* Finds the setting for a flag name such as "--server-socket-path". */
static const pgmld_setting_t *find_flag(const char *flag, size_t len)
{
  char name[128];
  size_t i;

  for (i = 0; i < N_SETTINGS; i++) {
    pgmld_config_flag_name(&settings[i], name, sizeof(name));
    if (strlen(name) == len && strncmp(flag, name, len) == 0)
      return &settings[i];
  }
  return NULL;
}

/* One command-line argument, split. */
typedef struct flag_s {
  const char *name;      /* "--server-socket-path" */
  size_t name_len;
  const char *value;     /* NULL for switches */
  const pgmld_setting_t *setting;
} flag_t;

/* Walks argv.  With apply_settings == 0 it only checks the syntax and finds
 * --config, --help and --version; with 1 it applies the settings. */
static int scan_args(load_t *L, int argc, char *const argv[], int apply_settings,
                     const char **config_path, pgmld_config_action_t *action)
{
  int i;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *eq;
    flag_t f = {0};

    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      *action = PGMLD_CONFIG_HELP;
      continue;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
      if (*action != PGMLD_CONFIG_HELP)
        *action = PGMLD_CONFIG_VERSION;
      continue;
    }
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
      fail(L, "unexpected argument '%s' (settings are given as "
           "--<section>-<key> VALUE; see pgmld --help)", a);
      return -EINVAL;
    }
    eq = strchr(a, '=');
    f.name = a;
    f.name_len = eq ? (size_t)(eq - a) : strlen(a);
    /* The name is checked before the value so that a mistyped flag at the
     * end of the line is reported as unknown, not as lacking a value. */
    f.setting = find_flag(f.name, f.name_len);
    if (f.setting == NULL && !(f.name_len == 8 && strncmp(a, "--config", 8) == 0)) {
      fail(L, "unknown flag %.*s (see pgmld --help)", (int)f.name_len, f.name);
      return -EINVAL;
    }
    if (eq != NULL) {
      f.value = eq + 1;
    } else if (i + 1 < argc) {
      f.value = argv[++i];
    } else {
      fail(L, "flag %s needs a value", a);
      return -EINVAL;
    }
    if (f.setting == NULL) {
      *config_path = f.value;
      continue;
    }
    if (apply_settings) {
      char source[160];
      snprintf(source, sizeof(source), "flag %.*s", (int)f.name_len, f.name);
      if (apply(L, f.setting, f.value, source) < 0)
        return -EINVAL;
    }
  }
  return 0;
}

/* Checks between settings, once every source is applied. */
static int check_consistency(load_t *L)
{
  const pgmld_config_t *c = L->cfg;

  if (c->limits.default_timeout_ms > c->limits.max_timeout_ms) {
    const pgmld_setting_t *d = find_setting("limits", "default_timeout_ms");
    const pgmld_setting_t *m = find_setting("limits", "max_timeout_ms");
    fail(L, "limits.default_timeout_ms (%u, from %s) is more than "
         "limits.max_timeout_ms (%u, from %s)",
         c->limits.default_timeout_ms, L->sources[d - settings],
         c->limits.max_timeout_ms, L->sources[m - settings]);
    return -EINVAL;
  }
  if (c->server.socket_path[0] == '\0') {
    fail(L, "server.socket_path is empty (from %s)",
         L->sources[find_setting("server", "socket_path") - settings]);
    return -EINVAL;
  }
  return 0;
}

void pgmld_config_free(pgmld_config_t *cfg)
{
  size_t i;

  for (i = 0; i < N_SETTINGS; i++) {
    if (settings[i].type == PGMLD_CFG_STRING) {
      char **p = field_of(cfg, &settings[i]);
      pgmld_free(*p);
      *p = NULL;
    }
  }
}

int pgmld_config_load(pgmld_config_t *cfg, int argc, char *const argv[],
                      char *const envp[], const char *default_path,
                      pgmld_config_action_t *action, char *err, size_t errlen)
{
  load_t *L;
  const char *config_path = NULL;
  size_t i;
  int rc;

  /* load_t carries the per-setting sources; too big for a daemon's stack
   * habits, so it lives on the heap for the few microseconds it is used. */
  L = pgmld_calloc(1, sizeof(*L));
  if (L == NULL) {
    snprintf(err, errlen, "out of memory reading the configuration");
    return -ENOMEM;
  }
  memset(cfg, 0, sizeof(*cfg));
  L->cfg = cfg;
  L->err = err;
  L->errlen = errlen;
  *action = PGMLD_CONFIG_RUN;

  for (i = 0; i < N_SETTINGS; i++) {
    rc = apply(L, &settings[i], settings[i].def, "default");
    if (rc < 0)
      goto out;
  }

  /* Flags are read twice: first for --config and the switches, so that the
   * file comes before the environment and the flags override both. */
  rc = scan_args(L, argc, argv, 0, &config_path, action);
  if (rc < 0 || *action != PGMLD_CONFIG_RUN)
    goto out;
  if (config_path != NULL)
    rc = load_file(L, config_path, 1);
  else if (default_path != NULL)
    rc = load_file(L, default_path, 0);
  if (rc < 0)
    goto out;
  rc = load_env(L, envp);
  if (rc < 0)
    goto out;
  rc = scan_args(L, argc, argv, 1, &config_path, action);
  if (rc < 0)
    goto out;
  rc = check_consistency(L);

out:
  if (rc < 0)
    pgmld_config_free(cfg);
  pgmld_free(L);
  return rc;
}

/* ------------------------------------------------------------ help */

static void print_wrapped(FILE *out, const char *indent, const char *text, size_t width)
{
  const char *p = text;

  while (*p != '\0') {
    size_t len = strlen(p);
    size_t cut = len;
    if (len > width) {
      cut = width;
      while (cut > 0 && p[cut] != ' ')
        cut--;
      if (cut == 0)
        cut = width;
    }
    fprintf(out, "%s%.*s\n", indent, (int)cut, p);
    p += cut;
    while (*p == ' ')
      p++;
  }
}

void pgmld_config_print_help(FILE *out, const char *default_path)
{
  const char *section = "";
  char env[128], flag[128];
  size_t i;

  fprintf(out,
          "Usage: pgmld [--config PATH] [--<section>-<key> VALUE]...\n"
          "\n"
          "pgmld serves the pgml.v1.Database API on a Unix socket, backed by\n"
          "PostgreSQL with pgvector.\n"
          "\n"
          "Each setting comes from, in increasing priority: its default, the\n"
          "config file (--config PATH, else %s if it exists;\n"
          "INI: [section] then key = value), the environment variable\n"
          "PGMLD_<SECTION>_<KEY>, and the flag --<section>-<key> VALUE.\n"
          "\n"
          "Options:\n"
          "  --config PATH   read settings from this INI file\n"
          "  -h, --help      print this help and exit\n"
          "  -V, --version   print the version and exit\n"
          "\n"
          "Values: durations are milliseconds or take ms, s, min, h (30s);\n"
          "sizes are bytes or take k, M, G (16M, powers of 1024); modes are octal.\n"
          "Exit status: 0 clean shutdown, 1 runtime failure, 2 configuration error.\n",
          default_path ? default_path : PGMLD_DEFAULT_CONFIG_PATH);
  for (i = 0; i < N_SETTINGS; i++) {
    const pgmld_setting_t *s = &settings[i];
    if (strcmp(section, s->section) != 0) {
      section = s->section;
      fprintf(out, "\n[%s]\n", section);
    }
    pgmld_config_env_name(s, env, sizeof(env));
    pgmld_config_flag_name(s, flag, sizeof(flag));
    fprintf(out, "  %s %s\n", flag, type_metavar(s->type));
    fprintf(out, "      %s = %s%s%s   (env %s)\n", s->key,
            s->def[0] ? "" : "\"", s->def, s->def[0] ? "" : "\"", env);
    print_wrapped(out, "      ", s->help, 70);
  }
}

void pgmld_config_print_markdown(FILE *out)
{
  char env[128], flag[128], lo[32], hi[32];
  size_t i;

  fprintf(out, "| setting | type | default | range | environment | flag | meaning |\n"
               "| --- | --- | --- | --- | --- | --- | --- |\n");
  for (i = 0; i < N_SETTINGS; i++) {
    const pgmld_setting_t *s = &settings[i];
    pgmld_config_env_name(s, env, sizeof(env));
    pgmld_config_flag_name(s, flag, sizeof(flag));
    fprintf(out, "| `%s.%s` | %s | `%s` | ", s->section, s->key,
            pgmld_config_type_name(s->type), s->def[0] ? s->def : "\"\"");
    switch (s->type) {
    case PGMLD_CFG_STRING:
      if (s->max > 0)
        fprintf(out, "at most %llu bytes", (unsigned long long)s->max);
      break;
    case PGMLD_CFG_INT:
    case PGMLD_CFG_MODE:
    case PGMLD_CFG_DURATION_MS:
    case PGMLD_CFG_SIZE:
      format_number(s, s->min, lo, sizeof(lo));
      format_number(s, s->max, hi, sizeof(hi));
      fprintf(out, "%s to %s", lo, hi);
      break;
    case PGMLD_CFG_BOOL:
      fprintf(out, "true / false");
      break;
    case PGMLD_CFG_LOG_LEVEL:
      fprintf(out, "error, warn, info, debug");
      break;
    }
    fprintf(out, " | `%s` | `%s` | %s |\n", env, flag, s->help);
  }
}
