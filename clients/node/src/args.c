/* args.c - a method's JavaScript arguments into its request message and
 * call options.
 *
 * The calling convention (docs/clients/node.md):
 *   method(arg1, arg2, ..., { name: value, ..., signal, timeoutMs }, { signal, timeoutMs })
 * Leading values that are not plain objects are the method's arguments in
 * .proto order (m->args).  The first plain object gives any argument by its
 * camelCase name, and the call options.  A second plain object gives call
 * options only.  So `c.vectorSearch('text', { topK: 1 })` and
 * `c.vectorSearch({ query: 'text', topK: 1 }, { timeoutMs: 500 })` are the
 * same call.  Message-typed and JSON-object arguments go by name.
 */
#include <stdio.h>
#include <string.h>

#include "addon.h"

#define PATH_LEN 192

/* A plain object: {...} or Object.create(null), not an array, a Buffer,
 * a class instance or anything else whose prototype chain is longer. */
static napi_status is_plain_object(napi_env env, napi_value v, bool *out)
{
  napi_valuetype t;
  napi_value proto, proto2, null_v;
  bool is;

  *out = false;
  NAPI_TRY(napi_typeof(env, v, &t));
  if (t != napi_object)
    return napi_ok;
  NAPI_TRY(napi_get_null(env, &null_v));
  NAPI_TRY(napi_get_prototype(env, v, &proto));
  NAPI_TRY(napi_strict_equals(env, proto, null_v, &is));
  if (is) {
    *out = true;
    return napi_ok;
  }
  NAPI_TRY(napi_get_prototype(env, proto, &proto2));
  return napi_strict_equals(env, proto2, null_v, out);
}

napi_status pgml_node__read_u32(napi_env env, napi_value v, const char *what, uint32_t *out)
{
  napi_valuetype t;
  double d;

  NAPI_TRY(napi_typeof(env, v, &t));
  if (t != napi_number)
    return pgml_node__throw_type(env, "%s: expected a number", what);
  NAPI_TRY(napi_get_value_double(env, v, &d));
  if (!(d >= 0 && d <= (double)UINT32_MAX) || d != (double)(uint32_t)d)
    return pgml_node__throw_range(env, "%s: expected an integer from 0 to %u, got %g", what,
                                  (unsigned)UINT32_MAX, d);
  *out = (uint32_t)d;
  return napi_ok;
}

/* Reads `key` of an options object if it is one of the call options; sets
 * *taken. */
static napi_status read_call_opt(napi_env env, const char *key, napi_value v,
                                 const char *what, pgml_node_call_opts_t *opts, bool *taken)
{
  char path[PATH_LEN];
  napi_valuetype t;

  *taken = false;
  NAPI_TRY(napi_typeof(env, v, &t));
  if (strcmp(key, "timeoutMs") == 0) {
    *taken = true;
    if (t == napi_undefined)
      return napi_ok;
    snprintf(path, sizeof(path), "%s: timeoutMs", what);
    NAPI_TRY(pgml_node__read_u32(env, v, path, &opts->timeout_ms));
    opts->has_timeout = 1;
    return napi_ok;
  }
  if (strcmp(key, "signal") == 0) {
    napi_value add;
    napi_valuetype at;

    *taken = true;
    if (t == napi_undefined || t == napi_null)
      return napi_ok;
    if (t != napi_object)
      return pgml_node__throw_type(env, "%s: signal: expected an AbortSignal", what);
    NAPI_TRY(napi_get_named_property(env, v, "addEventListener", &add));
    NAPI_TRY(napi_typeof(env, add, &at));
    if (at != napi_function)
      return pgml_node__throw_type(env, "%s: signal: expected an AbortSignal", what);
    opts->signal = v;
  }
  return napi_ok;
}

napi_status pgml_node__read_call_opts(pgml_node_env_t *e, napi_value obj, const char *what,
                                      pgml_node_call_opts_t *opts)
{
  napi_env env = e->env;
  napi_value keys;
  uint32_t n;

  NAPI_TRY(pgml_node__own_keys(env, obj, &keys));
  NAPI_TRY(napi_get_array_length(env, keys, &n));
  for (uint32_t i = 0; i < n; i++) {
    napi_value k, v;
    char key[64];
    bool taken;

    NAPI_TRY(napi_get_element(env, keys, i, &k));
    NAPI_TRY(napi_get_value_string_utf8(env, k, key, sizeof(key), NULL));
    NAPI_TRY(napi_get_property(env, obj, k, &v));
    NAPI_TRY(read_call_opt(env, key, v, what, opts, &taken));
    if (!taken)
      return pgml_node__throw_type(env,
                                   "%s: unknown option \"%s\" (the options are signal and "
                                   "timeoutMs)",
                                   what, key);
  }
  return napi_ok;
}

/* "name, topK, filter": the method's argument names, for messages. */
static void arg_names(const pgml_method_info_t *m, char *buf, size_t size)
{
  size_t off = 0;

  buf[0] = '\0';
  for (size_t i = 0; i < m->n_args && off < size; i++) {
    int n = snprintf(buf + off, size - off, "%s%s", i > 0 ? ", " : "", m->args[i]->name);
    if (n < 0)
      break;
    off += (size_t)n;
  }
  if (m->n_args == 0)
    snprintf(buf, size, "none");
}

