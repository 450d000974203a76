#!/bin/sh
# The whole `joulebench run` loop against `wrk -t1 -c1`, per request, on the same server:
# nginx answering POST /v1/completions at once on loopback (no model: what is left is the
# client's own cost). The run has probes on at 100 Hz and writes every record. Each round
# times wrk, then the run (REPETITIONS windows of REQUESTS each), then wrk again; the
# ratio is the run's time per request in its windows over the mean of the two wrk figures.
#
# Usage: bench/run_loop.sh [REQUESTS] [REPETITIONS] [ROUNDS]   (defaults 20000 3 3)
# Needs nginx and wrk (Debian packages nginx-light and wrk): installed when missing and
# the script runs as root with apt-get; otherwise it says so and stops.
set -eu
cd "$(dirname "$0")/.."
REQUESTS="${1:-20000}"
REPETITIONS="${2:-3}"
ROUNDS="${3:-3}"

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light wrk >/dev/null
    else
        echo "skipped: needs nginx and wrk (apt-get install nginx-light wrk, as root)"
        exit 0
    fi
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

# JOULEBENCH_BIN times another build (an older commit's, say) with the same script.
if [ -z "${JOULEBENCH_BIN:-}" ]; then
    cargo build --release -q
fi
BIN="${JOULEBENCH_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/joulebench}"
WORK="$(mktemp -d)"
trap 'kill "$(cat "$WORK/nginx.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$WORK"' EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ANSWER='{"id":"cmpl-1","object":"text_completion","created":0,"model":"m","choices":[{"text":" positive","index":0,"finish_reason":"length"}],"usage":{"prompt_tokens":17,"completion_tokens":4,"total_tokens":21}}'
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx;
    proxy_temp_path $WORK/nginx;
    fastcgi_temp_path $WORK/nginx;
    uwsgi_temp_path $WORK/nginx;
    scgi_temp_path $WORK/nginx;
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:$PORT;
        default_type application/json;
        location = /v1/models { return 200 '{"object":"list","data":[{"id":"m","object":"model"}]}'; }
        location = /v1/completions { return 200 '$ANSWER'; }
    }
}
CONF
"$NGINX" -c "$WORK/nginx.conf" -p "$WORK" -e "$WORK/nginx/error.log"

cp suites/data/sentiment-sample.jsonl "$WORK/"
cat > "$WORK/suite.toml" <<SUITE
[suite]
name = "run-loop"
description = "the run loop against a server that answers at once"

[servers.nginx]
protocol = "openai-completions"
url = "http://127.0.0.1:$PORT"

[[models]]
name = "m"
task = "text-classification"
class = "general-purpose"
server = "nginx"

[[datasets]]
name = "sentiment-sample"
task = "text-classification"
path = "sentiment-sample.jsonl"
fields = { text = "sentence" }

[tasks.text-classification]
prompt = "what is the binary sentiment of the following sentence? {text}"
max_tokens = 4

[schedule]
inferences = $REQUESTS
repetitions = $REPETITIONS
warmup = 1000
idle_seconds = 0
cooldown_seconds = 0

[probes]
sample_hz = 100
SUITE

# The body the run sends for the first row, for wrk.
BODY='{"model":"m","prompt":"what is the binary sentiment of the following sentence? a warm, funny and quietly moving film about growing older.","stream":false,"max_tokens":4,"temperature":0.0}'
printf 'wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\nwrk.body = [[%s]]\n' "$BODY" > "$WORK/post.lua"

# wrk's time per request (µs), from its requests/s over 5 s.
wrk_us() {
    wrk -t1 -c1 -d5s -s "$WORK/post.lua" "http://127.0.0.1:$PORT/v1/completions" |
        awk '/^Requests\/sec:/ { printf "%.2f\n", 1e6 / $2 }'
}

echo "$REQUESTS requests x $REPETITIONS repetitions per run, nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), probes at 100 Hz"
printf '%-6s %12s %14s %12s %8s\n' round "wrk µs/req" "run µs/req" "run p50 µs" "run/wrk"
for round in $(seq 1 "$ROUNDS"); do
    before="$(wrk_us)"
    out="$WORK/run-$round"
    ${RUN_PREFIX:-} "$BIN" run "$WORK/suite.toml" --out "$out" --quiet >"$WORK/run.log" 2>&1 || {
        cat "$WORK/run.log"
        exit 1
    }
    after="$(wrk_us)"
    # Per request inside the windows: each window's length over its requests, averaged;
    # and the median latency the client itself recorded.
    python3 - "$out" "$before" "$after" "$round" <<'PY'
import csv, statistics, sys
out, before, after, rnd = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
windows = {}
for r in csv.DictReader(open(f"{out}/repetitions.csv")):
    windows[r["repetition"]] = (float(r["duration_s"]), int(r["requests"]))
per = statistics.mean(d / n * 1e6 for d, n in windows.values())
lat = [float(r["latency_ms"]) * 1e3 for r in csv.DictReader(open(f"{out}/requests.csv")) if r["phase"] == "measured"]
wrk = (before + after) / 2
print(f"{rnd:<6} {wrk:>12.2f} {per:>14.2f} {statistics.median(lat):>12.2f} {per / wrk:>8.3f}")
PY
    rm -rf "$out"
done
