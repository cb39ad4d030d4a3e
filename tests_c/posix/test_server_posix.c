/*
 * test_server_posix.c - create/connect/listen/accept where a pipe is a Unix
 * socket file: the Kiwi rendezvous with a forked client spawned first,
 * connect's retry rules against what is at the path, what create does with
 * whatever is already there (stale socket, regular file, live listener),
 * the socket file's mode and life, forked clients, no leaks over many
 * cycles (descriptor counts), and no descriptor inherited across exec.
 * What every OS shares is in ../test_server.c.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */
/* ---------------------------------------------------------------------- */

static void expect_msg(int h, const char *want)
{
    void *d = NULL;
    size_t n = 0;
    assert_ok(ipc_recv_timeout(h, &d, &n, 10000));
    assert_int_equal(n, strlen(want));
    assert_memory_equal(d, want, n);
    ipc_free(d);
}

static int path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void expect_file(const char *path, const char *text, ino_t ino)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_ino, ino);
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, text);
}

static ino_t inode_of(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_ino;
}

/* ---------------------------------------------------------------------- */
/* The Kiwi rendezvous                                                    */
/* ---------------------------------------------------------------------- */

typedef struct client_args {
    const char *name;
    int ready_fd;
} client_args;

static int ping_pong_client(void *p)
{
    client_args *c = p;
    child_check(tu_signal_fd(c->ready_fd) == 0);
    int h = ipc_connect(c->name); /* before the server exists */
    child_check(h > 0);
    void *d;
    size_t n;
    child_status(ipc_recv(h, &d, &n), IPC_OK);
    child_check(n == 4 && memcmp(d, "ping", 4) == 0);
    ipc_free(d);
    child_status(ipc_send(h, "pong", 4), IPC_OK);
    child_status(ipc_recv(h, &d, &n), IPC_OK);
    child_check(n == 4 && memcmp(d, "quit", 4) == 0);
    ipc_free(d);
    child_status(ipc_close(h), IPC_OK);
    return 0;
}

/* The reference's example: the server spawns its client first, then
 * creates the pipe (with a relative name, as a Kiwi program would). */
static void client_spawned_before_create(void **state)
{
    (void)state;
    setenv("TMPDIR", tu_dir(), 1);
    int ready[2];
    tu_pipe(ready);
    client_args c = {"demo", ready[1]};
    pid_t pid = tu_fork(ping_pong_client, &c);
    assert_int_equal(tu_wait_fd(ready[0], 10000), 0);
    tu_sleep_ms(20); /* let it retry a few times; not needed for success */
    assert_false(path_exists(tu_path("CoreFxPipe_demo")));
    alarm(60); /* safety net: ipc_create waits forever */
    int s = assert_handle(ipc_create("demo"));
    alarm(0);
    assert_ok(ipc_send(s, "ping", 4));
    expect_msg(s, "pong");
    assert_ok(ipc_send(s, "quit", 4));
    assert_int_equal(tu_wait(pid, 10000), 0);
    assert_ok(ipc_close(s));
    close(ready[0]);
    close(ready[1]);
    assert_false(path_exists(tu_path("CoreFxPipe_demo")));
}

/* ---------------------------------------------------------------------- */
/* connect                                                                */
/* ---------------------------------------------------------------------- */

/* A socket file with nobody listening refuses connections: that is
 * retried too, until the timeout, or until a server takes the name. */
static void connect_retries_while_refused(void **state)
{
    (void)state;
    const char *path = tu_name();
    int fd = tu_raw_bind(path);
    assert_true(fd >= 0);
    close(fd); /* stale socket file */
    long long t0 = tu_now_ms();
    assert_status(ipc_connect_timeout(path, 100), IPC_ENOSERVER);
    assert_true(tu_now_ms() - t0 >= 50);

    tu_opener *o = tu_open_start(path, 0, 10000);
    tu_sleep_ms(30); /* the client meets the stale file first */
    int l = assert_handle(ipc_listen(path));
    int c = tu_open_join(o);
    int s = assert_handle(ipc_accept(l, 5000));
    tu_check_connected(c, s);
    assert_ok(ipc_close(c));
    assert_ok(ipc_close(s));
    assert_ok(ipc_close(l));
}

typedef struct forever_connect {
    const char *name;
} forever_connect;

static int connect_forever_child(void *p)
{
    forever_connect *f = p;
    int h = ipc_connect(f->name);
    child_check(h < 0);
    return 0;
}

/* Something that is not a socket at the path: fail at once, not a retry
 * loop (Linux reports ECONNREFUSED for it, which must not be retried). */
