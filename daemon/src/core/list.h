/* list.h - an intrusive circular doubly-linked list (connections of a
 * server, calls of a connection): O(1) insert and remove, no allocation. */
#ifndef PGMLD_LIST_H
#define PGMLD_LIST_H

#include <stddef.h>

#include "core/common.h"

typedef struct pgmld_list_s {
  struct pgmld_list_s *next;
  struct pgmld_list_s *prev;
} pgmld_list_t;

/* A head, or a node not in any list, points at itself. */
static inline void pgmld_list_init(pgmld_list_t *l)
{
  l->next = l->prev = l;
}

static inline int pgmld_list_empty(const pgmld_list_t *l)
{
  return l->next == l;
}

static inline void pgmld_list_append(pgmld_list_t *head, pgmld_list_t *node)
{
  node->prev = head->prev;
  node->next = head;
  head->prev->next = node;
  head->prev = node;
}

/* Removes node from whatever list holds it; harmless on a lone node. */
static inline void pgmld_list_remove(pgmld_list_t *node)
{
  node->prev->next = node->next;
  node->next->prev = node->prev;
  pgmld_list_init(node);
}

/* Iterates where the body may remove (and free) the current node. */
#define pgmld_list_foreach_safe(pos, tmp, head)                                \
  for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);             \
       (pos) = (tmp), (tmp) = (pos)->next)

#endif
