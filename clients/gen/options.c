/* options.c - decodes pgml's custom options from descriptors' unknown fields. */
#include "options.h"

#include <errno.h>
#include <string.h>

typedef Google__Protobuf__FieldDescriptorProto__Type field_type_t;

typedef struct opt_spec_s {
  const char *name;
  const char *extendee; /* as protoc writes it in the descriptor */
  field_type_t type;
} opt_spec_t;

#define T(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x

static const opt_spec_t specs[PGML_GEN_OPT_COUNT] = {
    [PGML_GEN_OPT_BIND] = {"bind", ".google.protobuf.FieldOptions", T(STRING)},
    [PGML_GEN_OPT_JSON] = {"json", ".google.protobuf.FieldOptions", T(BOOL)},
    [PGML_GEN_OPT_JS_NUMBER] = {"js_number", ".google.protobuf.FieldOptions",
                                T(BOOL)},
    [PGML_GEN_OPT_UNWRAP] = {"unwrap", ".google.protobuf.MessageOptions",
                             T(STRING)},
    [PGML_GEN_OPT_RETURNS_BOUND] = {"returns_bound",
                                    ".google.protobuf.MethodOptions", T(STRING)},
    [PGML_GEN_OPT_RETURNS_KEY] = {"returns_key",
                                  ".google.protobuf.MethodOptions", T(STRING)},
};

#undef T

const char *pgml_gen_opt_name(pgml_gen_opt_t opt) {
  return (unsigned)opt < PGML_GEN_OPT_COUNT ? specs[opt].name : "?";
}

