/*
 * kiwi.c - the kiwi-ipc C API contender: ipc_create()/ipc_connect(),
 * ipc_send(), ipc_recv() and ipc_free(), nothing else.
 *
 *   kiwi_c [--alloc|--many] ROLE WORKLOAD PATH COUNT SIZE   (see bench.h)
 *   kiwi_c --version                                 prints ipc_version()
 *
 * PATH is absolute, so kiwi-ipc uses it verbatim as the socket path. The
 * "sliced" workload receives with ipc_recv_timeout(). --alloc receives
 * with ipc_recv_alloc() into a malloc()ed buffer instead, as a program
 * with buffers of its own (or a binding) does. --many (stream
 * only) sends with ipc_send_many() in batches of BENCH_BATCH messages and
 * receives as the bindings' recv_many do: ipc_recv_alloc() for the first
 * of a burst, then ipc_recv_held() for those already inside the handle,
 * BENCH_BATCH at most, each still into a malloc()ed buffer of its own.
 */
#include "bench.h"

#include "kiwi_ipc.h"

static void check(int rc, const char *call)
{
    if (rc < 0) {
        fprintf(stderr, "kiwi_c: %s: %s\n", call, ipc_last_error());
        exit(1);
    }
}

/* Not inlined, so that callgrind can collect just this loop
 * (--toggle-collect=bench_pingpong). */
__attribute__((noinline)) static void
bench_pingpong(int h, const struct bench_args *a, const char *payload)
{
    long warm = bench_warmup(a->count);
    double t0 = 0;
    for (long i = 0; i < warm + a->count; i++) {
        if (i == warm) {
            t0 = bench_now();
        }
        void *msg;
        size_t len;
        if (a->server) {
            check(ipc_recv(h, &msg, &len), "recv");
            check(ipc_send(h, msg, len), "send");
        } else {
            check(ipc_send(h, payload, a->size), "send");
            check(ipc_recv(h, &msg, &len), "recv");
            bench_check(msg, len, a->size);
        }
        ipc_free(msg);
    }
    if (!a->server) {
        bench_report(bench_now() - t0);
    }
}

/* --alloc: ipc_recv_alloc()'s memory, one malloc() per call. A call that
 * fails leaves its buffer to the caller: the next one frees it. */
static int use_alloc;
/* --many: batches. */
static int use_many;
#define BENCH_BATCH 100

static void *take_malloc(void *ctx, size_t len)
{
    void **slot = ctx;
    free(*slot);
    *slot = malloc(len ? len : 1);
    return *slot;
}

/* One message, waiting at most timeout_ms: 0 or the status. */
static int recv_one(int h, void **msg, size_t *len, int timeout_ms)
{
    if (!use_alloc) {
        return ipc_recv_timeout(h, msg, len, timeout_ms);
    }
    void *buf = NULL;
    int rc = ipc_recv_alloc(h, take_malloc, &buf, len, timeout_ms);
    if (rc != 0) {
        free(buf);
        buf = NULL;
    }
    *msg = buf;
    return rc;
}

static void bench_stream(int h, const struct bench_args *a, const char *payload)
{
    void *msg;
    size_t len;
    if (a->server) {
        long timeouts = 0;
        double t0 = bench_now();
        check(ipc_send(h, "g", 1), "send");
        for (long i = 0; i < a->count; i++) {
            if (a->sliced) {
                int rc;
                while ((rc = recv_one(h, &msg, &len, BENCH_SLICE_MS)) ==
                       IPC_ETIMEDOUT) {
                    timeouts++;
                }
                check(rc, "recv");
            } else {
                check(recv_one(h, &msg, &len, IPC_FOREVER), "recv");
            }
            bench_check(msg, len, a->size);
            if (use_alloc) {
                free(msg);
            } else {
                ipc_free(msg);
            }
        }
        bench_report(bench_now() - t0);
        if (a->sliced) {
            bench_report_timeouts(timeouts);
        }
    } else {
        check(ipc_recv(h, &msg, &len), "recv"); /* "go" */
        ipc_free(msg);
        for (long i = 0; i < a->count; i++) {
            check(ipc_send(h, payload, a->size), "send");
        }
    }
}

/* --many's stream: batches both ways. */
static void bench_stream_many(int h, const struct bench_args *a,
                              const char *payload)
{
    void *msg;
    size_t len;
    if (a->server) {
        double t0 = bench_now();
        check(ipc_send(h, "g", 1), "send");
        for (long i = 0; i < a->count;) {
            void *buf = NULL;
            check(ipc_recv_alloc(h, take_malloc, &buf, &len, IPC_FOREVER),
                  "recv");
            long burst = 1;
            for (;;) {
                bench_check(buf, len, a->size);
                free(buf);
                buf = NULL;
                if (burst == BENCH_BATCH || i + burst == a->count) {
                    break;
                }
                int rc = ipc_recv_held(h, take_malloc, &buf, &len);
                check(rc, "recv_held");
                if (rc == 0) {
                    break;
                }
                burst++;
            }
            free(buf);
            i += burst;
        }
        bench_report(bench_now() - t0);
    } else {
        check(ipc_recv(h, &msg, &len), "recv"); /* "go" */
        ipc_free(msg);
        struct ipc_msg batch[BENCH_BATCH];
        for (int k = 0; k < BENCH_BATCH; k++) {
            batch[k].data = payload;
            batch[k].len = a->size;
        }
        for (long i = 0; i < a->count;) {
            long n = a->count - i < BENCH_BATCH ? a->count - i : BENCH_BATCH;
            int sent = ipc_send_many(h, batch, (size_t)n, IPC_FOREVER);
            check(sent, "send_many");
            i += sent;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("%s\n", ipc_version());
        return 0;
    }
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--alloc") == 0) {
        use_alloc = 1;
        first = 2;
    } else if (argc > 1 && strcmp(argv[1], "--many") == 0) {
        use_many = 1;
        first = 2;
    }
    struct bench_args a;
    bench_parse(argc, argv, first, &a);
    char *payload = a.server ? NULL : bench_payload(a.size);
    int h = a.server ? ipc_create(a.path) : ipc_connect(a.path);
    check(h, a.server ? "create" : "connect");
    if (use_many && (a.pingpong || a.paced)) {
        bench_die("--many runs the stream workload only");
    }
    if (a.pingpong) {
        bench_pingpong(h, &a, payload);
    } else if (use_many) {
        bench_stream_many(h, &a, payload);
    } else {
        bench_stream(h, &a, payload);
    }
    ipc_close(h);
    free(payload);
    return 0;
}
