//! `[schedule] load`, `gpu_power_limits_w`, `latency_targets` and a model's own `load`:
//! the operating points each model is measured at, checked with errors that point at the
//! value.

use super::error::SourceText;
use super::file::{ModelSpec, SuiteFile};
use super::keys::{Step, value_span};
use super::numbers::MAX_CONCURRENCY;
use super::plan::Plan;
use super::{ProbeKind, SuiteError};
use records::load::{LoadLevel, OperatingPoint};
use std::ops::Range;

/// The highest open-loop arrival rate a suite may ask for (requests/s).
pub const MAX_ARRIVAL_RATE: f64 = 100_000.0;

/// The lowest open-loop arrival rate a suite may ask for (requests/s): one every 100 s.
pub const MIN_ARRIVAL_RATE: f64 = 0.01;

/// The highest GPU power limit a suite may ask for (W); boards today top out near 1.2 kW.
pub const MAX_POWER_LIMIT_W: u32 = 5_000;

/// The most load levels × power limits one model may be measured at.
pub const MAX_POINTS: usize = 256;

/// The operating points of model `index` (`m`): its own `load` or `[schedule] load`, each
/// at every `gpu_power_limits_w`; empty when the suite sweeps neither.
pub(super) fn points(
    src: SourceText<'_>,
    spec: &SuiteFile,
    index: usize,
    m: &ModelSpec,
) -> Result<Vec<OperatingPoint>, SuiteError> {
    let schedule = &spec.schedule;
    let levels: Vec<LoadLevel> = match &m.load {
        Some(list) => {
            if list.is_empty() {
                let span = value_span(
                    src.text,
                    &[Step::Key("models"), Step::Index(index), Step::Key("load")],
                );
                return Err(src.error_at(
                    span.unwrap_or(0..0),
                    Some("models.load"),
                    "an empty list: give at least one level (`c1`, `c8`, `p2.5`) or leave `load` out to use `[schedule] load`".into(),
                ));
            }
            let texts: Vec<&str> = list.iter().map(|l| l.get_ref().as_str()).collect();
            let span_of = |i: usize| list[i].span();
            parse_levels(src, &texts, &span_of, "models.load", schedule.inferences)?
        }
        // Checked once by `check_schedule`: parsed again here, without spans.
        None => schedule_levels(src, spec)?,
    };
    let limits = &schedule.gpu_power_limits_w;
    if levels.is_empty() && limits.is_empty() {
        return Ok(Vec::new());
    }
    let levels = if levels.is_empty() {
        vec![LoadLevel::Closed(schedule.concurrency)]
    } else {
        levels
    };
    let limits: Vec<Option<u32>> = if limits.is_empty() {
        vec![None]
    } else {
        limits.iter().copied().map(Some).collect()
    };
    let points: Vec<OperatingPoint> = levels
        .iter()
        .flat_map(|&load| {
            limits.iter().map(move |&power_limit_w| OperatingPoint {
                load,
                power_limit_w,
            })
        })
        .collect();
    if points.len() > MAX_POINTS {
        let (span, key) = match &m.load {
            Some(_) => (
                value_span(
                    src.text,
                    &[Step::Key("models"), Step::Index(index), Step::Key("load")],
                ),
                "models.load",
            ),
            None => (
                value_span(src.text, &[Step::Key("schedule"), Step::Key("load")]),
                "schedule.load",
            ),
        };
        return Err(src.error_at(
            span.unwrap_or(0..0),
            Some(key),
            format!(
                "{} load levels × power limits for model {:?}; expected at most {MAX_POINTS}: sweep fewer levels or limits",
                points.len(),
                m.name.get_ref()
            ),
        ));
    }
    Ok(points)
}

