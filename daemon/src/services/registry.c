/* registry.c - the list of service handler tables (one line per service). */
#include "services/registry.h"

#include <errno.h>

#include "core/log.h"

/* Each service's table, declared where it is defined: add one extern here
 * and one row in `tables` below. */
extern const pgmld_handler_entry_t pgmld_collections_handlers[];
extern const pgmld_handler_entry_t pgmld_pipelines_handlers[];
extern const pgmld_handler_entry_t pgmld_documents_handlers[];
extern const pgmld_handler_entry_t pgmld_search_handlers[];

static const struct {
  const char *name;
  const pgmld_handler_entry_t *table;
} tables[] = {
  {"system", pgmld_system_handlers},
  {"collections", pgmld_collections_handlers},
  {"pipelines", pgmld_pipelines_handlers},
  {"documents", pgmld_documents_handlers},
  {"search", pgmld_search_handlers},
};

int pgmld_registry_install_table(pgmld_dispatch_t *d, const char *name,
                                 const pgmld_handler_entry_t *table)
{
  const pgmld_handler_entry_t *e;
  int rc;

  for (e = table; e->method != NULL; e++) {
    rc = pgmld_dispatch_set_handler(d, e->method, e->fn);
    if (rc == -ENOENT) {
      pgmld_log_error("registry", "services table %s names %s, which %s does not declare",
                      name, e->method, d->service->name);
      return rc;
    }
    if (rc < 0) {
      pgmld_log_error("registry", "services table %s: %s has a handler already", name,
                      e->method);
      return rc;
    }
  }
  return 0;
}

int pgmld_registry_install(pgmld_dispatch_t *d)
{
  size_t i;
  int rc;

  for (i = 0; i < PGMLD_ARRAY_LEN(tables); i++) {
    rc = pgmld_registry_install_table(d, tables[i].name, tables[i].table);
    if (rc < 0)
      return rc;
  }
  return 0;
}
