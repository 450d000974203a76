//! Quality flags: the reasons a figure should not be trusted as it stands.

use serde::Serialize;
use std::fmt;

/// One reason to doubt a configuration's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "flag", rename_all = "kebab-case")]
pub enum Flag {
    /// A domain's window was shorter than its probe resolves reliably.
    ShortWindow {
        /// The domain.
        domain: String,
        /// Shortest window (s).
        window_s: f64,
        /// The probe's resolution (s).
        resolution_s: f64,
    },
    /// A measured domain's counter did not move over a repetition.
    CounterStuck {
        /// The domain.
        domain: String,
        /// The repetitions where it did not move.
        repetitions: Vec<u32>,
    },
    /// The coefficient of variation over repetitions is above the bound.
    HighCv {
        /// The CV.
        cv: f64,
        /// The bound.
        bound: f64,
    },
    /// Some or all domains are estimated, not measured.
    Estimated {
        /// The estimated domains.
        domains: Vec<String>,
    },
    /// Repetitions far from the others (modified z-score of the MAD above 3.5).
    Outliers {
        /// Their numbers.
        repetitions: Vec<u32>,
    },
    /// Fewer than two valid repetitions: no spread and no interval.
    TooFewRepetitions {
        /// Valid repetitions.
        n: usize,
    },
    /// No repetition enters the statistics: every figure of the configuration is empty.
    NoValidRepetition {
        /// Repetitions recorded (all left out).
        repetitions: usize,
    },
    /// Measured requests failed (timeouts, HTTP errors, bad answers), within the allowed
    /// share or not: their time is in the energy windows, so in the energy per inference,
    /// while the latency percentiles leave them out.
    Failures {
        /// Requests that failed.
        failed: u64,
        /// Measured requests sent.
        sent: u64,
    },
    /// Repetitions left out as invalid (too many failed requests).
    Invalid {
        /// Their numbers.
        repetitions: Vec<u32>,
    },
    /// Repetitions left out because they lack a counted domain that other repetitions of
    /// the configuration have (e.g. resumed on different probes): their total would
    /// leave that domain out.
    DomainsDiffer {
        /// Their numbers.
        repetitions: Vec<u32>,
        /// The counted domains they lack (`source/domain`).
        missing: Vec<String>,
    },
    /// Successful measured requests whose own energy is unknown (no sample around them, or
    /// a counter that went back with no stated power): the per-request figures cover the
    /// others only.
    RequestEnergyUnknown {
        /// Requests with no known energy.
        unknown: u64,
        /// Requests whose energy was sought.
        requests: u64,
    },
    /// The run states no grid carbon intensity: gCO2eq is not computed.
    Gco2Unknown,
    /// Repetitions whose window lies (partly) outside the run's hourly intensity series:
    /// they take the constant intensity when the suite gave one, and have none otherwise
    /// (the gCO2eq per 1,000 is then not computed).
    CarbonOutsideSeries {
        /// Their numbers.
        repetitions: Vec<u32>,
        /// The run's zone.
        zone: String,
        /// The constant intensity used for them (gCO2eq/kWh), when the suite gave one.
        fallback: Option<f64>,
    },
    /// A probe's sampler could not read its source during these repetitions: samples
    /// (and per-request energies) are missing there; window energies are exact reads.
    SamplerGap {
        /// Their numbers.
        repetitions: Vec<u32>,
        /// The sources.
        sources: Vec<String>,
    },
    /// Repetitions left out because a sampler gap outlasted the source's keep-alive, so a
    /// counter may have wrapped unseen inside the window.
    WrapUnseen {
        /// Their numbers.
        repetitions: Vec<u32>,
        /// The sources.
        sources: Vec<String>,
    },
    /// Completion-token counts that are not the server's own (no `usage` block or TGI
    /// details: joulebench counted the stream's content events), so tokens per inference and
    /// J per output token may be off.
    TokensNotServerCounted {
        /// Requests counted by joulebench.
        requests: u64,
        /// Requests with a count.
        counted: u64,
    },
    /// Outputs not pinned to the asked length (the protocol cannot ask, or the server
    /// ignored `ignore_eos`/`min_tokens`): outputs differ in length between requests.
    OutputUnpinned {
        /// Requests whose output was not pinned.
        unpinned: u64,
        /// Requests asked to be pinned.
        asked: u64,
    },
    /// Most streamed requests came in bursts (median inter-token gap under
    /// [`crate::streams::BURST_ITL_MS`] ms, or a time to first token of nearly the whole
    /// latency): their TTFT and inter-token latency say how the events were read, not how
    /// the tokens were made.
    BurstyStream {
        /// Streamed requests in bursts.
        bursty: u64,
        /// Streamed requests.
        streamed: u64,
    },
    /// A state read at the windows' edges drifted or changed across repetitions
    /// (temperature, clocks, a setting) or the GPU slowed itself.
    State(crate::fidelity::StateFinding),
    /// A cross-check between two readings of the same energy disagreed past its bound
    /// (a GPU counter against its power integral, RAPL sub-zones against their package).
    CrossCheck {
        /// `gpu-counter-vs-power` or `rapl-subzones-vs-package`.
        check: String,
        /// The domain (`nvml/gpu-0`).
        domain: String,
        /// The repetitions where it disagreed.
        repetitions: Vec<u32>,
        /// The largest relative difference.
        worst: f64,
    },
    /// The configuration's answers are not scored: no quality figure stands beside its
    /// energy (never a 0 for "not scored").
    QualityUnscored {
        /// Why.
        reason: String,
    },
    /// Measured requests of usable repetitions without a record in `answers.jsonl`: the
    /// quality covers the others only.
    AnswersMissing {
        /// Requests without an answer record.
        missing: u64,
        /// Measured requests of the usable repetitions.
        requests: u64,
    },
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShortWindow {
                domain,
                window_s,
                resolution_s,
            } => write!(
                f,
                "short-window({domain}: {window_s:.3} s < {resolution_s} s resolution)"
            ),
            Self::CounterStuck {
                domain,
                repetitions,
            } => write!(f, "counter-stuck({domain}: rep {})", list(repetitions)),
            Self::HighCv { cv, bound } => {
                write!(f, "high-cv({:.1}% > {:.1}%)", cv * 100.0, bound * 100.0)
            }
            Self::Estimated { domains } => write!(f, "estimated({})", domains.join(",")),
            Self::Outliers { repetitions } => write!(f, "outliers(rep {})", list(repetitions)),
            Self::TooFewRepetitions { n } => write!(f, "too-few-repetitions({n})"),
            Self::NoValidRepetition { repetitions } => write!(
                f,
                "no-valid-repetition(0 of {repetitions} usable; figures empty)"
            ),
            Self::Failures { failed, sent } => write!(
                f,
                "failures({failed} of {sent} measured requests, {:.1}%)",
                100.0 * *failed as f64 / (*sent).max(1) as f64
            ),
            Self::Invalid { repetitions } => write!(f, "invalid(rep {})", list(repetitions)),
            Self::DomainsDiffer {
                repetitions,
                missing,
            } => write!(
                f,
                "domains-differ(rep {} lack {}; excluded)",
                list(repetitions),
                missing.join(",")
            ),
            Self::RequestEnergyUnknown { unknown, requests } => {
                write!(f, "request-energy-unknown({unknown} of {requests})")
            }
            Self::Gco2Unknown => write!(f, "gco2-unknown(no grid intensity)"),
            Self::CarbonOutsideSeries {
                repetitions,
                zone,
                fallback,
            } => write!(
                f,
                "carbon-outside-series(rep {} outside the {zone} series; {})",
                list(repetitions),
                match fallback {
                    Some(v) => format!("constant {v} g/kWh used"),
                    None => "no intensity: gCO2eq not computed".to_string(),
                }
            ),
            Self::SamplerGap {
                repetitions,
                sources,
            } => write!(
                f,
                "sampler-gap(rep {}: {})",
                list(repetitions),
                sources.join(",")
            ),
            Self::WrapUnseen {
                repetitions,
                sources,
            } => write!(
                f,
                "wrap-unseen(rep {}: {}; excluded)",
                list(repetitions),
                sources.join(",")
            ),
            Self::TokensNotServerCounted { requests, counted } => write!(
                f,
                "tokens-not-server-counted({requests} of {counted} requests, {})",
                percent(*requests, *counted)
            ),
            Self::OutputUnpinned { unpinned, asked } => write!(
                f,
                "output-unpinned({unpinned} of {asked} asked to be pinned, {})",
                percent(*unpinned, *asked)
            ),
            Self::BurstyStream { bursty, streamed } => write!(
                f,
                "bursty-stream({bursty} of {streamed} streamed requests, {})",
                percent(*bursty, *streamed)
            ),
            Self::State(finding) => write!(f, "{finding}"),
            Self::CrossCheck {
                check,
                domain,
                repetitions,
                worst,
            } => write!(
                f,
                "cross-check({check} {domain}: rep {}, worst {:+.1}%)",
                list(repetitions),
                worst * 100.0
            ),
            Self::QualityUnscored { reason } => write!(f, "quality-unscored({reason})"),
            Self::AnswersMissing { missing, requests } => write!(
                f,
                "answers-missing({missing} of {requests} requests have no answer record; quality covers the rest)"
            ),
        }
    }
}

