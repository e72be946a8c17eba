/* layout.c - creates and checks the embedded cluster's directories, user and log file. */
#include "embedded/layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/alloc.h"

/* getpwnam_r()'s buffer grows up to this before we give up. */
#define PWBUF_MAX (1024 * 1024)

void pgmld__layout_init(pgmld__layout_t *l) {
  memset(l, 0, sizeof(*l));
  l->log_fd = -1;
}

void pgmld__layout_free(pgmld__layout_t *l) {
  pgmld_free(l->pg_dir);
  pgmld_free(l->data_dir);
  pgmld_free(l->run_dir);
  pgmld_free(l->log_path);
  pgmld_free(l->user);
  if (l->log_fd >= 0)
    close(l->log_fd);
  pgmld__layout_init(l);
}

static int nomem(pgmld_status_t *st) {
  pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED, "out of memory preparing the embedded PostgreSQL");
  return -ENOMEM;
}

/* Looks `name` (or, when NULL, `uid`) up in the password database.  Returns
 * 0 with *found set to whether it exists, or a negative errno. */
static int lookup_user(const char *name, uid_t uid, struct passwd *pw, char **buf, int *found) {
  struct passwd *res = NULL;
  size_t size = 4096;
  int err;

  *buf = NULL;
  for (;;) {
    char *b = pgmld_realloc(*buf, size);
    if (!b)
      return -ENOMEM;
    *buf = b;
    err = name ? getpwnam_r(name, pw, b, size, &res) : getpwuid_r(uid, pw, b, size, &res);
    if (err != ERANGE)
      break;
    if (size >= PWBUF_MAX)
      return -ERANGE;
    size *= 2;
  }
  /* "Not found" is reported as 0 or as one of these, depending on libc and
   * NSS module. */
  if (err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM) {
    *found = res != NULL;
    return 0;
  }
  return -err;
}

static int resolve_user(const char *user, pgmld__layout_t *l, pgmld_status_t *st) {
  struct passwd pw;
  char *buf = NULL;
  int found = 0;
  int rc;

  l->as_root = geteuid() == 0;
  if (!l->as_root) {
    l->uid = geteuid();
    l->gid = getegid();
    rc = lookup_user(NULL, l->uid, &pw, &buf, &found);
    if (rc == -ENOMEM) {
      pgmld_free(buf);
      return nomem(st);
    }
    l->user = found && rc == 0 ? pgmld_strdup(pw.pw_name)
                               : pgmld_asprintf("uid %lu", (unsigned long)l->uid);
    pgmld_free(buf);
    return l->user ? 0 : nomem(st);
  }

  rc = lookup_user(user, 0, &pw, &buf, &found);
  if (rc == -ENOMEM) {
    pgmld_free(buf);
    return nomem(st);
  }
  if (rc < 0) {
    pgmld_free(buf);
    pgmld_status_set(st, PGMLD_INTERNAL, "embedded PostgreSQL: cannot look up user \"%s\": %s",
                     user, strerror(-rc));
    return rc;
  }
  if (!found) {
    pgmld_free(buf);
    pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                     "embedded.user \"%s\" does not exist: pgmld runs as root and PostgreSQL "
                     "refuses to, so initdb and postgres run as embedded.user; create it "
                     "(useradd --system --user-group --no-create-home %s) or set "
                     "embedded.user to an existing unprivileged user",
                     user, user);
    return -ENOENT;
  }
  if (pw.pw_uid == 0) {
    pgmld_free(buf);
    pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                     "embedded.user \"%s\" has uid 0: PostgreSQL refuses to run as root; set "
                     "embedded.user to an unprivileged user",
                     user);
    return -EPERM;
  }
  l->uid = pw.pw_uid;
  l->gid = pw.pw_gid;
  l->user = pgmld_strdup(user);
  pgmld_free(buf);
  return l->user ? 0 : nomem(st);
}

/* mkdir -p: creates the missing directories of `path` with `mode`. */
static int mkdir_p(const char *path, mode_t mode, pgmld_status_t *st) {
  char *p = pgmld_strdup(path);
  struct stat sb;
  char *s;
  int rc = 0;

  if (!p)
    return nomem(st);
  for (s = p + 1;; s++) {
    if (*s != '/' && *s != '\0')
      continue;
    char c = *s;
    *s = '\0';
    if (mkdir(p, mode) != 0 && errno != EEXIST) {
      rc = -errno;
      pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                       "embedded PostgreSQL: cannot create directory %s: %s", p, strerror(-rc));
      break;
    }
    if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
      rc = -ENOTDIR;
      pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                       "embedded PostgreSQL: %s exists and is not a directory", p);
      break;
    }
    *s = c;
    if (c == '\0')
      break;
  }
  pgmld_free(p);
  return rc;
}

/* Makes `dir` (created if missing) 0700 and owned by the PostgreSQL user:
 * chowned when pgmld is root, required already when not. */
