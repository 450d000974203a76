"""`python -m jbtransformers`: the server's command line (`jbtransformers.cli.main`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
