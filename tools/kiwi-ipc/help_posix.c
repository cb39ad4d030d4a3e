/*
 * help_posix.c - what --help says that is true on POSIX only (tool_os.h).
 */
#include "tool_os.h"

const char kiwi_help_exec[] =
    "      --exec CMD        run /bin/sh -c CMD: each received message\n"
    "                        becomes a line on its stdin (per --format),\n"
    "                        each line it writes becomes a message; ends\n"
    "                        when CMD exits or the peer closes (then CMD's\n"
    "                        process group gets EOF, 1 s later SIGTERM,\n"
    "                        1 s later SIGKILL); CMD must flush each line\n"
    "                        (stdbuf -oL, python3 -u)\n";

const char kiwi_help_platform[] =
    "A NAME starting with / is the socket path itself; any other NAME maps\n"
    "to $TMPDIR/CoreFxPipe_NAME (or /tmp/CoreFxPipe_NAME), as .NET's does.\n"
    "\n"
    "Exit status: 0 success; 1 failure (the library's message, naming the\n"
    "call, pipe, path and cause, is on stderr; also a non-zero exit of\n"
    "--exec's CMD); 2 usage error (also an invalid NAME); 3 timeout; 4 the\n"
    "peer closed before -n messages arrived. SIGINT and SIGTERM end it\n"
    "promptly, remove any socket file it created, and it then dies of the\n"
    "signal (a shell shows 130 or 143).\n";
