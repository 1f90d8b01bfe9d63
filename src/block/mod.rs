//! Block-scaled quantization: OCP MX, NVFP4 and FP8 tile/row/tensor scaling, as
//! one [`Scheme`] type, one engine ([`quantize`]) and one result type
//! ([`QuantizedTensor`]).
//!
//! # Model
//! A tensor of any rank is viewed as a matrix: the blocked axis ([`Scheme::axis`],
//! the last by default) becomes the columns and every other axis, in order, the
//! rows. The matrix is cut into tiles of [`Tile`] rows × columns (`1×32` for MX,
//! `1×16` or `16×16` for NVFP4, `1×128` / `128×128` for FP8 blocks; `32×1` is the
//! column-wise MX tile). Each tile's largest magnitude (amax) gives its scale by the
//! scheme's rule, and every element is multiplied by the tile's encode factor and
//! rounded to the element format.
//!
//! **Ragged tensors**: a tile that overhangs the matrix (the last block of a row
//! shorter than the block) takes its amax over its real elements, which is the
//! same as zero padding, and is stored without padding: `codes` always has the
//! input's shape, and the scale grid is `ceil(rows/tile_rows) × ceil(cols/tile_cols)`.
//! Nothing is truncated. Empty tensors give empty codes and scales.
//!
//! **Zero blocks** get the smallest scale of their rule (MX: `2^-127` for FLOOR/CEIL/
//! EVEN/RCEIL; NVFP4 torchao: `2^-6`, TE: 0; FP8: from the amax floor, or 1 for TE with
//! no floor) and all-zero codes. **NaN in a block**: see [`BlockNan`]. **Inf in a
//! block**: see [`BlockInf`].
//!
//! # Schemes and their names
//! The names and `@key=value` options below are the spec grammar every command
//! uses ([`Scheme::from_str`](core::str::FromStr)):
//!
//! | name | elements | tile | scale |
//! |---|---|---|---|
//! | `mxfp8-e4m3`, `mxfp8-e5m2` | e4m3fn, e5m2 | 1×32 | E8M0 |
//! | `mxfp6-e2m3`, `mxfp6-e3m2` | e2m3fn, e3m2fn | 1×32 | E8M0 |
//! | `mxfp4` | e2m1fn | 1×32 | E8M0 |
//! | `mxint8` | int8 (k/64) | 1×32 | E8M0 |
//! | `nvfp4` | e2m1fn | 1×16 | UE4M3, optional f32 global scale |
//! | `fp8-block` | e4m3fn / e5m2 | 1×128 | f32, power of two, or UE8M0 |
//! | `fp8-row` | e4m3fn / e5m2 | one row | as fp8-block |
//! | `fp8-tensor` | e4m3fn / e5m2 | whole tensor | as fp8-block |
//!
//! Keys (each also a field of the option structs): `like` (a [`crate::convert::Like`] preset,
//! applied first), `block` (`32`, `1x128`, `16x16`, `32x1`), `axis`, `scale-rule`,
//! `nan` (`propagate`/`ignore`), `inf` (`saturate`/`nan`), `rounding`
//! (`rne`/`away`/`ties-zero`/`zero`/`up`/`down`/`sr`), `sr-bits`, `seed`,
//! `global-scale` (`on`/`off`/`row`: one per row of the blocked view, TE's row-scaled NVFP4),
//! `4over6` (`mae`/`mse`/`off`, [`FourOverSix`]), `4over6-max` (`256`/`448`), `rht-round` (`f32`/`bf16`),
//! `policy` (`torchao`/`te`/`torchao-training`), `rht` (`on`/`off`),
//! `rht-signs` (16 of `+`/`-`), `elem-nan` (`max`/`signed-max`/`zero`/`sign-flipped-zero`),
//! `neg-zero` (`plus`/`keep`, NVFP4), `elem`, `scale-format` (`f32`/`pow2`/`ue8m0`),
//! `formula` (`deepseek`/`deepseek-v1`/`te`), `amax-floor`, `amax` (fp8-tensor: scale
//! by this amax instead of the tensor's, TE's delayed scaling), `int8-range`
//! (`symmetric`/`full`).
//!
//! ```
//! use lowp::block::{quantize, Scheme};
//! let s: Scheme = "mxfp8-e4m3@scale-rule=rceil".parse().unwrap();
//! let x: Vec<f32> = (0..64).map(|i| i as f32 / 8.0).collect();
//! let q = quantize(&x, &[2, 32], &s).unwrap();
//! assert_eq!(q.scale_shape(), vec![2, 1]);
//! let y = q.dequantize();
//! assert_eq!(y[8], 1.0);
//! ```
//!
//! # Presets
//! [`Scheme::like`] sets every knob of a scheme to reproduce one reference's
//! quantizer: `torchao` (0.18 `to_mx`, `NVFP4Tensor`), `te` (TransformerEngine
//! MXFP8, NVFP4, Float8Current/BlockScaling; NVFP4 and current scaling are
//! checked bit for bit against TE's own PyTorch reference quantizers, whose
//! element cast maps NaN and a scaled −0.0 to code 0), `deepgemm` (DeepGEMM FP8 tiles),
//! `microxcaling` (MX with round-half-away) and `ocp` (the MX v1.0 spec text).
//! Where a reference has a bug lowp stays correct and the preset's docs list
//! the difference.

