/* call.c - one RPC from JavaScript: encodes the request, starts it with
 * pgml_call_raw(), and settles its Promise from libpgml's callback on the
 * loop, inside a handle scope and a callback scope so that the promise's
 * continuations run at once.  An AbortSignal cancels the call. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "addon.h"

typedef struct call_s call_t;

/* What the abort listener knows of its call.  The listener function can
 * outlive the call (a signal-like object may keep it however it is asked to
 * remove it, and removing it can fail), so it never points at the call
 * itself: call_free() clears cell->call, and the cell lives as long as the
 * function, freed by the function's finalizer (cell_finalize). */
typedef struct abort_cell_s {
  call_t *call;  /* NULL once the call is freed */
} abort_cell_t;

struct call_s {
  pgml_node_env_t *e;
  pgml_node_db_t *db;
  pgml_client_t *c;     /* the client it runs on (db->c when it started) */
  const pgml_method_info_t *m;
  napi_deferred deferred;
  /* Strong: the Database object, so that it is not collected (and its
   * client freed from a finalizer) while the call is pending. */
  napi_ref db_obj;
  napi_ref signal;      /* the AbortSignal, or NULL */
  napi_ref on_abort;    /* the listener added to it, or NULL */
  abort_cell_t *cell;   /* the listener's cell, or NULL (owned by it) */
  uint64_t id;
  int started;          /* pgml_call_raw() succeeded */
  int aborted;          /* the signal fired: the outcome is CANCELLED */
};

/* protobuf-c's allocations (the decoded response) through the same
 * wrapper as the addon's own. */
static void *pbc_alloc(void *data, size_t size)
{
  (void)data;
  return pgml__malloc(size);
}

static void pbc_free(void *data, void *p)
{
  (void)data;
  pgml__free(p);
}

static ProtobufCAllocator pbc_allocator = {pbc_alloc, pbc_free, NULL};

static void delete_ref(napi_env env, napi_ref *r)
{
  if (*r != NULL) {
    napi_delete_reference(env, *r);
    *r = NULL;
  }
}

/* Removes the abort listener.  A failure does not stop the call from
 * settling: an exception the signal threw is reported as uncaught (never
 * left pending, which would fail every Node-API call after it), and a
 * listener left in place finds its cell empty (see abort_cell_t). */
static void remove_listener(call_t *call)
{
  napi_env env = call->e->env;
  napi_value signal, fn, remove, args[2];
  napi_status st;

  if (call->signal == NULL || call->on_abort == NULL)
    return;
  st = napi_get_reference_value(env, call->signal, &signal);
  if (st == napi_ok)
    st = napi_get_reference_value(env, call->on_abort, &fn);
  if (st == napi_ok)
    st = napi_get_named_property(env, signal, "removeEventListener", &remove);
  if (st == napi_ok)
    st = napi_create_string_utf8(env, "abort", NAPI_AUTO_LENGTH, &args[0]);
  if (st == napi_ok) {
    args[1] = fn;
    st = napi_call_function(env, signal, remove, 2, args, NULL);
  }
  if (st != napi_ok)
    pgml_node__report_pending(env);
}

/* Frees `call` and drops its references.  Its listener, if one was made,
 * may still be reachable from JavaScript: its cell is emptied so that a
 * later abort does nothing. */
static void call_free(call_t *call)
{
  napi_env env = call->e->env;

  if (call->cell != NULL)
    call->cell->call = NULL;
  call->cell = NULL;
  delete_ref(env, &call->on_abort);
  delete_ref(env, &call->signal);
  delete_ref(env, &call->db_obj);
  pgml__free(call);
}

/* The result of a successful call, as the method presents it: a bound
 * object, the unwrapped list, undefined, or the response object, in *out
 * with *reject = 0.  A response that cannot be decoded gives an
 * InternalError in *out with *reject = 1: the promise rejects with it.
 * Any other status is a failure (an exception may be pending), and *out is
 * not to be used. */
