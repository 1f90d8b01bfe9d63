//! Format comparison: how much each scheme loses on a tensor.
//!
//! [`measure`] computes, in f64, from the input `x` and the dequantized `y`:
//! SQNR `10·log10(Σx² / Σ(y−x)²)` dB, MSE, max |y−x|, max |y−x|/|x| over nonzero
//! inputs, elements *saturated* (the code is the element format's max magnitude
//! and |x| ≥ |y|·(max + ulp/2)/max: without the clamp they would have rounded
//! past the max, so the block scale clipped them), *flushed* (x ≠ 0, y = 0),
//! *clipped blocks* (blocks with a saturated element), and storage bits per
//! element. Non-finite inputs are left out of every sum and counted apart.
//! [`Metrics::merge`] aggregates tensors (sums, maxima), so a checkpoint's SQNR
//! is its total signal over its total error.

use crate::Error;
use crate::block::{QuantizedTensor, Scheme, quantize};
use crate::io::checkpoint::{TensorRef, glob_match, list_tensors};
use std::borrow::Cow;
use std::path::PathBuf;

/// Bins of the error histogram: `log2(|y−x| / rms(x))` in `[HIST_LO, HIST_LO + HIST_BINS)`,
/// one bin per binade; exact zeros and values outside go to the end bins.
pub const HIST_LO: i32 = -40;
/// Number of histogram bins.
pub const HIST_BINS: usize = 48;

/// The error metrics of one tensor (or an aggregate of several).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Finite elements measured.
    pub elements: u64,
    /// Non-finite inputs (left out of the sums).
    pub nonfinite: u64,
    /// Σx².
    pub signal: f64,
    /// Σ(y−x)².
    pub error: f64,
    /// max |y−x|.
    pub max_abs_err: f64,
    /// max |y−x|/|x| over nonzero x.
    pub max_rel_err: f64,
    /// Elements clipped by their block's scale.
    pub saturated: u64,
    /// Nonzero inputs that became zero.
    pub flushed: u64,
    /// Blocks with at least one saturated element.
    pub clipped_blocks: u64,
    /// Blocks.
    pub blocks: u64,
    /// Storage bits (codes, scales, global scale).
    pub bits: f64,
    /// Histogram of `log2(|y−x| / rms(x))` per binade (bin 0: exact or below range).
    pub hist: Vec<u64>,
}

impl Metrics {
    /// SQNR in dB (+∞ when there is no error, NaN for an all-zero signal with error).
    pub fn sqnr_db(&self) -> f64 {
        if self.error == 0.0 {
            // exact reconstruction (an all-zero tensor included): +Inf dB
            return f64::INFINITY;
        }
        10.0 * (self.signal / self.error).log10()
    }
    /// Mean squared error.
    pub fn mse(&self) -> f64 {
        self.error / self.elements.max(1) as f64
    }
    /// Storage bits per element.
    pub fn bits_per_element(&self) -> f64 {
        self.bits / (self.elements + self.nonfinite).max(1) as f64
    }
    /// Adds another tensor's metrics (sums and maxima).
    pub fn merge(&mut self, o: &Metrics) {
        self.elements += o.elements;
        self.nonfinite += o.nonfinite;
        self.signal += o.signal;
        self.error += o.error;
        self.max_abs_err = self.max_abs_err.max(o.max_abs_err);
        self.max_rel_err = self.max_rel_err.max(o.max_rel_err);
        self.saturated += o.saturated;
        self.flushed += o.flushed;
        self.clipped_blocks += o.clipped_blocks;
        self.blocks += o.blocks;
        self.bits += o.bits;
        if self.hist.len() < HIST_BINS {
            self.hist.resize(HIST_BINS, 0);
        }
        for (a, b) in self.hist.iter_mut().zip(&o.hist) {
            *a += b;
        }
    }
}

