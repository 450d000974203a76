//! Why a request could not be built or an answer did not match its protocol.

/// What did not match the protocol; the text goes into `requests.csv`'s `error` column.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    /// The answer body is not JSON.
    #[error("answer is not JSON: {0}")]
    NotJson(String),
    /// No string where the protocol puts the output.
    #[error("answer has no string at {0}")]
    NoStringAt(String),
    /// The answer has another shape than the protocol's.
    #[error("{0}")]
    Shape(&'static str),
    /// Nothing at a JSON template's output pointer.
    #[error("answer has nothing at {0:?} (json_template.output)")]
    NothingAt(String),
    /// Null at a JSON template's output pointer.
    #[error("answer has null at {0:?}")]
    NullAt(String),
    /// A JSON template's placeholder that no value fills.
    #[error(
        "the JSON template uses {{{0}}}, which is neither prompt, model, max_tokens nor a dataset field"
    )]
    UnknownPlaceholder(String),
    /// A JSON template string that is not a template.
    #[error("{0}")]
    BadTemplate(String),
    /// A streamed event that is not JSON (`what`: chunk or event).
    #[error("stream {what} is not JSON: {reason}; {what} began: {begin}")]
    StreamNotJson {
        /// `chunk` (OpenAI) or `event` (TGI).
        what: &'static str,
        /// The JSON error.
        reason: String,
        /// The start of the event.
        begin: String,
    },
    /// The server sent an error event mid-stream (`kind`: ` (type)` or empty).
    #[error("server reported an error mid-stream{kind}: {message}")]
    StreamError {
        /// ` (error_type)`, or empty.
        kind: String,
        /// The start of the server's message.
        message: String,
    },
    /// A streamed event without the keys the protocol's events have.
    #[error("stream {what} has neither {keys}: {begin}")]
    StreamForeign {
        /// `chunk` (OpenAI) or `event` (TGI).
        what: &'static str,
        /// The keys expected, e.g. "`choices` nor `usage`".
        keys: &'static str,
        /// The start of the event.
        begin: String,
    },
    /// The stream ended before its last event (`what` says after how much).
    #[error("stream ended before {0}")]
    StreamCut(String),
}
