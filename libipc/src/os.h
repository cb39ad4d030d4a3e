/*
 * os.h - the platform seam: everything kiwi-ipc needs from the operating
 * system, and nothing else.
 *
 * Above this header (api, handles, pipe, listener, client, frame, wait,
 * error, path) the code is OS-neutral: it includes no socket, thread or
 * system header and writes no #ifdef for an OS. Below it, one folder per
 * platform implements every function declared here: posix/ today (Linux,
 * and macOS compiled only); a Windows backend adds win32/ beside it.
 *
 * A backend must provide:
 * - os_types.h (found through its folder on the include path): the types
 *   ipc__mutex (with IPC__MUTEX_INITIALIZER) and struct ipc__stream, the
 *   value IPC__OS_PATH_LEN_MAX, and inline ipc__mutex_trylock() (true
 *   when it took the lock) and ipc__mutex_unlock(), which every send and
 *   recv calls;
 * - a monotonic clock in milliseconds, mutexes that can be waited for
 *   within a deadline, a per-thread slot, sleeping until a deadline and the
 *   text of an OS error;
 * - the name -> path rule of .NET on that OS;
 * - streams: make one by connecting, or by listening and accepting; send a
 *   header and payload; read what is there; wake threads blocked on it from
 *   another thread; close it;
 * - "is someone listening here", decided without connecting.
 *
 * Every blocking call takes a `struct ipc__until` (wait.h builds it): a
 * deadline and the interrupt hook. The backend waits in slices of at most
 * IPC_INTERRUPT_SLICE_MS while a hook is set, and runs the hook after every
 * slice and every interrupted wait. It calls the hook through the pointer
 * it is given, never up into the layers above.
 *
 * Failures are reported through ipc__fail() (error.h, which every layer
 * may use; it sits beside this seam, and includes it for struct ipc__who),
 * starting with the `who` the caller passes, e.g. `create("demo")` or
 * `recv(3)`, so messages name the call and the pipe. On the send/recv path
 * `who` is a struct ipc__who, formatted only when a failure is recorded.
 */
#ifndef IPC__OS_H
#define IPC__OS_H

#include "kiwi_ipc.h"

#include <stddef.h>
#include <stdint.h>

#include "os_types.h"

/* Who is failing, for a message that starts `call(handle): `, or, for a
 * pipe that knows its name, `call(handle) on "name" (path): `. Cheap to
 * make on every call: it is formatted only when a failure is recorded. */
struct ipc__who {
    const char *call;
    int handle;
    const char *name; /* or NULL */
    const char *path;
};

/* How long a blocking call may wait, and who may cut it short. */
struct ipc__until {
    int64_t deadline;        /* on ipc__os_now_ms()'s clock; -1: none */
    ipc_interrupt_hook hook; /* consulted every slice; NULL: none */
    void *arg;
};

/* For backends: run u's hook; true when it asks the call to stop. */
static inline int ipc__until_interrupted(const struct ipc__until *u)
{
    return u->hook != NULL && u->hook(u->arg) != 0;
}

/* For backends, after a wait slice ended with nothing to show: the hook
 * first (so Ctrl-C wins over a deadline that passes at the same moment),
 * then the deadline. IPC_EINTR, IPC_ETIMEDOUT, or 0: wait on. */
static inline int ipc__until_ended(const struct ipc__until *u, int64_t now)
{
    if (ipc__until_interrupted(u)) {
        return IPC_EINTR;
    }
    if (u->deadline >= 0 && now >= u->deadline) {
        return IPC_ETIMEDOUT;
    }
    return 0;
}

/* For backends: how long the next wait may be, in ms, to reach `end` (a
 * time on ipc__os_now_ms()'s clock, or -1 for none; 0 when it has passed),
 * but no longer than a hook slice while a hook is set. -1: no limit. */
