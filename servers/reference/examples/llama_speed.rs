//! Resident memory after load and time per decoded token of a Llama-layout preset in each
//! weight format: `cargo run --release -p joulebench-reference --example llama_speed --
//! smollm2-135m 32 f32 q8_0 q4_0` (set `RAYON_NUM_THREADS=1` for one thread).

use joulebench_reference as reference;

use reference::models::kv_cache::CachedForward;
use reference::models::presets;
use reference::{Llama, SeededInit, WeightFormat};
use std::time::Instant;

/// The resident set from `/proc/self/status`, in MB.
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map_or("smollm2-135m", String::as_str);
    let tokens: usize = args.get(1).map_or(Ok(32), |t| t.parse())?;
    let c = presets::llama_preset(preset).ok_or("unknown Llama preset")?;
    for f in args.iter().skip(2) {
        let format = WeightFormat::parse(f).ok_or("unknown format")?;
        let before = rss_mb();
        let m = Llama::load(&c, format, SeededInit::new(0).var_builder())?;
        let after = rss_mb();
        let info = m.weights_info();
        let mut cache = m.new_cache();
        m.forward(&[5, 6, 7, 8], &mut cache)?;
        let t = Instant::now();
        for i in 0..tokens {
            m.forward(&[100 + i as u32], &mut cache)?;
        }
        let per = t.elapsed().as_secs_f64() * 1e3 / tokens as f64;
        println!(
            "{preset} {format}: {:.1} MB weights ({:.2} bits/weight, fallbacks {:?}), RSS after load {after:.0} MB (+{:.0} MB), {per:.2} ms/token over {tokens} tokens",
            info.bytes as f64 / 1e6,
            info.bits_per_weight,
            info.fallbacks,
            after - before,
        );
        drop(m);
    }
    Ok(())
}
