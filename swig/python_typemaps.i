/*
 * python_typemaps.i - what kiwi_ipc.i needs to become the private Python
 * module kiwi_ipc._kiwi_ipc. Included by kiwi_ipc.i under SWIGPYTHON only.
 *
 * The module is built with SWIG's -threads: every call below releases the
 * GIL around the C call (except the few %nothread ones: the pure functions,
 * which never block, and recv, which releases it itself), and every
 * exception is raised after the GIL is back.
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
 *   becomes U+FFFD, as Kiwi does), false gives bytes.
 * - Receiving: ipc_recv and ipc_recv_timeout are not the C functions of
 *   those names but kiwi_py_recv*() below, built on ipc_recv_alloc(), which
 *   asks this file for the memory of each message as soon as its header is
 *   known. A small message (<= 4 KiB) goes into a buffer on the C stack, a
 *   medium one (< 64 KiB) into malloc(), and either is copied once into the
 *   result after the GIL is back. A large one is received straight into the
 *   result: a bytes object, or for str an ASCII str (PyUnicode_New(n, 127))
 *   that is checked, still without the GIL, to hold ASCII only, and decoded
 *   again from its own bytes if not. So a 64 MiB message costs 64 MiB (plus
 *   the decoded str, when text is not ASCII), not two buffers and a copy.
 *   Allocations of 4 MiB and more ask for transparent huge pages.
 * - Names: str, bytes or os.PathLike, encoded like any file name; a NUL in a
 *   name raises ValueError instead of silently cutting the name short.
 * - Limited API: everything here also compiles with Py_LIMITED_API=0x03090000
 *   (the abi3 wheel, KIWI_IPC_PYTHON_ABI3), where the buffer protocol and
 *   str's UTF-8 cache are out of reach before 3.11 and 3.10: a send from
 *   anything but bytes then copies the payload once (bytes still go in
 *   place), and PyUnicode_New() is missing: a large str is received into a
 *   bytes object and decoded from it, so its receiver briefly holds the
 *   message twice. Same results and errors.
 */

%begin %{
#define PY_SSIZE_T_CLEAN
%}

