//! Matrix products over Q5_0 weights, with AVX2: one activation row (decoding) or many (a
//! prompt's chunk).
//!
//! Qwen2.5's smaller models keep most projections in Q5_0 (their width, 896, is no multiple of
//! the K formats' 256-value blocks), and candle 0.11 multiplies Q5_0 with a portable loop: the
//! 0.5B writer read its prompt at a quarter of llama.cpp's speed. This is ggml's arithmetic in
//! AVX2. A Q5_0 block holds 32 weights `w = d·(q − 16)`, `q` in 0–31 (four bits in a nibble, the
//! fifth in a 32-bit mask); the activations are rounded to Q8_0 blocks ([`crate::q8`]) and each
//! block's product is summed in integers, `Σ w·x = d_w·d_x·(Σ q·q_x − 16·Σ q_x)`.
//!
//! For many rows, each weight row is unpacked once, and two weight rows are multiplied with four
//! activation rows at a time ([`dot_tile`]): each block loaded serves several products, where one
//! row by one row spent its time loading (prompts 108–113 → 148–155 tokens/s on Qwen2.5-0.5B);
//! the weight rows are shared out over candle's CPU threads. (Products with AVX-VNNI, the
//! weights' offset folded into them, or two running sums per row changed a few percent; four
//! activation rows with the weights signed, as ggml's AVX2 path signs them, measured slower: 95
//! against 109 tokens/s.)

use std::sync::Arc;

use anyhow::Result;
use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;

#[cfg(target_arch = "x86_64")]
use crate::q8::sum_lanes;
use crate::q8::{AHEAD, BLOCK, Q8Block, Stored, avx2_fma, prefetch, quantize_row};

/// A Q5_0 block: its scale (f16), the fifth bits of its 32 values (a little-endian u32), then
/// the low four bits, two to a byte (low nibbles values 0–15, high ones 16–31).
const BLOCK_BYTES: usize = 22;

/// A Q5_0 weight matrix `[rows, columns]`.
#[derive(Clone)]
pub struct Q5_0Rows {
    stored: Stored,
}

impl Q5_0Rows {
    /// The matrix, when `weights` are Q5_0 in memory and this CPU has AVX2 and FMA.
    pub fn new(weights: Arc<QTensor>) -> Option<Self> {
        let stored = Stored::new(weights, GgmlDType::Q5_0, (BLOCK, BLOCK_BYTES))?;
        avx2_fma().then_some(Q5_0Rows { stored })
    }

    /// `x·Wᵀ` for `x`, some rows of `columns` values one after another: `[x rows, W rows]`.
    pub fn multiply(&self, x: &[f32]) -> Result<Vec<f32>> {
        let (data, row_bytes) = self.stored.data(x)?;
        let activations: Vec<Vec<Q8Block>> = x
            .chunks_exact(self.stored.columns)
            .map(quantize_row)
            .collect();
        let mut out = vec![0f32; activations.len() * self.stored.rows];
        let out_at = out.as_mut_ptr() as usize;
        let (rows, blocks) = (self.stored.rows, self.stored.columns / BLOCK);
        candle_core::utils::barrier_pool().execute_chunked(rows, |range| {
            let at =
                |token: usize, row: usize| (out_at as *mut f32).wrapping_add(token * rows + row);
            let weights = |row: usize| &data[row * row_bytes..(row + 1) * row_bytes];
            // SAFETY: `new` checked AVX2 and FMA. Each weight row is handed to exactly one
            // worker, so no two write the same element, and `out` outlives the call.
            unsafe {
                if let [x] = activations.as_slice() {
                    for row in range {
                        // The row, and the rows after it: what is read next.
                        *at(0, row) = dot(&data[row * row_bytes..], x);
                    }
                    return;
                }
                // A prompt's rows share each weight row, unpacked once into 8-bit values, and
                // are taken TILE_ROWS weight rows by TILE_TOKENS activation rows at a time, so
                // that each load serves several products.
                let mut unpacked = [
                    vec![Unpacked::default(); blocks],
                    vec![Unpacked::default(); blocks],
                ];
                let mut row = range.start;
                while row < range.end {
                    let pair = row + 1 < range.end;
                    unpack(weights(row), &mut unpacked[0]);
                    if pair {
                        unpack(weights(row + 1), &mut unpacked[1]);
                    }
                    let mut token = 0;
                    while pair && token + TILE_TOKENS <= activations.len() {
                        let xs: [&[Q8Block]; TILE_TOKENS] =
                            std::array::from_fn(|t| activations[token + t].as_slice());
                        let tile = dot_tile([&unpacked[0], &unpacked[1]], xs);
                        for (r, sums) in tile.iter().enumerate() {
                            for (t, &sum) in sums.iter().enumerate() {
                                *at(token + t, row + r) = sum;
                            }
                        }
                        token += TILE_TOKENS;
                    }
                    for (t, x) in activations.iter().enumerate().skip(token) {
                        *at(t, row) = dot_unpacked(&unpacked[0], x);
                        if pair {
                            *at(t, row + 1) = dot_unpacked(&unpacked[1], x);
                        }
                    }
                    row += if pair { 2 } else { 1 };
                }
            }
        });
        Ok(out)
    }
}