static void connect_not_a_socket_fails_at_once(void **state)
{
    (void)state;
    const char *file = tu_name();
    write_file(file, "not a socket");
    const char *dir = tu_name();
    assert_int_equal(mkdir(dir, 0700), 0);
    const char *paths[2] = {file, dir};
    for (int i = 0; i < 2; i++) {
        long long t0 = tu_now_ms();
        int r = ipc_connect_timeout(paths[i], 5000);
        long long dt = tu_now_ms() - t0;
        if (r >= 0)
            fail_msg("connect to %s succeeded", paths[i]);
        if (dt >= 1000)
            fail_msg("connect to a non-socket %s took %lld ms (%s): it "
                     "should fail at once",
                     paths[i], dt, ipc_errname(r));
        assert_last_error_has(paths[i]);

        /* The Kiwi-shaped call, which waits without limit for a missing
         * server, must not wait here either. */
        forever_connect f = {paths[i]};
        pid_t pid = tu_fork(connect_forever_child, &f);
        int rc = tu_wait(pid, 3000);
        if (rc == TU_CHILD_TIMEOUT)
            fail_msg("ipc_connect(%s) still waiting after 3 s", paths[i]);
        assert_int_equal(rc, 0);
    }
    expect_file(file, "not a socket", inode_of(file));
}

/* ---------------------------------------------------------------------- */
/* What create finds at the path                                          */
/* ---------------------------------------------------------------------- */

static void stale_socket_reclaimed(void **state)
{
    (void)state;
    /* Bound but never listened, and bound+listened then closed: both
     * leave a socket file nobody listens on. */
    for (int listened = 0; listened < 2; listened++) {
        const char *path = tu_name();
        int fd = listened ? tu_raw_listen(path) : tu_raw_bind(path);
        assert_true(fd >= 0);
        close(fd);
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));

        tu_opener *o = tu_open_start(path, 0, 10000);
        int s = assert_handle(ipc_create_timeout(path, 10000));
        int c = tu_open_join(o);
        tu_check_connected(c, s);
        assert_ok(ipc_close(c));
        assert_ok(ipc_close(s));
        assert_false(path_exists(path));

        /* ipc_listen reclaims too. */
        fd = tu_raw_bind(path);
        assert_true(fd >= 0);
        close(fd);
        int l = assert_handle(ipc_listen(path));
        assert_true(tu_is_listening(path));
        assert_ok(ipc_close(l));
        assert_false(path_exists(path));
    }
}

