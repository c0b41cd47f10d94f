//! Activations rounded to 8 bits in blocks of 32, as ggml rounds them for its integer dot
//! products (and candle after it): `x ≈ d·q` with `d = max|x| / 127` stored as f16, and the
//! block's sums that offset formats need (Q4_1's minimum, Q5_0's 16). Shared by docent's own kernels,
//! [`crate::q4_1`] and [`crate::q5_0`].

use std::borrow::Cow;
use std::sync::Arc;

use anyhow::{Result, ensure};
use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;

/// Values per block, in the weights and in the rounded activations alike.
pub const BLOCK: usize = 32;

/// A block of 32 activations rounded to 8 bits.
pub struct Q8Block {
    /// The scale, rounded through f16 as the block stores it.
    pub d: f32,
    /// `d·Σq`, rounded through f16 as Q8_1 blocks store it (what Q4_1's minimum multiplies).
    pub scaled_sum: f32,
    /// `16·Σq`: what Q5_0's offset of 16 takes off a block's unsigned products.
    pub offset_sum: f32,
    /// The rounded values.
    pub qs: [i8; BLOCK],
}

/// `x` (a multiple of [`BLOCK`] values) in rounded blocks.
pub fn quantize_row(x: &[f32]) -> Vec<Q8Block> {
    x.chunks_exact(BLOCK)
        .map(|values| {
            let largest = values.iter().fold(0f32, |a, v| a.max(v.abs()));
            let d = largest / 127.0;
            let inverse = if d == 0.0 { 0.0 } else { 1.0 / d };
            let mut qs = [0i8; BLOCK];
            for (q, v) in qs.iter_mut().zip(values) {
                *q = (v * inverse).round() as i8;
            }
            let sum: i32 = qs.iter().map(|&q| q as i32).sum();
            let d = f16::from_f32(d);
            Q8Block {
                d: d.to_f32(),
                scaled_sum: (f16::from_f32(sum as f32) * d).to_f32(),
                offset_sum: (16 * sum) as f32,
                qs,
            }
        })
        .collect()
}

/// A quantized weight matrix `[rows, columns]` in the CPU's memory, stored in blocks of
/// `values` values and `bytes` bytes: what every kernel multiplies.
#[derive(Clone)]
pub struct Stored {
    weights: Arc<QTensor>,
    pub rows: usize,
    pub columns: usize,
    /// Values and bytes of one stored block.
    block: (usize, usize),
}

impl Stored {
    /// The matrix, when it is `format` in the CPU's memory and its rows are whole blocks of
    /// `block` (values, bytes).
    pub fn new(weights: Arc<QTensor>, format: GgmlDType, block: (usize, usize)) -> Option<Self> {
        let (rows, columns) = weights.shape().dims2().ok()?;
        let usable = weights.dtype() == format
            && weights.device().is_cpu()
            && columns.is_multiple_of(block.0);
        usable.then_some(Stored {
            weights,
            rows,
            columns,
            block,
        })
    }

    /// The stored bytes and a row's length in bytes, after checking that `x` holds whole rows
    /// of `columns` values and the bytes are whole rows of blocks.
    pub fn data(&self, x: &[f32]) -> Result<(Cow<'_, [u8]>, usize)> {
        let (rows, columns) = (self.rows, self.columns);
        ensure!(
            x.len().is_multiple_of(columns),
            "{} values for rows of {columns} columns",
            x.len()
        );
        let data = self.weights.data()?;
        let row_bytes = columns / self.block.0 * self.block.1;
        ensure!(
            data.len() == rows * row_bytes,
            "{:?} data of {} bytes for {rows}×{columns}",
            self.weights.dtype(),
            data.len()
        );
        Ok((data, row_bytes))
    }
}

/// Whether this CPU runs docent's kernels (AVX2 and FMA).
pub fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// How far ahead of the block a decoding kernel multiplies its bytes are asked for, over the
/// rows that follow: the rows of a 1.5B model are six K blocks long, and asking within the row
/// came too late (Qwen2.5-1.5B decoded 13–14 tokens/s without, 17–18 four blocks ahead within
/// the row, 18–19 at 1,024 or 2,048 bytes over the rows that follow, 17–18 at 4,096).
pub const AHEAD: usize = 2048;

