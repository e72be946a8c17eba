/* encode.c - JavaScript values into protobuf-c messages, generically, by
 * walking each field's ProtobufCFieldDescriptor.
 *
 * A request is built in an arena: every string, array and sub-message of it
 * comes from one pgml_node_arena_t, packed at once and freed in one go, so a
 * half-built message after a TypeError leaks nothing.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

/* Longest field path in messages ("splitter.separators[3]"). */
#define PATH_MAX_LEN 256
/* JavaScript's Number.MAX_SAFE_INTEGER. */
#define MAX_SAFE_INT 9007199254740991.0

typedef struct block_s {
  struct block_s *next;
  max_align_t data[];
} block_t;

void *pgml_node__arena_alloc(pgml_node_arena_t *a, size_t n)
{
  block_t *b;

  if (n > SIZE_MAX - sizeof(block_t))
    return NULL;
  b = pgml__calloc(1, sizeof(block_t) + (n == 0 ? 1 : n));
  if (b == NULL)
    return NULL;
  b->next = a->blocks;
  a->blocks = b;
  return b->data;
}

void pgml_node__arena_free(pgml_node_arena_t *a)
{
  block_t *b = a->blocks, *next;

  for (; b != NULL; b = next) {
    next = b->next;
    pgml__free(b);
  }
  a->blocks = NULL;
}

napi_status pgml_node__own_keys(napi_env env, napi_value obj, napi_value *out)
{
  return napi_get_all_property_names(env, obj, napi_key_own_only,
                                     napi_key_enumerable | napi_key_skip_symbols,
                                     napi_key_numbers_to_strings, out);
}

const pgml_message_info_t *pgml_node__message_info(const pgml_method_table_t *t,
                                                   const ProtobufCMessageDescriptor *d)
{
  for (size_t i = 0; i < t->n_messages; i++)
    if (t->messages[i].descriptor == d)
      return &t->messages[i];
  return NULL;
}

const ProtobufCFieldDescriptor *pgml_node__field_desc(const ProtobufCMessageDescriptor *d,
                                                      uint32_t number)
{
  for (unsigned i = 0; i < d->n_fields; i++)
    if (d->fields[i].id == number)
      return &d->fields[i];
  return NULL;
}

static const char *type_name(napi_env env, napi_value v)
{
  napi_valuetype t;
  bool is;

  if (napi_typeof(env, v, &t) != napi_ok)
    return "a value";
  switch (t) {
  case napi_undefined: return "undefined";
  case napi_null: return "null";
  case napi_boolean: return "a boolean";
  case napi_number: return "a number";
  case napi_string: return "a string";
  case napi_symbol: return "a symbol";
  case napi_function: return "a function";
  case napi_bigint: return "a bigint";
  case napi_external: return "an external";
  case napi_object:
    if (napi_is_array(env, v, &is) == napi_ok && is)
      return "an array";
    if (napi_is_typedarray(env, v, &is) == napi_ok && is)
      return "a typed array";
    return "an object";
  }
  return "a value";
}

static napi_status expect(napi_env env, napi_value v, napi_valuetype want, const char *what,
                          const char *path)
{
  napi_valuetype t;

  NAPI_TRY(napi_typeof(env, v, &t));
  if (t != want)
    return pgml_node__throw_type(env, "%s: expected %s, got %s", path, what,
                                 type_name(env, v));
  return napi_ok;
}

/* A JavaScript string as UTF-8 in the arena, NUL-terminated. */
static napi_status read_string(napi_env env, napi_value v, const char *path,
                               pgml_node_arena_t *a, char **out, size_t *len_out)
{
  size_t len;
  char *s;

  NAPI_TRY(expect(env, v, napi_string, "a string", path));
  NAPI_TRY(napi_get_value_string_utf8(env, v, NULL, 0, &len));
  s = pgml_node__arena_alloc(a, len + 1);
  if (s == NULL)
    return pgml_node__throw_error(env, "NOMEM", "%s: out of memory for %zu bytes", path, len);
  NAPI_TRY(napi_get_value_string_utf8(env, v, s, len + 1, &len));
  *out = s;
  if (len_out != NULL)
    *len_out = len;
  return napi_ok;
}

