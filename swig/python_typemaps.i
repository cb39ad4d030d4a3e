/*
 * python_typemaps.i - what kiwi_ipc.i needs to become the private Python
 * module kiwi_ipc._kiwi_ipc. Included by kiwi_ipc.i under SWIGPYTHON only.
 *
 * The module is built with SWIG's -threads: every call below releases the
 * GIL around the C call (except the few %nothread ones, which never block),
 * and every exception is raised after the GIL is back.
 *
 * - Errors: one `out` typemap on the int status turns a negative status into
 *   an exception from the package's hierarchy (kiwi_ipc._errors), carrying
 *   the C library's detailed message and errno, read on the calling thread
 *   right after the call.
 * - Ctrl-C: a C interrupt hook, installed at module init, runs Python's
 *   signal handlers while a call is blocked. If a handler raised (the
 *   default SIGINT handler raises KeyboardInterrupt), the call returns
 *   IPC_EINTR and the wrapper re-raises that very exception.
 * - Payloads: `send` takes a str (encoded UTF-8, strictly: a lone surrogate
 *   raises UnicodeEncodeError and nothing is sent) or any bytes-like object
 *   (used in place, without a copy). `recv` takes one Python argument, a
 *   flag: true gives a str decoded with errors="replace" (invalid UTF-8
 *   becomes U+FFFD, as Kiwi does), false gives bytes. Either way the C
 *   buffer is copied once and freed with ipc_free().
 * - Names: str, bytes or os.PathLike, encoded like any file name; a NUL in a
 *   name raises ValueError instead of silently cutting the name short.
 * - Limited API: everything here also compiles with Py_LIMITED_API=0x03090000
 *   (the abi3 wheel, KIWI_IPC_PYTHON_ABI3), where the buffer protocol and
 *   str's UTF-8 cache are out of reach before 3.11 and 3.10: a send from
 *   anything but bytes then copies the payload once (bytes still go in
 *   place), with the same results and errors.
 */

%begin %{
#define PY_SSIZE_T_CLEAN
%}

%{
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/*
 * The buffer protocol (Py_buffer, PyObject_GetBuffer) is in the limited API
 * from Python 3.11 only, and PyUnicode_AsUTF8AndSize from 3.10.
 */
#if !defined(Py_LIMITED_API) || Py_LIMITED_API + 0 >= 0x030B0000
#define KIWI_PY_HAVE_BUFFER 1
#else
#define KIWI_PY_HAVE_BUFFER 0
#endif
#if !defined(Py_LIMITED_API)
#define KIWI_PY_HAVE_UTF8_CACHE 1
#else
#define KIWI_PY_HAVE_UTF8_CACHE 0
#endif

/* kiwi_ipc._errors._from_status(code, message, os_errno) -> exception. */
static PyObject *kiwi_py_error_factory;

/* The thread whose blocked calls run Python's signal handlers. */
static unsigned long kiwi_py_main_thread;

/*
 * Raise the exception for status `status` with `message`. Falls back to a
 * plain OSError if the package's exception module cannot be imported (the
 * private module used on its own).
 */
static void kiwi_py_raise(int status, const char *message, int os_errno)
{
    PyObject *msg, *exc;

    msg = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message),
                               "replace");
    if (msg == NULL)
        return;
    if (kiwi_py_error_factory == NULL) {
        PyObject *mod = PyImport_ImportModule("kiwi_ipc._errors");
        PyObject *factory =
            mod ? PyObject_GetAttrString(mod, "_from_status") : NULL;
        Py_XDECREF(mod);
        if (factory == NULL) {
            PyErr_Clear();
            PyErr_SetObject(PyExc_OSError, msg);
            Py_DECREF(msg);
            return;
        }
        /* Another thread may have got here first while the import ran. */
        if (kiwi_py_error_factory == NULL)
            kiwi_py_error_factory = factory;
        else
            Py_DECREF(factory);
    }
    exc = PyObject_CallFunction(kiwi_py_error_factory, "iOi", status, msg,
                                os_errno);
    Py_DECREF(msg);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

/*
 * Raise the exception for a call that just returned `status` on this
 * thread. ipc_last_error() is per thread and only valid until this thread's
 * next failing call, and building the exception runs Python code (which
 * could, through a finalizer, call kiwi-ipc again), so the message is
 * copied out first, before anything else happens.
 */
static void kiwi_py_raise_status(int status)
{
    const char *detail = ipc_last_error();
    int os_errno = ipc_last_os_error();
    size_t n = strlen(detail);
    char *copy = malloc(n + 1);

    if (copy == NULL) {
        PyErr_NoMemory();
        return;
    }
    memcpy(copy, detail, n + 1);
    kiwi_py_raise(status, n ? copy : ipc_strerror(status), os_errno);
    free(copy);
}

