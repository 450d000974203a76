"""OpenAI routes: `POST /v1/completions`, `POST /v1/chat/completions` (SSE with
`stream: true`), `GET /v1/models`. vLLM's `ignore_eos` and `min_tokens` are honoured."""

from __future__ import annotations

import itertools
from typing import Callable, Dict, List

from .. import errors
from ..app import App
from ..pipelines import GENERATION_TASKS, Generation, GenerationParams, ServedModel
from .common import Reply, StreamReply, opt_bool, opt_float, opt_int, opt_str, parse_object, sse

STYLE = errors.OPENAI
#: `max_tokens` of completions when the request gives none (OpenAI's default).
DEFAULT_COMPLETION_TOKENS = 16
#: `max_tokens` of chat completions when the request gives none.
DEFAULT_CHAT_TOKENS = 256
_ids = itertools.count(1)


def params_of(req: dict, default_max: int) -> GenerationParams:
    """Length and sampling; absent `temperature` is greedy, as the study's pipelines."""
    n = opt_int(STYLE, req, "n")
    if n is not None and n != 1:
        raise errors.bad_request(STYLE, "only n = 1 is supported")
    maximum = opt_int(STYLE, req, "max_completion_tokens", 0)
    if maximum is None:
        maximum = opt_int(STYLE, req, "max_tokens", 0)
    p = GenerationParams(
        max_new_tokens=default_max if maximum is None else maximum,
        min_new_tokens=opt_int(STYLE, req, "min_tokens", 0) or 0,
        ignore_eos=opt_bool(STYLE, req, "ignore_eos"),
        temperature=opt_float(STYLE, req, "temperature") or 0.0,
        top_p=1.0 if req.get("top_p") is None else opt_float(STYLE, req, "top_p"),
        seed=opt_int(STYLE, req, "seed") or 0,
    )
    try:
        return p.validate()
    except Exception as e:
        raise errors.from_model(STYLE, e) from e


def usage(g: Generation) -> Dict[str, int]:
    """Token counts of a generation."""
    return {"prompt_tokens": g.prompt_tokens, "completion_tokens": len(g.tokens),
            "total_tokens": g.prompt_tokens + len(g.tokens)}


def _prompt_ids(model: ServedModel, prompt: object, max_new: int) -> List[int]:
    """A string, a one-string list, or token ids (flat or in a one-item list)."""
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return model.prompt_ids(prompt, max_new)
    if isinstance(prompt, list) and prompt and all(
            isinstance(x, int) and not isinstance(x, bool) for x in prompt):
        model.check_prompt(prompt, max_new)
        return list(prompt)
    raise errors.bad_request(STYLE, "prompt must be one string or one list of token ids "
                                    "(no batches)")


