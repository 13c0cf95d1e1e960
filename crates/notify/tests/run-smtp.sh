#!/usr/bin/env bash
# Runs roster-notify's tests against a real SMTP server: aiosmtpd from PyPI, installed into a
# virtualenv under the user's cache dir (outside the clone), rebuilt whenever its pin changes.
# The tests start and stop the server themselves; without ROSTER_TEST_SMTP=1 they say they were
# not run.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
pin="aiosmtpd==1.4.6"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/roster-smtp/venv"

if [[ ! -f $venv/.stamp || $(cat "$venv/.stamp") != "$pin" ]]; then
  echo "smtp: installing $pin into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pin"
  echo "$pin" >"$venv/.stamp"
fi

cd "$repo"
ROSTER_TEST_SMTP=1 ROSTER_TEST_SMTP_PYTHON="$venv/bin/python" cargo test -p roster-notify --test notify