/* JSON.stringify(v) into the arena.  undefined, functions and symbols (for
 * which JSON.stringify gives undefined) are refused. */
static napi_status read_json(pgml_node_env_t *e, napi_value v, const char *path,
                             pgml_node_arena_t *a, char **out)
{
  napi_env env = e->env;
  napi_value fn, global, text;
  napi_valuetype t;

  NAPI_TRY(napi_get_reference_value(env, e->json_stringify, &fn));
  NAPI_TRY(napi_get_global(env, &global));
  NAPI_TRY(napi_call_function(env, global, fn, 1, &v, &text));
  NAPI_TRY(napi_typeof(env, text, &t));
  if (t != napi_string)
    return pgml_node__throw_type(env, "%s: expected a JSON value, got %s", path,
                                 type_name(env, v));
  return read_string(env, text, path, a, out, NULL);
}

/* A Number that must be an integer in [lo, hi]. */
static napi_status read_int(napi_env env, napi_value v, const char *path, double lo,
                            double hi, double *out)
{
  napi_valuetype t;
  double d;

  NAPI_TRY(napi_typeof(env, v, &t));
  if (t == napi_bigint) {
    int64_t i;
    uint64_t u;
    bool lossless;

    /* A BigInt is range-checked through its signed or unsigned reading. */
    if (lo < 0) {
      NAPI_TRY(napi_get_value_bigint_int64(env, v, &i, &lossless));
      d = (double)i;
    } else {
      NAPI_TRY(napi_get_value_bigint_uint64(env, v, &u, &lossless));
      d = (double)u;
    }
    if (!lossless || d < lo || d > hi)
      return pgml_node__throw_range(env, "%s: %s is out of range", path,
                                    lo < 0 ? "bigint" : "bigint (must be >= 0)");
    *out = d;
    return napi_ok;
  }
  if (t != napi_number)
    return pgml_node__throw_type(env, "%s: expected an integer, got %s", path,
                                 type_name(env, v));
  NAPI_TRY(napi_get_value_double(env, v, &d));
  if (!isfinite(d) || d != floor(d))
    return pgml_node__throw_range(env, "%s: %g is not an integer", path, d);
  if (d < lo || d > hi)
    return pgml_node__throw_range(env, "%s: %.17g is out of range [%.17g, %.17g]", path, d,
                                  lo, hi);
  *out = d;
  return napi_ok;
}

/* A 64-bit integer: a BigInt (exact) or a Number (an integer not above
 * 2^53, where Numbers stop being exact). */
static napi_status read_int64(napi_env env, napi_value v, const char *path, int is_signed,
                              void *out)
{
  napi_valuetype t;
  bool lossless;
  double d;

  NAPI_TRY(napi_typeof(env, v, &t));
  if (t == napi_bigint) {
    if (is_signed) {
      NAPI_TRY(napi_get_value_bigint_int64(env, v, out, &lossless));
    } else {
      /* A negative BigInt reads as lossy here, so it is refused below. */
      NAPI_TRY(napi_get_value_bigint_uint64(env, v, out, &lossless));
    }
    if (!lossless)
      return pgml_node__throw_range(env, "%s: bigint is out of the %s 64-bit range", path,
                                    is_signed ? "signed" : "unsigned");
    return napi_ok;
  }
  NAPI_TRY(read_int(env, v, path, is_signed ? -MAX_SAFE_INT : 0, MAX_SAFE_INT, &d));
  if (is_signed)
    *(int64_t *)out = (int64_t)d;
  else
    *(uint64_t *)out = (uint64_t)d;
  return napi_ok;
}

static napi_status read_enum(napi_env env, napi_value v, const ProtobufCEnumDescriptor *ed,
                             const char *path, pgml_node_arena_t *a, int *out)
{
  napi_valuetype t;

  NAPI_TRY(napi_typeof(env, v, &t));
  if (t == napi_string) {
    char *name;
    const ProtobufCEnumValue *ev;

    NAPI_TRY(read_string(env, v, path, a, &name, NULL));
    ev = protobuf_c_enum_descriptor_get_value_by_name(ed, name);
    if (ev == NULL)
      return pgml_node__throw_range(env, "%s: \"%s\" is not a %s", path, name, ed->name);
    *out = ev->value;
    return napi_ok;
  }
  double d;
  NAPI_TRY(read_int(env, v, path, INT32_MIN, INT32_MAX, &d));
  *out = (int)d;
  return napi_ok;
}

