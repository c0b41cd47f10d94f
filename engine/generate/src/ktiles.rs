//! A prompt's chunk times Q4_K or Q6_K weights with AMX tiles, where the CPU has them.
//!
//! [`crate::lanes`] spends as many instructions on each block's scale as on its products: a
//! K block's eight (Q4_K) or sixteen (Q6_K) sub-blocks each have their own integer scale. Here
//! the integer scales go into the weights instead: each weight becomes `v = scale·q` (Q4_K,
//! up to 945) or `v = scale·(q − 32)` (Q6_K, ±4,096), kept as its low byte and its high byte in
//! two planes, so that a block of 256 is two integer products, `Σ x·v = Σ x·low + 256·Σ x·high`,
//! with nothing to scale until the block's end (Q4_K's minimums then take the activations' sums
//! of 32). The activations are rounded in blocks of 256 (as ggml's Q8_K), so that one factor per
//! block and row remains. Each product is an AMX tile instruction: sixteen tokens by sixteen
//! weight rows by 64 columns.

use std::sync::Arc;

use anyhow::Result;
use candle_core::quantized::QTensor;
use half::f16;

use crate::amx::{self, Sums, Tiles};
use crate::kquant::{KFormat, q4k_values, q6k_values, scales_and_mins};
use crate::lanes::{avx512_vnni, interleave};
use crate::q8::Stored;

/// Weight rows, and tokens, in a tile.
const LANES: usize = amx::ROWS;
/// Values per K block.
const SUPER: usize = 256;

/// A Q4_K or Q6_K weight matrix `[rows, columns]` multiplied by whole chunks of activation
/// rows with AMX.
#[derive(Clone)]
pub struct KTileRows {
    stored: Stored,
    format: KFormat,
}

impl KTileRows {
    /// The matrix, when its weights are Q4_K or Q6_K in memory and this CPU has AMX (and
    /// AVX-512 with VNNI).
    pub fn new(weights: Arc<QTensor>) -> Option<Self> {
        let format = KFormat::of(weights.dtype())?;
        let stored = Stored::new(weights.clone(), weights.dtype(), format.stored())?;
        (avx512_vnni() && amx::available()).then_some(KTileRows { stored, format })
    }

    /// `x·Wᵀ` for `x`, some rows of `columns` values one after another: `[x rows, W rows]`.
    pub fn multiply(&self, x: &[f32]) -> Result<Vec<f32>> {
        let (data, row_bytes) = self.stored.data(x)?;
        // SAFETY: `new` checked AVX-512 (and so F16C).
        let activations = unsafe { Rounded::new(x, self.stored.columns) };
        let (rows, columns, format) = (self.stored.rows, self.stored.columns, self.format);
        let mut out = vec![0f32; activations.tokens * rows];
        let out_at = out.as_mut_ptr() as usize;
        candle_core::utils::barrier_pool().execute_chunked(rows.div_ceil(LANES), |range| {
            // SAFETY: `new` checked AMX.
            let tiles = unsafe { Tiles::load() };
            let mut group = Group::new(columns, format);
            for g in range {
                let first = g * LANES;
                let filled = LANES.min(rows - first);
                // SAFETY: `new` checked AVX-512 with VNNI and AMX, and the tiles are loaded on
                // this thread. Each group of rows is handed to exactly one worker, which writes
                // only its lanes of `out`; `out` outlives the call.
                unsafe {
                    group.fill(|r| &data[(first + r) * row_bytes..][..row_bytes], filled);
                    group.multiply(
                        &tiles,
                        &activations,
                        out_at as *mut f32,
                        rows,
                        first,
                        filled,
                    );
                }
            }
        });
        Ok(out)
    }
}

