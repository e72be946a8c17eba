/* auth.h - who may talk to pgmld: WebSocket bearer tokens (stored as
 * SHA-256 hashes, compared in constant time) and the Unix-socket peer
 * allow-lists (uids and gids checked with SO_PEERCRED).
 *
 * Built at start-up from auth.tokens_file, server.allow_uids and
 * server.allow_gids, and never modified: a reload (SIGHUP) builds a new set
 * and the server swaps it in whole (core/server.c reload_auth()), so a
 * pointer to the old one must not be kept across a reload.  Tokens are
 * never logged: the messages here name the file and line, never a value.
 */
#ifndef PGMLD_AUTH_H
#define PGMLD_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/common.h"
#include "core/config.h"

typedef struct pgmld_auth_s pgmld_auth_t;

/* Longest token accepted, in bytes; longer ones are refused unhashed. */
#define PGMLD_AUTH_TOKEN_MAX 4096u
/* Bytes of a token's hash (SHA-256). */
#define PGMLD_AUTH_HASH_LEN 32u

/* Reads the tokens file (if cfg->auth.tokens_file is set) and parses the
 * allow-lists.  Returns 0 and *out (free with pgmld_auth_free()), or
 * -EINVAL / -ENOENT / another errno / -ENOMEM with one line in err naming
 * the setting, file and line ("auth.tokens_file /etc/pgmld/tokens:3: not
 * sha256: followed by 64 hex digits"), and *out NULL. */
PGMLD_MUST_CHECK int pgmld_auth_new(const pgmld_config_t *cfg, pgmld_auth_t **out,
                                    char *err, size_t errlen);
void pgmld_auth_free(pgmld_auth_t *a);

/* Non-zero when tokens are configured, so WebSocket requests need one. */
int pgmld_auth_tokens_required(const pgmld_auth_t *a);
size_t pgmld_auth_token_count(const pgmld_auth_t *a);

/* Non-zero when `value` (len bytes, not NUL-terminated, e.g. a header or a
 * metadata value) is "Bearer <token>" with a configured token.  Every
 * configured hash is compared, in constant time, whatever matches. */
int pgmld_auth_check_bearer(const pgmld_auth_t *a, const char *value, size_t len);
/* pgmld_auth_check_bearer() that also copies, on a match, the hash of the
 * token into hash_out (caller's PGMLD_AUTH_HASH_LEN bytes; left untouched
 * otherwise), so that the caller can later ask whether that token is still
 * configured.  The hash is not secret (it is what the tokens file holds). */
int pgmld_auth_match_bearer(const pgmld_auth_t *a, const char *value, size_t len,
                            uint8_t hash_out[PGMLD_AUTH_HASH_LEN]);
/* Non-zero when `hash` (PGMLD_AUTH_HASH_LEN bytes) is one of a's tokens. */
int pgmld_auth_has_hash(const pgmld_auth_t *a, const uint8_t hash[PGMLD_AUTH_HASH_LEN]);

/* Non-zero when neither allow-list is set, or uid or gid is listed. */
int pgmld_auth_peer_allowed(const pgmld_auth_t *a, uid_t uid, gid_t gid);
/* Non-zero when an allow-list is set (peers must be checked). */
int pgmld_auth_peer_lists_set(const pgmld_auth_t *a);

#endif