int pgml_gen_is_identifier(const char *s) {
  if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
    return 0;
  for (const char *p = s; *p != '\0'; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return 1;
}

int pgml_gen_opt_numbers_find(const Google__Protobuf__FileDescriptorSet *set,
                              const char *package, pgml_gen_opt_numbers_t *out,
                              pgml_gen_diag_t *d) {
  pgml_gen_opt_numbers_t nums;
  int rc = 0;

  memset(&nums, 0, sizeof(nums));
  for (size_t f = 0; f < set->n_file; f++) {
    const Google__Protobuf__FileDescriptorProto *file = set->file[f];
    if (file->package == NULL || strcmp(file->package, package) != 0)
      continue;
    for (size_t e = 0; e < file->n_extension; e++) {
      const Google__Protobuf__FieldDescriptorProto *ext = file->extension[e];
      for (int o = 0; o < PGML_GEN_OPT_COUNT; o++) {
        const opt_spec_t *s = &specs[o];
        if (ext->name == NULL || strcmp(ext->name, s->name) != 0)
          continue;
        if (ext->extendee == NULL || strcmp(ext->extendee, s->extendee) != 0)
          rc = pgml_gen_error(d, file->name,
                              "option (%s) extends %s; pgml-gen reads it from %s",
                              s->name, ext->extendee ? ext->extendee : "nothing",
                              s->extendee);
        else if (!ext->has_type || ext->type != s->type)
          rc = pgml_gen_error(d, file->name,
                              "option (%s) must be declared %s", s->name,
                              s->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BOOL
                                  ? "bool" : "string");
        else if (ext->has_label &&
                 ext->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED)
          rc = pgml_gen_error(d, file->name,
                              "option (%s) must not be repeated", s->name);
        else if (!ext->has_number || ext->number <= 0)
          rc = pgml_gen_error(d, file->name, "option (%s) has no field number",
                              s->name);
        else
          nums.number[o] = (uint32_t)ext->number;
      }
    }
  }
  if (rc == 0)
    *out = nums;
  return rc;
}

/* Decodes a base-128 varint from p[0..len).  Returns the bytes it used, or 0
 * when it is truncated or longer than ten bytes. */
static size_t read_varint(const uint8_t *p, size_t len, uint64_t *v) {
  uint64_t x = 0;
  for (size_t i = 0; i < len && i < 10; i++) {
    x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if ((p[i] & 0x80) == 0) {
      *v = x;
      return i + 1;
    }
  }
  return 0;
}

static const char *wire_name(ProtobufCWireType w) {
  switch (w) {
  case PROTOBUF_C_WIRE_TYPE_VARINT:
    return "varint";
  case PROTOBUF_C_WIRE_TYPE_64BIT:
    return "64-bit";
  case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
    return "length-delimited";
  case PROTOBUF_C_WIRE_TYPE_32BIT:
    return "32-bit";
  }
  return "unknown";
}

/* The last occurrence of extension `number` among the unknown fields, as
 * protobuf's "last one wins" rule for scalars says; NULL if absent. */
static const ProtobufCMessageUnknownField *
find_unknown(const ProtobufCMessage *m, uint32_t number) {
  const ProtobufCMessageUnknownField *found = NULL;
  if (m == NULL || number == 0)
    return NULL;
  for (unsigned i = 0; i < m->n_unknown_fields; i++)
    if (m->unknown_fields[i].tag == number)
      found = &m->unknown_fields[i];
  return found;
}

static int parse_bool(const ProtobufCMessage *m, const pgml_gen_opt_numbers_t *nums,
                      pgml_gen_opt_t opt, const char *where, bool *out,
                      pgml_gen_diag_t *d) {
  const ProtobufCMessageUnknownField *u = find_unknown(m, nums->number[opt]);
  uint64_t v = 0;

  *out = false;
  if (u == NULL)
    return 0;
  if (u->wire_type != PROTOBUF_C_WIRE_TYPE_VARINT)
    return pgml_gen_error(d, where, "option (%s) has wire type %s; a bool is a varint",
                          specs[opt].name, wire_name(u->wire_type));
  if (read_varint(u->data, u->len, &v) != u->len)
    return pgml_gen_error(d, where, "option (%s) holds a malformed varint",
                          specs[opt].name);
  *out = v != 0;
  return 0;
}

/* Decodes a string option that must name something (a class or a field):
 * non-empty, an identifier.  Sets *out to an arena copy, or NULL if the
 * option is absent. */
static int parse_name(const ProtobufCMessage *m, const pgml_gen_opt_numbers_t *nums,
                      pgml_gen_opt_t opt, pgml_gen_arena_t *a, const char *where,
                      const char **out, pgml_gen_diag_t *d) {
  const ProtobufCMessageUnknownField *u = find_unknown(m, nums->number[opt]);
  uint64_t n = 0;
  size_t hdr;
  char *s;

  *out = NULL;
  if (u == NULL)
    return 0;
  if (u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
    return pgml_gen_error(d, where,
                          "option (%s) has wire type %s; a string is length-delimited",
                          specs[opt].name, wire_name(u->wire_type));
  /* protobuf-c keeps the length prefix in front of the bytes. */
  hdr = read_varint(u->data, u->len, &n);
  if (hdr == 0 || n != u->len - hdr)
    return pgml_gen_error(d, where, "option (%s) holds a malformed string",
                          specs[opt].name);
  if (memchr(u->data + hdr, '\0', (size_t)n) != NULL)
    return pgml_gen_error(d, where, "option (%s) contains a NUL byte",
                          specs[opt].name);
  s = pgml_gen_arena_strndup(a, (const char *)u->data + hdr, (size_t)n);
  if (s == NULL)
    return -ENOMEM;
  if (s[0] == '\0')
    return pgml_gen_error(d, where, "option (%s) is empty; give a name or leave it out",
                          specs[opt].name);
  if (!pgml_gen_is_identifier(s))
    return pgml_gen_error(d, where,
                          "option (%s) = \"%s\" is not a name (letters, digits, '_')",
                          specs[opt].name, s);
  *out = s;
  return 0;
}

int pgml_gen_field_opts_parse(const pgml_gen_opt_numbers_t *nums,
                              const Google__Protobuf__FieldOptions *o,
                              pgml_gen_arena_t *a, const char *where,
                              pgml_gen_field_opts_t *out, pgml_gen_diag_t *d) {
  const ProtobufCMessage *m = o ? &o->base : NULL;
  pgml_gen_field_opts_t v;
  int rc;

  memset(&v, 0, sizeof(v));
  if ((rc = parse_name(m, nums, PGML_GEN_OPT_BIND, a, where, &v.bind, d)) < 0 ||
      (rc = parse_bool(m, nums, PGML_GEN_OPT_JSON, where, &v.json, d)) < 0 ||
      (rc = parse_bool(m, nums, PGML_GEN_OPT_JS_NUMBER, where, &v.js_number, d)) < 0)
    return rc;
  *out = v;
  return 0;
}

int pgml_gen_message_opts_parse(const pgml_gen_opt_numbers_t *nums,
                                const Google__Protobuf__MessageOptions *o,
                                pgml_gen_arena_t *a, const char *where,
                                pgml_gen_message_opts_t *out, pgml_gen_diag_t *d) {
  const ProtobufCMessage *m = o ? &o->base : NULL;
  pgml_gen_message_opts_t v;
  int rc;

  memset(&v, 0, sizeof(v));
  if ((rc = parse_name(m, nums, PGML_GEN_OPT_UNWRAP, a, where, &v.unwrap, d)) < 0)
    return rc;
  *out = v;
  return 0;
}

int pgml_gen_method_opts_parse(const pgml_gen_opt_numbers_t *nums,
                               const Google__Protobuf__MethodOptions *o,
                               pgml_gen_arena_t *a, const char *where,
                               pgml_gen_method_opts_t *out, pgml_gen_diag_t *d) {
  const ProtobufCMessage *m = o ? &o->base : NULL;
  pgml_gen_method_opts_t v;
  int rc;

  memset(&v, 0, sizeof(v));
  if ((rc = parse_name(m, nums, PGML_GEN_OPT_RETURNS_BOUND, a, where,
                       &v.returns_bound, d)) < 0 ||
      (rc = parse_name(m, nums, PGML_GEN_OPT_RETURNS_KEY, a, where,
                       &v.returns_key, d)) < 0)
    return rc;
  *out = v;
  return 0;
}