/*
 * The interrupt hook: the library calls it on a blocked thread, without the
 * GIL, when a wait is interrupted by a signal and at least every
 * IPC_INTERRUPT_SLICE_MS. Python runs signal handlers on the main thread
 * only, so other threads return at once without touching the GIL. On the
 * main thread it runs the pending handlers; if one raised, the exception
 * stays set on this thread's state and the call returns IPC_EINTR, which the
 * status typemap turns back into that exception.
 */
static int kiwi_py_interrupt_hook(void *arg)
{
    PyGILState_STATE gil;
    int stop;

    (void)arg;
    if (PyThread_get_thread_ident() != kiwi_py_main_thread)
        return 0;
    gil = PyGILState_Ensure();
    stop = PyErr_CheckSignals() != 0;
    PyGILState_Release(gil);
    return stop;
}

/* A bytes object holding a copy of `n` bytes at `p`. A big copy runs
 * without the GIL: the new object is not visible to anybody yet. */
static PyObject *kiwi_py_bytes(const void *p, size_t n)
{
    PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);

    if (b == NULL)
        return NULL;
    if (n >= ((size_t)1 << 20)) {
        char *dst = PyBytes_AsString(b);
        Py_BEGIN_ALLOW_THREADS
        memcpy(dst, p, n);
        Py_END_ALLOW_THREADS
    } else if (n > 0) {
        memcpy(PyBytes_AsString(b), p, n);
    }
    return b;
}

/*
 * A payload to send, borrowed from a Python object for the length of one
 * call: the object's own memory when it can be (a contiguous buffer, an
 * ASCII str, or under the limited API a bytes object), else a bytes copy.
 */
typedef struct kiwi_py_payload {
    PyObject *owned; /* the bytes copy, or NULL */
#if KIWI_PY_HAVE_BUFFER
    Py_buffer view;
    int have_view;
#endif
} kiwi_py_payload;
/* Zeroed, so that releasing a payload never taken is harmless (SWIG's fail
 * path frees every argument, also those it has not converted yet). */
#define KIWI_PY_PAYLOAD_INIT {0}

/* Point *data, *len at obj's bytes. 0, or -1 with an exception set. */
static int kiwi_py_payload_get(PyObject *obj, kiwi_py_payload *p,
                               void **data, size_t *len)
{
    char *buf;
    Py_ssize_t n;

    p->owned = NULL;
#if KIWI_PY_HAVE_BUFFER
    p->have_view = 0;
#endif
    if (PyUnicode_Check(obj)) {
#if KIWI_PY_HAVE_UTF8_CACHE
        if (PyUnicode_IS_ASCII(obj)) {
            const char *s = PyUnicode_AsUTF8AndSize(obj, &n);
            if (s == NULL)
                return -1;
            *data = (void *)s;
            *len = (size_t)n;
            return 0;
        }
#endif
        p->owned = PyUnicode_AsUTF8String(obj);
    } else if (PyBytes_Check(obj)) {
        /* Immutable: in place, with or without the buffer protocol. */
        if (PyBytes_AsStringAndSize(obj, &buf, &n) < 0)
            return -1;
        *data = buf;
        *len = (size_t)n;
        return 0;
    } else {
#if KIWI_PY_HAVE_BUFFER
        if (!PyObject_CheckBuffer(obj))
            goto not_bytes_like;
        if (PyObject_GetBuffer(obj, &p->view, PyBUF_SIMPLE) == 0) {
            p->have_view = 1;
            *data = p->view.buf;
            *len = (size_t)p->view.len;
            return 0;
        }
        /* Not contiguous (a strided memoryview): one copy. */
        PyErr_Clear();
        p->owned = PyBytes_FromObject(obj);
#else
        /* A memoryview accepts exactly the objects that have the buffer
         * protocol; the copy is bytes(memoryview(obj)). */
        PyObject *mv = PyMemoryView_FromObject(obj);
        if (mv == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError))
                return -1;
            PyErr_Clear();
            goto not_bytes_like;
        }
        p->owned = PyBytes_FromObject(mv);
        Py_DECREF(mv);
#endif
    }
    if (p->owned == NULL)
        return -1;
    if (PyBytes_AsStringAndSize(p->owned, &buf, &n) < 0)
        return -1;
    *data = buf;
    *len = (size_t)n;
    return 0;

not_bytes_like: {
#ifndef Py_LIMITED_API
        PyErr_Format(PyExc_TypeError,
                     "a message must be str or a bytes-like object, not %.200s",
                     Py_TYPE(obj)->tp_name);
#else
        /* The type object is opaque in the limited API. */
        PyObject *type_name =
            PyObject_GetAttrString((PyObject *)Py_TYPE(obj), "__name__");
        if (type_name == NULL)
            return -1;
        PyErr_Format(PyExc_TypeError,
                     "a message must be str or a bytes-like object, not %.200U",
                     type_name);
        Py_DECREF(type_name);
#endif
        return -1;
    }
}

static void kiwi_py_payload_release(kiwi_py_payload *p)
{
#if KIWI_PY_HAVE_BUFFER
    if (p->have_view)
        PyBuffer_Release(&p->view);
    p->have_view = 0;
#endif
    Py_CLEAR(p->owned);
}
%}

