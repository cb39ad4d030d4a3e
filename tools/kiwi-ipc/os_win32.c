/*
 * os_win32.c - the process on Windows (tool_os.h): wmain's UTF-16 command line
 * as UTF-8, Ctrl-C and Ctrl-Break, binary stdio, threads, time, files
 * with UTF-8 names, and lines ending in "\n" or "\r\n".
 */
#include "kiwi.h"

#include <windows.h>

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <signal.h>
#include <stdlib.h>

/* UTF-16 to UTF-8 (malloc'd), or NULL. An unpaired surrogate, which a
 * Windows command line may hold, becomes U+FFFD. */
static char *to_utf8(const wchar_t *w)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = n > 0 ? malloc((size_t)n) : NULL;
    if (s != NULL &&
        WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL) != n) {
        free(s);
        s = NULL;
    }
    return s;
}

/* The C runtime's own parse of the command line (quotes, backslashes), as
 * main() would get it, but in UTF-16: the ANSI code page cannot hold most
 * pipe names or messages. */
int wmain(int argc, wchar_t **wargv)
{
    char **argv = calloc((size_t)argc + 1, sizeof(*argv));
    if (argv == NULL) {
        fputs("kiwi-ipc: out of memory\n", stderr);
        return KIWI_EXIT_FAIL;
    }
    for (int i = 0; i < argc; i++) {
        argv[i] = to_utf8(wargv[i]);
        if (argv[i] == NULL) {
            fputs("kiwi-ipc: cannot convert the command line to UTF-8\n",
                  stderr);
            return KIWI_EXIT_FAIL;
        }
    }
    /* argv lives as long as the process: options point into it. */
    return kiwi_main(argc, argv);
}

/* The main thread, whose blocking read() or write() (a pipe nobody reads,
 * -f - waiting for input) Ctrl-C must end as a signal ends it on POSIX. */
static HANDLE main_thread;

/* Windows runs this in a thread of its own. Ctrl-C and Ctrl-Break are the
 * SIGINT of a console; closing the console, logging off and shutting down
 * are left to the default handler (the process ends; a named pipe, unlike
 * a socket file, leaves nothing behind). */
static BOOL WINAPI on_console_event(DWORD event)
{
    if (event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT) {
        return FALSE;
    }
    atomic_store(&kiwi_signalled, event == CTRL_C_EVENT ? SIGINT : SIGBREAK);
    if (main_thread != NULL) {
        /* A no-op unless the main thread is in a synchronous read or
         * write; the library's own I/O is overlapped and sees the hook. */
        CancelSynchronousIo(main_thread);
    }
    return TRUE;
}

void kiwi_os_setup(void)
{
    /* Bytes in, bytes out: no CRLF translation, no end at a ^Z. But a
     * console's input stays text, so that typing Ctrl-Z ends -l or -f -
     * as a Windows user expects (its CR LF ends a line either way). */
    if (GetFileType((HANDLE)_get_osfhandle(0)) != FILE_TYPE_CHAR) {
        _setmode(0, _O_BINARY);
    }
    _setmode(1, _O_BINARY);
    _setmode(2, _O_BINARY);
    DuplicateHandle(GetCurrentProcess(), GetCurrentThread(),
                    GetCurrentProcess(), &main_thread, 0, FALSE,
                    DUPLICATE_SAME_ACCESS);
    /* A process started with CREATE_NEW_PROCESS_GROUP begins with Ctrl-C
     * ignored (Ctrl-Break still comes): take it back, since a harness that
     * starts us so sends it to stop us. */
    SetConsoleCtrlHandler(NULL, FALSE);
    SetConsoleCtrlHandler(on_console_event, TRUE);
}

void kiwi_os_die_of_signal(int sig)
{
    (void)sig;
    /* What Windows' default handler makes of Ctrl-C and Ctrl-Break alike:
     * cmd.exe shows -1073741510, Python 3221225786. No exit() cleanup: a
     * -l thread may still hold stdin's lock. */
    ExitProcess((UINT)STATUS_CONTROL_C_EXIT);
}

struct kiwi_thread {
    HANDLE h;
};

/* What the new thread runs; its own, freed by it, so that a detached
 * thread never reads memory its starter has freed. */
struct thread_start {
    void *(*fn)(void *);
    void *arg;
};

