"""What one inference does per task, as the Hugging Face pipelines do it, over a `Network`.

A `Network` is the numeric part of a model (torch in `torch_backend`, a deterministic
stand-in in the tests). It has `parameters`, `architecture`, `vocab_size`, `labels`, and:

- `classify(ids, type_ids) -> [float]` — one logit per label;
- `qa(ids, type_ids) -> ([float], [float])` — start and end logits per token;
- `embed(ids, type_ids) -> [float]` — mean of the last hidden states;
- `generate(ids, decoding, on_token) -> [int]` — new token ids after the prompt, decoded as
  `decoding` (a `Decoding`: lengths, sampling, beams, bans, forced tokens) says; `on_token`
  (or None, always None with beams) gets each id as it is produced and returns False to
  stop.

Everything else (tokenization, truncation, the question-answering windows and span choice,
softmax, finish reasons, input-length checks) is here, shared by every network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .configs import CAUSAL, ENCODER, SEQ2SEQ
from .decoding import CheckpointDecoding

TASKS: Dict[str, str] = {
    "text-classification": ENCODER,
    "question-answering": ENCODER,
    "summarization": SEQ2SEQ,
    "text2text-generation": SEQ2SEQ,
    "text-generation": CAUSAL,
}
GENERATION_TASKS = ("summarization", "text2text-generation", "text-generation")

#: The question-answering pipeline's defaults.
QA_MAX_SEQ_LEN = 384
QA_DOC_STRIDE = 128
QA_MAX_ANSWER_LEN = 15


class ModelError(Exception):
    """A request the model cannot serve."""


class BadParameter(ModelError):
    """A parameter out of range, or an input of the wrong kind."""


class InputTooLong(ModelError):
    """More tokens than the model accepts."""

    def __init__(self, tokens: int, limit: int):
        super().__init__(f"input has {tokens} tokens, more than the {limit} this model accepts")
        self.tokens, self.limit = tokens, limit


@dataclass
class GenerationParams:
    """Length and sampling of one generation request."""

    max_new_tokens: int
    min_new_tokens: int = 0
    ignore_eos: bool = False
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0

    def validate(self) -> "GenerationParams":
        """Raises `BadParameter` for values out of range; returns self."""
        if self.max_new_tokens < 1:
            raise BadParameter("max_tokens must be at least 1")
        if self.min_new_tokens < 0:
            raise BadParameter("min_tokens must not be negative")
        if self.min_new_tokens > self.max_new_tokens:
            raise BadParameter(f"min_tokens ({self.min_new_tokens}) must not exceed "
                               f"max_tokens ({self.max_new_tokens})")
        if not 0.0 <= self.temperature <= 100.0:
            raise BadParameter(f"temperature must be between 0 and 100, not {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise BadParameter(f"top_p must be in (0, 1], not {self.top_p}")
        return self


@dataclass(frozen=True)
class Decoding:
    """What a network's `generate` is asked: the request's lengths and sampling over the
    model's decoding (beams, length penalty, n-gram bans, forced tokens)."""

    max_new_tokens: int
    min_new_tokens: int
    do_sample: bool
    temperature: float
    top_p: float
    seed: int
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: object = False
    no_repeat_ngram_size: int = 0
    encoder_no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0
    forced_bos_token_id: Optional[int] = None
    forced_eos_token_id: Optional[int] = None

    @staticmethod
    def of(p: GenerationParams, checkpoint: Optional[CheckpointDecoding] = None,
           prompt_tokens: int = 0, seq2seq: bool = True) -> "Decoding":
        """The request's maximum caps the new tokens; a pinned length (`ignore_eos`) sets
        `min_new_tokens = max_new_tokens`; otherwise the minimum is the larger of the
        request's and the checkpoint's `min_length` (in new tokens), the latter clamped to
        the request's maximum."""
        c = checkpoint or CheckpointDecoding.greedy()
        if p.ignore_eos:
            minimum = p.max_new_tokens
        else:
            own = min(c.min_new_tokens(prompt_tokens, seq2seq), p.max_new_tokens)
            minimum = max(p.min_new_tokens, own)
        sample = p.temperature > 0.0
        return Decoding(p.max_new_tokens, minimum, sample, p.temperature if sample else 1.0,
                        p.top_p, p.seed, num_beams=c.num_beams,
                        length_penalty=c.length_penalty, early_stopping=c.early_stopping,
                        no_repeat_ngram_size=c.no_repeat_ngram_size,
                        encoder_no_repeat_ngram_size=c.encoder_no_repeat_ngram_size,
                        repetition_penalty=c.repetition_penalty,
                        forced_bos_token_id=c.forced_bos_token_id,
                        forced_eos_token_id=c.forced_eos_token_id)


