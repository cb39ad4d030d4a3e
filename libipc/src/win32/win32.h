/*
 * win32/win32.h - what the Windows backend's files share among themselves
 * (nothing above os.h sees this header).
 *
 * OS errors passed to ipc__fail() here are GetLastError() codes, so
 * ipc_last_os_error() returns a Windows error code on Windows (an errno
 * on POSIX), and ipc_last_error() ends in FormatMessage's text for it.
 */
#ifndef IPC__WIN32_H
#define IPC__WIN32_H

#include "os.h"

/* Most UTF-16 units of a pipe path and its NUL, with room to spare for
 * what GetFullPathNameW may write before we check the length. */
#define IPC__W32_WPATH_CAP 1024

/*
 * Wait until `ev` is signalled (returns 0) or `wake` (may be NULL) is
 * (returns 1), or u's deadline passes (IPC_ETIMEDOUT), or the hook asks to
 * stop (IPC_EINTR), consulting it every IPC_INTERRUPT_SLICE_MS. IPC_ESYSTEM
 * with GetLastError() kept when the wait itself fails.
 */
int ipc__w32_wait(HANDLE ev, HANDLE wake, const struct ipc__until *u);

/* UTF-8 `s` to UTF-16 in `out` (cap units, NUL included): the length, or
 * -1 when it is not valid UTF-8 or does not fit. */
int ipc__w32_widen(const char *s, wchar_t *out, int cap);

/* Set up a stream around pipe handle `h` (its events); on failure `h` is
 * closed and the failure recorded, naming `who`. */
int ipc__w32_stream_init(const char *who, HANDLE h, struct ipc__stream *s);

/* Keep this module (the DLL, or the binding that links the library) loaded
 * until the process ends: for code that runs on after a FreeLibrary could
 * (thread-exit callbacks, the writer thread). */
void ipc__w32_pin_module(void);

/* The peer is gone (or we disconnected): how a pipe says so. */
static inline int ipc__w32_peer_gone(DWORD e)
{
    return e == ERROR_BROKEN_PIPE || e == ERROR_NO_DATA ||
           e == ERROR_PIPE_NOT_CONNECTED;
}

/* For ipc_poll (poll.c): the event that is set while an accept on `l`
 * would not wait (a client is there, the next accept will fail, or `l` is
 * closing, which *closing tells). */
HANDLE ipc__w32_listener_event(const struct ipc__os_listener *l, int *closing);

#endif
