#!/usr/bin/env bash
# make test's pytest, in two lanes side by side (docs/testing.md):
#   e2e:   tests/e2e, the sandbox's nodes; started first, in the background;
#   local: tests/unit, tests/integration, tests/functional, in that order, in the foreground.
# Each lane is its own pytest session with its own temporary directory; the e2e lane's output
# is printed when both have ended. The exit code is the first non-zero of the two (local first).
# (pytest-xdist's loadgroup would do this in one session, but with pytest 9 it ignores the
# groups and runs e2e tests on both workers at once: two sandboxes fighting over one lock.)
set -uo pipefail

bin="${1:-.venv/bin}"
work="$(mktemp -d /tmp/pigsalt-lanes.XXXXXX)"
e2e_pid=""

stop_e2e() {
    # An interrupted make test: the e2e lane gets pytest's Ctrl-C, so its sandbox goes down.
    if [ -n "$e2e_pid" ] && kill -0 "$e2e_pid" 2>/dev/null; then
        kill -INT "$e2e_pid" 2>/dev/null
        wait "$e2e_pid" 2>/dev/null
    fi
}
trap 'stop_e2e; exit 130' INT TERM

"$bin/pytest" tests/e2e --basetemp="$work/e2e" -p no:cacheprovider </dev/null >"$work/e2e.log" 2>&1 &
e2e_pid=$!
echo "lanes: the e2e lane runs in the background (pid $e2e_pid); its output follows the local lane's"

"$bin/pytest" tests/unit tests/integration tests/functional --basetemp="$work/local"
local_code=$?

echo "lanes: the local lane ended (exit $local_code); waiting for the e2e lane"
wait "$e2e_pid"
e2e_code=$?
e2e_pid=""
echo "================================ the e2e lane ================================"
cat "$work/e2e.log"
rm -rf "$work"
echo "lanes: local exit $local_code, e2e exit $e2e_code"
[ "$local_code" -ne 0 ] && exit "$local_code"
exit "$e2e_code"