static void non_socket_at_path_untouched(void **state)
{
    (void)state;
    const char *file = tu_name();
    write_file(file, "precious data");
    ino_t ino = inode_of(file);
    long long t0 = tu_now_ms();
    assert_status(ipc_create_timeout(file, 5000), IPC_EINUSE);
    assert_true(tu_now_ms() - t0 < 1000);
    assert_last_error_has(file);
    assert_status(ipc_listen(file), IPC_EINUSE);
    assert_status(ipc_create_timeout(file, 0), IPC_EINUSE);
    expect_file(file, "precious data", ino);

    const char *dir = tu_name();
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_status(ipc_create_timeout(dir, 100), IPC_EINUSE);
    assert_status(ipc_listen(dir), IPC_EINUSE);
    struct stat st;
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    /* A symlink (even a dangling one) is not a socket either. */
    const char *link = tu_name();
    assert_int_equal(symlink(file, link), 0);
    assert_status(ipc_listen(link), IPC_EINUSE);
    const char *dangling = tu_name();
    assert_int_equal(symlink(tu_path("nowhere"), dangling), 0);
    assert_status(ipc_create_timeout(dangling, 100), IPC_EINUSE);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(dangling, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    expect_file(file, "precious data", ino);
}

/* ---------------------------------------------------------------------- */
/* The claim touches no other name                                        */
/* ---------------------------------------------------------------------- */

/* Leave a stale socket at path, so that a create has to reclaim it (the
 * path that takes turns with other creates). */
static void leave_stale(const char *path)
{
    int fd = tu_raw_bind(path);
    assert_true(fd >= 0);
    close(fd);
}

/* "<path>.lock" is a user's file like any other: no create or listen of
 * <path> opens it for writing or removes it, reclaiming or not. */
static void users_lock_file_untouched(void **state)
{
    (void)state;
    const char *path = tu_name();
    char lock[PATH_MAX];
    snprintf(lock, sizeof lock, "%s.lock", path);
    write_file(lock, "the user's own lock file");
    ino_t ino = inode_of(lock);
    assert_int_equal(chmod(lock, 0444), 0);
    for (int stale = 0; stale < 2; stale++) {
        if (stale)
            leave_stale(path);
        int l = assert_handle(ipc_listen(path));
        expect_file(lock, "the user's own lock file", ino);
        assert_ok(ipc_close(l));
        if (stale)
            leave_stale(path);
        tu_opener *o = tu_open_start(path, 0, 10000);
        int s = assert_handle(ipc_create_timeout(path, 10000));
        int c = tu_open_join(o);
        tu_check_connected(c, s);
        assert_ok(ipc_close(c));
        assert_ok(ipc_close(s));
        expect_file(lock, "the user's own lock file", ino);
        struct stat st;
        assert_int_equal(lstat(lock, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0444);
    }
}

/* The pipe named "X.lock" is just another pipe: while its server runs,
 * "X" is created and listened on as usual, and both stay alive. */
static void pipe_named_like_a_lock_is_its_own(void **state)
{
    (void)state;
    const char *path = tu_name();
    char other[PATH_MAX];
    snprintf(other, sizeof other, "%s.lock", path);
    int lo = assert_handle(ipc_listen(other));
    for (int stale = 0; stale < 2; stale++) {
        if (stale)
            leave_stale(path);
        int l = assert_handle(ipc_listen(path));
        assert_true(tu_is_listening(path));
        assert_true(tu_is_listening(other));
        assert_ok(ipc_close(l));
        assert_false(path_exists(path));
    }
    /* And a client of "X.lock" is served while "X" is created. */
    tu_opener *o = tu_open_start(path, 0, 10000);
    int s = assert_handle(ipc_create_timeout(path, 10000));
    int c = tu_open_join(o);
    int c2 = assert_handle(ipc_connect_timeout(other, 5000));
    int s2 = assert_handle(ipc_accept(lo, 5000));
    tu_check_connected(c, s);
    tu_check_connected(c2, s2);
    assert_ok(ipc_close(c));
    assert_ok(ipc_close(s));
    assert_ok(ipc_close(c2));
    assert_ok(ipc_close(s2));
    assert_ok(ipc_close(lo));
    assert_false(path_exists(other));
}

#ifdef __linux__
#include <sys/inotify.h>

/* A create makes no file but its socket, not even for a moment: a client
 * of another pipe never meets a file that is not a socket at its path,
 * and a creator that dies leaves nothing that could block anybody. The
 * kernel tells every file made in the directory (inotify). */
static void create_makes_no_other_file(void **state)
{
    (void)state;
    const char *path = tu_name();
    const char *leaf = strrchr(path, '/') + 1;
    leave_stale(path);
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    assert_true(in >= 0);
    assert_true(inotify_add_watch(in, tu_dir(), IN_CREATE | IN_MOVED_TO) >= 0);
    int l = assert_handle(ipc_listen(path));
    assert_ok(ipc_close(l));
    tu_opener *o = tu_open_start(path, 0, 10000);
    int s = assert_handle(ipc_create_timeout(path, 10000));
    int c = tu_open_join(o);
    assert_ok(ipc_close(c));
    assert_ok(ipc_close(s));
    /* The control: a file made here is seen, so the watch works. */
    write_file(tu_path("control"), "x");
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int seen = 0;
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if (ev->len > 0 && strcmp(ev->name, "control") == 0)
                seen++;
            else if (ev->len > 0 && strcmp(ev->name, leaf) != 0)
                fail_msg("creating %s made the file %s/%s", path, tu_dir(),
                         ev->name);
            p += sizeof(*ev) + ev->len;
        }
    }
    close(in);
    assert_int_equal(seen, 1);
}
#endif

/* With $TMPDIR naming a missing directory, the error names the socket
 * path of the pipe and the cause, nothing else. */
static void missing_directory_named(void **state)
{
    (void)state;
    const char *dir = tu_path("missing");
    assert_int_equal(setenv("TMPDIR", dir, 1), 0);
    char path[PATH_MAX];
    assert_true(ipc_path("orphan", path, sizeof path) > 0);
    assert_status(ipc_create_timeout("orphan", 100), IPC_ESYSTEM);
    assert_last_error_has(path);
    assert_last_error_has("does not exist");
    if (strstr(ipc_last_error(), ".lock") != NULL)
        fail_msg("the error names a lock file: %s", ipc_last_error());
    assert_status(ipc_listen("orphan"), IPC_ESYSTEM);
    assert_last_error_has(path);
    assert_false(path_exists(dir));
}

/* A server between bind() and listen() (.NET's constructor, a moment
 * long) holds a socket bound to the path that is not listening yet: it is
 * alive, not stale. create and listen refuse it, leave its file alone,
 * and once it listens its clients reach it. */
