/*
 * kiwi_ipc_py.c - the hand-written C of the Python binding: errors, the
 * Ctrl-C hook, receiving into Python objects, borrowing payloads, and the
 * seconds -> milliseconds rule. bindings/python/python_typemaps.i calls these
 * from the generated wrapper; they live in a real C file so that they are
 * compiled with the project's warnings (-Wall -Wextra -Werror), which the
 * generated code is not. See kiwi_ipc_py.h, and python_typemaps.i for the whole
 * picture (GIL, limited API).
 *
 * Compiled with the wrapper's Python headers and Py_LIMITED_API setting
 * (bindings/python/python.cmake), so that the structs shared with it agree.
 */
#include "kiwi_ipc_py.h"

#include <kiwi_ipc.h>

#include "kiwi_ipc_bind.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* kiwi_ipc._errors._from_status(code, message, os_errno) -> exception. */
static PyObject *kiwi_py_error_factory;

/* kiwi_py_get_buffer and kiwi_py_release_buffer: the buffer protocol's
 * PyObject_GetBuffer and PyBuffer_Release, under names of ours (defining
 * static functions with Python's own names would shadow its API). */
#if KIWI_PY_BUFFER_DECLARED
/* The buffer protocol is declared: the interpreter has it. */
#define kiwi_py_use_buffer 1

static int kiwi_py_get_buffer(PyObject *obj, kiwi_py_buffer *view, int flags)
{
    return PyObject_GetBuffer(obj, view, flags);
}

static void kiwi_py_release_buffer(kiwi_py_buffer *view)
{
    PyBuffer_Release(view);
}
#else
/*
 * The abi3 module built for 3.9: Python's headers hide the buffer protocol,
 * which joined the stable ABI in 3.11. It is used only when the interpreter
 * that loaded the module is 3.11 or later (kiwi_py_use_buffer, set by
 * kiwi_py_init()); before that, a payload that is not bytes is copied once,
 * as it always was. Not through PyObject_GetBuffer and PyBuffer_Release,
 * which the module would then import by name although they are not in the
 * 3.9 stable ABI (abi3audit refuses the wheel), but through the type's
 * bf_getbuffer and bf_releasebuffer slots, which PyType_GetSlot (stable ABI
 * since 3.4; for static types such as memoryview from 3.10) hands out:
 * exactly what those two functions do for a memoryview, whose getbuffer
 * sets view->obj to itself with a new reference.
 */
typedef int (*kiwi_py_getbuffer)(PyObject *obj, kiwi_py_buffer *view,
                                 int flags);
typedef void (*kiwi_py_releasebuffer)(PyObject *obj, kiwi_py_buffer *view);
#define PyBUF_SIMPLE 0
static int kiwi_py_use_buffer;

static int kiwi_py_get_buffer(PyObject *obj, kiwi_py_buffer *view, int flags)
{
    kiwi_py_getbuffer get =
        (kiwi_py_getbuffer)PyType_GetSlot(Py_TYPE(obj), Py_bf_getbuffer);

    if (get == NULL) {
        PyErr_SetString(PyExc_TypeError, "a bytes-like object is required");
        return -1;
    }
    return get(obj, view, flags);
}

static void kiwi_py_release_buffer(kiwi_py_buffer *view)
{
    PyObject *obj = view->obj;
    kiwi_py_releasebuffer release;

    if (obj == NULL)
        return;
    release = (kiwi_py_releasebuffer)PyType_GetSlot(Py_TYPE(obj),
                                                    Py_bf_releasebuffer);
    if (release != NULL)
        release(obj, view);
    view->obj = NULL;
    Py_DECREF(obj);
}
#endif

/* The thread whose blocked calls run Python's signal handlers. */
static unsigned long kiwi_py_main_thread;

/*
 * Raise the exception for status `status` with `message`. Falls back to a
 * plain OSError if the package's exception module cannot be imported (the
 * private module used on its own).
 */
