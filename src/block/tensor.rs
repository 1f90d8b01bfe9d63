//! The quantized tensor: codes, scales, global scale, shape and scheme.

use super::Scheme;
use super::plan::Plan;
use crate::Error;

/// Block scales, in the representation the scheme stores.
#[derive(Clone, Debug, PartialEq)]
pub enum Scales {
    /// Biased E8M0 bytes (`2^(b-127)`, 255 = NaN): MX, FP8 with `scale-format=ue8m0`.
    E8m0(Vec<u8>),
    /// Unsigned E4M3 bytes (the e4m3fn bit pattern, sign 0): NVFP4.
    Ue4m3(Vec<u8>),
    /// f32 dequantization scales: FP8 with `f32` or `pow2` scales.
    F32(Vec<f32>),
}

impl Scales {
    /// Byte scales as `scheme` stores them: UE4M3 for NVFP4, E8M0 otherwise (MX,
    /// FP8 with `scale-format=ue8m0`), as `lowp quantize` writes `scales.npy`.
    ///
    /// # Examples
    /// ```
    /// use lowp::block::Scales;
    /// assert_eq!(Scales::from_bytes(&"nvfp4".parse().unwrap(), vec![0x38]), Scales::Ue4m3(vec![0x38]));
    /// assert_eq!(Scales::from_bytes(&"mxfp4".parse().unwrap(), vec![127]), Scales::E8m0(vec![127]));
    /// ```
    pub fn from_bytes(scheme: &Scheme, v: Vec<u8>) -> Scales {
        match scheme.kind {
            super::SchemeKind::Nvfp4(_) => Scales::Ue4m3(v),
            _ => Scales::E8m0(v),
        }
    }

    /// Number of scales.
    pub fn len(&self) -> usize {
        match self {
            Scales::E8m0(v) | Scales::Ue4m3(v) => v.len(),
            Scales::F32(v) => v.len(),
        }
    }
    /// True when there are no scales (an empty tensor).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The value of scale `i` as f32 (NaN for E8M0 255).
    ///
    /// # Examples
    /// ```
    /// use lowp::block::Scales;
    /// assert_eq!(Scales::E8m0(vec![128]).value(0), 2.0);
    /// assert_eq!(Scales::Ue4m3(vec![0x38]).value(0), 1.0);
    /// ```
    pub fn value(&self, i: usize) -> f32 {
        use crate::{convert::decode_f32, format::ElemFormat};
        match self {
            Scales::E8m0(v) => decode_f32(ElemFormat::E8M0FNU, v[i]),
            Scales::Ue4m3(v) => decode_f32(ElemFormat::E4M3FN, v[i]),
            Scales::F32(v) => v[i],
        }
    }
    /// The bytes, when the scales are stored as bytes.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Scales::E8m0(v) | Scales::Ue4m3(v) => Some(v),
            Scales::F32(_) => None,
        }
    }
    /// Bits per stored scale.
    pub fn bits(&self) -> usize {
        match self {
            Scales::F32(_) => 32,
            _ => 8,
        }
    }
}

/// A block-quantized tensor. Its parts always fit together: it is made by
/// [`super::quantize`] or by [`QuantizedTensor::from_parts`], which checks them, and
/// it has no public fields, so every reader (dequantize, error bounds, kernel
/// layouts, the GEMM operands) can rely on them.
///
/// `codes` has the input's shape and order (one code per element in the low bits:
/// FP4/FP6 unpacked, MXINT8 as the two's-complement byte). `scales` is the block
/// grid: the input shape with the blocked axis replaced by its block count for
/// 1×N tiles (`32×1` tiles on a 2-D tensor: `[ceil(rows/32), cols]`), else the 2-D
/// grid `[ceil(rows/tile_rows), ceil(cols/tile_cols)]` of the matrix view.
///
/// # Examples
/// ```
/// use lowp::block::{quantize, Scheme};
/// let s: Scheme = "nvfp4@global-scale=on".parse().unwrap();
/// let x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
/// let q = quantize(&x, &[2, 16], &s).unwrap();
/// assert_eq!((q.codes().len(), q.scales().len(), q.scale_shape()), (32, 2, &[2, 1][..]));
/// assert_eq!(q.global_scale(), Some(16.0 / 2688.0));
/// assert_eq!(q.dequantize()[0], -16.0);
/// ```
#[derive(Clone)]
pub struct QuantizedTensor {
    /// The scheme resolved for the shape (scheme, shape, scale grid, element).
    pub(super) plan: Plan,
    pub(super) codes: Vec<u8>,
    pub(super) scales: Scales,
    /// Global scales: none, one per tensor, or one per view row (row-scaled).
    pub(super) globals: Vec<f32>,
}

