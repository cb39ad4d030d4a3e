/*
 * peer.c - the C peer of the cross-language interop matrix.
 *
 * Usage: peer ROLE NAME VECTORS [OPTION...]
 *   ROLE     server (ipc_create) or client (ipc_connect)
 *   NAME     the pipe name, passed to kiwi-ipc as is
 *   VECTORS  the vector file (tests_interop/vectors.txt)
 *   OPTION   quick         leave out the vectors flagged "large"
 *            text          leave out the vectors flagged "binary"
 *            send-close=N  instead of the exchange: send N messages, close
 *            recv-close=N  instead of the exchange: receive N messages, then
 *                          expect the peer's clean close
 *
 * The protocol every peer follows is described in tests_interop/README.md.
 * Prints READY before it creates or connects and "OK sent=S received=R" at
 * the end; exits 0 on success, 1 on a failure (explained on stderr), 2 on a
 * usage error.
 */
#include <kiwi_ipc.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vector {
    char name[64];
    int large;
    int binary;
    int burst;   /* 0: one message; otherwise the number of messages */
    char *bytes; /* the message, or the burst's prefix */
    size_t len;
};

static const char *role = "?";
static long sent, received;

static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "peer.c %s: ", role);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void die_ipc(const char *call, int status)
{
    die("%s failed: %s (%s)", call, ipc_errname(status), ipc_last_error());
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        die("out of memory (%zu bytes)", n);
    }
    return p;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decode HEX ("-" is no bytes) into a new buffer. */
static char *unhex(const char *hex, size_t *len)
{
    if (strcmp(hex, "-") == 0) {
        *len = 0;
        return xmalloc(0);
    }
    size_t n = strlen(hex);
    if (n % 2) {
        die("odd-length hex string");
    }
    char *out = xmalloc(n / 2);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            die("bad hex digit");
        }
        out[i] = (char)(hi * 16 + lo);
    }
    *len = n / 2;
    return out;
}

/* Read the vector file; returns the number of vectors in *out. */
static size_t load_vectors(const char *path, struct vector **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        die("cannot open %s: %s", path, strerror(errno));
    }
    struct vector *v = NULL;
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#') {
            continue;
        }
        char *field[5] = {0};
        int nf = 0;
        for (char *tok = strtok(line, " "); tok && nf < 5;
             tok = strtok(NULL, " ")) {
            field[nf++] = tok;
        }
        if (nf < 4) {
            die("bad vector line: %s", line);
        }
        v = realloc(v, (n + 1) * sizeof *v);
        if (!v) {
            die("out of memory");
        }
        struct vector *cur = &v[n++];
        memset(cur, 0, sizeof *cur);
        snprintf(cur->name, sizeof cur->name, "%s", field[0]);
        cur->large = strstr(field[1], "large") != NULL;
        cur->binary = strstr(field[1], "binary") != NULL;
        if (strcmp(field[2], "hex") == 0) {
            cur->bytes = unhex(field[3], &cur->len);
        } else if (strcmp(field[2], "repeat") == 0 && nf == 5) {
            size_t plen;
            char *pattern = unhex(field[3], &plen);
            size_t count = strtoul(field[4], NULL, 10);
            cur->len = plen * count;
            cur->bytes = xmalloc(cur->len);
            for (size_t i = 0; i < count; i++) {
                memcpy(cur->bytes + i * plen, pattern, plen);
            }
            free(pattern);
        } else if (strcmp(field[2], "burst") == 0 && nf == 5) {
            cur->burst = atoi(field[3]);
            cur->bytes = unhex(field[4], &cur->len);
        } else {
            die("unknown vector kind: %s", field[2]);
        }
    }
    free(line);
    fclose(f);
    *out = v;
    return n;
}

/* Message i of a burst: the prefix followed by i in decimal. */
static char *burst_message(const struct vector *v, int i, size_t *len)
{
    char num[16];
    int k = snprintf(num, sizeof num, "%d", i);
    char *m = xmalloc(v->len + (size_t)k);
    memcpy(m, v->bytes, v->len);
    memcpy(m + v->len, num, (size_t)k);
    *len = v->len + (size_t)k;
    return m;
}

static void send_msg(int h, const void *data, size_t len)
{
    int rc = ipc_send(h, data, len);
    if (rc < 0) {
        die_ipc("ipc_send", rc);
    }
    sent++;
}