/// Where value `column` of activation row `token` lies: rows in tiles of sixteen, each tile's
/// 64 columns at a time as sixteen rows of 64 bytes, so that each AMX tile of activations is 1
/// KB in one piece (rows `columns` apart, it took sixteen scattered lines).
fn tiled(token: usize, column: usize, columns: usize) -> usize {
    ((token / LANES * (columns / 64) + column / 64) * LANES + token % LANES) * 64 + column % 64
}

/// Activation rows rounded to 8 bits in blocks of 256, with zero rows up to a whole tile.
struct Rounded {
    tokens: usize,
    qs: Vec<i8>,
    /// Each block's scale, row after row.
    scales: Vec<f32>,
    /// Each 32 values' sum (what Q4_K's minimums multiply), row after row.
    sums: Vec<f32>,
}

impl Rounded {
    /// # Safety
    /// The CPU has AVX-512 (foundation, byte and word) and F16C.
    unsafe fn new(x: &[f32], columns: usize) -> Self {
        let tokens = x.len() / columns;
        let padded = tokens.next_multiple_of(LANES);
        let blocks = columns / SUPER;
        let mut qs = vec![0i8; padded * columns];
        let mut scales = vec![0f32; padded * blocks];
        let mut sums = vec![0f32; padded * blocks * 8];
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
                        |column| (at.0 as *mut i8).add(tiled(t, column, columns)),
                        std::slice::from_raw_parts_mut((at.1 as *mut f32).add(t * blocks), blocks),
                        std::slice::from_raw_parts_mut(
                            (at.2 as *mut f32).add(t * blocks * 8),
                            blocks * 8,
                        ),
                    );
                }
            }
        });
        Rounded {
            tokens,
            qs,
            scales,
            sums,
        }
    }
}

