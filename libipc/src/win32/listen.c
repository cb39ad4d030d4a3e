/*
 * win32/listen.c - serving a pipe name: instances, waiting for clients,
 * security.
 *
 * A named pipe is a set of instances that exists while a server holds at
 * least one. Each instance takes one client; ConnectNamedPipe waits for
 * it. So a listener keeps one instance ready ("next"), and the moment a
 * client has connected to it, makes the next one before handing the
 * connected one out: a client arriving in between finds every instance
 * busy (ERROR_PIPE_BUSY), which connect treats as "wait and retry", so no
 * client is lost. ipc_create's listener (backlog 0) allows one instance,
 * as Kiwi's own one-instance .NET server does: while that pipe is in use
 * the name stays taken.
 *
 * The first instance carries FILE_FLAG_FIRST_PIPE_INSTANCE, so a second
 * server of a name is refused atomically (ERROR_ACCESS_DENIED) on Windows.
 * Wine ignores that flag; the WaitNamedPipeW check before it (see
 * ipc__os_listening_at) refuses a second server there too, though not
 * atomically.
 *
 * Security: a DACL that grants access to our own user only (what .NET's
 * PipeOptions.CurrentUserOnly grants), and PIPE_REJECT_REMOTE_CLIENTS, so
 * only local processes of the same user can connect. Handles are not
 * inheritable.
 */
#include "win32.h"

#include "error.h"

#include <sddl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* Both directions' buffers of an instance (.NET passes 0: the system's
 * default, one page). Bigger buffers let a sender run ahead of its reader
 * for small messages. */
#define PIPE_BUF_SIZE 65536

/*
 * `next` always has its ConnectNamedPipe in flight (armed as soon as the
 * instance is made), so that conn_ev alone tells ipc_poll that an accept
 * would not wait: it is set when a client connected, when arming failed
 * (accept then reports why), and when the listener is closing.
 */
struct ipc__os_listener {
    ipc__mutex lock; /* one accept at a time: it moves `next` along */
    HANDLE next;     /* instance waiting for a client, or NULL */
    int pending;     /* ConnectNamedPipe on `next` is in flight */
    int connected;   /* a client is on `next` already */
    DWORD arm_err;   /* arming `next` failed with this, or 0 */
    OVERLAPPED ov;   /* of that ConnectNamedPipe */
    HANDLE conn_ev;  /* manual-reset: see above */
    HANDLE wake_ev;  /* manual-reset: ipc__os_listener_wake() */
    atomic_int closing;
    DWORD max_instances;
    PSECURITY_DESCRIPTOR sd; /* owner-only, LocalFree'd */
    wchar_t wpath[IPC__W32_WPATH_CAP];
    char path[IPC_PATH_MAX];
};

/* "D:P(A;;GA;;;<our user's SID>)": a protected DACL whose one entry gives
 * our user all access (creating further instances included). NULL with
 * GetLastError() on failure. */
static PSECURITY_DESCRIPTOR owner_only(void)
{
    HANDLE tok;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok)) {
        return NULL;
    }
    union {
        TOKEN_USER user;
        char bytes[sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE];
    } info;
    DWORD got;
    BOOL ok = GetTokenInformation(tok, TokenUser, &info, sizeof(info), &got);
    DWORD e = GetLastError();
    CloseHandle(tok);
    if (!ok) {
        SetLastError(e);
        return NULL;
    }
    wchar_t *sid;
    if (!ConvertSidToStringSidW(info.user.User.Sid, &sid)) {
        return NULL;
    }
    wchar_t sddl[256];
    _snwprintf(sddl, sizeof(sddl) / sizeof(sddl[0]), L"D:P(A;;GA;;;%ls)", sid);
    sddl[sizeof(sddl) / sizeof(sddl[0]) - 1] = L'\0';
    LocalFree(sid);
    PSECURITY_DESCRIPTOR sd = NULL;
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl, SDDL_REVISION_1, &sd, NULL)) {
        return NULL;
    }
    return sd;
}

