/*
 * spawn_posix.c - --exec's command on POSIX (tool_os.h): fork, /bin/sh -c CMD
 * with its stdin and stdout on pipes, in a process group of its own,
 * waitpid, SIGTERM and SIGKILL to that group.
 *
 * Why a group: the shell runs CMD's commands as its children, and they
 * hold its stdout too. Signalling the shell alone left `sleep 30; echo
 * late` running, and the tool waiting for the end of a stdout the sleep
 * still held. The group is made in the child (before exec) and in the
 * parent (before either goes on), so that it exists whichever runs first.
 * To a terminal it is a background group: a Ctrl-C typed there reaches
 * the tool alone, which then stops CMD's group at once.
 */
#include "kiwi.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

const char kiwi_shell_text[] = "/bin/sh -c";

struct kiwi_child {
    pid_t pid;
    int wstatus;
    atomic_int reaped; /* kiwi_child_stop() reads it from another thread */
};

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

struct kiwi_child *kiwi_child_start(const char *cmd, int *to_cmd, int *from_cmd)
{
    struct kiwi_child *c = calloc(1, sizeof(*c));
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (c == NULL || cloexec_pipe(in) < 0 || cloexec_pipe(out) < 0) {
        kiwi_error("--exec: %s", strerror(errno));
        goto fail;
    }
    c->pid = fork();
    if (c->pid < 0) {
        kiwi_error("--exec: fork: %s", strerror(errno));
        goto fail;
    }
    if (c->pid == 0) {
        /* The child: CMD gets the pipes as stdin and stdout, keeps our
         * stderr, and the default signal handling (we ignore SIGPIPE). */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        (void)setpgid(0, 0);
        if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0) {
            _exit(127);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* Fails (EACCES) only once the child has run exec, by which time it
     * has made the group itself. */
    (void)setpgid(c->pid, c->pid);
    close(in[0]);
    close(out[1]);
    *to_cmd = in[1];
    *from_cmd = out[0];
    return c;

fail:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0) {
            close(in[i]);
        }
        if (out[i] >= 0) {
            close(out[i]);
        }
    }
    free(c);
    return NULL;
}

long kiwi_child_pid(const struct kiwi_child *c)
{
    return (long)c->pid;
}

int kiwi_child_exited(struct kiwi_child *c)
{
    if (!atomic_load(&c->reaped)) {
        pid_t r = waitpid(c->pid, &c->wstatus, WNOHANG);
        if (r == c->pid || (r < 0 && errno != EINTR)) {
            atomic_store(&c->reaped, 1);
        }
    }
    return atomic_load(&c->reaped);
}

void kiwi_child_stop(struct kiwi_child *c, int step)
{
    int sig = step == 1 ? SIGTERM : SIGKILL;
    /* The group's id is CMD's pid, which no other process can take while
     * the group has a member (or CMD is not yet reaped); signalling an
     * empty group is ESRCH, as a shell's `kill %job` after the job ended.
     * Had the child's setpgid failed, there is no such group: signal CMD
     * alone, while it is still ours (not reaped). */
    if (kill(-c->pid, sig) < 0 && errno == ESRCH && !atomic_load(&c->reaped)) {
        kill(c->pid, sig);
    }
}

int kiwi_child_failed(const struct kiwi_child *c, int peer_gone, int output_cut,
                      char *why, size_t size)
{
    (void)output_cut;
    int w = c->wstatus;
    /* A command that died of SIGPIPE writing to us after the peer had
     * gone (and we had stopped reading) did nothing wrong. */
    if (peer_gone && WIFSIGNALED(w) && WTERMSIG(w) == SIGPIPE) {
        return 0;
    }
    if (WIFEXITED(w) && WEXITSTATUS(w) != 0) {
        snprintf(why, size, "exited with status %d", WEXITSTATUS(w));
        return 1;
    }
    if (WIFSIGNALED(w)) {
        snprintf(why, size, "was killed by signal %d", WTERMSIG(w));
        return 1;
    }
    return 0;
}

void kiwi_child_free(struct kiwi_child *c)
{
    if (!atomic_load(&c->reaped)) {
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    free(c);
}
