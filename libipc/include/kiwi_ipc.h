/*
 * kiwi_ipc.h - the public API of kiwi-ipc.
 *
 * kiwi-ipc speaks the wire protocol of the Kiwi language's `ipc` package
 * (named pipes carrying frames of a 4-byte big-endian signed length followed
 * by that many bytes of UTF-8), so that any process can be either end of a
 * Kiwi pipe. On Linux and macOS a pipe is a Unix domain stream socket at the
 * path .NET uses: see ipc_path().
 *
 * This header is the whole API. Anything not declared here is internal and
 * may change at any time.
 *
 * Conventions used by every function below:
 * - A call returns >= 0 on success (a handle is > 0) and a negative IPC_E*
 *   status on failure. ipc_strerror() describes a status, ipc_errname()
 *   gives its short stable name, and ipc_last_error() gives this thread's
 *   detailed message for its last failure (which call, which name, which
 *   path, which OS error).
 * - Handles are process-wide integers from a counter starting at 1 and are
 *   never reused, so a stale handle can never reach somebody else's pipe.
 *   A process can hold several copies of the library (the Python and Lua
 *   bindings each link their own): on Linux and Windows each further copy
 *   counts in a range of its own (from 2^30), so a handle of one copy is
 *   never another copy's, and using it there fails with IPC_EBADHANDLE
 *   saying so. (macOS does not tell copies apart yet: there every copy
 *   counts from 1.) Each copy claims its number with an OS object it keeps
 *   open for the process's life (Linux: an abstract socket; Windows: a
 *   named mutex).
 * - Every call is thread-safe. One thread may send while another receives
 *   on the same handle; concurrent sends never interleave their frames.
 * - Timeouts are in milliseconds; IPC_FOREVER waits without limit and 0
 *   means "do not wait" (one attempt).
 * - Every file descriptor is close-on-exec, and no call ever raises SIGPIPE.
 * - fork() (POSIX): a child inherits every handle, sharing its socket with
 *   the parent as it would share any socket. Use each pipe in one process
 *   only, and close it in the other (or let that one exit). What the child
 *   does never breaks the parent's pipes:
 *   - only the process that created a listener (or a pipe waiting in
 *     ipc_create()) removes its socket file: a child that closes an
 *     inherited listener, or exits and is cleaned up (Python finalizing
 *     its objects), leaves the parent's name alive, as Python's sockets
 *     and multiprocessing do;
 *   - only the process that committed a message writes its kept rest
 *     (ipc_send_timeout()): in any other, ipc_send*() and ipc_flush() on
 *     that pipe fail with IPC_EINVAL, doing nothing, until the pipe is
 *     closed there (closing writes nothing); ipc_recv*() works, but takes
 *     replies meant for whoever else reads;
 *   - every copy of the library keeps its own handle range in the child,
 *     and a copy first loaded in the child gets a range of its own.
 *   A child that sends or receives on a pipe its parent also uses gets the
 *   interleaving any shared socket gets: kiwi-ipc cannot lock across
 *   processes.
 */
#ifndef KIWI_IPC_H
#define KIWI_IPC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version lives here once: CMake and ipc_version() both read it. */
#define KIWI_IPC_VERSION_MAJOR 0
#define KIWI_IPC_VERSION_MINOR 1
#define KIWI_IPC_VERSION_PATCH 0
#define KIWI_IPC_VERSION "0.1.0"

/* Symbols are hidden by default; only what carries IPC_API is exported. */
#if defined(KIWI_IPC_STATIC)
#define IPC_API
#elif defined(_WIN32) && defined(KIWI_IPC_BUILDING)
#define IPC_API __declspec(dllexport)
#elif defined(_WIN32)
#define IPC_API __declspec(dllimport)
#elif defined(__GNUC__) || defined(__clang__)
#define IPC_API __attribute__((visibility("default")))
#else
#define IPC_API
#endif

/* Wait without limit. */
#define IPC_FOREVER (-1)

/* The largest payload the protocol can carry: the length is a signed
 * 32-bit integer. */
#define IPC_MAX_MESSAGE 0x7fffffff

/* A buffer of this many bytes always holds what ipc_path() writes (107
 * bytes of path and its NUL on Linux; 103 and NUL on macOS; on Windows a
 * pipe path of up to 256 UTF-16 characters, at most 768 bytes in UTF-8). */
#ifdef _WIN32
#define IPC_PATH_MAX 1024
#else
#define IPC_PATH_MAX 108
#endif

/*
 * The status list. X(name, value, short name, description)
 *
 * Values are part of the ABI: they are never renumbered or reused. The short
 * names are stable too; the Lua binding returns them as error codes.
 */