%init %{
    {
        /* threading.main_thread().ident: the thread that runs handlers. */
        PyObject *t = PyImport_ImportModule("threading");
        PyObject *mt = t ? PyObject_CallMethod(t, "main_thread", NULL) : NULL;
        PyObject *id = mt ? PyObject_GetAttrString(mt, "ident") : NULL;

        kiwi_py_main_thread = id ? PyLong_AsUnsignedLong(id) : 0;
        if (id == NULL || PyErr_Occurred()) {
            PyErr_Clear();
            kiwi_py_main_thread = PyThread_get_thread_ident();
        }
        Py_XDECREF(id);
        Py_XDECREF(mt);
        Py_XDECREF(t);
        ipc_set_interrupt_hook(kiwi_py_interrupt_hook, NULL);
    }
%}

/* Pure functions: they never block, so keeping the GIL is cheaper. */
%nothread ipc_version;
%nothread ipc_strerror;
%nothread ipc_errname;
%nothread ipc_last_error;
%nothread ipc_last_os_error;
%nothread ipc_path;

/*
 * Every int-returning call returns a status: >= 0 is the result, < 0 raises.
 * If the interrupt hook raised during the call, that exception is already
 * set (and, by the header's contract, the call returned IPC_EINTR): it is
 * the one to propagate.
 */
%typemap(out) int {
    if ($1 < 0 || PyErr_Occurred()) {
        if (!PyErr_Occurred())
            kiwi_py_raise_status($1);
        SWIG_fail;
    }
    $result = PyLong_FromLong($1);
}

/* The one int that is not a status. */
%typemap(out) int ipc_last_os_error {
    $result = PyLong_FromLong($1);
}

/* Handles: any int-like object. One outside C's int range cannot name a
 * pipe: it is an unknown handle, like any other. */
%typemap(in) int handle, int listener {
    PyObject *index = PyNumber_Index($input);
    long value;
    int overflow = 0;

    if (index == NULL)
        SWIG_fail;
    value = PyLong_AsLongAndOverflow(index, &overflow);
    Py_DECREF(index);
    if (value == -1 && PyErr_Occurred())
        SWIG_fail;
    if (overflow || value < INT_MIN || value > INT_MAX) {
        kiwi_py_raise(IPC_EBADHANDLE, "unknown handle (out of range)", 0);
        SWIG_fail;
    }
    $1 = (int)value;
}

/* Pipe names, encoded as file names are (PyUnicode_FSConverter). */
%typemap(in) const char *name (PyObject *encoded = NULL) {
    if (!PyUnicode_FSConverter($input, &encoded))
        SWIG_fail;
    $1 = PyBytes_AsString(encoded);
    if ($1 == NULL)
        SWIG_fail;
}
%typemap(freearg) const char *name {
    Py_XDECREF(encoded$argnum);
}

/*
 * A payload to send: str (UTF-8, strict) or any bytes-like object. A
 * contiguous buffer and an ASCII str are used in place; the buffer stays
 * exported (so a bytearray cannot be resized) until the call is over. See
 * kiwi_py_payload_get() for the limited API.
 */
%typemap(in) (const void *data, size_t len)
    (kiwi_py_payload payload = KIWI_PY_PAYLOAD_INIT) {
    if (kiwi_py_payload_get($input, &payload, &$1, &$2) < 0)
        SWIG_fail;
}
%typemap(freearg) (const void *data, size_t len) {
    kiwi_py_payload_release(&payload$argnum);
}

/*
 * A received payload. The one Python argument says what to return: true
 * gives str (invalid UTF-8 becomes U+FFFD), false gives bytes.
 */
%typemap(in, numinputs=1) (void **data, size_t *len)
    (void *payload = NULL, size_t payload_len = 0, int as_text = 0) {
    as_text = PyObject_IsTrue($input);
    if (as_text < 0)
        SWIG_fail;
    $1 = &payload;
    $2 = &payload_len;
}
%typemap(argout) (void **data, size_t *len) {
    PyObject *message;

    if (as_text$argnum)
        message = PyUnicode_DecodeUTF8(payload$argnum ? payload$argnum : "",
                                       (Py_ssize_t)payload_len$argnum,
                                       "replace");
    else
        message = kiwi_py_bytes(payload$argnum, payload_len$argnum);
    Py_DECREF($result);
    $result = message;
    if (message == NULL)
        SWIG_fail;
}
%typemap(freearg) (void **data, size_t *len) {
    ipc_free(payload$argnum);
}

/* ipc_path(): no Python argument; returns the path as str. */
%typemap(in, numinputs=0) (char *buf, size_t cap) (char path[IPC_PATH_MAX]) {
    $1 = path;
    $2 = sizeof path;
}
%typemap(argout) (char *buf, size_t cap) {
    PyObject *decoded = PyUnicode_DecodeFSDefault(path$argnum);

    Py_DECREF($result);
    $result = decoded;
    if (decoded == NULL)
        SWIG_fail;
}
