/*
 * win32/peer.c - who is at the other end of a named pipe.
 *
 * Windows gives the peer's pid (GetNamedPipeClientProcessId on the server
 * end, GetNamedPipeServerProcessId on the client end); there is no uid or
 * gid. "Same user" compares the token user SID of the peer's process with
 * ours. A pipe name is not a file in a shared directory, so there is no
 * path to check (and listen.c's owner-only DACL already keeps other users
 * from connecting to our servers).
 */
#include "win32.h"

#include "error.h"

#include <sddl.h>

/* The pid of the process at the other end of pipe handle `h`, or 0 with
 * GetLastError() set. */
static DWORD peer_pid(HANDLE h)
{
    DWORD flags = 0, pid = 0;
    if (!GetNamedPipeInfo(h, &flags, NULL, NULL, NULL)) {
        return 0;
    }
    BOOL ok = (flags & PIPE_SERVER_END) ? GetNamedPipeClientProcessId(h, &pid)
                                        : GetNamedPipeServerProcessId(h, &pid);
    return ok ? pid : 0;
}

int ipc__os_peer(const char *who, const struct ipc__stream *s,
                 struct ipc_peer *out)
{
    out->known = 0;
    out->pid = out->uid = out->gid = -1;
    DWORD pid = peer_pid(s->h);
    if (pid == 0) {
        return ipc__fail(IPC_ESYSTEM, (int)GetLastError(),
                         "%s: cannot tell the peer's process", who);
    }
    out->pid = pid;
    out->known = IPC_PEER_PID;
    return 0;
}

/* The token user SID of process `proc` into buf; 0, or -1 (GetLastError). */
union token_user {
    TOKEN_USER user;
    char bytes[sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE];
};

static int user_of(HANDLE proc, union token_user *buf)
{
    HANDLE tok;
    if (!OpenProcessToken(proc, TOKEN_QUERY, &tok)) {
        return -1;
    }
    DWORD got;
    BOOL ok = GetTokenInformation(tok, TokenUser, buf, sizeof(*buf), &got);
    DWORD e = GetLastError();
    CloseHandle(tok);
    SetLastError(e);
    return ok ? 0 : -1;
}

int ipc__os_check_peer(const char *who, const char *path, const char *peer_is,
                       const struct ipc__stream *s)
{
    DWORD pid = peer_pid(s->h);
    if (pid == 0) {
        return ipc__fail(IPC_ESYSTEM, (int)GetLastError(),
                         "%s: cannot tell the %s's process at %s", who, peer_is,
                         path);
    }
    union token_user ours, theirs;
    if (user_of(GetCurrentProcess(), &ours) < 0) {
        return ipc__fail(IPC_ESYSTEM, (int)GetLastError(),
                         "%s: cannot read our own user", who);
    }
    HANDLE proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (proc == NULL || user_of(proc, &theirs) < 0) {
        DWORD e = GetLastError();
        if (proc != NULL) {
            CloseHandle(proc);
        }
        /* Not allowed to look: it is not a process of ours. */
        return ipc__fail(e == ERROR_ACCESS_DENIED ? IPC_EPERM : IPC_ESYSTEM,
                         (int)e,
                         "%s: cannot read the user of the %s at %s (pid "
                         "%lu); refused (IPC_ANY_USER accepts it)",
                         who, peer_is, path, (unsigned long)pid);
    }
    CloseHandle(proc);
    if (EqualSid(ours.user.User.Sid, theirs.user.User.Sid)) {
        return 0;
    }
    char *sid = NULL;
    ConvertSidToStringSidA(theirs.user.User.Sid, &sid);
    int rc = ipc__fail(IPC_EPERM, 0,
                       "%s: the %s at %s is run by %s (pid %lu), not by our "
                       "user; refused (IPC_ANY_USER accepts it)",
                       who, peer_is, path, sid ? sid : "another user",
                       (unsigned long)pid);
    if (sid != NULL) {
        LocalFree(sid);
    }
    return rc;
}

int ipc__os_check_path(const char *who, const char *path)
{
    (void)who;
    (void)path;
    return 0;
}
