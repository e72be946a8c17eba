/* ws.c - the lws context on the server's loop, the WebSocket listener and
 * its message transport (reassembly, queued writes, rx flow control), and
 * the creation of the HTTP vhost that net/http.c serves. */
#define _GNU_SOURCE /* explicit_bzero */
#include "net/ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/auth.h"
#include "core/list.h"
#include "core/log.h"
#include "frame.h"
#include "net/conn.h"
#include "net/http.h"
#include "net/transport.h"

/* The subprotocol (docs/protocol.md section 13). */
#define WS_SUBPROTOCOL "pgml.v1"
/* Bytes lws reads per RECEIVE callback, and the most written per WRITEABLE:
 * a larger message goes out as several WebSocket fragments. */
#define WS_CHUNK (64u * 1024u)
/* A reassembly buffer bigger than this is released once its message is
 * delivered rather than kept for the life of the connection. */
#define KEEP_BUFFER (1u * 1024u * 1024u)
/* The largest message reassembled for a connection that has shown no valid
 * token yet (pgmld_conn_trusted()): a Ping or a small request fits, and a
 * client that proves nothing cannot make pgmld hold max_frame_size bytes. */
#define UNTRUSTED_MAX_MESSAGE (64u * 1024u)
/* Seconds a connection that refused a message waits, with its answer sent,
 * for the peer to finish sending that message before closing anyway. */
#define REFUSED_DRAIN_SECS 5
/* The longest Origin header compared with websocket.allowed_origins. */
#define ORIGIN_MAX 512u

struct pgmld_ws_s {
  pgmld_server_t *srv;
  pgmld_list_t resumed;            /* streams with held messages to deliver */
  pgmld_list_t streams;            /* every open stream, for the token reload */
  size_t n_streams;                /* for limits.max_ws_connections */
  struct lws_context *ctx;         /* NULL once lws has destroyed it */
  struct lws_protocols ws_protocols[2];
  struct lws_protocols http_protocols[2];
  pgmld_listen_addr_t ws_addr, http_addr;
  int tls;
  unsigned closing : 1;
};

/* ------------------------------------------------------------ addresses */

int pgmld_listen_addr_parse(const char *setting, const char *text, pgmld_listen_addr_t *out,
                            char *err, size_t errlen)
{
  const char *colon, *host = text;
  size_t hostlen;
  unsigned char bin[sizeof(struct in6_addr)];
  char *end;
  long port;

  memset(out, 0, sizeof(*out));
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (close == NULL || close[1] != ':') {
      snprintf(err, errlen, "%s: '%s' is not [IPv6 address]:port", setting, text);
      return -EINVAL;
    }
    host = text + 1;
    hostlen = (size_t)(close - host);
    colon = close + 1;
    out->ipv6 = 1;
  } else {
    colon = strrchr(text, ':');
    if (colon == NULL) {
      snprintf(err, errlen, "%s: '%s' has no port (write host:port, e.g. "
               "127.0.0.1:7700)", setting, text);
      return -EINVAL;
    }
    hostlen = (size_t)(colon - text);
  }
  if (hostlen >= sizeof(out->host)) {
    snprintf(err, errlen, "%s: the host of '%s' is too long", setting, text);
    return -EINVAL;
  }
  memcpy(out->host, host, hostlen);
  out->host[hostlen] = '\0';
  errno = 0;
  port = strtol(colon + 1, &end, 10);
  if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1 || port > 65535) {
    snprintf(err, errlen, "%s: '%s' does not end in a port from 1 to 65535", setting, text);
    return -EINVAL;
  }
  out->port = (int)port;
  if (strcmp(out->host, "localhost") == 0)
    snprintf(out->host, sizeof(out->host), "127.0.0.1");
  if (out->ipv6) {
    if (inet_pton(AF_INET6, out->host, bin) != 1) {
      snprintf(err, errlen, "%s: '%s' is not an IPv6 address", setting, out->host);
      return -EINVAL;
    }
    out->loopback = IN6_IS_ADDR_LOOPBACK((struct in6_addr *)(void *)bin);
  } else {
    if (inet_pton(AF_INET, out->host, bin) != 1) {
      snprintf(err, errlen, "%s: '%s' is not an IPv4 address (names other than "
               "localhost are not resolved; IPv6 goes in brackets)", setting, out->host);
      return -EINVAL;
    }
    out->loopback = bin[0] == 127;
  }
  return 0;
}

