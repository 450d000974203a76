"""The routes: one module per protocol, and `route` to pick the handler of a request."""

from __future__ import annotations

import re
from typing import Union

from .. import errors
from ..app import App
from . import kserve, openai, tei, tgi
from .common import Reply, StreamReply

_INFER = re.compile(r"^/v2/models/(.+?)(?:/versions/[^/]+)?/infer$")
_READY = re.compile(r"^/v2/models/(.+)/ready$")
_META = re.compile(r"^/v2/models/(.+)$")

_GET = {
    "/health": lambda app: kserve.ready(app),
    "/v2/health/ready": lambda app: kserve.ready(app),
    "/v2/health/live": lambda app: Reply(200, {"live": True}),
    "/v2": kserve.server_metadata,
    "/info": lambda app: Reply(200, app.info()),
    "/v1/models": openai.models,
}
_POST = {
    "/v1/completions": openai.completions,
    "/v1/chat/completions": openai.chat,
    "/generate": tgi.generate,
    "/generate_stream": lambda app, body: tgi.generate(app, body, streamed=True),
    "/predict": tei.predict,
    "/embed": tei.embed,
}


def _style(path: str) -> str:
    if path.startswith("/v1/"):
        return errors.OPENAI
    if path.startswith("/generate"):
        return errors.TGI
    if path in ("/predict", "/embed"):
        return errors.TEI
    return errors.KSERVE


def route(app: App, method: str, path: str, body: bytes) -> Union[Reply, StreamReply]:
    """The answer to one request; every error is a JSON body in the protocol's shape."""
    path = path.split("?", 1)[0]
    if len(path) > 1:
        path = path.rstrip("/")
    try:
        return _dispatch(app, method, path, body)
    except errors.ApiError as e:
        return Reply(e.status, e.body())


def _dispatch(app: App, method: str, path: str, body: bytes) -> Union[Reply, StreamReply]:
    style = _style(path)
    if method == "GET":
        if path in _GET:
            return _GET[path](app)
        m = _READY.match(path)
        if m:
            return kserve.model_ready(app, m.group(1))
        if not path.endswith("/infer"):
            m = _META.match(path)
            if m:
                return kserve.metadata(app, m.group(1))
    elif method == "POST":
        if path in _POST:
            app.count(path)
            return _POST[path](app, body)
        m = _INFER.match(path)
        if m:
            app.count("/v2/models/{name}/infer")
            return kserve.infer(app, m.group(1), body)
    known = path in _GET or path in _POST or bool(_INFER.match(path) or _META.match(path))
    if known:
        raise errors.ApiError(405, f"method {method} is not allowed on {path}",
                              "method_not_allowed", style)
    raise errors.ApiError(404, f"no route {method} {path}", "not_found", style)
