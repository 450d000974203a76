#!/usr/bin/env python3
"""Issue 3's GPU check: joulebench's NVML probe against an independent reader.

Over a GPU load of --seconds (a float32 matmul loop in PyTorch when it is there; idle
otherwise), compares the energy `joulebench probe read --json --since` reports for
`gpu-N` with the NVML total-energy counter read directly, by pynvml when installed or
else by ctypes on libnvidia-ml.so.1 (nvmlDeviceGetTotalEnergyConsumption, mJ). The
independent counter is read just before and just after each joulebench call, and the
midpoints are compared, so process start-up does not count against either side.

    python3 bench/nvml_crosscheck.py [--joulebench PATH] [--gpu 0] [--seconds 30] [--out DIR]

Prints the figures and a JSON line; writes DIR/nvml-crosscheck.json when --out is given.
Exits 0 when the two agree within --tolerance (default 1%), 1 when they do not, 2 when
something needed is missing (no driver, no GPU, no joulebench).
"""

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time


class DirectNvml:
    """The NVML energy counter of one GPU, read without joulebench (pynvml or ctypes)."""

    def __init__(self, index):
        try:
            import pynvml  # nvidia-ml-py

            pynvml.nvmlInit()
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self.read_mj = lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            self.name = "pynvml " + getattr(pynvml, "__version__", "")
            return
        except ImportError:
            pass
        lib = ctypes.CDLL("libnvidia-ml.so.1")
        check = lambda rc, what: rc == 0 or sys.exit(f"error: {what} returned NVML status {rc}")
        check(lib.nvmlInit_v2(), "nvmlInit_v2")
        handle = ctypes.c_void_p()
        check(lib.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)), "nvmlDeviceGetHandleByIndex_v2")

        def read_mj():
            mj = ctypes.c_ulonglong()
            check(lib.nvmlDeviceGetTotalEnergyConsumption(handle, ctypes.byref(mj)), "nvmlDeviceGetTotalEnergyConsumption")
            return mj.value

        self.read_mj = read_mj
        self.name = "ctypes libnvidia-ml.so.1"

    def joules(self):
        return self.read_mj() / 1000.0


def joulebench_read(exe, since=None):
    """`joulebench probe read --json [--since FILE]`, parsed."""
    cmd = [exe, "probe", "read", "--json"] + (["--since", since] if since else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout, json.loads(done.stdout)


def bracketed(direct, exe, since=None):
    """A joulebench reading with the direct counter read just before and after it (J)."""
    before = direct.joules()
    text, parsed = joulebench_read(exe, since)
    after = direct.joules()
    return text, parsed, (before + after) / 2.0, after - before


def load(seconds, gpu):
    """A float32 matmul loop on the GPU for `seconds`; returns what ran."""
    try:
        import torch
    except ImportError:
        time.sleep(seconds)
        return "idle (no torch)"
    if not torch.cuda.is_available():
        time.sleep(seconds)
        return "idle (torch sees no CUDA device)"
    dev = torch.device(f"cuda:{gpu}")
    a = torch.randn(8192, 8192, device=dev)
    b = torch.randn(8192, 8192, device=dev)
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        for _ in range(4):
            a = torch.tanh(a @ b)
        torch.cuda.synchronize(dev)
        n += 4
    return f"{n} float32 8192x8192 matmuls on cuda:{gpu}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--joulebench", default=os.environ.get("JOULEBENCH", "target/release/joulebench"))
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--tolerance", type=float, default=0.01)
    ap.add_argument("--out")
    args = ap.parse_args()
    if not os.access(args.joulebench, os.X_OK):
        print(f"error: {args.joulebench} is not an executable joulebench (--joulebench PATH)", file=sys.stderr)
        return 2
    try:
        direct = DirectNvml(args.gpu)
    except OSError as e:
        print(f"error: no NVIDIA driver here: {e}", file=sys.stderr)
        return 2
    domain = f"gpu-{args.gpu}"
    with tempfile.TemporaryDirectory() as tmp:
        first = os.path.join(tmp, "first.json")
        text, parsed, d0, gap0 = bracketed(direct, args.joulebench)
        if not any(d["domain"] == domain and d["source"] == "nvml" for d in parsed["domains"]):
            print(f"error: joulebench reads no NVML domain {domain}: {json.dumps(parsed.get('missing'))}", file=sys.stderr)
            return 2
        with open(first, "w") as f:
            f.write(text)
        t0 = time.monotonic()
        work = load(args.seconds, args.gpu)
        elapsed = time.monotonic() - t0
        _, parsed, d1, gap1 = bracketed(direct, args.joulebench, since=first)
    row = next(d for d in parsed["domains"] if d["domain"] == domain and d["source"] == "nvml")
    jb = row.get("delta_j")
    if jb is None:
        print(f"error: joulebench gave no delta for {domain}: {row.get('delta_note')}", file=sys.stderr)
        return 2
    ref = d1 - d0
    diff = (jb - ref) / ref if ref > 0 else float("nan")
    result = {
        "gpu": args.gpu,
        "load": work,
        "seconds": round(elapsed, 3),
        "joulebench_j": jb,
        "independent_j": ref,
        "independent_reader": direct.name,
        "relative_difference": diff,
        "mean_power_w": ref / elapsed if elapsed > 0 else None,
        "bracket_j": [gap0, gap1],
        "tolerance": args.tolerance,
        "agree": abs(diff) <= args.tolerance,
    }
    print(f"{domain}: joulebench {jb:.1f} J, {direct.name} {ref:.1f} J over {elapsed:.1f} s "
          f"({result['mean_power_w']:.0f} W): difference {diff * 100:+.3f}% ({work})")
    print(json.dumps(result))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "nvml-crosscheck.json"), "w") as f:
            json.dump(result, f, indent=2)
    return 0 if result["agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