mod engine;
mod fp8;
mod hadamard;
mod mx;
#[cfg(feature = "ndarray")]
mod nd;
mod nvfp4;
mod plan;
mod spec;
mod tensor;

pub use engine::{global_amax, global_amaxes, quantize, quantize_into};
pub use fp8::{Fp8Formula, Fp8Granularity, Fp8Options, Fp8ScaleFormat};
pub use hadamard::{TE_RHT_SIGNS, rht16, rht16_inverse};
pub use mx::{BlockInf, BlockNan, Int8Range, MxElem, MxOptions};
pub use nvfp4::{FourOverSix, Nvfp4Options, Nvfp4Policy};
pub(crate) use plan::{dequant_factor, transpose};
pub use tensor::{QuantizedTensor, Scales};

use crate::convert::Rounding;

/// A tile shape in the matrix view: `rows` along the non-blocked axes (flattened),
/// `cols` along the blocked axis.
///
/// # Examples
/// ```
/// use lowp::block::Tile;
/// assert_eq!("32".parse::<Tile>().unwrap(), Tile::new(1, 32));
/// assert_eq!("16x16".parse::<Tile>().unwrap(), Tile::new(16, 16));
/// assert_eq!(Tile::new(32, 1).to_string(), "32x1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tile {
    /// Rows per tile.
    pub rows: usize,
    /// Elements per tile along the blocked axis.
    pub cols: usize,
}

impl Tile {
    /// A `rows × cols` tile.
    pub const fn new(rows: usize, cols: usize) -> Tile {
        Tile { rows, cols }
    }
}

impl core::fmt::Display for Tile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}x{}", self.rows, self.cols)
    }
}

impl core::str::FromStr for Tile {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Tile, crate::Error> {
        let bad = || crate::Error::InvalidOption(format!("bad block '{s}' (expected N or RxC, e.g. 32, 1x128, 16x16)"));
        let num = |t: &str| t.trim().parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(bad);
        match s.split_once(['x', 'X']) {
            Some((r, c)) => Ok(Tile::new(num(r)?, num(c)?)),
            None => Ok(Tile::new(1, num(s)?)),
        }
    }
}

/// The scheme family and its own options.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SchemeKind {
    /// OCP MX: E8M0 scale per block.
    Mx(MxOptions),
    /// NVFP4: E2M1 elements, UE4M3 block scales, optional global scale.
    Nvfp4(Nvfp4Options),
    /// FP8 elements with f32 / power-of-two scales per tile, row or tensor.
    Fp8(Fp8Options),
}

