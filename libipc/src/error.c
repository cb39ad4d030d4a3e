/*
 * error.c - the status list turned into strings, and the per-thread detailed
 * message behind ipc_last_error().
 */
#include "error.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ipc_strerror(int status)
{
    switch (status) {
#define IPC__TEXT(name, value, key, text)                                      \
    case name:                                                                 \
        return text;
        IPC_STATUS_MAP(IPC__TEXT)
#undef IPC__TEXT
    }
    return "unknown status";
}

const char *ipc_errname(int status)
{
    switch (status) {
#define IPC__KEY(name, value, key, text)                                       \
    case name:                                                                 \
        return key;
        IPC_STATUS_MAP(IPC__KEY)
#undef IPC__KEY
    }
    return "unknown";
}

/*
 * Messages can be long (they quote the caller's name, which may be huge when
 * it is being rejected for its length), so each thread owns a heap buffer
 * that grows as needed and is freed by a key destructor at thread exit.
 */
struct last_error {
    char *msg;
    size_t cap;
    int os_error;
};

static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void free_last_error(void *p)
{
    struct last_error *le = p;
    free(le->msg);
    free(le);
}

static void make_key(void)
{
    (void)pthread_key_create(&key, free_last_error);
}

static struct last_error *this_thread(int create)
{
    pthread_once(&key_once, make_key);
    struct last_error *le = pthread_getspecific(key);
    if (le == NULL && create) {
        le = calloc(1, sizeof(*le));
        if (le == NULL || pthread_setspecific(key, le) != 0) {
            free(le);
            return NULL;
        }
    }
    return le;
}

int ipc__fail(int status, int os_error, const char *fmt, ...)
{
    struct last_error *le = this_thread(1);
    if (le == NULL) {
        /* Out of memory for the message itself: keep the status usable. */
        return status;
    }
    char suffix[160] = "";
    if (os_error != 0) {
        snprintf(suffix, sizeof(suffix), ": %s", strerror(os_error));
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
    }
    size_t need = (size_t)n + strlen(suffix) + 1;
    if (need > le->cap) {
        char *grown = realloc(le->msg, need);
        if (grown == NULL) {
            le->os_error = os_error;
            return status;
        }
        le->msg = grown;
        le->cap = need;
    }
    va_start(ap, fmt);
    vsnprintf(le->msg, (size_t)n + 1, fmt, ap);
    va_end(ap);
    strcpy(le->msg + n, suffix);
    le->os_error = os_error;
    return status;
}

const char *ipc_last_error(void)
{
    struct last_error *le = this_thread(0);
    return (le != NULL && le->msg != NULL) ? le->msg : "";
}

int ipc_last_os_error(void)
{
    struct last_error *le = this_thread(0);
    return le != NULL ? le->os_error : 0;
}
