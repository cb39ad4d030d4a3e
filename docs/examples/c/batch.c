/* batch.c - a stream of small messages: sent in one batch with
 * ipc_send_many(), received as a burst with one ipc_recv_alloc() that
 * waits and ipc_recv_held() for the rest (the Timeouts guide). */
#include <kiwi_ipc.h>
#include <stdio.h>
#include <string.h>

static char buf[256];
static void *into_buf(void *ctx, size_t len)
{
    (void)ctx;
    return len < sizeof buf ? buf : NULL; /* NULL: IPC_ENOMEM, kept */
}

int main(void)
{
    int listener = ipc_listen("batch_demo");
    int client = ipc_connect("batch_demo");
    int server = ipc_accept(listener, 1000);
    if (listener < 0 || client < 0 || server < 0)
        return 1;

    const char *lines[] = {"event 1", "event 2", "event 3", "event 4"};
    struct ipc_msg msgs[4];
    for (int i = 0; i < 4; i++) {
        msgs[i].data = lines[i];
        msgs[i].len = strlen(lines[i]);
    }
    int sent = ipc_send_many(client, msgs, 4, 1000); /* each its own frame */
    printf("committed %d of 4\n", sent);

    /* The first receive waits and reads ahead; the rest are held. */
    size_t len;
    int got = 0;
    if (ipc_recv_alloc(server, into_buf, NULL, &len, 1000) == 0) {
        do
            printf("%.*s\n", (int)len, buf);
        while (++got < sent &&
               ipc_recv_held(server, into_buf, NULL, &len) == 1);
    }
    ipc_close(client);
    ipc_close(server);
    ipc_close(listener);
    return got == sent ? 0 : 1;
}
