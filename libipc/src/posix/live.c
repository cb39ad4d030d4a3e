/*
 * posix/live.c - is a socket listening at a path? Answered without touching it.
 *
 * Connecting to find out is not an option: a Kiwi server blocked in create
 * accepts exactly one client, and a probe would be it.
 * - Linux: the socket is judged by its identity, not by a path string: the
 *   kernel's socket table (NETLINK_SOCK_DIAG, as `ss -xl` reads it) gives
 *   every listening Unix socket with the device and inode of the file it
 *   is bound to, and we compare them with what lstat() says of the path.
 *   So a listener bound under another spelling of the same path (a
 *   symlinked directory, "//") is seen, and a new file at an old path is
 *   not mistaken for the old socket. Where the netlink family is not
 *   available (no unix_diag), /proc/net/unix is read instead: flags
 *   (__SO_ACCEPTCON, 0x10000) and the bound path as a string.
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
#include <sys/stat.h>

#if defined(__linux__)
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#endif

#if defined(__APPLE__)
#include <libproc.h>
#include <sys/proc_info.h>
#include <sys/socket.h>
#endif

#define SO_ACCEPTCON_FLAG 0x10000UL

/*
 * Where the table gives only a bound path as a string (/proc/net/unix,
 * libproc): is `listed` our socket file `path` (whose lstat is *st)? The
 * same string, or another spelling of it (a symlinked directory, "//"):
 * the same last component and the same file.
 */
static int same_socket_file(const char *listed, size_t listed_len,
                            const char *path, const struct stat *st)
{
    size_t path_len = strlen(path);
    if (listed_len == path_len && memcmp(listed, path, path_len) == 0) {
        return 1;
    }
    const char *a = strrchr(path, '/');
    a = a != NULL ? a + 1 : path;
    size_t alen = strlen(a);
    if (listed_len < alen || memcmp(listed + listed_len - alen, a, alen) != 0 ||
        (listed_len > alen && listed[listed_len - alen - 1] != '/')) {
        return 0;
    }
    char copy[IPC_PATH_MAX + 1];
    if (listed_len >= sizeof(copy)) {
        return 0;
    }
    memcpy(copy, listed, listed_len);
    copy[listed_len] = '\0';
    struct stat other;
    return lstat(copy, &other) == 0 && other.st_dev == st->st_dev &&
           other.st_ino == st->st_ino;
}

#if defined(__linux__) && !defined(KIWI_IPC_PORTABLE)
/* TCP_LISTEN and TCP_CLOSE in the kernel's socket states, which Unix
 * sockets share: listening, and bound but neither listening nor connected
 * (a server between bind() and listen()). A connection accepted from a
 * listener carries the listener's path too, but is ESTABLISHED: it keeps
 * nobody's name alive once its listener is gone. */
#define DIAG_LISTEN 10
#define DIAG_CLOSE 7

/* Is a Unix socket bound to the file (dev, ino) open? IPC__PX_LISTENING,
 * IPC__PX_BOUND (open, not listening), 0 no, -1 the kernel's table cannot
 * be read this way. */
static int diag_bound(dev_t dev, ino_t ino)
{
    int s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (s < 0) {
        return -1;
    }
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } msg;
    memset(&msg, 0, sizeof(msg));
    msg.nlh.nlmsg_len = sizeof(msg);
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.req.sdiag_family = AF_UNIX;
    msg.req.udiag_states = 1u << DIAG_LISTEN | 1u << DIAG_CLOSE;
    msg.req.udiag_show = UDIAG_SHOW_VFS;
    if (send(s, &msg, sizeof(msg), 0) != (ssize_t)sizeof(msg)) {
        close(s);
        return -1;
    }
    /* The kernel's device numbers are MAJOR << 20 | MINOR. */
    unsigned kdev = (unsigned)(major(dev) << 20 | (minor(dev) & 0xfffffu));
    long buf[8192 / sizeof(long)]; /* aligned for nlmsghdr */
    int found = 0, done = 0, failed = 0;
    while (!done && !failed) {
        ssize_t n = recv(s, buf, sizeof(buf), 0);
        if (n <= 0) {
            failed = 1;
            break;
        }
        struct nlmsghdr *h = (struct nlmsghdr *)buf;
        for (; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) {
                done = 1;
                break;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                failed = 1; /* e.g. no unix_diag in this kernel */
                break;
            }
            struct unix_diag_msg *m = NLMSG_DATA(h);
            int alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
            struct rtattr *a = (struct rtattr *)(m + 1);
            for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
                if (a->rta_type != UNIX_DIAG_VFS) {
                    continue;
                }
                const struct unix_diag_vfs *v = RTA_DATA(a);
                if (v->udiag_vfs_ino == (uint32_t)ino &&
                    v->udiag_vfs_dev == kdev) {
                    int st = m->udiag_state == DIAG_LISTEN  ? IPC__PX_LISTENING
                             : m->udiag_state == DIAG_CLOSE ? IPC__PX_BOUND
                                                            : 0;
                    found = st > found ? st : found;
                }
            }
        }
    }
    close(s);
    if (found) {
        return found;
    }
    return failed ? -1 : 0;
}
#endif

