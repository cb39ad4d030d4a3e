/*
 * test_os_win32.c - test_os.h on Windows: Windows threads (no
 * libwinpthread beside the tests), QueryPerformanceCounter, and a bare
 * named pipe client opened as .NET's NamedPipeClientStream opens one
 * (CreateFileW, no overlapped I/O, waiting out ERROR_PIPE_BUSY).
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include "test_os.h"

#include "kiwi_ipc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define set_error tos__set_error

/* "what: <the system's text for GetLastError()> (code)". */
static void set_os_error(const char *what)
{
    DWORD e = GetLastError();
    char text[256] = "";
    FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                   NULL, e, 0, text, sizeof(text), NULL);
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    set_error("%s: %s (%lu)", what, text, (unsigned long)e);
}

/* ---- time ---------------------------------------------------------------- */

long long tos_now_us(void)
{
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    return (long long)(c.QuadPart / f.QuadPart * 1000000 +
                       c.QuadPart % f.QuadPart * 1000000 / f.QuadPart);
}

void tos_sleep_us(long long us)
{
    /* Sleep's unit is the millisecond; round up, so a sleep is never
     * shorter than asked. */
    Sleep((DWORD)((us + 999) / 1000));
}

/* ---- threads ------------------------------------------------------------- */

struct start {
    void *(*fn)(void *);
    void *arg;
};

static DWORD WINAPI trampoline(void *p)
{
    struct start s = *(struct start *)p;
    free(p);
    s.fn(s.arg);
    return 0;
}

int tos_thread_start(tos_thread *t, void *(*fn)(void *), void *arg)
{
    struct start *s = malloc(sizeof(*s));
    if (s == NULL) {
        set_error("out of memory");
        return -1;
    }
    s->fn = fn;
    s->arg = arg;
    HANDLE h = CreateThread(NULL, 0, trampoline, s, 0, NULL);
    if (h == NULL) {
        set_os_error("CreateThread");
        free(s);
        return -1;
    }
    *t = h;
    return 0;
}

int tos_thread_join(tos_thread t, int timeout_ms)
{
    if (WaitForSingleObject(t, (DWORD)timeout_ms) != WAIT_OBJECT_0)
        return -1;
    CloseHandle(t);
    return 0;
}

long tos_thread_id(void)
{
    return (long)GetCurrentThreadId();
}

int tos_wait_blocked(long id, int timeout_ms)
{
    /* Windows shows no cheap, reliable state of another thread's wait
     * (wine's NtQuerySystemInformation does not fill it in): give the
     * thread time to get there instead. */
    (void)id;
    Sleep((DWORD)(timeout_ms < 50 ? timeout_ms : 50));
    return 0;
}

/* ---- process and environment ----------------------------------------------
 */

long tos_pid(void)
{
    return (long)GetCurrentProcessId();
}

void tos_setenv(const char *name, const char *value)
{
    /* The C runtime's copy (getenv reads it) and the process's. */
    _putenv_s(name, value ? value : "");
    SetEnvironmentVariableA(name, value);
}

