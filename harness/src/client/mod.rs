//! Sending one request over a keep-alive HTTP connection and classifying how it ended.

mod http1;

pub use http1::Http1Error;

use crate::protocol::{Parsed, Prepared, Protocol, ProtocolError, StreamDecoder};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use http1::Http1Server;
use probes::MonotonicClock;
use records::raw::RequestStatus;
use records::tokens::TokenSource;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// An HTTP client for one server: keep-alive pool, timeout, optional bearer token.
///
/// A plain `http://` server is spoken to directly ([`http1`]), unless a proxy is set in
/// the environment; `https://` and proxies go through `reqwest`.
#[derive(Clone, Debug)]
pub struct HttpClient {
    /// The reqwest client, or why it could not be built. Building it loads the system's
    /// CA certificates, so it is built only for a server that needs it: up front when
    /// every request goes through it, else at its first use.
    reqwest: Arc<OnceLock<Result<reqwest::Client, ClientError>>>,
    /// The server spoken to directly, for plain HTTP without a proxy.
    plain: Option<Arc<Http1Server>>,
    base_url: String,
    api_key: Option<String>,
    timeout: Duration,
    /// Each path's URL on this server, parsed at its first request.
    endpoints: Arc<Mutex<Vec<Arc<Endpoint>>>>,
}

/// A path on the server, with its URL parsed once.
#[derive(Debug)]
struct Endpoint {
    /// The path, as the protocol gives it.
    path: String,
    /// The whole URL, as messages name it.
    text: String,
    /// The URL parsed; `None` when it is not a URL (reqwest says why when sending).
    parsed: Option<reqwest::Url>,
    /// Path and query, as a plain HTTP request line names them.
    target: String,
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
    /// Through reqwest.
    Transport(reqwest::Error),
    /// Spoken directly.
    Plain(Http1Error),
    /// No reqwest client could be built to send it.
    Unbuilt(ClientError),
    /// No whole answer within the client's timeout (spoken directly).
    TimedOut(Duration),
    /// An answer that did not match its protocol.
    BadResponse(String),
}

/// Why a client could not be built.
#[derive(Clone, Debug, thiserror::Error)]
#[error("cannot build an HTTP client: {0}")]
pub struct ClientError(String);

impl HttpClient {
    /// A client for `base_url` with a per-request timeout and an optional API key.
    pub fn new(
        base_url: &str,
        timeout: Duration,
        api_key: Option<String>,
    ) -> Result<Self, ClientError> {
        Self::with_proxy(base_url, timeout, api_key, proxy_in_environment())
    }

    /// [`HttpClient::new`], told whether a proxy is set in the environment.
    fn with_proxy(
        base_url: &str,
        timeout: Duration,
        api_key: Option<String>,
        proxied: bool,
    ) -> Result<Self, ClientError> {
        let base_url = base_url.trim_end_matches('/').to_string();
        let plain = reqwest::Url::parse(&base_url)
            .ok()
            .filter(|_| !proxied)
            .and_then(|url| Http1Server::for_url(&url))
            .map(Arc::new);
        let client = Self {
            reqwest: Arc::default(),
            plain,
            base_url,
            api_key,
            timeout,
            endpoints: Arc::default(),
        };
        if client.plain.is_none() {
            // Every request goes through reqwest: build it now, before any is timed, and
            // refuse the server if it cannot be built.
            client.reqwest()?;
        }
        Ok(client)
    }

