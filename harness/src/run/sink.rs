//! Where a run's records go: `requests.csv`, `answers.jsonl`, `repetitions.csv`,
//! `baselines.csv`, `window_state.csv` and `attribution.csv`, each row written whole.
//!
//! Window rows are written as they are taken. Request and answer rows are gathered and
//! written together, at most [`RECORD_AGE`] after the oldest of them was taken (the batch
//! loop wakes for it: [`RecordSink::write_due`]) and at the end of each batch, before the
//! batch's window row: a request costs no write call of its own, and a killed run loses
//! only rows of a batch that `--resume` takes again or completes.

use super::requests::BatchResult;
use crate::plan::Configuration;
use crate::redact::Redactor;
use crate::writer::{RowAppender, WriteError};
use probes::window::Window;
use records::answers::AnswerRecord;
use records::files;
use records::labels::{ClassLabel, Provenance};
use records::raw::{
    AttributionRecord, BaselineRecord, RepetitionRecord, RequestRecord, WindowStateRecord,
};
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest time a request or answer row waits in memory before it is written.
pub const RECORD_AGE: Duration = Duration::from_millis(250);
/// Bytes of request and answer rows waiting that trigger a write.
const RECORD_BYTES: usize = 64 * 1024;

/// What the rows of `repetitions.csv` say about their configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigColumns {
    /// Configuration id (`model@dataset`).
    pub config: String,
    /// Model name.
    pub model: String,
    /// Task name.
    pub task: String,
    /// Dataset name.
    pub dataset: String,
    /// Model class.
    pub class: ClassLabel,
    /// Model parameters, when known.
    pub parameters: Option<u64>,
    /// The operating point of a load or power-limit sweep.
    pub load: Option<records::load::OperatingPoint>,
}

impl ConfigColumns {
    /// The columns of `config`.
    pub fn of(config: &Configuration) -> Self {
        Self {
            config: config.id.clone(),
            model: config.model.clone(),
            task: config.task.clone(),
            dataset: config.dataset.clone(),
            class: config.class.into(),
            parameters: config.parameters,
            load: config.point,
        }
    }
}

/// The record files of a run folder, opened for appending.
pub struct RecordSink {
    requests: RowAppender<RequestRecord>,
    answers: RowAppender<AnswerRecord>,
    repetitions: RowAppender<RepetitionRecord>,
    baselines: RowAppender<BaselineRecord>,
    window_states: RowAppender<WindowStateRecord>,
    attribution: RowAppender<AttributionRecord>,
    /// Added to every window time written (a resumed run continues its timeline).
    t_offset_ns: u64,
    /// When the oldest request or answer row still waiting was taken (`None`: none waits).
    oldest_waiting: Option<Instant>,
    /// Longest time request and answer rows wait ([`RECORD_AGE`]; longer in tests).
    max_age: Duration,
}

/// The columns a baseline row and a repetition row share: one domain over one window,
/// as written.
struct DomainColumns {
    source: String,
    domain: String,
    provenance: Provenance,
    counts_in_total: bool,
    t_start_ns: u64,
    t_end_ns: u64,
    duration_s: f64,
    energy_j: f64,
}

/// The shared columns of every domain of `window`, its times shifted by `t_offset_ns`.
fn domain_columns(window: &Window, t_offset_ns: u64) -> impl Iterator<Item = DomainColumns> {
    let t_start_ns = window.t_start_ns + t_offset_ns;
    let t_end_ns = window.t_end_ns + t_offset_ns;
    let duration_s = window.duration_s();
    window.domains.iter().map(move |d| DomainColumns {
        source: d.source.clone(),
        domain: d.domain.name.clone(),
        provenance: d.domain.provenance,
        counts_in_total: d.domain.counts_in_total(),
        t_start_ns,
        t_end_ns,
        duration_s,
        energy_j: d.energy_j,
    })
}

