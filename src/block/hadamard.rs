//! The 16-point random Hadamard transform (RHT) of TransformerEngine's NVFP4 recipe.
//!
//! `H = (1/4) · diag(s) · H16`, with `H16` the Sylvester Hadamard matrix
//! (`H16[i][j] = (-1)^popcount(i & j)`) and `s` a ±1 sign vector; each 16-element
//! chunk `x` (a row vector) becomes `x · H`. `H` is orthogonal, so the inverse is
//! `y · Hᵀ`. Each output is the dot product summed in f64 (the products are exact)
//! and rounded to f32: exact unless the chunk's magnitudes span more than about
//! 2^29. A GPU's GEMM may round its partial sums differently, so RHT outputs are
//! lowp's definition, not a bit-exact copy of TE's kernel.

/// TransformerEngine's fixed sign vector `[+,+,+,-,+,-,-,-,-,-,-,+,-,+,-,-]`
/// (`true` = −1), from `reference_nvfp4.py` / `nvfp4.rst`.
pub const TE_RHT_SIGNS: [bool; 16] =
    [false, false, false, true, false, true, true, true, true, true, true, false, true, false, true, true];

fn entry(signs: &[bool; 16], i: usize, j: usize) -> f64 {
    let h = if (i & j).count_ones().is_multiple_of(2) { 0.25 } else { -0.25 };
    if signs[i] { -h } else { h }
}

/// Applies `x · H` to one 16-element chunk in place.
///
/// # Examples
/// ```
/// use lowp::block::{rht16, rht16_inverse, TE_RHT_SIGNS};
/// let mut x: [f32; 16] = core::array::from_fn(|i| i as f32 - 7.5);
/// let orig = x;
/// rht16(&mut x, &TE_RHT_SIGNS);
/// rht16_inverse(&mut x, &TE_RHT_SIGNS);
/// for (a, b) in x.iter().zip(&orig) { assert!((a - b).abs() < 1e-5); }
/// ```
pub fn rht16(x: &mut [f32; 16], signs: &[bool; 16]) {
    let src = *x;
    for (j, out) in x.iter_mut().enumerate() {
        // Σ_i x_i · H[i][j]
        *out = (0..16).map(|i| src[i] as f64 * entry(signs, i, j)).sum::<f64>() as f32;
    }
}

/// Applies `y · Hᵀ` (the inverse of [`rht16`]) to one chunk in place.
pub fn rht16_inverse(y: &mut [f32; 16], signs: &[bool; 16]) {
    let src = *y;
    for (i, out) in y.iter_mut().enumerate() {
        *out = (0..16).map(|j| src[j] as f64 * entry(signs, i, j)).sum::<f64>() as f32;
    }
}

/// Applies `f` to every 16-element chunk of `row`.
pub(crate) fn each_chunk(row: &mut [f32], signs: &[bool; 16], f: fn(&mut [f32; 16], &[bool; 16])) {
    for c in row.chunks_exact_mut(16) {
        let c: &mut [f32; 16] = c.try_into().expect("chunks of 16");
        f(c, signs);
    }
}
