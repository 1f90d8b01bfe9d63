//! FP8 with f32 (or power-of-two) scales per tile: DeepSeek-V3 / DeepGEMM 1×128
//! activation tiles and 128×128 weight tiles, or any tile shape (a whole row is
//! per-row scaling, the whole matrix per-tensor scaling).
//!
//! So far the DeepSeek/DeepGEMM formulas; TransformerEngine's `448/amax` formula
//! (stored reciprocal, pow2 truncation) is the next piece.

use crate::Error;
use crate::convert::{Like, decode_f32, encode_slice};
use crate::format::ElemFormat;

/// How a tile's scale and codes are computed from its amax (after the amax floor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Fp8Formula {
    /// DeepGEMM's first test utilities (Feb 2025), written `x * (448.0 / amax)` and
    /// stored scale `amax / 448`. PyTorch evaluates `scalar / tensor` as
    /// `tensor.reciprocal() * scalar` (`Tensor.__rtruediv__`), so the multiplier is
    /// `fl32(fl32(1/amax) · max)`, not `fl32(max/amax)`: the two differ in 76 of
    /// 131072 codes of the golden `extreme` set. lowp reproduces the former.
    DeepSeekV1,
    /// `deep_gemm/utils/math.py`: `sf = fl32(amax / max)`, `q = fp8(x · fl32(1 / sf))`,
    /// stored scale `sf`. With [`Fp8ScaleFormat::Ue8m0`], `sf` is first rounded up to
    /// a power of two (`ceil_to_ue8m0`, exponent clamped to [1, 254]).
    #[default]
    DeepSeekV2,
}

/// How the stored scale is represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Fp8ScaleFormat {
    /// Any f32.
    #[default]
    F32,
    /// A power of two, rounded up from the f32 scale (DeepGEMM `use_ue8m0`, SM100).
    Ue8m0,
}

/// Options of a tile-scaled FP8 quantizer.
///
/// # Examples
/// ```
/// use lowp::block::Fp8BlockOptions;
/// let act = Fp8BlockOptions::deepseek_activations();
/// assert_eq!((act.tile_rows, act.tile_cols, act.amax_floor), (1, 128, 1e-4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fp8BlockOptions {
    /// Element format (e4m3fn or e5m2).
    pub elem: ElemFormat,
    /// Tile height (1 for activations, 128 for weights).
    pub tile_rows: usize,
    /// Tile width along the last axis.
    pub tile_cols: usize,
    /// The tile scale and code formula.
    pub formula: Fp8Formula,
    /// Scale representation.
    pub scale_format: Fp8ScaleFormat,
    /// Lower bound on the tile amax (DeepGEMM and DeepSeek-V3.2: 1e-4; 0 for none).
    pub amax_floor: f32,
}

impl Fp8BlockOptions {
    /// DeepGEMM 1×128 activation tiles, e4m3fn, formula v2, f32 scales, amax ≥ 1e-4.
    pub fn deepseek_activations() -> Self {
        Fp8BlockOptions {
            elem: ElemFormat::E4M3FN,
            tile_rows: 1,
            tile_cols: 128,
            formula: Fp8Formula::DeepSeekV2,
            scale_format: Fp8ScaleFormat::F32,
            amax_floor: 1e-4,
        }
    }
    /// DeepGEMM 128×128 weight tiles (otherwise as [`Self::deepseek_activations`]).
    pub fn deepseek_weights() -> Self {
        Fp8BlockOptions { tile_rows: 128, ..Self::deepseek_activations() }
    }
}

/// A tile-scaled FP8 matrix. Tiles that overhang the matrix (ragged edges) take
/// their amax over the real elements (the same as zero padding) and store no padding.
#[derive(Clone, Debug, PartialEq)]
pub struct Fp8BlockTensor {
    /// The options it was made with.
    pub options: Fp8BlockOptions,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Element codes, row-major.
    pub codes: Vec<u8>,
    /// Dequantization scales, row-major over the tile grid
    /// `ceil(rows/tile_rows) × ceil(cols/tile_cols)`: `x ≈ decode(code) · scale`.
    pub scales: Vec<f32>,
}

