/*
 * raw.c - the raw C baselines: the same protocol written by hand on a Unix
 * stream socket, with no library in between.
 *
 *   raw_c writev ...  header and payload in one writev(); a reader with a
 *                     256 KiB buffer (small frames cost one read() per
 *                     buffer-full; a payload that still needs at least half
 *                     the buffer is read straight into the message). This is
 *                     the practical limit on this machine.
 *   raw_c naive ...   what Kiwi itself does: write() the header, write() the
 *                     payload; read() exactly 4 bytes, then exactly N.
 *
 * Both hand every received message over in a malloc()ed buffer of its own,
 * as ipc_recv() does, and free it before the next: the contract being
 * compared is "receive one message as a buffer the caller owns".
 *
 * As the client of the "paced" and "sliced" workloads, `raw_c writev` is
 * the writer for every contender (bench/run runs it): each frame goes out
 * in pieces of BENCH_PIECE bytes, BENCH_PAUSE_MS apart, so that only the
 * receivers differ.
 * Arguments after the variant: see bench.h.
 */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define RBUF_SIZE (256 * 1024)

struct conn {
    int fd;
    int naive;
    unsigned char *buf; /* RBUF_SIZE bytes; unread ones are buf[pos..len) */
    size_t pos, len;
};

static void die_errno(const char *what)
{
    fprintf(stderr, "raw_c: %s: %s\n", what, strerror(errno));
    exit(1);
}

static struct sockaddr_un address(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        bench_die("socket path too long");
    }
    strcpy(sa.sun_path, path);
    return sa;
}

static int open_server(const char *path)
{
    struct sockaddr_un sa = address(path);
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0) {
        die_errno("socket");
    }
    unlink(path);
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        die_errno("bind");
    }
    if (listen(ls, 1) != 0) {
        die_errno("listen");
    }
    int fd;
    while ((fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        if (errno != EINTR) {
            die_errno("accept");
        }
    }
    close(ls);
    unlink(path);
    return fd;
}

static int open_client(const char *path)
{
    struct sockaddr_un sa = address(path);
    double give_up = bench_now() + 30.0;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            die_errno("socket");
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            return fd;
        }
        int e = errno;
        close(fd);
        if ((e != ENOENT && e != ECONNREFUSED) || bench_now() > give_up) {
            errno = e;
            die_errno("connect");
        }
        usleep(1000); /* the server has not bound yet */
    }
}

/* ---- send ---------------------------------------------------------------- */

static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die_errno("write");
        }
        p += n;
        len -= (size_t)n;
    }
}

static void put_header(unsigned char hdr[4], size_t len)
{
    uint32_t n = (uint32_t)len;
    hdr[0] = (unsigned char)(n >> 24);
    hdr[1] = (unsigned char)(n >> 16);
    hdr[2] = (unsigned char)(n >> 8);
    hdr[3] = (unsigned char)n;
}

static void send_msg(struct conn *c, const void *data, size_t len)
{
    unsigned char hdr[4];
    put_header(hdr, len);
    if (c->naive) {
        write_all(c->fd, hdr, 4);
        write_all(c->fd, data, len);
        return;
    }
    struct iovec iov[2] = {{hdr, 4}, {(void *)data, len}};
    struct iovec *v = iov;
    int nv = 2;
    while (nv > 0) {
        ssize_t n = writev(c->fd, v, nv);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die_errno("writev");
        }
        size_t done = (size_t)n;
        while (nv > 0 && done >= v->iov_len) {
            done -= v->iov_len;
            v++;
            nv--;
        }
        if (nv > 0) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
}

/* The frame in pieces (the paced workloads), pausing after each but the
 * last: the receiver gets it a piece at a time. */
static void send_in_pieces(struct conn *c, const char *data, size_t len)
{
    unsigned char hdr[4];
    put_header(hdr, len);
    write_all(c->fd, hdr, 4);
    for (size_t at = 0; at < len;) {
        size_t k = len - at < BENCH_PIECE ? len - at : BENCH_PIECE;
        write_all(c->fd, data + at, k);
        at += k;
        if (at < len) {
            struct timespec pause = {0, BENCH_PAUSE_MS * 1000000L};
            while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
            }
        }
    }
}

/* ---- receive ------------------------------------------------------------- */

