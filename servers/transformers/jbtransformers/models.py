"""Which models to serve: `NAME=TASK:SOURCE` specs, and what each resolves to (architecture,
labels, input limit, tokenizer family) before any weight is built. Pure Python: the torch
loader and the tests' stand-in loader both start from a `Blueprint`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from . import configs, decoding
from .configs import CAUSAL, ENCODER, SEQ2SEQ, BuiltinModel
from .decoding import CheckpointDecoding
from .pipelines import TASKS, ServedModel
from .tokenizer import Family, StandInTokenizer, family_for


class LoadError(Exception):
    """A model that cannot be served as asked (the message says why and what to do)."""


@dataclass(frozen=True)
class ModelSpec:
    """One `--model NAME=TASK:SOURCE`."""

    name: str
    task: str
    source: str

    @staticmethod
    def parse(text: str) -> "ModelSpec":
        """Parses `NAME=TASK:SOURCE` (`NAME=` optional: the name is then SOURCE)."""
        name, eq, rest = text.partition("=")
        if not eq:
            name, rest = "", text
        task, colon, source = rest.partition(":")
        if not colon or not source.strip():
            raise ValueError(f"`{text}`: expected NAME=TASK:SOURCE, e.g. sst2=text-classification:"
                             "distilbert-base-uncased-finetuned-sst-2-english")
        task, source = task.strip(), source.strip()
        if task not in TASKS:
            raise ValueError(f"`{text}`: unknown task `{task}`; tasks: {', '.join(TASKS)}")
        name = name.strip() or source
        return ModelSpec(name, task, source)


@dataclass
class Options:
    """Server-wide model settings."""

    random_weights: bool = False
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    max_input_tokens: Optional[int] = None
    threads: Optional[int] = None
    ignore_eos: bool = False
    #: `checkpoint` (each model's own generation settings) or `greedy` (one beam for all).
    decoding: str = decoding.CHECKPOINT


@dataclass
class Blueprint:
    """What a spec resolves to before loading."""

    spec: ModelSpec
    model_type: str
    kind: str
    config: Dict[str, object]
    labels: List[str]
    max_input_tokens: Optional[int]
    family: Family
    vocab_size: int
    folder: Optional[str] = None
    entry: Optional[BuiltinModel] = None
    notes: List[str] = field(default_factory=list)
    decoding: CheckpointDecoding = field(default_factory=CheckpointDecoding.greedy)

    @property
    def study_parameters(self) -> Optional[int]:
        """The study's parameter count, for built-in models."""
        return self.entry.study_parameters if self.entry else None

    def stand_in_tokenizer(self) -> StandInTokenizer:
        """The offline tokenizer for this architecture."""
        return StandInTokenizer(self.family, self.vocab_size)

    def served(self, tokenizer, network, weights: str) -> ServedModel:
        """The served model once its tokenizer and network exist."""
        return ServedModel(self.spec.name, self.spec.task, self.spec.source, self.model_type,
                           tokenizer, network, self.max_input_tokens, weights,
                           self.study_parameters, list(self.notes), decoding=self.decoding)


_SEQ2SEQ_TYPES = {"bart", "mbart", "pegasus", "pegasus_x", "led", "t5", "mt5", "longt5",
                  "marian", "bigbird_pegasus", "umt5", "switch_transformers"}
_ENCODER_TYPES = {"bert", "distilbert", "roberta", "xlm-roberta", "electra", "deberta",
                  "deberta-v2", "albert", "camembert", "mpnet", "longformer", "big_bird",
                  "mobilebert", "xlnet", "funnel", "modernbert"}


