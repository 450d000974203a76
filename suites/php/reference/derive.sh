#!/usr/bin/env bash
# Regenerates php2023.csv (beside this script) from the released logs of
# "Power Hungry Processing" (2023) with `joulebench import codecarbon` and
# `joulebench report`; see README.md here for what the figures are.
#
#   suites/php/reference/derive.sh [PHP_DIR] [OUT_CSV]
#
# PHP_DIR   the released logs (default ../shared/reference/php-2023, from the repository root)
# OUT_CSV   the table to write (default suites/php/reference/php2023.csv)
# JOULEBENCH  the command to run joulebench with (default: cargo run --quiet --)
#
# Needs bash, awk and python3 (standard library only). report/tests/php2023.rs derives
# the same table through the library from the extract in report/tests/data/php-2023
# (bench/extract_php2023.py) and checks that the committed file matches it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"
php="${1:-../shared/reference/php-2023}"
out="${2:-suites/php/reference/php2023.csv}"
joulebench="${JOULEBENCH:-cargo run --quiet --}"

if [[ ! -d "$php/data/emissions/complete" || ! -f "$php/data/model_parameters.csv" ]]; then
    echo "error: $php does not hold the study's logs (data/emissions/complete, data/model_parameters.csv); give their folder as the first argument" >&2
    exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
map="$work/map.csv"
list="$work/files.txt"

# run_id -> task, dataset, class, from the file names of data/emissions/complete; the
# three tasks the PHP suites cover, task-specific and general-purpose (zero-shot).
echo "run_id,project_name,task,dataset,class,parameters" >"$map"
: >"$list"
for file in "$php"/data/emissions/complete/*.csv; do
    stem="$(basename "$file" .csv)"
    case "$stem" in
        text_classif_*) task=text-classification class=task-specific rest="${stem#text_classif_}" ;;
        qa_*) task=extractive-qa class=task-specific rest="${stem#qa_}" ;;
        summarize_*) task=summarization class=task-specific rest="${stem#summarize_}" ;;
        zeroshot_sentiment_*) task=text-classification class=general-purpose rest="${stem#zeroshot_sentiment_}" ;;
        zeroshot_qa_*) task=extractive-qa class=general-purpose rest="${stem#zeroshot_qa_}" ;;
        zeroshot_summarize_*) task=summarization class=general-purpose rest="${stem#zeroshot_summarize_}" ;;
        *) continue ;;
    esac
    rest="${rest%_bloomz}"
    rest="${rest%_15}"
    case "$rest" in
        imdb | sst2 | squad | sciq | samsum | xsum) dataset="$rest" ;;
        tomatoes) dataset=rotten_tomatoes ;;
        squadv2 | squad2) dataset=squad_v2 ;;
        cnn) dataset=cnn_dailymail ;;
        *)
            echo "error: $file: unknown dataset \"$rest\"; add it to $0" >&2
            exit 2
            ;;
    esac
    awk -F, -v task="$task" -v dataset="$dataset" -v class="$class" \
        -v base="$php/data/emissions/base" -v map="$map" -v list="$list" -v file="$file" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == "run_id") col = i
                  if (!col) { print "error: " file ": no run_id column" > "/dev/stderr"; exit 2 }
                  next }
        $col !~ /^[0-9a-f-]+$/ { print "error: " file ":" NR ": run_id \"" $col "\" is not a run id" > "/dev/stderr"; exit 2 }
        { printf "%s,,%s,%s,%s,\n", $col, task, dataset, class >> map
          printf "%s/emissions_base_%s.csv\n", base, $col >> list }
    ' "$file"
done
# Parameters per study model (by project_name).
awk -F, 'NR > 1 && $1 != "" { printf ",%s,,,,%s\n", $1, $2 }' "$php/data/model_parameters.csv" >>"$map"

mapfile -t files <"$list"
echo "importing ${#files[@]} runs of $php" >&2
$joulebench --version >&2
$joulebench import codecarbon --task-name "query model" --map "$map" --out "$work/php" "${files[@]}" >&2
$joulebench report "$work/php" --no-plots >&2

# summary.csv -> the table: one row per study model, task and dataset, in kWh per 1,000.
python3 - "$work/php/summary.csv" "$out" <<'PY'
import csv, math, sys

J_PER_KWH = 3.6e6
summary, out = sys.argv[1], sys.argv[2]

def number(text):
    value = float(text)
    return "NaN" if math.isnan(value) else repr(value)

with open(summary, newline="") as f:
    rows = list(csv.DictReader(f))
rows.sort(key=lambda r: (r["task"], r["model"], r["dataset"]))
columns = ["model", "task", "dataset", "class", "parameters", "runs", "kwh_per_1000_mean",
           "kwh_per_1000_std", "kwh_per_1000_ci95_low", "kwh_per_1000_ci95_high", "source"]
with open(out, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([r["model"], r["task"], r["dataset"], r["class"], r["parameters"],
                    r["repetitions"], number(r["kwh_per_1000"]),
                    number(float(r["energy_j_std"]) * 1000.0 / J_PER_KWH),
                    number(r["kwh_per_1000_ci95_low"]), number(r["kwh_per_1000_ci95_high"]),
                    r["source"]])
print(f"{len(rows)} rows written to {out}", file=sys.stderr)
PY