#define IPC_STATUS_MAP(X)                                                      \
    X(IPC_OK, 0, "ok", "success")                                              \
    X(IPC_EINVAL, -1, "invalid", "invalid argument")                           \
    X(IPC_EBADHANDLE, -2, "bad_handle", "unknown or closed handle")            \
    X(IPC_ETIMEDOUT, -3, "timeout", "timed out")                               \
    X(IPC_ECLOSED, -4, "closed", "pipe closed")                                \
    X(IPC_EPROTO, -5, "protocol", "protocol error")                            \
    X(IPC_EINUSE, -6, "in_use", "name in use")                                 \
    X(IPC_ENOSERVER, -7, "no_server", "no server listening")                   \
    X(IPC_ETOOBIG, -8, "too_big", "message too big")                           \
    X(IPC_ESYSTEM, -9, "system", "operating system error")                     \
    X(IPC_ENOMEM, -10, "no_memory", "out of memory")                           \
    X(IPC_EINTR, -11, "interrupted", "interrupted")                            \
    X(IPC_EPERM, -12, "permission", "peer or path not trusted")

#define IPC__STATUS_ENUM(name, value, key, text) name = value,
typedef enum ipc_status { IPC_STATUS_MAP(IPC__STATUS_ENUM) } ipc_status;
#undef IPC__STATUS_ENUM

/* ---------------------------------------------------------------------- */
/* The five Kiwi calls                                                     */
/* ---------------------------------------------------------------------- */

/*
 * ipc_create - be the server of pipe `name` for exactly one client.
 *
 * Binds a socket at ipc_path(name) (mode 0600), listens, blocks until one
 * client connects, then stops listening and removes the socket file, so a
 * second client waits in ipc_connect() for the next ipc_create() instead of
 * hanging in a backlog nobody will accept. Same as
 * ipc_create_timeout(name, IPC_FOREVER).
 *
 * An existing socket file that no open socket is bound to (left by a
 * crashed server) is reclaimed. A live server at the path is left alone and
 * refused, and so is a socket still bound there that does not listen yet
 * (a server between bind() and listen(), as .NET's constructor is for a
 * moment); on Linux this is decided from the kernel's socket table, without
 * connecting to that server (a waiting Kiwi server would take the probe for
 * its one client). Anything at the path that is not a socket is never
 * removed.
 *
 * Creates of paths in one directory take turns from that check to listen(),
 * so that two of them cannot both judge one stale socket stale and the
 * second remove the first's new socket: each holds an flock() on the
 * directory itself for those microseconds. No other file is made, opened
 * for writing or removed (a "<path>.lock" of yours is yours, and the pipe
 * named "X.lock" is just another pipe); a creator that dies loses its lock
 * with its life. A create that waits over 5 s for the lock returns
 * IPC_EINUSE naming the directory. Where the directory cannot be locked
 * (not readable, or a file system without flock) creates go on unordered,
 * as .NET's always do.
 *
 * Windows: a named pipe of one instance (as Kiwi's .NET server makes),
 * owner-only, refusing remote clients. It exists while its handle is open,
 * so while the pipe returned is open the name stays taken: another
 * ipc_create() or ipc_listen() of it is IPC_EINUSE, and clients wait until
 * it is closed and the name is served again. Nothing stale is ever left.
 *
 * Blocks. Returns a pipe handle (> 0), or:
 *   IPC_EINVAL    name is not a valid pipe name (see ipc_path())
 *   IPC_EINUSE    a server is listening at the path, or something that is
 *                 not a socket is there
 *   IPC_ESYSTEM   socket/bind/listen/accept failed (ipc_last_error() says)
 *   IPC_ENOMEM    out of memory
 *   IPC_EINTR     the interrupt hook asked to stop (ipc_set_interrupt_hook)
 */
IPC_API int ipc_create(const char *name);

/*
 * ipc_connect - connect to the server of pipe `name`.
 *
 * Waits, without limit, while there is no server yet: while the path is
 * missing or refuses connections it retries with a short backoff (first
 * retry after about 1 ms, then doubling up to 32 ms). That is what lets a
 * server spawn its client before calling ipc_create(). Other errors (no
 * permission, the path is not a socket) fail at once. Same as
 * ipc_connect_timeout(name, IPC_FOREVER). Windows: "no server yet" is a
 * missing pipe or one whose instances are all taken (ERROR_PIPE_BUSY).
 *
 * Blocks. Returns a pipe handle (> 0), or IPC_EINVAL, IPC_ESYSTEM,
 * IPC_ENOMEM, IPC_EINTR as for ipc_create().
 */
IPC_API int ipc_connect(const char *name);

