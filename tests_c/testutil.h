/*
 * testutil.h - the one toolkit of the kiwi-ipc C tests (cmocka): the unit
 * tests in tests_c/ and the fault tests in tests_c/fault/.
 *
 * - Assertions that print statuses by name (ipc_errname) together with
 *   ipc_last_error(), so a failure says what happened, not just "-5 != 0".
 * - A private temp dir per test (tu_setup/tu_teardown) and unique, short,
 *   absolute pipe names inside it, so tests run in parallel (ctest -j).
 * - Child processes that are always reaped (and killed if they overrun),
 *   threads joined with a bound, raw sockets for writing hostile bytes.
 *
 * - For the fault tests: a guarded fixture (a safety net that kills every
 *   child if a test hangs, and a check that nothing was left in the temp
 *   dir), a size scale for valgrind, a replayable seed, and self-checking
 *   messages.
 *
 * One toolkit on both OSes: what differs per OS (threads, clock, the raw
 * peer, the temp dir) is tests_common/test_os.h; what only POSIX has
 * (fork, /proc, socketpair, the guarded fixture of the fault tests) is
 * declared in the last part of this header and lives in testutil_posix.c.
 *
 * cmocka assertions longjmp: never use them in a child process or in a
 * thread other than the test's own. Children use child_check(); threads
 * record failures in a tu_err and the test asserts after joining.
 */
#ifndef KIWI_IPC_TESTUTIL_H
#define KIWI_IPC_TESTUTIL_H

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>

#include "kiwi_ipc.h"
#include "test_os.h"

#ifndef _WIN32
#include <sys/types.h>
#include <unistd.h>
#endif

/* The raw end of a pipe (a descriptor, or a HANDLE on Windows) and a
 * thread (test_os.h). */
typedef tos_raw tu_raw;
typedef tos_thread tu_thread;
#define TU_RAW_NONE TOS_RAW_NONE

/* ---------------------------------------------------------------------- */
/* Assertions (test thread only)                                          */
/* ---------------------------------------------------------------------- */

/* cmocka's fail_msg, with the message formatted by our C library first:
 * cmocka declares (and on Windows prints) its messages as msvcrt's printf,
 * which knows no %zu or %lld; mingw's own stdio (__USE_MINGW_ANSI_STDIO)
 * does. One definition for every OS. */
void tu__fail_msg(const char *file, int line, const char *fmt, ...)
    __attribute__((format(TOS_PRINTF_FORMAT, 3, 4)));
#undef fail_msg
#define fail_msg(...) tu__fail_msg(__FILE__, __LINE__, __VA_ARGS__)

void tu__fail_status(const char *expr, int got, int want, const char *file,
                     int line);
int tu__check_handle(int h, const char *expr, const char *file, int line);
void tu__check_last_error(const char *needle, const char *file, int line);

