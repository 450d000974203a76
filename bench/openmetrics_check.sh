#!/usr/bin/env bash
# Checks `joulebench report DIR --openmetrics FILE` with Prometheus's own parser and linter,
# `promtool check metrics` (Debian's `prometheus` package, installed when promtool is
# missing: needs root and the package registry once). The Rust tests read the same file
# with the openmetrics-parser crate.
#
#   bash bench/openmetrics_check.sh [RUN_DIR]     # without RUN_DIR: a fresh quickstart run
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null; then
    echo "promtool missing: installing Debian's prometheus package"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
# shellcheck source=bench/formats_run.sh
. bench/formats_run.sh "${1:-}"
out="$(mktemp -d "${TMPDIR:-/tmp}/joulebench-om.XXXXXX")"
"$JOULEBENCH" report "$RUN_DIR" --no-plots --openmetrics "$out/joulebench.prom" >/dev/null
echo "$(promtool --version 2>&1 | head -1)"
echo "file: $out/joulebench.prom ($(grep -vc '^#' "$out/joulebench.prom") samples in $(grep -c '^# TYPE' "$out/joulebench.prom") families)"
grep '^joulebench_energy_per_inference_joules' "$out/joulebench.prom" || true
if promtool check metrics < "$out/joulebench.prom"; then
    echo "promtool check metrics: PASS (no error, no lint problem)"
else
    echo "promtool check metrics: FAIL" >&2
    exit 1
fi
