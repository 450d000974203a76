//! Time per generated token (and to take in a 128-token prompt) of a baseline generator and
//! its variants, each loaded through the server's own launch path (`--generator` syntax:
//! formats, `+prune`, `+mod`), beside the ratios one would expect from their FLOPs per token
//! and bytes of weights:
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --release -p joulebench-reference --example techniques_speed -- \
//!     32 3 smollm2-135m smollm2-135m:q4_0 smollm2-135m+prune=50%
//! ```
//!
//! Arguments: tokens per run, rounds, the baseline spec, then the variants. Rounds run every
//! model in turn (so a busy machine slows all alike); each figure is the median round. The
//! resident memory of each model alone is `bench/preset_memory.sh`'s.

use joulebench_reference as reference;

use reference::registry::Network;
use reference::{Generator, LoadOptions, ModelSpec, ServedModel, Task};
use std::time::Instant;

/// Prompt length of the prefill column (about the bundled summarization samples' length).
const PREFILL_TOKENS: u32 = 128;

/// Milliseconds to take in a `PREFILL_TOKENS`-token prompt and give the first logits.
fn prefill_ms(g: &dyn Generator) -> Result<f64, Box<dyn std::error::Error>> {
    let first = g.reserved_ids().first_word_id;
    let prompt: Vec<u32> = (0..PREFILL_TOKENS).map(|t| first + 100 + t * 7).collect();
    let t = Instant::now();
    let _started = g.start(&prompt)?;
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

/// Milliseconds per token of `tokens` greedy steps after an 8-token prompt.
fn ms_per_token(g: &dyn Generator, tokens: usize) -> Result<f64, Box<dyn std::error::Error>> {
    let first = g.reserved_ids().first_word_id;
    let prompt: Vec<u32> = (0..8).map(|t| first + 100 + t * 7).collect();
    let (mut decoding, mut logits) = g.start(&prompt)?;
    let t = Instant::now();
    for _ in 0..tokens {
        let next = reference::models::llama::argmax(&logits)?;
        logits = decoding.step(next)?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / tokens as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The generator of a loaded row.
fn generator(r: &Row) -> Result<&dyn Generator, Box<dyn std::error::Error>> {
    match &r.served.network {
        Network::Generator(g) => Ok(g.as_ref()),
        Network::Encoder(_) => Err("not a generator".into()),
    }
}

struct Row {
    spec: String,
    served: ServedModel,
    times: Vec<f64>,
    prefill: Vec<f64>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        return Err("usage: techniques_speed TOKENS ROUNDS BASELINE [VARIANT...]".into());
    }
    let tokens: usize = args[0].parse()?;
    let rounds: usize = args[1].parse()?;
    if tokens == 0 || rounds == 0 {
        return Err("TOKENS and ROUNDS must be at least 1".into());
    }
    let mut rows = Vec::new();
    for text in &args[2..] {
        let spec = ModelSpec::parse(Task::Generation, text)?;
        let served = ServedModel::load(&spec, &LoadOptions::default())?;
        rows.push(Row {
            spec: text.clone(),
            served,
            times: Vec::new(),
            prefill: Vec::new(),
        });
    }
    // As the server after loading.
    reference::heap::release_load_buffers();
    reference::heap::keep_working_memory();
    for _ in 0..rounds {
        for row in rows.iter_mut() {
            let ms = ms_per_token(generator(row)?, tokens)?;
            row.times.push(ms);
            let ms = prefill_ms(generator(row)?)?;
            row.prefill.push(ms);
        }
    }
    let context = 8 + tokens / 2;
    let base_ms = median(rows[0].times.clone());
    let base_prefill = median(rows[0].prefill.clone());
    let base_flops = generator(&rows[0])?.flops_per_token(context);
    let base_bytes = rows[0].served.weights.bytes as f64;
    println!(
        "{tokens} tokens × {rounds} rounds, threads {}",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into())
    );
    println!(
        "| model | params (active) | weights MB | ms/token | time ÷ base | FLOPs/token | FLOPs ÷ base | bytes ÷ base | prefill {PREFILL_TOKENS} tok ms | prefill ÷ base | techniques |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let g = generator(r)?;
        let ms = median(r.times.clone());
        let prefill = median(r.prefill.clone());
        let flops = g.flops_per_token(context);
        let bytes = r.served.weights.bytes as f64;
        let t = r.served.techniques();
        let mut notes: Vec<String> = t.names().iter().map(|s| s.to_string()).collect();
        if let Some(d) = &t.mixture_of_depths
            && d.generated_tokens_offered > 0
        {
            notes.push(format!(
                "routed {:.1}% of generated tokens",
                100.0 * d.generated_tokens_routed as f64 / d.generated_tokens_offered as f64
            ));
        }
        if let Some(removed) = &t.removed_layers {
            notes.push(format!("removed blocks {:?}", removed.removed));
        }
        println!(
            "| {} | {:.1}M ({:.1}M) | {:.1} | {ms:.2} | {:.3} | {:.1}M | {:.3} | {:.3} | {prefill:.1} | {:.3} | {} {} |",
            r.spec,
            r.served.parameters as f64 / 1e6,
            r.served.active_parameters as f64 / 1e6,
            bytes / 1e6,
            ms / base_ms,
            flops / 1e6,
            flops / base_flops,
            bytes / base_bytes,
            prefill / base_prefill,
            r.served.weights.format,
            notes.join(", "),
        );
    }
    Ok(())
}