/// Asks for `bytes` of `rows` from `at` (those within it) to be brought into the cache.
#[cfg(target_arch = "x86_64")]
pub fn prefetch(rows: &[u8], at: usize, bytes: usize) {
    use std::arch::x86_64::*;
    let mut line = at;
    while line < (at + bytes).min(rows.len()) {
        // SAFETY: a prefetch of an address within the slice.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(rows.as_ptr().add(line) as *const i8) };
        line += 64;
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub fn prefetch(_: &[u8], _: usize, _: usize) {}

/// The sum of a vector's eight lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub fn sum_lanes(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let pairs = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
    _mm_cvtss_f32(_mm_add_ss(pairs, _mm_shuffle_ps(pairs, pairs, 1)))
}

/// Random weights of one format and random activations, multiplied by a kernel of docent's and
/// by candle's own: the tests of both kernels.
#[cfg(test)]
pub mod agreement {
    use std::sync::Arc;

    use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
    use candle_core::{Device, Module, Tensor};

    /// Multiplies random `[rows, columns]` weights in `format` with `inputs` random activation
    /// rows by `ours` and by candle, and fails unless they agree within 1e-5 of the largest value
    /// (on a CPU without AVX2/FMA, where docent's kernels are never used, it says so and passes).
    pub fn check(
        format: GgmlDType,
        shape: (usize, usize, usize),
        ours: impl Fn(Arc<QTensor>, &[f32]) -> Vec<f32>,
    ) {
        if skipped(format) {
            return;
        }
        let (ours, candles, _) = products(format, shape, ours);
        let largest = candles.iter().fold(0f32, |a, v| a.max(v.abs()));
        let worst = ours
            .iter()
            .zip(&candles)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-5 * largest,
            "{format:?} {shape:?}: difference {worst} against values up to {largest}"
        );
    }

    /// Multiplies as [`check`] does, and fails unless `ours` is as near the exact product (the
    /// weights dequantized, the activations in f32) as candle's kernel, within a tenth, by the
    /// root mean square of the differences: for a kernel that rounds the activations in other
    /// blocks than candle's.
    pub fn check_no_worse(
        format: GgmlDType,
        shape: (usize, usize, usize),
        ours: impl Fn(Arc<QTensor>, &[f32]) -> Vec<f32>,
    ) {
        if skipped(format) {
            return;
        }
        let (ours, candles, exact) = products(format, shape, ours);
        let error = |values: &[f32]| {
            let squares: f32 = values
                .iter()
                .zip(&exact)
                .map(|(a, b)| (a - b).powi(2))
                .sum();
            (squares / values.len() as f32).sqrt()
        };
        let (ours, candles) = (error(&ours), error(&candles));
        assert!(
            ours <= candles * 1.1,
            "{format:?} {shape:?}: {ours} from the exact product (rms), candle's kernel {candles}"
        );
    }

    /// Whether the CPU lacks AVX2/FMA, where docent's kernels are never used (said on stderr).
    fn skipped(format: GgmlDType) -> bool {
        let skipped = !super::avx2_fma();
        if skipped {
            eprintln!(
                "skipped: this CPU has no AVX2/FMA, so docent's {format:?} kernel is never used here"
            );
        }
        skipped
    }

    /// Standard normal values from `seed` (SplitMix64, then Box–Muller).
    fn normal_draws(mut seed: u64) -> impl FnMut() -> f32 {
        let mut uniform = move || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            // 53 bits in (0, 1]: never 0, whose logarithm Box–Muller takes.
            (((z ^ (z >> 31)) >> 11) + 1) as f64 / (1u64 << 53) as f64
        };
        move || {
            let (u, v) = (uniform(), uniform());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        }
    }

    /// `ours`, candle's and the exact products of random weights and activations.
    fn products(
        format: GgmlDType,
        (rows, columns, inputs): (usize, usize, usize),
        ours: impl Fn(Arc<QTensor>, &[f32]) -> Vec<f32>,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        // Seeded, so that a test passes or fails alike on every run: candle cannot seed its CPU
        // generator, and a draw of its own once put a kernel a hair past the tenth it may lose.
        let mut draw = normal_draws(0x5eed ^ (rows * columns * inputs) as u64);
        let mut tensor = |std: f32, shape: (usize, usize)| {
            let values: Vec<f32> = (0..shape.0 * shape.1).map(|_| std * draw()).collect();
            Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
        };
        let w = tensor(0.1, (rows, columns));
        let weights = Arc::new(QTensor::quantize(&w, format).unwrap());
        let x = tensor(1.0, (inputs, columns));
        let dequantized = weights.dequantize(&Device::Cpu).unwrap();
        let ours = ours(
            weights.clone(),
            &x.flatten_all().unwrap().to_vec1().unwrap(),
        );
        let candles: Vec<f32> = QMatMul::QTensor(weights)
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(ours.len(), candles.len());
        let exact = x
            .matmul(&dequantized.t().unwrap())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        (ours, candles, exact)
    }
}
