//! The client's own overhead per request, against a loopback server that answers at once,
//! side by side with a bare keep-alive socket, `curl` and (when installed) `wrk -c1 -t1`.
//!
//! `cargo bench -p joulebench-harness --bench client_overhead` (or `bench/runner_overhead.sh`);
//! requests per case from `JOULEBENCH_BENCH_REQUESTS` (default 5000). Every case sends the
//! same OpenAI completions body over one kept-alive connection, one request at a time.

extern crate joulebench_harness as harness;

use harness::client::HttpClient;
use harness::protocol::{Generation, Input, OpenaiCompletions, Protocol};
use harness::writer::RowAppender;
use probes::MonotonicClock;
use records::raw::{Phase, RequestRecord};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const ANSWER: &str = r#"{"id":"cmpl-1","object":"text_completion","created":0,"model":"m","choices":[{"text":"word word word word ","index":0,"finish_reason":"length"}],"usage":{"prompt_tokens":7,"completion_tokens":4,"total_tokens":11}}"#;

/// A loopback HTTP/1.1 server answering every request at once with [`ANSWER`].
fn start_server() -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    Ok(url)
}

fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{ANSWER}",
        ANSWER.len()
    );
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() || writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Per-request times: median and mean (µs).
fn stats(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    let median = us.get(us.len() / 2).copied().unwrap_or(f64::NAN);
    let mean = us.iter().sum::<f64>() / us.len().max(1) as f64;
    (median, mean)
}

/// A bare keep-alive socket: write the request, read the whole answer.
struct Raw {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    request: String,
}

impl Raw {
    fn new(url: &str, body: &str) -> Result<Self> {
        let addr = url.trim_start_matches("http://");
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let request = format!(
            "POST /v1/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Self {
            stream,
            reader,
            request,
        })
    }

    fn run(&mut self, n: usize, times: &mut Vec<f64>) -> Result<()> {
        let mut line = String::new();
        for _ in 0..n {
            let t = Instant::now();
            self.stream.write_all(self.request.as_bytes())?;
            let mut length = 0;
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    length = v.trim().parse()?;
                }
            }
            let mut answer = vec![0; length];
            self.reader.read_exact(&mut answer)?;
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        Ok(())
    }
}

/// The harness's client on a runtime, optionally writing the requests.csv row as the run does.
struct Harness {
    runtime: tokio::runtime::Runtime,
    client: HttpClient,
    clock: MonotonicClock,
    wire: OpenaiCompletions,
    prepared: harness::protocol::Prepared,
    out: Option<RowAppender<RequestRecord>>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new(url: &str, record: bool, multi_thread: bool) -> Result<Self> {
        let runtime = if multi_thread {
            tokio::runtime::Runtime::new()?
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        };
        let wire = OpenaiCompletions;
        let prepared = wire.prepare(&input(), &Default::default())?;
        let dir = tempfile::tempdir()?;
        let out = if record {
            Some(RowAppender::open(&dir.path().join("requests.csv"))?)
        } else {
            None
        };
        Ok(Self {
            runtime,
            client: HttpClient::new(url, Duration::from_secs(10), None)?,
            clock: MonotonicClock::new(),
            wire,
            prepared,
            out,
            _dir: dir,
        })
    }

    fn run(&mut self, n: usize, times: &mut Vec<f64>) -> Result<()> {
        let Self {
            runtime,
            client,
            clock,
            wire,
            prepared,
            out,
            ..
        } = self;
        runtime.block_on(async {
            for i in 0..n {
                let t = Instant::now();
                let o = client.send(wire, prepared, clock).await;
                if o.status != records::raw::RequestStatus::Ok {
                    return Err(format!("request failed: {}", o.error).into());
                }
                if let Some(out) = out.as_mut() {
                    let p = o.parsed.unwrap_or_default();
                    let mut row = record(i);
                    row.t_start_ns = o.t_start_ns;
                    row.t_end_ns = o.t_end_ns;
                    row.latency_ms = (o.t_end_ns - o.t_start_ns) as f64 / 1e6;
                    row.output_chars = p.output_chars;
                    row.error = o.error;
                    out.append(&row)?;
                }
                times.push(t.elapsed().as_secs_f64() * 1e6);
            }
            Ok::<_, Box<dyn std::error::Error>>(())
        })
    }
}

fn input() -> Input<'static> {
    Input {
        model: "m",
        text: "what is the binary sentiment of the following sentence? a fine film",
        generation: Some(generation()),
    }
}

/// Writing one requests.csv row in the loop (serialise + one `write`), no network.
fn append_alone(n: usize) -> Result<Vec<f64>> {
    let dir = tempfile::tempdir()?;
    let mut out = RowAppender::<RequestRecord>::open(&dir.path().join("r.csv"))?;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let row = record(i);
        let t = Instant::now();
        out.append(&row)?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok(times)
}

fn record(i: usize) -> RequestRecord {
    RequestRecord {
        config: "m@d".into(),
        model: "m".into(),
        dataset: "d".into(),
        phase: Phase::Measured,
        repetition: 1,
        index: i as u32,
        row: 1,
        t_start_ns: 1_000_000 + i as u64,
        t_end_ns: 2_000_000 + i as u64,
        latency_ms: 1.234,
        ttft_ms: None,
        itl_ms: None,
        status: records::raw::RequestStatus::Ok,
        http_status: Some(200),
        prompt_tokens: Some(7),
        completion_tokens: Some(4),
        output_pinned: true,
        output_chars: 20,
        error: String::new(),
        completion_tokens_source: Some(records::tokens::TokenSource::Usage),
        pin_requested: None,
        itl_p50_ms: None,
        t_scheduled_ns: None,
    }
}

