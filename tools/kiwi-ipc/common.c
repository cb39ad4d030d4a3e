/*
 * common.c - what every part of the tool shares: the flags that stop it,
 * messages on stderr, the exit status of a library failure, and waiting
 * for a thread's flag. (Kept apart from main.c, so that no part of the
 * tool reaches back into another.)
 */
#include "kiwi.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#if ATOMIC_INT_LOCK_FREE != 2
#error "the signal handler needs a lock-free atomic_int"
#endif

atomic_int kiwi_signalled;
atomic_int kiwi_stop;

static void vreport(const char *fmt, va_list ap)
{
    /* One write per message: two threads may report at once. */
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "kiwi-ipc: ");
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    if (n > (int)sizeof(buf) - 2) {
        n = (int)sizeof(buf) - 2;
    }
    buf[n++] = '\n';
    (void)!write(STDERR_FILENO, buf, (size_t)n);
}

void kiwi_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
}

void kiwi_note(const struct kiwi_options *o, const char *fmt, ...)
{
    if (!o->verbose || o->quiet) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
}

int kiwi_ipc_failure(int status)
{
    if (status == IPC_EINTR && kiwi_signalled) {
        return KIWI_EXIT_SIGNAL;
    }
    /* ipc_last_error() names the call, the pipe, the path and the cause. */
    kiwi_error("%s [%s]", ipc_last_error(), ipc_errname(status));
    if (status == IPC_ETIMEDOUT || status == IPC_ENOSERVER) {
        return KIWI_EXIT_TIMEOUT;
    }
    return KIWI_EXIT_FAIL;
}

/* The message of a send whose rest -t did not leave time to write: the
 * library's own (from ipc_flush) would speak of "an earlier message" and
 * "the next call", which the tool's user never sees. */
static int unfinished(int h, int rc, size_t len)
{
    if (rc == IPC_EINTR && kiwi_signalled) {
        return KIWI_EXIT_SIGNAL;
    }
    char name[IPC_PATH_MAX] = "?", path[IPC_PATH_MAX] = "?";
    (void)ipc_name(h, name, sizeof(name));
    (void)ipc_handle_path(h, path, sizeof(path));
    kiwi_error("send on \"%s\" (%s): %s with part of a message of %zu bytes "
               "not yet written (the peer did not take it): the peer gets "
               "it cut short [%s]",
               name, path, rc == IPC_ETIMEDOUT ? "timed out" : "interrupted",
               len, ipc_errname(rc));
    return rc == IPC_ETIMEDOUT ? KIWI_EXIT_TIMEOUT : KIWI_EXIT_FAIL;
}

int kiwi_send(int h, const void *data, size_t len, int timeout_ms, int *closed)
{
    long long deadline =
        timeout_ms == IPC_FOREVER ? -1 : kiwi_now_ms() + timeout_ms;
    int rc = ipc_send_timeout(h, data, len, timeout_ms);
    if (rc == 0) {
        /* Committed: wholly written, or its rest kept. Finish it. */
        int left = IPC_FOREVER;
        if (deadline >= 0) {
            long long ms = deadline - kiwi_now_ms();
            left = ms > 0 ? (int)ms : 0;
        }
        rc = ipc_flush(h, left);
        if (rc == IPC_ETIMEDOUT || rc == IPC_EINTR) {
            return unfinished(h, rc, len);
        }
    }
    if (rc == IPC_ECLOSED && closed != NULL) {
        *closed = 1;
        return KIWI_EXIT_FAIL;
    }
    return rc == 0 ? KIWI_EXIT_OK : kiwi_ipc_failure(rc);
}

int kiwi_send_many(int h, const struct ipc_msg *msgs, size_t n, int timeout_ms,
                   int *closed)
{
    long long deadline =
        timeout_ms == IPC_FOREVER ? -1 : kiwi_now_ms() + timeout_ms;
    size_t done = 0;
    int rc = 0;
    while (rc >= 0 && done < n) {
        int left = IPC_FOREVER;
        if (deadline >= 0) {
            long long ms = deadline - kiwi_now_ms();
            left = ms > 0 ? (int)ms : 0;
        }
        /* A count short of the rest: the time ran out (or a signal came)
         * part-way; the next call, with what is left of -t, goes on from
         * the first message not sent, or reports why it cannot. */
        rc = ipc_send_many(h, msgs + done, n - done, left);
        if (rc > 0) {
            done += (size_t)rc;
        }
    }
    if (rc >= 0) {
        /* All committed: finish the last one's rest, if any, as kiwi_send
         * does. */
        int left = IPC_FOREVER;
        if (deadline >= 0) {
            long long ms = deadline - kiwi_now_ms();
            left = ms > 0 ? (int)ms : 0;
        }
        rc = ipc_flush(h, left);
        if (rc == IPC_ETIMEDOUT || rc == IPC_EINTR) {
            return unfinished(h, rc, msgs[n - 1].len);
        }
    }
    if (rc == IPC_ECLOSED && closed != NULL) {
        *closed = 1;
        return KIWI_EXIT_FAIL;
    }
    return rc >= 0 ? KIWI_EXIT_OK : kiwi_ipc_failure(rc);
}

/* Wait until *flag is set or a signal came. Returns 0 or KIWI_EXIT_SIGNAL. */
int kiwi_wait_flag(atomic_int *flag)
{
    while (!atomic_load(flag)) {
        if (kiwi_signalled) {
            return KIWI_EXIT_SIGNAL;
        }
        kiwi_sleep_ms(10);
    }
    return 0;
}
