/* recv_alloc.c - receive into memory of your own, one buffer reused for
 * every message (the "Receiving into your own memory" guide). */
#include <kiwi_ipc.h>
#include <stdio.h>
#include <stdlib.h>

struct scratch {
    char *p;
    size_t cap;
};

static void *grow(void *ctx, size_t len)
{
    struct scratch *s = ctx;
    if (len > s->cap) {
        free(s->p);
        s->cap = 0;
        if ((s->p = malloc(len ? len : 1)) != NULL)
            s->cap = len;
    }
    return s->p; /* NULL: IPC_ENOMEM, nothing lost */
}

static void handle(const char *p, size_t len)
{
    printf("%.*s\n", (int)len, p); /* exactly len bytes, no NUL */
}

int main(void)
{
    int listener = ipc_listen("alloc_demo");
    int client = ipc_connect("alloc_demo");
    int h = ipc_accept(listener, 1000);
    if (listener < 0 || client < 0 || h < 0)
        return 1;
    ipc_send(client, "one", 3);
    ipc_send(client, "two", 3);
    ipc_send(client, "three", 5);
    ipc_close(client); /* the end: the loop below stops with IPC_ECLOSED */

    struct scratch s = {0};
    size_t len;
    int rc;
    while ((rc = ipc_recv_alloc(h, grow, &s, &len, IPC_FOREVER)) == 0)
        handle(s.p, len); /* no allocation per message once s is big enough */
    free(s.p);
    printf("then: %s\n", ipc_errname(rc));
    ipc_close(h);
    ipc_close(listener);
    return rc == IPC_ECLOSED ? 0 : 1;
}
