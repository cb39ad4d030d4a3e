/*
 * error.c - the status list turned into strings, and the per-thread detailed
 * message behind ipc_last_error().
 */
#include "error.h"

#include "os.h"

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

static void free_last_error(void *p)
{
    struct last_error *le = p;
    free(le->msg);
    free(le);
}

static struct last_error *this_thread(int create)
{
    struct last_error *le = ipc__os_tls_get(IPC__TLS_ERROR);
    if (le == NULL && create) {
        le = calloc(1, sizeof(*le));
        if (le == NULL ||
            ipc__os_tls_set(IPC__TLS_ERROR, le, free_last_error) != 0) {
            free(le);
            return NULL;
        }
    }
    return le;
}

void ipc__who_format(char *buf, size_t cap, const struct ipc__who *who)
{
    if (who->handle <= 0) {
        snprintf(buf, cap, "%s(\"%s\")", who->call, who->name);
    } else if (who->name == NULL) {
        snprintf(buf, cap, "%s(%d)", who->call, who->handle);
    } else if (who->path == NULL) {
        snprintf(buf, cap, "%s(%d) on \"%s\"", who->call, who->handle,
                 who->name);
    } else {
        snprintf(buf, cap, "%s(%d) on \"%s\" (%s)", who->call, who->handle,
                 who->name, who->path);
    }
}

void ipc__who_name(char *who, size_t cap, const char *call, const char *name)
{
    struct ipc__who w = {call, 0, name, NULL};
    ipc__who_format(who, cap, &w);
}

static int vfail(int status, int os_error, const char *prefix, const char *fmt,
                 va_list ap0);

int ipc__fail(int status, int os_error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(status, os_error, "", fmt, ap);
    va_end(ap);
    return rc;
}

int ipc__fail_who(int status, int os_error, const struct ipc__who *who,
                  const char *fmt, ...)
{
    /* A name is at most a path long (ipc_path() refused longer ones). */
    char prefix[2 * IPC_PATH_MAX + 64];
    ipc__who_format(prefix, sizeof(prefix) - 2, who);
    strcat(prefix, ": ");
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(status, os_error, prefix, fmt, ap);
    va_end(ap);
    return rc;
}

static int vfail(int status, int os_error, const char *prefix, const char *fmt,
                 va_list ap0)
{
    struct last_error *le = this_thread(1);
    if (le == NULL) {
        /* Out of memory for the message itself: keep the status usable. */
        return status;
    }
    char suffix[160] = "";
    if (os_error != 0) {
        suffix[0] = ':';
        suffix[1] = ' ';
        ipc__os_strerror(os_error, suffix + 2, sizeof(suffix) - 2);
    }
    va_list ap;
    va_copy(ap, ap0);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
    }
    size_t pre = strlen(prefix);
    size_t need = pre + (size_t)n + strlen(suffix) + 1;
    if (need > le->cap) {
        char *grown = realloc(le->msg, need);
        if (grown == NULL) {
            le->os_error = os_error;
            return status;
        }
        le->msg = grown;
        le->cap = need;
    }
    memcpy(le->msg, prefix, pre);
    va_copy(ap, ap0);
    vsnprintf(le->msg + pre, (size_t)n + 1, fmt, ap);
    va_end(ap);
    strcpy(le->msg + pre + n, suffix);
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
