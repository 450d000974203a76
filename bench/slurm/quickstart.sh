#!/bin/bash
# The quickstart suite in three shards on the one-node Slurm of local-cluster.sh:
# `joulebench slurm` writes the array and merge jobs, submit.sh submits them, and this
# script waits for the merge job and prints what ran and the merged summary.md.
#
#   sudo bench/slurm/local-cluster.sh                  # once: the cluster
#   cargo build --release                              # the binary the jobs run
#   sudo bench/slurm/quickstart.sh [RESULTS_DIR]       # default: results/quickstart-slurm-<UTC time>
#
# The shard tasks ask for a whole node each (--exclusive), so on one node they run one
# after another, as they would each on its own node of a real cluster, and no shard's
# server competes with another's for the CPU it measures.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${JB_SLURM_DIR:-/tmp/jb-slurm}
# shellcheck source=/dev/null
source "$DIR/env.sh"
RESULTS=${1:-$ROOT/results/quickstart-slurm-$(date -u +%Y%m%dT%H%M%SZ)}
[ -x "$ROOT/target/release/joulebench" ] || { echo "build it first: cargo build --release" >&2; exit 2; }
# The jobs run a copy, so that a rebuild while they are queued changes nothing.
JB=$DIR/joulebench
install -m 0755 "$ROOT/target/release/joulebench" "$JB"

"$JB" slurm "$ROOT/suites/quickstart.toml" --shards 3 --exclusive --time 30 \
    --joulebench "$JB" --results "$RESULTS"
start=$(date +%s)
submitted=$(bash "$RESULTS/submit.sh")
echo "$submitted"
array=$(echo "$submitted" | sed -n 's/.*array job \([0-9]*\).*/\1/p')
merge=$(echo "$submitted" | sed -n 's/.*merge job \([0-9]*\).*/\1/p')

# Wait (at most 30 minutes) for the merge job to leave the queue.
for _ in $(seq 1 360); do
    state=$(scontrol show job "$merge" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    case "$state" in
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;;
    esac
    squeue -h -o '%.12i %.24j %.2t %.10M %R' | sed 's/^/  queue: /'
    sleep 5
done
end=$(date +%s)

echo
echo "== jobs (scontrol) =="
for job in "${array}_0" "${array}_1" "${array}_2" "$merge"; do
    scontrol show job "$job" | tr ' ' '\n' |
        grep -E '^(JobId|ArrayTaskId|JobName|JobState|ExitCode|RunTime|StartTime|EndTime|NodeList|Dependency)=' |
        paste -sd' '
done
echo
echo "== jobcomp ($DIR/jobcomp.log, last 4) =="
tail -4 "$DIR/jobcomp.log" || true
echo
echo "== wall time from submission to merged report: $((end - start)) s =="
echo
echo "== $RESULTS =="
ls "$RESULTS"
echo
echo "== merge job output =="
cat "$RESULTS"/slurm-merge-*.out
echo
echo "== $RESULTS/merged/summary.md =="
cat "$RESULTS/merged/summary.md"
