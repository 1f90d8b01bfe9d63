//! The one quantization engine: view, tiles, amax, scale, element encode; and its
//! inverse.

use super::mx::encode_int8;
use super::plan::{Plan, ScaleRepr};
use super::{MxElem, QuantizedTensor, Scales, Scheme, SchemeKind, nvfp4};
use crate::Error;
use crate::convert::kernel::{BlockScaler, CastKernel, mode};
use crate::convert::{CastOptions, Rounding, encode_f32, encode_slice};
use crate::format::ElemFormat;
use std::borrow::Cow;

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
/// much as quantizing it). On error `out` keeps its scheme, shape and scales with
/// every code 0: still a valid tensor, its old codes gone.
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
    let old_len = out.codes.len();
    match quantize_reusing(x, shape, s, std::mem::take(&mut out.codes)) {
        Ok(q) => {
            *out = q;
            Ok(())
        }
        Err(e) => {
            out.codes = vec![0; old_len];
            Err(e)
        }
    }
}

/// The blocked view of `x` (rows along the blocked axis, the scheme's Hadamard
/// transform applied) and its global amaxes (NVFP4 with a global scale: one, or
/// one per view row when row-scaled): what the encoder and the global scales read.
fn prepared<'a>(x: &'a [f32], shape: &[usize], plan: &Plan) -> Result<(Cow<'a, [f32]>, Vec<f32>), Error> {
    let s = &plan.scheme;
    let v = plan.view;
    if v.rows * v.cols != x.len() {
        return Err(Error::Shape(format!("{} elements do not fill shape {shape:?}", x.len())));
    }
    let mut xv = v.into_view(x);
    let (rht, rht_bf16) = match s.kind {
        SchemeKind::Nvfp4(o) => (o.rht, o.rht_bf16),
        _ => (None, false),
    };
    if let Some(signs) = rht {
        if !v.cols.is_multiple_of(16) {
            return Err(Error::Shape(format!(
                "the Hadamard transform needs a blocked length divisible by 16, got {}",
                v.cols
            )));
        }
        for row in xv.to_mut().chunks_exact_mut(v.cols) {
            super::hadamard::each_chunk(row, &signs, super::rht16);
            if rht_bf16 {
                row.iter_mut().for_each(|v| *v = half::bf16::from_f32(*v).to_f32());
            }
        }
    }
    let amax = match s.kind {
        SchemeKind::Nvfp4(o) if o.global_scale && o.row_global => {
            // every row, an empty one included (amax 0)
            (0..v.rows).map(|r| amax_of(&xv[r * v.cols..(r + 1) * v.cols], false)).collect()
        }
        SchemeKind::Nvfp4(o) if o.global_scale => vec![amax_of(&xv, false)],
        _ => Vec::new(),
    };
    Ok((xv, amax))
}

/// The global amax an NVFP4 scheme with a global scale takes of `x` (after its
/// Hadamard transform, when it has one): the `amax` / `columnwise_amax` that
/// TransformerEngine keeps beside the tensor and multiplies into the GEMM's
/// alpha. `None` for a scheme without a global scale.
///
/// # Errors
/// As [`quantize`] (shape, options).
///
/// # Examples
/// ```
/// use lowp::block::global_amax;
/// let s = "nvfp4@global-scale=on".parse().unwrap();
/// assert_eq!(global_amax(&[1.0, -3.0, 2.0, 0.5], &[1, 4], &s).unwrap(), Some(3.0));
/// assert_eq!(global_amax(&[1.0; 32], &[32], &"mxfp8-e4m3".parse().unwrap()).unwrap(), None);
/// ```
pub fn global_amax(x: &[f32], shape: &[usize], s: &Scheme) -> Result<Option<f32>, Error> {
    let plan = Plan::new(s, shape)?;
    Ok(if plan.row_global { None } else { prepared(x, shape, &plan)?.1.first().copied() })
}

/// Every global amax an NVFP4 scheme with a global scale takes of `x`: one, or
/// one per row of the blocked view for a row-scaled scheme (`global-scale=row`,
/// TE's per-row `amax` vector); empty without a global scale.
///
/// # Errors
/// As [`quantize`].
///
/// # Examples
/// ```
/// use lowp::block::global_amaxes;
/// let s = "nvfp4@like=te@global-scale=row".parse().unwrap();
/// let x: Vec<f32> = (0..32).map(|i| if i < 16 { i as f32 } else { -0.5 }).collect();
/// assert_eq!(global_amaxes(&x, &[2, 16], &s).unwrap(), vec![15.0, 0.5]);
/// ```
pub fn global_amaxes(x: &[f32], shape: &[usize], s: &Scheme) -> Result<Vec<f32>, Error> {
    let plan = Plan::new(s, shape)?;
    Ok(prepared(x, shape, &plan)?.1)
}

