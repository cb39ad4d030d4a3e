/*
 * test_integrity_posix.c - integrity where a pipe is a Unix socket file:
 * creates racing over a stale socket file take turns (one serves, the
 * other is refused), and a listener bound under another spelling of its
 * path (a symlinked directory, "//") is alive, not stale. The rest of the
 * integrity tests, every OS's, are ../test_integrity.c.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- creates racing over a stale socket ------------------------------- */

struct racer {
    const char *name;
    int go;      /* read end of the start barrier */
    int refused; /* write end: a byte when this one was refused */
};

/* 0: served one client; 10: refused (in use); else the status + 100. */
static int race_create(void *arg)
{
    struct racer *r = arg;
    char c;
    if (read(r->go, &c, 1) != 1)
        return 1;
    int h = ipc_create_timeout(r->name, 3000);
    if (h == IPC_EINUSE) {
        return write(r->refused, "r", 1) == 1 ? 10 : 2;
    }
    if (h <= 0)
        return 100 - h;
    void *d;
    size_t n;
    int rc = ipc_recv_timeout(h, &d, &n, 5000);
    if (rc != 0)
        return 100 - rc;
    rc = ipc_send(h, d, n);
    ipc_free(d);
    ipc_close(h);
    return rc == 0 ? 0 : 100 - rc;
}

/* Two processes create the same name over a stale socket file, many times.
 * Before the fix, both could judge it stale: one then deleted the other's
 * live socket, and that server waited for a client that could never reach
 * it. Now exactly one serves and the other is refused, every time. */
static void racing_creates_on_a_stale_name(void **state)
{
    (void)state;
    const char *name = tu_name();
    int rounds = TU_SCALE(200, 40);
    for (int i = 0; i < rounds; i++) {
        int fd = tu_raw_bind(name); /* a stale socket: bound, closed */
        assert_true(fd >= 0);
        close(fd);
        int go[2], refused[2];
        tu_pipe(go);
        tu_pipe(refused);
        struct racer r = {name, go[0], refused[1]};
        pid_t p1 = tu_fork(race_create, &r);
        pid_t p2 = tu_fork(race_create, &r);
        close(go[0]);
        close(refused[1]);
        assert_int_equal(write(go[1], "gg", 2), 2);
        close(go[1]);
        /* Connect once one create was refused and the other listens, so
         * that a slow child cannot come after the served one (then it
         * would rightly find the name free). If neither is ever refused
         * (both took the name: the bug), connect after 2 s anyway. */
        (void)tu_wait_fd(refused[0], 2000);
        close(refused[0]);
        (void)tu_wait_listening(name, 5000);
        int c = ipc_connect_timeout(name, 5000);
        if (c > 0) {
            assert_ok(ipc_send(c, "hi", 2));
            void *d;
            size_t n;
            assert_ok(ipc_recv_timeout(c, &d, &n, 5000));
            ipc_free(d);
            assert_ok(ipc_close(c));
        }
        int s1 = tu_wait(p1, 10000), s2 = tu_wait(p2, 10000);
        if (!((s1 == 0 && s2 == 10) || (s1 == 10 && s2 == 0)))
            fail_msg("round %d: the creates ended %d and %d (0 served, "
                     "10 refused, 100+n status -n): a live socket was "
                     "taken over",
                     i, s1, s2);
        unlink(name);
    }
}

/* ---- liveness by the socket's identity -------------------------------- */

/* A server bound under another spelling of the path (through a symlinked
 * directory, or with "//") is alive. Before the fix the kernel table's
 * path string did not match, so create judged the socket stale, deleted
 * it and took the name. */
static void listener_under_another_spelling_is_live(void **state)
{
    (void)state;
    char alias[2048], bound[4096], canon[4096], dbl[4096];
    assert_true(strlen(tu_dir()) < 1024);
    snprintf(alias, sizeof alias, "%s/alias", tu_dir());
    assert_int_equal(symlink(tu_dir(), alias), 0);
    snprintf(bound, sizeof bound, "%s/srv", alias);
    snprintf(canon, sizeof canon, "%s/srv", tu_dir());
    snprintf(dbl, sizeof dbl, "%s//srv", tu_dir());
    int lfd = tu_raw_listen(bound);
    assert_true(lfd >= 0);
    struct stat before, after;
    assert_int_equal(lstat(canon, &before), 0);
    assert_status(ipc_create_timeout(canon, 100), IPC_EINUSE);
    assert_last_error_has("already listening");
    assert_status(ipc_listen(dbl), IPC_EINUSE);
    assert_int_equal(lstat(canon, &after), 0);
    assert_true(before.st_ino == after.st_ino);
    close(lfd);
    /* Now it is stale: reclaimed. */
    int l = assert_handle(ipc_listen(canon));
    assert_ok(ipc_close(l));
    unlink(alias);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(racing_creates_on_a_stale_name),
        T(listener_under_another_spelling_is_live),
    };
    return cmocka_run_group_tests_name("integrity_posix", tests, NULL, NULL);
}
