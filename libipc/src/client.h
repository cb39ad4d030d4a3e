/*
 * client.h - connecting to a pipe's server.
 */
#ifndef IPC__CLIENT_H
#define IPC__CLIENT_H

/* Connect to ipc_path(name), waiting up to timeout_ms for a server; the
 * connected socket (blocking, close-on-exec) goes to *fd. */
int ipc__connect(const char *call, const char *name, int timeout_ms, int *fd);

#endif
