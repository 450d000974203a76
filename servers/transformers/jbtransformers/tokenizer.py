"""Tokenizers: the model's own (Hugging Face) when present, else an offline stand-in.

The stand-in never reads a vocabulary. Text is split into words (runs of letters), runs of
digits and single punctuation marks; a word of up to 7 letters is one piece, a longer one
is its first 7 letters and then pieces of up to 4 (`"overwhelmingly"` -> `overwhe`,
`##lmin`, `##gly`); digit runs are cut into groups of 3. Each piece is hashed (FNV-1a) into
the ordinary ids of the model's vocabulary, and the architecture's special tokens frame the
result (`[CLS] ... [SEP]`, `<s> ... </s>`, `... </s>`, or none for BLOOM). On ordinary
English this gives about 1.3 tokens per word, close to WordPiece, BPE and SentencePiece
tokenizers, so sequence lengths (and so the arithmetic) are realistic; individual counts
differ (a real tokenizer keeps frequent long words whole and splits rare short ones).
Generated ids decode to pronounceable pseudo-words; special tokens decode to nothing, as
pipelines skip them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

STAND_IN_DESCRIPTION = "stand-in (token counts approximate the real tokenizer)"

#: Letters of a word kept whole, and the size of the pieces after them.
WHOLE_WORD_LETTERS = 7
PIECE_LETTERS = 4
DIGIT_GROUP = 3
#: Tokens the pipeline lets a question take in one extractive-QA window.
MAX_QUESTION_TOKENS = 64

_SPLIT = re.compile(r"[^\W\d_]+|\d+|[^\w\s]|_")
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


@dataclass(frozen=True)
class Family:
    """Special-token layout of a tokenizer family (ids as in the real vocabularies)."""

    name: str
    lowercase: bool
    first: int
    prefix: Tuple[int, ...]
    suffix: Tuple[int, ...]
    middle: Tuple[int, ...]
    specials: Tuple[int, ...]
    eos: Tuple[int, ...]
    typed_pairs: bool = False
    last: Optional[int] = None


FAMILIES: Dict[str, Family] = {
    f.name: f
    for f in (
        # BERT, DistilBERT, ELECTRA: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103
        Family("wordpiece-uncased", True, 999, (101,), (102,), (102,), (0, 100, 101, 102, 103),
               (), typed_pairs=True),
        Family("wordpiece-cased", False, 999, (101,), (102,), (102,), (0, 100, 101, 102, 103),
               (), typed_pairs=True),
        # RoBERTa, XLM-R, BERTweet, BART, LED: <s> 0, <pad> 1, </s> 2, <unk> 3
        Family("roberta", False, 4, (0,), (2,), (2, 2), (0, 1, 2, 3), (2,)),
        # DeBERTa-v2/v3: [PAD] 0, [CLS] 1, [SEP] 2, [UNK] 3
        Family("deberta", False, 4, (1,), (2,), (2,), (0, 1, 2, 3), (), typed_pairs=True),
        # Pegasus: <pad> 0, </s> 1, masks 2-3, <unk_2>..<unk_102> 4-105
        Family("pegasus", False, 106, (), (1,), (), tuple(range(106)), (1,)),
        # T5: <pad> 0, </s> 1, <unk> 2; 32,000 pieces, then <extra_id_*> sentinels
        Family("t5", False, 3, (), (1,), (), (0, 1, 2), (1,), last=31999),
        # BLOOM: <unk> 0, <s> 1, </s> 2, <pad> 3; the tokenizer adds no special tokens
        Family("bloom", False, 4, (), (), (), (0, 1, 2, 3), (2,), last=250679),
    )
}

_FAMILY_OF_TYPE = {
    "bert": "wordpiece-uncased",
    "distilbert": "wordpiece-uncased",
    "electra": "wordpiece-uncased",
    "roberta": "roberta",
    "xlm-roberta": "roberta",
    "camembert": "roberta",
    "bart": "roberta",
    "led": "roberta",
    "longformer": "roberta",
    "deberta": "deberta",
    "deberta-v2": "deberta",
    "pegasus": "pegasus",
    "t5": "t5",
    "mt5": "t5",
    "bloom": "bloom",
}


def family_for(model_type: str, source: str, config: Dict[str, object]) -> Family:
    """The stand-in family of a model type (`cased` in a BERT name picks the cased one)."""
    name = _FAMILY_OF_TYPE.get(model_type)
    if name == "wordpiece-uncased" and "uncased" not in source and "cased" in source:
        name = "wordpiece-cased"
    if name is not None:
        return FAMILIES[name]
    eos = config.get("eos_token_id")
    eos_ids = (eos,) if isinstance(eos, int) else ()
    return Family(f"plain ({model_type})", False, 0, (), (), (), eos_ids, eos_ids)


@dataclass
class Encoding:
    """Token ids of one input with its special tokens, and their segment (type) ids."""

    ids: List[int]
    type_ids: List[int]


@dataclass
class QaFeature:
    """One window of a question-context pair: ids, type ids, and the context tokens' spans."""

    ids: List[int]
    type_ids: List[int]
    spans: Dict[int, Tuple[int, int]] = field(default_factory=dict)


def fnv1a(text: str) -> int:
    """64-bit FNV-1a of UTF-8 text (stable across runs and Python versions)."""
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def pieces(text: str) -> List[Tuple[str, int, int, bool]]:
    """Word pieces of `text`: (piece, start, end, continues a word), offsets in characters."""
    out: List[Tuple[str, int, int, bool]] = []
    for m in _SPLIT.finditer(text):
        word, start = m.group(), m.start()
        if word.isdigit():
            step = DIGIT_GROUP
            cuts = list(range(0, len(word), step))
        elif word[0].isalpha() and len(word) > WHOLE_WORD_LETTERS:
            cuts = [0] + list(range(WHOLE_WORD_LETTERS, len(word), PIECE_LETTERS))
        else:
            cuts = [0]
        for i, c in enumerate(cuts):
            end = cuts[i + 1] if i + 1 < len(cuts) else len(word)
            out.append((word[c:end], start + c, start + end, i > 0))
    return out


