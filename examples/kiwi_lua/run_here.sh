#!/bin/sh
# run_here.sh - run this example where Kiwi is not installed: the .NET
# stand-in for server.kiwi in the background, and client.lua.
#
# Usage: sh run_here.sh LUA SERVER_COMMAND...
#   e.g. sh run_here.sh lua5.4 mono ../../build/examples/kiwi_lua/server_standin.exe
#   (where Kiwi is installed: sh run_here.sh lua5.4 kiwi server.kiwi)
# Run from this directory; kiwi_ipc must be on LUA_PATH / LUA_CPATH.
#
# Prints what the server printed, then what the client printed (each
# process writes to its own file, so the two never interleave), and exits
# non-zero if either failed.
set -u
lua=${1:?usage: sh run_here.sh LUA SERVER_COMMAND...}
shift
[ $# -gt 0 ] || { echo "usage: sh run_here.sh LUA SERVER_COMMAND..." >&2; exit 2; }

out=$(mktemp -d "${TMPDIR:-/tmp}/kiwi_lua_example.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT

"$@" >"$out/server.out" 2>"$out/server.err" &
server=$!
"$lua" client.lua >"$out/client.out" 2>"$out/client.err"
client_status=$?
if [ "$client_status" -ne 0 ]; then
    # The server may still be waiting for a client that will not come.
    kill "$server" 2>/dev/null
fi
wait "$server"
server_status=$?

echo "--- server.kiwi"
cat "$out/server.out"
echo "--- client.lua"
cat "$out/client.out"
cat "$out/server.err" "$out/client.err" >&2
[ "$client_status" -eq 0 ] && [ "$server_status" -eq 0 ]
