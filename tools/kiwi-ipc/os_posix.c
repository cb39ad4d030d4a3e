/*
 * os_posix.c - the process on POSIX (tool_os.h): main, signals, threads that
 * leave SIGINT and SIGTERM to the main thread, time, files and lines.
 */
#include "kiwi.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    /* The command line is already bytes, UTF-8 in any sane locale. */
    return kiwi_main(argc, argv);
}

static void on_signal(int sig)
{
    atomic_store(&kiwi_signalled, sig);
}

void kiwi_os_setup(void)
{
    /* No SA_RESTART: a signal must interrupt our own write() and read()
     * too, not only the library's waits. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed stdout or --exec command is an error to report, not death. */
    signal(SIGPIPE, SIG_IGN);
}

void kiwi_os_die_of_signal(int sig)
{
    /* Die of the signal, as the shell expects of a program it
     * interrupted. */
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(128 + sig);
}

struct kiwi_thread {
    pthread_t t;
};

/* Start a thread with SIGINT and SIGTERM blocked, so that they go to the
 * main thread, whose write() and waits they must interrupt. */
int kiwi_thread_start(kiwi_thread **t, void *(*fn)(void *), void *arg)
{
    kiwi_thread *k = malloc(sizeof(*k));
    if (k == NULL) {
        return -1;
    }
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(&k->t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        free(k);
        return -1;
    }
    *t = k;
    return 0;
}

void kiwi_thread_join(kiwi_thread *t)
{
    pthread_join(t->t, NULL);
    free(t);
}

void kiwi_thread_detach(kiwi_thread *t)
{
    pthread_detach(t->t);
    free(t);
}

void kiwi_sleep_ms(int ms)
{
    const struct timespec slice = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&slice, NULL);
}

long long kiwi_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int kiwi_open_read(const char *path)
{
    return open(path, O_RDONLY | O_CLOEXEC);
}

ssize_t kiwi_getline(char **line, size_t *cap, FILE *in)
{
    ssize_t n = getline(line, cap, in);
    if (n > 0 && (*line)[n - 1] == '\n') {
        n--;
    }
    return n;
}

const int kiwi_crlf_lines = 0;
const short kiwi_poll_end_events = 0;

int kiwi_pipe_wait(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, ms);
    if (r < 0) {
        return errno == EINTR ? 0 : -1;
    }
    /* POLLHUP (the end) and POLLERR make read() return at once too. */
    return r > 0 ? 1 : 0;
}

long long kiwi_pipe_available(int fd)
{
    int n = 0;
    if (ioctl(fd, FIONREAD, &n) < 0) {
        return -1;
    }
    return n;
}