/*
 * ipc_send - send `len` bytes at `data` as one message.
 *
 * Writes one whole frame (length and payload in one system call where the
 * kernel takes it all), looping over partial writes. The bytes are sent as
 * they are: Kiwi expects UTF-8 but the protocol is binary-safe. `data` may
 * be NULL when `len` is 0. Same as ipc_send_timeout(h, data, len,
 * IPC_FOREVER).
 *
 * Blocks while the peer's buffer is full. The caller keeps ownership of
 * `data`; it is not used after the call returns. Returns 0, or:
 *   IPC_EBADHANDLE  unknown handle, or a listener
 *   IPC_EINVAL      data is NULL and len is not 0; or, in a forked child,
 *                   the rest of a message its parent committed is still
 *                   to be written (see fork() above)
 *   IPC_ETOOBIG     len > IPC_MAX_MESSAGE
 *   IPC_ECLOSED     the peer has gone, or the handle was closed meanwhile
 *   IPC_EPROTO      the handle is broken by an earlier protocol error
 *   IPC_ESYSTEM     the write failed
 *   IPC_ETIMEDOUT, IPC_EINTR  see ipc_send_timeout()
 */
IPC_API int ipc_send(int handle, const void *data, size_t len);

/*
 * ipc_recv - receive one whole message.
 *
 * Blocks until a complete frame has arrived, whatever way the peer wrote
 * it. On success *data points to a buffer holding the *len payload bytes
 * followed by one NUL byte (so text can be used as a C string); the caller
 * owns it and frees it with ipc_free(). On failure *data is set to NULL and
 * *len to 0. Same as ipc_recv_timeout(h, data, len, IPC_FOREVER).
 *
 * Returns 0, or:
 *   IPC_EBADHANDLE  unknown handle, or a listener
 *   IPC_EINVAL      data or len is NULL
 *   IPC_ECLOSED     the peer closed the pipe at a message boundary (a clean
 *                   end), or the handle was closed by another thread
 *   IPC_EPROTO      a negative length, or the peer closed in the middle of
 *                   a message; the handle is broken from then on and every
 *                   later send and recv on it returns IPC_EPROTO
 *   IPC_ETOOBIG     the message is longer than ipc_set_max_message()
 *                   allows; it is skipped, and the next call returns the
 *                   message after it
 *   IPC_ENOMEM      no memory for the message
 *   IPC_ESYSTEM     the read failed
 *   IPC_ETIMEDOUT, IPC_EINTR  see ipc_recv_timeout()
 */
IPC_API int ipc_recv(int handle, void **data, size_t *len);

/*
 * ipc_close - close a pipe or a listener.
 *
 * Releases the handle at once; the socket itself is closed when no other
 * thread is using it any more. The rest of a committed message whose send
 * ran out of time (ipc_send_timeout()) is written as far as the peer takes
 * it without waiting; use ipc_flush() first to wait for it. Another thread
 * blocked in ipc_recv(), ipc_send() or ipc_accept() on the handle wakes up and
 * gets IPC_ECLOSED. Closing a listener removes its socket file if the file at
 * the path is still the socket it bound.
 *
 * Does not block. Returns 0, or IPC_EBADHANDLE for a handle that is unknown
 * or already closed, which is otherwise a harmless no-op.
 */
IPC_API int ipc_close(int handle);

/* ---------------------------------------------------------------------- */
/* Beyond Kiwi: timeouts, many clients, introspection                      */
/* ---------------------------------------------------------------------- */

/*
 * ipc_create_timeout - ipc_create() waiting at most `timeout_ms` for the
 * client. On IPC_ETIMEDOUT the socket is closed and its file removed, as if
 * ipc_create() had never been called.
 */
IPC_API int ipc_create_timeout(const char *name, int timeout_ms);

/*
 * ipc_connect_timeout - ipc_connect() waiting at most `timeout_ms` for a
 * server. With 0 it makes exactly one attempt. Returns IPC_ENOSERVER when
 * no server appeared in time.
 */
IPC_API int ipc_connect_timeout(const char *name, int timeout_ms);

/*
 * ipc_send_timeout - ipc_send() waiting at most `timeout_ms` for the peer
 * to make room.
 *
 * A send never splices, repeats or loses a message, whatever stops it:
 * - IPC_ETIMEDOUT means that nothing of this message was sent: the pipe is
 *   as it was, and the caller may send it again, or another message, or
 *   nothing;
 * - 0 means the message is committed: it was written whole, or the time
 *   ran out after part of its frame was written. The pipe then keeps a
 *   copy of the unsent rest (at most that message's size, freed once
 *   written) and writes it before anything else it sends: at the start of
 *   the next ipc_send*(), of the next ipc_recv*() (so the peer gets a
 *   request before we wait for its reply), in ipc_flush(), and, as far as
 *   the peer takes it without waiting, in ipc_close(). The message arrives
 *   whole; nobody sends it again.
 * - IPC_EINTR means the interrupt hook asked to stop. If nothing of the
 *   frame had been written, nothing was sent; if part had, the message is
 *   committed all the same, as above, and ipc_last_error() says so.
 * A later call that cannot finish a kept rest within its own timeout
 * returns IPC_ETIMEDOUT (or IPC_EINTR) having done nothing of its own.
 */
IPC_API int ipc_send_timeout(int handle, const void *data, size_t len,
                             int timeout_ms);

/* One message of a batch for ipc_send_many(): `len` bytes at `data` (data
 * may be NULL when len is 0). */