void kiwi_py_raise(int status, const char *message, int os_errno)
{
    PyObject *msg, *exc;

    msg = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
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
void kiwi_py_raise_status(int status)
{
    kiwi_py_raise_status_as(status, NULL, NULL);
}

/*
 * kiwi_py_raise_status(), for a library call made on behalf of another:
 * a message that begins with `call` and "(" (the library's "call(handle)
 * on ..." form) begins with `as` instead. send() finishes a frame that its
 * first step left part-written with ipc_flush(); if that fails, the user
 * must read what a single blocking send would have told them, not about a
 * flush they never called. With call NULL the message is kept as it is.
 */
void kiwi_py_raise_status_as(int status, const char *call, const char *as)
{
    const char *detail = ipc_last_error();
    int os_errno = ipc_last_os_error();
    size_t n = strlen(detail), skip = call != NULL ? strlen(call) : 0, put;
    char *copy;

    if (skip == 0 || strncmp(detail, call, skip) != 0 || detail[skip] != '(')
        skip = 0, as = "";
    put = strlen(as);
    copy = malloc(n - skip + put + 1);
    if (copy == NULL) {
        PyErr_NoMemory();
        return;
    }
    memcpy(copy, as, put);
    memcpy(copy + put, detail + skip, n - skip + 1);
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
#define KIWI_PY_RECV_HUGE KIWI_BIND_HUGE_MIN

typedef struct kiwi_py_recv_ctx {
    PyThreadState *tstate; /* the receiving thread's, while it waits */
    int as_text;
    char *heap;    /* a medium message's malloc() buffer, or NULL */
    PyObject *obj; /* a large message's bytes, or ASCII str, or NULL */
    char *data;    /* where the payload goes */
    char stack[KIWI_PY_RECV_STACK]; /* a small message */
} kiwi_py_recv_ctx;

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
        kiwi_bind_advise_huge(ctx->data, len);
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

/* ipc_recv_held()'s allocator, called with the GIL held: bytes are made in
 * place; a str is decoded from a copy (on the stack when small). */
typedef struct kiwi_py_held_ctx {
    int as_text;
    PyObject *obj; /* the bytes, or NULL */
    char *heap;    /* a str's copy when not on the stack */
    char *data;
    char stack[KIWI_PY_RECV_STACK];
} kiwi_py_held_ctx;

static void *kiwi_py_held_alloc(void *arg, size_t len)
{
    kiwi_py_held_ctx *ctx = (kiwi_py_held_ctx *)arg;

    if (!ctx->as_text) {
        ctx->obj = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len);
        return ctx->data = ctx->obj ? PyBytes_AsString(ctx->obj) : NULL;
    }
    if (len <= sizeof ctx->stack)
        return ctx->data = ctx->stack;
    return ctx->data = ctx->heap = (char *)malloc(len);
}

/*
 * A message already held inside the handle (read ahead with an earlier
 * one), taken with the GIL kept: ipc_recv_held() makes no system call and
 * never waits, so releasing and taking back the GIL around it would cost
 * more than the call (a quarter of a small message's cost in the binding,
 * measured with callgrind). 1 with *message set, 0 when none is held (or
 * the receive lock is another thread's, whose recv takes it), -1 with an
 * exception set when none was taken (no memory: the message stays; or the
 * stream is broken, which the blocking receive would report alike), -2
 * with an exception set when one was taken but its object could not be
 * made (no memory): that message is gone, and the caller must say so.
 */
static int kiwi_py_take_held(int handle, int text, PyObject **message)
{
    kiwi_py_held_ctx ctx;
    size_t len = 0;
    int rc;

    ctx.as_text = text;
    ctx.obj = NULL;
    ctx.heap = NULL;
    ctx.data = NULL;
    rc = ipc_recv_held(handle, kiwi_py_held_alloc, &ctx, &len);
    if (rc == 1) {
        if (text)
            *message = PyUnicode_DecodeUTF8(ctx.data ? ctx.data : "",
                                            (Py_ssize_t)len, "replace");
        else
            *message = ctx.obj, ctx.obj = NULL;
        rc = *message != NULL ? 1 : -2;
    } else if (rc < 0) {
        if (!PyErr_Occurred())
            kiwi_py_raise_status(rc);
    }
    Py_XDECREF(ctx.obj);
    free(ctx.heap);
    return rc;
}

/*
 * One message as str (text; invalid UTF-8 becomes U+FFFD) or bytes: a
 * message already held is taken with the GIL kept (kiwi_py_take_held);
 * otherwise the GIL is released around the receive, which may wait.
 * Returns NULL with an exception set on failure; a message is never lost
 * to one: the library keeps what arrived for the next call.
 */
PyObject *kiwi_py_recv_message(int handle, int text, int timeout_ms)
{
    kiwi_py_recv_ctx ctx; /* ctx.stack is left uninitialised on purpose */
    PyObject *message = NULL;
    size_t len = 0;
    int rc, ascii = 0; /* set by the scan of a str received in place */

    rc = kiwi_py_take_held(handle, text, &message);
    if (rc != 0)
        return rc > 0 ? message : NULL;

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

    /* As the status typemap (python_typemaps.i): an exception already set (from
     * the interrupt hook, or a MemoryError from the allocation) wins. */
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

/* ipc_recv (timeout_ms IPC_FOREVER) and ipc_recv_timeout for Python's
 * integer handles: kiwi_py_recv_message(), the flag any object. The
 * wrappers are %nothread: the GIL is released here, where it must be. */
PyObject *kiwi_py_recv_timeout(int handle, PyObject *as_text, int timeout_ms)
{
    int text = PyObject_IsTrue(as_text);

    if (text < 0)
        return NULL;
    return kiwi_py_recv_message(handle, text, timeout_ms);
}

PyObject *kiwi_py_recv(int handle, PyObject *as_text)
{
    return kiwi_py_recv_timeout(handle, as_text, IPC_FOREVER);
}

/*
 * The size limit comes before any copy. A payload over IPC_MAX_MESSAGE is
 * handed to the library with its true length and this pointer, never read:
 * the library refuses len > IPC_MAX_MESSAGE (IPC_ETOOBIG, with its own
 * message naming the length) before it looks at the data, and the caller
 * gets the same error as for bytes of that size, without first paying for
 * a copy that cannot be sent (a 3 GiB strided memoryview cost a minute and
 * 6 GB of RSS).
 */
static const char kiwi_py_unread;

static int kiwi_py_too_big(size_t n, void **data, size_t *len)
{
    *data = (void *)&kiwi_py_unread;
    *len = n;
    return 0;
}

/*
 * A str's UTF-8 size, when it may be over the limit (more than a quarter of
 * IPC_MAX_MESSAGE characters: at most 4 bytes each), measured without
 * encoding it whole. 1 and the size in *size if it is over the limit, 0 if
 * not, -1 with an exception set. A lone surrogate counts its 3 bytes, as
 * the strict encoding that follows for a str within the limit raises.
 */
static int kiwi_py_str_too_big(PyObject *obj, size_t *size)
{
    Py_ssize_t n = PyUnicode_GetLength(obj), i;
    size_t total = 0;

    if (n < 0)
        return -1;
    if ((size_t)n <= IPC_MAX_MESSAGE / 4)
        return 0;
#ifndef Py_LIMITED_API
    {
        int kind = PyUnicode_KIND(obj);
        const void *chars = PyUnicode_DATA(obj);

        for (i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, chars, i);
            total += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        }
    }
#else
    /* The characters are out of reach: encode a slice at a time. */
    for (i = 0; i < n; i += 1 << 20) {
        Py_ssize_t end = n - i > (1 << 20) ? i + (1 << 20) : n;
        PyObject *part = PyUnicode_Substring(obj, i, end);
        PyObject *enc =
            part ? PyUnicode_AsEncodedString(part, "utf-8", "surrogatepass")
                 : NULL;
        Py_ssize_t m = enc ? PyBytes_Size(enc) : -1;

        Py_XDECREF(enc);
        Py_XDECREF(part);
        if (m < 0)
            return -1;
        total += (size_t)m;
    }
#endif
    *size = total;
    return total > IPC_MAX_MESSAGE;
}

/*
 * The size in bytes of a buffer that will be copied (a strided memoryview,
 * or any buffer under the limited API): memoryview(obj).nbytes, which reads
 * no byte of it. -1 with an exception set.
 */
static Py_ssize_t kiwi_py_nbytes(PyObject *mv)
{
    PyObject *nbytes = PyObject_GetAttrString(mv, "nbytes");
    Py_ssize_t n = nbytes ? PyLong_AsSsize_t(nbytes) : -1;

    Py_XDECREF(nbytes);
    return n;
}

/* Point *data, *len at obj's bytes. 0, or -1 with an exception set. */
int kiwi_py_payload_get(PyObject *obj, kiwi_py_payload *p, void **data,
                        size_t *len)
{
    char *buf;
    Py_ssize_t n;
    PyObject *mv;

    p->owned = NULL;
    p->have_view = 0;
    if (PyUnicode_Check(obj)) {
        size_t size = 0;
        int over;
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
        over = kiwi_py_str_too_big(obj, &size);
        if (over < 0)
            return -1;
        if (over)
            return kiwi_py_too_big(size, data, len);
        p->owned = PyUnicode_AsUTF8String(obj);
    } else if (PyBytes_Check(obj)) {
        /* Immutable: in place, with or without the buffer protocol. */
        if (PyBytes_AsStringAndSize(obj, &buf, &n) < 0)
            return -1;
        *data = buf;
        *len = (size_t)n;
        return 0;
    } else {
#if KIWI_PY_BUFFER_DECLARED
        if (!PyObject_CheckBuffer(obj))
            goto not_bytes_like;
        if (kiwi_py_get_buffer(obj, &p->view, PyBUF_SIMPLE) == 0) {
            p->have_view = 1;
            *data = p->view.buf;
            *len = (size_t)p->view.len;
            return 0;
        }
        /* Not contiguous (a strided memoryview): one copy, of
         * memoryview(obj), once its size is known to be within the limit. */
        PyErr_Clear();
        mv = PyMemoryView_FromObject(obj);
        if (mv == NULL)
            return -1;
#else
        /* A memoryview accepts exactly the objects that have the buffer
         * protocol; the copy is bytes(memoryview(obj)). */
        mv = PyMemoryView_FromObject(obj);
        if (mv == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError))
                return -1;
            PyErr_Clear();
            goto not_bytes_like;
        }
        /* On 3.11 and later, in place through the memoryview: the view
         * holds a reference to it until released. */
        if (kiwi_py_use_buffer) {
            if (kiwi_py_get_buffer(mv, &p->view, PyBUF_SIMPLE) == 0) {
                Py_DECREF(mv);
                p->have_view = 1;
                *data = p->view.buf;
                *len = (size_t)p->view.len;
                return 0;
            }
            PyErr_Clear(); /* not contiguous: one copy, as below */
        }
#endif
        n = kiwi_py_nbytes(mv);
        if (n < 0) {
            Py_DECREF(mv);
            return -1;
        }
        if ((size_t)n > IPC_MAX_MESSAGE) {
            Py_DECREF(mv);
            return kiwi_py_too_big((size_t)n, data, len);
        }
        p->owned = PyBytes_FromObject(mv);
        Py_DECREF(mv);
    }
    if (p->owned == NULL)
        return -1;
    if (PyBytes_AsStringAndSize(p->owned, &buf, &n) < 0)
        return -1;
    *data = buf;
    *len = (size_t)n;
    return 0;

