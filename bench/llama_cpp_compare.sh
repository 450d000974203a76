#!/usr/bin/env bash
# Decode speed of the reference server (candle) against llama.cpp on the very same GGUF file
# and thread count (issue 15: Q8_0 and Q4_0 within 1.5x of llama.cpp). For each format the
# seeded preset is written as GGUF by the reference server's own writer, llama.cpp loads it
# back (the round trip), and both engines time the same 4-id prompt then 64 greedy steps fed
# as token ids, interleaved for 3 rounds; see bench/llama_cpp_compare.py.
#
#   bash bench/llama_cpp_compare.sh [PRESET] [extra options of llama_cpp_compare.py]
#   bash bench/llama_cpp_compare.sh smollm2-135m --threads 1,2 --rounds 3
#
# Creates (or reuses) a scratch venv under ${TMPDIR:-/tmp}/joulebench-llamacpp-venv and
# installs llama-cpp-python from the package registry into it; that builds llama.cpp from
# source, CPU-only and tuned for this CPU (GGML_NATIVE), which takes minutes. Builds the
# `gguf_speed` example in release mode (honouring CARGO_TARGET_DIR). Never required by the
# tests.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${TMPDIR:-/tmp}/joulebench-llamacpp-venv"
preset="${1:-smollm2-135m}"
[ $# -gt 0 ] && shift
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import llama_cpp, numpy" 2>/dev/null; then
    CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
        "$venv/bin/pip" install --quiet --no-cache-dir llama-cpp-python numpy
fi
cargo build --release --quiet -p joulebench-reference --example gguf_speed
binary="${CARGO_TARGET_DIR:-target}/release/examples/gguf_speed"
"$venv/bin/python" bench/llama_cpp_compare.py "$binary" --preset "$preset" "$@"
