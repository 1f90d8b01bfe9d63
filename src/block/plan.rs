//! A scheme resolved for one tensor shape, once: the matrix view, the tile, the
//! scale grid and its stored layout, the element (decode table, width, grid), the
//! scale representation and the dequantization factor. The quantizer, every
//! reader of a [`super::QuantizedTensor`] and the GEMM operands use this one
//! resolution instead of matching on the scheme family each.

use super::{Fp8Granularity, Fp8ScaleFormat, MxElem, Scales, Scheme, SchemeKind, Tile};
use crate::Error;
use crate::convert::decode_table;
use crate::format::ElemFormat;
use std::borrow::Cow;

/// A tensor seen as a matrix: `outer × len × inner` with the blocked axis (`len`)
/// moved last, so `rows = outer · inner`, `cols = len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub rows: usize,
    pub cols: usize,
    outer: usize,
    inner: usize,
}

impl View {
    pub fn new(shape: &[usize], axis: isize) -> Result<View, Error> {
        let one = [1usize];
        let shape = if shape.is_empty() { &one[..] } else { shape };
        let nd = shape.len() as isize;
        let a = if axis < 0 { axis + nd } else { axis };
        if !(0..nd).contains(&a) {
            return Err(Error::Shape(format!("axis {axis} is out of range for a {nd}-d tensor")));
        }
        let a = a as usize;
        let prod = |d: &[usize]| d.iter().try_fold(1usize, |p, &n| p.checked_mul(n));
        let too_big = || Error::Shape(format!("shape {shape:?} has too many elements"));
        let outer = prod(&shape[..a]).ok_or_else(too_big)?;
        let inner = prod(&shape[a + 1..]).ok_or_else(too_big)?;
        let len = shape[a];
        let rows = outer.checked_mul(inner).ok_or_else(too_big)?;
        rows.checked_mul(len).ok_or_else(too_big)?;
        Ok(View { rows, cols: len, outer, inner })
    }

    /// Data in input order → view order (rows of the blocked axis).
    pub fn into_view<'a, T: Copy + Default>(self, data: &'a [T]) -> Cow<'a, [T]> {
        permute(data, self.cols, self.inner, true)
    }
    /// View order → input order.
    pub fn out_of_view<T: Copy + Default>(self, data: Vec<T>) -> Vec<T> {
        match permute(&data, self.cols, self.inner, false) {
            Cow::Borrowed(_) => data,
            Cow::Owned(v) => v,
        }
    }
}

/// `[outer, len, inner]` ↔ `[outer, inner, len]` (outer = the rest of the data).
fn permute<T: Copy + Default>(data: &[T], len: usize, inner: usize, forward: bool) -> Cow<'_, [T]> {
    if inner == 1 || len == 1 {
        return Cow::Borrowed(data);
    }
    let mut out = vec![T::default(); data.len()];
    let size = len * inner;
    for (src, dst) in data.chunks_exact(size.max(1)).zip(out.chunks_exact_mut(size.max(1))) {
        if forward { transpose(src, dst, len, inner) } else { transpose(src, dst, inner, len) }
    }
    Cow::Owned(out)
}

/// `dst` `[cols, rows]` = `src` `[rows, cols]` transposed, in 32×32 tiles (both
/// tiles stay in L1; the naive loop's strided writes miss on every element).
pub(crate) fn transpose<T: Copy>(src: &[T], dst: &mut [T], rows: usize, cols: usize) {
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    dst[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
}

/// The longest block any scheme's kernels use (FP8 1×128 / 128×128).
const MAX_KERNEL_BLOCK: usize = 128;

/// How the block scales are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScaleRepr {
    /// E8M0 bytes (MX, FP8 with `scale-format=ue8m0`).
    E8m0,
    /// Unsigned E4M3 bytes (NVFP4).
    Ue4m3,
    /// f32 (FP8 with f32 or power-of-two scales).
    F32,
}

impl ScaleRepr {
    pub fn name(self) -> &'static str {
        match self {
            ScaleRepr::E8m0 => "e8m0",
            ScaleRepr::Ue4m3 => "ue4m3",
            ScaleRepr::F32 => "f32",
        }
    }
    /// Whether `s` is stored in this representation.
    pub fn holds(self, s: &Scales) -> bool {
        matches!(
            (self, s),
            (ScaleRepr::E8m0, Scales::E8m0(_))
                | (ScaleRepr::Ue4m3, Scales::Ue4m3(_))
                | (ScaleRepr::F32, Scales::F32(_))
        )
    }
}

