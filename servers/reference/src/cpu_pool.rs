//! How the CPU worker threads are used: how candle's wait between operations, and when
//! this crate's kernels hand their jobs to rayon.

/// What candle's element-wise worker threads spin for before they sleep, in spin-loop
/// turns, unless `CANDLE_BARRIER_POOL_SPIN_LIMIT` says otherwise.
///
/// candle spins 25,000 turns by default. Between two element-wise operations a forward pass
/// runs a matrix product on rayon's threads, and a spinning worker takes a core from them:
/// on 2 cores `perf` showed the spinning worker at 14% of the samples of an encoder pass,
/// and a 128-token pass took 40 ms instead of 27–28 with 0 or 1,000 (about 20 µs of
/// spinning, which keeps back-to-back element-wise operations from waiting on a wake-up).
pub const SPIN_LIMIT: &str = "1000";

/// Sets candle's spin limit to [`SPIN_LIMIT`] unless the environment sets one (candle reads
/// it once, at its first tensor operation).
///
/// # Safety
/// No other thread may be running: it changes the process environment.
pub unsafe fn sleep_idle_workers() {
    const KEY: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
    if std::env::var_os(KEY).is_none() {
        // SAFETY: the caller guarantees the process has one thread.
        unsafe { std::env::set_var(KEY, SPIN_LIMIT) };
    }
}

/// Runs `job(i)` for every `i` in `0..count`: on rayon's threads, or on the calling thread
/// when rayon has one (a hop to its one thread and back costs two wake-ups, about 37 µs
/// each on a 2-vCPU VM).
pub fn for_each_index(count: usize, job: impl Fn(usize) + Sync + Send) {
    if rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        (0..count).into_par_iter().for_each(job);
    } else {
        (0..count).for_each(job);
    }
}
