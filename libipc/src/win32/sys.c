/*
 * win32/sys.c - clock, mutexes, sleeping, the per-thread slot, error text,
 * and the one wait loop every blocking call of the backend goes through,
 * so deadlines and the interrupt hook are handled in one place.
 */
#include "win32.h"

#include "error.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* QueryPerformanceCounter rather than GetTickCount64: the tick count moves
 * in steps of the timer interrupt (15.6 ms by default), coarser than the
 * timeouts callers give. The frequency is fixed at boot. */
int64_t ipc__os_now_ms(void)
{
    static atomic_llong freq;
    long long f = atomic_load_explicit(&freq, memory_order_relaxed);
    if (f == 0) {
        LARGE_INTEGER q;
        QueryPerformanceFrequency(&q);
        f = q.QuadPart;
        atomic_store_explicit(&freq, f, memory_order_relaxed);
    }
    LARGE_INTEGER c;
    QueryPerformanceCounter(&c);
    return (int64_t)(c.QuadPart / f * 1000 + c.QuadPart % f * 1000 / f);
}

/* The wait timeout for the next slice (see ipc__until_slice). */
static DWORD slice_ms(const struct ipc__until *u, int64_t end)
{
    int64_t ms = ipc__until_slice(u, end, end >= 0 ? ipc__os_now_ms() : 0);
    if (ms < 0) {
        return INFINITE;
    }
    return ms >= (int64_t)INFINITE ? INFINITE - 1 : (DWORD)ms;
}

/* Like ipc__w32_wait() up to `end`, but 2 when `end` was reached. With
 * ev NULL, just wait. */
static int wait_until(HANDLE ev, HANDLE wake, int64_t end,
                      const struct ipc__until *u)
{
    HANDLE hs[2];
    DWORD n = 0;
    if (ev != NULL) {
        hs[n++] = ev;
    }
    if (wake != NULL) {
        hs[n++] = wake;
    }
    for (;;) {
        DWORD ms = slice_ms(u, end);
        DWORD r = n > 0 ? WaitForMultipleObjects(n, hs, FALSE, ms)
                        : (Sleep(ms), WAIT_TIMEOUT);
        if (r < WAIT_OBJECT_0 + n) {
            return hs[r - WAIT_OBJECT_0] == ev ? 0 : 1;
        }
        if (r != WAIT_TIMEOUT) {
            return IPC_ESYSTEM;
        }
        /* A slice ended: the runtime has its say first, so Ctrl-C wins
         * over a deadline that happens to pass at the same time. */
        if (ipc__until_interrupted(u)) {
            return IPC_EINTR;
        }
        if (end >= 0 && ipc__os_now_ms() >= end) {
            return 2;
        }
    }
}

int ipc__w32_wait(HANDLE ev, HANDLE wake, const struct ipc__until *u)
{
    int rc = wait_until(ev, wake, u->deadline, u);
    return rc == 2 ? IPC_ETIMEDOUT : rc;
}

int ipc__os_sleep_until(const char *who, int64_t when,
                        const struct ipc__until *u)
{
    (void)who; /* Sleep() cannot fail */
    int64_t end = when;
    if (u->deadline >= 0 && u->deadline < end) {
        end = u->deadline;
    }
    int rc = wait_until(NULL, NULL, end, u);
    if (rc == 2) {
        return u->deadline >= 0 && ipc__os_now_ms() >= u->deadline
                   ? IPC_ETIMEDOUT
                   : 0;
    }
    return rc;
}

/* ---- mutexes ----------------------------------------------------------- */

void ipc__mutex_init(ipc__mutex *m)
{
    InitializeSRWLock(m);
}

void ipc__mutex_destroy(ipc__mutex *m)
{
    (void)m; /* an SRW lock holds no resources */
}

void ipc__mutex_lock(ipc__mutex *m)
{
    AcquireSRWLockExclusive(m);
}

/* SRW locks have no timed acquire: look again every millisecond. The
 * lock is contended only while another thread's send or recv on the same
 * pipe waits for the peer, so this loop is rare and short-lived. */
int ipc__mutex_lock_until(ipc__mutex *m, const struct ipc__until *u)
{
    if (u->deadline < 0 && u->hook == NULL) {
        AcquireSRWLockExclusive(m);
        return 0;
    }
    int64_t next_hook = ipc__os_now_ms() + IPC_INTERRUPT_SLICE_MS;
    for (;;) {
        if (TryAcquireSRWLockExclusive(m)) {
            return 0;
        }
        int64_t now = ipc__os_now_ms();
        if (u->hook != NULL && now >= next_hook) {
            if (ipc__until_interrupted(u)) {
                return IPC_EINTR;
            }
            next_hook = now + IPC_INTERRUPT_SLICE_MS;
        }
        if (u->deadline >= 0 && now >= u->deadline) {
            return IPC_ETIMEDOUT;
        }
        Sleep(1);
    }
}

/* ---- per-thread slots ----------------------------------------------- */

/*
 * Fiber-local slots, whose callbacks free the values when a thread ends
 * (TlsAlloc has no destructor). The callbacks live in this module, so the
 * module is pinned the first time: a Lua state that closes unloads its C
 * modules (FreeLibrary), and a callback left pointing into an unloaded DLL
 * would crash the next thread that exits.
 */
