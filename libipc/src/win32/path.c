/*
 * win32/path.c - .NET's pipe name -> path rule on Windows, and so Kiwi's;
 * and "is a server there?", asked without connecting.
 *
 * NamedPipeServerStream and NamedPipeClientStream open
 * Path.GetFullPath(@"\\.\pipe\" + name), and .NET's GetFullPath is
 * GetFullPathNameW on Windows. So we call it too: '/' becomes '\', runs of
 * separators collapse, "." and ".." segments are resolved, and trailing
 * dots and spaces of the last segment are dropped, exactly as Kiwi's pipe
 * will be named. Then, as the .NET server does, the normalized
 * "\\.\pipe\anonymous" (any letter case) is reserved. Refused beyond what
 * .NET refuses, because no server could be made there (and a client would
 * open some other device): a name that normalizes to nothing
 * ("\\.\pipe\"), or out of "\\.\pipe\" ("..\COM1" is "\\.\COM1"); a path
 * longer than CreateNamedPipeW's documented 256 characters; a name that
 * is not valid UTF-8.
 */
#include "win32.h"

#include "error.h"

#include <stdio.h>
#include <string.h>

static const wchar_t prefix[] = L"\\\\.\\pipe\\";
#define PREFIX_LEN (sizeof(prefix) / sizeof(prefix[0]) - 1)

int ipc__os_pipe_path(const char *call, const char *name, char out[])
{
    wchar_t raw[IPC__W32_WPATH_CAP];
    wchar_t full[IPC__W32_WPATH_CAP];
    memcpy(raw, prefix, sizeof(prefix));
    if (ipc__w32_widen(name, raw + PREFIX_LEN,
                       IPC__W32_WPATH_CAP - (int)PREFIX_LEN) < 0) {
        return ipc__fail(IPC_EINVAL, 0,
                         "%s(\"%s\"): the pipe name is not valid UTF-8, or "
                         "longer than a pipe path can be (%d characters)",
                         call, name, IPC__OS_PATH_LEN_MAX);
    }
    DWORD n = GetFullPathNameW(raw, IPC__W32_WPATH_CAP, full, NULL);
    if (n == 0 || n >= IPC__W32_WPATH_CAP) {
        return ipc__fail(IPC_EINVAL, n == 0 ? (int)GetLastError() : 0,
                         "%s(\"%s\"): cannot normalize the pipe path", call,
                         name);
    }
    char shown[IPC_PATH_MAX];
    if (WideCharToMultiByte(CP_UTF8, 0, full, -1, shown, sizeof(shown), NULL,
                            NULL) == 0) {
        snprintf(shown, sizeof(shown), "(too long to show)");
    }
    if (n <= PREFIX_LEN ||
        CompareStringOrdinal(full, PREFIX_LEN, prefix, PREFIX_LEN, TRUE) !=
            CSTR_EQUAL) {
        return ipc__fail(IPC_EINVAL, 0,
                         "%s(\"%s\"): the pipe path normalizes to %s, which "
                         "names no pipe under \\\\.\\pipe\\",
                         call, name, shown);
    }
    if (CompareStringOrdinal(full, (int)n, L"\\\\.\\pipe\\anonymous", -1,
                             TRUE) == CSTR_EQUAL) {
        return ipc__fail(IPC_EINVAL, 0,
                         "%s(\"%s\"): the pipe path normalizes to %s; "
                         "\"anonymous\" is reserved as a pipe name (in any "
                         "letter case)",
                         call, name, shown);
    }
    if (n > IPC__OS_PATH_LEN_MAX) {
        return ipc__fail(IPC_EINVAL, 0,
                         "%s(\"%s\"): the pipe path is %lu characters; the "
                         "limit is %d",
                         call, name, (unsigned long)n, IPC__OS_PATH_LEN_MAX);
    }
    int len = WideCharToMultiByte(CP_UTF8, 0, full, (int)n + 1, out,
                                  IPC_PATH_MAX, NULL, NULL);
    if (len <= 0) {
        return ipc__fail(IPC_EINVAL, (int)GetLastError(),
                         "%s(\"%s\"): cannot convert the pipe path", call,
                         name);
    }
    return len - 1;
}

/*
 * A pipe exists exactly as long as some server holds an instance of it:
 * there is nothing stale on Windows to reclaim, so "exists" is "a server
 * is listening" (possibly busy with a client, as ipc_create's one-instance
 * pipe is). WaitNamedPipeW asks without opening an instance: it fails at
 * once when there is no such pipe, returns when an instance is free, and
 * times out (here after 1 ms) when every instance is busy.
 */
int ipc__os_listening_at(const char *path)
{
    wchar_t w[IPC__W32_WPATH_CAP];
    if (ipc__w32_widen(path, w, IPC__W32_WPATH_CAP) < 0) {
        return -1;
    }
    if (WaitNamedPipeW(w, 1)) {
        return 1;
    }
    DWORD e = GetLastError();
    if (e == ERROR_SEM_TIMEOUT || e == ERROR_PIPE_BUSY) {
        return 1;
    }
    if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ||
        e == ERROR_BAD_PATHNAME) {
        return 0;
    }
    return -1;
}
