//! Sending one request over a keep-alive HTTP connection and classifying how it ended.

use crate::protocol::{Parsed, Prepared, Protocol, ProtocolError, SseDecoder, StreamDecoder};
use probes::MonotonicClock;
use records::raw::RequestStatus;
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
    /// Time to first token (ns after start), for streamed answers.
    pub ttft_ns: Option<u64>,
    /// Mean inter-token latency (ms), for streamed answers with two or more text chunks.
    pub mean_itl_ms: Option<f64>,
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
        })
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
        let mut request = self.client.post(&url).json(&prepared.body);
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
    outcome.parsed = Some(parsed);
    Ok(())
}

/// Reads a server-sent-event stream to its end, timing the events that carry text.
async fn read_stream(
    mut response: reqwest::Response,
    mut answer: Box<dyn StreamDecoder>,
    clock: &MonotonicClock,
    outcome: &mut Outcome,
) -> Result<(), Failure> {
    let mut sse = SseDecoder::default();
    // Read to the end of the body even once done, so the connection is kept alive.
    while let Some(bytes) = response.chunk().await.map_err(Failure::Transport)? {
        let t_ns = clock.now_ns();
        for data in sse.push(&bytes) {
            if !answer.done() {
                answer.event(&data, t_ns).map_err(bad_response)?;
            }
        }
    }
    if let Some(data) = sse.finish().filter(|_| !answer.done()) {
        answer.event(&data, clock.now_ns()).map_err(bad_response)?;
    }
    let (parsed, timing) = answer.finish().map_err(bad_response)?;
    outcome.parsed = Some(parsed);
    outcome.ttft_ns = timing
        .first_token_ns
        .map(|t| t.saturating_sub(outcome.t_start_ns));
    outcome.mean_itl_ms = timing.mean_itl_ms;
    Ok(())
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
