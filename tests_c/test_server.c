/*
 * test_server.c - create/connect/listen/accept as every OS has them: both
 * start orders (create first, connect first) with a round trip of the
 * binary-safe vectors, connect giving up, one client per create, several
 * clients of one listener (some before it exists), timeouts, a second
 * server refused, close waking a blocked accept, and a create that times
 * out leaving nothing.
 *
 * The same suite on Linux and on Windows (under wine). What a Unix socket
 * file adds (stale files, modes, forked clients, descriptors) is
 * posix/test_server_posix.c; what a named pipe adds, tests_windows/.
 */
#include "testutil.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <sys/stat.h>
#endif

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */
/* ---------------------------------------------------------------------- */

/* The binary-safe vectors: empty, ASCII, multi-byte UTF-8, 1 MiB. */
enum { VECTORS = 4 };

static void vector(int i, const char **data, size_t *len)
{
    static char *big;
    static const char *const small[3] = {
        "", "hello, kiwi",
        /* 2-, 3- and 4-byte UTF-8 sequences */
        "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9d\x84\x9e"};
    if (i < 3) {
        *data = small[i];
        *len = strlen(small[i]);
        return;
    }
    if (big == NULL)
        big = (char *)tu_pattern(1u << 20, 77);
    *data = big;
    *len = 1u << 20;
}

/* Echo n messages on handle h, then close it. */
typedef struct echo {
    int h;
    int n;
    tu_err err;
} echo;

static void *echo_main(void *p)
{
    echo *e = p;
    for (int i = 0; i < e->n; i++) {
        void *data = NULL;
        size_t len = 0;
        int rc = ipc_recv_timeout(e->h, &data, &len, 20000);
        if (rc == IPC_OK)
            rc = ipc_send_timeout(e->h, data, len, 20000);
        ipc_free(data);
        if (rc != IPC_OK) {
            tu_err_set(&e->err, "echo of message %d: %s (%s)", i,
                       ipc_errname(rc), ipc_last_error());
            break;
        }
    }
    ipc_close(e->h);
    return NULL;
}

/* Send every vector on h and expect each back, byte for byte, from an
 * echo at the other end. */
static void roundtrip_vectors(int h)
{
    for (int i = 0; i < VECTORS; i++) {
        const char *v;
        size_t vlen;
        vector(i, &v, &vlen);
        assert_ok(ipc_send_timeout(h, v, vlen, 20000));
        void *data;
        size_t len;
        int rc = ipc_recv_timeout(h, &data, &len, 20000);
        if (rc != IPC_OK)
            fail_msg("recv of vector %d: %s", i, ipc_last_error());
        assert_int_equal(len, vlen);
        assert_memory_equal(data, v, vlen);
        ipc_free(data);
    }
}

/* Round trips through an echo thread on `other`, which closes it after. */
static void roundtrip_through_echo(int h, int other)
{
    echo *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->h = other;
    e->n = VECTORS;
    tu_thread t;
    tu_thread_start(&t, echo_main, e);
    roundtrip_vectors(h);
    assert_int_equal(tu_thread_join(t, 20000), 0);
    assert_no_err(&e->err);
    free(e);
}

/* ---------------------------------------------------------------------- */
/* Start orders                                                           */
/* ---------------------------------------------------------------------- */

/* The server is there first: the client connects to it, the vectors go
 * both ways, and the server's close after its messages is a clean end. */
static void create_first(void **state)
{
    (void)state;
    const char *name = tu_name();
    tu_opener *o = tu_open_start(name, 1, 10000);
    assert_int_equal(tu_wait_listening(name, 5000), 0);
    int c = assert_handle(ipc_connect_timeout(name, 5000));
    int s = tu_open_join(o);
    roundtrip_through_echo(c, s);
    void *data;
    size_t len;
    assert_status(ipc_recv_timeout(c, &data, &len, 5000), IPC_ECLOSED);
    assert_ok(ipc_close(c));
}

/* The client is there first, waiting for a server that is not there yet
 * (Kiwi's order: it spawns its client, then creates the pipe). */
static void connect_first(void **state)
{
    (void)state;
    const char *name = tu_name();
    tu_opener *o = tu_open_start(name, 0, 10000);
    tu_sleep_ms(300); /* the client is waiting for a server */
    int s = assert_handle(ipc_create_timeout(name, 10000));
    int c = tu_open_join(o);
    roundtrip_through_echo(s, c);
    assert_ok(ipc_close(s));
}

