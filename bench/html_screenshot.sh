#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium (Debian's, installed if missing) and
# writes a screenshot of its first HEIGHT pixels: bench/html_screenshot.sh RUN_DIR [OUT.png] [HEIGHT]
# The page must need nothing beyond itself: Chromium runs with no profile, no background
# traffic and every network host unresolvable. Exit 1 when Chromium fails, the screenshot
# is missing, or the page logged a console message or a failed load (printed).
set -uo pipefail
run=${1:?usage: bench/html_screenshot.sh RUN_DIR [OUT.png] [HEIGHT]}
out=$(realpath -m "${2:-$run/report.png}")
height=${3:-6000}
page=$(realpath "$run/report.html") || exit 1
if ! command -v chromium >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || exit 1
fi
profile=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$profile" "$log"' EXIT
rm -f "$out"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$profile" \
    --enable-logging=stderr --v=0 --hide-scrollbars \
    --window-size=1400,"$height" --screenshot="$out" "file://$page" >"$log" 2>&1
status=$?
if [ "$status" -ne 0 ]; then
    cat "$log"
    echo "chromium failed (exit $status)"
    exit 1
fi
if [ ! -s "$out" ]; then
    echo "no screenshot was written"
    exit 1
fi
if grep -E "CONSOLE|net::ERR|Failed to load" "$log"; then
    echo "the page logged the messages above"
    exit 1
fi
echo "no console message, no failed load; screenshot: $out"
