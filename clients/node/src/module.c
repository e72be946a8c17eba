/* module.c - the addon's entry point: per-environment state (instance
 * data), the exports, and the teardown of an environment (a worker's exit
 * or the process's) that frees every client and closes every handle. */
#include <stdlib.h>
#include <string.h>

#include "addon.h"

pgml_node_env_t *pgml_node__env(napi_env env)
{
  void *data = NULL;

  /* Set in the module's init before any function that calls this can run;
   * a failure here would be a Node-API defect. */
  if (napi_get_instance_data(env, &data) != napi_ok || data == NULL)
    napi_fatal_error("pgml", NAPI_AUTO_LENGTH, "the addon's instance data is missing",
                     NAPI_AUTO_LENGTH);
  return data;
}

static void delete_ref(napi_env env, napi_ref *r)
{
  if (*r != NULL)
    napi_delete_reference(env, *r);
  *r = NULL;
}

/* The instance data's finalizer: the last thing of an environment.  Every
 * handle was closed by the cleanup hook before. */
static void env_finalize(napi_env env, void *data, void *hint)
{
  pgml_node_env_t *e = data;

  (void)env;
  (void)hint;
  pgml__free(e->class_ctors);
  pgml__free(e);
}

static void on_reaper_closed(uv_handle_t *h)
{
  pgml_node_env_t *e = h->data;

  /* Node waits for this before it closes the loop: every handle the
   * clients had was closed before the reaper, and their close callbacks
   * have run in this same pass of the loop. */
  napi_remove_async_cleanup_hook(e->cleanup);
  e->cleanup = NULL;
}

/* The environment is going away (a worker exits, or the process): no more
 * JavaScript.  Frees every client (their pending calls are dropped) and
 * closes the reaper. */
static void on_cleanup(napi_async_cleanup_hook_handle handle, void *arg)
{
  pgml_node_env_t *e = arg;
  napi_env env = e->env;

  (void)handle;
  e->dying = 1;
  while (e->reap != NULL) {
    pgml_node_db_t *db = e->reap;

    e->reap = db->reap_next;
    delete_ref(env, &db->reap_ref);
    db->close_queued = 0;
  }
  for (pgml_node_db_t *db = e->dbs; db != NULL; db = db->next) {
    if (db->c != NULL) {
      pgml_client_t *c = db->c;
      db->c = NULL;
      pgml_client_free(c);
    }
  }
  delete_ref(env, &e->database_ctor);
  for (size_t i = 0; e->class_ctors != NULL && i < e->table->n_classes; i++)
    delete_ref(env, &e->class_ctors[i]);
  delete_ref(env, &e->error_base);
  for (size_t i = 0; i < 17; i++)
    delete_ref(env, &e->error_ctors[i]);
  delete_ref(env, &e->json_parse);
  delete_ref(env, &e->json_stringify);
  if (e->async_ctx != NULL)
    napi_async_destroy(env, e->async_ctx);
  e->async_ctx = NULL;
  delete_ref(env, &e->async_resource);
  uv_close((uv_handle_t *)&e->reaper, on_reaper_closed);
}

/* init({ base, classes }): index.js hands over the error classes it made
 * from `errors`; classes[code] is the subclass for that code. */
static napi_value init_errors(napi_env env, napi_callback_info info)
{
  pgml_node_env_t *e = pgml_node__env(env);
  size_t argc = 2;
  napi_value argv[2], arr;
  napi_valuetype t0, t1;
  uint32_t n;

  NAPI_TRY_CB(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_typeof(env, argv[0], &t0) != napi_ok ||
      napi_typeof(env, argv[1], &t1) != napi_ok || t0 != napi_function || t1 != napi_object) {
    pgml_node__throw_type(env, "init: expected (ErrorBase, classesByCode)");
    return NULL;
  }
  arr = argv[1];
  delete_ref(env, &e->error_base);
  NAPI_TRY_CB(napi_create_reference(env, argv[0], 1, &e->error_base));
  NAPI_TRY_CB(napi_get_array_length(env, arr, &n));
  for (uint32_t i = 1; i < n && i < 17; i++) {
    napi_value c;
    napi_valuetype t;

    NAPI_TRY_CB(napi_get_element(env, arr, i, &c));
    NAPI_TRY_CB(napi_typeof(env, c, &t));
    delete_ref(env, &e->error_ctors[i]);
    if (t == napi_function)
      NAPI_TRY_CB(napi_create_reference(env, c, 1, &e->error_ctors[i]));
  }
  return NULL;
}

