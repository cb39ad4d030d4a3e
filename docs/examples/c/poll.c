/* poll.c - serve several clients with one thread: ipc_poll() counts the
 * messages held inside each handle, which poll(2) on ipc_fileno() cannot
 * see (the "Many pipes at once" guide). */
#include <kiwi_ipc.h>
#include <stdio.h>

#define N 3

int main(void)
{
    int listener = ipc_listen("poll_demo");
    int clients[N];
    struct ipc_pollitem items[N];
    for (int i = 0; i < N; i++) {
        clients[i] = ipc_connect("poll_demo");
        items[i].handle = ipc_accept(listener, 1000);
        items[i].events = IPC_POLLIN;
        if (clients[i] < 0 || items[i].handle < 0)
            return 1;
    }
    /* A burst from each client, then it goes away. */
    for (int i = 0; i < N; i++) {
        char msg[32];
        for (int k = 0; k < 2; k++) {
            int len = snprintf(msg, sizeof msg, "client %d, message %d", i, k);
            ipc_send(clients[i], msg, (size_t)len);
        }
        ipc_close(clients[i]);
    }

    size_t n = N;
    int received = 0;
    while (n > 0 && ipc_poll(items, n, IPC_FOREVER) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (!(items[i].revents & (IPC_POLLIN | IPC_POLLHUP | IPC_POLLERR)))
                continue;
            void *msg;
            size_t len;
            int rc = ipc_recv_timeout(items[i].handle, &msg, &len, 0);
            if (rc == 0) { /* ready: did not wait */
                received++;
                ipc_free(msg);
            } else if (rc == IPC_ECLOSED) { /* after its last message */
                ipc_close(items[i].handle);
                items[i--] = items[--n]; /* watch the others */
            }
        }
    }
    printf("%d messages from %d clients\n", received, N);
    ipc_close(listener);
    return received == 2 * N ? 0 : 1;
}
