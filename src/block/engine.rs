//! The one quantization engine: view, tiles, amax, scale, element encode; and its
//! inverse.

use super::mx::encode_int8;
use super::{Fp8Granularity, Fp8ScaleFormat, MxElem, QuantizedTensor, Scales, Scheme, SchemeKind, Tile, nvfp4};
use crate::Error;
use crate::convert::kernel::{BlockScaler, CastKernel, mode};
use crate::convert::{CastOptions, Rounding, decode_table, encode_f32, encode_slice};
use crate::format::ElemFormat;
use std::borrow::Cow;

/// A tensor seen as a matrix: `outer × len × inner` with the blocked axis (`len`)
/// moved last, so `rows = outer · inner`, `cols = len`.
#[derive(Clone, Copy, Debug)]
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
    fn into_view<'a, T: Copy + Default>(self, data: &'a [T]) -> Cow<'a, [T]> {
        permute(data, self.outer, self.cols, self.inner, true)
    }
    /// View order → input order.
    fn out_of_view<T: Copy + Default>(self, data: Vec<T>) -> Vec<T> {
        match permute(&data, self.outer, self.cols, self.inner, false) {
            Cow::Borrowed(_) => data,
            Cow::Owned(v) => v,
        }
    }
}

/// `[outer, len, inner]` ↔ `[outer, inner, len]`.
fn permute<T: Copy + Default>(data: &[T], outer: usize, len: usize, inner: usize, forward: bool) -> Cow<'_, [T]> {
    if inner == 1 || len == 1 {
        return Cow::Borrowed(data);
    }
    let mut out = vec![T::default(); data.len()];
    for o in 0..outer {
        for i in 0..len {
            for j in 0..inner {
                let (src, dst) = ((o * len + i) * inner + j, (o * inner + j) * len + i);
                if forward { out[dst] = data[src] } else { out[src] = data[dst] }
            }
        }
    }
    Cow::Owned(out)
}

/// The tile of a scheme on a view (rows / tensor granularity resolve here).
pub(crate) fn tile_of(s: &Scheme, v: &View) -> Tile {
    match s.kind {
        SchemeKind::Fp8(o) if o.granularity == Fp8Granularity::Row => Tile::new(1, v.cols.max(1)),
        SchemeKind::Fp8(o) if o.granularity == Fp8Granularity::Tensor => Tile::new(v.rows.max(1), v.cols.max(1)),
        _ => s.tile,
    }
}

/// The longest block any scheme's kernels use (FP8 1×128 / 128×128).
const MAX_KERNEL_BLOCK: usize = 128;

/// A tile may overhang the matrix: the last block of a ragged row is shorter, and
/// a short dimension (K = 20 under MX's 32) is one short block, as a kernel pads
/// it. A tile longer than its dimension *and* than any kernel's block (1×1000000 on
/// a 64-wide tensor) cannot mean anything and is an error.
fn check_tile(t: Tile, v: &View) -> Result<(), Error> {
    for (side, len, what) in [(t.cols, v.cols, "the blocked axis"), (t.rows, v.rows, "the other axes")] {
        if len > 0 && side > len && side > MAX_KERNEL_BLOCK {
            return Err(Error::Shape(format!(
                "block {t} is longer than {what} ({len} elements) and than any kernel's block ({MAX_KERNEL_BLOCK}): use a block that fits"
            )));
        }
    }
    Ok(())
}

/// Whether the scale grid is stored in input order (1×N tiles) or as the 2-D view grid.
fn grid_in_input_order(t: Tile, s: &Scheme) -> bool {
    t.rows == 1 && !matches!(s.kind, SchemeKind::Fp8(o) if o.granularity == Fp8Granularity::Tensor)
}

/// Number of scales and the scale-grid shape of `scheme` on `shape`.
pub(crate) fn scale_grid(s: &Scheme, shape: &[usize]) -> Result<(usize, Vec<usize>), Error> {
    let v = View::new(shape, s.axis)?;
    let t = tile_of(s, &v);
    let (sv, ss) = scale_layout(s, shape, &v, t);
    Ok((sv.rows * sv.cols, ss))
}

