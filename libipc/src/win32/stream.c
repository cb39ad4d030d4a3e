/*
 * win32/stream.c - one end of a connected named pipe: connect, write a
 * frame's two parts (or many frames), read what is there, wake, close.
 *
 * All I/O is overlapped: a read or write is started, then waited for
 * together with the stream's wake event, in slices while there is a hook,
 * until a deadline. A wait that ends early cancels its own operation
 * (CancelIoEx) and then waits for it to finish, so the OS never writes to
 * a caller's buffer after we returned, and bytes that moved anyway before
 * the cancellation took hold are counted, never lost.
 */
#include "win32.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

/* Header and payload (and the frames of a batch) are copied into one write
 * up to this size (a pipe has no writev): one system call per small frame,
 * or per several, as on POSIX. */
#define COALESCE_MAX 8192

/* One ReadFile/WriteFile moves at most this much (its count is a DWORD). */
#define IO_MAX (1UL << 30)

int ipc__w32_stream_init(const char *who, HANDLE h, struct ipc__stream *s)
{
    memset(s, 0, sizeof(*s));
    s->h = h;
    /* Not inheritable (NULL attributes), manual-reset, unsignalled. */
    s->rd_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    s->wr_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    s->wake_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (s->rd_ev == NULL || s->wr_ev == NULL || s->wake_ev == NULL) {
        int rc = ipc__fail(IPC_ESYSTEM, (int)GetLastError(),
                           "%s: cannot create events", who);
        ipc__os_stream_close(s);
        return rc;
    }
    return 0;
}

/* What CreateFileW's failure `e` says about a server at the path. */
static int no_server_yet(DWORD e)
{
    return e == ERROR_FILE_NOT_FOUND || e == ERROR_PIPE_BUSY ||
           e == ERROR_PATH_NOT_FOUND;
}

/*
 * .NET's client loop (NamedPipeClientStream.Connect), one turn of it: open
 * the pipe; when it does not exist yet, or every instance is busy, say
 * IPC_ENOSERVER and client.c backs off and tries again (1 ms doubling to
 * 32 ms, within the caller's deadline). When busy, WaitNamedPipeW first
 * waits up to BUSY_WAIT_MS for an instance to come free, which it reports
 * at once, so a listener's next instance is taken without a backoff's
 * delay. That wait is the only one here that cannot see the hook: it is
 * kept short, and within the deadline.
 */
#define BUSY_WAIT_MS 10

int ipc__os_connect(const char *who, const char *path,
                    const struct ipc__until *u, struct ipc__stream *s)
{
    wchar_t w[IPC__W32_WPATH_CAP];
    if (ipc__w32_widen(path, w, IPC__W32_WPATH_CAP) < 0) {
        return ipc__fail(IPC_EINVAL, 0, "%s: bad path %s", who, path);
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        /* SECURITY_IDENTIFICATION: the server may learn who we are, but
         * not act as us (the default would let it impersonate us). */
        HANDLE h =
            CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                        FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT |
                            SECURITY_IDENTIFICATION,
                        NULL);
        if (h != INVALID_HANDLE_VALUE) {
            return ipc__w32_stream_init(who, h, s);
        }
        DWORD e = GetLastError();
        if (!no_server_yet(e)) {
            return ipc__fail(IPC_ESYSTEM, (int)e, "%s: cannot open %s", who,
                             path);
        }
        /* Not past the caller's deadline: a connect with timeout 0 (an
         * event loop's) does not wait at all. */
        int64_t ms = BUSY_WAIT_MS;
        if (u->deadline >= 0) {
            int64_t left = u->deadline - ipc__os_now_ms();
            ms = left < ms ? left : ms;
        }
        if (e != ERROR_PIPE_BUSY || attempt > 0 || ms <= 0 ||
            !WaitNamedPipeW(w, (DWORD)ms)) {
            break;
        }
    }
    return IPC_ENOSERVER;
}

/*
 * Wait for the operation started with `ov` on `s` (its event `ev`), within
 * `u`. Returns 0 with *n set when it completed (GetLastError() tells a
 * failure when *ok is FALSE); or, when the wait ended first, the operation
 * is cancelled and waited for: 0 with *n when it completed meanwhile with
 * data, else `*stop` says why it ended (1: woken, IPC_ETIMEDOUT,
 * IPC_EINTR, IPC_ESYSTEM) and the function returns 1.
 */
