/*
 * kiwi_ipc_bind.c - C shared by the Python and the Lua binding; see
 * kiwi_ipc_bind.h.
 */
#define _DEFAULT_SOURCE /* madvise(), MADV_HUGEPAGE */

#include "kiwi_ipc_bind.h"

#include <kiwi_ipc.h>

#include <math.h>
#include <stdint.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

int kiwi_bind_timeout_ms(double seconds, int *ms)
{
    if (isnan(seconds)) {
        return KIWI_BIND_TIMEOUT_NAN;
    }
    if (seconds < 0) {
        return KIWI_BIND_TIMEOUT_NEGATIVE;
    }
    if (isinf(seconds)) {
        *ms = IPC_FOREVER;
        return KIWI_BIND_TIMEOUT_OK;
    }
    double t = seconds * 1000.0;
    if (t >= (double)KIWI_BIND_MAX_TIMEOUT_MS) {
        *ms = KIWI_BIND_MAX_TIMEOUT_MS;
        return KIWI_BIND_TIMEOUT_OK;
    }
    int whole = (int)t; /* t >= 0: truncation is floor */
    if (t - whole > 1e-6) {
        whole++;
    } else if (whole == 0 && t > 0) {
        whole = 1; /* a positive timeout never becomes "do not wait" */
    }
    *ms = whole;
    return KIWI_BIND_TIMEOUT_OK;
}

void kiwi_bind_advise_huge(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(huge - 1);

    if (start < end) {
        (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
    }
#else
    (void)p;
    (void)n;
#endif
}
