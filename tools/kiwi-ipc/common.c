/*
 * common.c - what every part of the tool shares: the flags that stop it,
 * messages on stderr, the exit status of a library failure, and waiting
 * for a thread's flag. (Kept apart from main.c, so that no part of the
 * tool reaches back into another.)
 */
#include "kiwi.h"

#include <stdarg.h>
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
