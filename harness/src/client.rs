//! Sending one request over a keep-alive HTTP connection and classifying how it ended.

use crate::protocol::{Parsed, Prepared, Protocol, ProtocolError, StreamDecoder};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use probes::MonotonicClock;
use records::raw::RequestStatus;
use records::tokens::TokenSource;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An HTTP client for one server: keep-alive pool, timeout, optional bearer token.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    /// Each path's URL on this server, parsed at its first request.
    endpoints: Arc<Mutex<Vec<(String, reqwest::Url)>>>,
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
    /// Time to first token (ns after start), for streamed answers.
    pub ttft_ns: Option<u64>,
    /// Mean inter-token latency (ms), for streamed answers with two or more text chunks.
    pub mean_itl_ms: Option<f64>,
    /// Median inter-token latency (ms), for streamed answers with two or more text chunks.
    pub itl_p50_ms: Option<f64>,
    /// Where the completion-token count came from, when there is one.
    pub completion_tokens_source: Option<TokenSource>,
    /// Error message, for failures.
    pub error: String,
}

/// How reading an answer went wrong.
enum Failure {
    Transport(reqwest::Error),
    BadResponse(String),
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
            endpoints: Arc::default(),
        })
    }

    /// `url`, the URL of `path` on this server, parsed once (`None` when it is not a URL).
    fn endpoint(&self, path: &str, url: &str) -> Option<reqwest::Url> {
        let mut known = self
            .endpoints
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, parsed)) = known.iter().find(|(p, _)| p == path) {
            return Some(parsed.clone());
        }
        let parsed = reqwest::Url::parse(url).ok()?;
        known.push((path.to_string(), parsed.clone()));
        Some(parsed)
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends one prepared request and reads the whole answer (a stream to its end).
    pub async fn send(
        &self,
        protocol: &dyn Protocol,
        prepared: &Prepared,
        clock: &MonotonicClock,
    ) -> Outcome {
        let url = format!("{}{}", self.base_url, prepared.path);
        let mut request = match self.endpoint(&prepared.path, &url) {
            Some(parsed) => self.client.post(parsed),
            // Not a URL: reqwest says why when the request is sent.
            None => self.client.post(&url),
        };
        request = request.json(&prepared.body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let t_start_ns = clock.now_ns();
        let mut outcome = Outcome {
            t_start_ns,
            t_end_ns: t_start_ns,
            status: RequestStatus::Ok,
            http_status: None,
            parsed: None,
            ttft_ns: None,
            mean_itl_ms: None,
            itl_p50_ms: None,
            completion_tokens_source: None,
            error: String::new(),
        };
        let result = match request.send().await {
            Ok(response) => {
                let code = response.status();
                outcome.http_status = Some(code.as_u16());
                let stream = protocol
                    .stream_decoder()
                    .filter(|_| prepared.stream && code.is_success());
                match stream {
                    Some(decoder) => read_stream(response, decoder, clock, &mut outcome).await,
                    None => read_whole(response, protocol, &url, &mut outcome).await,
                }
            }
            Err(e) => Err(Failure::Transport(e)),
        };
        outcome.t_end_ns = clock.now_ns();
        match result {
            Ok(()) => {}
            Err(Failure::Transport(e)) => {
                outcome.status = classify(&e);
                outcome.error = naming(describe(&e), &url);
            }
            Err(Failure::BadResponse(message)) => {
                outcome.status = RequestStatus::BadResponse;
                outcome.error = format!("bad answer from POST {url}: {message}");
            }
        }
        outcome
    }
}

/// Reads a whole answer body and parses it, or records the HTTP error (naming `url`).
async fn read_whole(
    response: reqwest::Response,
    protocol: &dyn Protocol,
    url: &str,
    outcome: &mut Outcome,
) -> Result<(), Failure> {
    let code = response.status();
    let body = response.bytes().await.map_err(Failure::Transport)?;
    if !code.is_success() {
        outcome.status = RequestStatus::HttpError;
        outcome.error = format!("HTTP {code} from POST {url}: {}", snippet(&body));
        return Ok(());
    }
    let parsed = protocol
        .parse_body(&body)
        .map_err(|e| Failure::BadResponse(format!("{e}; answer began: {}", snippet(&body))))?;
    // A whole answer's count can only be the server's own.
    outcome.completion_tokens_source = parsed.completion_tokens.map(|_| TokenSource::Usage);
    outcome.parsed = Some(parsed);
    Ok(())
}

/// Reads a server-sent-event stream to its end, timing the events that carry text.
async fn read_stream(
    response: reqwest::Response,
    mut answer: Box<dyn StreamDecoder>,
    clock: &MonotonicClock,
    outcome: &mut Outcome,
) -> Result<(), Failure> {
    // Read to the end of the body even once done, so the connection is kept alive.
    timed_events(response.bytes_stream(), clock, |data, t_ns| {
        if answer.done() {
            return Ok(());
        }
        answer.event(data, t_ns).map_err(bad_response)
    })
    .await?;
    let (parsed, timing) = answer.finish().map_err(bad_response)?;
    outcome.parsed = Some(parsed);
    outcome.ttft_ns = timing
        .first_token_ns
        .map(|t| t.saturating_sub(outcome.t_start_ns));
    outcome.mean_itl_ms = timing.mean_itl_ms;
    outcome.itl_p50_ms = timing.itl_p50_ms;
    outcome.completion_tokens_source = timing.completion_tokens_source;
    Ok(())
}

