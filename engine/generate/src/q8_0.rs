//! One activation row (a decoding step) times Q8_0 weights, with AVX2.
//!
//! Qwen2.5-0.5B's output head is Q8_0 (136 M weights, 146 MB read for every token): through
//! candle's kernel it took 28% of each decoding step, more per byte than any other format. A
//! Q8_0 block holds 32 signed bytes and an f16 scale; the activations are rounded to the same
//! blocks ([`crate::q8`]), so a block's product is `d_w·d_x·Σ q_w·q_x`, summed in integers: the
//! weights' signs are moved onto the activations so that `vpmaddubsw` (unsigned by signed)
//! multiplies them. The rows that follow are asked for ahead of time, as in the other kernels.

use std::sync::Arc;

use anyhow::Result;
use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;

#[cfg(target_arch = "x86_64")]
use crate::q8::sum_lanes;
use crate::q8::{AHEAD, BLOCK, Q8Block, Stored, avx2_fma, prefetch, quantize_row};

/// A Q8_0 block: its scale (f16), then 32 signed values.
const BLOCK_BYTES: usize = 34;

/// A Q8_0 weight matrix `[rows, columns]`, multiplied one activation row at a time.
#[derive(Clone)]
pub struct Q8_0Rows {
    stored: Stored,
}

impl Q8_0Rows {
    /// The matrix, when `weights` are Q8_0 in memory and this CPU has AVX2 and FMA.
    pub fn new(weights: Arc<QTensor>) -> Option<Self> {
        let stored = Stored::new(weights, GgmlDType::Q8_0, (BLOCK, BLOCK_BYTES))?;
        avx2_fma().then_some(Q8_0Rows { stored })
    }

    /// `x·Wᵀ` for `x`, some rows of `columns` values one after another: `[x rows, W rows]`.
    pub fn multiply(&self, x: &[f32]) -> Result<Vec<f32>> {
        let (data, row_bytes) = self.stored.data(x)?;
        let rows = self.stored.rows;
        let mut out = vec![0f32; x.len() / self.stored.columns * rows];
        for (x, out) in x
            .chunks_exact(self.stored.columns)
            .zip(out.chunks_exact_mut(rows))
        {
            let activations = quantize_row(x);
            let out_at = out.as_mut_ptr() as usize;
            candle_core::utils::barrier_pool().execute_chunked(rows, |range| {
                for row in range {
                    // SAFETY: `new` checked AVX2 and FMA. Each row is handed to exactly one
                    // worker, and `out` outlives the call.
                    unsafe {
                        // The row, and the rows after it: what is read next.
                        *(out_at as *mut f32).add(row) =
                            dot(&data[row * row_bytes..], &activations);
                    }
                }
            });
        }
        Ok(out)
    }
}

/// One weight row (its Q8_0 blocks, at the start of `rows`) times one row of rounded
/// activations.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot(rows: &[u8], activations: &[Q8Block]) -> f32 {
    use std::arch::x86_64::*;
    let ones = _mm256_set1_epi16(1);
    let mut sum = _mm256_setzero_ps();
    let row = &rows[..activations.len() * BLOCK_BYTES];
    for (i, (block, x)) in row.chunks_exact(BLOCK_BYTES).zip(activations).enumerate() {
        prefetch(rows, i * BLOCK_BYTES + AHEAD, BLOCK_BYTES);
        let scale = f16::from_le_bytes([block[0], block[1]]).to_f32() * x.d;
        // SAFETY: a block holds 32 values after its scale, and `qs` is 32 bytes.
        let (w, xs) = unsafe {
            (
                _mm256_loadu_si256(block[2..].as_ptr() as *const __m256i),
                _mm256_loadu_si256(x.qs.as_ptr() as *const __m256i),
            )
        };
        let products = _mm256_madd_epi16(
            _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xs, w)),
            ones,
        );
        sum = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(products), sum);
    }
    sum_lanes(sum)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot(_: &[u8], _: &[Q8Block]) -> f32 {
    unreachable!("Q8_0Rows::new requires x86-64 with AVX2")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::q8::agreement;

    /// The same products as candle's own Q8_0 kernel (which rounds the activations the same
    /// way), on random weights of Qwen2.5-0.5B's shapes (the head's width, its value projection).
    #[test]
    fn agrees_with_candles_kernel() {
        for shape in [(4096, 896, 1), (128, 896, 2), (33, 4864, 1)] {
            agreement::check(GgmlDType::Q8_0, shape, |weights, x| {
                Q8_0Rows::new(weights).unwrap().multiply(x).unwrap()
            });
        }
    }
}
