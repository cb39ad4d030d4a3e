/*
 * posix/listen.c - claiming a socket path, listening, accepting, and
 * releasing the path only if it is still ours.
 */
#include "posix.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct ipc__os_listener {
    int fd;
    atomic_int closing;
    dev_t dev;   /* identity of the socket file we bound, so that close */
    ino_t ino;   /* never removes a file somebody else put there since */
    pid_t owner; /* the process that bound it: only it removes the file */
    int backlog; /* for ipc__os_listener_reopen */
    char path[IPC_PATH_MAX];
};

static const char *file_kind(mode_t mode)
{
    if (S_ISREG(mode)) {
        return "a regular file";
    }
    if (S_ISDIR(mode)) {
        return "a directory";
    }
    if (S_ISLNK(mode)) {
        return "a symbolic link";
    }
    if (S_ISFIFO(mode)) {
        return "a FIFO";
    }
    return "a device or other special file";
}

/* Without /proc (not Linux) the only way to learn whether a socket file is
 * alive is to connect. Refused means stale; anything else is taken as alive,
 * so we err on the side of leaving a server alone. */
static int probe_alive(const char *path)
{
    int fd = ipc__px_socket();
    if (fd < 0) {
        return 1;
    }
    struct sockaddr_un addr;
    ipc__px_sockaddr(&addr, path);
    int r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    int e = errno;
    close(fd);
    return !(r < 0 && (e == ECONNREFUSED || e == ENOENT));
}

/*
 * Claiming a path is check (is a server live there?), remove the stale
 * socket, bind, listen. Two creates doing that at once over one stale
 * socket could both judge it stale; the second would then remove the
 * first's live socket and take the name, and the first would wait for a
 * client that can never reach it. (A socket bound but not yet listening
 * looks stale too.) So creates in one directory take turns: each holds an
 * flock(2) on the directory itself from the check to listen().
 *
 * Why the directory: it is there anyway (we bind in it), and locking it
 * creates, opens for writing and removes no file, so no file of a user's
 * (a "<path>.lock" of their own) is ever touched, and no name of another
 * pipe is ever used for the lock. flock is released by the kernel when
 * its holder dies, so a crash never leaves the name locked, and clients
 * never look at it. The lock is held for microseconds, so waiting for it
 * is a short poll, given up after CLAIM_WAIT_MS (a holder stopped in the
 * debugger, say). Where the directory cannot be opened for reading (a
 * -wx directory) or does not take flock (some network file systems), the
 * create goes on unordered, as .NET's always does.
 *
 * It orders kiwi-ipc's creates among themselves; .NET's servers take no
 * lock (and .NET takes over even a live server's path: see DESIGN.md).
 */
#define CLAIM_WAIT_MS 5000

/* The directory part of `path` into dir (cap bytes): "." or "/" at the
 * least. */
static void dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(dir, cap, ".");
    } else if (slash == path) {
        snprintf(dir, cap, "/");
    } else {
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
    }
}

/* Take the directory's lock: 0 with *out the locked descriptor (or -1 when
 * the directory cannot be locked, see above), or a status. */
static int claim_lock(const char *who, const char *path, int *out)
{
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof(dir));
    *out = -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            return ipc__fail(IPC_ESYSTEM, e,
                             "%s: cannot create %s: the directory %s does "
                             "not exist",
                             who, path, dir);
        }
        return 0; /* unordered, see above */
    }
    int64_t give_up = ipc__os_now_ms() + CLAIM_WAIT_MS;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            close(fd);
            return 0; /* unordered, see above */
        }
        if (ipc__os_now_ms() >= give_up) {
            close(fd);
            return ipc__fail(IPC_EINUSE, 0,
                             "%s: cannot create %s: another process has "
                             "held the lock of the directory %s for over "
                             "%d ms",
                             who, path, dir, CLAIM_WAIT_MS);
        }
        usleep(200);
    }
    *out = fd;
    return 0;
}

static void claim_unlock(int fd)
{
    if (fd >= 0) {
        /* Unlock before close: a child forked meanwhile shares the open
         * file description, and would otherwise hold the lock on. */
        (void)flock(fd, LOCK_UN);
        close(fd);
    }
}

