/* hello.c - one process serves a pipe with a listener, connects to it and
 * sends a message across (the Getting started example). */
#include <kiwi_ipc.h>
#include <stdio.h>

static int fail(const char *call, int status)
{
    fprintf(stderr, "%s: %s: %s\n", call, ipc_errname(status),
            ipc_last_error());
    return 1;
}

int main(void)
{
    int listener = ipc_listen("hello_demo"); /* $TMPDIR/CoreFxPipe_hello_demo */
    if (listener < 0)
        return fail("ipc_listen", listener);
    int client = ipc_connect("hello_demo");
    if (client < 0)
        return fail("ipc_connect", client);
    int server = ipc_accept(listener, 1000); /* wait at most 1 s */
    if (server < 0)
        return fail("ipc_accept", server);

    int rc = ipc_send(client, "hello", 5);
    if (rc < 0)
        return fail("ipc_send", rc);
    void *msg;
    size_t len;
    rc = ipc_recv(server, &msg, &len);
    if (rc < 0)
        return fail("ipc_recv", rc);
    printf("got %zu bytes: %s\n", len, (char *)msg); /* NUL-terminated */
    ipc_free(msg);

    ipc_close(client);
    ipc_close(server);
    ipc_close(listener); /* removes the socket file */
    return 0;
}
