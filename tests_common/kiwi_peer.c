/*
 * kiwi_peer.c - the one C peer program of the test suites: the other end
 * of a pipe in another process, built on the C library (or, for raw and
 * hostile bytes, on a bare socket), and a runner that interrupts a script
 * with SIGINT. The Lua specs drive it (tests_lua/helpers.lua); any suite
 * that needs a raw or hostile peer program uses this one. What needs the
 * OS is behind peer_os.h; on Windows (peer_win32.c) raw mode is a bare
 * named pipe, and the stale and interrupt modes fail as "unsupported".
 *
 * Usage:
 *   kiwi_peer server NAME STEP...   ipc_create(NAME), then the steps
 *   kiwi_peer client NAME STEP...   ipc_connect(NAME), then the steps
 *   kiwi_peer raw NAME STEP...      a bare socket connected to
 *                                   ipc_path(NAME): STEPs write raw bytes
 *   kiwi_peer stale NAME            leave a socket file nobody listens on
 *   kiwi_peer interrupt DELAY_MS COMMAND ARG...
 *       run COMMAND; DELAY_MS after it prints a line "READY", send it
 *       SIGINT; print its output, then "status exit N" or "status signal N"
 *       (or "HUNG" if it did not end in time), "sigint-to-output-ms T" (how
 *       long until it wrote again) and "sigint-to-exit-ms T"
 *   kiwi_peer soak-server NAME SECONDS
 *       (scripts/soak) Serve clients one after another with the Kiwi calls
 *       (create, recv, send, close): echo every message of a session until
 *       the client closes. Stops once SECONDS have passed and no client
 *       came for a while.
 *   kiwi_peer soak-client NAME SECONDS SEED
 *       (scripts/soak) Until SECONDS have passed: connect, send a random
 *       number of messages of random sizes (empty to 4 MiB, mostly small;
 *       valid UTF-8 text or arbitrary bytes), check that each echo is
 *       exactly what was sent, close.
 *     Both print one summary line at the end,
 *       soak: ROLE NAME sessions=S messages=M bytes=B errors=E
 *     and exit 0 only when E is 0; every error is also printed as it
 *     happens. They run for minutes, so they have no lifetime alarm.
 *
 * Steps (pipe modes; raw mode takes send, hex, pattern, chunk, sleep,
 * await-file, readframe, eof, close):
 *   send:TEXT          send TEXT              (raw: write TEXT)
 *   hex:HEX            send these bytes       (raw: write them)
 *   pattern:N          send N bytes, byte i = i % 256 (raw: write them)
 *   recv               receive; print "recv LEN HEX" (HEX cut at 64 bytes)
 *   expect-pattern:N   receive; print "pattern ok N" if it is pattern:N
 *   expect-closed      receive; print "closed" if the peer closed cleanly
 *   echo               send back every message until the peer closes;
 *                      print "echo COUNT"
 *   max:N              ipc_set_max_message(N)
 *   sleep:MS           sleep
 *   await-file:PATH    wait until PATH exists
 *   chunk:N            (raw) write N bytes at a time from now on
 *   readframe          (raw) read one frame; print "frame LEN HEX"
 *   eof                (raw) read until the peer closes; print "eof"
 *   close              close the pipe (or socket)
 *   @FILE              the steps in FILE, one a line (for step lists longer
 *                      than a command line may be: cmd.exe takes 8191
 *                      characters, and io.popen on Windows goes through it)
 *
 * A failed step prints "fail STEP: CODE: DETAIL" and exits 1; success
 * prints "done". Every wait is bounded (10 s), and an alarm ends the
 * process after 60 s whatever happens, so no test leaves it behind.
 */
#include <kiwi_ipc.h>

#include "peer_os.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIFETIME_S 60

static const char *step_name = "start";

_Noreturn void peer_fail(const char *code, const char *detail)
{
    printf("fail %s: %s: %s\n", step_name, code, detail);
    exit(1);
}

_Noreturn void peer_fail_ipc(int status)
{
    peer_fail(ipc_errname(status), ipc_last_error());
}

_Noreturn void peer_fail_os(const char *what)
{
    peer_fail(what, peer_os_error());
}

