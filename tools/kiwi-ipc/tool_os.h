/*
 * tool_os.h - what the kiwi-ipc tool needs from the operating system: the one
 * seam between its portable parts (main.c, session.c, bridge.c, ...) and
 * the OS. Each platform implements it in two files with one job each:
 *
 *   os_posix.c   / os_win32.c     the process: main's arguments, signals
 *                                 (Ctrl-C), threads, time, files, lines
 *   spawn_posix.c / spawn_win32.c --exec's command: start it through the
 *                                 platform's shell, watch it, stop it
 *   help_posix.c  / help_win32.c  what --help says of the platform
 *
 * Nothing above this header includes a platform API header (<windows.h>,
 * <signal.h>, <poll.h>, <sys/wait.h>, ...) or tests _WIN32. The portable
 * parts do include <unistd.h>, for the descriptor calls read(), write(),
 * close() and _exit() on stdio and on what this header hands them, which
 * mingw-w64's C runtime provides under the same names.
 */
#ifndef KIWI_TOOL_OS_H
#define KIWI_TOOL_OS_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h> /* ssize_t: POSIX, and mingw-w64 has it too */

/* printf-style checking that knows which printf the platform's stdio is
 * (mingw-w64's own, with %zu and %lld, under __USE_MINGW_ANSI_STDIO). */
#ifdef __MINGW_PRINTF_FORMAT
#define KIWI_PRINTF(f, a) __attribute__((format(__MINGW_PRINTF_FORMAT, f, a)))
#else
#define KIWI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#endif

/* ---- the process (os_posix.c, os_win32.c) ------------------------------ */

/* main.c's entry point. The platform's main() calls it with the command
 * line as UTF-8 (on Windows: wmain's UTF-16 arguments, converted). */
int kiwi_main(int argc, char **argv);

/* Once, first thing: make interruption (SIGINT/SIGTERM; Windows: Ctrl-C,
 * Ctrl-Break) set kiwi_signalled and interrupt the main thread's own
 * blocking read() and write(); ignore SIGPIPE (a closed stdout or --exec
 * command is an error to report, not death); on Windows, make stdin (but
 * a console's), stdout and stderr binary, so that raw output and -f - are
 * byte-exact. */
void kiwi_os_setup(void);

/* End the process as the platform ends one that was interrupted by `sig`
 * (POSIX: die of the signal, 128 + sig to a shell; Windows: exit code
 * STATUS_CONTROL_C_EXIT, as Windows' own Ctrl-C handling does). */
void kiwi_os_die_of_signal(int sig) __attribute__((noreturn));

/* A thread that leaves interruption to the main thread (POSIX: SIGINT and
 * SIGTERM blocked in it). */
typedef struct kiwi_thread kiwi_thread;
/* Start fn(arg) in a new thread. Returns 0, or -1 (*t untouched). */
int kiwi_thread_start(kiwi_thread **t, void *(*fn)(void *), void *arg);
/* Wait for it to end, and free *t. */
void kiwi_thread_join(kiwi_thread *t);
/* Let it run on alone (it is blocked and cannot be woken); frees *t. */
void kiwi_thread_detach(kiwi_thread *t);

/* Sleep about ms milliseconds (a signal may end it sooner). */
void kiwi_sleep_ms(int ms);
/* A monotonic clock, in milliseconds. */
long long kiwi_now_ms(void);

/* Open the file at path (UTF-8) for reading bytes, not inherited by
 * children. Returns a descriptor for read()/close(), or -1 with errno. */
int kiwi_open_read(const char *path);

/* Read one line from in into *line (realloc'd, *cap bytes, as getline),
 * without its line ending: "\n" on POSIX; on Windows "\n" or "\r\n".
 * Returns its length (the bytes may include NULs), or -1 at the end of
 * the input or on an error (ferror(in) tells which). */
ssize_t kiwi_getline(char **line, size_t *cap, FILE *in);

/* What -l's wait asks ipc_poll() for, to see the peer's close without
 * receiving (session.c). POSIX: nothing (0); poll(2) reports the end of a
 * socket all the same, even behind messages nobody has read. Windows:
 * IPC_POLLIN, since the library finds the end there only with the
 * zero-byte read that a poll for input starts; the end behind a whole
 * unread message is then not seen, and the poll reads ahead into the
 * message the peer sends. */
extern const short kiwi_poll_end_events;

/* The pipe from --exec's command (its stdout) is read with these, not
 * through a FILE, so that the reader can stop once the command has exited
 * although a process it left still holds the pipe's write end (bridge.c):
 * wait at most ms milliseconds until fd can be read without blocking
 * (bytes, or the end: no write end is left). Returns 1, 0 when the time
 * is up, or -1 on an error (errno). */
int kiwi_pipe_wait(int fd, int ms);
/* The number of bytes the pipe fd holds now (written, not yet read), or -1
 * on an error. */
long long kiwi_pipe_available(int fd);
/* Whether "\r\n" ends a line as "\n" does (Windows), as in kiwi_getline. */
extern const int kiwi_crlf_lines;

/* ---- --help (help_posix.c, help_win32.c) ------------------------------- */

/* The --exec option's lines, and the closing paragraphs (names, exit
 * statuses, interruption), as the platform has them. */
extern const char kiwi_help_exec[];
extern const char kiwi_help_platform[];

/* ---- --exec's command (spawn_posix.c, spawn_win32.c) ------------------- */

struct kiwi_child;

/* How the platform's shell is run, for -v: "/bin/sh -c" or
 * "cmd.exe /d /s /c". */
extern const char kiwi_shell_text[];

/* Start cmd (UTF-8) through the platform's shell, with its stdin and
 * stdout on two new pipes and our stderr as its stderr, in a group of its
 * own (POSIX: a process group; Windows: a job object), so that stopping it
 * stops all that it started. *to_cmd and *from_cmd get our ends, as
 * descriptors for write() and read() (binary on Windows), that no child
 * inherits. Returns NULL after printing why. */
struct kiwi_child *kiwi_child_start(const char *cmd, int *to_cmd,
                                    int *from_cmd);
/* Its process id, for -v. */
long kiwi_child_pid(const struct kiwi_child *c);
/* Has it exited? Collects its status once it has: 1, else 0. One thread
 * at a time: bridge.c's reader while it runs, then the main thread. */
int kiwi_child_exited(struct kiwi_child *c);
/* Make it stop, and every process it started that is still in its group
 * (a shell's children: `sleep 30; echo late` holds CMD's stdout in the
 * sleep): step 1 asks (POSIX: SIGTERM to its process group), step 2
 * insists (SIGKILL). On Windows both terminate its job: it and every
 * process it started. Also once it has exited: what it left running is
 * stopped. Any thread. */
void kiwi_child_stop(struct kiwi_child *c, int step);
/* After kiwi_child_exited(): did it fail? If so, write what happened
 * ("exited with status 3") into why and return 1; else 0. `peer_gone`:
 * the peer had gone; `output_cut`: we then closed its stdout early (a
 * line could not be sent), so that a write of its may have failed. A
 * failure caused that way is not its fault and does not count (POSIX:
 * death by SIGPIPE; Windows: any exit code, as a broken pipe there is an
 * ordinary write error). */
int kiwi_child_failed(const struct kiwi_child *c, int peer_gone, int output_cut,
                      char *why, size_t size);
/* Release it (after kiwi_child_exited() said 1, or to abandon it). */
void kiwi_child_free(struct kiwi_child *c);

#endif /* KIWI_TOOL_OS_H */
