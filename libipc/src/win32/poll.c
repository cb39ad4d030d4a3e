/*
 * win32/poll.c - waiting for any of many streams and listeners at once
 * (ipc__os_wait_any, see os.h's contract).
 *
 * Each entry becomes at most one or two event handles to wait for:
 * - IPC_POLLIN on a stream: a zero-byte overlapped ReadFile of its own
 *   (it completes when bytes or the end arrive, and takes no bytes; a read
 *   another thread starts later queues behind it). ipc__os_stream_wake()
 *   cancels it, so a close in another thread ends the wait.
 * - IPC_POLLOUT on a stream: writable at once, unless a staged write is
 *   still in flight (stream.c); then that write's event.
 * - a listener: its event (listen.c), set while an accept would not wait.
 * The zero-byte reads are cancelled and their events closed before the
 * call returns, so nothing outlives it.
 *
 * WaitForMultipleObjects takes at most MAXIMUM_WAIT_OBJECTS (64) handles.
 * Beyond that the handles are waited for in groups: the calling thread
 * waits for the first group and one "fired" event, and a thread per
 * further group waits for its group and a "stop" event, and sets "fired"
 * when one of its handles is signalled. So any number of entries works;
 * above 64 handles a call costs a thread per further 63.
 */
#include "win32.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

/* Entries handled on the stack; more take one allocation per call. */
#define WAIT_ANY_STACK 16

/* What one entry waits for (see the top of the file). */
struct watch {
    OVERLAPPED ov;    /* the zero-byte read, when `reading` */
    int reading;      /* a zero-byte read is in flight */
    int hup_only;     /* ... only to see the end: IPC_POLLIN not asked */
    HANDLE rd_ev;     /* its event (ours, closed at the end), or NULL */
    HANDLE wr_ev;     /* the stream's write event to wait for, or NULL */
    HANDLE listen_ev; /* the listener's event, or NULL */
};

static int signalled(HANDLE h)
{
    return WaitForSingleObject(h, 0) == WAIT_OBJECT_0;
}

/* The revents a zero-byte read on `s` that failed with `e` stands for
 * (IPC_POLLIN: recv is to find out; masked by the callers where the entry
 * did not ask for it). */
static short failed_revents(const struct ipc__stream *s, DWORD e)
{
    if (ipc__w32_peer_gone(e) || signalled(s->wake_ev)) {
        return IPC_POLLIN | IPC_POLLHUP; /* the end, or ipc_close */
    }
    if (e == ERROR_OPERATION_ABORTED || e == ERROR_MORE_DATA) {
        return IPC_POLLIN; /* cancelled by someone: let recv find out */
    }
    return IPC_POLLERR;
}

/* The revents of the zero-byte read in flight on `s` (0: still waiting). */
static short read_revents(const struct ipc__stream *s, struct watch *x)
{
    DWORD n;
    short got;
    if (GetOverlappedResult(s->h, &x->ov, &n, FALSE)) {
        got = IPC_POLLIN;
    } else {
        DWORD e = GetLastError();
        got = e == ERROR_IO_INCOMPLETE ? 0 : failed_revents(s, e);
    }
    return x->hup_only ? (short)(got & ~IPC_POLLIN) : got;
}

/* Start entry x's zero-byte read on `s`: it completes when bytes or the end
 * arrive, and takes no bytes. Returns the revents that hold already, or -1
 * with a failure recorded. */
static int start_zero_read(const char *who, const struct ipc__stream *s,
                           struct watch *x)
{
    /* Not inheritable, manual-reset, unsignalled. */
    x->rd_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (x->rd_ev == NULL) {
        return ipc__fail(IPC_ESYSTEM, (int)GetLastError(),
                         "%s: cannot create an event", who);
    }
    x->ov.hEvent = x->rd_ev;
    static char none[1];
    if (ReadFile(s->h, none, 0, NULL, &x->ov)) {
        x->reading = 1; /* done already, and its OVERLAPPED says so */
        return x->hup_only ? 0 : IPC_POLLIN;
    }
    if (GetLastError() == ERROR_IO_PENDING) {
        x->reading = 1;
        return HasOverlappedIoCompleted(&x->ov) ? read_revents(s, x) : 0;
    }
    /* Failed at once: nothing in flight to cancel or wait for. */
    short got = failed_revents(s, GetLastError());
    return x->hup_only ? (short)(got & ~IPC_POLLIN) : got;
}

/* Set entry i up: start its zero-byte read, find its events. Returns the
 * revents that hold already (then nothing needs waiting for), or -1 with
 * a failure recorded. */
