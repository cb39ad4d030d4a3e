/*
 * test_win32.c - what only the Windows backend has, through the public API
 * (the DLL), with real named pipes: the \\.\pipe\ name rules, a second
 * server (and wine's FILE_FLAG_FIRST_PIPE_INSTANCE), handles not inherited
 * by child processes (win_peer.exe), two copies of the library in one
 * process. The behaviour every OS shares (start orders, listen/accept,
 * timeouts that lose nothing, close from another thread, the interrupt
 * hook, batches, poll, the handle table and ipc_fileno's error here) is
 * tested once, in tests_c/, which runs here too.
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

/* ---- helpers ------------------------------------------------------------ */

static void check_path(const char *name, const char *want)
{
    char buf[IPC_PATH_MAX];
    int n = ipc_path(name, buf, sizeof(buf));
    if (n < 0) {
        fail_msg("ipc_path(\"%s\") failed: %s", name, ipc_last_error());
    }
    assert_string_equal(buf, want);
    assert_int_equal(n, (int)strlen(want));
}

static void check_refused(const char *name)
{
    char buf[IPC_PATH_MAX];
    int n = ipc_path(name, buf, sizeof(buf));
    if (n != IPC_EINVAL) {
        fail_msg("ipc_path(\"%s\") = %d (%s), want IPC_EINVAL", name, n,
                 n >= 0 ? buf : ipc_last_error());
    }
}

struct side {
    char name[128];
    int timeout_ms;
    int delay_ms; /* before the call */
    int handle;   /* result */
};

static void *create_thread(void *arg)
{
    struct side *s = arg;
    Sleep((DWORD)s->delay_ms);
    s->handle = ipc_create_timeout(s->name, s->timeout_ms);
    return NULL;
}

static void *connect_thread(void *arg)
{
    struct side *s = arg;
    Sleep((DWORD)s->delay_ms);
    s->handle = ipc_connect_timeout(s->name, s->timeout_ms);
    return NULL;
}

/* A connected pair in this process: *srv from ipc_create, *cli from
 * ipc_connect. */
static void make_pair(const char *tag, int *srv, int *cli)
{
    struct side s = {.timeout_ms = 10000};
    wu_name(s.name, sizeof(s.name), tag);
    tos_thread t;
    assert_int_equal(tos_thread_start(&t, create_thread, &s), 0);
    *cli = ipc_connect_timeout(s.name, 10000);
    assert_int_equal(tos_thread_join(t, 15000), 0);
    assert_true(*cli > 0);
    assert_true(s.handle > 0);
    *srv = s.handle;
}

/* ---- names -------------------------------------------------------------- */

static void test_path_rules(void **state)
{
    (void)state;
    check_path("demo", "\\\\.\\pipe\\demo");
    /* .NET's Path.GetFullPath(@"\\.\pipe\" + name) */
    check_path("a/b", "\\\\.\\pipe\\a\\b");
    check_path("a//b", "\\\\.\\pipe\\a\\b");
    check_path("x/../y", "\\\\.\\pipe\\y");
    check_path("name.", "\\\\.\\pipe\\name");
    check_path("name  ", "\\\\.\\pipe\\name");
    check_path("a:b", "\\\\.\\pipe\\a:b");
    check_path("p\xc3\xa9-\xe2\x9c\x93", "\\\\.\\pipe\\p\xc3\xa9-\xe2\x9c\x93");
    /* refused, as .NET refuses them or no server could exist there */
    check_refused("");
    check_refused("anonymous");
    check_refused("AnonyMous");
    check_refused("x\\..\\anonymous");
    check_refused("anonymous.");
    check_refused(".");
    check_refused("..\\COM1");
    check_refused("\xff\xfe");
    assert_int_equal(ipc_path(NULL, NULL, 0), IPC_EINVAL);
    /* the limit: 256 characters with "\\.\pipe\" (9) */
    char name[300];
    memset(name, 'n', 247);
    name[247] = '\0';
    char buf[IPC_PATH_MAX];
    assert_int_equal(ipc_path(name, buf, sizeof(buf)), 256);
    name[247] = 'n';
    name[248] = '\0';
    check_refused(name);
    /* a full buffer is refused, not cut */
    assert_int_equal(ipc_path("demo", buf, 13), IPC_EINVAL);
    assert_int_equal(ipc_path("demo", buf, 14), 13);
}

