#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium (Debian's, installed if missing) and
# writes a screenshot of its first HEIGHT pixels: bench/html_screenshot.sh RUN_DIR [OUT.png] [HEIGHT]
# The page must need nothing beyond itself: Chromium runs with no profile, no background
# traffic and every network host unresolvable; its log is printed for a look at errors.
set -euo pipefail
run=${1:?usage: bench/html_screenshot.sh RUN_DIR [OUT.png] [HEIGHT]}
out=${2:-$run/report.png}
height=${3:-6000}
page=$(realpath "$run/report.html")
if ! command -v chromium >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$profile" \
    --enable-logging=stderr --v=0 --hide-scrollbars \
    --window-size=1400,"$height" --screenshot="$(realpath -m "$out")" "file://$page" 2>&1 |
    grep -E "CONSOLE|net::ERR|Failed to load" || echo "no console message, no failed load"
echo "screenshot: $out"
