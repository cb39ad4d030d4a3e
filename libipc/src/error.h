/*
 * error.h - status names and this thread's detailed last-error message.
 */
#ifndef IPC__ERROR_H
#define IPC__ERROR_H

#include "kiwi_ipc.h"

/*
 * Record this thread's last failure and return `status`, so a failing path
 * reads `return ipc__fail(IPC_EINVAL, 0, "create(\"%s\"): ...", name);`.
 * `os_error` is the errno behind it, or 0; when nonzero, ": <strerror>" is
 * appended to the message. The message is never truncated.
 */
int ipc__fail(int status, int os_error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
