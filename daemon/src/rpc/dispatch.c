/* dispatch.c - the method table from the service descriptor, and request
 * preparation: method lookup, handler presence, payload decoding. */
#include "rpc/dispatch.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "rpc/envelope.h"
#include "rpc/wire.h"

/* Method names quoted back to a client are cut to this many bytes. */
#define QUOTE_MAX 128

/* The names share their "pgml.v1.Database/" prefix: the length and the
 * last (up to) 8 bytes tell them apart well enough, and cost a few
 * instructions; equal hashes are told apart by memcmp(). */
static size_t hash_name(const char *name, size_t len)
{
  size_t n = len < 8 ? len : 8;
  uint64_t tail = 0;

  memcpy(&tail, name + len - n, n);
  return (size_t)(((tail ^ len) * 0x9e3779b97f4a7c15ull) >> 32);
}

/* Builds d->by_name from d->methods.  Returns 0 or -ENOMEM. */
static int index_names(pgmld_dispatch_t *d)
{
  size_t size = 8, i;

  while (size < 2 * d->n_methods)
    size *= 2;
  d->by_name = pgmld_calloc(size, sizeof(*d->by_name));
  if (d->by_name == NULL)
    return -ENOMEM;
  d->by_name_mask = size - 1;
  for (i = 0; i < d->n_methods; i++) {
    pgmld_method_t *m = &d->methods[i];
    size_t at = hash_name(m->full_name, m->full_len) & d->by_name_mask;
    while (d->by_name[at] != NULL)
      at = (at + 1) & d->by_name_mask;
    d->by_name[at] = m;
  }
  return 0;
}

const pgmld_method_t *pgmld_dispatch_find_n(const pgmld_dispatch_t *d, const char *name,
                                            size_t len)
{
  size_t at = hash_name(name, len) & d->by_name_mask;
  const pgmld_method_t *m;

  /* The table is never full, so an empty slot ends every probe. */
  while ((m = d->by_name[at]) != NULL) {
    if (m->full_len == len && memcmp(m->full_name, name, len) == 0)
      return m;
    at = (at + 1) & d->by_name_mask;
  }
  return NULL;
}

int pgmld_dispatch_new(const ProtobufCServiceDescriptor *service,
                       pgmld_dispatch_t **out)
{
  pgmld_dispatch_t *d;
  size_t i;

  *out = NULL;
  d = pgmld_calloc(1, sizeof(*d));
  if (d == NULL)
    return -ENOMEM;
  d->service = service;
  d->n_methods = service->n_methods;
  d->methods = pgmld_calloc(service->n_methods, sizeof(*d->methods));
  if (d->methods == NULL)
    goto nomem;
  for (i = 0; i < service->n_methods; i++) {
    d->methods[i].desc = &service->methods[i];
    d->methods[i].full_name =
        pgmld_asprintf("%s/%s", service->name, service->methods[i].name);
    if (d->methods[i].full_name == NULL)
      goto nomem;
    d->methods[i].full_len = strlen(d->methods[i].full_name);
  }
  if (index_names(d) < 0)
    goto nomem;
  *out = d;
  return 0;

nomem:
  pgmld_dispatch_free(d);
  return -ENOMEM;
}

void pgmld_dispatch_free(pgmld_dispatch_t *d)
{
  size_t i;

  if (d == NULL)
    return;
  if (d->methods != NULL)
    for (i = 0; i < d->n_methods; i++)
      pgmld_free(d->methods[i].full_name);
  pgmld_free(d->methods);
  pgmld_free(d->by_name);
  pgmld_free(d);
}

/* The method for "Ping" (short == 1) or "pgml.v1.Database/Ping". */
static pgmld_method_t *lookup(const pgmld_dispatch_t *d, const char *name, int short_ok)
{
  const ProtobufCMethodDescriptor *md;
  size_t n = strlen(d->service->name);

  if (strncmp(name, d->service->name, n) == 0 && name[n] == '/')
    name += n + 1;
  else if (!short_ok)
    return NULL;
  md = protobuf_c_service_descriptor_get_method_by_name(d->service, name);
  if (md == NULL)
    return NULL;
  return &d->methods[md - d->service->methods];
}

int pgmld_dispatch_set_handler(pgmld_dispatch_t *d, const char *method,
                               pgmld_handler_fn fn)
{
  pgmld_method_t *m = lookup(d, method, strchr(method, '/') == NULL);

  if (m == NULL)
    return -ENOENT;
  if (m->fn != NULL)
    return -EEXIST;
  m->fn = fn;
  return 0;
}

const pgmld_method_t *pgmld_dispatch_find(const pgmld_dispatch_t *d, const char *name)
{
  return pgmld_dispatch_find_n(d, name, strlen(name));
}

int pgmld_dispatch_decode(const pgmld_method_t *m, const uint8_t *payload, size_t len,
                          ProtobufCMessage **request, pgmld_status_t *st)
{
  return pgmld_dispatch_decode_with(m, payload, len, &pgmld_protobuf_allocator, request,
                                    st);
}

int pgmld_dispatch_decode_with(const pgmld_method_t *m, const uint8_t *payload,
                               size_t len, ProtobufCAllocator *alloc,
                               ProtobufCMessage **request, pgmld_status_t *st)
{
  unsigned long failures = pgmld_alloc_failures();
  char why[256];

  *request = protobuf_c_message_unpack(m->desc->input, alloc, len, payload);
  if (*request != NULL)
    return 0;
  if (pgmld_alloc_failures() != failures) {
    pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED,
                     "out of memory decoding the %zu-byte payload of %s", len,
                     m->full_name);
    return -ENOMEM;
  }
  pgmld_wire_explain(m->desc->input, payload, len, why, sizeof(why));
  pgmld_status_set(st, PGMLD_INVALID_ARGUMENT, "payload of %s is not a %s: %s",
                   m->full_name, m->desc->input->name, why);
  return -EBADMSG;
}

int pgmld_dispatch_prepare(const pgmld_dispatch_t *d, const Pgml__V1__Frame *f,
                           const pgmld_method_t **m, ProtobufCMessage **request,
                           pgmld_status_t *st)
{
  const pgmld_method_t *mm;
  char quoted[QUOTE_MAX + 8];
  int rc;

  *m = NULL;
  *request = NULL;
  mm = pgmld_dispatch_find(d, f->method);
  if (mm == NULL) {
    pgmld_status_set(st, PGMLD_UNIMPLEMENTED, "unknown method %s",
                     pgmld_envelope_quote(f->method, QUOTE_MAX, quoted, sizeof(quoted)));
    return -ENOENT;
  }
  if (mm->fn == NULL) {
    pgmld_status_set(st, PGMLD_UNIMPLEMENTED, "%s is not implemented by this server",
                     mm->full_name);
    return -ENOSYS;
  }
  rc = pgmld_dispatch_decode(mm, f->payload.data, f->payload.len, request, st);
  if (rc < 0)
    return rc;
  *m = mm;
  return 0;
}

void pgmld_dispatch_free_request(ProtobufCMessage *request)
{
  if (request != NULL)
    protobuf_c_message_free_unpacked(request, &pgmld_protobuf_allocator);
}
