//! Load levels in the schedule: closed-loop clients and open-loop Poisson arrivals, each
//! level its own configuration, against a loopback server.

use crate::common::{
    Reply, TestServer, assert_ok, csv_rows, dry_run_at, dry_run_each_suite_in, manifest, measured,
    one_model_suite, openai_answer, run_in, suite_dir,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// An OpenAI server answering each POST after `delay`.
fn stalling_server(delay: Duration) -> TestServer {
    TestServer::start_replies(move |r| {
        let (status, body) = openai_answer(r);
        if r.method == "POST" {
            Reply::Stall(delay, status, body)
        } else {
            Reply::Json(status, body)
        }
    })
}

/// The most requests of `rows` in flight at once, from their start and end times.
fn most_in_flight(rows: &[&BTreeMap<String, String>]) -> usize {
    let mut edges: Vec<(u64, i32)> = Vec::new();
    for r in rows {
        let start: u64 = r["t_start_ns"].parse().expect("start");
        let end: u64 = r["t_end_ns"].parse().expect("end");
        edges.push((start, 1));
        edges.push((end, -1));
    }
    // Ends before starts at the same instant: touching requests do not overlap.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most as usize
}

fn schedule(load: &str) -> String {
    format!("inferences = 8\nrepetitions = 2\nwarmup = 2\nseed = 5\nload = {load}\n")
}

#[test]
fn each_closed_loop_level_is_a_configuration_with_that_many_requests_in_flight() {
    let server = stalling_server(Duration::from_millis(40));
    let suite = one_model_suite(
        "openai-completions",
        &server.url,
        "general-purpose",
        &schedule(r#"["c1", "c4"]"#),
        "",
    );
    let (dir, path) = suite_dir(&suite, 4);
    let (output, out) = run_in(dir.path(), &path);
    assert_ok(&output);
    let rows = measured(&out);
    for (level, clients) in [("c1", 1), ("c4", 4)] {
        let id = format!("m1@sample~{level}");
        for rep in ["1", "2"] {
            let of: Vec<_> = rows
                .iter()
                .filter(|r| r["config"] == id && r["repetition"] == rep)
                .collect();
            assert_eq!(of.len(), 8, "{id} repetition {rep}");
            assert_eq!(most_in_flight(&of), clients, "{id} repetition {rep}");
            assert!(of.iter().all(|r| r["t_scheduled_ns"].is_empty()));
        }
    }
    let reps = csv_rows(&out.join("repetitions.csv"));
    for level in ["c1", "c4"] {
        let of: Vec<_> = reps
            .iter()
            .filter(|r| r["config"] == format!("m1@sample~{level}"))
            .collect();
        assert!(!of.is_empty(), "{level}");
        assert!(of.iter().all(|r| r["load"] == level), "{of:?}");
    }
    let load = &manifest(&out)["load"];
    assert_eq!(load["open_loop_ramp_share"], 0.1, "{load}");
}

#[test]
fn open_loop_arrivals_come_at_their_seeded_times_without_waiting_for_answers() {
    let server = stalling_server(Duration::from_millis(5));
    // Hold every measured POST (after 2 readiness-free warm-ups) until 5 wait at once: a
    // closed loop of 1 would never get there.
    server.gate.hold_from(2);
    let gate = std::sync::Arc::clone(&server.gate);
    let posts = std::sync::Arc::clone(&server.posts);
    let opener = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while posts.load(std::sync::atomic::Ordering::SeqCst) < 2 + 5
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let reached = posts.load(std::sync::atomic::Ordering::SeqCst) >= 2 + 5;
        gate.open();
        reached
    });
    let suite = one_model_suite(
        "openai-completions",
        &server.url,
        "general-purpose",
        &schedule(r#"["p200"]"#),
        "",
    );
    let (dir, path) = suite_dir(&suite, 4);
    let (output, out) = run_in(dir.path(), &path);
    assert_ok(&output);
    assert!(
        opener.join().expect("opener"),
        "5 requests were in flight at once while none was answered"
    );
    let rows = measured(&out);
    let id = "m1@sample~p200";
    for rep in 1..=2u32 {
        let mut of: Vec<_> = rows
            .iter()
            .filter(|r| r["config"] == id && r["repetition"] == rep.to_string())
            .collect();
        assert_eq!(of.len(), 8);
        of.sort_by_key(|r| r["index"].parse::<u32>().expect("index"));
        let due: Vec<u64> = of
            .iter()
            .map(|r| r["t_scheduled_ns"].parse().expect("t_scheduled_ns"))
            .collect();
        let expected = harness::arrivals::poisson_offsets_ns(
            200.0,
            8,
            harness::arrivals::batch_seed(5, id, rep),
        );
        let offsets: Vec<u64> = due.iter().map(|t| t - due[0]).collect();
        assert_eq!(offsets, expected, "repetition {rep}: the seeded arrivals");
        for (r, t) in of.iter().zip(&due) {
            let start: u64 = r["t_start_ns"].parse().expect("start");
            assert!(start >= *t, "sent before it was due: {r:?}");
        }
    }
}

#[test]
fn the_dry_run_names_the_levels_and_bad_levels_are_refused_where_written() {
    let suite = one_model_suite(
        "openai-completions",
        "http://127.0.0.1:9",
        "general-purpose",
        &schedule(r#"["c1", "c4", "p2.5"]"#),
        "",
    );
    let (_dir, path) = suite_dir(&suite, 4);
    let (code, stdout, stderr) = dry_run_at(&path);
    assert_eq!(code, 0, "{stderr}");
    for id in ["m1@sample~c1", "m1@sample~c4", "m1@sample~p2.5"] {
        assert!(stdout.contains(id), "{id} in {stdout}");
    }
    assert!(stdout.contains("load levels c1, c4, p2.5"), "{stdout}");

    for (load, needle) in [
        (r#"["c0"]"#, "`cN`"),
        (r#"["c4", "c4"]"#, "listed twice"),
        (r#"["c99999"]"#, "expected 1 to 4096"),
        (r#"["fast"]"#, "`pR`"),
        (r#"["c8"]"#, "raise `schedule.inferences` to at least 9"),
        (r#"["p0.001"]"#, "expected 0.01 to 100000"),
    ] {
        let suite = one_model_suite(
            "openai-completions",
            "http://127.0.0.1:9",
            "general-purpose",
            &schedule(load),
            "",
        );
        let (_dir, path) = suite_dir(&suite, 4);
        let (code, _, stderr) = dry_run_at(&path);
        assert_eq!(code, 2, "{load}: {stderr}");
        assert!(stderr.contains("schedule.load"), "{load}: {stderr}");
        assert!(stderr.contains(needle), "{load}: {stderr}");
        assert!(
            stderr.contains("suite.toml:"),
            "names the file and line: {stderr}"
        );
    }

    // A bad `[schedule] load` is refused even when every model has its own.
    let shadowed = one_model_suite(
        "openai-completions",
        "http://127.0.0.1:9",
        "general-purpose",
        &schedule(r#"["c0"]"#),
        "",
    )
    .replace(
        "server = \"local\"\n",
        "server = \"local\"\nload = [\"c1\"]\n",
    );
    assert!(
        shadowed.contains("load = [\"c1\"]"),
        "the model has its own load"
    );
    let (_dir, path) = suite_dir(&shadowed, 4);
    let (code, _, stderr) = dry_run_at(&path);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("schedule.load") && stderr.contains("`cN`"),
        "{stderr}"
    );

    let both = one_model_suite(
        "openai-completions",
        "http://127.0.0.1:9",
        "general-purpose",
        &format!("concurrency = 2\n{}", schedule(r#"["c1"]"#)),
        "",
    );
    let (_dir, path) = suite_dir(&both, 4);
    let (code, _, stderr) = dry_run_at(&path);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("remove `concurrency`"), "{stderr}");

    let ambiguous = one_model_suite(
        "openai-completions",
        "http://127.0.0.1:9",
        "general-purpose",
        &schedule(r#"["c1"]"#),
        "",
    )
    .replace("name = \"m1\"", "name = \"m1@sample\"")
    .replace("[schedule]", "[[models]]\nname = \"m1\"\ntask = \"sentiment\"\nclass = \"general-purpose\"\nserver = \"local\"\n\n[[datasets]]\nname = \"sample@sample\"\ntask = \"sentiment\"\npath = \"data.jsonl\"\nfields = { text = \"sentence\" }\n\n[schedule]");
    let (_dir, path) = suite_dir(&ambiguous, 4);
    let (code, _, stderr) = dry_run_at(&path);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("m1@sample@sample~c1"), "{stderr}");
    assert!(stderr.contains("rename a model or dataset"), "{stderr}");

    let limits = one_model_suite(
        "openai-completions",
        "http://127.0.0.1:9",
        "general-purpose",
        &format!("gpu_power_limits_w = [300]\n{}", schedule(r#"["c1"]"#)),
        "",
    );
    let (_dir, path) = suite_dir(&limits, 4);
    let (code, _, stderr) = dry_run_at(&path);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("add \"nvml\""), "{stderr}");
}

#[test]
fn every_load_suite_dry_runs_with_its_levels() {
    let plans = dry_run_each_suite_in("load");
    for (_, stdout) in &plans {
        assert!(stdout.contains("load levels c1, "), "{stdout}");
        assert!(
            stdout.contains("~c8"),
            "a configuration per level: {stdout}"
        );
    }
    assert!(plans.len() >= 2, "the CPU and the GPU load suites");
    // The GPU suite sweeps power limits: every level at each limit.
    let (_, stdout) = plans
        .iter()
        .find(|(path, _)| path.ends_with("vllm-gpu.toml"))
        .expect("suites/load/vllm-gpu.toml");
    for id in ["~c1-300w", "~c256-500w", "~c64-700w"] {
        assert!(stdout.contains(id), "{id}: {stdout}");
    }
    assert!(
        stdout.contains("configurations (18)"),
        "6 levels × 3 limits: {stdout}"
    );
}

#[test]
fn ctrl_c_ends_an_open_loop_at_once_not_at_its_last_arrival() {
    let server = stalling_server(Duration::from_millis(1));
    // p0.5: 30 arrivals spread over about a minute; no warm-up, so the first measured
    // request is sent at once.
    let suite = one_model_suite(
        "openai-completions",
        &server.url,
        "general-purpose",
        "inferences = 30\nrepetitions = 1\nwarmup = 0\nseed = 5\nload = [\"p0.5\"]\n",
        "",
    );
    let offsets = harness::arrivals::poisson_offsets_ns(
        0.5,
        30,
        harness::arrivals::batch_seed(5, "m1@sample~p0.5", 1),
    );
    let last_s = *offsets.last().expect("arrivals") as f64 / 1e9;
    assert!(last_s > 30.0, "the seeded schedule spans {last_s} s");
    let (dir, path) = suite_dir(&suite, 4);
    let out = dir.path().join("results");
    let child = crate::common::joulebench()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start joulebench");
    assert!(
        server.wait_for_posts(1, Duration::from_secs(30)),
        "the first arrival never came"
    );
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on the pid of a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let signalled = std::time::Instant::now();
    let output = child.wait_with_output().expect("run ends");
    let waited = signalled.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        waited < Duration::from_secs(10),
        "the run ended {waited:?} after Ctrl-C; its last arrival was due {last_s:.0} s in"
    );
    assert_eq!(manifest(&out)["status"], "interrupted");
}

#[test]
fn a_repetition_window_ends_when_its_last_answer_is_recorded() {
    // Each repetition's energy window closes right after its last request: nothing in the
    // request loop may keep it open (a watcher that was waited for added up to 50 ms of
    // idle to every window). Ten repetitions of each kind, so a delay that falls anywhere
    // in a 50 ms poll shows in at least one of them.
    let server = stalling_server(Duration::from_millis(2));
    let suite = one_model_suite(
        "openai-completions",
        &server.url,
        "general-purpose",
        "inferences = 4\nrepetitions = 10\nwarmup = 0\nseed = 5\nload = [\"c1\", \"p500\"]\n",
        "",
    );
    let (dir, path) = suite_dir(&suite, 4);
    let (output, out) = run_in(dir.path(), &path);
    assert_ok(&output);
    let mut last_end: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in measured(&out) {
        let end: u64 = r["t_end_ns"].parse().expect("end");
        let key = (r["config"].clone(), r["repetition"].clone());
        let e = last_end.entry(key).or_default();
        *e = (*e).max(end);
    }
    let reps = csv_rows(&out.join("repetitions.csv"));
    assert_eq!(
        last_end.len(),
        20,
        "10 repetitions of each level were measured"
    );
    assert!(!reps.is_empty());
    for r in &reps {
        let window_end: u64 = r["t_end_ns"].parse().expect("window end");
        let last = last_end[&(r["config"].clone(), r["repetition"].clone())];
        let gap_ms = window_end.saturating_sub(last) as f64 / 1e6;
        assert!(
            gap_ms < 15.0,
            "{} repetition {}: the window closed {gap_ms:.1} ms after the last answer",
            r["config"],
            r["repetition"]
        );
    }
}
