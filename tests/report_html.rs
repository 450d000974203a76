//! `report.html`: one self-contained page. Checked as text everywhere, and rendered in
//! headless Chromium over the DevTools protocol where Chromium is installed (`.ci/run`
//! installs it and sets `JOULEBENCH_REQUIRE_CHROMIUM=1`, so there the browser test cannot
//! be skipped).

use report::synthetic::Synthetic;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// A rendered synthetic run: its folder and `report.html`'s text.
fn rendered() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    Synthetic::small().write(dir.path()).expect("write run");
    let o = Command::new(env!("CARGO_BIN_EXE_joulebench"))
        .args(["report", dir.path().to_str().expect("utf-8 path")])
        .output()
        .expect("run joulebench");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("report.html");
    (dir, html)
}

/// The SVG files `report` drew.
fn svg_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("plots"))
        .expect("plots/")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "svg"))
        })
        .count()
}

/// Every value of the attribute `name` in `html` (`src="..."`).
fn attribute_values<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!(" {name}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn report_html_holds_every_table_and_plot_and_refers_to_nothing_outside() {
    let (dir, html) = rendered();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("default-src 'none'"), "no fetch allowed");
    for link in ["src", "href", "xlink:href", "action"]
        .iter()
        .flat_map(|a| attribute_values(&html, a))
    {
        assert!(
            link.starts_with('#') || link.starts_with("data:"),
            "report.html refers to something outside itself: {link}"
        );
    }
    assert!(!html.contains("<script"), "no script is needed");
    assert_eq!(
        html.matches("<link").count(),
        html.matches("<link rel=\"icon\" href=\"data:,\">").count(),
        "no stylesheet is linked; the only icon is an empty data: one (no favicon fetch)"
    );
    let svgs = svg_files(dir.path());
    assert!(svgs >= 3, "the synthetic run draws several plots ({svgs})");
    assert_eq!(
        html.matches("<figure id=\"plot-").count(),
        svgs,
        "one inline figure per plot file"
    );
    assert_eq!(
        html.matches("<svg").count(),
        svgs,
        "each plot inline as SVG"
    );
    for config in [
        "distilbert-sst2@sst2",
        "flan-t5-base@sst2",
        "bart-cnn@samsum",
    ] {
        assert!(html.contains(config), "{config} is in the tables");
    }
    for section in [
        "Energy per inference",
        "Ratings",
        "Plots",
        "Probes",
        "Manifest",
    ] {
        assert!(
            html.contains(&format!("<h2>{section}</h2>")),
            "section {section}"
        );
    }
    let manifest = records::manifest::RunManifest::load(dir.path()).expect("run.json");
    for probe in &manifest.probes {
        assert!(
            html.contains(&format!("<tr><td><code>{}</code></td>", probe.name)),
            "probe {} in the table",
            probe.name
        );
    }
    assert!(
        html.contains("<table>"),
        "the Markdown tables became HTML tables"
    );
    assert!(html.contains("★"), "the ratings are shown");
}

#[test]
fn report_html_says_when_plots_were_not_drawn() {
    let dir = tempfile::tempdir().expect("temp dir");
    Synthetic::small().write(dir.path()).expect("write run");
    let o = Command::new(env!("CARGO_BIN_EXE_joulebench"))
        .args(["report", dir.path().to_str().expect("utf-8"), "--no-plots"])
        .output()
        .expect("run joulebench");
    assert!(o.status.success());
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("report.html");
    assert!(
        html.contains("--no-plots"),
        "the page says why it has no plot"
    );
    assert_eq!(html.matches("<svg").count(), 0);
}

