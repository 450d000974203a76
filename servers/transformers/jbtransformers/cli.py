"""Command line: parse flags, bind the port, load the models, serve until SIGTERM."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
import time
from typing import Callable, List, Optional

from . import SERVER_NAME, VERSION, configs, decoding
from .app import App, log
from .decoding import CheckpointDecoding
from .httpd import serve
from .models import LoadError, ModelSpec, Options
from .pipelines import TASKS

DTYPES = ("float32", "float16", "bfloat16")
#: Seconds requests in flight get to finish after SIGTERM.
DRAIN_SECONDS = 10.0


def prog_name() -> str:
    """How the server was started, for usage lines: `python3 -m jbtransformers` when run as a
    module, else the script's name (`joulebench-transformers`, the console script)."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python3 -m jbtransformers" if name in ("", "-c", "__main__.py") else name


def parser() -> argparse.ArgumentParser:
    """The flags."""
    p = argparse.ArgumentParser(
        prog=prog_name(),
        description="Serve Hugging Face transformers models the way the Power Hungry Processing "
        "study ran them (pipelines, FP32, batch size 1, one inference at a time), over the "
        "OpenAI, TGI, TEI and KServe v2 protocols.",
        epilog="Tasks: " + ", ".join(TASKS) + ". SOURCE is a local folder or a Hugging Face id "
        "from the local cache (offline); with --random-weights, a built-in id needs no files "
        "(--list-builtin). Example: %(prog)s --port 8080 --random-weights --model "
        "sst2=text-classification:distilbert-base-uncased-finetuned-sst-2-english --model "
        "flan-t5-base=text2text-generation:google/flan-t5-base",
    )
    p.add_argument("--model", action="append", default=[], metavar="NAME=TASK:SOURCE",
                   help="a model to serve (repeat for more); NAME= is optional (default SOURCE)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (0: any free one; default 8080)")
    p.add_argument("--random-weights", action="store_true",
                   help="initialise weights from --seed instead of loading a checkpoint")
    p.add_argument("--seed", type=int, default=0, help="seed of random weights (default 0)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:N (default: cuda if torch sees a GPU, else cpu)")
    p.add_argument("--dtype", default="float32", choices=DTYPES,
                   help="weights and arithmetic (default float32, as the study)")
    p.add_argument("--ignore-eos", action="store_true",
                   help="every generation runs to its maximum new tokens on every protocol, as "
                   "if the request pinned it (random weights end sequences at arbitrary points)")
    p.add_argument("--decoding", default=decoding.CHECKPOINT, choices=decoding.MODES,
                   help="checkpoint: each model decodes with its own generation settings, as "
                   "the study's pipelines did (beam search for the BART, Pegasus and LED "
                   "summarizers); greedy: one beam for every model (default checkpoint)")
    p.add_argument("--max-input-tokens", type=int, default=None,
                   help="input token limit of every model (default: each model's positions)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads of torch (default: torch's choice)")
    p.add_argument("--log-requests", action="store_true", help="log every request to stderr")
    p.add_argument("--list-builtin", action="store_true",
                   help="print the built-in model table and exit")
    p.add_argument("--version", action="version", version=f"{SERVER_NAME} {VERSION}")
    return p


def builtin_table() -> str:
    """The built-in models as a text table."""
    rows = [("model", "type", "kind", "study task", "study parameters", "labels",
             "decoding (as the study served it)")]
    served_as = {configs.SEQ2SEQ: "text2text-generation", configs.CAUSAL: "text-generation"}
    for m in configs.BUILTIN.values():
        how = "-"
        if m.kind != configs.ENCODER:
            task = "summarization" if m.study_task == "summarization" else served_as[m.kind]
            settings, _ = decoding.pipeline_settings(m.generation, m.task_generation, task)
            how = CheckpointDecoding.of_settings(settings, "table").summary()
        rows.append((m.name, m.model_type, m.kind, m.study_task,
                     f"{m.study_parameters:,}" if m.study_parameters else "-",
                     ",".join(m.labels) or "-", how))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def torch_loader(options: Options):
    """The real loader (imports torch and transformers)."""
    from .torch_backend import TorchLoader

    return TorchLoader(options)


def options_of(args: argparse.Namespace, p: argparse.ArgumentParser) -> Options:
    """Options from flags, checked."""
    device = args.device or "auto"
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        p.error(f"--device {device}: expected cpu, cuda or cuda:N")
    if args.max_input_tokens is not None and args.max_input_tokens < 1:
        p.error("--max-input-tokens must be at least 1")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be at least 1")
    return Options(random_weights=args.random_weights, seed=args.seed, device=device,
                   dtype=args.dtype, max_input_tokens=args.max_input_tokens,
                   threads=args.threads, ignore_eos=args.ignore_eos, decoding=args.decoding)


def main(argv: Optional[List[str]] = None,
         loader_factory: Optional[Callable[[Options], object]] = None) -> int:
    """Runs the server; returns the exit code."""
    p = parser()
    args = p.parse_args(argv)
    if args.list_builtin:
        print(builtin_table())
        return 0
    if not args.model:
        p.error("give at least one --model NAME=TASK:SOURCE")
    try:
        specs = [ModelSpec.parse(m) for m in args.model]
    except ValueError as e:
        p.error(f"--model {e}")
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        p.error(f"--model: names used twice: {', '.join(dupes)} (give NAME= to tell them apart)")
    options = options_of(args, p)
    app = App(specs, options, loader_factory or torch_loader)
    try:
        server = serve(args.host, args.port, app, args.log_requests)
    except OSError as e:
        log(f"error: cannot listen on {args.host}:{args.port}: {e}")
        return 1
    host, port = server.server_address[:2]
    log(f"listening on http://{host}:{port}")
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    stop = threading.Event()

    def on_signal(signum, _frame):
        stop.set()
        if not app.ready.is_set():
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        app.load()
    except LoadError as e:
        log(f"error: {e}")
        server.shutdown()
        return 1
    except SystemExit:
        server.shutdown()
        raise
    except Exception as e:  # a loader failure: say what, exit non-zero
        log(f"error: loading failed: {type(e).__name__}: {e}")
        server.shutdown()
        return 1
    log(f"ready: {len(app.models)} model(s), {options.dtype} on {options.device}, batch size 1, "
        f"decoding: {options.decoding}")
    while not stop.wait(0.5):
        pass
    log("stopping: no new connections; requests in flight get up to 10 s")
    server.shutdown()
    deadline = time.monotonic() + DRAIN_SECONDS
    while not app.lock.idle() and time.monotonic() < deadline:
        time.sleep(0.05)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