fn scale_layout(s: &Scheme, shape: &[usize], v: &View, t: Tile) -> (View, Vec<usize>) {
    let (gr, gc) = (v.rows.div_ceil(t.rows), v.cols.div_ceil(t.cols));
    if grid_in_input_order(t, s) {
        let one = [1usize];
        let shape = if shape.is_empty() { &one[..] } else { shape };
        let nd = shape.len() as isize;
        let a = if s.axis < 0 { s.axis + nd } else { s.axis } as usize;
        let mut ss = shape.to_vec();
        ss[a] = gc;
        (View { rows: v.rows, cols: gc, outer: v.outer, inner: v.inner }, ss)
    } else if matches!(s.kind, SchemeKind::Fp8(o) if o.granularity == Fp8Granularity::Tensor) {
        (View { rows: gr, cols: gc, outer: gr, inner: 1 }, vec![gr * gc])
    } else {
        (View { rows: gr, cols: gc, outer: gr, inner: 1 }, vec![gr, gc])
    }
}

/// Scales in stored order → view-grid order (row-major `[rows/tr, cols/tc]`).
pub(crate) fn scales_to_view<T: Copy + Default>(q: &QuantizedTensor, stored: &[T]) -> Vec<T> {
    let v = View::new(&q.shape, q.scheme.axis).expect("validated at quantize");
    let t = tile_of(&q.scheme, &v);
    let (sv, _) = scale_layout(&q.scheme, &q.shape, &v, t);
    sv.into_view(stored).into_owned()
}

/// The largest magnitude of a block: NaN if any element is NaN under
/// [`BlockNan::Propagate`](super::BlockNan::Propagate) (`torch.amax`), NaN elements
/// skipped when `ignore_nan` ([`BlockNan::Ignore`](super::BlockNan::Ignore), `fmaxf`);
/// 0 for an empty block. Shared by every quantizer.
///
/// Computed on the magnitude bits as integers by the dispatched kernel
/// (`convert::simd::block_amax_run`): `|x|` orders like its bit pattern, and every
/// NaN pattern is above +Inf's, so the integer maximum is the amax (a NaN when one
/// is present). Tested against the float fold.
pub(crate) fn amax_of(block: &[f32], ignore_nan: bool) -> f32 {
    let mut out = [0f32];
    crate::convert::simd::block_amax_run(block, block.len().max(1), ignore_nan, &mut out);
    out[0]
}

/// Combines two partial amaxes the way the block's NaN policy reads them.
fn amax_join(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() { f32::NAN } else { a.max(b) }
}

/// How the elements of one scheme are rounded.
enum ElemEncoder {
    /// The branch-free cast kernel, built once per tensor.
    Fast(CastKernel),
    Float(ElemFormat, CastOptions),
    Int8(super::Int8Range, Rounding),
}

impl ElemEncoder {
    fn new(s: &Scheme) -> ElemEncoder {
        let e = Self::general(s);
        if let ElemEncoder::Float(f, o) = &e
            && let Some(k) = CastKernel::new(f.spec(), o)
        {
            return ElemEncoder::Fast(k);
        }
        e
    }

    fn general(s: &Scheme) -> ElemEncoder {
        match s.kind {
            SchemeKind::Mx(o) => match o.elem {
                MxElem::Float(f) => ElemEncoder::Float(f, o.cast(s.rounding)),
                MxElem::Int8(r) => ElemEncoder::Int8(r, s.rounding),
            },
            SchemeKind::Nvfp4(o) => ElemEncoder::Float(
                ElemFormat::E2M1FN,
                CastOptions { nan: o.elem_nan, ..CastOptions::saturating() }.with_rounding(s.rounding),
            ),
            SchemeKind::Fp8(o) => ElemEncoder::Float(o.elem, o.cast().with_rounding(s.rounding)),
        }
    }

