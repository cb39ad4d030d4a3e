/*
 * session.c - one connected pipe, in the order the issue fixes: send every
 * -d/-f, then receive per -n, printing, echoing or bridging (--exec); -l
 * sends stdin's lines meanwhile, from a thread of its own.
 *
 * Why threads and not poll(): the library buffers what it has read, so a
 * descriptor that poll() calls idle may hide whole frames already received
 *. A blocking ipc_recv_timeout() per direction is simple and
 * correct; the interrupt hook (main.c) ends every blocked call when a
 * signal comes or the session must stop.
 */
#include "kiwi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int kiwi_detached_reader;

/* -l: stdin's lines, sent as they come. */
struct line_sender {
    kiwi_thread *thread;
    int handle;
    const struct kiwi_options *o;
    atomic_int done;
    atomic_int sending; /* in kiwi_send(), not reading stdin */
    int status;         /* an exit status, once done */
    int closed;         /* the peer had gone: main reports it */
};

/* Send the k lines of a batch, with the -l thread's bookkeeping. 0, or -1
 * when the thread must stop (s->status and s->closed say why). */
static int send_batch(struct line_sender *s, const struct ipc_msg *msgs,
                      size_t k)
{
    atomic_store(&s->sending, 1);
    int closed = 0;
    int st = kiwi_send_many(s->handle, msgs, k, s->o->timeout_ms, &closed);
    if (st != KIWI_EXIT_OK) {
        s->closed = closed;
        s->status = st;
        return -1;
    }
    atomic_store(&s->sending, 0);
    for (size_t i = 0; i < k; i++) {
        kiwi_note(s->o, "sent %zu bytes (a line of stdin)", msgs[i].len);
    }
    if (k > 1) {
        kiwi_note(s->o, "sent %zu lines of stdin in one batch", k);
    }
    return 0;
}

/*
 * stdin is read a chunk at a time, as it comes (read(), not stdio, which
 * would hide what it has buffered): every line that a read completes is
 * sent, and all the lines that one read brings (those already waiting)
 * go out together as one batch, in as few system calls as the kernel
 * takes. A line typed alone still goes at once. The line ending is not
 * sent ("\r\n" too where kiwi_crlf_lines); a last line without one is
 * sent at the end of stdin.
 */
static void *send_lines(void *arg)
{
    struct line_sender *s = arg;
    enum { CHUNK = 64 * 1024, BATCH = 256 };
    struct ipc_msg msgs[BATCH];
    char *buf = NULL;
    size_t cap = 0, have = 0, scanned = 0; /* [0, scanned): no newline */
    int eof = 0;
    s->status = KIWI_EXIT_OK;
    while (!eof) {
        if (cap - have < CHUNK) {
            /* Doubling: a long line costs no more copies than its size. */
            size_t want = cap * 2 > have + CHUNK ? cap * 2 : have + CHUNK;
            char *bigger = realloc(buf, want);
            if (bigger == NULL) {
                kiwi_error("-l: out of memory for a line of %zu bytes", have);
                s->status = KIWI_EXIT_FAIL;
                break;
            }
            buf = bigger;
            cap = want;
        }
        ssize_t n = read(0, buf + have, cap - have);
        if (n < 0) {
            if (errno == EINTR && !kiwi_signalled) {
                continue;
            }
            s->status = kiwi_signalled ? KIWI_EXIT_SIGNAL : KIWI_EXIT_FAIL;
            if (!kiwi_signalled) {
                kiwi_error("-l: reading stdin: %s", strerror(errno));
            }
            break;
        }
        eof = n == 0;
        have += (size_t)n;
        size_t start = 0, k = 0;
        for (;;) {
            char *nl = memchr(buf + scanned, '\n', have - scanned);
            size_t end = nl != NULL ? (size_t)(nl - buf) : have;
            if (nl == NULL && !(eof && have > start)) {
                break;
            }
            size_t len = end - start;
            if (kiwi_crlf_lines && nl != NULL && len > 0 &&
                buf[end - 1] == '\r') {
                len--; /* "\r\n", as Windows programs end a line; a lone
                        * "\r" at the very end is kept */
            }
            msgs[k].data = buf + start;
            msgs[k++].len = len;
            start = scanned = nl != NULL ? end + 1 : end;
            if (k == BATCH && send_batch(s, msgs, k) != 0) {
                goto out;
            }
            k = k == BATCH ? 0 : k;
        }
        if (k > 0 && send_batch(s, msgs, k) != 0) {
            goto out;
        }
        /* The line still coming moves to the front. */
        memmove(buf, buf + start, have - start);
        have -= start;
        scanned = have;
    }
out:
    free(buf);
    atomic_store(&s->done, 1);
    return NULL;
}

/* -l, once -n is met: wait until every line of stdin is sent, or the peer
 * has closed ("or when the peer closes"), or a signal came. The peer's
 * close is seen with ipc_poll(), without receiving a message, so this
 * holds for -n 0, which receives none, and after -n messages alike; what
 * the poll asks for is the platform's (tool_os.h: kiwi_poll_end_events). A
 * message that comes meanwhile stays unread; if it makes the poll return
 * at once, the pause keeps this from spinning. A line on its way when the
 * peer closes is waited for: its send fails at once, and says so. Returns
 * an exit status. */