/* Make the path free for bind: nothing there, or a stale socket removed. */
static int clear_path(const char *who, const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT) {
            return 0;
        }
        return ipc__fail(IPC_ESYSTEM, errno, "%s: cannot inspect %s", who,
                         path);
    }
    if (!S_ISSOCK(st.st_mode)) {
        return ipc__fail(IPC_EINUSE, 0,
                         "%s: %s exists and is %s, not a socket; it was left "
                         "untouched",
                         who, path, file_kind(st.st_mode));
    }
    /* A socket still bound to the file is alive even if it does not
     * listen yet: a server between bind() and listen() (.NET's takes no
     * lock of ours) would otherwise be judged stale and lose its name. */
    int live = ipc__px_bound_at(path);
    if (live < 0) {
        live = probe_alive(path) ? IPC__PX_LISTENING : 0;
    }
    if (live == IPC__PX_LISTENING) {
        return ipc__fail(IPC_EINUSE, 0,
                         "%s: a server is already listening at %s", who, path);
    }
    if (live == IPC__PX_BOUND) {
        return ipc__fail(IPC_EINUSE, 0,
                         "%s: a socket is bound to %s and still open (a "
                         "server about to listen, or a socket of another "
                         "kind); it was left untouched",
                         who, path);
    }
    /* Stale: left by a server that died without cleaning up. */
    if (unlink(path) < 0 && errno != ENOENT) {
        return ipc__fail(IPC_ESYSTEM, errno,
                         "%s: cannot remove the stale socket %s", who, path);
    }
    return 0;
}

static int listen_claimed(const char *who, const char *path, int backlog,
                          struct ipc__os_listener **out);

int ipc__os_listen(const char *who, const char *path, int backlog,
                   struct ipc__os_listener **out)
{
    int lock_fd;
    int rc = claim_lock(who, path, &lock_fd);
    if (rc < 0) {
        return rc;
    }
    rc = listen_claimed(who, path, backlog, out);
    claim_unlock(lock_fd);
    return rc;
}

static int listen_claimed(const char *who, const char *path, int backlog,
                          struct ipc__os_listener **out)
{
    int rc = clear_path(who, path);
    if (rc < 0) {
        return rc;
    }
    struct ipc__os_listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return ipc__fail(IPC_ENOMEM, 0, "%s: out of memory", who);
    }
    snprintf(l->path, sizeof(l->path), "%s", path);
    l->fd = ipc__px_socket();
    if (l->fd < 0) {
        rc = ipc__fail(IPC_ESYSTEM, errno, "%s: socket() failed", who);
        free(l);
        return rc;
    }
    struct sockaddr_un addr;
    ipc__px_sockaddr(&addr, path);
    if (bind(l->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;
        rc = e == EADDRINUSE
                 ? ipc__fail(IPC_EINUSE, 0,
                             "%s: another server took %s just now", who, path)
                 : ipc__fail(IPC_ESYSTEM, e, "%s: cannot bind %s", who, path);
        close(l->fd);
        free(l);
        return rc;
    }
    /* Owner-only. Nobody can connect before listen(), so tightening the
     * mode here, between bind and listen, leaves no window. */
    struct stat st;
    if (chmod(path, 0600) < 0 || lstat(path, &st) < 0 ||
        listen(l->fd, backlog) < 0) {
        rc =
            ipc__fail(IPC_ESYSTEM, errno, "%s: cannot listen at %s", who, path);
        close(l->fd);
        unlink(path);
        free(l);
        return rc;
    }
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    l->owner = getpid();
    l->backlog = backlog;
    *out = l;
    return 0;
}

static int wait_failed(const char *who, int rc)
{
    if (rc == IPC_ETIMEDOUT || rc == IPC_EINTR) {
        return rc; /* worded by listener.c */
    }
    return ipc__fail(rc, errno, "%s: poll failed", who);
}

/* accept() a queued client as a blocking, close-on-exec socket; -1 with
 * errno when there is none (the listening socket is non-blocking). */
