/*
 * server.h - the listening side: claim a path, listen, accept, and give the
 * path back carefully.
 */
#ifndef IPC__SERVER_H
#define IPC__SERVER_H

#include <stdint.h>

struct ipc__listener;

/*
 * Claim ipc_path(name) and listen on it. Refuses a live server (without
 * connecting to it) and anything that is not a socket; reclaims a stale
 * socket file. `call` names the public call in error messages.
 */
int ipc__listen(const char *call, const char *name, int backlog,
                struct ipc__listener **out);

/* Wait until `deadline` for a client; its socket (blocking, close-on-exec)
 * goes to *fd. `who` names the call in error messages, e.g. "accept(3)". */
int ipc__accept(struct ipc__listener *l, const char *who, int64_t deadline,
                int *fd);

/* ipc__accept() for a listener that serves one client only (ipc_create):
 * the socket file is removed before the client is accepted, so that no
 * second client can slip into the queue (see server.c). */
int ipc__accept_last(struct ipc__listener *l, const char *who, int64_t deadline,
                     int *fd);

int ipc__listener_fd(const struct ipc__listener *l);

/* Make a thread blocked in ipc__accept() return IPC_ECLOSED. */
void ipc__listener_wake(struct ipc__listener *l);

/* Stop listening, remove the socket file if it is still the one we bound,
 * free `l`. */
void ipc__listener_free(struct ipc__listener *l);

/*
 * Is some socket listening at `path` right now? 1 yes, 0 no, -1 cannot
 * tell. Decided without connecting: a waiting Kiwi server would take any
 * connection as its one client.
 */
int ipc__listening_at(const char *path);

#endif