class TextDelta:
    """Text each new token adds, from decoding all tokens so far."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: List[int] = []
        self.emitted = ""

    def push(self, token: int) -> str:
        """The new text after `token` (empty while a character is incomplete)."""
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd"):
            return ""
        delta = text[len(self.emitted):]  # a tokenizer that rewrites earlier text: best effort
        self.emitted = text
        return delta


def stream(app: App, model: ServedModel, ids: List[int], params: GenerationParams,
           chunk: Callable[[str, int, object], List[object]], tail: Callable[[Generation],
                                                                             List[object]]):
    """Runs a generation, turning each token into events; errors become an error event.
    With beam search no token is final before the search ends: the whole text then comes
    in one chunk, with its finish reason, at the end."""

    def run(emit: Callable[[str], bool]) -> None:
        if model.streams_at_end:
            try:
                g = app.run(STYLE, lambda: model.generate(ids, params))
            except errors.ApiError as e:
                emit(sse({"error": {"message": e.message, "type": "server_error",
                                    "param": None, "code": None}}))
                emit("[DONE]")
                return
            if all(emit(sse(e)) for e in chunk(g.text, 0, g.finish)):
                for e in tail(g):
                    emit(sse(e))
                emit("[DONE]")
            return
        delta = TextDelta(model.tokenizer)
        count = [0]

        def on_token(token: int) -> bool:
            count[0] += 1
            last = token in model.tokenizer.eos_ids or count[0] >= params.max_new_tokens
            finish = None
            if last:
                finish = "stop" if token in model.tokenizer.eos_ids else "length"
            text = delta.push(token)
            return all(emit(sse(e)) for e in chunk(text, count[0] - 1, finish))

        try:
            g = app.run(STYLE, lambda: model.generate(ids, params, on_token))
        except errors.ApiError as e:
            emit(sse({"error": {"message": e.message, "type": "server_error", "param": None,
                                "code": None}}))
            emit("[DONE]")
            return
        if g.finish == "abort":
            return
        for e in tail(g):
            emit(sse(e))
        emit("[DONE]")

    return StreamReply(run)


def completions(app: App, body: bytes):
    """`POST /v1/completions`."""
    req = parse_object(STYLE, body)
    model = app.pick(STYLE, opt_str(STYLE, req, "model"), GENERATION_TASKS, "text generation")
    params = params_of(req, DEFAULT_COMPLETION_TOKENS)
    ids = app.run(STYLE, lambda: _prompt_ids(model, req.get("prompt"), params.max_new_tokens))
    head = {"id": f"cmpl-{next(_ids)}", "object": "text_completion", "created": app.created,
            "model": model.name}
    if opt_bool(STYLE, req, "stream"):
        def chunk(text, _index, finish):
            return [dict(head, choices=[{"index": 0, "text": text, "logprobs": None,
                                         "finish_reason": finish}])]

        return stream(app, model, ids, params, chunk, _usage_tail(req, head))
    g = app.run(STYLE, lambda: model.generate(ids, params))
    return Reply(200, dict(head, choices=[{"index": 0, "text": g.text, "logprobs": None,
                                           "finish_reason": g.finish}], usage=usage(g)))


def _usage_tail(req: dict, head: dict):
    options = req.get("stream_options")
    include = isinstance(options, dict) and options.get("include_usage") is True

    def tail(g: Generation) -> List[object]:
        return [dict(head, choices=[], usage=usage(g))] if include else []

    return tail


def render_chat(messages: object) -> str:
    """Messages as `role: content` lines and an `assistant:` cue (no chat templates)."""
    if not isinstance(messages, list) or not messages:
        raise errors.bad_request(STYLE, "messages must be a non-empty list")
    lines = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise errors.bad_request(STYLE, "each message needs a string `role`")
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content
                              if isinstance(p, dict) and isinstance(p.get("text"), str))
        elif content is None:
            content = ""
        elif not isinstance(content, str):
            raise errors.bad_request(STYLE, "message content must be a string or a list of "
                                            "text parts")
        lines.append(f"{m['role']}: {content}\n")
    return "".join(lines) + "assistant:"


def chat(app: App, body: bytes):
    """`POST /v1/chat/completions`."""
    req = parse_object(STYLE, body)
    model = app.pick(STYLE, opt_str(STYLE, req, "model"), GENERATION_TASKS, "text generation")
    text = render_chat(req.get("messages"))
    params = params_of(req, DEFAULT_CHAT_TOKENS)
    if req.get("max_tokens") is None and req.get("max_completion_tokens") is None:
        limit = model.max_input_tokens if model.kind == "causal" else None
        if limit is not None:
            used = app.run(STYLE, lambda: len(model.tokenizer.encode_prompt(text)))
            room = max(1, limit - used)
            params.max_new_tokens = max(min(params.max_new_tokens, room), params.min_new_tokens)
    ids = app.run(STYLE, lambda: model.prompt_ids(text, params.max_new_tokens))
    head = {"id": f"chatcmpl-{next(_ids)}", "object": "chat.completion.chunk",
            "created": app.created, "model": model.name}
    if opt_bool(STYLE, req, "stream"):
        def chunk(text, index, finish):
            out = []
            if index == 0:
                out.append(dict(head, choices=[{"index": 0, "delta": {"role": "assistant",
                                                                      "content": ""},
                                                "logprobs": None, "finish_reason": None}]))
            out.append(dict(head, choices=[{"index": 0, "delta": {"content": text},
                                            "logprobs": None, "finish_reason": finish}]))
            return out

        return stream(app, model, ids, params, chunk, _usage_tail(req, head))
    g = app.run(STYLE, lambda: model.generate(ids, params))
    return Reply(200, dict(head, object="chat.completion", choices=[
        {"index": 0, "message": {"role": "assistant", "content": g.text}, "logprobs": None,
         "finish_reason": g.finish}], usage=usage(g)))


def models(app: App, _body: bytes = b""):
    """`GET /v1/models`: every model with its task, parameters and tokenizer."""
    app.require_ready(STYLE)
    data = []
    for m in app.models.values():
        data.append(dict({"id": m.name, "object": "model", "created": app.created,
                          "owned_by": "joulebench"}, **m.describe()))
    return Reply(200, {"object": "list", "data": data})
