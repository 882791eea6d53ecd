#!/usr/bin/env bash
# The README's test command: the system tools the tests run for real (mosquitto and its clients, systemd-analyze,
# systemd-sysusers, openssl, Debian's chromium for the page's browser tests; installed with apt-get when run as root,
# listed otherwise), a virtualenv with edge-lrcn and its convert + test extras (Playwright drives chromium), then
# ruff and mypy (EDGE_LRCN_LINT=0 skips them), then pytest (arguments are passed on). A test whose tool is missing is
# skipped, and fails when CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${EDGE_LRCN_TEST_VENV:-.venv}"
PY="${PYTHON:-python3}"

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
missing=()  # Debian/Ubuntu package names
have mosquitto || missing+=(mosquitto)
have mosquitto_sub || missing+=(mosquitto-clients)
{ have systemd-analyze && have systemd-sysusers; } || missing+=(systemd)
have openssl || missing+=(openssl)
have chromium || missing+=(chromium)
"$PY" -c 'import ensurepip, venv' 2>/dev/null || [ -x "$VENV/bin/python" ] || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "scripts/test.sh: installing ${missing[*]} (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "scripts/test.sh: not installed: ${missing[*]}; the tests that need them are skipped (and fail with" \
         "CI=true). Install them: sudo apt-get install ${missing[*]} (or run this script as root)" >&2
  fi
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[convert,test]"
export PATH="$PWD/$VENV/bin:$PATH"
# lint and types (configured in pyproject.toml), before the tests; a finding fails the command. On by default (the
# whole tree is clean); EDGE_LRCN_LINT=0 skips them while you iterate
# (both run, so one command shows every finding; ~0.1 s and ~7 s with a cold mypy cache, ~0.3 s warm)
if [ "${EDGE_LRCN_LINT:-1}" = 1 ]; then
  lint_ok=1
  "$VENV/bin/python" -m ruff check edge_lrcn convert tests benchmarks scripts || lint_ok=0
  "$VENV/bin/python" -m mypy || lint_ok=0
  if [ "$lint_ok" = 0 ]; then
    echo "scripts/test.sh: ruff or mypy found problems (above); the tests did not run" >&2
    exit 1
  fi
fi
# two pytest-xdist workers (CI has 2 cores), each test file on one worker (its module fixtures are built once);
# EDGE_LRCN_TEST_WORKERS=N for another number, 0 for one process (serial, as before)
workers="${EDGE_LRCN_TEST_WORKERS:-2}"
xdist=()
if [ "$workers" != 0 ]; then
  xdist=(-n "$workers" --dist loadfile)
fi
exec "$VENV/bin/python" -m pytest "${xdist[@]}" "$@"
