/*
 * posix/peer.c - who is at the other end of a Unix socket, and whether the
 * path to it is one that another user could redirect.
 *
 * Linux gives pid, uid and gid with SO_PEERCRED. macOS (compile-checked
 * only) gives uid and gid with getpeereid() and the pid with LOCAL_PEERPID;
 * other BSDs only getpeereid(). The kernel records them when the connection
 * is made (Linux: at connect() for a client, at listen() for a server), so
 * they cannot be spoofed by the peer afterwards.
 */
#include "posix.h"

#include "error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#if defined(__APPLE__)
#include <sys/ucred.h> /* LOCAL_PEERPID, SOL_LOCAL */
#endif

int ipc__os_peer(const char *who, const struct ipc__stream *s,
                 struct ipc_peer *out)
{
    out->known = 0;
    out->pid = out->uid = out->gid = -1;
#if defined(SO_PEERCRED) && defined(__linux__)
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(s->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        return ipc__fail(IPC_ESYSTEM, errno,
                         "%s: cannot read the peer's credentials", who);
    }
    /* A peer in another pid namespace shows as pid 0: not known. */
    if (cred.pid > 0) {
        out->pid = cred.pid;
        out->known |= IPC_PEER_PID;
    }
    out->uid = cred.uid;
    out->gid = cred.gid;
    out->known |= IPC_PEER_UID | IPC_PEER_GID;
    return 0;
#else
    uid_t uid;
    gid_t gid;
    if (getpeereid(s->fd, &uid, &gid) != 0) {
        return ipc__fail(IPC_ESYSTEM, errno,
                         "%s: cannot read the peer's credentials", who);
    }
    out->uid = uid;
    out->gid = gid;
    out->known |= IPC_PEER_UID | IPC_PEER_GID;
#if defined(LOCAL_PEERPID)
    pid_t pid;
    socklen_t len = sizeof(pid);
    /* Optional: older systems lack it, and uid is what the check needs. */
    if (getsockopt(s->fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) == 0 &&
        pid > 0) {
        out->pid = pid;
        out->known |= IPC_PEER_PID;
    }
#endif
    return 0;
#endif
}

int ipc__os_check_peer(const char *who, const char *path, const char *peer_is,
                       const struct ipc__stream *s)
{
    struct ipc_peer peer;
    int rc = ipc__os_peer(who, s, &peer);
    if (rc < 0) {
        return rc;
    }
    long long me = (long long)geteuid();
    if (peer.uid == me) {
        return 0;
    }
    char pid[32] = "";
    if (peer.known & IPC_PEER_PID) {
        snprintf(pid, sizeof(pid), " (pid %lld)", peer.pid);
    }
    return ipc__fail(IPC_EPERM, 0,
                     "%s: the %s at %s is run by uid %lld%s, not by uid %lld "
                     "(ours); refused (IPC_ANY_USER accepts it)",
                     who, peer_is, path, peer.uid, pid, me);
}

/* ---- the path ---------------------------------------------------------- */

/* Can users other than us and root change what lies under directory `st`?
 * Returns the reason, or NULL. Group write counts unless the group is our
 * own (a user-private group, as Debian gives every user). */
static const char *dir_untrusted(const struct stat *st, uid_t me)
{
    if (st->st_uid != me && st->st_uid != 0) {
        return "is owned by another user";
    }
    int others = (st->st_mode & S_IWOTH) != 0 ||
                 ((st->st_mode & S_IWGRP) != 0 && st->st_gid != getegid());
    if (others && (st->st_mode & S_ISVTX) == 0) {
        return "is writable by other users and has no sticky bit";
    }
    return NULL;
}

/* Links followed before giving up, as the kernel's MAXSYMLINKS. */
#define LINK_HOPS_MAX 40

/*
 * Walk the directory part of `path` one component at a time with lstat(),
 * as the kernel resolves it: every directory met must be trusted
 * (dir_untrusted), and every symbolic link owned by us or root; a link is
 * followed by splicing its target into what remains to walk. A component
 * that does not exist ends the walk: nothing is there to redirect yet (and
 * bind or connect will say what is missing).
 */
