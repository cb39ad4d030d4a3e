/*
 * winutil.c - see winutil.h.
 */
#include "winutil.h"

#include "kiwi_ipc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wu_name(char *buf, size_t cap, const char *tag)
{
    static LONG counter;
    snprintf(buf, cap, "kiwi-test-%lu-%ld-%s", GetCurrentProcessId(),
             InterlockedIncrement(&counter), tag);
}

const char *wu_wine_version(void)
{
    HMODULE nt = GetModuleHandleA("ntdll.dll");
    if (nt == NULL) {
        return NULL;
    }
    const char *(*get)(void) =
        (const char *(*)(void))(void *)GetProcAddress(nt, "wine_get_version");
    return get != NULL ? get() : NULL;
}

void wu_widen(const char *s, wchar_t *out, int cap)
{
    MultiByteToWideChar(CP_UTF8, 0, s, -1, out, cap);
}

int wu_wait_pipe(const char *name, int ms)
{
    char path[IPC_PATH_MAX];
    wchar_t w[IPC_PATH_MAX];
    if (ipc_path(name, path, sizeof(path)) < 0) {
        return 0;
    }
    wu_widen(path, w, IPC_PATH_MAX);
    long long end = tos_now_us() / 1000 + ms;
    do {
        /* Asks without taking an instance. */
        if (WaitNamedPipeW(w, 1) || GetLastError() == ERROR_SEM_TIMEOUT) {
            return 1;
        }
        Sleep(2);
    } while (tos_now_us() / 1000 < end);
    return 0;
}

int wu_spawn_peer(const char *args, int inherit, PROCESS_INFORMATION *pi)
{
    wchar_t exe[MAX_PATH];
    DWORD n = GetModuleFileNameW(NULL, exe, MAX_PATH);
    while (n > 0 && exe[n - 1] != L'\\' && exe[n - 1] != L'/') {
        n--;
    }
    exe[n] = L'\0';
    wchar_t cmd[2048];
    wchar_t wargs[1024];
    wu_widen(args, wargs, 1024);
    _snwprintf(cmd, 2048, L"\"%lswin_peer.exe\" %ls", exe, wargs);
    cmd[2047] = L'\0';
    STARTUPINFOW si;
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    memset(pi, 0, sizeof(*pi));
    int tries = 0;
    while (!CreateProcessW(NULL, cmd, NULL, NULL, inherit ? TRUE : FALSE, 0,
                           NULL, NULL, &si, pi)) {
        if (!tos_start_again("win_peer.exe", &tries)) {
            return -1;
        }
    }
    return 0;
}

int wu_reap(PROCESS_INFORMATION *pi, DWORD ms)
{
    int rc = -1;
    if (WaitForSingleObject(pi->hProcess, ms) == WAIT_OBJECT_0) {
        DWORD code;
        GetExitCodeProcess(pi->hProcess, &code);
        rc = (int)code;
    } else {
        TerminateProcess(pi->hProcess, 99);
        WaitForSingleObject(pi->hProcess, 5000);
    }
    CloseHandle(pi->hProcess);
    CloseHandle(pi->hThread);
    return rc;
}

void wu_vector(int i, const char **data, size_t *len)
{
    static char *big;
    switch (i) {
    case 0:
        *data = "";
        *len = 0;
        return;
    case 1:
        *data = "hello, kiwi";
        break;
    case 2:
        /* 2-, 3- and 4-byte UTF-8 sequences, and a NUL inside */
        *data = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9d\x84\x9e";
        break;
    default:
        if (big == NULL) {
            big = malloc(1 << 20);
            for (size_t k = 0; k < (1u << 20); k++) {
                big[k] = (char)(k * 7 + (k >> 11));
            }
        }
        *data = big;
        *len = 1 << 20;
        return;
    }
    *len = strlen(*data);
}

/* ---- .NET's calls ------------------------------------------------------- */

HANDLE dn_server(const wchar_t *path)
{
    /* NamedPipeServerStream.Create: PIPE_ACCESS_DUPLEX |
     * FILE_FLAG_FIRST_PIPE_INSTANCE (maxInstances == 1), PipeOptions.None;
     * byte type and read mode; buffers 0; default security. */
    HANDLE h = CreateNamedPipeW(
        path, PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE,
        PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, 0, 0, 0, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        return h;
    }
    /* WaitForConnection: ERROR_PIPE_CONNECTED means the client came first. */
    if (!ConnectNamedPipe(h, NULL) && GetLastError() != ERROR_PIPE_CONNECTED) {
        CloseHandle(h);
        return INVALID_HANDLE_VALUE;
    }
    return h;
}

HANDLE dn_client(const wchar_t *path, int ms)
{
    long long end = tos_now_us() / 1000 + ms;
    for (;;) {
        HANDLE h = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                               OPEN_EXISTING, 0, NULL);
        if (h != INVALID_HANDLE_VALUE) {
            return h;
        }
        DWORD e = GetLastError();
        if (e != ERROR_PIPE_BUSY && e != ERROR_FILE_NOT_FOUND) {
            return INVALID_HANDLE_VALUE;
        }
        if (!WaitNamedPipeW(path, 50)) {
            e = GetLastError();
            if (e != ERROR_FILE_NOT_FOUND && e != ERROR_SEM_TIMEOUT) {
                return INVALID_HANDLE_VALUE;
            }
        }
        if (tos_now_us() / 1000 >= end) {
            SetLastError(ERROR_SEM_TIMEOUT);
            return INVALID_HANDLE_VALUE;
        }
        /* .NET's SpinWait; a millisecond keeps it off the CPU here. */
        Sleep(1);
    }
}

int dn_write_all(HANDLE h, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        DWORD w = 0;
        DWORD chunk = n > (1u << 30) ? (1u << 30) : (DWORD)n;
        if (!WriteFile(h, c, chunk, &w, NULL)) {
            return -1;
        }
        c += w;
        n -= w;
    }
    return 0;
}

int dn_read_all(HANDLE h, void *p, size_t n)
{
    char *c = p;
    size_t got = 0;
    while (got < n) {
        DWORD r = 0;
        DWORD chunk = n - got > (1u << 30) ? (1u << 30) : (DWORD)(n - got);
        if (!ReadFile(h, c + got, chunk, &r, NULL)) {
            DWORD e = GetLastError();
            if (e == ERROR_BROKEN_PIPE && got == 0) {
                return 1;
            }
            return -1;
        }
        got += r;
    }
    return 0;
}

int dn_write_frame(HANDLE h, const void *data, size_t len)
{
    unsigned char hdr[4] = {(unsigned char)(len >> 24),
                            (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8), (unsigned char)len};
    if (dn_write_all(h, hdr, 4) != 0) {
        return -1;
    }
    return len > 0 ? dn_write_all(h, data, len) : 0;
}

int dn_read_frame(HANDLE h, void **data, size_t *len)
{
    unsigned char hdr[4];
    int rc = dn_read_all(h, hdr, 4);
    if (rc != 0) {
        return rc;
    }
    size_t n = ((size_t)hdr[0] << 24) | ((size_t)hdr[1] << 16) |
               ((size_t)hdr[2] << 8) | hdr[3];
    char *p = malloc(n + 1);
    if (p == NULL || (n > 0 && dn_read_all(h, p, n) != 0)) {
        free(p);
        return -1;
    }
    *data = p;
    *len = n;
    return 0;
}