static atomic_ulong fls[IPC__TLS_SLOTS] = {FLS_OUT_OF_INDEXES,
                                           FLS_OUT_OF_INDEXES};
static INIT_ONCE fls_once = INIT_ONCE_STATIC_INIT;
static void (*_Atomic fls_dtor[IPC__TLS_SLOTS])(void *);

static void run_dtor(int slot, void *value)
{
    void (*fn)(void *) = atomic_load(&fls_dtor[slot]);
    if (value != NULL && fn != NULL) {
        fn(value);
    }
}

static void NTAPI fls_error(void *value)
{
    run_dtor(IPC__TLS_ERROR, value);
}

static void NTAPI fls_hook(void *value)
{
    run_dtor(IPC__TLS_HOOK, value);
}

void ipc__w32_pin_module(void)
{
    HMODULE self;
    GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                           GET_MODULE_HANDLE_EX_FLAG_PIN,
                       (LPCWSTR)(void *)&ipc__w32_pin_module, &self);
}

static BOOL CALLBACK make_fls(PINIT_ONCE once, void *param, void **ctx)
{
    (void)once;
    (void)param;
    (void)ctx;
    ipc__w32_pin_module();
    atomic_store(&fls[IPC__TLS_ERROR], FlsAlloc(fls_error));
    atomic_store(&fls[IPC__TLS_HOOK], FlsAlloc(fls_hook));
    return TRUE;
}

void *ipc__os_tls_get(int slot)
{
    /* Before any thread's first set the slot may not exist: then this
     * thread's value is empty either way. */
    DWORD i = (DWORD)atomic_load(&fls[slot]);
    return i != FLS_OUT_OF_INDEXES ? FlsGetValue(i) : NULL;
}

int ipc__os_tls_set(int slot, void *value, void (*dtor)(void *))
{
    atomic_store(&fls_dtor[slot], dtor);
    InitOnceExecuteOnce(&fls_once, make_fls, NULL, NULL);
    DWORD i = (DWORD)atomic_load(&fls[slot]);
    if (i == FLS_OUT_OF_INDEXES || !FlsSetValue(i, value)) {
        return IPC_ENOMEM;
    }
    return 0;
}

/* ---- copies of the library in one process ---------------------------- */

/*
 * Copies share nothing (each has its own statics), so they meet in the
 * kernel: copy k is whoever holds the named mutex
 * "Local\kiwi-ipc-<pid>-copy-<k>" (the object is only a name; nobody
 * locks it). The handle is kept, not inheritable, for the copy's life; the
 * name vanishes with the process, so nothing is left behind. CreateMutexW
 * says ERROR_ALREADY_EXISTS when another copy holds k.
 */
int ipc__os_copy_index(void)
{
    for (int k = 0; k <= 32; k++) {
        wchar_t name[64];
        _snwprintf(name, sizeof(name) / sizeof(name[0]),
                   L"Local\\kiwi-ipc-%lu-copy-%d", GetCurrentProcessId(), k);
        name[sizeof(name) / sizeof(name[0]) - 1] = L'\0';
        HANDLE m = CreateMutexW(NULL, FALSE, name);
        if (m == NULL) {
            return 0; /* cannot tell: copy 0's range */
        }
        if (GetLastError() != ERROR_ALREADY_EXISTS) {
            return k; /* `m` stays open: the claim */
        }
        CloseHandle(m);
    }
    return 0;
}

/* Windows has no fork(): a process's id is all that tells processes apart
 * (pipe.c's kept rest asks). */
long ipc__os_process_id(void)
{
    return (long)GetCurrentProcessId();
}

/* ---- error text --------------------------------------------------------- */

/* FormatMessage's text for a GetLastError() code, in UTF-8 and without
 * its trailing ".\r\n", followed by the code, e.g. "All pipe instances are
 * busy (Windows error 231)". */
void ipc__os_strerror(int err, char *buf, size_t cap)
{
    wchar_t w[512];
    DWORD n = FormatMessageW(
        FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
        (DWORD)err, 0, w, (DWORD)(sizeof(w) / sizeof(w[0])), NULL);
    while (n > 0 && (w[n - 1] == L'\r' || w[n - 1] == L'\n' ||
                     w[n - 1] == L' ' || w[n - 1] == L'.')) {
        n--;
    }
    /* Room for the text, keeping enough for the code after it. */
    size_t room = cap > 32 ? cap - 32 : 0;
    int len = 0;
    if (n > 0 && room > 0) {
        len = WideCharToMultiByte(CP_UTF8, 0, w, (int)n, buf, (int)room, NULL,
                                  NULL);
    }
    if (len <= 0) {
        snprintf(buf, cap, "Windows error %d", err);
        return;
    }
    snprintf(buf + len, cap - (size_t)len, " (Windows error %d)", err);
}

/* ---- strings ------------------------------------------------------------ */

int ipc__w32_widen(const char *s, wchar_t *out, int cap)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, out, cap);
    return n > 0 ? n - 1 : -1;
}
