//! Format comparison: how much each scheme loses on a tensor, and what about
//! the tensor explains it.
//!
//! Per tensor, [`stats`] describes the values over its finite elements
//! ([`Stats`]: amax, rms, kurtosis, outliers beyond 6σ, non-finite count). Per
//! tensor and scheme, [`measure`] computes in f64 from the input `x` and the
//! dequantized `y` ([`Metrics`]):
//!
//! | column (`lowp compare`) | key (`--json`, Python) | meaning |
//! |---|---|---|
//! | SQNR dB | `sqnr_db` | `10·log10(Σx² / Σ(y−x)²)`; ∞ when exact |
//! | MSE | `mse` | `Σ(y−x)² / n` |
//! | max abs | `max_abs_err` | max `\|y−x\|` |
//! | max rel | `max_rel_err` | max `\|y−x\|/\|x\|` over nonzero `x` |
//! | saturated | `saturated` | elements clipped by their block's scale: the code is the element format's largest magnitude and `\|x\|` lies beyond it by more than half an ulp (without the clamp it would have rounded past the max) |
//! | flushed | `flushed` | nonzero inputs that became 0 (below the block's smallest step) |
//! | clip blk | `clipped_blocks` | blocks with at least one saturated element (of `blocks`) |
//! | bits | `bits_per_element` | storage per element: codes, block scales and global scale |
//!
//! **Non-finite inputs.** NaN and ±Inf elements are counted (`non-finite`),
//! set to 0 before quantizing (so one NaN does not turn its block, or a
//! per-tensor scale, into NaN) and left out of every sum: the metrics are over
//! the finite elements. [`Metrics::merge`] aggregates tensors (sums, maxima), so
//! a checkpoint's SQNR is its total signal over its total error.
//!
//! **Per-tensor failures.** A scheme that cannot apply to one tensor (an RHT
//! scheme on a row length not divisible by 16) gives that row an
//! [`Row::error`]; the tensor's other schemes are measured.
//!
//! **Stored quantization.** A quantized checkpoint's weights
//! ([`crate::convention`]) are compared as stored: a `stored:<convention>` row
//! measures the loader's dequantized values against the master copy when one is
//! given ([`Source::Stored`]), and every scheme re-quantizes the master (without
//! one: the stored values, which are then the reference).

mod metrics;
mod source;

pub use metrics::{HIST_BINS, HIST_LO, Metrics, Stats, measure, measure_values, stats};
pub use source::{Named, Source, Stored, checkpoint_sources, compare_sources, file_sources, input_sources, select};

use crate::Error;
use crate::block::{Scheme, quantize};
use std::borrow::Cow;
use std::path::PathBuf;

/// The default scheme set of `lowp compare`: one or more of every family.
pub const DEFAULT_SCHEMES: &[&str] = &[
    "mxfp8-e4m3",
    "mxfp8-e5m2",
    "mxfp6-e2m3",
    "mxfp6-e3m2",
    "mxfp4",
    "mxint8",
    // TE's policy: torchao's divides the block scales by a per-tensor scale of 0 on
    // an all-zero tensor and returns NaN there (faithfully reproduced by
    // `nvfp4@global-scale=on`, torchao's policy)
    "nvfp4@like=te",
    "fp8-block",
    "fp8-block@block=128x128",
    "fp8-row@like=te",
    "fp8-tensor@like=te",
];

/// One tensor × scheme result.
#[derive(Clone, Debug)]
pub struct Row {
    /// Tensor name.
    pub tensor: String,
    /// The scheme spec exactly as given (`stored:<convention>` for a
    /// checkpoint's own quantization).
    pub scheme: String,
    /// Its metrics (empty when `error` is set).
    pub metrics: Metrics,
    /// Why the scheme could not apply to this tensor, if it could not.
    pub error: Option<String>,
}

/// A compared tensor: what it is and looks like, and its rows.
#[derive(Clone, Debug)]
pub struct TensorResult {
    /// Its name.
    pub name: String,
    /// The file it was read from (`None`: in memory).
    pub file: Option<PathBuf>,
    /// Its shape.
    pub shape: Vec<usize>,
    /// How it is stored (`BF16`, `F8_E4M3`, `f32`, `modelopt-nvfp4`).
    pub dtype: String,
    /// Its statistics (of the master copy when one was given).
    pub stats: Stats,
    /// One row per scheme, in order (a stored quantization first).
    pub rows: Vec<Row>,
}

