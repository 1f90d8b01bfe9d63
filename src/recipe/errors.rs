//! Each GEMM of a recipe against the unquantized layer: the numbers a
//! researcher chooses a recipe by (`lowp compare --recipes`).

use super::{Recipe, linear};
use crate::Error;

/// One GEMM's error against the unquantized product.
#[derive(Clone, Debug, PartialEq)]
pub struct GemmError {
    /// `fprop`, `dgrad` or `wgrad`.
    pub gemm: &'static str,
    /// `10·log10(Σr² / Σ(y−r)²)`, r the reference (∞: equal).
    pub sqnr_db: f64,
    /// DeepGEMM's `calc_diff`: `1 − 2·Σ(r·y) / Σ(r² + y²)` (its tests pass
    /// below 1e-3).
    pub calc_diff: f64,
    /// max `|y − r|`.
    pub max_abs: f64,
    /// max `|y − r| / |r|` over `r ≠ 0`.
    pub max_rel: f64,
}

/// `A·Bᵀ` of unquantized f32 values, `[m, k]` by `[n, k]` (or `[k, ·]` views),
/// in f64 with compensated (Neumaier) sums: the reference, exact to about an
/// f64 ulp.
fn reference(a: &[f32], a_t: bool, b: &[f32], b_t: bool, m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut out = vec![0f64; m * n];
    for r in 0..m {
        for c in 0..n {
            let (mut s, mut comp) = (0f64, 0f64);
            for j in 0..k {
                let x = if a_t { a[j * m + r] } else { a[r * k + j] } as f64;
                let y = if b_t { b[j * n + c] } else { b[c * k + j] } as f64;
                let p = x * y; // exact: 24 × 24 bits
                let t = s + p;
                comp += if s.abs() >= p.abs() { (s - t) + p } else { (p - t) + s };
                s = t;
            }
            out[r * n + c] = s + comp;
        }
    }
    out
}

fn measure(gemm: &'static str, r: &[f64], y: &[f32]) -> GemmError {
    let (mut sig, mut err, mut ry, mut rr_yy, mut max_abs, mut max_rel) = (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
    for (&r, &y) in r.iter().zip(y) {
        let y = y as f64;
        let e = (y - r).abs();
        sig += r * r;
        err += e * e;
        ry += r * y;
        rr_yy += r * r + y * y;
        max_abs = max_abs.max(e);
        if r != 0.0 {
            max_rel = max_rel.max(e / r.abs());
        }
    }
    GemmError {
        gemm,
        sqnr_db: if err == 0.0 { f64::INFINITY } else { 10.0 * (sig / err).log10() },
        calc_diff: if rr_yy == 0.0 { 0.0 } else { 1.0 - 2.0 * ry / rr_yy },
        max_abs,
        max_rel,
    }
}

/// The error of each GEMM of `recipe` (fprop, and with `dy` dgrad and wgrad)
/// against the same products of the unquantized x, W and dy.
///
/// # Errors
/// As [`linear`].
///
/// # Examples
/// ```
/// use lowp::recipe::recipe_errors;
/// let (t, i, o) = (32, 64, 32);
/// let x: Vec<f32> = (0..t * i).map(|k| (k as f32 * 0.37).sin()).collect();
/// let w: Vec<f32> = (0..o * i).map(|k| (k as f32 * 0.11).cos()).collect();
/// let e = recipe_errors(&x, &w, None, [t, i, o], &"te-mxfp8@out=f32".parse().unwrap(), 0).unwrap();
/// assert_eq!(e.len(), 1);
/// assert!(e[0].sqnr_db > 25.0 && e[0].calc_diff < 1e-3);
/// ```
pub fn recipe_errors(
    x: &[f32],
    w: &[f32],
    dy: Option<&[f32]>,
    dims: [usize; 3],
    recipe: &Recipe,
    seed: u64,
) -> Result<Vec<GemmError>, Error> {
    let [t, inp, out] = dims;
    let l = linear(x, w, dy, dims, recipe, seed)?;
    let mut v = vec![measure("fprop", &reference(x, false, w, false, t, out, inp), &l.y)];
    if let (Some(dy), Some(dx), Some(dw)) = (dy, &l.dx, &l.dw) {
        v.push(measure("dgrad", &reference(dy, false, w, true, t, inp, out), dx));
        v.push(measure("wgrad", &reference(dy, true, x, true, out, inp, t), dw));
    }
    Ok(v)
}

/// The layer `lowp compare --recipes` runs without inputs, `(x, W, dy, [T, IN, OUT])`
/// with T = 256, IN = 512, OUT = 384 (multiples of every recipe's blocks): x
/// Gaussian with outlier channels (every 128th input channel ×50, as LLM
/// activations have), W Gaussian with σ 0.02, dy Gaussian ×1e-3 with row
/// magnitudes from 2^-4 to 2^4 (tokens whose gradients differ in scale).
/// Deterministic ([`crate::rng`]).
///
/// # Examples
/// ```
/// let (x, w, dy, [t, i, o]) = lowp::recipe::sample_layer();
/// assert_eq!((x.len(), w.len(), dy.len()), (t * i, o * i, t * o));
/// assert_eq!([t, i, o], [256, 512, 384]);
/// ```
pub fn sample_layer() -> (Vec<f32>, Vec<f32>, Vec<f32>, [usize; 3]) {
    let (t, inp, out) = (256usize, 512usize, 384usize);
    let normal = |seed: u64, i: usize| crate::rng::normal(seed, i as u64);
    let x = (0..t * inp).map(|i| (normal(11, i) * if (i % inp) % 128 == 7 { 50.0 } else { 1.0 }) as f32).collect();
    let w = (0..out * inp).map(|i| (0.02 * normal(12, i)) as f32).collect();
    let dy = (0..t * out).map(|i| (1e-3 * normal(13, i) * 2f64.powi((i / out) as i32 % 9 - 4)) as f32).collect();
    (x, w, dy, [t, inp, out])
}