static int finish(struct ipc__stream *s, HANDLE ev, OVERLAPPED *ov,
                  const struct ipc__until *u, DWORD *n, BOOL *ok, int *stop)
{
    int r = ipc__w32_wait(ev, s->wake_ev, u);
    DWORD wait_err = GetLastError();
    if (r != 0) {
        CancelIoEx(s->h, ov);
    }
    *ok = GetOverlappedResult(s->h, ov, n, TRUE);
    if (r == 0 || (*ok && *n > 0)) {
        return 0;
    }
    *stop = r;
    SetLastError(wait_err);
    return 1;
}

static int woken(const struct ipc__stream *s)
{
    return WaitForSingleObject(s->wake_ev, 0) == WAIT_OBJECT_0;
}

/*
 * Writes that may be cut short (a deadline or a hook) never cancel a write
 * in flight: a pipe write cancelled after the reader took part of it
 * reports 0 bytes written (measured under wine), and the stream would then
 * be corrupt. Instead each piece (at most STAGE_SIZE) is copied into the
 * stream's own buffer and written from there; when the call has to return
 * first, the piece stays in flight, is counted as written, and the next
 * write on the stream (or its close) waits for it first. The call still
 * reports the timeout (or interrupt), with out->done counting the piece,
 * and the layer above treats it as on POSIX (pipe.c: nothing sent, or a
 * committed message whose rest it keeps). A write without deadline or hook
 * writes straight from the caller's buffer and waits as long as it takes
 * (only ipc_close cuts it short, and then the stream is done).
 *
 * Windows cancels the I/O a thread started when that thread ends, so a
 * piece left in flight must not belong to the caller's thread: with a
 * deadline (where returning first is an everyday outcome) the library's
 * writer thread, which lives as long as the process, starts each staged
 * write (an APC; the caller still waits for it on wr_ev). With a hook
 * only, the caller's thread starts it (no hand-over per message): it is
 * left in flight only when the hook stopped the call, and if that thread
 * then ends before the piece is taken, the next write on the pipe reports
 * the loss instead of sending a spliced frame.
 */
#define STAGE_SIZE 65536

/* ---- the writer thread -----------------------------------------------------
 */

static INIT_ONCE writer_once = INIT_ONCE_STATIC_INIT;
static HANDLE writer; /* NULL: it could not start; callers write */

static DWORD WINAPI writer_main(void *arg)
{
    (void)arg;
    for (;;) {
        SleepEx(INFINITE, TRUE); /* runs the queued start_write()s */
    }
    return 0;
}

static BOOL CALLBACK writer_start(PINIT_ONCE once, void *param, void **ctx)
{
    (void)once;
    (void)param;
    (void)ctx;
    /* The thread runs our code until the process ends: keep the module
     * loaded that long (FreeLibrary would pull the code from under it). */
    ipc__w32_pin_module();
    writer = CreateThread(NULL, 64 * 1024, writer_main, NULL,
                          STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
    return TRUE;
}

/* Start the staged write of s->stage_len bytes (on whichever thread runs
 * it): its completion, or its failure to start (s->w_err), sets wr_ev. */
static void start_write(struct ipc__stream *s)
{
    if (!WriteFile(s->h, s->stage, s->stage_len, NULL, &s->wov) &&
        GetLastError() != ERROR_IO_PENDING) {
        s->w_err = GetLastError();
        SetEvent(s->wr_ev);
    }
    atomic_store(&s->w_started, 1);
}

static void WINAPI start_write_apc(ULONG_PTR arg)
{
    start_write((struct ipc__stream *)arg);
}

/* Put s->stage in flight: from the writer thread when `handover`. */
static void stage_write(struct ipc__stream *s, DWORD len, int handover)
{
    memset(&s->wov, 0, sizeof(s->wov));
    s->wov.hEvent = s->wr_ev;
    /* Reset here, on every path: the APC may run after the caller began
     * to wait, and without it (tried) wine's WriteFile left the last
     * write's signal up, the wait ended at once and GetOverlappedResult
     * said ERROR_IO_INCOMPLETE. */
    ResetEvent(s->wr_ev);
    s->stage_len = len;
    s->w_err = 0;
    atomic_store(&s->w_started, 0);
    atomic_store(&s->w_pending, 1);
    if (handover) {
        InitOnceExecuteOnce(&writer_once, writer_start, NULL, NULL);
        if (writer != NULL &&
            QueueUserAPC(start_write_apc, writer, (ULONG_PTR)s)) {
            return;
        }
    }
    start_write(s);
}

/* Wait within `u` for the staged write in flight, if any. 0 when there is
 * none (any more), IPC_ETIMEDOUT, IPC_EINTR, IPC_ECLOSED, IPC_ESYSTEM
 * (recorded). */
static int finish_staged(struct ipc__stream *s, const struct ipc__who *who,
                         const struct ipc__until *u)
{
    if (!atomic_load(&s->w_pending)) {
        return 0;
    }
    int r = ipc__w32_wait(s->wr_ev, s->wake_ev, u);
    if (r == 1) {
        return IPC_ECLOSED;
    }
    if (r == IPC_ESYSTEM) {
        return ipc__fail_who(r, (int)GetLastError(), who, "wait failed");
    }
    if (r != 0) {
        return r;
    }
    atomic_store(&s->w_pending, 0);
    DWORD n, e = s->w_err;
    if (e == 0 && !GetOverlappedResult(s->h, &s->wov, &n, FALSE)) {
        e = GetLastError();
    }
    if (e == 0) {
        return 0;
    }
    if (ipc__w32_peer_gone(e)) {
        return IPC_ECLOSED;
    }
    if (e == ERROR_OPERATION_ABORTED && !woken(s)) {
        return ipc__fail_who(IPC_ESYSTEM, (int)e, who,
                             "part of an earlier message was lost: the thread "
                             "whose interrupted send left it in flight has "
                             "ended, and Windows cancelled it");
    }
    return ipc__fail_who(IPC_ESYSTEM, (int)e, who, "write failed");
}

/* Copy up to `cap` bytes of the run from place (*i, *off) into `buf`,
 * moving the place on; returns how many. */
static size_t gather(const struct ipc__out *out, size_t *i, size_t *off,
                     unsigned char *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap && *i < out->n) {
        size_t len = out->seg[*i].len - *off;
        if (len > cap - got) {
            len = cap - got;
        }
        memcpy(buf + got, (const unsigned char *)out->seg[*i].p + *off, len);
        got += len;
        ipc__out_advance(out, len, i, off);
    }
    return got;
}

