/* transport.c - picks the transport an address names, from one table. */
#include "transport.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "pgml/client.h"
#include "ws.h"

typedef struct {
  const char *prefix;   /* "unix://" */
  int (*create)(const char *rest, const pgml_client_options_t *opts,
                pgml__transport_t **out);
} scheme_t;

static int unix_create(const char *rest, const pgml_client_options_t *opts,
                       pgml__transport_t **out)
{
  return pgml__unix_create(rest, opts->max_frame_size, out);
}

static int ws_create(const char *rest, const pgml_client_options_t *opts,
                     pgml__transport_t **out)
{
  return pgml__ws_create(rest, 0, opts, out);
}

static int wss_create(const char *rest, const pgml_client_options_t *opts,
                      pgml__transport_t **out)
{
  return pgml__ws_create(rest, 1, opts, out);
}

static const scheme_t schemes[] = {
  {"unix://", unix_create},
  {"ws://", ws_create},
  {"wss://", wss_create},
};

int pgml__transport_create(const char *address, const pgml_client_options_t *opts,
                           pgml__transport_t **out)
{
  const char *sep;
  size_t i;

  if (address == NULL || address[0] == '\0')
    return -EINVAL;
  sep = strstr(address, "://");
  if (sep == NULL)
    return pgml__unix_create(address, opts->max_frame_size, out);
  for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
    size_t n = strlen(schemes[i].prefix);
    if (strncmp(address, schemes[i].prefix, n) != 0)
      continue;
    return schemes[i].create(address + n, opts, out);
  }
  return -EPROTONOSUPPORT;
}

pgml__outbuf_t *pgml__outbuf_new(size_t headroom, size_t body_len)
{
  pgml__outbuf_t *b;

  if (body_len > SIZE_MAX - headroom - sizeof(*b))
    return NULL;
  b = pgml__malloc(sizeof(*b) + headroom + body_len);
  if (b == NULL)
    return NULL;
  b->next = NULL;
  b->start = b->data;
  b->len = 0;
  b->off = 0;
  b->body_len = body_len;
  return b;
}
