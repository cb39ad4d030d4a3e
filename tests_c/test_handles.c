/*
 * test_handles.c - the handle table (numbering, never reused, wrong kinds,
 * closed handles), ipc_fileno, ipc_version, the status table and the
 * per-thread detailed error.
 *
 * The same suite on Linux and on Windows (under wine); what ipc_fileno
 * gives is each OS's own (a socket descriptor; on Windows none).
 */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#endif

/* ---------------------------------------------------------------------- */
/* Numbering                                                              */
/* ---------------------------------------------------------------------- */

static void handles_increase_and_are_never_reused(void **state)
{
    (void)state;
    int prev = 0;
    for (int i = 0; i < 100; i++) {
        int l = assert_handle(ipc_listen(tu_name()));
        if (l <= prev)
            fail_msg("handle %d after %d: not increasing (reused?)", l, prev);
        assert_ok(ipc_close(l));
        prev = l;
    }
    /* Pipes come from the same counter. */
    int c, s;
    tu_lib_pair(&c, &s);
    assert_true(c > prev && s > prev && c != s);
    assert_ok(ipc_close(c));
    assert_ok(ipc_close(s));
    int c2, s2;
    tu_lib_pair(&c2, &s2);
    assert_true(c2 > s && c2 > c && s2 > s && s2 > c);
    /* The old numbers reach nothing. */
    assert_status(ipc_send(c, "x", 1), IPC_EBADHANDLE);
    assert_status(ipc_send(s, "x", 1), IPC_EBADHANDLE);
    assert_ok(ipc_close(c2));
    assert_ok(ipc_close(s2));
}

/* In a fresh process the first handle is 1 (checked by running this
 * binary again in a helper mode). */
static int first_handle_main(const char *path)
{
    int h = ipc_listen(path);
    if (h != 1) {
        fprintf(stderr, "first handle: %d (%s)\n", h, ipc_last_error());
        return 3;
    }
    ipc_close(h);
    return 0;
}

static void first_handle_is_one(void **state)
{
    (void)state;
    const char *args[] = {"--first-handle", tu_name(), NULL};
    int rc = tos_run_self(args, 20000);
    if (rc != 0)
        fail_msg("the helper process: %d (%s)", rc, tos_error());
}

/* ---------------------------------------------------------------------- */
/* Unknown, closed and wrong-kind handles                                 */
/* ---------------------------------------------------------------------- */

static void close_unknown_handle(void **state)
{
    (void)state;
    int bad[] = {0, -1, -100, INT_MIN, INT_MAX, 123456789};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_status(ipc_close(bad[i]), IPC_EBADHANDLE);
    assert_last_error_has("close");
}

static void double_close(void **state)
{
    (void)state;
    int l = assert_handle(ipc_listen(tu_name()));
    assert_ok(ipc_close(l));
    assert_status(ipc_close(l), IPC_EBADHANDLE);
    int c, s;
    tu_lib_pair(&c, &s);
    assert_ok(ipc_close(c));
    assert_status(ipc_close(c), IPC_EBADHANDLE);
    /* The other end is unaffected by the second close. */
    void *d = (void *)1;
    size_t n = 1;
    assert_status(ipc_recv_timeout(s, &d, &n, 5000), IPC_ECLOSED);
    assert_ok(ipc_close(s));
}

