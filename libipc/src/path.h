/*
 * path.h - pipe name to socket path, exactly as .NET's GetPipePath.
 */
#ifndef IPC__PATH_H
#define IPC__PATH_H

#include <stddef.h>

/* Longest socket path (without its NUL) that fits sun_path. .NET refuses
 * longer ones, so we refuse at the same threshold: a name then works on both
 * sides or on neither. */
#ifdef __APPLE__
#define IPC__PATH_LEN_MAX 103
#else
#define IPC__PATH_LEN_MAX 107
#endif

/*
 * Resolve `name` into `out` (IPC_PATH_MAX bytes). `call` names the public
 * call for the error message ("create", "connect", ...). Returns the path's
 * length, or IPC_EINVAL with ipc_last_error() naming the broken rule.
 */
int ipc__resolve(const char *call, const char *name, char out[]);

struct sockaddr_un;

/* Fill a Unix socket address for a path from ipc__resolve(). */
void ipc__sockaddr(struct sockaddr_un *addr, const char *path);

#endif