not_bytes_like : {
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

void kiwi_py_payload_release(kiwi_py_payload *p)
{
    if (p->have_view)
        kiwi_py_release_buffer(&p->view);
    p->have_view = 0;
    Py_CLEAR(p->owned);
}

/*
 * At module init: remember the thread that runs Python's signal handlers
 * (threading.main_thread().ident; this thread if that cannot be had), and
 * install the interrupt hook.
 */
void kiwi_py_init(void)
{
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
#if !KIWI_PY_BUFFER_DECLARED
    {
        /* "3.11.7 (main, ...)": the interpreter running this module. */
        int major = 0, minor = 0;

        if (sscanf(Py_GetVersion(), "%d.%d", &major, &minor) == 2)
            kiwi_py_use_buffer = major > 3 || (major == 3 && minor >= 11);
    }
#endif
}

/*
 * A timeout in seconds (a float or an int; _pipe._timeout_ms() turns other
 * numbers into float and handles None) to milliseconds, by the one rule of
 * both bindings, kiwi_bind_timeout_ms(). ValueError for a negative or NaN
 * timeout.
 */
int kiwi_py_timeout_arg(PyObject *seconds, int *ms)
{
    double s = PyFloat_AsDouble(seconds);

    if (s == -1.0 && PyErr_Occurred())
        return -1;
    switch (kiwi_bind_timeout_ms(s, ms)) {
    case KIWI_BIND_TIMEOUT_NAN:
        PyErr_SetString(PyExc_ValueError, "timeout must not be NaN");
        return -1;
    case KIWI_BIND_TIMEOUT_NEGATIVE:
        PyErr_SetString(PyExc_ValueError,
                        "timeout must be non-negative (or None to wait "
                        "forever)");
        return -1;
    default:
        return 0;
    }
}

PyObject *kiwi_py_timeout_ms(PyObject *seconds)
{
    int ms = 0;

    if (kiwi_py_timeout_arg(seconds, &ms) < 0)
        return NULL;
    return PyLong_FromLong(ms);
}

/*
 * Send one message (str as UTF-8, or any bytes-like object) within
 * timeout_ms. A message up to KIWI_PY_SEND_NOW bytes is first tried with
 * the GIL kept and no wait at all (timeout 0): a small message to a peer that
 * keeps up is written at once, and the release and take-back of the GIL around
 * it cost more than the write's own code in the binding (measured with
 * callgrind). Only if the peer's buffer is full (nothing sent: IPC_ETIMEDOUT,
 * or another thread's send holds the pipe) is the GIL released for the call
 * that waits, which Ctrl-C interrupts as any wait. If that first step got only
 * part of the frame out, the message is committed and its rest kept, as the
 * header says; the send then waits, without the GIL, for the rest as long as
 * the caller's timeout allows (ipc_flush), so a send without timeout still
 * returns with its message written whole, and one whose time runs out
 * keeps the rest, exactly as a single call with that timeout would.
 * 0, or -1 with an exception set.
 */
#define KIWI_PY_SEND_NOW (64 * 1024)

int kiwi_py_send_message(int handle, PyObject *message, int timeout_ms)
{
    kiwi_py_payload payload = KIWI_PY_PAYLOAD_INIT;
    PyThreadState *ts;
    void *data;
    size_t len;
    int rc, rest = 0; /* rest: rc is ipc_flush()'s, for the frame's rest */

    if (kiwi_py_payload_get(message, &payload, &data, &len) < 0)
        return -1;
    /* A larger message waits without the GIL at once: its first step
     * could write part of it, and the pipe would then keep a copy of the
     * rest (the size of the message) where one call writes it in place. */
    if (len <= KIWI_PY_SEND_NOW || timeout_ms == 0)
        rc = ipc_send_timeout(handle, data, len, 0);
    else
        rc = IPC_ETIMEDOUT; /* nothing tried, nothing sent */
    if (rc == IPC_ETIMEDOUT && timeout_ms != 0) {
        ts = PyEval_SaveThread();
        rc = ipc_send_timeout(handle, data, len, timeout_ms);
        PyEval_RestoreThread(ts);
    } else if (rc == 0 && timeout_ms != 0) {
        rest = 1; /* (no rest to write returns 0 at once) */
        if ((rc = ipc_flush(handle, 0)) == IPC_ETIMEDOUT) {
            ts = PyEval_SaveThread();
            rc = ipc_flush(handle, timeout_ms);
            PyEval_RestoreThread(ts);
            if (rc == IPC_ETIMEDOUT)
                rc = 0; /* committed: the rest is kept, as a send's is */
        }
    }
    kiwi_py_payload_release(&payload);
    if (rc < 0 || PyErr_Occurred()) {
        if (!PyErr_Occurred())
            kiwi_py_raise_status_as(rc, rest ? "flush" : NULL, "send");
        return -1;
    }
    return 0;
}

/* ---- many pipes at once, recv_into ------------------------- */

#ifndef PyBUF_WRITABLE
#define PyBUF_WRITABLE 0x0001 /* the abi3 module's own declaration */
#endif

/*
 * poll(items, timeout_ms): ipc_poll() over a sequence of (handle, events)
 * pairs; returns the list of revents in the same order. The GIL is
 * released while it waits, and Ctrl-C ends the wait as in every call.
 */
PyObject *kiwi_py_poll(PyObject *items, int timeout_ms)
{
    /* Only the limited API's sequence calls: the abi3 module shares this. */
    Py_ssize_t n = PySequence_Size(items), i;
    PyObject *out = NULL;
    struct ipc_pollitem *it;
    int rc;

    if (n < 0)
        return NULL;
    it = (struct ipc_pollitem *)calloc(n > 0 ? (size_t)n : 1, sizeof(*it));
    if (it == NULL)
        return PyErr_NoMemory();
    for (i = 0; i < n; i++) {
        PyObject *pair = PySequence_GetItem(items, i);
        int handle = 0, events = 0, ok;

        if (pair == NULL)
            goto done;
        ok = PyArg_ParseTuple(pair, "ii", &handle, &events);
        Py_DECREF(pair);
        if (!ok)
            goto done;
        it[i].handle = handle;
        it[i].events = (short)events;
    }
    {
        PyThreadState *ts = PyEval_SaveThread();

        rc = ipc_poll(it, (size_t)n, timeout_ms);
        PyEval_RestoreThread(ts);
    }
    if (rc < 0 || PyErr_Occurred()) {
        if (!PyErr_Occurred())
            kiwi_py_raise_status(rc);
        goto done;
    }
    out = PyList_New(n);
    for (i = 0; out != NULL && i < n; i++) {
        PyObject *r = PyLong_FromLong(it[i].revents);

        if (r == NULL || PyList_SetItem(out, i, r) < 0) {
            Py_CLEAR(out);
            break;
        }
    }
done:
    free(it);
    return out;
}

/* recv_into's allocator: the caller's buffer, if the message fits. */
typedef struct kiwi_py_into_ctx {
    char *buf;
    size_t cap;
    size_t need; /* the message's length, when it did not fit */
    int too_small;
} kiwi_py_into_ctx;

static void *kiwi_py_into_alloc(void *arg, size_t len)
{
    kiwi_py_into_ctx *ctx = (kiwi_py_into_ctx *)arg;
    static char empty;

    if (len > ctx->cap) {
        /* NULL keeps the message for the next receive (ipc_recv_alloc). */
        ctx->need = len;
        ctx->too_small = 1;
        return NULL;
    }
    return ctx->buf != NULL ? ctx->buf : &empty;
}

/*
 * recv_into's buffer: PyObject_GetBuffer(PyBUF_WRITABLE), but a bytes-like
 * object that cannot give a writable, contiguous buffer raises TypeError,
 * as socket.recv_into() does, rather than the buffer protocol's
 * BufferError, and says which of the two it is not: read-only (bytes, a
 * memoryview of bytes), or not contiguous. An object that is no buffer at
 * all has its TypeError already.
 */
static int kiwi_py_writable_buffer(PyObject *buffer, kiwi_py_buffer *view)
{
    kiwi_py_buffer probe;
    PyObject *type_name;
    int readonly = 0;

    if (kiwi_py_get_buffer(buffer, view, PyBUF_WRITABLE) == 0)
        return 0;
    if (!PyErr_ExceptionMatches(PyExc_BufferError))
        return -1;
    PyErr_Clear();
    if (kiwi_py_get_buffer(buffer, &probe, PyBUF_SIMPLE) == 0) {
        readonly = probe.readonly;
        kiwi_py_release_buffer(&probe);
    } else {
        PyErr_Clear(); /* not contiguous either */
    }
    /* The type object is opaque in the limited API. */
    type_name = PyObject_GetAttrString((PyObject *)Py_TYPE(buffer), "__name__");
    if (type_name == NULL)
        return -1;
    if (readonly)
        PyErr_Format(PyExc_TypeError,
                     "recv_into() needs a writable buffer, and %.200U is "
                     "read-only",
                     type_name);
    else
        PyErr_Format(PyExc_TypeError,
                     "recv_into() needs a writable, contiguous buffer, which "
                     "this %.200U does not give",
                     type_name);
    Py_DECREF(type_name);
    return -1;
}

/*
 * recv_into(handle, buffer, timeout_ms): one message into the caller's
 * writable, contiguous buffer (bytearray, memoryview, array, mmap, numpy),
 * straight from the socket for a large one: no allocation per message, and
 * none of the page faults a fresh 64 MiB object costs. Returns the length.
 * A message longer than the buffer raises kiwi_ipc.BufferTooShortError
 * (with .size, the length needed) and stays in the pipe for the next
 * receive; a timeout or Ctrl-C in the middle keeps what arrived (copied
 * back into the pipe, as ipc_recv_alloc() does).
 */
PyObject *kiwi_py_recv_into(int handle, PyObject *buffer, int timeout_ms)
{
    kiwi_py_buffer view;
    kiwi_py_into_ctx ctx = {0};
    size_t len = 0;
    int rc;

    view.obj = NULL;
    if (kiwi_py_use_buffer) {
        if (kiwi_py_writable_buffer(buffer, &view) < 0)
            return NULL;
        ctx.buf = (char *)view.buf;
        ctx.cap = (size_t)view.len;
    } else if (PyByteArray_Check(buffer)) {
        /* The abi3 module before 3.11 has no buffer protocol; a
         * bytearray's memory is in the stable ABI. Our reference keeps it
         * alive; resizing it meanwhile from another thread is the
         * caller's race, as with any buffer a C call writes. */
        Py_INCREF(buffer);
        ctx.buf = PyByteArray_AsString(buffer);
        ctx.cap = (size_t)PyByteArray_Size(buffer);
    } else {
        PyErr_SetString(PyExc_TypeError,
                        "recv_into() takes a bytearray here: other writable "
                        "buffers need the buffer protocol (Python 3.11 or "
                        "later for the abi3 module)");
        return NULL;
    }
    {
        PyThreadState *ts = PyEval_SaveThread();

        rc = ipc_recv_alloc(handle, kiwi_py_into_alloc, &ctx, &len, timeout_ms);
        PyEval_RestoreThread(ts);
    }
    if (kiwi_py_use_buffer)
        kiwi_py_release_buffer(&view);
    else
        Py_DECREF(buffer);
    if (rc == IPC_ENOMEM && ctx.too_small && !PyErr_Occurred()) {
        PyObject *mod = PyImport_ImportModule("kiwi_ipc._wait");
        PyObject *exc =
            mod ? PyObject_CallMethod(mod, "_too_short", "nn",
                                      (Py_ssize_t)ctx.need, (Py_ssize_t)ctx.cap)
                : NULL;

        Py_XDECREF(mod);
        if (exc != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
        return NULL;
    }
    if (rc < 0 || PyErr_Occurred()) {
        if (!PyErr_Occurred())
            kiwi_py_raise_status(rc);
        return NULL;
    }
    return PyLong_FromSize_t(len);
}

/* ---- batches ------------------------------------------------------------ */

/*
 * Python's send_many(handle, messages, timeout_ms) -> count: every message
 * of the iterable (str as UTF-8, bytes-like as is) into one
 * ipc_send_many(), with the GIL released once. bytes and ASCII str are
 * used in place; other buffers through kiwi_py_payload_get() (in place
 * where contiguous), so nothing is copied that need not be. Every message
 * is converted before anything is sent: a bad one raises and sends
 * nothing. A KeyboardInterrupt raised by the interrupt hook part-way gets
 * the count of committed messages as its `committed` attribute.
 */
PyObject *kiwi_py_send_many(int handle, PyObject *messages, int timeout_ms)
{
    PyObject *seq, *result = NULL;
    Py_ssize_t n, i;
    struct ipc_msg *msgs = NULL;
    kiwi_py_payload *extra = NULL; /* for buffers other than bytes/str */
    int rc;

    /* A tuple is used as it is; anything else (a list too: another thread
     * could change it while the GIL is released) is collected into one,
     * which holds every message until the call is done. */
    if (PyTuple_CheckExact(messages)) {
        seq = messages;
        Py_INCREF(seq);
    } else {
        seq = PySequence_Tuple(messages);
        if (seq == NULL)
            return NULL;
    }
    n = PySequence_Size(seq);
    if (n <= 0) {
        Py_DECREF(seq);
        return n < 0 ? NULL : PyLong_FromLong(0);
    }
    msgs = (struct ipc_msg *)PyMem_Malloc((size_t)n * sizeof(*msgs));
    if (msgs == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n; i++) {
        PyObject *m = PyTuple_GetItem(seq, i);
        void *data;
        size_t len;

        if (m == NULL)
            goto done;
        if (PyBytes_CheckExact(m)) {
            char *buf;
            Py_ssize_t blen;
            if (PyBytes_AsStringAndSize(m, &buf, &blen) < 0)
                goto done;
            msgs[i].data = buf;
            msgs[i].len = (size_t)blen;
            continue;
        }
#if KIWI_PY_HAVE_UTF8_CACHE
        if (PyUnicode_CheckExact(m) && PyUnicode_IS_ASCII(m)) {
            Py_ssize_t slen;
            const char *s = PyUnicode_AsUTF8AndSize(m, &slen);
            if (s == NULL)
                goto done;
            msgs[i].data = s;
            msgs[i].len = (size_t)slen;
            continue;
        }
#endif
        if (extra == NULL) {
            /* Zeroed: releasing an entry never taken is harmless. */
            extra = (kiwi_py_payload *)PyMem_Calloc((size_t)n, sizeof(*extra));
            if (extra == NULL) {
                PyErr_NoMemory();
                goto done;
            }
        }
        if (kiwi_py_payload_get(m, &extra[i], &data, &len) < 0)
            goto done;
        msgs[i].data = data;
        msgs[i].len = len;
    }
    if ((size_t)n > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many messages for one call");
        goto done;
    }

    Py_BEGIN_ALLOW_THREADS rc =
        ipc_send_many(handle, msgs, (size_t)n, timeout_ms);
    Py_END_ALLOW_THREADS

        if (PyErr_Occurred())
    {
        /* The hook's exception (KeyboardInterrupt) wins, as for send; it
         * says how many messages went before it. */
        PyObject *type, *value, *tb, *count;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        count = PyLong_FromLong(rc > 0 ? rc : 0);
        if (count == NULL || value == NULL ||
            PyObject_SetAttrString(value, "committed", count) < 0)
            PyErr_Clear();
        Py_XDECREF(count);
        PyErr_Restore(type, value, tb);
    }
    else if (rc < 0)
    {
        kiwi_py_raise_status(rc);
    }
    else
    {
        result = PyLong_FromLong(rc);
    }

done:
    if (extra != NULL) {
        for (i = 0; i < n; i++)
            kiwi_py_payload_release(&extra[i]);
        PyMem_Free(extra);
    }
    PyMem_Free(msgs);
    Py_DECREF(seq);
    return result;
}

/*
 * Python's recv_many(handle, as_text, max_count, timeout_ms) -> list: the
 * first message as recv does (waiting at most timeout_ms, the GIL
 * released), then every whole message already inside the handle
 * (ipc_recv_held(): no system call, no wait; the GIL kept), up to
 * max_count in all (max_count < 1: no limit). Whatever stops the draining
 * (nothing more held, an error) is left to the next call.
 */
PyObject *kiwi_py_recv_many(int handle, PyObject *as_text, int max_count,
                            int timeout_ms)
{
    PyObject *first, *list;
    int text, count = 1;

    text = PyObject_IsTrue(as_text);
    if (text < 0)
        return NULL;
    first = kiwi_py_recv_timeout(handle, as_text, timeout_ms);
    if (first == NULL)
        return NULL;
    list = PyList_New(1);
    if (list == NULL) {
        /* The message is lost with the exception: as for a failed str. */
        Py_DECREF(first);
        return NULL;
    }
    PyList_SetItem(list, 0, first);
    while (max_count < 1 || count < max_count) {
        PyObject *m = NULL;
        int rc = kiwi_py_take_held(handle, text, &m);

        if (rc == 0 || rc == -1) {
            /* None held, or none taken (no memory, a broken stream): it
             * is left to the next call, which reports what it must. */
            if (rc < 0)
                PyErr_Clear();
            break;
        }
        if (rc < 0 || PyList_Append(list, m) < 0) {
            Py_XDECREF(m);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(m);
        count++;
    }
    return list;
}
