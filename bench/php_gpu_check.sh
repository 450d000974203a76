#!/usr/bin/env bash
# The GPU check of issue 7: suites/php/gpu-check.toml (a task-specific classifier against
# Flan-T5 and BLOOMz generators, all on servers/transformers with random weights, FP32, CUDA)
# measured with GPU energy over NVML. For a machine with an NVIDIA GPU, python3 with torch and
# transformers, and no internet or model weights.
#
#   bench/php_gpu_check.sh [OUT_DIR]      # default: $OUT when set, else results/
#
# Environment: JOULEBENCH (the binary; default target/release/joulebench, else `joulebench` on
# PATH), JB_TIME_LIMIT (seconds the run may take before it is interrupted, default 500: an
# interrupted run keeps its records and `joulebench run --resume DIR` completes it).
# Carrying the binary to a machine without the Rust toolchain: strip it first
# (`mkdir -p target/gpu && objcopy --strip-debug target/release/joulebench
# target/gpu/joulebench`: 28 MB instead of 166 MB) and set JOULEBENCH=target/gpu/joulebench.
#
# Writes OUT_DIR/php-gpu-check/ (the results folder), OUT_DIR/gpu-check-env.txt and
# OUT_DIR/probe-list.txt; exits non-zero when something needed is missing, the run fails, or
# no GPU energy was measured.
set -euo pipefail
cd "$(dirname "$0")/.."

out_dir="${1:-${OUT:-results}}"
mkdir -p "$out_dir"
run_dir="$out_dir/php-gpu-check"
if [ -e "$run_dir" ]; then
  run_dir="$out_dir/php-gpu-check-$(date -u +%Y%m%dT%H%M%SZ)"
fi

jb="${JOULEBENCH:-}"
if [ -z "$jb" ]; then
  if [ -x target/release/joulebench ]; then
    jb=target/release/joulebench
  elif command -v joulebench >/dev/null; then
    jb=joulebench
  else
    echo "error: no joulebench binary: build it (cargo build --release) or set JOULEBENCH" >&2
    exit 2
  fi
fi

echo "== python3, torch, transformers, CUDA"
if ! command -v python3 >/dev/null; then
  echo "error: python3 is not on PATH (the suite launches servers/transformers with it)" >&2
  exit 2
fi
python3 - <<'EOF' | tee "$out_dir/gpu-check-env.txt"
import sys
print("python", sys.version.split()[0], sys.executable)
try:
    import torch
    import transformers
except ImportError as e:
    sys.exit(f"error: servers/transformers needs torch and transformers: {e}")
print("torch", torch.__version__, "CUDA", torch.version.cuda)
print("transformers", transformers.__version__)
if not torch.cuda.is_available():
    sys.exit("error: torch sees no CUDA GPU")
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"cuda:{i}", p.name, f"{p.total_memory / 2**30:.1f} GiB")
EOF

echo "== NVML"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=index,name,driver_version,power.draw,temperature.gpu,memory.used,memory.total \
    --format=csv | tee -a "$out_dir/gpu-check-env.txt"
else
  echo "(no nvidia-smi; joulebench's probe list below says whether NVML loads)"
fi

echo "== joulebench probe list"
"$jb" --version
"$jb" probe list | tee "$out_dir/probe-list.txt"
if ! grep -q '^nvml: available' "$out_dir/probe-list.txt"; then
  echo "error: joulebench cannot read NVML here; see the nvml line above" >&2
  exit 1
fi

echo "== the plan"
"$jb" run --dry-run suites/php/gpu-check.toml

echo "== run (results in $run_dir)"
status=0
timeout --signal=INT --kill-after=30 "${JB_TIME_LIMIT:-500}" \
  "$jb" run --out "$run_dir" suites/php/gpu-check.toml || status=$?
if [ "$status" -ne 0 ]; then
  echo "joulebench run exited $status (130 or 124: interrupted; complete it with: $jb run --resume $run_dir)" >&2
fi

if [ -f "$run_dir/summary.md" ]; then
  echo "== summary.md"
  cat "$run_dir/summary.md"
fi
if [ -f "$run_dir/servers/transformers.log" ]; then
  echo "== server log (head)"
  head -n 20 "$run_dir/servers/transformers.log"
fi

echo "== GPU energy per inference (NVML, domains.csv)"
python3 - "$run_dir" <<'EOF'
import csv, json, os, sys
run = sys.argv[1]
path = os.path.join(run, "domains.csv")
if not os.path.exists(path):
    sys.exit("error: no domains.csv: the run did not finish a repetition")
manifest = json.load(open(os.path.join(run, "run.json")))
nvml = [p for p in manifest.get("probes", []) if p["name"] == "nvml"]
print("nvml source:", json.dumps(nvml) if nvml else "NOT USED")
rows = [r for r in csv.DictReader(open(path)) if r["source"] == "nvml"]
print(f"{'configuration':40s} {'domain':7s} {'reps':>4s} {'J/inference':>12s} {'net J':>10s} {'mean W':>8s} {'idle W':>8s}")
for r in rows:
    print(f"{r['config']:40s} {r['domain']:7s} {r['repetitions']:>4s} {float(r['energy_j_mean']):12.4f} "
          f"{float(r['net_energy_j_mean']):10.4f} {float(r['power_w_mean']):8.1f} {float(r['idle_power_w']):8.1f}")
measured = [r for r in rows if r["provenance"] == "measured" and float(r["energy_j_mean"]) > 0]
if not nvml or not measured:
    sys.exit("error: no GPU energy was measured over NVML")
print(f"GPU energy measured over NVML for {len(measured)} configuration(s)")
EOF
exit "$status"