static napi_status result_value(call_t *call, const pgml_result_t *res, napi_value *out,
                                int *reject)
{
  pgml_node_env_t *e = call->e;
  napi_env env = e->env;
  const pgml_method_info_t *m = call->m;
  ProtobufCMessage *msg;
  napi_status st = napi_ok;
  char why[256];

  *reject = 0;
  if ((m->flags & PGML_METHOD_VOID) && m->returns_bound == NULL)
    return napi_get_undefined(env, out);
  msg = protobuf_c_message_unpack(m->response_type, &pbc_allocator, res->payload_len,
                                  res->payload);
  if (msg == NULL) {
    /* protobuf-c says no more than NULL: malformed, or out of memory. */
    snprintf(why, sizeof(why), "%s: the response (%zu bytes) could not be decoded as %s "
             "(malformed, or out of memory)", m->name, res->payload_len,
             m->response_type->name);
    NAPI_TRY(pgml_node__make_error(e, PGML_INTERNAL, why, NULL, out));
    *reject = 1;
    return napi_ok;
  }
  if (m->returns_bound != NULL && m->returns_key != NULL) {
    const ProtobufCFieldDescriptor *fd = pgml_node__field_desc(m->response_type,
                                                               m->returns_key->number);
    const pgml_class_info_t *cls = NULL;
    napi_value db_obj;

    for (size_t i = 0; i < e->table->n_classes; i++)
      if (strcmp(e->table->classes[i].name, m->returns_bound) == 0)
        cls = &e->table->classes[i];
    if (fd == NULL || fd->type != PROTOBUF_C_TYPE_STRING || cls == NULL) {
      st = pgml_node__throw_error(env, "TABLE", "%s: cannot return a %s", m->name,
                                  m->returns_bound);
    } else {
      const char *key = *(char **)((char *)msg + fd->offset);
      st = napi_get_reference_value(env, call->db_obj, &db_obj);
      if (st == napi_ok)
        st = pgml_node__new_bound(e, cls, db_obj, key, strlen(key), out);
    }
  } else if (m->unwrap != NULL) {
    const ProtobufCFieldDescriptor *fd = pgml_node__field_desc(m->response_type,
                                                               m->unwrap->number);
    st = fd != NULL ? pgml_node__field_to_js(e, msg, fd, m->unwrap, out)
                    : pgml_node__throw_error(env, "TABLE", "%s: no field to unwrap", m->name);
  } else {
    st = pgml_node__msg_to_js(e, msg, out);
  }
  protobuf_c_message_free_unpacked(msg, &pbc_allocator);
  return st;
}

/* Rejects the promise of a call whose outcome could not be made into a
 * value (`what` says which): with the pending exception when there is one,
 * so that the caller sees why, else with an InternalError naming the
 * Node-API failure.  Must run right after the failure, before another
 * Node-API call replaces its error information. */
static napi_status reject_failed(call_t *call, const char *what)
{
  napi_env env = call->e->env;
  const napi_extended_error_info *info = NULL;
  char msg[256];
  napi_value err, s;
  bool pending = false;

  snprintf(msg, sizeof(msg), "%s: %s: %s", call->m->name, what,
           napi_get_last_error_info(env, &info) == napi_ok && info != NULL &&
                   info->error_message != NULL
               ? info->error_message
               : "Node-API failure");
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &err) == napi_ok)
    return napi_reject_deferred(env, call->deferred, err);
  if (pgml_node__make_error(call->e, PGML_INTERNAL, msg, NULL, &err) == napi_ok)
    return napi_reject_deferred(env, call->deferred, err);
  /* Defensive: the error classes themselves failed; a plain Error still
   * settles the promise. */
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
    (void)napi_get_and_clear_last_exception(env, &err);
  NAPI_TRY(napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &s));
  NAPI_TRY(napi_create_error(env, NULL, s, &err));
  return napi_reject_deferred(env, call->deferred, err);
}

/* Settles the promise.  Runs inside the callback scope. */
static void settle(call_t *call, const pgml_result_t *res)
{
  napi_env env = call->e->env;
  napi_value v = NULL;
  napi_status st;
  pgml_code_t code = res->code;
  const char *message = res->message;

  if (call->aborted && code == PGML_CANCELLED)
    message = "the call was aborted by its AbortSignal";
  if (code == PGML_OK) {
    int reject = 0;

    st = result_value(call, res, &v, &reject);
    if (st != napi_ok)
      st = reject_failed(call, "the response could not be converted to JavaScript");
    else if (reject)
      st = napi_reject_deferred(env, call->deferred, v);
    else
      st = napi_resolve_deferred(env, call->deferred, v);
  } else {
    st = pgml_node__make_error(call->e, code, message, res->details, &v);
    if (st != napi_ok)
      st = reject_failed(call, "the call's error could not be made");
    else
      st = napi_reject_deferred(env, call->deferred, v);
  }
  if (st != napi_ok)
    pgml_node__report_pending(env);
}