static int own_dir(const char *dir, const pgmld__layout_t *l, pgmld_status_t *st) {
  struct stat sb;

  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    int err = errno;
    pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                     "embedded PostgreSQL: cannot create directory %s: %s", dir, strerror(err));
    return -err;
  }
  if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                     "embedded PostgreSQL: %s exists and is not a directory", dir);
    return -ENOTDIR;
  }
  if (sb.st_uid != l->uid || (l->as_root && sb.st_gid != l->gid)) {
    if (!l->as_root) {
      pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                       "embedded PostgreSQL: %s is owned by uid %lu, not by %s (uid %lu) that "
                       "pgmld runs as",
                       dir, (unsigned long)sb.st_uid, l->user, (unsigned long)l->uid);
      return -EPERM;
    }
    if (chown(dir, l->uid, l->gid) != 0) {
      int err = errno;
      pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                       "embedded PostgreSQL: cannot give %s to user %s: %s", dir, l->user,
                       strerror(err));
      return -err;
    }
  }
  if ((sb.st_mode & 07777) != 0700 && chmod(dir, 0700) != 0) {
    int err = errno;
    pgmld_status_set(st, PGMLD_FAILED_PRECONDITION, "embedded PostgreSQL: cannot chmod 0700 %s: %s",
                     dir, strerror(err));
    return -err;
  }
  return 0;
}

/* Is the directory `path` empty?  1 yes, 0 no, negative errno. */
static int dir_empty(const char *path) {
  DIR *d = opendir(path);
  struct dirent *de;
  int empty = 1;

  if (!d)
    return -errno;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
      empty = 0;
      break;
    }
  }
  closedir(d);
  return empty;
}

/* The data directory: missing or empty means initdb; a cluster there must
 * belong to the PostgreSQL user (it would refuse to start otherwise, and
 * chowning a whole cluster behind the operator's back is not ours to do). */
static int check_data_dir(pgmld__layout_t *l, pgmld_status_t *st) {
  struct stat sb;
  char *version;
  int rc;

  if (lstat(l->data_dir, &sb) != 0) {
    if (errno != ENOENT) {
      int err = errno;
      pgmld_status_set(st, PGMLD_FAILED_PRECONDITION, "embedded PostgreSQL: cannot stat %s: %s",
                       l->data_dir, strerror(err));
      return -err;
    }
    l->need_initdb = 1;
    return own_dir(l->data_dir, l, st);
  }
  if (!S_ISDIR(sb.st_mode)) {
    pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                     "embedded PostgreSQL: data directory %s is not a directory", l->data_dir);
    return -ENOTDIR;
  }
  if (!(version = pgmld_asprintf("%s/PG_VERSION", l->data_dir)))
    return nomem(st);
  rc = access(version, F_OK);
  pgmld_free(version);
  if (rc == 0) {
    if (sb.st_uid != l->uid) {
      pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                       "embedded PostgreSQL: data directory %s is owned by uid %lu but "
                       "PostgreSQL runs as %s (uid %lu); chown -R it to that user, or set "
                       "embedded.user to its owner",
                       l->data_dir, (unsigned long)sb.st_uid, l->user, (unsigned long)l->uid);
      return -EPERM;
    }
    l->need_initdb = 0;
    return 0;
  }
  rc = dir_empty(l->data_dir);
  if (rc < 0) {
    pgmld_status_set(st, PGMLD_FAILED_PRECONDITION, "embedded PostgreSQL: cannot read %s: %s",
                     l->data_dir, strerror(-rc));
    return rc;
  }
  if (rc == 0) {
    pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                     "embedded PostgreSQL: data directory %s is not empty but holds no cluster "
                     "(no PG_VERSION), perhaps from an interrupted initdb; move it away to have "
                     "a new cluster created",
                     l->data_dir);
    return -ENOTEMPTY;
  }
  l->need_initdb = 1;
  return own_dir(l->data_dir, l, st);
}

int pgmld__layout_check_reachable(const char *path, uid_t uid, gid_t gid, const char *user,
                                  pgmld_status_t *st) {
  struct stat sb;
  size_t len = strlen(path);
  size_t end = 1;
  char *p;
  int rc = 0;

  if (path[0] != '/') {
    pgmld_status_set(st, PGMLD_INTERNAL, "embedded PostgreSQL: %s is not an absolute path", path);
    return -EINVAL;
  }
  if (!(p = pgmld_malloc(len + 1)))
    return nomem(st);
  if (stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode))
    while (len > 1 && path[len - 1] != '/')
      len--; /* a file: its directory is what must be searchable */

  /* Walk from the root down so that the message names the first directory
   * that stops the user. */
  for (;;) {
    memcpy(p, path, end);
    p[end] = '\0';
    if (stat(p, &sb) != 0) {
      rc = -errno;
      pgmld_status_set(st, PGMLD_FAILED_PRECONDITION, "embedded PostgreSQL: cannot stat %s: %s", p,
                       strerror(-rc));
      break;
    }
    mode_t bit = sb.st_uid == uid ? S_IXUSR : sb.st_gid == gid ? S_IXGRP : S_IXOTH;
    if (!(sb.st_mode & bit)) {
      rc = -EACCES;
      pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                       "embedded PostgreSQL runs as user %s (uid %lu, gid %lu) and cannot enter "
                       "%s (mode %04o, owner uid %lu, group gid %lu): give it search permission "
                       "(chmod o+x %s) or choose another location",
                       user, (unsigned long)uid, (unsigned long)gid, p,
                       (unsigned)(sb.st_mode & 07777), (unsigned long)sb.st_uid,
                       (unsigned long)sb.st_gid, p);
      break;
    }
    while (end < len && path[end] == '/')
      end++;
    if (end >= len)
      break;
    while (end < len && path[end] != '/')
      end++;
  }
  pgmld_free(p);
  return rc;
}