int pgmld_ws_check_config(const pgmld_config_t *cfg, int have_tokens, char *err,
                          size_t errlen)
{
  pgmld_listen_addr_t a;
  int cert = cfg->tls.cert_file[0] != '\0', key = cfg->tls.key_file[0] != '\0';

  if (cfg->http.listen[0] != '\0') {
    if (pgmld_listen_addr_parse("http.listen", cfg->http.listen, &a, err, errlen) < 0)
      return -EINVAL;
    if (!a.loopback && !cfg->http.allow_public) {
      snprintf(err, errlen, "http.listen %s is not a loopback address: /metrics and "
               "/readyz have no authentication, so anyone who can reach it could "
               "read them.  Listen on 127.0.0.1 / [::1] or set http.allow_public = "
               "true", cfg->http.listen);
      return -EINVAL;
    }
  }
  if (cert != key) {
    snprintf(err, errlen, "tls.cert_file and tls.key_file must be set together "
             "(only %s is set)", cert ? "tls.cert_file" : "tls.key_file");
    return -EINVAL;
  }
  if (cert && access(cfg->tls.cert_file, R_OK) < 0) {
    snprintf(err, errlen, "tls.cert_file %s: %s", cfg->tls.cert_file, strerror(errno));
    return -EINVAL;
  }
  if (key && access(cfg->tls.key_file, R_OK) < 0) {
    snprintf(err, errlen, "tls.key_file %s: %s", cfg->tls.key_file, strerror(errno));
    return -EINVAL;
  }
  if (cfg->websocket.listen[0] == '\0')
    return 0;
  if (pgmld_listen_addr_parse("websocket.listen", cfg->websocket.listen, &a, err,
                              errlen) < 0)
    return -EINVAL;
  if (cfg->websocket.path[0] != '/') {
    snprintf(err, errlen, "websocket.path '%s' must start with /", cfg->websocket.path);
    return -EINVAL;
  }
  if (!a.loopback && !have_tokens && !cfg->websocket.allow_insecure_public) {
    snprintf(err, errlen, "websocket.listen %s is not a loopback address and "
             "auth.tokens_file is not set: anyone who can reach it could use the "
             "database.  Set auth.tokens_file, listen on 127.0.0.1 / [::1], or set "
             "websocket.allow_insecure_public = true", cfg->websocket.listen);
    return -EINVAL;
  }
  if (!a.loopback && have_tokens && !cert && !cfg->websocket.allow_insecure_public) {
    snprintf(err, errlen, "websocket.listen %s is not a loopback address and "
             "tls.cert_file is not set: the bearer tokens would cross the network "
             "in clear text.  Set tls.cert_file and tls.key_file (wss://), listen on "
             "127.0.0.1 / [::1], or set websocket.allow_insecure_public = true",
             cfg->websocket.listen);
    return -EINVAL;
  }
  return 0;
}

/* ------------------------------------------------------------ the transport */

/* A message that arrived while the connection had paused reading. */
typedef struct held_s {
  struct held_s *next;
  uint32_t len;
  uint8_t body[];
} held_t;

typedef struct ws_stream_s {
  pgmld_transport_t base;
  pgmld_ws_t *w;
  pgmld_list_t resume_link;     /* in w->resumed, or unlinked */
  pgmld_list_t link;            /* in w->streams, or unlinked */
  uint64_t max_frame;           /* limits.max_frame_size when it opened */
  uint8_t token_hash[PGMLD_AUTH_HASH_LEN]; /* the upgrade's token, if header_auth */
  struct lws *wsi;              /* NULL once lws closed the connection */
  char peer[96];
  uint8_t *msg;                 /* the message being reassembled */
  size_t msg_len, msg_cap;
  size_t msg_reserved;          /* of msg_cap, the bytes counted against
                                 * limits.max_server_inflight_bytes */
  held_t *held, *held_tail;     /* complete messages not yet delivered */
  pgmld_outq_t out;             /* responses to send, in order, owned */
  size_t sent;                  /* body bytes of queue[0] already written */
  uint8_t *scratch;             /* LWS_PRE + WS_CHUNK bytes for lws_write() */
  unsigned paused : 1;          /* the connection asked for no frames */
  unsigned refusing : 1;        /* an oversized message: drop what follows */
  unsigned drained : 1;         /* refusing, and the peer finished that message */
  unsigned draining : 1;        /* closing waits for drained (bounded) */
  unsigned closing : 1;         /* close() was called */
  unsigned flushing : 1;        /* closing once the queue is written */
  unsigned header_auth : 1;     /* authenticated by token_hash at the upgrade */
} ws_stream_t;

/* The per-session data lws allocates for each WebSocket. */
typedef struct ws_session_s {
  ws_stream_t *s;
  uint8_t token_hash[PGMLD_AUTH_HASH_LEN]; /* of that header's token */
  unsigned header_auth : 1;     /* a valid Authorization header came at upgrade */
} ws_session_t;

/* Wakes lws's service on the loop.  Needed after a call made from outside
 * an lws callback (a pgmld timer, a PostgreSQL result) that lws only acts
 * on when it next services: its timers (a kill) and buffered input (after
 * rx flow control is re-enabled) would otherwise wait for unrelated I/O. */
static void wake(struct lws *wsi)
{
  lws_cancel_service(lws_get_context(wsi));
}

/* Closes wsi from lws's own loop callback, never from inside this call. */
static void kill_async(struct lws *wsi)
{
  lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  wake(wsi);
}