/* Reads one value of field `fd` (a single value, even of a repeated field)
 * into `slot`, which has the field's C type. */
static napi_status read_value(pgml_node_env_t *e, const ProtobufCFieldDescriptor *fd,
                              const pgml_field_info_t *fi, napi_value v, const char *path,
                              pgml_node_arena_t *a, void *slot)
{
  napi_env env = e->env;
  double d;

  switch (fd->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    NAPI_TRY(read_int(env, v, path, INT32_MIN, INT32_MAX, &d));
    *(int32_t *)slot = (int32_t)d;
    return napi_ok;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    NAPI_TRY(read_int(env, v, path, 0, UINT32_MAX, &d));
    *(uint32_t *)slot = (uint32_t)d;
    return napi_ok;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    return read_int64(env, v, path, 1, slot);
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return read_int64(env, v, path, 0, slot);
  case PROTOBUF_C_TYPE_FLOAT:
    NAPI_TRY(expect(env, v, napi_number, "a number", path));
    NAPI_TRY(napi_get_value_double(env, v, &d));
    *(float *)slot = (float)d;
    return napi_ok;
  case PROTOBUF_C_TYPE_DOUBLE:
    NAPI_TRY(expect(env, v, napi_number, "a number", path));
    return napi_get_value_double(env, v, slot);
  case PROTOBUF_C_TYPE_BOOL: {
    bool b;
    NAPI_TRY(expect(env, v, napi_boolean, "a boolean", path));
    NAPI_TRY(napi_get_value_bool(env, v, &b));
    *(protobuf_c_boolean *)slot = b;
    return napi_ok;
  }
  case PROTOBUF_C_TYPE_ENUM:
    return read_enum(env, v, fd->descriptor, path, a, slot);
  case PROTOBUF_C_TYPE_STRING:
    if (fi != NULL && (fi->flags & PGML_FIELD_JSON))
      return read_json(e, v, path, a, slot);
    return read_string(env, v, path, a, slot, NULL);
  case PROTOBUF_C_TYPE_BYTES: {
    ProtobufCBinaryData *bd = slot;
    napi_valuetype t;
    bool is;

    NAPI_TRY(napi_typeof(env, v, &t));
    if (t == napi_string) {
      char *s;
      NAPI_TRY(read_string(env, v, path, a, &s, &bd->len));
      bd->data = (uint8_t *)s;
      return napi_ok;
    }
    NAPI_TRY(napi_is_typedarray(env, v, &is));
    if (is) {
      napi_typedarray_type tt;
      size_t n;
      void *data;

      NAPI_TRY(napi_get_typedarray_info(env, v, &tt, &n, &data, NULL, NULL));
      if (tt == napi_uint8_array || tt == napi_int8_array ||
          tt == napi_uint8_clamped_array) {
        bd->data = pgml_node__arena_alloc(a, n);
        if (bd->data == NULL)
          return pgml_node__throw_error(env, "NOMEM", "%s: out of memory", path);
        if (n > 0)
          memcpy(bd->data, data, n);
        bd->len = n;
        return napi_ok;
      }
    }
    return pgml_node__throw_type(env, "%s: expected a Uint8Array, Buffer or string, got %s",
                                 path, type_name(env, v));
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessageDescriptor *md = fd->descriptor;
    ProtobufCMessage *sub;
    const pgml_message_info_t *mi = pgml_node__message_info(e->table, md);
    napi_value keys;
    uint32_t n;
    bool is_arr;

    NAPI_TRY(expect(env, v, napi_object, "an object", path));
    NAPI_TRY(napi_is_array(env, v, &is_arr));
    if (is_arr)
      return pgml_node__throw_type(env, "%s: expected an object, got an array", path);
    sub = pgml_node__arena_alloc(a, md->sizeof_message);
    if (sub == NULL)
      return pgml_node__throw_error(env, "NOMEM", "%s: out of memory", path);
    protobuf_c_message_init(md, sub);
    *(ProtobufCMessage **)slot = sub;
    NAPI_TRY(pgml_node__own_keys(env, v, &keys));
    NAPI_TRY(napi_get_array_length(env, keys, &n));
    for (uint32_t i = 0; i < n; i++) {
      napi_value k, fv;
      char key[128], sub_path[PATH_MAX_LEN];
      size_t klen;
      const pgml_field_info_t *sfi = NULL;
      const ProtobufCFieldDescriptor *sfd = NULL;

      NAPI_TRY(napi_get_element(env, keys, i, &k));
      NAPI_TRY(napi_get_value_string_utf8(env, k, key, sizeof(key), &klen));
      NAPI_TRY(napi_get_property(env, v, k, &fv));
      if (mi != NULL) {
        for (size_t j = 0; j < mi->n_fields; j++)
          if (strcmp(mi->fields[j].name, key) == 0)
            sfi = &mi->fields[j];
        if (sfi != NULL)
          sfd = pgml_node__field_desc(md, sfi->number);
      } else {
        sfd = protobuf_c_message_descriptor_get_field_by_name(md, key);
      }
      if (sfd == NULL)
        return pgml_node__throw_type(env, "%s: unknown field \"%s\" (%s has no such field)",
                                     path, key, md->name);
      snprintf(sub_path, sizeof(sub_path), "%s.%s", path, key);
      NAPI_TRY(pgml_node__set_field(e, sub, sfd, sfi, fv, sub_path, a));
    }
    return napi_ok;
  }
  }
  return pgml_node__throw_type(env, "%s: field type %d is not supported", path,
                               (int)fd->type);
}