/// The metrics of quantizing `x` to `q` (`q = quantize(x, …)`).
///
/// # Examples
/// ```
/// use lowp::{block::{quantize, Scheme}, compare::measure};
/// let x: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
/// let q = quantize(&x, &[64], &"mxfp8-e4m3".parse::<Scheme>().unwrap()).unwrap();
/// let m = measure(&x, &q);
/// // 22.6 dB: the FLOOR scale clips the elements of each block near its amax
/// assert!(m.sqnr_db() > 20.0 && m.sqnr_db() < 25.0);
/// assert!(m.saturated > 0);
/// assert_eq!((m.elements, m.blocks, m.bits_per_element()), (64, 2, 8.25));
/// ```
pub fn measure(x: &[f32], q: &QuantizedTensor) -> Metrics {
    let y = q.dequantize();
    let tiles = q.block_indices();
    let mut clipped = vec![false; q.num_blocks()];
    let elem_max = q.elem_max();
    let clip_ratio = (elem_max as f64 + q.elem_ulp_at_max() as f64 / 2.0) / elem_max as f64;
    let mut m = Metrics { hist: vec![0; HIST_BINS], blocks: q.num_blocks() as u64, ..Default::default() };
    let finite: Vec<bool> = x.iter().map(|v| v.is_finite()).collect();
    let (n, ss) = x
        .iter()
        .zip(&finite)
        .filter(|(_, f)| **f)
        .fold((0u64, 0f64), |(n, s), (&v, _)| (n + 1, s + v as f64 * v as f64));
    let rms = (ss / n.max(1) as f64).sqrt();
    for (i, (&xv, &yv)) in x.iter().zip(&y).enumerate() {
        if !finite[i] {
            m.nonfinite += 1;
            continue;
        }
        let (a, b) = (xv as f64, yv as f64);
        let e = (b - a).abs();
        m.elements += 1;
        m.signal += a * a;
        m.error += e * e;
        m.max_abs_err = m.max_abs_err.max(e);
        if a != 0.0 {
            m.max_rel_err = m.max_rel_err.max(e / a.abs());
            if b == 0.0 {
                m.flushed += 1;
            }
        }
        if a.abs() >= b.abs() * clip_ratio && b != 0.0 && q.elem_value(i).abs() == elem_max {
            m.saturated += 1;
            clipped[tiles[i] as usize] = true;
        }
        let bin = if e == 0.0 || rms == 0.0 {
            0
        } else {
            ((e / rms).log2().floor() as i64 - HIST_LO as i64).clamp(0, HIST_BINS as i64 - 1) as usize
        };
        m.hist[bin] += 1;
    }
    m.clipped_blocks = clipped.iter().filter(|&&c| c).count() as u64;
    m.bits = q.bits_per_element() * x.len() as f64;
    m
}

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
    /// The scheme spec exactly as given.
    pub scheme: String,
    /// Its metrics.
    pub metrics: Metrics,
}

/// Quantizes `x` with each scheme and measures it.
///
/// # Errors
/// [`Error::Shape`] from [`quantize`] (e.g. an RHT scheme on a length not divisible by 16).
pub fn compare_tensor(name: &str, shape: &[usize], x: &[f32], schemes: &[(String, Scheme)]) -> Result<Vec<Row>, Error> {
    if x.is_empty() {
        return Err(Error::Shape(format!("tensor '{name}' is empty")));
    }
    schemes
        .iter()
        .map(|(spec, s)| {
            let q = quantize(x, shape, s).map_err(|e| Error::Shape(format!("tensor '{name}', scheme {spec}: {e}")))?;
            Ok(Row { tensor: name.to_string(), scheme: spec.clone(), metrics: measure(x, &q) })
        })
        .collect()
}

/// A tensor to compare: in a file (loaded when it is compared, so a checkpoint
/// larger than memory is compared in bounded memory) or in memory.
#[derive(Clone, Debug)]
pub enum Source<'a> {
    /// A tensor of a `.npy` / `.npz` / `.safetensors` file.
    File(TensorRef),
    /// A tensor in memory (an array handed over by Python, the built-in sample).
    Memory {
        /// Its name in the rows.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Its values, row-major.
        data: Cow<'a, [f32]>,
    },
}

