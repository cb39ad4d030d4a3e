/*
 * testutil.c - the toolkit of the kiwi-ipc C tests, the part that is the
 * same on every OS (through tests_common/test_os.h). See testutil.h; the
 * POSIX-only tools are testutil_posix.c.
 */
#include "testutil.h"

/* The library's per-process resources and its check for a listening
 * server (the tests link the static library). */
#include "handles.h"
#include "os.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* ---------------------------------------------------------------------- */
/* Assertions                                                             */
/* ---------------------------------------------------------------------- */

void tu__fail_msg(const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_error("ERROR: %s\n", msg);
    _fail(file, line);
}

void tu__fail_status(const char *expr, int got, int want, const char *file,
                     int line)
{
    print_error("%s\n    expected %s (%d), got %s (%d)\n"
                "    ipc_last_error(): \"%s\"\n",
                expr, ipc_errname(want), want, ipc_errname(got), got,
                ipc_last_error());
    _fail(file, line);
}

int tu__check_handle(int h, const char *expr, const char *file, int line)
{
    if (h <= 0) {
        print_error("%s\n    expected a handle (> 0), got %s (%d)\n"
                    "    ipc_last_error(): \"%s\"\n",
                    expr, ipc_errname(h), h, ipc_last_error());
        _fail(file, line);
    }
    return h;
}

void tu__check_last_error(const char *needle, const char *file, int line)
{
    const char *msg = ipc_last_error();
    if (msg == NULL || strstr(msg, needle) == NULL) {
        print_error("ipc_last_error() should contain \"%s\"\n"
                    "    it is: \"%s\"\n",
                    needle, msg ? msg : "(NULL)");
        _fail(file, line);
    }
}

/* ---------------------------------------------------------------------- */
/* Fixture                                                                */
/* ---------------------------------------------------------------------- */

#define TU_MAX_POOL 4096

static int g_env_saved;
static char *g_orig_tmpdir; /* NULL when unset */
static char g_dir[260];
static char g_pipe_base[260];
static unsigned g_counter;
static char *g_pool[TU_MAX_POOL];
static size_t g_npool;

static void save_env_once(void)
{
    if (g_env_saved)
        return;
    const char *t = getenv("TMPDIR");
    g_orig_tmpdir = t ? strdup(t) : NULL;
    g_env_saved = 1;
}

const char *tu_orig_tmpdir(void)
{
    save_env_once();
    return g_orig_tmpdir;
}

int tu_setup(void **state)
{
    (void)state;
    save_env_once();
    /* The library's per-process resources (its copy number's socket, see
     * handles.c) exist before any test counts descriptors. */
    ipc__handles_init();
    if (tos_make_dir(g_dir, sizeof g_dir, g_orig_tmpdir) != 0) {
        fprintf(stderr, "setup: %s\n", tos_error());
        g_dir[0] = '\0';
        return -1;
    }
    tos_pipe_base(g_dir, g_pipe_base, sizeof g_pipe_base);
    g_counter = 0;
    return 0;
}

/* tu_teardown's part for every OS; on POSIX, testutil_posix.c's
 * tu_teardown first kills the test's leftover children, then calls it. */
int tu__teardown_common(void)
{
    ipc_set_interrupt_hook(NULL, NULL);
    tos_setenv("TMPDIR", g_orig_tmpdir);
    if (g_dir[0]) {
        tos_remove_tree(g_dir);
        g_dir[0] = '\0';
    }
    for (size_t i = 0; i < g_npool; i++)
        free(g_pool[i]);
    g_npool = 0;
    return 0;
}

#ifdef _WIN32
int tu_teardown(void **state)
{
    (void)state;
    return tu__teardown_common();
}
#endif

const char *tu_dir(void)
{
    return g_dir;
}

static const char *pool_keep(char *s)
{
    if (s == NULL) {
        fprintf(stderr, "testutil: out of memory\n");
        abort();
    }
    if (g_npool == TU_MAX_POOL) {
        /* Recycle: callers use a name only briefly (the fault tests make
         * thousands). */
        for (size_t i = 0; i < g_npool; i++)
            free(g_pool[i]);
        g_npool = 0;
    }
    g_pool[g_npool++] = s;
    return s;
}

static const char *join(const char *dir, const char *leaf)
{
    size_t n = strlen(dir) + 1 + strlen(leaf) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", dir, leaf);
    return pool_keep(s);
}

const char *tu_path(const char *leaf)
{
    return join(g_dir, leaf);
}

const char *tu_name(void)
{
    char leaf[32];
    snprintf(leaf, sizeof leaf, "p%u", ++g_counter);
    return join(g_pipe_base, leaf);
}

int tu_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------------- */
/* Scale and seed                                                         */
/* ---------------------------------------------------------------------- */

int tu_full(void)
{
    const char *v = getenv("KIWI_IPC_FAULT_FULL");
    if (v != NULL && *v != '\0')
        return strcmp(v, "0") != 0;
    return RUNNING_ON_VALGRIND ? 0 : 1;
}