static ws_stream_t *stream_of(pgmld_transport_t *t)
{
  return PGMLD_CONTAINER_OF(t, ws_stream_t, base);
}

static void drop_queue(ws_stream_t *s)
{
  size_t i;

  for (i = 0; i < s->out.n; i++)
    pgmld_free(s->out.bufs[i].base);
  s->out.n = 0;
  s->sent = 0;
}

/* Gives back what the reassembly buffer counts against
 * limits.max_server_inflight_bytes: it holds no message any more. */
static void release_msg(ws_stream_t *s)
{
  if (s->msg_reserved == 0)
    return;
  pgmld_conns_release_bytes(s->w->srv, s->msg_reserved);
  s->msg_reserved = 0;
}

static void stream_free(ws_stream_t *s)
{
  held_t *h, *next;

  release_msg(s);
  drop_queue(s);
  pgmld_list_remove(&s->resume_link);
  if (!pgmld_list_empty(&s->link)) {
    pgmld_list_remove(&s->link);
    s->w->n_streams--;
  }
  for (h = s->held; h != NULL; h = next) {
    next = h->next;
    pgmld_free(h);
  }
  pgmld_free(s->out.bufs);
  pgmld_free(s->msg);
  pgmld_free(s->scratch);
  pgmld_free(s);
}

static int stream_write(pgmld_transport_t *t, pgmld_outbuf_t *bufs, size_t n)
{
  ws_stream_t *s = stream_of(t);
  size_t i;
  int rc;

  if (s->wsi == NULL || (s->closing && !s->flushing)) {
    for (i = 0; i < n; i++)
      pgmld_free(bufs[i].base);
    return UV_EPIPE;
  }
  if ((rc = pgmld__outq_push(&s->out, bufs, n)) < 0)
    return rc;
  lws_callback_on_writable(s->wsi);
  return 0;
}

/* Hands held messages to the connection until it pauses or closes. */
static void deliver_held(ws_stream_t *s)
{
  if (s->held != NULL)
    pgmld_log_debug("ws", "%s: delivering messages held while reading was paused",
                    s->peer);
  while (s->held != NULL && !s->paused && !s->closing && s->base.conn != NULL) {
    held_t *h = s->held;
    s->held = h->next;
    if (s->held == NULL)
      s->held_tail = NULL;
    pgmld__conn_on_frame(s->base.conn, h->body, h->len);
    pgmld_free(h);
  }
}

static void stream_pause(pgmld_transport_t *t)
{
  ws_stream_t *s = stream_of(t);

  s->paused = 1;
  /* Once closing, reading only drains the peer (stream_close). */
  if (s->wsi != NULL && !s->closing)
    lws_rx_flow_control(s->wsi, 0);
}

/* Delivers what resumed streams hold; runs from lws's
 * EVENT_WAIT_CANCELLED, a loop iteration after the resume that woke it. */
static void deliver_resumed(pgmld_ws_t *w)
{
  pgmld_list_t batch;

  /* A stream resumed again while its messages are delivered joins the
   * next batch, so this always ends. */
  pgmld_list_init(&batch);
  while (!pgmld_list_empty(&w->resumed)) {
    pgmld_list_t *l = w->resumed.next;
    pgmld_list_remove(l);
    pgmld_list_append(&batch, l);
  }
  while (!pgmld_list_empty(&batch)) {
    ws_stream_t *s = PGMLD_CONTAINER_OF(batch.next, ws_stream_t, resume_link);
    pgmld_list_remove(&s->resume_link);
    deliver_held(s);
  }
}

/* Held messages are not delivered here but from a later loop iteration
 * (net/transport.h): the connection resumes from inside its own frame and
 * call-end handling.  Messages that arrive meanwhile queue behind them. */
static void stream_resume(pgmld_transport_t *t)
{
  ws_stream_t *s = stream_of(t);

  s->paused = 0;
  if (s->wsi == NULL || s->closing)
    return;
  if (s->held != NULL && pgmld_list_empty(&s->resume_link))
    pgmld_list_append(&s->w->resumed, &s->resume_link);
  if (!s->refusing)
    lws_rx_flow_control(s->wsi, 1);
  wake(s->wsi);
}

static void stream_close(pgmld_transport_t *t, int flush)
{
  ws_stream_t *s = stream_of(t);

  if (s->closing && (s->flushing == 0 || flush))
    return;
  s->closing = 1;
  if (s->wsi == NULL)
    return;                     /* lws is closing it already */
  if (flush && s->out.n > 0) {
    /* Closing after an answer (a refusal, say) while the peer may still
     * be sending: what it sends is read and dropped (on_receive), so that
     * its sends complete and it reads the answer, instead of the close
     * finding unread bytes and resetting the connection under it.  lws
     * bounds the wait for the peer's close (PENDING_TIMEOUT_CLOSE_ACK). */
    lws_rx_flow_control(s->wsi, 1);
    s->flushing = 1;
    lws_callback_on_writable(s->wsi);
    return;
  }
  lws_rx_flow_control(s->wsi, 0);
  s->flushing = 0;
  drop_queue(s);
  /* Asynchronous: lws closes it from its own loop callback, so the
   * connection is not re-entered from inside this call. */
  kill_async(s->wsi);
}