void *peer_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        peer_fail("no_memory", "malloc");
    }
    return p;
}

static unsigned char *decode_hex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2 != 0) {
        peer_fail("usage", "odd number of hex digits");
    }
    unsigned char *out = peer_xmalloc(n / 2);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int byte;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
            peer_fail("usage", "bad hex digit");
        }
        out[i] = (unsigned char)byte;
    }
    *len = n / 2;
    return out;
}

static unsigned char *make_pattern(size_t n)
{
    unsigned char *p = peer_xmalloc(n);
    for (size_t i = 0; i < n; i++) {
        p[i] = (unsigned char)(i % 256);
    }
    return p;
}

static void print_bytes(const char *label, const unsigned char *p, size_t n)
{
    printf("%s %zu ", label, n);
    for (size_t i = 0; i < n && i < 64; i++) {
        printf("%02x", p[i]);
    }
    printf("%s\n", n > 64 ? "..." : "");
}

static void await_file(const char *path)
{
    long long end = peer_now_ms() + PEER_WAIT_MS;
    while (!peer_file_exists(path)) {
        if (peer_now_ms() > end) {
            peer_fail("timeout", path);
        }
        peer_sleep_ms(5);
    }
}

/* ---------------------------------------------------------------------- */
/* Pipe mode: the C library                                                */
/* ---------------------------------------------------------------------- */

/*
 * The steps of argv[3..argc-1], with each @FILE replaced by the lines of
 * FILE (a final newline is no empty step). Ends with NULL; never freed.
 */
static char **expand_steps(int argc, char **argv)
{
    size_t cap = (size_t)argc + 1, n = 0;
    char **steps = peer_xmalloc(cap * sizeof(*steps));
    for (int i = 3; i < argc; i++) {
        if (argv[i][0] != '@') {
            steps[n++] = argv[i];
            continue;
        }
        FILE *f = fopen(argv[i] + 1, "rb");
        if (f == NULL) {
            step_name = argv[i];
            peer_fail("usage", "cannot open the steps file");
        }
        /* Slurp it: steps point into the buffer. */
        size_t len = 0, size = 4096;
        char *text = peer_xmalloc(size);
        size_t got;
        while ((got = fread(text + len, 1, size - len - 1, f)) > 0) {
            len += got;
            if (size - len - 1 == 0) {
                size *= 2;
                text = realloc(text, size);
                if (text == NULL) {
                    peer_fail("no_memory", "realloc");
                }
            }
        }
        fclose(f);
        text[len] = '\0';
        for (char *line = text; *line != '\0';) {
            char *end = strchr(line, '\n');
            if (end != NULL) {
                *end = '\0';
            }
            if (n + 2 > cap) {
                cap *= 2;
                steps = realloc(steps, cap * sizeof(*steps));
                if (steps == NULL) {
                    peer_fail("no_memory", "realloc");
                }
            }
            steps[n++] = line;
            line = end != NULL ? end + 1 : line + strlen(line);
        }
    }
    steps[n] = NULL;
    return steps;
}

