//! `joulebench probe`: list, read or watch this machine's energy probes.
//!
//! `probe read` prints each domain's *raw* hardware counter in joules (for RAPL over
//! powercap `energy_uj / 1e6`, with its wrap range), because a fresh process has no zero
//! of its own: nothing is persisted between runs. To get the energy between two reads,
//! save the first `probe read --json` and pass it to the second with `--since FILE`:
//! the delta is computed from the two raw counters, one wrap corrected where the range
//! is known, and flagged when more time passed than the shortest possible wrap period.

use anyhow::Context;
use harness::power_limit;
use probes::delta::{counter_delta, cumulative_delta};
use probes::nvml::GpuInventory;
use probes::rapl::powercap::ASSUMED_MAX_ZONE_POWER_W;
use probes::{MonotonicClock, ProbeConfig, ProbeSet};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Arguments of `joulebench probe`.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// What to do with the probes.
    #[command(subcommand)]
    pub action: ProbeAction,
    /// Root of the powercap tree (containers often mount the host's sysfs elsewhere).
    #[arg(long, global = true, default_value = probes::discovery::DEFAULT_POWERCAP_ROOT)]
    pub powercap_root: PathBuf,
    /// Root of sysfs for RAPL over perf_event (`<root>/bus/event_source/devices/power`).
    #[arg(long, global = true, default_value = probes::discovery::DEFAULT_SYSFS_ROOT)]
    pub sysfs_root: PathBuf,
    /// GPUs to read, by NVML index or UUID (repeatable); default CUDA_VISIBLE_DEVICES, else all.
    #[arg(long = "gpu", global = true)]
    pub gpus: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Probe actions.
#[derive(Debug, clap::Subcommand)]
pub enum ProbeAction {
    /// Each source: available or not, why, domains, resolution; GPU power limits left
    /// changed by a run that ended without restoring them, with the commands that do.
    List,
    /// One reading of every domain's raw cumulative counter (J).
    Read {
        /// An earlier `probe read --json` output: print each domain's energy since then.
        #[arg(long, value_name = "FILE")]
        since: Option<PathBuf>,
    },
    /// Live watts per domain.
    Watch {
        /// Seconds between lines.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many lines (default: until interrupted).
        #[arg(long)]
        count: Option<u64>,
    },
}

/// Runs `joulebench probe`.
pub fn run(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    let config = ProbeConfig {
        powercap_root: args.powercap_root.clone(),
        perf_sysfs_root: args.sysfs_root.clone(),
        gpus: args.gpus.clone(),
        ..Default::default()
    };
    let clock = MonotonicClock::new();
    let set = probes::discover(&config, &clock);
    match args.action {
        ProbeAction::List => list(&set, args.json),
        ProbeAction::Read { since } => read(&set, &clock, since.as_deref(), args.json),
        ProbeAction::Watch { interval, count } => watch(&set, &clock, interval, count, args.json),
    }
}

