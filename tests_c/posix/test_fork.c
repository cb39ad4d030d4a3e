/*
 * test_fork.c - what a process forked from a kiwi-ipc user may and may not
 * do to its parent's pipes (kiwi_ipc.h, "fork"):
 * - only the process that created a listener removes its socket file, so a
 *   child that closes an inherited listener (or exits and is cleaned up)
 *   leaves the parent's name alive;
 * - only the process that committed a message writes its kept rest, so a
 *   child never repeats bytes its parent will write (a corrupt stream);
 * - a second copy of the library first loaded in a child keeps a handle
 *   range of its own, distinct from the inherited copy's.
 *
 * These are tests of a POSIX mechanism (fork), so they stay POSIX-only.
 */
#include "testutil.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- a listener's socket file belongs to its creator ------------------ */

struct inherited {
    int handle;
    const char *path;
};

/* The child closes the listener it inherited, then creates and closes one
 * of its own (which it does remove). */
static int close_inherited_listener(void *arg)
{
    struct inherited *in = arg;
    child_status(ipc_close(in->handle), IPC_OK);
    child_check(path_exists(in->path));
    char own[512];
    snprintf(own, sizeof own, "%s-child", in->path);
    int l = ipc_listen(own);
    child_check(l > 0);
    child_check(path_exists(own));
    child_status(ipc_close(l), IPC_OK);
    child_check(!path_exists(own));
    return 0;
}

static void child_close_keeps_parents_listener(void **state)
{
    (void)state;
    const char *path = tu_name();
    int l = assert_handle(ipc_listen(path));
    struct inherited in = {l, path};
    assert_int_equal(tu_wait(tu_fork(close_inherited_listener, &in), 10000), 0);
    /* The parent's name is alive: a new client reaches it. */
    assert_true(path_exists(path));
    int c = assert_handle(ipc_connect_timeout(path, 5000));
    int s = assert_handle(ipc_accept(l, 5000));
    assert_ok(ipc_send(c, "still here", 10));
    void *d;
    size_t n;
    assert_ok(ipc_recv_timeout(s, &d, &n, 5000));
    assert_int_equal(n, 10);
    ipc_free(d);
    assert_ok(ipc_close(c));
    assert_ok(ipc_close(s));
    /* And the creator still removes it. */
    assert_ok(ipc_close(l));
    assert_false(path_exists(path));
}

/* ---- a kept rest is written by the process that committed it ---------- */

#define BIG ((size_t)16 << 20)

struct reader {
    int handle;
    int other; /* the sender's end, inherited: closed at once */
    int go;    /* read end: a byte when the reader may start */
};

/* The peer: one whole BIG message, then "after", then the end. */
static int read_stream(void *arg)
{
    struct reader *r = arg;
    child_status(ipc_close(r->other), IPC_OK);
    child_check(tu_wait_fd(r->go, 20000) == 0);
    void *d;
    size_t n;
    child_status(ipc_recv_timeout(r->handle, &d, &n, 20000), IPC_OK);
    child_check(n == BIG);
    child_check(tu_check_fill(d, n, 7));
    ipc_free(d);
    child_status(ipc_recv_timeout(r->handle, &d, &n, 20000), IPC_OK);
    child_check(n == 5 && memcmp(d, "after", 5) == 0);
    ipc_free(d);
    child_status(ipc_recv_timeout(r->handle, &d, &n, 20000), IPC_ECLOSED);
    return 0;
}

/* A child of the sender: the rest is not its to write, nor may it send on
 * the pipe in the middle of its parent's frame. */
static int touch_parents_rest(void *arg)
{
    int c = *(int *)arg;
    child_status(ipc_flush(c, 5000), IPC_EINVAL);
    child_check(strstr(ipc_last_error(), "committed by process") != NULL);
    child_status(ipc_send_timeout(c, "x", 1, 5000), IPC_EINVAL);
    child_status(ipc_close(c), IPC_OK);
    return 0;
}

static void child_never_writes_parents_rest(void **state)
{
    (void)state;
    int c, s;
    tu_lib_pair(&c, &s);
    int go[2];
    tu_pipe(go);
    struct reader r = {s, c, go[0]};
    pid_t reader = tu_fork(read_stream, &r);
    close(go[0]);
    assert_ok(ipc_close(s)); /* the reader's now */

    unsigned char *big = tu_pattern(BIG, 7);
    /* Nobody reads yet: part of the frame fits, the rest is kept. */
    assert_ok(ipc_send_timeout(c, big, BIG, 50));
    free(big);
    assert_int_equal(tu_signal_fd(go[1]), 0);
    close(go[1]);

    assert_int_equal(tu_wait(tu_fork(touch_parents_rest, &c), 20000), 0);
    assert_ok(ipc_flush(c, 20000));
    assert_ok(ipc_send(c, "after", 5));
    assert_ok(ipc_close(c));
    assert_int_equal(tu_wait(reader, 30000), 0);
}

/* ---- copies of the library keep distinct handle ranges ---------------- */

#ifndef KIWI_IPC_SHARED_LIB
#error "the build passes the path of the shared library"
#endif

struct copies {
    int handle; /* the inherited (static) copy's listener */
    const char *path;
};

/* The child loads a second copy of the library (the shared one; this
 * program links the static one), as Python loading the Lua binding does. */
static int second_copy_in_child(void *arg)
{
    struct copies *cp = arg;
    void *lib = dlopen(KIWI_IPC_SHARED_LIB, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "child: dlopen: %s\n", dlerror());
        return 2;
    }
    int (*dl_listen)(const char *) =
        (int (*)(const char *))dlsym(lib, "ipc_listen");
    int (*dl_close)(int) = (int (*)(int))dlsym(lib, "ipc_close");
    int (*dl_send)(int, const void *, size_t) =
        (int (*)(int, const void *, size_t))dlsym(lib, "ipc_send");
    child_check(dl_listen != NULL && dl_close != NULL && dl_send != NULL);
    char other[512];
    snprintf(other, sizeof other, "%s-second", cp->path);
    int h = dl_listen(other);
    child_check(h > 0);
    if (h == cp->handle) {
        fprintf(stderr,
                "child: the second copy handed out %d, a handle of "
                "the inherited copy\n",
                h);
        return 3;
    }
    /* Neither copy takes the other's number for its own. */
    child_status(ipc_send(h, "x", 1), IPC_EBADHANDLE);
    child_check(strstr(ipc_last_error(), "another copy") != NULL);
    child_status(dl_send(cp->handle, "x", 1), IPC_EBADHANDLE);
    child_status(dl_close(h), IPC_OK);
    child_status(ipc_close(cp->handle), IPC_OK);
    return 0;
}

static void copies_keep_their_ranges_across_fork(void **state)
{
    (void)state;
#if !defined(__linux__) || defined(KIWI_IPC_PORTABLE)
    /* Copies are told apart on Linux and Windows only (kiwi_ipc.h). */
    skip();
#endif
    const char *path = tu_name();
    struct copies cp = {assert_handle(ipc_listen(path)), path};
    assert_int_equal(tu_wait(tu_fork(second_copy_in_child, &cp), 10000), 0);
    assert_ok(ipc_close(cp.handle));
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(child_close_keeps_parents_listener),
        T(child_never_writes_parents_rest),
        T(copies_keep_their_ranges_across_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
