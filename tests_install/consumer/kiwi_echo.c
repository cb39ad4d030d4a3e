/*
 * kiwi_echo.c - a tiny program that uses an *installed* kiwi-ipc, the way a
 * user's project would: built once with find_package(kiwi_ipc) (shared and
 * static) and once with pkg-config, by tests_install/.
 *
 *   kiwi_echo server NAME [COUNT]   be the server of NAME: echo COUNT
 *                                   messages (default 1) back, then close
 *   kiwi_echo client NAME MESSAGE   send MESSAGE to NAME's server and print
 *                                   the reply on one line
 *   kiwi_echo version               print the header's and the library's
 *                                   versions
 *
 * Timeouts are 20 s, so that a broken peer fails the test instead of hanging
 * it. Exit status 0 on success, 1 with a message on stderr otherwise.
 */
#include <kiwi_ipc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 20000

static int fail(const char *what, int status)
{
    fprintf(stderr, "kiwi_echo: %s: %s (%s)\n", what, ipc_errname(status),
            ipc_last_error());
    return 1;
}

static int serve(const char *name, int count)
{
    int h = ipc_create_timeout(name, TIMEOUT_MS);
    if (h < 0) {
        return fail("ipc_create_timeout", h);
    }
    for (int i = 0; i < count; i++) {
        void *msg;
        size_t len;
        int rc = ipc_recv_timeout(h, &msg, &len, TIMEOUT_MS);
        if (rc < 0) {
            ipc_close(h);
            return fail("ipc_recv_timeout", rc);
        }
        rc = ipc_send_timeout(h, msg, len, TIMEOUT_MS);
        ipc_free(msg);
        if (rc < 0) {
            ipc_close(h);
            return fail("ipc_send_timeout", rc);
        }
    }
    ipc_close(h);
    return 0;
}

static int ask(const char *name, const char *message)
{
    int h = ipc_connect_timeout(name, TIMEOUT_MS);
    if (h < 0) {
        return fail("ipc_connect_timeout", h);
    }
    void *reply;
    size_t len;
    int rc = ipc_send_timeout(h, message, strlen(message), TIMEOUT_MS);
    if (rc >= 0) {
        rc = ipc_recv_timeout(h, &reply, &len, TIMEOUT_MS);
    }
    ipc_close(h);
    if (rc < 0) {
        return fail("send/recv", rc);
    }
    printf("%.*s\n", (int)len, (const char *)reply);
    ipc_free(reply);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "version") == 0) {
        printf("header %s library %s\n", KIWI_IPC_VERSION, ipc_version());
        return strcmp(KIWI_IPC_VERSION, ipc_version()) != 0;
    }
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "server") == 0) {
        return serve(argv[2], argc == 4 ? atoi(argv[3]) : 1);
    }
    if (argc == 4 && strcmp(argv[1], "client") == 0) {
        return ask(argv[2], argv[3]);
    }
    fprintf(stderr, "usage: kiwi_echo server NAME [COUNT]\n"
                    "       kiwi_echo client NAME MESSAGE\n"
                    "       kiwi_echo version\n");
    return 2;
}