/// Equal parts (the plan is derived from the scheme and shape).
impl PartialEq for QuantizedTensor {
    fn eq(&self, o: &Self) -> bool {
        let bits = |g: &[f32]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        (&self.plan.scheme, &self.plan.shape, &self.codes, &self.scales, bits(&self.globals))
            == (&o.plan.scheme, &o.plan.shape, &o.codes, &o.scales, bits(&o.globals))
    }
}

impl core::fmt::Debug for QuantizedTensor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QuantizedTensor")
            .field("scheme", &self.plan.scheme)
            .field("shape", &self.plan.shape)
            .field("codes", &self.codes)
            .field("scales", &self.scales)
            .field("scale_shape", &self.plan.scale_shape)
            .field("globals", &self.globals)
            .finish()
    }
}

impl QuantizedTensor {
    /// A tensor from its parts (e.g. read from files, or a kernel's output), checked:
    /// the scheme's options fit together and its axis fits the shape, the codes
    /// fill the shape and fit the element width, the scales fill the scheme's block
    /// grid (`scale_shape` included) in the scheme's representation, and the global
    /// scale is present exactly when the scheme has one.
    ///
    /// # Errors
    /// [`Error::Shape`] or [`Error::InvalidOption`] naming the mismatch.
    ///
    /// # Examples
    /// ```
    /// use lowp::block::{quantize, QuantizedTensor, Scales};
    /// let q = quantize(&[1.0f32; 64], &[64], &"mxfp8-e4m3".parse().unwrap()).unwrap();
    /// let (scheme, shape, codes, scales, scale_shape, g) = q.clone().into_parts();
    /// let back = QuantizedTensor::from_parts(scheme, shape.clone(), codes.clone(), scales, scale_shape.clone(), g).unwrap();
    /// assert_eq!(back, q);
    /// assert!(QuantizedTensor::from_parts(scheme, shape, codes, Scales::E8m0(vec![127]), scale_shape, g).is_err());
    /// ```
    pub fn from_parts(
        scheme: Scheme,
        shape: Vec<usize>,
        codes: Vec<u8>,
        scales: Scales,
        scale_shape: Vec<usize>,
        global_scale: Option<f32>,
    ) -> Result<QuantizedTensor, Error> {
        Self::from_parts_globals(scheme, shape, codes, scales, scale_shape, global_scale.into_iter().collect())
    }

    /// As [`Self::from_parts`] with every global scale: none, one per tensor, or
    /// one per row of the blocked view for a row-scaled scheme
    /// (`nvfp4@global-scale=row`).
    ///
    /// # Errors
    /// As [`Self::from_parts`]; the number of global scales is checked too.
    ///
    /// # Examples
    /// ```
    /// use lowp::block::{quantize, QuantizedTensor};
    /// let s = "nvfp4@like=te@global-scale=row".parse().unwrap();
    /// let x: Vec<f32> = (0..64).map(|i| i as f32 * if i < 32 { 1.0 } else { 1e-3 }).collect();
    /// let q = quantize(&x, &[2, 32], &s).unwrap();
    /// assert_eq!(q.global_scales().len(), 2);
    /// assert_eq!(q.global_scale(), None);
    /// let (scheme, shape, codes, scales, scale_shape, g) = q.clone().into_parts_globals();
    /// let back = QuantizedTensor::from_parts_globals(scheme, shape, codes, scales, scale_shape.clone(), g).unwrap();
    /// assert_eq!(back, q);
    /// ```
    pub fn from_parts_globals(
        scheme: Scheme,
        shape: Vec<usize>,
        codes: Vec<u8>,
        scales: Scales,
        scale_shape: Vec<usize>,
        globals: Vec<f32>,
    ) -> Result<QuantizedTensor, Error> {
        let plan = Plan::new(&scheme, &shape)?;
        let q = QuantizedTensor { plan, codes, scales, globals };
        q.check(&scale_shape)?;
        Ok(q)
    }

    /// The parts, as [`Self::from_parts`] takes them: scheme, shape, codes, scales,
    /// scale-grid shape, global scale (`None` for a row-scaled tensor: see
    /// [`Self::into_parts_globals`]).
    pub fn into_parts(self) -> (Scheme, Vec<usize>, Vec<u8>, Scales, Vec<usize>, Option<f32>) {
        let g = self.global_scale();
        (self.plan.scheme, self.plan.shape, self.codes, self.scales, self.plan.scale_shape, g)
    }

