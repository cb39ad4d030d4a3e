/*
 * client.c - the client half of the Kiwi `ipc` reference's two-process
 * example, in C (client.kiwi): connect, then answer every message with
 * "pong" until "quit" arrives.
 *
 * Usage: client [PIPE_NAME]   (default "kiwi_demo_pipe")
 * Normally started by the server, which passes its pipe name.
 */
#include <kiwi_ipc.h>

#include <stdio.h>
#include <string.h>

static int fail(const char *what, int status)
{
    fprintf(stderr, "client: %s failed: %s (%s)\n", what, ipc_strerror(status),
            ipc_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "kiwi_demo_pipe";

    /* Waits until the server has created the pipe. */
    int handle = ipc_connect(name);
    if (handle < 0) {
        return fail("ipc_connect", handle);
    }

    int status = 0;
    for (;;) {
        void *msg;
        size_t len;
        int rc = ipc_recv(handle, &msg, &len);
        if (rc < 0) {
            status = fail("ipc_recv", rc);
            break;
        }
        int quit = len == 4 && memcmp(msg, "quit", 4) == 0;
        ipc_free(msg);
        if (quit) {
            break;
        }
        rc = ipc_send(handle, "pong", 4);
        if (rc < 0) {
            status = fail("ipc_send", rc);
            break;
        }
    }

    int rc = ipc_close(handle);
    if (rc < 0 && status == 0) {
        status = fail("ipc_close", rc);
    }
    return status;
}
