/*
 * soak_peer.c - one end of the soak exchange (scripts/soak). Not a test.
 *
 *   soak_peer server NAME SECONDS
 *       Serve clients one after another with the Kiwi calls (create, recv,
 *       send, close): echo every message of a session until the client
 *       closes. Stops once SECONDS have passed and no client came for a
 *       while.
 *   soak_peer client NAME SECONDS SEED
 *       Until SECONDS have passed: connect, send a random number of
 *       messages of random sizes (empty to 4 MiB, mostly small; valid UTF-8
 *       text or arbitrary bytes), check that each echo is exactly what was
 *       sent, close.
 *
 * Both print one summary line at the end:
 *   soak: ROLE NAME sessions=S messages=M bytes=B errors=E
 * and exit 0 only when E is 0. Every error is also printed as it happens.
 */
#include "kiwi_ipc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long sessions, messages, bytes, errors;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report_error(const char *role, const char *what, int rc)
{
    errors++;
    fprintf(stderr, "soak: %s: %s: %s (%d): %s\n", role, what, ipc_errname(rc),
            rc, ipc_last_error());
}

static int run_server(const char *name, double secs)
{
    double end = now_s() + secs;
    /* After the end, keep serving while clients still come. */
    double idle_until = end + 3.0;
    while (now_s() < idle_until) {
        int h = ipc_create_timeout(name, 250);
        if (h == IPC_ETIMEDOUT) {
            continue;
        }
        if (h < 0) {
            report_error("server", "create", h);
            break;
        }
        for (;;) {
            void *d;
            size_t n;
            int rc = ipc_recv(h, &d, &n);
            if (rc == IPC_ECLOSED) {
                break; /* the client finished its session */
            }
            if (rc != 0) {
                report_error("server", "recv", rc);
                break;
            }
            rc = ipc_send(h, d, n);
            ipc_free(d);
            if (rc != 0) {
                report_error("server", "send", rc);
                break;
            }
            messages++;
            bytes += (long long)n;
        }
        ipc_close(h);
        sessions++;
        if (now_s() < end) {
            idle_until = end + 3.0;
        } else {
            idle_until = now_s() + 1.0;
        }
    }
    return 0;
}

static uint64_t rnd(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t pick_size(uint64_t *s)
{
    uint64_t r = rnd(s) % 100;
    if (r < 5) {
        return 0;
    }
    if (r < 75) {
        return rnd(s) % 256;
    }
    if (r < 97) {
        return rnd(s) % (64 * 1024);
    }
    return rnd(s) % (4u << 20);
}

/* Valid UTF-8 (ASCII, 2-, 3- and 4-byte sequences) or arbitrary bytes. */
static void fill(unsigned char *p, size_t n, uint64_t *s)
{
    if (rnd(s) % 2) {
        for (size_t i = 0; i < n; i++) {
            p[i] = (unsigned char)rnd(s);
        }
        return;
    }
    static const char *pieces[] = {
        "a",           "Z", " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\xe6\x97\xa5"};
    size_t i = 0;
    while (i < n) {
        const char *pc = pieces[rnd(s) % 7];
        size_t k = strlen(pc);
        if (i + k > n) {
            pc = "x";
            k = 1;
        }
        memcpy(p + i, pc, k);
        i += k;
    }
}

static int run_client(const char *name, double secs, uint64_t seed)
{
    double end = now_s() + secs;
    size_t cap = 4u << 20;
    unsigned char *buf = malloc(cap);
    if (buf == NULL) {
        fprintf(stderr, "soak: client: out of memory\n");
        return 1;
    }
    while (now_s() < end && errors == 0) {
        int h = ipc_connect_timeout(name, 30000);
        if (h < 0) {
            report_error("client", "connect", h);
            break;
        }
        int count = 1 + (int)(rnd(&seed) % 200);
        for (int i = 0; i < count && errors == 0; i++) {
            size_t n = pick_size(&seed);
            fill(buf, n, &seed);
            int rc = ipc_send(h, buf, n);
            if (rc != 0) {
                report_error("client", "send", rc);
                break;
            }
            void *d;
            size_t got;
            rc = ipc_recv(h, &d, &got);
            if (rc != 0) {
                report_error("client", "recv", rc);
                break;
            }
            if (got != n || memcmp(d, buf, n) != 0) {
                errors++;
                fprintf(stderr,
                        "soak: client: the echo of a %zu-byte message came "
                        "back as %zu bytes%s\n",
                        n, got, got == n ? " with different content" : "");
            }
            ipc_free(d);
            messages++;
            bytes += (long long)n;
        }
        ipc_close(h);
        sessions++;
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 ||
        (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0)) {
        fprintf(stderr, "usage: soak_peer server NAME SECONDS\n"
                        "       soak_peer client NAME SECONDS SEED\n");
        return 2;
    }
    const char *role = argv[1], *name = argv[2];
    double secs = atof(argv[3]);
    if (strcmp(role, "server") == 0) {
        run_server(name, secs);
    } else {
        uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 0) : 1;
        run_client(name, secs, seed);
    }
    printf("soak: %s %s sessions=%lld messages=%lld bytes=%lld errors=%lld\n",
           role, name, sessions, messages, bytes, errors);
    return errors == 0 ? 0 : 1;
}
