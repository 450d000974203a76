//! `joulebench slurm`: a Slurm job array that runs a suite in shards, and a dependent job
//! that merges the shards and reports them.

use anyhow::Context;
use harness::plan::Plan;
use harness::shard;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod forecast;
mod scripts;

use scripts::Scripts;

/// Arguments of `joulebench slurm`.
#[derive(Debug, clap::Args)]
pub struct SlurmArgs {
    /// Suite file (TOML).
    pub suite: PathBuf,
    /// Number of shards: one array task each (`--array=0-(N-1)`, `run --shard auto/N`).
    #[arg(long, value_name = "N")]
    pub shards: u32,
    /// Slurm partition of every job.
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,
    /// GPUs per shard task (`--gpus-per-task`, e.g. 1 or a100:1).
    #[arg(long, value_name = "G")]
    pub gpus_per_task: Option<String>,
    /// CPUs per shard task (`--cpus-per-task`).
    #[arg(long, value_name = "C")]
    pub cpus_per_task: Option<u32>,
    /// Time limit of each shard task (Slurm format: MM, HH:MM:SS, D-HH:MM...).
    #[arg(long, value_name = "T")]
    pub time: Option<String>,
    /// Give each shard task a whole node (`--exclusive`): no other job's load on its GPUs,
    /// CPUs or power.
    #[arg(long)]
    pub exclusive: bool,
    /// At most this many shard tasks at once (`--array=0-(N-1)%K`).
    #[arg(long, value_name = "K")]
    pub max_parallel: Option<u32>,
    /// Merge when the array has ended however it ended (`afterany`: missing shards are named
    /// in the merged report), or only when every shard succeeded (`afterok`).
    #[arg(long, value_enum, default_value_t = Dependency::Afterany)]
    pub dependency: Dependency,
    /// Extra `#SBATCH` option for both jobs, e.g. --sbatch=--account=lab (repeatable).
    #[arg(long, value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
    /// Results folder on storage every node shares: shards write shard-I/, the merge merged/
    /// (default: results/<suite>-<UTC time>-slurm, made absolute).
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,
    /// Folder the scripts are written to (default: the results folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// joulebench binary the jobs run, as the nodes see it (default: this binary).
    #[arg(long, value_name = "PATH")]
    pub joulebench: Option<PathBuf>,
    /// Hourly intensity forecast (CSV, as `[carbon] series`): the array begins
    /// (`#SBATCH --begin`, UTC) at the start of its cleanest window from now on.
    #[arg(long, value_name = "FILE")]
    pub forecast: Option<PathBuf>,
    /// Zone of the forecast (default: the suite's `[carbon] zone`, or its only zone).
    #[arg(long, value_name = "ZONE", requires = "forecast")]
    pub forecast_zone: Option<String>,
    /// Length of the window sought in the forecast (h; default: the suite's estimated
    /// duration, rounded up).
    #[arg(long, value_name = "H", requires = "forecast")]
    pub window_hours: Option<u32>,
}

/// When the merge job may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Dependency {
    /// After every array task ended, whatever its exit code.
    Afterany,
    /// After every array task succeeded.
    Afterok,
}

/// The array script's file name.
pub const SHARDS_SCRIPT: &str = "shards.sbatch";
/// The merge job's file name.
pub const MERGE_SCRIPT: &str = "merge.sbatch";
/// The script that submits both.
pub const SUBMIT_SCRIPT: &str = "submit.sh";