static void on_done(pgml_client_t *c, const pgml_result_t *res, void *ud)
{
  call_t *call = ud;
  pgml_node_env_t *e = call->e;
  pgml_node_db_t *db = call->db;
  napi_env env = e->env;
  napi_handle_scope hs;
  napi_callback_scope cs;
  napi_value resource;

  (void)c;
  /* While the environment is torn down no JavaScript may run: the promise
   * is dropped with the environment. */
  if (e->dying) {
    call_free(call);
    return;
  }
  db->in_callback++;
  if (napi_open_handle_scope(env, &hs) != napi_ok) {
    db->in_callback--;
    call_free(call);
    return;
  }
  remove_listener(call);
  if (napi_get_reference_value(env, e->async_resource, &resource) == napi_ok &&
      napi_open_callback_scope(env, resource, e->async_ctx, &cs) == napi_ok) {
    settle(call, res);
    /* Closing the outermost callback scope runs the microtasks: the
     * continuations of the promise just settled. */
    if (napi_close_callback_scope(env, cs) != napi_ok)
      pgml_node__report_pending(env);
  } else {
    settle(call, res);
  }
  db->in_callback--;
  call_free(call);
  napi_close_handle_scope(env, hs);
}

/* Cancels a started call: its callback then runs with CANCELLED from the
 * next step.  -ENOENT (the call completed already) needs nothing. */
static void cancel(call_t *call)
{
  int rc;

  /* A started call is pending until its callback, which frees `call`, so
   * call->c is alive here. */
  if (!call->started)
    return;
  rc = pgml_cancel(call->c, call->id);
  (void)rc;
}

/* The AbortSignal's listener: cancels the call (its callback then runs
 * with CANCELLED from the next step).  Its data is the call's cell, empty
 * once the call is freed.  Fired before the call started (a signal-like
 * object may call it from addEventListener), it marks the call, which
 * pgml_node__start_call() then cancels at once. */
static napi_value on_abort(napi_env env, napi_callback_info info)
{
  abort_cell_t *cell;
  call_t *call;

  NAPI_TRY_CB(napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&cell));
  call = cell != NULL ? cell->call : NULL;
  if (call != NULL) {
    call->aborted = 1;
    cancel(call);
  }
  return NULL;
}

/* The listener function's finalizer: frees its cell.  The call normally
 * went first (it holds a strong reference to the function), but at an
 * environment's teardown the order is Node's, so the link is cut from
 * either side. */
static void cell_finalize(napi_env env, void *data, void *hint)
{
  abort_cell_t *cell = data;

  (void)env;
  (void)hint;
  if (cell->call != NULL)
    cell->call->cell = NULL;
  pgml__free(cell);
}

/* Adds the abort listener to `signal`.  On failure (an exception may be
 * pending) whatever was made is released by call_free(). */
static napi_status add_listener(call_t *call, napi_value signal)
{
  napi_env env = call->e->env;
  napi_value fn, add, args[2];
  abort_cell_t *cell;
  napi_status st;

  NAPI_TRY(napi_create_reference(env, signal, 1, &call->signal));
  cell = pgml__calloc(1, sizeof(*cell));
  if (cell == NULL)
    return pgml_node__throw_error(env, "NOMEM", "%s: out of memory", call->m->name);
  st = napi_create_function(env, "onAbort", NAPI_AUTO_LENGTH, on_abort, cell, &fn);
  if (st == napi_ok)
    st = napi_add_finalizer(env, fn, cell, cell_finalize, NULL, NULL);
  if (st != napi_ok) {
    /* The function, if made, is unreachable: nothing can call it. */
    pgml__free(cell);
    return st;
  }
  /* From here the function owns the cell. */
  cell->call = call;
  call->cell = cell;
  NAPI_TRY(napi_create_reference(env, fn, 1, &call->on_abort));
  NAPI_TRY(napi_get_named_property(env, signal, "addEventListener", &add));
  NAPI_TRY(napi_create_string_utf8(env, "abort", NAPI_AUTO_LENGTH, &args[0]));
  args[1] = fn;
  return napi_call_function(env, signal, add, 2, args, NULL);
}

/* Packs `req` into a new buffer, which the caller frees with pgml__free(). */
static int pack(const ProtobufCMessage *req, uint8_t **out, size_t *len)
{
  size_t n = protobuf_c_message_get_packed_size(req);
  uint8_t *buf = pgml__malloc(n);

  if (buf == NULL)
    return -ENOMEM;
  *len = protobuf_c_message_pack(req, buf);
  *out = buf;
  return 0;
}