impl RecordSink {
    /// Opens (or creates) the record files in `dir`; `t_offset_ns` is added to window times;
    /// `redactor` takes the run's secrets out of `requests.csv` (the rows holding server text).
    pub fn open(dir: &Path, t_offset_ns: u64, redactor: &Redactor) -> Result<Self, WriteError> {
        Ok(Self {
            requests: RowAppender::open(&dir.join(files::REQUESTS_CSV))?
                .with_redactor(redactor.clone()),
            answers: RowAppender::open_json_lines(&dir.join(files::ANSWERS_JSONL))?
                .with_redactor(redactor.clone()),
            repetitions: RowAppender::open(&dir.join(files::REPETITIONS_CSV))?,
            baselines: RowAppender::open(&dir.join(files::BASELINES_CSV))?,
            window_states: RowAppender::open(&dir.join(files::WINDOW_STATE_CSV))?,
            attribution: RowAppender::open(&dir.join(files::ATTRIBUTION_CSV))?,
            t_offset_ns,
            oldest_waiting: None,
            max_age: RECORD_AGE,
        })
    }

    /// What is added to the times written.
    pub fn t_offset_ns(&self) -> u64 {
        self.t_offset_ns
    }

    /// Appends one request to `requests.csv` (written by [`Self::write_due`]).
    pub fn request(&mut self, record: &RequestRecord) -> Result<(), WriteError> {
        self.requests.push(record)?;
        self.taken()
    }

    /// Appends one measured request's answer to `answers.jsonl` (written by [`Self::write_due`]).
    pub fn answer(&mut self, record: &AnswerRecord) -> Result<(), WriteError> {
        self.answers.push(record)?;
        self.taken()
    }

    /// Notes a row taken; writes the waiting rows once they are many or old enough.
    fn taken(&mut self) -> Result<(), WriteError> {
        let oldest = *self.oldest_waiting.get_or_insert_with(Instant::now);
        let waiting = self.requests.pending_bytes() + self.answers.pending_bytes();
        if waiting >= RECORD_BYTES || oldest.elapsed() >= self.max_age {
            self.write_waiting_rows()?;
        }
        Ok(())
    }

    /// When the waiting request and answer rows must be written ([`RECORD_AGE`] after the
    /// oldest was taken); `None` when none waits. The batch loop writes them then with
    /// [`Self::write_waiting_rows`] if no row came in the meantime.
    pub fn write_due(&self) -> Option<Instant> {
        self.oldest_waiting.map(|t| t + self.max_age)
    }

    /// Writes every waiting request and answer row now.
    pub fn write_waiting_rows(&mut self) -> Result<(), WriteError> {
        self.oldest_waiting = None;
        self.requests.flush()?;
        self.answers.flush()
    }

    /// Writes the idle baseline of configuration `config`, a row per domain; a window of
    /// no length has no power and writes nothing. Returns whether it wrote a row.
    pub fn baseline(&mut self, config: &str, window: &Window) -> Result<bool, WriteError> {
        if window.duration_s() <= 0.0 {
            return Ok(false);
        }
        for d in domain_columns(window, self.t_offset_ns) {
            self.baselines.append(&BaselineRecord {
                config: config.to_string(),
                source: d.source,
                domain: d.domain,
                provenance: d.provenance,
                counts_in_total: d.counts_in_total,
                t_start_ns: d.t_start_ns,
                t_end_ns: d.t_end_ns,
                duration_s: d.duration_s,
                energy_j: d.energy_j,
                power_w: d.energy_j / d.duration_s,
            })?;
        }
        Ok(!window.domains.is_empty())
    }

    /// Writes what a window's edges read: its states and who used the CPU and GPUs
    /// (written after the window's energy rows, so a stop between leaves no row for a
    /// window that `--resume` takes again).
    pub fn edges(
        &mut self,
        states: &[WindowStateRecord],
        attribution: &[AttributionRecord],
    ) -> Result<(), WriteError> {
        for s in states {
            self.window_states.push(s)?;
        }
        self.window_states.flush()?;
        for a in attribution {
            self.attribution.push(a)?;
        }
        self.attribution.flush()
    }

