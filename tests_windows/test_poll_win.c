/*
 * test_poll_win.c - ipc_poll() and ipc_pending() on Windows named pipes
 * (win32/poll.c), through the DLL: the cases of tests_c/test_poll.c that
 * a Windows user relies on, with the raw peer a client handle opened with
 * .NET's calls (dotnet.c), plus what is Windows' own: more entries than
 * one WaitForMultipleObjects takes, and accepts in two threads at once.
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

static void assert_ok_(int rc, const char *what, int line)
{
    if (rc != 0) {
        fail_msg("line %d: %s = %d: %s", line, what, rc, ipc_last_error());
    }
}
#define assert_ok(call) assert_ok_((call), #call, __LINE__)

static const char *path_of(const char *name, wchar_t *w, int cap)
{
    static char path[IPC_PATH_MAX];
    assert_true(ipc_path(name, path, sizeof(path)) > 0);
    wu_widen(path, w, cap);
    return path;
}

/* A kiwi-ipc pipe `*h` whose other end is a raw client handle (returned),
 * opened as .NET opens it, so the test writes the bytes itself. */
static HANDLE raw_pair(int *h)
{
    char name[128];
    wchar_t w[512];
    wu_name(name, sizeof(name), "poll");
    int l = ipc_listen(name);
    assert_true(l > 0);
    path_of(name, w, 512);
    HANDLE raw = dn_client(w, 10000);
    assert_true(raw != INVALID_HANDLE_VALUE);
    *h = ipc_accept(l, 10000);
    if (*h <= 0) {
        fail_msg("accept: %s", ipc_last_error());
    }
    assert_ok(ipc_close(l));
    return raw;
}

static void put_header(unsigned char *p, uint32_t n)
{
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
}

/* Write `count` frames "m<i>" back to back, in one write. */
static void burst(HANDLE raw, int first, int count)
{
    size_t cap = (size_t)count * 32, at = 0;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = first; i < first + count; i++) {
        char text[24];
        int len = snprintf(text, sizeof(text), "m%d", i);
        put_header(buf + at, (uint32_t)len);
        memcpy(buf + at + 4, text, (size_t)len);
        at += 4 + (size_t)len;
    }
    assert_int_equal(dn_write_all(raw, buf, at), 0);
    free(buf);
}

static void expect_msg(int h, int i)
{
    char want[24];
    snprintf(want, sizeof(want), "m%d", i);
    void *data;
    size_t len;
    int rc = ipc_recv_timeout(h, &data, &len, 0);
    if (rc != 0) {
        fail_msg("recv of %s: %s", want, ipc_last_error());
    }
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    ipc_free(data);
}

/* ---- one pipe ----------------------------------------------------------- */

/* A burst of 100 frames: poll says ready before each of them (the first
 * recv took them all into the handle), and a recv that does not wait
 * gets it; then nothing is ready. */
static void test_burst_one_pipe(void **state)
{
    (void)state;
    int h;
    HANDLE raw = raw_pair(&h);
    burst(raw, 0, 100);
    for (int i = 0; i < 100; i++) {
        struct ipc_pollitem it = {h, IPC_POLLIN, 0};
        int r = ipc_poll(&it, 1, 2000);
        if (r != 1) {
            fail_msg("poll before frame %d of a burst of 100 returned %d (%s)",
                     i, r, ipc_last_error());
        }
        assert_true(it.revents & IPC_POLLIN);
        expect_msg(h, i);
    }
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    assert_int_equal(ipc_poll(&it, 1, 0), 0);
    assert_int_equal(it.revents, 0);
    assert_int_equal(ipc_pending(h), 0);
    CloseHandle(raw);
    assert_ok(ipc_close(h));
}

/* Part of a frame is not readiness: poll waits on, and says ready once
 * the frame is whole. */
