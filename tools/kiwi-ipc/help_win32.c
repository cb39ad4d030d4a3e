/*
 * help_win32.c - what --help says that is true on Windows only (tool_os.h).
 */
#include "tool_os.h"

const char kiwi_help_exec[] =
    "      --exec CMD        run %ComSpec% /d /s /c \"CMD\" (cmd.exe): each\n"
    "                        received message becomes a line on its stdin\n"
    "                        (per --format, ending in \\n), each line it\n"
    "                        writes (ending in \\n or \\r\\n) becomes a\n"
    "                        message; ends when CMD exits or the peer\n"
    "                        closes (then CMD's job gets EOF, 1 s later\n"
    "                        is ended); CMD must flush each line\n"
    "                        (python -u)\n";

const char kiwi_help_platform[] =
    "NAME maps to \\\\.\\pipe\\NAME, as .NET's does on Windows. Arguments are\n"
    "taken as Unicode and messages, names and paths as UTF-8; stdin and\n"
    "stdout are binary (lines end in \\n alone; -l also takes \\r\\n).\n"
    "\n"
    "Exit status: 0 success; 1 failure (the library's message, naming the\n"
    "call, pipe, path and cause, is on stderr; also a non-zero exit code\n"
    "of --exec's CMD); 2 usage error (also an invalid NAME); 3 timeout; 4\n"
    "the peer closed before -n messages arrived. Ctrl-C and Ctrl-Break end\n"
    "it promptly, with exit code 0xC000013A (STATUS_CONTROL_C_EXIT), as\n"
    "Windows ends an interrupted program.\n";
