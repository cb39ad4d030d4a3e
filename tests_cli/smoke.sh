#!/bin/sh
# smoke.sh TOOL - the kiwi-ipc tool against itself, with nothing but a shell:
# ctest runs it in every build tree, so the sanitizer build (no Python
# there) runs the tool's main paths too: usage errors, echo in every
# format, -l, --exec, and SIGINT removing the socket file.
set -eu
tool=$1
dir=$(mktemp -d /tmp/kclis.XXXXXX)
srv=
cleanup() {
    if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "smoke.sh: FAIL: $*" >&2; exit 1; }
wait_for() {
    i=0
    while [ ! -e "$1" ]; do
        i=$((i + 1))
        [ $i -lt 1000 ] || fail "$1 did not appear"
        sleep 0.01
    done
}

"$tool" --help >/dev/null || fail "--help"
[ "$("$tool" path /x/y)" = /x/y ] || fail "path"
rc=0; "$tool" connect 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "usage error: exit $rc, not 2"
rc=0; "$tool" connect "$dir/none" -t 0.1 2>/dev/null || rc=$?
[ $rc = 3 ] || fail "connect timeout: exit $rc, not 3"

"$tool" listen "$dir/p" --echo --clients 3 -q -t 20 & srv=$!
wait_for "$dir/p"
out=$("$tool" connect "$dir/p" -d 'héllo' -d '' -d 'a"b' -n 3 --format json -t 20)
[ "$out" = "$(printf '"héllo"\n""\n"a\\"b"')" ] || fail "json: $out"
out=$(printf 'one\ntwo\n' | "$tool" connect "$dir/p" -l -n 2 --format hex -t 20)
[ "$out" = "$(printf '6f6e65\n74776f')" ] || fail "-l hex: $out"
out=$(printf 'raw\nbytes' | "$tool" connect "$dir/p" -f - -n 1 --format raw -t 20)
[ "$out" = "$(printf 'raw\nbytes')" ] || fail "-f - raw: $out"
wait "$srv" || fail "listen exit $?"
srv=
[ ! -e "$dir/p" ] || fail "listen left its socket file"

"$tool" create "$dir/e" --exec 'head -n 1' -t 20 & srv=$!
out=$("$tool" connect "$dir/e" -d first -d second -t 20)
[ "$out" = first ] || fail "--exec: $out"
wait "$srv" || fail "create --exec exit $?"
srv=

"$tool" create "$dir/s" & srv=$!
wait_for "$dir/s"
kill -INT "$srv"
rc=0; wait "$srv" || rc=$?
srv=
[ $rc = 130 ] || fail "SIGINT: exit $rc, not 130"
[ ! -e "$dir/s" ] || fail "SIGINT left the socket file"
echo "smoke.sh: ok"
