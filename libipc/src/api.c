/*
 * api.c - the public functions: check arguments, find the handle, call the
 * internals. Nothing here touches a socket directly.
 */
#include "kiwi_ipc.h"

#include "error.h"
#include "handles.h"
#include "listener.h"
#include "path.h"
#include "peer.h"
#include "pipe.h"
#include "wait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The library is compiled as one unit (libipc/CMakeLists.txt): on the
 * send and recv paths, inline every call whose body is in sight (handle
 * lookup, pipe, codec, backend), as one hand-written function would be.
 * The failure paths stay calls (variadic and out-of-line functions). */
#if defined(__GNUC__)
#define IPC__FLATTEN __attribute__((flatten))
#else
#define IPC__FLATTEN
#endif

/* Backlog of a listener made by ipc_create, which accepts one client only:
 * with 0, Linux queues at most one connection (see ipc__os_accept). */
#define CREATE_BACKLOG 0

/* Backlog of ipc_listen's listeners: as many as the OS allows (its
 * SOMAXCONN cap applies). */
#define LISTEN_BACKLOG 4096

const char *ipc_version(void)
{
    return KIWI_IPC_VERSION;
}

void ipc_free(void *data)
{
    free(data);
}

int ipc_path(const char *name, char *buf, size_t cap)
{
    char path[IPC_PATH_MAX];
    int len = ipc__resolve("path", name, path);
    if (len < 0) {
        return len;
    }
    if (buf == NULL || cap <= (size_t)len) {
        return ipc__fail(IPC_EINVAL, 0,
                         "path(\"%s\"): the buffer holds %zu bytes; %d are "
                         "needed",
                         name, buf == NULL ? 0 : cap, len + 1);
    }
    memcpy(buf, path, (size_t)len + 1);
    return len;
}

/* The one wording of a handle this copy does not hold. */
static int unknown_handle(const char *call, int id)
{
    return ipc__fail(IPC_EBADHANDLE, 0, "%s(%d): no such handle (%s)", call, id,
                     ipc__handle_foreign(id)
                         ? "it belongs to another copy of kiwi-ipc in this "
                           "process: each binding links its own"
                         : "never opened, or closed");
}

/* `call(handle) on "name" (path)` for a borrowed handle, into who. */
static void who_handle(char *who, size_t cap, const char *call, int id,
                       const struct ipc__handle *h)
{
    struct ipc__who w = {call, id, h->kind->pipe_name(h->obj),
                         h->kind->path(h->obj)};
    ipc__who_format(who, cap, &w);
}

/* Borrow a handle of the given kind, or record why not. */
static struct ipc__handle *borrow(const char *call, int id,
                                  const struct ipc__kind *kind, int *rc)
{
    struct ipc__handle *h = ipc__handle_get(id);
    if (h == NULL) {
        *rc = unknown_handle(call, id);
        return NULL;
    }
    if (h->kind != kind) {
        ipc__handle_put(h);
        *rc =
            ipc__fail(IPC_EBADHANDLE, 0, "%s(%d): handle %d is a %s, not a %s",
                      call, id, id, h->kind->name, kind->name);
        return NULL;
    }
    return h;
}

static int add_pipe(const char *who, struct ipc__stream *s, const char *name,
                    const char *path)
{
    struct ipc__pipe *p;
    if (ipc__pipe_new(s, name, path, &p) < 0) {
        return ipc__fail(IPC_ENOMEM, 0, "%s: out of memory", who);
    }
    int h = ipc__handle_add(&ipc__pipe_kind, p);
    if (h < 0) {
        return ipc__fail(h, 0, "%s: out of memory (or handles)", who);
    }
    return h;
}

/* The Kiwi-shaped calls are their _ex twins with Kiwi's rule: anyone may
 * connect (the _ex calls' same-user checks are opt-out, IPC_ANY_USER). */
int ipc_create(const char *name)
{
    return ipc_create_ex(name, IPC_FOREVER, IPC_ANY_USER);
}

int ipc_create_timeout(const char *name, int timeout_ms)
{
    return ipc_create_ex(name, timeout_ms, IPC_ANY_USER);
}

int ipc_connect(const char *name)
{
    return ipc_connect_ex(name, IPC_FOREVER, IPC_ANY_USER);
}

int ipc_connect_timeout(const char *name, int timeout_ms)
{
    return ipc_connect_ex(name, timeout_ms, IPC_ANY_USER);
}

int ipc_listen(const char *name)
{
    return ipc_listen_ex(name, IPC_ANY_USER);
}

