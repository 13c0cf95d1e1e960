#!/usr/bin/env bash
# Runs Microsoft's own client libraries (MSAL, azure-identity and the Graph SDK for Python;
# msal-node, @azure/identity and the Graph client for JavaScript) against `roster sim --tls`,
# the way the outside compatibility check will. See README.md beside this file.
#
#   bash tests/compat/run.sh [PATH_TO_ROSTER_BINARY] [pytest arguments…]
#
# Without a binary it builds one (`cargo build -p roster`). The libraries live under the user's
# cache dir, outside the clone (a virtualenv from requirements.txt, node modules from
# node/package-lock.json), so a warm machine skips the install; each is rebuilt whenever its
# pins change, so CI on a clean machine installs exactly what is pinned. Needs python3 and
# node/npm. Exits non-zero on any failure; pytest prints the closing line.
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
[[ -x $roster_bin ]] || { echo "compat: no roster binary at $roster_bin" >&2; exit 2; }
roster_bin="$(cd "$(dirname "$roster_bin")" && pwd)/$(basename "$roster_bin")"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/roster-compat"

# install DIR STAMPED_FILE… -- COMMAND…: runs COMMAND in a fresh DIR unless DIR holds the hash of
# the stamped files from the last install. The stamp is written last, so an interrupted install
# is redone rather than trusted.
install() {
  local dir=$1 files=() want
  shift
  while [[ $1 != -- ]]; do files+=("$1"); shift; done
  shift
  want="$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)"
  [[ -f $dir/.stamp && $(cat "$dir/.stamp") == "$want" ]] && return
  echo "compat: installing into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$dir" && "$@")
  echo "$want" >"$dir/.stamp"
}

venv="$cache/venv"
install "$venv" "$here/requirements.txt" -- \
  bash -c 'python3 -m venv . && bin/python -m pip install --quiet --disable-pip-version-check -r "$1"' \
  _ "$here/requirements.txt"

node_dir="$cache/node"
install "$node_dir" "$here/node/package.json" "$here/node/package-lock.json" -- \
  bash -c 'cp "$1"/package.json "$1"/package-lock.json . && npm ci --no-audit --no-fund --loglevel=error' \
  _ "$here/node"
export NODE_PATH="$node_dir/node_modules"

# The simulator generates its certificate at start-up and writes it to ROSTER_SIM_CERT
# (conftest.py passes it as --cert-out) before it announces itself; it is the only root these
# runs need: requests (MSAL, azure-identity) reads REQUESTS_CA_BUNDLE, httpx (the Graph SDK)
# SSL_CERT_FILE, node (msal-node, fetch in the Graph client) NODE_EXTRA_CA_CERTS, each when a
# client is made, after the simulator has started.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cert="$work/sim-cert.pem"
export ROSTER_SIM_CERT="$cert"
export REQUESTS_CA_BUNDLE="$cert" SSL_CERT_FILE="$cert" NODE_EXTRA_CA_CERTS="$cert"
export ROSTER_BIN="$roster_bin"
# The tests talk to the simulator on loopback only; a proxy the machine sets for the package
# installs above must not carry that traffic.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export PYTHONDONTWRITEBYTECODE=1

cd "$here"
"$venv/bin/python" -m pytest -p no:cacheprovider "$@"
