//! The softmax of a prompt chunk's attention scores, each query over the keys it may see, in
//! place.
//!
//! candle's way (add a mask of −∞, then a softmax) wrote two new copies of the score matrix per
//! layer (12 MB each for Qwen2.5-1.5B at 1,000 tokens: fresh pages to fault in and zero) and took
//! a scalar `exp` of every masked score too. Here each row's visible span is known
//! ([`visible`]): the rest is set to zero, and the span's exponentials are taken sixteen at a
//! time with AVX-512 (`2ⁿ·p(r)`, a degree-7 polynomial on `|r| ≤ ln 2 / 2`, relative error
//! under 1e-7), the rows shared out over candle's CPU threads.

use std::ops::Range;

/// The keys (absolute positions) a query at position `at` sees: those up to itself, and within
/// `window` of it on a local layer (a key `window` back is out, as in llama.cpp).
pub fn visible(at: usize, window: Option<usize>) -> Range<usize> {
    let start = window.map_or(0, |w| (at + 1).saturating_sub(w));
    start..at + 1
}

/// Softmax of each row of `scores` (rows of `keys` values) over `span(row)` (indices into the
/// row), zero elsewhere.
pub fn softmax(scores: &mut [f32], keys: usize, span: impl Fn(usize) -> Range<usize> + Sync) {
    let rows = scores.len() / keys;
    let at = scores.as_mut_ptr() as usize;
    let fast = avx512();
    candle_core::utils::barrier_pool().execute_chunked(rows, |range| {
        for r in range {
            // SAFETY: each row is handed to exactly one worker; `scores` outlives the call.
            let row =
                unsafe { std::slice::from_raw_parts_mut((at as *mut f32).add(r * keys), keys) };
            let span = span(r);
            let (start, end) = (span.start.min(keys), span.end.min(keys));
            row[..start].fill(0.0);
            row[end..].fill(0.0);
            let row = &mut row[start..end];
            if fast {
                // SAFETY: checked just above.
                unsafe { softmax_avx512(row) };
            } else {
                softmax_scalar(row);
            }
        }
    });
}

fn softmax_scalar(row: &mut [f32]) {
    let largest = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - largest).exp();
        sum += *v;
    }
    row.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn softmax_avx512(row: &mut [f32]) {
    use std::arch::x86_64::*;
    let mut chunks = row.chunks_exact_mut(16);
    let mut largest = _mm512_set1_ps(f32::NEG_INFINITY);
    for chunk in chunks.by_ref() {
        // SAFETY: a chunk is 16 values.
        largest = _mm512_max_ps(largest, unsafe { _mm512_loadu_ps(chunk.as_ptr()) });
    }
    let tail = chunks.into_remainder();
    let largest = tail
        .iter()
        .copied()
        .fold(_mm512_reduce_max_ps(largest), f32::max);
    let shift = _mm512_set1_ps(largest);
    let mut sums = _mm512_setzero_ps();
    let mut chunks = row.chunks_exact_mut(16);
    for chunk in chunks.by_ref() {
        // SAFETY: a chunk is 16 values.
        unsafe {
            let e = exp(_mm512_sub_ps(_mm512_loadu_ps(chunk.as_ptr()), shift));
            _mm512_storeu_ps(chunk.as_mut_ptr(), e);
            sums = _mm512_add_ps(sums, e);
        }
    }
    let tail = chunks.into_remainder();
    let mut sum = _mm512_reduce_add_ps(sums);
    for v in tail.iter_mut() {
        *v = (*v - largest).exp();
        sum += *v;
    }
    let inverse = 1.0 / sum;
    let scale = _mm512_set1_ps(inverse);
    let mut chunks = row.chunks_exact_mut(16);
    for chunk in chunks.by_ref() {
        // SAFETY: a chunk is 16 values.
        unsafe {
            let v = _mm512_mul_ps(_mm512_loadu_ps(chunk.as_ptr()), scale);
            _mm512_storeu_ps(chunk.as_mut_ptr(), v);
        }
    }
    chunks
        .into_remainder()
        .iter_mut()
        .for_each(|v| *v *= inverse);
}

/// `eˣ` for sixteen values `x ≤ 0`: `x = n·ln 2 + r` (ln 2 in two parts, so that `r` keeps its
/// precision), `eʳ` by its Taylor polynomial to degree 7 (error `r⁸/8! < 6e-9` on `|r| ≤ 0.35`),
/// scaled by `2ⁿ`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn exp(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let x = _mm512_max_ps(x, _mm512_set1_ps(-104.0));
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm512_set1_ps(1.0 / 5040.0);
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    }
    _mm512_scalef_ps(p, n)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn softmax_avx512(_: &mut [f32]) {
    unreachable!("avx512() is false off x86-64")
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row's softmax over its span matches the plain formula in f64 within 1e-6, and is
    /// zero outside the span (spans of 0–40 keys: whole vectors of sixteen and a remainder).
    #[test]
    fn rows_sum_to_one_over_their_span_only() {
        let keys = 40;
        let rows = 41;
        let original: Vec<f32> = (0..rows * keys)
            .map(|i| ((i * 7919 % 1000) as f32 / 37.0) - 13.0)
            .collect();
        let mut scores = original.clone();
        let span = |r: usize| r / 2..r;
        softmax(&mut scores, keys, span);
        for r in 0..rows {
            let row = &scores[r * keys..(r + 1) * keys];
            let values = &original[r * keys..(r + 1) * keys];
            let span = span(r);
            let largest = values[span.clone()]
                .iter()
                .fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
            let sum: f64 = values[span.clone()]
                .iter()
                .map(|&v| (v as f64 - largest).exp())
                .sum();
            for (j, (&ours, &v)) in row.iter().zip(values).enumerate() {
                let expected = if span.contains(&j) {
                    (v as f64 - largest).exp() / sum
                } else {
                    0.0
                };
                assert!(
                    (ours as f64 - expected).abs() < 1e-6,
                    "row {r}, key {j}: {ours} against {expected}"
                );
            }
        }
    }

    #[test]
    fn a_query_sees_its_past_within_its_window() {
        assert_eq!(visible(5, Some(4)), 2..6);
        assert_eq!(visible(2, Some(4)), 0..3);
        assert_eq!(visible(3, None), 0..4);
    }
}
