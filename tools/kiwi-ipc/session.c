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

static void *send_lines(void *arg)
{
    struct line_sender *s = arg;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    s->status = KIWI_EXIT_OK;
    while ((n = kiwi_getline(&line, &cap, stdin)) >= 0) {
        atomic_store(&s->sending, 1);
        int closed = 0;
        int st =
            kiwi_send(s->handle, line, (size_t)n, s->o->timeout_ms, &closed);
        if (st != KIWI_EXIT_OK) {
            s->closed = closed;
            s->status = st;
            break;
        }
        atomic_store(&s->sending, 0);
        kiwi_note(s->o, "sent %zd bytes (a line of stdin)", n);
    }
    if (n < 0 && ferror(stdin) && s->status == KIWI_EXIT_OK) {
        s->status = kiwi_signalled ? KIWI_EXIT_SIGNAL : KIWI_EXIT_FAIL;
        if (!kiwi_signalled) {
            kiwi_error("-l: reading stdin: %s", strerror(errno));
        }
    }
    free(line);
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
