//! Plain `http://` requests spoken directly over kept-alive TCP connections: the task that
//! sends a request writes it and parses the answer itself (`httparse`), with no connection
//! task, pool lookup or request object between.
//!
//! A request is written once: one that found its connection closed before it could be
//! written goes again on a new connection, but one the server may have read is never sent
//! twice (that would run, and cost, a second inference).

use std::io;
use std::ops::Range;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer head accepted (status line and headers), and longest chunk-size or
/// trailer line.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Most answer headers accepted (as hyper).
const MAX_HEADERS: usize = 100;

/// Room made in the read buffer before each read.
const READ_BYTES: usize = 16 * 1024;

/// Most idle connections kept per server (more than an open loop holds in flight).
const MAX_IDLE: usize = 1024;

/// Idle time after which a kept-alive connection is asked whether the server closed it
/// before it is used again. Servers close idle connections after seconds (uvicorn 5 s,
/// gunicorn 2 s, nginx 75 s); within this, only tokio's own record of the socket is
/// looked at, which costs no system call on a busy loop.
const PROBE_AFTER_IDLE: Duration = Duration::from_millis(50);

/// Why a plain HTTP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum Http1Error {
    /// No connection could be made.
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        /// `host:port`.
        authority: String,
        /// The system's reason.
        source: io::Error,
    },
    /// Writing the request or reading the answer's head failed.
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection before its answer's head ended.
    #[error("the server closed the connection {0}")]
    Closed(&'static str),
    /// The answer's head is not HTTP/1.1.
    #[error("malformed HTTP answer: {0}")]
    MalformedHead(String),
    /// The answer's body is broken: cut short, its connection failed, or its chunks
    /// malformed.
    #[error("broken answer body: {0}")]
    BrokenBody(String),
}

impl Http1Error {
    /// Whether an answer came with a broken body, as opposed to no answer (classed as
    /// reqwest classes the same failures: a broken body is a bad response, a head that is
    /// not HTTP a connection failure).
    pub fn is_broken_answer(&self) -> bool {
        matches!(self, Http1Error::BrokenBody(_))
    }
}

/// A plain HTTP/1.1 server: where to connect, how to name it, and its idle connections.
#[derive(Debug)]
pub struct Http1Server {
    /// Host name or address to connect to (an IPv6 address without brackets).
    host: String,
    /// Port to connect to.
    port: u16,
    /// The `Host` header: the URL's host, and its port where the URL names one.
    authority: String,
    /// Connections that served a whole answer and were kept alive.
    idle: Mutex<Vec<Connection>>,
    /// Idle time after which a connection is probed before use ([`PROBE_AFTER_IDLE`]).
    probe_after: Duration,
}

/// How an answer's body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// This many bytes are left.
    Length(u64),
    /// Chunked transfer coding, in this state.
    Chunked(ChunkState),
    /// The body runs to the end of the connection.
    UntilClose,
    /// The body was read whole.
    Done,
}

/// Where a chunked body's reading stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    /// Next comes a chunk-size line.
    Size,
    /// This many bytes of chunk data are left.
    Data(u64),
    /// Next comes the line end after a chunk's data.
    DataEnd,
    /// Next come trailer lines, up to a blank one.
    Trailers,
}

/// One TCP connection to the server, with its buffers.
#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    /// Bytes read; `start..end` are not taken yet.
    input: Vec<u8>,
    start: usize,
    end: usize,
    /// A whole body, decoded.
    body: Vec<u8>,
    /// When it was last given back.
    idle_since: Instant,
}

/// An answer whose head was read; its body is read from it. Dropped once its body was
/// read whole, it gives its connection back for the next request.
#[derive(Debug)]
pub struct Answer<'a> {
    server: &'a Http1Server,
    /// `None` once the connection failed.
    conn: Option<Connection>,
    status: u16,
    framing: Framing,
    keep_alive: bool,
}

/// How one attempt on a connection failed: the request could not be written (the server
/// has not read it: it may go again on a new connection), or later.
enum Attempt {
    Unwritten(Http1Error),
    Failed(Http1Error),
}

