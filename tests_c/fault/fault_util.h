/*
 * fault_util.h - helpers shared by the fault tests (tests_c/fault/).
 *
 * The fault tests stand on their own (they do not use tests_c/testutil.*):
 * they fork, kill, flood and interrupt, so what they need is a little
 * different - a safety net that kills every child if a test hangs, counts
 * of descriptors and temp-dir entries, and checks that work inside threads
 * and children (cmocka assertions longjmp, so they are only used on the
 * test's own thread).
 *
 * Each test gets a private temp dir with a short absolute path (socket
 * paths must fit 107 bytes), removed again by fu_teardown().
 */
#ifndef KIWI_IPC_FAULT_UTIL_H
#define KIWI_IPC_FAULT_UTIL_H

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/types.h>

#include "kiwi_ipc.h"

/* ---- fixture ----------------------------------------------------------- */

/* cmocka setup/teardown. Setup makes the private temp dir and arms the
 * safety net: if the test is still running after fu_budget_s() seconds,
 * every child is killed and the process exits with status 3 (a hang is a
 * failure, never a stuck CI job). Teardown kills and reaps any child still
 * there, disarms the net and removes the temp dir (failing the test if it
 * is not empty: something leaked a socket file). */
int fu_setup(void **state);
int fu_teardown(void **state);

/* The safety net of each test, in seconds (scaled under valgrind). */
unsigned fu_budget_s(void);

/* The test's private temp dir. */
const char *fu_dir(void);

/* A fresh absolute pipe name "<dir>/<tag><n>", valid until teardown. */
const char *fu_name(const char *tag);

/* Entries in the test's temp dir (not . and ..), -1 on error. */
int fu_dir_entries(void);

/* Open descriptors of this process (/proc/self/fd). */
int fu_fd_count(void);

/* ---- scale ------------------------------------------------------------- */

/* 1 normally; 0 under valgrind, where the heavy tests do less. Set
 * KIWI_IPC_FAULT_FULL=1 to run the full size under valgrind too, or
 * KIWI_IPC_FAULT_FULL=0 to run the reduced size anywhere. */
int fu_full(void);

/* Pick the full or the reduced count. */
#define FU_SCALE(full, reduced) (fu_full() ? (full) : (reduced))

/* The seed for the test's random choices: $KIWI_IPC_FAULT_SEED if set,
 * else from the clock. Printed, so a failure can be replayed. */
uint32_t fu_seed(void);
uint32_t fu_rand(uint32_t *state);

/* ---- time -------------------------------------------------------------- */

long long fu_now_us(void);
long long fu_now_ms(void);
void fu_sleep_us(long long us);
void fu_sleep_ms(int ms);

/* ---- children ---------------------------------------------------------- */

typedef int (*fu_child_fn)(void *arg);

/* Fork a child that runs fn(arg) and _exit()s with its result. The child
 * dies with its parent (PR_SET_PDEATHSIG) and has its own alarm() safety
 * net. Fork only while the process has a single thread (ThreadSanitizer
 * cannot follow a fork of a threaded process safely). */
pid_t fu_fork(fu_child_fn fn, void *arg);

#define FU_TIMEOUT (-1)
/* Wait at most timeout_ms for the child; on overrun kill it, reap it and
 * return FU_TIMEOUT. Otherwise its exit status, or 128 + the signal that
 * killed it. */
int fu_wait(pid_t pid, int timeout_ms);

/* SIGKILL the child and reap it; returns what fu_wait() would. */
int fu_kill(pid_t pid);

/* In a child: exit with code `code` and a message unless cond holds. */
#define fu_child_check(cond, code)                                             \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr,                                                    \
                    "child %s:%d: check failed: %s (last error: %s)\n",        \
                    __FILE__, __LINE__, #cond, ipc_last_error());              \
            _exit(code);                                                       \
        }                                                                      \
    } while (0)

/* One-byte handshakes between processes (a pipe, close-on-exec). */
void fu_pipe(int fds[2]);
int fu_signal_fd(int fd);
int fu_wait_fd(int fd, int timeout_ms);

/* ---- threads ----------------------------------------------------------- */

/* The first failure seen by a helper thread; the test thread asserts on it
 * after joining. Thread-safe. */
typedef struct fu_err {
    pthread_mutex_t lock;
    char msg[512];
} fu_err;

#define FU_ERR_INIT                                                            \
    {                                                                          \
        PTHREAD_MUTEX_INITIALIZER,                                             \
        {                                                                      \
            0                                                                  \
        }                                                                      \
    }

void fu_err_set(fu_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int fu_err_isset(fu_err *e);

#define assert_no_fu_err(e)                                                    \
    do {                                                                       \
        if (fu_err_isset(e))                                                   \
            fail_msg("%s", (e)->msg);                                          \
    } while (0)

void fu_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* Join with a bound: 0 when joined, -1 when still running after
 * timeout_ms. */
int fu_thread_join(pthread_t t, int timeout_ms);

/* ---- sockets and data -------------------------------------------------- */

/* Fail unless call returns want; prints both statuses by name. */
#define assert_ipc(call, want)                                                 \
    do {                                                                       \
        int fu_got_ = (call);                                                  \
        int fu_want_ = (want);                                                 \
        if (fu_got_ != fu_want_)                                               \
            fail_msg("%s:%d: %s: expected %s (%d), got %s (%d); last "         \
                     "error: %s",                                              \
                     __FILE__, __LINE__, #call, ipc_errname(fu_want_),         \
                     fu_want_, ipc_errname(fu_got_), fu_got_,                  \
                     ipc_last_error());                                        \
    } while (0)

/* Evaluates to the handle call returned; fails unless it is > 0. */
#define assert_ipc_handle(call)                                                \
    fu__check_handle((call), #call, __FILE__, __LINE__)
int fu__check_handle(int h, const char *expr, const char *file, int line);

/* Two connected library handles (listen + connect + accept, the listener
 * closed again). */
void fu_pair(int *a, int *b);

/* 1 when a Unix socket bound to path is listening (from /proc/net/unix,
 * without touching it), else 0. */
int fu_is_listening(const char *path);
/* Wait at most timeout_ms until fu_is_listening(path). 0 or -1. */
int fu_wait_listening(const char *path, int timeout_ms);

/* Deterministic bytes: fill buf with n bytes derived from seed. */
void fu_fill(void *buf, size_t n, uint64_t seed);
/* 1 when buf holds exactly what fu_fill(.., n, seed) writes. */
int fu_check_fill(const void *buf, size_t n, uint64_t seed);

/* A message that carries who sent it and its sequence number, so that
 * loss, duplication, reordering and corruption are all detected:
 * 16 bytes of header (magic, stream id, seq, length) then fu_fill bytes
 * seeded by (stream, seq). Its length is at least FU_MSG_MIN. */
#define FU_MSG_MIN 16
void *fu_msg_make(uint32_t stream, uint32_t seq, size_t len);
/* 0 when data/len is a whole, intact message; sets *stream and *seq.
 * Otherwise -1 and a description in why. */
int fu_msg_parse(const void *data, size_t len, uint32_t *stream, uint32_t *seq,
                 char why[128]);

#endif
