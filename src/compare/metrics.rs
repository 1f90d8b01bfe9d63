//! The numbers of a `lowp compare` row: the error metrics of one scheme on one
//! tensor ([`Metrics`], [`measure`]), and the statistics of the tensor itself
//! that explain them ([`Stats`], [`stats`]).

use crate::block::QuantizedTensor;

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

/// The metrics of quantizing `x` to `q` (`q = quantize(x, …)`, or of `x` with
/// its non-finite elements zeroed: they are left out of every sum and counted
/// in `nonfinite`, whatever `q` holds there).
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
    let mut m = accumulate(x, &y, |i, a, b| {
        // without the clamp to the element format's max it would have rounded past it
        let sat = a.abs() >= b.abs() * clip_ratio && b != 0.0 && q.elem_value(i).abs() == elem_max;
        if sat {
            clipped[tiles[i] as usize] = true;
        }
        sat
    });
    m.blocks = q.num_blocks() as u64;
    m.clipped_blocks = clipped.iter().filter(|&&c| c).count() as u64;
    m.bits = q.bits_per_element() * x.len() as f64;
    m
}

/// The metrics of any approximation `y` of `x` stored in `bits_per_element`
/// bits (a checkpoint's stored weight against its master copy): as [`measure`]
/// without what needs the quantized codes (saturated elements, blocks).
///
/// # Examples
/// ```
/// use lowp::compare::measure_values;
/// let m = measure_values(&[1.0, 2.0, 0.5], &[1.0, 2.0, 0.0], 4.5);
/// assert_eq!((m.flushed, m.max_abs_err, m.bits_per_element()), (1, 0.5, 4.5));
/// ```
pub fn measure_values(x: &[f32], y: &[f32], bits_per_element: f64) -> Metrics {
    let mut m = accumulate(x, y, |_, _, _| false);
    m.bits = bits_per_element * x.len() as f64;
    m
}

/// The sums, maxima, flushed and saturated counts and histogram over the finite
/// elements of `x` (`saturated(i, x, y)` says whether element `i` was clipped).
fn accumulate(x: &[f32], y: &[f32], mut saturated: impl FnMut(usize, f64, f64) -> bool) -> Metrics {
    let (n, ss) = x.iter().filter(|v| v.is_finite()).fold((0u64, 0f64), |(n, s), &v| (n + 1, s + v as f64 * v as f64));
    let rms = (ss / n.max(1) as f64).sqrt();
    let mut m = Metrics { hist: vec![0; HIST_BINS], ..Default::default() };
    for (i, (&xv, &yv)) in x.iter().zip(y).enumerate() {
        if !xv.is_finite() {
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
        if saturated(i, a, b) {
            m.saturated += 1;
        }
        let bin = if e == 0.0 || rms == 0.0 {
            0
        } else {
            ((e / rms).log2().floor() as i64 - HIST_LO as i64).clamp(0, HIST_BINS as i64 - 1) as usize
        };
        m.hist[bin] += 1;
    }
    m
}

/// What a tensor's values look like, over its finite elements: the quantities
/// that explain why a scheme does well or badly on it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Finite elements.
    pub elements: u64,
    /// NaN and ±Inf elements (left out of everything else).
    pub nonfinite: u64,
    /// max |x|.
    pub amax: f64,
    /// sqrt(mean x²).
    pub rms: f64,
    /// Pearson's kurtosis `m4 / m2²` about the mean (3 for a Gaussian; large
    /// for heavy tails, which a block scale set by the amax serves badly); NaN
    /// for a constant tensor.
    pub kurtosis: f64,
    /// Elements more than 6 standard deviations from the mean (a Gaussian of a
    /// billion elements has about 2).
    pub outliers: u64,
}

/// The [`Stats`] of `x`, in f64.
///
/// # Examples
/// ```
/// use lowp::compare::stats;
/// let mut x = vec![1.0f32, -1.0].repeat(500);
/// x.push(100.0);
/// x.push(f32::NAN);
/// let s = stats(&x);
/// assert_eq!((s.elements, s.nonfinite, s.amax, s.outliers), (1001, 1, 100.0, 1));
/// assert!((s.kurtosis - 825.479).abs() < 1e-3); // numpy: ((x-m)**4).mean() / ((x-m)**2).mean()**2
/// ```
pub fn stats(x: &[f32]) -> Stats {
    let finite = || x.iter().filter(|v| v.is_finite()).map(|&v| v as f64);
    let n = finite().count() as u64;
    let mut s = Stats { elements: n, nonfinite: x.len() as u64 - n, ..Default::default() };
    if n == 0 {
        s.kurtosis = f64::NAN;
        return s;
    }
    let nf = n as f64;
    let mean = finite().sum::<f64>() / nf;
    let (mut m2, mut m4, mut ss) = (0f64, 0f64, 0f64);
    for v in finite() {
        let d = v - mean;
        m2 += d * d;
        m4 += d * d * d * d;
        ss += v * v;
        s.amax = s.amax.max(v.abs());
    }
    let (m2, m4) = (m2 / nf, m4 / nf);
    s.rms = (ss / nf).sqrt();
    s.kurtosis = if m2 > 0.0 { m4 / (m2 * m2) } else { f64::NAN };
    let limit = 6.0 * m2.sqrt();
    s.outliers = if m2 > 0.0 { finite().filter(|v| (v - mean).abs() > limit).count() as u64 } else { 0 };
    s
}
