/*
 * winutil.h - what the Windows-only tests share: unique pipe names, child
 * processes (win_peer.exe), wine detection, and a peer that speaks the
 * protocol with .NET's own Win32 calls. Threads and the clock are the C
 * suites' platform layer, tests_common/test_os.h.
 */
#ifndef KIWI_WINUTIL_H
#define KIWI_WINUTIL_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <stddef.h>
#include <stdint.h>

#include "test_os.h"

/* A pipe name no other test (or run) uses: pid, a counter and `tag`. */
void wu_name(char *buf, size_t cap, const char *tag);

/* wine's version ("8.0"), or NULL on Windows. */
const char *wu_wine_version(void);

/* Wait until a server exists at pipe `name` (within ms): 1 yes, 0 no. */
int wu_wait_pipe(const char *name, int ms);

/* Run win_peer.exe (beside this .exe) with `args`; `inherit`: pass
 * bInheritHandles=TRUE, as a program that spawns helpers might. */
int wu_spawn_peer(const char *args, int inherit, PROCESS_INFORMATION *pi);
/* Its exit code within ms, or -1 (then it is terminated). */
int wu_reap(PROCESS_INFORMATION *pi, DWORD ms);

/* The binary-safe vectors: empty, ASCII, multi-byte UTF-8, 1 MiB. */
#define WU_VECTORS 4
void wu_vector(int i, const char **data, size_t *len);

/* ---- .NET's calls (dotnet.c) -------------------------------------------- */

/* NamedPipeServerStream(name, InOut, 1) + WaitForConnection(): one
 * instance, no FILE_FLAG_OVERLAPPED, default security; blocks until a
 * client connects. INVALID_HANDLE_VALUE on failure. */
HANDLE dn_server(const wchar_t *path);
/* NamedPipeClientStream.Connect(): CreateFile, and on ERROR_PIPE_BUSY or
 * ERROR_FILE_NOT_FOUND WaitNamedPipe(path, 50) and again, until `ms`. */
HANDLE dn_client(const wchar_t *path, int ms);
/* Kiwi's framing as .NET writes it: a 4-byte big-endian length, then the
 * payload, in two writes. 0 or -1. */
int dn_write_frame(HANDLE h, const void *data, size_t len);
/* Read one frame into a malloc'd *data. 0, 1 at a clean end, or -1. */
int dn_read_frame(HANDLE h, void **data, size_t *len);
/* Write/read exactly n bytes with blocking calls. 0 or -1 (1: clean EOF
 * before any byte, for reads). */
int dn_write_all(HANDLE h, const void *p, size_t n);
int dn_read_all(HANDLE h, void *p, size_t n);

/* UTF-8 path to UTF-16 (static buffer per call site is the caller's). */
void wu_widen(const char *s, wchar_t *out, int cap);

#endif
