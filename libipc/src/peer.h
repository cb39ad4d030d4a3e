/*
 * peer.h - same-user pipes: the policy of the _ex calls over the OS's
 * peer and path checks (os.h).
 */
#ifndef IPC__PEER_H
#define IPC__PEER_H

#include "listener.h"
#include "os.h"

/* ipc__connect() under `flags`: without IPC_ANY_USER the path is checked
 * before the first attempt and the server's user right after connecting;
 * a refused stream is closed before anything is sent. */
int ipc__connect_checked(const char *call, const char *name,
                         const struct ipc__until *u, int flags,
                         struct ipc__stream *s, char path[]);

/* ipc__accept() under the listener's flags: a client of another user is
 * closed at once and the wait goes on, within the same `u`. */
int ipc__accept_checked(struct ipc__listener *l, const char *who, int last,
                        const struct ipc__until *u, struct ipc__stream *s);

/* ipc_check_path() for `call` and `name`. */
int ipc__check_name(const char *call, const char *name);

#endif
