//! OCP MX block quantization (MX v1.0 §5–6): blocks of `block` consecutive elements
//! of a row share one E8M0 scale `2^s`; each element is `x · 2^-s` rounded to the
//! element format.

use crate::Error;
use crate::convert::{CastOptions, InfPolicy, NanPolicy, Overflow, Rounding, decode_slice, encode_slice};
use crate::format::ElemFormat;
use crate::scale::{MxScaleRule, e8m0_to_f32, mx_scale_e8m0};

/// What a NaN inside a block does to the block's scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum BlockNan {
    /// The amax is NaN, so the scale is NaN (E8M0 `0xFF`) and the whole block
    /// dequantizes to NaN: OCP MX, torchao (`torch.amax`), microxcaling, gfloat.
    #[default]
    Propagate,
    /// NaN elements are left out of the amax (`fmaxf` reduction), so only they
    /// dequantize to NaN: TransformerEngine MXFP8.
    Ignore,
}

/// Options of an MX quantizer.
///
/// # Examples
/// ```
/// use lowp::{block::MxOptions, format::ElemFormat, scale::MxScaleRule};
/// let o = MxOptions::new(ElemFormat::E2M1FN);
/// assert_eq!((o.block, o.rule), (32, MxScaleRule::Floor));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MxOptions {
    /// Element format (e4m3fn, e5m2, e2m3fn, e3m2fn, e2m1fn).
    pub elem: ElemFormat,
    /// Elements per block along the last axis (32 in OCP MX; any size ≥ 1).
    pub block: usize,
    /// Scale rule.
    pub rule: MxScaleRule,
    /// NaN-in-block policy.
    pub nan: BlockNan,
    /// Element cast of `x · 2^-s`: saturating round-to-nearest-even by default
    /// (OCP MX §6.3 clamps normal values above the element max; torchao clamps
    /// before its cast).
    pub cast: CastOptions,
}

impl MxOptions {
    /// OCP defaults for `elem`: block 32, floor scale, NaN propagates, saturating RNE.
    pub fn new(elem: ElemFormat) -> Self {
        MxOptions {
            elem,
            block: 32,
            rule: MxScaleRule::Floor,
            nan: BlockNan::Propagate,
            cast: CastOptions {
                rounding: Rounding::NearestEven,
                overflow: Overflow::Saturate,
                inf: InfPolicy::Saturate,
                nan: NanPolicy::PositiveMax,
                ..CastOptions::default()
            },
        }
    }
}

/// An MX-quantized row-major matrix: one code per element, one E8M0 scale byte per
/// block. A last block shorter than `block` (ragged rows) takes its amax over its
/// real elements (the same as zero padding) and is stored without padding.
#[derive(Clone, Debug, PartialEq)]
pub struct MxTensor {
    /// The options it was made with.
    pub options: MxOptions,
    /// Rows.
    pub rows: usize,
    /// Columns (elements per row).
    pub cols: usize,
    /// Element codes, row-major, `rows × cols`.
    pub codes: Vec<u8>,
    /// Biased E8M0 scales (`2^(b-127)`, 255 = NaN), row-major `rows × ceil(cols/block)`.
    pub scales: Vec<u8>,
}

/// Quantizes a `rows × cols` row-major f32 matrix to MX.
///
/// # Errors
/// [`Error::Shape`] if `x.len() != rows * cols` or `block == 0`.
///
/// # Examples
/// ```
/// use lowp::{block::{quantize_mx, MxOptions}, format::ElemFormat};
/// let x: Vec<f32> = (0..64).map(|i| i as f32 / 8.0).collect();
/// let q = quantize_mx(&x, 2, 32, &MxOptions::new(ElemFormat::E4M3FN)).unwrap();
/// // floor rule: amax 3.875 -> 2^(1-8) (biased 120); amax 7.875 -> 2^(2-8)
/// assert_eq!(q.scales, vec![120, 121]);
/// let y = q.dequantize();
/// assert_eq!(y[8], 1.0);
/// assert_eq!(y[31], 3.5); // 3.875 · 2^7 = 496 saturates to 448 (OCP MX §6.3)
/// ```
pub fn quantize_mx(x: &[f32], rows: usize, cols: usize, o: &MxOptions) -> Result<MxTensor, Error> {
    super::check_matrix(x.len(), rows, cols, o.block, "MX")?;
    let nb = cols.div_ceil(o.block);
    let spec = o.elem.spec();
    let mut codes = vec![0u8; x.len()];
    let mut scales = vec![0u8; rows * nb];
    let mut buf = vec![0f32; o.block];
    for r in 0..rows {
        for b in 0..nb {
            let lo = r * cols + b * o.block;
            let hi = (lo + o.block).min(r * cols + cols);
            let block = &x[lo..hi];
            let s = mx_scale_e8m0(super::amax(block, o.nan), spec, o.rule);
            scales[r * nb + b] = s;
            // x · 2^(127 - s): exact in f32 unless the product is an f32 subnormal,
            // which every element format rounds to zero anyway
            let inv = if s == 255 { f32::NAN } else { crate::format::pow2(127 - s as i32) as f32 };
            let scaled = &mut buf[..block.len()];
            for (d, &v) in scaled.iter_mut().zip(block) {
                *d = v * inv;
            }
            encode_slice(o.elem, scaled, &mut codes[lo..hi], &o.cast)?;
        }
    }
    Ok(MxTensor { options: *o, rows, cols, codes, scales })
}

impl MxTensor {
    /// Dequantizes: `decode(code) · 2^(scale - 127)` in f32 (NaN for a NaN scale).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.codes.len()];
        // codes come from this crate's encoder, so they fit the format
        decode_slice(self.options.elem, &self.codes, &mut out).expect("valid codes");
        let nb = self.cols.div_ceil(self.options.block);
        for r in 0..self.rows {
            for (j, v) in out[r * self.cols..(r + 1) * self.cols].iter_mut().enumerate() {
                *v *= e8m0_to_f32(self.scales[r * nb + j / self.options.block]);
            }
        }
        out
    }
}
