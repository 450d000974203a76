//! Reading what an interrupted run left behind, so `--resume` redoes nothing finished.
//!
//! Raw CSVs get a trailing partial line cut (defensive: rows are written whole);
//! `requests.csv` and `answers.jsonl` lose the measured rows of repetitions that have no
//! `repetitions.csv` row (interrupted inside their energy window), so the repetition is
//! taken again whole.
//! A missing, 0-byte (older versions, stopped before the first row) or header-only file
//! holds no rows: every folder a run created can be resumed.

use crate::server::{LaunchRecord, STOP_GRACE, signal_group};
use crate::writer::WriteError;
use records::files;
use records::manifest::DatasetInfo;
use records::raw::{BaselineRecord, RepetitionRecord};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What an interrupted run already did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prior {
    /// Repetitions with a `repetitions.csv` row: (configuration id, repetition).
    pub finished: BTreeSet<(String, u32)>,
    /// Configurations whose idle baseline was taken.
    pub baselines: BTreeSet<String>,
    /// Warm-up requests recorded per configuration id.
    pub warmups: BTreeMap<String, u32>,
    /// Measured requests kept.
    pub measured: u64,
    /// Of those, failures.
    pub failures: u64,
    /// Last cumulative energy per (source, domain) in `samples.csv` (J).
    pub energy_j: BTreeMap<(String, String), f64>,
    /// Latest time in any raw file (ns).
    pub last_t_ns: u64,
    /// Files whose trailing partial line was cut.
    pub repaired: Vec<PathBuf>,
    /// Measured rows dropped from `requests.csv` (unfinished repetitions).
    pub dropped_requests: u64,
    /// Configurations whose server answered at least one request (any row, kept or not).
    pub answered: BTreeSet<String>,
}

/// Raw files appended during a run.
const RAW: [&str; 8] = [
    files::REQUESTS_CSV,
    files::ANSWERS_JSONL,
    files::WINDOW_STATE_CSV,
    files::ATTRIBUTION_CSV,
    files::SAMPLES_CSV,
    files::CONTEXT_CSV,
    files::BASELINES_CSV,
    files::REPETITIONS_CSV,
];

/// Repairs the raw files of `dir` and reads what they say was done.
pub fn recover(dir: &Path) -> Result<Prior, WriteError> {
    let mut prior = Prior::default();
    for name in RAW {
        let path = dir.join(name);
        if repair_tail(&path)? {
            tracing::warn!("{}: cut a partial last line", path.display());
            prior.repaired.push(path);
        }
    }
    for r in read::<RepetitionRecord>(&dir.join(files::REPETITIONS_CSV))? {
        prior.last_t_ns = prior.last_t_ns.max(r.t_end_ns);
        prior.finished.insert((r.config, r.repetition));
    }
    for b in read::<BaselineRecord>(&dir.join(files::BASELINES_CSV))? {
        prior.last_t_ns = prior.last_t_ns.max(b.t_end_ns);
        prior.baselines.insert(b.config);
    }
    filter_requests(&dir.join(files::REQUESTS_CSV), &mut prior)?;
    filter_answers(&dir.join(files::ANSWERS_JSONL), &prior)?;
    read_samples(&dir.join(files::SAMPLES_CSV), &mut prior)?;
    Ok(prior)
}

fn error(path: &Path, reason: impl std::fmt::Display) -> WriteError {
    WriteError {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Compares the datasets a run read when it started (`recorded`, from `run.json`) with
/// those read now: `Err` names the first changed or missing file, both hashes and the fix;
/// `Ok(Some(warning))` for a `run.json` written before datasets were hashed.
pub fn check_datasets(
    recorded: Option<&[DatasetInfo]>,
    now: &[DatasetInfo],
) -> Result<Option<String>, String> {
    let Some(recorded) = recorded else {
        return Ok(Some(
            "run.json records no dataset hashes (the run was started by an older joulebench): the datasets cannot be checked for changes since it started".into(),
        ));
    };
    for old in recorded {
        let fix = "restore the file the run was started with, or start a new run (the repetitions already taken used the old file)";
        match now.iter().find(|d| d.name == old.name) {
            Some(new) if new.sha256 == old.sha256 => {}
            Some(new) => {
                return Err(format!(
                    "dataset `{}` ({}) changed since the run started: its SHA-256 was {} and is {} now; {fix}",
                    old.name, new.path, old.sha256, new.sha256
                ));
            }
            None => {
                return Err(format!(
                    "dataset `{}` ({}, SHA-256 {}) that the run read is not read now; {fix}",
                    old.name, old.path, old.sha256
                ));
            }
        }
    }
    Ok(None)
}

/// Cuts bytes after the last newline; true if there were any.
pub fn repair_tail(path: &Path) -> Result<bool, WriteError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(error(path, e)),
    };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(false);
    }
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| error(path, e))?;
    file.set_len(keep as u64).map_err(|e| error(path, e))?;
    Ok(true)
}