static int accept_one(int lfd)
{
#if defined(SOCK_CLOEXEC) && !defined(KIWI_IPC_PORTABLE) && !defined(__APPLE__)
    return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
#else
    /* See ipc__px_socket() for the close-on-exec window. An accepted
     * socket's O_NONBLOCK is inherited on BSDs and macOS, not on Linux:
     * clear it either way. */
    int c = accept(lfd, NULL, NULL);
    if (c < 0) {
        return -1;
    }
    if (fcntl(c, F_SETFD, FD_CLOEXEC) < 0 || ipc__px_set_blocking(c, 1) < 0 ||
        ipc__px_nosigpipe(c) < 0) {
        int e = errno;
        close(c);
        errno = e;
        return -1;
    }
    return c;
#endif
}

static int accept_any(struct ipc__os_listener *l, const char *who,
                      const struct ipc__until *u, struct ipc__stream *s)
{
    for (;;) {
        if (atomic_load(&l->closing)) {
            return ipc__fail(IPC_ECLOSED, 0, "%s: the listener was closed",
                             who);
        }
        int c = accept_one(l->fd);
        if (c >= 0) {
            s->fd = c;
            atomic_init(&s->sliced, 0);
            return 0;
        }
        int e = errno;
        if (e == EINTR || e == ECONNABORTED) {
            continue;
        }
        if (atomic_load(&l->closing)) {
            continue; /* reported at the top of the loop */
        }
        if (e != EAGAIN && e != EWOULDBLOCK) {
            return ipc__fail(IPC_ESYSTEM, e, "%s: accept at %s failed", who,
                             l->path);
        }
        int rc = ipc__px_wait(l->fd, POLLIN, u);
        if (rc != 0) {
            return wait_failed(who, rc);
        }
    }
}

void ipc__os_listener_wake(struct ipc__os_listener *l)
{
    atomic_store(&l->closing, 1);
    /* On Linux this wakes poll() on a listening socket. */
    shutdown(l->fd, SHUT_RDWR);
}

/* Remove the socket file, but only if it is still the one we bound (a
 * newer server may have taken the name since), and only in the process
 * that bound it: a forked child that closes the listener it inherited, or
 * exits and is cleaned up (Python finalizes its objects), must leave its
 * parent's name alive, as Python's socketserver and multiprocessing do. */
static void release_path(struct ipc__os_listener *l)
{
    struct stat st;
    if (l->owner == getpid() && lstat(l->path, &st) == 0 &&
        st.st_dev == l->dev && st.st_ino == l->ino) {
        unlink(l->path);
    }
}

int ipc__os_accept(struct ipc__os_listener *l, const char *who, int last,
                   const struct ipc__until *u, struct ipc__stream *s)
{
    if (!last) {
        return accept_any(l, who, u, s);
    }
    /* Wait until a client is queued, then remove the path before accepting
     * it. With a backlog of 0 the queue is full once it holds that client,
     * so nobody else can queue behind it; once the path is gone, later
     * clients (ours, or .NET's blocking connect when it retries its lookup)
     * find no socket and wait for the next create. Accepting first and
     * unlinking after would leave a gap in which a second client connects
     * into a queue that is then destroyed. */
    int rc = ipc__px_wait(l->fd, POLLIN, u);
    if (rc != 0) {
        return wait_failed(who, rc);
    }
    release_path(l);
    return accept_any(l, who, u, s);
}

void ipc__os_listener_free(struct ipc__os_listener *l)
{
    release_path(l);
    close(l->fd);
    free(l);
}

int ipc__os_listener_fd(const struct ipc__os_listener *l)
{
    return l->fd;
}

/* ---- who is on the other end ------------------------------------------ */

/* Used by ipc_create_ex() only, on a listener no other thread can see (it
 * is never in the handle table), so swapping the descriptor is safe. The
 * old socket has given its path back already (ipc__os_accept, last): a
 * fresh one is claimed exactly as a new create would claim it. */
int ipc__os_listener_reopen(struct ipc__os_listener *l, const char *who)
{
    struct ipc__os_listener *fresh;
    int rc = ipc__os_listen(who, l->path, l->backlog, &fresh);
    if (rc < 0) {
        return rc;
    }
    close(l->fd);
    l->fd = fresh->fd;
    l->dev = fresh->dev;
    l->ino = fresh->ino;
    l->owner = fresh->owner;
    free(fresh);
    return 0;
}