static HANDLE new_instance(struct ipc__os_listener *l, int first)
{
    SECURITY_ATTRIBUTES sa = {sizeof(sa), l->sd, FALSE};
    return CreateNamedPipeW(l->wpath,
                            PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
                                (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
                            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                                PIPE_REJECT_REMOTE_CLIENTS,
                            l->max_instances, PIPE_BUF_SIZE, PIPE_BUF_SIZE, 0,
                            &sa);
}

/* Start waiting for a client on the fresh instance `next` (see the struct).
 * Called with `lock` held, or before the listener is shared. */
static void arm(struct ipc__os_listener *l)
{
    l->pending = 0;
    l->connected = 0;
    l->arm_err = 0;
    ResetEvent(l->conn_ev);
    memset(&l->ov, 0, sizeof(l->ov));
    l->ov.hEvent = l->conn_ev;
    if (ConnectNamedPipe(l->next, &l->ov)) {
        l->connected = 1;
    } else {
        DWORD e = GetLastError();
        if (e == ERROR_IO_PENDING) {
            l->pending = 1;
            return;
        }
        /* Already there; or came, wrote perhaps, and went: either way a
         * client, whose data (if any) and end recv will see. */
        if (e == ERROR_PIPE_CONNECTED || e == ERROR_NO_DATA) {
            l->connected = 1;
        } else {
            l->arm_err = e;
        }
    }
    SetEvent(l->conn_ev); /* ready, or failed: an accept would not wait */
}

/* Make the next instance and arm it; on failure `next` stays NULL, and
 * conn_ev is set so that a poll lets the next accept report it. */
static void next_instance(struct ipc__os_listener *l, int first)
{
    HANDLE h = new_instance(l, first);
    if (h == INVALID_HANDLE_VALUE) {
        l->next = NULL;
        l->arm_err = GetLastError();
        SetEvent(l->conn_ev);
        return;
    }
    l->next = h;
    arm(l);
}

static void listener_close(struct ipc__os_listener *l)
{
    if (l->next != NULL) {
        if (l->pending) {
            DWORD n;
            CancelIoEx(l->next, &l->ov);
            GetOverlappedResult(l->next, &l->ov, &n, TRUE);
        }
        CloseHandle(l->next);
    }
    if (l->conn_ev != NULL) {
        CloseHandle(l->conn_ev);
    }
    if (l->wake_ev != NULL) {
        CloseHandle(l->wake_ev);
    }
    if (l->sd != NULL) {
        LocalFree(l->sd);
    }
    free(l);
}

int ipc__os_listen(const char *who, const char *path, int backlog,
                   struct ipc__os_listener **out)
{
    struct ipc__os_listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return ipc__fail(IPC_ENOMEM, 0, "%s: out of memory", who);
    }
    snprintf(l->path, sizeof(l->path), "%s", path);
    if (ipc__w32_widen(path, l->wpath, IPC__W32_WPATH_CAP) < 0) {
        free(l);
        return ipc__fail(IPC_EINVAL, 0, "%s: bad path %s", who, path);
    }
    l->max_instances = backlog == 0 ? 1 : PIPE_UNLIMITED_INSTANCES;
    int rc = 0;
    if (ipc__os_listening_at(path) == 1) {
        rc = ipc__fail(IPC_EINUSE, 0, "%s: a server is already listening at %s",
                       who, path);
        goto fail;
    }
    l->sd = owner_only();
    l->conn_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    l->wake_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (l->sd == NULL || l->conn_ev == NULL || l->wake_ev == NULL) {
        rc = ipc__fail(IPC_ESYSTEM, (int)GetLastError(),
                       "%s: cannot set up a pipe server", who);
        goto fail;
    }
    l->next = new_instance(l, 1);
    if (l->next == INVALID_HANDLE_VALUE) {
        DWORD e = GetLastError();
        l->next = NULL;
        if (e == ERROR_ACCESS_DENIED || e == ERROR_PIPE_BUSY) {
            /* The name exists: a live server (ours or another user's). */
            rc =
                ipc__fail(IPC_EINUSE, (int)e,
                          "%s: a server is already listening at %s", who, path);
        } else {
            rc = ipc__fail(IPC_ESYSTEM, (int)e, "%s: cannot create pipe %s",
                           who, path);
        }
        goto fail;
    }
    ipc__mutex_init(&l->lock);
    arm(l);
    *out = l;
    return 0;
fail:
    listener_close(l);
    return rc;
}

static int wait_failed(const char *who, int rc)
{
    if (rc == IPC_ETIMEDOUT || rc == IPC_EINTR) {
        return rc; /* worded by listener.c */
    }
    if (rc == 1) {
        return ipc__fail(IPC_ECLOSED, 0, "%s: the listener was closed", who);
    }
    return ipc__fail(rc, (int)GetLastError(), "%s: wait failed", who);
}

/* Wait within `u` until a client is connected to l->next (armed). A
 * wait that ends early leaves the ConnectNamedPipe in flight, for the next
 * accept. */
