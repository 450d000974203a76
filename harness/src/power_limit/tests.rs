//! The guard and the journal on fake GPUs.

use super::error::watts_text;
use super::journal::{journal_path_from, proc_stat, process_alive, write_atomically};
use super::*;
use probes::nvml::GpuError;
use probes::nvml::fake::{FakeGpu, FakeGpuState};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

type Handle = Arc<Mutex<FakeGpuState>>;

/// Fake GPUs 0..n at 400 W (allowed 100 to 400 W).
fn gpus(n: u32) -> (Vec<Box<dyn GpuDevice>>, Vec<Handle>) {
    (0..n)
        .map(|i| {
            let (gpu, handle) = FakeGpu::new(FakeGpuState::with_counter(i, 0));
            (Box::new(gpu) as Box<dyn GpuDevice>, handle)
        })
        .unzip()
}

fn state(h: &Handle) -> FakeGpuState {
    h.lock().expect("fake state").clone()
}

fn edit(h: &Handle, f: impl FnOnce(&mut FakeGpuState)) {
    f(&mut h.lock().expect("fake state"));
}

fn limit(h: &Handle) -> f64 {
    state(h).power_limit_w.expect("limit")
}

fn sets(h: &Handle) -> Vec<f64> {
    state(h).power_limit_sets
}

#[test]
fn read_set_measure_restore_ends_at_the_original_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("state/power-limits.json");
    let (devices, h) = gpus(2);
    let mut pl = PowerLimits::open(devices, &journal).expect("open");
    let read = pl.gpus();
    assert_eq!(read.len(), 2);
    assert_eq!((read[1].index, read[1].uuid.as_str()), (1, "GPU-fake-1"));
    assert_eq!(
        (read[0].original_w, read[0].min_w, read[0].max_w),
        (400.0, 100.0, 400.0)
    );
    assert!(!journal.exists(), "nothing changed yet: no journal");

    pl.set(300.0).expect("set 300");
    // Before the first change: the journal names each GPU's original and this process.
    let j = read_journal(&journal).expect("journal").expect("written");
    assert_eq!(j.pid, std::process::id());
    assert!(j.owner_alive());
    assert_eq!(
        j.gpus,
        [
            JournalGpu {
                index: 0,
                uuid: "GPU-fake-0".into(),
                original_w: 400.0
            },
            JournalGpu {
                index: 1,
                uuid: "GPU-fake-1".into(),
                original_w: 400.0
            },
        ]
    );
    assert_eq!(limit(&h[0]), 300.0, "measured at 300 W");
    assert_eq!(pl.gpus()[1].set_w, Some(300.0));
    pl.set(250.0).expect("set 250");
    assert_eq!(limit(&h[1]), 250.0, "measured at 250 W");
    pl.set(250.0).expect("the same level again");
    pl.restore().expect("restore");
    for g in &h {
        assert_eq!(sets(g), [300.0, 250.0, 400.0], "read, set, set, restore");
        assert_eq!(limit(g), 400.0);
    }
    assert!(!journal.exists(), "restored: journal removed");
    pl.restore().expect("again");
    drop(pl);
    assert_eq!(
        sets(&h[0]).len(),
        3,
        "restore and drop after it set nothing"
    );
}

/// A sweep over levels that fails at the second, as a run stopped mid-level returns.
fn sweep(devices: Vec<Box<dyn GpuDevice>>, journal: &Path) -> Result<(), String> {
    let mut pl = PowerLimits::open(devices, journal).map_err(|e| e.to_string())?;
    for level in [300.0, 250.0, 200.0] {
        pl.set(level).map_err(|e| e.to_string())?;
        if level == 250.0 {
            return Err("interrupted at 250 W".into());
        }
    }
    pl.restore().map_err(|e| e.to_string())
}

#[test]
fn a_sweep_interrupted_mid_level_is_restored_on_drop() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("power-limits.json");
    let (devices, h) = gpus(1);
    assert_eq!(sweep(devices, &journal), Err("interrupted at 250 W".into()));
    assert_eq!(sets(&h[0]), [300.0, 250.0, 400.0]);
    assert_eq!(limit(&h[0]), 400.0);
    assert!(!journal.exists());

    // A panic mid-level unwinds through the guard: restored too.
    let (devices, h) = gpus(1);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut pl = PowerLimits::open(devices, &journal).expect("open");
        pl.set(200.0).expect("set");
        panic!("a bug mid-level");
    }));
    assert!(outcome.is_err());
    assert_eq!(sets(&h[0]), [200.0, 400.0]);
    assert!(!journal.exists());
}

