/*
 * bridge.c - --exec CMD: run /bin/sh -c CMD; each received message becomes
 * a line on its stdin (session.c delivers them), and each line it writes
 * becomes a message (a thread here sends them). The bridge ends when CMD's
 * output ends (it has exited) or when the peer closes.
 */
#include "kiwi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* After the peer has gone, how long CMD may take to exit on its own once
 * its stdin is closed, before SIGTERM, and then before SIGKILL. */
#define GRACE_MS 1000

struct kiwi_bridge {
    pid_t pid;
    int to_cmd;   /* CMD's stdin, or -1 once closed */
    int from_cmd; /* CMD's stdout */
    pthread_t thread;
    int handle;
    const struct kiwi_options *o;
    atomic_int done;
    atomic_int peer_gone; /* the thread's send found the peer gone */
    int status;           /* the sending thread's exit status */
};

/* CMD's lines, each sent as a message. */
static void *send_output(void *arg)
{
    struct kiwi_bridge *b = arg;
    FILE *in = fdopen(b->from_cmd, "r");
    b->status = KIWI_EXIT_OK;
    if (in == NULL) {
        kiwi_error("--exec: %s", strerror(errno));
        close(b->from_cmd);
        b->status = KIWI_EXIT_FAIL;
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, in)) >= 0) {
            if (n > 0 && line[n - 1] == '\n') {
                n--;
            }
            int rc =
                ipc_send_timeout(b->handle, line, (size_t)n, b->o->timeout_ms);
            if (rc == IPC_ECLOSED) {
                /* The peer has gone; the session's receive may only see
                 * the stop flag, so say it here too. */
                atomic_store(&b->peer_gone, 1);
                break;
            }
            if (rc < 0) {
                b->status = kiwi_ipc_failure(rc);
                break;
            }
            kiwi_note(b->o, "sent %zd bytes (a line of --exec's output)", n);
        }
        free(line);
        /* Closing our end makes a CMD that still writes get SIGPIPE rather
         * than block forever. */
        fclose(in);
    }
    atomic_store(&b->done, 1);
    /* CMD's output has ended: stop the session's blocked receive. */
    atomic_store(&kiwi_stop, 1);
    return NULL;
}

/* A pipe whose ends are close-on-exec: pipe2() where the OS has it (Linux);
 * elsewhere (macOS) pipe() then FD_CLOEXEC, which is atomic enough here:
 * the tool forks no other child while the bridge starts. */
static int cloexec_pipe(int fds[2])
{
#ifdef __linux__
    return pipe2(fds, O_CLOEXEC);
#else
    if (pipe(fds) < 0) {
        return -1;
    }
    if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(fds[1], F_SETFD, FD_CLOEXEC) < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        fds[0] = fds[1] = -1;
        errno = e;
        return -1;
    }
    return 0;
#endif
}

struct kiwi_bridge *kiwi_bridge_start(int handle, const struct kiwi_options *o)
{
    struct kiwi_bridge *b = calloc(1, sizeof(*b));
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (b == NULL || cloexec_pipe(in) < 0 || cloexec_pipe(out) < 0) {
        kiwi_error("--exec: %s", strerror(errno));
        goto fail;
    }
    b->handle = handle;
    b->o = o;
    b->pid = fork();
    if (b->pid < 0) {
        kiwi_error("--exec: fork: %s", strerror(errno));
        goto fail;
    }
    if (b->pid == 0) {
        /* The child: CMD gets the pipes as stdin and stdout, keeps our
         * stderr, and the default signal handling (we ignore SIGPIPE). */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0) {
            _exit(127);
        }
        execl("/bin/sh", "sh", "-c", o->exec, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    b->to_cmd = in[1];
    b->from_cmd = out[0];
    kiwi_note(o, "started /bin/sh -c '%s' (pid %ld)", o->exec, (long)b->pid);
    if (kiwi_start_thread(&b->thread, send_output, b) != 0) {
        kiwi_error("--exec: cannot start a thread");
        close(b->to_cmd);
        close(b->from_cmd);
        kill(b->pid, SIGKILL);
        while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR) {
        }
        free(b);
        return NULL;
    }
    return b;

fail:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0) {
            close(in[i]);
        }
        if (out[i] >= 0) {
            close(out[i]);
        }
    }
    free(b);
    return NULL;
}

int kiwi_bridge_deliver(struct kiwi_bridge *b, const char *data, size_t len)
{
    if (kiwi_write_message(b->to_cmd, b->o->format, data, len) == 0) {
        return 0;
    }
    if (kiwi_signalled) {
        return KIWI_EXIT_SIGNAL;
    }
    if (errno != EPIPE) {
        kiwi_error("--exec: writing to the command: %s", strerror(errno));
    }
    return -1;
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int kiwi_bridge_finish(struct kiwi_bridge *b, int status, int peer_gone)
{
    if (b->to_cmd >= 0) {
        close(b->to_cmd); /* EOF on CMD's stdin: its cue to finish */
        b->to_cmd = -1;
    }
    /* Wait for CMD's output to be sent and for CMD to exit. Without a
     * reason to hurry, as long as it takes; after a signal or once the
     * peer has gone, GRACE_MS, then SIGTERM, then SIGKILL. */
    long long hurry_since = -1;
    int sent_term = 0, sent_kill = 0, killed_by_us = 0, wstatus = 0;
    int reaped = 0;
    const struct timespec slice = {0, 10 * 1000 * 1000};
    for (;;) {
        if (!reaped) {
            pid_t r = waitpid(b->pid, &wstatus, WNOHANG);
            if (r == b->pid || (r < 0 && errno != EINTR)) {
                reaped = 1;
            }
        }
        if (reaped && atomic_load(&b->done)) {
            break;
        }
        if (kiwi_signalled) {
            status = KIWI_EXIT_SIGNAL;
        }
        if (hurry_since < 0 && (peer_gone || atomic_load(&b->peer_gone) ||
                                status == KIWI_EXIT_SIGNAL)) {
            hurry_since = now_ms();
        }
        if (hurry_since >= 0 && !reaped) {
            long long waited = now_ms() - hurry_since;
            /* After a signal, no grace: the user asked to stop. */
            long long grace = status == KIWI_EXIT_SIGNAL ? 0 : GRACE_MS;
            if (!sent_term && waited >= grace) {
                kill(b->pid, SIGTERM);
                sent_term = killed_by_us = 1;
            } else if (!sent_kill && waited >= grace + GRACE_MS) {
                kill(b->pid, SIGKILL);
                sent_kill = 1;
            }
        }
        nanosleep(&slice, NULL);
    }
    pthread_join(b->thread, NULL);

    if (status == KIWI_EXIT_OK) {
        status = b->status;
    }
    /* A command that died of SIGPIPE writing to us after the peer had
     * gone (and we had stopped reading) did nothing wrong. */
    int gone = peer_gone || atomic_load(&b->peer_gone);
    if (gone && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGPIPE) {
        killed_by_us = 1;
    }
    if (status == KIWI_EXIT_OK && !killed_by_us) {
        if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0) {
            kiwi_error("--exec: '%s' exited with status %d", b->o->exec,
                       WEXITSTATUS(wstatus));
            status = KIWI_EXIT_FAIL;
        } else if (WIFSIGNALED(wstatus)) {
            kiwi_error("--exec: '%s' was killed by signal %d", b->o->exec,
                       WTERMSIG(wstatus));
            status = KIWI_EXIT_FAIL;
        }
    }
    kiwi_note(b->o, "--exec's command has ended");
    free(b);
    return status;
}
