//! The guard and the journal on fake GPUs.

use super::error::watts_text;
use super::journal::{journal_dir_from, proc_stat, process_alive, write_atomically};
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

/// The journal files in `dir`.
fn journals(dir: &Path) -> Vec<PathBuf> {
    journal_files(dir).expect("journal dir")
}

/// A fake GPU `index` with its own UUID `uuid`, 400 W (allowed 100 to 400 W).
fn gpu_with_uuid(index: u32, uuid: &str) -> (Box<dyn GpuDevice>, Handle) {
    let mut s = FakeGpuState::with_counter(index, 0);
    s.uuid = uuid.into();
    let (gpu, handle) = FakeGpu::new(s);
    (Box::new(gpu), handle)
}

#[test]
fn read_set_measure_restore_ends_at_the_original_limit() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("state");
    let (devices, h) = gpus(2);
    let mut pl = PowerLimits::open(devices, &dir).expect("open");
    let read = pl.gpus();
    assert_eq!(read.len(), 2);
    assert_eq!((read[1].index, read[1].uuid.as_str()), (1, "GPU-fake-1"));
    assert_eq!(
        (read[0].original_w, read[0].min_w, read[0].max_w),
        (400.0, 100.0, 400.0)
    );
    // Claimed at open, before any change: the journal names each GPU's original and
    // this process.
    let journal = pl.journal_path().expect("claimed").to_path_buf();
    assert_eq!(journals(&dir), std::slice::from_ref(&journal));
    assert!(sets(&h[0]).is_empty(), "nothing changed yet");

    pl.set(300.0).expect("set 300");
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
    assert!(journals(&dir).is_empty(), "restored: journal removed");
    assert_eq!(pl.journal_path(), None);
    pl.restore().expect("again");
    drop(pl);
    assert_eq!(
        sets(&h[0]).len(),
        3,
        "restore and drop after it set nothing"
    );
}

/// A sweep over levels that fails at the second, as a run stopped mid-level returns.
fn sweep(devices: Vec<Box<dyn GpuDevice>>, dir: &Path) -> Result<(), String> {
    let mut pl = PowerLimits::open(devices, dir).map_err(|e| e.to_string())?;
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
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let (devices, h) = gpus(1);
    assert_eq!(sweep(devices, dir), Err("interrupted at 250 W".into()));
    assert_eq!(sets(&h[0]), [300.0, 250.0, 400.0]);
    assert_eq!(limit(&h[0]), 400.0);
    assert!(journals(dir).is_empty());

    // A panic mid-level unwinds through the guard: restored too.
    let (devices, h) = gpus(1);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut pl = PowerLimits::open(devices, dir).expect("open");
        pl.set(200.0).expect("set");
        panic!("a bug mid-level");
    }));
    assert!(outcome.is_err());
    assert_eq!(sets(&h[0]), [200.0, 400.0]);
    assert!(journals(dir).is_empty());
}

#[test]
fn a_limit_out_of_range_changes_nothing_and_names_the_range() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let (devices, h) = gpus(2);
    edit(&h[1], |g| g.power_limit_constraints_w = Ok((150.0, 350.0)));
    let mut pl = PowerLimits::open(devices, dir).expect("open");
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
    drop(pl);
    assert!(journals(dir).is_empty());
}

#[test]
fn every_limit_of_a_plan_is_checked_against_every_range_at_once() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (devices, h) = gpus(2);
    edit(&h[1], |g| g.power_limit_constraints_w = Ok((150.0, 350.0)));
    let pl = PowerLimits::open(devices, tmp.path()).expect("open");
    pl.check_all(&[150.0, 300.0, 350.0]).expect("all in range");
    let e = pl
        .check_all(&[120.0, 300.0, 400.0])
        .expect_err("GPU 1 refuses two");
    assert!(
        matches!(&e, PowerLimitError::PlanOutOfRange { index: 1, limits, .. } if limits == &[120.0, 400.0]),
        "{e:?}"
    );
    let text = e.to_string();
    for part in [
        "schedule.gpu_power_limits_w",
        "120 W, 400 W are outside GPU 1 (GPU-fake-1)",
        "150 to 350 W",
        "nvidia-smi -q -d POWER",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    assert!(sets(&h[0]).is_empty() && sets(&h[1]).is_empty());
}

