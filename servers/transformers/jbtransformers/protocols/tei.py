"""Text Embeddings Inference routes: `POST /predict` (classification, and extractive QA with
`{inputs: {question, context}}`) and `POST /embed`."""

from __future__ import annotations

import time
from typing import List, Tuple

from .. import errors
from ..app import App
from ..pipelines import Classification
from .common import Reply, opt_bool, opt_str, parse_object

STYLE = errors.TEI


def scores(c: Classification, raw: bool) -> List[dict]:
    """`[{label, score}]` sorted by score: probabilities, or logits when `raw_scores`."""
    values = c.logits if raw else c.probabilities
    pairs = sorted(zip(c.labels, values), key=lambda p: -p[1])
    return [{"label": label, "score": score} for label, score in pairs]


def _timed(body: object, started: float, tokens: int) -> Reply:
    ms = f"{(time.monotonic() - started) * 1e3:.3f}"
    return Reply(200, body, {"x-compute-time": ms, "x-total-time": ms,
                             "x-compute-tokens": str(tokens)})


def texts_of(inputs: object) -> Tuple[bool, List[str]]:
    """A string (single) or a non-empty list of strings (batch)."""
    if isinstance(inputs, str):
        return True, [inputs]
    if isinstance(inputs, list) and inputs and all(isinstance(t, str) for t in inputs):
        return False, list(inputs)
    raise errors.bad_request(STYLE, "inputs must be a string or a non-empty list of strings")


def _qa_pair(v: object) -> Tuple[str, str]:
    if (isinstance(v, dict) and isinstance(v.get("question"), str)
            and isinstance(v.get("context"), str)):
        return v["question"], v["context"]
    raise errors.bad_request(STYLE, "question-answering inputs need `question` and `context` "
                                    "strings")


def predict(app: App, body: bytes) -> Reply:
    """`POST /predict`: labels with scores, or an answer span for `{question, context}`."""
    req = parse_object(STYLE, body)
    started = time.monotonic()
    inputs = req.get("inputs")
    name = opt_str(STYLE, req, "model")
    is_qa = isinstance(inputs, dict) or (
        isinstance(inputs, list) and bool(inputs) and isinstance(inputs[0], dict))
    if is_qa:
        model = app.pick(STYLE, name, ("question-answering",), "question answering")
        single = isinstance(inputs, dict)
        pairs = [_qa_pair(inputs)] if single else [_qa_pair(v) for v in inputs]

        def work():
            return [model.answer(q, c) for q, c in pairs]

        answers = app.run(STYLE, work)
        out = [{"answer": a.answer, "score": a.score, "start": a.start, "end": a.end}
               for a in answers]
        return _timed(out[0] if single else out, started, sum(a.tokens for a in answers))
    model = app.pick(STYLE, name, ("text-classification",), "text classification")
    single, texts = texts_of(inputs)
    raw = opt_bool(STYLE, req, "raw_scores")
    truncate = opt_bool(STYLE, req, "truncate", default=True)
    results = app.run(STYLE, lambda: [model.classify(t, truncate) for t in texts])
    out = [scores(c, raw) for c in results]
    return _timed(out[0] if single else out, started, sum(c.tokens for c in results))


def embed(app: App, body: bytes) -> Reply:
    """`POST /embed`: one mean-pooled vector per input, from an encoder."""
    req = parse_object(STYLE, body)
    started = time.monotonic()
    name = opt_str(STYLE, req, "model")
    encoders = ("text-classification", "question-answering")
    model = app.pick(STYLE, name, encoders, "an encoder (classification or question answering)")
    _, texts = texts_of(req.get("inputs"))
    normalize = opt_bool(STYLE, req, "normalize", default=True)
    truncate = opt_bool(STYLE, req, "truncate", default=True)
    vectors = app.run(STYLE, lambda: [model.embed(t, normalize, truncate) for t in texts])
    return _timed(vectors, started, 0)
