//! Sending a batch of requests for one configuration and recording each as it ends.

use super::sink::RecordSink;
use crate::client::HttpClient;
use crate::plan::Configuration;
use crate::protocol::{Parsed, Prepared};
use crate::writer::WriteError;
use futures_util::StreamExt;
use futures_util::stream;
use indicatif::ProgressBar;
use probes::MonotonicClock;
use records::answers::AnswerRecord;
use records::load::LoadLevel;
use records::raw::{Phase, RequestRecord, RequestStatus};
use std::sync::atomic::{AtomicBool, Ordering};

/// Requests of one configuration, prepared once before any is sent.
pub struct PreparedInputs {
    /// (dataset row number, request) in sending order; repeats past the end.
    pub requests: Vec<(u64, Prepared)>,
    /// Each request's reference answers, in the same order (empty lists without any).
    pub expected: Vec<Vec<String>>,
}

/// What a batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchResult {
    /// Requests sent and recorded.
    pub sent: u32,
    /// Of those, requests that failed.
    pub failures: u32,
    /// The first failure's message.
    pub first_error: Option<String>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// Requests that got an HTTP answer (of any status).
    pub answered: u32,
    /// Why it stopped early because the server stopped answering, as counted when it decided to (requests still in flight may
    /// end differently afterwards).
    pub stop_cause: Option<StopCause>,
}

impl BatchResult {
    /// Whether the batch stopped early because the server stopped answering.
    pub fn server_gone(&self) -> bool {
        self.stop_cause.is_some()
    }
}

/// Why a batch stopped sending before its last request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopCause {
    /// This many connection failures in a row: the server is gone.
    ConnectionFailures(u32),
    /// This many timeouts in a row: the server is hung.
    Timeouts(u32),
    /// This many answers in a row with the same HTTP error status: the server cannot serve
    /// the configuration (its model unloaded, a wrong path).
    HttpErrors(u32),
}

/// Consecutive connection failures after which a batch stops: the server is gone.
pub const SERVER_GONE_FAILURES: u32 = 3;

/// Consecutive timeouts after which a batch stops: the server is hung (each further
/// request would cost a whole timeout and measure nothing).
pub const SERVER_HUNG_TIMEOUTS: u32 = 3;

/// Consecutive answers with the same HTTP error status after which a batch stops: the
/// server answers but cannot serve the configuration (each further request measures
/// nothing), while an occasional error stays within schedule.max_failure_share.
pub const SERVER_ERROR_STREAK: u32 = 10;

/// Where a batch belongs.
pub struct BatchSpec<'a> {
    /// The configuration.
    pub config: &'a Configuration,
    /// Warm-up or measured.
    pub phase: Phase,
    /// Repetition number (0 for warm-up).
    pub repetition: u32,
    /// Index of the first request (warm-ups continued on resume start past 0).
    pub first_index: u32,
    /// Added to the times written (a resumed run continues the interrupted timeline).
    pub t_offset_ns: u64,
    /// Requests to send.
    pub count: u32,
    /// How they are offered: closed-loop clients or open-loop arrivals.
    pub load: LoadLevel,
    /// Seed of open-loop arrival times ([`crate::arrivals::batch_seed`]).
    pub arrival_seed: u64,
}

/// Most open-loop requests in flight at once: arrivals due beyond it wait for a slot, and
/// the wait shows as `t_start_ns − t_scheduled_ns` (each needs a socket, and the usual
/// open-file limit is 1,024).
pub const OPEN_LOOP_MAX_IN_FLIGHT: usize = 768;

