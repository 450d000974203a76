#!/usr/bin/env bash
# The module graph of every crate of the workspace, checked for cycles (issue 19, item 4).
# Needs cargo-modules (`cargo install cargo-modules --version 0.27.0 --locked`; 0.28 needs
# rustc 1.98). Not part of CI: installing cargo-modules takes ~15 minutes on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for target in "-p joulebench-records --lib" "-p joulebench-probes --lib" \
    "-p joulebench-harness --lib" "-p joulebench-report --lib" \
    "-p joulebench-reference --lib" "-p joulebench --bin joulebench"; do
    printf '%-40s ' "$target:"
    # shellcheck disable=SC2086
    RUST_BACKTRACE=0 cargo modules dependencies $target --no-externs --no-sysroot 2>/dev/null \
        | python3 bench/module_cycles.py || status=1
done
exit $status
