/* transport.c - picks the transport an address names, from one table. */
#include "transport.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"

typedef struct {
  const char *prefix;   /* "unix://" */
  int (*create)(const char *rest, uint32_t max_frame, pgml__transport_t **out);
} scheme_t;

/* WebSocket is reserved: its transport will fill the same interface. */
static const scheme_t schemes[] = {
  {"unix://", pgml__unix_create},
  {"ws://", NULL},
  {"wss://", NULL},
};

int pgml__transport_create(const char *address, uint32_t max_frame,
                           pgml__transport_t **out)
{
  const char *sep;
  size_t i;

  if (address == NULL || address[0] == '\0')
    return -EINVAL;
  sep = strstr(address, "://");
  if (sep == NULL)
    return pgml__unix_create(address, max_frame, out);
  for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
    size_t n = strlen(schemes[i].prefix);
    if (strncmp(address, schemes[i].prefix, n) != 0)
      continue;
    if (schemes[i].create == NULL)
      return -EPROTONOSUPPORT;
    return schemes[i].create(address + n, max_frame, out);
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