uint32_t tu_seed(void)
{
    const char *v = getenv("KIWI_IPC_FAULT_SEED");
    uint32_t seed;
    if (v != NULL && *v != '\0')
        seed = (uint32_t)strtoul(v, NULL, 0);
    else
        seed = (uint32_t)tu_now_us() ^ (uint32_t)tos_pid() << 16;
    if (seed == 0)
        seed = 1;
    printf("# random seed %u (replay with KIWI_IPC_FAULT_SEED=%u)\n", seed,
           seed);
    fflush(stdout);
    return seed;
}

uint32_t tu_rand(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

/* ---------------------------------------------------------------------- */
/* Time                                                                   */
/* ---------------------------------------------------------------------- */

long long tu_now_us(void)
{
    return tos_now_us();
}

long long tu_now_ms(void)
{
    return tu_now_us() / 1000;
}

void tu_sleep_us(long long us)
{
    tos_sleep_us(us);
}

void tu_sleep_ms(int ms)
{
    tu_sleep_us((long long)ms * 1000);
}

/* ---------------------------------------------------------------------- */
/* Threads                                                                */
/* ---------------------------------------------------------------------- */

void tu_err_set(tu_err *e, const char *fmt, ...)
{
    /* The first failure wins; later ones are dropped. */
    if (atomic_exchange(&e->taken, 1) != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    if (e->msg[0] == '\0')
        snprintf(e->msg, sizeof(e->msg), "(empty failure message)");
    /* msg is read after the thread is joined (assert_no_err). */
}

int tu_err_isset(tu_err *e)
{
    return atomic_load(&e->taken) != 0;
}

void tu_thread_start(tu_thread *t, void *(*fn)(void *), void *arg)
{
    if (tos_thread_start(t, fn, arg) != 0)
        fail_msg("%s", tos_error());
}

int tu_thread_join(tu_thread t, int timeout_ms)
{
    return tos_thread_join(t, timeout_ms);
}

long tu_gettid(void)
{
    return tos_thread_id();
}

int tu_wait_blocked(long tid, int timeout_ms)
{
    return tos_wait_blocked(tid, timeout_ms);
}

/* ---------------------------------------------------------------------- */
/* The raw peer                                                           */
/* ---------------------------------------------------------------------- */

tu_raw tu_raw_connect(const char *name)
{
    return tos_raw_connect(name, 10000);
}

void tu_raw_close(tu_raw r)
{
    tos_raw_close(r);
}

long long tu_raw_read(tu_raw r, void *p, size_t n)
{
    return tos_raw_read(r, p, n);
}

int tu_read_all(tu_raw r, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        long long k = tos_raw_read(r, c, n);
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

int tu_raw_pair(tu_raw *raw)
{
    int h = 0;
    tu_raw r = tos_raw_pair(tu_name(), &h);
    if (r == TU_RAW_NONE)
        fail_msg("a library handle with a raw end: %s", tos_error());
    *raw = r;
    return h;
}

int tu_is_listening(const char *name)
{
    char path[IPC_PATH_MAX];
    if (ipc_path(name, path, sizeof(path)) < 0)
        return 0;
    /* The one call of the library's check (renamed at merge time if the
     * OS layer renames it): 1 yes, 0 no, -1 cannot tell. */
    return ipc__os_listening_at(path) == 1;
}

int tu_wait_listening(const char *name, int timeout_ms)
{
    long long deadline = tu_now_ms() + timeout_ms;
    while (!tu_is_listening(name)) {
        if (tu_now_ms() >= deadline)
            return -1;
        tu_sleep_ms(1);
    }
    return 0;
}

static void *open_thread(void *p)
{
    tu_opener *o = p;
    o->result = o->create ? ipc_create_timeout(o->name, o->timeout)
                          : ipc_connect_timeout(o->name, o->timeout);
    return NULL;
}

tu_opener *tu_open_start(const char *name, int create, int timeout)
{
    tu_opener *o = calloc(1, sizeof *o);
    assert_non_null(o);
    o->name = name;
    o->create = create;
    o->timeout = timeout;
    o->result = 1;
    tu_thread_start(&o->t, open_thread, o);
    return o;
}

int tu_open_join(tu_opener *o)
{
    if (tu_thread_join(o->t, 20000) != 0)
        fail_msg("%s(\"%s\") still blocked after 20 s",
                 o->create ? "ipc_create_timeout" : "ipc_connect_timeout",
                 o->name);
    int h = o->result;
    int create = o->create;
    free(o);
    if (h <= 0)
        fail_msg("%s in a thread failed: %s (%s)",
                 create ? "ipc_create_timeout" : "ipc_connect_timeout",
                 ipc_errname(h), ipc_last_error());
    return h;
}

static void expect_text(int h, const char *want)
{
    void *d = NULL;
    size_t n = 0;
    assert_ok(ipc_recv_timeout(h, &d, &n, 10000));
    assert_int_equal(n, strlen(want));
    assert_memory_equal(d, want, n);
    ipc_free(d);
}

void tu_check_connected(int a, int b)
{
    assert_ok(ipc_send(a, "ping", 4));
    expect_text(b, "ping");
    assert_ok(ipc_send(b, "pong", 4));
    expect_text(a, "pong");
}

void tu_lib_pair(int *client, int *server)
{
    const char *path = tu_name();
    int l = assert_handle(ipc_listen(path));
    /* 10 s: the fault tests make pairs under valgrind and heavy load. */
    *client = assert_handle(ipc_connect_timeout(path, 10000));
    *server = assert_handle(ipc_accept(l, 10000));
    assert_ok(ipc_close(l));
}

static void *rawwrite_thread(void *p)
{
    tu_rawwriter *w = p;
    w->rc = 0;
    for (size_t off = 0; off < w->len; off += w->chunk) {
        size_t k = w->len - off < w->chunk ? w->len - off : w->chunk;
        if (tu_write_all(w->fd, w->buf + off, k) != 0) {
            w->rc = -1;
            break;
        }
        if (w->delay_ms)
            tu_sleep_ms(w->delay_ms);
    }
    return NULL;
}

tu_rawwriter *tu_rawwrite_start(tu_thread *t, tu_raw fd, const void *buf,
                                size_t len, size_t chunk, int delay_ms)
{
    tu_rawwriter *w = calloc(1, sizeof *w);
    assert_non_null(w);
    *w = (tu_rawwriter){.fd = fd,
                        .buf = buf,
                        .len = len,
                        .chunk = chunk ? chunk : 1,
                        .delay_ms = delay_ms,
                        .rc = 1};
    tu_thread_start(t, rawwrite_thread, w);
    return w;
}

int tu_write_all(tu_raw fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        long long n = tos_raw_write(fd, p, len);
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void tu_header(unsigned char out[4], uint32_t len)
{
    out[0] = (unsigned char)(len >> 24);
    out[1] = (unsigned char)(len >> 16);
    out[2] = (unsigned char)(len >> 8);
    out[3] = (unsigned char)len;
}

int tu_write_frame(tu_raw fd, const void *data, uint32_t len)
{
    unsigned char *buf = malloc((size_t)len + 4);
    if (buf == NULL)
        return -1;
    tu_header(buf, len);
    if (len)
        memcpy(buf + 4, data, len);
    int rc = tu_write_all(fd, buf, (size_t)len + 4);
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Data                                                                   */
/* ---------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Block i of 8 bytes of the stream for seed. */
static uint64_t fill_word(uint64_t seed, size_t i)
{
    return mix64(seed * 0x9e3779b97f4a7c15ULL + i);
}

void tu_fill(void *buf, size_t n, uint64_t seed)
{
    unsigned char *p = buf;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = fill_word(seed, i / 8);
        memcpy(p + i, &w, 8);
    }
    if (i < n) {
        uint64_t w = fill_word(seed, i / 8);
        memcpy(p + i, &w, n - i);
    }
}

int tu_check_fill(const void *buf, size_t n, uint64_t seed)
{
    const unsigned char *p = buf;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = fill_word(seed, i / 8);
        if (memcmp(p + i, &w, 8) != 0)
            return 0;
    }
    if (i < n) {
        uint64_t w = fill_word(seed, i / 8);
        if (memcmp(p + i, &w, n - i) != 0)
            return 0;
    }
    return 1;
}

unsigned char *tu_pattern(size_t n, uint64_t seed)
{
    unsigned char *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "tu_pattern: out of memory\n");
        abort();
    }
    tu_fill(p, n, seed);
    return p;
}

#define MSG_MAGIC 0x4b464d31u /* "KFM1" */

static uint64_t msg_seed(uint32_t stream, uint32_t seq)
{
    return (uint64_t)stream << 32 | seq;
}

void *tu_msg_make(uint32_t stream, uint32_t seq, size_t len)
{
    if (len < TU_MSG_MIN)
        len = TU_MSG_MIN;
    unsigned char *m = malloc(len);
    if (m == NULL)
        return NULL;
    uint32_t hdr[4] = {MSG_MAGIC, stream, seq, (uint32_t)len};
    memcpy(m, hdr, sizeof(hdr));
    tu_fill(m + TU_MSG_MIN, len - TU_MSG_MIN, msg_seed(stream, seq));
    return m;
}

int tu_msg_parse(const void *data, size_t len, uint32_t *stream, uint32_t *seq,
                 char why[128])
{
    uint32_t hdr[4];
    if (len < TU_MSG_MIN) {
        snprintf(why, 128, "a message of %zu bytes is too short", len);
        return -1;
    }
    memcpy(hdr, data, sizeof(hdr));
    if (hdr[0] != MSG_MAGIC) {
        snprintf(why, 128, "bad magic %08x", hdr[0]);
        return -1;
    }
    if (hdr[3] != len) {
        snprintf(why, 128, "stream %u seq %u: %zu bytes received, %u were sent",
                 hdr[1], hdr[2], len, hdr[3]);
        return -1;
    }
    if (!tu_check_fill((const unsigned char *)data + TU_MSG_MIN,
                       len - TU_MSG_MIN, msg_seed(hdr[1], hdr[2]))) {
        snprintf(why, 128, "stream %u seq %u: payload of %zu bytes corrupted",
                 hdr[1], hdr[2], len);
        return -1;
    }
    *stream = hdr[1];
    *seq = hdr[2];
    return 0;
}
