/* classes.c - the Database class and the bound classes (Collection),
 * defined at load time from the method table: one generic method per table
 * entry, no code per RPC.  Also the Database's lifetime: close(), the
 * finalizer, and closes deferred out of the client's own callbacks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"
#include "pgml/uv.h"

/* Arguments a method reads at most (its request's fields and two option
 * objects); more are refused by args.c anyway. */
#define MAX_ARGV 72

/* Type tags: an object is unwrapped only as what it was made as, so that
 * Database.prototype.ping.call(collection) throws instead of reading a
 * bound object as a Database. */
static const napi_type_tag DB_TAG = {0x70676d6c2d6e6f64ULL, 0x6544617461626173ULL};
static const napi_type_tag BOUND_TAG = {0x70676d6c2d6e6f64ULL, 0x65426f756e644f62ULL};

/* The native object of `obj` if it carries `tag`, else NULL (no exception). */
static void *unwrap_tagged(napi_env env, napi_value obj, const napi_type_tag *tag)
{
  napi_valuetype t;
  bool ok = false;
  void *data = NULL;

  if (napi_typeof(env, obj, &t) != napi_ok || t != napi_object ||
      napi_check_object_type_tag(env, obj, tag, &ok) != napi_ok || !ok ||
      napi_unwrap(env, obj, &data) != napi_ok)
    return NULL;
  return data;
}

static void db_unlink(pgml_node_db_t *db)
{
  pgml_node_env_t *e = db->e;

  if (db->prev != NULL)
    db->prev->next = db->next;
  else if (e->dbs == db)
    e->dbs = db->next;
  if (db->next != NULL)
    db->next->prev = db->prev;
  db->next = db->prev = NULL;
}

void pgml_node__db_free_client(pgml_node_db_t *db)
{
  napi_env env = db->e->env;
  pgml_client_t *c = db->c;
  napi_value undef;

  db->c = NULL;
  /* Pending calls complete here with CANCELLED: their callbacks see
   * db->c == NULL, so an abort listener cannot reach a freed client. */
  pgml_client_free(c);
  if (db->close_deferred != NULL && !db->e->dying) {
    if (napi_get_undefined(env, &undef) != napi_ok ||
        napi_resolve_deferred(env, db->close_deferred, undef) != napi_ok)
      pgml_node__report_pending(env);
  }
  db->close_deferred = NULL;
  if (db->close_promise != NULL && !db->e->dying)
    napi_delete_reference(env, db->close_promise);
  db->close_promise = NULL;
}

/* The strings of a Database's client options are its own copies (made in
 * db_construct()), kept because the client is made again after close(). */
static void free_copts(pgml_client_options_t *o)
{
  pgml__free((char *)o->token);
  pgml__free((char *)o->ca_file);
  o->token = o->ca_file = NULL;
}

/* Reads the string option `v` (a string, or undefined/null for none) into
 * *out, a copy to free with pgml__free().  Throws and returns non-ok otherwise. */
static napi_status read_str_opt(napi_env env, napi_value v, const char *what, const char **out)
{
  napi_valuetype t;
  size_t len;
  char *s;

  NAPI_TRY(napi_typeof(env, v, &t));
  if (t == napi_undefined || t == napi_null)
    return napi_ok;
  if (t != napi_string)
    return pgml_node__throw_type(env, "Database: options: %s: expected a string", what);
  NAPI_TRY(napi_get_value_string_utf8(env, v, NULL, 0, &len));
  s = pgml__malloc(len + 1);
  if (s == NULL)
    return pgml_node__throw_error(env, "NOMEM", "Database: out of memory");
  if (napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok || strlen(s) != len) {
    pgml__free(s);
    return pgml_node__throw_type(env, "Database: options: %s: contains a NUL character", what);
  }
  pgml__free((char *)*out);
  *out = s;
  return napi_ok;
}

/* The finalizer of a Database object: no call is pending (each holds a
 * strong reference to the object), so freeing the client runs no
 * callback. */
static void db_finalize(napi_env env, void *data, void *hint)
{
  pgml_node_db_t *db = data;

  (void)env;
  (void)hint;
  if (db->c != NULL)
    pgml_client_free(db->c);
  db->c = NULL;
  /* A Database waiting in e->reap holds a reference to its object, so it
   * cannot be finalized before the reaper has run. */
  db_unlink(db);
  free_copts(&db->copts);
  pgml__free(db->address);
  pgml__free(db);
}

