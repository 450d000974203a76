#!/usr/bin/env bash
# Attribution beside a CPU-burning neighbour: runs a small suite against joulebench's
# reference server (launched, so its process group is its scope) while a neighbour process
# keeps 0, 1 and 2 threads busy, and prints, per level, the machine's busy share, the
# server's and the client's share of busy CPU time, and the CPU package energy per
# inference whole and attributed to the server.
#
#   bash bench/attribution.sh [INFERENCES] [REPETITIONS]
#
# Needs only the Rust toolchain; builds the release binary. On a machine without RAPL
# the package energy is the labelled estimate, so the energies are *estimated*; the
# shares are measured (from /proc) either way.
set -euo pipefail
cd "$(dirname "$0")/.."
inferences=${1:-200}
repetitions=${2:-5}
cargo build --release --quiet
bin=target/release/joulebench
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cp suites/data/sentiment-sample.jsonl "$work/data.jsonl"
cat > "$work/suite.toml" <<TOML
[suite]
name = "attribution"

[servers.reference]
protocol = "tei-predict"
launch = ["{joulebench}", "serve", "--port", "{port}", "--classifier", "clf=small"]
ready_timeout_seconds = 120

[[models]]
name = "clf"
task = "text-classification"
class = "task-specific"
server = "reference"

[[datasets]]
name = "sample"
task = "text-classification"
path = "data.jsonl"
fields = { text = "sentence" }

[tasks.text-classification]
input = "{text}"

[schedule]
inferences = $inferences
repetitions = $repetitions
warmup = 10
idle_seconds = 2
cooldown_seconds = 1

[probes]
sources = ["rapl", "estimate"]
sample_hz = 10
TOML
printf '| neighbour busy threads | machine busy | server CPU share | client CPU share | package J / inference | server J / inference | source |\n|--:|--:|--:|--:|--:|--:|---|\n'
for threads in 0 1 2; do
  pids=()
  for _ in $(seq 1 "$threads"); do
    sh -c 'while :; do :; done' &
    pids+=($!)
  done
  "$bin" run --quiet --out "$work/run-$threads" "$work/suite.toml" >/dev/null
  for p in "${pids[@]}"; do kill "$p"; done
  python3 - "$work/run-$threads/summary.json" "$threads" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for c in doc["configurations"]:
    a = c["fidelity"]["attribution"]
    pct = lambda v: "–" if v is None else f"{v*100:.1f}%"
    s = a.get("server_cpu") or {}
    cl = a.get("client_cpu") or {}
    print(f"| {sys.argv[2]} | {pct(a.get('machine_busy_share'))} | {pct(s.get('share'))} | {pct(cl.get('share'))} | "
          f"{a.get('package_energy_j') or float('nan'):.4g} | {s.get('energy_j', float('nan')):.4g} | {c['source']} |")
PY
done