    /// The reqwest client, built at its first use.
    fn reqwest(&self) -> Result<&reqwest::Client, ClientError> {
        let timeout = self.timeout;
        let built = self.reqwest.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(timeout)
                .tcp_nodelay(true)
                .pool_max_idle_per_host(64)
                // A redirect is recorded as the HTTP answer it is, as the direct client
                // does: following it would send the request twice.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| ClientError(e.to_string()))
        });
        built.as_ref().map_err(Clone::clone)
    }

    /// The same client, sending every request through reqwest.
    #[cfg(test)]
    fn through_reqwest(mut self) -> Self {
        self.plain = None;
        self
    }

    /// The same client, speaking to a plain HTTP server directly whatever the environment.
    #[cfg(test)]
    fn direct(mut self) -> Self {
        let url = reqwest::Url::parse(&self.base_url).expect("a URL");
        self.plain = Http1Server::for_url(&url).map(Arc::new);
        self
    }

    /// `path` on this server, its URL parsed at its first request.
    fn endpoint(&self, path: &str) -> Arc<Endpoint> {
        let mut known = self
            .endpoints
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(endpoint) = known.iter().find(|e| e.path == path) {
            return Arc::clone(endpoint);
        }
        let text = format!("{}{}", self.base_url, path);
        let parsed = reqwest::Url::parse(&text).ok();
        let target = parsed
            .as_ref()
            .map_or_else(String::new, |url| match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_string(),
            });
        let endpoint = Arc::new(Endpoint {
            path: path.to_string(),
            text,
            parsed,
            target,
        });
        known.push(Arc::clone(&endpoint));
        endpoint
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
        let endpoint = self.endpoint(&prepared.path);
        let url = endpoint.text.as_str();
        // The request is ready, its body serialised, before the clock starts.
        let ready = match (&self.plain, &endpoint.parsed) {
            (Some(server), Some(_)) => {
                let request =
                    server.request(&endpoint.target, &prepared.body, self.api_key.as_deref());
                Ready::Plain(server, request)
            }
            (_, parsed) => match self.reqwest() {
                Ok(client) => {
                    let mut request = match parsed {
                        Some(parsed) => client.post(parsed.clone()),
                        // Not a URL: reqwest says why when the request is sent.
                        None => client.post(url),
                    };
                    request = request.json(&prepared.body);
                    if let Some(key) = &self.api_key {
                        request = request.bearer_auth(key);
                    }
                    Ready::Reqwest(client, request.build().map(Box::new))
                }
                Err(e) => Ready::Unbuilt(e),
            },
        };
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
        let exchange = Exchange {
            protocol,
            prepared,
            url,
            clock,
        };
        let result = match ready {
            Ready::Plain(server, Ok(request)) => {
                let plain = send_plain(server, &request, &exchange, &mut outcome);
                match tokio::time::timeout(self.timeout, plain).await {
                    Ok(result) => result,
                    Err(_) => Err(Failure::TimedOut(self.timeout)),
                }
            }
            Ready::Plain(_, Err(e)) => Err(Failure::Plain(e)),
            Ready::Reqwest(client, Ok(request)) => {
                send_reqwest(client, *request, &exchange, &mut outcome).await
            }
            Ready::Reqwest(_, Err(e)) => Err(Failure::Transport(e)),
            Ready::Unbuilt(e) => Err(Failure::Unbuilt(e)),
        };
        outcome.t_end_ns = clock.now_ns();
        match result {
            Ok(()) => {}
            Err(Failure::Transport(e)) => {
                outcome.status = classify(&e);
                outcome.error = naming(describe(&e), url);
            }
            Err(Failure::Plain(e)) => {
                outcome.status = if e.is_broken_answer() {
                    RequestStatus::BadResponse
                } else {
                    RequestStatus::Connection
                };
                outcome.error = format!("{e} (POST {url})");
            }
            Err(Failure::Unbuilt(e)) => {
                outcome.status = RequestStatus::Connection;
                outcome.error = format!("{e} (POST {url})");
            }
            Err(Failure::TimedOut(limit)) => {
                outcome.status = RequestStatus::Timeout;
                outcome.error =
                    format!("no whole answer within the {limit:?} timeout (POST {url})");
            }
            Err(Failure::BadResponse(message)) => {
                outcome.status = RequestStatus::BadResponse;
                outcome.error = format!("bad answer from POST {url}: {message}");
            }
        }
        outcome
    }
}

