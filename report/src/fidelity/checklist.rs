//! The validity checklist of a configuration (after MLPerf Power's run rules): each check
//! passes, fails with why, or does not apply with why; `--strict` fails on any failure.

use super::cross_check::ConfigCrossChecks;
use super::state::ConfigState;
use crate::flags::Flag;
use serde::Serialize;

/// A check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The figures pass it.
    Pass,
    /// The figures fail it: see the detail.
    Fail,
    /// Nothing to check (e.g. no GPU to cross-check).
    NotApplicable,
}

/// One check of the checklist.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// Its name.
    pub name: &'static str,
    /// What it asks, in words.
    pub asks: &'static str,
    /// Its outcome.
    pub status: Status,
    /// Why it failed or does not apply; what it found when it passed.
    pub detail: String,
}

/// The checks, in order, with what each asks.
pub const CHECKS: [(&str, &str); 9] = [
    (
        "window-length",
        "every counted domain's window is at least its counter's update period (resolution)",
    ),
    (
        "counter-moved",
        "every measured counter moved in every repetition",
    ),
    ("measured", "no counted domain is an estimate"),
    ("repetitions", "at least two valid repetitions"),
    (
        "cv-bound",
        "the coefficient of variation over repetitions is within the bound",
    ),
    (
        "drift",
        "no temperature drift, clock change, setting change or throttling across repetitions",
    ),
    (
        "cross-check",
        "GPU counters agree with their power integrals, RAPL sub-zones stay within their package",
    ),
    (
        "sampler-gaps",
        "the sampler read every source throughout every window",
    ),
    (
        "failures",
        "no measured request failed and no repetition was invalid",
    ),
];

/// The checklist of one configuration from its flags, window states and cross-checks.
pub fn checklist(flags: &[Flag], state: &ConfigState, cross: &ConfigCrossChecks) -> Vec<Check> {
    let failing = |pick: fn(&Flag) -> bool| -> Vec<String> {
        flags
            .iter()
            .filter(|f| pick(f))
            .map(Flag::to_string)
            .collect()
    };
    CHECKS
        .iter()
        .map(|&(name, asks)| {
            let (status, detail) = match name {
                "window-length" => outcome(failing(|f| matches!(f, Flag::ShortWindow { .. })), "every window ≥ its resolution"),
                "counter-moved" => outcome(failing(|f| matches!(f, Flag::CounterStuck { .. })), "every counter moved"),
                "measured" => outcome(failing(|f| matches!(f, Flag::Estimated { .. })), "all counted domains measured"),
                "repetitions" => outcome(
                    failing(|f| matches!(f, Flag::TooFewRepetitions { .. } | Flag::NoValidRepetition { .. })),
                    "two or more valid repetitions",
                ),
                "cv-bound" => {
                    if flags.iter().any(|f| matches!(f, Flag::TooFewRepetitions { .. } | Flag::NoValidRepetition { .. })) {
                        (Status::NotApplicable, "fewer than two valid repetitions: no spread".into())
                    } else {
                        outcome(failing(|f| matches!(f, Flag::HighCv { .. })), "within the bound")
                    }
                }
                "drift" => {
                    let found = failing(|f| matches!(f, Flag::State(_)));
                    if found.is_empty() && !state.judged() {
                        (Status::NotApplicable, "no readable GPU or CPU state was recorded (no window_state.csv, no GPU, no cpufreq)".into())
                    } else {
                        outcome(found, "temperatures, clocks and settings steady")
                    }
                }
                "cross-check" => {
                    let found = failing(|f| matches!(f, Flag::CrossCheck { .. }));
                    if found.is_empty() && cross.checks.is_empty() {
                        let why = if cross.skipped.is_empty() {
                            "nothing to cross-check (no GPU energy counter, no RAPL sub-zones)".to_string()
                        } else {
                            cross.skipped.join("; ")
                        };
                        (Status::NotApplicable, why)
                    } else {
                        let mut passed = format!("{} checks within their bounds", cross.checks.len());
                        if !cross.skipped.is_empty() {
                            passed.push_str(&format!("; not checked: {}", cross.skipped.join("; ")));
                        }
                        outcome(found, &passed)
                    }
                }
                "sampler-gaps" => outcome(
                    failing(|f| matches!(f, Flag::SamplerGap { .. } | Flag::WrapUnseen { .. })),
                    "no gap",
                ),
                _ => outcome(
                    failing(|f| matches!(f, Flag::Failures { .. } | Flag::Invalid { .. })),
                    "no failed request",
                ),
            };
            Check { name, asks, status, detail }
        })
        .collect()
}

fn outcome(found: Vec<String>, passed: &str) -> (Status, String) {
    if found.is_empty() {
        (Status::Pass, passed.to_string())
    } else {
        (Status::Fail, found.join("; "))
    }
}

/// The names of the failed checks, `;`-joined (empty when none failed).
pub fn failed_names(checks: &[Check]) -> String {
    checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(";")
}