static napi_status set_arg(pgml_node_env_t *e, const pgml_method_info_t *m, size_t idx,
                           napi_value v, pgml_node_arena_t *a, ProtobufCMessage *req)
{
  const pgml_field_info_t *fi = m->args[idx];
  const ProtobufCFieldDescriptor *fd = pgml_node__field_desc(m->request_type, fi->number);
  char path[PATH_LEN];

  snprintf(path, sizeof(path), "%s: %s", m->name, fi->name);
  if (fd == NULL)
    return pgml_node__throw_error(e->env, "TABLE", "%s: no field %u in %s", path,
                                  (unsigned)fi->number, m->request_type->name);
  return pgml_node__set_field(e, req, fd, fi, v, path, a);
}

napi_status pgml_node__read_args(pgml_node_env_t *e, const pgml_method_info_t *m,
                                 size_t argc, napi_value *argv, const char *bind_value,
                                 pgml_node_arena_t *a, ProtobufCMessage *req,
                                 pgml_node_call_opts_t *opts)
{
  napi_env env = e->env;
  /* Which arguments were given positionally; a method has few arguments,
   * and a table with more than 64 is refused below. */
  uint64_t given = 0;
  size_t i = 0, p = 0;
  char names[512];
  bool plain = false;

  if (m->n_args > 64)
    return pgml_node__throw_error(env, "TABLE", "%s: more than 64 arguments", m->name);
  if (m->bind != NULL) {
    const ProtobufCFieldDescriptor *fd = pgml_node__field_desc(m->request_type, m->bind->number);
    char **slot;
    size_t len = bind_value != NULL ? strlen(bind_value) : 0;

    if (fd == NULL || fd->type != PROTOBUF_C_TYPE_STRING || bind_value == NULL)
      return pgml_node__throw_error(env, "TABLE", "%s: cannot bind field %s", m->name,
                                    m->bind->name);
    slot = (char **)((char *)req + fd->offset);
    *slot = pgml_node__arena_alloc(a, len + 1);
    if (*slot == NULL)
      return pgml_node__throw_error(env, "NOMEM", "%s: out of memory", m->name);
    memcpy(*slot, bind_value, len);
  }
  for (; i < argc; i++) {
    napi_valuetype t;

    NAPI_TRY(is_plain_object(env, argv[i], &plain));
    if (plain)
      break;
    if (p >= m->n_args) {
      arg_names(m, names, sizeof(names));
      return pgml_node__throw_type(env, "%s: too many arguments (it takes %s)", m->name,
                                   names);
    }
    NAPI_TRY(napi_typeof(env, argv[i], &t));
    if (t != napi_undefined) {
      NAPI_TRY(set_arg(e, m, p, argv[i], a, req));
      given |= UINT64_C(1) << p;
    }
    p++;
  }
  if (i < argc) {
    napi_value obj = argv[i++], keys;
    uint32_t n;
    char what[PATH_LEN];

    snprintf(what, sizeof(what), "%s", m->name);
    NAPI_TRY(pgml_node__own_keys(env, obj, &keys));
    NAPI_TRY(napi_get_array_length(env, keys, &n));
    for (uint32_t k = 0; k < n; k++) {
      napi_value kv, v;
      char key[128];
      size_t idx;
      bool taken;

      NAPI_TRY(napi_get_element(env, keys, k, &kv));
      NAPI_TRY(napi_get_value_string_utf8(env, kv, key, sizeof(key), NULL));
      NAPI_TRY(napi_get_property(env, obj, kv, &v));
      for (idx = 0; idx < m->n_args; idx++)
        if (strcmp(m->args[idx]->name, key) == 0)
          break;
      if (idx < m->n_args) {
        if (given & (UINT64_C(1) << idx))
          return pgml_node__throw_type(env, "%s: %s is given twice (by position and by name)",
                                       m->name, key);
        NAPI_TRY(set_arg(e, m, idx, v, a, req));
        continue;
      }
      NAPI_TRY(read_call_opt(env, key, v, what, opts, &taken));
      if (!taken) {
        arg_names(m, names, sizeof(names));
        if (m->bind != NULL && strcmp(key, m->bind->name) == 0)
          return pgml_node__throw_type(env,
                                       "%s: \"%s\" is not an argument: the %s gives it",
                                       m->name, key, m->owner);
        return pgml_node__throw_type(env,
                                     "%s: unknown argument \"%s\" (it takes %s, and the "
                                     "options signal and timeoutMs)",
                                     m->name, key, names);
      }
    }
  }
  if (i < argc) {
    napi_valuetype t;
    char what[PATH_LEN];

    NAPI_TRY(napi_typeof(env, argv[i], &t));
    NAPI_TRY(is_plain_object(env, argv[i], &plain));
    if (plain) {
      snprintf(what, sizeof(what), "%s: options", m->name);
      NAPI_TRY(pgml_node__read_call_opts(e, argv[i], what, opts));
    } else if (t != napi_undefined) {
      return pgml_node__throw_type(env, "%s: expected an options object after the arguments",
                                   m->name);
    }
    i++;
  }
  if (i < argc) {
    arg_names(m, names, sizeof(names));
    return pgml_node__throw_type(env, "%s: too many arguments (it takes %s)", m->name, names);
  }
  return napi_ok;
}