/// Sends `request` through reqwest and reads its answer.
async fn send_reqwest(
    client: &reqwest::Client,
    request: reqwest::Request,
    exchange: &Exchange<'_>,
    outcome: &mut Outcome,
) -> Result<(), Failure> {
    let response = client.execute(request).await.map_err(Failure::Transport)?;
    let code = response.status().as_u16();
    outcome.http_status = Some(code);
    match exchange.stream_decoder(code) {
        Some(decoder) => {
            let body = response.bytes_stream();
            read_stream(body, Failure::Transport, decoder, exchange.clock, outcome).await
        }
        None => {
            let body = response.bytes().await.map_err(Failure::Transport)?;
            judge_whole(code, &body, exchange, outcome)
        }
    }
}

/// Sends `request` to a plain HTTP server directly and reads its answer.
async fn send_plain(
    server: &Http1Server,
    request: &[u8],
    exchange: &Exchange<'_>,
    outcome: &mut Outcome,
) -> Result<(), Failure> {
    let mut answer = server.post(request).await.map_err(Failure::Plain)?;
    let code = answer.status();
    outcome.http_status = Some(code);
    match exchange.stream_decoder(code) {
        Some(decoder) => {
            let body = futures_util::stream::unfold(answer, |mut answer| async move {
                match answer.next_piece().await {
                    Ok(Some(piece)) => Some((Ok(piece.to_vec()), answer)),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), answer)),
                }
            });
            read_stream(body, Failure::Plain, decoder, exchange.clock, outcome).await
        }
        None => {
            let body = answer.whole_body().await.map_err(Failure::Plain)?;
            judge_whole(code, body, exchange, outcome)
        }
    }
}

/// A request ready to send, the way it will go.
enum Ready<'a> {
    /// Its bytes, for a plain HTTP server spoken to directly.
    Plain(&'a Http1Server, Result<Vec<u8>, Http1Error>),
    /// Through reqwest.
    Reqwest(
        &'a reqwest::Client,
        Result<Box<reqwest::Request>, reqwest::Error>,
    ),
    /// For reqwest, which could not be built.
    Unbuilt(ClientError),
}

/// One request as it is being sent: what reading its answer needs.
struct Exchange<'a> {
    protocol: &'a dyn Protocol,
    prepared: &'a Prepared,
    /// The whole URL, as messages name it.
    url: &'a str,
    clock: &'a MonotonicClock,
}

impl Exchange<'_> {
    /// The decoder of a streamed answer, for a request that asked for one and a success.
    fn stream_decoder(&self, code: u16) -> Option<Box<dyn StreamDecoder>> {
        self.protocol
            .stream_decoder()
            .filter(|_| self.prepared.stream && (200..300).contains(&code))
    }
}

/// Parses a whole answer body, or records the HTTP error (naming the URL).
fn judge_whole(
    code: u16,
    body: &[u8],
    exchange: &Exchange<'_>,
    outcome: &mut Outcome,
) -> Result<(), Failure> {
    let protocol = exchange.protocol;
    if !(200..300).contains(&code) {
        let code = reqwest::StatusCode::from_u16(code).map_or(code.to_string(), |c| c.to_string());
        outcome.status = RequestStatus::HttpError;
        outcome.error = format!(
            "HTTP {code} from POST {}: {}",
            exchange.url,
            snippet(body, 200)
        );
        return Ok(());
    }
    let parsed = protocol
        .parse_body(body)
        .map_err(|e| Failure::BadResponse(format!("{e}; answer began: {}", snippet(body, 200))))?;
    // A whole answer's count can only be the server's own.
    outcome.completion_tokens_source = parsed.completion_tokens.map(|_| TokenSource::Usage);
    outcome.parsed = Some(parsed);
    Ok(())
}

