/*
 * test_os.h - what the C test suites need from the OS, one file per OS:
 * test_os_posix.c (pthreads, CLOCK_MONOTONIC, a bare Unix socket),
 * test_os_win32.c (Windows threads, QueryPerformanceCounter, a bare named
 * pipe client opened as .NET opens one). With it the behaviour tests in
 * tests_c/ are one source for both OSes (only the runner differs); what
 * tests an OS mechanism itself (fork, /proc, DACLs) stays in per-OS files.
 *
 * A sibling of peer_os.h, not part of it: kiwi_peer's calls end the process
 * on any error (peer_fail), a test's must return it so that cmocka can
 * report it and tear down; and the tests need threads, which the peer
 * does not.
 *
 * Every call returns its failure (-1, or TOS_RAW_NONE) with the reason in
 * tos_error(); none calls cmocka.
 */
#ifndef KIWI_TEST_OS_H
#define KIWI_TEST_OS_H

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
/* A HANDLE, as an integer so that tests hold it like a descriptor. */
typedef intptr_t tos_raw;
typedef void *tos_thread;
#define TOS_RAW_NONE ((tos_raw)-1)
#else
#include <pthread.h>
/* A descriptor. */
typedef int tos_raw;
typedef pthread_t tos_thread;
#define TOS_RAW_NONE (-1)
#endif

/* One bound a test keeps on each OS: wine's named pipes and scheduling are
 * slower than a Linux socket, so a few upper bounds (and the poll
 * timeouts that wait for data already sent) are wider there. Lower bounds
 * never differ. */
#ifdef _WIN32
#define TOS_MS(posix, windows) (windows)
#else
#define TOS_MS(posix, windows) (posix)
#endif

/* printf-checked formats: mingw's own printf (%zu, %lld) on Windows. */
#ifdef __MINGW_PRINTF_FORMAT
#define TOS_PRINTF_FORMAT __MINGW_PRINTF_FORMAT
#else
#define TOS_PRINTF_FORMAT printf
#endif

/* The last OS error of this thread, as text. */
const char *tos_error(void);
/* For test_os_posix.c and test_os_win32.c: record this thread's error
 * (test_os.c, the part every OS shares). */
void tos__set_error(const char *fmt, ...)
    __attribute__((format(TOS_PRINTF_FORMAT, 1, 2)));

/* ---- time ---------------------------------------------------------------- */

long long tos_now_us(void); /* monotonic */
void tos_sleep_us(long long us);

/* ---- threads ------------------------------------------------------------- */

/* Start a joinable thread running fn(arg). 0 or -1. */
int tos_thread_start(tos_thread *t, void *(*fn)(void *), void *arg);
/* Join within timeout_ms: 0 when joined, -1 when still running (it is then
 * left alone: its argument must not live on the caller's stack). */
int tos_thread_join(tos_thread t, int timeout_ms);

/* The calling thread's id (the kernel's thread id where there is one). */
long tos_thread_id(void);
/* Wait until the thread with that id is blocked in a call (asleep in the
 * kernel): 0 when seen, -1 on timeout. Only makes a test exercise the
 * intended path; no assertion may depend on it. */
int tos_wait_blocked(long id, int timeout_ms);

/* ---- process and environment ----------------------------------------------
 */

long tos_pid(void);
/* setenv(name, value) / unsetenv(name) when value is NULL. */
void tos_setenv(const char *name, const char *value);

/* Run this test program again as a helper process, with args (a NULL-ended
 * list, without the program itself), and wait for it at most timeout_ms:
 * its exit code (128 + the signal's number if a signal ended it), or -1
 * when it could not start or overran (it is then killed and reaped). */
int tos_run_self(const char *const args[], int timeout_ms);

#ifdef _WIN32
/* After a failed CreateProcess (GetLastError() still its error): whether
 * to try again, having said so on stderr and waited a little. Wine fails a
 * start now and then with ERROR_INTERNAL_ERROR when the new process ended
 * before wine finished starting it, before any of its code ran (seen in
 * full scripts/run-windows and CI runs; Windows does not do this): that
 * error is tried twice more, any other not. *tries starts at 0.
 * GetLastError() is left as it was. kiwi_pytest.py does the same for the
 * Python suites' starts. */
int tos_start_again(const char *what, int *tries);
#endif

/* ---- a private temp dir ----------------------------------------------------
 */

/* Make a fresh private directory "<base>/kiwi-ipc-XXXXXX" (base: $TMPDIR
 * when it is short and absolute, else the OS's temp dir) into out. 0 or
 * -1. */
int tos_make_dir(char *out, size_t cap, const char *tmpdir);
/* Remove dir and everything in it; reports what it cannot remove on
 * stderr. */
void tos_remove_tree(const char *dir);
/* Where the test's pipe names live, from its private dir: the dir itself
 * where a pipe is a file (a Unix socket), a name unique to the process
 * and the dir where pipes have a namespace of their own (\\.\pipe\). */
void tos_pipe_base(const char *dir, char *out, size_t cap);

/* ---- a raw peer: the other end, without the library -----------------------
 */

/* A bare connection to the pipe `name` maps to (ipc_path), waiting up to
 * timeout_ms for a server that has no free instance yet. */
tos_raw tos_raw_connect(const char *name, int timeout_ms);
/* A library handle (*h) connected to a raw end (returned). */
tos_raw tos_raw_pair(const char *name, int *h);
/* Write 1..n bytes: the count, or -1 (never raises SIGPIPE). */
long long tos_raw_write(tos_raw r, const void *p, size_t n);
/* Read up to n bytes, blocking: the count, 0 at the end of the stream, or
 * -1. */
long long tos_raw_read(tos_raw r, void *p, size_t n);
void tos_raw_close(tos_raw r);

#ifndef _WIN32
/* POSIX only: an AF_UNIX stream socket bound to path, listening (backlog
 * 16) when `listening`, close-on-exec; for the tests of what a socket file
 * adds. The descriptor, or -1 with errno set. */
int tos_unix_bound(const char *path, int listening);
#endif

#endif /* KIWI_TEST_OS_H */