    /// Encodes `src` (already multiplied by the encode factors); `base` is the view
    /// index of `src[0]` (the stochastic-rounding counter).
    fn run(&self, src: &[f32], dst: &mut [u8], s: &Scheme, base: usize) -> Result<(), Error> {
        let stochastic = matches!(s.rounding, Rounding::Stochastic { .. });
        match self {
            ElemEncoder::Fast(k) => {
                let bits = crate::convert::kernel::Bits::Seeded { seed: s.seed, base: base as u64 };
                crate::convert::simd::cast_run(k, src, dst, bits);
                Ok(())
            }
            ElemEncoder::Float(f, o) if !stochastic => encode_slice(*f, src, dst, o),
            ElemEncoder::Float(f, o) => {
                for (i, (d, &x)) in dst.iter_mut().zip(src).enumerate() {
                    *d = encode_f32(*f, x, o, crate::rng::random_bits(s.seed, (base + i) as u64)).0;
                }
                Ok(())
            }
            ElemEncoder::Int8(r, Rounding::NearestEven) => {
                let lo = if *r == super::Int8Range::Full { -128.0 } else { -127.0 };
                crate::convert::simd::int8_rne_run(src, lo, dst);
                Ok(())
            }
            ElemEncoder::Int8(r, rounding) => {
                for (i, (d, &x)) in dst.iter_mut().zip(src).enumerate() {
                    let rb = if stochastic { crate::rng::random_bits(s.seed, (base + i) as u64) } else { 0 };
                    *d = encode_int8(x, *r, *rounding, rb);
                }
                Ok(())
            }
        }
    }
}

/// The E8M0 scales of one row of MX blocks, for the fused kernel.
struct MxRow<'a> {
    o: super::MxOptions,
    range: crate::scale::ElemRange,
    bytes: &'a mut [u8],
}

impl BlockScaler for MxRow<'_> {
    #[inline(always)]
    fn scale(&mut self, block: usize, amax: f32) -> f32 {
        self.bytes[block] = self.o.scale(amax, self.range);
        super::mx::encode_multiplier(self.bytes[block])
    }
}

enum ScaleStore {
    Bytes(Vec<u8>),
    Floats(Vec<f32>),
}

/// Quantizes an f32 tensor of the given shape (row-major) with a scheme.
///
/// # Errors
/// [`Error::Shape`] if `x.len()` is not the product of `shape`, the axis is out
/// of range, or the Hadamard transform is on and the blocked length is not a
/// multiple of 16; [`Error::InvalidOption`] for inconsistent options.
///
/// # Examples
/// ```
/// use lowp::block::{quantize, Scheme};
/// let x: Vec<f32> = (0..64).map(|i| i as f32 / 8.0).collect();
/// let q = quantize(&x, &[2, 32], &"mxfp8-e4m3".parse::<Scheme>().unwrap()).unwrap();
/// // floor rule: amax 3.875 -> 2^(1-8) (biased 120); amax 7.875 -> 2^(2-8)
/// assert_eq!(q.scales().bytes().unwrap(), &[120, 121]);
/// let y = q.dequantize();
/// assert_eq!(y[31], 3.5); // 3.875 · 2^7 = 496 saturates to 448 (OCP MX §6.3)
/// // column-wise 32x1 blocks: the same as blocking along axis 0
/// let a = quantize(&x, &[32, 2], &"mxfp8-e4m3@block=32x1".parse::<Scheme>().unwrap()).unwrap();
/// let b = quantize(&x, &[32, 2], &"mxfp8-e4m3@axis=0".parse::<Scheme>().unwrap()).unwrap();
/// assert_eq!((a.codes() == b.codes(), a.scales() == b.scales()), (true, true));
/// assert_eq!((a.scale_shape(), b.scale_shape()), (&[1, 2][..], &[1, 2][..]));
/// ```
pub fn quantize(x: &[f32], shape: &[usize], s: &Scheme) -> Result<QuantizedTensor, Error> {
    quantize_reusing(x, shape, s, Vec::new())
}

/// As [`quantize`], reusing `out`'s code buffer (no page faults for a tensor of
/// the same size: on this machine allocating and first touching 16 MB costs as
/// much as quantizing it). On error `out` is left empty.
///
/// # Errors
/// As [`quantize`].
///
/// # Examples
/// ```
/// use lowp::block::{quantize, quantize_into, Scheme};
/// let s: Scheme = "mxfp4".parse().unwrap();
/// let mut q = quantize(&[1.0f32; 64], &[64], &s).unwrap();
/// quantize_into(&[2.0f32; 64], &[64], &s, &mut q).unwrap();
/// assert_eq!(q.dequantize(), vec![2.0; 64]);
/// ```
pub fn quantize_into(x: &[f32], shape: &[usize], s: &Scheme, out: &mut QuantizedTensor) -> Result<(), Error> {
    let codes = std::mem::take(&mut out.codes);
    *out = quantize_reusing(x, shape, s, codes)?;
    Ok(())
}