/// One row rounded to 8 bits in blocks of 256 (`d = max|x| / 127`, ties to even), with the
/// sums of each 32 rounded values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn round_row(
    x: &[f32],
    qs: impl Fn(usize) -> *mut i8,
    scales: &mut [f32],
    sums: &mut [f32],
) {
    use std::arch::x86_64::*;
    for (b, values) in x.chunks_exact(SUPER).enumerate() {
        // SAFETY: a block is 256 values, and `qs` holds 256 bytes from `256·b`.
        unsafe {
            let mut largest = _mm512_setzero_ps();
            for i in 0..16 {
                let v = _mm512_loadu_ps(values.as_ptr().add(16 * i));
                largest = _mm512_max_ps(largest, _mm512_abs_ps(v));
            }
            let d = _mm512_reduce_max_ps(largest) / 127.0;
            scales[b] = d;
            let inverse = _mm512_set1_ps(if d == 0.0 { 0.0 } else { 1.0 / d });
            for i in 0..16 {
                let v = _mm512_loadu_ps(values.as_ptr().add(16 * i));
                let q = _mm512_cvtps_epi32(_mm512_mul_ps(v, inverse));
                let at = qs(SUPER * b + 16 * i) as *mut __m128i;
                _mm_storeu_si128(at, _mm512_cvtsepi32_epi8(q));
                sums[8 * b + i / 2] += _mm512_reduce_add_epi32(q) as f32;
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn round_row(_: &[f32], _: impl Fn(usize) -> *mut i8, _: &mut [f32], _: &mut [f32]) {
    unreachable!("KTileRows::new requires x86-64 with AMX")
}

/// Sixteen weight rows as planes of interleaved bytes (for each four columns, the sixteen
/// rows' four bytes: the layout of AMX's second operand), and each K block's factors.
struct Group {
    format: KFormat,
    columns: usize,
    /// The low and high bytes of each weight's `v`.
    planes: [Vec<u8>; 2],
    /// The same, one row after another, before they are interleaved.
    rows: [Vec<u8>; 2],
    /// Each block's `d` for the sixteen rows.
    d: Vec<f32>,
    /// Q4_K: each sub-block's `dmin·min` for the sixteen rows.
    mins: Vec<f32>,
}

impl Group {
    fn new(columns: usize, format: KFormat) -> Self {
        let blocks = columns / SUPER;
        let plane = || vec![0u8; columns * LANES];
        Group {
            format,
            columns,
            planes: [plane(), plane()],
            rows: [plane(), plane()],
            d: vec![0.0; blocks * LANES],
            mins: vec![0.0; blocks * 8 * LANES],
        }
    }

    /// Unpacks `filled` rows (`row(r)` stored) into the planes; the rows past them get zeros.
    ///
    /// # Safety
    /// The CPU has AVX-512 (foundation, byte and word).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx2")]
    unsafe fn fill<'a>(&mut self, row: impl Fn(usize) -> &'a [u8], filled: usize) {
        use std::arch::x86_64::*;
        let columns = self.columns;
        if filled < LANES {
            self.rows.iter_mut().for_each(|plane| plane.fill(0));
            self.d.fill(0.0);
            self.mins.fill(0.0);
        }
        let half = |bytes: &[u8]| f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
        for r in 0..filled {
            let [low, high] = &mut self.rows;
            let (low, high) = (
                &mut low[r * columns..][..columns],
                &mut high[r * columns..][..columns],
            );
            for (b, block) in row(r).chunks_exact(self.format.stored().1).enumerate() {
                let at = b * SUPER;
                // Each sub-block's values `q` (one byte each) and integer scale.
                let mut values = [0u8; SUPER];
                let mut scales = [0i16; 16];
                // SAFETY (loads and stores): within the stored block and the 256 values.
                match self.format {
                    KFormat::Q4K => unsafe {
                        self.d[b * LANES + r] = half(&block[0..]);
                        let dmin = half(&block[2..]);
                        let (packed_scales, packed_mins) = scales_and_mins(&block[4..16]);
                        let (sc, m) = (packed_scales.to_le_bytes(), packed_mins.to_le_bytes());
                        for j in 0..8 {
                            scales[j] = sc[j] as i16;
                            self.mins[(8 * b + j) * LANES + r] = dmin * m[j] as f32;
                        }
                        for (k, q) in q4k_values(block).into_iter().enumerate() {
                            let out = values.as_mut_ptr().add(32 * k) as *mut __m256i;
                            _mm256_storeu_si256(out, q);
                        }
                    },
                    KFormat::Q6K => unsafe {
                        self.d[b * LANES + r] = half(&block[208..]);
                        for (j, &scale) in block[192..208].iter().enumerate() {
                            scales[j] = scale as i8 as i16;
                        }
                        for (k, q) in q6k_values(block).into_iter().enumerate() {
                            _mm512_storeu_si512(values.as_mut_ptr().add(64 * k) as *mut _, q);
                        }
                    },
                }
                // v = scale·q (Q4_K, sub-blocks of 32) or scale·(q − 32) (Q6_K, of 16), split
                // into its low and high bytes, 32 values at a time.
                let (span, offset) = match self.format {
                    KFormat::Q4K => (32, 0),
                    KFormat::Q6K => (16, 32),
                };
                // SAFETY: 32 values and bytes from `32·i` within the block's 256.
                unsafe {
                    for i in 0..8 {
                        let q = _mm512_cvtepu8_epi16(_mm256_loadu_si256(
                            values[32 * i..].as_ptr() as *const __m256i
                        ));
                        let q = _mm512_sub_epi16(q, _mm512_set1_epi16(offset));
                        let scale = if span == 32 {
                            _mm512_set1_epi16(scales[i])
                        } else {
                            _mm512_inserti64x4(
                                _mm512_set1_epi16(scales[2 * i]),
                                _mm256_set1_epi16(scales[2 * i + 1]),
                                1,
                            )
                        };
                        let v = _mm512_mullo_epi16(q, scale);
                        let at = at + 32 * i;
                        _mm256_storeu_si256(
                            low[at..].as_mut_ptr() as *mut __m256i,
                            _mm512_cvtepi16_epi8(v),
                        );
                        _mm256_storeu_si256(
                            high[at..].as_mut_ptr() as *mut __m256i,
                            _mm512_cvtepi16_epi8(_mm512_srai_epi16(v, 8)),
                        );
                    }
                }
            }
        }
        for (rows, plane) in self.rows.iter().zip(self.planes.iter_mut()) {
            // SAFETY: passed on from the caller; each holds 16 × `columns` bytes.
            unsafe { interleave(rows, columns, plane) };
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn fill<'a>(&mut self, _: impl Fn(usize) -> &'a [u8], _: usize) {
        unreachable!("KTileRows::new requires x86-64 with AMX")
    }

    /// Writes the group's `filled` rows of `x·Wᵀ` into `out` (`[tokens, rows]`, this group's
    /// rows from `first`).
    ///
    /// # Safety
    /// The CPU has AVX-512 with VNNI and AMX; `tiles` were loaded on this thread; `out` holds
    /// `tokens × rows` values.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn multiply(
        &self,
        _tiles: &Tiles,
        x: &Rounded,
        out: *mut f32,
        rows: usize,
        first: usize,
        filled: usize,
    ) {
        use std::arch::x86_64::*;
        let columns = self.columns;
        let blocks = columns / SUPER;
        let mut sums = [
            Sums([0; 256]),
            Sums([0; 256]),
            Sums([0; 256]),
            Sums([0; 256]),
        ];
        let mask: __mmask16 = if filled == LANES {
            !0
        } else {
            (1u16 << filled) - 1
        };
        // Block by block, every tile of tokens: a block's weight tiles stay in the nearest
        // cache while the tokens go by (token by block, they were fetched again for each tile
        // of tokens, and their loads were half the time).
        let mut totals = vec![_mm512_setzero_ps(); x.tokens.next_multiple_of(LANES)];
        for b in 0..blocks {
            // SAFETY: the group holds 16 factors per block.
            let d = unsafe { _mm512_loadu_ps(self.d[b * LANES..].as_ptr()) };
            // Two tiles of tokens at a time share each weight tile loaded.
            for (pair, totals) in totals.chunks_mut(2 * LANES).enumerate() {
                let token = pair * 2 * LANES;
                // SAFETY: the activations hold whole tiles of sixteen rows; each plane holds
                // 16 rows of 64 bytes for each 64 columns.
                unsafe {
                    if totals.len() == 2 * LANES {
                        self.products_pair(x, token, b, &mut sums);
                    } else {
                        self.products(x, token, b, &mut sums);
                    }
                }
                for (tile, totals) in totals.chunks_exact_mut(LANES).enumerate() {
                    let [low, high] = &sums[2 * tile..][..2] else {
                        unreachable!()
                    };
                    // SAFETY: the group holds 16 factors per sub-block; the activations'
                    // scales and sums cover the padded rows.
                    unsafe { self.accumulate(x, b, d, token + tile * LANES, [low, high], totals) };
                }
            }
        }
        for (t, sums) in totals.into_iter().enumerate().take(x.tokens) {
            // SAFETY: row `t` of `out` has `rows` values, and the group's `filled` lanes from
            // `first` are within them.
            unsafe { _mm512_mask_storeu_ps(out.add(t * rows + first), mask, sums) };
        }
    }

    /// Adds block `b`'s products for the sixteen tokens from `token` (`sums`: of the low bytes,
    /// of the high bytes) to their `totals`, scaled: the block's `d` for each row (`d`), the
    /// token's scale, and (Q4_K) the minimums times the token's sums of 32.
    ///
    /// # Safety
    /// As [`Group::multiply`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn accumulate(
        &self,
        x: &Rounded,
        b: usize,
        d: std::arch::x86_64::__m512,
        token: usize,
        sums: [&Sums; 2],
        totals: &mut [std::arch::x86_64::__m512],
    ) {
        use std::arch::x86_64::*;
        let blocks = self.columns / SUPER;
        for (t, total) in totals.iter_mut().enumerate() {
            let row = (token + t) * blocks + b;
            let scale = _mm512_set1_ps(x.scales[row]);
            // SAFETY: each of `sums` holds sixteen rows of sixteen sums; the group 16 factors
            // per sub-block; the activations' sums cover the padded rows.
            unsafe {
                let at = |plane: usize| sums[plane].0[16 * t..].as_ptr() as *const _;
                let whole = _mm512_add_epi32(
                    _mm512_load_si512(at(0)),
                    _mm512_slli_epi32(_mm512_load_si512(at(1)), 8),
                );
                let mut sum = _mm512_mul_ps(_mm512_cvtepi32_ps(whole), d);
                if self.format == KFormat::Q4K {
                    for j in 0..8 {
                        let mins = _mm512_loadu_ps(self.mins[(8 * b + j) * LANES..].as_ptr());
                        let sums = _mm512_set1_ps(x.sums[8 * row + j]);
                        sum = _mm512_fnmadd_ps(mins, sums, sum);
                    }
                }
                *total = _mm512_fmadd_ps(sum, scale, *total);
            }
        }
    }

    /// Block `b`'s products for the 32 tokens from `token` (two tiles), of the low bytes and
    /// of the high bytes, into `sums` (the first tile's two, then the second's): each weight
    /// tile loaded once for both.
    ///
    /// # Safety
    /// As [`Group::multiply`].
    #[cfg(target_arch = "x86_64")]
    unsafe fn products_pair(&self, x: &Rounded, token: usize, b: usize, sums: &mut [Sums; 4]) {
        let columns = self.columns;
        // tmm0–1: the first tile's sums, tmm2–3 the second's; tmm4–5: the activations; tmm6–7:
        // the planes. Q6_K's high bytes are signed.
        macro_rules! step {
            ($j:expr, $high:literal) => {{
                let column = b * SUPER + 64 * $j;
                let plane = |p: usize| self.planes[p][column * LANES..].as_ptr();
                std::arch::asm!(
                    "tileloadd tmm4, [{first} + {sixty_four} * 1]",
                    "tileloadd tmm5, [{second} + {sixty_four} * 1]",
                    "tileloadd tmm6, [{low} + {sixty_four} * 1]",
                    "tdpbsud tmm0, tmm4, tmm6",
                    "tdpbsud tmm2, tmm5, tmm6",
                    "tileloadd tmm7, [{high} + {sixty_four} * 1]",
                    concat!($high, " tmm1, tmm4, tmm7"),
                    concat!($high, " tmm3, tmm5, tmm7"),
                    first = in(reg) x.qs[tiled(token, column, columns)..].as_ptr(),
                    second = in(reg) x.qs[tiled(token + LANES, column, columns)..].as_ptr(),
                    low = in(reg) plane(0),
                    high = in(reg) plane(1),
                    sixty_four = in(reg) 64usize,
                    options(nostack, readonly),
                )
            }};
        }
        let [a, b_, c, d] = sums;
        // SAFETY: the caller's bounds and tiles; each of `sums` is 1 KB, as a tile of sixteen
        // rows of 64 bytes stores.
        unsafe {
            std::arch::asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            );
            for j in 0..SUPER / 64 {
                match self.format {
                    KFormat::Q4K => step!(j, "tdpbsud"),
                    KFormat::Q6K => step!(j, "tdpbssd"),
                }
            }
            std::arch::asm!(
                "tilestored [{a} + {sixty_four} * 1], tmm0",
                "tilestored [{b} + {sixty_four} * 1], tmm1",
                "tilestored [{c} + {sixty_four} * 1], tmm2",
                "tilestored [{d} + {sixty_four} * 1], tmm3",
                a = in(reg) a.0.as_mut_ptr(),
                b = in(reg) b_.0.as_mut_ptr(),
                c = in(reg) c.0.as_mut_ptr(),
                d = in(reg) d.0.as_mut_ptr(),
                sixty_four = in(reg) 64usize,
                options(nostack),
            );
        }
    }

    /// Block `b`'s products for the sixteen tokens from `token`, of the low bytes and of the
    /// high bytes, into `sums`.
    ///
    /// # Safety
    /// As [`Group::multiply`].
    #[cfg(target_arch = "x86_64")]
    unsafe fn products(&self, x: &Rounded, token: usize, b: usize, sums: &mut [Sums; 4]) {
        let columns = self.columns;
        // tmm0–1: the sums; tmm2–4 and tmm5–7: the activations and the two planes, for the
        // even and the odd steps of 64 columns, so that a step's tiles load while the step
        // before is multiplied. Q6_K's high bytes are signed.
        macro_rules! step {
            ($j:expr, $a:literal, $low:literal, $high:literal, $signed:literal) => {{
                let column = b * SUPER + 64 * $j;
                let plane = |p: usize| self.planes[p][column * LANES..].as_ptr();
                std::arch::asm!(
                    concat!("tileloadd ", $a, ", [{a} + {sixty_four} * 1]"),
                    concat!("tileloadd ", $low, ", [{low} + {sixty_four} * 1]"),
                    concat!("tileloadd ", $high, ", [{high} + {sixty_four} * 1]"),
                    concat!("tdpbsud tmm0, ", $a, ", ", $low),
                    concat!($signed, " tmm1, ", $a, ", ", $high),
                    a = in(reg) x.qs[tiled(token, column, columns)..].as_ptr(),
                    low = in(reg) plane(0),
                    high = in(reg) plane(1),
                    sixty_four = in(reg) 64usize,
                    options(nostack, readonly),
                )
            }};
        }
        macro_rules! steps {
            ($high:literal) => {{
                step!(0, "tmm2", "tmm3", "tmm4", $high);
                step!(1, "tmm5", "tmm6", "tmm7", $high);
                step!(2, "tmm2", "tmm3", "tmm4", $high);
                step!(3, "tmm5", "tmm6", "tmm7", $high);
            }};
        }
        let [low, high, ..] = sums;
        // SAFETY: the caller's bounds and tiles; each of `sums` is 1 KB, as a tile of sixteen
        // rows of 64 bytes stores.
        unsafe {
            std::arch::asm!("tilezero tmm0", "tilezero tmm1", options(nostack, nomem));
            match self.format {
                KFormat::Q4K => steps!("tdpbsud"),
                KFormat::Q6K => steps!("tdpbssd"),
            }
            std::arch::asm!(
                "tilestored [{low} + {sixty_four} * 1], tmm0",
                "tilestored [{high} + {sixty_four} * 1], tmm1",
                low = in(reg) low.0.as_mut_ptr(),
                high = in(reg) high.0.as_mut_ptr(),
                sixty_four = in(reg) 64usize,
                options(nostack),
            );
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn multiply(&self, _: &Tiles, _: &Rounded, _: *mut f32, _: usize, _: usize, _: usize) {
        unreachable!("KTileRows::new requires x86-64 with AMX")
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::*;
    use crate::q8::agreement;

    /// As near the exact product as candle's kernels (which round the activations in the same
    /// blocks of 256), on random weights of Qwen2.5-1.5B's shapes: whole tiles of sixteen
    /// tokens and a tile's remainder, a last group of fewer than sixteen rows.
    #[test]
    fn agrees_with_candles_kernels() {
        if !(avx512_vnni() && amx::available()) {
            eprintln!("skipped: this CPU has no AMX, so these tiles are never used");
            return;
        }
        for format in [GgmlDType::Q4K, GgmlDType::Q6K] {
            for shape in [(256, 1536, 37), (40, 512, 16), (24, 256, 3)] {
                agreement::check_no_worse(format, shape, |weights, x| {
                    KTileRows::new(weights).unwrap().multiply(x).unwrap()
                });
            }
        }
    }
}
