//! `joulebench slurm`: the generated array, merge and submit scripts say what was asked,
//! parse as bash, chain the merge after the array, and — run by hand the way Slurm would
//! run them — shard, merge and report a loopback suite.

use crate::common;

use common::{joulebench, manifest, measured, one_model_suite, openai_server, suite_dir};
use std::path::Path;
use std::process::{Command, Output};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `bash -n`: the script parses.
fn assert_bash_syntax(path: &Path) {
    let o = Command::new("bash")
        .arg("-n")
        .arg(path)
        .output()
        .expect("bash");
    assert!(o.status.success(), "{}: {}", path.display(), text(&o));
}

/// `joulebench slurm SUITE ARGS...` in a fresh temp folder; returns it with the scripts'
/// folder (`scripts/`) and the results folder (`results/`).
fn generate(args: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, Output) {
    let server = openai_server();
    let suite = one_model_suite("openai-completions", &server.url, "general-purpose", "", "");
    let (dir, suite_path) = suite_dir(&suite, 5);
    let o = joulebench()
        .arg("slurm")
        .arg(&suite_path)
        .arg("--results")
        .arg(dir.path().join("results"))
        .arg("--out")
        .arg(dir.path().join("scripts"))
        .args(args)
        .output()
        .expect("joulebench slurm");
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
    let scripts = dir.path().join("scripts");
    (dir, scripts, o)
}

