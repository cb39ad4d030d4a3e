/*
 * path.c - where a pipe name becomes a path: the checks .NET makes on every
 * OS, then the OS's own rule (ipc__os_pipe_path).
 */
#include "path.h"

#include "error.h"
#include "os.h"

#include <stddef.h>

/* .NET compares with OrdinalIgnoreCase; for this ASCII word that is an
 * ASCII case fold (no locale, no <strings.h>). */
static int is_reserved(const char *name)
{
    static const char word[] = "anonymous";
    for (size_t i = 0; i < sizeof(word); i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != word[i]) {
            return 0;
        }
    }
    return 1;
}

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
    if (is_reserved(name)) {
        return ipc__fail(IPC_EINVAL, 0,
                         "%s(\"%s\"): \"anonymous\" is reserved as a pipe "
                         "name (in any letter case)",
                         call, name);
    }
    return ipc__os_pipe_path(call, name, out);
}