fn quantize_reusing(x: &[f32], shape: &[usize], s: &Scheme, mut codes: Vec<u8>) -> Result<QuantizedTensor, Error> {
    s.check()?;
    let v = View::new(shape, s.axis)?;
    if v.rows * v.cols != x.len() {
        return Err(Error::Shape(format!("{} elements do not fill shape {shape:?}", x.len())));
    }
    let t = tile_of(s, &v);
    check_tile(t, &v)?;
    let mut xv = v.into_view(x);
    let (rht, ignore_nan) = match s.kind {
        SchemeKind::Nvfp4(o) => (o.rht, false),
        SchemeKind::Mx(o) => (None, o.nan == super::BlockNan::Ignore),
        SchemeKind::Fp8(_) => (None, false),
    };
    if let Some(signs) = rht {
        if v.cols % 16 != 0 {
            return Err(Error::Shape(format!(
                "the Hadamard transform needs a blocked length divisible by 16, got {}",
                v.cols
            )));
        }
        for row in xv.to_mut().chunks_exact_mut(v.cols) {
            super::hadamard::each_chunk(row, &signs, super::rht16);
        }
    }
    let global = match s.kind {
        SchemeKind::Nvfp4(o) if o.global_scale => nvfp4::global(&o, amax_of(&xv, false)),
        _ => None,
    };
    let (gr, gc) = (v.rows.div_ceil(t.rows), v.cols.div_ceil(t.cols));
    let mut store = match s.kind {
        SchemeKind::Fp8(o) if o.scale_format != Fp8ScaleFormat::Ue8m0 => ScaleStore::Floats(vec![0.0; gr * gc]),
        _ => ScaleStore::Bytes(vec![0; gr * gc]),
    };
    let enc = ElemEncoder::new(s);
    let mx_range = match s.kind {
        SchemeKind::Mx(o) => o.elem.range(),
        _ => crate::scale::ElemRange::MXINT8,
    };
    // the block-scale casts (two kernel builds) only where they are used
    let scale_casts = matches!(s.kind, SchemeKind::Nvfp4(_)).then(nvfp4::ScaleCasts::new);
    if codes.len() != x.len() {
        // every code is written below, so a reused buffer of the right size is not cleared
        codes.clear();
        codes.resize(x.len(), 0);
    }
    let mut mults = vec![0f32; gc];
    let mut amaxes = vec![0f32; gc];
    let mut buf = vec![0f32; v.cols];
    // one tile's (stored scale, encode multiplier)
    let tile_scale = |store: &mut ScaleStore, k: usize, amax: f32| -> f32 {
        match (s.kind, store) {
            (SchemeKind::Mx(o), ScaleStore::Bytes(b)) => {
                let sb = o.scale(amax, mx_range);
                b[k] = sb;
                super::mx::encode_multiplier(sb)
            }
            (SchemeKind::Nvfp4(o), ScaleStore::Bytes(b)) => {
                let (s8, m) = nvfp4::block_scale(&o, amax, global, scale_casts.as_ref().expect("built for NVFP4"));
                b[k] = s8;
                m
            }
            (SchemeKind::Fp8(o), ScaleStore::Floats(f)) => {
                let (d, m) = o.scale(amax);
                f[k] = d;
                m
            }
            (SchemeKind::Fp8(o), ScaleStore::Bytes(b)) => {
                let (d, m) = o.scale(amax);
                b[k] = pow2_to_e8m0(d);
                m
            }
            _ => unreachable!("scale store matches the scheme"),
        }
    };
    if t.rows == 1 {
        // 1×N tiles: per row, all block amaxes, then scales, then the scaled row
        for r in 0..v.rows {
            let row = &xv[r * v.cols..(r + 1) * v.cols];
            let dst = &mut codes[r * v.cols..(r + 1) * v.cols];
            let casts = scale_casts.as_ref();
            // MX with the RNE kernel: amax, scale and encode block by block (a block
            // is in registers; memory and arithmetic overlap). NVFP4's scale
            // arithmetic (two divisions and an e4m3 cast per 16 elements) is faster
            // vectorized across a row's blocks, below.
            match (&enc, s.kind, &mut store) {
                (ElemEncoder::Fast(k), SchemeKind::Mx(o), ScaleStore::Bytes(b))
                    if t.cols.is_multiple_of(16) && k.mode() == mode::RNE =>
                {
                    let scale = MxRow { o, range: mx_range, bytes: &mut b[r * gc..(r + 1) * gc] };
                    crate::convert::simd::cast_blocks_run(k, row, t.cols, ignore_nan, scale, dst);
                    continue;
                }
                _ => {}
            }
            crate::convert::simd::block_amax_run(row, t.cols, ignore_nan, &mut amaxes);
            match (s.kind, &mut store) {
                (SchemeKind::Mx(o), ScaleStore::Bytes(b)) => {
                    o.scales_into(&amaxes, mx_range, &mut b[r * gc..(r + 1) * gc], &mut mults)
                }
                (SchemeKind::Nvfp4(o), ScaleStore::Bytes(b)) => {
                    let (casts, b) = (casts.expect("built for NVFP4"), &mut b[r * gc..(r + 1) * gc]);
                    let mut rs = nvfp4::RowScales { o, global, casts, bytes: b };
                    crate::convert::simd::row_scales_run(&mut rs, &amaxes, &mut mults)
                }
                _ => {
                    for (tc, (&a, m)) in amaxes.iter().zip(mults.iter_mut()).enumerate() {
                        *m = tile_scale(&mut store, r * gc + tc, a);
                    }
                }
            }
            match &enc {
                // scale and round in one pass while the row is in cache
                ElemEncoder::Fast(k) if t.cols.is_multiple_of(16) && k.mode() != mode::SR => {
                    crate::convert::simd::cast_scaled_run(k, row, t.cols, &mults, dst)
                }
                _ => {
                    crate::convert::simd::scale_blocks_run(row, t.cols, &mults, &mut buf);
                    enc.run(&buf, dst, s, r * v.cols)?;
                }
            }
            if let SchemeKind::Nvfp4(nvfp4::Nvfp4Options { neg_zero_plus: true, .. }) = s.kind {
                nvfp4::neg_zero_plus(row, t.cols, &mults, dst);
            }
        }
    } else {
        for tr in 0..gr {
            let (r0, r1) = (tr * t.rows, ((tr + 1) * t.rows).min(v.rows));
            amaxes.iter_mut().for_each(|a| *a = 0.0);
            for r in r0..r1 {
                let row = &xv[r * v.cols..(r + 1) * v.cols];
                for (a, block) in amaxes.iter_mut().zip(row.chunks(t.cols)) {
                    *a = amax_join(*a, amax_of(block, ignore_nan));
                }
            }
            for (tc, (&amax, m)) in amaxes.iter().zip(mults.iter_mut()).enumerate() {
                *m = tile_scale(&mut store, tr * gc + tc, amax);
            }
            for r in r0..r1 {
                let row = &xv[r * v.cols..(r + 1) * v.cols];
                for ((d, block), &m) in buf.chunks_mut(t.cols).zip(row.chunks(t.cols)).zip(&mults) {
                    for (o, &x) in d.iter_mut().zip(block) {
                        *o = x * m;
                    }
                }
                let dst = &mut codes[r * v.cols..(r + 1) * v.cols];
                enc.run(&buf, dst, s, r * v.cols)?;
                if let SchemeKind::Nvfp4(nvfp4::Nvfp4Options { neg_zero_plus: true, .. }) = s.kind {
                    nvfp4::neg_zero_plus(row, t.cols, &mults, dst);
                }
            }
        }
    }
    let (sv, scale_shape) = scale_layout(s, shape, &v, t);
    let scales = match store {
        ScaleStore::Floats(f) => Scales::F32(sv.out_of_view(f)),
        ScaleStore::Bytes(b) => {
            let b = sv.out_of_view(b);
            if matches!(s.kind, SchemeKind::Nvfp4(_)) { Scales::Ue4m3(b) } else { Scales::E8m0(b) }
        }
    };
    Ok(QuantizedTensor {
        scheme: *s,
        shape: shape.to_vec(),
        codes: v.out_of_view(codes),
        scales,
        scale_shape,
        global_scale: global.map(|g| g.0),
    })
}