/* testing.failAllocAfter(nth, sticky): the nth allocation from now on
 * (1-based) of the addon and libpgml fails, and every one after it too when
 * `sticky`; 0 turns it off.  For the tests only: the setting is
 * libpgml's, process-wide, not per environment. */
static napi_value testing_fail_alloc_after(napi_env env, napi_callback_info info)
{
  size_t argc = 2;
  napi_value argv[2];
  napi_valuetype t = napi_undefined;
  uint32_t nth;
  bool sticky = false;

  NAPI_TRY_CB(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    pgml_node__throw_type(env, "testing.failAllocAfter: expected (nth, sticky)");
    return NULL;
  }
  NAPI_TRY_CB(pgml_node__read_u32(env, argv[0], "testing.failAllocAfter: nth", &nth));
  if (argc > 1)
    NAPI_TRY_CB(napi_typeof(env, argv[1], &t));
  if (t != napi_undefined) {
    if (t != napi_boolean) {
      pgml_node__throw_type(env, "testing.failAllocAfter: sticky: expected a boolean");
      return NULL;
    }
    NAPI_TRY_CB(napi_get_value_bool(env, argv[1], &sticky));
  }
  pgml__alloc_fail_after(nth, sticky);
  return NULL;
}

/* testing.allocStats(): { count, failures }, the allocations attempted and
 * those refused by fault injection since the process started. */
static napi_value testing_alloc_stats(napi_env env, napi_callback_info info)
{
  napi_value out, v;

  (void)info;
  NAPI_TRY_CB(napi_create_object(env, &out));
  NAPI_TRY_CB(napi_create_double(env, (double)pgml__alloc_count(), &v));
  NAPI_TRY_CB(napi_set_named_property(env, out, "count", v));
  NAPI_TRY_CB(napi_create_double(env, (double)pgml__alloc_failures(), &v));
  NAPI_TRY_CB(napi_set_named_property(env, out, "failures", v));
  return out;
}

/* exports.testing, not enumerable and not re-exported by index.js: the
 * fault injection of the allocation wrapper, for the tests. */