struct ipc_msg {
    const void *data;
    size_t len;
};

/*
 * ipc_send_many - send `count` messages, in order, waiting at most
 * `timeout_ms` for the peer to make room.
 *
 * Each message goes out as its own frame, exactly as if sent with
 * ipc_send_timeout() one after the other, but the frames are written
 * together: as few system calls as the kernel takes (POSIX: one writev of
 * up to 64 messages' frames at a time; Windows: the frames copied into
 * one buffer and written with one WriteFile). Concurrent sends never land
 * between the frames of one call. Every message is checked before
 * anything is sent: one over IPC_MAX_MESSAGE (IPC_ETOOBIG), or with NULL
 * data and a length (IPC_EINVAL), refuses the whole call. `msgs` may be
 * NULL when `count` is 0 (returns 0 at once); count may be at most
 * INT_MAX.
 *
 * Returns how many messages were committed, from the first: `count` when
 * all were; fewer when the time ran out (or the interrupt hook asked to
 * stop, or the peer went away) part-way, and then ipc_last_error() says
 * why. The rules of ipc_send_timeout() hold per message: the messages
 * counted were written whole, except perhaps the last one counted, whose
 * frame was cut by the timeout: that one is committed too, its rest is
 * kept and written before anything else. The messages after it were not
 * sent at all, and the caller may send them again. Nothing is ever
 * spliced, repeated or lost. When no message was committed the call
 * returns a status instead, as ipc_send_timeout() would: IPC_ETIMEDOUT or
 * IPC_EINTR (nothing sent), IPC_EBADHANDLE, IPC_EINVAL, IPC_ETOOBIG,
 * IPC_ECLOSED, IPC_EPROTO, IPC_ESYSTEM, IPC_ENOMEM.
 */
IPC_API int ipc_send_many(int handle, const struct ipc_msg *msgs, size_t count,
                          int timeout_ms);

/*
 * ipc_flush - wait at most `timeout_ms` until the rest of a committed
 * message whose send ran out of time (ipc_send_timeout()) is written.
 *
 * Returns 0 at once when nothing is pending, else when the rest is out;
 * IPC_ETIMEDOUT or IPC_EINTR (the rest stays kept), IPC_ECLOSED (the peer
 * has gone: the rest is dropped), IPC_EBADHANDLE, IPC_ESYSTEM, IPC_EINVAL
 * (in a process other than the one that committed it: see fork() above).
 * Call it before ipc_close() to be sure that a message the peer has not yet
 * taken arrives whole. Thread-safe.
 */
IPC_API int ipc_flush(int handle, int timeout_ms);

/*
 * ipc_recv_timeout - ipc_recv() waiting at most `timeout_ms` for the
 * message to be complete.
 *
 * Returns IPC_ETIMEDOUT (or IPC_EINTR) when the time ran out (or the
 * interrupt hook asked to stop). Bytes of a frame that had arrived stay
 * with the handle: the next recv continues the same frame, so nothing is
 * lost.
 */
IPC_API int ipc_recv_timeout(int handle, void **data, size_t *len,
                             int timeout_ms);

/*
 * ipc_alloc_fn - supplies the memory for one message received by
 * ipc_recv_alloc(): returns a buffer of at least `len` bytes (not NULL, even
 * for len 0), or NULL when there is no memory. `ctx` is ipc_recv_alloc()'s.
 *
 * It runs on the receiving thread, inside the receive, with the pipe's
 * receive lock held: it must not receive on the same pipe.
 */
typedef void *(*ipc_alloc_fn)(void *ctx, size_t len);

/*
 * ipc_recv_alloc - ipc_recv_timeout() into memory of the caller's, so that
 * a binding can receive straight into its own string object and a C program
 * into its own buffers: no second buffer, no copy.
 *
 * As soon as the header of the next message has arrived, calls
 * alloc(ctx, length) once and writes the payload there: exactly `length`
 * bytes, no NUL after them. On success stores the length in *len and
 * returns 0; the buffer is the caller's, as it was all along. The library
 * never touches it after the call returns. A message of which an earlier
 * call (of either kind) received a part before it ended is the exception:
 * its bytes stay in the pipe's own buffer until it is complete, and only
 * then is alloc called, once, and the payload copied there. So a loop of
 * calls with short timeouts costs one copy of the message, not one copy
 * of the part received so far per call.
 *
 * Errors, statuses and the rules for timeouts are ipc_recv_timeout()'s, and
 * nothing is lost on any of them:
 * - a message over ipc_set_max_message() is skipped without calling alloc;
 * - when alloc returns NULL the call returns IPC_ENOMEM, and the message
 *   waits for the next receive (which calls alloc again);
 * - when the call ends in the middle of a message (IPC_ETIMEDOUT,
 *   IPC_EINTR), the bytes already written to the buffer are copied back
 *   into the pipe: the next receive, of either kind, continues the message
 *   (asking for memory when it is complete, see above), and the caller may
 *   free the buffer. A failed call's buffer is always the caller's to free
 *   (keep it in ctx).
 *
 * Memory: unlike ipc_recv(), the whole length is asked for before the
 * bytes come. A fresh malloc() of a large block is address space that the
 * kernel backs only as bytes are written, so a bogus header costs little
 * real memory; an allocator that touches its memory does pay at once. Use
 * ipc_set_max_message() to bound what a peer may announce. A message
 * received over several calls is held twice for a moment at its end: in
 * the pipe's buffer and in alloc's, while it is copied.
 *
 * Returns 0, or IPC_EINVAL (alloc or len is NULL) and the statuses of
 * ipc_recv().
 */
