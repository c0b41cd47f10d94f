//! Decoding's matrix–vector product over Q4_1 weights, with AVX2.
//!
//! candle 0.11 has fast x86 kernels for Q4_0, Q8_0 and the K formats, but multiplies Q4_1 (the
//! format of the default SmolLM2 GGUF) with a portable loop: half of every decoded token went
//! there. This is the same arithmetic in AVX2. The activation row is rounded to 8 bits in
//! blocks of 32 as candle and ggml round it (Q8_1: a scale, and the scaled sum of the block),
//! and each block's product is summed in integers:
//!
//! `Σ w·x = Σ_block d_w·d_x·Σ q_w·q_x + m_w·s_x`, where `w = d_w·q_w + m_w` and `x ≈ d_x·q_x`.

use std::sync::Arc;

use anyhow::{Result, ensure};
use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;

#[cfg(target_arch = "x86_64")]
use crate::q8::sum_lanes;
use crate::q8::{AHEAD, BLOCK, Q8Block, Stored, avx2_fma, prefetch, quantize_row};
/// A Q4_1 block: scale and minimum (f16 each), then 32 four-bit values, two to a byte (the
/// low nibbles are values 0–15, the high ones 16–31).
const BLOCK_BYTES: usize = 20;

/// A Q4_1 weight matrix `[rows, columns]`, multiplied by one activation row at a time.
#[derive(Clone)]
pub struct Q4_1Rows {
    stored: Stored,
}

impl Q4_1Rows {
    /// The matrix, when `weights` are Q4_1 in memory and this CPU has AVX2 and FMA.
    pub fn new(weights: Arc<QTensor>) -> Option<Self> {
        let stored = Stored::new(weights, GgmlDType::Q4_1, (BLOCK, BLOCK_BYTES))?;
        avx2_fma().then_some(Q4_1Rows { stored })
    }

    /// `W·x` for one row `x` of `columns` values; the rows of `W` are shared out over candle's
    /// CPU threads.
    pub fn multiply(&self, x: &[f32]) -> Result<Vec<f32>> {
        ensure!(
            x.len() == self.stored.columns,
            "a row of {} values for a matrix of {} columns",
            x.len(),
            self.stored.columns
        );
        let (data, row_bytes) = self.stored.data(x)?;
        let activations = quantize_row(x);
        let mut out = vec![0f32; self.stored.rows];
        let out_at = out.as_mut_ptr() as usize;
        candle_core::utils::barrier_pool().execute_chunked(self.stored.rows, |range| {
            for row in range {
                // SAFETY: `new` checked AVX2 and FMA. Each row index is handed to exactly one
                // worker, so no two write the same element, and `out` outlives the call.
                unsafe {
                    // The row, and the rows after it: what is read next.
                    let value = dot(&data[row * row_bytes..], &activations);
                    *(out_at as *mut f32).add(row) = value;
                }
            }
        });
        Ok(out)
    }
}

/// One weight row (its Q4_1 blocks, at the start of `rows`) times the rounded activations.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot(rows: &[u8], activations: &[Q8Block]) -> f32 {
    use std::arch::x86_64::*;
    let low_nibbles = _mm_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    let mut sum = _mm256_setzero_ps();
    let mut minimums = 0f32;
    let row = &rows[..activations.len() * BLOCK_BYTES];
    for (i, (block, x)) in row.chunks_exact(BLOCK_BYTES).zip(activations).enumerate() {
        prefetch(rows, i * BLOCK_BYTES + AHEAD, BLOCK_BYTES);
        let scale = f16::from_le_bytes([block[0], block[1]]).to_f32();
        let minimum = f16::from_le_bytes([block[2], block[3]]).to_f32();
        // SAFETY: a block holds 16 bytes of values after its two f16s, and `qs` is 32 bytes.
        let packed = unsafe { _mm_loadu_si128(block[4..].as_ptr() as *const __m128i) };
        let first = _mm_and_si128(packed, low_nibbles);
        let second = _mm_and_si128(_mm_srli_epi16(packed, 4), low_nibbles);
        let weights = _mm256_set_m128i(second, first);
        let xs = unsafe { _mm256_loadu_si256(x.qs.as_ptr() as *const __m256i) };
        // Unsigned 4-bit weights times signed 8-bit activations, in pairs, then in fours.
        let products = _mm256_madd_epi16(_mm256_maddubs_epi16(weights, xs), ones);
        sum = _mm256_fmadd_ps(
            _mm256_set1_ps(scale * x.d),
            _mm256_cvtepi32_ps(products),
            sum,
        );
        minimums += minimum * x.scaled_sum;
    }
    sum_lanes(sum) + minimums
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot(_: &[u8], _: &[Q8Block]) -> f32 {
    unreachable!("Q4_1Rows::new requires x86-64 with AVX2")
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;
    use crate::q8::agreement;

    /// The same products as candle's own Q4_1 kernel, on random weights and activations of
    /// SmolLM2's projection shapes.
    #[test]
    fn agrees_with_candles_kernel() {
        for (rows, columns) in [(576, 576), (1536, 576), (576, 1536), (192, 576)] {
            agreement::check(GgmlDType::Q4_1, (rows, columns, 1), |weights, x| {
                Q4_1Rows::new(weights).unwrap().multiply(x).unwrap()
            });
        }
    }

    #[test]
    fn other_formats_are_left_to_candle() {
        let w = Tensor::randn(0f32, 0.1, (64, 64), &Device::Cpu).unwrap();
        let weights = Arc::new(QTensor::quantize(&w, GgmlDType::Q8_0).unwrap());
        assert!(Q4_1Rows::new(weights).is_none());
    }
}