/// Runs `joulebench slurm`.
pub fn run(args: SlurmArgs) -> anyhow::Result<ExitCode> {
    if args.shards == 0 {
        anyhow::bail!("--shards must be at least 1, e.g. --shards 4");
    }
    if args.shards > shard::MAX_SHARDS {
        anyhow::bail!(
            "--shards {}: at most {} shards (one per configuration is the most that helps); give a smaller N",
            args.shards,
            shard::MAX_SHARDS
        );
    }
    if args.max_parallel == Some(0) {
        anyhow::bail!("--max-parallel must be at least 1");
    }
    if args.cpus_per_task == Some(0) {
        anyhow::bail!("--cpus-per-task must be at least 1");
    }
    check_value("--partition", args.partition.as_deref(), |c| {
        c.is_ascii_alphanumeric() || "_-.,".contains(c)
    })?;
    check_value("--gpus-per-task", args.gpus_per_task.as_deref(), |c| {
        c.is_ascii_alphanumeric() || "_-.:".contains(c)
    })?;
    check_time(args.time.as_deref())?;
    for option in &args.sbatch {
        if !option.starts_with('-') || option.contains(['\n', '\r']) {
            anyhow::bail!(
                "--sbatch {option:?}: give one sbatch option on one line, e.g. --sbatch=--account=lab"
            );
        }
    }
    // The datasets need to be where the nodes run, not on the host that writes the scripts.
    let suite = harness::suite::load_plan_only(&args.suite)?;
    let suite_path = absolute(&args.suite)?;
    let results = match &args.results {
        Some(dir) => absolute(dir)?,
        None => {
            let mut dir = harness::run::default_out_dir(&suite).into_os_string();
            dir.push("-slurm");
            absolute(Path::new(&dir))?
        }
    };
    let joulebench = match &args.joulebench {
        Some(p) => absolute(p)?,
        None => std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .context("cannot locate the joulebench binary; give --joulebench PATH")?,
    };
    for (flag, path) in [
        ("--results", &results),
        ("--joulebench", &joulebench),
        ("SUITE", &suite_path),
    ] {
        let text = path.to_string_lossy();
        if text.contains(|c: char| c.is_whitespace() || "'\"\\$`%".contains(c)) {
            anyhow::bail!(
                "{flag} {}: Slurm's #SBATCH lines cannot hold spaces, quotes, `$`, `%` or backslashes in paths; choose a path without them",
                path.display()
            );
        }
    }
    let begin = match &args.forecast {
        Some(file) => Some(forecast::begin(
            file,
            args.forecast_zone.as_deref(),
            args.window_hours,
            &suite,
            chrono::Utc::now(),
        )?),
        None => None,
    };
    let out = args.out.clone().unwrap_or_else(|| results.clone());
    std::fs::create_dir_all(&results)
        .with_context(|| format!("cannot create the results folder {}", results.display()))?;
    let scripts = Scripts {
        args: &args,
        suite_name: suite.name(),
        suite_path: &suite_path,
        results: &results,
        joulebench: &joulebench,
        begin: begin.as_ref().map(|b| b.sbatch.as_str()),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let files = [
        (SHARDS_SCRIPT, scripts.shards()),
        (MERGE_SCRIPT, scripts.merge()),
        (SUBMIT_SCRIPT, scripts.submit(&absolute(&out)?)),
    ];
    for (name, text) in &files {
        write_executable(&out.join(name), text)?;
    }
    print!("{}", shard_table(&suite.plan, &suite.schedule, args.shards));
    if let Some(b) = &begin {
        println!("{}", b.note);
    }
    for d in &suite.missing_datasets {
        eprintln!(
            "note: dataset {} is not at {} on this host; every node must see it there",
            d.name,
            d.path.display()
        );
    }
    println!(
        "wrote {}, {} and {} in {}\nsubmit with: bash {}",
        SHARDS_SCRIPT,
        MERGE_SCRIPT,
        SUBMIT_SCRIPT,
        out.display(),
        out.join(SUBMIT_SCRIPT).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Each shard's configurations and estimated share of the cost.
fn shard_table(plan: &Plan, schedule: &harness::suite::Schedule, count: u32) -> String {
    let mut out = String::new();
    let (slices, loads) = shard::slices(plan, schedule, count);
    let total: f64 = loads.iter().sum();
    for (index, ids) in slices.iter().enumerate() {
        let share = if total > 0.0 {
            100.0 * loads[index] / total
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "shard {index}/{count}: {} configuration(s), {share:.0}% of the estimated cost{}",
            ids.len(),
            if ids.is_empty() {
                String::new()
            } else {
                format!(": {}", ids.join(", "))
            }
        );
    }
    if count as usize > plan.configurations.len() {
        let _ = writeln!(
            out,
            "note: {count} shards for {} configurations: some shards are empty (they record an empty run)",
            plan.configurations.len()
        );
    }
    out
}

fn check_value(flag: &str, value: Option<&str>, ok: impl Fn(char) -> bool) -> anyhow::Result<()> {
    match value {
        Some(v) if v.is_empty() || !v.chars().all(ok) => anyhow::bail!(
            "{flag} {v:?}: use letters, digits and _ - . , : only (a Slurm name or count)"
        ),
        _ => Ok(()),
    }
}

/// Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, UNLIMITED.
fn check_time(time: Option<&str>) -> anyhow::Result<()> {
    let Some(t) = time else {
        return Ok(());
    };
    let numbers = |s: &str, most: usize| {
        let parts: Vec<&str> = s.split(':').collect();
        parts.len() <= most
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    let ok = t.eq_ignore_ascii_case("unlimited")
        || t.eq_ignore_ascii_case("infinite")
        || match t.split_once('-') {
            Some((days, rest)) => numbers(days, 1) && numbers(rest, 3),
            None => numbers(t, 3),
        };
    if ok {
        Ok(())
    } else {
        anyhow::bail!(
            "--time {t:?}: use a Slurm time limit such as 90 (minutes), 04:00:00 or 2-00:00:00"
        )
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))
}

fn write_executable(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", path.display()))?;
    }
    Ok(())
}
