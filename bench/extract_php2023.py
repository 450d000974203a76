#!/usr/bin/env python3
"""Makes report/tests/data/php-2023/, the compact extract of the released logs of *Power
Hungry Processing* (Luccioni et al. 2023; `sashavor/co2_inference` at 9ae9895) that
report/tests/php2023.rs reads, from a full copy of those logs (standard library only; the
tests never run it).

    python3 bench/extract_php2023.py PHP_DIR [OUT_DIR]

PHP_DIR  the released logs: data/emissions/{base,complete}/, data/model_parameters.csv,
         eval/performance.csv, LICENSE (e.g. ../shared/reference/php-2023)
OUT_DIR  where to write the extract (default report/tests/data/php-2023); the files this
         script writes there are replaced, the README.md there is kept

Writes:
- query_model/<stem>.csv for every data/emissions/complete/<stem>.csv: the `query model`
  row of data/emissions/base/emissions_base_<run_id>.csv of each run the complete file
  lists, in the complete file's order, one CodeCarbon task-mode file per complete file.
  Only the columns in COLUMNS are kept, with CodeCarbon's names, in its order, each value
  the base file's text unchanged. The file name is the run -> task mapping.
- data/emissions/base/emissions_base_<run_id>.csv, byte for byte, for the first run of
  each complete file in UNTOUCHED.
- data/model_parameters.csv, eval/performance.csv and LICENSE, byte for byte.
"""

import csv
import hashlib
import os
import shutil
import sys

#: The columns of a base file the extract keeps: those the importer
#: (report/src/import/codecarbon.rs) reads for the figures, the run's labels, the order
#: of repetitions, the provenance of the CPU domain and the grid intensity. The host
#: columns (os, cpu_model, gpu_model, cpu_count, ram_total_size) are the same in every
#: row and only fill run.json's host; the untouched base files below keep them.
COLUMNS = [
    "task_name",
    "timestamp",
    "project_name",
    "run_id",
    "duration",
    "emissions",
    "cpu_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "codecarbon_version",
]

#: Complete files whose first run's base file is copied unchanged: a task-specific and a
#: zero-shot text task, a summarizer, and a text-to-image run (three task_name rows).
UNTOUCHED = [
    "text_classif_imdb",
    "zeroshot_sentiment_imdb_bloomz",
    "summarize_cnn_15",
    "tti_diffusiondb",
]

VERBATIM = ["LICENSE", "data/model_parameters.csv", "eval/performance.csv"]


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def main():
    if len(sys.argv) not in (2, 3):
        fail("usage: bench/extract_php2023.py PHP_DIR [OUT_DIR]")
    php = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[2] if len(sys.argv) == 3 else os.path.join(
        here, "..", "report", "tests", "data", "php-2023")
    complete = os.path.join(php, "data", "emissions", "complete")
    base = os.path.join(php, "data", "emissions", "base")
    if not os.path.isdir(complete) or not os.path.isdir(base):
        fail(f"{php} does not hold data/emissions/complete and data/emissions/base")

    for sub in ["query_model", os.path.join("data", "emissions", "base")]:
        shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
        os.makedirs(os.path.join(out, sub))
    for name in VERBATIM:
        os.makedirs(os.path.dirname(os.path.join(out, name)) or out, exist_ok=True)
        shutil.copyfile(os.path.join(php, name), os.path.join(out, name))

    stems = sorted(f[:-4] for f in os.listdir(complete) if f.endswith(".csv"))
    runs = 0
    for stem in stems:
        rows = read(os.path.join(complete, stem + ".csv"))
        run_col = rows[0].index("run_id")
        run_ids = [r[run_col] for r in rows[1:]]
        lines = [COLUMNS]
        for run_id in run_ids:
            path = os.path.join(base, f"emissions_base_{run_id}.csv")
            header, *records = read(path)
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                fail(f"{path}: no column {', '.join(missing)}")
            cols = [header.index(c) for c in COLUMNS]
            query = [r for r in records if r[header.index("task_name")] == "query model"]
            if len(query) != 1 or query[0][header.index("run_id")] != run_id:
                fail(f"{path}: {len(query)} query model rows for run {run_id}, not 1")
            lines.append([query[0][c] for c in cols])
        with open(os.path.join(out, "query_model", stem + ".csv"), "w", newline="",
                  encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(lines)
        runs += len(run_ids)
        if stem in UNTOUCHED:
            name = f"emissions_base_{run_ids[0]}.csv"
            target = os.path.join(out, "data", "emissions", "base", name)
            shutil.copyfile(os.path.join(base, name), target)
            with open(target, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            print(f"{stem}: {name} copied unchanged, sha256 {digest}", file=sys.stderr)
    if missing := sorted(set(UNTOUCHED) - set(stems)):
        fail(f"no complete file {', '.join(missing)}")
    print(f"{runs} runs of {len(stems)} complete files written to {out}/query_model",
          file=sys.stderr)


if __name__ == "__main__":
    main()