static void bound_not_yet_listening_is_alive(void **state)
{
    (void)state;
    const char *path = tu_name();
    int fd = tu_raw_bind(path);
    assert_true(fd >= 0);
    ino_t ino = inode_of(path);
    assert_status(ipc_create_timeout(path, 100), IPC_EINUSE);
    assert_last_error_has(path);
    assert_status(ipc_listen(path), IPC_EINUSE);
    assert_int_equal(inode_of(path), ino);
    assert_int_equal(listen(fd, 4), 0);
    int c = assert_handle(ipc_connect_timeout(path, 5000));
    assert_int_equal(tu_accept_queue_empty(fd), 0);
    assert_ok(ipc_close(c));
    close(fd);
    /* Closed: now it is stale, and reclaimed. */
    int l = assert_handle(ipc_listen(path));
    assert_ok(ipc_close(l));
    assert_false(path_exists(path));

    /* A connection accepted from a listener carries the listener's path,
     * but holds no name: with the listener closed (its file left behind,
     * as by a crash), the file is stale though the connection lives. */
    int lfd = tu_raw_listen(path);
    assert_true(lfd >= 0);
    int cfd = tu_raw_connect(path);
    assert_true(cfd >= 0);
    int afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    close(lfd);
    l = assert_handle(ipc_listen(path));
    assert_ok(ipc_close(l));
    close(afd);
    close(cfd);
}

/* A live listener (raw, in this process) is refused, and never connected
 * to: its accept queue stays empty. */
static void live_listener_refused_without_connecting(void **state)
{
    (void)state;
    const char *path = tu_name();
    int lfd = tu_raw_listen(path);
    assert_true(lfd >= 0);
    ino_t ino = inode_of(path);

    long long t0 = tu_now_ms();
    assert_status(ipc_create_timeout(path, 5000), IPC_EINUSE);
    assert_true(tu_now_ms() - t0 < 1000);
    assert_true(strlen(ipc_last_error()) > 0);
    assert_status(ipc_listen(path), IPC_EINUSE);
    assert_status(ipc_create_timeout(path, 0), IPC_EINUSE);

    /* Nobody knocked. */
    int empty = tu_accept_queue_empty(lfd);
    if (empty == 0)
        fail_msg("the library connected to the live listener");
    assert_int_equal(empty, 1);
    assert_int_equal(inode_of(path), ino);
    assert_true(tu_is_listening(path));

    /* And it still serves a client. */
    int c = assert_handle(ipc_connect_timeout(path, 1000));
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    close(fd);
    assert_ok(ipc_close(c));
    close(lfd);
}

typedef struct live_child {
    const char *path;
    int ready_fd; /* child -> parent */
    int done_fd;  /* parent -> child */
} live_child;

static int live_listener_child(void *p)
{
    live_child *lc = p;
    int lfd = tu_raw_listen(lc->path);
    child_check(lfd >= 0);
    child_check(tu_signal_fd(lc->ready_fd) == 0);
    child_check(tu_wait_fd(lc->done_fd, 20000) == 0);
    int empty = tu_accept_queue_empty(lfd);
    if (empty == 0) {
        fprintf(stderr, "child: somebody connected to the live listener\n");
        return 2;
    }
    child_check(empty == 1);
    close(lfd);
    return 0;
}

/* The same with the listener in another process. */
static void live_listener_in_other_process_refused(void **state)
{
    (void)state;
    int ready[2], done[2];
    tu_pipe(ready);
    tu_pipe(done);
    live_child lc = {tu_name(), ready[1], done[0]};
    pid_t pid = tu_fork(live_listener_child, &lc);
    assert_int_equal(tu_wait_fd(ready[0], 10000), 0);
    assert_status(ipc_create_timeout(lc.path, 5000), IPC_EINUSE);
    assert_status(ipc_listen(lc.path), IPC_EINUSE);
    assert_true(path_exists(lc.path));
    assert_int_equal(tu_signal_fd(done[1]), 0);
    int rc = tu_wait(pid, 10000);
    if (rc == 2)
        fail_msg("ipc_create/ipc_listen connected to the live listener");
    assert_int_equal(rc, 0);
    close(ready[0]);
    close(ready[1]);
    close(done[0]);
    close(done[1]);
}

/* A server waiting in ipc_create (as a Kiwi server would) is neither
 * disturbed nor handed a probe connection by a second create. */
