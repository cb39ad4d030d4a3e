/*
 * main.c - kiwi-ipc, the command-line tool: the four verbs, exit statuses.
 * (main() itself is the platform's: os_posix.c, os_win32.c.) See kiwi-ipc
 * --help and kiwi-ipc(1).
 */
#include "kiwi.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The library consults this while any call blocks (at least every
 * IPC_INTERRUPT_SLICE_MS, and at once when a signal interrupts its wait):
 * non-zero makes the call return IPC_EINTR, having lost nothing. That is
 * how SIGINT ends a blocked create, accept or recv promptly, and how the
 * end of --exec's command ends the session's receive. */
static int interrupt_hook(void *arg)
{
    (void)arg;
    return kiwi_signalled != 0 || atomic_load(&kiwi_stop) != 0;
}

/* ---- who is on the other end ------------------------------------------ */

/* The _ex calls' flags: --same-user, or Kiwi's "anyone". */
static int user_flags(const struct kiwi_options *o)
{
    return o->same_user ? 0 : IPC_ANY_USER;
}

/* Without --same-user the library accepts any path, as Kiwi does: say so
 * when another user could redirect this one. (With it, the call itself
 * refuses such a path.) */
static void warn_path(const struct kiwi_options *o)
{
    if (!o->same_user && !o->quiet && ipc_check_path(o->name) == IPC_EPERM) {
        kiwi_error("warning: %s (--same-user would refuse it)",
                   ipc_last_error());
    }
}

/* -v: who the peer is. */
static void note_peer(const struct kiwi_options *o, int h)
{
    struct ipc_peer p;
    if (!o->verbose || o->quiet || ipc_get_peer(h, &p) < 0) {
        return;
    }
    char pid[32] = "?", uid[32] = "?", gid[32] = "?";
    if (p.known & IPC_PEER_PID) {
        snprintf(pid, sizeof(pid), "%lld", p.pid);
    }
    if (p.known & IPC_PEER_UID) {
        snprintf(uid, sizeof(uid), "%lld", p.uid);
    }
    if (p.known & IPC_PEER_GID) {
        snprintf(gid, sizeof(gid), "%lld", p.gid);
    }
    kiwi_note(o, "peer: pid %s, uid %s, gid %s", pid, uid, gid);
}

static int run_listen(const struct kiwi_options *o, const char *path)
{
    int l = ipc_listen_ex(o->name, user_flags(o));
    if (l < 0) {
        return kiwi_ipc_failure(l);
    }
    kiwi_note(o, "listening at %s", path);
    int status = KIWI_EXIT_OK;
    long long served = 0;
    while (o->clients < 0 || served < o->clients) {
        /* The listener stays open between clients, so one that connects
         * while another is served waits in the backlog: none is lost. */
        int h = ipc_accept(l, o->timeout_ms);
        if (h < 0) {
            status = kiwi_ipc_failure(h);
            break;
        }
        served++;
        kiwi_note(o, "client %lld connected", served);
        note_peer(o, h);
        int st = kiwi_session(h, o);
        ipc_close(h);
        kiwi_note(o, "client %lld done", served);
        if (st == KIWI_EXIT_SIGNAL) {
            status = st;
            break;
        }
        if (st != KIWI_EXIT_OK && status == KIWI_EXIT_OK) {
            status = st; /* the first failing client's, at the end */
        }
        if (kiwi_detached_reader) {
            break;
        }
    }
    /* Removes the socket file (if it is still ours). */
    ipc_close(l);
    return status;
}

static int run(struct kiwi_options *o)
{
    char path[IPC_PATH_MAX];
    if (ipc_path(o->name, path, sizeof(path)) < 0) {
        /* The pipe name is the user's argument: a usage error. */
        kiwi_error("invalid pipe name: %s", ipc_last_error());
        return KIWI_EXIT_USAGE;
    }
    if (o->verb == KIWI_PATH) {
        printf("%s\n", path);
        return fflush(stdout) == 0 ? KIWI_EXIT_OK : KIWI_EXIT_FAIL;
    }
    int status = kiwi_load_messages(o);
    if (status != KIWI_EXIT_OK) {
        return status;
    }
    warn_path(o);
    if (o->verb == KIWI_LISTEN) {
        return run_listen(o, path);
    }
    int h = o->verb == KIWI_CREATE
                ? ipc_create_ex(o->name, o->timeout_ms, user_flags(o))
                : ipc_connect_ex(o->name, o->timeout_ms, user_flags(o));
    if (h < 0) {
        /* create has already removed its socket file. */
        return kiwi_ipc_failure(h);
    }
    kiwi_note(o, "%s %s",
              o->verb == KIWI_CREATE ? "a client connected to" : "connected to",
              path);
    note_peer(o, h);
    status = kiwi_session(h, o);
    ipc_close(h);
    return status;
}

int kiwi_main(int argc, char **argv)
{
    kiwi_os_setup(); /* signals (Windows: Ctrl-C), SIGPIPE, binary stdio */
    ipc_set_interrupt_hook(interrupt_hook, NULL);

    struct kiwi_options o;
    int status = kiwi_parse_args(argc, argv, &o);
    if (status < 0) {
        status = run(&o);
    }
    kiwi_free_messages(&o);

    if (status == KIWI_EXIT_SIGNAL) {
        /* Everything is cleaned up: end as an interrupted program does. */
        kiwi_os_die_of_signal(kiwi_signalled);
    }
    if (kiwi_detached_reader) {
        /* A thread is still blocked reading stdin: do not let exit()'s
         * stdio cleanup wait for its lock. */
        _exit(status);
    }
    return status;
}
