#!/usr/bin/env bash
# The console in a real browser: starts `roster demo --json` on a free loopback port, runs the
# tests beside this file with node's test runner (playwright-core driving Debian's chromium,
# axe-core for accessibility), then stops the demo.
#
#   bash tests/browser/run.sh [PATH_TO_ROSTER_BINARY] [node --test arguments…]
#
# Without a binary it builds one (`cargo build -p roster`). The node modules live outside the
# clone (ROSTER_NPM_CACHE, /var/tmp/roster-npm by default), installed from package-lock.json and
# installed again whenever the pins change. No tool ever downloads a browser: the tests drive
# CHROMIUM (/usr/bin/chromium; `apt-get install chromium`). Screenshots of every main page go
# to target/browser-screenshots/. The files run one after another, in the order of their
# numbers: each continues the story of one demo deployment.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [[ $# -gt 0 && $1 != -* ]]; then
  roster_bin="$1"
  shift
else
  (cd "$repo" && cargo build -q -p roster)
  roster_bin="${CARGO_TARGET_DIR:-$repo/target}/debug/roster"
fi
[[ -x $roster_bin ]] || { echo "browser: no roster binary at $roster_bin" >&2; exit 2; }
roster_bin="$(cd "$(dirname "$roster_bin")" && pwd)/$(basename "$roster_bin")"

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[[ -x $CHROMIUM ]] || { echo "browser: no chromium at $CHROMIUM (apt-get install chromium)" >&2; exit 2; }

# Installs the pinned modules into the cache unless it holds the hash of the pins from the last
# install; the stamp is written last, so an interrupted install is redone rather than trusted.
modules="${ROSTER_NPM_CACHE:-/var/tmp/roster-npm}"
want="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [[ ! -f $modules/.stamp || $(cat "$modules/.stamp") != "$want" ]]; then
  echo "browser: installing node modules into $modules"
  rm -rf "$modules"
  mkdir -p "$modules"
  cp "$here/package.json" "$here/package-lock.json" "$modules/"
  (cd "$modules" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$modules/.stamp"
fi
export NODE_PATH="$modules/node_modules"

work="$(mktemp -d)"
demo_pid=
stop_demo() {
  if [[ -n $demo_pid ]]; then
    kill -TERM "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_demo EXIT

export ROSTER_BIN="$roster_bin"
export ROSTER_BROWSER_WORK="$work"
export ROSTER_SCREENSHOTS="${ROSTER_SCREENSHOTS:-$repo/target/browser-screenshots}"
mkdir -p "$ROSTER_SCREENSHOTS"
# The tests talk to the demo on loopback only; a proxy set for the installs must not carry that.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

env -u ROSTER_DATABASE_URL -u ROSTER_DATA_DIR -u ROSTER_MASTER_KEY -u ROSTER_MASTER_KEY_FILE \
  "$roster_bin" --data-dir "$work/data" demo --json --listen 127.0.0.1:0 \
  >"$work/demo.json" 2>"$work/demo.log" &
demo_pid=$!
for _ in $(seq 1 600); do
  [[ -s $work/demo.json ]] && break
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    echo "browser: roster demo stopped before it served:" >&2
    cat "$work/demo.log" >&2
    exit 1
  fi
  sleep 0.1
done
[[ -s $work/demo.json ]] || { echo "browser: roster demo did not start in 60 s" >&2; cat "$work/demo.log" >&2; exit 1; }
ROSTER_DEMO="$(head -n 1 "$work/demo.json")"
export ROSTER_DEMO

cd "$here"
status=0
node --test --test-concurrency=1 "$@" \
  1-guide.test.js 2-javascript-off.test.js 3-security.test.js 4-accessibility.test.js || status=$?
if [[ $status -ne 0 ]]; then
  echo "browser: the demo's log:" >&2
  cat "$work/demo.log" >&2
fi
exit "$status"
