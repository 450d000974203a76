#!/usr/bin/env bash
# Cross-checks the quality scorers (report::quality::squad and ::rouge) against their reference
# implementations -- the official SQuAD v1.1 evaluation logic and Google's rouge-score package
# (rouge1, rouge2, rougeL F-measures, no stemmer, score_multi) -- on ~500 deterministic
# prediction/references pairs full of hard cases (case, punctuation, articles, odd white
# space, non-ASCII letters, empty predictions, repeated tokens, several references). Every
# value must agree within 1e-6; see bench/quality_check.py.
#
#   bash bench/quality_check.sh [N_RANDOM_PAIRS]
#
# Creates (or reuses) a scratch venv under ${TMPDIR:-/tmp}/joulebench-quality-venv with
# rouge-score pinned, so it needs python3 with venv and the package registry once. Builds the
# `score_pairs` example in release mode (honouring CARGO_TARGET_DIR). Never required by the
# tests; run it after changing the scorers.
set -euo pipefail
cd "$(dirname "$0")/.."
rouge_score_version=0.1.2
venv="${TMPDIR:-/tmp}/joulebench-quality-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('rouge-score') != '$rouge_score_version')" 2>/dev/null; then
    "$venv/bin/pip" install --quiet "rouge-score==$rouge_score_version"
fi
cargo build --release --quiet -p joulebench-report --example score_pairs
binary="${CARGO_TARGET_DIR:-target}/release/examples/score_pairs"
"$venv/bin/python" bench/quality_check.py "$binary" "$@"