/// Reads a server-sent-event stream to its end, timing the events that carry text.
async fn read_stream<B: AsRef<[u8]>, E: std::fmt::Display>(
    body: impl futures_util::Stream<Item = Result<B, E>>,
    transport: impl Fn(E) -> Failure,
    mut answer: Box<dyn StreamDecoder>,
    clock: &MonotonicClock,
    outcome: &mut Outcome,
) -> Result<(), Failure> {
    // Read to the end of the body even once done, so the connection is kept alive.
    timed_events(body, transport, clock, |data, t_ns| {
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
async fn timed_events<B: AsRef<[u8]>, E: std::fmt::Display>(
    body: impl futures_util::Stream<Item = Result<B, E>>,
    transport: impl Fn(E) -> Failure,
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
            eventsource_stream::EventStreamError::Transport(e) => transport(e),
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

/// Whether a proxy is set in the environment (reqwest's variables): requests then go
/// through reqwest, which honours it.
fn proxy_in_environment() -> bool {
    ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
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

/// Up to `most` characters of `bytes` (bytes that are not UTF-8 shown as U+FFFD), on one
/// line: each run of control characters (CR, LF, tab) becomes one space.
fn snippet(bytes: &[u8], most: usize) -> String {
    let chars = bytes.utf8_chunks().flat_map(|chunk| {
        let invalid = (!chunk.invalid().is_empty()).then_some(char::REPLACEMENT_CHARACTER);
        chunk.valid().chars().chain(invalid)
    });
    let mut text = String::new();
    let mut after_control = false;
    for c in chars.take(most) {
        let control = c.is_control();
        if !control {
            text.push(c);
        } else if !after_control {
            text.push(' ');
        }
        after_control = control;
    }
    text
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
        timed_events(
            futures_util::stream::iter(reads),
            Failure::Transport,
            &clock,
            |data, t| {
                got.push((data.to_string(), t));
                Ok(())
            },
        )
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

    /// How one request to `base` ends, sent both ways: spoken to directly, then through
    /// reqwest.
    async fn outcomes(base: &str, timeout: Duration) -> Vec<Outcome> {
        let client = HttpClient::new(base, timeout, None).expect("client");
        let mut ended = Vec::new();
        for client in [client.clone().direct(), client.through_reqwest()] {
            let clock = MonotonicClock::new();
            ended.push(client.send(&OpenaiCompletions, &prepared(), &clock).await);
        }
        ended
    }

    #[tokio::test]
    async fn an_answer_that_is_not_json_names_the_url_requested() {
        let base = answering(
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 6\r\nconnection: close\r\n\r\n<html>",
        )
        .await;
        for outcome in outcomes(&base, Duration::from_secs(5)).await {
            assert_eq!(outcome.status, RequestStatus::BadResponse);
            let url = format!("{base}/v1/completions");
            assert!(outcome.error.contains(&url), "{}", outcome.error);
            assert!(outcome.error.contains("not JSON"), "{}", outcome.error);
            assert!(outcome.error.contains("<html>"), "{}", outcome.error);
        }
    }

    #[tokio::test]
    async fn a_body_cut_short_names_the_url_requested() {
        let base = answering(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"a\"",
        )
        .await;
        for outcome in outcomes(&base, Duration::from_secs(5)).await {
            assert_eq!(
                outcome.status,
                RequestStatus::BadResponse,
                "{}",
                outcome.error
            );
            let url = format!("{base}/v1/completions");
            assert!(outcome.error.contains(&url), "{}", outcome.error);
        }
    }

    #[tokio::test]
    async fn an_error_status_is_an_http_error_naming_status_and_url() {
        let base = answering(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy",
        )
        .await;
        for outcome in outcomes(&base, Duration::from_secs(5)).await {
            assert_eq!(outcome.status, RequestStatus::HttpError);
            assert_eq!(outcome.http_status, Some(503));
            let want =
                format!("HTTP 503 Service Unavailable from POST {base}/v1/completions: busy");
            assert_eq!(outcome.error, want);
        }
    }

    /// An answer that is not HTTP is a connection failure both ways (as hyper's parse error
    /// is through reqwest), and names the URL.
    #[tokio::test]
    async fn an_answer_that_is_not_http_is_a_connection_failure() {
        let base = answering("<html>not an HTTP answer</html>\r\n\r\n").await;
        for outcome in outcomes(&base, Duration::from_secs(5)).await {
            assert_eq!(
                outcome.status,
                RequestStatus::Connection,
                "{}",
                outcome.error
            );
            assert!(outcome.error.contains(&base), "{}", outcome.error);
        }
    }

    /// A redirect is recorded as the HTTP answer it is, both ways: following it would send
    /// a second request.
    #[tokio::test]
    async fn a_redirect_is_an_http_error_and_is_not_followed() {
        let base = answering(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: /elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await;
        for outcome in outcomes(&base, Duration::from_secs(5)).await {
            assert_eq!(
                outcome.status,
                RequestStatus::HttpError,
                "{}",
                outcome.error
            );
            assert_eq!(outcome.http_status, Some(307));
        }
    }

    /// A server that reads the request and never answers: the request times out, at its
    /// limit, and says so.
    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let limit = Duration::from_millis(200);
        for outcome in outcomes(&base, limit).await {
            assert_eq!(outcome.status, RequestStatus::Timeout, "{}", outcome.error);
            assert!(outcome.t_end_ns - outcome.t_start_ns >= limit.as_nanos() as u64);
            assert!(outcome.error.contains(&base), "{}", outcome.error);
        }
        let plain = &outcomes(&base, limit).await[0];
        assert!(plain.error.contains("200ms timeout"), "{}", plain.error);
    }

    /// A plain HTTP server spoken to directly never needs reqwest: its client is not built
    /// (nor its CA certificates loaded). Through a proxy every request needs it: it is built
    /// up front.
    #[tokio::test]
    async fn a_server_spoken_to_directly_never_builds_the_reqwest_client() {
        let base = answering(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 27\r\n\r\n{\"choices\":[{\"text\":\"hi\"}]}",
        )
        .await;
        let timeout = Duration::from_secs(5);
        let direct = HttpClient::with_proxy(&base, timeout, None, false).expect("client");
        assert!(direct.plain.is_some());
        let outcome = direct
            .send(&OpenaiCompletions, &prepared(), &MonotonicClock::new())
            .await;
        assert_eq!(outcome.status, RequestStatus::Ok, "{}", outcome.error);
        assert!(direct.reqwest.get().is_none(), "reqwest was built");
        let proxied = HttpClient::with_proxy(&base, timeout, None, true).expect("client");
        assert!(proxied.plain.is_none());
        assert!(matches!(proxied.reqwest.get(), Some(Ok(_))));
    }

    /// A snippet is cut between characters, never inside one, and holds no line break.
    #[test]
    fn a_snippet_is_one_line_cut_between_characters() {
        // After one ASCII byte, a cut at 40 bytes would fall inside the 20th "é".
        let long = format!("a{}", "é".repeat(50));
        assert_eq!(snippet(long.as_bytes(), 40), format!("a{}", "é".repeat(39)));
        assert_eq!(snippet(b"{\r\n  \"a\":\t1\n}\r\n", 200), "{   \"a\": 1 } ");
        assert_eq!(snippet(b"zz\r\n0\r\n", 40), "zz 0 ");
        assert_eq!(snippet(b"ok\xffok!", 5), "ok\u{FFFD}ok");
        assert_eq!(snippet(b"", 40), "");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connection_failure_with_its_cause() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let base = format!("http://127.0.0.1:{port}");
        for outcome in outcomes(&base, Duration::from_secs(5)).await {
            assert_eq!(outcome.status, RequestStatus::Connection);
            assert!(outcome.error.contains("refused"), "{}", outcome.error);
            assert!(outcome.error.contains(&base), "{}", outcome.error);
        }
    }
}