IPC_API int ipc_recv_alloc(int handle, ipc_alloc_fn alloc, void *ctx,
                           size_t *len, int timeout_ms);

/*
 * ipc_recv_held - ipc_recv_alloc() of the next message only if it is
 * already whole inside the handle: never waits, never reads from the OS.
 *
 * A receive reads ahead (one read takes what the kernel holds), so after
 * one, further whole messages often wait inside the handle. A loop that
 * drains a burst receives the first with ipc_recv_alloc() (which waits)
 * and the rest with this call, at the cost of a copy each and no system
 * call (the bindings' recv_many).
 *
 * Returns 1 with the message in alloc's buffer and *len set; 0 when no
 * whole message is held: nothing changed, and whatever is there (part of
 * a message, one over ipc_set_max_message()'s limit or too long for the
 * read-ahead buffer, the end of the stream, a broken pipe) is left to the
 * next ipc_recv*(), which waits for it or reports it; also 0 while
 * another thread's receive on the pipe is under way (it takes the
 * messages). Or IPC_EBADHANDLE, IPC_EINVAL (alloc or len is NULL),
 * IPC_ENOMEM (alloc returned NULL: the message is kept). Thread-safe.
 */
IPC_API int ipc_recv_held(int handle, ipc_alloc_fn alloc, void *ctx,
                          size_t *len);

/*
 * ipc_listen - start a server at pipe `name` for any number of clients.
 *
 * Same checks as ipc_create() (a live server is refused, a stale socket is
 * reclaimed, a non-socket is never removed), but keeps listening until the
 * listener is closed. Does not block. Returns a listener handle (> 0), or
 * IPC_EINVAL, IPC_EINUSE, IPC_ESYSTEM, IPC_ENOMEM.
 */
IPC_API int ipc_listen(const char *name);

/*
 * ipc_accept - wait at most `timeout_ms` for the next client of a listener.
 *
 * Blocks. Returns a new pipe handle (> 0), or:
 *   IPC_EBADHANDLE  unknown handle, or not a listener
 *   IPC_ETIMEDOUT   no client came in time
 *   IPC_ECLOSED     the listener was closed by another thread
 *   IPC_ESYSTEM, IPC_ENOMEM, IPC_EINTR
 */
IPC_API int ipc_accept(int listener, int timeout_ms);

/*
 * ipc_free - free a buffer returned by ipc_recv(). NULL is a harmless
 * no-op.
 */
IPC_API void ipc_free(void *data);

/*
 * ipc_path - the socket path that pipe `name` maps to, exactly as .NET
 * (and so Kiwi) maps it:
 * - a name starting with '/' is the path itself;
 * - any other name becomes TMP + "CoreFxPipe_" + name, where TMP is $TMPDIR
 *   when it is set and not empty (with '/' appended if missing), else
 *   "/tmp/".
 * Refused with IPC_EINVAL: an empty name; a name containing '/' that is not
 * absolute; an absolute name ending in '/'; "anonymous" in any letter case
 * (reserved by .NET); a path that with its NUL exceeds what the socket
 * address holds (108 bytes on Linux, 104 on macOS: paths are never cut
 * short). A name cannot contain NUL: it is a C string.
 *
 * Writes the NUL-terminated path to `buf` (cap bytes; IPC_PATH_MAX always
 * suffices) and returns its length. If it does not fit, returns IPC_EINVAL
 * and writes nothing. Does not block.
 *
 * Windows: the path is .NET's Path.GetFullPath(@"\\.\pipe\" + name), in
 * UTF-8: '/' becomes '\', "." and ".." segments are resolved, trailing dots
 * and spaces are dropped ("a/b" is \\.\pipe\a\b). Refused besides: a
 * name that normalizes to \\.\pipe\anonymous, to nothing, or out of
 * \\.\pipe\ ("..\COM1"); a path over 256 UTF-16 characters; a name that
 * is not valid UTF-8.
 */
IPC_API int ipc_path(const char *name, char *buf, size_t cap);

