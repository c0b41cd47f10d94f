//! One activation row (a decoding step) times Q4_K or Q6_K weights, with AVX-512.
//!
//! candle 0.11 multiplies the K formats by repacking each tensor on first use into copies of
//! its own (the 1.5B writer's peak memory went from 1.2 to 3.6 GB) and decoded the 1.5B writer at
//! two thirds of llama.cpp's speed. Decoding reads every weight once per token, so these kernels
//! read the blocks as GGUF stores them, unpack them in registers and multiply them with the
//! activations rounded to 8 bits in blocks of 256 (ggml's Q8_K). Within a block of 256 the sums
//! stay integers: `vpmaddubsw` multiplies pairs of unsigned weights with signed activations and
//! `vpmaddwd` those with each sub-block's integer scale; the block's two f16 factors are applied
//! once, and the weights' offsets (Q4_K's minimums, Q6_K's 32) come from the activations' sums
//! of 16. Decoding is bound by memory: the 1.5B writer's kernels read ~20 GB/s on two cores.

use std::sync::Arc;

use anyhow::Result;
use candle_core::quantized::{GgmlDType, QTensor};

use crate::q8::{AHEAD, Stored, prefetch};

/// Values per K block.
const SUPER: usize = 256;

/// Bytes of a stored Q4_K block: f16 `d` and `dmin`, twelve bytes of 6-bit scales and
/// minimums, 128 of 4-bit values.
const Q4K_BYTES: usize = 144;
/// Bytes of a stored Q6_K block: 128 of low bits, 64 of high bits, sixteen i8 scales, f16 `d`.
const Q6K_BYTES: usize = 210;

/// The K formats docent multiplies itself (here and in [`crate::ktiles`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum KFormat {
    Q4K,
    Q6K,
}

impl KFormat {
    pub(crate) fn of(dtype: GgmlDType) -> Option<Self> {
        match dtype {
            GgmlDType::Q4K => Some(KFormat::Q4K),
            GgmlDType::Q6K => Some(KFormat::Q6K),
            _ => None,
        }
    }

    /// Values and bytes of one stored block.
    pub(crate) fn stored(self) -> (usize, usize) {
        match self {
            KFormat::Q4K => (SUPER, Q4K_BYTES),
            KFormat::Q6K => (SUPER, Q6K_BYTES),
        }
    }
}

/// A Q4_K or Q6_K weight matrix `[rows, columns]`, multiplied one activation row at a time.
#[derive(Clone)]
pub struct KQuantRows {
    stored: Stored,
    format: KFormat,
}

impl KQuantRows {
    /// The matrix, when `weights` are Q4_K or Q6_K in memory and this CPU has AVX-512 (byte and
    /// word).
    pub fn new(weights: Arc<QTensor>) -> Option<Self> {
        let format = KFormat::of(weights.dtype())?;
        let stored = Stored::new(weights.clone(), weights.dtype(), format.stored())?;
        avx512_bw().then_some(KQuantRows { stored, format })
    }

    /// `x·Wᵀ` for `x`, some rows of `columns` values one after another: `[x rows, W rows]`.
    pub fn multiply(&self, x: &[f32]) -> Result<Vec<f32>> {
        let (data, row_bytes) = self.stored.data(x)?;
        let (rows, format) = (self.stored.rows, self.format);
        let mut out = vec![0f32; x.len() / self.stored.columns * rows];
        for (x, out) in x
            .chunks_exact(self.stored.columns)
            .zip(out.chunks_exact_mut(rows))
        {
            let x = Q8K::new(x, format);
            let out_at = out.as_mut_ptr() as usize;
            candle_core::utils::barrier_pool().execute_chunked(rows, |range| {
                for row in range {
                    // The row, and the rows after it: what is read next.
                    let weights = &data[row * row_bytes..];
                    // SAFETY: `new` checked AVX-512BW (and so F16C); each row is handed to exactly
                    // one worker, and `out` outlives the call.
                    unsafe {
                        *(out_at as *mut f32).add(row) = match format {
                            KFormat::Q4K => dot_q4k(weights, &x),
                            KFormat::Q6K => dot_q6k(weights, &x),
                        };
                    }
                }
            });
        }
        Ok(out)
    }
}

/// An activation row rounded to 8 bits in blocks of 256.
struct Q8K {
    /// The rounded values; for Q4_K each block's sub-blocks of 32 in the order its weights
    /// unpack: 0, 2, 1, 3, 4, 6, 5, 7.
    qs: Vec<i8>,
    /// Each block's scale.
    d: Vec<f32>,
    /// Each 16 values' sum, in the values' own order (what Q6_K's offset multiplies).
    sums: Vec<i16>,
    /// Each 32 values' sum, in the values' own order (what Q4_K's minimums multiply).
    pair_sums: Vec<i16>,
}