/// Quantizes `x` with each scheme and measures it (non-finite elements zeroed
/// first, left out of the metrics); a scheme that cannot apply to this tensor
/// gives a row with [`Row::error`].
///
/// # Errors
/// [`Error::Shape`] for an empty tensor.
///
/// # Examples
/// ```
/// use lowp::compare::compare_tensor;
/// let s = vec![("mxfp4".to_string(), "mxfp4".parse().unwrap()), ("nvfp4@rht=on".into(), "nvfp4@rht=on".parse().unwrap())];
/// let x: Vec<f32> = (0..33).map(|i| i as f32).chain([f32::NAN]).collect();
/// let rows = compare_tensor("t", &[34], &x, &s).unwrap();
/// assert_eq!((rows[0].metrics.elements, rows[0].metrics.nonfinite), (33, 1));
/// assert!(rows[0].metrics.sqnr_db().is_finite());
/// assert!(rows[1].error.as_deref().unwrap().contains("16"));
/// ```
pub fn compare_tensor(name: &str, shape: &[usize], x: &[f32], schemes: &[(String, Scheme)]) -> Result<Vec<Row>, Error> {
    if x.is_empty() {
        return Err(Error::Shape(format!("tensor '{name}' is empty")));
    }
    let clean: Cow<[f32]> = if x.iter().all(|v| v.is_finite()) {
        Cow::Borrowed(x)
    } else {
        Cow::Owned(x.iter().map(|&v| if v.is_finite() { v } else { 0.0 }).collect())
    };
    Ok(schemes
        .iter()
        .map(|(spec, s)| {
            let (metrics, error) = match quantize(&clean, shape, s) {
                Ok(q) => (measure(x, &q), None),
                Err(e) => (Metrics::default(), Some(e.to_string())),
            };
            Row { tensor: name.to_string(), scheme: spec.clone(), metrics, error }
        })
        .collect())
}

/// The `(all)` rows of a comparison of several tensors: per scheme, the merge
/// ([`Metrics::merge`]) of its rows (rows with an error left out), in the order
/// of `specs`; none for one tensor. `lowp compare` and Python's
/// `lowp.compare` both append them.
///
/// # Examples
/// ```
/// use lowp::compare::{compare_tensor, totals};
/// let s = vec![("mxfp4".to_string(), "mxfp4".parse().unwrap())];
/// let mut rows = compare_tensor("a", &[32], &[1.0; 32], &s).unwrap();
/// rows.extend(compare_tensor("b", &[32], &[2.0; 32], &s).unwrap());
/// let all = totals(&rows, &["mxfp4".to_string()]);
/// assert_eq!((all[0].tensor.as_str(), all[0].metrics.elements), ("(all)", 64));
/// ```
pub fn totals(rows: &[Row], specs: &[String]) -> Vec<Row> {
    let tensors = |spec: &String| rows.iter().filter(|r| &r.scheme == spec).count();
    if specs.iter().all(|s| tensors(s) <= 1) {
        return Vec::new();
    }
    specs
        .iter()
        .map(|spec| {
            let mut m = Metrics::default();
            rows.iter().filter(|r| &r.scheme == spec && r.error.is_none()).for_each(|r| m.merge(&r.metrics));
            Row { tensor: "(all)".into(), scheme: spec.clone(), metrics: m, error: None }
        })
        .collect()
}

/// The built-in sample (deterministic): four 2-D tensors shaped like what
/// formats are chosen for — Gaussian activations, small-variance weights, a
/// heavy-tailed tensor, and activations with a few outlier channels (LLM-like).
///
/// # Examples
/// ```
/// let s = lowp::compare::builtin_sample();
/// assert_eq!(s.len(), 4);
/// assert_eq!(s[0].1, vec![256, 1024]);
/// ```
pub fn builtin_sample() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let normal = |seed: u64, n: usize| -> Vec<f64> { (0..n).map(|i| crate::rng::normal(seed, i as u64)).collect() };
    let (r, c) = (256usize, 1024usize);
    let n = r * c;
    let gauss: Vec<f32> = normal(1, n).iter().map(|&v| v as f32).collect();
    let weights: Vec<f32> = normal(2, n).iter().map(|&v| (0.02 * v) as f32).collect();
    let z = normal(3, 2 * n);
    // Student-t with 3 degrees of freedom: z / sqrt(chi2_3 / 3)
    let heavy: Vec<f32> = (0..n)
        .map(|i| {
            let (a, b, c2) = (z[n + i], z[(n + i * 7 + 1) % (2 * n)], z[(i * 13 + 5) % (2 * n)]);
            let chi = a * a + b * b + c2 * c2;
            (z[i] / (chi / 3.0).sqrt().max(1e-3)) as f32
        })
        .collect();
    let outliers: Vec<f32> = normal(5, n)
        .iter()
        .enumerate()
        .map(|(i, &v)| if (i % c) % 128 == 7 { (60.0 * v) as f32 } else { v as f32 })
        .collect();
    vec![
        ("sample/gaussian".into(), vec![r, c], gauss),
        ("sample/weights".into(), vec![r, c], weights),
        ("sample/heavy_tailed".into(), vec![r, c], heavy),
        ("sample/outlier_channels".into(), vec![r, c], outliers),
    ]
}