static inline int64_t ipc__until_slice(const struct ipc__until *u, int64_t end,
                                       int64_t now)
{
    int64_t ms = -1;
    if (end >= 0) {
        ms = end > now ? end - now : 0;
    }
    if (u->hook != NULL && (ms < 0 || ms > IPC_INTERRUPT_SLICE_MS)) {
        ms = IPC_INTERRUPT_SLICE_MS;
    }
    return ms;
}

/* ---- time, threads ----------------------------------------------------- */

/* Milliseconds on a monotonic clock. */
int64_t ipc__os_now_ms(void);

void ipc__mutex_init(ipc__mutex *m);
void ipc__mutex_destroy(ipc__mutex *m);
void ipc__mutex_lock(ipc__mutex *m);

/* Lock `m` when ipc__mutex_trylock() failed: wait for it within `u`.
 * Returns 0 with the lock held, IPC_ETIMEDOUT or IPC_EINTR. */
int ipc__mutex_lock_until(ipc__mutex *m, const struct ipc__until *u);

/* Sleep until `when` (ipc__os_now_ms() clock), cut short by u's deadline
 * and hook: 0 when `when` came, IPC_ETIMEDOUT, IPC_EINTR, or IPC_ESYSTEM
 * (recorded, naming `who`). */
int ipc__os_sleep_until(const char *who, int64_t when,
                        const struct ipc__until *u);

/* Per-thread slots: error.c's message buffer, and wait.c's "inside the
 * interrupt hook" mark. */
enum { IPC__TLS_ERROR, IPC__TLS_HOOK, IPC__TLS_SLOTS };

/* This thread's value in `slot` (NULL until set). `dtor` runs on a
 * non-NULL value when a thread ends; pass the same function for a slot on
 * every call (NULL: none). ipc__os_tls_set returns 0, or IPC_ENOMEM. */
void *ipc__os_tls_get(int slot);
int ipc__os_tls_set(int slot, void *value, void (*dtor)(void *));

/* This process's id: tells a forked child from its parent (fork() copies
 * the library's state; see pipe.c's kept rest and the listener's path). */
long ipc__os_process_id(void);

/* A number for this copy of the library, unique among the copies loaded
 * in this process (each binding links its own): 0 for the first, then 1,
 * 2, ...; claimed once per copy and kept until the process ends. 0 where
 * the OS gives no way to tell copies apart. */
int ipc__os_copy_index(void);

/* The text of OS error `err` into buf (cap bytes), thread-safely. */
void ipc__os_strerror(int err, char *buf, size_t cap);

/* ---- names --------------------------------------------------------------- */

/* The OS part of ipc_path(): `name` has passed path.c's neutral checks
 * (not NULL, not empty, not "anonymous"). Writes the path to `out`
 * (IPC_PATH_MAX bytes) and returns its length, or IPC_EINVAL. */
int ipc__os_pipe_path(const char *call, const char *name, char out[]);

/* Is a server listening at `path` right now? 1 yes, 0 no, -1 cannot tell.
 * Decided without connecting: a waiting Kiwi server would take a probe
 * connection as its one client. */
int ipc__os_listening_at(const char *path);

/* ---- streams ---------------------------------------------------------------
 */

/* One attempt to connect to `path`. 0 with *s set up; IPC_ENOSERVER when
 * nobody serves there yet (the caller may retry); another status when
 * waiting cannot help. It may wait briefly for a busy server (Windows'
 * WaitNamedPipe), never past u's deadline. */
int ipc__os_connect(const char *who, const char *path,
                    const struct ipc__until *u, struct ipc__stream *s);

/* One piece of what a write sends. */
struct ipc__seg {
    const void *p;
    size_t len;
};

/* What to write: the pieces in order, sent as one run of bytes (a frame's
 * header and payload, or the frames of several messages), and how much of
 * the run is written already. */
struct ipc__out {
    const struct ipc__seg *seg;
    size_t n;
    size_t done;
};

