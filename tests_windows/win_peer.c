/*
 * win_peer.c - the peer process of the Windows tests.
 *
 *   win_peer sleep MS
 *       sleep, then exit 0 (a child that would inherit handles);
 *   win_peer scan-pipes
 *       exit with the number of kiwi-ipc pipe handles it inherited;
 *   win_peer dotnet-server PATH N
 *   win_peer dotnet-client PATH N
 *       the stand-in for a Kiwi program on .NET: make exactly .NET's
 *       Win32 calls (winutil.h's dn_*), echo N frames back as .NET writes
 *       them, then close the pipe and exit 0. Exit codes 2-5 say which
 *       step failed.
 */
#include "winutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "sleep") == 0) {
        Sleep((DWORD)atoi(argv[2]));
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "scan-pipes") == 0) {
        /* Count the pipe handles this process inherited, other than its
         * standard handles: inherited handles keep their values, so try
         * every value a handle can have here. kiwi-ipc's instances have
         * 64 KiB buffers, which tells them from any other pipe. */
        HANDLE std[3] = {GetStdHandle(STD_INPUT_HANDLE),
                         GetStdHandle(STD_OUTPUT_HANDLE),
                         GetStdHandle(STD_ERROR_HANDLE)};
        int found = 0;
        for (uintptr_t v = 4; v < 0x10000; v += 4) {
            HANDLE h = (HANDLE)v;
            if (h == std[0] || h == std[1] || h == std[2]) {
                continue;
            }
            DWORD flags, out_size, in_size, max;
            if (GetFileType(h) == FILE_TYPE_PIPE &&
                GetNamedPipeInfo(h, &flags, &out_size, &in_size, &max) &&
                (out_size == 65536 || in_size == 65536)) {
                found++;
            }
        }
        return found;
    }
    if (argc != 4) {
        fprintf(stderr, "usage: win_peer sleep MS | dotnet-server|"
                        "dotnet-client PATH N\n");
        return 2;
    }
    wchar_t path[1024];
    wu_widen(argv[2], path, 1024);
    int n = atoi(argv[3]);
    HANDLE h;
    if (strcmp(argv[1], "dotnet-server") == 0) {
        h = dn_server(path);
    } else if (strcmp(argv[1], "dotnet-client") == 0) {
        h = dn_client(path, 20000);
    } else {
        return 2;
    }
    if (h == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "win_peer: cannot open %s: error %lu\n", argv[2],
                GetLastError());
        return 3;
    }
    for (int i = 0; i < n; i++) {
        void *data;
        size_t len;
        if (dn_read_frame(h, &data, &len) != 0) {
            fprintf(stderr, "win_peer: read %d failed: %lu\n", i,
                    GetLastError());
            return 4;
        }
        int rc = dn_write_frame(h, data, len);
        free(data);
        if (rc != 0) {
            fprintf(stderr, "win_peer: write %d failed: %lu\n", i,
                    GetLastError());
            return 5;
        }
    }
    /* Dispose(): CloseHandle alone (no flush, no DisconnectNamedPipe);
     * the other end still reads what was written, then the end. */
    CloseHandle(h);
    return 0;
}
