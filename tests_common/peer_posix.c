/*
 * peer_posix.c - peer_os.h on POSIX: CLOCK_MONOTONIC, a bare Unix socket
 * for raw bytes, a socket file nobody listens on (stale), and the
 * interrupt runner (fork, SIGINT). alarm() bounds the peer's lifetime.
 */
#define _POSIX_C_SOURCE 200809L

#include "peer_os.h"

#include <kiwi_ipc.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void peer_os_start(int lifetime_s)
{
    signal(SIGPIPE, SIG_IGN);
    alarm((unsigned)lifetime_s);
}

const char *peer_os_error(void)
{
    return strerror(errno);
}

long long peer_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void peer_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int peer_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- raw mode: a bare socket ------------------------------------------ */

struct peer_raw {
    int fd;
};

/* The Unix socket address of pipe `name`, as the library maps it. */
static void socket_address(const char *name, struct sockaddr_un *addr)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    int rc = ipc_path(name, addr->sun_path, sizeof(addr->sun_path));
    if (rc < 0) {
        peer_fail_ipc(rc);
    }
}

struct peer_raw *peer_raw_connect(const char *name)
{
    struct sockaddr_un addr;
    socket_address(name, &addr);
    long long end = peer_now_ms() + PEER_WAIT_MS;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) {
            peer_fail_os("socket");
        }
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            struct peer_raw *r = peer_xmalloc(sizeof(*r));
            r->fd = fd;
            return r;
        }
        if ((errno != ENOENT && errno != ECONNREFUSED) || peer_now_ms() > end) {
            peer_fail_os("connect");
        }
        close(fd);
        peer_sleep_ms(5);
    }
}

size_t peer_raw_write_some(struct peer_raw *r, const unsigned char *p, size_t n)
{
    for (;;) {
        ssize_t w = write(r->fd, p, n);
        if (w >= 0) {
            return (size_t)w;
        }
        if (errno != EINTR) {
            peer_fail_os("write");
        }
    }
}

long long peer_raw_read_some(struct peer_raw *r, unsigned char *p, size_t n,
                             long long left_ms)
{
    struct pollfd pfd = {r->fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)left_ms) < 0 && errno != EINTR) {
        peer_fail_os("poll");
    }
    if (pfd.revents == 0) {
        return -1;
    }
    ssize_t k = read(r->fd, p, n);
    if (k < 0 && errno == EINTR) {
        return -1;
    }
    if (k < 0) {
        peer_fail_os("read");
    }
    return k;
}

void peer_raw_close(struct peer_raw *r)
{
    close(r->fd);
}

/* ---- stale mode ------------------------------------------------------- */

void peer_make_stale(const char *name)
{
    struct sockaddr_un addr;
    socket_address(name, &addr);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        peer_fail_os("bind");
    }
    /* Exit without unlinking: the file stays, and nobody listens. */
    printf("stale %s\n", addr.sun_path);
}

/* ---- interrupt mode ---------------------------------------------------- */

static int has_ready_line(const char *out, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++) {
        if ((i == 0 || out[i - 1] == '\n') &&
            memcmp(out + i, "READY\n", 6) == 0) {
            return 1;
        }
    }
    return 0;
}

int peer_run_interrupted(long delay_ms, char **argv)
{
    int fds[2];
    if (pipe(fds) != 0) {
        peer_fail_os("pipe");
    }
    pid_t pid = fork();
    if (pid < 0) {
        peer_fail_os("fork");
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        signal(SIGINT, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);

    /* Collect the output; interrupt once the script says it is ready. */
    char *out = peer_xmalloc(1);
    size_t out_len = 0;
    long long end = peer_now_ms() + 2 * PEER_WAIT_MS; /* until READY */
    long long sigint_at = -1, output_at = -1;
    int hung = 0;
    for (;;) {
        if (sigint_at < 0 && has_ready_line(out, out_len)) {
            peer_sleep_ms(delay_ms);
            kill(pid, SIGINT);
            sigint_at = peer_now_ms();
            end = sigint_at + PEER_WAIT_MS; /* until it ends */
        }
        long long left = end - peer_now_ms();
        if (left <= 0) {
            hung = 1;
            break;
        }
        struct pollfd pfd = {fds[0], POLLIN, 0};
        if (poll(&pfd, 1, (int)left) <= 0) {
            continue;
        }
        char buf[4096];
        ssize_t r = read(fds[0], buf, sizeof(buf));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        out = realloc(out, out_len + (size_t)r + 1);
        if (out == NULL) {
            peer_fail("no_memory", "realloc");
        }
        memcpy(out + out_len, buf, (size_t)r);
        out_len += (size_t)r;
        if (sigint_at >= 0 && output_at < 0) {
            output_at = peer_now_ms();
        }
    }
    if (hung) {
        kill(pid, SIGKILL);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    long long ended = peer_now_ms();
    close(fds[0]);

    fwrite(out, 1, out_len, stdout);
    if (out_len > 0 && out[out_len - 1] != '\n') {
        printf("\n");
    }
    free(out);
    if (hung) {
        printf("HUNG\n");
    } else if (WIFEXITED(status)) {
        printf("status exit %d\n", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        printf("status signal %d\n", WTERMSIG(status));
    }
    if (sigint_at >= 0) {
        printf("sigint-to-output-ms %lld\n",
               (output_at >= 0 ? output_at : ended) - sigint_at);
        printf("sigint-to-exit-ms %lld\n", ended - sigint_at);
    } else {
        printf("no READY\n");
    }
    return hung;
}
