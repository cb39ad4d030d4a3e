/*
 * posix/live.c - is a socket listening at a path? Answered without touching it.
 *
 * Connecting to find out is not an option: a Kiwi server blocked in create
 * accepts exactly one client, and a probe would be it. On Linux the kernel
 * lists every Unix socket in /proc/net/unix, with its flags and bound path;
 * a listening socket has __SO_ACCEPTCON (0x10000) set.
 */
#include "posix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SO_ACCEPTCON_FLAG 0x10000UL

int ipc__os_listening_at(const char *path)
{
#ifdef __linux__
    FILE *f = fopen("/proc/net/unix", "re");
    if (f == NULL) {
        return -1;
    }
    int found = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    size_t path_len = strlen(path);
    /* Num RefCount Protocol Flags Type St Inode Path */
    while (!found && (n = getline(&line, &cap, f)) > 0) {
        unsigned long flags;
        int at = 0;
        if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %n", &flags, &at) < 1 ||
            at == 0 || (flags & SO_ACCEPTCON_FLAG) == 0) {
            continue;
        }
        size_t len = (size_t)n - (size_t)at;
        if (len > 0 && line[at + len - 1] == '\n') {
            len--;
        }
        found = len == path_len && memcmp(line + at, path, len) == 0;
    }
    free(line);
    fclose(f);
    return found;
#else
    (void)path;
    return -1;
#endif
}