static void waiting_create_keeps_its_name(void **state)
{
    (void)state;
    const char *path = tu_name();
    tu_opener *o = tu_open_start(path, 1, 20000);
    assert_int_equal(tu_wait_listening(path, 10000), 0);
    assert_status(ipc_create_timeout(path, 100), IPC_EINUSE);
    assert_status(ipc_listen(path), IPC_EINUSE);
    /* A library listener is just as live. */
    const char *p2 = tu_name();
    int l = assert_handle(ipc_listen(p2));
    assert_status(ipc_listen(p2), IPC_EINUSE);
    assert_status(ipc_create_timeout(p2, 0), IPC_EINUSE);
    assert_status(ipc_accept(l, 0), IPC_ETIMEDOUT); /* nobody knocked */
    assert_ok(ipc_close(l));

    int c = assert_handle(ipc_connect_timeout(path, 5000));
    int s = tu_open_join(o);
    tu_check_connected(c, s);
    assert_ok(ipc_close(c));
    assert_ok(ipc_close(s));
}

/* ---------------------------------------------------------------------- */
/* The socket file                                                        */
/* ---------------------------------------------------------------------- */

static void socket_file_mode_0600(void **state)
{
    (void)state;
    mode_t masks[3] = {0, 022, 077};
    for (int i = 0; i < 3; i++) {
        mode_t old = umask(masks[i]);
        const char *path = tu_name();
        int l = ipc_listen(path);
        umask(old);
        assert_handle(l);
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        if ((st.st_mode & 07777) != 0600)
            fail_msg("mode %04o under umask %03o, expected 0600",
                     (unsigned)(st.st_mode & 07777), (unsigned)masks[i]);
        assert_ok(ipc_close(l));
    }

    /* The same for ipc_create while it waits. */
    mode_t old = umask(0);
    const char *path = tu_name();
    tu_opener *o = tu_open_start(path, 1, 20000);
    int listening = tu_wait_listening(path, 10000);
    umask(old);
    struct stat st;
    int have = lstat(path, &st);
    int c = assert_handle(ipc_connect_timeout(path, 5000));
    int s = tu_open_join(o);
    assert_int_equal(listening, 0);
    assert_int_equal(have, 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_ok(ipc_close(c));
    assert_ok(ipc_close(s));
}

/* After create has its client the name is free: the file is gone, a
 * second client finds no server, and waits for the next create. */
static void create_frees_name_after_accept(void **state)
{
    (void)state;
    const char *path = tu_name();
    tu_opener *o = tu_open_start(path, 1, 20000);
    int c = assert_handle(ipc_connect_timeout(path, 10000));
    int s = tu_open_join(o);
    assert_false(path_exists(path));
    assert_false(tu_is_listening(path));
    assert_status(ipc_connect_timeout(path, 100), IPC_ENOSERVER);
    tu_check_connected(c, s);

    /* A client waiting now is served by the next create. */
    o = tu_open_start(path, 0, 20000);
    tu_sleep_ms(20);
    int s2 = assert_handle(ipc_create_timeout(path, 10000));
    int c2 = tu_open_join(o);
    tu_check_connected(c2, s2);
    tu_check_connected(c, s); /* the first pair is unaffected */
    assert_ok(ipc_close(c));
    assert_ok(ipc_close(s));
    assert_ok(ipc_close(c2));
    assert_ok(ipc_close(s2));
    assert_false(path_exists(path));
}

/* ---------------------------------------------------------------------- */
/* listen / accept                                                        */
/* ---------------------------------------------------------------------- */

typedef struct echo_client {
    const char *path;
    int id;
} echo_client;

static int echo_client_child(void *p)
{
    echo_client *e = p;
    int h = ipc_connect_timeout(e->path, 10000);
    child_check(h > 0);
    char msg[32], want[48];
    int n = snprintf(msg, sizeof msg, "hello %d", e->id);
    snprintf(want, sizeof want, "echo hello %d", e->id);
    child_status(ipc_send(h, msg, (size_t)n), IPC_OK);
    void *d;
    size_t len;
    child_status(ipc_recv_timeout(h, &d, &len, 10000), IPC_OK);
    child_check(len == strlen(want) && memcmp(d, want, len) == 0);
    ipc_free(d);
    child_status(ipc_close(h), IPC_OK);
    return 0;
}

/* Serve one echo on server handle s: the client sent "hello <id>". Returns
 * the id. */
static int serve_one_echo(int s)
{
    void *d;
    size_t n;
    assert_ok(ipc_recv_timeout(s, &d, &n, 10000));
    assert_true(n == 7 && memcmp(d, "hello ", 6) == 0);
    int id = ((char *)d)[6] - '0';
    char reply[48];
    int rn = snprintf(reply, sizeof reply, "echo %s", (char *)d);
    ipc_free(d);
    assert_ok(ipc_send(s, reply, (size_t)rn));
    assert_ok(ipc_close(s));
    return id;
}

static void listen_accept_three_clients(void **state)
{
    (void)state;
    const char *path = tu_name();
    int l = assert_handle(ipc_listen(path));
    echo_client ec[3];
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        ec[i] = (echo_client){path, i};
        pids[i] = tu_fork(echo_client_child, &ec[i]);
    }
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        int id = serve_one_echo(assert_handle(ipc_accept(l, 10000)));
        assert_true(id >= 0 && id < 3);
        assert_false(seen & (1 << id));
        seen |= 1 << id;
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(tu_wait(pids[i], 10000), 0);
    assert_int_equal(seen, 7);
    /* Still listening until closed. */
    assert_true(tu_is_listening(path));
    assert_ok(ipc_close(l));
    assert_false(path_exists(path));
}