static void test_partial_frame_is_not_ready(void **state)
{
    (void)state;
    int h;
    HANDLE raw = raw_pair(&h);
    unsigned char hdr[4];
    put_header(hdr, 10);
    assert_int_equal(dn_write_all(raw, hdr, 4), 0);
    assert_int_equal(dn_write_all(raw, "hello", 5), 0);
    Sleep(20);
    assert_int_equal(ipc_pending(h), 0);
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    int64_t t0 = wu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, 150), 0);
    assert_true(wu_now_ms() - t0 >= 140);
    assert_int_equal(dn_write_all(raw, "world", 5), 0);
    assert_int_equal(ipc_poll(&it, 1, 5000), 1);
    assert_int_equal(it.revents, IPC_POLLIN);
    void *data;
    size_t len;
    assert_ok(ipc_recv_timeout(h, &data, &len, 0));
    assert_int_equal(len, 10);
    assert_memory_equal(data, "helloworld", 10);
    ipc_free(data);
    CloseHandle(raw);
    assert_ok(ipc_close(h));
}

/* The peer sends two frames and goes: both are reported and received,
 * then the end (IN with HUP), and recv says IPC_ECLOSED at once. */
static void test_hangup_after_frames(void **state)
{
    (void)state;
    int h;
    HANDLE raw = raw_pair(&h);
    burst(raw, 0, 2);
    CloseHandle(raw);
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ipc_poll(&it, 1, 2000), 1);
        assert_true(it.revents & IPC_POLLIN);
        expect_msg(h, i);
    }
    assert_int_equal(ipc_poll(&it, 1, 2000), 1);
    assert_true(it.revents & IPC_POLLIN);
    assert_true(it.revents & IPC_POLLHUP);
    void *data;
    size_t len;
    assert_int_equal(ipc_recv_timeout(h, &data, &len, 0), IPC_ECLOSED);
    assert_ok(ipc_close(h));
}

/* POLLHUP is reported whether asked for or not (kiwi_ipc.h): a pipe
 * polled with no events at all still says that the peer has gone, both
 * when it is gone already and when it goes while the poll waits. */
static DWORD WINAPI close_raw_later(void *arg)
{
    Sleep(100);
    CloseHandle(*(HANDLE *)arg);
    return 0;
}

static void test_hangup_without_events(void **state)
{
    (void)state;
    int h;
    HANDLE raw = raw_pair(&h);
    struct ipc_pollitem it = {h, 0, 0};
    assert_int_equal(ipc_poll(&it, 1, 0), 0); /* alive: nothing to say */
    static HANDLE later;
    later = raw;
    HANDLE t = wu_thread(close_raw_later, &later);
    int64_t t0 = wu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, 8000), 1);
    assert_true(wu_now_ms() - t0 < 6000);
    assert_true(it.revents & IPC_POLLHUP);
    assert_int_equal(wu_join(t, 5000), 0);
    /* Gone already: at once, and again. */
    assert_int_equal(ipc_poll(&it, 1, 0), 1);
    assert_true(it.revents & IPC_POLLHUP);
    assert_ok(ipc_close(h));
}

/* Time: 0 looks once, a timeout is kept, n == 0 sleeps. */
static void test_timeouts(void **state)
{
    (void)state;
    int h;
    HANDLE raw = raw_pair(&h);
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    int64_t t0 = wu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, 0), 0);
    assert_true(wu_now_ms() - t0 < 500);
    t0 = wu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, 150), 0);
    int64_t took = wu_now_ms() - t0;
    assert_true(took >= 140 && took < 5000);
    t0 = wu_now_ms();
    assert_int_equal(ipc_poll(NULL, 0, 60), 0);
    assert_true(wu_now_ms() - t0 >= 50);
    assert_int_equal(ipc_poll(NULL, 1, 0), IPC_EINVAL);
    CloseHandle(raw);
    assert_ok(ipc_close(h));
}

static LONG hook_calls;
static LONG hook_stop_after; /* stop on this call (0: never) */

static int counting_hook(void *arg)
{
    (void)arg;
    LONG n = InterlockedIncrement(&hook_calls);
    return hook_stop_after > 0 && n >= hook_stop_after;
}

/* IPC_FOREVER with the hook: consulted every slice, and its stop ends the
 * wait with IPC_EINTR; a frame arriving during such a wait ends it. */