int pgml_node__db_client(pgml_node_db_t *db, pgml_client_t **out)
{
  pgml_client_t *c;
  int rc;

  if (db->c == NULL) {
    rc = pgml_client_new(db->address, &db->copts, &c);
    if (rc != 0)
      return rc;
    rc = pgml_uv_attach(c, db->e->loop);
    if (rc != 0) {
      pgml_client_free(c);
      return rc;
    }
    db->c = c;
  }
  *out = db->c;
  return 0;
}

static napi_status this_db(napi_env env, napi_callback_info info, size_t *argc,
                           napi_value *argv, napi_value *self, void **data,
                           pgml_node_db_t **out)
{
  NAPI_TRY(napi_get_cb_info(env, info, argc, argv, self, data));
  *out = unwrap_tagged(env, *self, &DB_TAG);
  if (*out == NULL)
    return pgml_node__throw_type(env, "not called on a Database");
  return napi_ok;
}

/* A constructor's Node-API failure: it must throw, or `new` would give the
 * caller an object that is not what it claims (unwrapped). */
static napi_value construct_failed(napi_env env, const char *name)
{
  bool pending = false;

  if (napi_is_exception_pending(env, &pending) == napi_ok && !pending)
    pgml_node__throw_error(env, "NAPI", "%s: the object could not be made (a Node-API call "
                           "failed)", name);
  return NULL;
}

/* new Database(address, { timeoutMs, connectTimeoutMs, maxFrameSize,
 * maxCalls, token, caFile }); token and caFile are for ws:// and wss://. */