/* Move the place (*i, *off: piece and offset into it) `n` bytes on, and
 * past pieces with nothing left, so that *i is a piece with bytes to
 * write or out->n at the end. From (0, 0) by out->done it finds where a
 * write starts. */
static inline void ipc__out_advance(const struct ipc__out *out, size_t n,
                                    size_t *i, size_t *off)
{
    *off += n;
    while (*i < out->n && *off >= out->seg[*i].len) {
        *off -= out->seg[*i].len;
        (*i)++;
    }
}

/*
 * Write the pieces in order, starting `out->done` bytes into the run (so a
 * frame can be finished by a later call), in as few system calls as the
 * OS takes (POSIX: sendmsg() of a bounded number of pieces at a time;
 * Windows: small pieces copied together into one WriteFile), until all is
 * written or `u` ends the wait. out->done is updated either way. Returns 0
 * (all written), IPC_ETIMEDOUT or IPC_EINTR (stopped; out->done tells how
 * far it got), IPC_ECLOSED (the peer has gone, or ipc__os_stream_wake()
 * was called), or IPC_ESYSTEM.
 */
int ipc__os_write(struct ipc__stream *s, const struct ipc__who *who,
                  struct ipc__out *out, const struct ipc__until *u);

/* Read what is there into buf (up to cap bytes), waiting within `u` for at
 * least one byte. Returns the count (> 0), 0 at end of stream (or a reset
 * by the peer, or a wake), or IPC_ETIMEDOUT, IPC_EINTR, IPC_ESYSTEM. A
 * timeout or interrupt records no message: the caller knows what was held
 * and words it. */
long ipc__os_read(struct ipc__stream *s, const struct ipc__who *who, void *buf,
                  size_t cap, const struct ipc__until *u);

/* Make threads blocked on `s` return (reads see end of stream, writes
 * IPC_ECLOSED). Safe from any thread while others use the stream. */
void ipc__os_stream_wake(struct ipc__stream *s);

void ipc__os_stream_close(struct ipc__stream *s);

/* The descriptor behind a stream, for ipc_fileno(). */
int ipc__os_stream_fd(const struct ipc__stream *s);

/* ---- listening -------------------------------------------------------------
 */

struct ipc__os_listener;

/*
 * Claim `path` and listen there with `backlog`. Refuses a live server
 * (without connecting to it) and anything that is not the OS's kind of
 * pipe endpoint; reclaims what a dead server left. `who` names the call.
 */
int ipc__os_listen(const char *who, const char *path, int backlog,
                   struct ipc__os_listener **out);

/*
 * Wait within `u` for the next client, set up *s for it. With `last` the
 * listener serves this one client only (ipc_create): the path is given
 * back before the client is accepted, so that no second client can slip
 * into the queue. IPC_ETIMEDOUT and IPC_EINTR are returned unrecorded:
 * listener.c words them, once for every backend.
 */
int ipc__os_accept(struct ipc__os_listener *l, const char *who, int last,
                   const struct ipc__until *u, struct ipc__stream *s);

/* Make a thread blocked in ipc__os_accept() return IPC_ECLOSED. */
void ipc__os_listener_wake(struct ipc__os_listener *l);

/* Stop listening, give the path back if it is still ours, free `l`. */
void ipc__os_listener_free(struct ipc__os_listener *l);

int ipc__os_listener_fd(const struct ipc__os_listener *l);

/* ---- who is on the other end ---------------------------------------------
 */

/* What the OS knows of the process at the other end of `s` (see struct
 * ipc_peer; unknown fields -1). POSIX: SO_PEERCRED, or getpeereid and
 * LOCAL_PEERPID. Windows: the pid from GetNamedPipeClientProcessId (server
 * side) or GetNamedPipeServerProcessId (client side). Returns 0, or
 * IPC_ESYSTEM recorded with `who`. */
int ipc__os_peer(const char *who, const struct ipc__stream *s,
                 struct ipc_peer *out);

