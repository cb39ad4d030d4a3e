/*
 * bridge.c - --exec CMD: run CMD through the platform's shell (/bin/sh -c;
 * Windows: cmd.exe /d /s /c, see spawn_win32.c); each received message
 * becomes a line on its stdin (session.c delivers them), and each line it
 * writes becomes a message (a thread here sends them). The bridge ends
 * when CMD's output ends (it has exited) or when the peer closes.
 */
#include "kiwi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* After the peer has gone, how long CMD may take to exit on its own once
 * its stdin is closed, before it is asked to stop (SIGTERM), and then
 * before it is made to (SIGKILL). */
#define GRACE_MS 1000

struct kiwi_bridge {
    struct kiwi_child *child;
    int to_cmd;   /* CMD's stdin, or -1 once closed */
    int from_cmd; /* CMD's stdout */
    kiwi_thread *thread;
    int handle;
    const struct kiwi_options *o;
    atomic_int done;
    atomic_int peer_gone; /* the thread's send found the peer gone */
    int status;           /* the sending thread's exit status */
};

/* CMD's lines, each sent as a message. */
static void *send_output(void *arg)
{
    struct kiwi_bridge *b = arg;
    FILE *in = fdopen(b->from_cmd, "rb"); /* "b": Windows, no CRLF games */
    b->status = KIWI_EXIT_OK;
    if (in == NULL) {
        kiwi_error("--exec: %s", strerror(errno));
        close(b->from_cmd);
        b->status = KIWI_EXIT_FAIL;
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = kiwi_getline(&line, &cap, in)) >= 0) {
            int rc =
                ipc_send_timeout(b->handle, line, (size_t)n, b->o->timeout_ms);
            if (rc == IPC_ECLOSED) {
                /* The peer has gone; the session's receive may only see
                 * the stop flag, so say it here too. */
                atomic_store(&b->peer_gone, 1);
                break;
            }
            if (rc < 0) {
                b->status = kiwi_ipc_failure(rc);
                break;
            }
            kiwi_note(b->o, "sent %zd bytes (a line of --exec's output)", n);
        }
        free(line);
        /* Closing our end makes a CMD that still writes get SIGPIPE (on
         * Windows, a failed write) rather than block forever. */
        fclose(in);
    }
    atomic_store(&b->done, 1);
    /* CMD's output has ended: stop the session's blocked receive. */
    atomic_store(&kiwi_stop, 1);
    return NULL;
}

struct kiwi_bridge *kiwi_bridge_start(int handle, const struct kiwi_options *o)
{
    struct kiwi_bridge *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        kiwi_error("--exec: %s", strerror(errno));
        return NULL;
    }
    b->handle = handle;
    b->o = o;
    b->child = kiwi_child_start(o->exec, &b->to_cmd, &b->from_cmd);
    if (b->child == NULL) {
        free(b);
        return NULL;
    }
    kiwi_note(o, "started %s '%s' (pid %ld)", kiwi_shell_text, o->exec,
              kiwi_child_pid(b->child));
    if (kiwi_thread_start(&b->thread, send_output, b) != 0) {
        kiwi_error("--exec: cannot start a thread");
        close(b->to_cmd);
        close(b->from_cmd);
        kiwi_child_stop(b->child, 2);
        kiwi_child_free(b->child);
        free(b);
        return NULL;
    }
    return b;
}

int kiwi_bridge_deliver(struct kiwi_bridge *b, const char *data, size_t len)
{
    if (kiwi_write_message(b->to_cmd, b->o->format, data, len) == 0) {
        return 0;
    }
    if (kiwi_signalled) {
        return KIWI_EXIT_SIGNAL;
    }
    if (errno != EPIPE) {
        kiwi_error("--exec: writing to the command: %s", strerror(errno));
    }
    return -1;
}

int kiwi_bridge_finish(struct kiwi_bridge *b, int status, int peer_gone)
{
    if (b->to_cmd >= 0) {
        close(b->to_cmd); /* EOF on CMD's stdin: its cue to finish */
        b->to_cmd = -1;
    }
    /* Wait for CMD's output to be sent and for CMD to exit. Without a
     * reason to hurry, as long as it takes; after a signal or once the
     * peer has gone, GRACE_MS, then stop step 1 (SIGTERM), then step 2
     * (SIGKILL). */
    long long hurry_since = -1;
    int asked = 0, insisted = 0, killed_by_us = 0;
    int reaped = 0;
    for (;;) {
        if (!reaped) {
            reaped = kiwi_child_exited(b->child);
        }
        if (reaped && atomic_load(&b->done)) {
            break;
        }
        if (kiwi_signalled) {
            status = KIWI_EXIT_SIGNAL;
        }
        if (hurry_since < 0 && (peer_gone || atomic_load(&b->peer_gone) ||
                                status == KIWI_EXIT_SIGNAL)) {
            hurry_since = kiwi_now_ms();
        }
        if (hurry_since >= 0 && !reaped) {
            long long waited = kiwi_now_ms() - hurry_since;
            /* After a signal, no grace: the user asked to stop. */
            long long grace = status == KIWI_EXIT_SIGNAL ? 0 : GRACE_MS;
            if (!asked && waited >= grace) {
                kiwi_child_stop(b->child, 1);
                asked = killed_by_us = 1;
            } else if (!insisted && waited >= grace + GRACE_MS) {
                kiwi_child_stop(b->child, 2);
                insisted = 1;
            }
        }
        kiwi_sleep_ms(10);
    }
    kiwi_thread_join(b->thread);

    if (status == KIWI_EXIT_OK) {
        status = b->status;
    }
    int gone = peer_gone || atomic_load(&b->peer_gone);
    char why[64];
    if (status == KIWI_EXIT_OK && !killed_by_us &&
        kiwi_child_failed(b->child, gone, atomic_load(&b->peer_gone), why,
                          sizeof(why))) {
        kiwi_error("--exec: '%s' %s", b->o->exec, why);
        status = KIWI_EXIT_FAIL;
    }
    kiwi_note(b->o, "--exec's command has ended");
    kiwi_child_free(b->child);
    free(b);
    return status;
}
