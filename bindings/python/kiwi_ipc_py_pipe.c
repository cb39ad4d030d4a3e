/*
 * kiwi_ipc_py_pipe.c - PipeCore, the C base of kiwi_ipc.Pipe: its handle
 * and its hot paths, send(), send_bytes(), recv() and recv_bytes().
 *
 * Why in C: a small message's round trip cost the Python binding about
 * 4,400 instructions against 694 for the C library (callgrind), and most
 * of the difference was the way there, not the work: the Python method's
 * own bytecode (reading self._handle, the None checks, the try block, the
 * call into the private module), then SWIG's argument tuple and its
 * parsing. Here a call from Python lands in C at once (METH_FASTCALL where
 * the limited API has it, from 3.10), reads the handle the Pipe owns from
 * this struct, and goes to kiwi_py_send_message() and
 * kiwi_py_recv_message() (kiwi_ipc_py.c), which keep the GIL for what
 * cannot wait. Everything the Python methods promised holds: the same
 * checks in the same order (a str for send_bytes, a closed pipe, the
 * timeout, the handle), the same exceptions, every IpcError naming the
 * pipe's path as its filename, and a BadHandleError that lost the race
 * with close() in another thread turned into the closed pipe's
 * ValueError.
 *
 * The handle is the Pipe's `_handle` attribute, stored here (the int, or
 * NULL once closed) with its C int beside it, so that the methods read it
 * once, without a dictionary lookup. kiwi_ipc._pipe's Python code sets and
 * reads `_handle` as before, through the getter and setter below.
 */
#include "kiwi_ipc_py.h"

#include <kiwi_ipc.h>

#include <limits.h>

/* METH_FASTCALL is in the limited API from 3.10; the abi3 module (3.9)
 * takes a tuple and a dict instead. */
#if !defined(Py_LIMITED_API) || Py_LIMITED_API + 0 >= 0x030A0000
#define KIWI_PY_FASTCALL 1
#else
#define KIWI_PY_FASTCALL 0
#endif

typedef struct kiwi_py_pipe {
    PyObject ob_base; /* PyObject_HEAD */
    PyObject *handle; /* the int handle, or NULL once closed */
    int number;       /* it as a C int, when in_range */
    int in_range;     /* 0: beyond C's int: no pipe's */
} kiwi_py_pipe;

/* kiwi_ipc._errors' IpcError and BadHandleError, and kiwi_ipc._pipe's
 * _timeout_ms (the rule for timeouts that are neither float nor int),
 * imported when first needed: the package imports this module first. */
static PyObject *kiwi_py_ipc_error, *kiwi_py_bad_handle, *kiwi_py_timeout_fn;

static PyObject *kiwi_py_import_attr(const char *module, const char *name)
{
    PyObject *mod = PyImport_ImportModule(module);
    PyObject *attr = mod ? PyObject_GetAttrString(mod, name) : NULL;

    Py_XDECREF(mod);
    return attr;
}

static PyObject *kiwi_py_closed(void)
{
    PyErr_SetString(PyExc_ValueError, "I/O operation on closed pipe");
    return NULL;
}

/*
 * A call on the pipe failed (an exception is set): an IpcError gets the
 * pipe's path as its filename, as every exception of a Pipe names it; a
 * BadHandleError after close() from another thread won the race for the
 * handle is the closed pipe's ValueError, raised "from None". Anything
 * else (KeyboardInterrupt, TypeError of a payload) passes as it is.
 */
static PyObject *kiwi_py_pipe_failed(kiwi_py_pipe *self)
{
    PyObject *type, *value, *tb;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (kiwi_py_ipc_error == NULL) {
        kiwi_py_ipc_error = kiwi_py_import_attr("kiwi_ipc._errors", "IpcError");
        kiwi_py_bad_handle =
            kiwi_py_import_attr("kiwi_ipc._errors", "BadHandleError");
        if (kiwi_py_ipc_error == NULL || kiwi_py_bad_handle == NULL) {
            /* The private module used on its own: leave it as it is. */
            PyErr_Clear();
            Py_CLEAR(kiwi_py_ipc_error);
            Py_CLEAR(kiwi_py_bad_handle);
            PyErr_Restore(type, value, tb);
            return NULL;
        }
    }
    if (value != NULL && self->handle == NULL &&
        PyObject_IsInstance(value, kiwi_py_bad_handle) == 1) {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return kiwi_py_closed();
    }
    if (value != NULL && PyObject_IsInstance(value, kiwi_py_ipc_error) == 1) {
        PyObject *path = PyObject_GetAttrString((PyObject *)self, "path");

        if (path == NULL || PyObject_SetAttrString(value, "filename", path) < 0)
            PyErr_Clear();
        Py_XDECREF(path);
    }
    PyErr_Restore(type, value, tb);
    return NULL;
}