int ipc__os_write(struct ipc__stream *s, const struct ipc__who *who,
                  struct ipc__out *out, const struct ipc__until *u)
{
    size_t at = out->done, i = 0, off = 0;
    ipc__out_advance(out, at, &i, &off);
    int staged = u->deadline >= 0 || u->hook != NULL;
    unsigned char joined[COALESCE_MAX];

    int rc = finish_staged(s, who, u);
    if (staged && rc == 0 && s->stage == NULL &&
        (s->stage = malloc(STAGE_SIZE)) == NULL) {
        rc = ipc__fail_who(IPC_ENOMEM, 0, who, "out of memory");
    }
    while (rc == 0 && i < out->n) {
        if (woken(s)) {
            rc = IPC_ECLOSED;
            break;
        }
        if (staged) {
            /* In flight from our buffer, as many pieces as fit (the frames
             * of a batch go in one WriteFile): counted, waited for below
             * or by the next call. */
            size_t want = gather(out, &i, &off, s->stage, STAGE_SIZE);
            stage_write(s, (DWORD)want, u->deadline >= 0);
            at += want;
            rc = finish_staged(s, who, u);
            if (rc != 0 && rc != IPC_ETIMEDOUT && rc != IPC_EINTR) {
                /* It failed (the peer is gone): none of it went out, and
                 * counting it would tell a batch its messages were sent. */
                at -= want;
            }
            continue;
        }
        /* The next piece: straight from a big one, else small pieces
         * (a header and its payload, the frames of a batch) joined. The
         * place moves on only by what was written. */
        const void *from;
        size_t want = out->seg[i].len - off;
        if (want >= COALESCE_MAX) {
            from = (const char *)out->seg[i].p + off;
            if (want > IO_MAX) {
                want = IO_MAX;
            }
        } else {
            size_t gi = i, goff = off;
            want = gather(out, &gi, &goff, joined, COALESCE_MAX);
            from = joined;
        }
        OVERLAPPED *ov = &s->wov;
        memset(ov, 0, sizeof(*ov));
        ov->hEvent = s->wr_ev;
        DWORD n = 0;
        BOOL ok = WriteFile(s->h, from, (DWORD)want, NULL, ov);
        if (!ok && GetLastError() == ERROR_IO_PENDING) {
            int stop = 0;
            if (finish(s, s->wr_ev, ov, u, &n, &ok, &stop)) {
                /* Only a wake ends an unstaged wait: the stream is done. */
                rc = stop == 1 ? IPC_ECLOSED
                     : stop == IPC_ESYSTEM
                         ? ipc__fail_who(stop, (int)GetLastError(), who,
                                         "wait failed")
                         : stop;
                break;
            }
        } else if (ok) {
            ok = GetOverlappedResult(s->h, ov, &n, TRUE);
        }
        if (ok) {
            at += n;
            ipc__out_advance(out, n, &i, &off);
            continue;
        }
        DWORD e = GetLastError();
        rc = ipc__w32_peer_gone(e) || (e == ERROR_OPERATION_ABORTED && woken(s))
                 ? IPC_ECLOSED
                 : ipc__fail_who(IPC_ESYSTEM, (int)e, who, "write failed");
    }
    if (rc == 0 && atomic_load(&s->w_pending)) {
        /* All of it counted, but the last piece is still on its way. */
        rc = finish_staged(s, who, u);
    }
    out->done = at;
    return rc;
}