static int watch_begin(const char *who, struct ipc__os_waitable *w,
                       struct watch *x)
{
    memset(x, 0, sizeof(*x));
    short got = 0;
    if (w->listener != NULL) {
        int closing;
        x->listen_ev = ipc__w32_listener_event(w->listener, &closing);
        if (closing) {
            return IPC_POLLHUP;
        }
        if ((w->events & IPC_POLLIN) && signalled(x->listen_ev)) {
            got |= IPC_POLLIN;
        }
        if (!(w->events & IPC_POLLIN)) {
            x->listen_ev = NULL;
        }
        return got;
    }
    const struct ipc__stream *s = w->stream;
    if (s == NULL) {
        return 0;
    }
    if (signalled(s->wake_ev)) {
        return IPC_POLLHUP; /* closing */
    }
    if (w->events & IPC_POLLOUT) {
        if (atomic_load(&s->w_pending) && !signalled(s->wr_ev)) {
            x->wr_ev = s->wr_ev;
        } else {
            got |= IPC_POLLOUT;
        }
    }
    if (!(w->events & IPC_POLLIN)) {
        /* IPC_POLLHUP is reported unasked (os.h), and only a read sees the
         * end of a named pipe. With nothing waiting in the pipe, a
         * zero-byte read of its own ends when the peer goes (or bytes come,
         * which this entry did not ask about: it then reports nothing, and
         * the next call finds them waiting). With bytes waiting, such a
         * read would end at once and every wait would spin: the end behind
         * them is seen once they are read, by whoever asks for IPC_POLLIN. */
        DWORD avail = 0;
        if (!PeekNamedPipe(s->h, NULL, 0, NULL, &avail, NULL)) {
            DWORD e = GetLastError();
            return got | (ipc__w32_peer_gone(e) ? IPC_POLLHUP : IPC_POLLERR);
        }
        if (avail > 0) {
            return got;
        }
        x->hup_only = 1;
    }
    int read = start_zero_read(who, s, x);
    return read < 0 ? read : got | read;
}

/* What holds for entry i now, without waiting. */
static short watch_check(struct ipc__os_waitable *w, struct watch *x)
{
    if (w->listener != NULL) {
        int closing;
        ipc__w32_listener_event(w->listener, &closing);
        if (closing) {
            return IPC_POLLHUP;
        }
        return x->listen_ev != NULL && signalled(x->listen_ev) ? IPC_POLLIN : 0;
    }
    if (w->stream == NULL) {
        return 0;
    }
    short got = 0;
    if (x->wr_ev != NULL && signalled(x->wr_ev)) {
        got |= IPC_POLLOUT;
    }
    if (x->reading && HasOverlappedIoCompleted(&x->ov)) {
        got |= read_revents(w->stream, x);
    }
    return got;
}

/* Cancel entry i's zero-byte read (waiting for it to end: the OVERLAPPED
 * is ours) and close its event. */
static void watch_end(struct ipc__os_waitable *w, struct watch *x)
{
    if (x->reading) {
        DWORD n;
        CancelIoEx(w->stream->h, &x->ov);
        GetOverlappedResult(w->stream->h, &x->ov, &n, TRUE);
    }
    if (x->rd_ev != NULL) {
        CloseHandle(x->rd_ev);
    }
}

/* ---- waiting for more than 64 handles ------------------------------------ */

struct group {
    HANDLE hs[MAXIMUM_WAIT_OBJECTS]; /* its handles, then `stop` */
    DWORD n;                         /* how many, `stop` included */
    HANDLE fired;                    /* set when one of them is */
    HANDLE thread;
};

static DWORD WINAPI group_main(void *arg)
{
    struct group *g = arg;
    DWORD r = WaitForMultipleObjects(g->n, g->hs, FALSE, INFINITE);
    if (r != WAIT_OBJECT_0 + g->n - 1) {
        SetEvent(g->fired); /* one of ours, or a failure: look */
    }
    return 0;
}

/*
 * Wait for any of hs[0..n) within `u` (slices and hook as every wait).
 * Returns 0 when one is (or may be) signalled, IPC_ETIMEDOUT, IPC_EINTR,
 * IPC_ESYSTEM (recorded).
 */