/* Receive one message and check that it is exactly `want`. */
static void expect(int h, const char *what, const void *want, size_t wlen)
{
    void *got;
    size_t len;
    int rc = ipc_recv(h, &got, &len);
    if (rc < 0) {
        die("ipc_recv (waiting for %s) failed: %s (%s)", what, ipc_errname(rc),
            ipc_last_error());
    }
    received++;
    if (len != wlen || memcmp(got, want, len) != 0) {
        size_t at = 0;
        while (at < len && at < wlen &&
               ((char *)got)[at] == ((char *)want)[at]) {
            at++;
        }
        die("%s: got %zu bytes, want %zu; first difference at byte %zu", what,
            len, wlen, at);
    }
    ipc_free(got);
}

/* One vector, this side leading (send, then check the echo) or following
 * (check, then echo). A burst goes out whole before anything comes back. */
static void run_vector(int h, const struct vector *v, int lead)
{
    if (!v->burst) {
        if (lead) {
            send_msg(h, v->bytes, v->len);
            expect(h, v->name, v->bytes, v->len);
        } else {
            expect(h, v->name, v->bytes, v->len);
            send_msg(h, v->bytes, v->len);
        }
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
        int sending = (pass == 0) == (lead != 0);
        for (int i = 0; i < v->burst; i++) {
            size_t len;
            char *m = burst_message(v, i, &len);
            if (sending) {
                send_msg(h, m, len);
            } else {
                char what[96];
                snprintf(what, sizeof what, "%s #%d", v->name, i);
                expect(h, what, m, len);
            }
            free(m);
        }
    }
}

static void expect_closed(int h)
{
    void *got;
    size_t len;
    int rc = ipc_recv(h, &got, &len);
    if (rc == 0) {
        ipc_free(got);
        die("expected the peer's close, got a message of %zu bytes", len);
    }
    if (rc != IPC_ECLOSED) {
        die_ipc("ipc_recv (waiting for the close)", rc);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "server") && strcmp(argv[1], "client"))) {
        fprintf(stderr, "usage: peer server|client NAME VECTORS [quick] [text] "
                        "[send-close=N|recv-close=N]\n");
        return 2;
    }
    role = argv[1];
    int server = strcmp(role, "server") == 0;
    const char *name = argv[2];
    int quick = 0, text = 0, send_close = -1, recv_close = -1;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "text") == 0) {
            text = 1;
        } else if (strncmp(argv[i], "send-close=", 11) == 0) {
            send_close = atoi(argv[i] + 11);
        } else if (strncmp(argv[i], "recv-close=", 11) == 0) {
            recv_close = atoi(argv[i] + 11);
        } else {
            fprintf(stderr, "peer.c: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    struct vector *vec;
    size_t nvec = load_vectors(argv[3], &vec);

    printf("READY\n");
    fflush(stdout);
    int h = server ? ipc_create(name) : ipc_connect(name);
    if (h < 0) {
        die_ipc(server ? "ipc_create" : "ipc_connect", h);
    }

    if (send_close >= 0) {
        for (int i = 1; i <= send_close; i++) {
            char m[64];
            int len = snprintf(m, sizeof m, "message %d of %d", i, send_close);
            send_msg(h, m, (size_t)len);
        }
        ipc_close(h);
        printf("OK sent=%ld received=%ld\n", sent, received);
        return 0;
    }
    if (recv_close >= 0) {
        for (int i = 1; i <= recv_close; i++) {
            char m[64];
            int len = snprintf(m, sizeof m, "message %d of %d", i, recv_close);
            expect(h, m, m, (size_t)len);
        }
        expect_closed(h);
        ipc_close(h);
        printf("OK sent=%ld received=%ld closed\n", sent, received);
        return 0;
    }

    /* Phase 1: the server leads through every vector. Phase 2: the client
     * leads, large vectors left out (they have crossed both ways already). */
    for (int phase = 1; phase <= 2; phase++) {
        int lead = (phase == 1) == server;
        for (size_t i = 0; i < nvec; i++) {
            if ((text && vec[i].binary) ||
                (vec[i].large && (quick || phase == 2))) {
                continue;
            }
            run_vector(h, &vec[i], lead);
        }
    }
    /* The server closes first; the client must see a clean close. */
    if (!server) {
        expect_closed(h);
    }
    ipc_close(h);
    printf("OK sent=%ld received=%ld\n", sent, received);
    for (size_t i = 0; i < nvec; i++) {
        free(vec[i].bytes);
    }
    free(vec);
    return 0;
}
