#!/usr/bin/env bash
# Sourced by bench/{openmetrics,junit,codecarbon}_check.sh: sets JOULEBENCH (the binary:
# $JOULEBENCH when set, else built with cargo, honouring CARGO_TARGET_DIR) and RUN_DIR (the
# folder given as $1, else a fresh quickstart run in a scratch folder, about 2 minutes on 2
# cores, no GPU needed).
if [ -z "${JOULEBENCH:-}" ]; then
    cargo build --quiet --bin joulebench
    JOULEBENCH="${CARGO_TARGET_DIR:-target}/debug/joulebench"
fi
if [ -n "${1:-}" ]; then
    RUN_DIR="$1"
    [ -f "$RUN_DIR/run.json" ] || { echo "error: $RUN_DIR has no run.json: give a joulebench results folder" >&2; exit 2; }
else
    RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/joulebench-formats.XXXXXX")/quickstart"
    echo "running the quickstart into $RUN_DIR ..."
    "$JOULEBENCH" run suites/quickstart.toml --out "$RUN_DIR" --quiet
fi
