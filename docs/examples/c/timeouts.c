/* timeouts.c - a receive that times out loses nothing; a committed send
 * is finished with ipc_flush() (the Timeouts guide). */
#include <kiwi_ipc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    int listener = ipc_listen("timeouts_demo");
    int client = ipc_connect_timeout("timeouts_demo", 1000);
    int server = ipc_accept(listener, 1000);
    if (listener < 0 || client < 0 || server < 0) {
        fprintf(stderr, "setup: %s\n", ipc_last_error());
        return 1;
    }

    /* Nothing has been sent: the receive gives up after 0.5 s. */
    void *msg;
    size_t len;
    int rc = ipc_recv_timeout(server, &msg, &len, 500);
    if (rc == IPC_ETIMEDOUT)
        printf("recv: %s\n", ipc_errname(rc)); /* "timeout"; try again later */

    /* 8 MiB is more than the socket buffers hold while nobody reads: the
     * send runs out of time after part of the frame went. 0 means the
     * message is committed: the pipe keeps the rest and sends it first. */
    size_t big = 8u << 20;
    char *data = malloc(big);
    memset(data, 'k', big);
    rc = ipc_send_timeout(client, data, big, 100);
    printf("send: %s\n", rc == 0 ? "committed" : ipc_errname(rc));

    /* Read on the server side while the client flushes the rest. */
    int flushed = IPC_ETIMEDOUT;
    size_t got = 0;
    while (flushed == IPC_ETIMEDOUT || got == 0) {
        if (flushed == IPC_ETIMEDOUT)
            flushed = ipc_flush(client, 10);
        if (got == 0 && ipc_recv_timeout(server, &msg, &len, 10) == 0) {
            got = len;
            ipc_free(msg);
        }
    }
    printf("flush: %s, received %zu bytes whole\n",
           flushed == 0 ? "done" : ipc_errname(flushed), got);
    free(data);
    ipc_close(client);
    ipc_close(server);
    ipc_close(listener);
    return got == big ? 0 : 1;
}