/// A Q5_0 block's weights as bytes `q` in 0–31 (`w = scale·(q − 16)`).
#[derive(Clone, Copy, Default)]
struct Unpacked {
    scale: f32,
    qs: [u8; BLOCK],
}

/// The 32 five-bit values `q` of `block`, one to a byte.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn values(block: &[u8]) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    let low_nibbles = _mm_set1_epi8(0x0F);
    // Byte i of a vector takes byte i / 8 of the fifth-bit mask, then bit i % 8 of it.
    let spread = _mm256_set_epi64x(
        0x0303030303030303,
        0x0202020202020202,
        0x0101010101010101,
        0,
    );
    let bit_of_byte = _mm256_set1_epi64x(0x8040201008040201u64 as i64);
    let high = i32::from_le_bytes([block[2], block[3], block[4], block[5]]);
    let bits = _mm256_and_si256(
        _mm256_shuffle_epi8(_mm256_set1_epi32(high), spread),
        bit_of_byte,
    );
    let high = _mm256_and_si256(_mm256_cmpeq_epi8(bits, bit_of_byte), _mm256_set1_epi8(0x10));
    // SAFETY: a block holds 16 bytes of values after its six header bytes.
    let packed = unsafe { _mm_loadu_si128(block[6..].as_ptr() as *const __m128i) };
    let first = _mm_and_si128(packed, low_nibbles);
    let second = _mm_and_si128(_mm_srli_epi16(packed, 4), low_nibbles);
    _mm256_or_si256(_mm256_set_m128i(second, first), high)
}

/// Adds one block's products to `sum`, and what the weights' offset of 16 takes off them to
/// `offsets`: unsigned 5-bit weights `q` times signed 8-bit activations, in pairs, then in fours.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn add_block(
    q: std::arch::x86_64::__m256i,
    scale: f32,
    x: &Q8Block,
    sum: &mut std::arch::x86_64::__m256,
    offsets: &mut f32,
) {
    use std::arch::x86_64::*;
    let scale = scale * x.d;
    // SAFETY: `qs` is 32 bytes.
    let xs = unsafe { _mm256_loadu_si256(x.qs.as_ptr() as *const __m256i) };
    let products = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xs), _mm256_set1_epi16(1));
    *sum = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(products), *sum);
    *offsets += scale * x.offset_sum;
}

/// Unpacks a weight row's blocks into `into`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn unpack(row: &[u8], into: &mut [Unpacked]) {
    use std::arch::x86_64::*;
    for (block, unpacked) in row.chunks_exact(BLOCK_BYTES).zip(into.iter_mut()) {
        unpacked.scale = f16::from_le_bytes([block[0], block[1]]).to_f32();
        // SAFETY: the caller's AVX2; `qs` is 32 bytes.
        unsafe {
            _mm256_storeu_si256(unpacked.qs.as_mut_ptr() as *mut __m256i, values(block));
        }
    }
}

/// Activation rows a prompt's tile takes at once, with two weight rows: eight running sums, as
/// many as the sixteen vector registers hold beside the loaded blocks (six, twelve sums, spilled
/// and ran slower: 138–140 against 148–155 tokens/s on Qwen2.5-0.5B's 500-token prompt).
const TILE_TOKENS: usize = 4;

