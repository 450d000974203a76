#!/usr/bin/env python3
"""The server with the tests' stand-in backend (`fake_backend.FakeLoader`): same command
line as `server.py`, no torch needed. For tests only."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from fake_backend import FakeLoader  # noqa: E402
from jbtransformers.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(loader_factory=FakeLoader))