impl Q8K {
    fn new(x: &[f32], format: KFormat) -> Self {
        let mut qs = vec![0i8; x.len()];
        let mut d = Vec::with_capacity(x.len() / SUPER);
        let mut sums = Vec::with_capacity(x.len() / 16);
        for (values, rounded) in x.chunks_exact(SUPER).zip(qs.chunks_exact_mut(SUPER)) {
            let largest = values.iter().fold(0f32, |a, v| a.max(v.abs()));
            let scale = largest / 127.0;
            let inverse = if scale == 0.0 { 0.0 } else { 1.0 / scale };
            let mut natural = [0i8; SUPER];
            for (q, v) in natural.iter_mut().zip(values) {
                *q = (v * inverse).round() as i8;
            }
            for sixteen in natural.chunks_exact(16) {
                sums.push(sixteen.iter().map(|&q| q as i16).sum());
            }
            match format {
                KFormat::Q4K => {
                    for (slot, sub) in [0, 2, 1, 3, 4, 6, 5, 7].into_iter().enumerate() {
                        rounded[slot * 32..][..32].copy_from_slice(&natural[sub * 32..][..32]);
                    }
                }
                KFormat::Q6K => rounded.copy_from_slice(&natural),
            }
            d.push(scale);
        }
        let pair_sums = sums.chunks_exact(2).map(|pair| pair[0] + pair[1]).collect();
        Q8K {
            qs,
            d,
            sums,
            pair_sums,
        }
    }
}

/// Q4_K's eight 6-bit scales and eight minimums, a byte each, from their twelve packed bytes:
/// the first four of each in the low six bits of bytes 0–3 (scales) and 4–7 (minimums), the
/// last four in the nibbles of bytes 8–11 with their top two bits in the top bits of bytes 0–7.
pub(crate) fn scales_and_mins(packed: &[u8]) -> (u64, u64) {
    let word =
        |i: usize| u32::from_le_bytes([packed[i], packed[i + 1], packed[i + 2], packed[i + 3]]);
    let (first, second, third) = (word(0), word(4), word(8));
    const SIX: u32 = 0x3F3F_3F3F;
    const FOUR: u32 = 0x0F0F_0F0F;
    const TWO: u32 = 0x0303_0303;
    let scales =
        (first & SIX) as u64 | (((third & FOUR) | (((first >> 6) & TWO) << 4)) as u64) << 32;
    let mins = (second & SIX) as u64
        | ((((third >> 4) & FOUR) | (((second >> 6) & TWO) << 4)) as u64) << 32;
    (scales, mins)
}

/// f16 values (little-endian, one after the other: at most four) as f32 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c")]
fn halves(bytes: &[u8]) -> std::arch::x86_64::__m128 {
    use std::arch::x86_64::*;
    let mut packed = [0u8; 8];
    packed[..bytes.len()].copy_from_slice(bytes);
    _mm_cvtph_ps(_mm_cvtsi64_si128(i64::from_le_bytes(packed)))
}

/// For each of the four vectors of 64 values a block unpacks into, the sub-block whose scale
/// each of the products' 32 16-bit lanes (two values each) takes: a constant table, loaded
/// where it is used.
type ScaleLanes = [[i16; 32]; 4];

const Q4K_SCALE_LANES: ScaleLanes = scale_lanes(KFormat::Q4K);
const Q6K_SCALE_LANES: ScaleLanes = scale_lanes(KFormat::Q6K);

const fn scale_lanes(format: KFormat) -> ScaleLanes {
    let mut lanes = [[0i16; 32]; 4];
    let mut k = 0;
    while k < 4 {
        let mut i = 0;
        while i < 32 {
            lanes[k][i] = match format {
                // Each 64 stored bytes unpack into their low nibbles (sub-blocks 2c and
                // 2c + 2) and their high ones (2c + 1 and 2c + 3).
                KFormat::Q4K => k / 2 * 4 + k % 2 + if i < 16 { 0 } else { 2 },
                // Each vector of 64 values spans four sub-blocks of 16.
                KFormat::Q6K => 4 * k + i / 8,
            } as i16;
            i += 1;
        }
        k += 1;
    }
    lanes
}

/// The scales of `scales` (16-bit, one per sub-block) spread over the lanes of vector `k`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn spread(
    table: &ScaleLanes,
    k: usize,
    scales: std::arch::x86_64::__m512i,
) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    // SAFETY: a row of the table is 64 bytes.
    let index = unsafe { _mm512_loadu_si512(table[k].as_ptr() as *const _) };
    _mm512_permutexvar_epi16(index, scales)
}

