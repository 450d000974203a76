//! The sampler's own CPU cost, measured as process CPU time (getrusage) over wall time.
//!
//! `cargo bench -p joulebench-probes --bench sampler_overhead`; seconds per case from
//! `JOULEBENCH_BENCH_SECS` (default 3). The cost includes the thread that drains the
//! channel (it only counts events). Two drains are measured: one blocking on every event
//! (a wake-up per event: the worst writer) and one taking what is queued every 50 ms
//! (how a buffered writer of samples.csv behaves), which is close to the sampler alone.

extern crate joulebench_probes as probes;

use probes::discovery::SharedSource;
use probes::estimate::{CpuEstimate, EstimateModel};
use probes::fake::FakePowercap;
use probes::rapl::PowercapSource;
use probes::{EnergySource, MonotonicClock, Sampler};
use std::sync::mpsc::sync_channel;
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

/// Runs the sampler on `source` at `hz` for `secs`; returns (events/s, % of one core, µs per read).
fn measure(
    source: SharedSource,
    domains: usize,
    hz: f64,
    secs: f64,
    batched: bool,
) -> (f64, f64, f64) {
    let (tx, rx) = sync_channel(4096);
    let drain = std::thread::spawn(move || {
        if !batched {
            return rx.iter().count();
        }
        let mut n = 0;
        loop {
            std::thread::sleep(Duration::from_millis(50));
            loop {
                match rx.try_recv() {
                    Ok(_) => n += 1,
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => return n,
                }
            }
        }
    });
    let cpu0 = cpu_time();
    let wall0 = Instant::now();
    let sampler = Sampler::start(&[source], MonotonicClock::new(), hz, tx);
    std::thread::sleep(Duration::from_secs_f64(secs));
    let stopped = sampler.stop();
    let wall = wall0.elapsed().as_secs_f64();
    let events = drain.join().unwrap_or(0);
    let cpu = (cpu_time() - cpu0).as_secs_f64();
    if let Err(e) = stopped {
        eprintln!("sampler error: {e}");
    }
    let reads = events as f64 / domains.max(1) as f64;
    (reads / wall, 100.0 * cpu / wall, 1e6 * cpu / reads.max(1.0))
}

fn drain_name(batched: bool) -> &'static str {
    if batched { "50 ms" } else { "per event" }
}

fn shared(source: impl EnergySource + 'static) -> SharedSource {
    Arc::new(Mutex::new(Box::new(source)))
}

fn main() {
    let secs: f64 = std::env::var("JOULEBENCH_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("cannot make a temp dir");
        return;
    };
    let Ok(tree) = FakePowercap::intel(dir.path(), 2, true) else {
        eprintln!("cannot write the fake powercap tree");
        return;
    };
    println!("sampler CPU cost, {secs} s per case (process CPU time / wall time)");
    println!(
        "{:<34} {:<9} {:>8} {:>10} {:>12} {:>12}",
        "source", "drain", "asked Hz", "reads/s", "% of a core", "µs CPU/read"
    );
    if let Ok(mut source) = PowercapSource::open(tree.root()) {
        let clock = MonotonicClock::new();
        let n = 20_000;
        let cpu0 = cpu_time();
        for _ in 0..n {
            if let Err(e) = source.read(&clock) {
                eprintln!("{e}");
                return;
            }
        }
        let us = 1e6 * (cpu_time() - cpu0).as_secs_f64() / f64::from(n);
        println!("one rapl-powercap read (6 zones), tight loop: {us:.2} µs CPU");
    }
    for hz in [100.0, 1000.0] {
        // The floor: a thread that only sleeps and wakes at this rate (timer + scheduler).
        let cpu0 = cpu_time();
        let wall0 = Instant::now();
        let period = Duration::from_secs_f64(1.0 / hz);
        let ticks = (secs * hz) as u32;
        let handle = std::thread::spawn(move || {
            for _ in 0..ticks {
                std::thread::park_timeout(period);
            }
        });
        let _ = handle.join();
        let pct = 100.0 * (cpu_time() - cpu0).as_secs_f64() / wall0.elapsed().as_secs_f64();
        println!("bare wake-up loop at {hz} Hz (the platform's floor): {pct:.4} % of a core");
    }
    let idle0 = cpu_time();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let idle = 100.0 * (cpu_time() - idle0).as_secs_f64() / secs;
    println!(
        "{:<34} {:<9} {:>8} {:>10} {:>12.4} {:>12}",
        "(idle process)", "-", "-", "-", idle, "-"
    );
    for (hz, batched) in [
        (10.0, true),
        (100.0, true),
        (1000.0, true),
        (100.0, false),
        (1000.0, false),
    ] {
        let source = match PowercapSource::open(tree.root()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return;
            }
        };
        let domains = source.domains().len();
        let (rate, pct, us) = measure(shared(source), domains, hz, secs, batched);
        println!(
            "{:<34} {:<9} {:>8} {:>10.1} {:>12.4} {:>12.2}",
            "rapl-powercap (2 sockets, 6 zones)",
            drain_name(batched),
            hz,
            rate,
            pct,
            us
        );
    }
    for hz in [10.0, 100.0] {
        let opened = EstimateModel::for_this_machine(None, None).and_then(CpuEstimate::new);
        let source = match opened {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return;
            }
        };
        let (rate, pct, us) = measure(shared(source), 2, hz, secs, true);
        println!(
            "{:<34} {:<9} {:>8} {:>10.1} {:>12.4} {:>12.2}",
            "cpu-estimate (sysinfo)",
            drain_name(true),
            hz,
            rate,
            pct,
            us
        );
    }
}