/* Refusals of pgml_call_raw(), as call outcomes. */
static napi_status reject_start(pgml_node_env_t *e, call_t *call, int rc, size_t len)
{
  char msg[256];
  napi_value err;
  pgml_code_t code = PGML_INTERNAL;

  switch (rc) {
  case -EMSGSIZE:
    code = PGML_RESOURCE_EXHAUSTED;
    snprintf(msg, sizeof(msg), "%s: the request (%zu bytes) is larger than the largest frame",
             call->m->name, len);
    break;
  case -ENOBUFS:
    code = PGML_RESOURCE_EXHAUSTED;
    snprintf(msg, sizeof(msg), "%s: too many calls are pending on this Database",
             call->m->name);
    break;
  case -ESHUTDOWN:
    code = PGML_CANCELLED;
    snprintf(msg, sizeof(msg), "%s: the Database is closing", call->m->name);
    break;
  default:
    snprintf(msg, sizeof(msg), "%s: the call could not start on %s: %s", call->m->name,
             call->db->address, strerror(-rc));
    break;
  }
  NAPI_TRY(pgml_node__make_error(e, code, msg, NULL, &err));
  return napi_reject_deferred(e->env, call->deferred, err);
}

napi_status pgml_node__start_call(pgml_node_env_t *e, pgml_node_db_t *db, napi_value db_obj,
                                  const pgml_method_info_t *m, const char *bind_value,
                                  size_t argc, napi_value *argv, napi_value *out)
{
  napi_env env = e->env;
  pgml_node_arena_t arena = {0};
  pgml_node_call_opts_t opts = {0};
  ProtobufCMessage *req;
  pgml_call_options_t copts = {0};
  pgml_client_t *client;
  call_t *call = NULL;
  uint8_t *buf = NULL;
  size_t len = 0;
  napi_status st;
  int rc;

  req = pgml_node__arena_alloc(&arena, m->request_type->sizeof_message);
  if (req == NULL)
    return pgml_node__throw_error(env, "NOMEM", "%s: out of memory", m->name);
  protobuf_c_message_init(m->request_type, req);
  st = pgml_node__read_args(e, m, argc, argv, bind_value, &arena, req, &opts);
  if (st == napi_ok && pack(req, &buf, &len) != 0)
    st = pgml_node__throw_error(env, "NOMEM", "%s: out of memory", m->name);
  pgml_node__arena_free(&arena);
  if (st != napi_ok)
    return st;

  call = pgml__calloc(1, sizeof(*call));
  if (call == NULL) {
    pgml__free(buf);
    return pgml_node__throw_error(env, "NOMEM", "%s: out of memory", m->name);
  }
  call->e = e;
  call->db = db;
  call->m = m;
  st = napi_create_promise(env, &call->deferred, out);
  if (st == napi_ok)
    st = napi_create_reference(env, db_obj, 1, &call->db_obj);
  if (st != napi_ok) {
    pgml__free(buf);
    call_free(call);
    return st;
  }
  /* The listener goes on before the call starts, so that a failure here
   * leaves no call running with a promise nobody holds.  It does nothing
   * until call->started. */
  if (opts.signal != NULL) {
    napi_value aborted;
    bool is_aborted = false;

    st = napi_get_named_property(env, opts.signal, "aborted", &aborted);
    if (st == napi_ok && napi_get_value_bool(env, aborted, &is_aborted) != napi_ok)
      st = pgml_node__throw_type(env, "%s: signal: expected an AbortSignal (its aborted is "
                                      "not a boolean)", m->name);
    if (st == napi_ok && is_aborted)
      call->aborted = 1;
    else if (st == napi_ok)
      st = add_listener(call, opts.signal);
    if (st != napi_ok) {
      pgml__free(buf);
      remove_listener(call);
      call_free(call);
      return st;
    }
  }
  copts.timeout_ms = opts.has_timeout ? opts.timeout_ms : db->timeout_ms;
  /* After close() the first call opens a new client. */
  rc = pgml_node__db_client(db, &client);
  if (rc == 0)
    rc = pgml_call_raw(client, m->wire_name, len > 0 ? buf : NULL, len, &copts, on_done, call,
                     &call->id);
  pgml__free(buf);
  if (rc != 0) {
    remove_listener(call);
    st = reject_start(e, call, rc, len);
    call_free(call);
    return st;
  }
  call->c = client;
  call->started = 1;
  /* An already aborted signal cancels the call at once; the promise
   * rejects from the loop like any other outcome. */
  if (call->aborted)
    cancel(call);
  return napi_ok;
}
