//! The figures of one repetition at a load level, each a value or the reason it has none.

use super::apportion::{Shares, apportion};
use super::latency;
use super::open_loop;
use super::requests::LoadRequest;
use super::window::{Window, steady};
use crate::stats::{mean, quantile_sorted};
use records::load::LoadLevel;

/// A figure of one repetition, or why it has none.
pub type Known = Result<f64, String>;

/// What one repetition contributes, besides its requests.
#[derive(Clone, Debug, Default)]
pub struct RepInputs<'a> {
    /// Counted machine energy over the steady window (J), when known.
    pub window_j: Option<f64>,
    /// Idle power of the counted domains from the configuration's baseline (W).
    pub idle_w: Option<f64>,
    /// Whether the run has samples at all.
    pub has_samples: bool,
    /// Boundaries and energies of the apportionment's segments.
    pub segments: Option<(&'a [u64], &'a [Option<f64>])>,
    /// Windows shorter than this (s) are flagged: a few sample intervals.
    pub short_s: f64,
    /// Share of open-loop arrivals counted as ramp-up.
    pub ramp_share: f64,
}

/// The figures of one repetition.
#[derive(Clone, Debug)]
pub struct RepFigures {
    /// Its steady-state window.
    pub window: Result<Window, String>,
    /// Whether that window is shorter than a few sample intervals.
    pub short: bool,
    /// Window length (s).
    pub duration_s: Known,
    /// Successful requests ending inside.
    pub completions: Known,
    /// Request-equivalents served inside ([`Window::served`]).
    pub served: Known,
    /// Window energy / request-equivalents served inside (J).
    pub energy_per_request: Known,
    /// The same net of idle (J).
    pub net_energy_per_request: Known,
    /// Window energy / tokens generated inside (J).
    pub energy_per_token: Known,
    /// Mean completion tokens of the successful requests.
    pub output_tokens: Known,
    /// Per-token energy × mean output length (J), ML.ENERGY's energy per response.
    pub energy_per_response: Known,
    /// Request-equivalents served / window length (1/s).
    pub rps: Known,
    /// Tokens inside / window length (1/s).
    pub tps: Known,
    /// Latency of the steady-state requests.
    pub latency: latency::Latency,
    /// Open loop: (arrivals − 1) / span of the scheduled times (1/s).
    pub offered: Known,
    /// Open loop: (successful answers − 1) / span of their ends (1/s).
    pub achieved: Known,
    /// Open loop: client lag (start − scheduled) p50 and p99 (ms).
    pub lag: [Known; 2],
    /// Mean apportioned energy to the first token (J).
    pub prefill: Known,
    /// Apportioned decode energy per output token after the first (J).
    pub decode_per_token: Known,
}

const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// Three percentiles (p50, p90, p99) of `values`, or `why` each when there are none.
pub fn percentiles(mut values: Vec<f64>, why: &str) -> [Known; 3] {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    QUANTILES.map(|q| {
        if values.is_empty() {
            Err(why.to_string())
        } else {
            Ok(quantile_sorted(&values, q))
        }
    })
}

/// `Ok(a / b)` when `b` is positive, else `why`.
fn ratio(a: f64, b: f64, why: &str) -> Known {
    if b > 0.0 && a.is_finite() {
        Ok(a / b)
    } else {
        Err(why.to_string())
    }
}

