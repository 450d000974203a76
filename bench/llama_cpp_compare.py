"""Decode speed of the reference server against llama.cpp on the very same GGUF file.

Driven by bench/llama_cpp_compare.sh, which builds the `gguf_speed` example and runs this in
a venv with llama-cpp-python:

    python bench/llama_cpp_compare.py GGUF_SPEED_BINARY [--preset P] [--formats q8_0,q4_0]
        [--threads 1,2] [--rounds 3] [--prompt 4] [--steps 64] [--dir DIR]

For each format the binary writes the seeded preset as a GGUF file; llama.cpp must load it
(the round trip). Then, per thread count, the engines alternate (ours, llama.cpp, ours, ...)
for `rounds` rounds; each round runs the prompt 5, 6, ..., 4 + PROMPT and then STEPS greedy
single-token steps fed as token ids (the file's vocabulary has no byte tokens, so no text),
and times the steps alone. The table gives the median milliseconds per token of each engine,
the ratio ours / llama.cpp and whether it is within 1.5x; and how many greedy ids agree.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import llama_cpp
from llama_cpp import Llama

LIMIT = 1.5


def ours(binary, path, threads, prompt, steps):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run(
        [binary, "time", path, str(prompt), str(steps)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r["ms_per_token"], r["ids"]


def load_llama(path, threads, n_ctx):
    return Llama(
        model_path=path,
        n_ctx=n_ctx,
        n_batch=n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=0,
        logits_all=False,
        vocab_only=False,
        verbose=False,
    )


def next_id(llm):
    """The greedy next id from the last evaluated token's logits (llama-cpp-python's `eval`
    no longer copies them into `scores` unless `logits_all`)."""
    ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return int(np.argmax(np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))))


def theirs(path, threads, prompt, steps):
    llm = load_llama(path, threads, n_ctx=prompt + steps + 64)
    try:
        ids = list(range(5, 5 + prompt))
        llm.eval(ids)
        nxt = next_id(llm)
        out = []
        t = time.perf_counter()
        for _ in range(steps):
            out.append(nxt)
            llm.eval([nxt])
            nxt = next_id(llm)
        per = (time.perf_counter() - t) * 1e3 / steps
        out.append(nxt)
        return per, out
    finally:
        llm.close() if hasattr(llm, "close") else None
        del llm


def round_trip(path):
    """llama.cpp loads the file with its full vocabulary and our metadata."""
    llm = load_llama(path, 1, n_ctx=64)
    n_vocab = llm.n_vocab()
    meta = dict(llm.metadata)
    if hasattr(llm, "close"):
        llm.close()
    return n_vocab, meta


def agreement(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--preset", default="smollm2-135m")
    p.add_argument("--formats", default="q8_0,q4_0")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--prompt", type=int, default=4)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--dir", default=None)
    a = p.parse_args()
    work = a.dir or tempfile.mkdtemp(prefix="joulebench-llamacpp-")
    os.makedirs(work, exist_ok=True)
    print(f"llama-cpp-python {llama_cpp.__version__}; preset {a.preset}; "
          f"prompt {a.prompt} ids, {a.steps} greedy steps, {a.rounds} interleaved rounds; "
          f"{os.cpu_count()} CPUs", flush=True)
    print(llama_cpp.llama_print_system_info().decode().strip(), flush=True)
    rows = []
    for fmt in a.formats.split(","):
        path = os.path.join(work, f"{a.preset}-{fmt}.gguf")
        w = subprocess.run([a.binary, "write", a.preset, fmt, path], check=True,
                           capture_output=True, text=True).stdout
        info = json.loads(w.strip().splitlines()[-1])
        n_vocab, meta = round_trip(path)
        print(f"{fmt}: wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB, fallbacks "
              f"{info['fallbacks'] or 'none'}); llama.cpp loads it: n_vocab {n_vocab}, "
              f"{meta.get('general.architecture')} / {meta.get('general.file_type', '?')}",
              flush=True)
        for threads in [int(t) for t in a.threads.split(",")]:
            mine, other = [], []
            ids_ours = ids_theirs = None
            for r in range(a.rounds):
                ms, ids_ours = ours(a.binary, path, threads, a.prompt, a.steps)
                mine.append(ms)
                ms2, ids_theirs = theirs(path, threads, a.prompt, a.steps)
                other.append(ms2)
                print(f"  {fmt} {threads} thread(s) round {r + 1}: ours {ms:.2f} ms/token, "
                      f"llama.cpp {ms2:.2f} ms/token", flush=True)
            m, o = statistics.median(mine), statistics.median(other)
            rows.append((fmt, threads, m, o, m / o, agreement(ids_ours, ids_theirs),
                         len(ids_ours)))
    print()
    print("| format | threads | ours ms/token | llama.cpp ms/token | ours ÷ llama.cpp "
          f"| within {LIMIT}× | greedy ids agreeing |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for fmt, t, m, o, ratio, agree, n in rows:
        ok = "yes" if ratio <= LIMIT else "no"
        print(f"| {fmt} | {t} | {m:.2f} | {o:.2f} | {ratio:.2f} | {ok} | {agree} of {n} |")
    sys.exit(0)


if __name__ == "__main__":
    main()
