/* aio.c - the asyncio integration: a Database's libpgml client driven by
 * the running loop (add_reader/add_writer on its descriptor, call_later for
 * its timeouts), and calls completed into futures from loop.create_future().
 *
 * There is no thread and no blocking wait: every libpgml function called
 * here returns at once, and all I/O happens in pgml_client_step() from a
 * loop callback.  The GIL is therefore never held across a wait.
 *
 * Lifetime.  The loop holds only pgml._Driver objects, which point at their
 * Database without owning it: a Database nobody uses can be freed even
 * while its connection is open (its dealloc stops the watchers).  A pending
 * call owns a reference to its Database, so a Database with calls in
 * flight stays alive until they complete. */
#include "pgml_py.h"

#include <errno.h>
#include <string.h>

enum { DRIVE_READ, DRIVE_WRITE, DRIVE_TIMER };

/* A loop callback: steps its Database's client. */
typedef struct {
  PyObject_HEAD
  pgml_py_database_t *db; /* borrowed; NULL once the Database let go */
  int kind;               /* DRIVE_* */
} driver_t;

/* One call in flight: the future's done-callback, and libpgml's `ud`. */
typedef struct {
  PyObject_HEAD
  pgml_py_database_t *db;        /* strong */
  PyObject *future;              /* strong, until the call completed */
  const pgml_method_info_t *m;
  uint64_t id;
  int in_flight;                 /* libpgml still holds its reference */
} call_t;

static void on_watch(pgml_client_t *c, int fd, unsigned events, void *ud);

/* Keeps the first exception raised by the loop in a watcher update: the
 * hook cannot return one. */