/// Hands `take` the data of every server-sent event of `body` (decoded by
/// `eventsource-stream`) with the time the bytes that completed it arrived.
///
/// `eventsource-stream` reads more bytes only once the events already read are taken, so
/// the arrival time of the last read is that of every event it yields until the next read:
/// events that came in one read share its time exactly. A blank line added after the body
/// ends an event the stream ended in without one.
async fn timed_events<B: AsRef<[u8]>>(
    body: impl futures_util::Stream<Item = Result<B, reqwest::Error>>,
    clock: &MonotonicClock,
    mut take: impl FnMut(&str, u64) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let arrived_ns = AtomicU64::new(clock.now_ns());
    let tail = futures_util::stream::once(std::future::ready(Ok(Chunk::End)));
    let events = body
        .map(|read| read.map(Chunk::Body))
        .chain(tail)
        .inspect(|_| arrived_ns.store(clock.now_ns(), Ordering::Relaxed))
        .eventsource();
    futures_util::pin_mut!(events);
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| match e {
            eventsource_stream::EventStreamError::Transport(e) => Failure::Transport(e),
            other => Failure::BadResponse(format!("not a server-sent-event stream: {other}")),
        })?;
        take(&event.data, arrived_ns.load(Ordering::Relaxed))?;
    }
    Ok(())
}

/// A read of the body, or the blank line added after its end.
enum Chunk<B> {
    Body(B),
    End,
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Chunk<B> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Chunk::Body(b) => b.as_ref(),
            Chunk::End => b"\n\n",
        }
    }
}

/// An answer that did not match its protocol.
fn bad_response(e: ProtocolError) -> Failure {
    Failure::BadResponse(e.to_string())
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

/// A transport error with its causes (its URL, "Connection refused"), on one line.
pub fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.replace('\n', " ")
}

/// `text`, followed by ` (POST url)` unless it already names `url` (reqwest names it on
/// sending errors, not on errors reading the body).
fn naming(text: String, url: &str) -> String {
    if text.contains(url) {
        text
    } else {
        format!("{text} (POST {url})")
    }
}

/// The first 200 characters of a body, on one line.
fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(200)
        .collect::<String>()
        .replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::OpenaiCompletions;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Events split across reads, every line ending, comments, other fields and a last
    /// event without its blank line all decode; events of one read share its arrival time.
    #[tokio::test]
    async fn events_are_decoded_across_reads_and_timed_by_the_read_that_completes_them() {
        let clock = MonotonicClock::new();
        let reads: Vec<Result<&[u8], reqwest::Error>> = vec![
            Ok(b"data: {\"a\""),
            Ok(b":1}\n\n: keep-alive\n\ndata:x\r\ndata: y\r\n\r\n"),
            Ok(b"event: ping\ndata: [DONE]\r\rdata: tail"),
        ];
        let mut got = Vec::new();
        timed_events(futures_util::stream::iter(reads), &clock, |data, t| {
            got.push((data.to_string(), t));
            Ok(())
        })
        .await
        .map_err(|_| "a failure")
        .expect("decodes");
        let data: Vec<&str> = got.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(data, ["{\"a\":1}", "x\ny", "[DONE]", "tail"]);
        assert_eq!(got[0].1, got[1].1, "one read, one arrival time");
        assert!(got[2].1 >= got[1].1 && got[3].1 >= got[2].1);
    }

    /// A loopback server answering every connection once with `response`; its base URL.
    async fn answering(response: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = vec![0; 65536];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        url
    }

    fn prepared() -> Prepared {
        Prepared {
            path: "/v1/completions".into(),
            body: serde_json::json!({"prompt": "p"}),
            pins_output_length: false,
            stream: false,
        }
    }

    #[tokio::test]
    async fn an_answer_that_is_not_json_names_the_url_requested() {
        let base = answering(
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 6\r\nconnection: close\r\n\r\n<html>",
        )
        .await;
        let client = HttpClient::new(&base, Duration::from_secs(5), None).expect("client");
        let outcome = client
            .send(&OpenaiCompletions, &prepared(), &MonotonicClock::new())
            .await;
        assert_eq!(outcome.status, RequestStatus::BadResponse);
        let url = format!("{base}/v1/completions");
        assert!(outcome.error.contains(&url), "{}", outcome.error);
        assert!(outcome.error.contains("not JSON"), "{}", outcome.error);
        assert!(outcome.error.contains("<html>"), "{}", outcome.error);
    }

    #[tokio::test]
    async fn a_body_cut_short_names_the_url_requested() {
        let base = answering(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"a\"",
        )
        .await;
        let client = HttpClient::new(&base, Duration::from_secs(5), None).expect("client");
        let outcome = client
            .send(&OpenaiCompletions, &prepared(), &MonotonicClock::new())
            .await;
        assert_ne!(outcome.status, RequestStatus::Ok);
        let url = format!("{base}/v1/completions");
        assert!(outcome.error.contains(&url), "{}", outcome.error);
    }
}
