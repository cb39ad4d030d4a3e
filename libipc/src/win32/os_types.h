/*
 * win32/os_types.h - the Windows backend's types for os.h (cross-built
 * with mingw-w64, tested under wine; see README.md's Windows section).
 */
#ifndef IPC__OS_TYPES_H
#define IPC__OS_TYPES_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <stdatomic.h>

/* A slim reader/writer lock used exclusively: no allocation, a static
 * initializer, and an uncontended acquire that is one interlocked
 * instruction. It has no timed acquire; sys.c waits for it in slices. */
typedef SRWLOCK ipc__mutex;
#define IPC__MUTEX_INITIALIZER SRWLOCK_INIT

static inline int ipc__mutex_trylock(ipc__mutex *m)
{
    return TryAcquireSRWLockExclusive(m) != 0;
}

static inline void ipc__mutex_unlock(ipc__mutex *m)
{
    ReleaseSRWLockExclusive(m);
}

/*
 * One end of a connected named pipe, opened for overlapped I/O so that
 * every wait can also watch a deadline, the interrupt hook and `wake`.
 * pipe.c serializes reads (recv lock) and writes (send lock), so one read
 * and one write at most are in flight: each has its own event.
 */
struct ipc__stream {
    HANDLE h;       /* the pipe; not inheritable */
    HANDLE rd_ev;   /* manual-reset: the read in flight completed */
    HANDLE wr_ev;   /* manual-reset: the write in flight completed */
    HANDLE wake_ev; /* manual-reset: ipc__os_stream_wake() was called */
    /* A write that outlived its call (see stream.c): from `stage`, its
     * OVERLAPPED, and whether it is still in flight (set under the pipe's
     * send lock; ipc_poll reads it without). */
    unsigned char *stage;
    DWORD stage_len;
    OVERLAPPED wov;
    DWORD w_err;          /* that write failed to start with this, or 0 */
    atomic_int w_pending; /* in flight (or queued for the writer thread) */
    atomic_int w_started; /* WriteFile was called for it */
};

/* Longest pipe path, in UTF-16 code units with "\\.\pipe\": the limit
 * CreateNamedPipeW documents (256 characters). In UTF-8 that is at most
 * 768 bytes, which IPC_PATH_MAX (kiwi_ipc.h) holds on Windows. */
#define IPC__OS_PATH_LEN_MAX 256

#endif