static void calls_on_closed_handle(void **state)
{
    (void)state;
    int c, s;
    tu_lib_pair(&c, &s);
    assert_ok(ipc_close(c));
    void *d = (void *)1;
    size_t n = 1;
    assert_status(ipc_send(c, "x", 1), IPC_EBADHANDLE);
    assert_last_error_has("send");
    assert_status(ipc_send_timeout(c, "x", 1, 0), IPC_EBADHANDLE);
    assert_status(ipc_recv(c, &d, &n), IPC_EBADHANDLE);
    assert_null(d);
    assert_int_equal(n, 0);
    assert_last_error_has("recv");
    d = (void *)1;
    n = 1;
    assert_status(ipc_recv_timeout(c, &d, &n, 0), IPC_EBADHANDLE);
    assert_null(d);
    assert_int_equal(n, 0);
    assert_status(ipc_accept(c, 0), IPC_EBADHANDLE);
    assert_status(ipc_fileno(c), IPC_EBADHANDLE);
    assert_status(ipc_set_max_message(c, 10), IPC_EBADHANDLE);
    assert_ok(ipc_close(s));

    /* Never-opened handles behave the same. */
    assert_status(ipc_send(987654321, "x", 1), IPC_EBADHANDLE);
    assert_status(ipc_recv(0, &d, &n), IPC_EBADHANDLE);
    assert_status(ipc_accept(-3, 0), IPC_EBADHANDLE);
    assert_status(ipc_fileno(-1), IPC_EBADHANDLE);
}

static void listener_is_not_a_pipe(void **state)
{
    (void)state;
    int l = assert_handle(ipc_listen(tu_name()));
    void *d = (void *)1;
    size_t n = 1;
    assert_status(ipc_send(l, "x", 1), IPC_EBADHANDLE);
    assert_status(ipc_send_timeout(l, "x", 1, 0), IPC_EBADHANDLE);
    assert_status(ipc_recv(l, &d, &n), IPC_EBADHANDLE);
    assert_null(d);
    assert_int_equal(n, 0);
    assert_status(ipc_recv_timeout(l, &d, &n, 0), IPC_EBADHANDLE);
    /* Still a working listener. */
    assert_status(ipc_accept(l, 0), IPC_ETIMEDOUT);
    assert_ok(ipc_close(l));
}

static void pipe_is_not_a_listener(void **state)
{
    (void)state;
    int c, s;
    tu_lib_pair(&c, &s);
    assert_status(ipc_accept(c, 0), IPC_EBADHANDLE);
    assert_status(ipc_accept(s, 100), IPC_EBADHANDLE);
    /* Still working pipes. */
    assert_ok(ipc_send(c, "ok", 2));
    void *d;
    size_t n;
    assert_ok(ipc_recv_timeout(s, &d, &n, 5000));
    assert_int_equal(n, 2);
    ipc_free(d);
    assert_ok(ipc_close(c));
    assert_ok(ipc_close(s));
}

/* ---------------------------------------------------------------------- */
/* ipc_fileno, ipc_free, ipc_version                                      */
/* ---------------------------------------------------------------------- */

#ifndef _WIN32
static void check_fd(int fd, int listening)
{
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    int flags = fcntl(fd, F_GETFD);
    assert_true(flags >= 0);
    assert_true(flags & FD_CLOEXEC);
    int acc = -1;
    socklen_t len = sizeof acc;
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len), 0);
    assert_int_equal(acc != 0, listening);
}

#endif

static void fileno_gives_the_socket(void **state)
{
    (void)state;
#ifdef _WIN32
    /* No descriptor on Windows: a documented error, with the OS's code. */
    int cli, srv;
    tu_lib_pair(&cli, &srv);
    assert_status(ipc_fileno(cli), IPC_ESYSTEM);
    assert_int_equal(ipc_last_os_error(), ERROR_NOT_SUPPORTED);
    assert_last_error_has("Windows error 50");
    assert_status(ipc_fileno(9999999), IPC_EBADHANDLE);
    assert_ok(ipc_close(cli));
    assert_ok(ipc_close(srv));
#else
    const char *path = tu_name();
    int l = assert_handle(ipc_listen(path));
    int c = assert_handle(ipc_connect_timeout(path, 5000));
    int s = assert_handle(ipc_accept(l, 5000));
    check_fd(ipc_fileno(l), 1);
    check_fd(ipc_fileno(c), 0);
    check_fd(ipc_fileno(s), 0);
    assert_true(ipc_fileno(c) != ipc_fileno(s));
    assert_int_equal(ipc_fileno(c), ipc_fileno(c)); /* stable */
    int fd = ipc_fileno(c);
    assert_ok(ipc_close(c));
    assert_status(ipc_fileno(c), IPC_EBADHANDLE);
    /* Closed with the handle (no other user; nothing opened since). */
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_ok(ipc_close(s));
    assert_ok(ipc_close(l));
#endif
}

