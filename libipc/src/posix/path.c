/*
 * posix/path.c - .NET's pipe name -> socket path rule on Unix
 * (PipeStream.GetPipePath), and so Kiwi's.
 *
 * Absolute names are used verbatim; others land in the temp directory as
 * "CoreFxPipe_<name>". The rejections are .NET's too, so that a name that
 * works here works in Kiwi and the other way round.
 */
#include "posix.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char prefix[] = "CoreFxPipe_";

int ipc__os_pipe_path(const char *call, const char *name, char out[])
{
    size_t name_len = strlen(name);
    const char *dir = "";
    const char *sep = "";
    const char *pre = "";
    if (name[0] == '/') {
        if (name[name_len - 1] == '/') {
            return ipc__fail(IPC_EINVAL, 0,
                             "%s(\"%s\"): an absolute pipe name must not end "
                             "in '/'",
                             call, name);
        }
    } else {
        if (strchr(name, '/') != NULL) {
            return ipc__fail(IPC_EINVAL, 0,
                             "%s(\"%s\"): a pipe name may contain '/' only "
                             "if it is an absolute path",
                             call, name);
        }
        /* .NET: Path.GetTempPath() is $TMPDIR if set and non-empty (with a
         * '/' added when missing), else "/tmp/". */
        dir = getenv("TMPDIR");
        if (dir == NULL || dir[0] == '\0') {
            dir = "/tmp/";
        }
        if (dir[strlen(dir) - 1] != '/') {
            sep = "/";
        }
        pre = prefix;
    }

    size_t len = strlen(dir) + strlen(sep) + strlen(pre) + name_len;
    if (len > IPC__OS_PATH_LEN_MAX) {
        return ipc__fail(IPC_EINVAL, 0,
                         "%s(\"%s\"): socket path %s%s%s%s is %zu bytes; "
                         "the limit is %d",
                         call, name, dir, sep, pre, name, len,
                         IPC__OS_PATH_LEN_MAX);
    }
    snprintf(out, IPC_PATH_MAX, "%s%s%s%s", dir, sep, pre, name);
    return (int)len;
}
