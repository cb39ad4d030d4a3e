/*
 * handles.c - the handle table (see handles.h).
 *
 * A sorted array searched by bisection: ids only grow, so adding is an
 * append, and most processes hold a handful of handles.
 */
#include "handles.h"

#include "kiwi_ipc.h"
#include "pipe.h"
#include "server.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ipc__handle **table;
static size_t count, cap;
static int next_id = 1;

static void destroy_obj(enum ipc__kind kind, void *obj)
{
    if (kind == IPC__PIPE) {
        ipc__pipe_free(obj);
    } else {
        ipc__listener_free(obj);
    }
}

/* Index of `id` in the table, or of where it would go. */
static size_t find(int id)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (table[mid]->id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

int ipc__handle_add(enum ipc__kind kind, void *obj)
{
    struct ipc__handle *h = malloc(sizeof(*h));
    if (h == NULL) {
        destroy_obj(kind, obj);
        return IPC_ENOMEM;
    }
    h->kind = kind;
    h->obj = obj;
    atomic_init(&h->refs, 1);

    pthread_mutex_lock(&lock);
    if (count == cap || next_id == INT_MAX) {
        size_t ncap = cap ? cap * 2 : 16;
        struct ipc__handle **t = NULL;
        if (next_id < INT_MAX) { /* ids are never reused: none left */
            t = realloc(table, ncap * sizeof(*t));
        }
        if (t == NULL) {
            pthread_mutex_unlock(&lock);
            destroy_obj(kind, obj);
            free(h);
            return IPC_ENOMEM;
        }
        table = t;
        cap = ncap;
    }
    h->id = next_id++;
    table[count++] = h;
    pthread_mutex_unlock(&lock);
    return h->id;
}

struct ipc__handle *ipc__handle_get(int id)
{
    struct ipc__handle *h = NULL;
    pthread_mutex_lock(&lock);
    size_t i = find(id);
    if (i < count && table[i]->id == id) {
        h = table[i];
        atomic_fetch_add(&h->refs, 1);
    }
    pthread_mutex_unlock(&lock);
    return h;
}

void ipc__handle_put(struct ipc__handle *h)
{
    if (atomic_fetch_sub(&h->refs, 1) == 1) {
        destroy_obj(h->kind, h->obj);
        free(h);
    }
}

struct ipc__handle *ipc__handle_take(int id)
{
    struct ipc__handle *h = NULL;
    pthread_mutex_lock(&lock);
    size_t i = find(id);
    if (i < count && table[i]->id == id) {
        h = table[i];
        memmove(table + i, table + i + 1, (count - i - 1) * sizeof(*table));
        if (--count == 0) {
            /* Give the table back when nothing is open, so a module that
             * is unloaded (a Lua state closing) leaves nothing behind. */
            free(table);
            table = NULL;
            cap = 0;
        }
    }
    pthread_mutex_unlock(&lock);
    return h;
}