/*
 * ipc_fileno - the socket descriptor behind a handle. It stays owned by the
 * handle; reading or writing it directly breaks the framing.
 *
 * What its readiness means, exactly: the descriptor is readable when bytes
 * (or the end of the stream) sit in the kernel, writable when the kernel
 * takes bytes, and a listener's is readable when a client waits to be
 * accepted. It does not see what the library holds: a recv reads up to
 * 64 KiB ahead and hands out one frame, so after a recv further whole
 * frames can wait inside the handle while poll() on the descriptor says
 * "nothing" (and a descriptor can be readable with only part of a frame
 * there). Before waiting on it, drain the handle while ipc_pending() says
 * 1, or wait with ipc_poll(), which counts both. An event loop that
 * watches the descriptor (Python's asyncio, LuaSocket's select with
 * dirty()) follows exactly that rule.
 *
 * Returns the descriptor (>= 0), or IPC_EBADHANDLE.
 *
 * Windows: a named pipe has no descriptor that poll() or select() could
 * watch (select takes sockets only), so ipc_fileno returns IPC_ESYSTEM
 * there, with ipc_last_os_error() == ERROR_NOT_SUPPORTED (50); ipc_poll()
 * and ipc_pending() are the way to wait there.
 */
IPC_API int ipc_fileno(int handle);

/*
 * ipc_name - the pipe name a pipe or listener was made with: the name
 * given to ipc_create(), ipc_connect() or ipc_listen(), and for a pipe
 * from ipc_accept() its listener's. ipc_handle_path - the path that name
 * mapped to when the handle was made (see ipc_path()).
 *
 * Write the NUL-terminated string to `buf` (cap bytes; IPC_PATH_MAX always
 * suffices) and return its length, or IPC_EBADHANDLE, or IPC_EINVAL when it
 * does not fit (nothing is written). Do not block. Every failure message
 * on an open handle names both, as `recv(3) on "demo" (/tmp/...): ...`.
 */
IPC_API int ipc_name(int handle, char *buf, size_t cap);
IPC_API int ipc_handle_path(int handle, char *buf, size_t cap);

/*
 * ipc_set_max_message - refuse received messages longer than `max` bytes
 * on this pipe (default and upper bound: IPC_MAX_MESSAGE). A longer message
 * makes ipc_recv() return IPC_ETOOBIG, is skipped without ever being held in
 * memory, and the pipe stays usable. Returns 0, or IPC_EBADHANDLE, or
 * IPC_EINVAL when max > IPC_MAX_MESSAGE.
 */
IPC_API int ipc_set_max_message(int handle, size_t max);

/*
 * ipc_version - the library's version string, e.g. "0.1.0" (the
 * KIWI_IPC_VERSION it was built with). A string literal.
 */
IPC_API const char *ipc_version(void);

/*
 * ipc_strerror - a one-line description of a status, e.g. "timed out".
 * Always a string literal ("unknown status" for a value not in the list).
 */
IPC_API const char *ipc_strerror(int status);

/*
 * ipc_errname - the short stable name of a status, e.g. "timeout" for
 * IPC_ETIMEDOUT (see IPC_STATUS_MAP). Always a string literal ("unknown" for
 * a value not in the list).
 */
IPC_API const char *ipc_errname(int status);

/*
 * ipc_last_error - this thread's detailed message for its last failed call,
 * e.g. `connect("demo"): no server listening at /tmp/CoreFxPipe_demo (gave
 * up after 0 ms)`, or "" if no call has failed on this thread. Successful
 * calls leave it alone, as errno. Valid until this thread's next failing
 * call; never NULL.
 */
IPC_API const char *ipc_last_error(void);

/*
 * ipc_last_os_error - the errno behind this thread's last failure, or 0 if
 * that failure had no operating-system cause. On Windows it is the
 * GetLastError() code instead (e.g. 5, ERROR_ACCESS_DENIED), and
 * ipc_last_error() ends in FormatMessage's text for it.
 */
IPC_API int ipc_last_os_error(void);

/* ---------------------------------------------------------------------- */
/* Who is on the other end                                                 */
/* ---------------------------------------------------------------------- */

/*
 * The threat. On Linux and macOS a pipe name maps into a directory that
 * every local user may share (/tmp unless $TMPDIR is set), so any local
 * user can take a name first, listen there, and be handed every message a
 * client sends to "demo". Kiwi (and .NET without
 * PipeOptions.CurrentUserOnly) accepts anyone at either end. The calls below
 * tell who the peer is and can refuse a peer, or a path, that another user
 * controls.
 */

/* Bits of ipc_peer.known: which fields the operating system gave. */
#define IPC_PEER_PID 0x1
#define IPC_PEER_UID 0x2
#define IPC_PEER_GID 0x4

/*
 * The process at the other end of a pipe, as the kernel recorded it when
 * the connection was made (Linux: at connect() or listen(); it is not
 * updated if the peer later changes its ids or passes the socket on).
 * A field not set in `known` is -1.
 *   Linux     pid, uid, gid (SO_PEERCRED)
 *   macOS     uid, gid (getpeereid), pid (LOCAL_PEERPID)
 *   other BSD uid, gid (getpeereid)
 *   Windows   pid (GetNamedPipeClientProcessId/ServerProcessId)
 */