static void keep_watch_error(pgml_py_database_t *db)
{
  PyObject *type, *value, *tb;

  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (db->watch_error == NULL && value != NULL) {
    if (tb != NULL)
      PyException_SetTraceback(value, tb);
    db->watch_error = Py_NewRef(value);
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
}

/* loop.<meth>(fd[, driver]); errors are kept in db->watch_error. */
static void loop_fd_call(pgml_py_database_t *db, const char *meth, int fd, PyObject *driver)
{
  PyObject *r = driver != NULL ? PyObject_CallMethod(db->loop, meth, "iO", fd, driver)
                               : PyObject_CallMethod(db->loop, meth, "i", fd);

  if (r == NULL)
    keep_watch_error(db);
  Py_XDECREF(r);
}

static void cancel_timer(pgml_py_database_t *db)
{
  PyObject *t = db->timer, *r;

  if (t == NULL)
    return;
  db->timer = NULL;
  r = PyObject_CallMethod(t, "cancel", NULL);
  if (r == NULL)
    keep_watch_error(db);
  Py_XDECREF(r);
  Py_DECREF(t);
}

/* Watches `fd` for `events` (PGML_EV_*) on db's loop, and stops watching the
 * descriptor watched before if it is another one. */
static void sync_fd(pgml_py_database_t *db, int fd, unsigned events)
{
  unsigned have;

  if (db->loop == NULL)
    return;
  if (db->watch_fd >= 0 && db->watch_fd != fd) {
    if (db->watch_events & PGML_EV_READ)
      loop_fd_call(db, "remove_reader", db->watch_fd, NULL);
    if (db->watch_events & PGML_EV_WRITE)
      loop_fd_call(db, "remove_writer", db->watch_fd, NULL);
    db->watch_fd = -1;
    db->watch_events = 0;
  }
  if (fd < 0)
    return;
  have = db->watch_events;
  if ((events & PGML_EV_READ) && !(have & PGML_EV_READ))
    loop_fd_call(db, "add_reader", fd, db->drivers[DRIVE_READ]);
  else if (!(events & PGML_EV_READ) && (have & PGML_EV_READ))
    loop_fd_call(db, "remove_reader", fd, NULL);
  if ((events & PGML_EV_WRITE) && !(have & PGML_EV_WRITE))
    loop_fd_call(db, "add_writer", fd, db->drivers[DRIVE_WRITE]);
  else if (!(events & PGML_EV_WRITE) && (have & PGML_EV_WRITE))
    loop_fd_call(db, "remove_writer", fd, NULL);
  db->watch_fd = fd;
  db->watch_events = events & (PGML_EV_READ | PGML_EV_WRITE);
}

/* Arms the loop timer for the client's next timeout.  A timer that fires
 * earlier than needed is kept: the step it runs is harmless, and re-arms. */
static void sync_timer(pgml_py_database_t *db)
{
  int ms;
  double now, when;
  PyObject *t;

  if (db->loop == NULL || db->client == NULL)
    return;
  ms = pgml_client_next_timeout_ms(db->client);
  if (ms < 0) {
    cancel_timer(db);
    return;
  }
  t = PyObject_CallMethod(db->loop, "time", NULL);
  if (t == NULL) {
    keep_watch_error(db);
    return;
  }
  now = PyFloat_AsDouble(t);
  Py_DECREF(t);
  if (now == -1.0 && PyErr_Occurred()) {
    keep_watch_error(db);
    return;
  }
  when = now + ms / 1000.0;
  if (db->timer != NULL && db->timer_when <= when)
    return;
  cancel_timer(db);
  t = PyObject_CallMethod(db->loop, "call_later", "dO", ms / 1000.0, db->drivers[DRIVE_TIMER]);
  if (t == NULL) {
    keep_watch_error(db);
    return;
  }
  db->timer = t;
  db->timer_when = when;
}

/* Reports an exception the loop raised while watchers were updated from a
 * loop callback, where nobody can catch it. */
static void report_watch_error(pgml_py_database_t *db)
{
  PyObject *e = db->watch_error;

  if (e == NULL)
    return;
  db->watch_error = NULL;
  PyErr_SetObject((PyObject *)Py_TYPE(e), e);
  Py_DECREF(e);
  PyErr_WriteUnraisable((PyObject *)db);
}

static void on_watch(pgml_client_t *c, int fd, unsigned events, void *ud)
{
  pgml_py_database_t *db = ud;

  if (events & PGML_EV_FREED) {
    sync_fd(db, -1, 0);
    cancel_timer(db);
    return;
  }
  sync_fd(db, fd, events);
  sync_timer(db);
}

/* One step of db's client after the loop saw `revents` (0: the timer). */
static void step(pgml_py_database_t *db, unsigned revents)
{
  if (db->client == NULL || db->stepping)
    return;
  /* Callbacks resolve futures and may drop the last reference to db
   * elsewhere; it must outlive the step. */
  Py_INCREF(db);
  db->stepping = 1;
  if (pgml_client_step(db->client, revents) == 0) {
    db->stepping = 0;
    if (db->client != NULL && db->loop != NULL) {
      sync_fd(db, pgml_client_fd(db->client), pgml_client_events(db->client));
      sync_timer(db);
    }
  }
  db->stepping = 0;
  report_watch_error(db);
  Py_DECREF(db);
}

/* ---------------------------------------------------------------- drivers */

static PyObject *driver_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
  driver_t *d = (driver_t *)self;
  pgml_py_database_t *db = d->db;

  if (db == NULL)
    Py_RETURN_NONE;
  switch (d->kind) {
  case DRIVE_READ:
    step(db, PGML_EV_READ);
    break;
  case DRIVE_WRITE:
    step(db, PGML_EV_WRITE);
    break;
  default:
    /* This timer has fired: forget it before the step arms the next. */
    Py_CLEAR(db->timer);
    step(db, 0);
    break;
  }
  Py_RETURN_NONE;
}

static void driver_dealloc(PyObject *self)
{
  PyTypeObject *type = Py_TYPE(self);

  type->tp_free(self);
  Py_DECREF(type);
}

static PyType_Slot driver_slots[] = {
    {Py_tp_call, driver_call},
    {Py_tp_dealloc, driver_dealloc},
    {0, NULL},
};