/// Two unpacked weight rows times four rows of rounded activations: each weight block loaded
/// once for four products, each activation block once for two.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_tile(
    rows: [&[Unpacked]; 2],
    xs: [&[Q8Block]; TILE_TOKENS],
) -> [[f32; TILE_TOKENS]; 2] {
    use std::arch::x86_64::*;
    let mut sums = [[_mm256_setzero_ps(); TILE_TOKENS]; 2];
    let mut offsets = [[0f32; TILE_TOKENS]; 2];
    for b in 0..rows[0].len() {
        let x: [&Q8Block; TILE_TOKENS] = std::array::from_fn(|t| &xs[t][b]);
        for r in 0..2 {
            // SAFETY: `qs` is 32 bytes.
            let q = unsafe { _mm256_loadu_si256(rows[r][b].qs.as_ptr() as *const __m256i) };
            for t in 0..TILE_TOKENS {
                add_block(
                    q,
                    rows[r][b].scale,
                    x[t],
                    &mut sums[r][t],
                    &mut offsets[r][t],
                );
            }
        }
    }
    std::array::from_fn(|r| std::array::from_fn(|t| sum_lanes(sums[r][t]) - offsets[r][t]))
}

/// An unpacked weight row times one row of rounded activations.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_unpacked(row: &[Unpacked], activations: &[Q8Block]) -> f32 {
    use std::arch::x86_64::*;
    let (mut sum, mut offsets) = (_mm256_setzero_ps(), 0f32);
    for (block, x) in row.iter().zip(activations) {
        // SAFETY: `qs` is 32 bytes.
        let q = unsafe { _mm256_loadu_si256(block.qs.as_ptr() as *const __m256i) };
        add_block(q, block.scale, x, &mut sum, &mut offsets);
    }
    sum_lanes(sum) - offsets
}

/// One weight row (its Q5_0 blocks, at the start of `rows`) times one row of rounded
/// activations (decoding).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot(rows: &[u8], activations: &[Q8Block]) -> f32 {
    use std::arch::x86_64::*;
    let (mut sum, mut offsets) = (_mm256_setzero_ps(), 0f32);
    let row = &rows[..activations.len() * BLOCK_BYTES];
    for (i, (block, x)) in row.chunks_exact(BLOCK_BYTES).zip(activations).enumerate() {
        prefetch(rows, i * BLOCK_BYTES + AHEAD, BLOCK_BYTES);
        let scale = f16::from_le_bytes([block[0], block[1]]).to_f32();
        // SAFETY: the caller's AVX2; `block` is a whole block.
        add_block(unsafe { values(block) }, scale, x, &mut sum, &mut offsets);
    }
    sum_lanes(sum) - offsets
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot(_: &[u8], _: &[Q8Block]) -> f32 {
    unreachable!("Q5_0Rows::new requires x86-64 with AVX2")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn unpack(_: &[u8], _: &mut [Unpacked]) {
    unreachable!("Q5_0Rows::new requires x86-64 with AVX2")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot_tile(_: [&[Unpacked]; 2], _: [&[Q8Block]; TILE_TOKENS]) -> [[f32; TILE_TOKENS]; 2] {
    unreachable!("Q5_0Rows::new requires x86-64 with AVX2")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot_unpacked(_: &[Unpacked], _: &[Q8Block]) -> f32 {
    unreachable!("Q5_0Rows::new requires x86-64 with AVX2")
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;
    use crate::q8::agreement;

    /// The same products as candle's own Q5_0 kernel, on random weights and activations of
    /// Qwen2.5-0.5B's projection shapes, for one row and for a prompt's chunk.
    #[test]
    fn agrees_with_candles_kernel() {
        // Tiles of two weight rows by four activation rows, and what is left beside them: an
        // odd row, activation rows short of a tile.
        for shape in [
            (896, 896, 1),
            (128, 896, 3),
            (4864, 896, 1),
            (896, 4864, 5),
            (131, 896, 9),
        ] {
            agreement::check(GgmlDType::Q5_0, shape, |weights, x| {
                Q5_0Rows::new(weights).unwrap().multiply(x).unwrap()
            });
        }
    }

    #[test]
    fn other_formats_are_left_to_candle() {
        let w = Tensor::randn(0f32, 0.1, (64, 64), &Device::Cpu).unwrap();
        let weights = Arc::new(QTensor::quantize(&w, GgmlDType::Q8_0).unwrap());
        assert!(Q5_0Rows::new(weights).is_none());
    }
}