/// Whether `path` holds anything to read: false when it does not exist or is 0 bytes
/// (a run stopped before its first row, by a joulebench that wrote headers with it).
fn has_content(path: &Path) -> Result<bool, WriteError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len() > 0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(error(path, e)),
    }
}

/// Every row of a CSV file (none when it is missing or empty); errors name the line.
fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, WriteError> {
    if !has_content(path)? {
        return Ok(Vec::new());
    }
    let mut reader = csv::Reader::from_path(path).map_err(|e| error(path, e))?;
    reader
        .deserialize()
        .map(|r| {
            r.map_err(|e| {
                error(
                    path,
                    format!("{e}; fix or delete the row, then resume again"),
                )
            })
        })
        .collect()
}

/// Drops measured rows of unfinished repetitions; counts what is kept.
fn filter_requests(path: &Path, prior: &mut Prior) -> Result<(), WriteError> {
    if !has_content(path)? {
        return Ok(());
    }
    let mut reader = csv::Reader::from_path(path).map_err(|e| error(path, e))?;
    let headers = reader.headers().map_err(|e| error(path, e))?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            error(
                path,
                format!("no `{name}` column; is this a joulebench requests.csv?"),
            )
        })
    };
    let (config, phase, repetition, status, t_end) = (
        col("config")?,
        col("phase")?,
        col("repetition")?,
        col("status")?,
        col("t_end_ns")?,
    );
    let mut kept = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| error(path, e))?;
        let field = |i: usize| record.get(i).unwrap_or("");
        if ["ok", "http_error", "bad_response"].contains(&field(status)) {
            prior.answered.insert(field(config).to_string());
        }
        let warmup = field(phase) == "warmup";
        let rep: u32 = field(repetition).parse().unwrap_or(0);
        if !warmup && !prior.finished.contains(&(field(config).to_string(), rep)) {
            prior.dropped_requests += 1;
            continue;
        }
        if warmup {
            *prior.warmups.entry(field(config).to_string()).or_default() += 1;
        } else {
            prior.measured += 1;
            prior.failures += u64::from(field(status) != "ok");
        }
        prior.last_t_ns = prior.last_t_ns.max(field(t_end).parse().unwrap_or(0));
        kept.push(record);
    }
    if prior.dropped_requests == 0 {
        return Ok(());
    }
    // Rewrite beside the file, then rename over it: a crash here leaves one or the other.
    let tmp = path.with_extension("csv.tmp");
    let mut writer = csv::Writer::from_path(&tmp).map_err(|e| error(&tmp, e))?;
    writer.write_record(&headers).map_err(|e| error(&tmp, e))?;
    for r in &kept {
        writer.write_record(r).map_err(|e| error(&tmp, e))?;
    }
    let file = writer.into_inner().map_err(|e| error(&tmp, e.error()))?;
    file.sync_all().map_err(|e| error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| error(path, e))?;
    tracing::warn!(
        "{}: dropped {} measured rows of repetitions interrupted inside their window",
        path.display(),
        prior.dropped_requests
    );
    Ok(())
}