static void pipe_step(int h, const char *step)
{
    void *msg;
    size_t len;
    int rc;

    if (strncmp(step, "send:", 5) == 0) {
        rc = ipc_send_timeout(h, step + 5, strlen(step + 5), PEER_WAIT_MS);
        if (rc < 0) {
            peer_fail_ipc(rc);
        }
    } else if (strncmp(step, "hex:", 4) == 0) {
        unsigned char *bytes = decode_hex(step + 4, &len);
        rc = ipc_send_timeout(h, bytes, len, PEER_WAIT_MS);
        free(bytes);
        if (rc < 0) {
            peer_fail_ipc(rc);
        }
    } else if (strncmp(step, "pattern:", 8) == 0) {
        len = strtoul(step + 8, NULL, 10);
        unsigned char *bytes = make_pattern(len);
        rc = ipc_send_timeout(h, bytes, len, PEER_WAIT_MS);
        free(bytes);
        if (rc < 0) {
            peer_fail_ipc(rc);
        }
    } else if (strcmp(step, "recv") == 0) {
        rc = ipc_recv_timeout(h, &msg, &len, PEER_WAIT_MS);
        if (rc < 0) {
            peer_fail_ipc(rc);
        }
        print_bytes("recv", msg, len);
        ipc_free(msg);
    } else if (strncmp(step, "expect-pattern:", 15) == 0) {
        size_t want = strtoul(step + 15, NULL, 10);
        rc = ipc_recv_timeout(h, &msg, &len, PEER_WAIT_MS);
        if (rc < 0) {
            peer_fail_ipc(rc);
        }
        unsigned char *expected = make_pattern(want);
        int same = len == want && memcmp(msg, expected, want) == 0;
        free(expected);
        ipc_free(msg);
        if (!same) {
            peer_fail("mismatch", "not the expected pattern");
        }
        printf("pattern ok %zu\n", len);
    } else if (strcmp(step, "expect-closed") == 0) {
        rc = ipc_recv_timeout(h, &msg, &len, PEER_WAIT_MS);
        if (rc != IPC_ECLOSED) {
            ipc_free(msg);
            peer_fail(rc < 0 ? ipc_errname(rc) : "message", "expected closed");
        }
        printf("closed\n");
    } else if (strcmp(step, "echo") == 0) {
        long count = 0;
        for (;;) {
            rc = ipc_recv_timeout(h, &msg, &len, PEER_WAIT_MS);
            if (rc == IPC_ECLOSED) {
                break;
            }
            if (rc < 0) {
                peer_fail_ipc(rc);
            }
            rc = ipc_send_timeout(h, msg, len, PEER_WAIT_MS);
            ipc_free(msg);
            if (rc < 0) {
                peer_fail_ipc(rc);
            }
            count++;
        }
        printf("echo %ld\n", count);
    } else if (strncmp(step, "max:", 4) == 0) {
        rc = ipc_set_max_message(h, strtoul(step + 4, NULL, 10));
        if (rc < 0) {
            peer_fail_ipc(rc);
        }
    } else if (strncmp(step, "sleep:", 6) == 0) {
        peer_sleep_ms(strtol(step + 6, NULL, 10));
    } else if (strncmp(step, "await-file:", 11) == 0) {
        await_file(step + 11);
    } else if (strcmp(step, "close") == 0) {
        ipc_close(h);
    } else {
        peer_fail("usage", "unknown step");
    }
}

/* ---------------------------------------------------------------------- */
/* Raw mode: a bare socket, for bytes the library would never write        */
/* ---------------------------------------------------------------------- */

/* With chunk:N, raw writes go out N bytes at a time, 1 ms apart. */
static size_t chunk;

static void raw_write(struct peer_raw *r, const unsigned char *p, size_t n)
{
    while (n > 0) {
        size_t part = chunk != 0 && chunk < n ? chunk : n;
        if (chunk != 0 && part < n) {
            peer_sleep_ms(1);
        }
        size_t w = peer_raw_write_some(r, p, part);
        p += w;
        n -= w;
    }
}

/* Read exactly n bytes (or, with n == 0 and eof set, until EOF), waiting at
 * most PEER_WAIT_MS in all. Returns the bytes read. */
static size_t raw_read(struct peer_raw *r, unsigned char *p, size_t n,
                       int until_eof)
{
    long long end = peer_now_ms() + PEER_WAIT_MS;
    size_t got = 0;
    unsigned char sink[4096];
    while (until_eof || got < n) {
        long long left = end - peer_now_ms();
        if (left <= 0) {
            peer_fail("timeout", "read");
        }
        long long k = until_eof
                          ? peer_raw_read_some(r, sink, sizeof(sink), left)
                          : peer_raw_read_some(r, p + got, n - got, left);
        if (k < 0) {
            continue; /* nothing yet */
        }
        if (k == 0) {
            if (until_eof) {
                break;
            }
            peer_fail("closed", "peer closed");
        }
        got += (size_t)k;
    }
    return got;
}