%{
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

/*
 * The buffer protocol (Py_buffer, PyObject_GetBuffer) is in the limited API
 * from Python 3.11 only, and PyUnicode_AsUTF8AndSize from 3.10.
 */
#if !defined(Py_LIMITED_API) || Py_LIMITED_API + 0 >= 0x030B0000
#define KIWI_PY_HAVE_BUFFER 1
#else
#define KIWI_PY_HAVE_BUFFER 0
#endif
/* str's internals (PyUnicode_New, PyUnicode_1BYTE_DATA): never limited. */
#if !defined(Py_LIMITED_API)
#define KIWI_PY_HAVE_UTF8_CACHE 1
#define KIWI_PY_HAVE_UNICODE_NEW 1
#else
#define KIWI_PY_HAVE_UTF8_CACHE 0
#define KIWI_PY_HAVE_UNICODE_NEW 0
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

/*
 * Receiving. ipc_recv_alloc() asks kiwi_py_recv_alloc() for the memory of a
 * message as soon as its header is known. Where the message goes depends
 * on its length:
 *
 * - up to KIWI_PY_RECV_STACK (4 KiB): into the context's own array, on the
 *   C stack of the wrapper: no malloc() at all for the short messages that
 *   make up a chatty protocol. One page: the array costs nothing unless
 *   used, and the wrapper's frame still fits the smallest thread stacks
 *   (musl's 128 KiB, threading.stack_size() down to 32 KiB) with room.
 * - below KIWI_PY_RECV_DIRECT (64 KiB): into malloc(), from the heap's
 *   warm memory.
 *   Either way the bytes/str is made from that copy after the GIL is back.
 *   Making it in the callback instead means taking the GIL twice per call:
 *   uncontended that is cheap, and in-place and copy measured within 10%
 *   of each other up to 64 KiB (11 and 12 us per 64 KiB message), but while
 *   another thread runs Python each take of the GIL may wait for it (up to
 *   the switch interval, 5 ms), a risk not worth a copy of a few us.
 * - from KIWI_PY_RECV_DIRECT on: straight into the result, created in the
 *   callback (which runs without the GIL, so it takes the GIL just for the
 *   allocation). From 128 KiB on, malloc() hands out fresh mmap()ed memory,
 *   so a copy also means page faults in a second buffer: copying measured
 *   4-6x slower than receiving in place (100 against 20 us at 128 KiB).
 * - from KIWI_PY_RECV_HUGE (4 MiB) on, the object's memory also asks for
 *   transparent huge pages (for THP's "madvise" mode, the usual default)
 *   before a byte of it is written: a 64 MiB message then faults 32 times
 *   instead of 16,384; measured 27 against 48 ms per 64 MiB message, 10%
 *   at 5 MB, nothing at 3 MB (a 2 MiB-aligned interior of one page, if any).
 */
#define KIWI_PY_RECV_STACK 4096
#define KIWI_PY_RECV_DIRECT (64 * 1024)
#define KIWI_PY_RECV_HUGE (4 * 1024 * 1024)

typedef struct kiwi_py_recv_ctx {
    PyThreadState *tstate; /* the receiving thread's, while it waits */
    int as_text;
    char *heap;    /* a medium message's malloc() buffer, or NULL */
    PyObject *obj; /* a large message's bytes, or ASCII str, or NULL */
    char *data;    /* where the payload goes */
    char stack[KIWI_PY_RECV_STACK]; /* a small message */
} kiwi_py_recv_ctx;

/*
 * Ask for transparent huge pages for the 2 MiB-aligned interior of
 * [p, p + n): the whole pages of our own block only, never a page shared
 * with another allocation. 2 MiB is x86-64's and 4 KiB-page arm64's PMD
 * size; elsewhere the advice is merely less useful. A failure (no THP in
 * this kernel) changes nothing.
 */
static void kiwi_py_advise_huge(char *p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(huge - 1);

    if (start < end)
        (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

/*
 * The ipc_alloc_fn: called at most once per call, on the receiving thread,
 * without the GIL. For a large message it takes the GIL back just for the
 * allocation, with the thread state the wrapper saved (what Py_BLOCK_THREADS
 * does inside Py_BEGIN_ALLOW_THREADS): unlike PyGILState_Ensure(), no
 * thread-local lookup, and the right interpreter in a subinterpreter.
 * Making a bytes or str runs no Python code (neither is tracked by the
 * garbage collector: no collection, no finalizer), so nothing can receive
 * on this pipe while its receive lock is held, as the header forbids.
 */
static void *kiwi_py_recv_alloc(void *arg, size_t len)
{
    kiwi_py_recv_ctx *ctx = (kiwi_py_recv_ctx *)arg;

    if (len <= sizeof ctx->stack)
        return ctx->data = ctx->stack;
    if (len < KIWI_PY_RECV_DIRECT)
        return ctx->data = ctx->heap = (char *)malloc(len);
    /* len <= IPC_MAX_MESSAGE (2^31 - 1) fits Py_ssize_t. On failure the
     * MemoryError stays set on this thread: the wrapper raises it. */
    PyEval_RestoreThread(ctx->tstate);
#if KIWI_PY_HAVE_UNICODE_NEW
    if (ctx->as_text) {
        ctx->obj = PyUnicode_New((Py_ssize_t)len, 127);
        if (ctx->obj != NULL)
            ctx->data = (char *)PyUnicode_1BYTE_DATA(ctx->obj);
    } else
#endif
    {
        ctx->obj = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len);
        if (ctx->obj != NULL)
            ctx->data = PyBytes_AsString(ctx->obj);
    }
    ctx->tstate = PyEval_SaveThread();
    if (ctx->obj == NULL)
        return NULL;
    if (len >= KIWI_PY_RECV_HUGE)
        kiwi_py_advise_huge(ctx->data, len);
    return ctx->data;
}

#if KIWI_PY_HAVE_UNICODE_NEW
/*
 * Whether the n bytes at s are all ASCII: the OR of each 256-byte block,
 * tested once per block. The scan of a large message runs at memory speed
 * (its bytes are long out of the cache), so it is worth loading 16 bytes at
 * a time: GCC's and Clang's vector extension does that on any target and at
 * any -O, and measured 6 ms per 64 MiB here against 9 ms a word at a time
 * (the word loop is the fallback for other compilers).
 */
static int kiwi_py_is_ascii(const char *s, size_t n)
{
    const size_t high = (size_t)-1 / 0xFF * 0x80; /* 0x8080...80 */
    size_t i = 0, k;
#if defined(__GNUC__)
    typedef unsigned char v16 __attribute__((vector_size(16)));
    v16 a, b, x, y;
    size_t w[2];

    for (; n - i >= 256; i += 256) {
        memcpy(&a, s + i, 16);
        memcpy(&b, s + i + 16, 16);
        for (k = 32; k < 256; k += 32) {
            memcpy(&x, s + i + k, 16);
            memcpy(&y, s + i + k + 16, 16);
            a |= x;
            b |= y;
        }
        a |= b;
        memcpy(w, &a, sizeof w);
        if ((w[0] | w[1]) & high)
            return 0;
    }
#else
    size_t w;

    for (; n - i >= 256; i += 256) {
        size_t acc = 0;
        for (k = 0; k < 256; k += sizeof w) {
            memcpy(&w, s + i + k, sizeof w);
            acc |= w;
        }
        if (acc & high)
            return 0;
    }
#endif
    for (; i < n; i++) {
        if ((unsigned char)s[i] & 0x80)
            return 0;
    }
    return 1;
}
#endif

/*
 * ipc_recv (timeout_ms IPC_FOREVER) and ipc_recv_timeout for Python: one
 * message as str (as_text true; invalid UTF-8 becomes U+FFFD) or bytes.
 * Releases the GIL around the receive itself (the wrappers are %nothread).
 * Returns NULL with an exception set on failure; a message is never lost
 * to one: the library keeps what arrived for the next call.
 */
static PyObject *kiwi_py_recv_timeout(int handle, PyObject *as_text,
                                      int timeout_ms)
{
    kiwi_py_recv_ctx ctx; /* ctx.stack is left uninitialised on purpose */
    PyObject *message = NULL;
    size_t len = 0;
    int rc, text, ascii = 0; /* set by the scan of a str received in place */

    text = PyObject_IsTrue(as_text);
    if (text < 0)
        return NULL;
    ctx.as_text = text;
    ctx.heap = NULL;
    ctx.obj = NULL;
    ctx.data = NULL;

    ctx.tstate = PyEval_SaveThread(); /* Py_BEGIN_ALLOW_THREADS */
    rc = ipc_recv_alloc(handle, kiwi_py_recv_alloc, &ctx, &len, timeout_ms);
#if KIWI_PY_HAVE_UNICODE_NEW
    /* Nobody else sees the new str yet: no GIL needed to read it. */
    if (rc == 0 && text && ctx.obj != NULL)
        ascii = kiwi_py_is_ascii(ctx.data, len);
#endif
    PyEval_RestoreThread(ctx.tstate); /* Py_END_ALLOW_THREADS */

    /* As the status typemap below: an exception already set (from the
     * interrupt hook, or a MemoryError from the allocation) wins. */
    if (rc < 0 || PyErr_Occurred()) {
        if (!PyErr_Occurred())
            kiwi_py_raise_status(rc);
    } else if (ctx.obj != NULL && (!text || ascii)) {
        message = ctx.obj; /* received in place */
        ctx.obj = NULL;
    } else {
        /* A copy, or a str decoded from bytes received in place. alloc ran
         * (even for len 0), but never build from NULL. */
        const char *data = ctx.data ? ctx.data : "";

        if (text)
            message = PyUnicode_DecodeUTF8(data, (Py_ssize_t)len, "replace");
        else
            message = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    }
    Py_XDECREF(ctx.obj);
    free(ctx.heap);
    return message;
}

static PyObject *kiwi_py_recv(int handle, PyObject *as_text)
{
    return kiwi_py_recv_timeout(handle, as_text, IPC_FOREVER);
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

/*
 * Receiving: Python's ipc_recv(handle, as_text) and ipc_recv_timeout(handle,
 * as_text, timeout_ms) are kiwi_py_recv*() above, on ipc_recv_alloc(); the
 * C functions of those names, which hand out a buffer to ipc_free(), are
 * not wrapped. %nothread: they release the GIL themselves, and must not do
 * it twice.
 */
%ignore ipc_recv;
%ignore ipc_recv_timeout;
%ignore ipc_recv_alloc;
%ignore ipc_alloc_fn;
%nothread kiwi_py_recv;
%nothread kiwi_py_recv_timeout;
%rename(ipc_recv) kiwi_py_recv;
%rename(ipc_recv_timeout) kiwi_py_recv_timeout;
PyObject *kiwi_py_recv(int handle, PyObject *as_text);
PyObject *kiwi_py_recv_timeout(int handle, PyObject *as_text, int timeout_ms);
