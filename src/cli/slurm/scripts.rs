//! The text of the scripts `joulebench slurm` writes: the shard array, the merge job and
//! the script that submits both.

use super::{Dependency, MERGE_SCRIPT, SHARDS_SCRIPT, SlurmArgs};
use std::fmt::Write as _;
use std::path::Path;

/// The text of the three scripts.
pub(super) struct Scripts<'a> {
    /// The command's arguments.
    pub args: &'a SlurmArgs,
    /// The suite's name.
    pub suite_name: &'a str,
    /// The suite file, absolute.
    pub suite_path: &'a Path,
    /// The results folder, absolute.
    pub results: &'a Path,
    /// The joulebench binary the jobs run, absolute.
    pub joulebench: &'a Path,
    /// `#SBATCH --begin` of the array (UTC, from `--forecast`).
    pub begin: Option<&'a str>,
}

impl Scripts<'_> {
    /// `#SBATCH` lines both jobs share.
    fn common(&self, out: &mut String) {
        if let Some(p) = &self.args.partition {
            let _ = writeln!(out, "#SBATCH --partition={p}");
        }
        for option in &self.args.sbatch {
            let _ = writeln!(out, "#SBATCH {option}");
        }
    }

    fn header(&self, out: &mut String, what: &str) {
        let _ = writeln!(out, "#!/bin/bash");
        let _ = writeln!(
            out,
            "# {what}\n# Written by `joulebench slurm` {} for suite {} ({}); see docs/cluster.md.",
            env!("CARGO_PKG_VERSION"),
            self.suite_name,
            self.suite_path.display()
        );
    }

    /// The array job: task I runs shard I of N into RESULTS/shard-I, or resumes it.
    pub(super) fn shards(&self) -> String {
        let a = self.args;
        let n = a.shards;
        let mut s = String::new();
        self.header(
            &mut s,
            &format!("Shards 0..{} of the suite, one array task each.", n - 1),
        );
        let _ = writeln!(s, "#SBATCH --job-name=jb-{}", self.suite_name);
        let throttle = a.max_parallel.map(|k| format!("%{k}")).unwrap_or_default();
        let _ = writeln!(s, "#SBATCH --array=0-{}{throttle}", n - 1);
        let _ = writeln!(s, "#SBATCH --ntasks=1");
        if let Some(c) = a.cpus_per_task {
            let _ = writeln!(s, "#SBATCH --cpus-per-task={c}");
        }
        if let Some(g) = &a.gpus_per_task {
            let _ = writeln!(s, "#SBATCH --gpus-per-task={g}");
        }
        if let Some(t) = &a.time {
            let _ = writeln!(s, "#SBATCH --time={t}");
        }
        if a.exclusive {
            let _ = writeln!(s, "#SBATCH --exclusive");
        }
        if let Some(b) = self.begin {
            // sbatch reads the time in its TZ: submit.sh runs it with TZ=UTC, and the script
            // says so to whoever submits it by hand.
            let _ = writeln!(
                s,
                "# --begin is UTC (the cleanest window of the forecast): submit with TZ=UTC sbatch, as submit.sh does"
            );
            let _ = writeln!(s, "#SBATCH --begin={b}");
        }
        let _ = writeln!(
            s,
            "#SBATCH --output={}/slurm-shard-%A_%a.out",
            self.results.display()
        );
        self.common(&mut s);
        let _ = write!(
            s,
            r#"set -euo pipefail
JOULEBENCH={jb}
SUITE={suite}
RESULTS={results}
SHARD_DIR="$RESULTS/shard-${{SLURM_ARRAY_TASK_ID:?not an array task: submit with sbatch}}"
echo "shard $SLURM_ARRAY_TASK_ID of {n} on $(hostname) in $SHARD_DIR"
if [ -f "$SHARD_DIR/run.json" ]; then
  # A resubmitted task (sbatch --array=I): complete the shard rather than start over.
  if grep -q '"status": "complete"' "$SHARD_DIR/run.json"; then
    echo "shard $SLURM_ARRAY_TASK_ID is already complete"
    exit 0
  fi
  exec "$JOULEBENCH" run --quiet --resume "$SHARD_DIR" "$SUITE"
fi
exec "$JOULEBENCH" run --quiet --shard auto/{n} --out "$SHARD_DIR" "$SUITE"
"#,
            jb = quote(self.joulebench),
            suite = quote(self.suite_path),
            results = quote(self.results),
        );
        s
    }

    /// The merge job: every shard folder with a run.json, merged into RESULTS/merged.
    pub(super) fn merge(&self) -> String {
        let n = self.args.shards;
        let mut s = String::new();
        self.header(
            &mut s,
            "Merges the shard folders and reports them; runs after the array (see submit.sh).",
        );
        let _ = writeln!(s, "#SBATCH --job-name=jb-{}-merge", self.suite_name);
        let _ = writeln!(s, "#SBATCH --ntasks=1");
        let _ = writeln!(
            s,
            "#SBATCH --output={}/slurm-merge-%j.out",
            self.results.display()
        );
        self.common(&mut s);
        let _ = write!(
            s,
            r#"set -uo pipefail
JOULEBENCH={jb}
RESULTS={results}
SHARDS=()
for i in $(seq 0 {last}); do
  if [ -f "$RESULTS/shard-$i/run.json" ]; then
    SHARDS+=("$RESULTS/shard-$i")
  else
    echo "shard $i of {n} left no run.json in $RESULTS/shard-$i" >&2
  fi
done
if [ "${{#SHARDS[@]}}" -eq 0 ]; then
  echo "no shard folder to merge in $RESULTS" >&2
  exit 1
fi
# A fresh folder per merge (the merge never overwrites); merged -> the latest.
OUT="$RESULTS/merged-${{SLURM_JOB_ID:-$(date -u +%Y%m%dT%H%M%SZ)}}"
"$JOULEBENCH" report --merge "${{SHARDS[@]}}" --out "$OUT"
status=$?
if [ -f "$OUT/run.json" ]; then
  ln -sfn "$(basename "$OUT")" "$RESULTS/merged"
  echo "merged report: $RESULTS/merged/summary.md"
fi
exit $status
"#,
            jb = quote(self.joulebench),
            results = quote(self.results),
            last = n - 1,
        );
        s
    }

    /// Submits the array, then the merge with a dependency on it.
    pub(super) fn submit(&self, scripts: &Path) -> String {
        let dependency = match self.args.dependency {
            Dependency::Afterany => "afterany",
            Dependency::Afterok => "afterok",
        };
        let mut s = String::new();
        self.header(
            &mut s,
            "Submits the shard array and the merge job that waits for it.",
        );
        let _ = write!(
            s,
            r#"set -euo pipefail
SCRIPTS={scripts}
RESULTS={results}
mkdir -p "$RESULTS"
ARRAY=$(TZ=UTC sbatch --parsable "$SCRIPTS/{shards}")
ARRAY=${{ARRAY%%;*}}
MERGE=$(sbatch --parsable --dependency={dependency}:"$ARRAY" "$SCRIPTS/{merge}")
MERGE=${{MERGE%%;*}}
echo "submitted array job $ARRAY ({n} shards) and merge job $MERGE ({dependency}:$ARRAY)"
echo "results: $RESULTS (merged report: $RESULTS/merged/summary.md)"
"#,
            scripts = quote(scripts),
            results = quote(self.results),
            shards = SHARDS_SCRIPT,
            merge = MERGE_SCRIPT,
            n = self.args.shards,
        );
        s
    }
}

/// A path as a single-quoted shell word.
fn quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}