static int wait_lines(int h, struct line_sender *s, int *peer_gone)
{
    while (!atomic_load(&s->done)) {
        if (kiwi_signalled) {
            return KIWI_EXIT_SIGNAL;
        }
        struct ipc_pollitem item = {.handle = h,
                                    .events = kiwi_poll_end_events};
        int rc = ipc_poll(&item, 1, 50);
        if (rc < 0 && rc != IPC_EINTR) {
            return kiwi_ipc_failure(rc);
        }
        if (rc > 0 && (item.revents & (IPC_POLLHUP | IPC_POLLERR))) {
            *peer_gone = 1;
            kiwi_note(s->o, "the peer closed");
            while (atomic_load(&s->sending) && !atomic_load(&s->done)) {
                kiwi_sleep_ms(10);
            }
            return KIWI_EXIT_OK;
        }
        if (rc > 0) {
            kiwi_sleep_ms(10); /* an unread message: do not spin on it */
        }
    }
    return KIWI_EXIT_OK;
}

static int send_messages(int h, const struct kiwi_options *o)
{
    for (size_t i = 0; i < o->n_messages; i++) {
        const struct kiwi_message *m = &o->messages[i];
        int st = kiwi_send(h, m->data, m->len, o->timeout_ms, NULL);
        if (st != KIWI_EXIT_OK) {
            return st;
        }
        if (m->from_file) {
            kiwi_note(o, "sent %zu bytes (-f %s)", m->len, m->arg);
        } else {
            kiwi_note(o, "sent %zu bytes (-d)", m->len);
        }
    }
    return KIWI_EXIT_OK;
}

int kiwi_session(int h, const struct kiwi_options *o)
{
    atomic_store(&kiwi_stop, 0);
    if (o->have_max_size) {
        int rc = ipc_set_max_message(h, o->max_size);
        if (rc < 0) {
            return kiwi_ipc_failure(rc);
        }
    }
    int status = send_messages(h, o);
    if (status != KIWI_EXIT_OK) {
        return status;
    }

    struct line_sender lines = {.handle = h, .o = o};
    int have_lines = 0;
    if (o->lines) {
        if (kiwi_thread_start(&lines.thread, send_lines, &lines) != 0) {
            kiwi_error("cannot start a thread for -l");
            return KIWI_EXIT_FAIL;
        }
        have_lines = 1;
    }
    struct kiwi_bridge *bridge = NULL;
    if (o->exec) {
        bridge = kiwi_bridge_start(h, o);
        if (bridge == NULL) {
            return KIWI_EXIT_FAIL;
        }
    }

    long long received = 0;
    int peer_gone = 0;
    while (o->count < 0 || received < o->count) {
        void *data;
        size_t len;
        int rc = ipc_recv_timeout(h, &data, &len, o->timeout_ms);
        if (rc == IPC_EINTR && !kiwi_signalled && atomic_load(&kiwi_stop)) {
            break; /* --exec's command has ended: so does the session */
        }
        if (rc == IPC_ECLOSED) {
            peer_gone = 1;
            kiwi_note(o, "the peer closed after %lld messages", received);
            if (o->count >= 0) {
                kiwi_error("the peer closed after %lld of %lld messages",
                           received, o->count);
                status = KIWI_EXIT_CLOSED;
            }
            break;
        }
        if (rc < 0) {
            if (rc == IPC_EPROTO) {
                peer_gone = 1;
            }
            status = kiwi_ipc_failure(rc);
            break;
        }
        received++;
        kiwi_note(o, "received %zu bytes", len);
        if (bridge != NULL) {
            rc = kiwi_bridge_deliver(bridge, data, len);
            if (rc != 0) {
                ipc_free(data);
                if (rc == KIWI_EXIT_SIGNAL) {
                    status = rc;
                }
                break; /* the command no longer reads: it has ended */
            }
        } else if (!o->quiet) {
            if (kiwi_write_message(STDOUT_FILENO, o->format, data, len) < 0) {
                int err = errno;
                ipc_free(data);
                if (kiwi_signalled) {
                    status = KIWI_EXIT_SIGNAL;
                } else {
                    kiwi_error("writing to stdout: %s", strerror(err));
                    status = KIWI_EXIT_FAIL;
                }
                break;
            }
        }
        if (o->echo) {
            int st = kiwi_send(h, data, len, o->timeout_ms, NULL);
            if (st != KIWI_EXIT_OK) {
                ipc_free(data);
                status = st;
                break;
            }
        }
        ipc_free(data);
    }

    if (bridge != NULL) {
        status = kiwi_bridge_finish(bridge, status, peer_gone);
        /* Its thread, which set the flag, is joined: clear it, or the
         * hook would stop listen's next accept at once. */
        atomic_store(&kiwi_stop, 0);
    }
    if (have_lines) {
        /* Every line of stdin is sent before the run ends, unless the run
         * is failing anyway, or the peer has gone. */
        if (status == KIWI_EXIT_OK && !peer_gone) {
            status = wait_lines(h, &lines, &peer_gone);
        }
        if (atomic_load(&lines.done)) {
            kiwi_thread_join(lines.thread);
            if (status == KIWI_EXIT_OK && lines.status != KIWI_EXIT_OK) {
                status = lines.status;
                if (lines.closed) {
                    kiwi_error("send: the peer closed before all of stdin "
                               "was sent");
                }
            }
        } else {
            /* Blocked reading stdin: it cannot be woken. main ends the
             * process with _exit(), which does not wait for it. */
            kiwi_thread_detach(lines.thread);
            kiwi_detached_reader = 1;
        }
    }
    return status;
}