/// The element type of a scheme: what its codes are.
#[derive(Clone, Debug)]
pub(crate) struct Elem {
    /// The element format (`None` for MXINT8).
    pub format: Option<ElemFormat>,
    /// The value of every code.
    pub table: [f32; 256],
    /// Code width before packing (4, 6, 8).
    pub bits: u32,
    /// Smallest normal exponent (MXINT8: −6, its fixed-point step read as a subnormal grid).
    pub emin: i32,
    /// Mantissa bits (MXINT8: 0).
    pub man: i32,
    /// The largest magnitude (what a saturated element decodes to).
    pub max: f32,
    /// The grid spacing at the max.
    pub ulp_at_max: f32,
    /// MXINT8's fixed-point grid (spacing 2^-6 everywhere).
    pub int8: bool,
}

impl Elem {
    fn of(kind: &SchemeKind) -> Elem {
        let float = |f: ElemFormat| {
            let s = f.spec();
            Elem {
                format: Some(f),
                table: *decode_table(f),
                bits: s.bits(),
                emin: s.min_exp(),
                man: s.man_bits as i32,
                max: s.max_finite() as f32,
                ulp_at_max: crate::format::pow2(s.max_exp() - s.man_bits as i32) as f32,
                int8: false,
            }
        };
        match *kind {
            SchemeKind::Mx(o) => match o.elem {
                MxElem::Float(f) => float(f),
                MxElem::Int8(_) => Elem {
                    format: None,
                    table: core::array::from_fn(|c| o.elem.decode(c as u8)),
                    bits: 8,
                    emin: -6,
                    man: 0,
                    max: o.elem.range().max,
                    ulp_at_max: 1.0 / 64.0,
                    int8: true,
                },
            },
            SchemeKind::Nvfp4(_) => float(ElemFormat::E2M1FN),
            SchemeKind::Fp8(o) => float(o.elem),
        }
    }
}

/// A scheme resolved for a shape (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub scheme: Scheme,
    pub shape: Vec<usize>,
    pub view: View,
    /// The tile on the view (`fp8-row` / `fp8-tensor` resolved to the row / tensor).
    pub tile: Tile,
    /// The 2-D scale grid of the view: `(rows / tile rows, cols / tile cols)`, rounded up.
    pub grid: (usize, usize),
    /// The stored scale grid seen as a matrix (to permute it to grid order).
    scale_view: View,
    /// Shape of the stored scale grid.
    pub scale_shape: Vec<usize>,
    pub elem: Elem,
    pub scale: ScaleRepr,
    /// NVFP4: a block's dequantization factor is `fl32(global · scale)`.
    pub global_multiplies: bool,
    /// Whether the scheme has a global scale.
    pub has_global: bool,
    /// Its global scales are one per view row (row-scaled NVFP4, 1×N tiles).
    pub row_global: bool,
    /// The Hadamard transform's signs (NVFP4 with `rht=on`).
    pub rht: Option<[bool; 16]>,
}

impl Plan {
    /// The plan of `scheme` on `shape`.
    ///
    /// # Errors
    /// Inconsistent options, an axis outside the shape, a shape too large, or a
    /// tile that cannot be a block of the tensor: one longer than its dimension
    /// *and* than any kernel's block (a short dimension, K = 20 under MX's 32, is
    /// one short block, as a kernel pads it; 1×1000000 on a 64-wide tensor is not).
    pub fn new(scheme: &Scheme, shape: &[usize]) -> Result<Plan, Error> {
        scheme.check()?;
        let view = View::new(shape, scheme.axis)?;
        let (row, tensor) = match scheme.kind {
            SchemeKind::Fp8(o) => (o.granularity == Fp8Granularity::Row, o.granularity == Fp8Granularity::Tensor),
            _ => (false, false),
        };
        let tile = if row {
            Tile::new(1, view.cols.max(1))
        } else if tensor {
            Tile::new(view.rows.max(1), view.cols.max(1))
        } else {
            scheme.tile
        };
        for (side, len, what) in [(tile.cols, view.cols, "the blocked axis"), (tile.rows, view.rows, "the other axes")]
        {
            if len > 0 && side > len && side > MAX_KERNEL_BLOCK {
                return Err(Error::Shape(format!(
                    "block {tile} is longer than {what} ({len} elements) and than any kernel's block ({MAX_KERNEL_BLOCK}): use a block that fits"
                )));
            }
        }
        let grid = (view.rows.div_ceil(tile.rows), view.cols.div_ceil(tile.cols));
        // 1×N tiles store their grid in input order (the blocked axis replaced by
        // its block count); 2-D tiles the view grid; a tensor scale is one value
        let (scale_view, scale_shape) = if tile.rows == 1 && !tensor {
            let one = [1usize];
            let s = if shape.is_empty() { &one[..] } else { shape };
            let nd = s.len() as isize;
            let a = if scheme.axis < 0 { scheme.axis + nd } else { scheme.axis } as usize;
            let mut ss = s.to_vec();
            ss[a] = grid.1;
            (View { rows: view.rows, cols: grid.1, outer: view.outer, inner: view.inner }, ss)
        } else {
            let g = View { rows: grid.0, cols: grid.1, outer: grid.0, inner: 1 };
            (g, if tensor { vec![grid.0 * grid.1] } else { vec![grid.0, grid.1] })
        };
        let scale = match scheme.kind {
            SchemeKind::Mx(_) => ScaleRepr::E8m0,
            SchemeKind::Nvfp4(_) => ScaleRepr::Ue4m3,
            SchemeKind::Fp8(o) if o.scale_format == Fp8ScaleFormat::Ue8m0 => ScaleRepr::E8m0,
            SchemeKind::Fp8(_) => ScaleRepr::F32,
        };
        let (global_multiplies, has_global, row_global, rht) = match scheme.kind {
            SchemeKind::Nvfp4(o) => (true, o.global_scale, o.global_scale && o.row_global, o.rht),
            _ => (false, false, false, None),
        };
        Ok(Plan {
            scheme: *scheme,
            shape: shape.to_vec(),
            view,
            tile,
            grid,
            scale_view,
            scale_shape,
            elem: Elem::of(&scheme.kind),
            scale,
            global_multiplies,
            has_global,
            row_global,
            rht,
        })
    }

