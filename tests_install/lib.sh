# lib.sh - helpers for the tests_install/ scripts (sourced, bash).
#
# The scripts get their inputs from the environment that
# tests_install/CMakeLists.txt gives them (see there): KIWI_SRC, KIWI_BUILD,
# KIWI_WORK, KIWI_PREFIX, KIWI_CONFIG, CMAKE, CC, CFLAGS, GENERATOR, ...
#
# Exit status 77 means "skipped" (ctest SKIP_RETURN_CODE): a tool the test
# needs is missing on this machine. The message says which, and which Debian
# package brings it.
set -euo pipefail

say() { printf '%s: %s\n' "${0##*/}" "$*"; }
die() { printf '%s: FAILED: %s\n' "${0##*/}" "$*" >&2; exit 1; }
skip() { printf '%s: SKIPPED: %s\n' "${0##*/}" "$*"; exit 77; }

# need TOOL "why / Debian package": skip unless TOOL runs.
need() {
    command -v "$1" >/dev/null 2>&1 || skip "$1 not found ($2)"
}

# A private, short temporary directory for pipe names (a socket path must
# stay under 108 bytes), removed on exit along with any peer left running.
KIWI_TMP=$(mktemp -d /tmp/kiwi-inst.XXXXXX)
KIWI_PIDS=()
cleanup() {
    local pid
    for pid in "${KIWI_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$KIWI_TMP"
}
trap cleanup EXIT

# fresh_dir DIR: DIR, empty.
fresh_dir() {
    rm -rf "$1"
    mkdir -p "$1"
}

# same_file A B: die unless A and B have the same contents.
same_file() {
    cmp -s "$1" "$2" || die "$1 differs from $2"
}

# expect WHAT ACTUAL EXPECTED
expect() {
    [[ "$2" == "$3" ]] || die "$1: expected '$3', got '$2'"
    say "ok: $1 = $2"
}

# soname FILE: the SONAME of a shared library.
soname() {
    readelf -d "$1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'
}

# needed FILE: its DT_NEEDED entries, one a line.
needed() {
    readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

# pair SERVER CLIENT MESSAGE: run `SERVER server NAME` and
# `CLIENT client NAME MESSAGE` (kiwi_echo programs, or commands that take
# the same arguments) against each other; check the echoed reply.
pair() {
    local server=$1 client=$2 message=$3 name reply spid
    name="$KIWI_TMP/pair$RANDOM"
    "$server" server "$name" &
    spid=$!
    KIWI_PIDS+=("$spid")
    reply=$("$client" client "$name" "$message") || die "client $client failed"
    wait "$spid" || die "server $server failed"
    expect "echo of '$message' (${server##*/} <- ${client##*/})" "$reply" \
        "$message"
}

# The header's version, the one source of truth.
kiwi_version() {
    sed -n 's/^#define KIWI_IPC_VERSION "\(.*\)"$/\1/p' \
        "$KIWI_SRC/libipc/include/kiwi_ipc.h"
}

# pc ARGS...: pkg-config ARGS, without the trailing blank it prints.
pc() {
    local out
    out=$(pkg-config "$@") || return
    printf '%s\n' "${out%"${out##*[![:space:]]}"}"
}
