/*
 * kiwi.h - what the parts of the kiwi-ipc tool share: its options, its exit
 * statuses and the flags that end a run.
 *
 * The tool uses the public API only (kiwi_ipc.h), as any user's program
 * would: it is also a worked example of that API.
 */
#ifndef KIWI_TOOL_H
#define KIWI_TOOL_H

#include <kiwi_ipc.h>

#include "tool_os.h"

#include <stdatomic.h>
#include <stddef.h>

/* Exit statuses, fixed for good: harness scripts test them. */
enum {
    KIWI_EXIT_OK = 0,
    KIWI_EXIT_FAIL = 1,    /* the library's message is on stderr */
    KIWI_EXIT_USAGE = 2,   /* bad command line */
    KIWI_EXIT_TIMEOUT = 3, /* -t ran out */
    KIWI_EXIT_CLOSED = 4,  /* the peer closed before -n messages came */
    /* Not an exit status: a signal ended the run; main re-raises it. */
    KIWI_EXIT_SIGNAL = -1
};

enum kiwi_verb { KIWI_PATH, KIWI_CONNECT, KIWI_CREATE, KIWI_LISTEN };
enum kiwi_format { KIWI_TEXT, KIWI_JSON, KIWI_RAW, KIWI_HEX };

/* One -d or -f, in command-line order; loaded before connecting. */
struct kiwi_message {
    int from_file;   /* -f: `arg` is a path ("-" = stdin) */
    const char *arg; /* -d: the text itself */
    char *data;      /* the payload (-f: read by kiwi_load_messages) */
    size_t len;
};

struct kiwi_options {
    enum kiwi_verb verb;
    const char *name;
    struct kiwi_message *messages;
    size_t n_messages;
    int lines;               /* -l */
    long long count;         /* -n; -1 = until the peer closes */
    enum kiwi_format format; /* --format */
    int timeout_ms;          /* -t; IPC_FOREVER when not given */
    int echo;                /* --echo */
    const char *exec;        /* --exec CMD, or NULL */
    size_t max_size;         /* --max-size, if have_max_size */
    int have_max_size;
    long long clients;  /* --clients; -1 = no limit */
    int same_user;      /* --same-user: refuse peers of other users */
    int quiet, verbose; /* -q, -v */
};

/* Set by the SIGINT/SIGTERM handler to the signal's number (Windows: by
 * the Ctrl-C/Ctrl-Break handler, to SIGINT or SIGBREAK; tool_os.h). The
 * library's interrupt hook (main.c) reads it, so that every blocking call
 * returns IPC_EINTR within IPC_INTERRUPT_SLICE_MS of the signal. An atomic
 * rather than a volatile sig_atomic_t because other threads read it too (a
 * lock-free atomic may be written by a signal handler, C11 7.14.1.1). */
extern atomic_int kiwi_signalled;

/* Set when the current session must end although no signal came (the
 * --exec command has ended): the hook then stops blocked calls too. */
extern atomic_int kiwi_stop;

/* options.c */
/* Parse argv into *o. Returns -1 to go on, or an exit status: 0 after
 * --help/--version, KIWI_EXIT_USAGE after printing what is wrong. */
int kiwi_parse_args(int argc, char **argv, struct kiwi_options *o);
/* Read every -f into memory. Returns 0, or KIWI_EXIT_FAIL (printed). */
int kiwi_load_messages(struct kiwi_options *o);
void kiwi_free_messages(struct kiwi_options *o);

/* output.c */
/* Write one received message to fd in the given format, looping over
 * partial writes. Returns 0, or -1 with errno set (EINTR: a signal came). */
int kiwi_write_message(int fd, enum kiwi_format format, const char *data,
                       size_t len);
/* The same, formatted into a buffer of the caller's (malloc'd; *out_len
 * bytes). Returns NULL when out of memory. Exposed for the JSON rules. */
char *kiwi_format_message(enum kiwi_format format, const char *data, size_t len,
                          size_t *out_len);
int kiwi_write_all(int fd, const void *data, size_t len);

/* session.c */
/* Run one connected pipe per the options: send the -d/-f messages, then
 * receive per -n, printing, echoing or bridging (--exec). Returns an exit
 * status or KIWI_EXIT_SIGNAL; failures are already printed. */
int kiwi_session(int handle, const struct kiwi_options *o);

/* Print "kiwi-ipc: " and a message on stderr (unless it is a warning and
 * -q was given: see kiwi_warn). */
void kiwi_error(const char *fmt, ...) KIWI_PRINTF(1, 2);
void kiwi_note(const struct kiwi_options *o, const char *fmt, ...)
    KIWI_PRINTF(2, 3);
/* Map a failed library call to an exit status, printing ipc_last_error()
 * (call, name, path, cause) for the failures. */
int kiwi_ipc_failure(int status);

/* Send one message and wait until it is all written, the whole within
 * timeout_ms (-t). The library commits a message whose send runs out of
 * time part-way and keeps its rest for later (kiwi_ipc.h); the tool then
 * finishes it at once with ipc_flush(), in what is left of the same -t,
 * so that a message is never taken for sent, nor left to ipc_close() (which
 * does not wait), before the peer has it all. Returns 0, or an exit status
 * with the failure printed: KIWI_EXIT_TIMEOUT when -t ran out first. With
 * `closed` non-NULL the peer's going is not printed: *closed is set and
 * KIWI_EXIT_FAIL returned. */
int kiwi_send(int h, const void *data, size_t len, int timeout_ms, int *closed);

/* kiwi_send() of n messages (n > 0), each its own frame, written together
 * (ipc_send_many()), the whole within timeout_ms. */
int kiwi_send_many(int h, const struct ipc_msg *msgs, size_t n, int timeout_ms,
                   int *closed);

/* Wait until *flag is set or a signal came. Returns 0 or KIWI_EXIT_SIGNAL. */
int kiwi_wait_flag(atomic_int *flag);
/* Set when a -l thread was left blocked in read(): main must _exit(). */
extern int kiwi_detached_reader;

/* bridge.c: --exec */
struct kiwi_bridge;
/* Start CMD through the platform's shell (tool_os.h) and a thread that sends
 * each line it writes. Returns NULL (printed) on failure. */
struct kiwi_bridge *kiwi_bridge_start(int handle, const struct kiwi_options *o);
/* Give one received message to CMD's stdin. Returns 0, or -1 when CMD no
 * longer reads (it has ended), or KIWI_EXIT_SIGNAL. */
int kiwi_bridge_deliver(struct kiwi_bridge *b, const char *data, size_t len);
/* End the bridge: close CMD's stdin, wait for its output to be sent and for
 * it to exit (`peer_gone`: do not wait long; the peer cannot read any more).
 * Returns the session's exit status given `status` so far. */
int kiwi_bridge_finish(struct kiwi_bridge *b, int status, int peer_gone);

#endif /* KIWI_TOOL_H */