static int wait_client(struct ipc__os_listener *l, const char *who,
                       const struct ipc__until *u)
{
    for (;;) {
        if (l->arm_err != 0) {
            DWORD e = l->arm_err;
            return ipc__fail(IPC_ESYSTEM, (int)e, "%s: cannot wait at %s", who,
                             l->path);
        }
        if (l->connected) {
            return 0;
        }
        int rc = ipc__w32_wait(l->conn_ev, l->wake_ev, u);
        if (rc != 0) {
            return wait_failed(who, rc);
        }
        if (atomic_load(&l->closing)) {
            return wait_failed(who, 1);
        }
        DWORD n;
        DWORD e = GetOverlappedResult(l->next, &l->ov, &n, FALSE)
                      ? 0
                      : GetLastError();
        if (e == 0 || e == ERROR_NO_DATA || e == ERROR_PIPE_CONNECTED) {
            l->pending = 0;
            l->connected = 1;
            return 0;
        }
        if (e != ERROR_OPERATION_ABORTED) {
            return ipc__fail(IPC_ESYSTEM, (int)e,
                             "%s: waiting for a client at %s failed", who,
                             l->path);
        }
        /* The thread that armed it has ended, and Windows cancels a
         * thread's I/O when it exits: arm it again (a client that came
         * meanwhile is reported at once). */
        arm(l);
    }
}

static int accept_locked(struct ipc__os_listener *l, const char *who, int last,
                         const struct ipc__until *u, struct ipc__stream *s)
{
    if (atomic_load(&l->closing)) {
        return ipc__fail(IPC_ECLOSED, 0, "%s: the listener was closed", who);
    }
    if (l->next == NULL) {
        /* Making the next instance failed after the last accept. */
        next_instance(l, 0);
        if (l->next == NULL) {
            return ipc__fail(IPC_ESYSTEM, (int)l->arm_err,
                             "%s: cannot create a pipe instance at %s", who,
                             l->path);
        }
    }
    int rc = wait_client(l, who, u);
    if (rc != 0) {
        return rc;
    }
    HANDLE got = l->next;
    l->next = NULL;
    l->connected = 0;
    if (last) {
        ResetEvent(l->conn_ev); /* no next instance: nothing to accept */
    } else {
        /* Before handing this one out: see the top of the file. If it
         * fails, the next accept tries again and reports it. */
        next_instance(l, 0);
    }
    return ipc__w32_stream_init(who, got, s);
}

int ipc__os_accept(struct ipc__os_listener *l, const char *who, int last,
                   const struct ipc__until *u, struct ipc__stream *s)
{
    /* Accepts in several threads take turns, within their deadlines. */
    if (!ipc__mutex_trylock(&l->lock)) {
        int rc = ipc__mutex_lock_until(&l->lock, u);
        if (rc != 0) {
            return wait_failed(who, rc);
        }
    }
    int rc = accept_locked(l, who, last, u, s);
    ipc__mutex_unlock(&l->lock);
    return rc;
}

void ipc__os_listener_wake(struct ipc__os_listener *l)
{
    atomic_store(&l->closing, 1);
    SetEvent(l->wake_ev);
    SetEvent(l->conn_ev); /* for ipc_poll, which watches only this one */
}

HANDLE ipc__w32_listener_event(const struct ipc__os_listener *l, int *closing)
{
    *closing = atomic_load(&l->closing);
    return l->conn_ev;
}

void ipc__os_listener_free(struct ipc__os_listener *l)
{
    listener_close(l);
}

int ipc__os_listener_fd(const struct ipc__os_listener *l)
{
    (void)l;
    return ipc__fail(IPC_ESYSTEM, ERROR_NOT_SUPPORTED,
                     "fileno: a Windows named pipe has no file descriptor");
}

/* ---- who is on the other end ------------------------------------------ */

/* ipc_create_ex() refused its one client: that instance is closed, so the
 * name exists no more. Make it again as the first instance, so that a
 * server that took the name meanwhile is refused atomically. */
int ipc__os_listener_reopen(struct ipc__os_listener *l, const char *who)
{
    if (l->next != NULL) {
        return 0;
    }
    next_instance(l, 1);
    if (l->next == NULL) {
        DWORD e = l->arm_err;
        if (e == ERROR_ACCESS_DENIED || e == ERROR_PIPE_BUSY) {
            return ipc__fail(IPC_EINUSE, 0,
                             "%s: another server took %s while a client of "
                             "another user was refused",
                             who, l->path);
        }
        return ipc__fail(IPC_ESYSTEM, (int)e,
                         "%s: cannot create a pipe instance at %s", who,
                         l->path);
    }
    return 0;
}