    /// Number of block scales.
    pub fn num_scales(&self) -> usize {
        self.grid.0 * self.grid.1
    }

    /// Whether one scale covers a whole row of the view or the tensor (`fp8-row`,
    /// `fp8-tensor`): no kernel block layout applies.
    pub fn per_row_or_tensor(&self) -> bool {
        matches!(self.scheme.kind, SchemeKind::Fp8(o) if o.granularity != Fp8Granularity::Block)
    }

    /// Whether one scale covers the whole tensor (`fp8-tensor`).
    pub fn per_tensor(&self) -> bool {
        matches!(self.scheme.kind, SchemeKind::Fp8(o) if o.granularity == Fp8Granularity::Tensor)
    }

    /// Stored scales → view-grid order (row-major `grid`).
    pub fn scales_to_view<T: Copy + Default>(&self, stored: &[T]) -> Vec<T> {
        self.scale_view.into_view(stored).into_owned()
    }

    /// View-grid order → stored order (the quantizer's output).
    pub fn scales_from_view<T: Copy + Default>(&self, grid: Vec<T>) -> Vec<T> {
        self.scale_view.out_of_view(grid)
    }

    /// The value of each block scale, in view-grid order (NaN for E8M0 255; the
    /// global scale not applied).
    pub fn scale_values(&self, s: &Scales) -> Vec<f32> {
        match s {
            Scales::E8m0(b) => {
                let t = decode_table(ElemFormat::E8M0FNU);
                self.scales_to_view(b).iter().map(|&c| t[c as usize]).collect()
            }
            Scales::Ue4m3(b) => {
                let t = decode_table(ElemFormat::E4M3FN);
                self.scales_to_view(b).iter().map(|&c| t[c as usize]).collect()
            }
            Scales::F32(f) => self.scales_to_view(f),
        }
    }

    /// The dequantization factor of a block whose scale is `s` (see
    /// [`dequant_factor`]).
    #[inline]
    pub fn factor(&self, s: f32, global: Option<f32>) -> f32 {
        dequant_factor(self.global_multiplies, s, global)
    }

    /// The dequantization factor of every block, in view-grid order.
    pub fn factors(&self, s: &Scales, globals: &[f32]) -> Vec<f32> {
        let gc = self.grid.1.max(1);
        let global = |k: usize| if self.row_global { globals.get(k / gc).copied() } else { globals.first().copied() };
        self.scale_values(s).into_iter().enumerate().map(|(k, v)| self.factor(v, global(k))).collect()
    }

    /// How many global scales a tensor of this plan has: 0, 1, or one per view row.
    pub fn num_globals(&self) -> usize {
        match (self.has_global, self.row_global) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => self.view.rows,
        }
    }

    /// For each element (input order), the index of its tile in the view grid.
    pub fn tile_indices(&self) -> Vec<u32> {
        let (v, t, gc) = (self.view, self.tile, self.grid.1);
        let mut out = Vec::with_capacity(v.rows * v.cols);
        for o in 0..v.outer {
            for i in 0..v.cols {
                for j in 0..v.inner {
                    let row = o * v.inner + j;
                    out.push(((row / t.rows) * gc + i / t.cols) as u32);
                }
            }
        }
        out
    }
}

/// The factor a block's codes are dequantized with: `fl32(global · s)` where the
/// global scale multiplies the block scale (NVFP4, the scale multiplied in f32 as
/// torchao and TE do), else the block scale `s` itself. The one definition, for the
/// dequantizer, the error bounds and the GEMM operands.
#[inline]
pub(crate) fn dequant_factor(global_multiplies: bool, s: f32, global: Option<f32>) -> f32 {
    match (global_multiplies, global) {
        (true, Some(g)) => g * s,
        _ => s,
    }
}