    /// The parts, as [`Self::from_parts_globals`] takes them.
    pub fn into_parts_globals(self) -> (Scheme, Vec<usize>, Vec<u8>, Scales, Vec<usize>, Vec<f32>) {
        (self.plan.scheme, self.plan.shape, self.codes, self.scales, self.plan.scale_shape, self.globals)
    }

    /// The scheme it was made with.
    pub fn scheme(&self) -> &Scheme {
        &self.plan.scheme
    }
    /// The tensor's shape.
    pub fn shape(&self) -> &[usize] {
        &self.plan.shape
    }
    /// Element codes, in the tensor's shape and order.
    pub fn codes(&self) -> &[u8] {
        &self.codes
    }
    /// Block scales, row-major over [`Self::scale_shape`].
    pub fn scales(&self) -> &Scales {
        &self.scales
    }
    /// Shape of the block-scale grid.
    pub fn scale_shape(&self) -> &[usize] {
        &self.plan.scale_shape
    }
    /// The per-tensor (global) dequantization scale, when the scheme has one
    /// (`None` for a row-scaled tensor: see [`Self::global_scales`]).
    pub fn global_scale(&self) -> Option<f32> {
        if self.plan.row_global { None } else { self.globals.first().copied() }
    }
    /// Every global dequantization scale: none, the per-tensor one, or one per
    /// row of the blocked view (row-scaled NVFP4, `global-scale=row`).
    pub fn global_scales(&self) -> &[f32] {
        &self.globals
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.codes.len()
    }
    /// True for an empty tensor.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Dequantizes to f32 in the input's shape: `decode(code) · scale` (see each
    /// policy for the exact order with a global scale). A NaN scale gives NaN for
    /// the whole block. With the Hadamard transform on, the result is transformed
    /// back (`· Hᵀ`), so it is comparable with the input.
    pub fn dequantize(&self) -> Vec<f32> {
        super::engine::dequantize(self)
    }

    /// Dequantizes into a caller's buffer (as [`Self::dequantize`], without the allocation).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `out.len() != self.len()`.
    ///
    /// # Examples
    /// ```
    /// use lowp::block::{quantize, Scheme};
    /// let q = quantize(&[1.0f32, -2.0], &[2], &"mxfp8-e4m3".parse::<Scheme>().unwrap()).unwrap();
    /// let mut out = [0f32; 2];
    /// q.dequantize_into(&mut out).unwrap();
    /// assert_eq!(out, [1.0, -2.0]);
    /// ```
    pub fn dequantize_into(&self, out: &mut [f32]) -> Result<(), Error> {
        if out.len() != self.len() {
            return Err(Error::LengthMismatch { expected: self.len(), got: out.len() });
        }
        super::engine::dequantize_into(self, out);
        Ok(())
    }

    /// Number of tiles (blocks) in the scale grid.
    pub fn num_blocks(&self) -> usize {
        self.scales.len()
    }

    /// For each element in input order, the index of its block in the 2-D grid of
    /// the axis-last matrix view (row-major `[ceil(rows/tile_rows), ceil(cols/tile_cols)]`).
    ///
    /// # Examples
    /// ```
    /// use lowp::block::{quantize, Scheme};
    /// let q = quantize(&[1.0f32; 6], &[3, 2], &"mxfp8-e4m3@axis=0@block=2".parse::<Scheme>().unwrap()).unwrap();
    /// assert_eq!(q.block_indices(), vec![0, 2, 0, 2, 1, 3]);
    /// ```
    pub fn block_indices(&self) -> Vec<u32> {
        self.plan.tile_indices()
    }

    /// The invariants [`Self::from_parts`] establishes (the plan checked the
    /// scheme against the shape).
    fn check(&self, scale_shape: &[usize]) -> Result<(), Error> {
        let p = &self.plan;
        let n = crate::io::npy::element_count(&p.shape, "tensor")?;
        if self.codes.len() != n {
            return Err(Error::Shape(format!("{} codes for shape {:?} ({n} elements)", self.codes.len(), p.shape)));
        }
        if self.scales.len() != p.num_scales() || scale_shape != p.scale_shape {
            return Err(Error::Shape(format!(
                "{} scales of shape {scale_shape:?}, but '{}' on shape {:?} has a block grid of {:?}",
                self.scales.len(),
                p.scheme,
                p.shape,
                p.scale_shape
            )));
        }
        if !p.scale.holds(&self.scales) {
            return Err(Error::InvalidOption(format!("'{}' stores {} scales", p.scheme, p.scale.name())));
        }
        let bits = p.elem.bits;
        if let Some(i) = self.codes.iter().position(|&c| bits < 8 && c >> bits != 0) {
            return Err(Error::InvalidOption(format!("code {} at {i} does not fit {bits} bits", self.codes[i])));
        }
        if p.num_globals() != self.globals.len() {
            return Err(Error::InvalidOption(format!(
                "'{}' has {} global scale(s), not {}",
                p.scheme,
                p.num_globals(),
                self.globals.len()
            )));
        }
        Ok(())
    }

