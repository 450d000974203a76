#!/bin/sh
# The harness client's own overhead per request against a loopback server that answers
# at once, beside a bare keep-alive socket, curl and (when installed) wrk -c1 -t1.
# Not part of the tests. Usage: bench/runner_overhead.sh [REQUESTS]
set -eu
cd "$(dirname "$0")/.."
JOULEBENCH_BENCH_REQUESTS="${1:-5000}" exec cargo bench -p joulebench-harness --bench client_overhead