#[test]
fn a_limit_out_of_range_changes_nothing_and_names_the_range() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("power-limits.json");
    let (devices, h) = gpus(2);
    edit(&h[1], |g| g.power_limit_constraints_w = Ok((150.0, 350.0)));
    let mut pl = PowerLimits::open(devices, &journal).expect("open");
    let e = pl.set(120.0).expect_err("below GPU 1's minimum");
    let text = e.to_string();
    assert!(
        matches!(e, PowerLimitError::OutOfRange { index: 1, .. }),
        "{e:?}"
    );
    assert!(
        text.contains("120 W") && text.contains("150 to 350 W"),
        "{text}"
    );
    assert!(text.contains("DEFAULT"), "{text}");
    for bad in [f64::NAN, f64::INFINITY, -5.0, 401.0] {
        assert!(pl.set(bad).is_err(), "{bad}");
    }
    assert!(sets(&h[0]).is_empty() && sets(&h[1]).is_empty());
    assert!(!journal.exists());
}

#[test]
fn without_root_a_set_is_refused_clearly_and_nothing_is_left() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("power-limits.json");
    let (devices, h) = gpus(1);
    edit(&h[0], |g| {
        g.set_power_limit_error = Some(GpuError::NoPermission)
    });
    let mut pl = PowerLimits::open(devices, &journal).expect("reading needs no root");
    let e = pl.set(250.0).expect_err("no permission");
    assert!(
        matches!(e, PowerLimitError::NoPermission { index: 0, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("needs root") && text.contains("sudo"),
        "{text}"
    );
    assert!(text.contains("DEFAULT"), "{text}");
    assert_eq!(limit(&h[0]), 400.0);
    assert!(!journal.exists(), "no change made: no journal left");
    drop(pl);
    assert_eq!(
        sets(&h[0]),
        [250.0],
        "the one refused call, no restore needed"
    );
}

#[test]
fn a_set_failing_on_one_gpu_sets_the_others_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("power-limits.json");
    let (devices, h) = gpus(2);
    let mut pl = PowerLimits::open(devices, &journal).expect("open");
    pl.set(300.0).expect("first level");
    edit(&h[1], |g| {
        g.set_power_limit_error = Some(GpuError::Failed("GPU is lost".into()))
    });
    let e = pl.set(250.0).expect_err("GPU 1 fails");
    assert!(
        e.to_string().contains("GPU 1") && e.to_string().contains("GPU is lost"),
        "{e}"
    );
    // GPU 0 went to 250 W and back to the level before the failed set.
    assert_eq!(sets(&h[0]), [300.0, 250.0, 300.0]);
    assert_eq!((limit(&h[0]), limit(&h[1])), (300.0, 300.0));
    assert!(journal.exists(), "still changed: the journal stays");

    // GPU 1 still refuses: the restore names it and its command, the journal stays.
    let e = pl.restore().expect_err("GPU 1 refuses");
    let text = e.to_string();
    assert!(text.contains("GPU 1 (GPU-fake-1)"), "{text}");
    assert!(text.contains("`sudo nvidia-smi -i 1 -pl 400`"), "{text}");
    assert!(!text.contains("-i 0 "), "GPU 0 was restored: {text}");
    assert!(journal.exists());
    assert_eq!(limit(&h[0]), 400.0);
    edit(&h[1], |g| g.set_power_limit_error = None);
    pl.restore().expect("restore");
    assert_eq!(
        sets(&h[0]),
        [300.0, 250.0, 300.0, 400.0],
        "GPU 0 restored once"
    );
    assert_eq!(limit(&h[1]), 400.0);
    assert!(!journal.exists());
}

#[test]
fn a_second_guard_is_refused_while_the_first_holds_changed_limits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("power-limits.json");
    let (devices, _h) = gpus(1);
    let mut first = PowerLimits::open(devices, &journal).expect("open");
    first.set(300.0).expect("set");
    let (devices, h2) = gpus(1);
    let e = PowerLimits::open(devices, &journal).err().expect("in use");
    assert!(matches!(e, PowerLimitError::InUse { .. }), "{e:?}");
    assert!(
        e.to_string().contains(&std::process::id().to_string()),
        "{e}"
    );
    assert!(sets(&h2[0]).is_empty());
}