size_t pgml_node__value_size(const ProtobufCFieldDescriptor *fd)
{
  switch (fd->type) {
  case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
    return 4;
  case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
    return 8;
  case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
  case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
  case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
  case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
  case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
  }
  return 0;
}

/* A map field from a plain object: one entry message per own key, the key
 * converted from its string form to the entry's key type. */
static napi_status read_map(pgml_node_env_t *e, ProtobufCMessage *msg,
                            const ProtobufCFieldDescriptor *fd, napi_value v,
                            const char *path, pgml_node_arena_t *a)
{
  napi_env env = e->env;
  const ProtobufCMessageDescriptor *ed = fd->descriptor;
  const ProtobufCFieldDescriptor *kfd = pgml_node__field_desc(ed, 1);
  const ProtobufCFieldDescriptor *vfd = pgml_node__field_desc(ed, 2);
  napi_value keys;
  uint32_t n;
  ProtobufCMessage **entries;
  bool is_arr;

  NAPI_TRY(expect(env, v, napi_object, "an object", path));
  NAPI_TRY(napi_is_array(env, v, &is_arr));
  if (is_arr || kfd == NULL || vfd == NULL)
    return pgml_node__throw_type(env, "%s: expected an object (a map)", path);
  NAPI_TRY(pgml_node__own_keys(env, v, &keys));
  NAPI_TRY(napi_get_array_length(env, keys, &n));
  entries = pgml_node__arena_alloc(a, (size_t)n * sizeof(*entries));
  if (entries == NULL)
    return pgml_node__throw_error(env, "NOMEM", "%s: out of memory", path);
  for (uint32_t i = 0; i < n; i++) {
    napi_value k, kv, val;
    char sub_path[PATH_MAX_LEN];
    ProtobufCMessage *ent = pgml_node__arena_alloc(a, ed->sizeof_message);

    if (ent == NULL)
      return pgml_node__throw_error(env, "NOMEM", "%s: out of memory", path);
    protobuf_c_message_init(ed, ent);
    NAPI_TRY(napi_get_element(env, keys, i, &k));
    NAPI_TRY(napi_get_property(env, v, k, &val));
    snprintf(sub_path, sizeof(sub_path), "%s (a key)", path);
    kv = k;
    if (kfd->type != PROTOBUF_C_TYPE_STRING)
      NAPI_TRY(napi_coerce_to_number(env, k, &kv));
    NAPI_TRY(read_value(e, kfd, NULL, kv, sub_path, a, (char *)ent + kfd->offset));
    snprintf(sub_path, sizeof(sub_path), "%s[key %u]", path, (unsigned)i);
    NAPI_TRY(read_value(e, vfd, NULL, val, sub_path, a, (char *)ent + vfd->offset));
    entries[i] = ent;
  }
  *(size_t *)((char *)msg + fd->quantifier_offset) = n;
  *(ProtobufCMessage ***)((char *)msg + fd->offset) = entries;
  return napi_ok;
}

