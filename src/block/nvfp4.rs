//! NVFP4: E2M1 elements in blocks of 16 along the last axis, each block with an
//! unsigned E4M3 scale, optionally under an f32 per-tensor ("global") scale.
//!
//! So far the torchao 0.18 policy (`NVFP4Tensor.to_nvfp4`, eager path); the
//! TransformerEngine policy, 2-D blocks, the random Hadamard transform and
//! stochastic rounding are the next pieces.

use crate::Error;
use crate::convert::{CastOptions, Like, decode_f32, encode_f32, encode_slice};
use crate::format::ElemFormat;

/// Options of an NVFP4 quantizer.
///
/// # Examples
/// ```
/// use lowp::block::Nvfp4Options;
/// let o = Nvfp4Options::default();
/// assert_eq!((o.block, o.global_scale), (16, false));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Nvfp4Options {
    /// Elements per block (16 for NVFP4).
    pub block: usize,
    /// Use a per-tensor scale `amax(|x|) / (448·6)` (torchao `per_tensor_amax_to_scale`).
    pub global_scale: bool,
}

impl Default for Nvfp4Options {
    fn default() -> Self {
        Nvfp4Options { block: 16, global_scale: false }
    }
}

/// An NVFP4-quantized row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Nvfp4Tensor {
    /// The options it was made with.
    pub options: Nvfp4Options,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// E2M1 codes, one per element (low nibble), row-major.
    pub codes: Vec<u8>,
    /// E4M3 block-scale bytes (always non-negative), `rows × ceil(cols/block)`.
    pub scales: Vec<u8>,
    /// The per-tensor scale, when used.
    pub global_scale: Option<f32>,
}

/// Quantizes with torchao's NVFP4 recipe, bit for bit:
///
/// ```text
/// pts  = fl32(amax(|x|) / 2688)                         (with a global scale)
/// s8   = e4m3_rne(clamp(fl32(fl32(amax_b / 6) [/ pts]), 2^-6, 448))
/// data = fl32(x · fl32(1 / s8))        or  fl32(x · fl32(fl32(1 / pts) / s8))
/// code = e2m1_rne(clamp(data, ±6))
/// ```
///
/// Blocks whose scale clamps at 2^-6 (zero or tiny blocks) never get a zero or
/// subnormal E4M3 scale (torchao; TransformerEngine differs).
///
/// # Errors
/// [`Error::Shape`] if `x.len() != rows * cols` or `block == 0`.
///
/// # Examples
/// ```
/// use lowp::block::{quantize_nvfp4, Nvfp4Options};
/// let x = [6.0f32, 3.0, -1.5, 0.0];
/// let q = quantize_nvfp4(&x, 1, 4, &Nvfp4Options { block: 4, ..Default::default() }).unwrap();
/// assert_eq!(q.scales, vec![0x38]); // amax 6 -> scale 1.0
/// assert_eq!(q.dequantize(), vec![6.0, 3.0, -1.5, 0.0]);
/// ```
pub fn quantize_nvfp4(x: &[f32], rows: usize, cols: usize, o: &Nvfp4Options) -> Result<Nvfp4Tensor, Error> {
    super::check_matrix(x.len(), rows, cols, o.block, "NVFP4")?;
    let pts = o.global_scale.then(|| super::amax(x, super::BlockNan::Propagate) / (448.0 * 6.0));
    let e4m3 = Like::Torch.cast_options(ElemFormat::E4M3FN).expect("torch casts to e4m3fn");
    let fp4 = CastOptions::saturating();
    let nb = cols.div_ceil(o.block);
    let mut codes = vec![0u8; x.len()];
    let mut scales = vec![0u8; rows * nb];
    let mut buf = vec![0f32; o.block];
    for r in 0..rows {
        for b in 0..nb {
            let lo = r * cols + b * o.block;
            let hi = (lo + o.block).min(r * cols + cols);
            let block = &x[lo..hi];
            let bs = super::amax(block, super::BlockNan::Propagate) / 6.0;
            let bs = match pts {
                Some(p) => bs / p,
                None => bs,
            };
            // torch.clamp keeps NaN
            let clamped = if bs.is_nan() { bs } else { bs.clamp(2f32.powi(-6), 448.0) };
            let s8 = encode_f32(ElemFormat::E4M3FN, clamped, &e4m3, 0).0;
            scales[r * nb + b] = s8;
            let s = decode_f32(ElemFormat::E4M3FN, s8);
            let inv = match pts {
                Some(p) => (1.0 / p) / s,
                None => 1.0 / s,
            };
            let data = &mut buf[..block.len()];
            for (d, &v) in data.iter_mut().zip(block) {
                let y = v * inv;
                *d = if y.is_nan() { y } else { y.clamp(-6.0, 6.0) };
            }
            encode_slice(ElemFormat::E2M1FN, data, &mut codes[lo..hi], &fp4)?;
        }
    }
    Ok(Nvfp4Tensor { options: *o, rows, cols, codes, scales, global_scale: pts })
}

impl Nvfp4Tensor {
    /// Dequantizes as torchao does: `e2m1 · fl32(pts · s8)` (or `e2m1 · s8`).
    pub fn dequantize(&self) -> Vec<f32> {
        let nb = self.cols.div_ceil(self.options.block);
        let mut out = Vec::with_capacity(self.codes.len());
        for (i, &c) in self.codes.iter().enumerate() {
            let (r, j) = (i / self.cols, i % self.cols);
            let s = decode_f32(ElemFormat::E4M3FN, self.scales[r * nb + j / self.options.block]);
            let s = match self.global_scale {
                Some(p) => p * s,
                None => s,
            };
            out.push(decode_f32(ElemFormat::E2M1FN, c) * s);
        }
        out
    }
}