/* A timeout in float seconds, None forever, to milliseconds: float and int
 * here, any other number by _pipe._timeout_ms (which names the type of a
 * non-number in its TypeError). 0, or -1 with an exception set. */
static int kiwi_py_pipe_timeout(PyObject *timeout, int *ms)
{
    PyObject *r;
    long v;

    if (timeout == NULL || timeout == Py_None) {
        *ms = IPC_FOREVER;
        return 0;
    }
    if (PyFloat_CheckExact(timeout) || PyLong_CheckExact(timeout))
        return kiwi_py_timeout_arg(timeout, ms);
    if (kiwi_py_timeout_fn == NULL) {
        kiwi_py_timeout_fn =
            kiwi_py_import_attr("kiwi_ipc._pipe", "_timeout_ms");
        if (kiwi_py_timeout_fn == NULL)
            return -1;
    }
    r = PyObject_CallFunctionObjArgs(kiwi_py_timeout_fn, timeout, NULL);
    if (r == NULL)
        return -1;
    v = PyLong_AsLong(r);
    Py_DECREF(r);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *ms = (int)v;
    return 0;
}

/* ---- arguments ----------------------------------------------------------- */

/* A method's parameters after self: at most two, the last optional. */
typedef struct kiwi_py_sig {
    const char *method;
    const char *names[2];
    int count;    /* 1 or 2 */
    int required; /* 0 or 1 */
} kiwi_py_sig;

static int kiwi_py_bind_keyword(const kiwi_py_sig *sig, PyObject *key,
                                PyObject *value, PyObject **out)
{
    int i;

    for (i = 0; i < sig->count; i++) {
        PyObject *name = PyUnicode_FromString(sig->names[i]);
        int same = name ? PyObject_RichCompareBool(key, name, Py_EQ) : -1;

        Py_XDECREF(name);
        if (same < 0)
            return -1;
        if (!same)
            continue;
        if (out[i] != NULL) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got multiple values for argument '%s'",
                         sig->method, sig->names[i]);
            return -1;
        }
        out[i] = value;
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "%s() got an unexpected keyword argument '%U'", sig->method,
                 key);
    return -1;
}

static int kiwi_py_bind_positional(const kiwi_py_sig *sig, Py_ssize_t n,
                                   PyObject **out)
{
    (void)out;
    if (n > sig->count) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes at most %d arguments (%zd given)", sig->method,
                     sig->count, n);
        return -1;
    }
    return 0;
}

static int kiwi_py_bind_done(const kiwi_py_sig *sig, PyObject **out)
{
    if (sig->required && out[0] == NULL) {
        PyErr_Format(PyExc_TypeError,
                     "%s() missing required argument '%s' (pos 1)", sig->method,
                     sig->names[0]);
        return -1;
    }
    return 0;
}

#if KIWI_PY_FASTCALL
static int kiwi_py_bind(const kiwi_py_sig *sig, PyObject *const *args,
                        Py_ssize_t nargs, PyObject *kwnames, PyObject **out)
{
    Py_ssize_t i, nkw;

    out[0] = out[1] = NULL;
    if (kiwi_py_bind_positional(sig, nargs, out) < 0)
        return -1;
    for (i = 0; i < nargs; i++)
        out[i] = args[i];
    nkw = kwnames ? PyTuple_Size(kwnames) : 0;
    for (i = 0; i < nkw; i++) {
        if (kiwi_py_bind_keyword(sig, PyTuple_GetItem(kwnames, i),
                                 args[nargs + i], out) < 0)
            return -1;
    }
    return kiwi_py_bind_done(sig, out);
}
#define KIWI_PY_METHOD_ARGS                                                    \
    PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames
#define KIWI_PY_BIND(sig, out) kiwi_py_bind(sig, args, nargs, kwnames, out)
#define KIWI_PY_METH_FLAGS (METH_FASTCALL | METH_KEYWORDS)
#else
static int kiwi_py_bind(const kiwi_py_sig *sig, PyObject *args,
                        PyObject *kwargs, PyObject **out)
{
    Py_ssize_t i, n = PyTuple_Size(args), pos = 0;
    PyObject *key, *value;

    out[0] = out[1] = NULL;
    if (kiwi_py_bind_positional(sig, n, out) < 0)
        return -1;
    for (i = 0; i < n; i++)
        out[i] = PyTuple_GetItem(args, i);
    while (kwargs != NULL && PyDict_Next(kwargs, &pos, &key, &value)) {
        if (kiwi_py_bind_keyword(sig, key, value, out) < 0)
            return -1;
    }
    return kiwi_py_bind_done(sig, out);
}
#define KIWI_PY_METHOD_ARGS PyObject *args, PyObject *kwargs
#define KIWI_PY_BIND(sig, out) kiwi_py_bind(sig, args, kwargs, out)
#define KIWI_PY_METH_FLAGS (METH_VARARGS | METH_KEYWORDS)
#endif

