//! `window_state.csv`: the states read at each window's edges, per configuration: what
//! they were, and whether they drifted or changed across its repetitions.

use crate::ReportError;
use crate::configs::Configuration;
use records::files::WINDOW_STATE_CSV;
use records::raw::{Edge, WindowStateRecord};
use records::state_keys::{SETTING_KEYS, SLOWDOWN_REASONS};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bounds past which a state is flagged.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StateBounds {
    /// Rise of the start-of-window temperature over a configuration's repetitions (°C).
    pub temperature_rise_c: f64,
    /// Spread of the end-of-window clocks over a configuration's repetitions (share).
    pub clock_spread: f64,
}

impl Default for StateBounds {
    fn default() -> Self {
        Self {
            temperature_rise_c: 5.0,
            clock_spread: 0.05,
        }
    }
}

/// One state of one domain over a configuration's repetition windows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StateRow {
    /// Source name.
    pub source: String,
    /// Domain name.
    pub domain: String,
    /// The state read.
    pub key: String,
    /// At the start of the first repetition.
    pub first: String,
    /// At the end of the last repetition.
    pub last: String,
    /// Distinct values over every edge.
    pub distinct: Vec<String>,
}

/// Why a configuration's state says its repetitions were not alike.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "finding", rename_all = "kebab-case")]
pub enum StateFinding {
    /// The temperature at the start of the windows rose through the configuration.
    TemperatureDrift {
        /// The domain (`gpu-0`).
        domain: String,
        /// At the start of the first repetition (°C).
        from_c: f64,
        /// The highest at the start of a later one (°C).
        to_c: f64,
    },
    /// A clock at the end of the windows differed between repetitions.
    ClocksChanged {
        /// The domain.
        domain: String,
        /// Which clock.
        key: String,
        /// Lowest (MHz).
        low_mhz: f64,
        /// Highest (MHz).
        high_mhz: f64,
    },
    /// A setting (power limit, persistence, governor, boost) changed during the
    /// configuration.
    SettingChanged {
        /// The domain.
        domain: String,
        /// Which setting.
        key: String,
        /// The values seen, in order.
        values: Vec<String>,
    },
    /// The GPU slowed itself (power cap, thermal or power-brake slowdown) at an edge.
    Throttled {
        /// The domain.
        domain: String,
        /// The reasons seen.
        reasons: Vec<String>,
    },
}

/// What one configuration's window states say.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConfigState {
    /// Each state over its repetitions.
    pub rows: Vec<StateRow>,
    /// What drifted or changed.
    pub findings: Vec<StateFinding>,
}

impl ConfigState {
    /// Whether any readable GPU or CPU state was recorded (drift can then be judged).
    pub fn judged(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.distinct.iter().any(|v| !v.starts_with("unreadable")))
    }
}

type Values = Vec<(u32, Edge, String)>;

/// The states of each configuration (in `configs` order), over its usable repetitions;
/// empty states when the run wrote no `window_state.csv` (before joulebench 0.1 fidelity).
pub fn summarise(
    dir: &Path,
    configs: &[Configuration],
    bounds: &StateBounds,
) -> Result<Vec<ConfigState>, ReportError> {
    let mut out = vec![ConfigState::default(); configs.len()];
    let mut seen: Vec<BTreeMap<(String, String, String), Values>> =
        vec![BTreeMap::new(); configs.len()];
    super::for_usable_repetitions(
        &dir.join(WINDOW_STATE_CSV),
        configs,
        |i, _, rec: WindowStateRecord| {
            seen[i]
                .entry((rec.source, rec.domain, rec.key))
                .or_default()
                .push((rec.repetition, rec.edge, rec.value));
        },
    )?;
    for (state, keys) in out.iter_mut().zip(seen) {
        for ((source, domain, key), mut values) in keys {
            values.sort_by_key(|v| (v.0, v.1));
            state.findings.extend(judge(&domain, &key, &values, bounds));
            let distinct: BTreeSet<String> = values.iter().map(|v| v.2.clone()).collect();
            state.rows.push(StateRow {
                first: values.first().map(|v| v.2.clone()).unwrap_or_default(),
                last: values.last().map(|v| v.2.clone()).unwrap_or_default(),
                distinct: distinct.into_iter().collect(),
                source,
                domain,
                key,
            });
        }
    }
    Ok(out)
}

/// What one state's values (by repetition and edge, in order) say.
fn judge(domain: &str, key: &str, values: &Values, bounds: &StateBounds) -> Vec<StateFinding> {
    let numbers = |edge: Edge| -> Vec<f64> {
        values
            .iter()
            .filter(|v| v.1 == edge)
            .filter_map(|v| v.2.parse::<f64>().ok())
            .collect()
    };
    let mut out = Vec::new();
    match key {
        "temperature_c" => {
            let starts = numbers(Edge::Start);
            if let Some(&first) = starts.first() {
                let to = starts.iter().copied().fold(first, f64::max);
                if to - first > bounds.temperature_rise_c {
                    out.push(StateFinding::TemperatureDrift {
                        domain: domain.into(),
                        from_c: first,
                        to_c: to,
                    });
                }
            }
        }
        "sm_clock_mhz" | "mem_clock_mhz" => {
            let ends = numbers(Edge::End);
            let low = ends.iter().copied().fold(f64::INFINITY, f64::min);
            let high = ends.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if high > 0.0 && (high - low) / high > bounds.clock_spread {
                out.push(StateFinding::ClocksChanged {
                    domain: domain.into(),
                    key: key.into(),
                    low_mhz: low,
                    high_mhz: high,
                });
            }
        }
        "throttle_reasons" => {
            let reasons: BTreeSet<String> = values
                .iter()
                .flat_map(|v| v.2.split('+'))
                .filter(|r| SLOWDOWN_REASONS.contains(r))
                .map(str::to_string)
                .collect();
            if !reasons.is_empty() {
                out.push(StateFinding::Throttled {
                    domain: domain.into(),
                    reasons: reasons.into_iter().collect(),
                });
            }
        }
        k if SETTING_KEYS.contains(&k) => {
            // In the order they were seen, each once.
            let mut seen: Vec<String> = Vec::new();
            for v in values.iter().map(|v| &v.2) {
                if !v.starts_with("unreadable") && !seen.contains(v) {
                    seen.push(v.clone());
                }
            }
            if seen.len() > 1 {
                out.push(StateFinding::SettingChanged {
                    domain: domain.into(),
                    key: key.into(),
                    values: seen,
                });
            }
        }
        _ => {}
    }
    out
}

impl std::fmt::Display for StateFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TemperatureDrift {
                domain,
                from_c,
                to_c,
            } => write!(f, "temperature-drift({domain}: {from_c:.0} → {to_c:.0} °C)"),
            Self::ClocksChanged {
                domain,
                key,
                low_mhz,
                high_mhz,
            } => write!(
                f,
                "clocks-changed({domain} {key}: {low_mhz:.0}–{high_mhz:.0} MHz)"
            ),
            Self::SettingChanged {
                domain,
                key,
                values,
            } => write!(f, "setting-changed({domain} {key}: {})", values.join(" → ")),
            Self::Throttled { domain, reasons } => {
                write!(f, "throttled({domain}: {})", reasons.join("+"))
            }
        }
    }
}