/// The Chromium binary: `JOULEBENCH_CHROMIUM`, or Debian's.
fn chromium() -> Option<PathBuf> {
    std::env::var_os("JOULEBENCH_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
        .find(|p| p.is_file())
}

/// A headless Chromium in its own process group, killed with every helper process it
/// started when dropped.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group we made.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts Chromium with an empty profile and no background traffic; returns it and the
    /// browser's DevTools WebSocket address (read from its stderr within 60 s).
    fn start(binary: &Path) -> (Self, String) {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let stderr = child.stderr.take().expect("stderr");
        let browser = Browser {
            child,
            _profile: profile,
        };
        // Chromium's stderr is read (and drained to its end) on a thread, so a browser that
        // never prints its address fails the test at the deadline instead of hanging it.
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => {
                    if let Some(at) = line.find("ws://") {
                        return (browser, line[at..].trim().to_string());
                    }
                    seen.push(line);
                }
                Err(_) => panic!(
                    "Chromium gave no DevTools address within 60 s:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }
}

/// A DevTools protocol connection, attached to one page.
struct Page {
    socket: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    /// Every event received so far.
    events: Vec<Value>,
}

impl Page {
    /// Connects to the browser at `ws` and opens a blank page.
    fn open(ws: &str) -> Self {
        let host = ws
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("host:port");
        let stream = TcpStream::connect(host).expect("connect to DevTools");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("read timeout");
        let (socket, _) = tungstenite::client(ws, stream).expect("DevTools handshake");
        let mut page = Page {
            socket,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
        };
        let target = page.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = page.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        page.session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        page
    }

    /// Sends a command (to the page once attached) and returns its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .expect("send");
        loop {
            let reply = self.receive();
            if reply["id"] == json!(id) {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
            self.events.push(reply);
        }
    }

    /// The next message from the browser.
    fn receive(&mut self) -> Value {
        loop {
            match self.socket.read().expect("DevTools message") {
                Message::Text(t) => return serde_json::from_str(&t).expect("JSON message"),
                Message::Close(_) => panic!("DevTools closed the connection"),
                _ => {}
            }
        }
    }

    /// Waits for the event `method`, keeping every event on the way.
    fn wait_for(&mut self, method: &str, deadline: Instant) {
        while !self.events.iter().any(|e| e["method"] == method) {
            assert!(Instant::now() < deadline, "no {method} before the deadline");
            let event = self.receive();
            self.events.push(event);
        }
    }

    /// Loads `url` and returns the requests it made (other than itself) and its console
    /// errors and warnings.
    fn visit(&mut self, url: &str) -> (Vec<String>, Vec<String>) {
        self.events.clear();
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for(
            "Page.loadEventFired",
            Instant::now() + Duration::from_secs(60),
        );
        // Everything the page logged up to now, in order: a round trip flushes the events.
        self.eval("1");
        let requests = self
            .events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str())
            .filter(|u| *u != url && !u.starts_with("data:"))
            .map(str::to_string)
            .collect();
        let errors = self
            .events
            .iter()
            .filter(|e| {
                (e["method"] == "Runtime.consoleAPICalled"
                    && matches!(e["params"]["type"].as_str(), Some("error" | "warning")))
                    || e["method"] == "Runtime.exceptionThrown"
                    || (e["method"] == "Log.entryAdded"
                        && matches!(
                            e["params"]["entry"]["level"].as_str(),
                            Some("error" | "warning")
                        ))
            })
            .map(Value::to_string)
            .collect();
        (requests, errors)
    }

    /// Evaluates a JavaScript expression in the page and returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }
}

#[test]
fn report_html_renders_in_headless_chromium_with_no_error_and_no_request() {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var_os("JOULEBENCH_REQUIRE_CHROMIUM").is_none(),
            "JOULEBENCH_REQUIRE_CHROMIUM is set but no Chromium was found \
             (install Debian's chromium or set JOULEBENCH_CHROMIUM)"
        );
        eprintln!("report.html browser check skipped: no Chromium on this machine");
        return;
    };
    let (dir, _) = rendered();
    let url = |file: &Path| format!("file://{}", file.canonicalize().expect("path").display());
    let (_browser, ws) = Browser::start(&binary);
    let mut page = Page::open(&ws);
    for domain in ["Page", "Network", "Runtime", "Log"] {
        page.call(&format!("{domain}.enable"), json!({}));
    }
    // The detectors catch what they look for: a page with a fetch and a console error.
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><img src=\"http://127.0.0.1:9/x.png\"><script>console.error('x')</script>",
    )
    .expect("control page");
    let (requests, errors) = page.visit(&url(&control));
    assert_eq!(
        requests,
        ["http://127.0.0.1:9/x.png"],
        "the control's fetch is seen"
    );
    assert!(!errors.is_empty(), "the control's console error is seen");
    // And a fetch that report.html's own policy blocks is seen as an error.
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("report.html");
    let head_end = html.find("</head>").expect("head");
    let blocked = dir.path().join("blocked.html");
    std::fs::write(
        &blocked,
        format!(
            "{}<body><img src=\"http://127.0.0.1:9/y.png\"></body></html>",
            &html[..head_end + "</head>".len()]
        ),
    )
    .expect("blocked page");
    let (_, errors) = page.visit(&url(&blocked));
    assert!(
        errors.iter().any(|e| e.contains("Content Security Policy")),
        "the policy's refusal is seen: {errors:#?}"
    );

    // The trend page of `trend --html` (the same run twice) is held to the same rules.
    let history = dir.path().join("history.html");
    let run = dir.path().to_str().expect("utf-8");
    let o = Command::new(env!("CARGO_BIN_EXE_joulebench"))
        .args(["trend", run, run, "--out"])
        .arg(dir.path().join("trend"))
        .arg("--html")
        .arg(&history)
        .output()
        .expect("run joulebench trend");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (requests, errors) = page.visit(&url(&history));
    assert!(requests.is_empty(), "the trend page fetched {requests:?}");
    assert!(
        errors.is_empty(),
        "the trend page logged errors: {errors:#?}"
    );
    assert_eq!(
        page.eval("document.querySelectorAll('svg').length"),
        json!(1)
    );

    let (requests, errors) = page.visit(&url(&dir.path().join("report.html")));
    assert!(requests.is_empty(), "report.html fetched {requests:?}");
    assert!(errors.is_empty(), "report.html logged errors: {errors:#?}");
    let svgs = svg_files(dir.path());
    assert_eq!(
        page.eval("document.querySelectorAll('figure svg').length"),
        json!(svgs),
        "every plot is in the rendered page"
    );
    assert_eq!(
        page.eval(
            "Array.from(document.querySelectorAll('figure svg')).every(s => { \
             const r = s.getBoundingClientRect(); return r.width > 200 && r.height > 100; })"
        ),
        json!(true),
        "every plot is laid out at a readable size"
    );
    assert_eq!(
        page.eval("document.querySelectorAll('table').length > 3"),
        json!(true)
    );
    let shot = page.call(
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": true}),
    );
    let data = shot["data"].as_str().unwrap_or("");
    assert!(
        data.starts_with("iVBORw0KGgo") && data.len() > 10_000,
        "a PNG screenshot of the page"
    );
}

