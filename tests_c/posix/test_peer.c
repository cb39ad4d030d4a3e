/*
 * test_peer.c - who is on the other end: peer credentials, the
 * same-user checks of the _ex calls at both ends, and the path check.
 *
 * The cross-user tests need root: they create a second Unix user with
 * useradd (a unique name, kipc_<pid>_<n>, removed in the teardown, and a
 * sweep at start removes any left by a run that was killed), and run that
 * user's side in a forked child that drops to it with setgid/setuid. They
 * skip, saying why, when not run as root or when useradd is missing. The
 * shared directory is a private one under /tmp (mode 1777, as /tmp), so
 * the tests stay parallel-safe and leave nothing behind.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* ---------------------------------------------------------------------- */
/* The other user                                                          */
/* ---------------------------------------------------------------------- */

static char g_user[64]; /* "" when none was made */
static uid_t g_uid;     /* its uid and (primary) gid */
static gid_t g_gid;
static char g_base[64];    /* private dir under /tmp, 0755 */
static char g_share[96];   /* g_base/share, 1777: a shared /tmp of our own */
static const char *g_skip; /* why the cross-user tests cannot run */

/* Run a command quietly; its exit status, or -1. */
static int run_cmd(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* useradd/userdel take a lock on /etc/passwd and fail (status 10 and 1)
 * while another holds it: parallel test runs do. Retry for a while. */
static int run_locked(char *const argv[])
{
    int rc = -1;
    for (int i = 0; i < 100; i++) {
        rc = run_cmd(argv);
        if (rc == 0 || rc == 127) {
            return rc;
        }
        tu_sleep_ms(100);
    }
    return rc;
}

static void userdel(const char *name)
{
    char *argv[] = {"userdel", "-f", (char *)name, NULL};
    run_locked(argv);
}

/* Remove users that a killed run of any of our tests left: kipc_<pid>_...
 * whose pid is gone. */
static void sweep_stale_users(void)
{
    setpwent();
    char stale[16][64];
    int n = 0;
    struct passwd *pw;
    while ((pw = getpwent()) != NULL && n < 16) {
        long pid;
        if (sscanf(pw->pw_name, "kipc_%ld_", &pid) == 1 && pid > 0 &&
            kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
            snprintf(stale[n++], sizeof(stale[0]), "%s", pw->pw_name);
        }
    }
    endpwent();
    for (int i = 0; i < n; i++) {
        userdel(stale[i]);
    }
}

static int group_setup(void **state)
{
    (void)state;
    /* Our own shared dir, under /tmp so the other user can reach it
     * whatever $TMPDIR the test runs with. */
    snprintf(g_base, sizeof(g_base), "/tmp/kiwi-peer-XXXXXX");
    if (mkdtemp(g_base) == NULL || chmod(g_base, 0755) != 0) {
        fprintf(stderr, "setup: cannot make %s: %s\n", g_base, strerror(errno));
        return -1;
    }
    snprintf(g_share, sizeof(g_share), "%s/share", g_base);
    if (mkdir(g_share, 0700) != 0 || chmod(g_share, 01777) != 0) {
        return -1;
    }
    if (geteuid() != 0) {
        g_skip = "not running as root: cannot create a second user";
        return 0;
    }
    sweep_stale_users();
    snprintf(g_user, sizeof(g_user), "kipc_%d_c", (int)getpid());
    char *argv[] = {"useradd",           "-M",   "-N", "-s",
                    "/usr/sbin/nologin", g_user, NULL};
    int rc = run_locked(argv);
    struct passwd *pw = rc == 0 ? getpwnam(g_user) : NULL;
    if (pw == NULL) {
        g_skip = rc == 127 ? "useradd is not installed"
                           : "useradd failed to create a test user";
        g_user[0] = '\0';
        return 0;
    }
    g_uid = pw->pw_uid;
    g_gid = pw->pw_gid;
    /* The other user must reach the shared dir: not so where / or /tmp is
     * closed to other users (the fresh-debian chroot's / is a mktemp -d
     * directory, mode 0700). Then the cross-user tests cannot run here. */
    pid_t probe = fork();
    if (probe == 0) {
        if (setgroups(0, NULL) != 0 || setgid(g_gid) != 0 ||
            setuid(g_uid) != 0) {
            _exit(2);
        }
        _exit(access(g_share, W_OK | X_OK) == 0 ? 0 : 1);
    }
    int st = 0;
    if (probe < 0 || waitpid(probe, &st, 0) != probe || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0) {
        static char why[sizeof(g_share) + 128];
        snprintf(why, sizeof(why),
                 "the test user cannot reach %s (is / or /tmp closed to "
                 "other users, as in a chroot made with mktemp -d?)",
                 g_share);
        g_skip = why;
    }
    return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_user[0]) {
        userdel(g_user);
        g_user[0] = '\0';
    }
    if (g_base[0]) {
        nftw(g_base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    return 0;
}

#define NEED_OTHER_USER()                                                      \
    do {                                                                       \
        if (g_skip != NULL) {                                                  \
            fprintf(stderr, "skipped: %s\n", g_skip);                          \
            skip();                                                            \
        }                                                                      \
    } while (0)

/* In a child: become the other user for good. The parent-death signal is
 * cleared by a change of credentials: set it again. */
static void become_other(void)
{
    child_check(setgroups(0, NULL) == 0);
    child_check(setgid(g_gid) == 0);
    child_check(setuid(g_uid) == 0);
    child_check(geteuid() == g_uid);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* A pipe path in the shared dir, unique in the process. */
static const char *share_path(void)
{
    static char paths[32][128];
    static int next;
    char *p = paths[next++ % 32];
    snprintf(p, sizeof(paths[0]), "%s/p%d", g_share, next);
    return p;
}

static int child_expect_msg(int h, const char *want)
{
    void *d = NULL;
    size_t n = 0;
    child_status(ipc_recv_timeout(h, &d, &n, 10000), IPC_OK);
    child_check(n == strlen(want) && memcmp(d, want, n) == 0);
    ipc_free(d);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Peer credentials                                                        */
/* ---------------------------------------------------------------------- */

static void peer_of_own_pair(void **state)
{
    (void)state;
    int c, s;
    tu_lib_pair(&c, &s);
    struct ipc_peer p;
    assert_ok(ipc_get_peer(c, &p));
    assert_int_equal(p.known, IPC_PEER_PID | IPC_PEER_UID | IPC_PEER_GID);
    assert_int_equal(p.pid, getpid());
    assert_int_equal(p.uid, geteuid());
    assert_int_equal(p.gid, getegid());
    assert_ok(ipc_get_peer(s, &p));
    assert_int_equal(p.pid, getpid());
    assert_status(ipc_get_peer(s, NULL), IPC_EINVAL);
    ipc_close(c);
    ipc_close(s);
    assert_status(ipc_get_peer(c, &p), IPC_EBADHANDLE);
}

static void peer_of_listener_is_bad_handle(void **state)
{
    (void)state;
    int l = assert_handle(ipc_listen(tu_name()));
    struct ipc_peer p;
    assert_status(ipc_get_peer(l, &p), IPC_EBADHANDLE);
    assert_last_error_has("is a listener");
    ipc_close(l);
}

struct names {
    const char *name;
    int fd; /* handshake */
};

static int connect_and_wait(void *arg)
{
    struct names *n = arg;
    int h = ipc_connect_timeout(n->name, 10000);
    child_check(h > 0);
    child_check(child_expect_msg(h, "bye") == 0);
    ipc_close(h);
    return 0;
}

/* Each side sees the other process's pid. */
static void peer_pid_of_child(void **state)
{
    (void)state;
    struct names n = {.name = tu_name()};
    pid_t child = tu_fork(connect_and_wait, &n);
    int h = assert_handle(ipc_create_timeout(n.name, 10000));
    struct ipc_peer p;
    assert_ok(ipc_get_peer(h, &p));
    assert_true(p.known & IPC_PEER_PID);
    assert_int_equal(p.pid, child);
    assert_int_equal(p.uid, geteuid());
    assert_ok(ipc_send(h, "bye", 3));
    assert_int_equal(tu_wait(child, 10000), 0);
    ipc_close(h);
}

/* ---------------------------------------------------------------------- */
/* A client refuses a squatter                                             */
/* ---------------------------------------------------------------------- */

/* The other user listens first and reports what it received from each of
 * two clients: the first must send nothing (it refused), the second is a
 * Kiwi-compatible connect that does reach it. */
static int squat(void *arg)
{
    struct names *n = arg;
    become_other();
    int l = ipc_listen(n->name);
    child_check(l > 0);
    child_check(tu_signal_fd(n->fd) == 0);
    int h = ipc_accept(l, 10000);
    child_check(h > 0);
    void *d = NULL;
    size_t len = 0;
    /* Closed at once, at a message boundary, without a byte. */
    child_status(ipc_recv_timeout(h, &d, &len, 10000), IPC_ECLOSED);
    ipc_close(h);
    h = ipc_accept(l, 10000);
    child_check(h > 0);
    child_check(child_expect_msg(h, "kiwi") == 0);
    ipc_close(h);
    ipc_close(l);
    return 0;
}

static void client_refuses_squatter(void **state)
{
    (void)state;
    NEED_OTHER_USER();
    int fds[2];
    tu_pipe(fds);
    struct names n = {.name = share_path(), .fd = fds[1]};
    pid_t child = tu_fork(squat, &n);
    assert_int_equal(tu_wait_fd(fds[0], 10000), 0);

    assert_status(ipc_connect_ex(n.name, 5000, 0), IPC_EPERM);
    char want[160];
    snprintf(want, sizeof(want), "the server at %s is run by uid %d", n.name,
             (int)g_uid);
    assert_last_error_has(want);
    assert_last_error_has("IPC_ANY_USER");
    assert_string_equal(ipc_errname(IPC_EPERM), "permission");

    /* Kiwi's call, and the _ex call with IPC_ANY_USER, accept anyone. */
    int h = assert_handle(ipc_connect_ex(n.name, 5000, IPC_ANY_USER));
    struct ipc_peer p;
    assert_ok(ipc_get_peer(h, &p));
    assert_int_equal(p.uid, g_uid);
    assert_int_equal(p.pid, child);
    assert_ok(ipc_send(h, "kiwi", 4));
    assert_int_equal(tu_wait(child, 10000), 0);
    ipc_close(h);
    close(fds[0]);
    close(fds[1]);
}

/* ---------------------------------------------------------------------- */
/* A server refuses another user's client, then serves ours                */
/* ---------------------------------------------------------------------- */

struct serve {
    const char *name;
    int listen; /* ipc_listen_ex + ipc_accept, else ipc_create_ex */
    int ready;  /* write end: the other user's server is listening */
};

/* The other user is "us" here: a same-user server and its client, both
 * run as the test user, and root (this process) as the stranger, who can
 * connect despite the socket's 0600. */
static int same_user_server(void *arg)
{
    struct serve *sv = arg;
    become_other();
    int h;
    if (sv->listen) {
        int l = ipc_listen_ex(sv->name, 0);
        child_check(l > 0);
        child_check(tu_signal_fd(sv->ready) == 0);
        h = ipc_accept(l, 20000);
        ipc_close(l);
    } else {
        child_check(tu_signal_fd(sv->ready) == 0);
        h = ipc_create_ex(sv->name, 20000, 0);
    }
    child_check(h > 0);
    struct ipc_peer p;
    child_status(ipc_get_peer(h, &p), IPC_OK);
    child_check(p.uid == (long long)g_uid);
    child_check(child_expect_msg(h, "ours") == 0);
    child_status(ipc_send(h, "served", 6), IPC_OK);
    child_check(child_expect_msg(h, "done") == 0);
    ipc_close(h);
    return 0;
}

static int same_user_client(void *arg)
{
    struct serve *sv = arg;
    become_other();
    int h = ipc_connect_ex(sv->name, 20000, 0);
    child_check(h > 0);
    child_status(ipc_send(h, "ours", 4), IPC_OK);
    child_check(child_expect_msg(h, "served") == 0);
    child_status(ipc_send(h, "done", 4), IPC_OK);
    ipc_close(h);
    return 0;
}

static void server_refuses_then_serves(int listen)
{
    NEED_OTHER_USER();
    int fds[2];
    tu_pipe(fds);
    struct serve sv = {.name = share_path(), .listen = listen, .ready = fds[1]};
    pid_t server = tu_fork(same_user_server, &sv);
    assert_int_equal(tu_wait_fd(fds[0], 10000), 0);
    assert_int_equal(tu_wait_listening(sv.name, 10000), 0);

    /* The stranger: Kiwi's connect gets in, and is closed at once. */
    int h = assert_handle(ipc_connect_timeout(sv.name, 10000));
    void *d = NULL;
    size_t n = 0;
    assert_status(ipc_recv_timeout(h, &d, &n, 10000), IPC_ECLOSED);
    assert_status(ipc_send_timeout(h, "x", 1, 1000), IPC_ECLOSED);
    ipc_close(h);

    /* Ours, once the server listens again. */
    pid_t client = tu_fork(same_user_client, &sv);
    assert_int_equal(tu_wait(client, 20000), 0);
    assert_int_equal(tu_wait(server, 20000), 0);
    close(fds[0]);
    close(fds[1]);
    /* create_ex gave its path back, as create does. */
    struct stat st;
    assert_int_equal(lstat(sv.name, &st), -1);
}

static void create_ex_refuses_then_serves(void **state)
{
    (void)state;
    server_refuses_then_serves(0);
}

static void listen_ex_refuses_then_serves(void **state)
{
    (void)state;
    server_refuses_then_serves(1);
}

/* ---------------------------------------------------------------------- */
/* The path                                                                */
/* ---------------------------------------------------------------------- */

static void dir_checks_open_dir(void **state)
{
    (void)state;
    char dir[100];
    snprintf(dir, sizeof(dir), "%s/open", tu_dir());
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    char name[200];
    snprintf(name, sizeof(name), "%s/p", dir);

    assert_status(ipc_check_path(name), IPC_EPERM);
    assert_last_error_has("writable by other users and has no sticky bit");
    assert_last_error_has(dir);
    assert_status(ipc_create_ex(name, 0, 0), IPC_EPERM);
    assert_status(ipc_listen_ex(name, 0), IPC_EPERM);
    assert_status(ipc_connect_ex(name, 0, 0), IPC_EPERM);
    /* Kiwi's calls, and IPC_ANY_USER, do not judge the path. */
    int l = assert_handle(ipc_listen_ex(name, IPC_ANY_USER));
    ipc_close(l);
    l = assert_handle(ipc_listen(name));
    ipc_close(l);

    /* With the sticky bit it is /tmp's mode: trusted. */
    assert_int_equal(chmod(dir, 01777), 0);
    assert_ok(ipc_check_path(name));
    l = assert_handle(ipc_listen_ex(name, 0));
    ipc_close(l);
    /* Owner-only: trusted. */
    assert_int_equal(chmod(dir, 0700), 0);
    assert_ok(ipc_check_path(name));
    /* Group-writable by our own group: trusted. */
    assert_int_equal(chmod(dir, 0770), 0);
    assert_ok(ipc_check_path(name));
    /* A directory higher up counts too. */
    char deep[150];
    snprintf(deep, sizeof(deep), "%s/sub", dir);
    assert_int_equal(mkdir(deep, 0700), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    snprintf(name, sizeof(name), "%s/p", deep);
    assert_status(ipc_check_path(name), IPC_EPERM);
    assert_last_error_has(dir);
}

static void dir_checks_own_links(void **state)
{
    (void)state;
    /* Links of our own, absolute and relative, to a trusted dir. */
    char real[160], abs_link[160], rel_link[160], name[220];
    snprintf(real, sizeof(real), "%s/real", tu_dir());
    assert_int_equal(mkdir(real, 0700), 0);
    snprintf(abs_link, sizeof(abs_link), "%s/abs", tu_dir());
    assert_int_equal(symlink(real, abs_link), 0);
    snprintf(rel_link, sizeof(rel_link), "%s/rel", tu_dir());
    assert_int_equal(symlink("./real/../real", rel_link), 0);
    snprintf(name, sizeof(name), "%s/p", abs_link);
    assert_ok(ipc_check_path(name));
    snprintf(name, sizeof(name), "%s/p", rel_link);
    assert_ok(ipc_check_path(name));
    /* A link into an open dir is judged by where it leads. */
    assert_int_equal(chmod(real, 0777), 0);
    assert_status(ipc_check_path(name), IPC_EPERM);
    assert_last_error_has(real);
    /* A missing directory ends the check: nothing there to redirect. */
    snprintf(name, sizeof(name), "%s/missing/p", tu_dir());
    assert_ok(ipc_check_path(name));
    /* A loop is an error, not a hang. */
    char loop[160];
    snprintf(loop, sizeof(loop), "%s/loop", tu_dir());
    assert_int_equal(symlink(loop, loop), 0);
    snprintf(name, sizeof(name), "%s/p", loop);
    assert_status(ipc_check_path(name), IPC_ESYSTEM);
    assert_int_equal(ipc_last_os_error(), ELOOP);
    /* A pipe name (not a path) is checked at its $TMPDIR path. */
    assert_status(ipc_check_path(""), IPC_EINVAL);
}

static void dir_checks_other_users(void **state)
{
    (void)state;
    NEED_OTHER_USER();
    char real[160], link[160], theirs[160], name[220];
    snprintf(real, sizeof(real), "%s/real", tu_dir());
    assert_int_equal(mkdir(real, 0700), 0);
    /* A link that the other user owns: refused, naming it and its owner. */
    snprintf(link, sizeof(link), "%s/link", tu_dir());
    assert_int_equal(symlink(real, link), 0);
    assert_int_equal(lchown(link, g_uid, g_gid), 0);
    snprintf(name, sizeof(name), "%s/p", link);
    assert_status(ipc_check_path(name), IPC_EPERM);
    assert_last_error_has("goes through the symbolic link");
    assert_last_error_has(link);
    char uid[32];
    snprintf(uid, sizeof(uid), "uid %d", (int)g_uid);
    assert_last_error_has(uid);
    assert_status(ipc_connect_ex(name, 0, 0), IPC_EPERM);
    assert_status(ipc_create_ex(name, 0, 0), IPC_EPERM);
    /* Root's links are trusted (macOS's /tmp is one). */
    assert_int_equal(lchown(link, 0, 0), 0);
    assert_ok(ipc_check_path(name));
    /* A directory the other user owns: refused, even 0755. */
    snprintf(theirs, sizeof(theirs), "%s/theirs", tu_dir());
    assert_int_equal(mkdir(theirs, 0755), 0);
    assert_int_equal(chown(theirs, g_uid, g_gid), 0);
    snprintf(name, sizeof(name), "%s/p", theirs);
    assert_status(ipc_check_path(name), IPC_EPERM);
    assert_last_error_has("is owned by another user");
    /* Group-writable by a group that is not ours: refused. */
    assert_int_equal(chown(theirs, 0, g_gid == getegid() ? 1 : g_gid), 0);
    assert_int_equal(chmod(theirs, 0775), 0);
    assert_status(ipc_check_path(name), IPC_EPERM);
    assert_last_error_has("writable by other users");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(peer_of_own_pair, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(peer_of_listener_is_bad_handle,
                                        tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(peer_pid_of_child, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(client_refuses_squatter, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(create_ex_refuses_then_serves, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(listen_ex_refuses_then_serves, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(dir_checks_open_dir, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(dir_checks_own_links, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(dir_checks_other_users, tu_setup,
                                        tu_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
