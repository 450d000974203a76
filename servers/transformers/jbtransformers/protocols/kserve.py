"""KServe v2 / Open Inference Protocol: `POST /v2/models/{name}/infer` with BYTES tensors of
text, model metadata and readiness, server metadata and health."""

from __future__ import annotations

from typing import List, Optional

from .. import SERVER_NAME, VERSION, errors
from ..app import App
from ..pipelines import GenerationParams
from .common import Reply, parse_object

STYLE = errors.KSERVE
_TEXT_NAMES = ("text", "text_input", "input", "inputs", "INPUT0")


def _strings(t: dict) -> List[str]:
    """Flattens (possibly nested) BYTES data into strings."""
    name = t.get("name")
    datatype = t.get("datatype") or "BYTES"
    if datatype != "BYTES":
        raise errors.bad_request(STYLE, f"input `{name}` must be BYTES, not {datatype}")
    out: List[str] = []

    def walk(v) -> bool:
        if isinstance(v, str):
            out.append(v)
            return True
        return isinstance(v, list) and all(walk(x) for x in v)

    if not walk(t.get("data")) or not out:
        raise errors.bad_request(STYLE, f"input `{name}` must hold UTF-8 strings")
    return out


def _input(inputs: List[dict], names) -> Optional[dict]:
    for n in names:
        for t in inputs:
            if t.get("name") == n:
                return t
    return None


def _tensor(name: str, datatype: str, shape, data) -> dict:
    return {"name": name, "datatype": datatype, "shape": list(shape), "data": data}


def _params(p: dict) -> GenerationParams:
    def count(*keys) -> Optional[int]:
        for k in keys:
            if k in p:
                v = p[k]
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise errors.bad_request(STYLE, f"parameter `{keys[0]}` must be a "
                                                    "non-negative integer")
                return v
        return None

    def num(key, default):
        v = p.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise errors.bad_request(STYLE, f"parameter `{key}` must be a number")
        return float(v)

    maximum = count("max_tokens", "max_new_tokens")
    g = GenerationParams(
        max_new_tokens=16 if maximum is None else maximum,
        min_new_tokens=count("min_tokens", "min_new_tokens") or 0,
        ignore_eos=p.get("ignore_eos") is True,
        temperature=num("temperature", 0.0),
        top_p=num("top_p", 1.0),
        seed=count("seed") or 0,
    )
    try:
        return g.validate()
    except Exception as e:
        raise errors.from_model(STYLE, e) from e


def infer(app: App, name: str, body: bytes) -> Reply:
    """`POST /v2/models/{name}/infer` (also `/versions/{v}/infer`)."""
    model = app.get(STYLE, name)
    req = parse_object(STYLE, body)
    inputs = req.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(t, dict) for t in inputs):
        raise errors.bad_request(STYLE, "`inputs` must be a list of tensors")
    parameters = req.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise errors.bad_request(STYLE, "`parameters` must be an object")
    first = _input(inputs, _TEXT_NAMES) or (inputs[0] if inputs else None)
    if model.task == "question-answering":
        q, c = _input(inputs, ("question",)), _input(inputs, ("context",))
        if q is None or c is None:
            missing = "question" if q is None else "context"
            raise errors.bad_request(STYLE, f"missing BYTES input `{missing}`")
        qs, cs = _strings(q), _strings(c)
        if len(qs) != len(cs):
            raise errors.bad_request(STYLE, "`question` and `context` must have the same length")
        answers = app.run(STYLE, lambda: [model.answer(a, b) for a, b in zip(qs, cs)])
        n = len(answers)
        outputs = [
            _tensor("answer", "BYTES", [n], [a.answer for a in answers]),
            _tensor("score", "FP32", [n], [a.score for a in answers]),
            _tensor("start", "INT64", [n], [a.start for a in answers]),
            _tensor("end", "INT64", [n], [a.end for a in answers]),
        ]
    elif first is None:
        raise errors.bad_request(STYLE, "no input tensor")
    elif model.task == "text-classification":
        texts = _strings(first)
        truncate = parameters.get("truncate", True) is not False
        results = app.run(STYLE, lambda: [model.classify(t, truncate) for t in texts])
        n, k = len(results), len(model.labels)
        best = [max(range(len(c.probabilities)), key=lambda i: c.probabilities[i])
                for c in results]
        outputs = [
            _tensor("label", "BYTES", [n], [c.labels[i] for c, i in zip(results, best)]),
            _tensor("score", "FP32", [n], [c.probabilities[i] for c, i in zip(results, best)]),
            _tensor("logits", "FP32", [n, k], [x for c in results for x in c.logits]),
        ]
    else:
        prompts = _strings(first)
        params = _params(parameters)

        def work():
            out = []
            for p in prompts:
                g = model.generate(model.prompt_ids(p, params.max_new_tokens), params)
                out.append((g.text, g.prompt_tokens, len(g.tokens)))
            return out

        results = app.run(STYLE, work)
        n = len(results)
        outputs = [
            _tensor("text_output", "BYTES", [n], [r[0] for r in results]),
            _tensor("prompt_tokens", "INT64", [n], [r[1] for r in results]),
            _tensor("completion_tokens", "INT64", [n], [r[2] for r in results]),
        ]
    out = {"model_name": model.name, "model_version": "1", "outputs": outputs}
    if req.get("id") is not None:
        out["id"] = req["id"]
    return Reply(200, out)


def metadata(app: App, name: str) -> Reply:
    """`GET /v2/models/{name}`: inputs, outputs and parameters of a model."""
    m = app.get(STYLE, name)

    def text(n: str) -> dict:
        return {"name": n, "datatype": "BYTES", "shape": [-1]}

    def number(n: str, datatype: str, shape=(-1,)) -> dict:
        return {"name": n, "datatype": datatype, "shape": list(shape)}

    if m.task == "text-classification":
        inputs = [text("text")]
        outputs = [text("label"), number("score", "FP32"),
                   number("logits", "FP32", (-1, len(m.labels)))]
    elif m.task == "question-answering":
        inputs = [text("question"), text("context")]
        outputs = [text("answer"), number("score", "FP32"), number("start", "INT64"),
                   number("end", "INT64")]
    else:
        inputs = [text("text_input")]
        outputs = [text("text_output"), number("prompt_tokens", "INT64"),
                   number("completion_tokens", "INT64")]
    d = m.describe()
    return Reply(200, {"name": m.name, "versions": ["1"],
                       "platform": f"{SERVER_NAME} (transformers)", "inputs": inputs,
                       "outputs": outputs,
                       "parameters": {"task": m.task, "parameters": d["parameters"],
                                      "architecture": d["architecture"]}})


def model_ready(app: App, name: str) -> Reply:
    """`GET /v2/models/{name}/ready`."""
    app.get(STYLE, name)
    return Reply(200, {"name": name, "ready": True})


def server_metadata(_app: App) -> Reply:
    """`GET /v2`."""
    return Reply(200, {"name": SERVER_NAME, "version": VERSION, "extensions": []})


def ready(app: App) -> Reply:
    """`GET /health`, `GET /v2/health/ready`: 200 once every model is loaded, 503 before."""
    if app.ready.is_set():
        return Reply(200, {"status": "ready"})
    return Reply(503, {"status": "loading"})