int ipc__os_check_path(const char *who, const char *path)
{
    /* `todo` holds what remains to resolve; `done` the resolved prefix. */
    char todo[PATH_MAX], done[PATH_MAX], link[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        return 0; /* not reachable: pipe paths are absolute */
    }
    size_t dlen = slash == path ? 1 : (size_t)(slash - path); /* "/" */
    if (dlen >= sizeof(todo)) {
        return ipc__fail(IPC_ESYSTEM, ENAMETOOLONG,
                         "%s: cannot check the directories of %s", who, path);
    }
    memcpy(todo, path, dlen);
    todo[dlen] = '\0';
    uid_t me = geteuid();
    int hops = 0;
    /* The root directory first: "/" itself. */
    strcpy(done, "/");
    struct stat st;
    if (lstat("/", &st) == 0 && dir_untrusted(&st, me) != NULL) {
        return ipc__fail(IPC_EPERM, 0, "%s: the directory / %s", who,
                         dir_untrusted(&st, me));
    }
    char *rest = todo;
    for (;;) {
        while (*rest == '/') {
            rest++;
        }
        if (*rest == '\0') {
            return 0;
        }
        char *end = strchr(rest, '/');
        size_t clen = end ? (size_t)(end - rest) : strlen(rest);
        if (clen == 1 && rest[0] == '.') {
            rest += clen;
            continue;
        }
        if (clen == 2 && rest[0] == '.' && rest[1] == '.') {
            char *up = strrchr(done, '/');
            if (up != NULL && up != done) {
                *up = '\0';
            } else {
                strcpy(done, "/");
            }
            rest += clen;
            continue;
        }
        size_t have = strlen(done);
        int root = have == 1;
        if (have + 1 + clen >= sizeof(done)) {
            return ipc__fail(IPC_ESYSTEM, ENAMETOOLONG,
                             "%s: cannot check the directories of %s", who,
                             path);
        }
        char *at = done + have;
        if (!root) {
            *at++ = '/';
        }
        memcpy(at, rest, clen);
        at[clen] = '\0';
        rest += clen;
        if (lstat(done, &st) < 0) {
            if (errno == ENOENT || errno == ENOTDIR) {
                return 0;
            }
            return ipc__fail(IPC_ESYSTEM, errno, "%s: cannot inspect %s", who,
                             done);
        }
        if (S_ISLNK(st.st_mode)) {
            if (st.st_uid != me && st.st_uid != 0) {
                return ipc__fail(IPC_EPERM, 0,
                                 "%s: the path %s goes through the symbolic "
                                 "link %s, owned by uid %lld, not by us (uid "
                                 "%lld) or root",
                                 who, path, done, (long long)st.st_uid,
                                 (long long)me);
            }
            if (++hops > LINK_HOPS_MAX) {
                return ipc__fail(IPC_ESYSTEM, ELOOP,
                                 "%s: cannot check the directories of %s", who,
                                 path);
            }
            ssize_t n = readlink(done, link, sizeof(link) - 1);
            if (n < 0) {
                return ipc__fail(IPC_ESYSTEM, errno, "%s: cannot read %s", who,
                                 done);
            }
            link[n] = '\0';
            /* New todo: the link's target, then what was left. */
            size_t left = strlen(rest);
            if ((size_t)n + left + 1 >= sizeof(todo)) {
                return ipc__fail(IPC_ESYSTEM, ENAMETOOLONG,
                                 "%s: cannot check the directories of %s", who,
                                 path);
            }
            char next[PATH_MAX];
            memcpy(next, link, (size_t)n);
            memcpy(next + n, rest, left + 1);
            memcpy(todo, next, (size_t)n + left + 1);
            rest = todo;
            if (link[0] == '/') {
                strcpy(done, "/");
            } else {
                /* Relative: resolved from the link's own directory. */
                char *up = strrchr(done, '/');
                if (up != NULL && up != done) {
                    *up = '\0';
                } else {
                    strcpy(done, "/");
                }
            }
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            return 0; /* bind or connect will say ENOTDIR */
        }
        const char *why = dir_untrusted(&st, me);
        if (why != NULL) {
            return ipc__fail(IPC_EPERM, 0,
                             "%s: the directory %s (on the way to %s) %s "
                             "(uid %lld, mode %04o)",
                             who, done, path, why, (long long)st.st_uid,
                             (unsigned)(st.st_mode & 07777));
        }
    }
}
