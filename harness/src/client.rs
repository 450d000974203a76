//! Sending one request over a keep-alive HTTP connection and classifying how it ended.

use crate::protocol::{Parsed, Prepared};
use crate::suite::ProtocolKind;
use probes::MonotonicClock;
use report::records::RequestStatus;
use std::time::Duration;

/// An HTTP client for one server: keep-alive pool, timeout, optional bearer token.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
}

/// How one request ended, timed on the run's clock.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Start (ns), just before the request is written.
    pub t_start_ns: u64,
    /// End (ns), once the whole answer is read.
    pub t_end_ns: u64,
    /// How it ended.
    pub status: RequestStatus,
    /// HTTP status code, when an answer came.
    pub http_status: Option<u16>,
    /// What the answer said, for `Ok`.
    pub parsed: Option<Parsed>,
    /// Error message, for failures.
    pub error: String,
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build an HTTP client: {0}")]
pub struct ClientError(String);

impl HttpClient {
    /// A client for `base_url` with a per-request timeout and an optional API key.
    pub fn new(
        base_url: &str,
        timeout: Duration,
        api_key: Option<String>,
    ) -> Result<Self, ClientError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends one prepared request and reads the whole answer.
    pub async fn send(
        &self,
        protocol: ProtocolKind,
        prepared: &Prepared,
        clock: &MonotonicClock,
    ) -> Outcome {
        let url = format!("{}{}", self.base_url, prepared.path);
        let mut request = self.client.post(&url).json(&prepared.body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let t_start_ns = clock.now_ns();
        let answer = match request.send().await {
            Ok(response) => {
                let code = response.status();
                response.bytes().await.map(|body| (code, body))
            }
            Err(e) => Err(e),
        };
        let t_end_ns = clock.now_ns();
        let mut outcome = Outcome {
            t_start_ns,
            t_end_ns,
            status: RequestStatus::Ok,
            http_status: None,
            parsed: None,
            error: String::new(),
        };
        match answer {
            Err(e) => {
                outcome.status = classify(&e);
                outcome.error = describe(&e);
            }
            Ok((code, body)) => {
                outcome.http_status = Some(code.as_u16());
                if !code.is_success() {
                    outcome.status = RequestStatus::HttpError;
                    outcome.error = format!("HTTP {code}: {}", snippet(&body));
                } else {
                    match protocol.parse(&body) {
                        Ok(parsed) => outcome.parsed = Some(parsed),
                        Err(e) => {
                            outcome.status = RequestStatus::BadResponse;
                            outcome.error = format!("{e}; answer began: {}", snippet(&body));
                        }
                    }
                }
            }
        }
        outcome
    }
}

/// The failure class of a transport error.
fn classify(e: &reqwest::Error) -> RequestStatus {
    if e.is_timeout() {
        RequestStatus::Timeout
    } else if e.is_decode() {
        RequestStatus::BadResponse
    } else {
        RequestStatus::Connection
    }
}

/// A transport error with its causes, on one line.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.replace('\n', " ")
}

/// The first 200 characters of a body, on one line.
fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(200)
        .collect::<String>()
        .replace('\n', " ")
}