/// The E8M0 byte of a power of two (NaN → 255).
fn pow2_to_e8m0(v: f32) -> u8 {
    let o = CastOptions { e8m0: crate::convert::E8m0Rounding::Ceil, ..CastOptions::saturating() };
    encode_f32(ElemFormat::E8M0FNU, v, &o, 0).0
}

pub(crate) fn dequantize(q: &QuantizedTensor) -> Vec<f32> {
    let mut out = vec![0f32; q.codes.len()];
    dequantize_into(q, &mut out);
    out
}

/// Dequantizes into `out` (`out.len() == q.codes().len()`, checked by the caller).
pub(crate) fn dequantize_into(q: &QuantizedTensor, out: &mut [f32]) {
    let s = &q.scheme;
    let v = View::new(&q.shape, s.axis).expect("validated at quantize");
    let t = tile_of(s, &v);
    let codes = v.into_view(&q.codes);
    let factors: Vec<f32> = match (s.kind, &q.scales) {
        (SchemeKind::Nvfp4(_), Scales::Ue4m3(b)) => {
            scales_to_view(q, b).iter().map(|&s8| nvfp4::dequant_factor(s8, q.global_scale)).collect()
        }
        (_, Scales::E8m0(b)) => {
            let t = decode_table(ElemFormat::E8M0FNU);
            scales_to_view(q, b).iter().map(|&c| t[c as usize]).collect()
        }
        (_, Scales::Ue4m3(b)) => {
            scales_to_view(q, b).iter().map(|&c| decode_table(ElemFormat::E4M3FN)[c as usize]).collect()
        }
        (_, Scales::F32(f)) => scales_to_view(q, f),
    };
    let table: Cow<'_, [f32]> = match s.kind {
        SchemeKind::Mx(o) => match o.elem {
            MxElem::Float(f) => Cow::Borrowed(&decode_table(f)[..]),
            MxElem::Int8(_) => Cow::Owned((0..=255u8).map(|c| o.elem.decode(c)).collect()),
        },
        SchemeKind::Nvfp4(_) => Cow::Borrowed(&decode_table(ElemFormat::E2M1FN)[..]),
        SchemeKind::Fp8(o) => Cow::Borrowed(&decode_table(o.elem)[..]),
    };
    let table: &[f32; 256] = table[..].try_into().expect("256 entries");
    let permuted = !matches!(codes, Cow::Borrowed(_));
    let mut tmp = if permuted { vec![0f32; codes.len()] } else { Vec::new() };
    let dst: &mut [f32] = if permuted { &mut tmp } else { out };
    let gc = v.cols.div_ceil(t.cols);
    for r in 0..v.rows {
        let frow = &factors[(r / t.rows) * gc..(r / t.rows + 1) * gc];
        let (crow, orow) = (&codes[r * v.cols..(r + 1) * v.cols], &mut dst[r * v.cols..(r + 1) * v.cols]);
        for ((o, c), &f) in orow.chunks_mut(t.cols).zip(crow.chunks(t.cols)).zip(frow) {
            for (y, &k) in o.iter_mut().zip(c) {
                *y = table[k as usize] * f;
            }
        }
        if let SchemeKind::Nvfp4(nvfp4::Nvfp4Options { rht: Some(signs), .. }) = s.kind {
            super::hadamard::each_chunk(orow, &signs, super::rht16_inverse);
        }
    }
    if permuted {
        out.copy_from_slice(&v.out_of_view(tmp));
    }
}

/// For each element (input order), the index of its tile in the view grid
/// (`[rows/tr, cols/tc]`, row-major).
pub(crate) fn tile_indices(q: &QuantizedTensor) -> Vec<u32> {
    let v = View::new(&q.shape, q.scheme.axis).expect("validated at quantize");
    let t = tile_of(&q.scheme, &v);
    let gc = v.cols.div_ceil(t.cols);
    let mut out = Vec::with_capacity(q.codes.len());
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