/// One Q4_K weight row times a rounded activation row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,f16c")]
unsafe fn dot_q4k(rows: &[u8], x: &Q8K) -> f32 {
    let row = &rows[..x.d.len() * Q4K_BYTES];
    use std::arch::x86_64::*;
    let nibble = _mm512_set1_epi8(0x0F);
    let mut total = _mm512_setzero_ps();
    let mut offsets = _mm_setzero_ps();
    for (b, block) in row.chunks_exact(Q4K_BYTES).enumerate() {
        prefetch(rows, b * Q4K_BYTES + AHEAD, Q4K_BYTES);
        // d and dmin, times the activations' scale.
        let factors = _mm_mul_ps(halves(&block[..4]), _mm_set1_ps(x.d[b]));
        let (scales, mins) = scales_and_mins(&block[4..16]);
        // SAFETY: 64 bytes each; a block holds 128 bytes of values from byte 16, and the
        // activations 256 values and eight sums from the block's start.
        unsafe {
            let sums = _mm_loadu_si128(x.pair_sums[b * 8..].as_ptr() as *const __m128i);
            let mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(mins as i64));
            offsets = _mm_fmadd_ps(
                _mm_cvtepi32_ps(_mm_madd_epi16(mins, sums)),
                _mm_shuffle_ps(factors, factors, 0b01_01_01_01),
                offsets,
            );
            let scales =
                _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(scales as i64)));
            let xs = x.qs[b * SUPER..].as_ptr();
            let mut sums = [_mm512_setzero_si512(); 4];
            for half in 0..2 {
                let packed = _mm512_loadu_si512(block[16 + 64 * half..].as_ptr() as *const _);
                let low = _mm512_and_si512(packed, nibble);
                let high = _mm512_and_si512(_mm512_srli_epi16(packed, 4), nibble);
                for (k, q) in [low, high].into_iter().enumerate() {
                    let x = _mm512_loadu_si512(xs.add(128 * half + 64 * k) as *const _);
                    let pairs = _mm512_maddubs_epi16(q, x);
                    let scale = spread(&Q4K_SCALE_LANES, 2 * half + k, scales);
                    sums[2 * half + k] = _mm512_madd_epi16(pairs, scale);
                }
            }
            let sum = add_four(sums);
            total = _mm512_fmadd_ps(
                _mm512_cvtepi32_ps(sum),
                _mm512_broadcastss_ps(factors),
                total,
            );
        }
    }
    _mm512_reduce_add_ps(total) - sum_four(offsets)
}

/// The sum of four vectors of 32-bit lanes, as two independent additions and a third: each
/// product of a block is its own chain, where one running sum made every block wait for four
/// multiplications in a row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn add_four(v: [std::arch::x86_64::__m512i; 4]) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    _mm512_add_epi32(_mm512_add_epi32(v[0], v[1]), _mm512_add_epi32(v[2], v[3]))
}

/// The sum of four lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn sum_four(v: std::arch::x86_64::__m128) -> f32 {
    use std::arch::x86_64::*;
    let pairs = _mm_add_ps(v, _mm_movehl_ps(v, v));
    _mm_cvtss_f32(_mm_add_ss(pairs, _mm_shuffle_ps(pairs, pairs, 1)))
}

/// A Q4_K block's 256 four-bit values `q`, a byte each, in order as eight vectors of 32: each
/// 32 stored bytes hold two sub-blocks, the first in the low nibbles.
///
/// # Safety
/// The CPU has AVX2; `block` is a whole stored block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn q4k_values(block: &[u8]) -> [std::arch::x86_64::__m256i; 8] {
    use std::arch::x86_64::*;
    let nibble = _mm256_set1_epi8(0x0F);
    std::array::from_fn(|i| {
        // SAFETY: a block holds 128 bytes of values from byte 16.
        let packed =
            unsafe { _mm256_loadu_si256(block[16 + 32 * (i / 2)..].as_ptr() as *const __m256i) };
        let shifted = if i % 2 == 0 {
            packed
        } else {
            _mm256_srli_epi16(packed, 4)
        };
        _mm256_and_si256(shifted, nibble)
    })
}