/// How often a batch looks at its stop flags for the arrivals still waiting.
const HALT_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Sends `spec.count` requests, as `spec.load` offers them (closed loop: at most N at a
/// time, each sent when one ends; open loop: each at its seeded Poisson arrival time,
/// whatever is in flight, up to [`OPEN_LOOP_MAX_IN_FLIGHT`]), stopping early when
/// `stop` is set (requests in flight finish and are recorded), after
/// [`SERVER_GONE_FAILURES`] consecutive connection failures, after
/// [`SERVER_HUNG_TIMEOUTS`] consecutive timeouts, or after [`SERVER_ERROR_STREAK`]
/// consecutive answers with the same HTTP error status.
pub async fn send_batch(
    spec: &BatchSpec<'_>,
    client: &HttpClient,
    inputs: &PreparedInputs,
    clock: &MonotonicClock,
    stop: &AtomicBool,
    out: &mut RecordSink,
    progress: &ProgressBar,
) -> Result<BatchResult, WriteError> {
    let n = inputs.requests.len().max(1);
    let config = spec.config;
    let max_tokens = config.generation.map(|g| u64::from(g.max_tokens));
    let mut result = BatchResult::default();
    // The status (and HTTP status) of the last requests to end, and how many in a row
    // ended with it.
    let mut streak = ((RequestStatus::Ok, None), 0u32);
    let gone = AtomicBool::new(false);
    let go_on = || !stop.load(Ordering::SeqCst) && !gone.load(Ordering::SeqCst);
    let (in_flight, arrivals) = match spec.load {
        LoadLevel::Closed(clients) => (clients.max(1) as usize, None),
        LoadLevel::Open(rate) => (
            OPEN_LOOP_MAX_IN_FLIGHT,
            Some(crate::arrivals::poisson_offsets_ns(
                rate,
                spec.count,
                spec.arrival_seed,
            )),
        ),
    };
    let (halt_tx, halt_rx) = tokio::sync::watch::channel(false);
    let (t0, t0_ns) = (tokio::time::Instant::now(), clock.now_ns());
    let arrivals = arrivals.as_deref();
    let mut outcomes = stream::iter(spec.first_index..spec.first_index.saturating_add(spec.count))
        .take_while(|_| std::future::ready(go_on()))
        .map(|index| {
            let (row, prepared) = &inputs.requests[index as usize % n];
            let due = arrivals
                .and_then(|a| a.get((index - spec.first_index) as usize))
                .copied();
            let mut halted = halt_rx.clone();
            async move {
                if let Some(offset) = due {
                    let due_at = t0 + std::time::Duration::from_nanos(offset);
                    tokio::select! {
                        () = tokio::time::sleep_until(due_at) => {}
                        _ = halted.wait_for(|h| *h) => return None,
                    }
                    if !go_on() {
                        return None; // stopped while waiting for its arrival: never sent
                    }
                }
                let outcome = client.send(config.wire.as_ref(), prepared, clock).await;
                let scheduled = due.map(|offset| t0_ns + offset);
                Some((index, *row, prepared.pins_output_length, scheduled, outcome))
            }
        })
        .buffer_unordered(in_flight);
    // Arrivals waiting for their due time wake when the batch must stop, not at their
    // time (a slow open loop may hold hundreds for minutes): one watcher polls the flags
    // and tells them all. A closed loop has no waiting arrival and no watcher.
    let open_loop = arrivals.is_some();
    let watch = async {
        if !open_loop {
            return std::future::pending().await;
        }
        while go_on() {
            tokio::time::sleep(HALT_POLL).await;
        }
        let _ = halt_tx.send(true);
    };
    let consume = async {
        // Waiting rows are written when they come due, even while no request ends. One
        // timer, set again only when the due time moves (after each write), not per request.
        let timer = tokio::time::sleep(std::time::Duration::ZERO);
        tokio::pin!(timer);
        let mut armed = None;
        loop {
            let due = out.write_due();
            if due != armed {
                if let Some(at) = due {
                    timer.as_mut().reset(tokio::time::Instant::from_std(at));
                }
                armed = due;
            }
            let next = tokio::select! {
                next = outcomes.next() => next,
                () = &mut timer, if armed.is_some() => {
                    out.write_waiting_rows()?;
                    continue;
                }
            };
            let Some(next) = next else {
                break;
            };
            let Some((index, row, pins, scheduled, mut outcome)) = next else {
                continue;
            };
            let no_answer = Parsed::default();
            let parsed = outcome.parsed.as_ref().unwrap_or(&no_answer);
            let pinned = pins
                && outcome.status == RequestStatus::Ok
                && parsed
                    .completion_tokens
                    .is_none_or(|c| Some(c) == max_tokens);
            out.request(&RequestRecord {
                config: config.id.clone(),
                model: config.model.clone(),
                dataset: config.dataset.clone(),
                phase: spec.phase,
                repetition: spec.repetition,
                index,
                row,
                t_start_ns: outcome.t_start_ns + spec.t_offset_ns,
                t_end_ns: outcome.t_end_ns + spec.t_offset_ns,
                latency_ms: outcome.t_end_ns.saturating_sub(outcome.t_start_ns) as f64 / 1e6,
                ttft_ms: outcome.ttft_ns.map(|t| t as f64 / 1e6),
                itl_ms: outcome.mean_itl_ms,
                status: outcome.status,
                http_status: outcome.http_status,
                prompt_tokens: parsed.prompt_tokens,
                completion_tokens: parsed.completion_tokens,
                output_pinned: pinned,
                output_chars: parsed.output_chars,
                error: outcome.error.clone(),
                completion_tokens_source: outcome
                    .completion_tokens_source
                    .filter(|_| parsed.completion_tokens.is_some()),
                pin_requested: config.generation.map(|g| g.pin_output_length),
                itl_p50_ms: outcome.itl_p50_ms,
                t_scheduled_ns: scheduled.map(|t| t + spec.t_offset_ns),
            })?;
            if spec.phase == Phase::Measured {
                out.answer(&AnswerRecord {
                    config: config.id.clone(),
                    repetition: spec.repetition,
                    index,
                    row,
                    answer: outcome
                        .parsed
                        .take()
                        .filter(|_| outcome.status == RequestStatus::Ok)
                        .and_then(|p| p.answer),
                    expected: inputs
                        .expected
                        .get(index as usize % n)
                        .cloned()
                        .unwrap_or_default(),
                })?;
            }
            result.sent += 1;
            if outcome.http_status.is_some() {
                result.answered += 1;
            }
            // Timeouts and connection failures count alike whatever the HTTP status (a
            // timeout may come after the headers); HTTP errors only with the same status.
            let code = outcome
                .http_status
                .filter(|_| outcome.status == RequestStatus::HttpError);
            let key = (outcome.status, code);
            streak = match streak {
                (last, n) if last == key => (last, n + 1),
                _ => (key, 1),
            };
            if outcome.status != RequestStatus::Ok {
                result.failures += 1;
                if result.first_error.is_none() {
                    result.first_error = Some(outcome.error.clone());
                }
                result.last_error = Some(outcome.error.clone());
            }
            let cause = match streak {
                ((RequestStatus::Connection, _), n) if n >= SERVER_GONE_FAILURES => {
                    Some(StopCause::ConnectionFailures(n))
                }
                ((RequestStatus::Timeout, _), n) if n >= SERVER_HUNG_TIMEOUTS => {
                    Some(StopCause::Timeouts(n))
                }
                ((RequestStatus::HttpError, _), n) if n >= SERVER_ERROR_STREAK => {
                    Some(StopCause::HttpErrors(n))
                }
                _ => None,
            };
            if cause.is_some() && result.stop_cause.is_none() {
                result.stop_cause = cause;
                gone.store(true, Ordering::SeqCst);
            }
            if spec.phase == Phase::Measured {
                progress.inc(1);
            }
        }
        Ok::<(), WriteError>(())
    };
    // The batch ends when its last answer is recorded: the watcher is dropped then, not
    // waited for (its next poll would add up to HALT_POLL to the repetition's window).
    let consumed = {
        tokio::pin!(consume);
        tokio::select! {
            done = &mut consume => done,
            () = watch => consume.await,
        }
    };
    // The batch's rows reach their files at its end, whether or not it ended well.
    let written = out.write_waiting_rows();
    consumed?;
    written?;
    Ok(result)
}
