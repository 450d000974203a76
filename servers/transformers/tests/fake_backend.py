"""A deterministic stand-in for the torch backend, for tests only: the server's real
protocols, pipelines, tokenizer and configuration table run over a network that does no
arithmetic (outputs come from hashes of the input ids).

Generation emits an end-of-sequence token as its `EOS_AFTER`-th token unless the minimum
length it receives forbids it, so tests can tell a pinned length from a natural stop. Each
network keeps every `Decoding` it was asked for (`decodings`), so tests see what the server
resolved (beams, penalties, clamped lengths).
Environment knobs (for `fake_server.py`): `JB_FAKE_TOKEN_DELAY_MS` (per generated token and
per encoder call), `JB_FAKE_LOAD_DELAY_MS` (per model load).
"""

import os
import threading
import time

from jbtransformers.models import Blueprint, Options
from jbtransformers.tokenizer import fnv1a

#: Position (1-based) of the end-of-sequence token in an unpinned generation.
EOS_AFTER = 3
#: Width of fake embeddings.
EMBED_WIDTH = 16


def _h(ids) -> int:
    return fnv1a(",".join(str(i) for i in ids))


class FakeNetwork:
    """The `Network` interface of `jbtransformers.pipelines`, without arithmetic."""

    def __init__(self, bp: Blueprint, delay_s: float = 0.0):
        self.labels = list(bp.labels)
        self.architecture = f"Fake[{bp.model_type}]"
        self.parameters = bp.study_parameters or 1000
        self.vocab_size = bp.vocab_size
        self.eos_ids = bp.family.eos
        self.first = bp.family.first
        self.delay_s = delay_s
        self.calls = 0
        self.decodings = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def _enter(self) -> None:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def _exit(self) -> None:
        with self._lock:
            self.active -= 1

    def _work(self) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)

    def classify(self, ids, type_ids):
        self._enter()
        try:
            self._work()
            h = _h(ids)
            return [((h >> (8 * i)) % 1000) / 250.0 - 2.0 for i in range(len(self.labels))]
        finally:
            self._exit()

    def qa(self, ids, type_ids):
        self._enter()
        try:
            self._work()
            start = [((i * 7 + t * 3) % 101) / 10.0 for i, t in enumerate(ids)]
            end = [((i * 5 + t) % 103) / 10.0 for i, t in enumerate(ids)]
            return start, end
        finally:
            self._exit()

    def embed(self, ids, type_ids):
        self._enter()
        try:
            s = sum(ids)
            return [((s * (j + 1) + j) % 201) / 100.0 - 1.0 for j in range(EMBED_WIDTH)]
        finally:
            self._exit()

    def generate(self, ids, decoding, on_token):
        self._enter()
        self.decodings.append(decoding)
        try:
            if on_token is not None and decoding.num_beams > 1:
                raise AssertionError("a beam search was asked to stream")
            out = []
            h = _h(ids)
            for step in range(decoding.max_new_tokens):
                self._work()
                eos_allowed = self.eos_ids and step >= decoding.min_new_tokens
                if eos_allowed and step + 1 >= EOS_AFTER:
                    token = self.eos_ids[0]
                else:
                    token = self.first + (h + step * 7919) % 1000
                out.append(token)
                if on_token is not None and not on_token(token):
                    break
                if token in self.eos_ids:
                    break
            return out
        finally:
            self._exit()


class FakeLoader:
    """Loads every blueprint as a `FakeNetwork` with the stand-in tokenizer."""

    def __init__(self, options: Options):
        if options.device == "auto":
            options.device = "cpu"
        self.options = options
        self.delay_s = float(os.environ.get("JB_FAKE_TOKEN_DELAY_MS", "0")) / 1000.0
        self.load_delay_s = float(os.environ.get("JB_FAKE_LOAD_DELAY_MS", "0")) / 1000.0
        self.networks = {}

    def about(self) -> dict:
        return {"backend": "fake (tests)"}

    def load(self, bp: Blueprint):
        if self.load_delay_s:
            time.sleep(self.load_delay_s)
        network = FakeNetwork(bp, self.delay_s)
        self.networks[bp.spec.name] = network
        return bp.served(bp.stand_in_tokenizer(), network, "fake (tests)")