int tos_run_self(const char *const args[], int timeout_ms)
{
    char exe[MAX_PATH];
    DWORD n = GetModuleFileNameA(NULL, exe, sizeof(exe));
    if (n == 0 || n >= sizeof(exe)) {
        set_os_error("GetModuleFileName");
        return -1;
    }
    /* Each argument quoted (none of ours holds a quote or ends in a
     * backslash, so no escaping is needed). */
    char cmd[4096];
    int at = snprintf(cmd, sizeof(cmd), "\"%s\"", exe);
    for (size_t i = 0; args[i] != NULL; i++) {
        if (strchr(args[i], '"') != NULL) {
            set_error("an argument with a quote: %s", args[i]);
            return -1;
        }
        at += snprintf(cmd + at, sizeof(cmd) - (size_t)at, " \"%s\"", args[i]);
        if (at >= (int)sizeof(cmd)) {
            set_error("command line too long");
            return -1;
        }
    }
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    int tries = 0;
    while (
        !CreateProcessA(exe, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
        if (!tos_start_again(exe, &tries)) {
            set_os_error(exe);
            return -1;
        }
    }
    int rc = -1;
    if (WaitForSingleObject(pi.hProcess, (DWORD)timeout_ms) == WAIT_OBJECT_0) {
        DWORD code = 0;
        GetExitCodeProcess(pi.hProcess, &code);
        rc = (int)code;
    } else {
        set_error("%s: still running after %d ms", cmd, timeout_ms);
        TerminateProcess(pi.hProcess, 99);
        WaitForSingleObject(pi.hProcess, 5000);
    }
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    return rc;
}

int tos_start_again(const char *what, int *tries)
{
    DWORD e = GetLastError();
    if (e == ERROR_INTERNAL_ERROR && ++*tries < 3) {
        fprintf(stderr, "%s could not be started (error %lu); trying again\n",
                what, (unsigned long)e);
        Sleep((DWORD)(100 * *tries));
        SetLastError(e);
        return 1;
    }
    SetLastError(e);
    return 0;
}

/* ---- a private temp dir ----------------------------------------------------
 */

int tos_make_dir(char *out, size_t cap, const char *tmpdir)
{
    (void)tmpdir; /* the process's temp dir already honours %TMP% */
    static LONG counter;
    char base[MAX_PATH + 1];
    DWORD n = GetTempPathA(sizeof(base), base);
    if (n == 0 || n >= sizeof(base)) {
        set_os_error("GetTempPath");
        return -1;
    }
    for (int tries = 0; tries < 100; tries++) {
        int k = snprintf(out, cap, "%skiwi-ipc-%lu-%ld", base,
                         (unsigned long)GetCurrentProcessId(),
                         (long)InterlockedIncrement(&counter));
        if (k <= 0 || (size_t)k >= cap) {
            set_error("temp dir name too long under %s", base);
            return -1;
        }
        if (CreateDirectoryA(out, NULL))
            return 0;
        if (GetLastError() != ERROR_ALREADY_EXISTS)
            break;
    }
    set_os_error(out);
    return -1;
}

void tos_remove_tree(const char *dir)
{
    char pattern[MAX_PATH + 4];
    snprintf(pattern, sizeof(pattern), "%s\\*", dir);
    WIN32_FIND_DATAA fd;
    HANDLE f = FindFirstFileA(pattern, &fd);
    if (f != INVALID_HANDLE_VALUE) {
        do {
            if (strcmp(fd.cFileName, ".") == 0 ||
                strcmp(fd.cFileName, "..") == 0)
                continue;
            char path[MAX_PATH + 4];
            snprintf(path, sizeof(path), "%s\\%s", dir, fd.cFileName);
            if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
                tos_remove_tree(path);
            else if (!DeleteFileA(path))
                fprintf(stderr, "teardown: cannot remove %s (%lu)\n", path,
                        (unsigned long)GetLastError());
        } while (FindNextFileA(f, &fd));
        FindClose(f);
    }
    if (!RemoveDirectoryA(dir))
        fprintf(stderr, "teardown: cannot remove %s (%lu)\n", dir,
                (unsigned long)GetLastError());
}

void tos_pipe_base(const char *dir, char *out, size_t cap)
{
    /* Pipes live under \\.\pipe\, not in the dir: a name made of the
     * process and the dir's own unique leaf. */
    const char *leaf = dir;
    for (const char *p = dir; *p; p++) {
        if (*p == '\\' || *p == '/')
            leaf = p + 1;
    }
    snprintf(out, cap, "kiwi-test-%s", leaf);
}

/* ---- a raw peer -------------------------------------------------------------
 */

tos_raw tos_raw_connect(const char *name, int timeout_ms)
{
    char path[IPC_PATH_MAX];
    wchar_t w[IPC_PATH_MAX];
    if (ipc_path(name, path, sizeof(path)) < 0) {
        set_error("ipc_path(%s): %s", name, ipc_last_error());
        return TOS_RAW_NONE;
    }
    MultiByteToWideChar(CP_UTF8, 0, path, -1, w, IPC_PATH_MAX);
    long long end = tos_now_us() / 1000 + timeout_ms;
    for (;;) {
        HANDLE h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                               OPEN_EXISTING, 0, NULL);
        if (h != INVALID_HANDLE_VALUE)
            return (tos_raw)h;
        DWORD e = GetLastError();
        /* No free instance yet (busy), or none made yet: wait, as
         * NamedPipeClientStream.Connect does. */
        if ((e != ERROR_PIPE_BUSY && e != ERROR_FILE_NOT_FOUND) ||
            tos_now_us() / 1000 >= end) {
            SetLastError(e);
            set_os_error(path);
            return TOS_RAW_NONE;
        }
        WaitNamedPipeW(w, 20);
        Sleep(1);
    }
}

tos_raw tos_raw_pair(const char *name, int *h)
{
    /* A listener and a bare client: on Windows the library's server side
     * makes the pipe, as it does for a Kiwi client. */
    int l = ipc_listen(name);
    if (l <= 0) {
        set_error("ipc_listen(%s): %s", name, ipc_last_error());
        return TOS_RAW_NONE;
    }
    tos_raw r = tos_raw_connect(name, 10000);
    if (r == TOS_RAW_NONE) {
        ipc_close(l);
        return TOS_RAW_NONE;
    }
    *h = ipc_accept(l, 10000);
    if (*h <= 0) {
        set_error("ipc_accept(%s) of a raw client: %s (%s)", name,
                  ipc_errname(*h), ipc_last_error());
        CloseHandle((HANDLE)r);
        ipc_close(l);
        return TOS_RAW_NONE;
    }
    ipc_close(l);
    return r;
}

long long tos_raw_write(tos_raw r, const void *p, size_t n)
{
    DWORD w = 0;
    DWORD chunk = n > (1u << 30) ? (1u << 30) : (DWORD)n;
    if (!WriteFile((HANDLE)r, p, chunk, &w, NULL)) {
        set_os_error("WriteFile");
        return -1;
    }
    return w;
}

long long tos_raw_read(tos_raw r, void *p, size_t n)
{
    DWORD got = 0;
    DWORD chunk = n > (1u << 30) ? (1u << 30) : (DWORD)n;
    if (!ReadFile((HANDLE)r, p, chunk, &got, NULL)) {
        DWORD e = GetLastError();
        if (e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED)
            return 0; /* the end of the stream */
        set_os_error("ReadFile");
        return -1;
    }
    return got;
}

void tos_raw_close(tos_raw r)
{
    CloseHandle((HANDLE)r);
}
