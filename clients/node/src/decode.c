/* decode.c - protobuf-c messages into plain JavaScript objects, generically,
 * by walking each field's ProtobufCFieldDescriptor.
 *
 * Keys are the table's camelCase names; (json) fields arrive parsed; 64-bit
 * integers are BigInts, or Numbers where the .proto says (js_number); bytes
 * are Buffers; sub-messages not set are null; maps are plain objects.
 */
#include <string.h>

#include "addon.h"

static napi_status json_value(pgml_node_env_t *e, const char *text, napi_value *out)
{
  napi_env env = e->env;
  napi_value parse, global, s;

  /* An empty (json) field means "not given". */
  if (text == NULL || text[0] == '\0')
    return napi_get_null(env, out);
  NAPI_TRY(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &s));
  NAPI_TRY(napi_get_reference_value(env, e->json_parse, &parse));
  NAPI_TRY(napi_get_global(env, &global));
  return napi_call_function(env, global, parse, 1, &s, out);
}

/* One value of field `fd` stored at `slot` (a single value even of a
 * repeated field). */
static napi_status value_to_js(pgml_node_env_t *e, const ProtobufCFieldDescriptor *fd,
                               const pgml_field_info_t *fi, const void *slot, napi_value *out)
{
  napi_env env = e->env;
  int js_number = fi != NULL && (fi->flags & PGML_FIELD_JS_NUMBER);

  switch (fd->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    return napi_create_int32(env, *(const int32_t *)slot, out);
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return napi_create_uint32(env, *(const uint32_t *)slot, out);
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    if (js_number)
      return napi_create_int64(env, *(const int64_t *)slot, out);
    return napi_create_bigint_int64(env, *(const int64_t *)slot, out);
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    if (js_number)
      return napi_create_double(env, (double)*(const uint64_t *)slot, out);
    return napi_create_bigint_uint64(env, *(const uint64_t *)slot, out);
  case PROTOBUF_C_TYPE_FLOAT:
    return napi_create_double(env, *(const float *)slot, out);
  case PROTOBUF_C_TYPE_DOUBLE:
    return napi_create_double(env, *(const double *)slot, out);
  case PROTOBUF_C_TYPE_BOOL:
    return napi_get_boolean(env, *(const protobuf_c_boolean *)slot != 0, out);
  case PROTOBUF_C_TYPE_ENUM: {
    const ProtobufCEnumValue *ev =
        protobuf_c_enum_descriptor_get_value(fd->descriptor, *(const int *)slot);
    /* A value this build does not know stays a number. */
    if (ev == NULL)
      return napi_create_int32(env, *(const int *)slot, out);
    return napi_create_string_utf8(env, ev->name, NAPI_AUTO_LENGTH, out);
  }
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)slot;
    if (fi != NULL && (fi->flags & PGML_FIELD_JSON))
      return json_value(e, s, out);
    return napi_create_string_utf8(env, s != NULL ? s : "", NAPI_AUTO_LENGTH, out);
  }
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *bd = slot;
    return napi_create_buffer_copy(env, bd->len, bd->len > 0 ? (const void *)bd->data : (const void *)"", NULL,
                                   out);
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)slot;
    if (sub == NULL)
      return napi_get_null(env, out);
    return pgml_node__msg_to_js(e, sub, out);
  }
  }
  return pgml_node__throw_error(env, "UNSUPPORTED", "%s: field type %d is not supported",
                                fd->name, (int)fd->type);
}

/* A map field: entries become own properties, keys in their string form. */
static napi_status map_to_js(pgml_node_env_t *e, const ProtobufCFieldDescriptor *fd,
                             size_t n, ProtobufCMessage *const *entries, napi_value *out)
{
  napi_env env = e->env;
  const ProtobufCFieldDescriptor *kfd = pgml_node__field_desc(fd->descriptor, 1);
  const ProtobufCFieldDescriptor *vfd = pgml_node__field_desc(fd->descriptor, 2);
  napi_value obj;

  NAPI_TRY(napi_create_object(env, &obj));
  if (kfd == NULL || vfd == NULL) {
    *out = obj;
    return napi_ok;
  }
  for (size_t i = 0; i < n; i++) {
    napi_value k, ks, v;
    const char *ent = (const char *)entries[i];

    NAPI_TRY(value_to_js(e, kfd, NULL, ent + kfd->offset, &k));
    NAPI_TRY(napi_coerce_to_string(env, k, &ks));
    NAPI_TRY(value_to_js(e, vfd, NULL, ent + vfd->offset, &v));
    NAPI_TRY(napi_set_property(env, obj, ks, v));
  }
  *out = obj;
  return napi_ok;
}

napi_status pgml_node__field_to_js(pgml_node_env_t *e, const ProtobufCMessage *msg,
                                   const ProtobufCFieldDescriptor *fd,
                                   const pgml_field_info_t *fi, napi_value *out)
{
  napi_env env = e->env;
  const char *base = (const char *)msg;

  if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
    size_t n = *(const size_t *)(base + fd->quantifier_offset);
    const char *items = *(char *const *)(base + fd->offset);
    size_t sz = pgml_node__value_size(fd);
    napi_value arr;

    if (fi != NULL && (fi->flags & PGML_FIELD_MAP))
      return map_to_js(e, fd, n, (ProtobufCMessage *const *)items, out);
    NAPI_TRY(napi_create_array_with_length(env, n, &arr));
    for (size_t i = 0; i < n; i++) {
      napi_value item;
      NAPI_TRY(value_to_js(e, fd, fi, items + i * sz, &item));
      NAPI_TRY(napi_set_element(env, arr, (uint32_t)i, item));
    }
    *out = arr;
    return napi_ok;
  }
  if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
      *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
    return napi_get_undefined(env, out);
  return value_to_js(e, fd, fi, base + fd->offset, out);
}

napi_status pgml_node__msg_to_js(pgml_node_env_t *e, const ProtobufCMessage *msg,
                                 napi_value *out)
{
  napi_env env = e->env;
  const ProtobufCMessageDescriptor *d = msg->descriptor;
  const pgml_message_info_t *mi = pgml_node__message_info(e->table, d);
  napi_value obj;

  NAPI_TRY(napi_create_object(env, &obj));
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *fd = &d->fields[i];
    const pgml_field_info_t *fi = NULL;
    napi_value v;

    if (mi != NULL)
      for (size_t j = 0; j < mi->n_fields; j++)
        if (mi->fields[j].number == fd->id)
          fi = &mi->fields[j];
    NAPI_TRY(pgml_node__field_to_js(e, msg, fd, fi, &v));
    NAPI_TRY(napi_set_named_property(env, obj, fi != NULL ? fi->name : fd->name, v));
  }
  *out = obj;
  return napi_ok;
}
