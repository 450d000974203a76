#!/usr/bin/env bash
# Checks `local-cluster.sh stop` against a fake daemon that, as slurmd does, removes its
# pid file when it gets SIGTERM: the message must name the pid. No Slurm or root needed.
#   bench/slurm/test-stop.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir/slurmd.pid" <<'PY' &
import os, signal, sys
path = sys.argv[1]
def term(*_):
    os.remove(path)
    os._exit(0)
signal.signal(signal.SIGTERM, term)
with open(path + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(path + ".tmp", path)
while True:
    signal.pause()
PY
pid=$!
for _ in $(seq 100); do [ -s "$dir/slurmd.pid" ] && break; sleep 0.05; done
out=$(JB_SLURM_DIR=$dir bash "$here/local-cluster.sh" stop 2>&1)
wait "$pid" || true
if [ "$out" = "stopped slurmd (pid $pid)" ]; then
    echo "ok: $out"
else
    echo "FAIL: expected 'stopped slurmd (pid $pid)', got: $out" >&2
    exit 1
fi