static void raw_step(struct peer_raw *r, const char *step)
{
    size_t len;
    if (strncmp(step, "send:", 5) == 0) {
        raw_write(r, (const unsigned char *)step + 5, strlen(step + 5));
    } else if (strncmp(step, "hex:", 4) == 0) {
        unsigned char *bytes = decode_hex(step + 4, &len);
        raw_write(r, bytes, len);
        free(bytes);
    } else if (strncmp(step, "pattern:", 8) == 0) {
        len = strtoul(step + 8, NULL, 10);
        unsigned char *bytes = make_pattern(len);
        raw_write(r, bytes, len);
        free(bytes);
    } else if (strncmp(step, "chunk:", 6) == 0) {
        chunk = strtoul(step + 6, NULL, 10);
    } else if (strcmp(step, "readframe") == 0) {
        unsigned char head[4];
        raw_read(r, head, 4, 0);
        len = (size_t)head[0] << 24 | (size_t)head[1] << 16 |
              (size_t)head[2] << 8 | head[3];
        unsigned char *body = peer_xmalloc(len);
        raw_read(r, body, len, 0);
        print_bytes("frame", body, len);
        free(body);
    } else if (strcmp(step, "eof") == 0) {
        raw_read(r, NULL, 0, 1);
        printf("eof\n");
    } else if (strncmp(step, "sleep:", 6) == 0) {
        peer_sleep_ms(strtol(step + 6, NULL, 10));
    } else if (strncmp(step, "await-file:", 11) == 0) {
        await_file(step + 11);
    } else if (strcmp(step, "close") == 0) {
        peer_raw_close(r);
    } else {
        peer_fail("usage", "unknown step");
    }
}

/* ---- soak (scripts/soak) ---------------------------------------------- */

static long long soak_sessions, soak_messages, soak_bytes, soak_errors;

static double soak_now_s(void)
{
    return (double)peer_now_ms() / 1e3;
}

static void soak_error(const char *role, const char *what, int rc)
{
    soak_errors++;
    fprintf(stderr, "soak: %s: %s: %s (%d): %s\n", role, what, ipc_errname(rc),
            rc, ipc_last_error());
}

static int soak_server(const char *name, double secs)
{
    double end = soak_now_s() + secs;
    /* After the end, keep serving while clients still come. */
    double idle_until = end + 3.0;
    while (soak_now_s() < idle_until) {
        int h = ipc_create_timeout(name, 250);
        if (h == IPC_ETIMEDOUT) {
            continue;
        }
        if (h < 0) {
            soak_error("server", "create", h);
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
                soak_error("server", "recv", rc);
                break;
            }
            rc = ipc_send(h, d, n);
            ipc_free(d);
            if (rc != 0) {
                soak_error("server", "send", rc);
                break;
            }
            soak_messages++;
            soak_bytes += (long long)n;
        }
        ipc_close(h);
        soak_sessions++;
        if (soak_now_s() < end) {
            idle_until = end + 3.0;
        } else {
            idle_until = soak_now_s() + 1.0;
        }
    }
    return 0;
}