static PyType_Spec driver_spec = {
    .name = "pgml._Driver",
    .basicsize = sizeof(driver_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = driver_slots,
};

/* ---------------------------------------------------------------- binding */

void pgml_py__database_unbind(pgml_py_database_t *db)
{
  PyObject *type, *value, *tb;

  /* Also runs from dealloc, perhaps with an exception set. */
  PyErr_Fetch(&type, &value, &tb);
  if (db->loop != NULL) {
    sync_fd(db, -1, 0);
    cancel_timer(db);
    /* The loop may be closed or gone: nothing left to undo there. */
    Py_CLEAR(db->watch_error);
    PyErr_Clear();
  }
  if (db->client != NULL)
    pgml_client_set_watch(db->client, NULL, NULL);
  for (size_t i = 0; i < 3; i++) {
    if (db->drivers[i] != NULL)
      ((driver_t *)db->drivers[i])->db = NULL;
    Py_CLEAR(db->drivers[i]);
  }
  Py_CLEAR(db->timer);
  Py_CLEAR(db->loop);
  db->watch_fd = -1;
  db->watch_events = 0;
  PyErr_Restore(type, value, tb);
}

/* Binds db to the running loop at its first use; rebinds it to another loop
 * when no call is pending on the old one. */
static int bind_loop(pgml_py_state_t *st, pgml_py_database_t *db)
{
  PyObject *loop = PyObject_CallNoArgs(st->get_running_loop);
  PyObject *meth;
  int cannot_watch;

  if (loop == NULL) {
    if (PyErr_ExceptionMatches(PyExc_RuntimeError)) {
      PyErr_Clear();
      PyErr_SetString(PyExc_RuntimeError, "pgml calls must be made from a coroutine running "
                      "in an asyncio event loop (no running event loop)");
    }
    return -1;
  }
  if (loop == db->loop) {
    Py_DECREF(loop);
    return 0;
  }
  if (db->loop != NULL && db->client != NULL && pgml_client_pending(db->client) > 0) {
    Py_DECREF(loop);
    PyErr_Format(PyExc_RuntimeError, "pgml.Database(%R) has calls pending on another event "
                 "loop; use one Database per loop", db->address);
    return -1;
  }
  /* A loop without add_reader (Windows' ProactorEventLoop) inherits the
   * abstract method that raises NotImplementedError. */
  meth = PyObject_GetAttrString((PyObject *)Py_TYPE(loop), "add_reader");
  if (meth == NULL) {
    PyErr_Clear();
    cannot_watch = 1;
  } else {
    cannot_watch = meth == st->abstract_add_reader;
    Py_DECREF(meth);
  }
  if (cannot_watch) {
    PyErr_Format(PyExc_RuntimeError, "pgml needs an event loop that can watch file "
                 "descriptors (loop.add_reader); %.100s cannot.  On Windows use "
                 "asyncio.SelectorEventLoop.", Py_TYPE(loop)->tp_name);
    Py_DECREF(loop);
    return -1;
  }
  pgml_py__database_unbind(db);
  for (int i = 0; i < 3; i++) {
    driver_t *d = PyObject_New(driver_t, st->driver_type);

    if (d == NULL) {
      Py_DECREF(loop);
      pgml_py__database_unbind(db);
      return -1;
    }
    d->db = db;
    d->kind = i;
    db->drivers[i] = (PyObject *)d;
  }
  db->loop = loop;
  return 0;
}

/* ---------------------------------------------------------------- calls */

/* The value a successful call resolves to, from the response payload. */
static PyObject *result_value(pgml_py_state_t *st, call_t *call, const pgml_result_t *res)
{
  const pgml_method_info_t *m = call->m;
  ProtobufCMessage *msg;
  PyObject *v;

  msg = protobuf_c_message_unpack(m->response_type, NULL, res->payload_len, res->payload);
  if (msg == NULL) {
    pgml_result_t bad = {.code = PGML_INTERNAL,
                         .message = "the response could not be decoded as its message type",
                         .details = NULL};

    v = pgml_py__error_from_result(st, &bad);
    if (v != NULL) {
      PyErr_SetObject((PyObject *)Py_TYPE(v), v);
      Py_DECREF(v);
    }
    return NULL;
  }
  if (m->returns_bound != NULL && m->returns_key != NULL) {
    PyObject *key = pgml_py__field_to_object(st, msg, m->returns_key);

    v = key != NULL ? pgml_py__bound_new(st, (PyObject *)call->db, m->returns_bound, key)
                    : NULL;
    Py_XDECREF(key);
  } else if (m->unwrap != NULL) {
    v = pgml_py__field_to_object(st, msg, m->unwrap);
  } else if (m->flags & PGML_METHOD_VOID) {
    v = Py_NewRef(Py_None);
  } else {
    v = pgml_py__message_to_object(st, m->response, msg);
  }
  protobuf_c_message_free_unpacked(msg, NULL);
  return v;
}

/* Resolves the call's future (unless it is already done, e.g. cancelled). */
static void complete(call_t *call, const pgml_result_t *res)
{
  pgml_py_state_t *st;
  PyObject *fut = call->future, *done, *v, *r = NULL;
  int is_done;

  /* Defensive: a Database cleared by the garbage collector has no state;
   * its futures are garbage too. */
  if (call->db == NULL || call->db->module == NULL)
    return;
  st = pgml_py__state(call->db->module);

  done = PyObject_CallMethod(fut, "done", NULL);
  if (done == NULL)
    goto fail;
  is_done = PyObject_IsTrue(done);
  Py_DECREF(done);
  if (is_done < 0)
    goto fail;
  if (is_done)
    goto out;
  if (res->code == PGML_OK) {
    v = result_value(st, call, res);
    if (v != NULL) {
      r = PyObject_CallMethod(fut, "set_result", "O", v);
      Py_DECREF(v);
    } else {
      /* A response the client cannot convert fails the call, not the loop. */
      PyObject *type, *value, *tb;

      PyErr_Fetch(&type, &value, &tb);
      PyErr_NormalizeException(&type, &value, &tb);
      if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
      r = PyObject_CallMethod(fut, "set_exception", "O", value != NULL ? value : Py_None);
      Py_XDECREF(type);
      Py_XDECREF(value);
      Py_XDECREF(tb);
    }
  } else {
    v = pgml_py__error_from_result(st, res);
    if (v == NULL)
      goto fail;
    r = PyObject_CallMethod(fut, "set_exception", "O", v);
    Py_DECREF(v);
  }
  if (r == NULL)
    goto fail;
  Py_DECREF(r);
  goto out;

fail:
  PyErr_WriteUnraisable(fut);
out:
  return;
}

/* libpgml's callback: runs inside pgml_client_step() or pgml_client_free(),
 * with the GIL held (both are only called from Python code). */
static void on_result(pgml_client_t *c, const pgml_result_t *res, void *ud)
{
  call_t *call = ud;

  call->in_flight = 0;
  if (call->future != NULL) {
    complete(call, res);
    Py_CLEAR(call->future);
  }
  Py_DECREF(call); /* libpgml's reference */
}

/* The future's done-callback: a future cancelled while the call is in
 * flight (the awaiting task was cancelled) cancels the call, which sends a
 * CANCEL frame so that pgmld stops working on it. */
static PyObject *call_done(PyObject *self, PyObject *args, PyObject *kwargs)
{
  call_t *call = (call_t *)self;
  pgml_py_database_t *db = call->db;
  PyObject *cancelled;
  int is;

  if (!call->in_flight || db == NULL || db->client == NULL || call->future == NULL)
    Py_RETURN_NONE;
  cancelled = PyObject_CallMethod(call->future, "cancelled", NULL);
  if (cancelled == NULL)
    return NULL;
  is = PyObject_IsTrue(cancelled);
  Py_DECREF(cancelled);
  if (is < 0)
    return NULL;
  if (is && !db->stepping && pgml_cancel(db->client, call->id) == 0) {
    /* pgml_cancel() told the hook about the step it needs. */
    report_watch_error(db);
  }
  Py_RETURN_NONE;
}

static int call_traverse(PyObject *self, visitproc visit, void *arg)
{
  call_t *call = (call_t *)self;

  Py_VISIT(Py_TYPE(self));
  Py_VISIT(call->db);
  Py_VISIT(call->future);
  return 0;
}

static int call_clear(PyObject *self)
{
  call_t *call = (call_t *)self;

  Py_CLEAR(call->future);
  Py_CLEAR(call->db);
  return 0;
}

static void call_dealloc(PyObject *self)
{
  PyTypeObject *type = Py_TYPE(self);

  PyObject_GC_UnTrack(self);
  (void)call_clear(self);
  type->tp_free(self);
  Py_DECREF(type);
}

static PyType_Slot call_slots[] = {
    {Py_tp_call, call_done},
    {Py_tp_dealloc, call_dealloc},
    {Py_tp_traverse, call_traverse},
    {Py_tp_clear, call_clear},
    {0, NULL},
};

static PyType_Spec call_spec = {
    .name = "pgml._Call",
    .basicsize = sizeof(call_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = call_slots,
};

/* ---------------------------------------------------------------- awaitable */

/* What an RPC method returns: a coroutine-like wrapper of the call's future,
 * so that it can be awaited and also given to asyncio.create_task() (which
 * takes coroutines only).  The call is already running; awaiting it waits
 * for the future, and cancelling the task cancels the future. */
typedef struct {
  PyObject_HEAD
  PyObject *future; /* strong */
  PyObject *iter;   /* future.__await__(), once started */
} awaitable_t;

static PyObject *await_iter(awaitable_t *a)
{
  if (a->iter == NULL)
    a->iter = PyObject_CallMethod(a->future, "__await__", NULL);
  return a->iter;
}

static PyObject *awaitable_await(PyObject *self)
{
  return Py_NewRef(self);
}

static PyObject *awaitable_next(PyObject *self)
{
  PyObject *it = await_iter((awaitable_t *)self);

  return it != NULL ? Py_TYPE(it)->tp_iternext(it) : NULL;
}

static PyObject *awaitable_send(PyObject *self, PyObject *arg)
{
  PyObject *it = await_iter((awaitable_t *)self);

  return it != NULL ? PyObject_CallMethod(it, "send", "O", arg) : NULL;
}

static PyObject *awaitable_throw(PyObject *self, PyObject *args)
{
  PyObject *it = await_iter((awaitable_t *)self), *meth, *r;

  if (it == NULL)
    return NULL;
  meth = PyObject_GetAttrString(it, "throw");
  if (meth == NULL)
    return NULL;
  r = PyObject_Call(meth, args, NULL);
  Py_DECREF(meth);
  return r;
}

static PyObject *awaitable_close(PyObject *self, PyObject *unused)
{
  awaitable_t *a = (awaitable_t *)self;

  if (a->iter == NULL)
    Py_RETURN_NONE;
  return PyObject_CallMethod(a->iter, "close", NULL);
}

static PyObject *awaitable_repr(PyObject *self)
{
  return PyUnicode_FromFormat("<pgml call %R>", ((awaitable_t *)self)->future);
}

static int awaitable_traverse(PyObject *self, visitproc visit, void *arg)
{
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(((awaitable_t *)self)->future);
  Py_VISIT(((awaitable_t *)self)->iter);
  return 0;
}

static int awaitable_clear(PyObject *self)
{
  Py_CLEAR(((awaitable_t *)self)->future);
  Py_CLEAR(((awaitable_t *)self)->iter);
  return 0;
}

static void awaitable_dealloc(PyObject *self)
{
  PyTypeObject *type = Py_TYPE(self);

  PyObject_GC_UnTrack(self);
  (void)awaitable_clear(self);
  type->tp_free(self);
  Py_DECREF(type);
}

static PyObject *awaitable_get_future(PyObject *self, void *closure)
{
  return Py_NewRef(((awaitable_t *)self)->future);
}

static PyMethodDef awaitable_methods[] = {
    {"send", awaitable_send, METH_O, NULL},
    {"throw", awaitable_throw, METH_VARARGS, NULL},
    {"close", awaitable_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef awaitable_getset[] = {
    {"future", awaitable_get_future, NULL, "The asyncio future of the call.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot awaitable_slots[] = {
    {Py_am_await, awaitable_await},
    {Py_tp_iter, awaitable_await},
    {Py_tp_iternext, awaitable_next},
    {Py_tp_methods, awaitable_methods},
    {Py_tp_getset, awaitable_getset},
    {Py_tp_repr, awaitable_repr},
    {Py_tp_dealloc, awaitable_dealloc},
    {Py_tp_traverse, awaitable_traverse},
    {Py_tp_clear, awaitable_clear},
    {0, NULL},
};

static PyType_Spec awaitable_spec = {
    .name = "pgml._Awaitable",
    .basicsize = sizeof(awaitable_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = awaitable_slots,
};

/* A new awaitable of `fut` (stolen, also on failure). */
static PyObject *awaitable_new(pgml_py_state_t *st, PyObject *fut)
{
  awaitable_t *a = PyObject_GC_New(awaitable_t, st->awaitable_type);

  if (a == NULL) {
    Py_DECREF(fut);
    return NULL;
  }
  a->future = fut;
  a->iter = NULL;
  PyObject_GC_Track((PyObject *)a);
  return (PyObject *)a;
}

int pgml_py__aio_types_init(PyObject *module, pgml_py_state_t *st)
{
  st->awaitable_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &awaitable_spec, NULL);
  if (st->awaitable_type == NULL)
    return -1;
  st->driver_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &driver_spec, NULL);
  if (st->driver_type == NULL)
    return -1;
  st->call_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &call_spec, NULL);
  return st->call_type != NULL ? 0 : -1;
}

void pgml_py__database_close_client(pgml_py_database_t *db)
{
  pgml_client_t *c = db->client;

  if (c == NULL)
    return;
  /* Pending calls complete (pgml.Cancelled) inside pgml_client_free(); the
   * Database must outlive their callbacks.  From dealloc (no reference
   * left) there are none. */
  if (Py_REFCNT(db) > 0)
    Py_INCREF(db);
  pgml_client_free(c);
  db->client = NULL;
  db->watch_fd = -1;
  db->watch_events = 0;
  Py_CLEAR(db->watch_error);
  if (Py_REFCNT(db) > 0)
    Py_DECREF(db);
}

PyObject *pgml_py__call_start(pgml_py_database_t *db, const pgml_method_info_t *m,
                              const uint8_t *payload, size_t len, uint32_t timeout_ms)
{
  pgml_py_state_t *st = pgml_py__state(db->module);
  pgml_call_options_t opts = {0};
  PyObject *fut = NULL, *r;
  call_t *call;
  int rc;

  if (db->stepping)
    return PyErr_Format(PyExc_RuntimeError, "%s() called from inside the client's own I/O "
                        "step", m->name);
  if (bind_loop(st, db) < 0)
    return NULL;
  if (db->client == NULL) {
    const char *addr = PyUnicode_AsUTF8(db->address);

    if (addr == NULL)
      return NULL;
    rc = pgml_client_new(addr, NULL, &db->client);
    if (rc < 0)
      return pgml_py__raise_errno(st, rc, m->name, addr);
  }
  /* (Re)installing the hook does not call it: the watchers are synced
   * below, once the call has opened the connection. */
  pgml_client_set_watch(db->client, on_watch, db);
  fut = PyObject_CallMethod(db->loop, "create_future", NULL);
  if (fut == NULL)
    return NULL;
  call = PyObject_GC_New(call_t, st->call_type);
  if (call == NULL) {
    Py_DECREF(fut);
    return NULL;
  }
  call->db = (pgml_py_database_t *)Py_NewRef(db);
  call->future = Py_NewRef(fut);
  call->m = m;
  call->id = 0;
  call->in_flight = 0;
  PyObject_GC_Track((PyObject *)call);

  opts.timeout_ms = timeout_ms > 0 ? timeout_ms : db->default_timeout_ms;
  rc = pgml_call_raw(db->client, m->wire_name, payload, len, &opts, on_result, call, &call->id);
  if (rc < 0) {
    Py_DECREF(call);
    Py_DECREF(fut);
    return pgml_py__raise_errno(st, rc, m->name, PyUnicode_AsUTF8(db->address));
  }
  call->in_flight = 1;
  Py_INCREF(call); /* libpgml's reference, dropped in on_result() */
  sync_fd(db, pgml_client_fd(db->client), pgml_client_events(db->client));
  sync_timer(db);
  if (db->watch_error != NULL) {
    /* The loop refused to watch the descriptor: the call cannot run. */
    PyObject *e = db->watch_error;

    db->watch_error = NULL;
    if (pgml_cancel(db->client, call->id) == 0) {
      r = PyObject_CallMethod(fut, "cancel", NULL);
      Py_XDECREF(r);
    }
    Py_DECREF(call);
    Py_DECREF(fut);
    PyErr_SetObject((PyObject *)Py_TYPE(e), e);
    Py_DECREF(e);
    return NULL;
  }
  r = PyObject_CallMethod(fut, "add_done_callback", "O", (PyObject *)call);
  Py_DECREF(call);
  if (r == NULL) {
    Py_DECREF(fut);
    return NULL;
  }
  Py_DECREF(r);
  return awaitable_new(st, fut);
}
