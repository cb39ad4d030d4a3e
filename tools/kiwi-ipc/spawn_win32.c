/*
 * spawn_win32.c - --exec's command on Windows (tool_os.h).
 *
 * CMD runs as `%ComSpec% /d /s /c "CMD"` (cmd.exe from the system
 * directory when ComSpec is not set): /d skips AutoRun commands from the
 * registry, and /s makes cmd.exe take everything between the first and
 * the last quote verbatim, so CMD needs no quoting of its own beyond what
 * cmd.exe itself wants. Its stdin and stdout are two anonymous pipes and
 * its stderr is ours. Exactly those three handles are inherited (a
 * STARTUPINFOEX handle list), so no handle of ours, pipe or other, leaks
 * into CMD or what it starts. CMD runs in a job object that kills it and
 * everything it started when it is stopped, when it has exited (what it
 * left running: bridge.c), or when we exit. Its result
 * is cmd.exe's exit code (GetExitCodeProcess): that of the last command
 * CMD ran.
 */
#include "kiwi.h"

#include <windows.h>

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

const char kiwi_shell_text[] = "cmd.exe /d /s /c";

struct kiwi_child {
    HANDLE process;
    HANDLE job; /* NULL if the process could not be put in one */
    DWORD pid;
    DWORD exit_code;
    int exited;
};

/* The exit code we give CMD when we stop it (it is not reported). */
#define STOPPED_CODE 1

static void win_error(const char *what)
{
    DWORD e = GetLastError();
    char msg[256] = "";
    FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                   NULL, e, 0, msg, sizeof(msg), NULL);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' ||
                     msg[n - 1] == ' ' || msg[n - 1] == '.')) {
        msg[--n] = '\0';
    }
    kiwi_error("--exec: %s: %s (Windows error %lu)", what,
               n > 0 ? msg : "unknown error", (unsigned long)e);
}

/* cmd.exe's path: %ComSpec%, else the system directory's cmd.exe. */
static wchar_t *shell_path(void)
{
    DWORD n = GetEnvironmentVariableW(L"ComSpec", NULL, 0);
    if (n > 0) {
        wchar_t *p = malloc(n * sizeof(*p));
        if (p != NULL && GetEnvironmentVariableW(L"ComSpec", p, n) == n - 1) {
            return p;
        }
        free(p);
    }
    UINT d = GetSystemDirectoryW(NULL, 0);
    wchar_t *p = d > 0 ? malloc((d + 16) * sizeof(*p)) : NULL;
    if (p == NULL || GetSystemDirectoryW(p, d) == 0) {
        free(p);
        return NULL;
    }
    wcscat(p, L"\\cmd.exe");
    return p;
}

/* `"SHELL" /d /s /c "CMD"`, with CMD converted from UTF-8. */
static wchar_t *command_line(const wchar_t *shell, const char *cmd)
{
    int n =
        MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, cmd, -1, NULL, 0);
    if (n <= 0) {
        return NULL;
    }
    size_t size = wcslen(shell) + (size_t)n + 32;
    wchar_t *line = malloc(size * sizeof(*line));
    wchar_t *wcmd = malloc((size_t)n * sizeof(*wcmd));
    if (line == NULL || wcmd == NULL) {
        free(line);
        free(wcmd);
        return NULL;
    }
    MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, cmd, -1, wcmd, n);
    swprintf(line, size, L"\"%ls\" /d /s /c \"%ls\"", shell, wcmd);
    free(wcmd);
    return line;
}

/* A job that kills its processes when its last handle closes: ours, when
 * we stop CMD or exit. */
static HANDLE kill_on_close_job(void)
{
    HANDLE job = CreateJobObjectW(NULL, NULL);
    if (job == NULL) {
        return NULL;
    }
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
    memset(&info, 0, sizeof(info));
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &info,
                                 sizeof(info))) {
        CloseHandle(job);
        return NULL;
    }
    return job;
}