    /// Writes repetition `repetition` of a configuration, a row per domain, with what
    /// its batch sent. Returns whether it wrote a row.
    pub fn repetition(
        &mut self,
        columns: &ConfigColumns,
        repetition: u32,
        window: &Window,
        batch: &BatchResult,
    ) -> Result<bool, WriteError> {
        // The batch's request rows first: a repetition row never stands before them.
        self.write_waiting_rows()?;
        for d in domain_columns(window, self.t_offset_ns) {
            self.repetitions.append(&RepetitionRecord {
                config: columns.config.clone(),
                model: columns.model.clone(),
                task: columns.task.clone(),
                dataset: columns.dataset.clone(),
                class: columns.class,
                parameters: columns.parameters,
                repetition,
                source: d.source,
                domain: d.domain,
                provenance: d.provenance,
                counts_in_total: d.counts_in_total,
                t_start_ns: d.t_start_ns,
                t_end_ns: d.t_end_ns,
                duration_s: d.duration_s,
                energy_j: d.energy_j,
                requests: batch.sent,
                failures: batch.failures,
                load: columns.load,
            })?;
        }
        Ok(!window.domains.is_empty())
    }
}

impl Drop for RecordSink {
    /// Writes the rows still waiting, so a run that ends by an error loses none.
    fn drop(&mut self) {
        if let Err(e) = self.write_waiting_rows() {
            tracing::warn!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use probes::window::DomainEnergy;
    use probes::{Domain, DomainKind, Provenance};

    fn window() -> Window {
        Window {
            t_start_ns: 1_000_000_000,
            t_end_ns: 3_000_000_000,
            domains: vec![
                DomainEnergy {
                    source: "rapl".into(),
                    domain: Domain::new(
                        "cpu-package-0",
                        DomainKind::CpuPackage,
                        Provenance::Measured,
                    ),
                    energy_j: 20.0,
                },
                DomainEnergy {
                    source: "model".into(),
                    domain: Domain::new("gpu-0", DomainKind::Gpu, Provenance::Estimated),
                    energy_j: 8.0,
                },
            ],
            failed: Vec::new(),
        }
    }

    /// The columns of a task-specific configuration `m@d`.
    fn columns(parameters: Option<u64>) -> ConfigColumns {
        ConfigColumns {
            config: "m@d".into(),
            model: "m".into(),
            task: "t".into(),
            dataset: "d".into(),
            class: ClassLabel::TaskSpecific,
            parameters,
            load: None,
        }
    }

    fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
        csv::Reader::from_path(path)
            .expect("open csv")
            .deserialize()
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn a_baseline_writes_a_row_per_domain_with_power_and_shifted_times() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut sink = RecordSink::open(dir.path(), 500, &Redactor::default()).expect("open");
        sink.baseline("m@d", &window()).expect("baseline");
        let rows: Vec<BaselineRecord> = read(&dir.path().join(files::BASELINES_CSV));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].config, "m@d");
        assert_eq!(rows[0].domain, "cpu-package-0");
        assert_eq!(rows[0].t_start_ns, 1_000_000_500);
        assert_eq!(rows[0].t_end_ns, 3_000_000_500);
        assert_eq!(rows[0].duration_s, 2.0);
        assert_eq!(rows[0].power_w, 10.0);
        assert_eq!(rows[1].provenance, Provenance::Estimated);
        assert_eq!(rows[1].power_w, 4.0);
    }

    #[test]
    fn a_baseline_of_no_length_writes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut sink = RecordSink::open(dir.path(), 0, &Redactor::default()).expect("open");
        let mut empty = window();
        empty.t_end_ns = empty.t_start_ns;
        sink.baseline("m@d", &empty).expect("baseline");
        let rows: Vec<BaselineRecord> = read(&dir.path().join(files::BASELINES_CSV));
        assert!(rows.is_empty());
    }

    #[test]
    fn a_repetition_writes_a_row_per_domain_with_its_configuration_and_batch() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut sink = RecordSink::open(dir.path(), 7, &Redactor::default()).expect("open");
        let columns = columns(Some(110));
        let batch = BatchResult {
            sent: 10,
            failures: 2,
            ..BatchResult::default()
        };
        sink.repetition(&columns, 3, &window(), &batch)
            .expect("repetition");
        let rows: Vec<RepetitionRecord> = read(&dir.path().join(files::REPETITIONS_CSV));
        assert_eq!(rows.len(), 2);
        let first = &rows[0];
        assert_eq!(
            (
                first.config.as_str(),
                first.model.as_str(),
                first.task.as_str()
            ),
            ("m@d", "m", "t")
        );
        assert_eq!(
            (first.dataset.as_str(), first.class.as_str()),
            ("d", "task-specific")
        );
        assert_eq!(first.parameters, Some(110));
        assert_eq!(first.repetition, 3);
        assert_eq!((first.requests, first.failures), (10, 2));
        assert_eq!(
            (first.t_start_ns, first.t_end_ns),
            (1_000_000_007, 3_000_000_007)
        );
        assert_eq!(first.energy_j, 20.0);
        assert!(first.counts_in_total);
        assert_eq!(rows[1].source, "model");
        assert_eq!(rows[1].energy_j, 8.0);
    }

    #[test]
    fn request_rows_wait_for_their_batch_and_precede_its_repetition_row() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut sink = RecordSink::open(dir.path(), 0, &Redactor::default()).expect("open");
        sink.max_age = Duration::from_secs(3600);
        let requests = dir.path().join(files::REQUESTS_CSV);
        for index in 0..3 {
            let row = RequestRecord {
                config: "m@d".into(),
                index,
                ..RequestRecord::default()
            };
            sink.request(&row).expect("request");
            sink.answer(&AnswerRecord::default()).expect("answer");
        }
        assert!(
            read::<RequestRecord>(&requests).is_empty(),
            "rows wait in memory within the age bound"
        );
        let columns = columns(None);
        sink.repetition(&columns, 1, &window(), &BatchResult::default())
            .expect("repetition");
        let rows: Vec<RequestRecord> = read(&requests);
        assert_eq!(rows.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1, 2]);
        let answers =
            std::fs::read_to_string(dir.path().join(files::ANSWERS_JSONL)).expect("answers");
        assert_eq!(answers.lines().count(), 3);
    }

    #[test]
    fn waiting_rows_come_due_at_the_age_bound_and_go_out_with_the_next_one_then() {
        let dir = tempfile::tempdir().expect("temp dir");
        let requests = dir.path().join(files::REQUESTS_CSV);
        let mut sink = RecordSink::open(dir.path(), 0, &Redactor::default()).expect("open");
        sink.max_age = Duration::from_secs(3600);
        assert_eq!(sink.write_due(), None, "nothing waits");
        let before = Instant::now();
        sink.request(&RequestRecord::default()).expect("request");
        let due = sink.write_due().expect("a row waits");
        assert!(
            due >= before + sink.max_age,
            "due an age bound after it was taken"
        );
        assert!(read::<RequestRecord>(&requests).is_empty());
        // Past the bound, the next row takes the waiting one out with it.
        sink.max_age = Duration::ZERO;
        sink.request(&RequestRecord::default()).expect("request");
        assert_eq!(read::<RequestRecord>(&requests).len(), 2);
        assert_eq!(sink.write_due(), None, "nothing waits after a write");
    }

    #[test]
    fn rows_still_waiting_are_written_when_the_sink_is_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut sink = RecordSink::open(dir.path(), 0, &Redactor::default()).expect("open");
        sink.max_age = Duration::from_secs(3600);
        sink.request(&RequestRecord::default()).expect("request");
        drop(sink);
        let rows: Vec<RequestRecord> = read(&dir.path().join(files::REQUESTS_CSV));
        assert_eq!(rows.len(), 1);
    }
}
