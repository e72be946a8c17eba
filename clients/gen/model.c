/* model.c - turns a FileDescriptorSet into the checked model the emitters read. */
#include "model.h"

#include <errno.h>
#include <string.h>

#include "names.h"

/* Field numbers inside descriptor.proto, as SourceCodeInfo paths use them. */
enum {
  FILE_MESSAGE_TYPE = 4,
  FILE_ENUM_TYPE = 5,
  FILE_SERVICE = 6,
  FILE_SYNTAX = 12,
  MESSAGE_FIELD = 2,
  MESSAGE_NESTED_TYPE = 3,
  MESSAGE_ENUM_TYPE = 4,
  ENUM_VALUE = 2,
  SERVICE_METHOD = 2,
};

#define PATH_MAX_DEPTH 64

typedef Google__Protobuf__FileDescriptorProto file_proto_t;
typedef Google__Protobuf__DescriptorProto message_proto_t;
typedef Google__Protobuf__EnumDescriptorProto enum_proto_t;
typedef Google__Protobuf__FieldDescriptorProto field_proto_t;

/* Where an element is: its file and its SourceCodeInfo path. */
typedef struct path_s {
  const file_proto_t *file;
  int32_t elem[PATH_MAX_DEPTH];
  size_t n;
} path_t;

typedef struct loader_s {
  pgml_gen_model_t *m;
  pgml_gen_diag_t *d;
  size_t cap_messages;
  size_t cap_enums;
} loader_t;

/* protobuf-c allocates the decoded set in the model's arena: one owner, and
 * the arena's fault injection covers the decoding too.  protobuf-c answers
 * a failed allocation and a malformed input alike (NULL), so the allocator
 * remembers which it was. */
typedef struct pb_arena_s {
  pgml_gen_arena_t *arena;
  bool failed;
} pb_arena_t;

static void *arena_pb_alloc(void *data, size_t size) {
  pb_arena_t *pa = data;
  void *p = pgml_gen_arena_alloc(pa->arena, size);
  if (p == NULL)
    pa->failed = true;
  return p;
}
static void arena_pb_free(void *data, void *p) {
  (void)data;
  (void)p;
}

/* ---------------------------------------------------------------- comments */

static const Google__Protobuf__SourceCodeInfo__Location *
find_location(const path_t *p) {
  const Google__Protobuf__SourceCodeInfo *sci = p->file->source_code_info;
  if (sci == NULL)
    return NULL;
  for (size_t i = 0; i < sci->n_location; i++) {
    const Google__Protobuf__SourceCodeInfo__Location *loc = sci->location[i];
    if (loc->n_path == p->n &&
        (p->n == 0 || memcmp(loc->path, p->elem, p->n * sizeof(int32_t)) == 0))
      return loc;
  }
  return NULL;
}

/* Cleans a comment as protoc gives it (" Echoes `data`.\n More.\n"): drops
 * the one space after each "//", trailing blanks, and blank lines at either
 * end.  Returns NULL for no comment, "" never. */
static int clean_comment(pgml_gen_arena_t *a, const char *raw, const char **out) {
  size_t len, o = 0, last_text = 0;
  char *s;
  bool line_start = true;

  *out = NULL;
  if (raw == NULL)
    return 0;
  len = strlen(raw);
  s = pgml_gen_arena_alloc(a, len + 1);
  if (s == NULL)
    return -ENOMEM;
  for (size_t i = 0; i < len; i++) {
    char c = raw[i];
    if (c == '\r')
      continue;
    if (line_start && c == ' ') {
      line_start = false;
      continue;
    }
    line_start = c == '\n';
    if (c == '\n') {
      /* trailing blanks of the line just ended */
      while (o > 0 && (s[o - 1] == ' ' || s[o - 1] == '\t'))
        o--;
      if (o == 0)
        continue; /* blank lines before the text */
    }
    s[o++] = c;
    if (c != '\n' && c != ' ' && c != '\t')
      last_text = o;
  }
  s[last_text] = '\0';
  if (last_text > 0)
    *out = s;
  return 0;
}

/* The element's comment (leading, else trailing) and "file:line:col". */
static int describe(loader_t *l, const path_t *p, const char **doc,
                    const char **where) {
  const Google__Protobuf__SourceCodeInfo__Location *loc = find_location(p);
  const char *fname = p->file->name ? p->file->name : "(unnamed file)";
  int rc;

  *doc = NULL;
  if (loc != NULL && loc->n_span >= 3)
    *where = pgml_gen_arena_printf(&l->m->arena, "%s:%d:%d", fname,
                                   loc->span[0] + 1, loc->span[1] + 1);
  else
    *where = pgml_gen_arena_strdup(&l->m->arena, fname);
  if (*where == NULL)
    return -ENOMEM;
  if (loc == NULL)
    return 0;
  rc = clean_comment(&l->m->arena, loc->leading_comments, doc);
  if (rc == 0 && *doc == NULL)
    rc = clean_comment(&l->m->arena, loc->trailing_comments, doc);
  return rc;
}