/// The figures of one repetition at `level` from its measured requests (start order).
pub fn figures(level: LoadLevel, requests: &[LoadRequest], input: &RepInputs<'_>) -> RepFigures {
    let window = steady(level, requests, input.ramp_share);
    let ok: Vec<&LoadRequest> = requests.iter().filter(|r| r.ok).collect();
    let no_window = |w: &Result<Window, String>| match w {
        Ok(_) => String::new(),
        Err(e) => format!("no steady-state window: {e}"),
    };
    let why_window = no_window(&window);
    let win = window.as_ref().ok();
    let duration_s: Known = win.map(Window::duration_s).ok_or(why_window.clone());
    let completions: Known = win
        .map(|w| w.completions(requests) as f64)
        .ok_or(why_window.clone());
    let served: Known = win.map(|w| w.served(requests)).ok_or(why_window.clone());
    let energy: Known = match (win, input.window_j) {
        (None, _) => Err(why_window.clone()),
        (Some(_), Some(e)) => Ok(e),
        (Some(_), None) if !input.has_samples => {
            Err("no samples.csv: the window's energy cannot be found".to_string())
        }
        (Some(_), None) => Err(
            "no known energy over the window (no sample around an edge, or a counter gap)"
                .to_string(),
        ),
    };
    let net: Known = match (&energy, &duration_s, input.idle_w) {
        (Ok(e), Ok(d), Some(w)) => Ok(e - w * d),
        (Err(e), _, _) | (_, Err(e), _) => Err(e.clone()),
        (_, _, None) => Err("no idle baseline for this configuration".to_string()),
    };
    let per = |x: &Known| -> Known {
        let s = served.clone()?;
        ratio(
            x.clone()?,
            s,
            "no successful request was served inside the steady window",
        )
    };
    let tokens: Known = match win {
        Some(w) => w.tokens(requests),
        None => Err(why_window.clone()),
    };
    let energy_per_token: Known = energy.clone().and_then(|e| {
        ratio(
            e,
            tokens.clone()?,
            "no tokens generated inside the steady window",
        )
    });
    let counts: Vec<f64> = ok
        .iter()
        .filter_map(|r| r.completion_tokens)
        .map(|t| t as f64)
        .collect();
    let output_tokens: Known = if counts.is_empty() {
        Err("no completion tokens: not a generator, or the server reported no counts".to_string())
    } else {
        Ok(mean(&counts))
    };
    let energy_per_response = energy_per_token
        .clone()
        .and_then(|e| Ok(e * output_tokens.clone()?));
    let rps = served
        .clone()
        .and_then(|c| ratio(c, duration_s.clone()?, "empty window"));
    let tps = tokens
        .clone()
        .and_then(|t| ratio(t, duration_s.clone()?, "empty window"));
    let latency = latency::steady(level, requests, win, &why_window);
    let (offered, achieved, lag) = open_loop::rates(level, requests);
    let (prefill, decode_per_token) =
        prefill_decode(level, requests, win, input.segments, &why_window);
    RepFigures {
        short: win.is_some_and(|w| w.duration_s() < input.short_s),
        energy_per_request: per(&energy),
        net_energy_per_request: per(&net),
        energy_per_token,
        output_tokens,
        energy_per_response,
        rps,
        tps,
        latency,
        offered,
        achieved,
        lag,
        prefill,
        decode_per_token,
        window,
        duration_s,
        completions,
        served,
    }
}

/// Mean apportioned energy to the first token and decode energy per output token of the
/// successful streamed steady-state requests ([`Window::holds`]).
fn prefill_decode(
    level: LoadLevel,
    requests: &[LoadRequest],
    window: Option<&Window>,
    segments: Option<(&[u64], &[Option<f64>])>,
    why_window: &str,
) -> (Known, Known) {
    let fail = |why: &str| (Err(why.to_string()), Err(why.to_string()));
    if !requests
        .iter()
        .any(|r| r.ok && r.t_first_token_ns().is_some())
    {
        return fail("answers not streamed: no first-token time to split prefill from decode");
    }
    let Some(w) = window else {
        return fail(why_window);
    };
    let Some((bounds, energy)) = segments else {
        return fail("no samples.csv: nothing to apportion");
    };
    let shares = apportion(requests, bounds, energy);
    let inside: Vec<(&LoadRequest, &Result<Shares, String>)> = requests
        .iter()
        .zip(&shares)
        .filter(|(r, _)| r.ok && r.t_first_token_ns().is_some() && w.holds(level, r))
        .collect();
    if inside.is_empty() {
        return fail(if level.is_open() {
            "no streamed request arrived inside the steady window"
        } else {
            "no streamed request lies wholly inside the steady window"
        });
    }
    let known: Result<Vec<(&LoadRequest, Shares)>, String> = inside
        .into_iter()
        .map(|(r, s)| s.clone().map(|s| (r, s)))
        .collect();
    let known = match known {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    let prefill = mean(&known.iter().map(|(_, s)| s.prefill_j).collect::<Vec<_>>());
    let (decode_j, tokens) = known
        .iter()
        .filter_map(|(r, s)| {
            r.completion_tokens
                .filter(|&t| t >= 2)
                .map(|t| (s.decode_j, t - 1))
        })
        .fold((0.0, 0u64), |(e, n), (de, dn)| (e + de, n + dn));
    let decode = ratio(
        decode_j,
        tokens as f64,
        "no streamed request with two or more counted tokens inside the steady window",
    );
    (Ok(prefill), decode)
}
