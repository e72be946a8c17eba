/* layout.h - the embedded cluster's directories, its OS user, and permissions.
 *
 *   <state_dir>/postgres/           0700, owned by the PostgreSQL user
 *   <state_dir>/postgres/data/      the cluster (initdb on first start)
 *   <state_dir>/postgres/run/       0700, the Unix socket and its lock file
 *   <state_dir>/postgres/postgres.log   initdb's and postgres's output
 *
 * PostgreSQL refuses to run as root.  When pgmld is root, initdb and
 * postgres run as the configured user (its uid and primary gid, no
 * supplementary groups) and the directories above are chowned to it; pgmld
 * still reaches the 0700 socket directory because root is not subject to
 * file permissions.  When pgmld is not root, PostgreSQL runs as pgmld's own
 * user, which owns everything, and the configured user is not used.
 *
 * Blocking (mkdir, stat, chown, getpwnam_r): call on the thread pool.
 * Thread-safe; logs nothing: failures go into the pgmld_status_t.
 */
#ifndef PGMLD_EMBEDDED_LAYOUT_H
#define PGMLD_EMBEDDED_LAYOUT_H

#include <sys/types.h>

#include "core/common.h"
#include "rpc/status.h"

typedef struct pgmld__layout_s {
  char *pg_dir;    /* <state_dir>/postgres, canonical absolute path */
  char *data_dir;  /* <pg_dir>/data */
  char *run_dir;   /* <pg_dir>/run: unix_socket_directories, libpq's host */
  char *log_path;  /* <pg_dir>/postgres.log */
  char *user;      /* the name PostgreSQL runs under, for messages */
  uid_t uid;       /* ... and its ids */
  gid_t gid;
  int as_root;     /* pgmld is root: children switch to uid/gid */
  int need_initdb; /* data_dir is missing or empty */
  int log_fd;      /* log_path opened O_RDWR|O_APPEND|O_CLOEXEC; -1 if not open */
} pgmld__layout_t;

/* The socket path PostgreSQL derives from the run directory is
 * <run_dir>/.s.PGSQL.<port>; it must fit a sockaddr_un. */
#define PGMLD__LAYOUT_SOCKET_NAME ".s.PGSQL.5432"

/* Clears `l` so that pgmld__layout_free() is safe on it. */
void pgmld__layout_init(pgmld__layout_t *l);

/* Resolves the user and creates or checks the directories and the log file.
 * `state_dir` may be relative (it is made absolute); `user` is the name
 * used when running as root.  Returns 0 with `l` filled (free it with
 * pgmld__layout_free()), or a negative errno with `st` set to a message
 * naming the path or user at fault; `l` then holds nothing to free beyond
 * what pgmld__layout_free() releases. */
PGMLD_MUST_CHECK int pgmld__layout_prepare(const char *state_dir, const char *user,
                                           pgmld__layout_t *l, pgmld_status_t *st);

/* Checks that `uid`/`gid` (no supplementary groups) may search every
 * directory from / down to `path` (a directory, or a file whose parent is
 * checked), going by the mode bits (ACLs are not consulted).  Returns 0 or
 * -EACCES / -errno with `st` naming the first directory that stops it. */
PGMLD_MUST_CHECK int pgmld__layout_check_reachable(const char *path, uid_t uid, gid_t gid,
                                                   const char *user, pgmld_status_t *st);

/* Frees the strings and closes log_fd; `l` is left cleared. */
void pgmld__layout_free(pgmld__layout_t *l);

#endif