    /// The documented error bound of every element: for input `x` (the tensor this
    /// was quantized from), `|dequantize()[i] − x[i]| ≤ bound[i]`.
    ///
    /// With `f` the block's dequantization factor (block scale, times the global
    /// scale where there is one) and `y = |x|/f` the element before rounding:
    /// * `y ≤ max` (the element format's largest value): half the element grid's
    ///   spacing at `y` (`2^(max(⌊log2 y⌋, emin) − mantissa bits)`; 2^-6 for
    ///   MXINT8), times `f`; the full spacing for directed and stochastic rounding;
    /// * `y > max` (the block scale clipped the element, e.g. FLOOR, or a zero
    ///   NVFP4 TE scale): `|x| − max·f`, the element saturates;
    /// * `|x| + max·f` where `1/f` or `1/global` overflows f32 (below 2^-128: an
    ///   NVFP4 global scale of a tensor whose amax is below ~1e-35): TE's policy
    ///   clamps its encode factor at FLT_MAX and torchao's becomes +Inf, so
    ///   elements may flush to zero or saturate;
    /// * plus `2^-21·|x|` for the f32 roundings of the scale products and their
    ///   reciprocals;
    /// * `+Inf` (no bound) for elements of a block holding a NaN or ±Inf input, of a
    ///   NaN scale, of a block where `max·f` overflows f32 (the dequantized value
    ///   itself may be ±Inf, e.g. a pow2 scale rounded up next to FLT_MAX), and for
    ///   every element under the Hadamard transform (the bound holds in the
    ///   rotated space).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `x.len() != self.len()`.
    ///
    /// # Examples
    /// ```
    /// use lowp::block::{quantize, Scheme};
    /// let x: Vec<f32> = (0..32).map(|i| (i as f32 * 0.7).sin()).collect();
    /// let q = quantize(&x, &[32], &"mxfp4".parse::<Scheme>().unwrap()).unwrap();
    /// let bound = q.error_bounds(&x).unwrap();
    /// for ((d, x), b) in q.dequantize().iter().zip(&x).zip(&bound) {
    ///     assert!((d - x).abs() <= *b);
    /// }
    /// ```
    pub fn error_bounds(&self, x: &[f32]) -> Result<Vec<f32>, Error> {
        use crate::convert::Rounding;
        if x.len() != self.len() {
            return Err(Error::LengthMismatch { expected: self.len(), got: x.len() });
        }
        let p = &self.plan;
        let bi = p.tile_indices();
        let factors = p.factors(&self.scales, &self.globals);
        let rht = p.rht.is_some();
        let mut block_ok = vec![true; factors.len()];
        for (&b, v) in bi.iter().zip(x) {
            block_ok[b as usize] &= v.is_finite();
        }
        let (man, emin, int8) = (p.elem.man, p.elem.emin, p.elem.int8);
        let max = p.elem.max as f64;
        let nearest =
            matches!(p.scheme.rounding, Rounding::NearestEven | Rounding::NearestAway | Rounding::NearestTowardZero);
        let grid_frac = if nearest { 0.5 } else { 1.0 };
        let tiny_global = self.globals.iter().any(|g| !(1.0 / g).is_finite());
        Ok(bi
            .iter()
            .zip(x)
            .map(|(&b, &v)| {
                let f = factors[b as usize] as f64;
                if rht || !block_ok[b as usize] || !f.is_finite() || ((max * f) as f32).is_infinite() {
                    return f32::INFINITY;
                }
                let ax = (v as f64).abs();
                let slack = ax * 2f64.powi(-21);
                let y = if f == 0.0 { f64::INFINITY } else { ax / f };
                let bound = if tiny_global || (f != 0.0 && !(1.0 / f as f32).is_finite()) {
                    // the encoders' factor 1/f overflows f32 (TE clamps it at FLT_MAX)
                    ax + max * f
                } else if y > max {
                    ax - max * f
                } else if int8 {
                    grid_frac * f / 64.0
                } else {
                    let e = if y == 0.0 { emin } else { (y.log2().floor() as i32).max(emin) };
                    grid_frac * crate::format::pow2(e - man) * f
                };
                (bound + slack) as f32
            })
            .collect())
    }