#[test]
fn without_root_a_set_is_refused_clearly_and_nothing_is_left() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let (devices, h) = gpus(1);
    edit(&h[0], |g| {
        g.set_power_limit_error = Some(GpuError::NoPermission)
    });
    let mut pl = PowerLimits::open(devices, dir).expect("reading needs no root");
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
    drop(pl);
    assert!(journals(dir).is_empty(), "no change made: no journal left");
    assert_eq!(
        sets(&h[0]),
        [250.0],
        "the one refused call, no restore needed"
    );
}

#[test]
fn a_set_failing_on_one_gpu_sets_the_others_back() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let (devices, h) = gpus(2);
    let mut pl = PowerLimits::open(devices, dir).expect("open");
    let journal = pl.journal_path().expect("claimed").to_path_buf();
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
    assert!(
        text.contains("`sudo nvidia-smi -i GPU-fake-1 -pl 400`"),
        "{text}"
    );
    assert!(!text.contains("GPU-fake-0"), "GPU 0 was restored: {text}");
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
fn a_second_guard_on_the_same_gpu_is_refused_from_the_first_ones_open() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (devices, _h) = gpus(1);
    let mut first = PowerLimits::open(devices, tmp.path()).expect("open");
    // Nothing set yet (a server still starting): the GPU is already claimed.
    let (devices, h2) = gpus(1);
    let e = PowerLimits::open(devices, tmp.path())
        .err()
        .expect("in use");
    assert!(matches!(e, PowerLimitError::InUse { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(&std::process::id().to_string()), "{text}");
    assert!(text.contains("GPU 0 (GPU-fake-0)"), "{text}");
    assert!(sets(&h2[0]).is_empty());
    first.set(300.0).expect("the first sets");
    first.restore().expect("restore");
    let (devices, _) = gpus(1);
    PowerLimits::open(devices, tmp.path()).expect("released: free again");
}

#[test]
fn guards_on_disjoint_gpus_both_open_and_set() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // Two Slurm shards on one node, one GPU each: both NVML index 0 in their own view.
    let (a, ha) = gpu_with_uuid(0, "GPU-aaaa");
    let (b, hb) = gpu_with_uuid(0, "GPU-bbbb");
    let mut first = PowerLimits::open(vec![a], tmp.path()).expect("first");
    let mut second = PowerLimits::open(vec![b], tmp.path()).expect("second: other GPU");
    assert_ne!(first.journal_path(), second.journal_path());
    assert_eq!(journals(tmp.path()).len(), 2);
    first.set(300.0).expect("first sets");
    second.set(250.0).expect("second sets");
    assert_eq!((limit(&ha), limit(&hb)), (300.0, 250.0));
    // A third on both GPUs overlaps each.
    let (a2, _) = gpu_with_uuid(1, "GPU-aaaa");
    let (c, _) = gpu_with_uuid(2, "GPU-cccc");
    let e = PowerLimits::open(vec![c, a2], tmp.path())
        .err()
        .expect("overlaps the first");
    assert!(e.to_string().contains("GPU-aaaa"), "{e}");
    first.restore().expect("restore");
    assert_eq!(journals(tmp.path()).len(), 1, "the second's stays");
    second.restore().expect("restore");
    assert!(journals(tmp.path()).is_empty());
    assert_eq!((limit(&ha), limit(&hb)), (400.0, 400.0));
}

#[test]
fn guards_racing_for_one_gpu_claim_it_once() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let barrier = std::sync::Barrier::new(8);
    let outcomes: Vec<Result<PowerLimits, PowerLimitError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let (devices, _) = gpus(1);
                    barrier.wait();
                    PowerLimits::open(devices, tmp.path())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let won = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(won, 1, "exactly one claim");
    assert!(
        outcomes
            .iter()
            .filter_map(|o| o.as_ref().err())
            .all(|e| matches!(e, PowerLimitError::InUse { .. }))
    );
    assert_eq!(journals(tmp.path()).len(), 1);
    drop(outcomes);
    assert!(journals(tmp.path()).is_empty());
}

