/* cmd_upsert.c - pgmlctl upsert: JSON Lines from files or stdin, checked
 * line by line, sent in batches with a progress bar and a summary. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pgml/database.h>

#include "output.h"
#include "pgmlctl.h"

#define DEFAULT_BATCH 100u
#define MAX_BATCH 10000u
/* Bytes of documents per call, so that a batch stays well inside the
 * default 16 MiB frame; one document may not exceed it either. */
#define MAX_BATCH_BYTES (8u * 1024u * 1024u)

typedef struct batch_s {
  char **docs;              /* owned copies of the lines */
  unsigned n, cap;
  size_t bytes;
  const char *first_file;   /* where the batch starts and ends, for messages */
  unsigned long first_line;
  unsigned long last_line;
} batch_t;

typedef struct upsert_s {
  pgmlctl_ctx_t *ctx;
  pgml_client_t *client;
  const char *collection;
  bool merge;
  unsigned batch_size;
  batch_t batch;
  uint64_t upserted, chunks, batches, lines;
  pgmlctl_progress_t progress;
} upsert_t;

static void batch_clear(batch_t *b)
{
  for (unsigned i = 0; i < b->n; i++)
    free(b->docs[i]);
  b->n = 0;
  b->bytes = 0;
  b->first_file = NULL;
}

/* Sends the batch, if any, and empties it.  Returns an exit code. */
static int flush(upsert_t *u)
{
  pgml_v1_UpsertDocumentsRequest req = pgml_v1_UpsertDocumentsRequest_init_zero;
  pgml_v1_UpsertDocumentsResponse r = pgml_v1_UpsertDocumentsResponse_init_zero;
  pgml_call_options_t co = pgmlctl_call_opts(u->ctx);
  pgml_sync_result_t res;
  int rc, status;

  if (u->batch.n == 0)
    return PGMLCTL_EXIT_OK;
  req.collection = (char *)u->collection;
  req.documents_count = (pb_size_t)u->batch.n;
  req.documents = u->batch.docs;
  req.merge = u->merge;
  rc = pgml_database_upsert_documents_sync(u->client, &req, &r, &co, &res);
  if (rc != 0) {
    pgmlctl_progress_clear(&u->progress);
    fprintf(stderr, "pgmlctl: batch %llu (%s lines %lu-%lu, %u documents) was not written\n",
            (unsigned long long)u->batches + 1, u->batch.first_file, u->batch.first_line,
            u->batch.last_line, u->batch.n);
    status = pgmlctl_check(u->ctx, "UpsertDocuments", rc, &res);
    fprintf(stderr, "pgmlctl: %llu documents were upserted before it, in %llu batches\n",
            (unsigned long long)u->upserted, (unsigned long long)u->batches);
    batch_clear(&u->batch);
    return status;
  }
  pgml_sync_result_free(&res);
  u->upserted += r.upserted;
  u->chunks += r.chunks;
  u->batches++;
  u->progress.docs = u->upserted;
  u->progress.chunks = u->chunks;
  pgmlctl_progress_draw(&u->progress, false);
  pb_release(pgml_v1_UpsertDocumentsResponse_fields, &r);
  batch_clear(&u->batch);
  return PGMLCTL_EXIT_OK;
}

/* Checks that `line` is a JSON object with a string "id"; prints where and
 * why not.  Returns 0 or -EINVAL. */
static int check_line(const char *file, unsigned long lineno, const char *line, size_t len)
{
  json_error_t err;
  json_t *v = json_loadb(line, len, 0, &err);
  json_t *id;
  int rc = 0;

  if (v == NULL) {
    fprintf(stderr, "pgmlctl: %s:%lu:%d: not valid JSON: %s\n", file, lineno, err.column,
            err.text);
    return -EINVAL;
  }
  if (!json_is_object(v)) {
    fprintf(stderr, "pgmlctl: %s:%lu: a document must be a JSON object\n", file, lineno);
    rc = -EINVAL;
  } else if ((id = json_object_get(v, "id")) == NULL || !json_is_string(id) ||
             json_string_length(id) == 0) {
    fprintf(stderr, "pgmlctl: %s:%lu: a document needs a non-empty string \"id\"\n", file,
            lineno);
    rc = -EINVAL;
  }
  json_decref(v);
  return rc;
}

static bool blank(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
      return false;
  return true;
}

/* Reads one stream to its end, sending full batches on the way.  Returns
 * an exit code. */
