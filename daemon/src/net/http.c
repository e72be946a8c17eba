/* http.c - the health and metrics endpoints (GET /healthz, /readyz,
 * /metrics) on the http.listen vhost. */
#include "net/http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/server.h"
#include "db/pool.h"
#include "net/ws.h"

typedef struct http_session_s {
  uint8_t *body;          /* LWS_PRE bytes of headroom, then the body; owned */
  size_t len;
} http_session_t;

size_t pgmld__http_session_size(void)
{
  return sizeof(http_session_t);
}

/* Copies text into a fresh buffer with LWS_PRE bytes of headroom. */
static int make_body(http_session_t *sess, const char *text)
{
  size_t len = strlen(text);

  sess->body = pgmld_malloc(LWS_PRE + len);
  if (sess->body == NULL)
    return -ENOMEM;
  memcpy(sess->body + LWS_PRE, text, len);
  sess->len = len;
  return 0;
}

/* Why the server is not ready, or NULL when it is. */
static const char *not_ready(pgmld_server_t *srv, char *buf, size_t len)
{
  pgmld_pool_info_t pi;

  if (pgmld__server_draining(srv))
    return "not ready: pgmld is shutting down\n";
  if (pgmld_server_pgvector_version(srv)[0] == '\0')
    return "not ready: the database migrations have not been applied yet\n";
  pgmld_server_pool_info(srv, &pi);
  if (pi.idle + pi.busy == 0) {
    snprintf(buf, len, "not ready: no PostgreSQL connection is up (pool of %u: "
             "%u connecting, %u broken)\n", pi.size, pi.connecting, pi.broken);
    return buf;
  }
  return NULL;
}

static int render_metrics(pgmld_server_t *srv, http_session_t *sess)
{
  struct pgmld_pool_s *pool = pgmld_server_pool(srv);
  pgmld_metrics_pool_t mp;
  pgmld_pool_stats_t ps;

  if (pool != NULL) {
    pgmld_pool_stats(pool, &ps);
    mp.size = ps.size;
    mp.idle = ps.idle;
    mp.busy = ps.busy;
    mp.connecting = ps.connecting;
    mp.broken = ps.broken;
    mp.waiting = ps.waiting;
    mp.wait_us = ps.wait_us;
  }
  return pgmld_metrics_render(pool != NULL ? &mp : NULL, LWS_PRE, &sess->body, &sess->len);
}

/* Builds the answer to GET uri into sess; returns the HTTP status, or a
 * negative errno. */
static int route(pgmld_server_t *srv, const char *uri, http_session_t *sess,
                 const char **ctype)
{
  char buf[256];
  const char *why;

  *ctype = "text/plain; charset=utf-8";
  if (strcmp(uri, "/healthz") == 0)
    return make_body(sess, "ok\n") < 0 ? -ENOMEM : 200;
  if (strcmp(uri, "/readyz") == 0) {
    why = not_ready(srv, buf, sizeof(buf));
    if (why != NULL)
      return make_body(sess, why) < 0 ? -ENOMEM : 503;
    return make_body(sess, "ready\n") < 0 ? -ENOMEM : 200;
  }
  if (strcmp(uri, "/metrics") == 0) {
    *ctype = "text/plain; version=0.0.4; charset=utf-8";
    return render_metrics(srv, sess) < 0 ? -ENOMEM : 200;
  }
  return make_body(sess, "not found: pgmld serves /healthz, /readyz and /metrics\n") < 0
           ? -ENOMEM : 404;
}

static int send_headers(struct lws *wsi, int status, const char *ctype, size_t len)
{
  uint8_t buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf);

  if (lws_add_http_common_headers(wsi, (unsigned)status, ctype, (lws_filepos_t)len, &p, end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    return -1;
  return 0;
}

int pgmld__http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
  pgmld_server_t *srv = pgmld__ws_server(wsi);
  http_session_t *sess = user;
  const char *ctype;
  int status;

  switch (reason) {
  case LWS_CALLBACK_HTTP:
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
      /* Not a GET (POST, PUT, OPTIONS...). */
      if (lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL))
        return -1;
      return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    pgmld_free(sess->body);
    sess->body = NULL;
    status = route(srv, in != NULL ? (const char *)in : "", sess, &ctype);
    if (status < 0) {
      pgmld_log_error("http", "out of memory answering GET %s", (const char *)in);
      return -1;
    }
    if (send_headers(wsi, status, ctype, sess->len) < 0)
      return -1;
    lws_callback_on_writable(wsi);
    return 0;
  case LWS_CALLBACK_HTTP_WRITEABLE: {
    int n;
    if (sess->body == NULL)
      break;
    n = lws_write(wsi, sess->body + LWS_PRE, sess->len, LWS_WRITE_HTTP_FINAL);
    pgmld_free(sess->body);
    sess->body = NULL;
    if (n < (int)sess->len)
      return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  }
  case LWS_CALLBACK_CLOSED_HTTP:
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    if (sess != NULL) {
      pgmld_free(sess->body);
      sess->body = NULL;
    }
    break;
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}