/// `part` of `whole` as a percentage with one decimal.
fn percent(part: u64, whole: u64) -> String {
    format!("{:.1}%", 100.0 * part as f64 / whole.max(1) as f64)
}

fn list(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Joins flags for a table cell, `;`-separated.
pub fn join(flags: &[Flag]) -> String {
    flags
        .iter()
        .map(Flag::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The flags of one configuration, from its repetitions and the probes' resolutions.
pub fn assess(
    config: &crate::configs::Configuration,
    per_inference: &[f64],
    describe: Option<&crate::stats::Describe>,
    manifest: &records::manifest::RunManifest,
    options: &crate::options::ReportOptions,
) -> Vec<Flag> {
    let mut flags = Vec::new();
    let usable: Vec<_> = config.usable().collect();
    let invalid: Vec<u32> = config
        .repetitions
        .values()
        .filter(|r| !(r.valid && r.requests > 0))
        .map(|r| r.number)
        .collect();
    let lacking: Vec<&crate::configs::Repetition> = config
        .repetitions
        .values()
        .filter(|r| r.valid && r.requests > 0 && !r.missing_domains.is_empty())
        .collect();
    for (key, (_, counts)) in config.domains() {
        if !counts {
            continue;
        }
        let name = format!("{}/{}", key.source, key.domain);
        let windows: Vec<(u32, &crate::configs::DomainWindow)> = usable
            .iter()
            .filter_map(|r| r.domains.get(&key).map(|w| (r.number, w)))
            .collect();
        let resolution = manifest
            .probes
            .iter()
            .find(|p| p.name == key.source)
            .map(|p| p.resolution_s);
        if let Some(resolution_s) = resolution.filter(|r| *r > 0.0) {
            let shortest = windows
                .iter()
                .map(|(_, w)| w.duration_s)
                .fold(f64::INFINITY, f64::min);
            if shortest < resolution_s {
                flags.push(Flag::ShortWindow {
                    domain: name.clone(),
                    window_s: shortest,
                    resolution_s,
                });
            }
        }
        let stuck: Vec<u32> = windows
            .iter()
            .filter(|(_, w)| w.energy_j == 0.0 && w.duration_s > 0.0)
            .map(|(n, _)| *n)
            .collect();
        if !stuck.is_empty() {
            flags.push(Flag::CounterStuck {
                domain: name.clone(),
                repetitions: stuck,
            });
        }
    }
    let estimated: Vec<String> = config
        .domains()
        .into_iter()
        .filter(|(_, (p, counts))| *counts && *p != records::labels::Provenance::Measured)
        .map(|(k, _)| format!("{}/{}", k.source, k.domain))
        .collect();
    if !estimated.is_empty() {
        flags.push(Flag::Estimated { domains: estimated });
    }
    match describe {
        None => flags.push(Flag::NoValidRepetition {
            repetitions: config.repetitions.len(),
        }),
        Some(d) if d.n < 2 => flags.push(Flag::TooFewRepetitions { n: d.n }),
        Some(d) if d.cv.is_finite() && d.cv > options.cv_bound => flags.push(Flag::HighCv {
            cv: d.cv,
            bound: options.cv_bound,
        }),
        Some(_) => {}
    }
    let outliers: Vec<u32> = crate::stats::mad::outliers(per_inference)
        .into_iter()
        .filter_map(|i| usable.get(i).map(|r| r.number))
        .collect();
    if !outliers.is_empty() {
        flags.push(Flag::Outliers {
            repetitions: outliers,
        });
    }
    if !invalid.is_empty() {
        flags.push(Flag::Invalid {
            repetitions: invalid,
        });
    }
    let failures = config.failures();
    if failures.failed > 0 {
        flags.push(Flag::Failures {
            failed: failures.failed,
            sent: failures.sent,
        });
    }
    if !lacking.is_empty() {
        let missing: std::collections::BTreeSet<String> = lacking
            .iter()
            .flat_map(|r| &r.missing_domains)
            .map(|k| format!("{}/{}", k.source, k.domain))
            .collect();
        flags.push(Flag::DomainsDiffer {
            repetitions: lacking.iter().map(|r| r.number).collect(),
            missing: missing.into_iter().collect(),
        });
    }
    let gaps = |pick: fn(&crate::configs::Repetition) -> &Vec<String>| {
        let reps: Vec<&crate::configs::Repetition> = config
            .repetitions
            .values()
            .filter(|r| r.valid && r.requests > 0 && !pick(r).is_empty())
            .collect();
        let sources: std::collections::BTreeSet<String> =
            reps.iter().flat_map(|r| pick(r).iter().cloned()).collect();
        (
            reps.iter().map(|r| r.number).collect::<Vec<u32>>(),
            sources.into_iter().collect::<Vec<String>>(),
        )
    };
    let (repetitions, sources) = gaps(|r| &r.wrap_unseen);
    if !repetitions.is_empty() {
        flags.push(Flag::WrapUnseen {
            repetitions,
            sources,
        });
    }
    let (repetitions, sources) = gaps(|r| &r.sampler_gaps);
    if !repetitions.is_empty() {
        flags.push(Flag::SamplerGap {
            repetitions,
            sources,
        });
    }
    // With an hourly series the intensity is each repetition's (`carbon::assess`).
    if !manifest.carbon_intensity_g_per_kwh.is_finite() && manifest.carbon_series.is_none() {
        flags.push(Flag::Gco2Unknown);
    }
    flags
}
