/*
 * client.h - connecting to a pipe's server.
 */
#ifndef IPC__CLIENT_H
#define IPC__CLIENT_H

#include "os.h"

/* Connect to ipc_path(name), waiting within `u` for a server; the
 * connected stream goes to *s, and the path to `path` (IPC_PATH_MAX
 * bytes). `call` names the public call in messages. */
int ipc__connect(const char *call, const char *name, const struct ipc__until *u,
                 struct ipc__stream *s, char path[]);

#endif