static void test_hook_and_forever(void **state)
{
    (void)state;
    int h;
    HANDLE raw = raw_pair(&h);
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    hook_calls = 0;
    hook_stop_after = 3;
    ipc_set_interrupt_hook(counting_hook, NULL);
    int64_t t0 = wu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, IPC_FOREVER), IPC_EINTR);
    int64_t took = wu_now_ms() - t0;
    assert_int_equal(hook_calls, 3);
    assert_true(took >= 2 * IPC_INTERRUPT_SLICE_MS - 10 && took < 5000);
    assert_non_null(strstr(ipc_last_error(), "interrupted"));
    hook_stop_after = 0;
    burst(raw, 7, 1);
    assert_int_equal(ipc_poll(&it, 1, IPC_FOREVER), 1);
    expect_msg(h, 7);
    ipc_set_interrupt_hook(NULL, NULL);
    CloseHandle(raw);
    assert_ok(ipc_close(h));
}

struct drain {
    HANDLE raw;
    size_t want, got;
};

static DWORD WINAPI drain_thread(void *arg)
{
    struct drain *d = arg;
    static char buf[65536];
    while (d->got < d->want) {
        DWORD n = 0;
        if (!ReadFile(d->raw, buf, sizeof(buf), &n, NULL) || n == 0) {
            break;
        }
        d->got += n;
    }
    return 0;
}

/* A send that ran out of time after committing its message: the pipe is
 * not writable while the rest is kept; poll pushes the rest as the peer
 * reads, then says writable, and the peer has the whole frame. */
static void test_committed_rest_not_writable(void **state)
{
    (void)state;
    int h;
    HANDLE raw = raw_pair(&h);
    size_t big = 8u << 20;
    unsigned char *msg = malloc(big);
    assert_non_null(msg);
    memset(msg, 'x', big);
    assert_ok(ipc_send_timeout(h, msg, big, 20)); /* committed, not out */
    struct ipc_pollitem it = {h, IPC_POLLOUT | IPC_POLLIN, 0};
    assert_int_equal(ipc_poll(&it, 1, 0), 0);
    struct drain d = {raw, big + 4, 0};
    HANDLE t = wu_thread(drain_thread, &d);
    it.events = IPC_POLLOUT;
    int r = ipc_poll(&it, 1, 20000);
    if (r != 1) {
        fail_msg("poll for writable returned %d (%s)", r, ipc_last_error());
    }
    assert_int_equal(it.revents, IPC_POLLOUT);
    assert_int_equal(wu_join(t, 20000), 0);
    assert_int_equal(d.got, big + 4);
    assert_ok(ipc_flush(h, 0)); /* nothing left */
    free(msg);
    CloseHandle(raw);
    assert_ok(ipc_close(h));
}

struct blocked_recv {
    int h;
    int rc;
    size_t len;
};

static DWORD WINAPI recv_thread(void *arg)
{
    struct blocked_recv *b = arg;
    void *data = NULL;
    b->rc = ipc_recv_timeout(b->h, &data, &b->len, 10000);
    ipc_free(data);
    return 0;
}

/* Another thread's recv holds the receive lock: that recv gets the
 * message; poll does not report it and returns at its deadline. */
static void test_busy_pipe_goes_to_its_recv(void **state)
{
    (void)state;
    int h;
    HANDLE raw = raw_pair(&h);
    struct blocked_recv b = {h, -1, 0};
    HANDLE t = wu_thread(recv_thread, &b);
    Sleep(50); /* the thread is in its recv */
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    int64_t t0 = wu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, 100), 0);
    assert_true(wu_now_ms() - t0 >= 90);
    burst(raw, 0, 1);
    assert_int_equal(wu_join(t, 10000), 0);
    assert_ok(b.rc);
    assert_int_equal(b.len, 2);
    CloseHandle(raw);
    assert_ok(ipc_close(h));
}

static DWORD WINAPI close_later(void *arg)
{
    Sleep(100);
    ipc_close(*(int *)arg);
    return 0;
}

/* ipc_close() from another thread wakes a poll waiting on the handle (a
 * pipe, then a listener). */
static void test_close_wakes_poll(void **state)
{
    (void)state;
    static int h;
    HANDLE raw = raw_pair(&h);
    HANDLE t = wu_thread(close_later, &h);
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    int64_t t0 = wu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, 8000), 1);
    assert_true(wu_now_ms() - t0 < 6000);
    assert_true(it.revents & IPC_POLLHUP);
    assert_int_equal(wu_join(t, 5000), 0);
    assert_int_equal(ipc_poll(&it, 1, 0), 1);
    assert_int_equal(it.revents, IPC_POLLNVAL);
    CloseHandle(raw);

    char name[128];
    wu_name(name, sizeof(name), "closel");
    static int l;
    l = ipc_listen(name);
    assert_true(l > 0);
    t = wu_thread(close_later, &l);
    struct ipc_pollitem li = {l, IPC_POLLIN, 0};
    t0 = wu_now_ms();
    assert_int_equal(ipc_poll(&li, 1, 8000), 1);
    assert_true(wu_now_ms() - t0 < 6000);
    assert_true(li.revents & (IPC_POLLHUP | IPC_POLLIN));
    assert_int_equal(wu_join(t, 5000), 0);
}

