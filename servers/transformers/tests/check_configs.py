#!/usr/bin/env python3
"""Checks every built-in config against the study's parameter counts (needs torch and
transformers; not part of the unittest suite, which runs without them).

For each built-in model, the bare `AutoModel` (what the study counted) and the served task
model (with its head) are built on PyTorch's `meta` device (no memory, no arithmetic), their
parameters counted and compared with `model_parameters.csv`. Prints a Markdown table; exits 1
if a count differs in a way not explained here.

    PYTHONPATH=servers/transformers /tmp/torchenv/bin/python \
        servers/transformers/tests/check_configs.py [model_parameters.csv]

(`jbtransformers` must be importable: PYTHONPATH at `servers/transformers` as here, or
`pip install 'servers/transformers[torch]'` into that environment.)
"""

import csv
import os
import sys

from jbtransformers import configs

HERE = os.path.dirname(os.path.abspath(__file__))

DEFAULT_CSV = os.path.join(HERE, "..", "..", "..", "report", "tests", "data", "php-2023",
                           "data", "model_parameters.csv")

#: Study counts that are rounded, with the relative tolerance that covers the rounding.
ROUNDED = {"bigscience/bloomz-1b7": 0.005, "bigscience/bloomz-3b": 0.005,
           "bigscience/bloomz-7b1": 0.015}
#: Study counts that do not describe the named model's public layout.
EXPLAINED = {
    "sshleifer/distilbart-xsum-12-6": "the study's count is that of a 6+6-layer distilBART; "
    "the model is 12+6 (sshleifer's table: 306M); its logs name "
    "sshleifer/distilbart-cnn-6-6 for these runs",
}
#: Models the study's table files under another name: the study's lists name
#: distilbart-xsum-12-6, its per-run logs of those runs sshleifer/distilbart-cnn-6-6.
STUDY_ROW = {"sshleifer/distilbart-cnn-6-6": "sshleifer/distilbart-xsum-12-6"}

_TASK_CLASS = {
    "text-classification": "AutoModelForSequenceClassification",
    "question-answering": "AutoModelForQuestionAnswering",
}


def main() -> int:
    import torch
    import transformers
    from transformers import AutoConfig, AutoModel

    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_CSV
    with open(path, newline="", encoding="utf-8") as f:
        study = {row["model_name"]: int(row["num_parameters"]) for row in csv.DictReader(f)}
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, counts from "
          f"{os.path.normpath(path)}\n")
    print("| model | AutoModel parameters | study (model_parameters.csv) | verdict | "
          "served task model |")
    print("|---|--:|--:|---|---|")
    failures = 0
    for m in configs.BUILTIN.values():
        config = AutoConfig.for_model(m.model_type, **m.config)
        if m.labels:
            config.num_labels = len(m.labels)
        with torch.device("meta"):
            base = AutoModel.from_config(config)
            if m.kind == configs.ENCODER:
                task_cls = _TASK_CLASS["text-classification" if m.labels else
                                       "question-answering"]
            elif m.kind == configs.SEQ2SEQ:
                task_cls = "AutoModelForSeq2SeqLM"
            else:
                task_cls = "AutoModelForCausalLM"
            served = getattr(transformers, task_cls).from_config(config)
        n = sum(p.numel() for p in base.parameters())
        n_served = sum(p.numel() for p in served.parameters())
        row = STUDY_ROW.get(m.name, m.name)
        expected = study.get(row)
        if expected is None:
            verdict = "not in the study's table"
            failures += 1
        elif n == expected and row != m.name:
            verdict = f"equal (the study's row {row})"
        elif n == expected:
            verdict = "equal"
        elif m.name in ROUNDED and abs(n - expected) / expected <= ROUNDED[m.name]:
            verdict = f"study rounds ({(n - expected) / expected:+.2%})"
        elif m.name in EXPLAINED:
            verdict = f"differs by {n - expected:+,}: {EXPLAINED[m.name]}"
        else:
            verdict = f"DIFFERS by {n - expected:+,}"
            failures += 1
        if m.study_parameters != expected:
            verdict += f"; table says {m.study_parameters}"
            failures += 1
        study_text = f"{expected:,}" if expected is not None else "-"
        print(f"| {m.name} | {n:,} | {study_text} | {verdict} | "
              f"{type(served).__name__} {n_served:,} |")
    print(f"\n{len(configs.BUILTIN)} built-in models, {failures} unexplained difference(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
