/* errors.c - the addon's exceptions: pgml.Error subclasses for call
 * outcomes, and TypeError / RangeError / Error for misuse. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "addon.h"

/* Messages are cut at this length; they name a field and a value, never
 * user data of unbounded size. */
#define MSG_MAX 512

static napi_status new_error(napi_env env, const char *code, const char *msg,
                             napi_status (*make)(napi_env, napi_value, napi_value,
                                                 napi_value *),
                             napi_value *out)
{
  napi_value code_v = NULL, msg_v;

  if (code != NULL)
    NAPI_TRY(napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v));
  NAPI_TRY(napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v));
  return make(env, code_v, msg_v, out);
}

__attribute__((format(printf, 4, 0)))
static napi_status throw_with(napi_env env, const char *code,
                              napi_status (*make)(napi_env, napi_value, napi_value,
                                                  napi_value *),
                              const char *fmt, va_list ap)
{
  char msg[MSG_MAX];
  napi_value err;

  vsnprintf(msg, sizeof(msg), fmt, ap);
  NAPI_TRY(new_error(env, code, msg, make, &err));
  NAPI_TRY(napi_throw(env, err));
  /* The caller returns this so that its own caller sees "exception
   * pending" and unwinds. */
  return napi_pending_exception;
}

napi_status pgml_node__throw_type(napi_env env, const char *fmt, ...)
{
  va_list ap;
  napi_status st;

  va_start(ap, fmt);
  st = throw_with(env, NULL, napi_create_type_error, fmt, ap);
  va_end(ap);
  return st;
}

napi_status pgml_node__throw_range(napi_env env, const char *fmt, ...)
{
  va_list ap;
  napi_status st;

  va_start(ap, fmt);
  st = throw_with(env, NULL, napi_create_range_error, fmt, ap);
  va_end(ap);
  return st;
}

napi_status pgml_node__throw_error(napi_env env, const char *code, const char *fmt, ...)
{
  char full_code[64];
  va_list ap;
  napi_status st;

  snprintf(full_code, sizeof(full_code), "ERR_PGML_%s", code);
  va_start(ap, fmt);
  st = throw_with(env, full_code, napi_create_error, fmt, ap);
  va_end(ap);
  return st;
}

/* details: the server's JSON object, parsed; null when absent or not JSON
 * (the text is then kept as a string rather than lost). */
static napi_status details_value(pgml_node_env_t *e, const char *details, napi_value *out)
{
  napi_env env = e->env;
  napi_value parse, global, text, result;
  bool pending;

  if (details == NULL || details[0] == '\0')
    return napi_get_null(env, out);
  NAPI_TRY(napi_create_string_utf8(env, details, NAPI_AUTO_LENGTH, &text));
  NAPI_TRY(napi_get_reference_value(env, e->json_parse, &parse));
  NAPI_TRY(napi_get_global(env, &global));
  if (napi_call_function(env, global, parse, 1, &text, &result) == napi_ok) {
    *out = result;
    return napi_ok;
  }
  /* Not JSON: the exception of JSON.parse() is dropped on purpose. */
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value ignored;
    NAPI_TRY(napi_get_and_clear_last_exception(env, &ignored));
  }
  *out = text;
  return napi_ok;
}

napi_status pgml_node__make_error(pgml_node_env_t *e, pgml_code_t code, const char *message,
                                  const char *details, napi_value *out)
{
  napi_env env = e->env;
  napi_value ctor = NULL, args[4], err;
  const char *name = pgml_code_name(code);

  if ((int)code > 0 && (int)code < 17 && e->error_ctors[code] != NULL)
    NAPI_TRY(napi_get_reference_value(env, e->error_ctors[code], &ctor));
  else if (e->error_base != NULL)
    NAPI_TRY(napi_get_reference_value(env, e->error_base, &ctor));
  NAPI_TRY(napi_create_string_utf8(env, message != NULL ? message : "", NAPI_AUTO_LENGTH,
                                   &args[0]));
  NAPI_TRY(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &args[1]));
  NAPI_TRY(napi_create_uint32(env, (uint32_t)code, &args[2]));
  NAPI_TRY(details_value(e, details, &args[3]));
  if (ctor != NULL)
    return napi_new_instance(env, ctor, 4, args, out);
  /* index.js did not install the classes (the .node file was loaded on its
   * own): a plain Error with the same properties. */
  NAPI_TRY(napi_create_error(env, args[1], args[0], &err));
  NAPI_TRY(napi_set_named_property(env, err, "codeName", args[1]));
  NAPI_TRY(napi_set_named_property(env, err, "status", args[2]));
  NAPI_TRY(napi_set_named_property(env, err, "details", args[3]));
  *out = err;
  return napi_ok;
}

void pgml_node__report_pending(napi_env env)
{
  bool pending = false;
  napi_value exc;

  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending)
    return;
  if (napi_get_and_clear_last_exception(env, &exc) == napi_ok)
    napi_fatal_exception(env, exc);
}