/* Fail unless `call` returns `expected`; prints both by name. */
#define assert_status(call, expected)                                          \
    do {                                                                       \
        int tu_got_ = (call);                                                  \
        int tu_want_ = (expected);                                             \
        if (tu_got_ != tu_want_)                                               \
            tu__fail_status(#call, tu_got_, tu_want_, __FILE__, __LINE__);     \
    } while (0)

#define assert_ok(call) assert_status((call), IPC_OK)

/* Evaluates to the handle `call` returned; fails unless it is > 0. */
#define assert_handle(call) tu__check_handle((call), #call, __FILE__, __LINE__)

/* Fail unless ipc_last_error() contains `needle`. */
#define assert_last_error_has(needle)                                          \
    tu__check_last_error((needle), __FILE__, __LINE__)

/* ---------------------------------------------------------------------- */
/* Fixture: a private temp dir per test                                   */
/* ---------------------------------------------------------------------- */

/* cmocka setup/teardown: create / remove the test's private temp dir,
 * reap leftover children, restore $TMPDIR and remove any interrupt hook. */
int tu_setup(void **state);
int tu_teardown(void **state);
/* tu_teardown's part that is the same on every OS (testutil.c); the rest
 * is the OS's (testutil_posix.c: children). */
int tu__teardown_common(void);

/* The test's private temp dir (absolute, short). */
const char *tu_dir(void);

/* A fresh pipe name "<base>/p<N>", unique within the process and the
 * test: base is the private dir where a pipe is a socket file (an
 * absolute path), a name of its own under \\.\pipe\ on Windows
 * (tos_pipe_base). The string lives until teardown, or until 4096 more names
 * have been made (callers use a name only briefly). */
const char *tu_name(void);

/* "<dir>/<leaf>", living until teardown. */
const char *tu_path(const char *leaf);

/* $TMPDIR as it was when the process started (NULL if unset). */
const char *tu_orig_tmpdir(void);

/* Number of entries (other than . and ..) in a directory, -1 on error. */
int tu_dir_entries(const char *dir);

/* ---------------------------------------------------------------------- */
/* Scale and seed (fault tests)                                           */
/* ---------------------------------------------------------------------- */

/* 1 normally; 0 under valgrind, where the heavy tests do less. Set
 * KIWI_IPC_FAULT_FULL=1 to run the full size under valgrind too, or
 * KIWI_IPC_FAULT_FULL=0 to run the reduced size anywhere. */
int tu_full(void);

/* Pick the full or the reduced count. */
#define TU_SCALE(full, reduced) (tu_full() ? (full) : (reduced))

/* The seed for the test's random choices: $KIWI_IPC_FAULT_SEED if set,
 * else from the clock. Printed, so a failure can be replayed. */
uint32_t tu_seed(void);
/* xorshift32: the next value from *state (never 0). */
uint32_t tu_rand(uint32_t *state);

/* ---------------------------------------------------------------------- */
/* Time                                                                   */
/* ---------------------------------------------------------------------- */

long long tu_now_us(void);
long long tu_now_ms(void);
void tu_sleep_us(long long us);
void tu_sleep_ms(int ms);

/* ---------------------------------------------------------------------- */
/* Threads                                                                */
/* ---------------------------------------------------------------------- */

/* The first failure seen by helper threads, asserted on by the test
 * thread after joining. Thread-safe (the first tu_err_set wins); all
 * zeros (TU_ERR_INIT, memset, static storage) is a valid empty one. */
typedef struct tu_err {
    atomic_int taken;
    char msg[512];
} tu_err;

#define TU_ERR_INIT                                                            \
    {                                                                          \
        0                                                                      \
    }

void tu_err_set(tu_err *e, const char *fmt, ...)
    __attribute__((format(TOS_PRINTF_FORMAT, 2, 3)));
/* Whether a failure has been recorded (while threads may still run). */
int tu_err_isset(tu_err *e);

#define assert_no_err(e)                                                       \
    do {                                                                       \
        if (tu_err_isset(e))                                                   \
            fail_msg("%s", (e)->msg);                                          \
    } while (0)

/* Start a joinable thread; fails the test if it cannot. */
void tu_thread_start(tu_thread *t, void *(*fn)(void *), void *arg);

/* Join with a bound: 0 when joined, -1 when the thread is still running
 * after timeout_ms (it is then left alone: its argument must not live on
 * the test's stack). */
int tu_thread_join(tu_thread t, int timeout_ms);

/* ---------------------------------------------------------------------- */
/* Raw sockets: the other end, without the library                        */
/* ---------------------------------------------------------------------- */

/* The calling thread's id (the kernel's thread id on Linux). */
long tu_gettid(void);

/* Wait until the thread with that id is blocked in a call (asleep in the
 * kernel: state S or D in /proc on Linux; a short pause on Windows). 0 when
 * seen, -1 on timeout. Only used to make a test exercise the intended
 * path; correctness of an assertion never depends on it. */
int tu_wait_blocked(long tid, int timeout_ms);

/* A bare connection to the pipe `name` (tu_name()), made without the
 * library; waits up to 10 s for a free instance where connecting waits
 * for one (Windows). TU_RAW_NONE on error (tos_error() says why). */
tu_raw tu_raw_connect(const char *name);
/* Close a raw end. */
void tu_raw_close(tu_raw r);
/* Read up to n bytes, blocking: the count, 0 at the end, -1 on error. */
long long tu_raw_read(tu_raw r, void *p, size_t n);
/* Read exactly n bytes, blocking: 0, or -1 on an error or an end before
 * n bytes. */
int tu_read_all(tu_raw r, void *p, size_t n);

/* A library pipe handle connected to a raw end: returns the handle and
 * stores the raw end in *raw. The rendezvous is removed again. Fails the
 * test on error. */
int tu_raw_pair(tu_raw *raw);

/* 1 when a server is listening at the pipe `name` maps to, found without
 * touching it (a waiting Kiwi server would take a probe connection as its
 * client), else 0 (also when the system cannot tell). The library's own
 * check answers (the kernel's socket table; WaitNamedPipe on Windows):
 * this is the one place the tests call it. */
int tu_is_listening(const char *name);
/* Wait at most timeout_ms until tu_is_listening(name). 0 or -1. */
int tu_wait_listening(const char *name, int timeout_ms);

/* ipc_create_timeout (create != 0) or ipc_connect_timeout in a thread. */
typedef struct tu_opener {
    const char *name;
    int timeout;
    int create;
    int result;
    tu_thread t;
} tu_opener;
tu_opener *tu_open_start(const char *name, int create, int timeout);
/* Join it (20 s at most) and return the handle it got; fails the test if
 * none. Frees o. */
int tu_open_join(tu_opener *o);

/* Both handles talk to each other (a ping and a pong). */
void tu_check_connected(int a, int b);

/* Two connected library handles (ipc_listen + ipc_connect + ipc_accept;
 * the listener is closed again). Fails the test on error. */
void tu_lib_pair(int *client, int *server);

/* A peer thread that writes len bytes at buf to fd in chunks of `chunk`
 * bytes, sleeping delay_ms after each: a Kiwi-like or an odd writer. Join
 * the thread (tu_thread_join), check rc (0: all written, -1: a write
 * failed), then free() the struct; buf must outlive the thread. */
typedef struct tu_rawwriter {
    tu_raw fd;
    const unsigned char *buf;
    size_t len;
    size_t chunk;
    int delay_ms;
    int rc;
} tu_rawwriter;
tu_rawwriter *tu_rawwrite_start(tu_thread *t, tu_raw fd, const void *buf,
                                size_t len, size_t chunk, int delay_ms);

/* Write everything (looping over partial writes, never SIGPIPE). 0 or
 * -1. */
int tu_write_all(tu_raw fd, const void *buf, size_t len);
/* Big-endian 4-byte length header of a frame. */
void tu_header(unsigned char out[4], uint32_t len);
/* Write a whole frame (header and payload in one buffer). 0 or -1. */
int tu_write_frame(tu_raw fd, const void *data, uint32_t len);

/* ---------------------------------------------------------------------- */
/* Data                                                                   */
/* ---------------------------------------------------------------------- */

/* n deterministic pseudo-random bytes from seed, malloc'd (never NULL). */
unsigned char *tu_pattern(size_t n, uint64_t seed);
/* Fill buf with the same bytes tu_pattern(n, seed) returns. */
void tu_fill(void *buf, size_t n, uint64_t seed);
/* 1 when buf holds exactly what tu_fill(.., n, seed) writes. */
int tu_check_fill(const void *buf, size_t n, uint64_t seed);

/* A message that carries who sent it and its sequence number, so that
 * loss, duplication, reordering and corruption are all detected:
 * 16 bytes of header (magic, stream id, seq, length) then tu_fill bytes
 * seeded by (stream, seq). Its length is at least TU_MSG_MIN. malloc'd;
 * NULL when out of memory. */
#define TU_MSG_MIN 16
void *tu_msg_make(uint32_t stream, uint32_t seq, size_t len);
/* 0 when data/len is a whole, intact message; sets *stream and *seq.
 * Otherwise -1 and a description in why. */
int tu_msg_parse(const void *data, size_t len, uint32_t *stream, uint32_t *seq,
                 char why[128]);

/* ---------------------------------------------------------------------- */
/* POSIX only (testutil_posix.c): OS mechanisms the behaviour tests do not */
/* use, for the POSIX suites and the fault tests                         */
/* ---------------------------------------------------------------------- */
#ifndef _WIN32

/* The guarded fixture of the fault tests: tu_setup plus a safety net: if
 * the test is still running after tu_budget_s() seconds, every child is
 * killed and the process exits with status 3 (a hang is a failure, never a
 * stuck CI job); children forked under it arm the same budget. Teardown
 * kills and reaps any child still there, disarms the net and fails the
 * test if the temp dir is not empty (something leaked a socket file),
 * then does what tu_teardown does. */
int tu_guarded_setup(void **state);
int tu_guarded_teardown(void **state);

/* The safety net of each guarded test, in seconds (scaled under
 * valgrind). */
unsigned tu_budget_s(void);

/* ---------------------------------------------------------------------- */
/* Child processes                                                        */
/* ---------------------------------------------------------------------- */

/* Runs in the child; the return value is its exit code (0 = success). */
typedef int (*tu_child_fn)(void *arg);

/* Fork a child that runs fn(arg) and _exit()s with its result. The child
 * dies with its parent (PR_SET_PDEATHSIG) and arms alarm() as a safety net
 * (60 s, or tu_budget_s() under the guarded fixture), so it can never
 * outlive a lost parent for long. The parent must tu_wait() or tu_kill()
 * it; teardown kills leftovers. Fork only while the process has a single
 * thread (ThreadSanitizer cannot follow a fork of a threaded process
 * safely). */
pid_t tu_fork(tu_child_fn fn, void *arg);

#define TU_CHILD_TIMEOUT (-1)
/* Wait at most timeout_ms for the child; on overrun kill it (SIGKILL),
 * reap it and return TU_CHILD_TIMEOUT. Otherwise the exit code, or
 * 128 + signal number if a signal killed it. */
int tu_wait(pid_t pid, int timeout_ms);

/* SIGKILL the child and reap it; returns what tu_wait() would. */
int tu_kill(pid_t pid);

/* In a child: report and exit with `code` unless cond holds. */
#define child_check_code(cond, code)                                           \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr,                                                    \
                    "child %s:%d: check failed: %s (last error: %s)\n",        \
                    __FILE__, __LINE__, #cond, ipc_last_error());              \
            _exit(code);                                                       \
        }                                                                      \
    } while (0)