static void connect_no_server(void **state)
{
    (void)state;
    const char *name = tu_name();
    long long t0 = tu_now_ms();
    assert_status(ipc_connect_timeout(name, 0), IPC_ENOSERVER);
    assert_true(tu_now_ms() - t0 < 500);
    assert_last_error_has(name);
    assert_last_error_has("connect");

#ifndef _WIN32
    /* A relative name: the message gives the name and the resolved path
     * (where $TMPDIR puts the socket file: POSIX's mapping). */
    tos_setenv("TMPDIR", tu_dir());
    assert_status(ipc_connect_timeout("nobody", 0), IPC_ENOSERVER);
    assert_last_error_has("nobody");
    assert_last_error_has(tu_path("CoreFxPipe_nobody"));
#endif

    /* With a timeout it keeps trying for about that long. */
    t0 = tu_now_ms();
    assert_status(ipc_connect_timeout(name, 200), IPC_ENOSERVER);
    long long dt = tu_now_ms() - t0;
    assert_true(dt >= 190);
    assert_true(dt < TOS_MS(3000, 2000));
}

/* ---------------------------------------------------------------------- */
/* create serves one; listen serves many                                  */
/* ---------------------------------------------------------------------- */

/* ipc_create serves one client: a second one finds no server until the
 * next create. */
static void create_serves_one(void **state)
{
    (void)state;
    const char *name = tu_name();
    tu_opener *o = tu_open_start(name, 1, 10000);
    int c1 = assert_handle(ipc_connect_timeout(name, 10000));
    int s1 = tu_open_join(o);
    assert_status(ipc_connect_timeout(name, 200), IPC_ENOSERVER);
#ifdef _WIN32
    /* While that pipe is open the name is taken: .NET's pipe has one
     * instance (on POSIX its socket file is gone, the name free). */
    assert_status(ipc_create_timeout(name, 100), IPC_EINUSE);
#endif
    tu_check_connected(c1, s1);
    assert_ok(ipc_close(s1));
    assert_ok(ipc_close(c1));
    o = tu_open_start(name, 1, 10000);
    int c2 = assert_handle(ipc_connect_timeout(name, 10000));
    int s2 = tu_open_join(o);
    tu_check_connected(c2, s2);
    assert_ok(ipc_close(c2));
    assert_ok(ipc_close(s2));
}

enum { CLIENTS = 6 };

typedef struct client {
    const char *name;
    int id;
    int delay_ms;
    tu_err err;
} client;

/* Connect, send "client <id>", expect "ack client <id>" back. */
static void *client_main(void *p)
{
    client *c = p;
    tu_sleep_ms(c->delay_ms);
    int h = ipc_connect_timeout(c->name, 15000);
    if (h <= 0) {
        tu_err_set(&c->err, "client %d: connect: %s (%s)", c->id,
                   ipc_errname(h), ipc_last_error());
        return NULL;
    }
    char msg[32], want[48];
    int n = snprintf(msg, sizeof(msg), "client %d", c->id);
    snprintf(want, sizeof(want), "ack %s", msg);
    void *data = NULL;
    size_t len = 0;
    int rc = ipc_send_timeout(h, msg, (size_t)n, 10000);
    if (rc == IPC_OK)
        rc = ipc_recv_timeout(h, &data, &len, 10000);
    if (rc != IPC_OK)
        tu_err_set(&c->err, "client %d: %s (%s)", c->id, ipc_errname(rc),
                   ipc_last_error());
    else if (len != strlen(want) || memcmp(data, want, len) != 0)
        tu_err_set(&c->err, "client %d: a wrong ack of %zu bytes", c->id, len);
    ipc_free(data);
    ipc_close(h);
    return NULL;
}

/* Six clients of one listener, half of them started before it exists:
 * each is accepted, heard and answered; then no client waits, and accept
 * times out. */
static void listen_accept_many(void **state)
{
    (void)state;
    const char *name = tu_name();
    static client cs[CLIENTS];
    tu_thread ts[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        memset(&cs[i], 0, sizeof(cs[i]));
        cs[i].name = name;
        cs[i].id = i;
        cs[i].delay_ms = i < CLIENTS / 2 ? 0 : 300;
        tu_thread_start(&ts[i], client_main, &cs[i]);
    }
    tu_sleep_ms(150);
    int l = assert_handle(ipc_listen(name));
    for (int i = 0; i < CLIENTS; i++) {
        int h = ipc_accept(l, 15000);
        if (h <= 0)
            fail_msg("accept %d: %s", i, ipc_last_error());
        void *data;
        size_t len;
        assert_ok(ipc_recv_timeout(h, &data, &len, 10000));
        char reply[64];
        assert_true(len + 4 <= sizeof(reply));
        memcpy(reply, "ack ", 4);
        memcpy(reply + 4, data, len);
        assert_ok(ipc_send_timeout(h, reply, len + 4, 10000));
        ipc_free(data);
        assert_ok(ipc_close(h));
    }
    for (int i = 0; i < CLIENTS; i++) {
        assert_int_equal(tu_thread_join(ts[i], 15000), 0);
        assert_no_err(&cs[i].err);
    }
    /* No client waiting: accept times out. */
    assert_status(ipc_accept(l, 100), IPC_ETIMEDOUT);
    assert_ok(ipc_close(l));
}

