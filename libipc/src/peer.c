/*
 * peer.c - same-user pipes: what the _ex calls add to connect and accept.
 *
 * The checks themselves are the backend's (ipc__os_check_peer,
 * ipc__os_check_path): only the OS knows who a peer is. This file decides
 * when they run and what a refusal does: a client gives up (the server it
 * reached is the wrong one, and waiting would not make it right); a server
 * drops the client and waits for the next one.
 */
#include "peer.h"

#include "error.h"
#include "client.h"
#include "path.h"

int ipc__check_name(const char *call, const char *name)
{
    char path[IPC_PATH_MAX];
    int rc = ipc__resolve(call, name, path);
    if (rc < 0) {
        return rc;
    }
    char who[IPC_PATH_MAX + 32];
    ipc__who_name(who, sizeof(who), call, name);
    return ipc__os_check_path(who, path);
}

int ipc__connect_checked(const char *call, const char *name,
                         const struct ipc__until *u, int flags,
                         struct ipc__stream *s, char path[])
{
    if (flags & IPC_ANY_USER) {
        return ipc__connect(call, name, u, s, path);
    }
    int rc = ipc__check_name(call, name);
    if (rc < 0) {
        return rc;
    }
    rc = ipc__connect(call, name, u, s, path);
    if (rc < 0) {
        return rc;
    }
    char who[IPC_PATH_MAX + 32];
    ipc__who_name(who, sizeof(who), call, name);
    rc = ipc__os_check_peer(who, path, "server", s);
    if (rc < 0) {
        /* Nothing was sent: the squatter learns only that we came. */
        ipc__os_stream_close(s);
    }
    return rc;
}

int ipc__accept_checked(struct ipc__listener *l, const char *who, int last,
                        const struct ipc__until *u, struct ipc__stream *s)
{
    if (ipc__listener_flags(l) & IPC_ANY_USER) {
        return ipc__accept(l, who, last, u, s);
    }
    for (;;) {
        int rc = ipc__accept(l, who, last, u, s);
        if (rc < 0) {
            return rc;
        }
        rc = ipc__os_check_peer(who, ipc__listener_path(l), "client", s);
        if (rc == 0) {
            return 0;
        }
        /* Refused (or the OS could not say who it is): drop it unread, and
         * keep serving: a stranger must not be able to end our wait. */
        ipc__os_stream_close(s);
        if (rc != IPC_EPERM) {
            return rc;
        }
        if (last) {
            /* create gave its path back before accepting: take it again
             * so that the next client can reach us. */
            rc = ipc__os_listener_reopen(ipc__listener_os(l), who);
            if (rc < 0) {
                return rc;
            }
        }
    }
}