static void free_null_is_harmless(void **state)
{
    (void)state;
    ipc_free(NULL);
}

static void version_matches_header(void **state)
{
    (void)state;
    assert_non_null(ipc_version());
    assert_string_equal(ipc_version(), KIWI_IPC_VERSION);
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", KIWI_IPC_VERSION_MAJOR,
             KIWI_IPC_VERSION_MINOR, KIWI_IPC_VERSION_PATCH);
    assert_string_equal(ipc_version(), v);
    assert_ptr_equal(ipc_version(), ipc_version());
}

/* ---------------------------------------------------------------------- */
/* Statuses                                                               */
/* ---------------------------------------------------------------------- */

struct status_row {
    int value;
    const char *name;
    const char *key;
    const char *text;
};

#define ROW(name, value, key, text) {value, #name, key, text},
static const struct status_row g_rows[] = {IPC_STATUS_MAP(ROW)};
#undef ROW
#define NROWS (sizeof g_rows / sizeof g_rows[0])

static void every_status_has_name_and_text(void **state)
{
    (void)state;
    assert_int_equal(NROWS, 13);
    for (size_t i = 0; i < NROWS; i++) {
        const struct status_row *r = &g_rows[i];
        if (strcmp(ipc_errname(r->value), r->key) != 0)
            fail_msg("ipc_errname(%s) = \"%s\", expected \"%s\"", r->name,
                     ipc_errname(r->value), r->key);
        if (strcmp(ipc_strerror(r->value), r->text) != 0)
            fail_msg("ipc_strerror(%s) = \"%s\", expected \"%s\"", r->name,
                     ipc_strerror(r->value), r->text);
        /* Values: 0 for success, negative and distinct for the rest. */
        if (i == 0)
            assert_int_equal(r->value, 0);
        else
            assert_true(r->value < 0);
        for (size_t j = 0; j < i; j++) {
            assert_true(g_rows[j].value != r->value);
            assert_string_not_equal(g_rows[j].key, r->key);
        }
    }
    /* The ABI values, spelled out once more. */
    assert_int_equal(IPC_OK, 0);
    assert_int_equal(IPC_EINVAL, -1);
    assert_int_equal(IPC_EBADHANDLE, -2);
    assert_int_equal(IPC_ETIMEDOUT, -3);
    assert_int_equal(IPC_ECLOSED, -4);
    assert_int_equal(IPC_EPROTO, -5);
    assert_int_equal(IPC_EINUSE, -6);
    assert_int_equal(IPC_ENOSERVER, -7);
    assert_int_equal(IPC_ETOOBIG, -8);
    assert_int_equal(IPC_ESYSTEM, -9);
    assert_int_equal(IPC_ENOMEM, -10);
    assert_int_equal(IPC_EINTR, -11);
    assert_int_equal(IPC_EPERM, -12);
}

static void unknown_status(void **state)
{
    (void)state;
    int unknown[] = {1, 2, 42, -13, -14, -100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_non_null(ipc_strerror(unknown[i]));
        assert_non_null(ipc_errname(unknown[i]));
        assert_string_equal(ipc_strerror(unknown[i]), "unknown status");
        assert_string_equal(ipc_errname(unknown[i]), "unknown");
    }
}

/* ---------------------------------------------------------------------- */
/* ipc_last_error                                                         */
/* ---------------------------------------------------------------------- */