struct ipc_peer {
    int known; /* IPC_PEER_* bits */
    long long pid;
    long long uid;
    long long gid;
};

/*
 * ipc_get_peer - who is at the other end of pipe `handle`.
 *
 * Fills *peer (see struct ipc_peer). Does not block. Thread-safe.
 * Returns 0, or IPC_EBADHANDLE (unknown handle, or a listener), IPC_EINVAL
 * (peer is NULL), IPC_ESYSTEM (the OS refused to say).
 */
IPC_API int ipc_get_peer(int handle, struct ipc_peer *peer);

/* Flag of the *_ex calls: accept a peer of any user, through any path, as
 * Kiwi does. Without it the *_ex calls are same-user only. */
#define IPC_ANY_USER 0x1

/*
 * ipc_connect_ex, ipc_create_ex, ipc_listen_ex - ipc_connect_timeout(),
 * ipc_create_timeout() and ipc_listen() with `flags`.
 *
 * Default (flags 0): same user only.
 * - Before connecting or binding, the path is checked (ipc_check_path());
 *   a path that another user could redirect is refused with IPC_EPERM.
 * - A client refuses a server run by another user right after connecting,
 *   before it sends a byte: IPC_EPERM, and ipc_last_error() names the
 *   path, the server's uid and ours. It does not wait for another server.
 * - A server (ipc_create_ex(), and ipc_accept() on a listener from
 *   ipc_listen_ex()) closes a client of another user at once, unread, and
 *   goes on waiting for the next client within the same timeout.
 *   ipc_create_ex() then listens again at the path (it had given the path
 *   back to keep later clients out of its queue); if another server took
 *   the path meanwhile it fails with IPC_EINUSE.
 * "Same user" compares the peer's uid with our effective uid: root is not
 * exempt (a root client refuses a user's server, as .NET's
 * CurrentUserOnly does).
 *
 * With IPC_ANY_USER: exactly ipc_connect_timeout() and friends.
 *
 * Why these defaults. The Kiwi-shaped calls (ipc_create, ipc_connect, their
 * _timeout variants, ipc_listen) accept anyone, because Kiwi does and a
 * Kiwi program run by root may talk to a helper run by a user; changing
 * them would break such pairs. The _ex calls are new, so nobody's working
 * code relies on them accepting strangers; a caller who reaches for them
 * gets the safe answer by passing 0, and the refusal is loud (a distinct
 * status naming both uids and this flag), never a silent misdelivery.
 * The bindings follow the same line: Python's Pipe and Listener and Lua's
 * objects are same-user by default, their Kiwi-shaped create/connect are
 * not (README.md, "Security").
 *
 * Returns what the call without _ex returns, plus IPC_EPERM.
 */
IPC_API int ipc_connect_ex(const char *name, int timeout_ms, int flags);
IPC_API int ipc_create_ex(const char *name, int timeout_ms, int flags);
IPC_API int ipc_listen_ex(const char *name, int flags);

/*
 * ipc_check_path - would the socket path of `name` pass the _ex calls'
 * path check? Does not block and does not connect.
 *
 * Refused (IPC_EPERM, ipc_last_error() names the directory or link and
 * why): a directory on the way to the socket that another user owns (root
 * is trusted), or that others may write to without the sticky bit (group
 * write counts unless the group is our effective gid); a symbolic link on
 * the way that another user (not root) owns. A stock /tmp (root, 1777) and
 * a per-user $TMPDIR (0700) pass; components that do not exist yet end
 * the check. The pipe's own file is not judged here: the peer check is
 * what protects against a squatter's socket.
 *
 * Kiwi-compatible calls never refuse a path: a program that wants to warn
 * calls this (the kiwi-ipc tool does, on stderr).
 *
 * Returns 0 (trusted), IPC_EPERM, IPC_EINVAL (bad name), IPC_ESYSTEM.
 */
IPC_API int ipc_check_path(const char *name);

/* ---------------------------------------------------------------------- */
/* Signals                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * An interrupt hook lets a language runtime run its own signal handling
 * (Python's Ctrl-C) during a blocking call, and decide whether the call
 * goes on. It returns 0 to keep waiting, anything else to make the call
 * return IPC_EINTR.
 */
typedef int (*ipc_interrupt_hook)(void *arg);

/* How often a blocking call consults the hook while it waits, in ms. */
#define IPC_INTERRUPT_SLICE_MS 50