static int load(upsert_t *u, FILE *in, const char *name)
{
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  unsigned long lineno = 0;
  int status = PGMLCTL_EXIT_OK;

  while ((got = getline(&line, &cap, in)) >= 0) {
    size_t len = (size_t)got;
    lineno++;
    u->lines++;
    u->progress.bytes += len;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      len--;
    if (blank(line, len))
      continue;
    if (len > MAX_BATCH_BYTES) {
      fprintf(stderr, "pgmlctl: %s:%lu: document of %zu bytes is larger than the %u "
              "bytes one call may carry\n", name, lineno, len, MAX_BATCH_BYTES);
      status = PGMLCTL_EXIT_LOCAL;
      break;
    }
    if (check_line(name, lineno, line, len) < 0) {
      pgmlctl_progress_clear(&u->progress);
      fprintf(stderr, "pgmlctl: stopped at %s:%lu; %llu documents were upserted before "
              "it, the %u read since were not sent\n", name, lineno,
              (unsigned long long)u->upserted, u->batch.n);
      status = PGMLCTL_EXIT_LOCAL;
      break;
    }
    if (u->batch.n == u->batch_size || u->batch.bytes + len > MAX_BATCH_BYTES) {
      if ((status = flush(u)) != 0)
        break;
    }
    if (u->batch.n == u->batch.cap) {
      unsigned ncap = u->batch.cap != 0 ? u->batch.cap * 2 : 64;
      char **d = realloc(u->batch.docs, ncap * sizeof(*d));
      if (d == NULL)
        goto nomem;
      u->batch.docs = d;
      u->batch.cap = ncap;
    }
    char *doc = malloc(len + 1);
    if (doc == NULL)
      goto nomem;
    memcpy(doc, line, len);
    doc[len] = '\0';
    if (u->batch.n == 0) {
      u->batch.first_file = name;
      u->batch.first_line = lineno;
    }
    u->batch.last_line = lineno;
    u->batch.docs[u->batch.n++] = doc;
    u->batch.bytes += len;
  }
  if (status == PGMLCTL_EXIT_OK && ferror(in)) {
    pgmlctl_progress_clear(&u->progress);
    fprintf(stderr, "pgmlctl: %s: read error after line %lu: %s\n", name, lineno,
            strerror(errno));
    status = PGMLCTL_EXIT_LOCAL;
  }
  /* A batch does not span files, so that its lines name one file. */
  if (status == PGMLCTL_EXIT_OK)
    status = flush(u);
  free(line);
  return status;

nomem:
  free(line);
  fprintf(stderr, "pgmlctl: out of memory at %s:%lu\n", name, lineno);
  return PGMLCTL_EXIT_LOCAL;
}

int pgmlctl_cmd_upsert(pgmlctl_ctx_t *ctx, const pgmlctl_args_t *a)
{
  static const char *const stdin_only[] = {"-"};
  upsert_t u = {0};
  const char *const *files = a->n_operands > 1 ? &a->operands[1] : stdin_only;
  unsigned nfiles = a->n_operands > 1 ? a->n_operands - 1 : 1;
  uint64_t total = 0;
  bool sized = true;
  double t0 = pgmlctl_now(), secs;
  int status = PGMLCTL_EXIT_OK;

  u.ctx = ctx;
  u.collection = a->operands[0];
  u.merge = pgmlctl_arg_flag(a, "merge");
  u.batch_size = DEFAULT_BATCH;
  if (pgmlctl_arg_u32(a, "batch-size", 1, MAX_BATCH, &u.batch_size) < 0)
    return PGMLCTL_EXIT_USAGE;

  /* Open every file first, so that a typing mistake fails before anything
   * is written; their sizes give the progress bar its end. */
  for (unsigned i = 0; i < nfiles; i++) {
    struct stat st;
    if (strcmp(files[i], "-") == 0) {
      sized = sized && fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode);
      total += sized ? (uint64_t)st.st_size : 0;
    } else if (stat(files[i], &st) < 0 || access(files[i], R_OK) < 0) {
      fprintf(stderr, "pgmlctl: %s: cannot read: %s\n", files[i], strerror(errno));
      return PGMLCTL_EXIT_LOCAL;
    } else if (S_ISDIR(st.st_mode)) {
      fprintf(stderr, "pgmlctl: %s: is a directory\n", files[i]);
      return PGMLCTL_EXIT_LOCAL;
    } else {
      sized = sized && S_ISREG(st.st_mode);
      total += (uint64_t)st.st_size;
    }
  }
  if ((u.client = pgmlctl_client(ctx)) == NULL)
    return PGMLCTL_EXIT_LOCAL;
  pgmlctl_progress_init(&u.progress,
                        ctx->stderr_tty && !ctx->quiet && !pgmlctl_arg_flag(a, "no-progress"),
                        sized ? total : 0);

  for (unsigned i = 0; i < nfiles && status == PGMLCTL_EXIT_OK; i++) {
    bool is_stdin = strcmp(files[i], "-") == 0;
    FILE *in = is_stdin ? stdin : fopen(files[i], "r");
    if (in == NULL) {
      fprintf(stderr, "pgmlctl: %s: cannot open: %s\n", files[i], strerror(errno));
      status = PGMLCTL_EXIT_LOCAL;
      break;
    }
    status = load(&u, in, is_stdin ? "<stdin>" : files[i]);
    if (!is_stdin)
      fclose(in);
  }
  batch_clear(&u.batch);
  free(u.batch.docs);
  if (status == PGMLCTL_EXIT_OK)
    pgmlctl_progress_draw(&u.progress, true);
  pgmlctl_progress_clear(&u.progress);

  secs = pgmlctl_now() - t0;
  if (status != PGMLCTL_EXIT_OK)
    return status;
  if (ctx->json)
    return pgmlctl_json_out(json_pack("{s:s, s:I, s:I, s:I, s:I, s:f}", "collection",
                                      u.collection, "upserted", (json_int_t)u.upserted,
                                      "chunks", (json_int_t)u.chunks, "batches",
                                      (json_int_t)u.batches, "lines", (json_int_t)u.lines,
                                      "seconds", secs));
  if (!ctx->quiet)
    fprintf(stderr,
            "upserted %llu documents (%llu chunks) into %s in %llu batches from %u %s, "
            "%.2f s, %.0f docs/s\n",
            (unsigned long long)u.upserted, (unsigned long long)u.chunks, u.collection,
            (unsigned long long)u.batches, nfiles, nfiles == 1 ? "input" : "inputs", secs,
            secs > 0 ? (double)u.upserted / secs : 0.0);
  return PGMLCTL_EXIT_OK;
}
