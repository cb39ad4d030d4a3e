/*
 * handles.h - the process-wide table from integer handles to objects
 * (pipes, listeners, ...).
 *
 * Handles come from a counter starting at 1 and are never reused. (A
 * second copy of the library in one process counts in a range of its own:
 * see handles.c.) A caller
 * borrows an object with ipc__handle_get() and returns it with
 * ipc__handle_put(); the object is destroyed when the table has let go of it
 * (ipc_close) and the last borrower has returned it. So a close in one thread
 * never frees a pipe under another thread's feet, and its descriptor number
 * cannot be reused while that thread still uses it.
 *
 * The table knows nothing of what it holds: each kind of object brings its
 * operations in a struct ipc__kind.
 */
#ifndef IPC__HANDLES_H
#define IPC__HANDLES_H

#include <stdatomic.h>

/* What a kind of object provides to the table and to ipc_close/fileno. */
struct ipc__kind {
    const char *name;           /* "pipe", "listener": for messages */
    void (*destroy)(void *obj); /* free it (the last reference went) */
    void (*wake)(void *obj);    /* make threads blocked on it return */
    int (*fd)(const void *obj); /* the descriptor behind it */
    const char *(*pipe_name)(const void *obj); /* the name it was made with */
    const char *(*path)(const void *obj);      /* and its path */
};

struct ipc__handle {
    atomic_int id;   /* 0 while the struct waits for reuse (handles.c) */
    atomic_int open; /* in the table: cleared by ipc__handle_take() */
    atomic_int refs;
    const struct ipc__kind *kind;
    void *obj;
    struct ipc__handle *next_free; /* while on the free list */
};

/* Register `obj`. Returns the new handle (> 0), or IPC_ENOMEM, in which
 * case `obj` is destroyed. */
int ipc__handle_add(const struct ipc__kind *kind, void *obj);

/* Claim this copy's range now rather than at the first handle (it holds a
 * descriptor for the process's life: the C tests count descriptors). */
void ipc__handles_init(void);

/* True when `id` lies in the range of another copy of the library in this
 * process (see handles.c), for the message of a failed lookup. */
int ipc__handle_foreign(int id);

/* Borrow handle `id`, or NULL if unknown. */
struct ipc__handle *ipc__handle_get(int id);

/* Return a borrowed (or taken) handle. */
void ipc__handle_put(struct ipc__handle *h);

/* Remove `id` from the table, handing the table's reference to the caller;
 * NULL if unknown. */
struct ipc__handle *ipc__handle_take(int id);

#endif
