/* interrupt.c - let a signal stop a blocking call: the interrupt hook
 * (the "Signals and Ctrl-C" guide). An alarm stands in for Ctrl-C. */
#include <kiwi_ipc.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}
static int check_stop(void *arg)
{
    (void)arg;
    return stop;
}

int main(void)
{
    /* once, before threads use the library: */
    signal(SIGINT, on_signal);
    signal(SIGALRM, on_signal);
    ipc_set_interrupt_hook(check_stop, NULL);

    int listener = ipc_listen("interrupt_demo");
    int client = ipc_connect("interrupt_demo");
    int server = ipc_accept(listener, 1000);
    if (listener < 0 || client < 0 || server < 0)
        return 1;
    alarm(1); /* nobody sends: only the signal ends this recv */
    void *msg;
    size_t len;
    int rc = ipc_recv(server, &msg, &len);
    printf("recv: %s\n", ipc_errname(rc)); /* "interrupted" */
    /* Nothing was lost: the pipe goes on working. */
    ipc_send(client, "still here", 10);
    if (ipc_recv(server, &msg, &len) == 0) {
        printf("then: %s\n", (char *)msg);
        ipc_free(msg);
    }
    ipc_close(client);
    ipc_close(server);
    ipc_close(listener);
    return rc == IPC_EINTR ? 0 : 1;
}
