#include <kiwi_ipc.h>
#include <stdio.h>

int main(void)
{
    int listener = ipc_listen("demo"); /* serve the pipe "demo" */
    int client = ipc_connect("demo");  /* and connect to it */
    int server = ipc_accept(listener, 1000);
    if (listener < 0 || client < 0 || server < 0) {
        fprintf(stderr, "%s\n", ipc_last_error());
        return 1;
    }
    ipc_send(client, "hello", 5);
    void *msg;
    size_t len;
    if (ipc_recv(server, &msg, &len) == 0) {
        printf("%s\n", (char *)msg);
        ipc_free(msg);
    }
    ipc_close(client);
    ipc_close(server);
    ipc_close(listener);
    return 0;
}
