# scripts/wheel-tools.sh - sourced by scripts/build-wheels and
# scripts/check-wheels: the pinned venv of packaging tools
# (tests_install/requirements-packaging.txt) under
# ${XDG_CACHE_HOME:-~/.cache}/kiwi-ipc/wheel-tools-<hash of the pins>: one
# venv per set of pins, so that checkouts with different pins side by side
# never remove the venv another one is building with. Needs root,
# base_python and cache set.
#
# wheel_tools RUNNER: make the venv if needed (RUNNER WHAT CMD... runs each
# step, e.g. build-wheels' `quietly`); sets tools and puts its bin on PATH
# (swig, auditwheel).
wheel_tools() {
    local run=$1 req=$root/tests_install/requirements-packaging.txt
    tools=$cache/wheel-tools-$(sha256sum <"$req" | cut -c1-12)
    # Checkouts side by side share the tools venv: one makes it at a time
    # (two at once removed each other's files).
    mkdir -p "$cache"
    exec 9>"$cache/wheel-tools.lock"
    flock 9
    if ! cmp -s "$req" "$tools/requirements.txt" 2>/dev/null ||
        ! "$tools/bin/python" -c '' 2>/dev/null; then
        echo "${0##*/}: tools venv $tools (pip install -r ${req#"$root"/})"
        rm -rf "$tools"
        "$run" "venv" "$base_python" -m venv "$tools"
        "$run" "pip install" "$tools/bin/python" -m pip install \
            --disable-pip-version-check --no-input -r "$req"
        cp "$req" "$tools/requirements.txt"
    fi
    exec 9>&-
    export PATH="$tools/bin:$PATH"
}