fn quantize_reusing(x: &[f32], shape: &[usize], s: &Scheme, mut codes: Vec<u8>) -> Result<QuantizedTensor, Error> {
    let plan = Plan::new(s, shape)?;
    let (v, t) = (plan.view, plan.tile);
    let (xv, gamax) = prepared(x, shape, &plan)?;
    let ignore_nan = matches!(s.kind, SchemeKind::Mx(o) if o.nan == super::BlockNan::Ignore);
    // the global (dequant scale, encode factor) of each entry of gamax
    let globals: Vec<(f32, f32)> = match s.kind {
        SchemeKind::Nvfp4(o) => gamax.iter().filter_map(|&a| nvfp4::global(&o, a)).collect(),
        _ => Vec::new(),
    };
    let global_of = |r: usize| if plan.row_global { globals.get(r).copied() } else { globals.first().copied() };
    // the amax view row `r`'s global scale came from (4over6's error reads it)
    let gamax_of = |r: usize| if plan.row_global { gamax[r] } else { gamax[0] };
    let global = global_of(0);
    let four = match s.kind {
        SchemeKind::Nvfp4(o) => o.four_over_six.map(|f| (o, f)),
        _ => None,
    };
    let (gr, gc) = plan.grid;
    let mut store = match plan.scale {
        ScaleRepr::F32 => ScaleStore::Floats(vec![0.0; gr * gc]),
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
    // one 2-D tile and its codes under 4over6 (reused from tile to tile)
    let (mut tile4, mut codes4): (Vec<f32>, Vec<u8>) = (Vec::new(), Vec::new());
    // one tile's (stored scale, encode multiplier)
    let tile_scale = |store: &mut ScaleStore, k: usize, amax: f32| -> f32 {
        match (s.kind, store) {
            (SchemeKind::Mx(o), ScaleStore::Bytes(b)) => {
                let e8m0 = o.scale(amax, mx_range);
                b[k] = e8m0;
                super::mx::encode_multiplier(e8m0)
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
            if let (Some((o, f)), ScaleStore::Bytes(b)) = (four, &mut store) {
                crate::convert::simd::block_amax_run(row, t.cols, ignore_nan, &mut amaxes);
                let (g, ga) = (global_of(r).expect("4over6 has a global scale"), gamax_of(r));
                let casts = casts.expect("built for NVFP4");
                let mut encode = |src: &[f32], d: &mut [u8]| enc.run(src, d, s, 0);
                let blocks = row.chunks(t.cols).zip(dst.chunks_mut(t.cols)).zip(&amaxes);
                for (tc, ((xs, cs), &a)) in blocks.enumerate() {
                    let tab = &plan.elem.table;
                    b[r * gc + tc] =
                        nvfp4::four_over_six_tile(&o, f, xs, xs.len(), (a, g, ga), casts, tab, &mut encode, cs)?;
                }
                continue;
            }
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
                    let mut rs = nvfp4::RowScales { o, global: global_of(r), casts, bytes: b };
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
            if let (Some((o, f)), ScaleStore::Bytes(b)) = (four, &mut store) {
                // gather each tile, choose its candidate, scatter its codes
                let (g, ga) = (global.expect("4over6 has a global scale"), gamax_of(0));
                let casts = scale_casts.as_ref().expect("built for NVFP4");
                let mut encode = |src: &[f32], d: &mut [u8]| enc.run(src, d, s, 0);
                for (tc, &a) in amaxes.iter().enumerate() {
                    let (c0, c1) = (tc * t.cols, ((tc + 1) * t.cols).min(v.cols));
                    let w = c1 - c0;
                    tile4.clear();
                    (r0..r1).for_each(|r| tile4.extend_from_slice(&xv[r * v.cols + c0..r * v.cols + c1]));
                    codes4.resize(tile4.len(), 0);
                    let tab = &plan.elem.table;
                    b[tr * gc + tc] =
                        nvfp4::four_over_six_tile(&o, f, &tile4, w, (a, g, ga), casts, tab, &mut encode, &mut codes4)?;
                    for (i, r) in (r0..r1).enumerate() {
                        codes[r * v.cols + c0..r * v.cols + c1].copy_from_slice(&codes4[i * w..(i + 1) * w]);
                    }
                }
                continue;
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
    let scales = match store {
        ScaleStore::Floats(f) => Scales::F32(plan.scales_from_view(f)),
        ScaleStore::Bytes(b) if plan.scale == ScaleRepr::Ue4m3 => Scales::Ue4m3(plan.scales_from_view(b)),
        ScaleStore::Bytes(b) => Scales::E8m0(plan.scales_from_view(b)),
    };
    Ok(QuantizedTensor { codes: v.out_of_view(codes), plan, scales, globals: globals.iter().map(|g| g.0).collect() })
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
    let p = &q.plan;
    let (v, t) = (p.view, p.tile);
    let codes = v.into_view(&q.codes);
    let factors = p.factors(&q.scales, &q.globals);
    let table = &p.elem.table;
    let permuted = !matches!(codes, Cow::Borrowed(_));
    let mut tmp = if permuted { vec![0f32; codes.len()] } else { Vec::new() };
    let dst: &mut [f32] = if permuted { &mut tmp } else { out };
    let gc = p.grid.1;
    for r in 0..v.rows {
        let frow = &factors[(r / t.rows) * gc..(r / t.rows + 1) * gc];
        let (crow, orow) = (&codes[r * v.cols..(r + 1) * v.cols], &mut dst[r * v.cols..(r + 1) * v.cols]);
        for ((o, c), &f) in orow.chunks_mut(t.cols).zip(crow.chunks(t.cols)).zip(frow) {
            for (y, &k) in o.iter_mut().zip(c) {
                *y = table[k as usize] * f;
            }
        }
        if let Some(signs) = p.rht {
            super::hadamard::each_chunk(orow, &signs, super::rht16_inverse);
        }
    }
    if permuted {
        out.copy_from_slice(&v.out_of_view(tmp));
    }
}
