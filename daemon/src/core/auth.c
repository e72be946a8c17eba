/* auth.c - bearer-token hashes from auth.tokens_file, their constant-time
 * check, and the Unix-socket uid/gid allow-lists. */
#include "core/auth.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

#define HASH_LEN PGMLD_AUTH_HASH_LEN
#define PREFIX "sha256:"

struct pgmld_auth_s {
  uint8_t (*hashes)[HASH_LEN];      /* owned */
  size_t n_hashes;
  uint32_t *uids, *gids;            /* owned */
  size_t n_uids, n_gids;
};

static int hexval(int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Parses "sha256:<64 hex>" (already trimmed) into out.  Returns 0 or -EINVAL. */
static int parse_hash(const char *s, size_t len, uint8_t out[HASH_LEN])
{
  size_t i, plen = strlen(PREFIX);

  if (len != plen + 2 * HASH_LEN || strncmp(s, PREFIX, plen) != 0)
    return -EINVAL;
  s += plen;
  for (i = 0; i < HASH_LEN; i++) {
    int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return -EINVAL;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

static int load_tokens(pgmld_auth_t *a, const char *path, char *err, size_t errlen)
{
  char line[512];
  size_t cap = 0;
  int lineno = 0, rc = 0;
  FILE *fp = fopen(path, "re");

  if (fp == NULL) {
    rc = -errno;
    snprintf(err, errlen, "auth.tokens_file %s: %s", path, strerror(-rc));
    return rc;
  }
  while (fgets(line, sizeof(line), fp) != NULL) {
    size_t len = strlen(line);
    char *p = line;

    lineno++;
    if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
      snprintf(err, errlen, "auth.tokens_file %s:%d: line too long", path, lineno);
      rc = -EINVAL;
      break;
    }
    while (len > 0 && isspace((unsigned char)line[len - 1]))
      line[--len] = '\0';
    while (isspace((unsigned char)*p))
      p++, len--;
    if (len == 0 || *p == '#')
      continue;
    if (a->n_hashes == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      uint8_t (*h)[HASH_LEN] = pgmld_realloc(a->hashes, ncap * HASH_LEN);
      if (h == NULL) {
        snprintf(err, errlen, "auth.tokens_file %s: out of memory", path);
        rc = -ENOMEM;
        break;
      }
      a->hashes = h;
      cap = ncap;
    }
    if (parse_hash(p, len, a->hashes[a->n_hashes]) < 0) {
      /* The line is not echoed: it might be a token pasted by mistake. */
      snprintf(err, errlen, "auth.tokens_file %s:%d: expected sha256: followed by "
               "64 hex digits (the SHA-256 of a token, never the token itself)",
               path, lineno);
      rc = -EINVAL;
      break;
    }
    a->n_hashes++;
  }
  if (rc == 0 && ferror(fp)) {
    snprintf(err, errlen, "auth.tokens_file %s: read error", path);
    rc = -EIO;
  }
  fclose(fp);
  if (rc == 0 && a->n_hashes == 0) {
    snprintf(err, errlen, "auth.tokens_file %s holds no token hashes; add one "
             "(sha256:...) or leave the setting empty", path);
    rc = -EINVAL;
  }
  return rc;
}

/* Parses "0, 1000,33" into an owned array. */
static int parse_ids(const char *setting, const char *text, uint32_t **out, size_t *n,
                     char *err, size_t errlen)
{
  const char *p = text;
  size_t cap = 0;

  *out = NULL;
  *n = 0;
  while (*p != '\0') {
    char *end;
    unsigned long v;

    while (isspace((unsigned char)*p) || *p == ',')
      p++;
    if (*p == '\0')
      break;
    errno = 0;
    v = isdigit((unsigned char)*p) ? strtoul(p, &end, 10) : 0;
    if (!isdigit((unsigned char)*p) || errno != 0 || v > UINT32_MAX - 1 ||
        (*end != '\0' && *end != ',' && !isspace((unsigned char)*end))) {
      snprintf(err, errlen, "%s: '%s' is not a comma-separated list of numeric ids",
               setting, text);
      pgmld_free(*out);
      *out = NULL;
      *n = 0;
      return -EINVAL;
    }
    if (*n == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      uint32_t *ids = pgmld_realloc(*out, ncap * sizeof(*ids));
      if (ids == NULL) {
        snprintf(err, errlen, "%s: out of memory", setting);
        pgmld_free(*out);
        *out = NULL;
        *n = 0;
        return -ENOMEM;
      }
      *out = ids;
      cap = ncap;
    }
    (*out)[(*n)++] = (uint32_t)v;
    p = end;
  }
  return 0;
}

int pgmld_auth_new(const pgmld_config_t *cfg, pgmld_auth_t **out, char *err, size_t errlen)
{
  pgmld_auth_t *a;
  int rc;

  *out = NULL;
  a = pgmld_calloc(1, sizeof(*a));
  if (a == NULL) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  if ((rc = parse_ids("server.allow_uids", cfg->server.allow_uids, &a->uids, &a->n_uids,
                      err, errlen)) < 0 ||
      (rc = parse_ids("server.allow_gids", cfg->server.allow_gids, &a->gids, &a->n_gids,
                      err, errlen)) < 0 ||
      (cfg->auth.tokens_file[0] != '\0' &&
       (rc = load_tokens(a, cfg->auth.tokens_file, err, errlen)) < 0)) {
    pgmld_auth_free(a);
    return rc;
  }
  *out = a;
  return 0;
}

void pgmld_auth_free(pgmld_auth_t *a)
{
  if (a == NULL)
    return;
  if (a->hashes != NULL)
    OPENSSL_cleanse(a->hashes, a->n_hashes * HASH_LEN);
  pgmld_free(a->hashes);
  pgmld_free(a->uids);
  pgmld_free(a->gids);
  pgmld_free(a);
}

int pgmld_auth_tokens_required(const pgmld_auth_t *a)
{
  return a != NULL && a->n_hashes > 0;
}

size_t pgmld_auth_token_count(const pgmld_auth_t *a)
{
  return a != NULL ? a->n_hashes : 0;
}

int pgmld_auth_check_bearer(const pgmld_auth_t *a, const char *value, size_t len)
{
  return pgmld_auth_match_bearer(a, value, len, NULL);
}

int pgmld_auth_has_hash(const pgmld_auth_t *a, const uint8_t hash[PGMLD_AUTH_HASH_LEN])
{
  size_t i;
  int match = 0;

  if (a == NULL)
    return 0;
  for (i = 0; i < a->n_hashes; i++)
    match |= CRYPTO_memcmp(hash, a->hashes[i], HASH_LEN) == 0;
  return match;
}

int pgmld_auth_match_bearer(const pgmld_auth_t *a, const char *value, size_t len,
                            uint8_t hash_out[PGMLD_AUTH_HASH_LEN])
{
  static const char scheme[] = "Bearer ";
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  size_t i, slen = sizeof(scheme) - 1;
  int match = 0;

  if (a == NULL || a->n_hashes == 0)
    return 0;
  /* The scheme is case-insensitive (RFC 7235); the token is not. */
  if (len <= slen || strncasecmp(value, scheme, slen) != 0)
    return 0;
  value += slen;
  len -= slen;
  if (len > PGMLD_AUTH_TOKEN_MAX)
    return 0;
  if (EVP_Digest(value, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != HASH_LEN)
    return 0;
  /* No early exit: the time taken does not depend on which hash matched. */
  for (i = 0; i < a->n_hashes; i++)
    match |= CRYPTO_memcmp(md, a->hashes[i], HASH_LEN) == 0;
  if (match && hash_out != NULL)
    memcpy(hash_out, md, HASH_LEN);
  OPENSSL_cleanse(md, sizeof(md));
  return match;
}

static int listed(const uint32_t *ids, size_t n, uint32_t id)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (ids[i] == id)
      return 1;
  return 0;
}

int pgmld_auth_peer_lists_set(const pgmld_auth_t *a)
{
  return a != NULL && (a->n_uids > 0 || a->n_gids > 0);
}

int pgmld_auth_peer_allowed(const pgmld_auth_t *a, uid_t uid, gid_t gid)
{
  if (!pgmld_auth_peer_lists_set(a))
    return 1;
  return listed(a->uids, a->n_uids, (uint32_t)uid) || listed(a->gids, a->n_gids, (uint32_t)gid);
}
