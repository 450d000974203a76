#!/usr/bin/env python3
"""joulebench-transformers: the study's Hugging Face pipelines as a model server.

    python3 servers/transformers/server.py --port 8080 --random-weights \
        --model sst2=text-classification:distilbert-base-uncased-finetuned-sst-2-english \
        --model flan-t5-base=text2text-generation:google/flan-t5-base

See servers/transformers/README.md, or run with --help.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from jbtransformers.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