#[test]
fn a_restore_mid_sweep_keeps_the_claim_and_a_set_after_a_release_claims_again() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (devices, h) = gpus(1);
    let mut pl = PowerLimits::open(devices, tmp.path()).expect("open");
    pl.set(300.0).expect("set");
    pl.set_originals().expect("a DEFAULT visit");
    assert_eq!(limit(&h[0]), 400.0);
    assert_eq!(journals(tmp.path()).len(), 1, "still held");
    let (devices, _) = gpus(1);
    assert!(PowerLimits::open(devices, tmp.path()).is_err());
    pl.restore().expect("released");
    assert!(journals(tmp.path()).is_empty());
    pl.set(250.0).expect("claims again");
    assert_eq!(journals(tmp.path()).len(), 1);
    drop(pl);
    assert_eq!(limit(&h[0]), 400.0);
    assert!(journals(tmp.path()).is_empty());
}

/// A journal as a killed run leaves it in `dir`: this pid with another start is another
/// process. Its path.
fn left_behind(dir: &Path, gpus: Vec<JournalGpu>) -> PathBuf {
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
    let path = dir.join("power-limits-4242-0.json");
    write_atomically(&path, &j).expect("journal");
    path
}

fn jgpu(index: u32, uuid: &str, original_w: f64) -> JournalGpu {
    JournalGpu {
        index,
        uuid: uuid.into(),
        original_w,
    }
}

#[test]
fn a_journal_left_behind_is_restored_before_a_new_run_reads_its_originals() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let (devices, h) = gpus(2);
    edit(&h[0], |g| g.power_limit_w = Ok(250.0));
    let journal = left_behind(
        dir,
        vec![jgpu(0, "GPU-fake-0", 400.0), jgpu(1, "GPU-fake-1", 400.0)],
    );
    let found = find_journals_in(&[dir.to_path_buf()]);
    assert_eq!(found.len(), 1);
    let finding = found[0].as_ref().expect("found");
    assert_eq!(finding.path, journal);
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
        lines[1].contains("`sudo nvidia-smi -i GPU-fake-0 -pl 400`"),
        "{lines:?}"
    );
    assert!(lines[2].contains("already back"), "{lines:?}");

    let pl = PowerLimits::open(devices, dir).expect("recovers");
    assert_eq!(sets(&h[0]), [400.0], "GPU 0 set back");
    assert!(sets(&h[1]).is_empty(), "GPU 1 was at its original");
    assert_eq!(
        pl.gpus()[0].original_w,
        400.0,
        "the original, not the crash's 250 W"
    );
    assert!(
        pl.recovered()
            .is_some_and(|r| r.contains("GPU 0 (GPU-fake-0) 250 W -> 400 W")),
        "{:?}",
        pl.recovered()
    );
    assert!(!journal.exists());
}