#if defined(__linux__)
/* The fallback: /proc/net/unix, judged by the bound path (see
 * same_socket_file); answers as diag_bound. */
static int proc_bound(const char *path, const struct stat *st)
{
    FILE *f = fopen("/proc/net/unix", "re");
    if (f == NULL) {
        return -1;
    }
    int found = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    /* Num RefCount Protocol Flags Type St Inode Path */
    while (found != IPC__PX_LISTENING && (n = getline(&line, &cap, f)) > 0) {
        unsigned long flags, state;
        int at = 0;
        if (sscanf(line, "%*s %*s %*s %lx %*s %lx %*s %n", &flags, &state,
                   &at) < 2 ||
            at == 0) {
            continue;
        }
        /* St 01 is SS_UNCONNECTED: bound, not an accepted connection (see
         * DIAG_CLOSE above). */
        if ((flags & SO_ACCEPTCON_FLAG) == 0 && state != 1) {
            continue;
        }
        size_t len = (size_t)n - (size_t)at;
        if (len > 0 && line[at + len - 1] == '\n') {
            len--;
        }
        if (same_socket_file(line + at, len, path, st)) {
            int now =
                (flags & SO_ACCEPTCON_FLAG) ? IPC__PX_LISTENING : IPC__PX_BOUND;
            found = now > found ? now : found;
        }
    }
    free(line);
    fclose(f);
    return found;
}
#endif

#if defined(__APPLE__)
/* Does process `pid` hold a Unix socket bound to `path`? As diag_bound. */
static int pid_bound_at(pid_t pid, const char *path, const struct stat *st)
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
    for (int i = 0; i < n && found != IPC__PX_LISTENING; i++) {
        if (fds[i].proc_fdtype != PROX_FDTYPE_SOCKET) {
            continue;
        }
        struct socket_fdinfo si;
        if (proc_pidfdinfo(pid, fds[i].proc_fd, PROC_PIDFDSOCKETINFO, &si,
                           sizeof(si)) != (int)sizeof(si)) {
            continue;
        }
        const char *bound = si.psi.soi_proto.pri_un.unsi_addr.ua_sun.sun_path;
        size_t cap = sizeof(si.psi.soi_proto.pri_un.unsi_addr.ua_sun.sun_path);
        /* An accepted connection carries its listener's path: not a
         * holder of the name (see DIAG_CLOSE). */
        if (si.psi.soi_kind == SOCKINFO_UN &&
            (si.psi.soi_state & SOI_S_ISCONNECTED) == 0 &&
            same_socket_file(bound, strnlen(bound, cap), path, st)) {
            int now = (si.psi.soi_options & SO_ACCEPTCONN) ? IPC__PX_LISTENING
                                                           : IPC__PX_BOUND;
            found = now > found ? now : found;
        }
    }
    free(fds);
    return found;
}

static int bound_in_some_process(const char *path, const struct stat *st)
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
    for (int i = 0; i < n && found != IPC__PX_LISTENING; i++) {
        int now = pids[i] > 0 ? pid_bound_at(pids[i], path, st) : 0;
        found = now > found ? now : found;
    }
    free(pids);
    return n > 0 ? found : -1;
}
#endif

int ipc__px_bound_at(const char *path)
{
#if defined(__linux__) || defined(__APPLE__)
    struct stat st;
    if (lstat(path, &st) < 0) {
        return 0; /* no file: nobody can be reached at this path */
    }
#endif
#ifdef __linux__
    int live = -1;
#ifndef KIWI_IPC_PORTABLE
    live = diag_bound(st.st_dev, st.st_ino);
#endif
    return live >= 0 ? live : proc_bound(path, &st);
#elif defined(__APPLE__)
    return bound_in_some_process(path, &st);
#else
    (void)path;
    return -1;
#endif
}

int ipc__os_listening_at(const char *path)
{
    int live = ipc__px_bound_at(path);
    return live < 0 ? -1 : live == IPC__PX_LISTENING;
}
