//! The dry run's repetitions-needed table: for a suite run before, what its latest
//! complete run's spread says the planned repetitions give.

use records::manifest::{RunManifest, RunStatus};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The latest complete run of suite `name` among the folders in `root`, by the start
/// time its `run.json` records (folders of other suites are passed over, whatever their
/// names).
pub(super) fn latest_run(root: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let m = RunManifest::load(&e.path()).ok()?;
            let started = chrono::DateTime::parse_from_rfc3339(&m.started_utc).ok()?;
            (m.suite.name == name && m.status == RunStatus::Complete).then(|| (started, e.path()))
        })
        .max()
        .map(|(_, path)| path)
}

/// The table for a dry run of a suite planning `planned` repetitions, from `dir`.
pub(super) fn describe(dir: &Path, planned: u32) -> String {
    let needed = match report::fidelity::repetitions_needed(dir) {
        Ok(n) => n,
        Err(e) => {
            return format!(
                "\nrepetitions needed: the earlier run {} could not be read ({e})\n",
                dir.display()
            );
        }
    };
    let mut out = format!(
        "\nrepetitions needed, from the spread of the earlier run {} (95% CI half-width as a share of the mean; this plan has {planned}):\n",
        dir.display()
    );
    if needed.is_empty() {
        out.push_str("  no configuration there has two valid repetitions: no spread to judge by\n");
        return out;
    }
    for (config, n) in needed {
        let cells: Vec<String> = n
            .ci_half_width
            .iter()
            .map(|c| {
                let reps = c.count();
                let enough = c.repetitions.is_some_and(|r| r <= u64::from(planned));
                format!(
                    "±{:.0}%: {reps}{}",
                    c.share * 100.0,
                    if enough { " (met)" } else { "" }
                )
            })
            .collect();
        let detect: Vec<String> = n
            .detect_difference
            .iter()
            .map(|c| format!("{:.0}%: {}", c.share * 100.0, c.count()))
            .collect();
        let _ = writeln!(
            out,
            "  {config}: CV {:.1}% over {} repetitions; CI {}; compare detects {} (repetitions per run)",
            n.cv * 100.0,
            n.observed,
            cells.join(", "),
            detect.join(", ")
        );
    }
    out
}