static int wait_handles(const char *who, HANDLE *hs, DWORD n,
                        const struct ipc__until *u)
{
    HANDLE fired = NULL, stop = NULL;
    struct group *groups = NULL;
    DWORD ngroups = 0, first = n;
    int rc = 0;
    if (n > MAXIMUM_WAIT_OBJECTS) {
        /* The first group is ours, less one slot for `fired`. */
        first = MAXIMUM_WAIT_OBJECTS - 1;
        DWORD per = MAXIMUM_WAIT_OBJECTS - 1; /* and `stop` */
        ngroups = (n - first + per - 1) / per;
        groups = calloc(ngroups, sizeof(*groups));
        fired = CreateEventW(NULL, TRUE, FALSE, NULL);
        stop = CreateEventW(NULL, TRUE, FALSE, NULL);
        if (groups == NULL || fired == NULL || stop == NULL) {
            rc = ipc__fail(groups == NULL ? IPC_ENOMEM : IPC_ESYSTEM,
                           (int)GetLastError(),
                           "%s: cannot set up a wait for %lu handles", who,
                           (unsigned long)n);
            goto out;
        }
        for (DWORD g = 0; g < ngroups; g++) {
            DWORD from = first + g * per;
            DWORD k = n - from < per ? n - from : per;
            memcpy(groups[g].hs, hs + from, k * sizeof(HANDLE));
            groups[g].hs[k] = stop;
            groups[g].n = k + 1;
            groups[g].fired = fired;
            groups[g].thread =
                CreateThread(NULL, 64 * 1024, group_main, &groups[g],
                             STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
            if (groups[g].thread == NULL) {
                rc = ipc__fail(IPC_ESYSTEM, (int)GetLastError(),
                               "%s: cannot start a thread to wait for %lu "
                               "handles",
                               who, (unsigned long)n);
                goto out;
            }
        }
    }
    HANDLE mine[MAXIMUM_WAIT_OBJECTS];
    memcpy(mine, hs, first * sizeof(HANDLE));
    DWORD nmine = first;
    if (fired != NULL) {
        mine[nmine++] = fired;
    }
    for (;;) {
        int64_t ms = ipc__until_slice(u, u->deadline, ipc__os_now_ms());
        DWORD r = WaitForMultipleObjects(nmine, mine, FALSE,
                                         ms < 0 ? INFINITE : (DWORD)ms);
        if (r < WAIT_OBJECT_0 + nmine) {
            break;
        }
        if (r != WAIT_TIMEOUT) {
            rc = ipc__fail(IPC_ESYSTEM, (int)GetLastError(), "%s: wait failed",
                           who);
            break;
        }
        /* A signal, or a slice ended (os.h). */
        if ((rc = ipc__until_ended(u, ipc__os_now_ms())) != 0) {
            break;
        }
    }
out:
    if (groups != NULL) {
        if (stop != NULL) {
            SetEvent(stop);
        }
        for (DWORD g = 0; g < ngroups; g++) {
            if (groups[g].thread != NULL) {
                WaitForSingleObject(groups[g].thread, INFINITE);
                CloseHandle(groups[g].thread);
            }
        }
        free(groups);
    }
    if (fired != NULL) {
        CloseHandle(fired);
    }
    if (stop != NULL) {
        CloseHandle(stop);
    }
    return rc;
}

/* ---- the call ------------------------------------------------------------ */

int ipc__os_wait_any(const char *who, struct ipc__os_waitable *w, size_t n,
                     const struct ipc__until *u)
{
    struct watch stack[WAIT_ANY_STACK];
    HANDLE hstack[2 * WAIT_ANY_STACK];
    struct watch *x = stack;
    HANDLE *hs = hstack;
    if (n > WAIT_ANY_STACK) {
        x = malloc(n * sizeof(*x));
        hs = malloc(2 * n * sizeof(*hs));
        if (x == NULL || hs == NULL) {
            free(x);
            free(hs);
            return ipc__fail(IPC_ENOMEM, 0, "%s: out of memory", who);
        }
    }
    int rc = 0, ready = 0;
    size_t started = 0;
    DWORD nh = 0;
    for (; started < n; started++) {
        int got = watch_begin(who, &w[started], &x[started]);
        if (got < 0) {
            rc = got;
            started++; /* its watch is set up: watch_end() it */
            break;
        }
        w[started].revents = (short)got;
        ready += got != 0;
        HANDLE each[] = {x[started].rd_ev, x[started].wr_ev,
                         x[started].listen_ev};
        for (size_t k = 0; k < sizeof(each) / sizeof(each[0]); k++) {
            if (each[k] != NULL) {
                hs[nh++] = each[k];
            }
        }
    }
    if (rc == 0 && ready == 0) {
        if (nh == 0) {
            /* Nothing to watch: only the deadline or the hook ends it. */
            rc = ipc__os_sleep_until(
                who, u->deadline < 0 ? INT64_MAX : u->deadline, u);
            rc = rc == 0 ? IPC_ETIMEDOUT : rc;
        } else {
            rc = wait_handles(who, hs, nh, u);
        }
        if (rc == 0) {
            for (size_t i = 0; i < n; i++) {
                w[i].revents = watch_check(&w[i], &x[i]);
                ready += w[i].revents != 0;
            }
            /* Woken with nothing to show (a write event of an earlier
             * write, say): as for the deadline, and the caller, seeing
             * it has not passed, loops (os.h allows this). */
            rc = ready > 0 ? ready : IPC_ETIMEDOUT;
        }
    } else if (rc == 0) {
        rc = ready;
    }
    for (size_t i = 0; i < started; i++) {
        watch_end(&w[i], &x[i]);
    }
    if (x != stack) {
        free(x);
        free(hs);
    }
    return rc;
}