/* Start the process, suspended, inheriting exactly handles[0..n). */
static int create(wchar_t *shell, wchar_t *line, HANDLE in, HANDLE out,
                  HANDLE err, PROCESS_INFORMATION *pi)
{
    HANDLE handles[3] = {in, out, err};
    DWORD n_handles = err != NULL ? 3 : 2;
    SIZE_T size = 0;
    InitializeProcThreadAttributeList(NULL, 1, 0, &size);
    LPPROC_THREAD_ATTRIBUTE_LIST attrs = malloc(size);
    if (attrs == NULL ||
        !InitializeProcThreadAttributeList(attrs, 1, 0, &size)) {
        free(attrs);
        win_error("InitializeProcThreadAttributeList");
        return -1;
    }
    int ok = 0;
    if (!UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                   handles, n_handles * sizeof(HANDLE), NULL,
                                   NULL)) {
        win_error("UpdateProcThreadAttribute");
    } else {
        STARTUPINFOEXW si;
        memset(&si, 0, sizeof(si));
        si.StartupInfo.cb = sizeof(si);
        si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
        si.StartupInfo.hStdInput = in;
        si.StartupInfo.hStdOutput = out;
        si.StartupInfo.hStdError = err;
        si.lpAttributeList = attrs;
        ok = CreateProcessW(shell, line, NULL, NULL, TRUE,
                            EXTENDED_STARTUPINFO_PRESENT | CREATE_SUSPENDED |
                                CREATE_UNICODE_ENVIRONMENT,
                            NULL, NULL, &si.StartupInfo, pi);
        if (!ok) {
            win_error("CreateProcessW (cmd.exe)");
        }
    }
    DeleteProcThreadAttributeList(attrs);
    free(attrs);
    return ok ? 0 : -1;
}

/* An inheritable duplicate of h (the child's end of something), or NULL. */
static HANDLE inheritable(HANDLE h)
{
    HANDLE dup = NULL;
    if (h == NULL || h == INVALID_HANDLE_VALUE ||
        !DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &dup, 0,
                         TRUE, DUPLICATE_SAME_ACCESS)) {
        return NULL;
    }
    return dup;
}

struct kiwi_child *kiwi_child_start(const char *cmd, int *to_cmd, int *from_cmd)
{
    struct kiwi_child *c = calloc(1, sizeof(*c));
    wchar_t *shell = shell_path();
    wchar_t *line = shell != NULL ? command_line(shell, cmd) : NULL;
    /* Our ends (to_w, from_r) are never inheritable; the child's ends are
     * inheritable duplicates, closed here once it has them. */
    HANDLE to_r = NULL, to_w = NULL, from_r = NULL, from_w = NULL;
    HANDLE child_in = NULL, child_out = NULL, child_err = NULL;
    PROCESS_INFORMATION pi = {0};
    int fd_to = -1, fd_from = -1;
    if (c == NULL || shell == NULL || line == NULL) {
        kiwi_error("--exec: %s", shell == NULL ? "cannot find cmd.exe"
                                 : c == NULL   ? "out of memory"
                                               : "CMD is not valid UTF-8");
        goto fail;
    }
    if (!CreatePipe(&to_r, &to_w, NULL, 0) ||
        !CreatePipe(&from_r, &from_w, NULL, 0)) {
        win_error("CreatePipe");
        goto fail;
    }
    child_in = inheritable(to_r);
    child_out = inheritable(from_w);
    /* No stderr (a GUI parent gave none): CMD gets none either. */
    child_err = inheritable(GetStdHandle(STD_ERROR_HANDLE));
    if (child_in == NULL || child_out == NULL) {
        win_error("DuplicateHandle");
        goto fail;
    }
    CloseHandle(to_r);
    CloseHandle(from_w);
    to_r = from_w = NULL;

