//! Best latency of one unbatched forward pass of the `small` encoder (BERT-Small,
//! classification) per sequence length, for `bench/encoder_vs_torch.sh`.
//!
//! `cargo bench -p joulebench-reference --bench encoder -- [RUNS] [TOKENS...]` (default 21
//! runs, lengths 16 to 512); threads from `RAYON_NUM_THREADS` (every core when unset).
//! Prints one `tokens ms` line per length.

use joulebench_reference::models::presets;
use joulebench_reference::{EncoderModel, EncoderTask, SeededInit};
use std::time::Instant;

/// Sequence lengths timed, as `bench/reference_torch.py` times them.
const LENGTHS: [usize; 6] = [16, 32, 64, 128, 256, 512];

fn main() -> candle_core::Result<()> {
    // As `joulebench serve` does at its start.
    // SAFETY: the first statement of `main`: no other thread runs yet.
    unsafe { joulebench_reference::cpu_pool::sleep_idle_workers() };
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let runs = numbers.first().copied().unwrap_or(21);
    let lengths = match numbers.get(1..) {
        Some(chosen) if !chosen.is_empty() => chosen.to_vec(),
        _ => LENGTHS.to_vec(),
    };
    let Some(config) = presets::encoder("small") else {
        return Err(candle_core::Error::Msg("no `small` encoder preset".into()));
    };
    let task = EncoderTask::Classification(vec!["NEGATIVE".into(), "POSITIVE".into()]);
    let model = EncoderModel::load(&config, task, SeededInit::new(0).var_builder())?;
    // As `joulebench serve` does after loading: freed working memory is kept for reuse.
    joulebench_reference::heap::release_load_buffers();
    joulebench_reference::heap::keep_working_memory();
    println!(
        "candle, threads {}, small encoder",
        candle_core::utils::get_num_threads()
    );
    for tokens in lengths {
        let ids: Vec<u32> = (0..tokens as u32).map(|i| 1000 + i * 37 % 29000).collect();
        let types = vec![0u32; tokens];
        model.classify(&ids, &types)?;
        let mut best = f64::INFINITY;
        for _ in 0..runs {
            let t = Instant::now();
            model.classify(&ids, &types)?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("{tokens} {:.4}", best * 1e3);
    }
    Ok(())
}