static napi_status export_testing(napi_env env, napi_value exports)
{
  napi_property_descriptor props[] = {
    {"failAllocAfter", NULL, testing_fail_alloc_after, NULL, NULL, NULL, napi_default, NULL},
    {"allocStats", NULL, testing_alloc_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_property_descriptor prop = {0};
  napi_value testing;

  NAPI_TRY(napi_create_object(env, &testing));
  NAPI_TRY(napi_define_properties(env, testing, sizeof(props) / sizeof(props[0]), props));
  prop.utf8name = "testing";
  prop.value = testing;
  prop.attributes = napi_default;
  return napi_define_properties(env, exports, 1, &prop);
}

static napi_status set_string(napi_env env, napi_value obj, const char *key, const char *v)
{
  napi_value s;

  NAPI_TRY(napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &s));
  return napi_set_named_property(env, obj, key, s);
}

/* exports.errors: [{ code, codeName, name, doc }] from the table, so that
 * index.js makes the classes without repeating the .proto. */
static napi_status export_tables(pgml_node_env_t *e, napi_value exports)
{
  const pgml_method_table_t *t = e->table;
  napi_env env = e->env;
  napi_value arr, fn;

  NAPI_TRY(napi_create_array_with_length(env, t->n_errors, &arr));
  for (size_t i = 0; i < t->n_errors; i++) {
    napi_value o, code;

    NAPI_TRY(napi_create_object(env, &o));
    NAPI_TRY(napi_create_int32(env, t->errors[i].code, &code));
    NAPI_TRY(napi_set_named_property(env, o, "code", code));
    NAPI_TRY(set_string(env, o, "codeName", t->errors[i].code_name));
    NAPI_TRY(set_string(env, o, "name", t->errors[i].name));
    NAPI_TRY(set_string(env, o, "doc", t->errors[i].doc));
    NAPI_TRY(napi_set_element(env, arr, (uint32_t)i, o));
  }
  NAPI_TRY(napi_set_named_property(env, exports, "errors", arr));
  /* The classes defined on exports: the service's, then the bound ones. */
  NAPI_TRY(napi_create_array_with_length(env, t->n_classes + 1, &arr));
  NAPI_TRY(napi_create_string_utf8(env, t->service_class, NAPI_AUTO_LENGTH, &fn));
  NAPI_TRY(napi_set_element(env, arr, 0, fn));
  for (size_t i = 0; i < t->n_classes; i++) {
    NAPI_TRY(napi_create_string_utf8(env, t->classes[i].name, NAPI_AUTO_LENGTH, &fn));
    NAPI_TRY(napi_set_element(env, arr, (uint32_t)(i + 1), fn));
  }
  NAPI_TRY(napi_set_named_property(env, exports, "classNames", arr));
  NAPI_TRY(set_string(env, exports, "errorBase", t->error_base));
  NAPI_TRY(set_string(env, exports, "service", t->service));
  NAPI_TRY(set_string(env, exports, "libpgmlVersion", pgml_version()));
  NAPI_TRY(napi_create_function(env, "init", NAPI_AUTO_LENGTH, init_errors, NULL, &fn));
  return napi_set_named_property(env, exports, "init", fn);
}

static napi_status env_init(napi_env env, napi_value exports)
{
  pgml_node_env_t *e;
  napi_value global, json, fn, resource, name;
  int rc;

  e = pgml__calloc(1, sizeof(*e));
  if (e == NULL)
    return pgml_node__throw_error(env, "NOMEM", "loading pgml: out of memory");
  e->env = env;
  e->table = &pgml_node_method_table;
  if (napi_set_instance_data(env, e, env_finalize, NULL) != napi_ok) {
    pgml__free(e);
    return napi_generic_failure;
  }
  NAPI_TRY(napi_get_uv_event_loop(env, &e->loop));
  NAPI_TRY(napi_get_global(env, &global));
  NAPI_TRY(napi_get_named_property(env, global, "JSON", &json));
  NAPI_TRY(napi_get_named_property(env, json, "stringify", &fn));
  NAPI_TRY(napi_create_reference(env, fn, 1, &e->json_stringify));
  NAPI_TRY(napi_get_named_property(env, json, "parse", &fn));
  NAPI_TRY(napi_create_reference(env, fn, 1, &e->json_parse));
  NAPI_TRY(napi_create_object(env, &resource));
  NAPI_TRY(napi_create_reference(env, resource, 1, &e->async_resource));
  NAPI_TRY(napi_create_string_utf8(env, "pgml", NAPI_AUTO_LENGTH, &name));
  NAPI_TRY(napi_async_init(env, resource, name, &e->async_ctx));

  rc = uv_timer_init(e->loop, &e->reaper);
  if (rc != 0)
    return pgml_node__throw_error(env, "UV", "loading pgml: uv_timer_init: %s",
                                  uv_strerror(rc));
  e->reaper.data = e;
  uv_unref((uv_handle_t *)&e->reaper);
  if (napi_add_async_cleanup_hook(env, on_cleanup, e, &e->cleanup) != napi_ok) {
    uv_close((uv_handle_t *)&e->reaper, NULL);
    return pgml_node__throw_error(env, "HOOK", "loading pgml: cannot add a cleanup hook");
  }
  NAPI_TRY(pgml_node__define_classes(e, exports));
  NAPI_TRY(export_testing(env, exports));
  return export_tables(e, exports);
}

/* What NAPI_MODULE_INIT() declares, spelled out with prototypes: the
 * Node-API version the addon is built for, and its init function. */
NAPI_MODULE_EXPORT int32_t NODE_API_MODULE_GET_API_VERSION(void);
NAPI_MODULE_EXPORT napi_value NAPI_MODULE_INITIALIZER(napi_env env, napi_value exports);

int32_t NODE_API_MODULE_GET_API_VERSION(void)
{
  return NAPI_VERSION;
}

napi_value NAPI_MODULE_INITIALIZER(napi_env env, napi_value exports)
{
  if (env_init(env, exports) != napi_ok)
    return NULL;
  return exports;
}