/*
 * ipc_set_interrupt_hook - install (or, with NULL, remove) the process-wide
 * interrupt hook.
 *
 * Without a hook, a signal that interrupts a wait (EINTR) is simply retried
 * and the call goes on. With a hook, every blocking call runs it whenever a
 * wait is interrupted by a signal and, to catch a signal that arrived just
 * before the wait began, at least every IPC_INTERRUPT_SLICE_MS while it
 * waits. The hook runs on the blocked thread, with no lock of the
 * library's own held (the handle table's), but with the blocked call's
 * pipe lock taken: see below for what that means.
 *
 * A call that the hook stops returns IPC_EINTR and loses nothing: a
 * receive keeps the bytes of a partly received frame for the next
 * ipc_recv*(), and a send behaves as on IPC_ETIMEDOUT (ipc_send_timeout()).
 * Set the hook once, before threads start using the library.
 *
 * What the hook may call: the hook itself (a Python signal handler, say)
 * may call any kiwi-ipc function, with one rule, which the library
 * enforces: inside the hook, a send, recv or flush never waits for its
 * pipe's send or receive lock. The call below the hook may hold that lock
 * on this very thread, so waiting would wait for itself; instead such a
 * call fails at once with IPC_EINVAL, and ipc_last_error() says why. A
 * send from the hook on a pipe whose recv is blocked below it (another
 * lock) goes through.
 */
IPC_API void ipc_set_interrupt_hook(ipc_interrupt_hook hook, void *arg);

/* ---------------------------------------------------------------------- */
/* Many pipes at once                                                      */
/* ---------------------------------------------------------------------- */

/* ipc_poll() events and results. IN and OUT are asked for; HUP, ERR and
 * NVAL are reported whether asked for or not (as poll(2) does):
 * IPC_POLLIN:   a recv (accept) returns without waiting.
 * IPC_POLLOUT:  a send of a message that fits in the OS's buffer returns
 *               without waiting.
 * IPC_POLLERR:  the pipe is broken (a protocol error), or the OS reports
 *               an error: recv says which.
 * IPC_POLLHUP:  the peer has gone; frames it sent before are still
 *               received, then IPC_ECLOSED.
 * IPC_POLLNVAL: unknown or closed handle. */
/* clang-format off */
#define IPC_POLLIN   0x001
#define IPC_POLLOUT  0x004
#define IPC_POLLERR  0x008
#define IPC_POLLHUP  0x010
#define IPC_POLLNVAL 0x020
/* clang-format on */

/* One handle to watch: `events` in, `revents` out. */
struct ipc_pollitem {
    int handle;
    short events;
    short revents;
};

/*
 * ipc_pending - would a receive on `handle` return without waiting?
 *
 * For a pipe, 1 when a whole frame is already inside the handle (read
 * ahead by an earlier recv, or just now: whatever the kernel holds is
 * taken in, without waiting, to find out), or when a recv would report at
 * once the end of the stream, a protocol error or a message over the
 * limit; 0 otherwise. This is what the descriptor of ipc_fileno() cannot
 * say: like OpenSSL's SSL_pending(), ask it before waiting on the
 * descriptor. A pipe whose committed send still has its rest kept
 * (ipc_send_timeout()) says 0 until the rest is written: a recv writes it
 * first. A pipe whose receive lock another thread holds (its recv is
 * under way and gets the frames) says 0. For a listener, 1 when a client
 * is waiting to be accepted.
 *
 * Does not block. Returns 1, 0, or IPC_EBADHANDLE, IPC_ESYSTEM.
 */
IPC_API int ipc_pending(int handle);

/*
 * ipc_poll - wait at most `timeout_ms` until one of `n` handles is ready.
 *
 * Sets items[i].revents for every item: IPC_POLLIN when items[i].events
 * asks for it and ipc_pending() would say 1 (buffered whole frames count,
 * and listeners with a client waiting); IPC_POLLOUT when asked for and
 * the pipe's descriptor takes bytes and no kept rest of a committed send
 * is left; IPC_POLLHUP, IPC_POLLERR, IPC_POLLNVAL always. A kept rest is
 * pushed to the peer as the descriptor takes it while ipc_poll waits, so
 * a pipe whose send timed out after committing its message becomes
 * writable (and readable) again once the rest is out; an event loop can
 * also finish it with ipc_flush(h, 0) each time the descriptor is
 * writable.
 *
 * Returns the number of items with revents != 0 (> 0) as soon as there is
 * one, 0 when the time ran out (timeout_ms 0: look once; IPC_FOREVER: no
 * limit), or IPC_EINTR (the interrupt hook asked to stop, consulted every
 * IPC_INTERRUPT_SLICE_MS as in every wait), IPC_EINVAL (items is NULL
 * with n > 0), IPC_ENOMEM, IPC_ESYSTEM. Nothing is received or lost: the
 * frames stay in the handles for the next recv. n may be 0 (a sleep) and
 * has no upper limit (on Windows too: see libipc/src/os.h).
 *
 * Thread-safe. A pipe whose recv runs in another thread is not reported
 * readable (that recv takes the frames); ipc_poll then looks again every
 * few milliseconds.
 */
IPC_API int ipc_poll(struct ipc_pollitem *items, size_t n, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* KIWI_IPC_H */
