/*
 * path.c - where a pipe name becomes a socket path.
 *
 * Mirrors .NET's PipeStream.GetPipePath on Unix (and so Kiwi): absolute names
 * are used verbatim, others land in the temp directory as
 * "CoreFxPipe_<name>". The rejections are .NET's too, so that a name that
 * works here works in Kiwi and the other way round.
 */
#include "path.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

static const char prefix[] = "CoreFxPipe_";

int ipc__resolve(const char *call, const char *name, char out[])
{
    if (name == NULL) {
        return ipc__fail(IPC_EINVAL, 0, "%s(NULL): the pipe name is NULL",
                         call);
    }
    if (name[0] == '\0') {
        return ipc__fail(IPC_EINVAL, 0, "%s(\"\"): the pipe name is empty",
                         call);
    }
    if (strcasecmp(name, "anonymous") == 0) {
        return ipc__fail(IPC_EINVAL, 0,
                         "%s(\"%s\"): \"anonymous\" is reserved as a pipe "
                         "name (in any letter case)",
                         call, name);
    }

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
    if (len > IPC__PATH_LEN_MAX) {
        return ipc__fail(IPC_EINVAL, 0,
                         "%s(\"%s\"): socket path %s%s%s%s is %zu bytes; "
                         "the limit is %d",
                         call, name, dir, sep, pre, name, len,
                         IPC__PATH_LEN_MAX);
    }
    snprintf(out, IPC_PATH_MAX, "%s%s%s%s", dir, sep, pre, name);
    return (int)len;
}

void ipc__sockaddr(struct sockaddr_un *addr, const char *path)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    /* ipc__resolve() guarantees that the path and its NUL fit. */
    memcpy(addr->sun_path, path, strlen(path) + 1);
}