/// A Q6_K block's 256 six-bit values `q`, a byte each, in order as four vectors of 64: the low
/// four bits are 128 bytes of nibbles (values l and l + 64 in byte l, l + 32 and l + 96 in byte
/// l + 32, for each half of 128), the top two bits 64 bytes (values l, l + 32, l + 64 and l + 96
/// of a half in bits 0–1, 2–3, 4–5 and 6–7 of its byte l).
///
/// # Safety
/// The CPU has AVX-512 (foundation, byte and word); `block` is a whole stored block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn q6k_values(block: &[u8]) -> [std::arch::x86_64::__m512i; 4] {
    use std::arch::x86_64::*;
    let (nibble, top) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(0x30));
    let mut values = [_mm512_setzero_si512(); 4];
    for half in 0..2 {
        // SAFETY: a block holds 128 bytes of low bits, then 64 of high bits.
        let (low, high) = unsafe {
            (
                _mm512_loadu_si512(block[64 * half..].as_ptr() as *const _),
                _mm256_loadu_si256(block[128 + 32 * half..].as_ptr() as *const __m256i),
            )
        };
        let high = _mm512_inserti64x4(_mm512_castsi256_si512(high), _mm256_srli_epi16(high, 2), 1);
        values[2 * half] = _mm512_or_si512(
            _mm512_and_si512(low, nibble),
            _mm512_and_si512(_mm512_slli_epi16(high, 4), top),
        );
        values[2 * half + 1] = _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi16(low, 4), nibble),
            _mm512_and_si512(high, top),
        );
    }
    values
}

/// One Q6_K weight row times a rounded activation row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,f16c")]
unsafe fn dot_q6k(rows: &[u8], x: &Q8K) -> f32 {
    let row = &rows[..x.d.len() * Q6K_BYTES];
    use std::arch::x86_64::*;
    let mut total = _mm512_setzero_ps();
    let mut offsets = _mm256_setzero_ps();
    for (b, block) in row.chunks_exact(Q6K_BYTES).enumerate() {
        prefetch(rows, b * Q6K_BYTES + AHEAD, Q6K_BYTES);
        let d = _mm_cvtss_f32(halves(&block[208..210])) * x.d[b];
        // SAFETY: a block holds 128 bytes of low bits, 64 of high bits, then 16 scales; the
        // activations 256 values and 16 sums from the block's start.
        unsafe {
            let scales =
                _mm256_cvtepi8_epi16(_mm_loadu_si128(block[192..].as_ptr() as *const __m128i));
            let sums = _mm256_loadu_si256(x.sums[b * 16..].as_ptr() as *const __m256i);
            offsets = _mm256_fmadd_ps(
                _mm256_cvtepi32_ps(_mm256_madd_epi16(scales, sums)),
                _mm256_set1_ps(32.0 * d),
                offsets,
            );
            let scales = _mm512_castsi256_si512(scales);
            let xs = x.qs[b * SUPER..].as_ptr();
            let mut sums = [_mm512_setzero_si512(); 4];
            let values = q6k_values(block);
            for half in 0..2 {
                let (first, second) = (values[2 * half], values[2 * half + 1]);
                for (k, q) in [first, second].into_iter().enumerate() {
                    let x = _mm512_loadu_si512(xs.add(128 * half + 64 * k) as *const _);
                    let pairs = _mm512_maddubs_epi16(q, x);
                    let scale = spread(&Q6K_SCALE_LANES, 2 * half + k, scales);
                    sums[2 * half + k] = _mm512_madd_epi16(pairs, scale);
                }
            }
            let sum = add_four(sums);
            total = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(d), total);
        }
    }
    let offsets = _mm_add_ps(
        _mm256_castps256_ps128(offsets),
        _mm256_extractf128_ps(offsets, 1),
    );
    _mm512_reduce_add_ps(total) - sum_four(offsets)
}

/// Whether this CPU has AVX-512 (foundation, byte and word) and F16C.
fn avx512_bw() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot_q4k(_: &[u8], _: &Q8K) -> f32 {
    unreachable!("KQuantRows::new requires x86-64 with AVX-512BW")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dot_q6k(_: &[u8], _: &Q8K) -> f32 {
    unreachable!("KQuantRows::new requires x86-64 with AVX-512BW")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::q8::agreement;

    /// As near the exact product as candle's kernels (which round the activations in the same
    /// blocks of 256), on random weights of Qwen2.5-1.5B's projection shapes.
    #[test]
    fn agrees_with_candles_kernels() {
        if !avx512_bw() {
            eprintln!("skipped: this CPU has no AVX-512BW, so these kernels are never used");
            return;
        }
        for format in [GgmlDType::Q4K, GgmlDType::Q6K] {
            for shape in [(1536, 1536, 1), (256, 8960, 1), (40, 512, 3)] {
                agreement::check_no_worse(format, shape, |weights, x| {
                    KQuantRows::new(weights).unwrap().multiply(x).unwrap()
                });
            }
        }
    }
}
