//! A prompt's chunk times quantized weights, sixteen weight rows at a time in the sixteen lanes
//! of an AVX-512 register, with VNNI's 8-bit dot products.
//!
//! The row-by-row kernels ([`crate::q5_0`], candle's) sum each product across a register and
//! are bound by loads: Qwen2.5-0.5B (Q5_0) read its prompts at 0.7 of llama.cpp's speed, the
//! 1.5B (Q4_K, Q6_K) at 0.4–0.5. Here each weight row of a chunk is unpacked once into bytes `q`
//! with a scale and an offset per block (`w = scale·q − offset`: every 4–8-bit format has that
//! form), and sixteen rows are interleaved four bytes at a time, so that one `vpdpbusd`
//! multiplies four columns of sixteen rows with the same four activations (broadcast) and adds
//! each row's products in its own lane: no sum across lanes, each weight load serving a tile of
//! tokens. The activations are rounded to 8 bits in blocks of 32 ([`crate::q8`]'s rounding, as
//! ggml rounds them for Q5_0 and Q8_0; finer than its 256-value blocks for the K formats). Each
//! block still costs four instructions of scaling per token beside its eight products, so where
//! the CPU has AMX the K formats go to [`crate::ktiles`] instead.

use std::sync::Arc;

use anyhow::Result;
use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;

use crate::kquant::{KFormat, q4k_values, q6k_values, scales_and_mins};
use crate::q8::{BLOCK, Stored};

/// Weight rows interleaved in one group: the lanes of an AVX-512 register.
const LANES: usize = 16;
/// Activation rows a tile takes at once: their running sums and block sums fill 16 of the 32
/// registers, beside the loaded weights.
const TILE_TOKENS: usize = 8;

/// The weight formats unpacked here, as GGUF stores them.
#[derive(Clone, Copy, Debug)]
enum Format {
    /// 256 values: f16 `d`, f16 `dmin`, twelve bytes of 6-bit scales and minimums for eight
    /// blocks of 32, then 4-bit values; `w = d·scale·q − dmin·min`.
    Q4K,
    /// 256 values: the low four bits, the high two, sixteen i8 scales, f16 `d`;
    /// `w = d·scale·(q − 32)`, a scale for each 16 values.
    Q6K,
    /// 32 values: f16 `d`, the fifth bits, the low four; `w = d·(q − 16)`.
    Q5_0,
    /// 32 values: f16 `d`, f16 `m`, then 4-bit values; `w = d·q + m`.
    Q4_1,
    /// 32 values: f16 `d`, then i8 values; stored here as `q + 128`, `w = d·(q − 128)`.
    Q8_0,
}

impl Format {
    fn of(dtype: GgmlDType) -> Option<Self> {
        Some(match dtype {
            GgmlDType::Q4K => Format::Q4K,
            GgmlDType::Q6K => Format::Q6K,
            GgmlDType::Q5_0 => Format::Q5_0,
            GgmlDType::Q4_1 => Format::Q4_1,
            GgmlDType::Q8_0 => Format::Q8_0,
            _ => return None,
        })
    }

    /// Values and bytes of one stored block.
    fn stored(self) -> (usize, usize) {
        match self {
            Format::Q4K => KFormat::Q4K.stored(),
            Format::Q6K => KFormat::Q6K.stored(),
            Format::Q5_0 => (32, 22),
            Format::Q4_1 => (32, 20),
            Format::Q8_0 => (32, 34),
        }
    }

    /// Values that share a scale and an offset.
    fn block(self) -> usize {
        match self {
            Format::Q6K => 16,
            _ => 32,
        }
    }

