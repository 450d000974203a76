#!/usr/bin/env bash
# Checks joulebench's emissions.csv against the real CodeCarbon 3.x (bench/codecarbon_check.py):
# same header, column for column, as a task-mode file CodeCarbon writes here with an
# offline tracker, and read by pandas. Creates (or reuses) a scratch venv under
# ${TMPDIR:-/tmp}/ccvenv with codecarbon 3.x from PyPI. The round trip through
# `joulebench import codecarbon` is checked by the Rust tests (report/tests/codecarbon_export.rs).
#
#   bash bench/codecarbon_check.sh [RUN_DIR]     # without RUN_DIR: a fresh quickstart run
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${TMPDIR:-/tmp}/ccvenv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(not m.version('codecarbon').startswith('3.'))" 2>/dev/null; then
    "$venv/bin/pip" install --quiet "codecarbon>=3,<4"
fi
# shellcheck source=bench/formats_run.sh
. bench/formats_run.sh "${1:-}"
"$JOULEBENCH" report "$RUN_DIR" --no-plots >/dev/null
scratch="$(mktemp -d "${TMPDIR:-/tmp}/joulebench-cc.XXXXXX")"
"$venv/bin/python" bench/codecarbon_check.py "$RUN_DIR/emissions.csv" "$scratch"
