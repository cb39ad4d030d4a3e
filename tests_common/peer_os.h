/*
 * peer_os.h - what kiwi_peer (kiwi_peer.c, the same everywhere) needs from
 * the OS: time, a file test, a bare connection to a pipe for raw bytes, the
 * stale and interrupt modes, and the lifetime limit. One file per OS:
 * peer_posix.c (a bare Unix socket, fork and SIGINT), peer_win32.c (a bare
 * named pipe as .NET opens it; no stale or interrupt mode).
 */
#ifndef KIWI_PEER_OS_H
#define KIWI_PEER_OS_H

#include <stddef.h>

/* Every wait of the peer is bounded by this. */
#define PEER_WAIT_MS 10000

/* kiwi_peer.c's: print "fail STEP: CODE: DETAIL" and exit 1. */
_Noreturn void peer_fail(const char *code, const char *detail);
_Noreturn void peer_fail_ipc(int status);
_Noreturn void peer_fail_os(const char *what); /* detail: peer_os_error() */
void *peer_xmalloc(size_t n);

/* Ignore what must not kill the peer (SIGPIPE), and end the process after
 * lifetime_s seconds whatever happens (0: no limit from now on). */
void peer_os_start(int lifetime_s);

/* The last OS error, as text. */
const char *peer_os_error(void);

long long peer_now_ms(void); /* monotonic */
void peer_sleep_ms(long ms);
int peer_file_exists(const char *path);

/* A bare connection to the pipe NAME maps to (ipc_path), made without the
 * library, for bytes it would never write. Waits up to PEER_WAIT_MS for a
 * server; fails the step on error. */
struct peer_raw;
struct peer_raw *peer_raw_connect(const char *name);
/* Write 1..n bytes; fails the step on error. */
size_t peer_raw_write_some(struct peer_raw *r, const unsigned char *p,
                           size_t n);
/* Read up to n bytes, waiting at most left_ms: the count, 0 at the end of
 * the stream, or -1 if nothing came (yet); fails the step on error. */
long long peer_raw_read_some(struct peer_raw *r, unsigned char *p, size_t n,
                             long long left_ms);
void peer_raw_close(struct peer_raw *r);

/* kiwi_peer stale NAME, kiwi_peer interrupt DELAY_MS CMD... (usage in
 * kiwi_peer.c); where the OS has no such thing they fail "unsupported". */
void peer_make_stale(const char *name);
int peer_run_interrupted(long delay_ms, char **argv);

#endif /* KIWI_PEER_OS_H */