static void last_error_names_call_and_name(void **state)
{
    (void)state;
    const char *path = tu_name();
    assert_status(ipc_connect_timeout(path, 0), IPC_ENOSERVER);
    assert_last_error_has("connect");
    assert_last_error_has(path);

    tos_setenv("TMPDIR", tu_dir());
    assert_status(ipc_create_timeout("rel-name", 0), IPC_ETIMEDOUT);
    assert_last_error_has("create");
    assert_last_error_has("rel-name");

    assert_status(ipc_listen("AnOnYmOuS"), IPC_EINVAL);
    assert_last_error_has("listen");
    assert_last_error_has("AnOnYmOuS");

    assert_status(ipc_accept(777777777, 0), IPC_EBADHANDLE);
    assert_last_error_has("accept");

    /* A call that succeeds leaves the message alone. */
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", ipc_last_error());
    char buf[IPC_PATH_MAX];
    assert_true(ipc_path("/fine", buf, sizeof buf) > 0);
    int l = assert_handle(ipc_listen(tu_name()));
    assert_ok(ipc_close(l));
    assert_string_equal(ipc_last_error(), saved);
}

static void last_os_error(void **state)
{
    (void)state;
    assert_status(ipc_close(-1), IPC_EBADHANDLE);
    assert_int_equal(ipc_last_os_error(), 0);
    assert_status(ipc_listen(""), IPC_EINVAL);
    assert_int_equal(ipc_last_os_error(), 0);
}

enum { NTHREADS = 4 };

/* All threads wait here until every one has arrived (a pthread barrier,
 * which Windows lacks). */
typedef struct barrier {
    atomic_int arrived;
    int count;
} barrier;

static void barrier_wait(barrier *b)
{
    atomic_fetch_add(&b->arrived, 1);
    while (atomic_load(&b->arrived) < b->count)
        tu_sleep_ms(1);
}

typedef struct errthread {
    int id;
    const char *path;
    barrier *barrier;
    char before[64];
    int before_null;
    char after[512];
    int status;
} errthread;

static void *err_thread(void *p)
{
    errthread *e = p;
    const char *m = ipc_last_error();
    e->before_null = m == NULL;
    snprintf(e->before, sizeof e->before, "%s", m ? m : "");
    /* Each thread fails differently... */
    switch (e->id) {
    case 0:
        e->status = ipc_close(100000 + e->id);
        break;
    case 1:
        e->status = ipc_connect_timeout(e->path, 0);
        break;
    case 2:
        e->status = ipc_listen("anonymous");
        break;
    default:
        e->status = ipc_accept(200000 + e->id, 0);
        break;
    }
    /* ...and reads its message only after all have failed. */
    barrier_wait(e->barrier);
    snprintf(e->after, sizeof e->after, "%s", ipc_last_error());
    return NULL;
}