impl Http1Server {
    /// The server of an `http://` URL; `None` for any other scheme, a URL without a host,
    /// or one with credentials (reqwest sends those).
    pub fn for_url(url: &reqwest::Url) -> Option<Self> {
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let shown = url.host_str()?;
        let host = shown
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port_or_known_default()?;
        let authority = match url.port() {
            Some(port) => format!("{shown}:{port}"),
            None => shown.to_string(),
        };
        Some(Self {
            host,
            port,
            authority,
            idle: Mutex::new(Vec::new()),
            probe_after: PROBE_AFTER_IDLE,
        })
    }

    /// Sends `request` (from [`Http1Server::request`]) and reads the answer's head. A
    /// kept-alive connection that turns out closed before the request could be written is
    /// replaced by a new one, once.
    pub async fn post(&self, request: &[u8]) -> Result<Answer<'_>, Http1Error> {
        let (mut conn, mut fresh) = match self.take_idle() {
            Some(conn) => (conn, false),
            None => (self.connect().await?, true),
        };
        loop {
            match conn.exchange(request).await {
                Ok((status, framing, keep_alive)) => {
                    return Ok(Answer {
                        server: self,
                        conn: Some(conn),
                        status,
                        framing,
                        keep_alive,
                    });
                }
                Err(Attempt::Unwritten(_)) if !fresh => {
                    (conn, fresh) = (self.connect().await?, true);
                }
                Err(Attempt::Unwritten(e) | Attempt::Failed(e)) => return Err(e),
            }
        }
    }

    /// The bytes of `POST target` with `body` as JSON and an optional bearer token.
    pub fn request(
        &self,
        target: &str,
        body: &serde_json::Value,
        bearer: Option<&str>,
    ) -> Result<Vec<u8>, Http1Error> {
        use std::io::Write;
        let body = serde_json::to_vec(body).map_err(|e| Http1Error::Io(io::Error::other(e)))?;
        let mut out = Vec::with_capacity(body.len() + 160 + target.len());
        write!(
            out,
            "POST {target} HTTP/1.1\r\nhost: {}\r\naccept: */*\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            self.authority,
            body.len()
        )?;
        if let Some(token) = bearer {
            if token.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(Http1Error::Io(io::Error::other(
                    "the API key holds a line break or NUL, which cannot go in a header",
                )));
            }
            write!(out, "authorization: Bearer {token}\r\n")?;
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// An idle connection the server has not closed, if one is kept.
    fn take_idle(&self) -> Option<Connection> {
        loop {
            let conn = self
                .idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .pop()?;
            let open = if conn.idle_since.elapsed() >= self.probe_after {
                still_open(&conn.stream)
            } else {
                nothing_seen(&conn.stream)
            };
            if open {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for the next request.
    fn give_back(&self, mut conn: Connection) {
        conn.idle_since = Instant::now();
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// A new connection, without Nagle's delay.
    async fn connect(&self) -> Result<Connection, Http1Error> {
        let failed = |source| Http1Error::Connect {
            authority: format!("{}:{}", self.host, self.port),
            source,
        };
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(failed)?;
        stream.set_nodelay(true).map_err(failed)?;
        Ok(Connection {
            stream,
            input: Vec::new(),
            start: 0,
            end: 0,
            body: Vec::new(),
            idle_since: Instant::now(),
        })
    }
}

impl Connection {
    /// Writes `request` and reads the answer's head: (status, body framing, keep-alive).
    /// Informational answers (1xx) before it are passed over.
    async fn exchange(&mut self, request: &[u8]) -> Result<(u16, Framing, bool), Attempt> {
        self.start = 0;
        self.end = 0;
        if let Err(e) = self.stream.write_all(request).await {
            return Err(Attempt::Unwritten(e.into()));
        }
        let mut answered = false;
        loop {
            if self.end > self.start {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut response = httparse::Response::new(&mut headers);
                match response.parse(&self.input[self.start..self.end]) {
                    Ok(httparse::Status::Complete(used)) => {
                        let head = read_head(&response).map_err(Attempt::Failed)?;
                        self.start += used;
                        if (100..200).contains(&head.0) && head.0 != 101 {
                            continue;
                        }
                        return Ok(head);
                    }
                    Ok(httparse::Status::Partial) if self.end - self.start > MAX_HEAD_BYTES => {
                        return Err(Attempt::Failed(Http1Error::MalformedHead(format!(
                            "its head is longer than {MAX_HEAD_BYTES} bytes"
                        ))));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(e) => {
                        return Err(Attempt::Failed(Http1Error::MalformedHead(format!(
                            "{e} in its head"
                        ))));
                    }
                }
            }
            match self.fill().await {
                Ok(true) => answered = true,
                Ok(false) => {
                    return Err(Attempt::Failed(Http1Error::Closed(if answered {
                        "in the middle of the answer's head"
                    } else {
                        "before answering"
                    })));
                }
                Err(e) => return Err(Attempt::Failed(e.into())),
            }
        }
    }

    /// Reads more bytes after `end`; `false` at the end of the connection.
    async fn fill(&mut self) -> io::Result<bool> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.input.len() - self.end < READ_BYTES {
            self.input.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.input.len() - self.end < READ_BYTES {
            self.input.resize(self.end + READ_BYTES, 0);
        }
        let read = self.stream.read(&mut self.input[self.end..]).await?;
        self.end += read;
        Ok(read > 0)
    }

    /// Reads more of the body; an end of the connection is an error saying `when` it came.
    async fn fill_for(&mut self, when: &'static str) -> Result<(), Http1Error> {
        if self.fill_body().await? {
            Ok(())
        } else {
            Err(Http1Error::BrokenBody(format!(
                "the server closed the connection {when}"
            )))
        }
    }

    /// Reads more of the body; `false` at the end of the connection.
    async fn fill_body(&mut self) -> Result<bool, Http1Error> {
        self.fill().await.map_err(|e| {
            Http1Error::BrokenBody(format!("the connection failed in the middle of it: {e}"))
        })
    }

    /// The next decoded piece of the body (a range of `input`, taken), `None` at its end.
    async fn piece(&mut self, framing: &mut Framing) -> Result<Option<Range<usize>>, Http1Error> {
        loop {
            match *framing {
                Framing::Done | Framing::Length(0) => {
                    *framing = Framing::Done;
                    return Ok(None);
                }
                Framing::Length(left) => {
                    if self.start == self.end {
                        self.fill_for("before the end of the answer's body").await?;
                    }
                    let range = self.take(left);
                    *framing = Framing::Length(left - range.len() as u64);
                    return Ok(Some(range));
                }
                Framing::UntilClose => {
                    if self.start == self.end && !self.fill_body().await? {
                        *framing = Framing::Done;
                        return Ok(None);
                    }
                    return Ok(Some(self.take(u64::MAX)));
                }
                Framing::Chunked(ChunkState::Data(left)) => {
                    if self.start == self.end {
                        self.fill_for("in the middle of a chunk").await?;
                    }
                    let range = self.take(left);
                    let left = left - range.len() as u64;
                    *framing = Framing::Chunked(if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    });
                    return Ok(Some(range));
                }
                Framing::Chunked(ChunkState::Size) => {
                    let line = &self.input[self.start..self.end];
                    // httparse reads an empty line as size 0: a size needs a digit.
                    let sized = line.first().is_none_or(u8::is_ascii_hexdigit);
                    match httparse::parse_chunk_size(line)
                        .map_err(|_| ())
                        .and_then(|status| if sized { Ok(status) } else { Err(()) })
                    {
                        Ok(httparse::Status::Complete((used, size))) => {
                            self.start += used;
                            *framing = Framing::Chunked(if size == 0 {
                                ChunkState::Trailers
                            } else {
                                ChunkState::Data(size)
                            });
                        }
                        Ok(httparse::Status::Partial) => {
                            self.line_room()?;
                            self.fill_for("before a chunk's size").await?;
                        }
                        Err(_) => {
                            return Err(Http1Error::BrokenBody(format!(
                                "a chunk size that is not hexadecimal: {}",
                                super::snippet(&self.input[self.start..self.end], 40)
                            )));
                        }
                    }
                }
                Framing::Chunked(state @ (ChunkState::DataEnd | ChunkState::Trailers)) => {
                    let Some(line) = self.input[self.start..self.end]
                        .iter()
                        .position(|&b| b == b'\n')
                    else {
                        self.line_room()?;
                        self.fill_for("before the end of a chunked body").await?;
                        continue;
                    };
                    let blank = matches!(&self.input[self.start..self.start + line], b"" | b"\r");
                    self.start += line + 1;
                    *framing = match state {
                        ChunkState::DataEnd if blank => Framing::Chunked(ChunkState::Size),
                        ChunkState::DataEnd => {
                            return Err(Http1Error::BrokenBody(
                                "a chunk runs past its size".to_string(),
                            ));
                        }
                        _ if blank => Framing::Done,
                        _ => Framing::Chunked(ChunkState::Trailers),
                    };
                }
            }
        }
    }

    /// Takes up to `most` of the bytes read and not taken yet.
    fn take(&mut self, most: u64) -> Range<usize> {
        let count = (self.end - self.start).min(usize::try_from(most).unwrap_or(usize::MAX));
        let range = self.start..self.start + count;
        self.start += count;
        range
    }

    /// Refuses a line (a chunk size, a trailer) that has grown past [`MAX_HEAD_BYTES`].
    fn line_room(&self) -> Result<(), Http1Error> {
        if self.end - self.start > MAX_HEAD_BYTES {
            return Err(Http1Error::BrokenBody(format!(
                "a line of its chunked body is longer than {MAX_HEAD_BYTES} bytes"
            )));
        }
        Ok(())
    }
}

/// (status, body framing, keep-alive) from a parsed head.
fn read_head(response: &httparse::Response) -> Result<(u16, Framing, bool), Http1Error> {
    let status = response
        .code
        .filter(|code| *code >= 100)
        .ok_or_else(|| Http1Error::MalformedHead("no status code of 100 or more".to_string()))?;
    let (mut close, mut keep) = (false, false);
    let (mut coded, mut chunked, mut length) = (false, false, None);
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("");
        let name = header.name;
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            coded = true;
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = content_length(value)?;
            if length.is_some_and(|m| m != n) {
                return Err(Http1Error::MalformedHead(
                    "two different content-length headers".to_string(),
                ));
            }
            length = Some(n);
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Done
    } else if coded && chunked {
        Framing::Chunked(ChunkState::Size)
    } else if coded {
        Framing::UntilClose
    } else {
        match length {
            Some(0) => Framing::Done,
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    let version_1_1 = response.version == Some(1);
    // Framing that contradicts itself (RFC 9112 §6.3): read as said, then close.
    let contradicted = coded && (length.is_some() || !version_1_1);
    let kept = !close && !contradicted && status != 101 && (version_1_1 || keep);
    Ok((status, framing, kept && framing != Framing::UntilClose))
}

impl Answer<'_> {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The next decoded piece of the body, `None` at its end.
    pub async fn next_piece(&mut self) -> Result<Option<&[u8]>, Http1Error> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        match conn.piece(&mut self.framing).await {
            Ok(Some(range)) => Ok(self.conn.as_ref().map(|c| &c.input[range])),
            Ok(None) => Ok(None),
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }

    /// The whole body, decoded.
    pub async fn whole_body(&mut self) -> Result<&[u8], Http1Error> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(&[]);
        };
        let mut body = std::mem::take(&mut conn.body);
        body.clear();
        let read = loop {
            match conn.piece(&mut self.framing).await {
                Ok(Some(range)) => body.extend_from_slice(&conn.input[range]),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        conn.body = body;
        if let Err(e) = read {
            self.conn = None;
            return Err(e);
        }
        Ok(self.conn.as_ref().map_or(&[], |conn| &conn.body))
    }
}

impl Drop for Answer<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.framing == Framing::Done
            && self.keep_alive
            && conn.start == conn.end
        {
            self.server.give_back(conn);
        }
    }
}

/// A `content-length` value: digits, or a list of the same digits (as hyper reads it).
fn content_length(value: &str) -> Result<u64, Http1Error> {
    let mut length = None;
    for item in value.split(',').map(str::trim) {
        let n = Some(item)
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u64>().ok())
            .filter(|n| length.is_none_or(|m| m == *n))
            .ok_or_else(|| {
                Http1Error::MalformedHead(format!("content-length {value:?} is not a length"))
            })?;
        length = Some(n);
    }
    length.ok_or_else(|| Http1Error::MalformedHead("an empty content-length".to_string()))
}

/// Whether tokio has seen nothing arrive on a kept-alive connection (an end, bytes or an
/// error, once its driver polled): no system call unless it has.
fn nothing_seen(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Whether a kept-alive connection is still open with nothing waiting on it: a peek that
/// would block. An end (the server closed it while idle), bytes or an error mean it is
/// not. The socket itself is asked: tokio learns of a close only once its driver has
/// polled.
fn still_open(stream: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    // SAFETY: a one-byte receive into `byte`, which lives through the call, on the socket
    // `stream` owns; MSG_PEEK leaves any byte in place and MSG_DONTWAIT never blocks.
    let read = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    read < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::io::AsyncBufReadExt;

    /// Requests a scripted server read: (connection number, request head and body).
    type Seen = Arc<Mutex<Vec<(usize, String)>>>;

    /// A loopback server: its `n`th connection reads one request per answer of
    /// `scripts[n]` and writes that answer `piece` bytes at a time, then closes.
    async fn scripted(scripts: Vec<Vec<&'static str>>, piece: usize) -> (Http1Server, Seen) {
        let (server, seen, _) = scripted_closing(scripts, piece).await;
        (server, seen)
    }

    /// [`scripted`], with a notice each time the server has closed a connection.
    async fn scripted_closing(
        scripts: Vec<Vec<&'static str>>,
        piece: usize,
    ) -> (Http1Server, Seen, Arc<tokio::sync::Notify>) {
        let closed = Arc::new(tokio::sync::Notify::new());
        let closing = Arc::clone(&closed);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let seen = Seen::default();
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            for (n, answers) in scripts.into_iter().enumerate() {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let log = Arc::clone(&log);
                let closing = Arc::clone(&closing);
                tokio::spawn(async move {
                    let mut socket = tokio::io::BufReader::new(socket);
                    for answer in answers {
                        let Some(request) = read_request(&mut socket).await else {
                            break;
                        };
                        log.lock().expect("log").push((n, request));
                        for bytes in answer.as_bytes().chunks(piece) {
                            let _ = socket.get_mut().write_all(bytes).await;
                            let _ = socket.get_mut().flush().await;
                            tokio::task::yield_now().await;
                        }
                    }
                    drop(socket);
                    closing.notify_one();
                });
            }
        });
        let server = Http1Server::for_url(&reqwest::Url::parse(&url).expect("URL"))
            .expect("a plain HTTP server");
        (server, seen, closed)
    }

    /// One request (head and body) read from `socket`; `None` at the connection's end.
    async fn read_request(socket: &mut tokio::io::BufReader<TcpStream>) -> Option<String> {
        let mut text = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            if socket.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().ok()?;
            }
            text.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        socket.read_exact(&mut body).await.ok()?;
        text.push_str(&String::from_utf8_lossy(&body));
        Some(text)
    }

    async fn post_whole(server: &Http1Server) -> Result<(u16, String), Http1Error> {
        let body = serde_json::json!({"prompt": "p"});
        let request = server.request("/v1/completions?x=1", &body, Some("k"))?;
        let mut answer = server.post(&request).await?;
        let status = answer.status();
        let body = answer.whole_body().await?;
        Ok((status, String::from_utf8_lossy(body).into_owned()))
    }

    const LENGTH: &str = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
    const CHUNKED: &str = "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nx-trailer: 1\r\n\r\n";

    /// Bodies framed by length and by chunks, arriving a byte at a time, are read whole,
    /// and every request goes over the one connection kept alive.
    #[tokio::test]
    async fn answers_arriving_a_byte_at_a_time_are_read_whole_over_one_kept_alive_connection() {
        let (server, seen) = scripted(vec![vec![LENGTH, CHUNKED, LENGTH]], 1).await;
        for want in ["hello", "Wikipedia", "hello"] {
            let (status, body) = post_whole(&server).await.expect("an answer");
            assert_eq!((status, body.as_str()), (200, want));
        }
        let seen = seen.lock().expect("log").clone();
        assert_eq!(seen.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [0, 0, 0]);
        let request = &seen[0].1;
        assert!(
            request.starts_with("POST /v1/completions?x=1 HTTP/1.1\r\n"),
            "{request}"
        );
        let authority = server.authority.clone();
        assert!(
            request.contains(&format!("host: {authority}\r\n")),
            "{request}"
        );
        assert!(request.contains("authorization: Bearer k\r\n"), "{request}");
        assert!(request.contains("content-length: 14\r\n"), "{request}");
        assert!(request.ends_with("\r\n\r\n{\"prompt\":\"p\"}"), "{request}");
    }

    /// A request the server read and then closed its kept-alive connection on, without an
    /// answer, is a failure: it is not sent again (the server may have run it).
    #[tokio::test]
    async fn a_request_read_and_left_unanswered_is_not_sent_again() {
        let (server, seen) = scripted(vec![vec![LENGTH, ""], vec![CHUNKED]], 64).await;
        assert_eq!(post_whole(&server).await.expect("first").1, "hello");
        let error = post_whole(&server).await.expect_err("no answer");
        assert!(
            matches!(error, Http1Error::Closed("before answering")),
            "{error}"
        );
        assert_eq!(post_whole(&server).await.expect("third").1, "Wikipedia");
        let seen = seen.lock().expect("log").clone();
        let connections: Vec<usize> = seen.iter().map(|(n, _)| *n).collect();
        assert_eq!(connections, [0, 0, 1], "the second request went once");
    }

    /// A kept-alive connection the server closed while it was idle is not used again: the
    /// next request goes out once, on a new connection.
    #[tokio::test]
    async fn a_connection_closed_while_idle_is_left_for_a_new_one() {
        let (mut server, seen, closed) =
            scripted_closing(vec![vec![LENGTH], vec![CHUNKED]], 64).await;
        server.probe_after = Duration::ZERO;
        assert_eq!(post_whole(&server).await.expect("first").1, "hello");
        closed.notified().await;
        assert_eq!(post_whole(&server).await.expect("second").1, "Wikipedia");
        let connections: Vec<usize> = seen.lock().expect("log").iter().map(|(n, _)| *n).collect();
        assert_eq!(connections, [0, 1]);
    }

    /// A new connection closed without an answer is not tried again: the server is gone.
    #[tokio::test]
    async fn a_new_connection_closed_without_an_answer_is_an_error() {
        let (server, seen) = scripted(vec![vec![""], vec![LENGTH]], 64).await;
        let error = post_whole(&server).await.expect_err("no answer");
        assert!(
            matches!(error, Http1Error::Closed("before answering")),
            "{error}"
        );
        assert_eq!(seen.lock().expect("log").len(), 1, "sent once");
    }

    /// An answer saying `connection: close`, or one whose body runs to the connection's end,
    /// is read whole and its connection is not used again.
    #[tokio::test]
    async fn answers_that_end_their_connection_are_read_and_not_reused() {
        let close = "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok";
        let to_end = "HTTP/1.1 200 OK\r\n\r\nto the end";
        let (server, seen) = scripted(vec![vec![close], vec![to_end], vec![LENGTH]], 3).await;
        assert_eq!(post_whole(&server).await.expect("close").1, "ok");
        assert_eq!(post_whole(&server).await.expect("to end").1, "to the end");
        assert_eq!(post_whole(&server).await.expect("third").1, "hello");
        let connections: Vec<usize> = seen.lock().expect("log").iter().map(|(n, _)| *n).collect();
        assert_eq!(connections, [0, 1, 2]);
    }

    /// Answers without a body (204, a zero length) leave their connection for the next
    /// request even when their body is never asked for; an answer whose framing contradicts
    /// itself (both a transfer coding and a length) is read as chunked, and its connection
    /// closed.
    #[tokio::test]
    async fn bodiless_answers_keep_their_connection_and_contradictory_ones_do_not() {
        let empty = "HTTP/1.1 204 No Content\r\n\r\n";
        let zero = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        let both = "HTTP/1.1 200 OK\r\ncontent-length: 99\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        // The server would answer a fourth request on the first connection, wrongly.
        let wrong = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nwrong";
        let scripts = vec![vec![empty, zero, both, wrong], vec![LENGTH]];
        let (server, seen) = scripted(scripts, 64).await;
        for want in [204, 200] {
            let request = server
                .request("/", &serde_json::json!({}), None)
                .expect("bytes");
            let answer = server.post(&request).await.expect("an answer");
            assert_eq!(answer.status(), want);
        }
        assert_eq!(post_whole(&server).await.expect("both").1, "ok");
        assert_eq!(post_whole(&server).await.expect("after").1, "hello");
        let connections: Vec<usize> = seen.lock().expect("log").iter().map(|(n, _)| *n).collect();
        assert_eq!(connections, [0, 0, 0, 1]);
    }

    /// Interim answers (100 Continue) are passed over; an error status is an answer.
    #[tokio::test]
    async fn interim_answers_are_passed_over_and_error_statuses_are_answers() {
        let interim = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy";
        let (server, _) = scripted(vec![vec![interim]], 7).await;
        assert_eq!(
            post_whole(&server).await.expect("an answer"),
            (503, "busy".into())
        );
        let listed = "HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\n\r\nhello";
        let (server, _) = scripted(vec![vec![listed]], 64).await;
        assert_eq!(
            post_whole(&server).await.expect("a listed length").1,
            "hello"
        );
    }

    /// What is not HTTP, or breaks its own framing, is malformed; a body cut short is a
    /// connection closed too early.
    #[tokio::test]
    async fn broken_answers_say_what_broke() {
        let cases: [(&'static str, &str); 9] = [
            (
                "HTTP/1.1 200 OK\r\ncontent-length: +5\r\n\r\nhello",
                "is not a length",
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\nhello",
                "is not a length",
            ),
            ("<html>hello</html>\r\n\r\n", "malformed"),
            ("HTTP/1.1 000 Zero\r\n\r\n", "no status code of 100 or more"),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\r\n0\r\n\r\n",
                "not hexadecimal",
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
                "content-length \"x\"",
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                "not hexadecimal",
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
                "past its size",
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort",
                "before the end of the answer's body",
            ),
        ];
        for (answer, says) in cases {
            let (server, _) = scripted(vec![vec![answer]], 64).await;
            let error = post_whole(&server).await.expect_err(answer).to_string();
            assert!(error.contains(says), "{answer:?}: {error}");
        }
    }

    /// A streamed body comes out in pieces that add up to what was sent.
    #[tokio::test]
    async fn a_chunked_body_is_taken_piece_by_piece() {
        let (server, _) = scripted(vec![vec![CHUNKED, LENGTH]], 2).await;
        let request = server
            .request("/", &serde_json::json!({}), None)
            .expect("bytes");
        let mut answer = server.post(&request).await.expect("an answer");
        let mut got = Vec::new();
        while let Some(piece) = answer.next_piece().await.expect("a piece") {
            assert!(!piece.is_empty());
            got.extend_from_slice(piece);
        }
        assert_eq!(got, b"Wikipedia");
        drop(answer);
        assert_eq!(post_whole(&server).await.expect("kept alive").1, "hello");
    }

    /// A port nobody listens on says so and names where it tried.
    #[tokio::test]
    async fn a_refused_connection_names_the_address() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("URL");
        let server = Http1Server::for_url(&url).expect("plain");
        let error = post_whole(&server).await.expect_err("refused").to_string();
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
        assert!(error.contains("refused"), "{error}");
    }

    #[test]
    fn only_plain_http_urls_are_spoken_to_directly() {
        let server = |url: &str| Http1Server::for_url(&reqwest::Url::parse(url).expect("URL"));
        assert!(server("https://example.org").is_none());
        assert!(
            server("http://user:secret@example.org").is_none(),
            "reqwest sends credentials"
        );
        let v6 = server("http://[::1]:8080/x").expect("plain");
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.authority.as_str()),
            ("::1", 8080, "[::1]:8080")
        );
        let default = server("http://localhost/").expect("plain");
        assert_eq!(
            (default.port, default.authority.as_str()),
            (80, "localhost")
        );
    }
}