/// Checks `[schedule] load` and `gpu_power_limits_w` (once for every model), and refuses
/// `load` beside a `concurrency` written in the file (one of the two says how many
/// requests are in flight), a ramp share outside [0, 0.9] and a latency target that is
/// not a positive number of milliseconds.
pub(super) fn check_schedule(src: SourceText<'_>, spec: &SuiteFile) -> Result<(), SuiteError> {
    let s = &spec.schedule;
    schedule_levels(src, spec)?;
    check_power_limits(src, spec)?;
    let at = |key: &str| value_span(src.text, &[Step::Key("schedule"), Step::Key(key)]);
    if !s.load.is_empty()
        && let Some(span) = at("concurrency")
    {
        return Err(src.error_at(
            span,
            Some("schedule.concurrency"),
            "`concurrency` and `load` both say how many requests are in flight: remove `concurrency` and list the level in `load` (e.g. `load = [\"c4\"]`)".into(),
        ));
    }
    if !s.gpu_power_limits_w.is_empty() && !spec.probes.sources.contains(&ProbeKind::Nvml) {
        return Err(src.error_at(
            at("gpu_power_limits_w").unwrap_or(0..0),
            Some("schedule.gpu_power_limits_w"),
            "GPU power limits are set through NVML: add \"nvml\" to `[probes] sources`, or remove `gpu_power_limits_w`".into(),
        ));
    }
    let share = s.open_loop_ramp_share;
    if !(share.is_finite() && (0.0..=0.9).contains(&share)) {
        return Err(src.error_at(
            at("open_loop_ramp_share").unwrap_or(0..0),
            Some("schedule.open_loop_ramp_share"),
            format!(
                "{share} is out of range: expected a share from 0 to 0.9 of an open-loop repetition's first arrivals"
            ),
        ));
    }
    for (i, t) in s.latency_targets.iter().enumerate() {
        if !(t.ms.is_finite() && t.ms > 0.0 && t.ms <= 86_400_000.0) {
            let span = value_span(
                src.text,
                &[
                    Step::Key("schedule"),
                    Step::Key("latency_targets"),
                    Step::Index(i),
                    Step::Key("ms"),
                ],
            );
            return Err(src.error_at(
                span.unwrap_or(0..0),
                Some("schedule.latency_targets.ms"),
                format!(
                    "{} is out of range: expected milliseconds above 0 and at most a day (86400000)",
                    t.ms
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses a plan in which two model–dataset–level triples get the same id (names holding
/// `@` or `~` can: model `a@b` on dataset `c` and model `a` on dataset `b@c`).
pub(super) fn check_unique_ids(src: SourceText<'_>, plan: &Plan) -> Result<(), SuiteError> {
    let mut seen = std::collections::BTreeSet::new();
    for c in &plan.configurations {
        if !seen.insert(c.id.as_str()) {
            return Err(src.error_at(
                0..0,
                Some("models.name"),
                format!(
                    "two configurations are both named {:?} (model {:?} on dataset {:?} is one): rename a model or dataset so that no name holds `@` or `~`",
                    c.id, c.model, c.dataset
                ),
            ));
        }
    }
    Ok(())
}

/// `[schedule] load`, parsed and checked (the span of a bad level is looked up only then).
fn schedule_levels(src: SourceText<'_>, spec: &SuiteFile) -> Result<Vec<LoadLevel>, SuiteError> {
    let s = &spec.schedule;
    let texts: Vec<&str> = s.load.iter().map(String::as_str).collect();
    let span_of = |i: usize| {
        let at = [Step::Key("schedule"), Step::Key("load"), Step::Index(i)];
        value_span(src.text, &at).unwrap_or(0..0)
    };
    parse_levels(src, &texts, &span_of, "schedule.load", s.inferences)
}

/// Level texts parsed and checked; `span_of(i)` is where text `i` is written.
fn parse_levels(
    src: SourceText<'_>,
    texts: &[&str],
    span_of: &dyn Fn(usize) -> Range<usize>,
    key: &str,
    inferences: u32,
) -> Result<Vec<LoadLevel>, SuiteError> {
    let mut levels: Vec<LoadLevel> = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let error = |message: String| src.error_at(span_of(i), Some(key), message);
        let level: LoadLevel = text.parse().map_err(|e| error(format!("{e}")))?;
        match level {
            LoadLevel::Closed(n) if n > MAX_CONCURRENCY => {
                return Err(error(format!(
                    "{n} clients is out of range: expected 1 to {MAX_CONCURRENCY}"
                )));
            }
            LoadLevel::Open(r) if !(MIN_ARRIVAL_RATE..=MAX_ARRIVAL_RATE).contains(&r) => {
                return Err(error(format!(
                    "{r} requests/s is out of range: expected {MIN_ARRIVAL_RATE} to {MAX_ARRIVAL_RATE}"
                )));
            }
            LoadLevel::Closed(n) if n >= inferences => {
                return Err(error(format!(
                    "c{n} with {inferences} inferences per repetition never holds {n} requests in flight with one more to send, so it has no steady-state window: raise `schedule.inferences` to at least {} (many times {n} keeps the ramp-up and drain a small part of each repetition)",
                    n + 1
                )));
            }
            _ => {}
        }
        if levels.contains(&level) {
            return Err(error(format!("{text:?} is listed twice: each level once")));
        }
        levels.push(level);
    }
    Ok(levels)
}

fn check_power_limits(src: SourceText<'_>, spec: &SuiteFile) -> Result<(), SuiteError> {
    let limits = &spec.schedule.gpu_power_limits_w;
    for (i, &w) in limits.iter().enumerate() {
        let span = || {
            value_span(
                src.text,
                &[
                    Step::Key("schedule"),
                    Step::Key("gpu_power_limits_w"),
                    Step::Index(i),
                ],
            )
            .unwrap_or(0..0)
        };
        let key = Some("schedule.gpu_power_limits_w");
        if w == 0 || w > MAX_POWER_LIMIT_W {
            return Err(src.error_at(
                span(),
                key,
                format!(
                    "{w} W is out of range: expected 1 to {MAX_POWER_LIMIT_W} W (the GPU's own bounds are checked when the run starts; `nvidia-smi -q -d POWER` lists them)"
                ),
            ));
        }
        if limits[..i].contains(&w) {
            return Err(src.error_at(
                span(),
                key,
                format!("{w} W is listed twice: each limit once"),
            ));
        }
    }
    Ok(())
}