def kind_of(model_type: str, config: Dict[str, object]) -> str:
    """`encoder`, `seq2seq` or `causal` for a model type and its config."""
    if model_type in _SEQ2SEQ_TYPES or config.get("is_encoder_decoder") is True:
        return SEQ2SEQ
    if model_type in _ENCODER_TYPES:
        return ENCODER
    archs = config.get("architectures") or []
    if any("CausalLM" in a or "LMHead" in a for a in archs):
        return CAUSAL
    return ENCODER if any("Sequence" in a or "Question" in a for a in archs) else CAUSAL


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def hub_cache() -> str:
    """The local Hugging Face hub cache folder (`HF_HUB_CACHE`, else `HF_HOME/hub`)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return os.environ[var]
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache",
                                                     "huggingface")
    return os.path.join(home, "hub")


def find_cached(model_id: str) -> Optional[str]:
    """The cached snapshot folder of a Hub model holding a config.json, if any."""
    root = os.path.join(hub_cache(), "models--" + model_id.replace("/", "--"))
    snapshots = os.path.join(root, "snapshots")
    if not os.path.isdir(snapshots):
        return None
    candidates = []
    try:
        with open(os.path.join(root, "refs", "main"), encoding="utf-8") as f:
            candidates.append(f.read().strip())
    except OSError:
        pass
    candidates += sorted(os.listdir(snapshots))
    for c in candidates:
        folder = os.path.join(snapshots, c)
        if os.path.isfile(os.path.join(folder, "config.json")):
            return folder
    return None


def _labels(task: str, config: Dict[str, object], entry: Optional[BuiltinModel]) -> List[str]:
    if task != "text-classification":
        return []
    id2label = config.get("id2label")
    if isinstance(id2label, dict) and id2label:
        return [str(id2label[k]) for k in sorted(id2label, key=lambda k: int(k))]
    if entry is not None and entry.labels:
        return list(entry.labels)
    n = config.get("num_labels")
    return [f"LABEL_{i}" for i in range(n if isinstance(n, int) and n > 0 else 2)]


def resolve(spec: ModelSpec, options: Options) -> Blueprint:
    """Where a spec's architecture comes from: a folder's config.json, the built-in table
    (with `--random-weights`) or the local Hugging Face cache."""
    entry = configs.builtin(spec.source)
    folder = spec.source if os.path.isdir(spec.source) else None
    if folder is None and not (options.random_weights and entry is not None):
        folder = find_cached(spec.source)
    if folder is not None:
        path = os.path.join(folder, "config.json")
        try:
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError) as e:
            raise LoadError(f"{spec.name}: cannot read {path}: {e}") from e
        model_type = str(config.get("model_type", ""))
        if not model_type:
            raise LoadError(f"{spec.name}: {path} has no model_type")
    elif entry is not None:
        if not options.random_weights:
            raise LoadError(
                f"{spec.name}: no weights for `{spec.source}`: not a folder and not in the local "
                f"Hugging Face cache ({hub_cache()}); add --random-weights to initialise it "
                "from its built-in config")
        config, model_type = dict(entry.config), entry.model_type
    else:
        known = ", ".join(sorted(configs.BUILTIN))
        raise LoadError(f"{spec.name}: `{spec.source}` is not a folder, not in the local Hugging "
                        f"Face cache ({hub_cache()}) and not built in; built-in models: {known}")
    kind = kind_of(model_type, config)
    if kind != TASKS[spec.task]:
        raise LoadError(f"{spec.name}: task {spec.task} needs {_a(TASKS[spec.task])} model, and "
                        f"`{spec.source}` ({model_type}) is {_a(kind)} model")
    limit = configs.position_limit(model_type, config)
    if options.max_input_tokens is not None:
        limit = options.max_input_tokens
    notes = [entry.note] if entry is not None and entry.note else []
    vocab = config.get("vocab_size")
    return Blueprint(spec, model_type, kind, config, _labels(spec.task, config, entry), limit,
                     family_for(model_type, spec.source, config),
                     vocab if isinstance(vocab, int) else 32000, folder, entry, notes,
                     decoding_of(spec, options, folder, config, entry))


def decoding_of(spec: ModelSpec, options: Options, folder: Optional[str],
                config: Dict[str, object], entry: Optional[BuiltinModel]) -> CheckpointDecoding:
    """How a generator decodes: greedy for `--decoding greedy` (and for encoders, which do
    not generate); else the checkpoint's settings as a pipeline of its task applied them,
    from the folder's files or, for a built-in model without files, the built-in table."""
    if options.decoding == decoding.GREEDY or TASKS[spec.task] == ENCODER:
        return CheckpointDecoding.greedy()
    if folder is not None:
        return decoding.from_folder(folder, config, spec.task)
    if entry is not None:
        settings, used = decoding.pipeline_settings(entry.generation, entry.task_generation,
                                                    spec.task)
        origin = "built-in table"
        if used:
            origin += f" (task_specific_params.{spec.task})"
        return CheckpointDecoding.of_settings(settings, origin)
    return CheckpointDecoding.of_settings({}, "no generation settings")
