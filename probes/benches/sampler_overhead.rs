//! The sampler's own CPU cost against the platform's floor: a bare thread that wakes at
//! the same rate and does nothing else.
//!
//! `cargo bench -p joulebench-probes --bench sampler_overhead -- [SECS] [ROUNDS]`
//! (defaults 3 s per case, 3 rounds). Cost is process CPU time (getrusage, every thread)
//! over wall time, in % of one core. Each round runs, per rate (100 Hz, 1 kHz): the floor;
//! the read loop (the floor plus one read of the source per wake-up: the least any
//! sampler could cost); and the sampler with its events drained as the samples writer
//! drains them (`probes::drain_every`). The source is a fake powercap tree of 2 sockets (6 zones), read through
//! the same files and syscalls as the kernel's. Medians over rounds, and sampler ÷ floor.

extern crate joulebench_probes as probes;

use probes::discovery::SharedSource;
use probes::fake::FakePowercap;
use probes::rapl::PowercapSource;
use probes::{DRAIN_PERIOD, EnergySource, MonotonicClock, Sampler, SamplerEvent, drain_every};
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Process CPU time (user + system) so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// % of one core the process used while `f` ran, and what `f` returned.
fn cost<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let cpu0 = cpu_time();
    let wall0 = Instant::now();
    let out = f();
    let pct = 100.0 * (cpu_time() - cpu0).as_secs_f64() / wall0.elapsed().as_secs_f64();
    (pct, out)
}

/// A thread waking at `hz` on absolute deadlines for `secs`, calling `work` each time.
fn wake_loop(hz: f64, secs: f64, mut work: impl FnMut() + Send + 'static) {
    let period = Duration::from_secs_f64(1.0 / hz);
    let ticks = (secs * hz) as u32;
    let handle = std::thread::spawn(move || {
        let mut next = Instant::now();
        for _ in 0..ticks {
            next += period;
            let now = Instant::now();
            if now < next {
                std::thread::park_timeout(next - now);
            }
            work();
        }
    });
    let _ = handle.join();
}

/// Events taken as the samples writer takes them (every `DRAIN_PERIOD`); how many.
fn drain(rx: Receiver<SamplerEvent>) -> usize {
    let mut n = 0;
    let _ = drain_every::<()>(&rx, DRAIN_PERIOD, |batch| {
        n += batch.count();
        Ok(())
    });
    n
}

/// The sampler on a fresh read of the tree at `hz` for `secs`; reads per second.
fn sampler(root: &Path, hz: f64, secs: f64) -> f64 {
    let source = match PowercapSource::open(root) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return f64::NAN;
        }
    };
    let domains = source.domains().len().max(1);
    let shared: SharedSource = Arc::new(Mutex::new(Box::new(source)));
    let (tx, rx) = sync_channel(8192);
    let drainer = std::thread::spawn(move || drain(rx));
    let wall0 = Instant::now();
    let running = Sampler::start(&[shared], MonotonicClock::new(), hz, tx);
    std::thread::sleep(Duration::from_secs_f64(secs));
    if let Err(e) = running.stop() {
        eprintln!("sampler error: {e}");
    }
    let wall = wall0.elapsed().as_secs_f64();
    drainer.thread().unpark();
    let events = drainer.join().unwrap_or(0);
    (events / domains) as f64 / wall
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let secs: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("cannot make a temp dir");
        return;
    };
    let Ok(tree) = FakePowercap::intel(dir.path(), 2, true) else {
        eprintln!("cannot write the fake powercap tree");
        return;
    };
    let root = tree.root().to_path_buf();
    println!("sampler CPU cost, % of one core; {secs} s per case, {rounds} rounds interleaved");
    let rates = [100.0, 1000.0];
    // Per rate: floor, read loop, sampler.
    let mut results = vec![[Vec::new(), Vec::new(), Vec::new()]; rates.len()];
    for round in 1..=rounds {
        for (i, &hz) in rates.iter().enumerate() {
            let (floor, ()) = cost(|| wake_loop(hz, secs, || {}));
            let mut reader = match PowercapSource::open(&root) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return;
                }
            };
            let clock = MonotonicClock::new();
            let (read, ()) = cost(|| {
                wake_loop(hz, secs, move || {
                    if let Err(e) = reader.read(&clock) {
                        eprintln!("{e}");
                    }
                })
            });
            let (sampled, rate) = cost(|| sampler(&root, hz, secs));
            println!(
                "round {round} {hz:>6} Hz: floor {floor:.4}  read loop {read:.4}  sampler {sampled:.4} ({rate:.1} reads/s)  sampler ÷ floor {:.2}",
                sampled / floor
            );
            results[i][0].push(floor);
            results[i][1].push(read);
            results[i][2].push(sampled);
        }
    }
    println!(
        "{:>8} {:>10} {:>10} {:>10} {:>16} {:>16}",
        "Hz", "floor %", "read loop %", "sampler %", "read loop ÷ floor", "sampler ÷ floor"
    );
    for (i, hz) in rates.iter().enumerate() {
        let [f, r, s] = &mut results[i];
        let (f, r, s) = (median(f), median(r), median(s));
        println!(
            "{hz:>8} {f:>10.4} {r:>10.4} {s:>10.4} {:>16.2} {:>16.2}",
            r / f,
            s / f
        );
    }
}