/* Clients that all connect at once are served one per create, and none is
 * lost. Regression: create used to accept and only then remove the path,
 * and a second client connecting in between was queued on a listener that
 * was about to close, then found its pipe reset. */
static void racing_clients_one_per_create(void **state)
{
    (void)state;
    const char *path = tu_name();
    enum { CLIENTS = 4, ROUNDS = 5 };
    for (int r = 0; r < ROUNDS; r++) {
        echo_client ec[CLIENTS];
        pid_t pids[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            ec[i] = (echo_client){path, i};
            pids[i] = tu_fork(echo_client_child, &ec[i]);
        }
        int seen = 0;
        for (int i = 0; i < CLIENTS; i++) {
            int id =
                serve_one_echo(assert_handle(ipc_create_timeout(path, 10000)));
            assert_true(id >= 0 && id < CLIENTS);
            assert_false(seen & (1 << id));
            seen |= 1 << id;
        }
        for (int i = 0; i < CLIENTS; i++)
            assert_int_equal(tu_wait(pids[i], 10000), 0);
        assert_int_equal(seen, (1 << CLIENTS) - 1);
        assert_false(path_exists(path));
    }
}

static void close_listener_removes_only_its_file(void **state)
{
    (void)state;
    /* Its own file: removed. */
    const char *path = tu_name();
    int l = assert_handle(ipc_listen(path));
    assert_true(path_exists(path));
    assert_ok(ipc_close(l));
    assert_false(path_exists(path));

    /* Replaced by a regular file: kept. */
    l = assert_handle(ipc_listen(path));
    assert_int_equal(unlink(path), 0);
    write_file(path, "someone else's");
    ino_t ino = inode_of(path);
    assert_ok(ipc_close(l));
    expect_file(path, "someone else's", ino);
    assert_int_equal(unlink(path), 0);

    /* Replaced by another socket: kept. */
    l = assert_handle(ipc_listen(path));
    assert_int_equal(unlink(path), 0);
    int fd = tu_raw_bind(path);
    assert_true(fd >= 0);
    ino = inode_of(path);
    assert_ok(ipc_close(l));
    assert_true(path_exists(path));
    assert_int_equal(inode_of(path), ino);
    close(fd);
    assert_int_equal(unlink(path), 0);

    /* Replaced by another of our listeners: each removes only its own. */
    int l1 = assert_handle(ipc_listen(path));
    assert_int_equal(unlink(path), 0);
    int l2 = assert_handle(ipc_listen(path));
    ino = inode_of(path);
    assert_ok(ipc_close(l1));
    assert_true(path_exists(path));
    assert_int_equal(inode_of(path), ino);
    assert_true(tu_is_listening(path));
    assert_ok(ipc_close(l2));
    assert_false(path_exists(path));
}

/* ---------------------------------------------------------------------- */
/* Leaks                                                                  */
/* ---------------------------------------------------------------------- */

typedef struct cycler {
    const char *path;
    int n;
    tu_err err;
} cycler;

static void *cycle_client(void *p)
{
    cycler *c = p;
    for (int i = 0; i < c->n; i++) {
        int h = ipc_connect_timeout(c->path, 10000);
        if (h <= 0) {
            tu_err_set(&c->err, "cycle %d: connect: %s (%s)", i, ipc_errname(h),
                       ipc_last_error());
            return NULL;
        }
        void *d = NULL;
        size_t n = 0;
        int r = ipc_recv_timeout(h, &d, &n, 10000);
        if (r != IPC_OK || n != 4 || memcmp(d, "ping", 4) != 0)
            tu_err_set(&c->err, "cycle %d: client recv: %s (%s)", i,
                       ipc_errname(r), ipc_last_error());
        ipc_free(d);
        if (r == IPC_OK && (r = ipc_send(h, "pong", 4)) != IPC_OK)
            tu_err_set(&c->err, "cycle %d: client send: %s (%s)", i,
                       ipc_errname(r), ipc_last_error());
        if ((r = ipc_close(h)) != IPC_OK)
            tu_err_set(&c->err, "cycle %d: client close: %s", i,
                       ipc_errname(r));
        if (c->err.msg[0])
            return NULL;
    }
    return NULL;
}