/* The first paragraph of the comment that opens the file (protoc attaches
 * it to the `syntax` line): what a service without a comment of its own is
 * documented with. */
static int file_doc(loader_t *l, const file_proto_t *file, const char **doc) {
  path_t p = {.file = file, .elem = {FILE_SYNTAX}, .n = 1};
  const Google__Protobuf__SourceCodeInfo__Location *loc = find_location(&p);
  const char *text, *para;
  int rc;

  *doc = NULL;
  if (loc == NULL)
    return 0;
  if ((rc = clean_comment(&l->m->arena, loc->leading_comments, &text)) < 0 ||
      text == NULL)
    return rc;
  para = strstr(text, "\n\n");
  *doc = para ? pgml_gen_arena_strndup(&l->m->arena, text, (size_t)(para - text)) : text;
  return *doc ? 0 : -ENOMEM;
}

static int path_push(loader_t *l, path_t *p, int32_t a, int32_t b) {
  if (p->n + 2 > PATH_MAX_DEPTH)
    return pgml_gen_error(l->d, p->file->name,
                          "types are nested more than %d levels deep",
                          PATH_MAX_DEPTH / 2);
  p->elem[p->n++] = a;
  p->elem[p->n++] = b;
  return 0;
}

/* ---------------------------------------------------------------- pass 1: names */

static size_t count_messages(message_proto_t *const *msgs, size_t n,
                             size_t *n_enums) {
  size_t total = n;
  for (size_t i = 0; i < n; i++) {
    *n_enums += msgs[i]->n_enum_type;
    total += count_messages(msgs[i]->nested_type, msgs[i]->n_nested_type, n_enums);
  }
  return total;
}

static int add_enum(loader_t *l, const enum_proto_t *e, const char *scope_name,
                    const char *scope_full, path_t *p) {
  pgml_gen_arena_t *a = &l->m->arena;
  pgml_gen_enum_t *en = pgml_gen_arena_alloc(a, sizeof(*en));
  int rc;

  if (en == NULL)
    return -ENOMEM;
  if (e->name == NULL)
    return pgml_gen_error(l->d, p->file->name, "an enum has no name");
  en->name = scope_name ? pgml_gen_arena_printf(a, "%s.%s", scope_name, e->name)
                        : pgml_gen_arena_strdup(a, e->name);
  en->full_name = scope_full[0]
                      ? pgml_gen_arena_printf(a, "%s.%s", scope_full, e->name)
                      : pgml_gen_arena_strdup(a, e->name);
  en->values = pgml_gen_arena_alloc(a, (e->n_value + 1) * sizeof(*en->values));
  if (en->name == NULL || en->full_name == NULL || en->values == NULL)
    return -ENOMEM;
  if ((rc = describe(l, p, &en->doc, &en->where)) < 0)
    return rc;
  for (size_t i = 0; i < e->n_value; i++) {
    const Google__Protobuf__EnumValueDescriptorProto *v = e->value[i];
    pgml_gen_enum_value_t *ev = &en->values[i];
    const char *where;
    if ((rc = path_push(l, p, ENUM_VALUE, (int32_t)i)) < 0)
      return rc;
    rc = describe(l, p, &ev->doc, &where);
    p->n -= 2;
    if (rc < 0)
      return rc;
    if (v->name == NULL)
      return pgml_gen_error(l->d, where, "a value of enum %s has no name",
                            en->full_name);
    ev->name = v->name;
    ev->number = v->number;
  }
  en->n_values = e->n_value;
  l->m->enums[l->m->n_enums++] = en;
  return 0;
}

/* Creates the message and, recursively, its nested messages and enums.  Fields
 * come in pass 2, once every type exists. */
