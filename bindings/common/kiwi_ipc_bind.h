/*
 * kiwi_ipc_bind.h - C shared by the Python and the Lua binding.
 *
 * Compiled into each binding's module (bindings/python, bindings/lua) with
 * the project's warnings; it uses the public kiwi_ipc.h only and no
 * scripting language's API, so each language keeps its own way of raising
 * errors and calls these for the decisions that must not differ.
 *
 * Not API: nothing here is exported from a module.
 */
#ifndef KIWI_IPC_BIND_H
#define KIWI_IPC_BIND_H

#include <stddef.h>

/*
 * kiwi_bind_timeout_ms - the one rule that turns a timeout in seconds, as
 * both bindings take it, into the C library's milliseconds. Writes the
 * milliseconds to *ms and returns KIWI_BIND_TIMEOUT_OK, or returns
 * KIWI_BIND_TIMEOUT_NEGATIVE / KIWI_BIND_TIMEOUT_NAN (and leaves *ms
 * alone), which each binding raises as its own argument error. Absent
 * (None, nil) is each binding's business: it means IPC_FOREVER.
 *
 *   +infinity              IPC_FOREVER: waits forever
 *   0                      0: do not wait (one attempt)
 *   0 < s < 2^31-1 ms      s * 1000 rounded up to whole milliseconds, so
 *                          that a short positive timeout never becomes 0
 *                          ("do not wait"); an excess below 1e-6 ms is
 *                          binary-fraction noise (0.29 * 1000 may come out
 *                          as 290.00000000000006) and is dropped, but never
 *                          below 1 ms
 *   s >= 2^31-1 ms         capped to IPC_MAX_TIMEOUT_MS, about 24.8 days
 *   negative (-inf too)    KIWI_BIND_TIMEOUT_NEGATIVE
 *   NaN                    KIWI_BIND_TIMEOUT_NAN
 *
 * Why a cap rather than "forever" for a huge finite timeout: the caller
 * asked for a bounded wait, and a finite number should not silently turn
 * into an unbounded one; infinity (or None, nil) is the way to say
 * "forever". 24.8 days is the longest wait an int of milliseconds holds. It
 * is also what the Python binding always did (the Lua binding used to wait
 * forever instead; no test or document relied on that).
 */
enum kiwi_bind_timeout {
    KIWI_BIND_TIMEOUT_OK = 0,
    KIWI_BIND_TIMEOUT_NEGATIVE = -1,
    KIWI_BIND_TIMEOUT_NAN = -2,
};
#define KIWI_BIND_MAX_TIMEOUT_MS 0x7fffffff
int kiwi_bind_timeout_ms(double seconds, int *ms);

/*
 * Blocks of at least KIWI_BIND_HUGE_MIN bytes that a binding fills with a
 * received message ask for transparent huge pages: 4 MiB, because below
 * that a 2 MiB-aligned interior is too small for the advice to pay
 * (measured: 27 against 48 ms per 64 MiB message, 10% at 5 MB, nothing at
 * 3 MB).
 */
#define KIWI_BIND_HUGE_MIN ((size_t)4 * 1024 * 1024)

/*
 * kiwi_bind_advise_huge - ask for transparent huge pages for the 2 MiB-
 * aligned interior of [p, p + n), a fresh block not yet written (the advice
 * decides how its pages come): the whole huge pages of that block only,
 * never a page shared with another allocation. 2 MiB is x86-64's and 4 KiB-
 * page arm64's PMD size; elsewhere the advice is merely less useful. A
 * failure (no THP in this kernel, not Linux) changes nothing. Callers decide
 * whether a block is large enough (KIWI_BIND_HUGE_MIN).
 */
void kiwi_bind_advise_huge(void *p, size_t n);

#endif /* KIWI_IPC_BIND_H */
