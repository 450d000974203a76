//! Time per forward of a ternary `BitLinear` against candle's f32 matmul and its Q4_0
//! `QMatMul`, on the linear shapes of a SmolLM2-135M block, at batch 1 (decode) and 16.
//!
//! `cargo bench -p joulebench-reference --bench ternary` (add `-- --quick` for shorter runs).
//! One thread: `RAYON_NUM_THREADS` is set to 1 unless already set. Each figure is the minimum
//! over repeated calls after a warm-up: on a shared machine the least disturbed estimate.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use joulebench_reference::ternary::kernel::{self, KernelPath};
use joulebench_reference::ternary::quant::quantize_activations;
use joulebench_reference::ternary::{BitLinear, best_path};
use std::time::{Duration, Instant};

/// Minimum seconds per call of `f`, over calls for about `budget` after one warm-up call.
fn best_secs(budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut n = 0;
    while n < 5 || (start.elapsed() < budget && n < 5000) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        n += 1;
    }
    best
}

fn main() -> candle_core::Result<()> {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: first statement of `main`, before any other thread exists (nothing reads the
        // environment concurrently).
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 60 } else { 300 });
    println!(
        "threads: {} (candle), ternary kernel path: {}",
        candle_core::utils::get_num_threads(),
        best_path().name()
    );
    println!("times in µs per forward (minimum of repeats); ratio = time / f32 time\n");
    println!(
        "{:<22} {:>5} {:>9} {:>9} {:>6} {:>9} {:>6} {:>9} {:>9} {:>9}",
        "layer [in→out]",
        "batch",
        "f32",
        "q4_0",
        "×f32",
        "ternary",
        "×f32",
        "avx2-krn",
        "scalar-k",
        "act-quant"
    );
    // SmolLM2-135M: hidden 576, 9 query heads and 3 KV heads of 64, MLP 1536.
    let shapes = [
        ("q/o 576→576", 576, 576, 2),
        ("k/v 576→192", 576, 192, 2),
        ("gate/up 576→1536", 576, 1536, 2),
        ("down 1536→576", 1536, 576, 1),
    ];
    let dev = Device::Cpu;
    for batch in [1usize, 16] {
        let mut block = [0f64; 3];
        for &(name, inf, out, count) in &shapes {
            let w = (Tensor::randn(0f32, 1.0, (out, inf), &dev)? * 0.02)?;
            let x = Tensor::randn(0f32, 1.0, (batch, inf), &dev)?;
            let f32_lin = candle_nn::Linear::new(w.clone(), None);
            let q4 = QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q4_0)?)?;
            let bit = BitLinear::from_weight(&w)?;

            let t_f32 = best_secs(budget, || {
                let _ = f32_lin.forward(&x);
            });
            let t_q4 = best_secs(budget, || {
                let _ = q4.forward(&x);
            });
            let t_bit = best_secs(budget, || {
                let _ = bit.forward(&x);
            });
            let xs = x.flatten_all()?.to_vec1::<f32>()?;
            let t_quant = best_secs(budget, || {
                let _ = quantize_activations(&xs, batch, inf);
            });
            let q = quantize_activations(&xs, batch, inf)?;
            let mut acc = vec![0i32; batch * out];
            let mut kernel_time = |path: KernelPath| {
                if !path.available() {
                    return f64::NAN;
                }
                best_secs(budget, || {
                    let _ = kernel::matmul_with(path, bit.packed(), &q, &mut acc);
                })
            };
            let t_avx2 = kernel_time(KernelPath::Avx2);
            let t_scalar = kernel_time(KernelPath::Scalar);
            block[0] += count as f64 * t_f32;
            block[1] += count as f64 * t_q4;
            block[2] += count as f64 * t_bit;
            println!(
                "{:<22} {:>5} {:>9.1} {:>9.1} {:>6.2} {:>9.1} {:>6.2} {:>9.1} {:>9.1} {:>9.1}",
                name,
                batch,
                t_f32 * 1e6,
                t_q4 * 1e6,
                t_q4 / t_f32,
                t_bit * 1e6,
                t_bit / t_f32,
                t_avx2 * 1e6,
                t_scalar * 1e6,
                t_quant * 1e6
            );
        }
        println!(
            "{:<22} {:>5} {:>9.1} {:>9.1} {:>6.2} {:>9.1} {:>6.2}\n",
            "block (7 linears)",
            batch,
            block[0] * 1e6,
            block[1] * 1e6,
            block[1] / block[0],
            block[2] * 1e6,
            block[2] / block[0]
        );
    }

    println!("weight bytes per block (7 linears, SmolLM2-135M):");
    let weights: usize = shapes.iter().map(|&(_, i, o, c)| c * i * o).sum();
    let tern: usize = shapes
        .iter()
        .map(|&(_, i, o, c)| c * (o * i.div_ceil(32) * 8 + 4))
        .sum();
    println!(
        "  f32 {} B (32 bits/weight), q4_0 {} B (4.5), ternary {} B ({:.4} bits/weight incl. γ)",
        4 * weights,
        weights / 32 * 18,
        tern,
        8.0 * tern as f64 / weights as f64
    );
    Ok(())
}
