#!/usr/bin/env bash
# make fresh-check: the README's two commands as a new user meets them.
#
# A throwaway clone of this checkout's HEAD, with nothing pigsalt keeps between runs: the
# offline repository, its download cache, the signing key, the node image and the sandbox
# (/var/lib/pigsalt) moved aside, and an empty pip cache. Then `make demo` and `make test`
# in the README's order, each one's duration and result printed at the end.
#
# Not reset: the host's Debian packages (make deps installs what is missing, as on a new
# machine) and the machine's own pip configuration.
#
# On success the clone and the moved-aside /var/lib/pigsalt are removed (the new one, built
# from scratch, stays; the logs are copied to /var/tmp first). On failure both stay, with their paths printed.
set -uo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
state_dir=/var/lib/pigsalt
stamp="$(date +%Y%m%d-%H%M%S)"
work="$(mktemp -d /var/tmp/pigsalt-fresh-check.XXXXXX)"
aside=""

say() { printf 'fresh-check: %s\n' "$*"; }
die() { say "$*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "needs root (the sandbox and the repository do)"

# A running sandbox holds mounts below /var/lib/pigsalt: take it down with the code that made it.
if [ -e "$state_dir/sandbox/state.json" ] || grep -q " $state_dir/sandbox/" /proc/self/mountinfo; then
    [ -x "$here/.venv/bin/pigsalt" ] || die "a sandbox is up and $here/.venv is missing: run 'pigsalt sandbox down' first"
    say "taking the running sandbox down"
    "$here/.venv/bin/pigsalt" sandbox down || die "sandbox down failed"
fi
if [ -e "$state_dir" ]; then
    aside="$state_dir.before-fresh-check-$stamp"
    mv "$state_dir" "$aside" || die "cannot move $state_dir aside"
    say "moved $state_dir aside to $aside"
fi

git clone --quiet "$here" "$work/pigsalt" || die "git clone failed"
export PIP_CACHE_DIR="$work/pip-cache"
mkdir -p "$PIP_CACHE_DIR"
say "clone of $(git -C "$work/pigsalt" rev-parse --short HEAD) in $work/pigsalt; pip cache $PIP_CACHE_DIR"

results=()
failed=0
run_step() {
    local name="$1" start end code
    start=$(date +%s)
    say "make $name (log: $work/$name.log)"
    (cd "$work/pigsalt" && make "$name") >"$work/$name.log" 2>&1
    code=$?
    end=$(date +%s)
    results+=("make $name: $([ $code -eq 0 ] && echo ok || echo "FAILED (exit $code)") in $((end - start)) s")
    [ $code -eq 0 ] || failed=1
    tail -n 5 "$work/$name.log" | sed "s/^/  $name | /"
}

run_step demo
run_step test

say "summary"
for line in "${results[@]}"; do printf '  %s\n' "$line"; done
if [ $failed -eq 0 ]; then
    # The logs outlive the clone: their durations (--durations) are what the next session profiles.
    for log in "$work"/*.log; do cp "$log" "/var/tmp/pigsalt-fresh-check-$stamp-$(basename "$log")"; done
    say "logs kept as /var/tmp/pigsalt-fresh-check-$stamp-*.log"
    rm -rf "$work"
    [ -z "$aside" ] || rm -rf "$aside"
    say "passed; removed the clone${aside:+ and $aside}"
    exit 0
fi
say "FAILED; kept the clone and logs in $work${aside:+, the old state in $aside}"
exit 1