/*
 * Is the process at the other end of `s` run by our user? 0 yes;
 * IPC_EPERM no, recorded: "<who>: the <peer_is> at <path> is run by <its
 * user>, not by <ours>; refused (IPC_ANY_USER accepts it)"; IPC_ESYSTEM
 * when the OS cannot tell (the caller refuses then too). POSIX compares
 * the peer's uid with geteuid(). Windows compares the token user SIDs of
 * the peer's process and ours (or the pipe's owner SID, whichever is
 * cheap). `peer_is` is "server" or "client".
 */
int ipc__os_check_peer(const char *who, const char *path, const char *peer_is,
                       const struct ipc__stream *s);

/* ipc_check_path() for a path from ipc__os_pipe_path(): 0, or IPC_EPERM
 * (recorded, naming the directory or link), IPC_ESYSTEM. Windows: 0 (a
 * pipe name is not a file in a shared directory). */
int ipc__os_check_path(const char *who, const char *path);

/* ipc__os_accept(last) gave its path back before accepting a client that
 * was then refused: listen at the path again, under the same claim rules as
 * ipc__os_listen(), so that the next client can come. 0, or IPC_EINUSE when
 * another server took the path meanwhile, or as ipc__os_listen(). Windows:
 * create the next pipe instance. */
int ipc__os_listener_reopen(struct ipc__os_listener *l, const char *who);

/* ---- many at once (ipc_poll, ipc_pending) --------------------------------
 *
 * One wait for any of several streams and listeners. The neutral layer
 * (poll.c) decides readiness from what the library holds (buffered frames,
 * a kept rest); the backend only tells what the OS sees, so a backend
 * never needs to know about frames.
 *
 * The contract, for every backend:
 * - `w[i]` names a stream or a listener (exactly one of the two; neither:
 *   the entry is skipped and gets revents 0) and the events wanted:
 *   IPC_POLLIN (a stream has bytes or its end to read; a listener has a
 *   client waiting to be accepted) and IPC_POLLOUT (a stream can take
 *   bytes). revents gets those of them that hold, plus IPC_POLLHUP (the
 *   peer has gone) and IPC_POLLERR (an error is pending), which are
 *   reported whether asked for or not.
 * - Returns how many entries have revents != 0 (> 0) as soon as one does;
 *   IPC_ETIMEDOUT once u's deadline has passed (a deadline already past
 *   makes one check that does not wait); IPC_EINTR when u's hook asked to
 *   stop (waiting in slices of IPC_INTERRUPT_SLICE_MS while a hook is
 *   set, as every wait does); IPC_ESYSTEM, recorded naming `who`.
 * - Any n must work, and the cost of a call may grow with n.
 * - It may be woken early without anything being ready (returns as for
 *   the deadline only when the deadline has really passed): the caller
 *   loops.
 *
 * POSIX (posix/poll.c): one poll(2) over the descriptors.
 *
 * Windows (win32/poll.c): WaitForMultipleObjects over one or two events
 * per entry: a stream's IPC_POLLIN is a zero-byte overlapped ReadFile of
 * its own (signalled when bytes or the end arrive; it takes no bytes), its
 * IPC_POLLOUT the event of a staged write still in flight (none: writable
 * at once), a listener's the event its pending ConnectNamedPipe sets.
 * Beyond MAXIMUM_WAIT_OBJECTS (64) handles, a thread per further group of
 * 63 waits for its group and sets one "fired" event of the caller's wait,
 * so callers of ipc_poll() see no limit.
 */

struct ipc__os_waitable {
    const struct ipc__stream *stream;        /* a stream, or NULL */
    const struct ipc__os_listener *listener; /* a listener, or NULL */
    short events;                            /* IPC_POLLIN, IPC_POLLOUT */
    short revents;                           /* out: see above */
};

int ipc__os_wait_any(const char *who, struct ipc__os_waitable *w, size_t n,
                     const struct ipc__until *u);

#endif