#[test]
fn scripts_carry_every_option_and_parse() {
    let (dir, scripts, o) = generate(&[
        "--shards",
        "4",
        "--partition",
        "gpu",
        "--gpus-per-task",
        "a100:1",
        "--cpus-per-task",
        "8",
        "--time",
        "2-00:00:00",
        "--exclusive",
        "--max-parallel",
        "2",
        "--sbatch=--account=lab",
        "--joulebench",
        "/opt/joulebench/bin/joulebench",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let results = dir.path().join("results");
    let results = results.to_str().expect("utf-8");
    let shards = read(&scripts.join("shards.sbatch"));
    for line in [
        "#!/bin/bash",
        "#SBATCH --array=0-3%2",
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-task=a100:1",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --time=2-00:00:00",
        "#SBATCH --exclusive",
        "#SBATCH --account=lab",
        "#SBATCH --ntasks=1",
        &format!("#SBATCH --output={results}/slurm-shard-%A_%a.out"),
        "JOULEBENCH='/opt/joulebench/bin/joulebench'",
        &format!("RESULTS='{results}'"),
        "exec \"$JOULEBENCH\" run --quiet --shard auto/4 --out \"$SHARD_DIR\" \"$SUITE\"",
        "exec \"$JOULEBENCH\" run --quiet --resume \"$SHARD_DIR\" \"$SUITE\"",
    ] {
        assert!(
            shards.lines().any(|l| l.trim() == line),
            "{line:?} not in\n{shards}"
        );
    }
    // Every #SBATCH line comes before the first command, as sbatch requires.
    let first_command = shards
        .lines()
        .position(|l| !l.starts_with('#'))
        .expect("commands");
    assert!(
        shards
            .lines()
            .skip(first_command)
            .all(|l| !l.starts_with("#SBATCH"))
    );

    let merge = read(&scripts.join("merge.sbatch"));
    for needle in [
        "#SBATCH --partition=gpu",
        "#SBATCH --account=lab",
        "for i in $(seq 0 3)",
        "report --merge \"${SHARDS[@]}\" --out \"$OUT\"",
    ] {
        assert!(merge.contains(needle), "{needle:?} not in\n{merge}");
    }
    // The merge needs no array, GPU or whole node.
    for absent in ["--array", "--gpus-per-task", "--exclusive"] {
        assert!(!merge.contains(absent), "{absent} in\n{merge}");
    }

    let submit = read(&scripts.join("submit.sh"));
    assert!(
        submit.contains("--dependency=afterany:\"$ARRAY\""),
        "{submit}"
    );
    for name in ["shards.sbatch", "merge.sbatch", "submit.sh"] {
        assert_bash_syntax(&scripts.join(name));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(scripts.join(name))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111, "{name} is executable");
        }
    }
    // The plan of the shards is printed: one configuration for four shards.
    assert!(
        text(&o).contains("shard 0/4: 1 configuration(s)"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("some shards are empty"), "{}", text(&o));
}

#[test]
fn submit_chains_the_merge_after_the_array() {
    let (dir, scripts, o) = generate(&["--shards", "3", "--dependency", "afterok"]);
    assert!(o.status.success(), "{}", text(&o));
    // A stand-in sbatch that logs its arguments and answers like `sbatch --parsable`.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let log = dir.path().join("sbatch.log");
    let fake = format!(
        "#!/bin/bash\necho \"$*\" >> '{}'\nn=$(wc -l < '{}')\necho \"$((4100 + n));cluster\"\n",
        log.display(),
        log.display()
    );
    std::fs::write(bin.join("sbatch"), fake).expect("fake sbatch");
    let o = Command::new("chmod")
        .arg("+x")
        .arg(bin.join("sbatch"))
        .output()
        .expect("chmod");
    assert!(o.status.success());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("bash")
        .arg(scripts.join("submit.sh"))
        .env("PATH", path)
        .output()
        .expect("submit.sh");
    assert!(o.status.success(), "{}", text(&o));
    let calls: Vec<String> = read(&log).lines().map(str::to_string).collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].ends_with("shards.sbatch"), "{calls:?}");
    assert!(
        calls[1].contains("--dependency=afterok:4101") && calls[1].ends_with("merge.sbatch"),
        "{calls:?}"
    );
    assert!(
        text(&o).contains("array job 4101 (3 shards) and merge job 4102"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_scripts_run_by_hand_shard_merge_and_report() {
    let (dir, scripts, o) = generate(&["--shards", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let results = dir.path().join("results");
    // What Slurm does: each array task with its index, then the merge job.
    for i in 0..2 {
        let o = Command::new("bash")
            .arg(scripts.join("shards.sbatch"))
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .env_remove("JOB_COMPLETION_INDEX")
            .output()
            .expect("shard task");
        assert!(o.status.success(), "shard {i}: {}", text(&o));
        let m = manifest(&results.join(format!("shard-{i}")));
        assert_eq!(m["shard"]["index_from"], "SLURM_ARRAY_TASK_ID");
        assert_eq!(m["status"], "complete");
    }
    // One configuration, two shards: shard 1 is an empty, complete run.
    assert!(measured(&results.join("shard-1")).is_empty());
    // A resubmitted task of a complete shard does nothing.
    let o = Command::new("bash")
        .arg(scripts.join("shards.sbatch"))
        .env("SLURM_ARRAY_TASK_ID", "0")
        .output()
        .expect("shard task");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("already complete"), "{}", text(&o));

    let o = Command::new("bash")
        .arg(scripts.join("merge.sbatch"))
        .env("SLURM_JOB_ID", "77")
        .output()
        .expect("merge job");
    assert!(o.status.success(), "{}", text(&o));
    let merged = results.join("merged");
    assert_eq!(
        std::fs::read_link(&merged).expect("merged link"),
        Path::new("merged-77")
    );
    let m = manifest(&merged);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["merged"]["count"], 2);
    assert_eq!(
        measured(&merged).len(),
        measured(&results.join("shard-0")).len()
    );
    assert!(!measured(&merged).is_empty());
    assert!(read(&merged.join("summary.md")).contains("m1"));
}

#[test]
fn bad_options_are_one_line_errors() {
    for (args, needle) in [
        (&["--shards", "0"][..], "--shards must be at least 1"),
        (&["--shards", "4000000000"][..], "at most 1000 shards"),
        (&["--shards", "2", "--time", "soon"][..], "--time"),
        (&["--shards", "2", "--partition", "a b"][..], "--partition"),
        (
            &["--shards", "2", "--sbatch", "account=lab"][..],
            "--sbatch",
        ),
        (
            &["--shards", "2", "--joulebench", "/opt/my jb"][..],
            "--joulebench",
        ),
    ] {
        let (dir, scripts, o) = generate(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
        assert_eq!(text(&o).trim().lines().count(), 1, "{}", text(&o));
        assert!(!scripts.exists(), "{args:?}");
        drop(dir);
    }
}

#[test]
fn scripts_are_written_when_the_datasets_are_not_on_this_host() {
    // The datasets live on the cluster's shared storage, not on the submit host.
    let suite = one_model_suite(
        "openai-completions",
        "http://127.0.0.1:9",
        "general-purpose",
        "",
        "",
    );
    let (dir, suite_path) = suite_dir(&suite, 5);
    let data = dir.path().join("data.jsonl");
    std::fs::remove_file(&data).expect("remove the dataset");
    let scripts = dir.path().join("scripts");
    let o = joulebench()
        .arg("slurm")
        .arg(&suite_path)
        .args(["--shards", "2", "--results"])
        .arg(dir.path().join("results"))
        .arg("--out")
        .arg(&scripts)
        .output()
        .expect("joulebench slurm");
    assert!(o.status.success(), "{}", text(&o));
    for name in ["shards.sbatch", "merge.sbatch", "submit.sh"] {
        assert!(scripts.join(name).is_file(), "{name}: {}", text(&o));
    }
    assert!(
        text(&o).contains("shard 0/2: 1 configuration(s)"),
        "{}",
        text(&o)
    );
    // ... and says which file the nodes must see.
    let t = text(&o);
    assert!(
        t.lines()
            .any(|l| l.starts_with("note: dataset sample") && l.contains("data.jsonl")),
        "{t}"
    );
}
