/*
 * test_os.c - the part of test_os.h that is the same on every OS: the
 * per-thread text of the last error (test_os_posix.c, test_os_win32.c
 * record it).
 */
#include "test_os.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char g_error[512];

void tos__set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof(g_error), fmt, ap);
    va_end(ap);
}

const char *tos_error(void)
{
    return g_error;
}
