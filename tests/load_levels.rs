//! Load levels in the schedule: closed-loop clients and open-loop Poisson arrivals, each
//! level its own configuration, against a loopback server.

use crate::common::{
    Reply, TestServer, assert_ok, csv_rows, dry_run_at, manifest, measured, one_model_suite,
    openai_answer, run_in, suite_dir,
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
        &schedule(r#"["c1", "c8", "p2.5"]"#),
        "",
    );
    let (_dir, path) = suite_dir(&suite, 4);
    let (code, stdout, stderr) = dry_run_at(&path);
    assert_eq!(code, 0, "{stderr}");
    for id in ["m1@sample~c1", "m1@sample~c8", "m1@sample~p2.5"] {
        assert!(stdout.contains(id), "{id} in {stdout}");
    }
    assert!(stdout.contains("load levels c1, c8, p2.5"), "{stdout}");

    for (load, needle) in [
        (r#"["c0"]"#, "`cN`"),
        (r#"["c4", "c4"]"#, "listed twice"),
        (r#"["c99999"]"#, "expected 1 to 4096"),
        (r#"["fast"]"#, "`pR`"),
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
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/load");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("suites/load") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        seen += 1;
        let (code, stdout, stderr) = dry_run_at(&path);
        assert_eq!(code, 0, "{}: {stdout}{stderr}", path.display());
        assert!(stdout.contains("load levels c1, "), "{stdout}");
        assert!(
            stdout.contains("~c8"),
            "a configuration per level: {stdout}"
        );
    }
    assert!(seen >= 2, "the CPU and the GPU load suites");
    // The GPU suite sweeps power limits: every level at each limit.
    let (_, stdout, _) = dry_run_at(&dir.join("vllm-gpu.toml"));
    for id in ["~c1-300w", "~c256-500w", "~c64-700w"] {
        assert!(stdout.contains(id), "{id}: {stdout}");
    }
    assert!(
        stdout.contains("configurations (18)"),
        "6 levels × 3 limits: {stdout}"
    );
}