    /// Kernel view of the scales, for the GEMM models: the block scale of every tile
    /// of the axis-last view grid (row-major, as [`Self::block_indices`] numbers
    /// them), without the global scale; and the tile shape in that view.
    pub(crate) fn tile_scales(&self) -> (Vec<f32>, super::Tile) {
        (self.plan.scale_values(&self.scales), self.plan.tile)
    }

    /// The resolved plan (element table, tile, factor rule) for the GEMM operands.
    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The element format's largest magnitude (what a saturated element decodes to).
    pub fn elem_max(&self) -> f32 {
        self.plan.elem.max
    }

    /// The spacing of the element grid at its max (`max + ulp/2` is where rounding
    /// would leave the range).
    pub fn elem_ulp_at_max(&self) -> f32 {
        self.plan.elem.ulp_at_max
    }

    /// The value of element `i`'s code (before scaling).
    pub fn elem_value(&self, i: usize) -> f32 {
        self.plan.elem.table[self.codes[i] as usize]
    }

    /// Storage bits per element: codes, block scales and the global scale.
    ///
    /// # Examples
    /// ```
    /// use lowp::block::{quantize, Scheme};
    /// let q = quantize(&vec![1.0f32; 64], &[64], &"mxfp4".parse::<Scheme>().unwrap()).unwrap();
    /// assert_eq!(q.bits_per_element(), 4.25);
    /// ```
    pub fn bits_per_element(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        let elem_bits = self.plan.elem.bits as f64;
        let extra = (self.scales.len() * self.scales.bits()) as f64 + 32.0 * self.globals.len() as f64;
        elem_bits + extra / self.len() as f64
    }

    /// The codes as a kernel reads them: FP4 two per byte (even index in the low
    /// nibble), FP6 four per three bytes, 8-bit codes as they are.
    ///
    /// # Examples
    /// ```
    /// use lowp::block::{quantize, Scheme};
    /// let q = quantize(&[1.0f32, 2.0], &[2], &"mxfp4".parse::<Scheme>().unwrap()).unwrap();
    /// // floor scale 2^(1-2): elements 2.0 and 4.0
    /// assert_eq!(q.codes(), vec![0x4, 0x6]);
    /// assert_eq!(q.packed(), vec![0x64]);
    /// ```
    pub fn packed(&self) -> Vec<u8> {
        match self.plan.elem.bits {
            4 => crate::pack::pack_fp4(&self.codes),
            6 => crate::pack::pack_fp6(&self.codes),
            _ => self.codes.clone(),
        }
    }

    /// The block scales in the layout the GEMM kernels read, as bytes:
    /// E8M0/UE4M3 scales of 1×N tiles in the 128×4 swizzle of cuBLAS / CUTLASS
    /// SM100 (torchao `to_blocked`; the grid is taken as `[rows, blocks]` of the
    /// matrix view); f32 scales of 1×N tiles in cuBLAS's 1×128 layout (transposed,
    /// rows padded to a multiple of 4), of R×C tiles (R > 1) in the 128×128
    /// layout (block columns padded to a multiple of 4), little-endian.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for byte scales of 2-D tiles (no kernel layout is
    /// defined for them) and for per-tensor scales.
    pub fn scales_kernel_layout(&self) -> Result<Vec<u8>, Error> {
        let p = &self.plan;
        let (gr, gc) = p.grid;
        let two_d = p.tile.rows > 1 && !p.per_row_or_tensor();
        match &self.scales {
            Scales::E8m0(v) | Scales::Ue4m3(v) => {
                if two_d {
                    return Err(Error::Unsupported("no kernel scale layout for 2-D tiles of byte scales".into()));
                }
                if !matches!(p.tile.cols, 16 | 32) {
                    return Err(Error::Unsupported(format!(
                        "the 128x4 swizzle lays out scales of 16- or 32-element blocks (cuBLAS, CUTLASS SM100); block {} has no kernel layout",
                        p.tile
                    )));
                }
                crate::layout::swizzle_128x4(&p.scales_to_view(v), gr, gc)
            }
            Scales::F32(v) => {
                let v = p.scales_to_view(v);
                let t = if two_d {
                    crate::layout::cublas_128x128(&v, gr, gc)?
                } else {
                    crate::layout::cublas_1x128(&v, gr, gc)?
                };
                Ok(t.iter().flat_map(|f| f.to_le_bytes()).collect())
            }
        }
    }
}
