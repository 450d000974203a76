//! What the successful measured requests of one configuration say about their token
//! counts, output pinning and streams: where the counts came from, whether the output was
//! pinned as asked, and whether the stream's timing can be believed.

use crate::flags::Flag;
use records::raw::RequestRecord;

/// Median inter-token gap (ms) below which a stream is a burst: no model decodes a token in
/// 50 µs (the fastest decoders take about a millisecond a token), so gaps this short mean
/// the events were read together, not produced one by one.
pub const BURST_ITL_MS: f64 = 0.05;

/// Share of the latency the time to first token reaches, with more than one token, for a
/// stream to count as a burst: everything arrived at the end.
pub const BURST_TTFT_SHARE: f64 = 0.95;

/// Counts over a configuration's successful measured requests in usable repetitions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamFacts {
    /// Requests with a completion-token count.
    pub counted: u64,
    /// Of those, the ones whose count is joulebench's (content events), not the server's.
    pub not_server_counted: u64,
    /// Requests whose suite asked for a pinned output length.
    pub pin_asked: u64,
    /// Of those, the ones whose output was not pinned (the protocol cannot ask, or the
    /// server ignored `ignore_eos`/`min_tokens`).
    pub unpinned: u64,
    /// Streamed requests (with a time to first token).
    pub streamed: u64,
    /// Of those, the ones whose timing shows a burst (see [`is_bursty`]).
    pub bursty: u64,
    /// Mean inter-token latency of each streamed request that has one (ms).
    pub itl_ms: Vec<f64>,
}

/// Whether a streamed request's events came in a burst: a median inter-token gap below
/// [`BURST_ITL_MS`], or a time to first token of at least [`BURST_TTFT_SHARE`] of the
/// latency with more than one token. Files without the median use the mean gap.
pub fn is_bursty(r: &RequestRecord) -> bool {
    let Some(ttft) = r.ttft_ms else {
        return false;
    };
    let tight = r.itl_p50_ms.or(r.itl_ms).is_some_and(|g| g < BURST_ITL_MS);
    let late = r.completion_tokens.is_some_and(|n| n > 1)
        && r.latency_ms > 0.0
        && ttft >= BURST_TTFT_SHARE * r.latency_ms;
    tight || late
}

impl StreamFacts {
    /// Takes one successful measured request of a usable repetition.
    pub fn take(&mut self, r: &RequestRecord) {
        if r.completion_tokens.is_some() {
            self.counted += 1;
            if r.completion_tokens_source
                .is_some_and(|s| !s.is_server_count())
            {
                self.not_server_counted += 1;
            }
        }
        if r.pin_requested == Some(true) {
            self.pin_asked += 1;
            if !r.output_pinned {
                self.unpinned += 1;
            }
        }
        if r.ttft_ms.is_some() {
            self.streamed += 1;
            if is_bursty(r) {
                self.bursty += 1;
            }
            if let Some(itl) = r.itl_ms {
                self.itl_ms.push(itl);
            }
        }
    }

    /// Share of counted requests whose count is not the server's; `None` without counts.
    pub fn not_server_counted_share(&self) -> Option<f64> {
        share(self.not_server_counted, self.counted)
    }

    /// Share of requests asked to be pinned whose output was not; `None` when none was asked.
    pub fn unpinned_share(&self) -> Option<f64> {
        share(self.unpinned, self.pin_asked)
    }

    /// Share of streamed requests that came in a burst; `None` without streamed requests.
    pub fn bursty_share(&self) -> Option<f64> {
        share(self.bursty, self.streamed)
    }

    /// The flags these counts raise: `tokens-not-server-counted` and `output-unpinned`
    /// whenever any request is concerned, `bursty-stream` when most streamed requests are.
    pub fn flags(&self) -> Vec<Flag> {
        let mut flags = Vec::new();
        if self.not_server_counted > 0 {
            flags.push(Flag::TokensNotServerCounted {
                requests: self.not_server_counted,
                counted: self.counted,
            });
        }
        if self.unpinned > 0 {
            flags.push(Flag::OutputUnpinned {
                unpinned: self.unpinned,
                asked: self.pin_asked,
            });
        }
        if 2 * self.bursty > self.streamed {
            flags.push(Flag::BurstyStream {
                bursty: self.bursty,
                streamed: self.streamed,
            });
        }
        flags
    }
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use records::tokens::TokenSource;

    fn streamed(ttft: f64, latency: f64, itl_p50: f64, tokens: u64) -> RequestRecord {
        RequestRecord {
            ttft_ms: Some(ttft),
            latency_ms: latency,
            itl_ms: Some(itl_p50),
            itl_p50_ms: Some(itl_p50),
            t_scheduled_ns: None,
            completion_tokens: Some(tokens),
            completion_tokens_source: Some(TokenSource::Usage),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn bursts_are_tight_gaps_or_everything_at_the_end() {
        assert!(
            !is_bursty(&streamed(20.0, 200.0, 20.0, 10)),
            "a steady stream"
        );
        assert!(is_bursty(&streamed(20.0, 200.0, 0.004, 10)), "gaps of 4 µs");
        assert!(
            is_bursty(&streamed(199.0, 200.0, 0.1, 10)),
            "TTFT is the latency"
        );
        assert!(
            !is_bursty(&streamed(199.0, 200.0, 0.1, 1)),
            "one token: TTFT is all"
        );
        let mut old = streamed(20.0, 200.0, 0.004, 10);
        old.itl_p50_ms = None;
        assert!(is_bursty(&old), "a file without the median uses the mean");
        old.ttft_ms = None;
        assert!(!is_bursty(&old), "not streamed");
    }

    #[test]
    fn shares_and_flags_follow_the_requests() {
        let mut f = StreamFacts::default();
        for i in 0..4 {
            let mut r = streamed(20.0, 200.0, if i < 3 { 0.004 } else { 20.0 }, 8);
            if i % 2 == 0 {
                r.completion_tokens_source = Some(TokenSource::Events);
            }
            r.pin_requested = Some(true);
            r.output_pinned = i == 0;
            f.take(&r);
        }
        assert_eq!(f.not_server_counted_share(), Some(0.5));
        assert_eq!(f.unpinned_share(), Some(0.75));
        assert_eq!(f.bursty_share(), Some(0.75));
        let flags = f.flags();
        let text: Vec<String> = flags.iter().map(Flag::to_string).collect();
        assert_eq!(
            text,
            [
                "tokens-not-server-counted(2 of 4 requests, 50.0%)",
                "output-unpinned(3 of 4 asked to be pinned, 75.0%)",
                "bursty-stream(3 of 4 streamed requests, 75.0%)",
            ]
        );
        let quiet = StreamFacts::default();
        assert!(quiet.flags().is_empty());
        assert_eq!(
            (
                quiet.not_server_counted_share(),
                quiet.unpinned_share(),
                quiet.bursty_share()
            ),
            (None, None, None)
        );
    }
}