static const char *stream_peer(const pgmld_transport_t *t)
{
  return PGMLD_CONTAINER_OF(t, const ws_stream_t, base)->peer;
}

static const pgmld_transport_ops_t ws_ops = {
  .name = "ws",
  .write = stream_write,
  .pause = stream_pause,
  .resume = stream_resume,
  .close = stream_close,
  .peer = stream_peer,
};

static void describe_peer(ws_stream_t *s, int tls)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  int fd = lws_get_socket_fd(s->wsi);

  if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET) {
      struct sockaddr_in *in = (struct sockaddr_in *)&ss;
      inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
      port = ntohs(in->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
      port = ntohs(in6->sin6_port);
    }
  }
  snprintf(s->peer, sizeof(s->peer), "%s:%s:%d", tls ? "wss" : "ws", host, port);
}

/* A message is complete: to the connection now, or held while paused. */
static int message_done(ws_stream_t *s)
{
  /* Released first: the call the message starts counts its own bytes,
   * and the connection checks them against the same limit. */
  release_msg(s);
  if (s->paused || s->held != NULL) {
    held_t *h = pgmld_malloc(sizeof(*h) + s->msg_len);
    if (h == NULL)
      return -ENOMEM;
    h->next = NULL;
    h->len = (uint32_t)s->msg_len;
    if (s->msg_len > 0)
      memcpy(h->body, s->msg, s->msg_len);
    if (s->held_tail != NULL)
      s->held_tail->next = h;
    else
      s->held = h;
    s->held_tail = h;
  } else {
    pgmld__conn_on_frame(s->base.conn, s->msg, (uint32_t)s->msg_len);
  }
  s->msg_len = 0;
  if (s->msg_cap > KEEP_BUFFER) {
    pgmld_free(s->msg);
    s->msg = NULL;
    s->msg_cap = 0;
  }
  return 0;
}

/* Refuses the message being received and drops what was received of it;
 * the rest of it, and anything after it, is read and dropped too (the
 * caller has the connection answer on id 0 and close: see stream_close). */
static void stop_message(ws_stream_t *s)
{
  s->refusing = 1;
  release_msg(s);
  pgmld_free(s->msg);
  s->msg = NULL;
  s->msg_len = s->msg_cap = 0;
}

/* Counts the reassembly buffer of a connection that has shown a valid
 * token, at the capacity *cap it is about to have, against
 * limits.max_server_inflight_bytes, so that many clients each sending a
 * message of up to limits.max_frame_size cannot exhaust memory.  When that
 * much is not available, the buffer grows only to `least` (the bytes of
 * the message so far), so a message that fits under the limit is not
 * refused for the slack of doubling.  Connections that have shown no
 * token are not counted: each holds at most UNTRUSTED_MAX_MESSAGE and
 * must not crowd out the others.  An empty buffer kept between messages
 * (at most KEEP_BUFFER) is not counted either.  Returns 0 with *cap the
 * capacity to allocate, or -1 after refusing the message. */
static int reserve_msg(ws_stream_t *s, int trusted, size_t *cap, size_t least)
{
  pgmld_server_t *srv = s->w->srv;
  uint64_t max = pgmld_server_config(srv)->limits.max_server_inflight_bytes;
  char msg[PGMLD_STATUS_MESSAGE_MAX];
  size_t exact = least > s->msg_cap ? least : s->msg_cap;

  if (!trusted || *cap <= s->msg_reserved)
    return 0;
  if (pgmld_conns_reserve_bytes(srv, *cap - s->msg_reserved) == 0) {
    s->msg_reserved = *cap;
    return 0;
  }
  if (exact < *cap && (exact <= s->msg_reserved ||
                       pgmld_conns_reserve_bytes(srv, exact - s->msg_reserved) == 0)) {
    if (exact > s->msg_reserved)
      s->msg_reserved = exact;
    *cap = exact;
    return 0;
  }
  snprintf(msg, sizeof(msg), "server busy: requests in flight hold %llu bytes and "
           "this message needs %zu so far, over limits.max_server_inflight_bytes "
           "(%llu); the connection closes, retry later",
           (unsigned long long)(pgmld_conns_reserved_bytes(srv) - s->msg_reserved), least,
           (unsigned long long)max);
  pgmld_log_warn("ws", "%s: %s", s->peer, msg);
  stop_message(s);
  pgmld_conn_refuse(s->base.conn, PGMLD_RESOURCE_EXHAUSTED, msg);
  return -1;
}

/* Appends one piece of the incoming message.  Returns 0, or -1 when lws
 * must drop the connection (out of memory). */
