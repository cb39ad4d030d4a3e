/*
 * error.h - status names and this thread's detailed last-error message.
 */
#ifndef IPC__ERROR_H
#define IPC__ERROR_H

#include "kiwi_ipc.h"
#include "os.h"

#include <stddef.h>

/* The printf dialect our messages are checked as: the C library's, unless
 * the build says otherwise (mingw-w64: gnu_printf, whose %zu and %lld its
 * C99 stdio implements, where the default check is msvcrt's). */
#ifndef IPC__PRINTF_FORMAT
#define IPC__PRINTF_FORMAT printf
#endif

/*
 * Record this thread's last failure and return `status`, so a failing path
 * reads `return ipc__fail(IPC_EINVAL, 0, "create(\"%s\"): ...", name);`.
 * `os_error` is the errno behind it, or 0; when nonzero, ": <strerror>" is
 * appended to the message. The message is never truncated.
 */
int ipc__fail(int status, int os_error, const char *fmt, ...)
    __attribute__((format(IPC__PRINTF_FORMAT, 3, 4)));

/* ipc__fail() with the message prefixed by `who`. */
int ipc__fail_who(int status, int os_error, const struct ipc__who *who,
                  const char *fmt, ...)
    __attribute__((format(IPC__PRINTF_FORMAT, 4, 5)));

/* The one way a message names its caller, written into buf (cap bytes):
 *   call(handle) on "name" (path)   a handle with a name (path if known)
 *   call(handle)                    a handle without one
 *   call("name")                    a call by name (handle <= 0)
 * ipc__fail_who() starts its message with it. */
void ipc__who_format(char *buf, size_t cap, const struct ipc__who *who);

/* ipc__who_format() of a call by name: `call("name")`. */
void ipc__who_name(char *who, size_t cap, const char *call, const char *name);

#endif
