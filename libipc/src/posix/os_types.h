/*
 * posix/os_types.h - the POSIX backend's types for os.h (Linux; macOS is
 * compiled and linked, not run, on our machines).
 */
#ifndef IPC__OS_TYPES_H
#define IPC__OS_TYPES_H

#include <pthread.h>
#include <stdatomic.h>

typedef pthread_mutex_t ipc__mutex;
#define IPC__MUTEX_INITIALIZER PTHREAD_MUTEX_INITIALIZER

/* Inline: the uncontended lock and the unlock are on every send and
 * recv. */
static inline int ipc__mutex_trylock(ipc__mutex *m)
{
    return pthread_mutex_trylock(m) == 0;
}

static inline void ipc__mutex_unlock(ipc__mutex *m)
{
    pthread_mutex_unlock(m);
}

/* A connected Unix domain stream socket. */
struct ipc__stream {
    int fd;
    atomic_int sliced; /* SO_RCVTIMEO/SO_SNDTIMEO set: see stream.c */
};

/* Longest socket path (without its NUL) that fits sun_path. .NET refuses
 * longer ones, so we refuse at the same threshold: a name then works on
 * both sides or on neither. */
#ifdef __APPLE__
#define IPC__OS_PATH_LEN_MAX 103
#else
#define IPC__OS_PATH_LEN_MAX 107
#endif

#endif
