"""Server state: the models once loaded, readiness, and the lock that makes inference one
at a time (batch size 1, unbatched, requests served in arrival order)."""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import Counter
from typing import Callable, Dict, List, Optional, Sequence, TypeVar

from . import SERVER_NAME, VERSION, errors
from .models import ModelSpec, Options, resolve
from .pipelines import ModelError, ServedModel

T = TypeVar("T")


class FifoLock:
    """A lock granted in the order it was asked for (a ticket lock)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._next = 0
        self._serving = 0

    def __enter__(self) -> "FifoLock":
        with self._cond:
            ticket = self._next
            self._next += 1
            while ticket != self._serving:
                self._cond.wait()
        return self

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()

    def idle(self) -> bool:
        """Whether no one holds or waits for the lock."""
        with self._cond:
            return self._next == self._serving


def log(message: str) -> None:
    """A startup or error line on stderr (the runner writes it to servers/NAME.log)."""
    print(f"{SERVER_NAME}: {message}", file=sys.stderr, flush=True)


class App:
    """Everything the routes share."""

    def __init__(self, specs: Sequence[ModelSpec], options: Options,
                 loader_factory: Callable[[Options], object], about: Optional[dict] = None,
                 logger: Callable[[str], None] = log):
        self.log = logger
        self.specs = list(specs)
        self.options = options
        self.loader_factory = loader_factory
        self.models: Dict[str, ServedModel] = {}
        self.ready = threading.Event()
        self.lock = FifoLock()
        self.created = int(time.time())
        self.requests: Counter = Counter()
        self._count_lock = threading.Lock()
        self.about = dict(about or {})

    def load(self) -> None:
        """Resolves every spec first (fast errors), then loads them one by one."""
        blueprints = [resolve(s, self.options) for s in self.specs]
        loader = self.loader_factory(self.options)
        about = getattr(loader, "about", None)
        if about is not None:
            self.about.update(about())
            self.log(", ".join(f"{k} {v}" for k, v in self.about.items()))
        for bp in blueprints:
            started = time.monotonic()
            model = loader.load(bp)
            model.ignore_eos = self.options.ignore_eos
            self.models[model.name] = model
            d = model.describe()
            limit = d["max_model_len"] if d["max_model_len"] is not None else "no fixed"
            self.log(f"model `{model.name}`: {model.task}, {d['architecture']}, "
                f"{d['parameters']:,} parameters, {limit} input tokens, source {model.source}, "
                f"weights {model.weights}, {self.options.dtype} on {self.options.device}, "
                f"tokenizer: {d['tokenizer']} (loaded in {time.monotonic() - started:.1f} s)")
            if model.kind != "encoder":
                self.log(f"model `{model.name}`: decoding: {model.decoding.summary()}: "
                         f"{model.decoding.details()}")
            for note in model.notes:
                self.log(f"model `{model.name}`: note: {note}")
        self.ready.set()

    def count(self, route: str) -> None:
        """Counts a request to a route (reported by `/info`)."""
        with self._count_lock:
            self.requests[route] += 1

    def require_ready(self, style: str) -> None:
        """503 while models load."""
        if not self.ready.is_set():
            raise errors.loading(style)

    def get(self, style: str, name: str) -> ServedModel:
        """A model by name, or 404 naming the served ones."""
        self.require_ready(style)
        model = self.models.get(name)
        if model is None:
            raise errors.unknown_model(style, name, self.models)
        return model

    def pick(self, style: str, name: Optional[str], tasks: Sequence[str],
             wanted: str) -> ServedModel:
        """The model a request names (it must do one of `tasks`), or the first that does."""
        self.require_ready(style)
        if name is not None:
            if not isinstance(name, str):
                raise errors.bad_request(style, "`model` must be a string")
            model = self.get(style, name)
            if model.task not in tasks:
                raise errors.bad_request(style, f"model `{name}` does {model.task}, not {wanted}")
            return model
        for model in self.models.values():
            if model.task in tasks:
                return model
        raise errors.bad_request(style, f"no {wanted} model is loaded")

    def run(self, style: str, work: Callable[[], T]) -> T:
        """Runs model work under the inference lock; model errors become protocol errors."""
        with self.lock:
            try:
                return work()
            except errors.ApiError:
                raise
            except ModelError as e:
                raise errors.from_model(style, e) from e
            except Exception as e:  # a failure of the model itself: 500, logged
                traceback.print_exc(file=sys.stderr)
                raise errors.from_model(style, e) from e

    def info(self) -> Dict[str, object]:
        """`GET /info`: server, settings, models, request counts."""
        models: List[Dict[str, object]] = []
        for spec in self.specs:
            m = self.models.get(spec.name)
            entry: Dict[str, object] = {"name": spec.name, "task": spec.task,
                                        "source": spec.source, "ready": m is not None}
            if m is not None:
                entry.update(m.describe())
            models.append(entry)
        first = models[0] if models else {}
        with self._count_lock:
            counts = dict(self.requests)
        out: Dict[str, object] = {
            "server": SERVER_NAME,
            "version": VERSION,
            "ready": self.ready.is_set(),
            "device": self.options.device,
            "dtype": self.options.dtype,
            "seed": self.options.seed,
            "random_weights": self.options.random_weights,
            "ignore_eos": self.options.ignore_eos,
            "decoding": self.options.decoding,
            "batch_size": 1,
            "concurrent_inferences": 1,
            "model_id": first.get("name"),
            "model_dtype": self.options.dtype,
            "model_device_type": self.options.device.split(":")[0],
            "max_input_tokens": first.get("max_model_len"),
            "tokenizer": first.get("tokenizer"),
            "models": models,
            "requests": counts,
        }
        out.update(self.about)
        return out