    /// Unpacks one stored row into bytes, and a scale and an offset per block.
    ///
    /// # Safety
    /// The CPU has AVX-512 (foundation, byte and word).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
    unsafe fn unpack(self, row: &[u8], values: &mut [u8], scales: &mut [f32], offsets: &mut [f32]) {
        use std::arch::x86_64::*;
        let (count, bytes) = self.stored();
        let per = count / self.block();
        let stored = row.chunks_exact(bytes).zip(values.chunks_exact_mut(count));
        for (i, (block, values)) in stored.enumerate() {
            let (scales, offsets) = (
                &mut scales[i * per..(i + 1) * per],
                &mut offsets[i * per..(i + 1) * per],
            );
            let half = |at: usize| f16::from_le_bytes([block[at], block[at + 1]]).to_f32();
            let out = values.as_mut_ptr();
            // SAFETY (each store): `values` holds the block's `count` bytes, and each load
            // lies within the stored block.
            match self {
                Format::Q4K => {
                    let (d, dmin) = (half(0), half(2));
                    let (packed_scales, packed_mins) = scales_and_mins(&block[4..16]);
                    let (sc, m) = (packed_scales.to_le_bytes(), packed_mins.to_le_bytes());
                    for j in 0..8 {
                        scales[j] = d * sc[j] as f32;
                        offsets[j] = dmin * m[j] as f32;
                    }
                    unsafe {
                        for (k, q) in q4k_values(block).into_iter().enumerate() {
                            _mm256_storeu_si256(out.add(32 * k) as *mut __m256i, q);
                        }
                    }
                }
                Format::Q6K => {
                    let d = half(208);
                    for (j, &scale) in block[192..208].iter().enumerate() {
                        scales[j] = d * scale as i8 as f32;
                        offsets[j] = 32.0 * scales[j];
                    }
                    unsafe {
                        for (k, q) in q6k_values(block).into_iter().enumerate() {
                            _mm512_storeu_si512(out.add(64 * k) as *mut _, q);
                        }
                    }
                }
                Format::Q5_0 => {
                    let d = half(0);
                    unsafe {
                        _mm256_storeu_si256(out as *mut __m256i, crate::q5_0::values(block));
                    }
                    (scales[0], offsets[0]) = (d, 16.0 * d);
                }
                Format::Q4_1 => {
                    let (d, m) = (half(0), half(2));
                    let nibble = _mm_set1_epi8(0x0F);
                    unsafe {
                        let packed = _mm_loadu_si128(block[4..].as_ptr() as *const __m128i);
                        let low = _mm_and_si128(packed, nibble);
                        let high = _mm_and_si128(_mm_srli_epi16(packed, 4), nibble);
                        _mm_storeu_si128(out as *mut __m128i, low);
                        _mm_storeu_si128(out.add(16) as *mut __m128i, high);
                    }
                    (scales[0], offsets[0]) = (d, -m);
                }
                Format::Q8_0 => {
                    let d = half(0);
                    unsafe {
                        let q = _mm256_loadu_si256(block[2..].as_ptr() as *const __m256i);
                        let flipped = _mm256_xor_si256(q, _mm256_set1_epi8(-128));
                        _mm256_storeu_si256(out as *mut __m256i, flipped);
                    }
                    (scales[0], offsets[0]) = (d, 128.0 * d);
                }
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn unpack(self, _: &[u8], _: &mut [u8], _: &mut [f32], _: &mut [f32]) {
        unreachable!("LaneRows::new requires x86-64 with AVX-512 VNNI")
    }
}

/// A quantized weight matrix `[rows, columns]` multiplied by whole chunks of activation rows.
#[derive(Clone)]
pub struct LaneRows {
    stored: Stored,
    format: Format,
}

impl LaneRows {
    /// The matrix, when its format is one of those unpacked here, it lies in memory, and this
    /// CPU has AVX-512 with VNNI.
    pub fn new(weights: Arc<QTensor>) -> Option<Self> {
        let format = Format::of(weights.dtype())?;
        let stored = Stored::new(weights.clone(), weights.dtype(), format.stored())?;
        avx512_vnni().then_some(LaneRows { stored, format })
    }

    /// `x·Wᵀ` for `x`, some rows of `columns` values one after another: `[x rows, W rows]`.
    pub fn multiply(&self, x: &[f32]) -> Result<Vec<f32>> {
        let (data, row_bytes) = self.stored.data(x)?;
        // SAFETY: `new` checked AVX-512 with VNNI (and so F16C).
        let activations = unsafe { Activations::new(x, self.stored.columns, self.format.block()) };
        let tokens = x.len() / self.stored.columns;
        let (rows, columns, format) = (self.stored.rows, self.stored.columns, self.format);
        let mut out = vec![0f32; tokens * rows];
        let out_at = out.as_mut_ptr() as usize;
        let groups = rows.div_ceil(LANES);
        candle_core::utils::barrier_pool().execute_chunked(groups, |range| {
            let mut group = Group::new(columns, format.block());
            for g in range {
                let first = g * LANES;
                let filled = LANES.min(rows - first);
                // SAFETY: `new` checked AVX-512 with VNNI. Each group of rows is handed to
                // exactly one worker, which writes only its lanes of `out`; `out` outlives the
                // call.
                unsafe {
                    group.fill(
                        format,
                        |r| &data[(first + r) * row_bytes..][..row_bytes],
                        filled,
                    );
                    group.multiply(&activations, out_at as *mut f32, rows, first, filled);
                }
            }
        });
        Ok(out)
    }
}

/// Activation rows rounded to 8 bits in blocks of 32, laid out for broadcasting four at a time.
struct Activations {
    tokens: usize,
    columns: usize,
    /// The rounded values, row after row.
    qs: Vec<i8>,
    /// Each 32 values' scale.
    scales: Vec<f32>,
    /// Each weight block's span of values summed, times their scale: what the weights' offsets
    /// multiply.
    sums: Vec<f32>,
    /// Values per weight block.
    block: usize,
}

impl Activations {
    /// `x` rounded, its rows shared out over candle's CPU threads.
    ///
    /// # Safety
    /// The CPU has AVX-512 (foundation, byte and word) and F16C.
    unsafe fn new(x: &[f32], columns: usize, block: usize) -> Self {
        let tokens = x.len() / columns;
        let (blocks, spans) = (columns / BLOCK, columns / block);
        let mut qs = vec![0i8; x.len()];
        let mut scales = vec![0f32; tokens * blocks];
        let mut sums = vec![0f32; tokens * spans];
        let at = (
            qs.as_mut_ptr() as usize,
            scales.as_mut_ptr() as usize,
            sums.as_mut_ptr() as usize,
        );
        candle_core::utils::barrier_pool().execute_chunked(tokens, |range| {
            for t in range {
                // SAFETY: each token's row is handed to exactly one worker, which writes only
                // its own part of the three vectors; they outlive the call.
                unsafe {
                    round_row(
                        &x[t * columns..(t + 1) * columns],
                        block,
                        std::slice::from_raw_parts_mut((at.0 as *mut i8).add(t * columns), columns),
                        std::slice::from_raw_parts_mut((at.1 as *mut f32).add(t * blocks), blocks),
                        std::slice::from_raw_parts_mut((at.2 as *mut f32).add(t * spans), spans),
                    );
                }
            }
        });
        Activations {
            tokens,
            columns,
            qs,
            scales,
            sums,
            block,
        }
    }
}

/// One row rounded to 8 bits in blocks of 32, as [`crate::q8::quantize_row`] rounds it (the
/// scale through f16; ties to even), with each `block` values' sum times their scale.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,f16c")]
unsafe fn round_row(x: &[f32], block: usize, qs: &mut [i8], scales: &mut [f32], sums: &mut [f32]) {
    use std::arch::x86_64::*;
    for (b, values) in x.chunks_exact(BLOCK).enumerate() {
        // SAFETY: a block is 32 values, and `qs` holds 32 bytes from `32·b`.
        unsafe {
            let halves = [
                _mm512_loadu_ps(values.as_ptr()),
                _mm512_loadu_ps(values.as_ptr().add(16)),
            ];
            let largest = _mm512_reduce_max_ps(_mm512_max_ps(
                _mm512_abs_ps(halves[0]),
                _mm512_abs_ps(halves[1]),
            ));
            let d = largest / 127.0;
            let inverse = _mm512_set1_ps(if d == 0.0 { 0.0 } else { 1.0 / d });
            let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(
                _mm_set1_ps(d),
            )));
            scales[b] = d;
            let mut half_sums = [0i32; 2];
            for (h, values) in halves.into_iter().enumerate() {
                let q = _mm512_cvtps_epi32(_mm512_mul_ps(values, inverse));
                _mm_storeu_si128(
                    qs[32 * b + 16 * h..].as_mut_ptr() as *mut __m128i,
                    _mm512_cvtsepi32_epi8(q),
                );
                half_sums[h] = _mm512_reduce_add_epi32(q);
            }
            if block == 16 {
                sums[2 * b] = half_sums[0] as f32 * d;
                sums[2 * b + 1] = half_sums[1] as f32 * d;
            } else {
                sums[b] = (half_sums[0] + half_sums[1]) as f32 * d;
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn round_row(_: &[f32], _: usize, _: &mut [i8], _: &mut [f32], _: &mut [f32]) {
    unreachable!("LaneRows::new requires x86-64 with AVX-512 VNNI")
}

/// Sixteen weight rows unpacked: for each four columns, the sixteen rows' four bytes; for each
/// block, the sixteen rows' scales and offsets.
struct Group {
    values: Vec<u8>,
    scales: Vec<f32>,
    offsets: Vec<f32>,
    /// The sixteen rows unpacked one after another, before they are interleaved.
    rows: Vec<u8>,
    columns: usize,
}

impl Group {
    fn new(columns: usize, block: usize) -> Self {
        let blocks = columns / block;
        Group {
            values: vec![0; columns * LANES],
            scales: vec![0.0; blocks * LANES],
            offsets: vec![0.0; blocks * LANES],
            rows: vec![0; columns * LANES],
            columns,
        }
    }

    /// Unpacks `filled` rows (`row(r)` stored) into the lanes; the lanes past them get zeros.
    ///
    /// # Safety
    /// The CPU has AVX-512 (foundation, byte and word).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
    unsafe fn fill<'a>(&mut self, format: Format, row: impl Fn(usize) -> &'a [u8], filled: usize) {
        let columns = self.columns;
        let blocks = columns / format.block();
        if filled < LANES {
            self.rows.fill(0);
            self.scales.fill(0.0);
            self.offsets.fill(0.0);
        }
        let mut scales = vec![0f32; blocks];
        let mut offsets = vec![0f32; blocks];
        for r in 0..filled {
            let values = &mut self.rows[r * columns..(r + 1) * columns];
            // SAFETY: passed on from the caller.
            unsafe { format.unpack(row(r), values, &mut scales, &mut offsets) };
            for b in 0..blocks {
                self.scales[b * LANES + r] = scales[b];
                self.offsets[b * LANES + r] = offsets[b];
            }
        }
        // SAFETY: passed on from the caller.
        unsafe { interleave(&self.rows, columns, &mut self.values) };
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn fill<'a>(&mut self, _: Format, _: impl Fn(usize) -> &'a [u8], _: usize) {
        unreachable!("LaneRows::new requires x86-64 with AVX-512 VNNI")
    }

    /// Writes the group's `filled` rows of `x·Wᵀ` into `out` (`[tokens, rows]`, this group's
    /// rows from `first`).
    ///
    /// # Safety
    /// The CPU has AVX-512 with VNNI; `out` holds `tokens × rows` values.
    unsafe fn multiply(
        &self,
        x: &Activations,
        out: *mut f32,
        rows: usize,
        first: usize,
        filled: usize,
    ) {
        let mut token = 0;
        while token < x.tokens {
            // Whole tiles, then what is left in tiles of four, two and one.
            let take = match x.tokens - token {
                left if left >= TILE_TOKENS => TILE_TOKENS,
                left if left >= 4 => 4,
                left if left >= 2 => 2,
                _ => 1,
            };
            // SAFETY: passed on from the caller.
            unsafe {
                match take {
                    TILE_TOKENS => self.tile::<TILE_TOKENS>(x, token, out, rows, first, filled),
                    4 => self.tile::<4>(x, token, out, rows, first, filled),
                    2 => self.tile::<2>(x, token, out, rows, first, filled),
                    _ => self.tile::<1>(x, token, out, rows, first, filled),
                }
            }
            token += take;
        }
    }

    /// `T` activation rows from `token` times the group's sixteen rows.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn tile<const T: usize>(
        &self,
        x: &Activations,
        token: usize,
        out: *mut f32,
        rows: usize,
        first: usize,
        filled: usize,
    ) {
        use std::arch::x86_64::*;
        let (columns, block) = (x.columns, x.block);
        let steps = block / 4;
        let blocks = columns / block;
        let qs: [*const i8; T] = std::array::from_fn(|t| x.qs[(token + t) * columns..].as_ptr());
        let scales: [&[f32]; T] =
            std::array::from_fn(|t| &x.scales[(token + t) * columns / BLOCK..]);
        let sums: [&[f32]; T] = std::array::from_fn(|t| &x.sums[(token + t) * blocks..]);
        let mut total = [_mm512_setzero_ps(); T];
        let values = self.values.as_ptr();
        for b in 0..blocks {
            let mut products = [_mm512_setzero_si512(); T];
            for step in 0..steps {
                let column = b * block + step * 4;
                // SAFETY: the group holds `columns × 16` bytes, and each activation row
                // `columns` values; `column + 4 ≤ columns`.
                unsafe {
                    let w = _mm512_loadu_si512(values.add(column * LANES) as *const _);
                    for t in 0..T {
                        let four = (qs[t].add(column) as *const i32).read_unaligned();
                        products[t] = _mm512_dpbusd_epi32(products[t], w, _mm512_set1_epi32(four));
                    }
                }
            }
            // SAFETY: the group holds 16 scales and offsets per block.
            let (scale, offset) = unsafe {
                (
                    _mm512_loadu_ps(self.scales[b * LANES..].as_ptr()),
                    _mm512_loadu_ps(self.offsets[b * LANES..].as_ptr()),
                )
            };
            for t in 0..T {
                let d = _mm512_set1_ps(scales[t][b * block / BLOCK]);
                total[t] = _mm512_fmadd_ps(
                    _mm512_cvtepi32_ps(products[t]),
                    _mm512_mul_ps(scale, d),
                    total[t],
                );
                total[t] = _mm512_fnmadd_ps(offset, _mm512_set1_ps(sums[t][b]), total[t]);
            }
        }
        let mask: __mmask16 = if filled == LANES {
            !0
        } else {
            (1u16 << filled) - 1
        };
        for (t, sums) in total.into_iter().enumerate() {
            // SAFETY: row `token + t` of `out` has `rows` values, and the group's `filled`
            // lanes from `first` are within them.
            unsafe {
                _mm512_mask_storeu_ps(out.add((token + t) * rows + first), mask, sums);
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn tile<const T: usize>(
        &self,
        _: &Activations,
        _: usize,
        _: *mut f32,
        _: usize,
        _: usize,
        _: usize,
    ) {
        unreachable!("LaneRows::new requires x86-64 with AVX-512 VNNI")
    }
}

/// Sixteen rows of `columns` bytes one after another (`rows`), interleaved into `lanes`: for
/// each four columns, the sixteen rows' four bytes. A transpose of 4-byte words, sixteen rows
/// of sixteen words (64 columns) at a time in registers; a last half window (rows of Q5_0,
/// Q4_1 or Q8_0) word by word.
///
/// # Safety
/// The CPU has AVX-512F; `rows` and `lanes` hold 16 × `columns` bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn interleave(rows: &[u8], columns: usize, lanes: &mut [u8]) {
    use std::arch::x86_64::*;
    let windows = columns / 64;
    for w in 0..windows {
        // SAFETY: each row holds `columns` bytes, and the lanes 16 × `columns`.
        unsafe {
            let words: [__m512i; LANES] = std::array::from_fn(|r| {
                _mm512_loadu_si512(rows.as_ptr().add(r * columns + 64 * w) as *const _)
            });
            for (s, words) in transpose(words).into_iter().enumerate() {
                let at = lanes.as_mut_ptr().add((16 * w + s) * 64);
                _mm512_storeu_si512(at as *mut _, words);
            }
        }
    }
    for step in windows * 16..columns / 4 {
        for r in 0..LANES {
            let four = &rows[r * columns + 4 * step..][..4];
            lanes[(step * LANES + r) * 4..][..4].copy_from_slice(four);
        }
    }
}

/// Sixteen vectors of sixteen 32-bit words, transposed: word `s` of vector `r` becomes word `r`
/// of vector `s`. Pairs of words, then of pairs, within each 128-bit lane, then the lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn transpose(v: [std::arch::x86_64::__m512i; 16]) -> [std::arch::x86_64::__m512i; 16] {
    use std::arch::x86_64::*;
    // Within each lane: a0 b0 a1 b1 | a2 b2 a3 b3 for each pair of rows.
    let pairs: [__m512i; 16] = std::array::from_fn(|i| {
        let (a, b) = (v[i / 2 * 2], v[i / 2 * 2 + 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_epi32(a, b)
        } else {
            _mm512_unpackhi_epi32(a, b)
        }
    });
    // Within each lane, for each four rows g: word k of rows 4g..4g + 4, k = 0..4 (in lane j,
    // word 4j + k).
    let fours: [__m512i; 16] = std::array::from_fn(|i| {
        let (g, k) = (i / 4, i % 4);
        let (low, high) = (pairs[4 * g + k / 2], pairs[4 * g + 2 + k / 2]);
        if k % 2 == 0 {
            _mm512_unpacklo_epi64(low, high)
        } else {
            _mm512_unpackhi_epi64(low, high)
        }
    });
    // Lanes: word 4j + k of all sixteen rows takes lane j of fours[4g + k] for g = 0..4.
    let halves: [__m512i; 16] = std::array::from_fn(|i| {
        // For rows 8h..8h + 8 (h = i / 8), word k: lanes 0 and 2 (or 1 and 3) of the two groups.
        let (h, k, odd) = (i / 8, i % 4, (i / 4) % 2);
        let (a, b) = (fours[8 * h + k], fours[8 * h + 4 + k]);
        if odd == 0 {
            _mm512_shuffle_i32x4(a, b, 0b10_00_10_00)
        } else {
            _mm512_shuffle_i32x4(a, b, 0b11_01_11_01)
        }
    });
    let mut out = [_mm512_setzero_si512(); 16];
    for k in 0..4 {
        for odd in 0..2 {
            let (a, b) = (halves[4 * odd + k], halves[8 + 4 * odd + k]);
            // a: [rows 0–3 lane odd, rows 0–3 lane odd + 2, rows 4–7 lane odd, rows 4–7 lane
            // odd + 2]; b the same for rows 8–15.
            out[4 * odd + k] = _mm512_shuffle_i32x4(a, b, 0b10_00_10_00);
            out[4 * (odd + 2) + k] = _mm512_shuffle_i32x4(a, b, 0b11_01_11_01);
        }
    }
    out
}

/// Whether this CPU has AVX-512 (foundation, byte and word) with VNNI, and F16C.
pub fn avx512_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
            && is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::q8::agreement;

    /// The same products as candle's kernels for every format unpacked here, on random weights
    /// of Qwen2.5's projection shapes: whole tiles of activation rows, a tile's remainder, a
    /// last group of fewer than sixteen rows, and (32-value formats) rows that end in half a window
    /// of 64 columns.
    #[test]
    fn agrees_with_candles_kernels() {
        if !avx512_vnni() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI, so the lane kernel is never used");
            return;
        }
        let shapes = [(256, 1536, 19), (40, 512, 8), (24, 256, 3)];
        for format in [
            GgmlDType::Q4K,
            GgmlDType::Q6K,
            GgmlDType::Q5_0,
            GgmlDType::Q8_0,
        ] {
            let odd = matches!(format, GgmlDType::Q5_0 | GgmlDType::Q8_0).then_some((48, 96, 9));
            for shape in shapes.into_iter().chain(odd) {
                agreement::check_no_worse(format, shape, |weights, x| {
                    LaneRows::new(weights).unwrap().multiply(x).unwrap()
                });
            }
        }
    }
}