static int on_receive(ws_stream_t *s, const uint8_t *in, size_t len)
{
  int trusted = pgmld_conn_trusted(s->base.conn);
  uint64_t max = s->max_frame;
  size_t need;
  int final;

  if (!trusted && max > UNTRUSTED_MAX_MESSAGE)
    max = UNTRUSTED_MAX_MESSAGE;
  final = lws_is_final_fragment(s->wsi) && lws_remaining_packet_payload(s->wsi) == 0;
  if (s->refusing || s->closing) {
    /* Dropped.  Once the refused message has ended, a close waiting for
     * it goes on (on_writeable). */
    if (s->refusing && final && !s->drained) {
      s->drained = 1;
      if (s->draining)
        lws_callback_on_writable(s->wsi);
    }
    return 0;
  }
  if ((uint64_t)s->msg_len + len > max) {
    /* The rest is dropped: the connection answers on id 0 and closes. */
    uint64_t seen = (uint64_t)s->msg_len + len;
    stop_message(s);
    s->drained = final;
    if (max == s->max_frame) {
      pgmld__conn_on_oversize(s->base.conn, seen);
    } else {
      char msg[200];
      snprintf(msg, sizeof(msg), "message of more than %llu bytes before any valid "
               "bearer token: at most %u bytes are accepted until the connection is "
               "authenticated (limits.max_frame_size applies after)",
               (unsigned long long)seen, UNTRUSTED_MAX_MESSAGE);
      pgmld_conn_refuse(s->base.conn, PGMLD_RESOURCE_EXHAUSTED, msg);
    }
    return 0;
  }
  need = s->msg_cap;
  if (s->msg_len + len > s->msg_cap) {
    need = s->msg_cap ? s->msg_cap : 4096;
    while (need < s->msg_len + len)
      need *= 2;
    if (need > max)
      need = (size_t)max;
  }
  /* Counted before it is allocated; a buffer kept from an earlier
   * message is counted again once it holds part of a new one. */
  if (len > 0 && reserve_msg(s, trusted, &need, s->msg_len + len) < 0) {
    s->drained = final;
    return 0;
  }
  if (need > s->msg_cap) {
    size_t cap = need;
    uint8_t *p;
    p = pgmld_realloc(s->msg, cap);
    if (p == NULL) {
      pgmld_log_error("ws", "%s: out of memory for a %zu-byte message; closing", s->peer,
                      s->msg_len + len);
      return -1;
    }
    s->msg = p;
    s->msg_cap = cap;
  }
  if (len > 0)
    memcpy(s->msg + s->msg_len, in, len);
  s->msg_len += len;
  if (final && message_done(s) < 0) {
    pgmld_log_error("ws", "%s: out of memory holding a message; closing", s->peer);
    return -1;
  }
  return 0;
}

/* One WRITEABLE: at most WS_CHUNK bytes of the first queued response, as a
 * fragment of its message.  Returns -1 when lws must close the connection. */
static int on_writeable(ws_stream_t *s)
{
  pgmld_outbuf_t *ob;
  const uint8_t *body;
  size_t blen, chunk;
  int flags;

  if (s->closing && (!s->flushing || s->out.n == 0)) {
    /* A peer still sending the message it was refused would find the
     * connection reset under its sends, and might never read the answer:
     * the close waits, reading and dropping, until that message has ended
     * or REFUSED_DRAIN_SECS have passed (lws then drops the connection). */
    if (s->refusing && !s->drained && s->flushing) {
      if (!s->draining) {
        s->draining = 1;
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, REFUSED_DRAIN_SECS);
      }
      return 0;
    }
    lws_close_reason(s->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
    return -1;
  }
  if (s->out.n == 0)
    return 0;
  ob = &s->out.bufs[0];
  body = ob->base + PGML_FRAME_HEADER_SIZE;
  blen = ob->len - PGML_FRAME_HEADER_SIZE;
  chunk = blen - s->sent < WS_CHUNK ? blen - s->sent : WS_CHUNK;
  if (s->scratch == NULL) {
    s->scratch = pgmld_malloc(LWS_PRE + WS_CHUNK);
    if (s->scratch == NULL) {
      pgmld_log_error("ws", "%s: out of memory writing; closing", s->peer);
      return -1;
    }
  }
  if (chunk > 0)
    memcpy(s->scratch + LWS_PRE, body + s->sent, chunk);
  flags = lws_write_ws_flags(LWS_WRITE_BINARY, s->sent == 0, s->sent + chunk == blen);
  if (lws_write(s->wsi, s->scratch + LWS_PRE, chunk, (enum lws_write_protocol)flags) <
      (int)chunk) {
    pgmld_log_info("ws", "%s: write failed; closing", s->peer);
    return -1;
  }
  s->sent += chunk;
  if (s->sent == blen) {
    size_t bytes = ob->len;
    pgmld_free(ob->base);
    s->out.n--;
    memmove(s->out.bufs, s->out.bufs + 1, s->out.n * sizeof(*s->out.bufs));
    s->sent = 0;
    /* May resume reading, deliver held messages, queue or close. */
    if (s->base.conn != NULL)
      pgmld__conn_on_written(s->base.conn, bytes);
  }
  if (s->wsi != NULL && (s->out.n > 0 || s->closing))
    lws_callback_on_writable(s->wsi);
  return 0;
}

