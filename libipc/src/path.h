/*
 * path.h - pipe name to path, exactly as .NET's GetPipePath.
 */
#ifndef IPC__PATH_H
#define IPC__PATH_H

/*
 * Resolve `name` into `out` (IPC_PATH_MAX bytes). `call` names the public
 * call for the error message ("create", "connect", ...). Returns the path's
 * length, or IPC_EINVAL with ipc_last_error() naming the broken rule.
 */
int ipc__resolve(const char *call, const char *name, char out[]);

#endif