static napi_value db_construct(napi_env env, napi_callback_info info)
{
  pgml_node_env_t *e = pgml_node__env(env);
  size_t argc = 2;
  napi_value argv[2], self, target;
  pgml_client_options_t copts = {0};
  pgml_node_db_t *db;
  uint32_t timeout_ms = 0;
  char address[4096];
  size_t len;
  napi_valuetype t;
  int rc;

  NAPI_TRY_CB(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  NAPI_TRY_CB(napi_get_new_target(env, info, &target));
  if (target == NULL) {
    pgml_node__throw_type(env, "Database: call it with new");
    return NULL;
  }
  NAPI_TRY_CB(napi_typeof(env, argc > 0 ? argv[0] : self, &t));
  if (argc < 1 || t != napi_string) {
    pgml_node__throw_type(env, "Database: address: expected a string such as "
                               "\"unix:///run/pgmld/pgmld.sock\"");
    return NULL;
  }
  NAPI_TRY_CB(napi_get_value_string_utf8(env, argv[0], address, sizeof(address), &len));
  if (len >= sizeof(address) - 1) {
    pgml_node__throw_range(env, "Database: address: longer than %zu bytes",
                           sizeof(address) - 2);
    return NULL;
  }
  if (argc > 1) {
    napi_value keys;
    uint32_t n;

    NAPI_TRY_CB(napi_typeof(env, argv[1], &t));
    if (t != napi_undefined) {
      if (t != napi_object) {
        pgml_node__throw_type(env, "Database: options: expected an object");
        return NULL;
      }
      NAPI_TRY_CB(pgml_node__own_keys(env, argv[1], &keys));
      NAPI_TRY_CB(napi_get_array_length(env, keys, &n));
      for (uint32_t i = 0; i < n; i++) {
        napi_value k, v;
        char key[64], what[96];
        uint32_t *dst;

        NAPI_TRY_CB(napi_get_element(env, keys, i, &k));
        NAPI_TRY_CB(napi_get_value_string_utf8(env, k, key, sizeof(key), NULL));
        NAPI_TRY_CB(napi_get_property(env, argv[1], k, &v));
        if (strcmp(key, "token") == 0 || strcmp(key, "caFile") == 0) {
          if (read_str_opt(env, v, key, key[0] == 't' ? &copts.token : &copts.ca_file) !=
              napi_ok) {
            free_copts(&copts);
            return NULL;
          }
          continue;
        }
        if (strcmp(key, "timeoutMs") == 0)
          dst = &timeout_ms;
        else if (strcmp(key, "connectTimeoutMs") == 0)
          dst = &copts.connect_timeout_ms;
        else if (strcmp(key, "maxFrameSize") == 0)
          dst = &copts.max_frame_size;
        else if (strcmp(key, "maxCalls") == 0)
          dst = &copts.max_calls;
        else {
          pgml_node__throw_type(env,
                                "Database: options: unknown option \"%s\" (the options are "
                                "timeoutMs, connectTimeoutMs, maxFrameSize, maxCalls, token "
                                "and caFile)", key);
          free_copts(&copts);
          return NULL;
        }
        snprintf(what, sizeof(what), "Database: options: %s", key);
        if (napi_typeof(env, v, &t) != napi_ok ||
            (t != napi_undefined && pgml_node__read_u32(env, v, what, dst) != napi_ok)) {
          free_copts(&copts);
          return NULL;
        }
      }
    }
  }
  db = pgml__calloc(1, sizeof(*db));
  if (db == NULL) {
    free_copts(&copts);
    pgml_node__throw_error(env, "NOMEM", "Database: out of memory");
    return NULL;
  }
  db->e = e;
  db->timeout_ms = timeout_ms;
  db->copts = copts;
  db->address = pgml__strdup(address);
  /* The client is made now so that a bad address throws here; it connects
   * at the first call. */
  rc = db->address != NULL ? pgml_node__db_client(db, &db->c) : -ENOMEM;
  if (rc != 0) {
    int opts_given = copts.token != NULL || copts.ca_file != NULL;

    free_copts(&db->copts);
    pgml__free(db->address);
    pgml__free(db);
    if (rc == -EINVAL && opts_given)
      pgml_node__throw_type(env, "Database: address \"%s\", token or caFile: %s (a token is "
                            "1 to 4096 printable ASCII characters without spaces)", address,
                            strerror(-rc));
    else if (rc == -EPROTONOSUPPORT || rc == -EINVAL || rc == -ENAMETOOLONG)
      pgml_node__throw_type(env, "Database: address \"%s\": %s", address,
                            rc == -EPROTONOSUPPORT ? "unknown scheme (use unix://, ws:// or "
                                                     "wss://)"
                                                   : strerror(-rc));
    else
      pgml_node__throw_error(env, "CLIENT", "Database: cannot create a client for \"%s\": %s",
                             address, strerror(-rc));
    return NULL;
  }
  if (napi_type_tag_object(env, self, &DB_TAG) != napi_ok ||
      napi_wrap(env, self, db, db_finalize, NULL, NULL) != napi_ok) {
    pgml_client_free(db->c);
    free_copts(&db->copts);
    pgml__free(db->address);
    pgml__free(db);
    return construct_failed(env, e->table->service_class);
  }
  db->next = e->dbs;
  if (e->dbs != NULL)
    e->dbs->prev = db;
  e->dbs = db;
  return self;
}

/* The reaper: frees the clients whose close() was called from their own
 * callbacks, now that the loop is outside libpgml. */
static void reap(uv_timer_t *h)
{
  pgml_node_env_t *e = h->data;
  napi_env env = e->env;
  napi_handle_scope hs;
  napi_callback_scope cs;
  napi_value resource;
  int scoped = 0;

  uv_unref((uv_handle_t *)h);
  if (napi_open_handle_scope(env, &hs) != napi_ok)
    return;
  if (napi_get_reference_value(env, e->async_resource, &resource) == napi_ok &&
      napi_open_callback_scope(env, resource, e->async_ctx, &cs) == napi_ok)
    scoped = 1;
  while (e->reap != NULL) {
    pgml_node_db_t *db = e->reap;
    napi_ref keep = db->reap_ref;

    e->reap = db->reap_next;
    db->reap_next = NULL;
    db->reap_ref = NULL;
    db->close_queued = 0;
    if (db->c != NULL)
      pgml_node__db_free_client(db);
    napi_delete_reference(env, keep);
  }
  if (scoped && napi_close_callback_scope(env, cs) != napi_ok)
    pgml_node__report_pending(env);
  napi_close_handle_scope(env, hs);
}

/* db.close(): a promise resolved once the client is freed.  From inside one
 * of its own callbacks (a continuation of one of its calls) the client
 * cannot be freed, so the reaper frees it from the loop. */
static napi_value db_close(napi_env env, napi_callback_info info)
{
  pgml_node_db_t *db;
  napi_value self, promise, undef;
  napi_deferred deferred;
  size_t argc = 0;

  NAPI_TRY_CB(this_db(env, info, &argc, NULL, &self, NULL, &db));
  if (db->close_promise != NULL) {
    /* Closing: every close() waits for the same promise. */
    NAPI_TRY_CB(napi_get_reference_value(env, db->close_promise, &promise));
    return promise;
  }
  NAPI_TRY_CB(napi_create_promise(env, &deferred, &promise));
  if (db->c == NULL) {
    NAPI_TRY_CB(napi_get_undefined(env, &undef));
    NAPI_TRY_CB(napi_resolve_deferred(env, deferred, undef));
    return promise;
  }
  db->close_deferred = deferred;
  NAPI_TRY_CB(napi_create_reference(env, promise, 1, &db->close_promise));
  if (db->in_callback > 0) {
    pgml_node_env_t *e = db->e;

    /* The reference keeps the object, and so db, alive until reaped. */
    NAPI_TRY_CB(napi_create_reference(env, self, 1, &db->reap_ref));
    db->close_queued = 1;
    db->reap_next = e->reap;
    e->reap = db;
    uv_ref((uv_handle_t *)&e->reaper);
    uv_timer_start(&e->reaper, reap, 0, 0);
    return promise;
  }
  pgml_node__db_free_client(db);
  return promise;
}

/* db.collection(name) and the other factories: a bound object. */
static napi_value db_factory(napi_env env, napi_callback_info info)
{
  pgml_node_env_t *e = pgml_node__env(env);
  pgml_node_db_t *db;
  const pgml_class_info_t *cls;
  size_t argc = 1;
  napi_value argv[1], self, out;
  char key[1024];
  size_t len;
  napi_valuetype t;

  NAPI_TRY_CB(this_db(env, info, &argc, argv, &self, (void **)&cls, &db));
  NAPI_TRY_CB(napi_typeof(env, argc > 0 ? argv[0] : self, &t));
  if (argc < 1 || t != napi_string) {
    pgml_node__throw_type(env, "%s: %s: expected a string", cls->factory, cls->key);
    return NULL;
  }
  NAPI_TRY_CB(napi_get_value_string_utf8(env, argv[0], key, sizeof(key), &len));
  if (len >= sizeof(key) - 1) {
    pgml_node__throw_range(env, "%s: %s: longer than %zu bytes", cls->factory, cls->key,
                           sizeof(key) - 2);
    return NULL;
  }
  NAPI_TRY_CB(pgml_node__new_bound(e, cls, self, key, len, &out));
  return out;
}

static napi_value db_address(napi_env env, napi_callback_info info)
{
  pgml_node_db_t *db;
  napi_value self, out;
  size_t argc = 0;

  NAPI_TRY_CB(this_db(env, info, &argc, NULL, &self, NULL, &db));
  NAPI_TRY_CB(napi_create_string_utf8(env, db->address, NAPI_AUTO_LENGTH, &out));
  return out;
}

/* db.pending: calls started and not yet settled. */
static napi_value db_pending(napi_env env, napi_callback_info info)
{
  pgml_node_db_t *db;
  napi_value self, out;
  size_t argc = 0;

  NAPI_TRY_CB(this_db(env, info, &argc, NULL, &self, NULL, &db));
  NAPI_TRY_CB(napi_create_uint32(env, db->c != NULL ? (uint32_t)pgml_client_pending(db->c) : 0,
                                 &out));
  return out;
}

/* Every RPC method of Database: `data` is its pgml_method_info_t. */
static napi_value db_method(napi_env env, napi_callback_info info)
{
  pgml_node_env_t *e = pgml_node__env(env);
  const pgml_method_info_t *m;
  pgml_node_db_t *db;
  size_t argc = MAX_ARGV;
  napi_value argv[MAX_ARGV], self, out;

  NAPI_TRY_CB(this_db(env, info, &argc, argv, &self, (void **)&m, &db));
  if (argc > MAX_ARGV) {
    pgml_node__throw_type(env, "%s: too many arguments (%zu)", m->name, argc);
    return NULL;
  }
  NAPI_TRY_CB(pgml_node__start_call(e, db, self, m, NULL, argc, argv, &out));
  return out;
}

static void bound_finalize(napi_env env, void *data, void *hint)
{
  pgml_node_bound_t *b = data;

  (void)hint;
  napi_delete_reference(env, b->db_obj);
  pgml__free(b->key);
  pgml__free(b);
}

/* Every RPC method of a bound class. */
static napi_value bound_method(napi_env env, napi_callback_info info)
{
  pgml_node_env_t *e = pgml_node__env(env);
  const pgml_method_info_t *m;
  pgml_node_bound_t *b;
  pgml_node_db_t *db;
  size_t argc = MAX_ARGV;
  napi_value argv[MAX_ARGV], self, db_obj, out;

  NAPI_TRY_CB(napi_get_cb_info(env, info, &argc, argv, &self, (void **)&m));
  b = unwrap_tagged(env, self, &BOUND_TAG);
  if (b == NULL) {
    pgml_node__throw_type(env, "%s: not called on a %s", m->name, m->owner);
    return NULL;
  }
  NAPI_TRY_CB(napi_get_reference_value(env, b->db_obj, &db_obj));
  db = unwrap_tagged(env, db_obj, &DB_TAG);
  if (db == NULL) {
    pgml_node__throw_type(env, "%s: the %s has no Database", m->name, m->owner);
    return NULL;
  }
  if (argc > MAX_ARGV) {
    pgml_node__throw_type(env, "%s: too many arguments (%zu)", m->name, argc);
    return NULL;
  }
  NAPI_TRY_CB(pgml_node__start_call(e, db, db_obj, m, b->key, argc, argv, &out));
  return out;
}

/* new Collection(database, name): what db.collection(name) does. */
static napi_value bound_construct(napi_env env, napi_callback_info info)
{
  const pgml_class_info_t *cls;
  size_t argc = 2;
  napi_value argv[2], self, key_v;
  pgml_node_bound_t *b;
  pgml_node_db_t *db = NULL;
  napi_valuetype t = napi_undefined;
  napi_property_descriptor prop = {0};
  size_t len;

  NAPI_TRY_CB(napi_get_cb_info(env, info, &argc, argv, &self, (void **)&cls));
  if (argc >= 2)
    db = unwrap_tagged(env, argv[0], &DB_TAG);
  if (db == NULL) {
    pgml_node__throw_type(env, "%s: expected (database, %s); use database.%s(%s)", cls->name,
                          cls->key, cls->factory, cls->key);
    return NULL;
  }
  NAPI_TRY_CB(napi_typeof(env, argv[1], &t));
  if (t != napi_string) {
    pgml_node__throw_type(env, "%s: %s: expected a string", cls->name, cls->key);
    return NULL;
  }
  NAPI_TRY_CB(napi_get_value_string_utf8(env, argv[1], NULL, 0, &len));
  b = pgml__calloc(1, sizeof(*b));
  if (b != NULL)
    b->key = pgml__malloc(len + 1);
  if (b == NULL || b->key == NULL) {
    pgml__free(b);
    pgml_node__throw_error(env, "NOMEM", "%s: out of memory", cls->name);
    return NULL;
  }
  b->cls = cls;
  if (napi_get_value_string_utf8(env, argv[1], b->key, len + 1, &len) != napi_ok ||
      napi_create_reference(env, argv[0], 1, &b->db_obj) != napi_ok) {
    pgml__free(b->key);
    pgml__free(b);
    return construct_failed(env, cls->name);
  }
  if (napi_type_tag_object(env, self, &BOUND_TAG) != napi_ok ||
      napi_wrap(env, self, b, bound_finalize, NULL, NULL) != napi_ok) {
    bound_finalize(env, b, NULL);
    return construct_failed(env, cls->name);
  }
  /* The key, read-only and enumerable: `collection.name`. */
  key_v = argv[1];
  prop.utf8name = cls->key;
  prop.value = key_v;
  prop.attributes = napi_enumerable;
  NAPI_TRY_CB(napi_define_properties(env, self, 1, &prop));
  prop.utf8name = "database";
  prop.value = argv[0];
  prop.attributes = napi_default;
  NAPI_TRY_CB(napi_define_properties(env, self, 1, &prop));
  return self;
}

napi_status pgml_node__new_bound(pgml_node_env_t *e, const pgml_class_info_t *cls,
                                 napi_value db_obj, const char *key, size_t key_len,
                                 napi_value *out)
{
  napi_env env = e->env;
  napi_value ctor, args[2];
  size_t idx = (size_t)(cls - e->table->classes);

  NAPI_TRY(napi_get_reference_value(env, e->class_ctors[idx], &ctor));
  args[0] = db_obj;
  NAPI_TRY(napi_create_string_utf8(env, key, key_len, &args[1]));
  return napi_new_instance(env, ctor, 2, args, out);
}

/* Defines one class from the table: its RPC methods (owner == name), and
 * `extra` properties first. */
static napi_status define_class(pgml_node_env_t *e, const char *name, napi_callback ctor,
                                void *ctor_data, const napi_property_descriptor *extra,
                                size_t n_extra, napi_callback method, napi_value *out)
{
  const pgml_method_table_t *t = e->table;
  napi_property_descriptor *props;
  size_t n = n_extra;
  napi_status st;

  props = pgml__calloc(n_extra + t->n_methods + 1, sizeof(*props));
  if (props == NULL)
    return pgml_node__throw_error(e->env, "NOMEM", "defining %s: out of memory", name);
  if (n_extra > 0)
    memcpy(props, extra, n_extra * sizeof(*props));
  for (size_t i = 0; i < t->n_methods; i++) {
    const pgml_method_info_t *m = &t->methods[i];

    if (strcmp(m->owner, name) != 0)
      continue;
    props[n].utf8name = m->name;
    props[n].method = method;
    props[n].attributes = napi_writable | napi_configurable;
    props[n].data = (void *)m;
    n++;
  }
  st = napi_define_class(e->env, name, NAPI_AUTO_LENGTH, ctor, ctor_data, n, props, out);
  pgml__free(props);
  return st;
}

napi_status pgml_node__define_classes(pgml_node_env_t *e, napi_value exports)
{
  const pgml_method_table_t *t = e->table;
  napi_env env = e->env;
  napi_property_descriptor *db_props;
  napi_value cls;
  size_t n = 0;
  napi_status st;

  /* Database: close(), address, one factory per bound class, the RPCs. */
  db_props = pgml__calloc(t->n_classes + 3, sizeof(*db_props));
  if (db_props == NULL)
    return pgml_node__throw_error(env, "NOMEM", "defining Database: out of memory");
  db_props[n].utf8name = "close";
  db_props[n].method = db_close;
  db_props[n++].attributes = napi_writable | napi_configurable;
  db_props[n].utf8name = "address";
  db_props[n].getter = db_address;
  db_props[n++].attributes = napi_configurable;
  db_props[n].utf8name = "pending";
  db_props[n].getter = db_pending;
  db_props[n++].attributes = napi_configurable;
  for (size_t i = 0; i < t->n_classes; i++) {
    db_props[n].utf8name = t->classes[i].factory;
    db_props[n].method = db_factory;
    db_props[n].data = (void *)&t->classes[i];
    db_props[n++].attributes = napi_writable | napi_configurable;
  }
  st = define_class(e, t->service_class, db_construct, NULL, db_props, n, db_method, &cls);
  pgml__free(db_props);
  NAPI_TRY(st);
  NAPI_TRY(napi_create_reference(env, cls, 1, &e->database_ctor));
  NAPI_TRY(napi_set_named_property(env, exports, t->service_class, cls));

  e->class_ctors = pgml__calloc(t->n_classes > 0 ? t->n_classes : 1, sizeof(napi_ref));
  if (e->class_ctors == NULL)
    return pgml_node__throw_error(env, "NOMEM", "defining the bound classes: out of memory");
  for (size_t i = 0; i < t->n_classes; i++) {
    NAPI_TRY(define_class(e, t->classes[i].name, bound_construct, (void *)&t->classes[i],
                          NULL, 0, bound_method, &cls));
    NAPI_TRY(napi_create_reference(env, cls, 1, &e->class_ctors[i]));
    NAPI_TRY(napi_set_named_property(env, exports, t->classes[i].name, cls));
  }
  return napi_ok;
}