static DWORD WINAPI thread_main(void *p)
{
    struct thread_start start = *(struct thread_start *)p;
    free(p);
    start.fn(start.arg);
    return 0;
}

/* No signals to block: Ctrl-C comes in a thread of Windows' own. */
int kiwi_thread_start(kiwi_thread **t, void *(*fn)(void *), void *arg)
{
    kiwi_thread *k = malloc(sizeof(*k));
    struct thread_start *start = malloc(sizeof(*start));
    if (k == NULL || start == NULL) {
        free(k);
        free(start);
        return -1;
    }
    start->fn = fn;
    start->arg = arg;
    k->h = CreateThread(NULL, 0, thread_main, start, 0, NULL);
    if (k->h == NULL) {
        free(k);
        free(start);
        return -1;
    }
    *t = k;
    return 0;
}

void kiwi_thread_join(kiwi_thread *t)
{
    WaitForSingleObject(t->h, INFINITE);
    CloseHandle(t->h);
    free(t);
}

void kiwi_thread_detach(kiwi_thread *t)
{
    CloseHandle(t->h); /* the thread runs on */
    free(t);
}

void kiwi_sleep_ms(int ms)
{
    Sleep((DWORD)ms);
}

long long kiwi_now_ms(void)
{
    return (long long)GetTickCount64();
}

int kiwi_open_read(const char *path)
{
    int n =
        MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, NULL, 0);
    wchar_t *w = n > 0 ? malloc((size_t)n * sizeof(*w)) : NULL;
    if (w == NULL) {
        errno = n > 0 ? ENOMEM : EINVAL; /* EINVAL: not UTF-8 */
        return -1;
    }
    MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, w, n);
    int fd = _wopen(w, _O_RDONLY | _O_BINARY | _O_NOINHERIT);
    int saved = errno;
    free(w);
    errno = saved;
    return fd;
}

ssize_t kiwi_getline(char **line, size_t *cap, FILE *in)
{
    /* msvcrt has no getline; getc keeps NUL bytes, which fgets loses. */
    size_t n = 0;
    int c;
    while ((c = getc(in)) != EOF) {
        if (n + 2 > *cap) {
            size_t bigger = *cap < 128 ? 128 : *cap * 2;
            char *p = realloc(*line, bigger);
            if (p == NULL) {
                errno = ENOMEM;
                return -1;
            }
            *line = p;
            *cap = bigger;
        }
        if (c == '\n') {
            if (n > 0 && (*line)[n - 1] == '\r') {
                n--; /* "\r\n", as Windows programs end a line */
            }
            (*line)[n] = '\0';
            return (ssize_t)n;
        }
        (*line)[n++] = (char)c;
    }
    if (n == 0 || ferror(in)) {
        return -1;
    }
    (*line)[n] = '\0'; /* a last line without a line ending */
    return (ssize_t)n;
}

const int kiwi_crlf_lines = 1;
const short kiwi_poll_end_events = IPC_POLLIN;

/* An anonymous pipe cannot be waited on (no overlapped I/O, and
 * WaitForSingleObject on it is undefined): PeekNamedPipe, which works on
 * anonymous pipes too, says how many bytes wait, or ERROR_BROKEN_PIPE at
 * the end (every write end closed), in short sleeps. */
int kiwi_pipe_wait(int fd, int ms)
{
    HANDLE h = (HANDLE)_get_osfhandle(fd);
    long long deadline = kiwi_now_ms() + ms;
    for (;;) {
        DWORD avail = 0;
        if (!PeekNamedPipe(h, NULL, 0, NULL, &avail, NULL)) {
            if (GetLastError() == ERROR_BROKEN_PIPE) {
                return 1; /* read() returns 0: the end */
            }
            errno = EIO;
            return -1;
        }
        if (avail > 0) {
            return 1;
        }
        long long left = deadline - kiwi_now_ms();
        if (left <= 0) {
            return 0;
        }
        Sleep(left < 5 ? (DWORD)left : 5);
    }
}

long long kiwi_pipe_available(int fd)
{
    DWORD avail = 0;
    if (!PeekNamedPipe((HANDLE)_get_osfhandle(fd), NULL, 0, NULL, &avail,
                       NULL)) {
        return GetLastError() == ERROR_BROKEN_PIPE ? 0 : -1;
    }
    return (long long)avail;
}
