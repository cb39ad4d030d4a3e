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
 *   those names but kiwi_py_recv*() (bindings/python/kiwi_ipc_py.c), built
 *   on ipc_recv_alloc(), which asks that file for the memory of each message as soon as its header is
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
 *   (the abi3 wheel, KIWI_IPC_PYTHON_ABI3; the tests build one too). The
 *   buffer protocol is in the stable ABI from 3.11: the abi3 module checks
 *   the interpreter's version at init and uses it from 3.11 on; before
 *   that a send from anything but bytes copies the payload once (bytes
 *   still go in place). str's UTF-8 cache and PyUnicode_New() are never in
 *   it: a str is sent from a UTF-8 copy, and a large str is received into
 *   a bytes object and decoded from it, so its receiver briefly holds the
 *   message twice. Same results and errors.
 */

%begin %{
#define PY_SSIZE_T_CLEAN
%}

/* The C behind these typemaps is bindings/python/kiwi_ipc_py.c, compiled
 * with the project's warnings (the generated wrapper is not). */
%{
#include "kiwi_ipc_py.h"
%}

%init %{
    kiwi_py_init();
    /* kiwi_ipc.Pipe's C base (kiwi_ipc_py_pipe.c). */
    if (kiwi_py_pipe_add_type(d) < 0)
#if SWIG_VERSION >= 0x040300
        return -1; /* multi-phase init: SWIG_mod_exec */
#else
        return NULL;
#endif
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
 * as_text, timeout_ms) are kiwi_py_recv*() (kiwi_ipc_py.c), on
 * ipc_recv_alloc(); the C functions of those names are not wrapped (see
 * kiwi_ipc.i). %nothread: they release the GIL themselves, and must not do
 * it twice.
 */
%nothread kiwi_py_recv;
%nothread kiwi_py_recv_timeout;
%rename(ipc_recv) kiwi_py_recv;
%rename(ipc_recv_timeout) kiwi_py_recv_timeout;
PyObject *kiwi_py_recv(int handle, PyObject *as_text);
PyObject *kiwi_py_recv_timeout(int handle, PyObject *as_text, int timeout_ms);

/* timeout_ms(seconds) -> int: the seconds -> milliseconds rule of both
 * bindings (kiwi_bind_timeout_ms()), for kiwi_ipc._pipe. */
%nothread kiwi_py_timeout_ms;
%rename(timeout_ms) kiwi_py_timeout_ms;
PyObject *kiwi_py_timeout_ms(PyObject *seconds);

/* ---- who is on the other end ---------------------------------------------
 * ipc_get_peer(handle) -> (pid, uid, gid), None for what the OS did not
 * give; kiwi_ipc._pipe makes it Pipe.peer's named tuple. */
%{
static PyObject *kiwi_py_peer_field(int known, int bit, long long value)
{
    if (known & bit)
        return PyLong_FromLongLong(value);
    Py_INCREF(Py_None);
    return Py_None;
}
%}
%nothread ipc_get_peer;
%nothread ipc_check_path;
%typemap(in, numinputs=0) struct ipc_peer *peer (struct ipc_peer tmp) {
    $1 = &tmp;
}
%typemap(argout) struct ipc_peer *peer {
    PyObject *peer = Py_BuildValue(
        "(NNN)", kiwi_py_peer_field($1->known, IPC_PEER_PID, $1->pid),
        kiwi_py_peer_field($1->known, IPC_PEER_UID, $1->uid),
        kiwi_py_peer_field($1->known, IPC_PEER_GID, $1->gid));

    Py_DECREF($result);
    $result = peer;
    if (peer == NULL)
        SWIG_fail;
}
/*
 * Many pipes at once and recv_into (kiwi_ipc_py.c): poll(items,
 * timeout_ms) takes a sequence of (handle, events) pairs and returns the
 * list of their revents (ipc_poll()); recv_into(handle, buffer,
 * timeout_ms) receives one message into a writable buffer of the
 * caller's and returns its length. Both release the GIL themselves.
 */
%nothread kiwi_py_poll;
%nothread kiwi_py_recv_into;
/* Never waits (at most a poll(2) with timeout 0): keeping the GIL is
 * cheaper, and a drain loop calls it once per message. */
%nothread ipc_pending;
%rename(poll) kiwi_py_poll;
%rename(recv_into) kiwi_py_recv_into;
PyObject *kiwi_py_poll(PyObject *items, int timeout_ms);
PyObject *kiwi_py_recv_into(int handle, PyObject *buffer, int timeout_ms);

/*
 * Batches (kiwi_ipc_py.c): send_many(handle, messages, timeout_ms) -> the
 * count committed (ipc_send_many()); recv_many(handle, as_text,
 * max_count, timeout_ms) -> a list: the first message waited for, then
 * those already held (ipc_recv_held()). Both release the GIL themselves.
 */
%nothread kiwi_py_send_many;
%nothread kiwi_py_recv_many;
%rename(send_many) kiwi_py_send_many;
%rename(recv_many) kiwi_py_recv_many;
PyObject *kiwi_py_send_many(int handle, PyObject *messages, int timeout_ms);
PyObject *kiwi_py_recv_many(int handle, PyObject *as_text, int max_count,
                            int timeout_ms);