impl Source<'_> {
    /// The tensor's name.
    pub fn name(&self) -> &str {
        match self {
            Source::File(t) => &t.name,
            Source::Memory { name, .. } => name,
        }
    }
}

/// The tensors of `files` (every file listed, none loaded), and an error for
/// each file that could not be listed.
pub fn file_sources(files: &[PathBuf]) -> (Vec<Source<'static>>, Vec<Error>) {
    let (mut sources, mut errors) = (Vec::new(), Vec::new());
    for f in files {
        match list_tensors(f) {
            Ok(ts) => sources.extend(ts.into_iter().map(Source::File)),
            Err(e) => errors.push(e),
        }
    }
    (sources, errors)
}

/// The sources a comparison keeps: with `skip_non_float`, file tensors of a
/// dtype lowp does not read as floats (integer buffers) are dropped and `note`
/// is told each name and dtype; with `glob`, only names matching it (`*`, `?`).
///
/// # Errors
/// A glob that matches nothing, or nothing left to compare.
pub fn select<'a>(
    mut sources: Vec<Source<'a>>,
    glob: Option<&str>,
    skip_non_float: bool,
    note: &mut dyn FnMut(&str, &str),
) -> Result<Vec<Source<'a>>, Error> {
    if skip_non_float {
        sources.retain(|s| match s {
            Source::File(t) if !t.is_readable_float() => {
                note(&t.name, &t.declared_dtype().map(|d| d.to_string()).unwrap_or("?".into()));
                false
            }
            _ => true,
        });
    }
    if let Some(g) = glob {
        sources.retain(|s| glob_match(g, s.name()));
        if sources.is_empty() {
            return Err(Error::InvalidOption(format!("no tensor matches --tensors '{g}'")));
        }
    }
    if sources.is_empty() {
        return Err(Error::Io("no tensors to compare".into()));
    }
    Ok(sources)
}

/// Every source under every scheme, tensors in parallel (rayon; a file tensor is
/// loaded by the worker that compares it), one result per source in order;
/// `progress` is called after each.
///
/// # Examples
/// ```
/// use lowp::compare::{Source, compare_sources};
/// let src = [Source::Memory { name: "x".into(), shape: vec![32], data: vec![1.0f32; 32].into() }];
/// let s = vec![("mxfp4".to_string(), "mxfp4".parse().unwrap())];
/// let rows = compare_sources(&src, &s, &|| {});
/// assert_eq!(rows[0].as_ref().unwrap()[0].metrics.sqnr_db(), f64::INFINITY);
/// ```
pub fn compare_sources(
    sources: &[Source<'_>],
    schemes: &[(String, Scheme)],
    progress: &(dyn Fn() + Sync),
) -> Vec<Result<Vec<Row>, Error>> {
    use rayon::prelude::*;
    sources
        .par_iter()
        .map(|s| {
            // a load error names the file and tensor already
            let r = match s {
                Source::File(t) => t.load().and_then(|(shape, x)| {
                    compare_tensor(&t.name, &shape, &x, schemes)
                        .map_err(|e| Error::Io(format!("{}: tensor '{}': {e}", t.file.display(), t.name)))
                }),
                Source::Memory { name, shape, data } => compare_tensor(name, shape, data, schemes),
            };
            progress();
            r
        })
        .collect()
}

/// The `(all)` rows of a comparison of several tensors: per scheme, the merge
/// ([`Metrics::merge`]) of its rows, in the order of `specs`; none for one tensor.
/// `lowp compare` and Python's `lowp.compare` both append them.
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
    // one row per tensor and scheme: more rows than schemes means several tensors
    if rows.len() <= specs.len() {
        return Vec::new();
    }
    specs
        .iter()
        .map(|spec| {
            let mut m = Metrics::default();
            rows.iter().filter(|r| &r.scheme == spec).for_each(|r| m.merge(&r.metrics));
            Row { tensor: "(all)".into(), scheme: spec.clone(), metrics: m }
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
