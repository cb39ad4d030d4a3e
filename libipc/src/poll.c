/*
 * poll.c - many pipes at once: ipc_pending() and ipc_poll().
 *
 * Readiness has two halves, decided in two places. What the library holds
 * (frames read ahead by a recv, a committed send's kept rest) is the
 * pipe's and the codec's to say (ipc__pipe_poll, ipc__dec_ready); what the
 * kernel holds is the backend's (ipc__os_wait_any). Every round first
 * asks the pipes, then the OS (without waiting when a pipe is ready
 * already, so one call reports all that is ready), then lets each pipe
 * turn what the OS saw into an answer: bytes that make no whole frame yet
 * are taken into the decoder and the wait goes on.
 *
 * Nothing here is on the send or recv path.
 */
#include "kiwi_ipc.h"

#include "error.h"
#include "handles.h"
#include "listener.h"
#include "pipe.h"
#include "wait.h"

#include <limits.h>
#include <stdlib.h>

/* Items handled on the stack; more take one allocation per call. */
#define POLL_STACK 16

/* While another thread's recv holds a pipe's receive lock, look again
 * this often (the OS cannot wake us for bytes that thread takes). */
#define BUSY_RECHECK_MS 5

struct poll_slot {
    struct ipc__handle *h; /* borrowed, or NULL (IPC_POLLNVAL) */
    struct ipc__os_waitable w;
};

/* The pipe's or listener's answer, given what the OS said (os). Sets the
 * slot's OS request for the next wait; *busy when a pipe's receive lock
 * was taken. */
static short item_poll(struct poll_slot *s, int id, short events, short os,
                       int *busy)
{
    if (s->h == NULL) {
        s->w.stream = NULL; /* nothing for the OS to watch */
        s->w.listener = NULL;
        s->w.events = 0;
        return IPC_POLLNVAL;
    }
    if (s->h->kind == &ipc__pipe_kind) {
        int want = 0;
        int r = ipc__pipe_poll(s->h->obj, id, events, os, &want);
        if (r & IPC__POLL_BUSY) {
            *busy = 1;
        }
        s->w.stream = ipc__pipe_stream(s->h->obj);
        s->w.listener = NULL;
        s->w.events = (short)want;
        return (short)(r & ~IPC__POLL_BUSY);
    }
    if (s->h->kind == &ipc__listener_kind) {
        s->w.stream = NULL;
        s->w.listener = ipc__listener_os(s->h->obj);
        s->w.events = (short)(events & IPC_POLLIN);
        return (short)(os & (IPC_POLLIN | IPC_POLLHUP | IPC_POLLERR));
    }
    s->w.stream = NULL; /* a kind that cannot be polled: never ready */
    s->w.listener = NULL;
    s->w.events = 0;
    return 0;
}

/* The rounds described at the top, until something is ready or u ends.
 * Returns the count ready, 0 at the deadline, or a status. */
static int poll_rounds(struct ipc_pollitem *items, struct poll_slot *slots,
                       size_t n, const struct ipc__until *u)
{
    struct ipc__os_waitable stack[POLL_STACK];
    struct ipc__os_waitable *w = stack;
    if (n > POLL_STACK && (w = malloc(n * sizeof(*w))) == NULL) {
        return ipc__fail(IPC_ENOMEM, 0, "poll: out of memory");
    }
    int count;
    for (;;) {
        int busy = 0;
        count = 0;
        for (size_t i = 0; i < n; i++) {
            items[i].revents = item_poll(&slots[i], items[i].handle,
                                         items[i].events, 0, &busy);
            count += items[i].revents != 0;
            w[i] = slots[i].w;
        }
        int64_t now = ipc__os_now_ms();
        struct ipc__until wu = *u;
        if (count > 0) {
            wu.deadline = now; /* one look, for the others' sake */
            wu.hook = NULL;
        } else if (busy &&
                   (wu.deadline < 0 || wu.deadline > now + BUSY_RECHECK_MS)) {
            wu.deadline = now + BUSY_RECHECK_MS;
        }
        int rc = ipc__os_wait_any("poll", w, n, &wu);
        if (rc > 0) {
            count = 0;
            for (size_t i = 0; i < n; i++) {
                if (w[i].revents != 0) {
                    items[i].revents |=
                        item_poll(&slots[i], items[i].handle, items[i].events,
                                  w[i].revents, &busy);
                }
                count += items[i].revents != 0;
            }
        } else if (rc == IPC_EINTR) {
            count = ipc__fail(rc, 0, "poll: interrupted");
            break;
        } else if (rc != IPC_ETIMEDOUT) {
            count = rc; /* recorded */
            break;
        }
        if (count > 0 ||
            (u->deadline >= 0 && ipc__os_now_ms() >= u->deadline)) {
            break;
        }
        /* The OS saw bytes that make no whole frame yet, or a busy pipe's
         * time to look again: another round. */
    }
    if (w != stack) {
        free(w);
    }
    return count;
}

int ipc_poll(struct ipc_pollitem *items, size_t n, int timeout_ms)
{
    if (items == NULL && n > 0) {
        return ipc__fail(IPC_EINVAL, 0, "poll: items is NULL, n is %zu", n);
    }
    if (n > INT_MAX) {
        return ipc__fail(IPC_EINVAL, 0, "poll: %zu items is too many", n);
    }
    struct poll_slot stack[POLL_STACK];
    struct poll_slot *slots = stack;
    if (n > POLL_STACK && (slots = malloc(n * sizeof(*slots))) == NULL) {
        return ipc__fail(IPC_ENOMEM, 0, "poll: out of memory");
    }
    /* Borrowed for the whole call: a close in another thread cannot free
     * a pipe under us (it wakes, and we report what is there). */
    for (size_t i = 0; i < n; i++) {
        slots[i].h = ipc__handle_get(items[i].handle);
    }
    struct ipc__until u;
    ipc__until_init(&u, timeout_ms);
    int rc = poll_rounds(items, slots, n, &u);
    for (size_t i = 0; i < n; i++) {
        if (slots[i].h != NULL) {
            ipc__handle_put(slots[i].h);
        }
    }
    if (slots != stack) {
        free(slots);
    }
    return rc;
}

int ipc_pending(int handle)
{
    struct ipc_pollitem item = {handle, IPC_POLLIN, 0};
    struct poll_slot s;
    if ((s.h = ipc__handle_get(handle)) == NULL) {
        return ipc__fail(IPC_EBADHANDLE, 0, "pending(%d): no such handle",
                         handle);
    }
    /* A whole frame held already (the usual case while draining) costs
     * no system call. */
    int busy = 0;
    short r = item_poll(&s, handle, IPC_POLLIN, 0, &busy);
    int rc = 0;
    if (!(r & IPC_POLLIN) && !busy) {
        struct ipc__until now = {.deadline = ipc__os_now_ms(), .hook = NULL};
        rc = poll_rounds(&item, &s, 1, &now);
        r = item.revents;
    }
    ipc__handle_put(s.h);
    if (rc < 0) {
        return rc;
    }
    return (r & IPC_POLLIN) != 0;
}
