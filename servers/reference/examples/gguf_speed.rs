//! Writes a seeded Llama-layout preset as a GGUF file, and times greedy decoding on a GGUF
//! file as the server loads it (`Source::Gguf`), for the comparison with llama.cpp on the
//! very same file (`bench/llama_cpp_compare.sh`):
//!
//! ```text
//! cargo run --release -p joulebench-reference --example gguf_speed -- write smollm2-135m q4_0 /tmp/m.gguf
//! RAYON_NUM_THREADS=1 cargo run --release -p joulebench-reference --example gguf_speed -- time /tmp/m.gguf 4 64
//! ```
//!
//! `time PATH PROMPT STEPS` runs the prompt `5, 6, ..., 4 + PROMPT` once, then `STEPS` greedy
//! single-token steps (each step feeds the previous argmax), and prints one JSON line: the
//! milliseconds per decoded token (the steps alone, argmax included), the CPU milliseconds per
//! token of all threads (spinning workers included), the prompt's milliseconds, and the
//! greedy ids.

use joulebench_reference as reference;

use reference::models::kv_cache::CachedForward;
use reference::models::llama::argmax;
use reference::models::{llama_gguf, presets};
use reference::{Generator, Llama, SeededInit, WeightFormat};
use std::path::Path;
use std::time::Instant;

fn write(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let [preset, format, path] = args else {
        return Err("usage: gguf_speed write PRESET FORMAT PATH".into());
    };
    let c = presets::llama_preset(preset).ok_or("unknown Llama preset")?;
    let format = WeightFormat::parse(format).ok_or("unknown format")?;
    let m = Llama::load(&c, format, SeededInit::new(0).var_builder())?;
    m.write_gguf(Path::new(path))?;
    let info = m.weights_info();
    println!(
        "{{\"preset\":\"{preset}\",\"format\":\"{format}\",\"path\":\"{path}\",\"bytes\":{},\"fallbacks\":{:?}}}",
        info.bytes, info.fallbacks
    );
    Ok(())
}

/// Nanoseconds all threads of this process have run on a CPU (`/proc/self/task/*/schedstat`),
/// which a busy machine's waits for a core leave out.
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn time(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let [path, prompt, steps] = args else {
        return Err("usage: gguf_speed time PATH PROMPT STEPS".into());
    };
    let (prompt, steps): (u32, usize) = (prompt.parse()?, steps.parse()?);
    let m = llama_gguf::load(Path::new(path))?;
    let ids: Vec<u32> = (5..5 + prompt).collect();
    let mut cache = m.new_cache();
    let t = Instant::now();
    let mut next = argmax(&m.forward(&ids, &mut cache)?)?;
    let prompt_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut out = Vec::with_capacity(steps);
    let (t, cpu) = (Instant::now(), cpu_ns());
    for _ in 0..steps {
        out.push(next);
        next = argmax(&m.forward(&[next], &mut cache)?)?;
    }
    let per = t.elapsed().as_secs_f64() * 1e3 / steps.max(1) as f64;
    let cpu_per = (cpu_ns() - cpu) as f64 / 1e6 / steps.max(1) as f64;
    out.push(next);
    println!(
        "{{\"ms_per_token\":{per:.4},\"cpu_ms_per_token\":{cpu_per:.4},\"prompt_ms\":{prompt_ms:.3},\"format\":\"{}\",\"ids\":{out:?}}}",
        m.weights_info().format
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("write") => write(&args[1..]),
        Some("time") => time(&args[1..]),
        _ => Err("usage: gguf_speed write PRESET FORMAT PATH | time PATH PROMPT STEPS".into()),
    }
}