/// Drops the answers of unfinished repetitions from `answers.jsonl`.
fn filter_answers(path: &Path, prior: &Prior) -> Result<(), WriteError> {
    /// The part of an answer record that says which repetition it belongs to.
    #[derive(serde::Deserialize)]
    struct Key {
        config: String,
        repetition: u32,
    }
    if !has_content(path)? {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|e| error(path, e))?;
    let mut kept = String::with_capacity(text.len());
    let mut dropped = 0u64;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let key: Key = serde_json::from_str(line).map_err(|e| {
            error(
                path,
                format!(
                    "line {}: not an answer record ({e}); is this a joulebench answers.jsonl?",
                    i + 1
                ),
            )
        })?;
        if prior.finished.contains(&(key.config, key.repetition)) {
            kept.push_str(line);
            kept.push('\n');
        } else {
            dropped += 1;
        }
    }
    if dropped == 0 {
        return Ok(());
    }
    // Rewrite beside the file, then rename over it: a crash here leaves one or the other.
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, kept)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .map_err(|e| error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| error(path, e))?;
    tracing::warn!(
        "{}: dropped {dropped} answers of repetitions interrupted inside their window",
        path.display()
    );
    Ok(())
}

/// The last cumulative energy and time per domain in `samples.csv`.
fn read_samples(path: &Path, prior: &mut Prior) -> Result<(), WriteError> {
    if !has_content(path)? {
        return Ok(());
    }
    let mut reader = csv::Reader::from_path(path).map_err(|e| error(path, e))?;
    for s in reader.deserialize::<records::raw::SampleRecord>() {
        let s = s.map_err(|e| error(path, e))?;
        prior.last_t_ns = prior.last_t_ns.max(s.t_ns);
        prior.energy_j.insert((s.source, s.domain), s.energy_j);
    }
    Ok(())
}