/// Rounds a positive f32 up to a power of two through its exponent bits, exponent
/// clamped to [1, 254] (DeepGEMM `ceil_to_ue8m0`).
fn ceil_to_ue8m0(sf: f32) -> f32 {
    let b = sf.to_bits();
    let e = ((b >> 23) & 0xFF) as i32 + (b & 0x7F_FFFF != 0) as i32;
    f32::from_bits((e.clamp(1, 254) as u32) << 23)
}

/// Quantizes a `rows × cols` row-major matrix with one scale per tile.
///
/// # Errors
/// [`Error::Shape`] if `x.len() != rows * cols` or a tile dimension is 0.
///
/// # Examples
/// ```
/// use lowp::block::{quantize_fp8_block, Fp8BlockOptions};
/// let x: Vec<f32> = (0..256).map(|i| (i as f32 - 128.0) / 16.0).collect();
/// let q = quantize_fp8_block(&x, 1, 256, &Fp8BlockOptions::deepseek_activations()).unwrap();
/// assert_eq!(q.scales, vec![8.0 / 448.0, 7.9375 / 448.0]);
/// let y = q.dequantize();
/// assert!((y[0] + 8.0).abs() < 1e-6);
/// ```
pub fn quantize_fp8_block(x: &[f32], rows: usize, cols: usize, o: &Fp8BlockOptions) -> Result<Fp8BlockTensor, Error> {
    super::check_matrix(x.len(), rows, cols, o.tile_rows.min(o.tile_cols), "FP8 tile")?;
    let cast = Like::Torch.cast_options(o.elem)?;
    let max = o.elem.spec().max_finite() as f32;
    let (gr, gc) = (rows.div_ceil(o.tile_rows), cols.div_ceil(o.tile_cols));
    let mut codes = vec![0u8; x.len()];
    let mut scales = vec![0f32; gr * gc];
    let mut buf = vec![0f32; o.tile_cols];
    for tr in 0..gr {
        for tc in 0..gc {
            let (r0, r1) = (tr * o.tile_rows, ((tr + 1) * o.tile_rows).min(rows));
            let (c0, c1) = (tc * o.tile_cols, ((tc + 1) * o.tile_cols).min(cols));
            let amax = (r0..r1)
                .map(|r| super::amax(&x[r * cols + c0..r * cols + c1], super::BlockNan::Propagate))
                .fold(0f32, |m, a| if m.is_nan() || a.is_nan() { f32::NAN } else { m.max(a) });
            let amax = if amax.is_nan() { amax } else { amax.max(o.amax_floor) };
            let (mult, scale) = match (o.formula, o.scale_format) {
                (Fp8Formula::DeepSeekV1, _) => ((1.0 / amax) * max, amax / max),
                (Fp8Formula::DeepSeekV2, Fp8ScaleFormat::F32) => {
                    let sf = amax / max;
                    (1.0 / sf, sf)
                }
                (Fp8Formula::DeepSeekV2, Fp8ScaleFormat::Ue8m0) => {
                    let sf = ceil_to_ue8m0(amax / max);
                    (1.0 / sf, sf)
                }
            };
            scales[tr * gc + tc] = scale;
            for r in r0..r1 {
                let row = &x[r * cols + c0..r * cols + c1];
                let data = &mut buf[..row.len()];
                for (d, &v) in data.iter_mut().zip(row) {
                    *d = v * mult;
                }
                encode_slice(o.elem, data, &mut codes[r * cols + c0..r * cols + c1], &cast)?;
            }
        }
    }
    Ok(Fp8BlockTensor { options: *o, rows, cols, codes, scales })
}

impl Fp8BlockTensor {
    /// Dequantizes: `decode(code) · scale` in f32.
    pub fn dequantize(&self) -> Vec<f32> {
        let gc = self.cols.div_ceil(self.options.tile_cols);
        (0..self.codes.len())
            .map(|i| {
                let (r, c) = (i / self.cols, i % self.cols);
                let s = self.scales[(r / self.options.tile_rows) * gc + c / self.options.tile_cols];
                decode_f32(self.options.elem, self.codes[i]) * s
            })
            .collect()
    }
}