int ipc_accept(int listener, int timeout_ms)
{
    int rc;
    struct ipc__handle *h =
        borrow("accept", listener, &ipc__listener_kind, &rc);
    if (h == NULL) {
        return rc;
    }
    struct ipc__listener *l = h->obj;
    char who[2 * IPC_PATH_MAX + 64];
    who_handle(who, sizeof(who), "accept", listener, h);
    struct ipc__until u;
    ipc__until_init(&u, timeout_ms);
    struct ipc__stream s;
    rc = ipc__accept_checked(l, who, 0, &u, &s);
    if (rc == 0) {
        rc = add_pipe(who, &s, ipc__listener_name(l), ipc__listener_path(l));
    }
    ipc__handle_put(h);
    return rc;
}

int ipc_send(int handle, const void *data, size_t len)
{
    return ipc_send_timeout(handle, data, len, IPC_FOREVER);
}

IPC__FLATTEN int ipc_send_timeout(int handle, const void *data, size_t len,
                                  int timeout_ms)
{
    int rc;
    struct ipc__handle *h = borrow("send", handle, &ipc__pipe_kind, &rc);
    if (h == NULL) {
        return rc;
    }
    rc = ipc__pipe_send(h->obj, handle, data, len, timeout_ms);
    ipc__handle_put(h);
    return rc;
}

int ipc_send_many(int handle, const struct ipc_msg *msgs, size_t count,
                  int timeout_ms)
{
    int rc;
    struct ipc__handle *h = borrow("send_many", handle, &ipc__pipe_kind, &rc);
    if (h == NULL) {
        return rc;
    }
    rc = ipc__pipe_send_many(h->obj, handle, msgs, count, timeout_ms);
    ipc__handle_put(h);
    return rc;
}

int ipc_recv(int handle, void **data, size_t *len)
{
    return ipc_recv_timeout(handle, data, len, IPC_FOREVER);
}

IPC__FLATTEN int ipc_recv_timeout(int handle, void **data, size_t *len,
                                  int timeout_ms)
{
    if (data == NULL || len == NULL) {
        return ipc__fail(IPC_EINVAL, 0, "recv(%d): data or len is NULL",
                         handle);
    }
    *data = NULL;
    *len = 0;
    int rc;
    struct ipc__handle *h = borrow("recv", handle, &ipc__pipe_kind, &rc);
    if (h == NULL) {
        return rc;
    }
    rc = ipc__pipe_recv(h->obj, handle, data, len, timeout_ms);
    ipc__handle_put(h);
    return rc;
}

IPC__FLATTEN int ipc_recv_alloc(int handle, ipc_alloc_fn alloc, void *ctx,
                                size_t *len, int timeout_ms)
{
    if (alloc == NULL || len == NULL) {
        return ipc__fail(IPC_EINVAL, 0, "recv(%d): alloc or len is NULL",
                         handle);
    }
    *len = 0;
    int rc;
    struct ipc__handle *h = borrow("recv", handle, &ipc__pipe_kind, &rc);
    if (h == NULL) {
        return rc;
    }
    rc = ipc__pipe_recv_alloc(h->obj, handle, alloc, ctx, len, timeout_ms);
    ipc__handle_put(h);
    return rc;
}

int ipc_recv_held(int handle, ipc_alloc_fn alloc, void *ctx, size_t *len)
{
    if (alloc == NULL || len == NULL) {
        return ipc__fail(IPC_EINVAL, 0, "recv_held(%d): alloc or len is NULL",
                         handle);
    }
    *len = 0;
    int rc;
    struct ipc__handle *h = borrow("recv_held", handle, &ipc__pipe_kind, &rc);
    if (h == NULL) {
        return rc;
    }
    rc = ipc__pipe_recv_held(h->obj, handle, alloc, ctx, len);
    ipc__handle_put(h);
    return rc;
}

int ipc_flush(int handle, int timeout_ms)
{
    int rc;
    struct ipc__handle *h = borrow("flush", handle, &ipc__pipe_kind, &rc);
    if (h == NULL) {
        return rc;
    }
    rc = ipc__pipe_flush(h->obj, handle, timeout_ms);
    ipc__handle_put(h);
    return rc;
}

int ipc_close(int handle)
{
    struct ipc__handle *h = ipc__handle_take(handle);
    if (h == NULL) {
        return unknown_handle("close", handle);
    }
    /* Others still hold it: wake them. The last one out frees it. */
    if (atomic_load(&h->refs) > 1) {
        h->kind->wake(h->obj);
    }
    ipc__handle_put(h);
    return 0;
}

int ipc_fileno(int handle)
{
    struct ipc__handle *h = ipc__handle_get(handle);
    if (h == NULL) {
        return unknown_handle("fileno", handle);
    }
    int fd = h->kind->fd(h->obj);
    ipc__handle_put(h);
    return fd;
}