#[test]
fn a_journal_left_behind_for_other_gpus_is_kept_and_one_shared_in_part_is_narrowed() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let journal = left_behind(dir, vec![jgpu(3, "GPU-other", 287.5)]);
    let (devices, h) = gpus(1);
    let pl = PowerLimits::open(devices, dir).expect("another GPU's journal: no concern");
    assert!(pl.recovered().is_none());
    assert!(journal.exists(), "kept for the GPU it names");
    assert!(sets(&h[0]).is_empty());
    drop(pl);

    // Shared in part: this run's GPU is restored, the other stays in the journal.
    let journal = left_behind(
        dir,
        vec![jgpu(0, "GPU-fake-0", 400.0), jgpu(3, "GPU-other", 287.5)],
    );
    let (devices, h) = gpus(1);
    edit(&h[0], |g| g.power_limit_w = Ok(200.0));
    let pl = PowerLimits::open(devices, dir).expect("recovers its GPU");
    assert_eq!(sets(&h[0]), [400.0]);
    let rest = read_journal(&journal).expect("readable").expect("kept");
    assert_eq!(rest.gpus, [jgpu(3, "GPU-other", 287.5)]);
    assert_eq!(rest.pid, std::process::id());
    drop(pl);

    std::fs::write(&journal, "{not json").expect("write");
    let (devices, _) = gpus(1);
    let e = PowerLimits::open(devices, dir).err().expect("unreadable");
    assert!(
        matches!(e, PowerLimitError::JournalUnreadable { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("-i GPU-UUID"), "{e}");
}

#[test]
fn a_journal_left_behind_that_cannot_be_restored_refuses_with_the_uuid_command() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let journal = left_behind(dir, vec![jgpu(0, "GPU-fake-0", 400.0)]);
    let (devices, h) = gpus(1);
    edit(&h[0], |g| {
        g.power_limit_w = Ok(250.0);
        g.set_power_limit_error = Some(GpuError::NoPermission);
    });
    let e = PowerLimits::open(devices, dir).err().expect("refused");
    let text = e.to_string();
    assert!(
        text.contains("`sudo nvidia-smi -i GPU-fake-0 -pl 400`") && text.contains("then remove"),
        "{text}"
    );
    assert!(journal.exists());
    // Without a UUID the index names the GPU.
    assert_eq!(
        jgpu(2, "", 287.5).restore_command(),
        "sudo nvidia-smi -i 2 -pl 287.5"
    );
}

#[test]
fn a_run_that_sets_no_limit_restores_what_a_crash_left_on_its_gpus() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let journal = left_behind(dir, vec![jgpu(0, "GPU-fake-0", 400.0)]);
    let (devices, h) = gpus(1);
    edit(&h[0], |g| g.power_limit_w = Ok(250.0));
    let note = recover_left_behind(&devices, dir)
        .expect("restored")
        .expect("said");
    assert!(note.contains("250 W -> 400 W"), "{note}");
    assert_eq!(limit(&h[0]), 400.0);
    assert!(!journal.exists());
    assert_eq!(recover_left_behind(&devices, dir).expect("none"), None);
}

#[test]
fn the_journal_directory_is_where_root_and_users_can_find_it() {
    let user = Some(PathBuf::from("/home/u/.local/state/joulebench"));
    let over = Some(PathBuf::from("/tmp/j"));
    assert_eq!(
        journal_dir_from(over, true, user.clone()),
        Path::new("/tmp/j")
    );
    assert_eq!(
        journal_dir_from(None, true, user.clone()),
        Path::new("/run/joulebench")
    );
    assert_eq!(
        journal_dir_from(None, false, user),
        Path::new("/home/u/.local/state/joulebench")
    );
    assert_eq!(watts_text(287.5), "287.5");
    assert_eq!(
        restore_command(2, "GPU-1234", 400.0),
        "sudo nvidia-smi -i GPU-1234 -pl 400"
    );
    assert_eq!(
        restore_command(2, "", 400.0),
        "sudo nvidia-smi -i 2 -pl 400"
    );
}

#[test]
fn only_journal_files_count_in_the_directory() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    for name in [
        "power-limits.json",
        "power-limits-1-0.json",
        ".power-limits.1.0.tmp",
        ".power-limits.lock",
        "notes.txt",
    ] {
        std::fs::write(dir.join(name), "").expect("write");
    }
    assert_eq!(
        journals(dir),
        [
            dir.join("power-limits-1-0.json"),
            dir.join("power-limits.json")
        ]
    );
    assert!(journals(&dir.join("absent")).is_empty());
}

#[test]
fn this_process_is_alive_and_a_reused_pid_is_not() {
    let me = std::process::id();
    let (_, ticks) = proc_stat(me).expect("/proc");
    assert!(process_alive(me, Some(ticks)));
    assert!(!process_alive(me, Some(ticks + 1)));
    assert!(!process_alive(u32::MAX - 1, None));
}
