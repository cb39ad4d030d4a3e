/*
 * server.c - the server half of the Kiwi `ipc` reference's two-process
 * example, in C (server.kiwi). It spawns the client first, then creates the
 * pipe, which blocks until the client has connected; then ping, pong, quit.
 *
 * Usage: server [PIPE_NAME [CLIENT_PATH]]
 *   PIPE_NAME    defaults to "kiwi_demo_pipe" (/tmp/CoreFxPipe_kiwi_demo_pipe)
 *   CLIENT_PATH  defaults to the `client` program next to this one
 *
 * Expected output:
 *   Client connected (pid=12345)
 *   Server got: pong
 *   Done.
 */
#define _POSIX_C_SOURCE 200809L

#include <kiwi_ipc.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Report a failed kiwi-ipc call: its status and the detailed message. */
static int fail(const char *what, int status)
{
    fprintf(stderr, "server: %s failed: %s (%s)\n", what, ipc_strerror(status),
            ipc_last_error());
    return 1;
}

/* The client program: the file `client` in this program's directory. */
static int client_path(const char *argv0, char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1); /* Linux */

    if (n > 0) {
        self[n] = '\0';
    } else {
        snprintf(self, sizeof self, "%s", argv0);
    }
    const char *slash = strrchr(self, '/');
    int dir = slash ? (int)(slash - self) + 1 : 0;
    /* posix_spawn() does not search PATH: "client" alone means ./client. */
    int len = snprintf(out, cap, "%s%.*sclient", slash ? "" : "./", dir, self);
    return len >= 0 && (size_t)len < cap ? 0 : -1;
}

/* Wait for the child; returns 0 if it exited with status 0. */
static int wait_child(pid_t pid)
{
    int wstatus;
    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) {
            perror("server: waitpid");
            return -1;
        }
    }
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
        return 0;
    }
    if (WIFEXITED(wstatus)) {
        fprintf(stderr, "server: client exited with status %d\n",
                WEXITSTATUS(wstatus));
    } else if (WIFSIGNALED(wstatus)) {
        fprintf(stderr, "server: client killed by signal %d\n",
                WTERMSIG(wstatus));
    }
    return -1;
}

/* Something failed after the client was started: it may be waiting in
 * ipc_connect() for a server that will never come, so stop it. */
static int abandon(pid_t pid)
{
    kill(pid, SIGTERM);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return 1;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "kiwi_demo_pipe";
    char client[PATH_MAX];

    if (argc > 3) {
        fprintf(stderr, "usage: %s [PIPE_NAME [CLIENT_PATH]]\n", argv[0]);
        return 2;
    }
    if (argc > 2) {
        snprintf(client, sizeof client, "%s", argv[2]);
    } else if (client_path(argv[0], client, sizeof client) < 0) {
        fprintf(stderr, "server: cannot locate the client program\n");
        return 1;
    }

    /* Spawn the client process first (it will call ipc_connect(), which
     * waits until the pipe exists). */
    char *child_argv[] = {client, (char *)name, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, client, NULL, NULL, child_argv, environ);
    if (rc != 0) {
        fprintf(stderr, "server: cannot start %s: %s\n", client, strerror(rc));
        return 1;
    }

    /* Create the server end: blocks until the client connects. */
    int handle = ipc_create(name);
    if (handle < 0) {
        fail("ipc_create", handle);
        return abandon(pid);
    }
    printf("Client connected (pid=%ld)\n", (long)pid);
    fflush(stdout);

    /* Exchange messages. */
    rc = ipc_send(handle, "ping", 4);
    if (rc < 0) {
        fail("ipc_send", rc);
        ipc_close(handle);
        return abandon(pid);
    }
    void *reply;
    size_t len;
    rc = ipc_recv(handle, &reply, &len);
    if (rc < 0) {
        fail("ipc_recv", rc);
        ipc_close(handle);
        return abandon(pid);
    }
    /* A received buffer always ends with a NUL, so text prints as is. */
    printf("Server got: %s\n", (char *)reply);
    fflush(stdout);
    ipc_free(reply);

    rc = ipc_send(handle, "quit", 4);
    if (rc < 0) {
        fail("ipc_send", rc);
        ipc_close(handle);
        return abandon(pid);
    }
    rc = ipc_close(handle);
    if (rc < 0) {
        fail("ipc_close", rc);
        return abandon(pid);
    }

    if (wait_child(pid) < 0) {
        return 1;
    }
    printf("Done.\n");
    return 0;
}
