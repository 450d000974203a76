"""How a model decodes: its checkpoint's own generation settings, as the study's transformers
4 pipelines applied them, or greedy for every model (`--decoding greedy`).

A pipeline of task T generated with the model's generation config (`generation_config.json`,
else the generation keys of `config.json`), updated with `config.json`'s
`task_specific_params[T]` when that key exists (`Pipeline.__init__` in transformers 4), then
with the call's own arguments. Here the request supplies the last part: its maximum new
tokens, its minimum, its sampling. Pure Python: the settings are resolved before any weight
is built, so the tests' stand-in backend receives exactly what torch would.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

#: The generation keys that change what decoding computes (the search, its length and its
#: logits processors). Others (sampling knobs, `do_sample`) are the request's to set.
KEYS = ("num_beams", "length_penalty", "early_stopping", "no_repeat_ngram_size",
        "encoder_no_repeat_ngram_size", "repetition_penalty", "min_length", "max_length",
        "forced_bos_token_id", "forced_eos_token_id")

CHECKPOINT = "checkpoint"
GREEDY = "greedy"
MODES = (CHECKPOINT, GREEDY)


def _pick(values: Dict[str, object]) -> Dict[str, object]:
    return {k: values[k] for k in KEYS if k in values and values[k] is not None}


def pipeline_settings(generation: Dict[str, object],
                      task_specific_params: Optional[Dict[str, object]],
                      task: str) -> Tuple[Dict[str, object], bool]:
    """The checkpoint's settings as a pipeline of `task` used them, and whether
    `task_specific_params[task]` contributed."""
    out = _pick(generation)
    extra = (task_specific_params or {}).get(task)
    if isinstance(extra, dict):
        out.update(_pick(extra))
        return out, True
    return out, False


@dataclass(frozen=True)
class CheckpointDecoding:
    """The decoding a model applies to every greedy-or-sampled request."""

    mode: str = GREEDY
    origin: str = "--decoding greedy"
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: object = False  # True, False or "never"
    no_repeat_ngram_size: int = 0
    encoder_no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0
    #: The checkpoint's minimum length of the whole output sequence (0: none).
    min_length: int = 0
    #: The checkpoint's own maximum length; not applied (the request's maximum is).
    max_length: Optional[int] = None
    forced_bos_token_id: Optional[int] = None
    forced_eos_token_id: Optional[int] = None
    settings: Dict[str, object] = field(default_factory=dict)

    @staticmethod
    def greedy() -> "CheckpointDecoding":
        """One beam, no bans, no forced tokens: `--decoding greedy`."""
        return CheckpointDecoding()

    @staticmethod
    def of_settings(settings: Dict[str, object], origin: str) -> "CheckpointDecoding":
        """From resolved generation keys (`pipeline_settings`)."""
        s = _pick(settings)

        def num(key, kind, default):
            v = s.get(key, default)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return default
            return kind(v)

        def opt_int(key):
            v = s.get(key)
            return v if isinstance(v, int) and not isinstance(v, bool) else None

        early = s.get("early_stopping", False)
        if early not in (True, False, "never"):
            early = False
        return CheckpointDecoding(
            mode=CHECKPOINT, origin=origin,
            num_beams=max(1, num("num_beams", int, 1)),
            length_penalty=num("length_penalty", float, 1.0),
            early_stopping=early,
            no_repeat_ngram_size=max(0, num("no_repeat_ngram_size", int, 0)),
            encoder_no_repeat_ngram_size=max(0, num("encoder_no_repeat_ngram_size", int, 0)),
            repetition_penalty=num("repetition_penalty", float, 1.0),
            min_length=max(0, num("min_length", int, 0)),
            max_length=opt_int("max_length"),
            forced_bos_token_id=opt_int("forced_bos_token_id"),
            forced_eos_token_id=opt_int("forced_eos_token_id"),
            settings=s,
        )

    @property
    def beam_search(self) -> bool:
        """Whether it searches more than one beam (tokens are only final at the end)."""
        return self.num_beams > 1

    def min_new_tokens(self, prompt_tokens: int, seq2seq: bool) -> int:
        """New tokens the checkpoint's `min_length` asks for before the end of sequence may
        come: it counts the decoder start token (encoder-decoders) or the prompt (causal)."""
        if self.min_length <= 0:
            return 0
        return max(0, self.min_length - (1 if seq2seq else prompt_tokens))

    def summary(self) -> str:
        """One phrase: `beam search, 4 beams (checkpoint)`, `greedy (checkpoint)`,
        `greedy (--decoding greedy)`."""
        how = f"beam search, {self.num_beams} beams" if self.beam_search else "greedy"
        return f"{how} ({'checkpoint' if self.mode == CHECKPOINT else '--decoding greedy'})"

    def details(self) -> str:
        """Every setting that differs from greedy, and where they come from."""
        parts = [f"{self.num_beams} beams" if self.beam_search else "1 beam"]
        if self.length_penalty != 1.0 and self.beam_search:
            parts.append(f"length_penalty {self.length_penalty:g}")
        if self.early_stopping is not False and self.beam_search:
            parts.append(f"early_stopping {json.dumps(self.early_stopping)}")
        if self.no_repeat_ngram_size:
            parts.append(f"no_repeat_ngram_size {self.no_repeat_ngram_size}")
        if self.encoder_no_repeat_ngram_size:
            parts.append(f"encoder_no_repeat_ngram_size {self.encoder_no_repeat_ngram_size}")
        if self.repetition_penalty != 1.0:
            parts.append(f"repetition_penalty {self.repetition_penalty:g}")
        if self.min_length:
            parts.append(f"min_length {self.min_length} (clamped to each request's max tokens)")
        if self.forced_bos_token_id is not None:
            parts.append(f"forced_bos_token_id {self.forced_bos_token_id}")
        if self.forced_eos_token_id is not None:
            parts.append(f"forced_eos_token_id {self.forced_eos_token_id}")
        if self.max_length is not None:
            parts.append(f"checkpoint max_length {self.max_length} not applied (the request's "
                         "max tokens is)")
        return f"{', '.join(parts)}; from {self.origin}"

    def describe(self) -> Dict[str, object]:
        """What `/info` and `/v1/models` say."""
        return {"mode": self.mode, "source": self.origin, "num_beams": self.num_beams,
                "length_penalty": self.length_penalty, "early_stopping": self.early_stopping,
                "no_repeat_ngram_size": self.no_repeat_ngram_size,
                "encoder_no_repeat_ngram_size": self.encoder_no_repeat_ngram_size,
                "repetition_penalty": self.repetition_penalty, "min_length": self.min_length,
                "max_length": self.max_length, "forced_bos_token_id": self.forced_bos_token_id,
                "forced_eos_token_id": self.forced_eos_token_id}


def from_folder(folder: str, config: Dict[str, object], task: str) -> CheckpointDecoding:
    """A checkpoint folder's decoding for `task`: `generation_config.json` if there is one,
    else `config.json`'s generation keys (what transformers 4 made of it), then
    `task_specific_params[task]`."""
    path = os.path.join(folder, "generation_config.json")
    generation: Dict[str, object]
    try:
        with open(path, encoding="utf-8") as f:
            loaded = json.load(f)
        generation = loaded if isinstance(loaded, dict) else {}
        origin = "generation_config.json"
    except (OSError, ValueError):
        generation = dict(config)
        # BART's old flag, turned into forced_bos_token_id by transformers 4's BartConfig.
        if generation.get("forced_bos_token_id") is None and \
                generation.get("force_bos_token_to_be_generated") is True:
            generation["forced_bos_token_id"] = generation.get("bos_token_id", 0)
        origin = "config.json"
    tsp = config.get("task_specific_params")
    settings, used = pipeline_settings(generation, tsp if isinstance(tsp, dict) else None, task)
    if used:
        origin += f" + task_specific_params.{task}"
    return CheckpointDecoding.of_settings(settings, origin)
