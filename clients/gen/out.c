/* out.c - generated-file writer: temporary file, sticky errors, atomic rename. */
#include "out.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void note_error(pgml_gen_out_t *o) {
  if (o->err == 0)
    o->err = errno ? errno : EIO;
}

/* Creates every directory of `path` before its last '/'. */
static int make_parents(char *path) {
  for (char *p = path + 1; *p != '\0'; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(path, 0777) < 0 && errno != EEXIST) {
      int e = errno;
      *p = '/';
      return -e;
    }
    *p = '/';
  }
  return 0;
}

int pgml_gen_out_open(pgml_gen_out_t *o, const char *dir, const char *rel,
                      pgml_gen_diag_t *d) {
  int n, rc;

  memset(o, 0, sizeof(*o));
  n = snprintf(o->path, sizeof(o->path), "%s/%s", dir, rel);
  if (n < 0 || (size_t)n >= sizeof(o->path) - 4) {
    pgml_gen_error(d, dir, "output path for %s is longer than %d bytes", rel,
                   PGML_GEN_PATH_MAX - 5);
    return -ENAMETOOLONG;
  }
  snprintf(o->tmp, sizeof(o->tmp), "%s.tmp", o->path);
  if ((rc = make_parents(o->tmp)) < 0) {
    pgml_gen_error(d, o->path, "cannot create its directory: %s", strerror(-rc));
    return rc;
  }
  o->f = fopen(o->tmp, "w");
  if (o->f == NULL) {
    rc = -errno;
    pgml_gen_error(d, o->tmp, "cannot open for writing: %s", strerror(-rc));
    return rc;
  }
  return 0;
}

void pgml_gen_out_printf(pgml_gen_out_t *o, const char *fmt, ...) {
  va_list ap;
  if (o->err != 0)
    return;
  va_start(ap, fmt);
  if (vfprintf(o->f, fmt, ap) < 0)
    note_error(o);
  va_end(ap);
}

void pgml_gen_out_puts(pgml_gen_out_t *o, const char *s) {
  if (o->err == 0 && fputs(s, o->f) == EOF)
    note_error(o);
}

static void put_char(pgml_gen_out_t *o, char c) {
  if (o->err == 0 && fputc((unsigned char)c, o->f) == EOF)
    note_error(o);
}

/* Writes text[0..len) escaped. */
static void put_escaped(pgml_gen_out_t *o, const char *s, size_t len,
                        pgml_gen_esc_t esc) {
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    switch (esc) {
    case PGML_GEN_ESC_BLOCK:
      /* A star and a slash together would end the comment, and a slash and
       * a star would draw -Wcomment: keep them apart. */
      put_char(o, c);
      if ((c == '*' && i + 1 < len && s[i + 1] == '/') ||
          (c == '/' && i + 1 < len && s[i + 1] == '*'))
        put_char(o, ' ');
      /* "??/" is a trigraph for a backslash, which at a line's end draws
       * -Wtrigraphs even in a comment. */
      else if (c == '?' && i + 2 < len && s[i + 1] == '?' && s[i + 2] == '/')
        put_char(o, ' ');
      break;
    case PGML_GEN_ESC_PYDOC:
      /* A quote next to another (or at a line's end, which may be the
       * docstring's end) could close the docstring. */
      if (c == '\\' || (c == '"' && (i + 1 == len || s[i + 1] == '"')))
        put_char(o, '\\');
      put_char(o, c);
      break;
    case PGML_GEN_ESC_C_STRING:
      if (c == '\n') {
        pgml_gen_out_puts(o, "\\n");
      } else if (c == '"' || c == '\\') {
        put_char(o, '\\');
        put_char(o, c);
      } else if ((unsigned char)c < 0x20 || c == 0x7f) {
        pgml_gen_out_printf(o, "\\%03o", (unsigned)(unsigned char)c);
      } else if (c == '?' && i + 1 < len && s[i + 1] == '?') {
        pgml_gen_out_puts(o, "?\\"); /* no trigraphs */
      } else {
        put_char(o, c);
      }
      break;
    }
  }
}

void pgml_gen_out_escaped(pgml_gen_out_t *o, const char *text, pgml_gen_esc_t esc) {
  if (text != NULL)
    put_escaped(o, text, strlen(text), esc);
}

const char *pgml_gen_out_first_line(pgml_gen_out_t *o, const char *text,
                                    pgml_gen_esc_t esc) {
  const char *nl;
  if (text == NULL)
    return NULL;
  nl = strchr(text, '\n');
  put_escaped(o, text, nl ? (size_t)(nl - text) : strlen(text), esc);
  return nl ? nl + 1 : NULL;
}

void pgml_gen_out_lines(pgml_gen_out_t *o, const char *indent, const char *prefix,
                        const char *text, pgml_gen_esc_t esc) {
  const char *p = text;
  if (text == NULL)
    return;
  for (;;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    pgml_gen_out_puts(o, indent);
    if (len == 0) {
      /* no trailing blank after the prefix on an empty line */
      size_t pl = strlen(prefix);
      while (pl > 0 && prefix[pl - 1] == ' ')
        pl--;
      put_escaped(o, prefix, pl, PGML_GEN_ESC_BLOCK);
    } else {
      pgml_gen_out_puts(o, prefix);
      put_escaped(o, p, len, esc);
    }
    put_char(o, '\n');
    if (nl == NULL)
      break;
    p = nl + 1;
  }
}

int pgml_gen_out_close(pgml_gen_out_t *o, pgml_gen_diag_t *d) {
  int rc;

  if (o->f == NULL)
    return -EBADF;
  if (o->err == 0 && fflush(o->f) != 0)
    note_error(o);
  if (fclose(o->f) != 0)
    note_error(o);
  o->f = NULL;
  if (o->err == 0 && rename(o->tmp, o->path) < 0)
    note_error(o);
  if (o->err != 0) {
    rc = -o->err;
    pgml_gen_error(d, o->path, "cannot write: %s", strerror(o->err));
    unlink(o->tmp);
    return rc;
  }
  return 0;
}

void pgml_gen_out_abort(pgml_gen_out_t *o) {
  if (o->f != NULL) {
    fclose(o->f);
    o->f = NULL;
    unlink(o->tmp);
  }
}