/* ---- the methods --------------------------------------------------------- */

static PyObject *kiwi_py_pipe_send_impl(kiwi_py_pipe *self, PyObject *message,
                                        PyObject *timeout)
{
    /* The handle is read once, as it was when the call began. */
    int number = self->number, in_range = self->in_range, ms;

    if (self->handle == NULL)
        return kiwi_py_closed();
    if (kiwi_py_pipe_timeout(timeout, &ms) < 0)
        return NULL;
    if (!in_range) {
        kiwi_py_raise(IPC_EBADHANDLE, "unknown handle (out of range)", 0);
        return kiwi_py_pipe_failed(self);
    }
    if (kiwi_py_send_message(number, message, ms) < 0)
        return kiwi_py_pipe_failed(self);
    Py_RETURN_NONE;
}

static PyObject *kiwi_py_pipe_recv_impl(kiwi_py_pipe *self, PyObject *timeout,
                                        int text)
{
    int number = self->number, in_range = self->in_range, ms;
    PyObject *message;

    if (self->handle == NULL)
        return kiwi_py_closed();
    if (kiwi_py_pipe_timeout(timeout, &ms) < 0)
        return NULL;
    if (!in_range) {
        kiwi_py_raise(IPC_EBADHANDLE, "unknown handle (out of range)", 0);
        return kiwi_py_pipe_failed(self);
    }
    message = kiwi_py_recv_message(number, text, ms);
    return message != NULL ? message : kiwi_py_pipe_failed(self);
}

static const kiwi_py_sig kiwi_py_send_sig = {
    "send", {"message", "timeout"}, 2, 1};
static const kiwi_py_sig kiwi_py_send_bytes_sig = {
    "send_bytes", {"data", "timeout"}, 2, 1};
static const kiwi_py_sig kiwi_py_recv_sig = {"recv", {"timeout", NULL}, 1, 0};
static const kiwi_py_sig kiwi_py_recv_bytes_sig = {
    "recv_bytes", {"timeout", NULL}, 1, 0};

static PyObject *kiwi_py_pipe_send(PyObject *self, KIWI_PY_METHOD_ARGS)
{
    PyObject *a[2];

    if (KIWI_PY_BIND(&kiwi_py_send_sig, a) < 0)
        return NULL;
    return kiwi_py_pipe_send_impl((kiwi_py_pipe *)self, a[0], a[1]);
}