static int add_message(loader_t *l, const message_proto_t *mp, const char *scope_name,
                       const char *scope_full, path_t *p) {
  pgml_gen_arena_t *a = &l->m->arena;
  pgml_gen_message_t *msg = pgml_gen_arena_alloc(a, sizeof(*msg));
  int rc;

  if (msg == NULL)
    return -ENOMEM;
  if (mp->name == NULL)
    return pgml_gen_error(l->d, p->file->name, "a message has no name");
  msg->name = scope_name ? pgml_gen_arena_printf(a, "%s.%s", scope_name, mp->name)
                         : pgml_gen_arena_strdup(a, mp->name);
  msg->full_name = scope_full[0]
                       ? pgml_gen_arena_printf(a, "%s.%s", scope_full, mp->name)
                       : pgml_gen_arena_strdup(a, mp->name);
  msg->file = p->file->name;
  if (msg->name == NULL || msg->full_name == NULL)
    return -ENOMEM;
  msg->ident = pgml_gen_nanopb_name(a, msg->name); /* dots to '_' */
  if (msg->ident == NULL)
    return -ENOMEM;
  msg->map_entry = mp->options != NULL && mp->options->has_map_entry &&
                   mp->options->map_entry;
  if ((rc = describe(l, p, &msg->doc, &msg->where)) < 0)
    return rc;
  if ((rc = pgml_gen_message_opts_parse(&l->m->opt_numbers, mp->options, a,
                                        msg->where, &msg->opts, l->d)) < 0)
    return rc;
  l->m->messages[l->m->n_messages++] = msg;

  for (size_t i = 0; i < mp->n_nested_type; i++) {
    if ((rc = path_push(l, p, MESSAGE_NESTED_TYPE, (int32_t)i)) < 0)
      return rc;
    rc = add_message(l, mp->nested_type[i], msg->name, msg->full_name, p);
    p->n -= 2;
    if (rc < 0)
      return rc;
  }
  for (size_t i = 0; i < mp->n_enum_type; i++) {
    if ((rc = path_push(l, p, MESSAGE_ENUM_TYPE, (int32_t)i)) < 0)
      return rc;
    rc = add_enum(l, mp->enum_type[i], msg->name, msg->full_name, p);
    p->n -= 2;
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* ---------------------------------------------------------------- lookups */

static const char *skip_dot(const char *s) { return s[0] == '.' ? s + 1 : s; }

pgml_gen_message_t *pgml_gen_model_message(const pgml_gen_model_t *m,
                                           const char *full_name) {
  const char *n = skip_dot(full_name);
  for (size_t i = 0; i < m->n_messages; i++)
    if (strcmp(m->messages[i]->full_name, n) == 0)
      return m->messages[i];
  return NULL;
}

pgml_gen_enum_t *pgml_gen_model_enum(const pgml_gen_model_t *m,
                                     const char *full_name) {
  const char *n = skip_dot(full_name);
  for (size_t i = 0; i < m->n_enums; i++)
    if (strcmp(m->enums[i]->full_name, n) == 0)
      return m->enums[i];
  return NULL;
}

static pgml_gen_field_t *find_field(const pgml_gen_message_t *msg, const char *name) {
  for (size_t i = 0; i < msg->n_fields; i++)
    if (strcmp(msg->fields[i].name, name) == 0)
      return &msg->fields[i];
  return NULL;
}

/* ---------------------------------------------------------------- pass 2: fields */

static int add_fields(loader_t *l, const message_proto_t *mp, pgml_gen_message_t *msg,
                      path_t *p) {
  pgml_gen_arena_t *a = &l->m->arena;
  int rc;

  msg->fields = pgml_gen_arena_alloc(a, (mp->n_field + 1) * sizeof(*msg->fields));
  if (msg->fields == NULL)
    return -ENOMEM;
  for (size_t i = 0; i < mp->n_field; i++) {
    const field_proto_t *fp = mp->field[i];
    pgml_gen_field_t *f = &msg->fields[i];

    if ((rc = path_push(l, p, MESSAGE_FIELD, (int32_t)i)) < 0)
      return rc;
    rc = describe(l, p, &f->doc, &f->where);
    p->n -= 2;
    if (rc < 0)
      return rc;
    if (fp->name == NULL || !fp->has_number || fp->number <= 0 || !fp->has_type)
      return pgml_gen_error(l->d, f->where,
                            "field %zu of %s lacks a name, number or type", i,
                            msg->full_name);
    f->name = fp->name;
    f->number = (uint32_t)fp->number;
    f->type = fp->type;
    f->repeated = fp->has_label &&
                  fp->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED;
    f->parent = msg;
    if (f->type == PGML_GEN_TYPE(MESSAGE) || f->type == PGML_GEN_TYPE(ENUM)) {
      if (fp->type_name == NULL)
        return pgml_gen_error(l->d, f->where, "field %s.%s has no type name",
                              msg->full_name, f->name);
      if (f->type == PGML_GEN_TYPE(MESSAGE))
        f->message = pgml_gen_model_message(l->m, fp->type_name);
      else
        f->enum_type = pgml_gen_model_enum(l->m, fp->type_name);
      if (f->message == NULL && f->enum_type == NULL)
        return pgml_gen_error(l->d, f->where,
                              "field %s.%s: type %s is not in the descriptor set "
                              "(was it built with --include_imports?)",
                              msg->full_name, f->name, fp->type_name);
    } else if (f->type == PGML_GEN_TYPE(GROUP)) {
      return pgml_gen_error(l->d, f->where, "field %s.%s is a group; groups are not supported",
                            msg->full_name, f->name);
    }
    if ((rc = pgml_gen_field_opts_parse(&l->m->opt_numbers, fp->options, a,
                                        f->where, &f->opts, l->d)) < 0)
      return rc;
  }
  msg->n_fields = mp->n_field;
  return 0;
}

/* Walks the messages in the same order as add_message() created them, so
 * the k-th message proto is model message *next. */
static int add_fields_rec(loader_t *l, message_proto_t *const *msgs, size_t n,
                          size_t *next, path_t *p, int32_t kind) {
  int rc;
  for (size_t i = 0; i < n; i++) {
    pgml_gen_message_t *msg = l->m->messages[(*next)++];
    if ((rc = path_push(l, p, kind, (int32_t)i)) < 0)
      return rc;
    rc = add_fields(l, msgs[i], msg, p);
    if (rc == 0)
      rc = add_fields_rec(l, msgs[i]->nested_type, msgs[i]->n_nested_type, next,
                          p, MESSAGE_NESTED_TYPE);
    p->n -= 2;
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* ---------------------------------------------------------------- the service */

static int find_service(loader_t *l, const Google__Protobuf__FileDescriptorSet *set,
                        const char *want, const file_proto_t **file_out,
                        size_t *index_out) {
  size_t found = 0;

  for (size_t f = 0; f < set->n_file; f++) {
    const file_proto_t *file = set->file[f];
    for (size_t s = 0; s < file->n_service; s++) {
      const char *name = file->service[s]->name;
      char full[512];
      if (name == NULL)
        continue;
      snprintf(full, sizeof(full), "%s%s%s", file->package ? file->package : "",
               file->package ? "." : "", name);
      if (strcmp(full, skip_dot(want)) == 0 || strcmp(name, want) == 0) {
        if (found++ == 0) {
          *file_out = file;
          *index_out = s;
        }
      }
    }
  }
  if (found == 0)
    return pgml_gen_error(l->d, NULL,
                          "no service named %s in the descriptor set", want);
  if (found > 1)
    return pgml_gen_error(l->d, NULL,
                          "%zu services are named %s; give the full name (package.Service)",
                          found, want);
  return 0;
}

/* Marks the message and everything reachable through its fields as used. */
static void mark_used(pgml_gen_message_t *msg) {
  if (msg->used)
    return;
  msg->used = true;
  for (size_t i = 0; i < msg->n_fields; i++)
    if (msg->fields[i].message != NULL)
      mark_used(msg->fields[i].message);
}

static int load_methods(loader_t *l, const file_proto_t *file, size_t index) {
  const Google__Protobuf__ServiceDescriptorProto *sp = file->service[index];
  pgml_gen_service_t *svc = &l->m->service;
  pgml_gen_arena_t *a = &l->m->arena;
  path_t p = {.file = file, .n = 0};
  const char *where;
  int rc, bad = 0;

  svc->name = sp->name;
  svc->package = file->package ? file->package : "";
  svc->file = file->name;
  svc->full_name = svc->package[0]
                       ? pgml_gen_arena_printf(a, "%s.%s", svc->package, sp->name)
                       : sp->name;
  svc->methods = pgml_gen_arena_alloc(a, (sp->n_method + 1) * sizeof(*svc->methods));
  if (svc->full_name == NULL || svc->methods == NULL)
    return -ENOMEM;
  if ((rc = path_push(l, &p, FILE_SERVICE, (int32_t)index)) < 0)
    return rc;
  if ((rc = describe(l, &p, &svc->doc, &where)) < 0)
    return rc;
  if (svc->doc == NULL && (rc = file_doc(l, file, &svc->doc)) < 0)
    return rc;

  for (size_t i = 0; i < sp->n_method; i++) {
    const Google__Protobuf__MethodDescriptorProto *mp = sp->method[i];
    pgml_gen_method_t *meth = &svc->methods[i];

    if ((rc = path_push(l, &p, SERVICE_METHOD, (int32_t)i)) < 0)
      return rc;
    rc = describe(l, &p, &meth->doc, &meth->where);
    p.n -= 2;
    if (rc < 0)
      return rc;
    if (mp->name == NULL || mp->input_type == NULL || mp->output_type == NULL)
      return pgml_gen_error(l->d, meth->where,
                            "method %zu of %s lacks a name or a type", i, svc->full_name);
    meth->name = mp->name;
    meth->owner = svc->name;
    if ((mp->has_client_streaming && mp->client_streaming) ||
        (mp->has_server_streaming && mp->server_streaming)) {
      bad = pgml_gen_error(l->d, meth->where,
                           "rpc %s streams; pgmld answers each request once, so "
                           "streaming RPCs are not supported", mp->name);
      continue;
    }
    meth->request = pgml_gen_model_message(l->m, mp->input_type);
    meth->response = pgml_gen_model_message(l->m, mp->output_type);
    if (meth->request == NULL || meth->response == NULL)
      return pgml_gen_error(l->d, meth->where, "rpc %s: type %s is not in the descriptor set",
                            mp->name, meth->request ? mp->output_type : mp->input_type);
    if ((rc = pgml_gen_method_opts_parse(&l->m->opt_numbers, mp->options, a,
                                         meth->where, &meth->opts, l->d)) < 0) {
      if (rc == -ENOMEM)
        return rc;
      bad = rc;
      continue;
    }
    meth->request->is_request = true;
    mark_used(meth->request);
    mark_used(meth->response);
  }
  svc->n_methods = sp->n_method;
  return bad;
}

/* ---------------------------------------------------------------- checks */

static int check_field(loader_t *l, const pgml_gen_field_t *f) {
  const pgml_gen_message_t *msg = f->parent;
  int bad = 0;

  if (f->opts.bind != NULL) {
    if (f->type != PGML_GEN_TYPE(STRING) || f->repeated)
      bad = pgml_gen_error(l->d, f->where,
                           "%s.%s: (bind) names an object by a string, but the field is %s%s",
                           msg->full_name, f->name, f->repeated ? "repeated " : "",
                           pgml_gen_type_name(f->type));
    else if (!msg->is_request)
      bad = pgml_gen_error(l->d, f->where,
                           "%s.%s: (bind) only applies to a field of an rpc's request, "
                           "and no rpc of %s takes %s",
                           msg->full_name, f->name, l->m->service.full_name, msg->name);
  }
  if (f->opts.json && f->type != PGML_GEN_TYPE(STRING))
    bad = pgml_gen_error(l->d, f->where,
                         "%s.%s: (json) fields carry JSON text and must be strings, not %s",
                         msg->full_name, f->name, pgml_gen_type_name(f->type));
  if (f->opts.js_number && !pgml_gen_type_is_64bit(f->type))
    bad = pgml_gen_error(l->d, f->where,
                         "%s.%s: (js_number) is for 64-bit integers, and the field is %s",
                         msg->full_name, f->name, pgml_gen_type_name(f->type));
  return bad;
}

static int check_messages(loader_t *l) {
  int bad = 0;
  for (size_t i = 0; i < l->m->n_messages; i++) {
    pgml_gen_message_t *msg = l->m->messages[i];
    size_t binds = 0;
    if (!msg->used)
      continue;
    for (size_t k = 0; k < msg->n_fields; k++) {
      if (check_field(l, &msg->fields[k]) < 0)
        bad = -EINVAL;
      if (msg->fields[k].opts.bind != NULL && ++binds == 2)
        bad = pgml_gen_error(l->d, msg->fields[k].where,
                             "%s has a second (bind) field, %s; an rpc acts on one object",
                             msg->full_name, msg->fields[k].name);
    }
    if (msg->opts.unwrap != NULL) {
      msg->unwrap = find_field(msg, msg->opts.unwrap);
      if (msg->unwrap == NULL)
        bad = pgml_gen_error(l->d, msg->where, "%s: (unwrap) = \"%s\" names no field of it",
                             msg->full_name, msg->opts.unwrap);
      else if (!msg->unwrap->repeated)
        bad = pgml_gen_error(l->d, msg->where,
                             "%s: (unwrap) = \"%s\" must name a repeated field",
                             msg->full_name, msg->opts.unwrap);
    }
  }
  return bad;
}

static pgml_gen_class_t *find_class(pgml_gen_model_t *m, const char *name) {
  for (size_t i = 0; i < m->n_classes; i++)
    if (strcmp(m->classes[i].name, name) == 0)
      return &m->classes[i];
  return NULL;
}

/* Sets each method's bind and owner, and gathers the bound classes. */
static int bind_methods(loader_t *l) {
  pgml_gen_model_t *m = l->m;
  pgml_gen_service_t *svc = &m->service;
  int bad = 0;

  m->classes = pgml_gen_arena_alloc(&m->arena, (svc->n_methods + 1) * sizeof(*m->classes));
  if (m->classes == NULL)
    return -ENOMEM;
  for (size_t i = 0; i < svc->n_methods; i++) {
    pgml_gen_method_t *meth = &svc->methods[i];
    pgml_gen_class_t *cls;
    if (meth->request == NULL)
      continue;
    for (size_t k = 0; k < meth->request->n_fields && meth->bind == NULL; k++)
      if (meth->request->fields[k].opts.bind != NULL)
        meth->bind = &meth->request->fields[k];
    if (meth->bind == NULL)
      continue;
    meth->owner = meth->bind->opts.bind;
    if (strcmp(meth->owner, svc->name) == 0) {
      bad = pgml_gen_error(l->d, meth->bind->where,
                           "(bind) = \"%s\" is the service itself; name the object's class",
                           meth->owner);
      continue;
    }
    if (meth->owner[0] < 'A' || meth->owner[0] > 'Z') {
      bad = pgml_gen_error(l->d, meth->bind->where,
                           "(bind) = \"%s\" names a class, which starts with a capital",
                           meth->owner);
      continue;
    }
    cls = find_class(m, meth->owner);
    if (cls == NULL) {
      cls = &m->classes[m->n_classes++];
      cls->name = meth->owner;
      cls->where = meth->bind->where;
    }
    cls->n_methods++;
  }
  return bad;
}

static int check_returns(loader_t *l) {
  pgml_gen_model_t *m = l->m;
  int bad = 0;

  for (size_t i = 0; i < m->service.n_methods; i++) {
    pgml_gen_method_t *meth = &m->service.methods[i];
    const pgml_gen_method_opts_t *o = &meth->opts;
    if (meth->response == NULL)
      continue;
    if ((o->returns_bound == NULL) != (o->returns_key == NULL)) {
      bad = pgml_gen_error(l->d, meth->where,
                           "rpc %s: (returns_bound) and (returns_key) go together; "
                           "give both or neither", meth->name);
      continue;
    }
    if (o->returns_bound == NULL)
      continue;
    if (find_class(m, o->returns_bound) == NULL) {
      bad = pgml_gen_error(l->d, meth->where,
                           "rpc %s: (returns_bound) = \"%s\" is not a class; classes "
                           "come from (bind) on request fields", meth->name, o->returns_bound);
      continue;
    }
    meth->returns_key = find_field(meth->response, o->returns_key);
    if (meth->returns_key == NULL)
      bad = pgml_gen_error(l->d, meth->where,
                           "rpc %s: (returns_key) = \"%s\" names no field of %s",
                           meth->name, o->returns_key, meth->response->full_name);
    else if (meth->returns_key->type != PGML_GEN_TYPE(STRING) ||
             meth->returns_key->repeated)
      bad = pgml_gen_error(l->d, meth->where,
                           "rpc %s: (returns_key) = \"%s\" must be a string field, "
                           "since a bound object is named by a string",
                           meth->name, o->returns_key);
    if (meth->response->unwrap != NULL)
      bad = pgml_gen_error(l->d, meth->where,
                           "rpc %s returns a bound %s, but its response %s also has (unwrap)",
                           meth->name, o->returns_bound, meth->response->name);
  }
  return bad;
}

/* Two fields of one message that a client would spell alike (protoc already
 * refuses most such pairs through their JSON names, but not all:
 * "HTTPServer" and "http_server"). */
static int check_field_names(loader_t *l, const pgml_gen_message_t *msg) {
  pgml_gen_arena_t *a = &l->m->arena;
  size_t n = msg->n_fields;
  const char **py = pgml_gen_arena_alloc(a, (n + 1) * sizeof(*py));
  const char **js = pgml_gen_arena_alloc(a, (n + 1) * sizeof(*js));
  int bad = 0;

  if (py == NULL || js == NULL)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const char *name = msg->fields[i].name;
    /* As lang.c spells them: Python keeps the .proto name. */
    py[i] = pgml_gen_is_python_keyword(name) ? pgml_gen_arena_printf(a, "%s_", name)
                                             : name;
    js[i] = pgml_gen_camel(a, name);
    if (py[i] == NULL || js[i] == NULL)
      return -ENOMEM;
    for (size_t k = 0; k < i; k++) {
      if (strcmp(js[i], js[k]) == 0)
        bad = pgml_gen_error(l->d, msg->fields[i].where,
                             "%s: fields %s and %s would both be %s in Node; rename one",
                             msg->full_name, msg->fields[k].name, name, js[i]);
      else if (strcmp(py[i], py[k]) == 0)
        bad = pgml_gen_error(l->d, msg->fields[i].where,
                             "%s: fields %s and %s would both be %s in Python; rename one",
                             msg->full_name, msg->fields[k].name, name, py[i]);
    }
  }
  return bad;
}

/* Two methods on one class whose names a language spells the same would
 * collide; so would a method and the members every class has, a method
 * named by a Python keyword, a method whose C name is another's blocking
 * call or callback type, two fields spelled alike, and a bound class named
 * like a message.  Reports every one; returns -EINVAL if any, -ENOMEM. */
static int check_names(loader_t *l) {
  pgml_gen_model_t *m = l->m;
  pgml_gen_arena_t *a = &m->arena;
  size_t n = m->service.n_methods;
  const char **snake = pgml_gen_arena_alloc(a, (n + 1) * sizeof(*snake));
  int bad = 0;

  if (snake == NULL)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    if ((snake[i] = pgml_gen_snake(a, m->service.methods[i].name)) == NULL)
      return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const pgml_gen_method_t *mi = &m->service.methods[i];
    /* Members the clients give every class: close(), address and pending
     * on Database, name and database on a bound class, and Database's
     * factory for each bound class. */
    static const char *const members[] = {"close", "address", "pending", "name", "database"};
    bool clash = false;
    for (size_t k = 0; k < sizeof(members) / sizeof(members[0]); k++)
      clash = clash || strcmp(snake[i], members[k]) == 0;
    for (size_t c = 0; c < m->n_classes && !clash; c++) {
      const char *f = pgml_gen_snake(a, m->classes[c].name);
      if (f == NULL)
        return -ENOMEM;
      clash = strcmp(f, snake[i]) == 0 && strcmp(mi->owner, m->service.name) == 0;
    }
    if (clash)
      bad = pgml_gen_error(l->d, mi->where,
                           "rpc %s would be called %s, which the client already has; rename it",
                           mi->name, snake[i]);
    /* `self` and `timeout` are fine as method names, only not as
     * parameters; a real keyword cannot name a method. */
    else if (pgml_gen_is_python_keyword(snake[i]) && strcmp(snake[i], "self") != 0 &&
             strcmp(snake[i], "timeout") != 0)
      bad = pgml_gen_error(l->d, mi->where,
                           "rpc %s would be called %s in Python, which is a keyword; "
                           "rename it", mi->name, snake[i]);
    for (size_t k = 0; k < i; k++) {
      const pgml_gen_method_t *mk = &m->service.methods[k];
      if (strcmp(mi->owner, mk->owner) == 0 && strcmp(snake[i], snake[k]) == 0)
        bad = pgml_gen_error(l->d, mi->where,
                             "rpc %s and rpc %s would both be %s.%s in the clients",
                             mk->name, mi->name, mi->owner, snake[i]);
    }
    /* In C every rpc X also has X_sync() and the type X_cb. */
    for (size_t k = 0; k < n; k++) {
      size_t lk = strlen(snake[k]);
      const char *rest = snake[i] + lk;
      if (k != i && strncmp(snake[i], snake[k], lk) == 0 &&
          (strcmp(rest, "_sync") == 0 || strcmp(rest, "_cb") == 0)) {
        bad = pgml_gen_error(l->d, mi->where,
                             "rpc %s would be %s in C, the name of rpc %s's %s; rename it",
                             mi->name, snake[i], m->service.methods[k].name,
                             rest[1] == 's' ? "blocking call" : "callback type");
        break;
      }
    }
  }
  for (size_t i = 0; i < m->n_messages; i++) {
    if (m->messages[i]->used && !m->messages[i]->map_entry) {
      int rc = check_field_names(l, m->messages[i]);
      if (rc == -ENOMEM)
        return rc;
      if (rc < 0)
        bad = rc;
    }
  }
  for (size_t c = 0; c < m->n_classes; c++) {
    pgml_gen_message_t *clash = NULL;
    for (size_t i = 0; i < m->n_messages && clash == NULL; i++)
      if (m->messages[i]->used && strcmp(m->messages[i]->ident, m->classes[c].name) == 0)
        clash = m->messages[i];
    if (clash != NULL)
      bad = pgml_gen_error(l->d, m->classes[c].where,
                           "(bind) class %s has the name of message %s; the clients "
                           "declare both", m->classes[c].name, clash->full_name);
  }
  return bad;
}

static int find_codes(loader_t *l, const char *codes) {
  pgml_gen_model_t *m = l->m;
  const char *name = codes;
  char buf[512];

  if (name == NULL) {
    snprintf(buf, sizeof(buf), "%s%sCode", m->service.package,
             m->service.package[0] ? "." : "");
    name = buf;
  }
  m->codes = pgml_gen_model_enum(m, name);
  if (m->codes == NULL)
    return pgml_gen_error(l->d, NULL,
                          "no status-code enum %s in the descriptor set; the clients' "
                          "error classes come from it (pass --codes)", name);
  for (size_t i = 0; i < m->codes->n_values; i++)
    if (m->codes->values[i].number == 0)
      return 0;
  return pgml_gen_error(l->d, m->codes->where,
                        "enum %s has no value 0 (OK); is it the status codes?", name);
}

/* ---------------------------------------------------------------- load */

int pgml_gen_model_load(pgml_gen_model_t *m, const uint8_t *data, size_t len,
                        const char *service, const char *codes, pgml_gen_diag_t *d) {
  pb_arena_t pa = {&m->arena, false};
  ProtobufCAllocator alloc = {arena_pb_alloc, arena_pb_free, &pa};
  Google__Protobuf__FileDescriptorSet *set;
  loader_t l = {.m = m, .d = d};
  size_t n_msgs = 0, n_enums = 0, next = 0;
  const file_proto_t *svc_file = NULL;
  size_t svc_index = 0;
  int rc;

  memset(m, 0, sizeof(*m));
  set = google__protobuf__file_descriptor_set__unpack(&alloc, len, data);
  if (set == NULL) {
    rc = pa.failed ? -ENOMEM
                   : pgml_gen_error(d, NULL,
                                    "the descriptor set (%zu bytes) does not decode as "
                                    "a google.protobuf.FileDescriptorSet", len);
    goto fail;
  }
  if ((rc = pgml_gen_opt_numbers_find(set, "pgml.v1", &m->opt_numbers, d)) < 0)
    goto fail;

  for (size_t f = 0; f < set->n_file; f++) {
    const file_proto_t *file = set->file[f];
    n_enums += file->n_enum_type;
    n_msgs += count_messages(file->message_type, file->n_message_type, &n_enums);
  }
  m->messages = pgml_gen_arena_alloc(&m->arena, (n_msgs + 1) * sizeof(*m->messages));
  m->enums = pgml_gen_arena_alloc(&m->arena, (n_enums + 1) * sizeof(*m->enums));
  if (m->messages == NULL || m->enums == NULL) {
    rc = -ENOMEM;
    goto fail;
  }

  for (size_t f = 0; f < set->n_file; f++) {
    const file_proto_t *file = set->file[f];
    const char *pkg = file->package ? file->package : "";
    path_t p = {.file = file, .n = 0};
    if (file->name == NULL) {
      rc = pgml_gen_error(d, NULL, "file %zu of the descriptor set has no name", f);
      goto fail;
    }
    for (size_t i = 0; i < file->n_message_type; i++) {
      p.n = 0;
      if ((rc = path_push(&l, &p, FILE_MESSAGE_TYPE, (int32_t)i)) < 0 ||
          (rc = add_message(&l, file->message_type[i], NULL, pkg, &p)) < 0)
        goto fail;
    }
    for (size_t i = 0; i < file->n_enum_type; i++) {
      p.n = 0;
      if ((rc = path_push(&l, &p, FILE_ENUM_TYPE, (int32_t)i)) < 0 ||
          (rc = add_enum(&l, file->enum_type[i], NULL, pkg, &p)) < 0)
        goto fail;
    }
  }
  for (size_t f = 0; f < set->n_file; f++) {
    const file_proto_t *file = set->file[f];
    path_t p = {.file = file, .n = 0};
    if ((rc = add_fields_rec(&l, file->message_type, file->n_message_type, &next,
                             &p, FILE_MESSAGE_TYPE)) < 0)
      goto fail;
  }

  if ((rc = find_service(&l, set, service, &svc_file, &svc_index)) < 0)
    goto fail;
  /* The methods and the checks report every problem they find before
   * failing, so that one run shows all of them. */
  rc = load_methods(&l, svc_file, svc_index);
  if (rc != -ENOMEM) {
    int rc2 = check_messages(&l);
    if (rc2 < 0)
      rc = rc2;
  }
  if (rc != -ENOMEM) {
    int rc2 = bind_methods(&l);
    if (rc2 < 0)
      rc = rc2;
  }
  if (rc != -ENOMEM) {
    int rc2 = check_returns(&l);
    if (rc2 < 0)
      rc = rc2;
  }
  if (rc != -ENOMEM) {
    int rc2 = check_names(&l);
    if (rc2 < 0)
      rc = rc2;
  }
  if (rc < 0)
    goto fail;
  if ((rc = find_codes(&l, codes)) < 0)
    goto fail;
  return 0;

fail:
  if (rc == -ENOMEM)
    pgml_gen_error(d, NULL, "out of memory while reading the descriptor set");
  pgml_gen_model_free(m);
  return rc;
}

void pgml_gen_model_free(pgml_gen_model_t *m) {
  pgml_gen_arena_free(&m->arena);
  memset(m, 0, sizeof(*m));
}

/* ---------------------------------------------------------------- queries */

size_t pgml_gen_method_args(const pgml_gen_method_t *meth, const pgml_gen_field_t **out) {
  size_t n = 0;
  for (size_t i = 0; i < meth->request->n_fields; i++)
    if (&meth->request->fields[i] != meth->bind)
      out[n++] = &meth->request->fields[i];
  return n;
}

bool pgml_gen_method_is_void(const pgml_gen_method_t *meth) {
  return meth->response->n_fields == 0;
}

bool pgml_gen_message_shown(const pgml_gen_message_t *msg) {
  return msg->used && !msg->map_entry;
}

const char *pgml_gen_type_name(pgml_gen_type_t t) {
  switch (t) {
  case PGML_GEN_TYPE(DOUBLE): return "double";
  case PGML_GEN_TYPE(FLOAT): return "float";
  case PGML_GEN_TYPE(INT64): return "int64";
  case PGML_GEN_TYPE(UINT64): return "uint64";
  case PGML_GEN_TYPE(INT32): return "int32";
  case PGML_GEN_TYPE(FIXED64): return "fixed64";
  case PGML_GEN_TYPE(FIXED32): return "fixed32";
  case PGML_GEN_TYPE(BOOL): return "bool";
  case PGML_GEN_TYPE(STRING): return "string";
  case PGML_GEN_TYPE(GROUP): return "group";
  case PGML_GEN_TYPE(MESSAGE): return "message";
  case PGML_GEN_TYPE(BYTES): return "bytes";
  case PGML_GEN_TYPE(UINT32): return "uint32";
  case PGML_GEN_TYPE(ENUM): return "enum";
  case PGML_GEN_TYPE(SFIXED32): return "sfixed32";
  case PGML_GEN_TYPE(SFIXED64): return "sfixed64";
  case PGML_GEN_TYPE(SINT32): return "sint32";
  case PGML_GEN_TYPE(SINT64): return "sint64";
  default: return "an unknown type";
  }
}

bool pgml_gen_type_is_64bit(pgml_gen_type_t t) {
  return t == PGML_GEN_TYPE(INT64) || t == PGML_GEN_TYPE(UINT64) ||
         t == PGML_GEN_TYPE(FIXED64) || t == PGML_GEN_TYPE(SFIXED64) ||
         t == PGML_GEN_TYPE(SINT64);
}
