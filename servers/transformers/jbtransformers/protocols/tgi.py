"""Text Generation Inference routes: `POST /generate` and `POST /generate_stream`."""

from __future__ import annotations

from typing import Callable

from .. import errors
from ..app import App
from ..pipelines import GENERATION_TASKS, GenerationParams
from .common import Reply, StreamReply, opt_bool, opt_float, opt_int, opt_str, parse_object, sse
from .openai import TextDelta

STYLE = errors.TGI
#: `max_new_tokens` when the request gives none (TGI's default).
DEFAULT_NEW_TOKENS = 20
_FINISH = {"length": "length", "stop": "eos_token", "abort": "stop_sequence"}


def params_of(p: dict) -> GenerationParams:
    """Greedy unless `do_sample`, `temperature` other than 1, or `top_p`; extensions
    `ignore_eos` and `min_new_tokens` pin the length."""
    maximum = opt_int(STYLE, p, "max_new_tokens")
    if maximum is not None and maximum < 1:
        raise errors.bad_request(STYLE, "Input validation error: `max_new_tokens` must be "
                                        "strictly positive")
    temperature = opt_float(STYLE, p, "temperature")
    if temperature is not None and temperature <= 0:
        raise errors.bad_request(STYLE, "Input validation error: `temperature` must be "
                                        "strictly positive")
    top_p = opt_float(STYLE, p, "top_p")
    sampled = opt_bool(STYLE, p, "do_sample") or (temperature not in (None, 1.0)) or (
        top_p is not None)
    g = GenerationParams(
        max_new_tokens=DEFAULT_NEW_TOKENS if maximum is None else maximum,
        min_new_tokens=opt_int(STYLE, p, "min_new_tokens", 0) or 0,
        ignore_eos=opt_bool(STYLE, p, "ignore_eos"),
        temperature=(temperature or 1.0) if sampled else 0.0,
        top_p=1.0 if top_p is None else top_p,
        seed=opt_int(STYLE, p, "seed") or 0,
    )
    try:
        return g.validate()
    except Exception as e:
        raise errors.bad_request(STYLE, f"Input validation error: {e}") from e


def generate(app: App, body: bytes, streamed: bool = False):
    """`POST /generate` → `{generated_text, details?}`; `/generate_stream` → SSE."""
    req = parse_object(STYLE, body)
    inputs = req.get("inputs")
    if not isinstance(inputs, str):
        raise errors.bad_request(STYLE, "`inputs` must be a string")
    parameters = req.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise errors.bad_request(STYLE, "`parameters` must be an object")
    model = app.pick(STYLE, opt_str(STYLE, req, "model"), GENERATION_TASKS, "text generation")
    params = params_of(parameters)
    ids = app.run(STYLE, lambda: model.prompt_ids(inputs, params.max_new_tokens))
    seed = parameters.get("seed")
    details = opt_bool(STYLE, parameters, "details")
    prefix = inputs if opt_bool(STYLE, parameters, "return_full_text") else ""
    if streamed:
        return StreamReply(_stream(app, model, ids, params, details, seed, prefix))
    g = app.run(STYLE, lambda: model.generate(ids, params))
    out = {"generated_text": prefix + g.text}
    if details:
        out["details"] = {
            "finish_reason": _FINISH[g.finish], "generated_tokens": len(g.tokens), "seed": seed,
            "prefill": [],
            "tokens": [{"id": t, "logprob": 0.0, "special": t in model.tokenizer.eos_ids}
                       for t in g.tokens],
        }
    return Reply(200, out, {"x-generated-tokens": str(len(g.tokens)),
                            "x-prompt-tokens": str(g.prompt_tokens)})


def _stream(app, model, ids, params, details, seed, prefix) -> Callable:
    def run(emit: Callable[[str], bool]) -> None:
        delta = TextDelta(model.tokenizer)
        count = [0]

        def on_token(token: int) -> bool:
            count[0] += 1
            eos = token in model.tokenizer.eos_ids
            last = eos or count[0] >= params.max_new_tokens
            event = {
                "index": count[0] - 1,
                "token": {"id": token, "text": delta.push(token), "logprob": 0.0,
                          "special": eos},
                "generated_text": prefix + delta.emitted if last else None,
                "details": {"finish_reason": "eos_token" if eos else "length",
                            "generated_tokens": count[0], "seed": seed}
                if last and details else None,
            }
            return emit(sse(event))

        try:
            app.run(STYLE, lambda: model.generate(ids, params, on_token))
        except errors.ApiError as e:
            emit(sse({"error": e.message, "error_type": "generation"}))

    return run