    if (create(shell, line, child_in, child_out, child_err, &pi) < 0) {
        goto fail;
    }
    /* In the job before it runs, so that nothing it starts escapes. A
     * process already in a job that allows no nesting (Windows 7) runs
     * without one: stopping it then ends cmd.exe only. */
    c->job = kill_on_close_job();
    if (c->job != NULL && !AssignProcessToJobObject(c->job, pi.hProcess)) {
        CloseHandle(c->job);
        c->job = NULL;
    }
    ResumeThread(pi.hThread);
    CloseHandle(pi.hThread);
    c->process = pi.hProcess;
    c->pid = pi.dwProcessId;
    /* EOF on its stdout needs its copies only: close ours. */
    CloseHandle(child_in);
    CloseHandle(child_out);
    if (child_err != NULL) {
        CloseHandle(child_err);
    }
    child_in = child_out = child_err = NULL;

    /* Descriptors over our ends, binary (no CRLF translation). */
    fd_to = _open_osfhandle((intptr_t)to_w, _O_BINARY);
    fd_from = _open_osfhandle((intptr_t)from_r, _O_BINARY | _O_RDONLY);
    if (fd_to < 0 || fd_from < 0) {
        kiwi_error("--exec: _open_osfhandle: %s", strerror(errno));
        if (fd_to >= 0) {
            close(fd_to);
            to_w = NULL;
        }
        if (fd_from >= 0) {
            close(fd_from);
            from_r = NULL;
        }
        kiwi_child_stop(c, 2);
        WaitForSingleObject(c->process, INFINITE);
        kiwi_child_free(c);
        c = NULL;
        goto fail;
    }
    *to_cmd = fd_to;
    *from_cmd = fd_from;
    free(shell);
    free(line);
    return c;

fail:
    for (int i = 0; i < 7; i++) {
        HANDLE h[7] = {to_r,     to_w,      from_r,   from_w,
                       child_in, child_out, child_err};
        if (h[i] != NULL) {
            CloseHandle(h[i]);
        }
    }
    free(shell);
    free(line);
    free(c);
    return NULL;
}

long kiwi_child_pid(const struct kiwi_child *c)
{
    return (long)c->pid;
}

int kiwi_child_exited(struct kiwi_child *c)
{
    if (!c->exited && WaitForSingleObject(c->process, 0) == WAIT_OBJECT_0) {
        if (!GetExitCodeProcess(c->process, &c->exit_code)) {
            c->exit_code = 0; /* as POSIX, when waitpid fails */
        }
        c->exited = 1;
    }
    return c->exited;
}

void kiwi_child_stop(struct kiwi_child *c, int step)
{
    /* No SIGTERM to ask with: a console program has no message loop, and
     * a Ctrl-Break would reach our whole console. Both steps end CMD and,
     * through the job, everything it started. */
    (void)step;
    if (c->job == NULL || !TerminateJobObject(c->job, STOPPED_CODE)) {
        TerminateProcess(c->process, STOPPED_CODE);
    }
}

int kiwi_child_failed(const struct kiwi_child *c, int peer_gone, int output_cut,
                      char *why, size_t size)
{
    (void)peer_gone;
    /* Windows has no SIGPIPE: a write to the pipe we closed is a plain
     * error, after which the program exits as it pleases. So once we have
     * cut CMD's output, no exit code of its counts. */
    if (output_cut || c->exit_code == 0) {
        return 0;
    }
    /* NTSTATUS-like codes (0xC0000005, an access violation) read better
     * in hex, as Windows prints them. */
    if (c->exit_code >= 0xC0000000u) {
        snprintf(why, size, "exited with status 0x%08lX",
                 (unsigned long)c->exit_code);
    } else {
        snprintf(why, size, "exited with status %lu",
                 (unsigned long)c->exit_code);
    }
    return 1;
}

void kiwi_child_free(struct kiwi_child *c)
{
    if (c->job != NULL) {
        CloseHandle(c->job); /* kills whatever CMD left running */
    }
    CloseHandle(c->process);
    free(c);
}
