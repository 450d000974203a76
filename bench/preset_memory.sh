#!/usr/bin/env bash
# The reference server's resident memory per preset: starts `joulebench serve` with one
# model at a time, waits until /v1/models answers (the model is loaded), and reads the
# server's VmRSS and VmHWM (peak) from /proc. Prints a Markdown table for docs/techniques.md
# (MB = 10⁶ bytes throughout).
# Not part of the tests. Usage: bench/preset_memory.sh [PRESET[:FORMAT][+...] ...]
# (default: every generator and encoder preset in FP32, and the technique variants).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${JOULEBENCH:-}" ]; then
    cargo build --quiet --release --bin joulebench
    JOULEBENCH="${CARGO_TARGET_DIR:-target}/release/joulebench"
fi
if [ $# -eq 0 ]; then
    set -- classifier:tiny classifier:small classifier:distilbert classifier:base \
        tiny small base medium large bloom-560m bloom-1b1 bloom-1b7 \
        flan-t5-small flan-t5-base flan-t5-large \
        llama-test smollm2-135m qwen2.5-0.5b llama-3.2-1b tinyllama-1.1b \
        smollm2-135m:q8_0 smollm2-135m:q4_0 smollm2-135m:q4_k smollm2-135m:ternary \
        smollm2-135m+prune=50% smollm2-135m+mod \
        smollm2-moe-8x2 smollm2-moe-8x2-dense-active smollm2-moe-8x2-dense-total
fi
port=$((20000 + RANDOM % 20000))
echo "| preset | parameters | weights MB | resident after load MB | peak MB | load s |"
echo "|---|---|---|---|---|---|"
for spec in "$@"; do
    case "$spec" in
        classifier:*) flag=(--classifier "m=${spec#classifier:}") ;;
        *) flag=(--generator "m=$spec") ;;
    esac
    start=$(date +%s.%N)
    "$JOULEBENCH" serve --port "$port" "${flag[@]}" >/dev/null 2>&1 &
    pid=$!
    info=""
    for _ in $(seq 1 1200); do
        if info=$(curl -sf "http://127.0.0.1:$port/v1/models" 2>/dev/null); then break; fi
        if ! kill -0 "$pid" 2>/dev/null; then info=""; break; fi
        sleep 0.25
    done
    loaded=$(date +%s.%N)
    if [ -z "$info" ]; then
        echo "| $spec | did not load | | | | |"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        continue
    fi
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    python3 - "$spec" "$info" "$rss" "$hwm" "$start" "$loaded" <<'PY'
import json, sys
spec, info, rss, hwm, start, loaded = sys.argv[1:]
m = json.loads(info)["data"][0]
params = m["parameters"]
active = m.get("active_parameters", params)
p = f"{params / 1e6:.1f}M" + (f" ({active / 1e6:.1f}M active)" if active != params else "")
w = m["weights"]["bytes"] / 1e6
mb = lambda kib: int(kib) * 1024 / 1e6
print(f"| {spec} | {p} | {w:.0f} | {mb(rss):.0f} | {mb(hwm):.0f} | {float(loaded) - float(start):.1f} |")
PY
done