/* ---- listeners ------------------------------------------------------------
 */

struct client {
    wchar_t path[512];
    HANDLE h;
};

static DWORD WINAPI client_thread(void *arg)
{
    struct client *c = arg;
    c->h = dn_client(c->path, 10000);
    return 0;
}

/* Three clients at once: poll says a client is there before each accept
 * (Windows has one instance waiting at a time: the others wait for the
 * next, which accept makes), and every accept that follows does not wait. */
static void test_listener_clients(void **state)
{
    (void)state;
    char name[128];
    wu_name(name, sizeof(name), "lst");
    int l = ipc_listen(name);
    assert_true(l > 0);
    struct ipc_pollitem it = {l, IPC_POLLIN, 0};
    assert_int_equal(ipc_pending(l), 0);
    assert_int_equal(ipc_poll(&it, 1, 30), 0);
    struct client c[3];
    HANDLE t[3];
    for (int i = 0; i < 3; i++) {
        path_of(name, c[i].path, 512);
        t[i] = wu_thread(client_thread, &c[i]);
    }
    for (int i = 0; i < 3; i++) {
        int r = ipc_poll(&it, 1, 5000);
        if (r != 1) {
            fail_msg("poll for client %d returned %d (%s)", i, r,
                     ipc_last_error());
        }
        assert_int_equal(it.revents, IPC_POLLIN);
        int p = ipc_accept(l, 0);
        if (p <= 0) {
            fail_msg("accept(0) after poll said ready: %s", ipc_last_error());
        }
        assert_ok(ipc_close(p));
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(wu_join(t[i], 10000), 0);
        assert_true(c[i].h != INVALID_HANDLE_VALUE);
        CloseHandle(c[i].h);
    }
    assert_int_equal(ipc_pending(l), 0);
    assert_int_equal(ipc_poll(&it, 1, 30), 0);
    assert_ok(ipc_close(l));
}

struct acceptor {
    int l;
    int h;
    char error[512];
};

static DWORD WINAPI accept_thread(void *arg)
{
    struct acceptor *a = arg;
    a->h = ipc_accept(a->l, 10000);
    snprintf(a->error, sizeof(a->error), "%s", ipc_last_error());
    return 0;
}

/* Two threads accept on one listener at once: each gets its own client
 * (they take turns with the listener's next instance). */
static void test_accepts_in_two_threads(void **state)
{
    (void)state;
    char name[128];
    wu_name(name, sizeof(name), "acc2");
    int l = ipc_listen(name);
    assert_true(l > 0);
    struct acceptor a[2] = {{l, 0, ""}, {l, 0, ""}};
    HANDLE ta[2] = {wu_thread(accept_thread, &a[0]),
                    wu_thread(accept_thread, &a[1])};
    Sleep(50);
    struct client c[2];
    HANDLE tc[2];
    for (int i = 0; i < 2; i++) {
        path_of(name, c[i].path, 512);
        tc[i] = wu_thread(client_thread, &c[i]);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(wu_join(tc[i], 15000), 0);
        assert_true(c[i].h != INVALID_HANDLE_VALUE);
        assert_int_equal(wu_join(ta[i], 15000), 0);
        if (a[i].h <= 0) {
            fail_msg("accept in thread %d: %s", i, a[i].error);
        }
    }
    assert_true(a[0].h != a[1].h);
    /* Each accepted pipe reaches its own client. */
    for (int i = 0; i < 2; i++) {
        char m[8];
        snprintf(m, sizeof(m), "c%d", i);
        assert_int_equal(dn_write_frame(c[i].h, m, strlen(m)), 0);
    }
    int seen = 0;
    for (int i = 0; i < 2; i++) {
        void *data;
        size_t len;
        assert_ok(ipc_recv_timeout(a[i].h, &data, &len, 5000));
        assert_int_equal(len, 2);
        seen |= 1 << (((char *)data)[1] - '0');
        ipc_free(data);
        assert_ok(ipc_close(a[i].h));
        CloseHandle(c[i].h);
    }
    assert_int_equal(seen, 3);
    assert_ok(ipc_close(l));
}

