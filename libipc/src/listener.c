/*
 * listener.c - listener handles over the OS's listening endpoint.
 */
#include "listener.h"

#include "error.h"
#include "path.h"
#include "wait.h"

#include <stdlib.h>
#include <string.h>

struct ipc__listener {
    struct ipc__os_listener *os;
    int flags; /* IPC_ANY_USER, or 0: same user only (peer.c) */
    char path[IPC_PATH_MAX];
    char name[]; /* as given to ipc_listen or ipc_create */
};

int ipc__listen(const char *call, const char *name, int backlog,
                struct ipc__listener **out)
{
    char path[IPC_PATH_MAX];
    int rc = ipc__resolve(call, name, path);
    if (rc < 0) {
        return rc;
    }
    char who[IPC_PATH_MAX + 32];
    ipc__who_name(who, sizeof(who), call, name);
    size_t nlen = strlen(name) + 1;
    struct ipc__listener *l = malloc(sizeof(*l) + nlen);
    if (l == NULL) {
        return ipc__fail(IPC_ENOMEM, 0, "%s: out of memory", who);
    }
    memcpy(l->name, name, nlen);
    memcpy(l->path, path, sizeof(l->path));
    l->flags = IPC_ANY_USER; /* Kiwi's: see ipc__listener_set_flags */
    if ((rc = ipc__os_listen(who, path, backlog, &l->os)) < 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int ipc__accept(struct ipc__listener *l, const char *who, int last,
                const struct ipc__until *u, struct ipc__stream *s)
{
    int rc = ipc__os_accept(l->os, who, last, u, s);
    /* The backends leave the end of a wait to us: one wording for all. */
    if (rc == IPC_ETIMEDOUT) {
        return ipc__fail(rc, 0, "%s: no client connected to %s in time", who,
                         l->path);
    }
    if (rc == IPC_EINTR) {
        return ipc__fail(rc, 0,
                         "%s: interrupted while waiting for a client at %s",
                         who, l->path);
    }
    return rc;
}

const char *ipc__listener_name(const struct ipc__listener *l)
{
    return l->name;
}

const char *ipc__listener_path(const struct ipc__listener *l)
{
    return l->path;
}

void ipc__listener_free(void *obj)
{
    struct ipc__listener *l = obj;
    ipc__os_listener_free(l->os);
    free(l);
}

static void listener_wake(void *obj)
{
    struct ipc__listener *l = obj;
    ipc__os_listener_wake(l->os);
}

static int listener_fd(const void *obj)
{
    const struct ipc__listener *l = obj;
    return ipc__os_listener_fd(l->os);
}

static const char *listener_name(const void *obj)
{
    return ipc__listener_name(obj);
}

static const char *listener_path(const void *obj)
{
    return ipc__listener_path(obj);
}

const struct ipc__kind ipc__listener_kind = {
    .name = "listener",
    .destroy = ipc__listener_free,
    .wake = listener_wake,
    .fd = listener_fd,
    .pipe_name = listener_name,
    .path = listener_path,
};

/* ---- who is on the other end ------------------------------------------ */

void ipc__listener_set_flags(struct ipc__listener *l, int flags)
{
    l->flags = flags;
}

int ipc__listener_flags(const struct ipc__listener *l)
{
    return l->flags;
}

struct ipc__os_listener *ipc__listener_os(struct ipc__listener *l)
{
    return l->os;
}
