/*
 * test_interop.c - kiwi-ipc against a stand-in for a Kiwi program on .NET
 * (win_peer.exe: .NET's exact Win32 calls, see winutil.h), in another
 * process: kiwi-ipc as server (ipc_create) and as client (ipc_connect),
 * each with the peer started first and second; the binary-safe vectors
 * both ways (the peer echoes them, writing length and payload in two
 * writes as .NET does); the peer closing after N messages.
 */
#include "winutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kiwi_ipc.h"

/* Send the vectors, expect each echoed; then the peer, which echoes
 * exactly that many, closes: the next recv is a clean IPC_ECLOSED. */
static void exchange(int h)
{
    for (int i = 0; i < WU_VECTORS; i++) {
        const char *v;
        size_t vlen;
        wu_vector(i, &v, &vlen);
        assert_int_equal(ipc_send_timeout(h, v, vlen, 20000), 0);
        void *data;
        size_t len;
        int rc = ipc_recv_timeout(h, &data, &len, 20000);
        if (rc != 0) {
            fail_msg("vector %d: %s", i, ipc_last_error());
        }
        assert_int_equal(len, vlen);
        assert_memory_equal(data, v, vlen);
        ipc_free(data);
    }
    void *data;
    size_t len;
    int rc = ipc_recv_timeout(h, &data, &len, 10000);
    if (rc != IPC_ECLOSED) {
        fail_msg("after the peer closed: %d (%s)", rc, ipc_last_error());
    }
    /* and a send now says so too */
    assert_int_equal(ipc_send_timeout(h, "x", 1, 5000), IPC_ECLOSED);
}

/* ipc_create or ipc_connect on a thread. */
struct named {
    char name[128];
    int h;
};

static void *create_it(void *arg)
{
    struct named *n = arg;
    n->h = ipc_create_timeout(n->name, 20000);
    return NULL;
}

static void *connect_it(void *arg)
{
    struct named *n = arg;
    n->h = ipc_connect_timeout(n->name, 20000);
    return NULL;
}

static void peer_args(char *args, size_t cap, const char *role,
                      const char *name, int n)
{
    char path[IPC_PATH_MAX];
    assert_true(ipc_path(name, path, sizeof(path)) > 0);
    snprintf(args, cap, "%s %s %d", role, path, n);
}

static void test_kiwi_server_peer_first(void **state)
{
    (void)state;
    char name[128], args[512];
    wu_name(name, sizeof(name), "srv-peerfirst");
    peer_args(args, sizeof(args), "dotnet-client", name, WU_VECTORS);
    PROCESS_INFORMATION pi;
    assert_int_equal(wu_spawn_peer(args, 0, &pi), 0);
    Sleep(300); /* .NET's client loops on ERROR_FILE_NOT_FOUND meanwhile */
    int h = ipc_create_timeout(name, 20000);
    if (h < 0) {
        fail_msg("create: %s", ipc_last_error());
    }
    exchange(h);
    ipc_close(h);
    assert_int_equal(wu_reap(&pi, 20000), 0);
}

static void test_kiwi_server_peer_second(void **state)
{
    (void)state;
    char name[128], args[512];
    wu_name(name, sizeof(name), "srv-peersecond");
    peer_args(args, sizeof(args), "dotnet-client", name, WU_VECTORS);
    /* ipc_create blocks: start the peer once the pipe exists. */
    struct named srv;
    snprintf(srv.name, sizeof(srv.name), "%s", name);
    tos_thread t;
    assert_int_equal(tos_thread_start(&t, create_it, &srv), 0);
    assert_true(wu_wait_pipe(name, 5000));
    PROCESS_INFORMATION pi;
    assert_int_equal(wu_spawn_peer(args, 0, &pi), 0);
    assert_int_equal(tos_thread_join(t, 20000), 0);
    if (srv.h < 0) {
        fail_msg("create: %d", srv.h);
    }
    exchange(srv.h);
    ipc_close(srv.h);
    assert_int_equal(wu_reap(&pi, 20000), 0);
}

static void test_kiwi_client_peer_first(void **state)
{
    (void)state;
    char name[128], args[512];
    wu_name(name, sizeof(name), "cli-peerfirst");
    peer_args(args, sizeof(args), "dotnet-server", name, WU_VECTORS);
    PROCESS_INFORMATION pi;
    assert_int_equal(wu_spawn_peer(args, 0, &pi), 0);
    assert_true(wu_wait_pipe(name, 10000));
    int h = ipc_connect_timeout(name, 10000);
    if (h < 0) {
        fail_msg("connect: %s", ipc_last_error());
    }
    exchange(h);
    ipc_close(h);
    assert_int_equal(wu_reap(&pi, 20000), 0);
}

static void test_kiwi_client_peer_second(void **state)
{
    (void)state;
    char name[128], args[512];
    wu_name(name, sizeof(name), "cli-peersecond");
    peer_args(args, sizeof(args), "dotnet-server", name, WU_VECTORS);
    /* connect first: it waits (backing off) for the server to appear */
    struct named cli;
    snprintf(cli.name, sizeof(cli.name), "%s", name);
    tos_thread t;
    assert_int_equal(tos_thread_start(&t, connect_it, &cli), 0);
    Sleep(300);
    PROCESS_INFORMATION pi;
    assert_int_equal(wu_spawn_peer(args, 0, &pi), 0);
    assert_int_equal(tos_thread_join(t, 20000), 0);
    if (cli.h < 0) {
        fail_msg("connect: %d", cli.h);
    }
    exchange(cli.h);
    ipc_close(cli.h);
    assert_int_equal(wu_reap(&pi, 20000), 0);
}

/* The peer echoes 2 messages and closes: our next recv sees a clean end
 * (not a protocol error), and a send says the peer closed.
 * One message at a time: .NET's server asks for buffers of size 0, and
 * then (measured under wine) a write completes only when the other side
 * reads it, so a peer that echoes cannot take a second message while its
 * echo of the first is unread. */
static void test_peer_closes_after_n(void **state)
{
    (void)state;
    char name[128], args[512];
    wu_name(name, sizeof(name), "closeafter");
    peer_args(args, sizeof(args), "dotnet-server", name, 2);
    PROCESS_INFORMATION pi;
    assert_int_equal(wu_spawn_peer(args, 0, &pi), 0);
    int h = ipc_connect_timeout(name, 10000);
    assert_true(h > 0);
    void *data;
    size_t len;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ipc_send_timeout(h, "ping", 4, 5000), 0);
        assert_int_equal(ipc_recv_timeout(h, &data, &len, 5000), 0);
        assert_int_equal(len, 4);
        assert_memory_equal(data, "ping", 4);
        ipc_free(data);
    }
    int rc = ipc_recv_timeout(h, &data, &len, 5000);
    if (rc != IPC_ECLOSED) {
        fail_msg("recv after the peer closed: %d (%s)", rc, ipc_last_error());
    }
    assert_int_equal(wu_reap(&pi, 20000), 0);
    assert_int_equal(ipc_send_timeout(h, "ping", 4, 5000), IPC_ECLOSED);
    ipc_close(h);
}

int main(void)
{
    const char *wine = wu_wine_version();
    printf("test_interop: .NET stand-in peer, on %s%s\n",
           wine ? "wine " : "Windows", wine ? wine : "");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kiwi_server_peer_first),
        cmocka_unit_test(test_kiwi_server_peer_second),
        cmocka_unit_test(test_kiwi_client_peer_first),
        cmocka_unit_test(test_kiwi_client_peer_second),
        cmocka_unit_test(test_peer_closes_after_n),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