/* ipc_name / ipc_handle_path: one of the handle's strings into buf. */
static int handle_string(const char *call, int handle, int want_path, char *buf,
                         size_t cap)
{
    struct ipc__handle *h = ipc__handle_get(handle);
    if (h == NULL) {
        return unknown_handle(call, handle);
    }
    const char *s =
        want_path ? h->kind->path(h->obj) : h->kind->pipe_name(h->obj);
    size_t len = strlen(s);
    int rc = (int)len;
    if (buf == NULL || cap <= len) {
        rc = ipc__fail(IPC_EINVAL, 0,
                       "%s(%d): the buffer holds %zu bytes; %zu are needed",
                       call, handle, buf == NULL ? 0 : cap, len + 1);
    } else {
        memcpy(buf, s, len + 1);
    }
    ipc__handle_put(h);
    return rc;
}

int ipc_name(int handle, char *buf, size_t cap)
{
    return handle_string("name", handle, 0, buf, cap);
}

int ipc_handle_path(int handle, char *buf, size_t cap)
{
    return handle_string("handle_path", handle, 1, buf, cap);
}

int ipc_set_max_message(int handle, size_t max)
{
    if (max > IPC_MAX_MESSAGE) {
        return ipc__fail(IPC_EINVAL, 0,
                         "set_max_message(%d): %zu exceeds the protocol's "
                         "limit of %d",
                         handle, max, IPC_MAX_MESSAGE);
    }
    int rc;
    struct ipc__handle *h =
        borrow("set_max_message", handle, &ipc__pipe_kind, &rc);
    if (h == NULL) {
        return rc;
    }
    ipc__pipe_set_max(h->obj, max);
    ipc__handle_put(h);
    return 0;
}

/* ---- who is on the other end ------------------------------------------ */

int ipc_get_peer(int handle, struct ipc_peer *peer)
{
    if (peer == NULL) {
        return ipc__fail(IPC_EINVAL, 0, "get_peer(%d): peer is NULL", handle);
    }
    int rc;
    struct ipc__handle *h = borrow("get_peer", handle, &ipc__pipe_kind, &rc);
    if (h == NULL) {
        return rc;
    }
    char who[2 * IPC_PATH_MAX + 64];
    who_handle(who, sizeof(who), "get_peer", handle, h);
    rc = ipc__os_peer(who, ipc__pipe_stream(h->obj), peer);
    ipc__handle_put(h);
    return rc;
}

int ipc_check_path(const char *name)
{
    return ipc__check_name("check_path", name);
}

int ipc_connect_ex(const char *name, int timeout_ms, int flags)
{
    struct ipc__until u;
    ipc__until_init(&u, timeout_ms);
    struct ipc__stream s;
    char path[IPC_PATH_MAX];
    int rc = ipc__connect_checked("connect", name, &u, flags, &s, path);
    if (rc < 0) {
        return rc;
    }
    char who[IPC_PATH_MAX + 32];
    ipc__who_name(who, sizeof(who), "connect", name);
    return add_pipe(who, &s, name, path);
}

/* ipc_listen's and ipc_create's claim, with the path check first. */
static int listen_ex(const char *call, const char *name, int backlog, int flags,
                     struct ipc__listener **l)
{
    if (!(flags & IPC_ANY_USER)) {
        int rc = ipc__check_name(call, name);
        if (rc < 0) {
            return rc;
        }
    }
    int rc = ipc__listen(call, name, backlog, l);
    if (rc == 0) {
        ipc__listener_set_flags(*l, flags & IPC_ANY_USER);
    }
    return rc;
}

int ipc_create_ex(const char *name, int timeout_ms, int flags)
{
    struct ipc__listener *l;
    int rc = listen_ex("create", name, CREATE_BACKLOG, flags, &l);
    if (rc < 0) {
        return rc;
    }
    char who[IPC_PATH_MAX + 32];
    ipc__who_name(who, sizeof(who), "create", name);
    struct ipc__until u;
    ipc__until_init(&u, timeout_ms);
    struct ipc__stream s;
    rc = ipc__accept_checked(l, who, 1, &u, &s);
    if (rc == 0) {
        rc = add_pipe(who, &s, name, ipc__listener_path(l));
    }
    /* One client per create: stop listening and give the name back, so a
     * second client waits in connect for the next create (as Kiwi users
     * expect) instead of sitting in a backlog nobody will accept. */
    ipc__listener_free(l);
    return rc;
}

int ipc_listen_ex(const char *name, int flags)
{
    struct ipc__listener *l;
    int rc = listen_ex("listen", name, LISTEN_BACKLOG, flags, &l);
    if (rc < 0) {
        return rc;
    }
    rc = ipc__handle_add(&ipc__listener_kind, l);
    if (rc < 0) {
        return ipc__fail(rc, 0, "listen(\"%s\"): out of memory", name);
    }
    return rc;
}