static void on_established(pgmld_ws_t *w, struct lws *wsi, ws_session_t *sess, int tls)
{
  pgmld_server_t *srv = w->srv;
  const pgmld_config_t *cfg = pgmld_server_config(srv);
  size_t max_ws = pgmld_ws_max_connections(cfg);
  ws_stream_t *s;
  pgmld_conn_t *conn;

  s = pgmld_calloc(1, sizeof(*s));
  if (s == NULL) {
    pgmld_log_error("ws", "out of memory accepting a WebSocket client");
    kill_async(wsi);
    return;
  }
  s->base.ops = &ws_ops;
  s->w = w;
  pgmld_list_init(&s->resume_link);
  pgmld_list_append(&w->streams, &s->link);
  w->n_streams++;
  s->wsi = wsi;
  /* The read limit stays what it was when the connection opened, as on the
   * Unix socket (docs/configuration.md, reload). */
  s->max_frame = cfg->limits.max_frame_size;
  s->header_auth = sess->header_auth;
  memcpy(s->token_hash, sess->token_hash, sizeof(s->token_hash));
  describe_peer(s, tls);
  sess->s = s;
  if (pgmld_conn_new(srv, &s->base, &conn) < 0)
    return;             /* conn_new closed the transport: lws kills it async */
  if (sess->header_auth || !pgmld_auth_tokens_required(pgmld__server_auth(srv)))
    pgmld_conn_set_authenticated(conn, 1);
  if (w->n_streams > max_ws) {
    char msg[200];
    snprintf(msg, sizeof(msg), "too many WebSocket connections: "
             "limits.max_ws_connections (%zu) are open", max_ws);
    pgmld_conn_refuse(conn, PGMLD_RESOURCE_EXHAUSTED, msg);
  }
}

static void on_closed(ws_session_t *sess)
{
  ws_stream_t *s = sess->s;
  pgmld_conn_t *conn;

  if (s == NULL)
    return;
  sess->s = NULL;
  s->wsi = NULL;
  conn = s->base.conn;
  if (!s->closing && conn != NULL)
    pgmld__conn_on_end(conn, UV_EOF);
  stream_free(s);
  /* After the free: the connection must not touch the transport again. */
  if (conn != NULL)
    pgmld__conn_on_closed(conn);
}

/* Whether `origin` is one of the comma-separated entries of `list`
 * (spaces around entries ignored; compared without regard to case, as the
 * scheme and host of an origin are). */
static int origin_listed(const char *list, const char *origin)
{
  size_t olen = strlen(origin);
  const char *p = list;

  while (*p != '\0') {
    const char *end;
    size_t len;

    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    end = p;
    while (*end != '\0' && *end != ',')
      end++;
    len = (size_t)(end - p);
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
      len--;
    if (len > 0 && len == olen && strncasecmp(p, origin, len) == 0)
      return 1;
    p = end;
  }
  return 0;
}

/* A browser says where the page that opens a WebSocket came from, and any
 * page may open one to 127.0.0.1: without this check a web site the user
 * visits could use a loopback listener (cross-site WebSocket hijacking),
 * tokens or not when none are configured.  Clients other than browsers send
 * no Origin and are not affected.  Returns 0 when the upgrade may go on. */
static int check_origin(const pgmld_config_t *cfg, struct lws *wsi)
{
  char origin[ORIGIN_MAX];
  int n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);

  if (n <= 0)
    return 0;
  if ((size_t)n >= sizeof(origin) ||
      lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) < 0) {
    pgmld_log_info("ws", "refused a WebSocket upgrade: its Origin header is longer "
                   "than %u bytes", ORIGIN_MAX - 1);
    return -1;
  }
  if (origin_listed(cfg->websocket.allowed_origins, origin))
    return 0;
  /* The value is printed with %.*s of its own length: it came from a
   * browser, not from the user, and holds no secret. */
  pgmld_log_warn("ws", "refused a WebSocket upgrade from a browser page of origin "
                 "'%.*s': it is not in websocket.allowed_origins (%s)", n, origin,
                 cfg->websocket.allowed_origins[0] != '\0'
                   ? cfg->websocket.allowed_origins : "empty: no browser page may connect");
  return -1;
}

/* The upgrade request: right path, an allowed Origin (if any), and a bearer
 * token in the header? */