napi_status pgml_node__set_field(pgml_node_env_t *e, ProtobufCMessage *msg,
                                 const ProtobufCFieldDescriptor *fd,
                                 const pgml_field_info_t *fi, napi_value v, const char *path,
                                 pgml_node_arena_t *a)
{
  napi_env env = e->env;
  napi_valuetype t;
  char *base = (char *)msg;

  NAPI_TRY(napi_typeof(env, v, &t));
  /* undefined and null leave the field at its default ("not given"). */
  if (t == napi_undefined || t == napi_null)
    return napi_ok;
  if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
    size_t sz = pgml_node__value_size(fd);
    uint32_t n;
    char *items;
    bool is_arr, is_ta;

    if (fi != NULL && (fi->flags & PGML_FIELD_MAP))
      return read_map(e, msg, fd, v, path, a);
    NAPI_TRY(napi_is_array(env, v, &is_arr));
    NAPI_TRY(napi_is_typedarray(env, v, &is_ta));
    /* A Float32Array or Float64Array is taken for a repeated float, as
     * embeddings often are. */
    if (is_ta && (fd->type == PROTOBUF_C_TYPE_FLOAT || fd->type == PROTOBUF_C_TYPE_DOUBLE)) {
      napi_typedarray_type tt;
      size_t len;
      void *data;

      NAPI_TRY(napi_get_typedarray_info(env, v, &tt, &len, &data, NULL, NULL));
      if (tt == napi_float32_array || tt == napi_float64_array) {
        items = pgml_node__arena_alloc(a, len * sz);
        if (items == NULL)
          return pgml_node__throw_error(env, "NOMEM", "%s: out of memory", path);
        for (size_t i = 0; i < len; i++) {
          double d = tt == napi_float32_array ? ((float *)data)[i] : ((double *)data)[i];
          if (fd->type == PROTOBUF_C_TYPE_FLOAT)
            ((float *)items)[i] = (float)d;
          else
            ((double *)items)[i] = d;
        }
        *(size_t *)(base + fd->quantifier_offset) = len;
        *(void **)(base + fd->offset) = items;
        return napi_ok;
      }
    }
    if (!is_arr)
      return pgml_node__throw_type(env, "%s: expected an array, got %s", path,
                                   type_name(env, v));
    NAPI_TRY(napi_get_array_length(env, v, &n));
    items = pgml_node__arena_alloc(a, (size_t)n * sz);
    if (items == NULL)
      return pgml_node__throw_error(env, "NOMEM", "%s: out of memory for %u items", path,
                                    (unsigned)n);
    for (uint32_t i = 0; i < n; i++) {
      napi_value item;
      char item_path[PATH_MAX_LEN];

      NAPI_TRY(napi_get_element(env, v, i, &item));
      snprintf(item_path, sizeof(item_path), "%s[%u]", path, (unsigned)i);
      NAPI_TRY(read_value(e, fd, fi, item, item_path, a, items + (size_t)i * sz));
    }
    *(size_t *)(base + fd->quantifier_offset) = n;
    *(void **)(base + fd->offset) = items;
    return napi_ok;
  }
  if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
    *(uint32_t *)(base + fd->quantifier_offset) = fd->id;
  else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset != 0 &&
      fd->type != PROTOBUF_C_TYPE_MESSAGE && fd->type != PROTOBUF_C_TYPE_STRING)
    *(protobuf_c_boolean *)(base + fd->quantifier_offset) = 1;
  return read_value(e, fd, fi, v, path, a, base + fd->offset);
}
