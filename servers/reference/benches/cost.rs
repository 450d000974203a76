//! Latency against arithmetic: this machine's matrix-multiply rate, the `small` encoder's
//! latency next to its FLOP count, and the generator's per-token cost across presets.
//!
//! `cargo bench -p joulebench-reference --bench cost` (add `-- --quick` for fewer repeats).

use candle_core::{Device, Tensor};
use joulebench_reference::models::{flops, presets};
use joulebench_reference::{EncoderModel, EncoderTask, SeededInit};
use std::time::Instant;

/// Best (minimum) seconds of `runs` calls after one warm-up call: on a machine shared with
/// other work the minimum is the least disturbed estimate of the intrinsic cost.
fn best_secs(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// GFLOP/s of an `[n, k] × [k, m]` f32 product on the CPU.
fn matmul_rate(n: usize, k: usize, m: usize, runs: usize) -> candle_core::Result<f64> {
    let a = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu)?;
    let b = Tensor::randn(0f32, 1.0, (k, m), &Device::Cpu)?;
    let secs = best_secs(runs, || {
        let _ = a.matmul(&b);
    });
    Ok(2.0 * (n * k * m) as f64 / secs / 1e9)
}

fn main() -> candle_core::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 5 } else { 21 };
    println!("threads: {}", candle_core::utils::get_num_threads());

    println!("\n## matrix multiply (candle, f32)");
    let mut peak: f64 = 0.0;
    for (n, k, m) in [
        (128, 512, 512),
        (128, 512, 2048),
        (128, 2048, 512),
        (512, 512, 2048),
        (1024, 1024, 1024),
    ] {
        let rate = matmul_rate(n, k, m, runs)?;
        peak = peak.max(rate);
        println!("[{n}x{k}] x [{k}x{m}]: {rate:.1} GFLOP/s");
    }

    for (n, k, m) in [(128, 512, 2048), (128, 2048, 512), (16, 512, 2048)] {
        let a = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu)?;
        let w = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu)?;
        let secs = best_secs(runs, || {
            let _ = a.matmul(&w.t().unwrap_or_else(|_| unreachable!()));
        });
        let rate = 2.0 * (n * k * m) as f64 / secs / 1e9;
        peak = peak.max(rate);
        println!("[{n}x{k}] x [{m}x{k}]ᵀ (nn.Linear layout): {rate:.1} GFLOP/s");
    }

    println!("best matmul rate: {peak:.1} GFLOP/s");

    println!("\n## element-wise work of one `small` layer at 128 tokens");
    let h = Tensor::randn(0f32, 1.0, (1, 128, 2048), &Device::Cpu)?;
    let gelu = best_secs(runs, || {
        let _ = h.gelu_erf();
    });
    let x = Tensor::randn(0f32, 1.0, (1, 128, 512), &Device::Cpu)?;
    let ln = candle_nn::LayerNorm::new(
        Tensor::ones(512, candle_core::DType::F32, &Device::Cpu)?,
        Tensor::zeros(512, candle_core::DType::F32, &Device::Cpu)?,
        1e-12,
    );
    let norm = best_secs(runs, || {
        let _ = candle_core::Module::forward(&ln, &x);
    });
    let scores = Tensor::randn(0f32, 1.0, (1, 8, 128, 128), &Device::Cpu)?;
    let soft = best_secs(runs, || {
        let _ = candle_nn::ops::softmax_last_dim(&scores);
    });
    println!(
        "gelu_erf [128x2048]: {:.2} ms, layer_norm [128x512]: {:.2} ms, softmax [8x128x128]: {:.2} ms",
        gelu * 1e3,
        norm * 1e3,
        soft * 1e3
    );

    println!("\n## encoder `small` (BERT-Small: 4 layers, 512 wide), classification");
    let c = presets::encoder("small").unwrap_or_else(|| unreachable!());
    let task = EncoderTask::Classification(vec!["NEGATIVE".into(), "POSITIVE".into()]);
    let model = EncoderModel::load(&c, task.clone(), SeededInit::new(0).var_builder())?;
    println!("parameters: {}", c.parameter_count(&task));
    println!(
        "| tokens | best latency ms | GFLOP | achieved GFLOP/s | share of best matmul rate | FLOP-bound ms |"
    );
    println!("|---|---|---|---|---|---|");
    for tokens in [16, 32, 64, 128, 256, 512] {
        let ids: Vec<u32> = (0..tokens as u32).map(|i| 1000 + i * 37 % 29000).collect();
        let types = vec![0u32; tokens];
        let secs = best_secs(runs, || {
            let _ = model.classify(&ids, &types);
        });
        let f = flops::encoder_forward(&c, &task, tokens) as f64;
        let rate = f / secs / 1e9;
        println!(
            "| {tokens} | {:.2} | {:.3} | {rate:.1} | {:.0}% | {:.2} |",
            secs * 1e3,
            f / 1e9,
            100.0 * rate / peak,
            f / (peak * 1e9) * 1e3
        );
    }

    println!("\n## generator per-token cost (prompt 8 tokens, 32 new, context ~24)");
    println!(
        "| preset | parameters | best per-token ms | GFLOP/token | ms ratio to small | FLOP ratio to small |"
    );
    println!("|---|---|---|---|---|---|");
    let mut reference: Option<(f64, f64)> = None;
    for name in ["tiny", "small", "base", "medium", "bloom-560m"] {
        let c = presets::generator(name).unwrap_or_else(|| unreachable!());
        let g = c.load(SeededInit::new(0).var_builder())?;
        let prompt: Vec<u32> = (0..8).map(|i| 100 + i).collect();
        let new_tokens = 32;
        let gen_runs = if quick { 3 } else { 5 };
        let prefill = best_secs(gen_runs, || {
            let _ = g.start(&prompt);
        });
        let total = best_secs(gen_runs, || {
            let Ok((mut decoding, first)) = g.start(&prompt) else {
                return;
            };
            let mut logits = Ok(first);
            for _ in 0..new_tokens {
                let next = logits
                    .as_ref()
                    .ok()
                    .and_then(|l| l.argmax(0).ok())
                    .and_then(|t| t.to_scalar::<u32>().ok())
                    .unwrap_or(0);
                logits = decoding.step(next);
            }
        });
        let per_token = (total - prefill) / new_tokens as f64;
        let f = flops::decoder_token(&c.dims(), 8 + new_tokens / 2) as f64;
        if name == "small" {
            reference = Some((per_token, f));
        }
        let (ms_ratio, flop_ratio) =
            reference.map_or((f64::NAN, f64::NAN), |(t, r)| (per_token / t, f / r));
        println!(
            "| {name} | {} | {:.2} | {:.3} | {ms_ratio:.2} | {flop_ratio:.2} |",
            c.parameter_count(),
            per_token * 1e3,
            f / 1e9
        );
    }
    Ok(())
}
