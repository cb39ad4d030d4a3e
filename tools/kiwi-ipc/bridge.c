/*
 * bridge.c - --exec CMD: run CMD through the platform's shell (/bin/sh -c;
 * Windows: cmd.exe /d /s /c, see spawn_win32.c); each received message
 * becomes a line on its stdin (session.c delivers them), and each line it
 * writes becomes a message (a thread here sends them). The bridge ends
 * when CMD has exited and its output is sent, or when the peer closes;
 * stopping CMD stops its whole process group (Windows: its job), and so
 * does its end, for what it left running (spawn_*.c).
 */
#include "kiwi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* After the peer has gone, how long CMD may take to exit on its own once
 * its stdin is closed, before it is asked to stop (SIGTERM to its group),
 * and then before it is made to (SIGKILL). */
#define GRACE_MS 1000

/* How often the reader, while CMD's output is idle, looks whether CMD has
 * exited. */
#define READ_SLICE_MS 20

struct kiwi_bridge {
    struct kiwi_child *child;
    int to_cmd;   /* CMD's stdin, or -1 once closed */
    int from_cmd; /* CMD's stdout */
    kiwi_thread *thread;
    int handle;
    const struct kiwi_options *o;
    atomic_int done;
    atomic_int exited;    /* the thread saw CMD exit (and reaped it) */
    atomic_int peer_gone; /* the thread's send found the peer gone */
    int status;           /* the sending thread's exit status */
};

/* The line being put together from CMD's output. */
struct line {
    char *data;
    size_t len, cap;
};

static int line_add(struct line *l, const char *p, size_t n)
{
    if (l->len + n > l->cap) {
        size_t cap = l->cap < 256 ? 256 : l->cap;
        while (cap < l->len + n) {
            cap *= 2;
        }
        char *d = realloc(l->data, cap);
        if (d == NULL) {
            return -1;
        }
        l->data = d;
        l->cap = cap;
    }
    memcpy(l->data + l->len, p, n);
    l->len += n;
    return 0;
}

/* Send the line (without its ending) and start the next. Returns 0, or -1
 * when the thread must stop (the peer has gone, or a failure: printed). */
static int line_send(struct kiwi_bridge *b, struct line *l)
{
    size_t n = l->len;
    if (kiwi_crlf_lines && n > 0 && l->data[n - 1] == '\r') {
        n--; /* "\r\n", as Windows programs end a line */
    }
    l->len = 0;
    int closed = 0;
    int st = kiwi_send(b->handle, l->data, n, b->o->timeout_ms, &closed);
    if (closed) {
        /* The session's receive may only see the stop flag: say it here
         * too. */
        atomic_store(&b->peer_gone, 1);
        return -1;
    }
    if (st != KIWI_EXIT_OK) {
        b->status = st;
        return -1;
    }
    kiwi_note(b->o, "sent %zu bytes (a line of --exec's output)", n);
    return 0;
}

/* CMD's lines, each sent as a message, until its output ends, or until CMD
 * has exited and what it wrote is read. The second matters when something
 * CMD started still holds its stdout (`sleep 30 & echo started`, or a
 * process that left CMD's group): the end of the output may be far off,
 * but CMD's part of it is all in the pipe once CMD has exited, so the
 * bytes the pipe holds then are read, and no more. That keeps the
 * session's end, and the stop bounds after the peer has gone, CMD's. */
static void *send_output(void *arg)
{
    struct kiwi_bridge *b = arg;
    enum { CHUNK = 64 * 1024 };
    char *chunk = malloc(CHUNK);
    struct line line = {NULL, 0, 0};
    long long left = -1; /* once CMD has exited: the bytes still to read */
    int failed = chunk == NULL;
    b->status = KIWI_EXIT_OK;
    while (!failed) {
        if (left < 0) {
            int r = kiwi_pipe_wait(b->from_cmd, READ_SLICE_MS);
            if (r < 0) {
                kiwi_error("--exec: reading the command's output: %s",
                           strerror(errno));
                b->status = KIWI_EXIT_FAIL;
                break;
            }
            if (kiwi_child_exited(b->child)) {
                atomic_store(&b->exited, 1);
                left = kiwi_pipe_available(b->from_cmd);
                if (left < 0) {
                    left = 0;
                }
            } else if (r == 0) {
                continue;
            }
        }
        if (left == 0) {
            break;
        }
        size_t want = left > 0 && left < CHUNK ? (size_t)left : CHUNK;
        ssize_t n = read(b->from_cmd, chunk, want);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            kiwi_error("--exec: reading the command's output: %s",
                       strerror(errno));
            b->status = KIWI_EXIT_FAIL;
            break;
        }
        if (n == 0) {
            break; /* the end of CMD's output */
        }
        if (left > 0) {
            left -= n;
        }
        const char *p = chunk, *end = chunk + n;
        while (!failed && p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl != NULL ? nl : end;
            if (line_add(&line, p, (size_t)(stop - p)) < 0) {
                failed = 1;
            } else if (nl != NULL && line_send(b, &line) < 0) {
                goto out;
            }
            p = nl != NULL ? nl + 1 : end;
        }
    }
    if (failed) {
        kiwi_error("--exec: out of memory");
        b->status = KIWI_EXIT_FAIL;
    } else if (line.len > 0 && b->status == KIWI_EXIT_OK) {
        (void)line_send(b, &line); /* a last line without a newline */
    }
out:
    free(chunk);
    free(line.data);
    /* Closing our end makes a CMD that still writes get SIGPIPE (on
     * Windows, a failed write) rather than block forever. */
    close(b->from_cmd);
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
     * (SIGKILL), each to CMD's group. Whatever holds CMD's stdout then,
     * the reader ends once CMD has exited (send_output), so these bounds
     * are the bridge's. */
    long long hurry_since = -1;
    int asked = 0, insisted = 0, killed_by_us = 0;
    for (;;) {
        /* While the thread runs, it alone reaps CMD (tool_os.h). */
        int done = atomic_load(&b->done);
        int reaped =
            atomic_load(&b->exited) || (done && kiwi_child_exited(b->child));
        if (reaped && done) {
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
    /* What CMD left running in its group (a background job) goes with it,
     * as its job's processes do on Windows. */
    kiwi_child_stop(b->child, 1);

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