/// A complete quantization recipe: family options, tile, blocked axis and the
/// element rounding. Parse one from the spec grammar (see the module docs) or
/// build it from the constructors.
///
/// # Examples
/// ```
/// use lowp::block::{Scheme, SchemeKind, Tile};
/// let s: Scheme = "nvfp4@like=te@block=16x16".parse().unwrap();
/// assert_eq!(s.tile, Tile::new(16, 16));
/// assert!(matches!(s.kind, SchemeKind::Nvfp4(_)));
/// assert_eq!(s.name(), "nvfp4");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scheme {
    /// Family and family options.
    pub kind: SchemeKind,
    /// Tile shape (ignored by `fp8-row` / `fp8-tensor`, whose tile is the row / tensor).
    pub tile: Tile,
    /// Blocked axis; negative counts from the end (default −1, the last axis).
    pub axis: isize,
    /// Rounding of the elements (RNE by default; [`Rounding::Stochastic`] draws
    /// its bits from [`crate::rng::random_bits`]`(seed, i)` with `i` the element's
    /// index in the axis-last view).
    pub rounding: Rounding,
    /// Seed of the stochastic-rounding bits.
    pub seed: u64,
    /// The reference preset the knobs started from (`like=`), if any: under it a
    /// rule name means that reference's rule ([`Scheme::like`]).
    pub preset: Option<crate::convert::Like>,
}

impl Scheme {
    /// The OCP MX scheme for an element type, with the OCP defaults (block 32, FLOOR).
    pub fn mx(elem: MxElem) -> Scheme {
        Scheme::with(SchemeKind::Mx(MxOptions::new(elem)), Tile::new(1, 32))
    }
    /// NVFP4 with the torchao policy and no global scale.
    pub fn nvfp4() -> Scheme {
        Scheme::with(SchemeKind::Nvfp4(Nvfp4Options::default()), Tile::new(1, 16))
    }
    /// FP8 with DeepGEMM's defaults for the given granularity (1×128 tiles for `Block`).
    pub fn fp8(granularity: Fp8Granularity) -> Scheme {
        Scheme::with(SchemeKind::Fp8(Fp8Options::deepgemm(granularity)), Tile::new(1, 128))
    }
    fn with(kind: SchemeKind, tile: Tile) -> Scheme {
        Scheme { kind, tile, axis: -1, rounding: Rounding::NearestEven, seed: 0, preset: None }
    }
    /// The scheme's name in the spec grammar (`mxfp8-e4m3`, `nvfp4`, `fp8-block`, …).
    pub fn name(&self) -> &'static str {
        match self.kind {
            SchemeKind::Mx(o) => o.elem.scheme_name(),
            SchemeKind::Nvfp4(_) => "nvfp4",
            SchemeKind::Fp8(o) => o.granularity.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amax_bits_equals_float_fold() {
        let specials =
            [0.0f32, -0.0, 1.0, -3.5, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN, 1e-45, f32::MAX];
        for n in 0..4 {
            let mut idx = vec![0usize; n];
            loop {
                let block: Vec<f32> = idx.iter().map(|&i| specials[i]).collect();
                let slow_p =
                    block.iter().fold(0f32, |m, v| if m.is_nan() || v.is_nan() { f32::NAN } else { m.max(v.abs()) });
                let slow_i = block.iter().fold(0f32, |m, v| if v.is_nan() { m } else { m.max(v.abs()) });
                let (p, i) = (engine::amax_of(&block, false), engine::amax_of(&block, true));
                assert!(p.to_bits() == slow_p.to_bits() || (p.is_nan() && slow_p.is_nan()), "{block:?}");
                assert_eq!(i.to_bits(), slow_i.to_bits(), "{block:?}");
                let mut k = 0;
                while k < n && idx[k] + 1 == specials.len() {
                    idx[k] = 0;
                    k += 1;
                }
                if k == n {
                    break;
                }
                idx[k] += 1;
            }
        }
    }
}