/* PostgreSQL quietly fails to start if the socket path does not fit. */
static int check_socket_path(const char *run_dir, pgmld_status_t *st) {
  struct sockaddr_un sun;
  size_t n = strlen(run_dir) + 1 + strlen(PGMLD__LAYOUT_SOCKET_NAME);

  if (n >= sizeof(sun.sun_path)) {
    pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                     "embedded PostgreSQL: the socket path %s/%s would be %zu bytes, more than "
                     "the %zu a Unix socket allows; choose a shorter state_dir",
                     run_dir, PGMLD__LAYOUT_SOCKET_NAME, n, sizeof(sun.sun_path) - 1);
    return -ENAMETOOLONG;
  }
  return 0;
}

static int open_log(pgmld__layout_t *l, pgmld_status_t *st) {
  l->log_fd = open(l->log_path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (l->log_fd < 0) {
    int err = errno;
    pgmld_status_set(st, PGMLD_FAILED_PRECONDITION, "embedded PostgreSQL: cannot open log %s: %s",
                     l->log_path, strerror(err));
    return -err;
  }
  if (l->as_root && fchown(l->log_fd, l->uid, l->gid) != 0) {
    int err = errno;
    pgmld_status_set(st, PGMLD_FAILED_PRECONDITION,
                     "embedded PostgreSQL: cannot give log %s to user %s: %s", l->log_path,
                     l->user, strerror(err));
    return -err;
  }
  return 0;
}

int pgmld__layout_prepare(const char *state_dir, const char *user, pgmld__layout_t *l,
                          pgmld_status_t *st) {
  char canon[PATH_MAX];
  char *abs = NULL;
  const char *c;
  int rc;

  pgmld__layout_init(l);
  for (c = state_dir; *c; c++) {
    if ((unsigned char)*c < 0x20 || *c == 0x7f) {
      pgmld_status_set(st, PGMLD_INVALID_ARGUMENT,
                       "embedded PostgreSQL: state_dir contains a control character");
      return -EINVAL;
    }
  }
  if ((rc = resolve_user(user, l, st)) < 0)
    goto fail;

  if (state_dir[0] == '/') {
    abs = pgmld_strdup(state_dir);
  } else {
    if (!getcwd(canon, sizeof(canon))) {
      rc = -errno;
      pgmld_status_set(st, PGMLD_INTERNAL,
                       "embedded PostgreSQL: cannot resolve relative state_dir %s: getcwd: %s",
                       state_dir, strerror(-rc));
      goto fail;
    }
    abs = pgmld_asprintf("%s/%s", canon, state_dir);
  }
  if (!abs) {
    rc = nomem(st);
    goto fail;
  }
  /* 0711 when root: PostgreSQL's user must be able to pass through. */
  if ((rc = mkdir_p(abs, l->as_root ? 0711 : 0700, st)) < 0)
    goto fail;
  if (!realpath(abs, canon)) {
    rc = -errno;
    pgmld_status_set(st, PGMLD_FAILED_PRECONDITION, "embedded PostgreSQL: cannot resolve %s: %s",
                     abs, strerror(-rc));
    goto fail;
  }

  l->pg_dir = pgmld_asprintf("%s%spostgres", canon, strcmp(canon, "/") ? "/" : "");
  if (!l->pg_dir)
    goto oom;
  l->data_dir = pgmld_asprintf("%s/data", l->pg_dir);
  l->run_dir = pgmld_asprintf("%s/run", l->pg_dir);
  l->log_path = pgmld_asprintf("%s/postgres.log", l->pg_dir);
  if (!l->data_dir || !l->run_dir || !l->log_path)
    goto oom;
  if ((rc = check_socket_path(l->run_dir, st)) < 0)
    goto fail;
  if (l->as_root && (rc = pgmld__layout_check_reachable(canon, l->uid, l->gid, l->user, st)) < 0)
    goto fail;
  if ((rc = own_dir(l->pg_dir, l, st)) < 0)
    goto fail;
  if ((rc = check_data_dir(l, st)) < 0)
    goto fail;
  if ((rc = own_dir(l->run_dir, l, st)) < 0)
    goto fail;
  if ((rc = open_log(l, st)) < 0)
    goto fail;
  pgmld_free(abs);
  return 0;

oom:
  rc = nomem(st);
fail:
  pgmld_free(abs);
  pgmld__layout_free(l);
  return rc;
}
