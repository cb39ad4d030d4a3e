/*
 * test_path.c - name -> socket path, exactly as .NET's GetPipePath on Unix,
 * and the names that are refused (ipc_path(), and the calls that take a
 * name). POSIX's mapping; Windows' (\\.\pipe\) is tested in
 * tests_windows/test_win32.c.
 */
#include "testutil.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ipc_path() into a fresh buffer; returns its result. */
static int path_of(const char *name, char out[IPC_PATH_MAX])
{
    memset(out, 0, IPC_PATH_MAX);
    return ipc_path(name, out, IPC_PATH_MAX);
}

/* Fail unless `name` maps to `want`. */
static void check_maps(const char *name, const char *want)
{
    char buf[IPC_PATH_MAX];
    int n = path_of(name, buf);
    if (n < 0)
        fail_msg("ipc_path(\"%s\") failed: %s (%s)", name, ipc_errname(n),
                 ipc_last_error());
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

/* Case-insensitive substring. */
static int has_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) ==
                   tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

/*
 * Fail unless ipc_path(name) is refused with IPC_EINVAL, writes nothing,
 * and ipc_last_error() names the rule: it must contain one of the
 * '|'-separated words in `rule` (case-insensitive).
 */
static void check_refused(const char *name, const char *rule)
{
    char buf[IPC_PATH_MAX];
    memset(buf, 'Z', sizeof buf);
    assert_status(ipc_path(name, buf, sizeof buf), IPC_EINVAL);
    for (size_t i = 0; i < sizeof buf; i++) {
        if (buf[i] != 'Z')
            fail_msg("ipc_path(\"%s\") refused but wrote byte %zu", name, i);
    }
    const char *msg = ipc_last_error();
    assert_non_null(msg);
    char words[256];
    snprintf(words, sizeof words, "%s", rule);
    int found = 0;
    for (char *w = strtok(words, "|"); w && !found; w = strtok(NULL, "|"))
        found = has_ci(msg, w);
    if (!found)
        fail_msg("ipc_path(\"%s\"): ipc_last_error() \"%s\" should name the "
                 "rule (one of: %s)",
                 name, msg, rule);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---------------------------------------------------------------------- */

static void absolute_name_is_the_path(void **state)
{
    (void)state;
    check_maps("/a", "/a");
    check_maps("/tmp/x/y.sock", "/tmp/x/y.sock");
    check_maps("/CoreFxPipe_x", "/CoreFxPipe_x");
    /* TMPDIR plays no part in an absolute name. */
    setenv("TMPDIR", "/elsewhere", 1);
    check_maps("/var/run/kiwi", "/var/run/kiwi");
    /* "anonymous" is only reserved as a whole name. */
    check_maps("/anonymous", "/anonymous");
}

static void relative_name_uses_tmpdir(void **state)
{
    (void)state;
    setenv("TMPDIR", "/x/y", 1);
    check_maps("demo", "/x/y/CoreFxPipe_demo");
    setenv("TMPDIR", "/x/y/", 1);
    check_maps("demo", "/x/y/CoreFxPipe_demo");
    setenv("TMPDIR", "/", 1);
    check_maps("demo", "/CoreFxPipe_demo");
    /* Read at each call, not cached. */
    setenv("TMPDIR", "/other", 1);
    check_maps("demo", "/other/CoreFxPipe_demo");
    /* .NET does not add anything but the slash: a relative TMPDIR stays. */
    setenv("TMPDIR", "rel/dir", 1);
    check_maps("demo", "rel/dir/CoreFxPipe_demo");
}

static void relative_name_without_tmpdir_uses_tmp(void **state)
{
    (void)state;
    unsetenv("TMPDIR");
    check_maps("demo", "/tmp/CoreFxPipe_demo");
    setenv("TMPDIR", "", 1);
    check_maps("demo", "/tmp/CoreFxPipe_demo");
}

static void relative_name_bytes_are_kept(void **state)
{
    (void)state;
    setenv("TMPDIR", "/t", 1);
    check_maps("h\xc3\xa9llo w\xc3\xb6rld",
               "/t/CoreFxPipe_h\xc3\xa9llo w\xc3\xb6rld");
    check_maps("a.b-c_d", "/t/CoreFxPipe_a.b-c_d");
    check_maps("CoreFxPipe_x", "/t/CoreFxPipe_CoreFxPipe_x");
    /* Only the whole name "anonymous" is reserved. */
    check_maps("anonymous2", "/t/CoreFxPipe_anonymous2");
    check_maps("my_anonymous", "/t/CoreFxPipe_my_anonymous");
}

static void empty_name_refused(void **state)
{
    (void)state;
    check_refused("", "empty");
}

static void slash_in_relative_name_refused(void **state)
{
    (void)state;
    check_refused("a/b", "'/'|slash|\"/\"|separator");
    check_refused("a/", "'/'|slash|\"/\"|separator");
    check_refused("./x", "'/'|slash|\"/\"|separator");
}

static void anonymous_refused_in_any_case(void **state)
{
    (void)state;
    check_refused("anonymous", "reserved");
    check_refused("ANONYMOUS", "reserved");
    check_refused("AnOnYmOuS", "reserved");
    check_refused("anonymouS", "reserved");
}

static void absolute_name_ending_in_slash_refused(void **state)
{
    (void)state;
    check_refused("/tmp/dir/", "end|trailing|slash|'/'|directory");
    check_refused("/", "end|trailing|slash|'/'|directory");
}

#ifdef __linux__
static void path_of_107_bytes_accepted_108_refused(void **state)
{
    (void)state;
    char buf[IPC_PATH_MAX];

    /* Absolute: the name is the path. */
    char *name = repeat('a', 107);
    name[0] = '/';
    assert_int_equal(path_of(name, buf), 107);
    assert_string_equal(buf, name);
    free(name);

    name = repeat('a', 108);
    name[0] = '/';
    check_refused(name, "long|107|108|exceed|too|fit|limit");
    free(name);

    /* Relative: the resolved path counts, "/t/" + "CoreFxPipe_" = 14. */
    setenv("TMPDIR", "/t", 1);
    name = repeat('n', 107 - 14);
    assert_int_equal(path_of(name, buf), 107);
    assert_int_equal(strncmp(buf, "/t/CoreFxPipe_nnn", 17), 0);
    free(name);

    name = repeat('n', 108 - 14);
    check_refused(name, "long|107|108|exceed|too|fit|limit");
    free(name);

    /* A long TMPDIR pushes a short name over the limit. */
    char *dir = repeat('d', 100);
    dir[0] = '/';
    setenv("TMPDIR", dir, 1);
    check_refused("xyz", "long|107|108|exceed|too|fit|limit");
    free(dir);
}
#endif

static void small_buffer_refused_and_untouched(void **state)
{
    (void)state;
    char buf[16];

    memset(buf, 'Z', sizeof buf);
    assert_status(ipc_path("/abcd", buf, 5), IPC_EINVAL); /* no room for NUL */
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 'Z');
    if (!has_ci(ipc_last_error(), "buffer") &&
        !has_ci(ipc_last_error(), "small") && !has_ci(ipc_last_error(), "need"))
        fail_msg("ipc_last_error() \"%s\" should say the buffer is too small",
                 ipc_last_error());

    memset(buf, 'Z', sizeof buf);
    assert_status(ipc_path("/abcd", buf, 0), IPC_EINVAL);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 'Z');

    setenv("TMPDIR", "/t", 1);
    memset(buf, 'Z', sizeof buf);
    /* "/t/CoreFxPipe_ab" is 16 bytes + NUL = 17 > 16. */
    assert_status(ipc_path("ab", buf, sizeof buf), IPC_EINVAL);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 'Z');

    /* Exactly enough. */
    assert_int_equal(ipc_path("/abcd", buf, 6), 5);
    assert_string_equal(buf, "/abcd");
    assert_int_equal(ipc_path("a", buf, sizeof buf), 15);
    assert_string_equal(buf, "/t/CoreFxPipe_a");
}