#[test]
fn trend_html_shows_each_nights_verdict_against_the_night_before() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut dirs = Vec::new();
    for night in 1..=3u64 {
        let d = tmp.path().join(format!("night{night}"));
        let mut run = Synthetic::small();
        run.seed = night;
        if night == 3 {
            // The summariser draws 30% more power on the third night.
            run.configs[2].gpu_active_w *= 1.3;
        }
        run.write(&d).expect("run");
        dirs.push(d.to_str().expect("utf-8").to_string());
    }
    let page = tmp.path().join("history.html");
    let out = tmp.path().join("trend");
    let mut args = vec![
        "trend".to_string(),
        "--out".to_string(),
        out.to_str().expect("utf-8").to_string(),
        "--html".to_string(),
        page.to_str().expect("utf-8").to_string(),
    ];
    args.extend(dirs);
    let o = Command::new(env!("CARGO_BIN_EXE_joulebench"))
        .args(&args)
        .output()
        .expect("run joulebench");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).expect("history.html");
    assert!(html.contains("default-src 'none'"));
    assert_eq!(html.matches("<svg").count(), 1, "the trend plot inline");
    assert!(
        html.contains("<strong>FAIL</strong> (regression)"),
        "night 3 fails the gate"
    );
    assert!(html.contains("<strong>pass</strong>"), "night 2 passes");
    // Newest first: the failing step comes before the passing one.
    let fail_at = html.find("<strong>FAIL</strong>").expect("fail");
    let pass_at = html.find("<strong>pass</strong>").expect("pass");
    assert!(fail_at < pass_at, "newest step first");
    let regression_row = html
        .lines()
        .find(|l| l.contains("bart-cnn@samsum") && l.contains("REGRESSION"))
        .expect("the summariser's row says REGRESSION");
    assert!(regression_row.contains("+"), "{regression_row}");
    assert!(html.contains("Ratings over these runs") && html.contains("★"));
}
