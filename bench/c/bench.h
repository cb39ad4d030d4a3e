/*
 * bench.h - what the C contenders share: the command line, the clock, the
 * payload and the one line of output the driver reads.
 *
 * Every contender, in every language, takes the same arguments and follows
 * the same script (bench/run, which starts them, relies on it):
 *
 *   PROGRAM ROLE WORKLOAD PATH COUNT SIZE
 *
 *   ROLE      "server" binds PATH and accepts one client; it echoes in
 *             pingpong and receives in stream. "client" connects to PATH
 *             (retrying while nobody listens yet); it starts the round trips
 *             in pingpong and sends in stream.
 *   WORKLOAD  "pingpong": COUNT/10 untimed warm-up round trips (C: or
 *             $BENCH_WARMUP), then COUNT timed ones of SIZE bytes each way;
 *             the client prints the time.
 *             "stream": the server sends one 1-byte "go" message and then
 *             receives COUNT messages of SIZE bytes, each handed over as a
 *             buffer of its own and freed before the next; it prints the
 *             time from before "go" to the last message.
 *             "paced" and "sliced": as "stream", but the frames
 *             arrive in pieces: bench/run always runs `raw_c writev` as
 *             the client, which writes each frame BENCH_PIECE bytes at a
 *             time and sleeps BENCH_PAUSE_MS after each piece but the
 *             last. In "paced" the server receives each message with one
 *             blocking receive; in "sliced" with receives that wait at
 *             most BENCH_SLICE_MS each, called in a loop until one returns
 *             the message (the others time out in the middle of it). The
 *             server also prints "timeouts=<count>" in "sliced".
 *
 * The timing side prints "seconds=<float>" on stdout. Any failure exits 1
 * with a message on stderr.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The paced workloads: pieces of 1 MiB, 10 ms apart (a 64 MiB message
 * takes about 0.64 s), received in slices of 1 ms. */
#define BENCH_PIECE ((size_t)1 << 20)
#define BENCH_PAUSE_MS 10
#define BENCH_SLICE_MS 1

struct bench_args {
    int server;   /* 1: server role, 0: client */
    int pingpong; /* 1: pingpong, 0: stream, paced or sliced */
    int paced;    /* 1: paced or sliced (frames written in pieces) */
    int sliced;   /* 1: sliced (received with BENCH_SLICE_MS timeouts) */
    const char *path;
    long count;
    size_t size;
};

static inline void bench_die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

static inline void bench_parse(int argc, char **argv, int first,
                               struct bench_args *a)
{
    if (argc - first != 5) {
        fprintf(stderr,
                "usage: %s server|client pingpong|stream PATH COUNT SIZE\n",
                argv[0]);
        exit(2);
    }
    char **v = argv + first;
    if (strcmp(v[0], "server") != 0 && strcmp(v[0], "client") != 0) {
        bench_die("ROLE must be server or client");
    }
    if (strcmp(v[1], "pingpong") != 0 && strcmp(v[1], "stream") != 0 &&
        strcmp(v[1], "paced") != 0 && strcmp(v[1], "sliced") != 0) {
        bench_die("WORKLOAD must be pingpong, stream, paced or sliced");
    }
    a->server = strcmp(v[0], "server") == 0;
    a->pingpong = strcmp(v[1], "pingpong") == 0;
    a->sliced = strcmp(v[1], "sliced") == 0;
    a->paced = a->sliced || strcmp(v[1], "paced") == 0;
    a->path = v[2];
    a->count = strtol(v[3], NULL, 10);
    a->size = (size_t)strtoull(v[4], NULL, 10);
}

/* Untimed pingpong round trips before the timed ones: COUNT/10, or
 * $BENCH_WARMUP (bench/run sets 0 for the callgrind count). */
static inline long bench_warmup(long count)
{
    const char *env = getenv("BENCH_WARMUP");
    return env != NULL && *env != '\0' ? strtol(env, NULL, 10) : count / 10;
}

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The payload: SIZE bytes of ASCII (valid UTF-8, as Kiwi sends). Only the
 * client makes one, so that the server's peak RSS is its receiving alone. */
static inline char *bench_payload(size_t size)
{
    char *p = malloc(size ? size : 1);
    if (p == NULL) {
        bench_die("out of memory for the payload");
    }
    memset(p, 'x', size);
    return p;
}

/* A cheap look at a received message, so it is known to be the payload. */
static inline void bench_check(const char *data, size_t len, size_t want)
{
    if (len != want || (len > 0 && (data[0] != 'x' || data[len - 1] != 'x'))) {
        fprintf(stderr, "bench: got a %zu-byte message, wanted %zu bytes\n",
                len, want);
        exit(1);
    }
}

static inline void bench_report(double seconds)
{
    printf("seconds=%.9f\n", seconds);
    fflush(stdout);
}

/* "sliced": how many receives timed out in the middle of a message. */
static inline void bench_report_timeouts(long timeouts)
{
    printf("timeouts=%ld\n", timeouts);
    fflush(stdout);
}

#endif /* BENCH_H */
