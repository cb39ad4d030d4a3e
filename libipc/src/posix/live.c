/*
 * posix/live.c - is a socket listening at a path? Answered without touching it.
 *
 * Connecting to find out is not an option: a Kiwi server blocked in create
 * accepts exactly one client, and a probe would be it.
 * - Linux: the kernel lists every Unix socket in /proc/net/unix, with its
 *   flags and bound path; a listening socket has __SO_ACCEPTCON (0x10000).
 * - macOS (compiled, not run, here): libproc lists each process's
 *   descriptors; a listening Unix socket has SO_ACCEPTCONN in its options
 *   and its bound path in its address. Only processes we may inspect are
 *   seen (our own user's, or all as root): a server of another user is not,
 *   and is then judged stale. In a shared, sticky /tmp its socket file
 *   cannot be removed by us anyway (EPERM), so it is never taken over.
 */
#include "posix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__APPLE__)
#include <libproc.h>
#include <sys/proc_info.h>
#include <sys/socket.h>
#endif

#define SO_ACCEPTCON_FLAG 0x10000UL

#if defined(__APPLE__)
/* Does process `pid` hold a listening Unix socket bound to `path`? */
static int pid_listens_at(pid_t pid, const char *path)
{
    int bytes = proc_pidinfo(pid, PROC_PIDLISTFDS, 0, NULL, 0);
    if (bytes <= 0) {
        return 0; /* gone, or not ours to inspect */
    }
    struct proc_fdinfo *fds = malloc((size_t)bytes);
    if (fds == NULL) {
        return 0;
    }
    bytes = proc_pidinfo(pid, PROC_PIDLISTFDS, 0, fds, bytes);
    int n = bytes > 0 ? bytes / (int)sizeof(*fds) : 0;
    int found = 0;
    for (int i = 0; i < n && !found; i++) {
        if (fds[i].proc_fdtype != PROX_FDTYPE_SOCKET) {
            continue;
        }
        struct socket_fdinfo si;
        if (proc_pidfdinfo(pid, fds[i].proc_fd, PROC_PIDFDSOCKETINFO, &si,
                           sizeof(si)) != (int)sizeof(si)) {
            continue;
        }
        found =
            si.psi.soi_kind == SOCKINFO_UN &&
            (si.psi.soi_options & SO_ACCEPTCONN) != 0 &&
            strncmp(
                si.psi.soi_proto.pri_un.unsi_addr.ua_sun.sun_path, path,
                sizeof(si.psi.soi_proto.pri_un.unsi_addr.ua_sun.sun_path)) == 0;
    }
    free(fds);
    return found;
}

static int listening_in_some_process(const char *path)
{
    int bytes = proc_listpids(PROC_ALL_PIDS, 0, NULL, 0);
    if (bytes <= 0) {
        return -1;
    }
    /* Room for processes started meanwhile. */
    size_t cap = (size_t)bytes + 64 * sizeof(pid_t);
    pid_t *pids = malloc(cap);
    if (pids == NULL) {
        return -1;
    }
    bytes = proc_listpids(PROC_ALL_PIDS, 0, pids, (int)cap);
    int n = bytes > 0 ? bytes / (int)sizeof(pid_t) : 0;
    int found = 0;
    for (int i = 0; i < n && !found; i++) {
        found = pids[i] > 0 && pid_listens_at(pids[i], path);
    }
    free(pids);
    return n > 0 ? found : -1;
}
#endif

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
#elif defined(__APPLE__)
    return listening_in_some_process(path);
#else
    (void)path;
    return -1;
#endif
}
