/*
 * handles.c - the handle table (see handles.h).
 *
 * A sorted array searched by bisection under a mutex: ids only grow, so
 * adding is an append, and most processes hold a handful of handles.
 *
 * In front of it, a small cache of recent lookups lets the usual pattern
 * (send, recv, send, recv on a few pipes) borrow without the mutex or the
 * search: about a hundred instructions less per call, a tenth of a small
 * message's round trip in user space. That cache holds no
 * reference (a cached pipe must close when ipc_close says so), so the
 * struct it points to may be freed meanwhile: handle structs are therefore
 * never given back to malloc but kept on a free list for the next handle
 * (type-stable memory, as in RCU-less lock-free lookups). The fast path
 * takes a reference only if the struct still holds a live reference count,
 * and then checks that it still is that handle, open; if not, it returns
 * the reference and asks the table. The free list is bounded by the most
 * handles ever open at once.
 */
#include "handles.h"

#include "kiwi_ipc.h"
#include "os.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static ipc__mutex lock = IPC__MUTEX_INITIALIZER;
static struct ipc__handle **table;
static size_t count, cap;
static int next_id; /* 0 until the first handle: see id_range() */
static int last_id; /* the last id of this copy's range */
static struct ipc__handle *free_list; /* under lock */

/* Recent lookups, by id modulo CACHE_SIZE: ids are handed out in order,
 * so up to CACHE_SIZE handles opened near each other never collide. Any
 * thread may overwrite a slot; a slot's pointer is only a hint, checked by
 * try_borrow(). (Not thread-local: a module's TLS needs the dynamic
 * loader's __tls_get_addr, which the Python wheel must not depend on.) */
#define CACHE_SIZE 64
static _Atomic(struct ipc__handle *) cache[CACHE_SIZE];

/* Index of `id` in the table, or of where it would go. */
static size_t find(int id)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (atomic_load_explicit(&table[mid]->id, memory_order_relaxed) < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/*
 * Which ids this copy of the library hands out. A process may hold several
 * copies (each binding links its own: Python embedding Lua has two), each
 * with a table of its own. So that a handle of one copy can never reach
 * another copy's pipe, each copy claims a number from the OS at its first
 * handle (ipc__os_copy_index) and takes the ids of its own range:
 *   copy 0 (the only one, nearly always): 1 .. 2^30 - 1, as Kiwi's counter
 *   copy k >= 1 (k <= 32): 2^30 + (k - 1) * 2^25 .. one below the next.
 * A copy whose number the OS cannot tell uses copy 0's range.
 */
#define COPY0_LAST ((1 << 30) - 1)
#define COPY_SPAN (1 << 25)

static void id_range(void)
{
    int k = ipc__os_copy_index();
    if (k <= 0 || k > 32) {
        next_id = 1;
        last_id = COPY0_LAST;
    } else {
        next_id = (1 << 30) + (k - 1) * COPY_SPAN;
        last_id = next_id + (COPY_SPAN - 1);
    }
}

void ipc__handles_init(void)
{
    ipc__mutex_lock(&lock);
    if (next_id == 0) {
        id_range();
    }
    ipc__mutex_unlock(&lock);
}

int ipc__handle_foreign(int id)
{
    ipc__mutex_lock(&lock);
    int foreign =
        next_id != 0 && id > 0 &&
        (id > last_id ||
         id < (last_id == COPY0_LAST ? 1 : last_id - (COPY_SPAN - 1)));
    ipc__mutex_unlock(&lock);
    return foreign;
}

int ipc__handle_add(const struct ipc__kind *kind, void *obj)
{
    ipc__mutex_lock(&lock);
    if (next_id == 0) {
        id_range();
    }
    struct ipc__handle *h = free_list;
    if (h != NULL) {
        free_list = h->next_free;
    } else if ((h = malloc(sizeof(*h))) == NULL) {
        ipc__mutex_unlock(&lock);
        kind->destroy(obj);
        return IPC_ENOMEM;
    }
    if (count == cap || next_id > last_id) {
        size_t ncap = cap ? cap * 2 : 16;
        struct ipc__handle **t = NULL;
        if (next_id <= last_id) { /* ids are never reused: none left */
            t = realloc(table, ncap * sizeof(*t));
        }
        if (t == NULL) {
            h->next_free = free_list;
            free_list = h;
            ipc__mutex_unlock(&lock);
            kind->destroy(obj);
            return IPC_ENOMEM;
        }
        table = t;
        cap = ncap;
    }
    h->kind = kind;
    h->obj = obj;
    h->next_free = NULL;
    atomic_store(&h->refs, 1);
    atomic_store(&h->open, 1);
    int id = next_id++;
    /* Last: a fast-path reader that sees this id sees the fields above. */
    atomic_store(&h->id, id);
    table[count++] = h;
    ipc__mutex_unlock(&lock);
    return id;
}

/* Take a reference on h if it is still handle `id` and open. */
static int try_borrow(struct ipc__handle *h, int id)
{
    if (atomic_load(&h->id) != id) {
        return 0;
    }
    int refs = atomic_load(&h->refs);
    do {
        if (refs == 0) {
            return 0; /* being destroyed, or on the free list */
        }
    } while (!atomic_compare_exchange_weak(&h->refs, &refs, refs + 1));
    /* The struct may have been freed and reused between the first check
     * and the increment: then it is another handle now, and ours is gone. */
    if (atomic_load(&h->id) == id && atomic_load(&h->open)) {
        return 1;
    }
    ipc__handle_put(h);
    return 0;
}

struct ipc__handle *ipc__handle_get(int id)
{
    _Atomic(struct ipc__handle *) *slot = &cache[(unsigned)id % CACHE_SIZE];
    struct ipc__handle *hint = atomic_load_explicit(slot, memory_order_acquire);
    if (hint != NULL && try_borrow(hint, id)) {
        return hint;
    }
    struct ipc__handle *h = NULL;
    ipc__mutex_lock(&lock);
    size_t i = find(id);
    if (i < count && atomic_load(&table[i]->id) == id) {
        h = table[i];
        atomic_fetch_add(&h->refs, 1);
    }
    ipc__mutex_unlock(&lock);
    if (h != NULL) {
        atomic_store_explicit(slot, h, memory_order_release);
    }
    return h;
}

void ipc__handle_put(struct ipc__handle *h)
{
    if (atomic_fetch_sub(&h->refs, 1) == 1) {
        atomic_store(&h->id, 0);
        h->kind->destroy(h->obj);
        h->obj = NULL;
        ipc__mutex_lock(&lock);
        h->next_free = free_list;
        free_list = h;
        ipc__mutex_unlock(&lock);
    }
}

struct ipc__handle *ipc__handle_take(int id)
{
    struct ipc__handle *h = NULL;
    ipc__mutex_lock(&lock);
    size_t i = find(id);
    if (i < count && atomic_load(&table[i]->id) == id) {
        h = table[i];
        /* From now on no lookup finds it, through the table or a cache. */
        atomic_store(&h->open, 0);
        memmove(table + i, table + i + 1, (count - i - 1) * sizeof(*table));
        if (--count == 0) {
            /* Give the table back when nothing is open, so a module that
             * is unloaded (a Lua state closing) leaves only the free list
             * (see the top of this file) behind. */
            free(table);
            table = NULL;
            cap = 0;
        }
    }
    ipc__mutex_unlock(&lock);
    return h;
}