/* ---- a second server -------------------------------------------------------
 */

static void test_second_server(void **state)
{
    (void)state;
    const char *wine = wu_wine_version();
    print_message("[ info ] running on %s%s: %s\n", wine ? "wine " : "Windows",
                  wine ? wine : "",
                  wine ? "wine ignores FILE_FLAG_FIRST_PIPE_INSTANCE; the "
                         "pipe-exists check refuses the second server"
                       : "FILE_FLAG_FIRST_PIPE_INSTANCE refuses the second "
                         "server");
    /* A second server of ours is refused on every OS (tests_c/
     * test_server.c); here, a .NET-style server made with the flag
     * directly beside our listener. */
    char name[128];
    wu_name(name, sizeof(name), "second");
    char path[IPC_PATH_MAX];
    wchar_t w[IPC_PATH_MAX];
    ipc_path(name, path, sizeof(path));
    wu_widen(path, w, IPC_PATH_MAX);
    int l = ipc_listen(name);
    assert_true(l > 0);
    HANDLE h = CreateNamedPipeW(
        w, PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE,
        PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, 0, 0, 0, NULL);
    DWORD e = GetLastError();
    if (wine == NULL) {
        assert_true(h == INVALID_HANDLE_VALUE);
        assert_int_equal(e, ERROR_ACCESS_DENIED);
    } else {
        print_message("[ info ] wine: a .NET server beside our listener: %s "
                      "(error %lu)\n",
                      h == INVALID_HANDLE_VALUE ? "refused" : "allowed", e);
    }
    if (h != INVALID_HANDLE_VALUE) {
        CloseHandle(h);
    }
    ipc_close(l);
}

/* ---- handles are not inherited
 * ----------------------------------------------- */

/* A child started with bInheritHandles=TRUE while our end is open must not
 * keep the pipe alive: when we close our end, the peer sees the end at
 * once, not when the child exits. */
static void test_not_inherited(void **state)
{
    (void)state;
    int srv, cli;
    make_pair("inherit", &srv, &cli);
    PROCESS_INFORMATION pi;
    assert_int_equal(wu_spawn_peer("sleep 3000", 1, &pi), 0);
    Sleep(100);
    long long t0 = tos_now_us() / 1000;
    ipc_close(srv);
    void *data;
    size_t len;
    assert_int_equal(ipc_recv_timeout(cli, &data, &len, 2500), IPC_ECLOSED);
    assert_true(tos_now_us() / 1000 - t0 < 1500);
    ipc_close(cli);
    /* the other way round, and a listener's next instance too */
    char name[128];
    wu_name(name, sizeof(name), "inherit2");
    int l = ipc_listen(name);
    assert_true(l > 0);
    struct side c = {.timeout_ms = 5000};
    snprintf(c.name, sizeof(c.name), "%s", name);
    tos_thread t;
    assert_int_equal(tos_thread_start(&t, connect_thread, &c), 0);
    srv = ipc_accept(l, 5000);
    assert_true(srv > 0);
    assert_int_equal(tos_thread_join(t, 5000), 0);
    PROCESS_INFORMATION pi2;
    assert_int_equal(wu_spawn_peer("sleep 3000", 1, &pi2), 0);
    Sleep(100);
    t0 = tos_now_us() / 1000;
    ipc_close(c.handle);
    assert_int_equal(ipc_recv_timeout(srv, &data, &len, 2500), IPC_ECLOSED);
    assert_true(tos_now_us() / 1000 - t0 < 1500);
    ipc_close(srv);
    ipc_close(l);
    /* with the listener closed, the name is gone although the child lives */
    assert_int_equal(ipc_connect_timeout(name, 100), IPC_ENOSERVER);
    assert_int_equal(wu_reap(&pi, 10000), 0);
    assert_int_equal(wu_reap(&pi2, 10000), 0);
}