static void null_name_refused(void **state)
{
    (void)state;
    char buf[IPC_PATH_MAX];
    assert_status(ipc_path(NULL, buf, sizeof buf), IPC_EINVAL);
}

/* Every call that takes a name refuses a bad one at once, without waiting
 * (ipc_connect would otherwise retry forever). */
static void calls_refuse_bad_names_at_once(void **state)
{
    (void)state;
    const char *bad[] = {"", "a/b", "anonymous", "AnOnYmOuS", "/tmp/d/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long long t0 = tu_now_ms();
        assert_status(ipc_connect(bad[i]), IPC_EINVAL);
        assert_status(ipc_connect_timeout(bad[i], 5000), IPC_EINVAL);
        assert_status(ipc_create(bad[i]), IPC_EINVAL);
        assert_status(ipc_create_timeout(bad[i], 5000), IPC_EINVAL);
        assert_status(ipc_listen(bad[i]), IPC_EINVAL);
        assert_true(tu_now_ms() - t0 < 1000);
    }
    char *name = repeat('a', 200);
    name[0] = '/';
    assert_status(ipc_connect(name), IPC_EINVAL);
    assert_status(ipc_create(name), IPC_EINVAL);
    assert_status(ipc_listen(name), IPC_EINVAL);
    free(name);
}

/* A relative name really lands in $TMPDIR as CoreFxPipe_<name>. */
static void relative_name_used_by_listen(void **state)
{
    (void)state;
    setenv("TMPDIR", tu_dir(), 1);
    int l = assert_handle(ipc_listen("rel"));
    struct stat st;
    assert_int_equal(stat(tu_path("CoreFxPipe_rel"), &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    int c = assert_handle(ipc_connect_timeout("rel", 2000));
    int s = assert_handle(ipc_accept(l, 2000));
    assert_ok(ipc_send(c, "hi", 2));
    void *d;
    size_t n;
    assert_ok(ipc_recv_timeout(s, &d, &n, 2000));
    assert_int_equal(n, 2);
    assert_memory_equal(d, "hi", 2);
    ipc_free(d);
    assert_ok(ipc_close(c));
    assert_ok(ipc_close(s));
    assert_ok(ipc_close(l));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(absolute_name_is_the_path),
        T(relative_name_uses_tmpdir),
        T(relative_name_without_tmpdir_uses_tmp),
        T(relative_name_bytes_are_kept),
        T(empty_name_refused),
        T(slash_in_relative_name_refused),
        T(anonymous_refused_in_any_case),
        T(absolute_name_ending_in_slash_refused),
#ifdef __linux__
        T(path_of_107_bytes_accepted_108_refused),
#endif
        T(small_buffer_refused_and_untouched),
        T(null_name_refused),
        T(calls_refuse_bad_names_at_once),
        T(relative_name_used_by_listen),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
