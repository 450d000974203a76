//! The ternary (BitNet b1.58) kernel: packing, scalar against AVX2, BitLinear against the
//! dequantized reference, and the quantizers' edge cases.

use crate::llama::max_abs;
use candle_core::{Device, Module, Tensor};
use joulebench_reference::ternary::kernel::{self, KernelPath};
use joulebench_reference::ternary::pack::{self, PackedTernary};
use joulebench_reference::ternary::quant::{
    self, QuantizedActivations, absmean, quantize_activations, quantize_weights,
};
use joulebench_reference::ternary::{BitLinear, TernaryError, fake_quantize_activations};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

fn random_ternary(rng: &mut Pcg64Mcg, n: usize) -> Vec<i8> {
    (0..n).map(|_| rng.random_range(-1i8..=1)).collect()
}

fn random_f32(rng: &mut Pcg64Mcg, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

/// Random int8 activations in [−127, 127] as the kernel takes them, padded like the weights.
fn random_activations(rng: &mut Pcg64Mcg, tokens: usize, cols: usize) -> QuantizedActivations {
    let padded_cols = cols.div_ceil(pack::BLOCK) * pack::BLOCK;
    let mut values = vec![0i8; tokens * padded_cols];
    for t in 0..tokens {
        for v in &mut values[t * padded_cols..t * padded_cols + cols] {
            *v = rng.random_range(-127i8..=127);
        }
    }
    QuantizedActivations {
        tokens,
        cols,
        padded_cols,
        values,
        scales: vec![1.0; tokens],
    }
}

/// Σ_j w[r, j] x[t, j] in i64, straight from the unpacked values.
fn naive(w: &[i8], rows: usize, cols: usize, x: &QuantizedActivations) -> Vec<i32> {
    let mut out = vec![0i32; x.tokens * rows];
    for t in 0..x.tokens {
        for r in 0..rows {
            let s: i64 = (0..cols)
                .map(|j| i64::from(w[r * cols + j]) * i64::from(x.row(t)[j]))
                .sum();
            out[t * rows + r] = i32::try_from(s).unwrap();
        }
    }
    out
}

#[test]
fn ternary_pack_unpack_round_trip_odd_sizes() {
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    for (rows, cols) in [
        (1, 1),
        (3, 5),
        (7, 33),
        (13, 95),
        (2, 64),
        (5, 129),
        (11, 577),
    ] {
        let w = random_ternary(&mut rng, rows * cols);
        let p = PackedTernary::pack(&w, rows, cols).unwrap();
        assert_eq!(p.unpack(), w, "{rows}x{cols}");
        assert_eq!(p.padded_cols() % pack::BLOCK, 0);
        assert_eq!(
            p.packed_bytes(),
            rows * cols.div_ceil(32) * 8,
            "{rows}x{cols}"
        );
    }
}

#[test]
fn ternary_pack_layout_and_codes() {
    // Row 0: −1 at column 0, +1 at column 9 (byte 1, bits 2–3); row 1: +1 at column 31 (byte 7, bits 6–7).
    let (rows, cols) = (2, 40);
    let mut w = vec![0i8; rows * cols];
    w[0] = -1;
    w[9] = 1;
    w[cols + 31] = 1;
    let p = PackedTernary::pack(&w, rows, cols).unwrap();
    assert_eq!(p.row_bytes(), 16);
    assert_eq!(p.row(0)[0], pack::CODE_MINUS);
    assert_eq!(p.row(0)[1], pack::CODE_PLUS << 2);
    assert_eq!(p.row(1)[7], pack::CODE_PLUS << 6);
    assert_eq!(p.data().iter().filter(|&&b| b != 0).count(), 3);
}

#[test]
fn ternary_pack_rejects_bad_input() {
    assert!(matches!(
        PackedTernary::pack(&[0, 2, 1], 1, 3),
        Err(TernaryError::NotTernary { index: 1, value: 2 })
    ));
    assert!(matches!(
        PackedTernary::pack(&[0, 1], 1, 3),
        Err(TernaryError::Length { .. })
    ));
}

#[test]
fn ternary_scalar_matches_naive_and_avx2_exactly() {
    let mut rng = Pcg64Mcg::seed_from_u64(2);
    let avx2 = KernelPath::Avx2.available();
    for (rows, cols, tokens) in [
        (1, 1, 1),
        (3, 31, 2),
        (5, 32, 1),
        (4, 33, 3),
        (7, 63, 16),
        (6, 65, 5),
        (9, 100, 1),
        (17, 576, 4),
        (3, 4100, 2),
        (2, 9001, 3),
    ] {
        let w = random_ternary(&mut rng, rows * cols);
        let p = PackedTernary::pack(&w, rows, cols).unwrap();
        let x = random_activations(&mut rng, tokens, cols);
        let mut scalar = vec![0i32; tokens * rows];
        kernel::matmul_with(KernelPath::Scalar, &p, &x, &mut scalar).unwrap();
        assert_eq!(
            scalar,
            naive(&w, rows, cols, &x),
            "scalar {rows}x{cols} × {tokens}"
        );
        if avx2 {
            let mut simd = vec![-1i32; tokens * rows];
            kernel::matmul_with(KernelPath::Avx2, &p, &x, &mut simd).unwrap();
            assert_eq!(simd, scalar, "avx2 {rows}x{cols} × {tokens}");
        }
    }
}

#[test]
fn ternary_kernel_extremes_do_not_overflow() {
    // All +1 (and all −1) weights against all ±127 over more than the 128-block i16 flush.
    let (rows, cols) = (2, 128 * 32 * 2 + 7);
    let mut w = vec![1i8; rows * cols];
    w[cols..].fill(-1);
    let p = PackedTernary::pack(&w, rows, cols).unwrap();
    for v in [127i8, -127] {
        let mut x = random_activations(&mut Pcg64Mcg::seed_from_u64(3), 1, cols);
        x.values[..cols].fill(v);
        let want = vec![i32::from(v) * cols as i32, -i32::from(v) * cols as i32];
        for path in [KernelPath::Scalar, KernelPath::Avx2] {
            if !path.available() {
                continue;
            }
            let mut out = vec![0i32; rows];
            kernel::matmul_with(path, &p, &x, &mut out).unwrap();
            assert_eq!(out, want, "{path:?} {v}");
        }
    }
}

#[test]
fn ternary_simd_path_taken_where_available() {
    let has_avx2 = cfg!(target_arch = "x86_64") && {
        #[cfg(target_arch = "x86_64")]
        let d = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let d = false;
        d
    };
    let expected = if has_avx2 {
        KernelPath::Avx2
    } else {
        KernelPath::Scalar
    };
    assert_eq!(kernel::best_path(), expected);
    let layer =
        BitLinear::from_weight(&Tensor::randn(0f32, 1.0, (8, 40), &Device::Cpu).unwrap()).unwrap();
    let x = Tensor::randn(0f32, 1.0, (3, 40), &Device::Cpu).unwrap();
    let (_, path) = layer.forward_with(&x, None).unwrap();
    assert_eq!(path, expected);
    println!("ternary kernel path on this CPU: {}", path.name());
    if !has_avx2 {
        assert!(layer.forward_with(&x, Some(KernelPath::Avx2)).is_err());
    }
}

/// The float tolerance of BitLinear against the dequantized reference.
///
/// The kernel's integer sum is exact; the reference sums `in` f32 products. A dot product of n
/// terms in f32 is off by at most about n·u·Σ|terms| (u = 2⁻²⁴, the standard forward error
/// bound), and the scale products add a few u more; so allow (in + 4)·u·S per output, where
/// S = γ · Σ_j |W̃[r, j]| · |x̂[t, j]|. A single wrong weight moves the output by γ·|x̂_j|,
/// far more than this for any x̂_j ≠ 0.
fn check_against_reference(layer: &BitLinear, x: &Tensor) {
    let y = layer.forward(x).unwrap();
    let y_ref = layer.forward_reference(x).unwrap();
    assert_eq!(y.dims(), y_ref.dims());
    let inf = layer.in_features();
    let xq = fake_quantize_activations(x)
        .unwrap()
        .reshape(((), inf))
        .unwrap();
    let s = xq
        .abs()
        .unwrap()
        .matmul(&layer.ternary_weight().unwrap().abs().unwrap().t().unwrap())
        .unwrap()
        .affine(f64::from(layer.gamma()), 0.0)
        .unwrap();
    let tol = (inf as f32 + 4.0) * f32::EPSILON / 2.0;
    let y = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let y_ref = y_ref.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let s = s.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let mut worst = 0f32;
    for i in 0..y.len() {
        let d = (y[i] - y_ref[i]).abs();
        assert!(
            d <= tol * s[i] + f32::MIN_POSITIVE,
            "output {i}: {} vs {} (S {})",
            y[i],
            y_ref[i],
            s[i]
        );
        if s[i] > 0.0 {
            worst = worst.max(d / s[i]);
        }
    }
    println!("worst |Δ|/S = {worst:e}, tolerance {tol:e}");
}

#[test]
fn ternary_bitlinear_matches_dequantized_reference() {
    let mut rng = Pcg64Mcg::seed_from_u64(4);
    for (out, inf, lead) in [
        (96, 200, vec![2, 3]),
        (33, 577, vec![5]),
        (64, 1536, vec![1]),
        (7, 31, vec![]),
    ] {
        let w = Tensor::from_vec(
            random_f32(&mut rng, out * inf, 0.1),
            (out, inf),
            &Device::Cpu,
        )
        .unwrap();
        let layer = BitLinear::from_weight(&w).unwrap();
        let mut shape = lead.clone();
        shape.push(inf);
        let n: usize = lead.iter().product();
        let x = Tensor::from_vec(random_f32(&mut rng, n * inf, 3.0), shape, &Device::Cpu).unwrap();
        check_against_reference(&layer, &x);
        let mut want = lead.clone();
        want.push(out);
        assert_eq!(layer.forward(&x).unwrap().dims(), want.as_slice());
        // With a bias, both sides add it the same way.
        let b = Tensor::from_vec(random_f32(&mut rng, out, 1.0), out, &Device::Cpu).unwrap();
        let biased = layer.clone().with_bias(&b).unwrap();
        let d = (biased.forward(&x).unwrap()
            - layer.forward(&x).unwrap().broadcast_add(&b).unwrap())
        .unwrap();
        assert_eq!(max_abs(&d), 0.0);
    }
    // Packed size: 2 bits per weight plus γ.
    let layer =
        BitLinear::from_weight(&Tensor::randn(0f32, 1.0, (576, 1536), &Device::Cpu).unwrap())
            .unwrap();
    assert_eq!(layer.weight_bytes(), 576 * 1536 / 4 + 4);
    assert!(layer.bits_per_weight() > 2.0 && layer.bits_per_weight() < 2.001);
}

#[test]
fn ternary_bitlinear_rejects_wrong_shapes() {
    let layer = BitLinear::from_weight(
        &Tensor::zeros((4, 8), candle_core::DType::F32, &Device::Cpu).unwrap(),
    )
    .unwrap();
    assert!(
        layer
            .forward(&Tensor::zeros((2, 7), candle_core::DType::F32, &Device::Cpu).unwrap())
            .is_err()
    );
    assert!(
        BitLinear::from_weight(&Tensor::zeros(8, candle_core::DType::F32, &Device::Cpu).unwrap())
            .is_err()
    );
    assert!(
        layer
            .clone()
            .with_bias(&Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap())
            .is_err()
    );
}

#[test]
fn ternary_absmean_and_absmax_values() {
    // γ = mean |W| = 2.5; W / (γ + ε) = 0.4, −0.8, 1.2, −1.6 → 0, −1, +1, −1.
    let t = quantize_weights(&[1.0, -2.0, 3.0, -4.0], 2, 2).unwrap();
    assert_eq!(t.gamma, 2.5);
    assert_eq!(t.values, vec![0, -1, 1, -1]);
    // max|x| = 1: 0.5 × 127 = 63.5 → 64 (half to even), −1 → −127, 0.25 × 127 = 31.75 → 32.
    let q = quantize_activations(&[0.5, -1.0, 0.25], 1, 3).unwrap();
    assert_eq!(&q.row(0)[..3], &[64, -127, 32]);
    assert_eq!(q.row(0).len(), 32);
    assert!(q.row(0)[3..].iter().all(|&v| v == 0));
    assert_eq!(q.scales, vec![1.0 / 127.0]);
    assert_eq!(quant::WEIGHT_EPS, 1e-5);
}

#[test]
fn ternary_all_zero_weights_and_zero_rows() {
    let layer = BitLinear::from_weight(
        &Tensor::zeros((5, 9), candle_core::DType::F32, &Device::Cpu).unwrap(),
    )
    .unwrap();
    assert_eq!(layer.gamma(), 0.0);
    assert!(layer.packed().data().iter().all(|&b| b == 0));
    let x = Tensor::randn(0f32, 1.0, (2, 9), &Device::Cpu).unwrap();
    let y = layer
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(y.iter().all(|&v| v == 0.0));

    // An all-zero activation row gives exactly zero outputs (and no NaN), its neighbours not.
    let w = Tensor::randn(0f32, 1.0, (6, 40), &Device::Cpu).unwrap();
    let layer = BitLinear::from_weight(&w).unwrap();
    let mut xs = vec![0f32; 3 * 40];
    xs[..40].fill(0.5);
    xs[80..]
        .iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v = i as f32 - 20.0);
    let x = Tensor::from_vec(xs, (3, 40), &Device::Cpu).unwrap();
    let q =
        quantize_activations(&x.flatten_all().unwrap().to_vec1::<f32>().unwrap(), 3, 40).unwrap();
    assert_eq!(q.scales[1], 0.0);
    let y = layer.forward(&x).unwrap().to_vec2::<f32>().unwrap();
    assert!(y[1].iter().all(|&v| v == 0.0));
    assert!(y.iter().flatten().all(|v| v.is_finite()));
    check_against_reference(&layer, &x);
}