static PyObject *kiwi_py_pipe_send_bytes(PyObject *self, KIWI_PY_METHOD_ARGS)
{
    PyObject *a[2];

    if (KIWI_PY_BIND(&kiwi_py_send_bytes_sig, a) < 0)
        return NULL;
    if (PyUnicode_Check(a[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "send_bytes() takes a bytes-like object, not str");
        return NULL;
    }
    return kiwi_py_pipe_send_impl((kiwi_py_pipe *)self, a[0], a[1]);
}

static PyObject *kiwi_py_pipe_recv(PyObject *self, KIWI_PY_METHOD_ARGS)
{
    PyObject *a[2];

    if (KIWI_PY_BIND(&kiwi_py_recv_sig, a) < 0)
        return NULL;
    return kiwi_py_pipe_recv_impl((kiwi_py_pipe *)self, a[0], 1);
}

static PyObject *kiwi_py_pipe_recv_bytes(PyObject *self, KIWI_PY_METHOD_ARGS)
{
    PyObject *a[2];

    if (KIWI_PY_BIND(&kiwi_py_recv_bytes_sig, a) < 0)
        return NULL;
    return kiwi_py_pipe_recv_impl((kiwi_py_pipe *)self, a[0], 0);
}

/* ---- the handle ---------------------------------------------------------- */

static PyObject *kiwi_py_pipe_get_handle(PyObject *obj, void *closure)
{
    kiwi_py_pipe *self = (kiwi_py_pipe *)obj;

    (void)closure;
    if (self->handle == NULL)
        Py_RETURN_NONE;
    Py_INCREF(self->handle);
    return self->handle;
}

/* An int (kiwi_ipc._pipe has made it one with operator.index), or None
 * (or del) once closed. One beyond C's int names no pipe: its calls raise
 * BadHandleError, as the module's typemap does for such a handle. */
static int kiwi_py_pipe_set_handle(PyObject *obj, PyObject *value,
                                   void *closure)
{
    kiwi_py_pipe *self = (kiwi_py_pipe *)obj;
    PyObject *old = self->handle;
    long v = 0;
    int overflow = 0;

    (void)closure;
    if (value == NULL || value == Py_None) {
        self->handle = NULL;
        Py_XDECREF(old);
        return 0;
    }
    if (!PyLong_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "_handle must be an int or None");
        return -1;
    }
    v = PyLong_AsLongAndOverflow(value, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    Py_INCREF(value);
    self->handle = value;
    self->in_range = !overflow && v >= INT_MIN && v <= INT_MAX;
    self->number = self->in_range ? (int)v : 0;
    Py_XDECREF(old);
    return 0;
}

static void kiwi_py_pipe_dealloc(PyObject *obj)
{
    kiwi_py_pipe *self = (kiwi_py_pipe *)obj;
    PyTypeObject *type = Py_TYPE(obj);
    freefunc tp_free = (freefunc)PyType_GetSlot(type, Py_tp_free);

    Py_CLEAR(self->handle);
    tp_free(obj);
    /* Instances of a heap type hold a reference to it. */
    Py_DECREF(type);
}

/* The docstrings are the methods' documentation (docs/reference/python.rst
 * is generated from them); the first line is the signature for inspect. */
static PyMethodDef kiwi_py_pipe_methods[] = {
    {"send", (PyCFunction)(void (*)(void))kiwi_py_pipe_send, KIWI_PY_METH_FLAGS,
     "send($self, message, timeout=None)\n--\n\n"
     "Send one message: a str (sent as UTF-8) or any bytes-like object.\n\n"
     "Blocks while the peer's buffer is full, at most ``timeout``\n"
     "seconds. A str with a lone surrogate raises UnicodeEncodeError and\n"
     "sends nothing.\n\n"
     "A send never splices, repeats or loses a message. IpcTimeoutError\n"
     "means nothing of this message was sent: send it again or not, as you\n"
     "like. A send that returns has committed its message: it was written\n"
     "whole, or the time ran out after part of it went; then the pipe\n"
     "keeps the rest and writes it before anything else (on the next\n"
     "send(), at the start of the next recv(), in flush(), and without\n"
     "waiting at close()), so it arrives whole and must not be sent again.\n"
     "A KeyboardInterrupt after part of it went commits it too. Raises\n"
     "PipeClosedError if the peer has gone."},
    {"send_bytes", (PyCFunction)(void (*)(void))kiwi_py_pipe_send_bytes,
     KIWI_PY_METH_FLAGS,
     "send_bytes($self, data, timeout=None)\n--\n\n"
     "Send one message from any bytes-like object, as is (no copy).\n"
     "A str is refused with TypeError; use send() for text. Otherwise as\n"
     "send()."},
    {"recv", (PyCFunction)(void (*)(void))kiwi_py_pipe_recv, KIWI_PY_METH_FLAGS,
     "recv($self, timeout=None)\n--\n\n"
     "Receive one message as str.\n\n"
     "Invalid UTF-8 is decoded as U+FFFD (errors=\"replace\"), as Kiwi\n"
     "does. Blocks until a whole message has arrived, at most ``timeout``\n"
     "seconds (IpcTimeoutError); bytes that arrived before a timeout or a\n"
     "KeyboardInterrupt are kept for the next recv, and so is the whole\n"
     "message when there is no memory for it (MemoryError). Raises\n"
     "PipeClosedError when the peer closed the pipe cleanly, and\n"
     "ProtocolError when it broke the framing."},
    {"recv_bytes", (PyCFunction)(void (*)(void))kiwi_py_pipe_recv_bytes,
     KIWI_PY_METH_FLAGS,
     "recv_bytes($self, timeout=None)\n--\n\n"
     "Receive one message as bytes, exactly as sent. Otherwise as\n"
     "recv()."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef kiwi_py_pipe_getset[] = {
    {"_handle", kiwi_py_pipe_get_handle, kiwi_py_pipe_set_handle,
     "The int handle the pipe owns, or None once closed.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot kiwi_py_pipe_slots[] = {
    {Py_tp_dealloc, (void *)kiwi_py_pipe_dealloc},
    {Py_tp_methods, kiwi_py_pipe_methods},
    {Py_tp_getset, kiwi_py_pipe_getset},
    {Py_tp_doc, (void *)"The C base of kiwi_ipc.Pipe (not API)."},
    {0, NULL}};

static PyType_Spec kiwi_py_pipe_spec = {
    "kiwi_ipc._kiwi_ipc.PipeCore", (int)sizeof(kiwi_py_pipe), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, kiwi_py_pipe_slots};

int kiwi_py_pipe_add_type(PyObject *dict)
{
    PyObject *type = PyType_FromSpec(&kiwi_py_pipe_spec);
    int rc;

    if (type == NULL)
        return -1;
    rc = PyDict_SetItemString(dict, "PipeCore", type);
    Py_DECREF(type);
    return rc;
}