static int filter_upgrade(pgmld_server_t *srv, struct lws *wsi, ws_session_t *sess)
{
  const pgmld_config_t *cfg = pgmld_server_config(srv);
  char uri[256];
  int n;

  n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
  if (n < 0 || strcmp(uri, cfg->websocket.path) != 0) {
    pgmld_log_info("ws", "refused a WebSocket upgrade on %s: the path is "
                   "websocket.path %s", n < 0 ? "(unreadable path)" : uri,
                   cfg->websocket.path);
    return -1;
  }
  if (check_origin(cfg, wsi) < 0)
    return -1;
  n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
  if (n > 0 && (size_t)n < PGMLD_AUTH_TOKEN_MAX + 16) {
    char *v = pgmld_malloc((size_t)n + 1);
    if (v != NULL) {
      int got = lws_hdr_copy(wsi, v, n + 1, WSI_TOKEN_HTTP_AUTHORIZATION);
      sess->header_auth = got > 0 &&
        pgmld_auth_match_bearer(pgmld__server_auth(srv), v, (size_t)got, sess->token_hash);
      explicit_bzero(v, (size_t)n + 1);
      pgmld_free(v);
    }
    if (!sess->header_auth && pgmld_auth_tokens_required(pgmld__server_auth(srv)))
      pgmld_log_info("ws", "an Authorization header at upgrade was not accepted; "
                     "requests on that connection need a token in their metadata");
  }
  return 0;
}

size_t pgmld_ws_max_connections(const pgmld_config_t *cfg)
{
  size_t n = (size_t)cfg->limits.max_connections * 3u / 4u;

  if (cfg->limits.max_ws_connections > 0)
    return cfg->limits.max_ws_connections;
  return n > 0 ? n : 1;
}

void pgmld_ws_auth_reloaded(pgmld_ws_t *w)
{
  const pgmld_auth_t *auth;
  pgmld_list_t *l, *next;
  size_t cut = 0;

  if (w == NULL)
    return;
  auth = pgmld__server_auth(w->srv);
  /* Refusing closes asynchronously (kill_async): no stream leaves the list
   * during the walk, but next is taken first all the same. */
  for (l = w->streams.next; l != &w->streams; l = next) {
    ws_stream_t *s = PGMLD_CONTAINER_OF(l, ws_stream_t, link);
    next = l->next;
    if (!s->header_auth || s->closing || s->base.conn == NULL ||
        pgmld_auth_has_hash(auth, s->token_hash))
      continue;
    s->header_auth = 0;
    pgmld_conn_set_authenticated(s->base.conn, 0);
    pgmld_conn_refuse(s->base.conn, PGMLD_UNAUTHENTICATED,
                      "the bearer token this connection gave at the upgrade is no "
                      "longer accepted (auth.tokens_file was reloaded); reconnect "
                      "with a current token");
    cut++;
  }
  if (cut > 0)
    pgmld_log_info("ws", "reload: closed %zu WebSocket connections whose token was "
                   "removed", cut);
}