class StandInTokenizer:
    """Offline tokenizer with realistic token counts for English (see the module notes)."""

    description = STAND_IN_DESCRIPTION
    stand_in = True

    def __init__(self, family: Family, vocab_size: int):
        self.family = family
        self.vocab_size = vocab_size
        last = family.last if family.last is not None else vocab_size - 1
        self._last = min(last, vocab_size - 1)
        self._span = max(1, self._last - family.first + 1)
        self._specials = frozenset(family.specials)
        self.eos_ids: Tuple[int, ...] = family.eos

    def _ids(self, text: str) -> List[Tuple[int, int, int]]:
        out = []
        for piece, start, end, cont in pieces(text):
            key = piece.lower() if self.family.lowercase else piece
            pid = self.family.first + fnv1a(("##" if cont else "") + key) % self._span
            out.append((pid, start, end))
        return out

    def encode(self, text: str, max_length: Optional[int] = None) -> Encoding:
        """Ids with the single-sequence special tokens, cut to `max_length` when given."""
        f = self.family
        body = [i for i, _, _ in self._ids(text)]
        if max_length is not None:
            body = body[: max(0, max_length - len(f.prefix) - len(f.suffix))]
        ids = list(f.prefix) + body + list(f.suffix)
        return Encoding(ids, [0] * len(ids))

    def count(self, text: str) -> int:
        """Tokens of `text` with its special tokens, untruncated."""
        return len(self.encode(text).ids)

    def encode_prompt(self, text: str) -> List[int]:
        """Ids of a generation prompt, as the model's tokenizer frames it."""
        return self.encode(text).ids

    def qa_features(self, question: str, context: str, max_length: int,
                    stride: int) -> List[QaFeature]:
        """Windows of (question, context) as the question-answering pipeline makes them."""
        f = self.family
        q = [i for i, _, _ in self._ids(question)][:MAX_QUESTION_TOKENS]
        c = self._ids(context)
        specials = len(f.prefix) + len(f.middle) + len(f.suffix)
        room = max(1, max_length - len(q) - specials)
        step = max(1, room - stride)
        head = list(f.prefix) + q + list(f.middle)
        features = []
        start = 0
        while True:
            window = c[start: start + room]
            ids = head + [i for i, _, _ in window] + list(f.suffix)
            second = 1 if f.typed_pairs else 0
            type_ids = [0] * len(head) + [second] * (len(ids) - len(head))
            spans = {len(head) + k: (s, e) for k, (_, s, e) in enumerate(window)}
            features.append(QaFeature(ids, type_ids, spans))
            if start + room >= len(c):
                return features
            start += step

    def decode(self, ids: Sequence[int]) -> str:
        """Text of generated ids: a pseudo-word per ordinary id, nothing for special ones."""
        return "".join(" " + pseudo_word(i) for i in ids if i not in self._specials)


def pseudo_word(token_id: int) -> str:
    """A pronounceable word standing for a token id (`kabo`, `tiruse`, ...)."""
    n = len(_CONSONANTS) * len(_VOWELS)
    syllables = []
    v = max(0, token_id)
    while True:
        v, s = divmod(v, n)
        syllables.append(_CONSONANTS[s // len(_VOWELS)] + _VOWELS[s % len(_VOWELS)])
        if v == 0:
            return "".join(syllables)


class HfTokenizer:
    """Adapter of a Hugging Face (fast) tokenizer to the interface of `StandInTokenizer`."""

    stand_in = False

    def __init__(self, tokenizer, name: str):
        self.tok = tokenizer
        self.description = f"{name} ({type(tokenizer).__name__})"
        self.vocab_size = len(tokenizer)
        eos = tokenizer.eos_token_id
        self.eos_ids: Tuple[int, ...] = (eos,) if eos is not None else ()

    def encode(self, text: str, max_length: Optional[int] = None) -> Encoding:
        """Ids with special tokens, truncated to `max_length` when given."""
        enc = self.tok(text, truncation=max_length is not None, max_length=max_length)
        ids = list(enc["input_ids"])
        return Encoding(ids, list(enc.get("token_type_ids") or [0] * len(ids)))

    def count(self, text: str) -> int:
        """Tokens with special tokens, untruncated."""
        return len(self.tok(text)["input_ids"])

    def encode_prompt(self, text: str) -> List[int]:
        """Ids of a generation prompt as the pipelines tokenize it."""
        return list(self.tok(text)["input_ids"])

    def qa_features(self, question: str, context: str, max_length: int,
                    stride: int) -> List[QaFeature]:
        """Windows as the question-answering pipeline makes them (`only_second`, stride)."""
        enc = self.tok(question, context, truncation="only_second", max_length=max_length,
                       stride=stride, return_overflowing_tokens=True,
                       return_offsets_mapping=True, padding=False)
        out = []
        for i, ids in enumerate(enc["input_ids"]):
            seq = enc.sequence_ids(i)
            offsets = enc["offset_mapping"][i]
            types = enc.get("token_type_ids")
            spans = {j: (int(offsets[j][0]), int(offsets[j][1]))
                     for j, s in enumerate(seq) if s == 1}
            out.append(QaFeature(list(ids), list(types[i]) if types else [0] * len(ids), spans))
        return out

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ids, special tokens skipped (as pipelines do)."""
        return self.tok.decode(list(ids), skip_special_tokens=True)