/* The same, asked of the child itself: with a created pipe (both ends)
 * and a listener with its next instance open here, a child started with
 * bInheritHandles=TRUE holds none of them (it looks at every handle value;
 * inherited handles keep theirs). Both tests fail when the client's
 * CreateFileW is given inheritable attributes (checked by hand). */
static void test_child_holds_no_pipe(void **state)
{
    (void)state;
    int srv, cli;
    make_pair("scan", &srv, &cli);
    char name[128];
    wu_name(name, sizeof(name), "scanlisten");
    int l = ipc_listen(name);
    assert_true(l > 0);
    PROCESS_INFORMATION pi;
    assert_int_equal(wu_spawn_peer("scan-pipes", 1, &pi), 0);
    assert_int_equal(wu_reap(&pi, 20000), 0);
    ipc_close(l);
    ipc_close(cli);
    ipc_close(srv);
}

/* ---- Windows specifics of the API
 * -------------------------------------------- */

/* Two copies of the library in one process (a Python that loads the Lua
 * binding holds two): each hands out handles of its own range, and a
 * handle of one is refused by the other, naming why. The second copy is
 * kiwi_ipc.dll under another file name, so Windows loads it again. */
static void test_two_copies_in_one_process(void **state)
{
    (void)state;
    wchar_t tmp[MAX_PATH], copy[MAX_PATH];
    assert_true(GetTempPathW(MAX_PATH, tmp) > 0);
    _snwprintf(copy, MAX_PATH, L"%lskiwi_ipc_copy_%lu.dll", tmp,
               GetCurrentProcessId());
    assert_true(CopyFileW(L"kiwi_ipc.dll", copy, FALSE));
    HMODULE other = LoadLibraryW(copy);
    assert_non_null(other);
    typedef int (*listen_fn)(const char *);
    typedef int (*close_fn)(int);
    typedef const char *(*error_fn)(void);
    listen_fn other_listen =
        (listen_fn)(void *)GetProcAddress(other, "ipc_listen");
    close_fn other_close = (close_fn)(void *)GetProcAddress(other, "ipc_close");
    error_fn other_error =
        (error_fn)(void *)GetProcAddress(other, "ipc_last_error");
    assert_non_null(other_listen);
    assert_true((void *)other_listen != (void *)ipc_listen);

    char a[128], b[128];
    wu_name(a, sizeof(a), "copya");
    wu_name(b, sizeof(b), "copyb");
    int mine = ipc_listen(a);
    int theirs = other_listen(b);
    assert_true(mine > 0);
    assert_true(theirs > 0);
    print_message("[ info ] this copy's handle %d, the other copy's %d\n", mine,
                  theirs);
    assert_true(mine < (1 << 30));
    assert_true(theirs >= (1 << 30)); /* copy 1's range */
    assert_int_equal(ipc_accept(theirs, 0), IPC_EBADHANDLE);
    assert_non_null(strstr(ipc_last_error(), "another copy"));
    assert_int_equal(ipc_close(theirs), IPC_EBADHANDLE);
    assert_int_equal(other_close(mine), IPC_EBADHANDLE);
    assert_non_null(strstr(other_error(), "no such handle"));
    assert_int_equal(other_close(theirs), 0);
    assert_int_equal(ipc_close(mine), 0);
    FreeLibrary(other);
    DeleteFileW(copy); /* fails if it stays loaded; %TEMP% then */
}

int main(void)
{
    const char *wine = wu_wine_version();
    printf("test_win32: on %s%s\n", wine ? "wine " : "Windows",
           wine ? wine : "");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_rules),
        cmocka_unit_test(test_second_server),
        cmocka_unit_test(test_not_inherited),
        cmocka_unit_test(test_child_holds_no_pipe),
        cmocka_unit_test(test_two_copies_in_one_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