static uint64_t soak_rnd(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t soak_size(uint64_t *s)
{
    uint64_t r = soak_rnd(s) % 100;
    if (r < 5) {
        return 0;
    }
    if (r < 75) {
        return soak_rnd(s) % 256;
    }
    if (r < 97) {
        return soak_rnd(s) % (64 * 1024);
    }
    return soak_rnd(s) % (4u << 20);
}

/* Valid UTF-8 (ASCII, 2-, 3- and 4-byte sequences) or arbitrary bytes. */
static void soak_fill(unsigned char *p, size_t n, uint64_t *s)
{
    if (soak_rnd(s) % 2) {
        for (size_t i = 0; i < n; i++) {
            p[i] = (unsigned char)soak_rnd(s);
        }
        return;
    }
    static const char *pieces[] = {
        "a",           "Z", " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\xe6\x97\xa5"};
    size_t i = 0;
    while (i < n) {
        const char *pc = pieces[soak_rnd(s) % 7];
        size_t k = strlen(pc);
        if (i + k > n) {
            pc = "x";
            k = 1;
        }
        memcpy(p + i, pc, k);
        i += k;
    }
}

static int soak_client(const char *name, double secs, uint64_t seed)
{
    double end = soak_now_s() + secs;
    size_t cap = 4u << 20;
    unsigned char *buf = malloc(cap);
    if (buf == NULL) {
        fprintf(stderr, "soak: client: out of memory\n");
        return 1;
    }
    while (soak_now_s() < end && soak_errors == 0) {
        int h = ipc_connect_timeout(name, 30000);
        if (h < 0) {
            soak_error("client", "connect", h);
            break;
        }
        int count = 1 + (int)(soak_rnd(&seed) % 200);
        for (int i = 0; i < count && soak_errors == 0; i++) {
            size_t n = soak_size(&seed);
            soak_fill(buf, n, &seed);
            int rc = ipc_send(h, buf, n);
            if (rc != 0) {
                soak_error("client", "send", rc);
                break;
            }
            void *d;
            size_t got;
            rc = ipc_recv(h, &d, &got);
            if (rc != 0) {
                soak_error("client", "recv", rc);
                break;
            }
            if (got != n || memcmp(d, buf, n) != 0) {
                soak_errors++;
                fprintf(stderr,
                        "soak: client: the echo of a %zu-byte message came "
                        "back as %zu bytes%s\n",
                        n, got, got == n ? " with different content" : "");
            }
            ipc_free(d);
            soak_messages++;
            soak_bytes += (long long)n;
        }
        ipc_close(h);
        soak_sessions++;
    }
    free(buf);
    return 0;
}

/* soak-server NAME SECONDS / soak-client NAME SECONDS SEED: one summary
 * line "soak: ROLE NAME sessions=S messages=M bytes=B errors=E"; exit 0
 * only when E is 0. */
static int run_soak(const char *role, const char *name, double secs,
                    uint64_t seed)
{
    if (strcmp(role, "server") == 0) {
        soak_server(name, secs);
    } else {
        soak_client(name, secs, seed);
    }
    printf("soak: %s %s sessions=%lld messages=%lld bytes=%lld errors=%lld\n",
           role, name, soak_sessions, soak_messages, soak_bytes, soak_errors);
    return soak_errors == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    peer_os_start(LIFETIME_S);
    if (argc < 3) {
        fprintf(stderr, "usage: see kiwi_peer.c\n");
        return 2;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "interrupt") == 0) {
        if (argc < 4) {
            fprintf(stderr, "usage: kiwi_peer interrupt DELAY_MS CMD...\n");
            return 2;
        }
        return peer_run_interrupted(strtol(argv[2], NULL, 10), argv + 3);
    }
    const char *name = argv[2];
    if (strcmp(mode, "soak-server") == 0 || strcmp(mode, "soak-client") == 0) {
        if (argc < 4) {
            fprintf(stderr, "usage: kiwi_peer soak-server NAME SECONDS\n"
                            "       kiwi_peer soak-client NAME SECONDS SEED\n");
            return 2;
        }
        peer_os_start(0); /* a soak runs for minutes */
        uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 0) : 1;
        return run_soak(mode + 5, name, atof(argv[3]), seed);
    }
    if (strcmp(mode, "stale") == 0) {
        peer_make_stale(name);
        return 0;
    }
    if (strcmp(mode, "raw") == 0) {
        struct peer_raw *r = peer_raw_connect(name);
        printf("connected\n");
        for (char **step = expand_steps(argc, argv); *step != NULL; step++) {
            step_name = *step;
            raw_step(r, *step);
        }
        printf("done\n");
        return 0;
    }
    int h;
    if (strcmp(mode, "server") == 0) {
        h = ipc_create_timeout(name, PEER_WAIT_MS);
    } else if (strcmp(mode, "client") == 0) {
        h = ipc_connect_timeout(name, PEER_WAIT_MS);
    } else {
        fprintf(stderr, "kiwi_peer: unknown mode %s\n", mode);
        return 2;
    }
    if (h < 0) {
        peer_fail_ipc(h);
    }
    printf("connected\n");
    for (char **step = expand_steps(argc, argv); *step != NULL; step++) {
        step_name = *step;
        pipe_step(h, *step);
    }
    ipc_close(h);
    printf("done\n");
    return 0;
}
