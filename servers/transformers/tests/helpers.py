"""Shared scaffolding of the unittest tests: an in-process server state over the stand-in
backend, requests through the real router, and stream events collected."""

import json

from fake_backend import FakeLoader
from jbtransformers.app import App
from jbtransformers.models import ModelSpec, Options
from jbtransformers.protocols import route
from jbtransformers.protocols.common import Reply, StreamReply

#: Built-in models that cover every task and tokenizer layout the tests need.
MODELS = (
    "clf=text-classification:distilbert-base-uncased-finetuned-sst-2-english",
    "stars=text-classification:nlptown/bert-base-multilingual-uncased-sentiment",
    "qa=question-answering:deepset/tinyroberta-squad2",
    "t5=text2text-generation:google/flan-t5-base",
    "bart=summarization:sshleifer/distilbart-cnn-12-6",
    "bloom=text-generation:bigscience/bloomz-560m",
)


class Loader(FakeLoader):
    """The stand-in loader, remembered so tests can look at its networks."""

    last = None

    def __init__(self, options):
        super().__init__(options)
        Loader.last = self


def make_app(models=MODELS, load=True, **options) -> App:
    """A server state with `models` (specs), loaded unless `load` is False."""
    opts = Options(random_weights=True, **options)
    app = App([ModelSpec.parse(m) for m in models], opts, Loader, logger=lambda _line: None)
    if load:
        app.load()
    return app


def call(app: App, method: str, path: str, body=None):
    """(status, JSON body, headers) of a request; stream answers are refused here."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None \
        else b""
    reply = route(app, method, path, raw)
    assert isinstance(reply, Reply), f"{path} streamed"
    return reply.status, json.loads(json.dumps(reply.body)), reply.headers


def events(app: App, path: str, body) -> list:
    """The `data:` payloads of a streamed answer, `[DONE]` kept as a string."""
    reply = route(app, "POST", path, json.dumps(body).encode())
    if isinstance(reply, Reply):
        raise AssertionError(f"expected a stream, got {reply.status} {reply.body}")
    assert isinstance(reply, StreamReply)
    out = []
    reply.run(lambda data: out.append(data) or True)
    return [d if d == "[DONE]" else json.loads(d) for d in out]