/* ---- many at once -----------------------------------------------------------
 */

struct later {
    HANDLE raw;
    int index;
};

static DWORD WINAPI write_later(void *arg)
{
    struct later *w = arg;
    Sleep(150);
    burst(w->raw, w->index, 1);
    return 0;
}

/* 100 pipes and a listener in one poll: more handles than one
 * WaitForMultipleObjects takes. A frame written on pipe k while the poll
 * waits is found whichever group k is in, every frame of a round arrives,
 * and a closed handle is IPC_POLLNVAL. */
static void test_more_than_64(void **state)
{
    (void)state;
    enum { PIPES = 100 };
    struct ipc_pollitem it[PIPES + 2];
    HANDLE raw[PIPES];
    for (int k = 0; k < PIPES; k++) {
        raw[k] = raw_pair(&it[k].handle);
        it[k].events = IPC_POLLIN;
    }
    char name[128];
    wu_name(name, sizeof(name), "many");
    it[PIPES].handle = ipc_listen(name);
    assert_true(it[PIPES].handle > 0);
    it[PIPES].events = IPC_POLLIN;
    int gone = ipc_listen("kiwi-gone");
    assert_ok(ipc_close(gone));
    it[PIPES + 1].handle = gone;
    it[PIPES + 1].events = IPC_POLLIN;

    assert_int_equal(ipc_poll(it, PIPES + 1, 50), 0);
    const int picks[] = {0, 62, 63, 64, 99, 126 % PIPES};
    for (size_t p = 0; p < sizeof(picks) / sizeof(picks[0]); p++) {
        struct later w = {raw[picks[p]], picks[p]};
        HANDLE t = wu_thread(write_later, &w);
        int r = ipc_poll(it, PIPES + 1, 10000);
        if (r != 1) {
            fail_msg("poll with a frame on pipe %d of %d returned %d (%s)",
                     picks[p], PIPES, r, ipc_last_error());
        }
        assert_int_equal(it[picks[p]].revents, IPC_POLLIN);
        expect_msg(it[picks[p]].handle, picks[p]);
        assert_int_equal(wu_join(t, 5000), 0);
    }
    /* A round with a frame on every pipe: all are reported. */
    for (int k = 0; k < PIPES; k++) {
        burst(raw[k], 1000 + k, 1);
    }
    int left = PIPES;
    int64_t t0 = wu_now_ms();
    while (left > 0 && wu_now_ms() - t0 < 20000) {
        int r = ipc_poll(it, PIPES, 5000);
        assert_true(r > 0);
        for (int k = 0; k < PIPES; k++) {
            if (it[k].revents & IPC_POLLIN) {
                expect_msg(it[k].handle, 1000 + k);
                left--;
            }
        }
    }
    assert_int_equal(left, 0);
    assert_int_equal(ipc_poll(it, PIPES + 2, 0), 1);
    assert_int_equal(it[PIPES + 1].revents, IPC_POLLNVAL);
    for (int k = 0; k < PIPES; k++) {
        CloseHandle(raw[k]);
        assert_ok(ipc_close(it[k].handle));
    }
    assert_ok(ipc_close(it[PIPES].handle));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_one_pipe),
        cmocka_unit_test(test_partial_frame_is_not_ready),
        cmocka_unit_test(test_hangup_after_frames),
        cmocka_unit_test(test_hangup_without_events),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_hook_and_forever),
        cmocka_unit_test(test_committed_rest_not_writable),
        cmocka_unit_test(test_busy_pipe_goes_to_its_recv),
        cmocka_unit_test(test_close_wakes_poll),
        cmocka_unit_test(test_listener_clients),
        cmocka_unit_test(test_accepts_in_two_threads),
        cmocka_unit_test(test_more_than_64),
    };
    const char *wine = wu_wine_version();
    printf("test_poll_win: running on %s%s\n", wine ? "wine " : "Windows",
           wine ? wine : "");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