static void run_cycles(const char *path, int count)
{
    cycler *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->path = path;
    c->n = count;
    tu_thread t;
    tu_thread_start(&t, cycle_client, c);
    char err[512] = "";
    for (int i = 0; i < count && !err[0]; i++) {
        int s = ipc_create_timeout(path, 10000);
        if (s <= 0) {
            snprintf(err, sizeof err, "cycle %d: create: %s (%s)", i,
                     ipc_errname(s), ipc_last_error());
            break;
        }
        int r = ipc_send(s, "ping", 4);
        void *d = NULL;
        size_t n = 0;
        if (r == IPC_OK)
            r = ipc_recv_timeout(s, &d, &n, 10000);
        if (r != IPC_OK || n != 4 || memcmp(d, "pong", 4) != 0)
            snprintf(err, sizeof err, "cycle %d: server: %s (%s)", i,
                     ipc_errname(r), ipc_last_error());
        ipc_free(d);
        ipc_close(s);
    }
    if (tu_thread_join(t, 60000) != 0)
        fail_msg("cycle client still running");
    if (err[0])
        fail_msg("%s", err);
    assert_no_err(&c->err);
    free(c);
}

static void thousand_cycles_leak_nothing(void **state)
{
    (void)state;
    const char *path = tu_name();
    run_cycles(path, 1); /* anything the library sets up once */
    int fds = tu_fd_count();
    assert_int_equal(tu_dir_entries(tu_dir()), 0);
    long long t0 = tu_now_ms();
    run_cycles(path, 1000);
    long long dt = tu_now_ms() - t0;
    assert_int_equal(tu_fd_count(), fds);
    assert_int_equal(tu_dir_entries(tu_dir()), 0);
    print_message("1000 create/connect/close cycles in %lld ms\n", dt);
}

/* Failing calls leak nothing either. */
static void failures_leak_nothing(void **state)
{
    (void)state;
    const char *file = tu_name();
    write_file(file, "x");
    const char *live = tu_name();
    int lfd = tu_raw_listen(live);
    assert_true(lfd >= 0);
    const char *missing = tu_name();
    const char *nodir = tu_path("no/such/dir");
    int l = assert_handle(ipc_listen(tu_name()));
    int fds = tu_fd_count();
    for (int i = 0; i < 50; i++) {
        assert_status(ipc_create_timeout(file, 0), IPC_EINUSE);
        assert_status(ipc_listen(file), IPC_EINUSE);
        assert_status(ipc_create_timeout(live, 0), IPC_EINUSE);
        assert_status(ipc_listen(live), IPC_EINUSE);
        assert_status(ipc_connect_timeout(missing, 0), IPC_ENOSERVER);
        assert_true(ipc_connect_timeout(file, 0) < 0);
        assert_true(ipc_listen(nodir) < 0);
        assert_status(ipc_create_timeout(missing, 0), IPC_ETIMEDOUT);
        assert_status(ipc_accept(l, 0), IPC_ETIMEDOUT);
        assert_status(ipc_listen(""), IPC_EINVAL);
    }
    assert_int_equal(tu_fd_count(), fds);
    assert_int_equal(tu_accept_queue_empty(lfd), 1);
    assert_false(path_exists(missing));
    assert_ok(ipc_close(l));
    close(lfd);
}

/* ---------------------------------------------------------------------- */
/* No descriptor crosses exec                                             */
/* ---------------------------------------------------------------------- */

typedef struct fdid {
    dev_t dev;
    ino_t ino;
} fdid;

/* Identities of this process's open descriptors. */
static size_t list_fds(fdid *out, size_t cap)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        struct stat st;
        if (fd == dirfd(d) || fstat(fd, &st) != 0)
            continue;
        if (n < cap)
            out[n++] = (fdid){st.st_dev, st.st_ino};
    }
    closedir(d);
    return n;
}

/* The exec'd side: report any open descriptor whose identity is in argv. */
static int fd_check_main(int argc, char **argv)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 4;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        struct stat st;
        if (fd == dirfd(d) || fstat(fd, &st) != 0)
            continue;
        for (int i = 2; i < argc; i++) {
            unsigned long long dev, ino;
            if (sscanf(argv[i], "%llu:%llu", &dev, &ino) == 2 &&
                (unsigned long long)st.st_dev == dev &&
                (unsigned long long)st.st_ino == ino) {
                fprintf(stderr, "%sexec'd child inherited fd %d (%s)\n",
                        strcmp(argv[1], "--fd-check-control") == 0
                            ? "(control, expected) "
                            : "",
                        fd, argv[i]);
                found = 1;
            }
        }
    }
    closedir(d);
    return found ? 3 : 0;
}