/// A journal as a killed run leaves it: this pid with another start is another process.
fn left_behind(journal: &Path, gpus: Vec<JournalGpu>) {
    let ticks = proc_stat(std::process::id())
        .map(|(_, t)| t)
        .expect("/proc");
    let j = Journal {
        version: JOURNAL_VERSION,
        pid: std::process::id(),
        process_start_ticks: Some(ticks + 1),
        program: "joulebench".into(),
        since: "2026-01-02T03:04:05+00:00".into(),
        gpus,
    };
    write_atomically(journal, &j).expect("journal");
}

#[test]
fn a_journal_left_behind_is_restored_before_a_new_run_reads_its_originals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("power-limits.json");
    let (devices, h) = gpus(2);
    edit(&h[0], |g| g.power_limit_w = Ok(250.0));
    left_behind(
        &journal,
        vec![
            JournalGpu {
                index: 0,
                uuid: "GPU-fake-0".into(),
                original_w: 400.0,
            },
            JournalGpu {
                index: 1,
                uuid: "GPU-fake-1".into(),
                original_w: 400.0,
            },
        ],
    );
    let found = find_journals_in(std::slice::from_ref(&journal));
    let finding = found[0].as_ref().expect("found");
    assert!(
        !finding.owner_alive,
        "same pid, another start: not this process"
    );
    let lines = finding.describe(|i, _| Some(if i == 0 { 250.0 } else { 400.0 }));
    assert!(
        lines[0].contains("pid") && lines[0].contains("2026-01-02"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("GPU 0 (GPU-fake-0): original limit 400 W, now 250 W"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("`sudo nvidia-smi -i 0 -pl 400`"),
        "{lines:?}"
    );
    assert!(lines[2].contains("already back"), "{lines:?}");

    let pl = PowerLimits::open(devices, &journal).expect("recovers");
    assert_eq!(sets(&h[0]), [400.0], "GPU 0 set back");
    assert!(sets(&h[1]).is_empty(), "GPU 1 was at its original");
    assert_eq!(
        pl.gpus()[0].original_w,
        400.0,
        "the original, not the crash's 250 W"
    );
    assert!(
        pl.recovered()
            .is_some_and(|r| r.contains("GPU 0 250 W -> 400 W"))
    );
    assert!(!journal.exists());
}

#[test]
fn a_journal_left_behind_for_gpus_not_given_is_kept_and_explained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("power-limits.json");
    left_behind(
        &journal,
        vec![JournalGpu {
            index: 3,
            uuid: "GPU-other".into(),
            original_w: 287.5,
        }],
    );
    let (devices, h) = gpus(1);
    let e = PowerLimits::open(devices, &journal).err().expect("refused");
    let text = e.to_string();
    assert!(text.contains("`sudo nvidia-smi -i 3 -pl 287.5`"), "{text}");
    assert!(text.contains("then remove"), "{text}");
    assert!(journal.exists());
    assert!(sets(&h[0]).is_empty());

    std::fs::write(&journal, "{not json").expect("write");
    let (devices, _) = gpus(1);
    let e = PowerLimits::open(devices, &journal)
        .err()
        .expect("unreadable");
    assert!(
        matches!(e, PowerLimitError::JournalUnreadable { .. }),
        "{e:?}"
    );
}

#[test]
fn the_journal_lives_where_root_and_users_can_find_it() {
    let user = Some(PathBuf::from("/home/u/.local/state/joulebench"));
    let over = Some(PathBuf::from("/tmp/j.json"));
    assert_eq!(
        journal_path_from(over, true, user.clone()),
        Path::new("/tmp/j.json")
    );
    assert_eq!(
        journal_path_from(None, true, user.clone()),
        Path::new("/run/joulebench/power-limits.json")
    );
    assert_eq!(
        journal_path_from(None, false, user),
        Path::new("/home/u/.local/state/joulebench/power-limits.json")
    );
    assert_eq!(watts_text(287.5), "287.5");
    assert_eq!(restore_command(2, 400.0), "sudo nvidia-smi -i 2 -pl 400");
}

#[test]
fn this_process_is_alive_and_a_reused_pid_is_not() {
    let me = std::process::id();
    let (_, ticks) = proc_stat(me).expect("/proc");
    assert!(process_alive(me, Some(ticks)));
    assert!(!process_alive(me, Some(ticks + 1)));
    assert!(!process_alive(u32::MAX - 1, None));
}