static void accept_timeout(void **state)
{
    (void)state;
    int l = assert_handle(ipc_listen(tu_name()));
    long long t0 = tu_now_ms();
    assert_status(ipc_accept(l, 0), IPC_ETIMEDOUT);
    assert_true(tu_now_ms() - t0 < 500);
    t0 = tu_now_ms();
    assert_status(ipc_accept(l, 100), IPC_ETIMEDOUT);
    long long dt = tu_now_ms() - t0;
    assert_true(dt >= 50);
    assert_true(dt < 3000);
    assert_ok(ipc_close(l));
}

/* A second server for a name is refused while the first is there: beside
 * a create that waits for its client (which then times out as it would),
 * and beside a listener, whether the second is a listen or a create. */
static void second_server_refused(void **state)
{
    (void)state;
    const char *name = tu_name();
    tu_opener *o = tu_open_start(name, 1, 3000);
    assert_int_equal(tu_wait_listening(name, 3000), 0);
    assert_status(ipc_create_timeout(name, 100), IPC_EINUSE);
    assert_status(ipc_listen(name), IPC_EINUSE);
    assert_int_equal(tu_thread_join(o->t, 10000), 0);
    assert_status(o->result, IPC_ETIMEDOUT);
    free(o);
    int l = assert_handle(ipc_listen(name));
    assert_status(ipc_listen(name), IPC_EINUSE);
    assert_status(ipc_create_timeout(name, 100), IPC_EINUSE);
    assert_ok(ipc_close(l));
}

/* ---------------------------------------------------------------------- */
/* Close from another thread, timeouts                                    */
/* ---------------------------------------------------------------------- */

typedef struct acceptor {
    int l;
    int status;
    atomic_int tid;
    long long returned; /* tu_now_ms() when accept returned */
} acceptor;

static void *accept_thread(void *p)
{
    acceptor *a = p;
    atomic_store(&a->tid, (int)tu_gettid());
    a->status = ipc_accept(a->l, IPC_FOREVER);
    a->returned = tu_now_ms();
    return NULL;
}

/* ipc_close from another thread wakes an accept blocked forever, at once;
 * the name is free again. */
static void close_wakes_blocked_accept(void **state)
{
    (void)state;
    const char *name = tu_name();
    acceptor *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->l = assert_handle(ipc_listen(name));
    a->status = 1;
    tu_thread t;
    tu_thread_start(&t, accept_thread, a);
    long long deadline = tu_now_ms() + 5000;
    while (atomic_load(&a->tid) == 0 && tu_now_ms() < deadline)
        tu_sleep_ms(1);
    (void)tu_wait_blocked((long)atomic_load(&a->tid), 2000);
    long long t0 = tu_now_ms();
    assert_ok(ipc_close(a->l));
    if (tu_thread_join(t, 5000) != 0)
        fail_msg("ipc_accept() still blocked 5 s after ipc_close()");
    assert_status(a->status, IPC_ECLOSED);
    assert_true(a->returned - t0 < 1000);
    assert_status(ipc_accept(a->l, 0), IPC_EBADHANDLE);
    free(a);
#ifndef _WIN32
    struct stat st;
    assert_int_equal(lstat(name, &st), -1); /* its socket file is gone */
#endif
    assert_status(ipc_connect_timeout(name, 0), IPC_ENOSERVER);
    /* The name is free again. */
    int l = assert_handle(ipc_listen(name));
    assert_ok(ipc_close(l));
}

static void create_timeout_leaves_nothing(void **state)
{
    (void)state;
    const char *name = tu_name();
#ifndef _WIN32
    int fds = tu_fd_count();
    struct stat st;
#endif
    long long t0 = tu_now_ms();
    assert_status(ipc_create_timeout(name, 100), IPC_ETIMEDOUT);
    long long dt = tu_now_ms() - t0;
    assert_true(dt >= 50);
    assert_true(dt < 3000);
    assert_false(tu_is_listening(name));
#ifndef _WIN32
    assert_int_equal(lstat(name, &st), -1);
#endif
    assert_status(ipc_create_timeout(name, 0), IPC_ETIMEDOUT);
    assert_false(tu_is_listening(name));
#ifndef _WIN32
    assert_int_equal(lstat(name, &st), -1);
    assert_int_equal(tu_fd_count(), fds);
#endif
    assert_int_equal(tu_dir_entries(tu_dir()), 0);
    /* The name is free again. */
    int l = assert_handle(ipc_listen(name));
    assert_ok(ipc_close(l));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(create_first),
        T(connect_first),
        T(connect_no_server),
        T(create_serves_one),
        T(listen_accept_many),
        T(accept_timeout),
        T(second_server_refused),
        T(close_wakes_blocked_accept),
        T(create_timeout_leaves_nothing),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