fn generation() -> Generation {
    Generation {
        max_tokens: 4,
        temperature: 0.0,
        pin_output_length: true,
        stream: false,
    }
}

/// `curl` sending n requests over one connection (one process, n URLs).
fn curl(url: &str, body: &str, n: usize) -> Result<Option<Vec<f64>>> {
    let target = format!("{url}/v1/completions");
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-w",
        "%{time_total}\\n",
        "-H",
        "content-type: application/json",
        "--data",
        body,
    ]);
    for _ in 0..n + 1 {
        // `-o` is per URL: without one each answer body would go to stdout.
        cmd.args(["-o", "/dev/null"]).arg(&target);
    }
    let Ok(output) = cmd.output() else {
        return Ok(None);
    };
    if !output.status.success() {
        eprintln!(
            "curl: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let times: Vec<f64> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .map(|s| s * 1e6)
        .collect();
    Ok((!times.is_empty()).then_some(times))
}

/// `wrk -c1 -t1` for 3 s, when installed: (median latency, time per request from
/// requests/s) in µs.
fn wrk(url: &str, body: &str) -> Option<(f64, f64)> {
    let dir = tempfile::tempdir().ok()?;
    let script = dir.path().join("post.lua");
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.headers[\"content-type\"] = \"application/json\"\nwrk.body = [[{body}]]\n"
    );
    std::fs::write(&script, lua).ok()?;
    let output = Command::new("wrk")
        .args(["-c1", "-t1", "-d3s", "--latency", "-s"])
        .arg(&script)
        .arg(format!("{url}/v1/completions"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let median = text.lines().find(|l| l.trim_start().starts_with("50%"))?;
    let median = micros(median.split_whitespace().nth(1)?)?;
    let rps: f64 = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((median, 1e6 / rps))
}

/// A wrk duration (`12.34us`, `1.2ms`, `1s`) in µs.
fn micros(value: &str) -> Option<f64> {
    let (number, unit) = value.split_at(value.find(|c: char| c.is_alphabetic())?);
    let n: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        _ => return None,
    })
}

fn main() -> Result<()> {
    let n: usize = std::env::var("JOULEBENCH_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let rounds = 10;
    let per_round = (n / rounds).max(1);
    let url = start_server()?;
    let wire = OpenaiCompletions;
    let body = serde_json::to_string(&wire.prepare(&input(), &Default::default())?.body)?;
    println!(
        "{n} sequential POST /v1/completions per case over one keep-alive loopback connection, cases interleaved in {rounds} rounds"
    );
    let mut raw = Raw::new(&url, &body)?;
    let mut multi = Harness::new(&url, false, true)?;
    let mut current = Harness::new(&url, false, false)?;
    let mut recorded = Harness::new(&url, true, false)?;
    // Warm every connection and allocator before timing.
    let mut scratch = Vec::new();
    raw.run(100, &mut scratch)?;
    multi.run(100, &mut scratch)?;
    current.run(100, &mut scratch)?;
    recorded.run(100, &mut scratch)?;
    let mut times: [Vec<f64>; 5] = Default::default();
    for _ in 0..rounds {
        raw.run(per_round, &mut times[0])?;
        multi.run(per_round, &mut times[1])?;
        current.run(per_round, &mut times[2])?;
        recorded.run(per_round, &mut times[3])?;
        if let Some(t) = curl(&url, &body, per_round)? {
            times[4].extend(t);
        }
    }
    let names = [
        "bare socket (the loopback round trip)",
        "HttpClient::send, multi-thread runtime",
        "HttpClient::send, current-thread runtime",
        "send + requests.csv row (what the run does)",
        "curl (one process, keep-alive)",
    ];
    println!("{:<44} {:>12} {:>12}", "case", "median µs", "mean µs");
    let mut medians = [f64::NAN; 5];
    for (k, (name, t)) in names.iter().zip(times).enumerate() {
        if t.is_empty() {
            println!("{name:<44} {:>12}", "not installed");
            continue;
        }
        let (median, mean) = stats(t);
        medians[k] = median;
        println!("{name:<44} {median:>12.1} {mean:>12.1}");
    }
    let (a_med, a_mean) = stats(append_alone(n)?);
    println!(
        "{:<44} {a_med:>12.1} {a_mean:>12.1}",
        "one requests.csv row alone (no network)"
    );
    match wrk(&url, &body) {
        Some((median, per_request)) => println!(
            "{:<44} {median:>12.1} {per_request:>12.1}",
            "wrk -c1 -t1 -d3s (median; 1/throughput)"
        ),
        None => println!("{:<44} {:>12}", "wrk -c1 -t1", "not installed"),
    }
    println!(
        "median ratios: the run's path / bare socket {:.2}×, / curl {:.2}× (target ≤ 1.5×)",
        medians[3] / medians[0],
        medians[3] / medians[4]
    );
    Ok(())
}