/// Stops what the launched servers of an interrupted run left running (their
/// `servers/NAME.pid` records name them: pid and start time), so the servers started now
/// find the memory and ports free; a pid now used by another process is left alone.
pub async fn stop_left_servers(log_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(log_dir) else {
        return;
    };
    let records: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == files::SERVER_PID_EXT))
        .collect();
    for path in records {
        if let Some(record) = LaunchRecord::read(&path) {
            let group = record.live_group();
            if !group.is_empty() {
                let name = path.file_stem().unwrap_or_default().to_string_lossy();
                tracing::warn!(
                    "server `{name}` (pid {}, {} process(es) in its group) was left running by the interrupted run; stopping it (SIGTERM, then SIGKILL after {} s) before starting anew",
                    record.pid,
                    group.len(),
                    STOP_GRACE.as_secs()
                );
                stop_group(&record).await;
            }
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// SIGTERM to the recorded server's group, SIGKILL after [`STOP_GRACE`]; waits (bounded)
/// until no process of the group is left.
async fn stop_group(record: &LaunchRecord) {
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        signal_group(record.pid, signal);
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        while !record.live_group().is_empty() {
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if record.live_group().is_empty() {
            return;
        }
    }
    tracing::warn!(
        "processes {:?} of the left server's group survived SIGKILL",
        record.live_group()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ_HEADER: &str = "config,model,dataset,phase,repetition,index,row,t_start_ns,t_end_ns,latency_ms,ttft_ms,status,http_status,prompt_tokens,completion_tokens,output_pinned,output_chars,error\n";

    fn req(config: &str, phase: &str, rep: u32, index: u32, status: &str) -> String {
        format!(
            "{config},m,d,{phase},{rep},{index},1,{},{},1.0,,{status},200,,,false,3,\n",
            index * 10,
            index * 10 + 5
        )
    }

    #[test]
    fn unfinished_repetitions_are_dropped_and_torn_rows_cut() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let mut requests = REQ_HEADER.to_string();
        requests += &req("a@d", "warmup", 0, 0, "ok");
        requests += &req("a@d", "measured", 1, 0, "ok");
        requests += &req("a@d", "measured", 1, 1, "timeout");
        requests += &req("a@d", "measured", 2, 0, "ok");
        requests += "a@d,m,d,measured,2,1,1,2";
        std::fs::write(d.join(files::REQUESTS_CSV), requests).expect("write");
        let rep = RepetitionRecord {
            config: "a@d".into(),
            repetition: 1,
            t_end_ns: 99,
            requests: 2,
            failures: 1,
            ..RepetitionRecord::default()
        };
        let mut w = csv::Writer::from_path(d.join(files::REPETITIONS_CSV)).expect("open");
        w.serialize(&rep).expect("row");
        w.flush().expect("flush");
        drop(w);
        let prior = recover(d).expect("recovers");
        assert_eq!(prior.repaired, vec![d.join(files::REQUESTS_CSV)]);
        assert!(prior.finished.contains(&("a@d".to_string(), 1)));
        assert_eq!(
            (prior.measured, prior.failures, prior.dropped_requests),
            (2, 1, 1)
        );
        assert_eq!(prior.warmups.get("a@d"), Some(&1));
        assert_eq!(prior.last_t_ns, 99);
        let text = std::fs::read_to_string(d.join(files::REQUESTS_CSV)).expect("read");
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.ends_with('\n'));
        assert!(!text.contains("measured,2,"), "{text}");
    }

    #[test]
    fn answers_of_unfinished_repetitions_are_dropped_and_a_torn_line_cut() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let answer = |rep: u32, index: u32| {
            format!(
                "{{\"config\":\"a@d\",\"repetition\":{rep},\"index\":{index},\"row\":1,\"answer\":\"x\\ny\",\"expected\":[\"1\"]}}\n"
            )
        };
        let text = answer(1, 0) + &answer(1, 1) + &answer(2, 0) + "{\"config\":\"a@d\",\"rep";
        std::fs::write(d.join(files::ANSWERS_JSONL), text).expect("write");
        let mut w = csv::Writer::from_path(d.join(files::REPETITIONS_CSV)).expect("open");
        w.serialize(RepetitionRecord {
            config: "a@d".into(),
            repetition: 1,
            requests: 2,
            ..RepetitionRecord::default()
        })
        .expect("row");
        w.flush().expect("flush");
        drop(w);
        let prior = recover(d).expect("recovers");
        assert_eq!(prior.repaired, vec![d.join(files::ANSWERS_JSONL)]);
        let kept = std::fs::read_to_string(d.join(files::ANSWERS_JSONL)).expect("read");
        assert_eq!(
            kept,
            answer(1, 0) + &answer(1, 1),
            "repetition 2 was not finished"
        );
    }

    fn info(name: &str, sha256: &str) -> DatasetInfo {
        DatasetInfo {
            name: name.into(),
            path: format!("/data/{name}.jsonl"),
            sha256: sha256.into(),
            expected: None,
            scorer: None,
        }
    }

    #[test]
    fn a_changed_dataset_is_refused_and_an_old_manifest_warns() {
        let recorded = [info("a", "aaaa"), info("b", "bbbb")];
        assert_eq!(check_datasets(Some(&recorded), &recorded), Ok(None));
        let e = check_datasets(Some(&recorded), &[info("a", "aaaa"), info("b", "cccc")])
            .expect_err("b changed");
        assert!(
            e.contains("dataset `b` (/data/b.jsonl) changed")
                && e.contains("was bbbb and is cccc")
                && e.contains("start a new run"),
            "{e}"
        );
        let e = check_datasets(Some(&recorded), &[info("a", "aaaa")]).expect_err("b gone");
        assert!(e.contains("`b`") && e.contains("bbbb"), "{e}");
        let warning = check_datasets(None, &recorded).expect("an old run resumes");
        assert!(warning.is_some_and(|w| w.contains("no dataset hashes")));
    }

    #[test]
    fn a_clean_folder_is_left_as_it_is() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(files::REQUESTS_CSV);
        let text = format!("{REQ_HEADER}{}", req("a@d", "warmup", 0, 0, "ok"));
        std::fs::write(&path, &text).expect("write");
        let prior = recover(dir.path()).expect("recovers");
        assert!(prior.repaired.is_empty());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
        std::fs::write(&path, format!("{text}x")).expect("tear");
        assert!(repair_tail(&path).expect("repairs"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    }

    #[test]
    fn empty_and_header_only_files_hold_no_rows() {
        for (what, requests) in [("0-byte", ""), ("header-only", REQ_HEADER)] {
            let dir = tempfile::tempdir().expect("temp dir");
            let d = dir.path();
            std::fs::write(d.join(files::REQUESTS_CSV), requests).expect("write");
            for name in [
                files::SAMPLES_CSV,
                files::BASELINES_CSV,
                files::REPETITIONS_CSV,
            ] {
                std::fs::write(d.join(name), "").expect("write");
            }
            let prior = recover(d).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(prior, Prior::default(), "{what}");
        }
    }
}
