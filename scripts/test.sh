#!/usr/bin/env bash
# The README's test command: a virtualenv with edge-lrcn and its convert + test extras, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${EDGE_LRCN_TEST_VENV:-.venv}"
PY="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[convert,test]"
export PATH="$PWD/$VENV/bin:$PATH"
exec "$VENV/bin/python" -m pytest "$@"
