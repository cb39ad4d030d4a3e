/*
 * peer_win32.c - peer_os.h on Windows: GetTickCount64, a bare named pipe
 * for raw bytes (opened as .NET's client opens one, but overlapped so that
 * every read has a deadline), and a timer that ends the process when its
 * lifetime is over. Windows has no socket files and no SIGINT to send to
 * another process's script, so the stale and interrupt modes fail as
 * "unsupported" (the Lua specs that need them skip on Windows).
 */
#include "peer_os.h"

#include <kiwi_ipc.h>

#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <string.h>

static HANDLE lifetime_timer;

static VOID CALLBACK lifetime_over(PVOID arg, BOOLEAN fired)
{
    (void)arg;
    (void)fired;
    fprintf(stderr, "kiwi_peer: lifetime over\n");
    ExitProcess(142); /* as POSIX's SIGALRM death would say: 128 + 14 */
}

void peer_os_start(int lifetime_s)
{
    /* Bytes as written: the specs read "\n", whatever reads them. */
    _setmode(_fileno(stdout), _O_BINARY);
    if (lifetime_timer != NULL) {
        DeleteTimerQueueTimer(NULL, lifetime_timer, NULL);
        lifetime_timer = NULL;
    }
    if (lifetime_s > 0 &&
        !CreateTimerQueueTimer(&lifetime_timer, NULL, lifetime_over, NULL,
                               (DWORD)lifetime_s * 1000, 0,
                               WT_EXECUTEONLYONCE)) {
        peer_fail_os("CreateTimerQueueTimer");
    }
}

const char *peer_os_error(void)
{
    static char text[64];
    snprintf(text, sizeof(text), "Windows error %lu", GetLastError());
    return text;
}

long long peer_now_ms(void)
{
    return (long long)GetTickCount64();
}

void peer_sleep_ms(long ms)
{
    Sleep((DWORD)ms);
}

int peer_file_exists(const char *path)
{
    return GetFileAttributesA(path) != INVALID_FILE_ATTRIBUTES;
}

/* ---- raw mode: a bare named pipe ------------------------------------- */

struct peer_raw {
    HANDLE h;
    OVERLAPPED ov; /* one operation at a time */
};

struct peer_raw *peer_raw_connect(const char *name)
{
    char path[IPC_PATH_MAX];
    int rc = ipc_path(name, path, sizeof(path));
    if (rc < 0) {
        peer_fail_ipc(rc);
    }
    wchar_t wpath[IPC_PATH_MAX];
    if (MultiByteToWideChar(CP_UTF8, 0, path, -1, wpath, IPC_PATH_MAX) == 0) {
        peer_fail_os("MultiByteToWideChar");
    }
    long long end = peer_now_ms() + PEER_WAIT_MS;
    for (;;) {
        HANDLE h = CreateFileW(wpath, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                               OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
        if (h != INVALID_HANDLE_VALUE) {
            struct peer_raw *r = peer_xmalloc(sizeof(*r));
            r->h = h;
            memset(&r->ov, 0, sizeof(r->ov));
            r->ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
            if (r->ov.hEvent == NULL) {
                peer_fail_os("CreateEvent");
            }
            return r;
        }
        DWORD err = GetLastError();
        if ((err != ERROR_FILE_NOT_FOUND && err != ERROR_PIPE_BUSY) ||
            peer_now_ms() > end) {
            peer_fail_os("connect");
        }
        /* As .NET: wait a little for an instance (never a busy spin). */
        if (!WaitNamedPipeW(wpath, 50)) {
            peer_sleep_ms(5);
        }
    }
}

size_t peer_raw_write_some(struct peer_raw *r, const unsigned char *p, size_t n)
{
    DWORD part = n > 0x40000000 ? 0x40000000 : (DWORD)n, done = 0;
    ResetEvent(r->ov.hEvent);
    if (!WriteFile(r->h, p, part, NULL, &r->ov) &&
        GetLastError() != ERROR_IO_PENDING) {
        peer_fail_os("write");
    }
    if (!GetOverlappedResult(r->h, &r->ov, &done, TRUE)) {
        peer_fail_os("write");
    }
    return done;
}

long long peer_raw_read_some(struct peer_raw *r, unsigned char *p, size_t n,
                             long long left_ms)
{
    DWORD part = n > 0x40000000 ? 0x40000000 : (DWORD)n, done = 0;
    ResetEvent(r->ov.hEvent);
    if (!ReadFile(r->h, p, part, NULL, &r->ov)) {
        DWORD err = GetLastError();
        if (err == ERROR_BROKEN_PIPE) {
            return 0;
        }
        if (err != ERROR_IO_PENDING) {
            peer_fail_os("read");
        }
        if (WaitForSingleObject(r->ov.hEvent, (DWORD)left_ms) == WAIT_TIMEOUT) {
            CancelIoEx(r->h, &r->ov); /* what came meanwhile still counts */
        }
    }
    if (!GetOverlappedResult(r->h, &r->ov, &done, TRUE)) {
        DWORD err = GetLastError();
        if (err == ERROR_BROKEN_PIPE) {
            return 0;
        }
        if (err == ERROR_OPERATION_ABORTED) {
            return -1;
        }
        peer_fail_os("read");
    }
    return done > 0 ? (long long)done : -1;
}

void peer_raw_close(struct peer_raw *r)
{
    CloseHandle(r->h);
}

/* ---- modes Windows has no use for ------------------------------------ */

void peer_make_stale(const char *name)
{
    (void)name;
    peer_fail("unsupported", "Windows has no socket files: a named pipe "
                             "goes away with its last handle");
}

int peer_run_interrupted(long delay_ms, char **argv)
{
    (void)delay_ms;
    (void)argv;
    peer_fail("unsupported", "no SIGINT for another process's script on "
                             "Windows");
}
