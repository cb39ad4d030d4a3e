/*
 * kiwi_ipc_py.h - the hand-written C of the Python binding (kiwi_ipc_py.c),
 * as bindings/python/python_typemaps.i calls it from the generated wrapper.
 *
 * Both this file's .c and the wrapper are compiled with the same Python
 * headers and the same Py_LIMITED_API (bindings/python/python.cmake), so the
 * payload struct below is the same on both sides. Not API.
 */
#ifndef KIWI_IPC_PY_H
#define KIWI_IPC_PY_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>

#include <stddef.h>

/*
 * The buffer protocol (Py_buffer, PyObject_GetBuffer) is in the limited API
 * from Python 3.11 only, and PyUnicode_AsUTF8AndSize from 3.10. The abi3
 * module (Py_LIMITED_API 3.9) still uses the buffer protocol when it runs
 * on 3.11 or later, a run-time check (kiwi_ipc_py.c): it declares Py_buffer
 * itself, whose layout is part of the stable ABI from 3.11 and has not
 * changed since 3.3.
 */
#if !defined(Py_LIMITED_API) || Py_LIMITED_API + 0 >= 0x030B0000
#define KIWI_PY_BUFFER_DECLARED 1
typedef Py_buffer kiwi_py_buffer;
#else
#define KIWI_PY_BUFFER_DECLARED 0
typedef struct kiwi_py_buffer {
    void *buf;
    PyObject *obj;
    Py_ssize_t len;
    Py_ssize_t itemsize;
    int readonly;
    int ndim;
    char *format;
    Py_ssize_t *shape;
    Py_ssize_t *strides;
    Py_ssize_t *suboffsets;
    void *internal;
} kiwi_py_buffer;
#endif
/* str's internals (PyUnicode_New, PyUnicode_1BYTE_DATA): never limited. */
#if !defined(Py_LIMITED_API)
#define KIWI_PY_HAVE_UTF8_CACHE 1
#define KIWI_PY_HAVE_UNICODE_NEW 1
#else
#define KIWI_PY_HAVE_UTF8_CACHE 0
#define KIWI_PY_HAVE_UNICODE_NEW 0
#endif

/*
 * A payload to send, borrowed from a Python object for the length of one
 * call: the object's own memory when it can be (a contiguous buffer, an
 * ASCII str, or under the limited API a bytes object), else a bytes copy.
 */
typedef struct kiwi_py_payload {
    PyObject *owned; /* the bytes copy, or NULL */
    kiwi_py_buffer view;
    int have_view;
} kiwi_py_payload;
/* Zeroed, so that releasing a payload never taken is harmless (SWIG's fail
 * path frees every argument, also those it has not converted yet). */
#define KIWI_PY_PAYLOAD_INIT                                                   \
    {                                                                          \
        0                                                                      \
    }

/* Point *data, *len at obj's bytes (str: UTF-8, strict). 0, or -1 with an
 * exception set. */
int kiwi_py_payload_get(PyObject *obj, kiwi_py_payload *p, void **data,
                        size_t *len);
void kiwi_py_payload_release(kiwi_py_payload *p);

/* Raise the package's exception for `status` with `message` and errno. */
void kiwi_py_raise(int status, const char *message, int os_errno);
/* Raise the exception for a call that just returned `status` on this
 * thread, with ipc_last_error()'s message. */
void kiwi_py_raise_status(int status);
/* The same, with a message that names library call `call` naming `as`. */
void kiwi_py_raise_status_as(int status, const char *call, const char *as);

/* Python's ipc_recv(handle, as_text) and ipc_recv_timeout(handle, as_text,
 * timeout_ms): one message as str or bytes, or NULL with an exception set.
 * They release the GIL themselves (%nothread in the typemaps). */
PyObject *kiwi_py_recv(int handle, PyObject *as_text);
PyObject *kiwi_py_recv_timeout(int handle, PyObject *as_text, int timeout_ms);

/* Python's timeout_ms(seconds): see kiwi_bind_timeout_ms(). */
PyObject *kiwi_py_timeout_ms(PyObject *seconds);
/* The same rule into *ms: 0, or -1 with ValueError (negative, NaN) or
 * TypeError set. */
int kiwi_py_timeout_arg(PyObject *seconds, int *ms);

/* The hot paths under Pipe's methods (kiwi_ipc_py_pipe.c), which decide
 * themselves when to release the GIL (see kiwi_ipc_py.c). Send one message
 * (str or bytes-like): 0, or -1 with an exception set. Receive one as str
 * (text) or bytes: the message, or NULL with an exception set. */
int kiwi_py_send_message(int handle, PyObject *message, int timeout_ms);
PyObject *kiwi_py_recv_message(int handle, int text, int timeout_ms);

/* Adds the type kiwi_ipc._pipe.Pipe derives from, PipeCore, to the
 * module's dict: 0, or -1 with an exception set. */
int kiwi_py_pipe_add_type(PyObject *dict);

/* Module init: the main thread's ident and the interrupt hook. */
void kiwi_py_init(void);

/* Many pipes at once: Python's poll(items, timeout_ms) -> [revents] and
 * recv_into(handle, buffer, timeout_ms) -> length (kiwi_ipc_py.c). */
PyObject *kiwi_py_poll(PyObject *items, int timeout_ms);
PyObject *kiwi_py_recv_into(int handle, PyObject *buffer, int timeout_ms);

/* Batches (kiwi_ipc_py.c): send_many(handle, messages, timeout_ms) ->
 * count, and recv_many(handle, as_text, max_count, timeout_ms) -> list.
 * They release the GIL themselves. */
PyObject *kiwi_py_send_many(int handle, PyObject *messages, int timeout_ms);
PyObject *kiwi_py_recv_many(int handle, PyObject *as_text, int max_count,
                            int timeout_ms);

#endif /* KIWI_IPC_PY_H */