#[test]
fn ternary_huge_tiny_and_non_finite_values() {
    // Huge weights: the f64 absmean does not overflow, γ stays finite.
    let w = vec![f32::MAX, -f32::MAX, 1e38, 0.0, 1.0, -3e38];
    assert!(absmean(&w).unwrap().is_finite());
    let t = quantize_weights(&w, 2, 3).unwrap();
    assert_eq!(t.values, vec![1, -1, 1, 0, 0, -1]);

    // Huge and subnormal activation rows quantize to ±127 with finite scales.
    let x = [
        3e38f32,
        -1e38,
        0.0,
        f32::from_bits(1),
        -f32::from_bits(1),
        0.0,
    ];
    let q = quantize_activations(&x, 2, 3).unwrap();
    assert_eq!(&q.row(0)[..3], &[127, -42, 0]);
    assert_eq!(&q.row(1)[..3], &[127, -127, 0]);
    assert!(q.scales.iter().all(|s| s.is_finite() && *s >= 0.0));

    // A layer with huge weights and ordinary activations gives finite outputs matching the reference.
    let wt = Tensor::from_vec(
        vec![1e30f32, -2e30, 0.0, 3e30, 1e-30, -1e30],
        (2, 3),
        &Device::Cpu,
    )
    .unwrap();
    let layer = BitLinear::from_weight(&wt).unwrap();
    let x = Tensor::from_vec(vec![1f32, 2.0, -3.0], (1, 3), &Device::Cpu).unwrap();
    let y = layer
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(y.iter().all(|v| v.is_finite()));
    check_against_reference(&layer, &x);

    // NaN or infinite weights are refused; a NaN activation row gives NaN outputs for that row only.
    assert!(matches!(
        quantize_weights(&[1.0, f32::NAN], 1, 2),
        Err(TernaryError::NonFiniteWeight { index: 1 })
    ));
    let bad = Tensor::from_vec(vec![1f32, f32::INFINITY], (1, 2), &Device::Cpu).unwrap();
    assert!(BitLinear::from_weight(&bad).is_err());
    let x = Tensor::from_vec(
        vec![1f32, f32::NAN, 2.0, 1.0, 0.5, -1.0],
        (2, 3),
        &Device::Cpu,
    )
    .unwrap();
    let y = layer.forward(&x).unwrap().to_vec2::<f32>().unwrap();
    assert!(y[0].iter().all(|v| v.is_nan()));
    assert!(y[1].iter().all(|v| v.is_finite()));
}
