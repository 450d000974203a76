//! End-to-end: dataset files as a run reads them: their SHA-256 in `run.json`, a changed
//! one refused on `--resume`, and paths that are not regular files named for what they are.

use crate::common;

use common::{joulebench, manifest, one_model_suite, openai_server, run_in_ok, suite_dir};
use std::path::Path;
use std::process::Command;

fn suite(url: &str) -> String {
    one_model_suite(
        "openai-completions",
        url,
        "general-purpose",
        "inferences = 2\nrepetitions = 1\nwarmup = 0",
        "",
    )
}

/// `sha256sum FILE`'s digest.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Marks the finished run in `out` as interrupted, so `--resume` takes it up.
fn mark_interrupted(out: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut m = manifest(out);
    m["status"] = "interrupted".into();
    edit(&mut m);
    std::fs::write(out.join("run.json"), m.to_string()).expect("write run.json");
}

fn resume(out: &Path) -> (Option<i32>, String) {
    let (o, stderr) = common::resume(out);
    (o.status.code(), stderr)
}

#[test]
fn run_json_records_each_dataset_hash_and_resume_refuses_a_changed_file() {
    let server = openai_server();
    let (dir, path) = suite_dir(&suite(&server.url), 4);
    let data = dir.path().join("data.jsonl");
    let old_hash = sha256sum(&data);
    let out = run_in_ok(dir.path(), &path);
    let m = manifest(&out);
    assert_eq!(m["datasets"][0]["name"], "sample", "{m}");
    assert_eq!(m["datasets"][0]["sha256"], old_hash.as_str(), "{m}");
    assert!(
        m["datasets"][0]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("data.jsonl")),
        "{m}"
    );

    mark_interrupted(&out, |_| {});
    let original = std::fs::read(&data).expect("read");
    std::fs::write(&data, "{\"sentence\": \"another file\"}\n").expect("replace");
    let new_hash = sha256sum(&data);
    let posts = server.posts.load(std::sync::atomic::Ordering::SeqCst);
    let (code, stderr) = resume(&out);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("dataset `sample`")
            && stderr.contains("data.jsonl")
            && stderr.contains(&old_hash)
            && stderr.contains(&new_hash)
            && stderr.contains("restore the file")
            && stderr.contains("start a new run"),
        "{stderr}"
    );
    assert_eq!(
        server.posts.load(std::sync::atomic::Ordering::SeqCst),
        posts,
        "nothing is sent"
    );
    assert_eq!(
        manifest(&out)["status"],
        "interrupted",
        "run.json is left as it was"
    );

    // Restored, the run resumes; a run.json from before datasets were hashed warns only.
    std::fs::write(&data, original).expect("restore");
    mark_interrupted(&out, |m| {
        m.as_object_mut().expect("object").remove("datasets");
    });
    let (code, stderr) = resume(&out);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("no dataset hashes"), "{stderr}");
    assert_eq!(manifest(&out)["datasets"][0]["sha256"], old_hash.as_str());

    // A dataset that is gone is named as missing, with its hash and the fix.
    mark_interrupted(&out, |_| {});
    std::fs::remove_file(&data).expect("remove");
    let (code, stderr) = resume(&out);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("dataset `sample`")
            && stderr.contains("is missing")
            && stderr.contains(&old_hash)
            && stderr.contains("restore the file"),
        "{stderr}"
    );
}

#[test]
fn a_dataset_path_that_is_no_regular_file_says_what_it_is() {
    let server = openai_server();
    let (dir, path) = suite_dir(&suite(&server.url), 4);
    let d = dir.path();
    let fifo = d.join("fifo.jsonl");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    std::fs::create_dir(d.join("folder.jsonl")).expect("mkdir");
    std::os::unix::fs::symlink(d.join("b.jsonl"), d.join("a.jsonl")).expect("link");
    std::os::unix::fs::symlink(d.join("a.jsonl"), d.join("b.jsonl")).expect("link");
    let text = std::fs::read_to_string(&path).expect("suite");
    for (dataset, says) in [
        ("fifo.jsonl", "is not a regular file (a FIFO)"),
        ("/dev/null", "is not a regular file (a character device"),
        ("folder.jsonl", "is not a regular file (a directory)"),
        (
            "a.jsonl",
            "is a symlink loop (too many levels of symbolic links)",
        ),
    ] {
        let path = d.join(format!("suite-{}.toml", dataset.replace('/', "_")));
        let suite = text.replace("\"data.jsonl\"", &format!("{dataset:?}"));
        let suite = suite.replace("[[datasets]]", "[[datasets]]\nformat = \"jsonl\"");
        std::fs::write(&path, suite).expect("write suite");
        let o = joulebench()
            .args(["run", "--quiet", "--out"])
            .arg(d.join(format!("results-{}", dataset.replace('/', "_"))))
            .arg(&path)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{dataset}: {stderr}");
        assert!(
            stderr.contains(says) && stderr.contains("datasets.path"),
            "{dataset}: {stderr}"
        );
        assert!(!stderr.contains("not found"), "{dataset}: {stderr}");
    }
}