pgmld_server_t *pgmld__ws_server(struct lws *wsi)
{
  struct lws_context *ctx = lws_get_context(wsi);
  pgmld_ws_t *w = ctx != NULL ? lws_context_user(ctx) : NULL;

  return w != NULL ? w->srv : NULL;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                       void *in, size_t len)
{
  struct lws_context *ctx = lws_get_context(wsi);
  pgmld_ws_t *w = ctx != NULL ? lws_context_user(ctx) : NULL;
  pgmld_server_t *srv = w != NULL ? w->srv : NULL;
  ws_session_t *sess = user;

  switch (reason) {
  case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
    if (w != NULL)
      deliver_resumed(w);
    return 0;
  case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
    /* Shutdown began: no new clients. */
    return srv != NULL && pgmld__server_draining(srv) ? -1 : 0;
  case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    return filter_upgrade(srv, wsi, sess);
  case LWS_CALLBACK_ESTABLISHED:
    on_established(w, wsi, sess, lws_is_ssl(wsi));
    return 0;
  case LWS_CALLBACK_RECEIVE:
    if (sess->s == NULL || sess->s->base.conn == NULL)
      return -1;
    return on_receive(sess->s, in, len);
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (sess->s == NULL)
      return -1;
    return on_writeable(sess->s);
  case LWS_CALLBACK_CLOSED:
    on_closed(sess);
    return 0;
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ------------------------------------------------------------ the context */

static void lws_log_line(int level, const char *line)
{
  size_t n = strlen(line);

  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    n--;
  /* lws lists the host's interfaces when a listener starts; under
   * systemd's RestrictAddressFamilies= (no AF_NETLINK) that fails with
   * EAFNOSUPPORT and lws says ERROR, though the listener binds its
   * address all the same.  Not an error of pgmld's. */
  if (strstr(line, "unable to getifaddrs") != NULL) {
    pgmld_log_debug("lws", "%.*s", (int)n, line);
    return;
  }
  if (level & LLL_ERR)
    pgmld_log_error("lws", "%.*s", (int)n, line);
  else
    pgmld_log_warn("lws", "%.*s", (int)n, line);
}

static struct lws_vhost *make_vhost(pgmld_ws_t *w, const char *name,
                                    const pgmld_listen_addr_t *a,
                                    const struct lws_protocols *protocols, int tls)
{
  const pgmld_config_t *cfg = pgmld_server_config(w->srv);
  struct lws_context_creation_info info;
  struct lws_vhost *vh;

  memset(&info, 0, sizeof(info));
  info.vhost_name = name;
  info.port = a->port;
  info.iface = a->host[0] != '\0' && strcmp(a->host, "0.0.0.0") != 0 &&
               strcmp(a->host, "::") != 0 ? a->host : NULL;
  info.protocols = protocols;
  if (!a->ipv6)
    info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  if (tls) {
    /* lws reads this per vhost too: without it the vhost is plain text. */
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = cfg->tls.cert_file;
    info.ssl_private_key_filepath = cfg->tls.key_file;
  }
  vh = lws_create_vhost(w->ctx, &info);
  if (vh == NULL)
    pgmld_log_error("ws", "cannot listen on %s:%d for %s (address in use, not a local "
                    "address, or %s)", a->host[0] ? a->host : "*", a->port, name,
                    tls ? "a bad tls.cert_file / tls.key_file" : "see the lws error above");
  return vh;
}

int pgmld_ws_start(pgmld_server_t *srv, pgmld_ws_t **out)
{
  const pgmld_config_t *cfg = pgmld_server_config(srv);
  struct lws_context_creation_info info;
  void *loops[1];
  pgmld_ws_t *w;
  char err[256];

  *out = NULL;
  w = pgmld_calloc(1, sizeof(*w));
  if (w == NULL)
    return -ENOMEM;
  w->srv = srv;
  pgmld_list_init(&w->resumed);
  pgmld_list_init(&w->streams);
  w->tls = cfg->tls.cert_file[0] != '\0';
  if ((cfg->websocket.listen[0] != '\0' &&
       pgmld_listen_addr_parse("websocket.listen", cfg->websocket.listen, &w->ws_addr, err,
                               sizeof(err)) < 0) ||
      (cfg->http.listen[0] != '\0' &&
       pgmld_listen_addr_parse("http.listen", cfg->http.listen, &w->http_addr, err,
                               sizeof(err)) < 0)) {
    pgmld_log_error("ws", "%s", err);
    pgmld_free(w);
    return -EINVAL;
  }

  w->ws_protocols[0].name = WS_SUBPROTOCOL;
  w->ws_protocols[0].callback = ws_callback;
  w->ws_protocols[0].per_session_data_size = sizeof(ws_session_t);
  w->ws_protocols[0].rx_buffer_size = WS_CHUNK;
  w->http_protocols[0].name = "pgmld-http";
  w->http_protocols[0].callback = pgmld__http_callback;
  w->http_protocols[0].per_session_data_size = pgmld__http_session_size();

  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_line);
  memset(&info, 0, sizeof(info));
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  if (w->tls)
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  loops[0] = pgmld_server_loop(srv);
  info.foreign_loops = loops;
  info.user = w;
  info.pcontext = &w->ctx;
  info.port = CONTEXT_PORT_NO_LISTEN;
  w->ctx = lws_create_context(&info);
  if (w->ctx == NULL) {
    pgmld_log_error("ws", "cannot create the libwebsockets context (is the libuv "
                    "event library plugin, package libwebsockets-evlib-uv, installed?)");
    pgmld_free(w);
    return -EIO;
  }
  if ((cfg->websocket.listen[0] != '\0' &&
       make_vhost(w, "websocket", &w->ws_addr, w->ws_protocols, w->tls) == NULL) ||
      (cfg->http.listen[0] != '\0' &&
       make_vhost(w, "http", &w->http_addr, w->http_protocols, 0) == NULL)) {
    pgmld_ws_close(w);
    *out = w;           /* the caller closes and frees it like a running one */
    return -EADDRNOTAVAIL;
  }
  if (cfg->websocket.listen[0] != '\0')
    pgmld_log_info("ws", "listening on %s://%s%s (%s)", w->tls ? "wss" : "ws",
                   cfg->websocket.listen, cfg->websocket.path,
                   pgmld_auth_tokens_required(pgmld__server_auth(srv))
                     ? "bearer tokens required" : "no tokens configured");
  if (cfg->http.listen[0] != '\0')
    pgmld_log_info("ws", "health and metrics on http://%s/healthz, /readyz, /metrics",
                   cfg->http.listen);
  *out = w;
  return 0;
}

void pgmld_ws_close(pgmld_ws_t *w)
{
  if (w == NULL || w->closing)
    return;
  w->closing = 1;
  if (w->ctx != NULL)
    lws_context_destroy(w->ctx);
}

void pgmld_ws_free(pgmld_ws_t *w)
{
  if (w == NULL)
    return;
  /* With a foreign loop, the first destroy only starts closing; lws clears
   * w->ctx (pcontext) when it has finished.  If the loop never ran the
   * closes, this finishes them. */
  if (w->ctx != NULL)
    lws_context_destroy(w->ctx);
  pgmld_free(w);
}
