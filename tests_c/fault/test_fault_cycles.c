/*
 * test_fault_cycles.c - 10,000 create/connect/close cycles leak nothing:
 * the process's descriptor count and the entries of the private temp dir
 * are the same before, at every checkpoint, and after.
 *
 * The server end runs on a thread (ipc_create blocks), the client on the
 * test's thread; each cycle uses a fresh name. Cycles vary in who closes
 * first and whether a message is left unread, and a few hundred extra
 * cycles create and connect with nobody on the other side (timeouts).
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define CHECK_EVERY 1000

struct server {
    int cycles;
    pthread_barrier_t *barrier;
    tu_err *err;
};

static void cycle_name(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, "%s/c%d", tu_dir(), i);
}

static void *server_thread(void *arg)
{
    struct server *s = arg;
    char name[128];
    for (int i = 0; i < s->cycles; i++) {
        cycle_name(name, sizeof(name), i);
        int h = ipc_create_timeout(name, 20000);
        if (h <= 0) {
            tu_err_set(s->err, "cycle %d: create: %s: %s", i, ipc_errname(h),
                       ipc_last_error());
            return NULL;
        }
        void *d;
        size_t n;
        int rc = ipc_recv_timeout(h, &d, &n, 20000);
        if (rc != 0 || n != sizeof(int) || memcmp(d, &i, sizeof(int)) != 0) {
            tu_err_set(s->err, "cycle %d: server recv: %s: %s", i,
                       ipc_errname(rc), ipc_last_error());
            ipc_free(d);
            return NULL;
        }
        ipc_free(d);
        switch (i % 4) {
        case 0: /* reply, then close first */
        case 2: /* reply and leave a second message unread by the client */
            rc = ipc_send(h, &i, sizeof(i));
            if (rc == 0 && i % 4 == 2) {
                /* The client may have closed already: then it is the
                 * send that finds out. */
                rc = ipc_send(h, "unread", 6);
                rc = rc == IPC_ECLOSED ? 0 : rc;
            }
            break;
        case 1: /* reply, wait for the client to close, then close */
        case 3:
            rc = ipc_send(h, &i, sizeof(i));
            if (rc == 0) {
                rc = ipc_recv_timeout(h, &d, &n, 20000);
                rc = rc == IPC_ECLOSED ? 0 : (ipc_free(d), -1000);
            }
            break;
        }
        if (rc != 0) {
            tu_err_set(s->err, "cycle %d: server: %s: %s", i, ipc_errname(rc),
                       ipc_last_error());
            return NULL;
        }
        ipc_close(h);
        if ((i + 1) % CHECK_EVERY == 0) {
            pthread_barrier_wait(s->barrier); /* checkpoint ... */
            pthread_barrier_wait(s->barrier); /* ... done */
        }
    }
    return NULL;
}

static void ten_thousand_cycles(void **state)
{
    (void)state;
    int cycles = 10000; /* under valgrind too: about 30 s */
    int fds = tu_fd_count();
    assert_int_equal(tu_dir_entries(tu_dir()), 0);

    /* Static: should the test fail with the thread still running, it must
     * not point into a dead stack frame. */
    static pthread_barrier_t barrier;
    static tu_err err = TU_ERR_INIT;
    static struct server s;
    pthread_barrier_init(&barrier, NULL, 2);
    s = (struct server){cycles, &barrier, &err};
    pthread_t t;
    long long t0 = tu_now_ms();
    tu_thread_start(&t, server_thread, &s);

    char name[128];
    int i;
    for (i = 0; i < cycles && !tu_err_isset(&err); i++) {
        cycle_name(name, sizeof(name), i);
        int h = ipc_connect_timeout(name, 20000);
        if (h <= 0) {
            tu_err_set(&err, "cycle %d: connect: %s: %s", i, ipc_errname(h),
                       ipc_last_error());
            break;
        }
        int rc = ipc_send(h, &i, sizeof(i));
        void *d = NULL;
        size_t n = 0;
        if (rc == 0) {
            rc = ipc_recv_timeout(h, &d, &n, 20000);
        }
        if (rc != 0 || n != sizeof(int) || memcmp(d, &i, sizeof(int)) != 0) {
            tu_err_set(&err, "cycle %d: client recv: %s: %s", i,
                       ipc_errname(rc), ipc_last_error());
        }
        ipc_free(d);
        assert_status(ipc_close(h), 0);
        if ((i + 1) % CHECK_EVERY == 0 && !tu_err_isset(&err)) {
            pthread_barrier_wait(&barrier);
            /* Both ends closed: nothing of the cycles may remain. */
            int now = tu_fd_count();
            int ents = tu_dir_entries(tu_dir());
            pthread_barrier_wait(&barrier);
            if (now != fds || ents != 0) {
                fail_msg("after %d cycles: %d descriptors (was %d), %d "
                         "entries in the temp dir",
                         i + 1, now, fds, ents);
            }
        }
    }
    if (tu_thread_join(t, 60000) != 0) {
        fail_msg("the server thread hung (%s)", err.msg);
    }
    assert_no_err(&err);
    long long ms = tu_now_ms() - t0;
    pthread_barrier_destroy(&barrier);

    /* Creates and connects with nobody on the other side. */
    int lonely = TU_SCALE(300, 50);
    for (int k = 0; k < lonely; k++) {
        const char *nm = tu_name();
        assert_status(ipc_create_timeout(nm, 0), IPC_ETIMEDOUT);
        assert_status(ipc_connect_timeout(nm, 0), IPC_ENOSERVER);
        int l = assert_handle(ipc_listen(nm));
        assert_status(ipc_accept(l, 0), IPC_ETIMEDOUT);
        assert_status(ipc_close(l), 0);
        assert_status(ipc_close(l), IPC_EBADHANDLE);
    }

    assert_int_equal(tu_fd_count(), fds);
    assert_int_equal(tu_dir_entries(tu_dir()), 0);
    printf("# %d create/connect/close cycles in %lld ms (+%d with no peer)\n",
           cycles, ms, lonely);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ten_thousand_cycles, tu_guarded_setup,
                                        tu_guarded_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