static size_t read_some(int fd, void *buf, size_t cap)
{
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n > 0) {
            return (size_t)n;
        }
        if (n == 0) {
            bench_die("the peer closed the connection");
        }
        if (errno != EINTR) {
            die_errno("read");
        }
    }
}

static void read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        size_t n = read_some(fd, p, len);
        p += n;
        len -= n;
    }
}

/* Buffered: make at least `want` (<= RBUF_SIZE) unread bytes available. */
static void fill(struct conn *c, size_t want)
{
    if (c->len - c->pos >= want) {
        return;
    }
    memmove(c->buf, c->buf + c->pos, c->len - c->pos);
    c->len -= c->pos;
    c->pos = 0;
    while (c->len < want) {
        c->len += read_some(c->fd, c->buf + c->len, RBUF_SIZE - c->len);
    }
}

static char *recv_msg(struct conn *c, size_t *len)
{
    unsigned char hdr[4];
    if (c->naive) {
        read_all(c->fd, hdr, 4);
    } else {
        fill(c, 4);
        memcpy(hdr, c->buf + c->pos, 4);
        c->pos += 4;
    }
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                 (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3];
    if (n > INT32_MAX) {
        bench_die("negative length");
    }
    char *msg = malloc(n ? n : 1);
    if (msg == NULL) {
        bench_die("out of memory");
    }
    if (c->naive) {
        read_all(c->fd, msg, n);
    } else {
        size_t have = 0;
        while (have < n) {
            size_t rest = n - have;
            if (c->pos == c->len && rest >= RBUF_SIZE / 2) {
                have += read_some(c->fd, msg + have, rest);
                continue;
            }
            fill(c, 1);
            size_t take = c->len - c->pos < rest ? c->len - c->pos : rest;
            memcpy(msg + have, c->buf + c->pos, take);
            c->pos += take;
            have += take;
        }
    }
    *len = n;
    return msg;
}

/* ---- the two workloads --------------------------------------------------- */

/* Not inlined, so that callgrind can collect just this loop
 * (--toggle-collect=bench_pingpong). */
__attribute__((noinline)) static void
bench_pingpong(struct conn *c, const struct bench_args *a, const char *payload)
{
    long warm = bench_warmup(a->count);
    double t0 = 0;
    for (long i = 0; i < warm + a->count; i++) {
        if (i == warm) {
            t0 = bench_now();
        }
        size_t len;
        char *msg;
        if (a->server) {
            msg = recv_msg(c, &len);
            send_msg(c, msg, len);
        } else {
            send_msg(c, payload, a->size);
            msg = recv_msg(c, &len);
            bench_check(msg, len, a->size);
        }
        free(msg);
    }
    if (!a->server) {
        bench_report(bench_now() - t0);
    }
}

static void stream(struct conn *c, const struct bench_args *a,
                   const char *payload)
{
    size_t len;
    char *msg;
    if (a->server) {
        if (a->sliced) {
            bench_die("raw_c has no receive that times out (sliced)");
        }
        double t0 = bench_now();
        send_msg(c, "g", 1);
        for (long i = 0; i < a->count; i++) {
            msg = recv_msg(c, &len);
            bench_check(msg, len, a->size);
            free(msg);
        }
        bench_report(bench_now() - t0);
    } else {
        msg = recv_msg(c, &len); /* "go" */
        free(msg);
        for (long i = 0; i < a->count; i++) {
            if (a->paced) {
                send_in_pieces(c, payload, a->size);
            } else {
                send_msg(c, payload, a->size);
            }
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 ||
        (strcmp(argv[1], "writev") != 0 && strcmp(argv[1], "naive") != 0)) {
        fprintf(stderr,
                "usage: %s writev|naive ROLE WORKLOAD PATH COUNT "
                "SIZE\n",
                argv[0]);
        return 2;
    }
    struct bench_args a;
    bench_parse(argc, argv, 2, &a);
    signal(SIGPIPE, SIG_IGN);

    struct conn c = {.naive = strcmp(argv[1], "naive") == 0};
    c.buf = malloc(RBUF_SIZE);
    char *payload = a.server ? NULL : bench_payload(a.size);
    c.fd = a.server ? open_server(a.path) : open_client(a.path);
    if (a.pingpong) {
        bench_pingpong(&c, &a, payload);
    } else {
        stream(&c, &a, payload);
    }
    close(c.fd);
    free(payload);
    free(c.buf);
    return 0;
}