long ipc__os_read(struct ipc__stream *s, const struct ipc__who *who, void *buf,
                  size_t cap, const struct ipc__until *u)
{
    DWORD want = cap > IO_MAX ? IO_MAX : (DWORD)cap;
    for (;;) {
        if (woken(s)) {
            return 0;
        }
        OVERLAPPED ov = {0};
        ov.hEvent = s->rd_ev;
        DWORD n = 0;
        BOOL ok = ReadFile(s->h, buf, want, NULL, &ov);
        if (ok || GetLastError() == ERROR_IO_PENDING) {
            int stop = 0;
            if (ok) {
                ok = GetOverlappedResult(s->h, &ov, &n, TRUE);
            } else if (finish(s, s->rd_ev, &ov, u, &n, &ok, &stop)) {
                if (stop == 1) {
                    return 0;
                }
                if (stop == IPC_ESYSTEM) {
                    return ipc__fail_who(stop, (int)GetLastError(), who,
                                         "wait failed");
                }
                return stop;
            }
        }
        if (ok || GetLastError() == ERROR_MORE_DATA) {
            if (n > 0) {
                return (long)n;
            }
            /* A zero-byte write by the peer: no data, and not the end
             * (which a pipe reports as ERROR_BROKEN_PIPE). */
            continue;
        }
        DWORD e = GetLastError();
        if (ipc__w32_peer_gone(e) ||
            (e == ERROR_OPERATION_ABORTED && woken(s))) {
            return 0;
        }
        return ipc__fail_who(IPC_ESYSTEM, (int)e, who, "read failed");
    }
}

void ipc__os_stream_wake(struct ipc__stream *s)
{
    /* Every wait on the stream watches this event; a call that starts
     * after it looks first. ipc_poll watches only its own zero-byte read
     * (poll.c), so every operation on the pipe is cancelled too: the
     * waits above would cancel theirs anyway once woken, and the stream
     * is done. */
    SetEvent(s->wake_ev);
    CancelIoEx(s->h, NULL);
}

void ipc__os_stream_close(struct ipc__stream *s)
{
    if (atomic_load(&s->w_pending)) {
        /* A staged piece still in flight: it dies with the stream. Its
         * write may still be queued for the writer thread: once started
         * it can be cancelled, and must end before the stream goes. */
        while (!atomic_load(&s->w_started)) {
            Sleep(0);
        }
        DWORD n;
        CancelIoEx(s->h, &s->wov);
        if (s->w_err == 0) {
            GetOverlappedResult(s->h, &s->wov, &n, TRUE);
        }
        atomic_store(&s->w_pending, 0);
    }
    free(s->stage);
    s->stage = NULL;
    /* CloseHandle, not DisconnectNamedPipe: the peer still reads what we
     * wrote, then sees ERROR_BROKEN_PIPE (DisconnectNamedPipe would
     * discard the unread data). */
    HANDLE *hs[] = {&s->h, &s->rd_ev, &s->wr_ev, &s->wake_ev};
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        if (*hs[i] != NULL && *hs[i] != INVALID_HANDLE_VALUE) {
            CloseHandle(*hs[i]);
        }
        *hs[i] = NULL;
    }
}

/* ipc_fileno(): a pipe HANDLE is no descriptor that poll() or select()
 * could watch (Windows' select() takes sockets only), so say so rather
 * than hand out a number nothing can use. */
int ipc__os_stream_fd(const struct ipc__stream *s)
{
    (void)s;
    return ipc__fail(IPC_ESYSTEM, ERROR_NOT_SUPPORTED,
                     "fileno: a Windows named pipe has no file descriptor");
}