static void last_error_is_per_thread(void **state)
{
    (void)state;
    /* This thread's own failure, before the others. */
    assert_status(ipc_close(-42), IPC_EBADHANDLE);
    char mine[1024];
    snprintf(mine, sizeof mine, "%s", ipc_last_error());

    /* Static: a thread still running after a failed join uses them. */
    static barrier barrier;
    static errthread e[NTHREADS];
    tu_thread t[NTHREADS];
    atomic_store(&barrier.arrived, 0);
    barrier.count = NTHREADS;
    memset(e, 0, sizeof e);
    const char *path = tu_name();
    for (int i = 0; i < NTHREADS; i++) {
        e[i].id = i;
        e[i].path = path;
        e[i].barrier = &barrier;
        tu_thread_start(&t[i], err_thread, &e[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        /* Bounded by the calls' own timeouts. */
        assert_int_equal(tu_thread_join(t[i], 60000), 0);
    }

    const char *want_status_names[NTHREADS] = {"bad_handle", "no_server",
                                               "invalid", "bad_handle"};
    const char *want_text[NTHREADS] = {"close", path, "anonymous", "accept"};
    const char *not_text[NTHREADS] = {"connect", "accept", "connect", "listen"};
    for (int i = 0; i < NTHREADS; i++) {
        assert_false(e[i].before_null);
        if (e[i].before[0])
            fail_msg("thread %d: a new thread's ipc_last_error() should be "
                     "\"\", was \"%s\"",
                     i, e[i].before);
        assert_string_equal(ipc_errname(e[i].status), want_status_names[i]);
        if (strstr(e[i].after, want_text[i]) == NULL ||
            strstr(e[i].after, not_text[i]) != NULL)
            fail_msg("thread %d: ipc_last_error() \"%s\" is not its own", i,
                     e[i].after);
    }
    /* Ours is untouched by theirs. */
    assert_string_equal(ipc_last_error(), mine);
}

/* ---------------------------------------------------------------------- */
/* The table under concurrency                                            */
/* ---------------------------------------------------------------------- */

enum { TT = 4, PER = 200 };

typedef struct tabler {
    const char **names;
    int handles[PER];
    tu_err err;
} tabler;

static void *table_thread(void *p)
{
    tabler *t = p;
    for (int i = 0; i < PER; i++) {
        int h = ipc_listen(t->names[i]);
        if (h <= 0) {
            tu_err_set(&t->err, "listen: %s (%s)", ipc_errname(h),
                       ipc_last_error());
            return NULL;
        }
        t->handles[i] = h;
#ifdef _WIN32
        /* No descriptor there, but a live handle: not IPC_EBADHANDLE. */
        if (ipc_fileno(h) != IPC_ESYSTEM)
#else
        if (ipc_fileno(h) < 0)
#endif
            tu_err_set(&t->err, "fileno(%d) failed", h);
        int r = ipc_close(h);
        if (r != IPC_OK)
            tu_err_set(&t->err, "close(%d): %s", h, ipc_errname(r));
    }
    return NULL;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void concurrent_handles_are_unique(void **state)
{
    (void)state;
#ifndef _WIN32
    int fds = tu_fd_count();
#endif
    tabler *t = calloc(TT, sizeof *t);
    assert_non_null(t);
    tu_thread th[TT];
    for (int i = 0; i < TT; i++) {
        t[i].names = calloc(PER, sizeof *t[i].names);
        assert_non_null(t[i].names);
        for (int j = 0; j < PER; j++)
            t[i].names[j] = tu_name();
    }
    for (int i = 0; i < TT; i++)
        tu_thread_start(&th[i], table_thread, &t[i]);
    int joined = 1;
    for (int i = 0; i < TT; i++)
        joined &= tu_thread_join(th[i], 60000) == 0;
    assert_true(joined);
    int *all = calloc(TT * PER, sizeof *all);
    assert_non_null(all);
    for (int i = 0; i < TT; i++) {
        assert_no_err(&t[i].err);
        /* Increasing within each thread. */
        for (int j = 1; j < PER; j++)
            assert_true(t[i].handles[j] > t[i].handles[j - 1]);
        memcpy(all + i * PER, t[i].handles, sizeof t[i].handles);
    }
    qsort(all, TT * PER, sizeof *all, cmp_int);
    for (int k = 1; k < TT * PER; k++) {
        if (all[k] == all[k - 1])
            fail_msg("handle %d given out twice", all[k]);
    }
#ifndef _WIN32
    assert_int_equal(tu_fd_count(), fds);
#endif
    assert_int_equal(tu_dir_entries(tu_dir()), 0);
    for (int i = 0; i < TT; i++)
        free(t[i].names);
    free(all);
    free(t);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--first-handle") == 0)
        return first_handle_main(argv[2]);
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(handles_increase_and_are_never_reused),
        T(first_handle_is_one),
        T(close_unknown_handle),
        T(double_close),
        T(calls_on_closed_handle),
        T(listener_is_not_a_pipe),
        T(pipe_is_not_a_listener),
        T(fileno_gives_the_socket),
        T(free_null_is_harmless),
        T(version_matches_header),
        T(every_status_has_name_and_text),
        T(unknown_status),
        T(last_error_names_call_and_name),
        T(last_os_error),
        T(last_error_is_per_thread),
        T(concurrent_handles_are_unique),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
