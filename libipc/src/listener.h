/*
 * listener.h - the listening side of a pipe name: a listener handle, and
 * ipc_create's one-client server built on it.
 */
#ifndef IPC__LISTENER_H
#define IPC__LISTENER_H

#include "handles.h"
#include "os.h"

struct ipc__listener;

/* The handle kind of listeners (handles.h). */
extern const struct ipc__kind ipc__listener_kind;

/* Claim ipc_path(name) and listen with `backlog` (see ipc__os_listen).
 * `call` names the public call in messages. */
int ipc__listen(const char *call, const char *name, int backlog,
                struct ipc__listener **out);

/* Wait within `u` for a client; with `last`, serve only this one
 * (ipc_create). The stream goes to *s. `who` names the call, e.g.
 * "accept(3)". */
int ipc__accept(struct ipc__listener *l, const char *who, int last,
                const struct ipc__until *u, struct ipc__stream *s);

/* The name it was made with, and its path (for messages and pipes). */
const char *ipc__listener_name(const struct ipc__listener *l);
const char *ipc__listener_path(const struct ipc__listener *l);

/* The _ex calls' flags (IPC_ANY_USER, the default, or 0), which
 * ipc__accept_checked() (peer.h) obeys, and the OS listener below. */
void ipc__listener_set_flags(struct ipc__listener *l, int flags);
int ipc__listener_flags(const struct ipc__listener *l);
struct ipc__os_listener *ipc__listener_os(struct ipc__listener *l);

/* Stop listening and free `l` (the kind's destroy). */
void ipc__listener_free(void *l);

#endif
