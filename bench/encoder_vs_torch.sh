#!/bin/sh
# The reference server's `small` encoder (candle) against PyTorch eager on the same
# configuration (BERT-Small, random weights, one unbatched sequence), 16 to 512 tokens,
# with one thread each and with every core each. Rounds interleave the two so drift
# touches both alike; each figure is the best of RUNS passes after a warm-up.
#
# Usage: bench/encoder_vs_torch.sh [ROUNDS] [RUNS]   (defaults 3 and 21)
# Needs torch (and, for BertForSequenceClassification, transformers) from PyPI: a scratch
# venv at $VENV (default /tmp/joulebench-torch-venv) is made and filled when missing.
set -eu
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
RUNS="${2:-21}"
VENV="${VENV:-/tmp/joulebench-torch-venv}"
if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q torch transformers
fi
# ENCODER_BIN times another build of the encoder bench (an older commit's) instead.
if [ -z "${ENCODER_BIN:-}" ]; then
    ENCODER_BIN="$(cargo bench -q -p joulebench-reference --bench encoder --no-run --message-format=json |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "encoder" and m.get("executable"):
        print(m["executable"])')"
fi
ALL="$(nproc)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for round in $(seq 1 "$ROUNDS"); do
    for threads in 1 "$ALL"; do
        RAYON_NUM_THREADS="$threads" "$ENCODER_BIN" "$RUNS" \
            | grep -E '^[0-9]+ ' >"$WORK/candle-$threads-$round"
        OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" \
            "$VENV/bin/python" bench/reference_torch.py --threads "$threads" --runs "$RUNS" --plain \
            | grep -E '^[0-9]+ ' >"$WORK/torch-$threads-$round"
    done
done
"$VENV/bin/python" -c 'import torch, sys; print(f"torch {torch.__version__}, {sys.argv[1]} cores")' "$ALL"
python3 - "$WORK" "$ROUNDS" "$ALL" <<'PY'
import sys
work, rounds, cores = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def read(name):
    return {int(t): float(ms) for t, ms in (l.split() for l in open(f"{work}/{name}"))}
for threads in ["1", cores]:
    print(f"\n{threads} thread(s): candle ms / torch ms = ratio, per round")
    print("| tokens | " + " | ".join(f"round {r}" for r in range(1, rounds + 1)) + " |")
    print("|---|" + "---|" * rounds)
    c = [read(f"candle-{threads}-{r}") for r in range(1, rounds + 1)]
    t = [read(f"torch-{threads}-{r}") for r in range(1, rounds + 1)]
    for n in sorted(c[0]):
        cells = [f"{c[r][n]:.2f} / {t[r][n]:.2f} = {c[r][n] / t[r][n]:.2f}" for r in range(rounds)]
        print(f"| {n} | " + " | ".join(cells) + " |")
PY