fn list(set: &ProbeSet, as_json: bool) -> anyhow::Result<ExitCode> {
    let journals = power_limit::find_journals();
    if as_json {
        let sources: Vec<Value> = set
            .descriptions
            .iter()
            .enumerate()
            .map(|(i, d)| {
                json!({
                    "name": d.name,
                    "available": true,
                    "domains": d.domains,
                    "resolution_s": d.resolution_s,
                    "max_read_interval_s": set.max_read_interval(i).map(|k| k.as_secs_f64()),
                    "method": d.method,
                })
            })
            .chain(
                set.missing
                    .iter()
                    .map(|m| json!({"name": m.probe, "available": false, "reason": m.reason})),
            )
            .collect();
        let out = json!({
            "sources": sources,
            "gpu_inventory": set.gpu_inventory,
            "power_limit_journals": journals_json(&journals, &set.gpu_inventory),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    for (i, d) in set.descriptions.iter().enumerate() {
        println!("{}: available", d.name);
        println!("  method: {}", d.method);
        println!("  resolution: {} s", d.resolution_s);
        if let Some(k) = set.max_read_interval(i) {
            let k = k.as_secs_f64();
            println!("  read at least every {k:.3} s (the sampler keeps to it)");
        }
        for dom in &d.domains {
            let total = if dom.counts_in_total() {
                ""
            } else {
                ", detail only (not in totals)"
            };
            println!(
                "  {:<16} {:<12} {}{total}",
                dom.name,
                kind_name(dom.kind),
                dom.provenance
            );
        }
    }
    for m in &set.missing {
        println!("{}: unavailable: {}", m.probe, m.reason);
    }
    let inv = &set.gpu_inventory;
    if let Some(driver) = &inv.driver_version {
        println!(
            "NVIDIA driver {driver}, NVML {}",
            inv.nvml_version.as_deref().unwrap_or("unknown")
        );
        for g in &inv.gpus {
            println!("  GPU {} {} {}", g.index, g.name, g.uuid);
            if let Some(note) = g.power_limit_note() {
                println!("    warning: {note}");
            }
        }
    }
    for found in &journals {
        match found {
            Ok(f) => {
                let lines =
                    f.describe(|index, uuid| current_limit_w(&set.gpu_inventory, index, uuid));
                for (i, line) in lines.iter().enumerate() {
                    let warn = if i == 0 && !f.owner_alive {
                        "warning: "
                    } else {
                        ""
                    };
                    println!("{warn}{line}");
                }
            }
            Err(e) => println!("warning: {e}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The enforced limit NVML reports now for a GPU a journal names (by UUID, else index).
fn current_limit_w(inv: &GpuInventory, index: u32, uuid: &str) -> Option<f64> {
    inv.gpus
        .iter()
        .find(|g| {
            if uuid.is_empty() {
                g.index == index
            } else {
                g.uuid == uuid
            }
        })
        .and_then(|g| g.power_limit_w)
}

/// Power-limit journals for `probe list --json`: who changed which GPU, its original limit,
/// its limit now and the command that restores it; unreadable ones with why.
fn journals_json(
    journals: &[Result<power_limit::JournalFinding, power_limit::PowerLimitError>],
    inv: &GpuInventory,
) -> Vec<Value> {
    journals
        .iter()
        .map(|found| match found {
            Ok(f) => {
                let gpus: Vec<Value> = f
                    .journal
                    .gpus
                    .iter()
                    .map(|g| {
                        json!({
                            "index": g.index,
                            "uuid": g.uuid,
                            "original_w": g.original_w,
                            "current_w": current_limit_w(inv, g.index, &g.uuid),
                            "restore_command": g.restore_command(),
                        })
                    })
                    .collect();
                json!({
                    "path": f.path,
                    "left_behind": !f.owner_alive,
                    "pid": f.journal.pid,
                    "program": f.journal.program,
                    "since": f.journal.since,
                    "gpus": gpus,
                })
            }
            Err(e) => json!({"error": e.to_string()}),
        })
        .collect()
}

fn kind_name(kind: probes::DomainKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn unix_time_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One domain of `probe read`, as JSON.
fn read_rows(set: &ProbeSet, clock: &MonotonicClock) -> anyhow::Result<Vec<Value>> {
    let readings = set.read_all(clock).context("reading the probes")?;
    let mut rows = Vec::new();
    for ((source, desc), reading) in set.sources.iter().zip(&set.descriptions).zip(readings) {
        let raw = source.lock().map(|s| s.raw_counters()).unwrap_or_default();
        for (i, dom) in desc.domains.iter().enumerate() {
            let counter = raw.get(i).copied().flatten();
            rows.push(json!({
                "source": desc.name,
                "domain": dom.name,
                "kind": dom.kind,
                "provenance": dom.provenance,
                "counts_in_total": dom.counts_in_total(),
                "counter_j": counter.map(|c| c.joules),
                "wrap_j": counter.and_then(|c| c.wrap_j),
                "wrap_known": counter.map(|c| c.wrap_known),
                "since_open_j": reading.joules.get(i),
            }));
        }
    }
    Ok(rows)
}

/// Energy between an earlier raw counter and this one, by the probes' one wrap rule
/// (at most one wrap corrected), and a note when the figure needs one.
fn delta(prev: &Value, now: &Value, elapsed_s: f64) -> (Value, Option<String>) {
    let (Some(a), Some(b)) = (prev["counter_j"].as_f64(), now["counter_j"].as_f64()) else {
        return (
            Value::Null,
            Some("no hardware counter (estimate or integrated power)".into()),
        );
    };
    let wrap = now["wrap_j"].as_f64();
    let several_wraps = wrap.and_then(|w| {
        let shortest_wrap_s = w / ASSUMED_MAX_ZONE_POWER_W;
        (elapsed_s > shortest_wrap_s).then(|| {
            format!(
                "{elapsed_s:.0} s passed, more than the {shortest_wrap_s:.0} s the counter may take \
                 to wrap: more than one wrap cannot be ruled out"
            )
        })
    });
    match counter_delta(a, b, wrap) {
        Ok(d) => {
            let wrapped = d.wrapped.then(|| "one wrap corrected".to_string());
            (json!(d.energy_j), several_wraps.or(wrapped))
        }
        Err(e) => (Value::Null, Some(e.to_string())),
    }
}

fn read(
    set: &ProbeSet,
    clock: &MonotonicClock,
    since: Option<&std::path::Path>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let unix = unix_time_s();
    let mut rows = read_rows(set, clock)?;
    if let Some(path) = since {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the earlier reading {}", path.display()))?;
        let earlier: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a `probe read --json` output", path.display()))?;
        let elapsed = unix - earlier["unix_time_s"].as_f64().unwrap_or(unix);
        let empty = Vec::new();
        let prev_rows = earlier["domains"].as_array().unwrap_or(&empty);
        for row in &mut rows {
            let prev = prev_rows
                .iter()
                .find(|p| p["source"] == row["source"] && p["domain"] == row["domain"]);
            let (d, note) = match prev {
                Some(p) => delta(p, row, elapsed),
                None => (Value::Null, Some("not in the earlier reading".into())),
            };
            row["delta_j"] = d;
            row["delta_note"] = json!(note);
        }
    }
    let missing: Vec<Value> = set
        .missing
        .iter()
        .map(|m| json!({"probe": m.probe, "reason": m.reason}))
        .collect();
    if as_json {
        let out = json!({"unix_time_s": unix, "domains": rows, "missing": missing});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<14} {:<16} {:<10} {:>18} {:>14}",
        "source", "domain", "label", "counter J", "delta J"
    );
    for r in &rows {
        let num = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.6}"));
        println!(
            "{:<14} {:<16} {:<10} {:>18} {:>14}",
            r["source"].as_str().unwrap_or(""),
            r["domain"].as_str().unwrap_or(""),
            r["provenance"].as_str().unwrap_or(""),
            num(&r["counter_j"]),
            num(&r.get("delta_j").cloned().unwrap_or(Value::Null)),
        );
    }
    for m in &set.missing {
        eprintln!("{}: unavailable: {}", m.probe, m.reason);
    }
    Ok(ExitCode::SUCCESS)
}

fn watch(
    set: &ProbeSet,
    clock: &MonotonicClock,
    interval: f64,
    count: Option<u64>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    if !(interval.is_finite() && interval > 0.0) {
        anyhow::bail!("--interval must be a positive number of seconds, not {interval}");
    }
    let domains = set.domains();
    let labels: Vec<String> = domains
        .iter()
        .map(|(_, d)| match d.provenance {
            probes::Provenance::Measured => d.name.clone(),
            probes::Provenance::Estimated => format!("{}(est)", d.name),
        })
        .collect();
    let flat = |readings: &[probes::Reading]| -> Vec<f64> {
        readings
            .iter()
            .flat_map(|r| r.joules.iter().copied())
            .collect()
    };
    for m in &set.missing {
        eprintln!("{}: unavailable: {}", m.probe, m.reason);
    }
    let mut stdout = std::io::stdout().lock();
    if !as_json {
        let header: Vec<String> = labels.iter().map(|l| format!("{l:>16}")).collect();
        writeln!(stdout, "{:>8} {}", "t s", header.join(" "))?;
    }
    let mut prev_t = clock.now_ns();
    let mut prev = flat(&set.read_all(clock)?);
    let mut lines = 0u64;
    while count.is_none_or(|n| lines < n) {
        std::thread::sleep(Duration::from_secs_f64(interval));
        let readings = set.read_all(clock)?;
        let t = readings
            .iter()
            .map(|r| r.t_ns)
            .max()
            .unwrap_or_else(|| clock.now_ns());
        let now = flat(&readings);
        let dt = t.saturating_sub(prev_t) as f64 / 1e9;
        let watts: Vec<Option<f64>> = now
            .iter()
            .zip(&prev)
            .zip(&labels)
            .map(|((&b, &a), label)| watts_between(a, b, dt, label))
            .collect();
        if as_json {
            let by_domain: serde_json::Map<String, Value> = domains
                .iter()
                .zip(&watts)
                .map(|((_, d), w)| (d.name.clone(), json!(w)))
                .collect();
            let line = json!({"t_s": t as f64 / 1e9, "interval_s": dt, "watts": by_domain});
            writeln!(stdout, "{line}")?;
        } else {
            let cols: Vec<String> = watts
                .iter()
                .map(|w| w.map_or(format!("{:>16}", "-"), |w| format!("{w:>16.2}")))
                .collect();
            writeln!(stdout, "{:>8.1} {}", t as f64 / 1e9, cols.join(" "))?;
        }
        stdout.flush()?;
        prev = now;
        prev_t = t;
        lines += 1;
    }
    Ok(ExitCode::SUCCESS)
}

/// Mean power between two cumulative reads `dt` seconds apart; `None` when no time
/// passed, or (with a warning) when the energy in between cannot be known.
fn watts_between(a: f64, b: f64, dt: f64, label: &str) -> Option<f64> {
    if dt <= 0.0 {
        return None;
    }
    match cumulative_delta(a, b) {
        Ok(joules) => Some(joules / dt),
        Err(e) => {
            tracing::warn!("{label}: no power over the last {dt:.3} s: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_corrects_one_wrap_and_says_when_more_are_possible() {
        let prev = json!({"counter_j": 10.0});
        let up = json!({"counter_j": 15.0, "wrap_j": 100.0});
        assert_eq!(delta(&prev, &up, 0.01), (json!(5.0), None));
        let wrapped = json!({"counter_j": 4.0, "wrap_j": 100.0});
        let (d, note) = delta(&prev, &wrapped, 0.01);
        assert_eq!(d, json!(94.0));
        assert!(note.is_some_and(|n| n.contains("one wrap")));
        // 100 J at 1000 W wraps in 0.1 s: after 1 s several wraps are possible.
        let (_, note) = delta(&prev, &up, 1.0e3);
        assert!(note.is_some_and(|n| n.contains("more than one wrap")));
    }

    #[test]
    fn delta_refuses_what_it_cannot_know() {
        let prev = json!({"counter_j": 10.0});
        let back = json!({"counter_j": 4.0, "wrap_j": null});
        assert_eq!(delta(&prev, &back, 1.0).0, Value::Null);
        let estimate = json!({"counter_j": null});
        assert_eq!(delta(&prev, &estimate, 1.0).0, Value::Null);
    }

    #[test]
    fn watch_power_is_unknown_for_a_backwards_read_never_zero() {
        assert_eq!(watts_between(10.0, 15.0, 2.0, "x"), Some(2.5));
        assert_eq!(watts_between(10.0, 4.0, 2.0, "x"), None);
        assert_eq!(watts_between(10.0, 15.0, 0.0, "x"), None);
    }

    #[test]
    fn delta_follows_the_probes_wrap_rule() {
        // Jitter within the rule's tolerance is no decrease: zero, not a wrap.
        let prev = json!({"counter_j": 10.0});
        let jitter = json!({"counter_j": 10.0 - 1e-7, "wrap_j": 100.0});
        assert_eq!(delta(&prev, &jitter, 0.01), (json!(0.0), None));
        // A backwards counter without a range says why it has no delta.
        let back = json!({"counter_j": 4.0, "wrap_j": null});
        let (d, note) = delta(&prev, &back, 1.0);
        assert_eq!(d, Value::Null);
        let expected = probes::delta::counter_delta(10.0, 4.0, None).expect_err("backwards");
        assert_eq!(note, Some(expected.to_string()));
        // A read beyond the wrap range cannot be one counter: no delta, never a guess.
        let beyond = json!({"counter_j": 150.0, "wrap_j": 100.0});
        let (d, note) = delta(&prev, &beyond, 0.01);
        assert_eq!(d, Value::Null);
        assert!(note.is_some_and(|n| n.contains("do not fit")));
    }
}
