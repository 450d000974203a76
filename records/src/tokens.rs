//! Where a request's completion-token count came from ([`TokenSource`], column
//! `completion_tokens_source` of `requests.csv`).

use crate::labels::{LabelError, LabelVisitor, label_text};
use std::fmt;
use std::str::FromStr;

/// Where a request's `completion_tokens` came from: the server's own count, or joulebench's
/// count of the stream's content events (which servers that skip `usage` may not send one
/// per token: llama-cpp-python holds some tokens back in empty chunks, or merges them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenSource {
    /// The server's own count: an OpenAI `usage` block, TGI's `details.generated_tokens`.
    Usage,
    /// Counted by joulebench: every content event of the stream, empty ones included.
    Events,
}

label_text!(TokenSource, "completion-token source", {
    Usage => "usage",
    Events => "events",
});

impl TokenSource {
    /// Whether the count is the server's own.
    pub fn is_server_count(self) -> bool {
        self == TokenSource::Usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip_and_unknown_ones_name_the_allowed() {
        for text in TokenSource::ALLOWED {
            let s: TokenSource = text.parse().expect("allowed");
            assert_eq!(s.as_str(), *text);
        }
        let e = "chunks".parse::<TokenSource>().expect_err("unknown");
        assert_eq!(
            e.to_string(),
            "\"chunks\" is not a completion-token source: expected one of usage, events"
        );
        assert!(TokenSource::Usage.is_server_count() && !TokenSource::Events.is_server_count());
    }
}
