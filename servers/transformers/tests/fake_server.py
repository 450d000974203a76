#!/usr/bin/env python3
"""The server with the tests' stand-in backend (`fake_backend.FakeLoader`): same command
line as `python3 -m jbtransformers`, no torch needed. For tests only.

    PYTHONPATH=servers/transformers python3 servers/transformers/tests/fake_server.py ...

(`jbtransformers` must be importable: PYTHONPATH at `servers/transformers`, or the package
installed; `fake_backend` is found beside this file.)"""

import sys

from fake_backend import FakeLoader
from jbtransformers.cli import main

if __name__ == "__main__":
    sys.exit(main(loader_factory=FakeLoader))
