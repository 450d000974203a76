//! Load levels: how a repetition's requests are offered to the server (closed-loop clients
//! or open-loop Poisson arrivals), at which GPU power limit, and the latency targets the
//! report picks the lowest-energy level under.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How a repetition's requests are offered to the server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LoadLevel {
    /// Closed loop: this many clients, each sending its next request when its last answer
    /// arrives (1 is the study's unbatched protocol).
    Closed(u32),
    /// Open loop: Poisson arrivals at this mean rate (requests per second), from a seeded
    /// generator, sent whether or not earlier answers have come.
    Open(f64),
}

impl LoadLevel {
    /// The study's regime: one request at a time.
    pub const UNBATCHED: LoadLevel = LoadLevel::Closed(1);

    /// Whether this is an open-loop level.
    pub fn is_open(self) -> bool {
        matches!(self, LoadLevel::Open(_))
    }
}

impl fmt::Display for LoadLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadLevel::Closed(n) => write!(f, "c{n}"),
            LoadLevel::Open(rate) => write!(f, "p{rate}"),
        }
    }
}

/// Text that is not a load level or operating point.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a load level: expected `cN` (N closed-loop clients, N ≥ 1) or `pR` (Poisson arrivals at R requests/s, R > 0), optionally followed by `-<W>w` (a GPU power limit in watts), e.g. `c8`, `p2.5`, `c4-300w`"
)]
pub struct LoadLevelError(pub String);

impl FromStr for LoadLevel {
    type Err = LoadLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LoadLevelError(s.to_string());
        if let Some(n) = s.strip_prefix('c') {
            let n: u32 = n.parse().map_err(|_| bad())?;
            return if n >= 1 {
                Ok(LoadLevel::Closed(n))
            } else {
                Err(bad())
            };
        }
        if let Some(r) = s.strip_prefix('p') {
            let r: f64 = r.parse().map_err(|_| bad())?;
            return if r.is_finite() && r > 0.0 {
                Ok(LoadLevel::Open(r))
            } else {
                Err(bad())
            };
        }
        Err(bad())
    }
}

/// A load level at an optional GPU power limit: what a configuration adds to
/// `model@dataset` when a suite sweeps load or power limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OperatingPoint {
    /// How requests are offered.
    pub load: LoadLevel,
    /// The GPU power limit set for its repetitions (W); `None` leaves the limit as found.
    pub power_limit_w: Option<u32>,
}

impl OperatingPoint {
    /// The study's regime at the limit found: one request at a time.
    pub const UNBATCHED: OperatingPoint = OperatingPoint {
        load: LoadLevel::UNBATCHED,
        power_limit_w: None,
    };
}

impl fmt::Display for OperatingPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.load)?;
        if let Some(w) = self.power_limit_w {
            write!(f, "-{w}w")?;
        }
        Ok(())
    }
}

impl FromStr for OperatingPoint {
    type Err = LoadLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LoadLevelError(s.to_string());
        let (load, limit) = match s.split_once('-') {
            Some((load, limit)) => (load, Some(limit)),
            None => (s, None),
        };
        let power_limit_w = match limit {
            Some(l) => {
                let w: u32 = l
                    .strip_suffix('w')
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?;
                if w == 0 {
                    return Err(bad());
                }
                Some(w)
            }
            None => None,
        };
        Ok(OperatingPoint {
            load: load.parse().map_err(|_| bad())?,
            power_limit_w,
        })
    }
}

impl Serialize for OperatingPoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OperatingPoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A latency figure a target bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyMetric {
    /// Median end-to-end latency.
    E2eP50,
    /// 90th percentile end-to-end latency.
    E2eP90,
    /// 99th percentile end-to-end latency.
    E2eP99,
    /// Median time to first token.
    TtftP50,
    /// 90th percentile time to first token.
    TtftP90,
    /// Median inter-token latency.
    ItlP50,
    /// 90th percentile inter-token latency.
    ItlP90,
}

impl LatencyMetric {
    /// Every metric, in declaration order.
    pub const ALL: [LatencyMetric; 7] = [
        LatencyMetric::E2eP50,
        LatencyMetric::E2eP90,
        LatencyMetric::E2eP99,
        LatencyMetric::TtftP50,
        LatencyMetric::TtftP90,
        LatencyMetric::ItlP50,
        LatencyMetric::ItlP90,
    ];

    /// The name used in suites, `run.json` and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            LatencyMetric::E2eP50 => "e2e_p50",
            LatencyMetric::E2eP90 => "e2e_p90",
            LatencyMetric::E2eP99 => "e2e_p99",
            LatencyMetric::TtftP50 => "ttft_p50",
            LatencyMetric::TtftP90 => "ttft_p90",
            LatencyMetric::ItlP50 => "itl_p50",
            LatencyMetric::ItlP90 => "itl_p90",
        }
    }

    /// The metric named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for LatencyMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A latency bound: the report names, per model and dataset, the lowest-energy load level
/// whose `metric` is at most `ms`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyTarget {
    /// The figure bounded.
    pub metric: LatencyMetric,
    /// The bound (ms).
    pub ms: f64,
}

/// `run.json`'s `load`: what the suite asked of load levels that the report needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadInfo {
    /// Latency targets, in suite order.
    #[serde(default)]
    pub latency_targets: Vec<LatencyTarget>,
    /// Share of an open-loop repetition's first arrivals counted as ramp-up (0.1 when a
    /// writer left it out).
    #[serde(default = "default_ramp_share")]
    pub open_loop_ramp_share: f64,
}

impl Default for LoadInfo {
    fn default() -> Self {
        Self {
            latency_targets: Vec::new(),
            open_loop_ramp_share: default_ramp_share(),
        }
    }
}

fn default_ramp_share() -> f64 {
    0.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_round_trip_through_their_text() {
        for text in ["c1", "c16", "p2.5", "p10", "c4-300w", "p0.5-150w"] {
            let p: OperatingPoint = text.parse().expect(text);
            assert_eq!(p.to_string(), text);
        }
        assert_eq!(
            "c8-250w".parse::<OperatingPoint>(),
            Ok(OperatingPoint {
                load: LoadLevel::Closed(8),
                power_limit_w: Some(250)
            })
        );
    }

    #[test]
    fn bad_points_are_refused_with_the_forms_allowed() {
        for text in [
            "", "c0", "p0", "p-1", "pinf", "x3", "c4-300", "c4-0w", "c", "c4-w",
        ] {
            let e = text.parse::<OperatingPoint>().expect_err(text);
            assert!(e.to_string().contains("`cN`"), "{e}");
        }
    }

    #[test]
    fn metrics_have_one_name_each() {
        for m in LatencyMetric::ALL {
            assert_eq!(LatencyMetric::from_name(m.as_str()), Some(m));
        }
        assert_eq!(LatencyMetric::from_name("e2e"), None);
    }
}