@dataclass
class Classification:
    """Labels with logits and probabilities (label order of the model), and tokens used."""

    labels: List[str]
    logits: List[float]
    probabilities: List[float]
    tokens: int


@dataclass
class Answer:
    """An extractive answer: text, p(start)·p(end), character span in the context."""

    answer: str
    score: float
    start: int
    end: int
    tokens: int


@dataclass
class Generation:
    """New token ids, their text, the prompt's length and why generation stopped."""

    tokens: List[int]
    text: str
    prompt_tokens: int
    finish: str  # "length", "stop" (end of sequence) or "abort"


@dataclass
class ServedModel:
    """A loaded model: its name in requests, task, tokenizer, network and description."""

    name: str
    task: str
    source: str
    model_type: str
    tokenizer: object
    network: object
    max_input_tokens: Optional[int]
    weights: str
    study_parameters: Optional[int] = None
    notes: List[str] = field(default_factory=list)
    #: Server-wide `--ignore-eos`: every generation runs to its maximum length.
    ignore_eos: bool = False
    #: How it decodes (the checkpoint's settings, or greedy).
    decoding: CheckpointDecoding = field(default_factory=CheckpointDecoding.greedy)

    @property
    def kind(self) -> str:
        """`encoder`, `seq2seq` or `causal`."""
        return TASKS[self.task]

    @property
    def streams_at_end(self) -> bool:
        """Whether a stream's tokens only exist at the end (beam search: no token is final
        until the search ends)."""
        return self.decoding.beam_search

    @property
    def labels(self) -> List[str]:
        """Classifier labels (empty for other tasks)."""
        return list(self.network.labels) if self.task == "text-classification" else []

    # -- encoders ---------------------------------------------------------------------------

    def _encode(self, text: str, truncate: bool):
        enc = self.tokenizer.encode(text)
        limit = self.max_input_tokens
        if limit is not None and len(enc.ids) > limit:
            if not truncate:
                raise InputTooLong(len(enc.ids), limit)
            enc = self.tokenizer.encode(text, max_length=limit)
        return enc

    def classify(self, text: str, truncate: bool = True) -> Classification:
        """Logits and probabilities: softmax over labels (sigmoid for a single label)."""
        enc = self._encode(text, truncate)
        logits = [float(x) for x in self.network.classify(enc.ids, enc.type_ids)]
        if len(logits) == 1:
            probs = [1.0 / (1.0 + math.exp(-logits[0]))]
        else:
            probs = softmax(logits)
        return Classification(self.labels, logits, probs, len(enc.ids))

    def embed(self, text: str, normalize: bool = True, truncate: bool = True) -> List[float]:
        """Mean-pooled last hidden states, L2-normalised when asked."""
        enc = self._encode(text, truncate)
        vec = [float(x) for x in self.network.embed(enc.ids, enc.type_ids)]
        if normalize:
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            vec = [v / norm for v in vec]
        return vec

    def answer(self, question: str, context: str) -> Answer:
        """The best span of the context, as the question-answering pipeline chooses it."""
        max_len = QA_MAX_SEQ_LEN
        if self.max_input_tokens is not None:
            max_len = min(max_len, self.max_input_tokens)
        stride = min(QA_DOC_STRIDE, max_len // 2)
        features = self.tokenizer.qa_features(question, context, max_len, stride)
        best: Tuple[float, int, int] = (-1.0, 0, 0)
        tokens = 0
        for f in features:
            tokens += len(f.ids)
            start, end = self.network.qa(f.ids, f.type_ids)
            found = best_span(start, end, f.spans, QA_MAX_ANSWER_LEN)
            if found is not None and found[0] > best[0]:
                best = found
        score, s, e = best
        if score < 0:
            return Answer("", 0.0, 0, 0, tokens)
        return Answer(context[s:e], score, s, e, tokens)

    # -- generators -------------------------------------------------------------------------

    def prompt_ids(self, text: str, max_new_tokens: int) -> List[int]:
        """Prompt ids; a seq2seq input is cut to the encoder's positions (the pipelines'
        tokenizers with truncation), a causal prompt that cannot fit is refused."""
        ids = self.tokenizer.encode_prompt(text)
        limit = self.max_input_tokens
        if self.kind == SEQ2SEQ and limit is not None and len(ids) > limit:
            ids = self.tokenizer.encode(text, max_length=limit).ids
        self.check_prompt(ids, max_new_tokens)
        return ids

    def check_prompt(self, ids: Sequence[int], max_new_tokens: int) -> None:
        """Refuses empty prompts, ids out of the vocabulary and causal overflows."""
        if not ids:
            raise BadParameter("the prompt is empty")
        vocab = self.network.vocab_size
        bad = next((i for i in ids if not 0 <= i < vocab), None)
        if bad is not None:
            raise BadParameter(f"token id {bad} is out of the vocabulary")
        limit = self.max_input_tokens
        if limit is None:
            return
        need = len(ids) + (max_new_tokens if self.kind == CAUSAL else 0)
        if need > limit:
            raise InputTooLong(need, limit)

    def decoding_for(self, ids: Sequence[int], params: GenerationParams) -> Decoding:
        """What the network is asked for this request (`--ignore-eos` pins every length)."""
        if self.ignore_eos and not params.ignore_eos:
            params = replace(params, ignore_eos=True)
        return Decoding.of(params, self.decoding, len(ids), self.kind == SEQ2SEQ)

    def generate(self, ids: List[int], params: GenerationParams,
                 on_token: Optional[Callable[[int], bool]] = None) -> Generation:
        """Generation of up to `max_new_tokens` after `ids`, decoded as the model does
        (greedy or beam search; sampled when the request asks). With beams, `on_token` gets
        every token once the search has ended."""
        decoding = self.decoding_for(ids, params)
        stopped = [False]

        def hook(token: int) -> bool:
            keep = on_token(token)
            stopped[0] = stopped[0] or not keep
            return keep

        live = on_token is not None and decoding.num_beams == 1
        new = list(self.network.generate(ids, decoding, hook if live else None))
        if on_token is not None and not live:
            for i, token in enumerate(new):
                if not hook(token):
                    new = new[: i + 1]
                    break
        if stopped[0]:
            finish = "abort"
        elif new and new[-1] in self.tokenizer.eos_ids:
            finish = "stop"
        else:
            finish = "length"
        return Generation(new, self.tokenizer.decode(new), len(ids), finish)

    def describe(self) -> Dict[str, object]:
        """What `/v1/models`, `/info` and the startup log say about the model."""
        net = self.network
        return {
            "task": self.task,
            "architecture": net.architecture,
            "model_type": self.model_type,
            "parameters": net.parameters,
            "study_parameters": self.study_parameters,
            "source": self.source,
            "weights": self.weights,
            "tokenizer": self.tokenizer.description,
            "stand_in_tokenizer": self.tokenizer.stand_in,
            "builtin_tokenizer": self.tokenizer.stand_in,
            "max_model_len": self.max_input_tokens,
            "labels": self.labels,
            "notes": list(self.notes),
            "decoding": self.decoding.summary() if self.kind != ENCODER else None,
            "decoding_settings": self.decoding.describe() if self.kind != ENCODER else None,
        }


def softmax(xs: Sequence[float]) -> List[float]:
    """Softmax of a list."""
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    s = sum(e)
    return [v / s for v in e]


def best_span(start: Sequence[float], end: Sequence[float], spans: Dict[int, Tuple[int, int]],
              max_answer_len: int) -> Optional[Tuple[float, int, int]]:
    """(p(start)·p(end), char start, char end) of the best context span, as the pipeline:
    logits of non-context tokens set to -10,000, softmax, end ≥ start, at most
    `max_answer_len` tokens; None when the window holds no context token."""
    if not spans:
        return None
    n = len(start)
    masked_s = [start[i] if i in spans else -10000.0 for i in range(n)]
    masked_e = [end[i] if i in spans else -10000.0 for i in range(n)]
    ps, pe = softmax(masked_s), softmax(masked_e)
    best: Optional[Tuple[float, int, int]] = None
    for s in sorted(spans):
        for e in range(s, min(n, s + max_answer_len)):
            if e not in spans:
                continue
            score = ps[s] * pe[e]
            if best is None or score > best[0]:
                best = (score, spans[s][0], spans[e][1])
    return best