/* In a child: report and exit(1) unless cond holds. */
#define child_check(cond) child_check_code((cond), 1)

/* In a child: report and exit(1) unless call returns want. */
#define child_status(call, want)                                               \
    do {                                                                       \
        int tu_got_ = (call);                                                  \
        int tu_want_ = (want);                                                 \
        if (tu_got_ != tu_want_) {                                             \
            fprintf(stderr,                                                    \
                    "child %s:%d: %s: expected %s (%d), got %s (%d); "         \
                    "last error: %s\n",                                        \
                    __FILE__, __LINE__, #call, ipc_errname(tu_want_),          \
                    tu_want_, ipc_errname(tu_got_), tu_got_,                   \
                    ipc_last_error());                                         \
            _exit(1);                                                          \
        }                                                                      \
    } while (0)

/* One-byte handshakes over a pipe (O_CLOEXEC). */
void tu_pipe(int fds[2]);
/* Write one byte; 0 or -1. */
int tu_signal_fd(int fd);
/* Wait at most timeout_ms for one byte; 0 on success, -1 otherwise. */
int tu_wait_fd(int fd, int timeout_ms);

/* An AF_UNIX stream socket bound to path (not listening). -1 on error. */
int tu_raw_bind(const char *path);
/* Bound and listening (backlog 16). -1 on error. */
int tu_raw_listen(const char *path);
/* Whether a raw listener's accept queue is empty: a non-blocking accept()
 * fails with EAGAIN. 1 if empty, 0 if somebody had connected (that
 * connection is accepted and closed), -1 on another error. */
int tu_accept_queue_empty(int lfd);
/* A connected AF_UNIX stream socketpair (close-on-exec). -1 on error. */
int tu_socketpair(int sv[2]);

/* Open file descriptors of this process. */
int tu_fd_count(void);

#endif /* !_WIN32 */

#endif