static int exec_child(void *p)
{
    char **argv = p;
    execv(argv[0], argv);
    fprintf(stderr, "execv %s: %s\n", argv[0], strerror(errno));
    return 127;
}

/* Fork and exec this binary in fd-check mode for the given identities. */
static int run_fd_check(const fdid *ids, size_t n, int control)
{
    static char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(k > 0);
    exe[k] = '\0';
    char **argv = calloc(n + 3, sizeof *argv);
    assert_non_null(argv);
    argv[0] = exe;
    argv[1] = control ? "--fd-check-control" : "--fd-check";
    for (size_t i = 0; i < n; i++) {
        argv[i + 2] = malloc(48);
        assert_non_null(argv[i + 2]);
        snprintf(argv[i + 2], 48, "%llu:%llu", (unsigned long long)ids[i].dev,
                 (unsigned long long)ids[i].ino);
    }
    pid_t pid = tu_fork(exec_child, argv);
    int rc = tu_wait(pid, 20000);
    for (size_t i = 0; i < n; i++)
        free(argv[i + 2]);
    free(argv);
    return rc;
}

static void exec_inherits_no_fd(void **state)
{
    (void)state;
    fdid before[256], after[256], fresh[256];
    size_t nb = list_fds(before, 256);

    /* Every kind of descriptor the library makes. */
    const char *p1 = tu_name(), *p2 = tu_name();
    int l = assert_handle(ipc_listen(p1));
    int c = assert_handle(ipc_connect_timeout(p1, 5000));
    int s = assert_handle(ipc_accept(l, 5000));
    tu_opener *o = tu_open_start(p2, 1, 20000);
    int c2 = assert_handle(ipc_connect_timeout(p2, 10000));
    int s2 = tu_open_join(o);
    /* A listener with a client in its backlog, not yet accepted. */
    int c3 = assert_handle(ipc_connect_timeout(p1, 5000));

    size_t na = list_fds(after, 256), nf = 0;
    for (size_t i = 0; i < na; i++) {
        int old = 0;
        for (size_t j = 0; j < nb && !old; j++)
            old =
                before[j].dev == after[i].dev && before[j].ino == after[i].ino;
        if (!old)
            fresh[nf++] = after[i];
    }
    assert_true(nf >= 6); /* l, c, s, c2, s2, c3 at least */

    /* The checker does see a descriptor that is inherited. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct stat st;
    assert_int_equal(fstat(sv[0], &st), 0);
    fdid control = {st.st_dev, st.st_ino};
    assert_int_equal(run_fd_check(&control, 1, 1), 3);
    close(sv[0]);
    close(sv[1]);

    int rc = run_fd_check(fresh, nf, 0);
    if (rc == 3)
        fail_msg("a child started with fork+exec inherited kiwi-ipc "
                 "descriptors (see stderr)");
    assert_int_equal(rc, 0);

    /* Everything still works after the fork. */
    tu_check_connected(c, s);
    tu_check_connected(c2, s2);
    int s3 = assert_handle(ipc_accept(l, 5000));
    tu_check_connected(c3, s3);
    int hs[] = {l, c, s, c2, s2, c3, s3};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        assert_ok(ipc_close(hs[i]));
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--fd-check") == 0 ||
                     strcmp(argv[1], "--fd-check-control") == 0))
        return fd_check_main(argc, argv);
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(client_spawned_before_create),
        T(connect_retries_while_refused),
        T(connect_not_a_socket_fails_at_once),
        T(stale_socket_reclaimed),
        T(non_socket_at_path_untouched),
        T(users_lock_file_untouched),
        T(pipe_named_like_a_lock_is_its_own),
#ifdef __linux__
        T(create_makes_no_other_file),
#endif
        T(missing_directory_named),
        T(bound_not_yet_listening_is_alive),
        T(live_listener_refused_without_connecting),
        T(live_listener_in_other_process_refused),
        T(waiting_create_keeps_its_name),
        T(socket_file_mode_0600),
        T(create_frees_name_after_accept),
        T(listen_accept_three_clients),
        T(racing_clients_one_per_create),
        T(close_listener_removes_only_its_file),
        T(thousand_cycles_leak_nothing),
        T(failures_leak_nothing),
        T(exec_inherits_no_fd),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
