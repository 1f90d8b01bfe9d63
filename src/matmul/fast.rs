//! Fast paths, each bit-identical to the model's reference loop (tested in
//! `tests/matmul_props.rs` on odd shapes, and here for every kernel build the
//! CPU has: portable, AVX2/FMA, AVX-512F; see [`SimdBuild`]):
//!
//! * `f32-fma` / `f32-mul-add`: a packed, register-blocked GEMM (Goto/BLIS loop
//!   nest: B panels of `KC × NC`, A blocks of `MC × KC`, a 6×16 micro-tile, 12×32
//!   with AVX-512). Each output's accumulator lives in the C array between K
//!   panels, so it is still one FMA (or mul-then-add) per k in k order, starting
//!   from +0: exactly the reference chain, only with many chains in flight.
//! * `f32-blocked`: the same loop nest with K panels cut at scale-block
//!   boundaries; a block's dot is summed in f32 lanes (6×16 tile, 12×32 with
//!   AVX-512) where that is exact, else in f64 lanes (6×8, 12×16) where that is
//!   exact (every product and
//!   partial sum is a multiple of the smallest product and below 2^24, resp.
//!   2^53, of it, checked from the element values the operands use: FP4/FP6
//!   blocks fit f32, FP8 blocks f64), rounded once to f32, then promoted with
//!   the model's formula, all in registers at the block's end.
//! * tensor-core models with ≤ 3-bit element significands and power-of-two (or
//!   no) in-loop scales: integer alignment and truncation in i32 lanes.
//!
//! Outputs whose rows hold a NaN/Inf element or scale go through the reference
//! per-output routine, so specials behave identically.
#![allow(unsafe_code)]

use super::exact::Kulisch;
use super::operand::{KernelView, Operand};
use super::{Accum, OutDtype, Promote, reference};
use crate::Error;
use crate::convert::SimdBuild;

const MR: usize = 6;
const NR: usize = 16;
const KC: usize = 384;
const MC: usize = 72;
const NC: usize = 4096;
/// f64 tiles are 6×8: twelve 4-lane accumulators.
const NR64: usize = 8;

pub(crate) fn try_matmul(
    a: &Operand,
    b: &Operand,
    c: Option<&[f32]>,
    accum: &Accum,
    out: OutDtype,
) -> Result<Option<Vec<f64>>, Error> {
    try_matmul_with(a, b, c, accum, out, SimdBuild::best())
}

pub(crate) fn has_fast_path(a: &Operand, b: &Operand, accum: &Accum) -> bool {
    match accum {
        Accum::F32Fma | Accum::F32MulAdd => true,
        Accum::F32Blocked(_) => KernelView::new(a, b).is_ok_and(|kv| dot_lane(a, b, kv.kblock).is_some()),
        Accum::TensorCore(tc) => {
            tc.validate().is_ok()
                && KernelView::new(a, b).is_ok_and(|kv| super::tc_fast::TcFast::new(tc, &kv).is_some())
        }
        Accum::Exact | Accum::F64 => false,
    }
}

/// `isa`: the kernel build to run (tests run every build the CPU has).
pub(crate) fn try_matmul_with(
    a: &Operand,
    b: &Operand,
    c: Option<&[f32]>,
    accum: &Accum,
    out: OutDtype,
    isa: SimdBuild,
) -> Result<Option<Vec<f64>>, Error> {
    let n = b.rows();
    match accum {
        Accum::F32Fma | Accum::F32MulAdd => {
            let fma = matches!(accum, Accum::F32Fma);
            let s = gemm_f32(a, b, fma, isa);
            Ok(Some(match (c, out) {
                // the common case as a plain widening loop (it vectorizes)
                (None, OutDtype::F32 | OutDtype::F64) => s.iter().map(|&s| s as f64).collect(),
                _ => s.iter().enumerate().map(|(i, &s)| out.round_f32(c.map_or(s, |c| s + c[i]))).collect(),
            }))
        }
        Accum::F32Blocked(p) => {
            let kv = KernelView::new(a, b)?;
            let Some(lane) = dot_lane(a, b, kv.kblock) else {
                return Ok(None);
            };
            let s = gemm_blocked(&kv, lane, *p, isa);
            Ok(Some(kernel_epilogue(&kv, &s, c, out, |i, j, acc| {
                reference::kernel_output(&kv, i, j, c.map(|c| c[i * n + j]), out, |kv| {
                    reference::blocked_acc(kv, i, j, *p, acc)
                })
            })))
        }
        Accum::TensorCore(tc) => {
            tc.validate()?;
            let kv = KernelView::new(a, b)?.with_scale_order(tc.scale_order);
            match super::tc_fast::TcFast::new(tc, &kv) {
                Some(f) => {
                    let s = f.gemm();
                    Ok(Some(kernel_epilogue(&kv, &s, c, out, |i, j, acc| {
                        reference::kernel_output(&kv, i, j, c.map(|c| c[i * n + j]), out, |kv| tc.output(kv, i, j, acc))
                    })))
                }
                None => Ok(None),
            }
        }
        Accum::Exact | Accum::F64 => Ok(None),
    }
}

/// Rows (of A or B) holding a non-finite element or in-loop scale.
fn special_rows(op: &Operand) -> Vec<bool> {
    let k = op.k();
    let bad: Vec<bool> = (0..=255u8).map(|c| !op.value_of(c).is_finite()).collect();
    (0..op.rows())
        .map(|r| {
            op.codes()[r * k..(r + 1) * k].iter().any(|&c| bad[c as usize])
                || (0..op.nkb()).any(|j| !op.block_scale(r, j).is_finite())
        })
        .collect()
}

/// Applies the epilogue to the fast accumulators; outputs touched by specials
/// (or a non-finite alpha / C) are recomputed by `slow`.
fn kernel_epilogue(
    kv: &KernelView,
    acc: &[f32],
    c: Option<&[f32]>,
    out: OutDtype,
    mut slow: impl FnMut(usize, usize, &mut Kulisch) -> f64,
) -> Vec<f64> {
    let (m, n) = (kv.a.rows(), kv.b.rows());
    let (sa, sb) = (special_rows(kv.a), special_rows(kv.b));
    let rb: Vec<Option<f32>> = (0..n).map(|j| kv.b.row_scale(j)).collect();
    let mut k = Kulisch::default();
    let mut d = Vec::with_capacity(m * n);
    for i in 0..m {
        let ra = kv.a.row_scale(i);
        for j in 0..n {
            let cv = c.map(|c| c[i * n + j]);
            match kv.finish(ra, rb[j], acc[i * n + j], cv) {
                Some(x) if !(sa[i] || sb[j]) && cv.is_none_or(f32::is_finite) => d.push(out.round_f32(x)),
                _ => d.push(slow(i, j, &mut k)),
            }
        }
    }
    d
}

/// Packs rows `r0..r0+rows` × columns `pc..pc+kc` into strips of `w` rows:
/// `dst[(s·kc + kk)·w + i] = value(r0 + s·w + i, pc + kk)`, zero past the last
/// row; `fill(r, k0, out)` writes one row's values `k0..k0 + out.len()`.
#[allow(clippy::too_many_arguments)]
fn pack<T: Copy + Default>(
    fill: &impl Fn(usize, usize, &mut [T]),
    r0: usize,
    rows: usize,
    pc: usize,
    kc: usize,
    w: usize,
    dst: &mut [T],
    row: &mut Vec<T>,
) {
    row.resize(kc, T::default());
    for s in 0..rows.div_ceil(w) {
        let strip = &mut dst[s * kc * w..(s + 1) * kc * w];
        for i in 0..w {
            let r = s * w + i;
            if r < rows {
                fill(r0 + r, pc, &mut row[..kc]);
                for (kk, &v) in row[..kc].iter().enumerate() {
                    strip[kk * w + i] = v;
                }
            } else {
                for kk in 0..kc {
                    strip[kk * w + i] = T::default();
                }
            }
        }
    }
}

/// The Goto loop nest over an `m × n` f32 accumulator array, with `kc_of(pc)`
/// giving each K panel's length and `kernel(pc, kc, a_strip, b_strip, tile, i0, j0)`
/// updating one `MR × NR` tile (in place in the accumulator array where the tile
/// is whole, else a zero-padded copy).
#[allow(clippy::too_many_arguments)]
fn drive<T: Copy + Default, const MR: usize, const NR: usize>(
    a: impl Fn(usize, usize, &mut [T]),
    b: impl Fn(usize, usize, &mut [T]),
    m: usize,
    n: usize,
    k: usize,
    kc_max: usize,
    mut kernel: impl FnMut(usize, usize, &[T], &[T], CTile, usize, usize),
) -> Vec<f32> {
    let mut cbuf = vec![0f32; m * n];
    if m == 0 || n == 0 || k == 0 {
        return cbuf;
    }
    let ncap = NC.min(n.next_multiple_of(NR));
    let mut bp = vec![T::default(); kc_max * ncap];
    let mut ap = vec![T::default(); kc_max * MC];
    let mut row = Vec::new();
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - pc);
            pack(&b, jc, nc, pc, kc, NR, &mut bp, &mut row);
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                pack(&a, ic, mc, pc, kc, MR, &mut ap, &mut row);
                for jr in (0..nc).step_by(NR) {
                    let bt = &bp[jr * kc..(jr + NR) * kc];
                    for ir in (0..mc).step_by(MR) {
                        let at = &ap[ir * kc..(ir + MR) * kc];
                        let (rows, cols) = (MR.min(mc - ir), NR.min(nc - jr));
                        // the next tile's C rows, so that their loads overlap this tile's work
                        let (ni, nj) = if ir + MR < mc { (ir + MR, jr) } else { (0, jr + NR) };
                        if pc > 0 && nj < nc {
                            for i in 0..MR.min(mc - ni) {
                                prefetch(&cbuf[(ic + ni + i) * n + jc + nj..], NR);
                            }
                        }
                        let o = (ic + ir) * n + jc + jr;
                        if rows == MR && cols == NR {
                            // a whole tile: the kernel works in the accumulator array itself
                            let c = CTile { c: &mut cbuf[o..o + (MR - 1) * n + NR], ldc: n };
                            kernel(pc, kc, at, bt, c, ic + ir, jc + jr);
                        } else {
                            let mut tile = [[0f32; NR]; MR];
                            for (i, t) in tile.iter_mut().enumerate().take(rows) {
                                t[..cols].copy_from_slice(&cbuf[o + i * n..o + i * n + cols]);
                            }
                            kernel(pc, kc, at, bt, CTile { c: tile.as_flattened_mut(), ldc: NR }, ic + ir, jc + jr);
                            for (i, t) in tile.iter().enumerate().take(rows) {
                                cbuf[o + i * n..o + i * n + cols].copy_from_slice(&t[..cols]);
                            }
                        }
                    }
                }
            }
        }
    }
    cbuf
}

/// An `R × W` tile of the row-major f32 accumulator array: row `i` is
/// `c[i·ldc..][..W]` (`c` ends with the last row's `W` values).
pub(crate) struct CTile<'a> {
    pub c: &'a mut [f32],
    pub ldc: usize,
}

impl CTile<'_> {
    /// Checks that the tile holds `R` rows of `W` (raw-pointer kernels rely on it).
    #[inline(always)]
    pub fn assert_shape<const R: usize, const W: usize>(&self) {
        assert!(self.ldc >= W && self.c.len() >= (R - 1) * self.ldc + W, "C tile shape");
    }

    /// The tile's values.
    #[inline(always)]
    pub fn load<const R: usize, const W: usize>(&self) -> [[f32; W]; R] {
        std::array::from_fn(|i| self.c[i * self.ldc..i * self.ldc + W].try_into().expect("tile row"))
    }

    /// Overwrites the tile.
    #[inline(always)]
    pub fn store<const R: usize, const W: usize>(&mut self, t: &[[f32; W]; R]) {
        for (i, t) in t.iter().enumerate() {
            self.c[i * self.ldc..i * self.ldc + W].copy_from_slice(t);
        }
    }
}

/// Asks the cache for the cache lines of the `n` floats starting at `x[0]` (a
/// hint: no effect on results).
#[inline(always)]
fn prefetch(x: &[f32], n: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = x.as_ptr().cast::<i8>();
        for off in (0..n * 4).step_by(64) {
            // SAFETY: a prefetch is a hint that never faults, whatever the address (and
            // `_mm_prefetch` needs only SSE, part of the x86_64 baseline).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, n);
}

/// The f32 micro-kernel: `kc` steps of `tile[i][j] = fma(a[i], b[j], tile[i][j])`
/// (or `tile + a·b` rounded twice without `FMA`).
#[inline(always)]
fn micro_f32<const FMA: bool>(kc: usize, a: &[f32], b: &[f32], mut tile: CTile) {
    let mut acc: [[f32; NR]; MR] = tile.load();
    for (av, bv) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(kc) {
        let av: &[f32; MR] = av.try_into().expect("MR");
        let bv: &[f32; NR] = bv.try_into().expect("NR");
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] = if FMA { av[i].mul_add(bv[j], acc[i][j]) } else { acc[i][j] + av[i] * bv[j] };
            }
        }
    }
    tile.store(&acc);
}

/// `[m, n]` f32 accumulators of `A·Bᵀ` over the dequantized operands, decoded
/// and scaled while packing.
pub(crate) fn gemm_f32(a: &Operand, b: &Operand, fma: bool, isa: SimdBuild) -> Vec<f32> {
    let (m, n, k) = (a.rows(), b.rows(), a.k());
    let fa = |r, k0, out: &mut [f32]| a.dequantize_row(r, k0, out);
    let fb = |r, k0, out: &mut [f32]| b.dequantize_row(r, k0, out);
    match isa {
        #[cfg(target_arch = "x86_64")]
        SimdBuild::Avx512 => drive::<f32, 12, 32>(fa, fb, m, n, k, KC, |_, kc, at, bt, tile, _, _| {
            // SAFETY: `SimdBuild::Avx512` is only chosen where AVX-512F is available (see
            // `SimdBuild::supported`), the only precondition of the `#[target_feature]` function.
            unsafe {
                if fma {
                    super::simd::micro_f32_512::<true>(kc, at, bt, tile)
                } else {
                    super::simd::micro_f32_512::<false>(kc, at, bt, tile)
                }
            }
        }),
        #[cfg(target_arch = "x86_64")]
        SimdBuild::Avx2 => drive::<f32, MR, NR>(fa, fb, m, n, k, KC, |_, kc, at, bt, tile, _, _| {
            // SAFETY: `SimdBuild::Avx2` is only chosen where AVX2 and FMA are available.
            unsafe {
                if fma {
                    super::simd::micro_f32::<true>(kc, at, bt, tile)
                } else {
                    super::simd::micro_f32::<false>(kc, at, bt, tile)
                }
            }
        }),
        _ => drive::<f32, MR, NR>(fa, fb, m, n, k, KC, |_, kc, at, bt, tile, _, _| {
            if fma { micro_f32::<true>(kc, at, bt, tile) } else { micro_f32::<false>(kc, at, bt, tile) }
        }),
    }
}

/// The number of significant bits a block dot of `kblock` products can need,
/// with the exponent range it spans: all products are multiples of
/// `2^(lsb_a + lsb_b)` and every partial sum stays below `2^(top_a + top_b)`
/// times `kblock`. `None` when no finite nonzero value occurs (all zero, or
/// only specials, which the reference routine handles per output).
fn dot_bits(a: &Operand, b: &Operand, kblock: usize) -> Option<(i32, i32, i32)> {
    let range = |op: &Operand| {
        let mut used = [false; 256];
        for &c in op.codes() {
            used[c as usize] = true;
        }
        let mut lsb = i32::MAX;
        let mut top = i32::MIN;
        for c in (0..=255u8).filter(|&c| used[c as usize]) {
            let x = op.value_of(c);
            if x != 0.0 && x.is_finite() {
                let (_, m, e) = super::exact::split_f64(x as f64);
                lsb = lsb.min(e + m.trailing_zeros() as i32);
                top = top.max(e + 64 - m.leading_zeros() as i32);
            }
        }
        (lsb != i32::MAX).then_some((lsb, top))
    };
    let ((la, ta), (lb, tb)) = (range(a)?, range(b)?);
    let top = ta + tb + (usize::BITS - kblock.leading_zeros()) as i32;
    Some((top - (la + lb), la + lb, top))
}

/// The lane type in which every block dot is exact: f32 where the dots need at
/// most 24 significant bits inside f32's normal range (FP4 and FP6 elements in
/// 16/32 blocks), else f64 (53 bits; FP8 elements), else none (no fast path).
fn dot_lane(a: &Operand, b: &Operand, kblock: usize) -> Option<DotLane> {
    match dot_bits(a, b, kblock) {
        None => Some(DotLane::F32),
        Some((bits, lsb, top)) if bits <= 24 && lsb >= -126 && top <= 127 => Some(DotLane::F32),
        Some((bits, lsb, top)) if bits <= 53 && lsb >= -1022 && top <= 1023 => Some(DotLane::F64),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DotLane {
    F32,
    F64,
}

/// A block-dot lane type of the portable `f32-blocked` kernel.
trait Lane: Copy + Default {
    fn from_f32(x: f32) -> Self;
    fn fma(self, b: Self, c: Self) -> Self;
    fn to_f32(self) -> f32;
}
impl Lane for f32 {
    #[inline(always)]
    fn from_f32(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn fma(self, b: f32, c: f32) -> f32 {
        self.mul_add(b, c)
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}
impl Lane for f64 {
    #[inline(always)]
    fn from_f32(x: f32) -> f64 {
        x as f64
    }
    #[inline(always)]
    fn fma(self, b: f64, c: f64) -> f64 {
        self.mul_add(b, c)
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
}

/// In-loop block scales transposed to `[nkb, rows padded to the tile]` (1 where
/// an operand has none in the loop, and in the padding), so a tile reads one
/// block's scales as a contiguous run.
fn scale_grid(op: &Operand, nkb: usize, w: usize) -> (Vec<f32>, usize) {
    let stride = op.rows().next_multiple_of(w);
    let mut g = vec![1f32; nkb * stride];
    for r in 0..op.rows() {
        for j in 0..nkb {
            g[j * stride + r] = op.block_scale(r, j);
        }
    }
    (g, stride)
}

/// f32-blocked accumulators: per K block an exact dot (f32 or f64 lanes, see
/// [`dot_lane`]), rounded once to f32, promoted with the block's scales.
fn gemm_blocked(kv: &KernelView, lane: DotLane, p: Promote, isa: SimdBuild) -> Vec<f32> {
    match (lane, isa) {
        (DotLane::F32, SimdBuild::Avx512) => gemm_blocked_in::<f32, 12, 32>(kv, p, isa, KC),
        (DotLane::F64, SimdBuild::Avx512) => gemm_blocked_in::<f64, 12, 16>(kv, p, isa, KC),
        (DotLane::F32, _) => gemm_blocked_in::<f32, MR, NR>(kv, p, isa, KC),
        (DotLane::F64, _) => gemm_blocked_in::<f64, MR, NR64>(kv, p, isa, KC),
    }
}

fn gemm_blocked_in<T: Lane + BlockedSimd<R, W>, const R: usize, const W: usize>(
    kv: &KernelView,
    p: Promote,
    isa: SimdBuild,
    kc_f32: usize,
) -> Vec<f32> {
    let (a, b) = (kv.a, kv.b);
    let (m, n, k) = (a.rows(), b.rows(), a.k());
    let l = kv.kblock;
    // K panels of about `kc_f32`·4 bytes per lane, so that a B micro-panel and an A
    // micro-panel stay in L1 in f64 too
    let kc_max = l * (kc_f32 * 4 / size_of::<T>()).div_ceil(l).max(1);
    let elem = |op: &Operand, r: usize, k0: usize, out: &mut [T]| {
        for (o, &c) in out.iter_mut().zip(&op.codes()[r * k + k0..]) {
            *o = T::from_f32(op.value_of(c));
        }
    };
    let simd = isa != SimdBuild::Portable;
    let (fa, fb) = (|r, k0, out: &mut [T]| elem(a, r, k0, out), |r, k0, out: &mut [T]| elem(b, r, k0, out));
    let nkb = k.div_ceil(l).max(1);
    let ((ga, sta), (gb, stb)) = (scale_grid(a, nkb, R), scale_grid(b, nkb, W));
    drive::<T, R, W>(fa, fb, m, n, k, kc_max, |pc, kc, at, bt, tile, i0, j0| {
        let blk0 = pc / l;
        let sa = Strided { s: &ga[blk0 * sta + i0..], stride: sta };
        let sb = Strided { s: &gb[blk0 * stb + j0..], stride: stb };
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: `isa` is not portable, so the CPU has AVX2 and FMA, and AVX-512F
            // where the tile is the AVX-512 one (`gemm_blocked`, `SimdBuild::supported`).
            unsafe { T::blocked_simd(kc, l, at, bt, tile, sa, sb, p) };
            return;
        }
        let _ = simd;
        blocked_panel::<T, R, W>(kc, l, at, bt, tile, sa, sb, p);
    })
}

/// One block-scale row per K block: block `blk`'s scales for the tile are
/// `s[blk·stride ..][..width]`.
#[derive(Clone, Copy)]
pub(crate) struct Strided<'a> {
    pub s: &'a [f32],
    pub stride: usize,
}

impl Strided<'_> {
    #[inline(always)]
    pub fn block<const N: usize>(&self, blk: usize) -> &[f32; N] {
        self.s[blk * self.stride..blk * self.stride + N].try_into().expect("scale grid row")
    }
}

/// One K panel of `f32-blocked` on one tile: per block an exact dot in `T`,
/// rounded to f32, promoted with the block's scales ([`Promote::apply`]).
#[allow(clippy::too_many_arguments)]
fn blocked_panel<T: Lane, const R: usize, const W: usize>(
    kc: usize,
    l: usize,
    at: &[T],
    bt: &[T],
    mut c: CTile,
    sa: Strided,
    sb: Strided,
    p: Promote,
) {
    let mut tile: [[f32; W]; R] = c.load();
    for (blk, off) in (0..kc).step_by(l).enumerate() {
        let len = l.min(kc - off);
        let mut d = [[T::default(); W]; R];
        let (ab, bb) = (&at[off * R..(off + len) * R], &bt[off * W..(off + len) * W]);
        for (av, bv) in ab.chunks_exact(R).zip(bb.chunks_exact(W)) {
            for i in 0..R {
                for j in 0..W {
                    d[i][j] = av[i].fma(bv[j], d[i][j]);
                }
            }
        }
        let (xa, xb) = (sa.block::<R>(blk), sb.block::<W>(blk));
        for i in 0..R {
            for j in 0..W {
                tile[i][j] = p.apply(tile[i][j], d[i][j].to_f32(), xa[i], xb[j]);
            }
        }
    }
    c.store(&tile);
}

/// The SIMD builds of [`blocked_panel`] for a lane type and tile: AVX2/FMA on
/// 6×16 (f32) and 6×8 (f64), AVX-512F on 12×32 (f32) and 12×16 (f64).
pub(crate) trait BlockedSimd<const R: usize, const W: usize>: Sized {
    /// # Safety
    /// The CPU must support AVX2 and FMA, and AVX-512F for the 12-row tiles.
    #[allow(clippy::too_many_arguments)]
    unsafe fn blocked_simd(
        kc: usize,
        l: usize,
        at: &[Self],
        bt: &[Self],
        tile: CTile,
        sa: Strided,
        sb: Strided,
        p: Promote,
    );
}

/// `impl BlockedSimd<R, W> for T` calling `simd::KERNEL` (the portable build off x86_64).
macro_rules! blocked_simd {
    ($t:ty, $r:expr, $w:expr, $kernel:ident) => {
        impl BlockedSimd<$r, $w> for $t {
            unsafe fn blocked_simd(
                kc: usize,
                l: usize,
                at: &[$t],
                bt: &[$t],
                mut tile: CTile,
                sa: Strided,
                sb: Strided,
                p: Promote,
            ) {
                // the promotions after every block read and write the tile: a local copy
                // (rows a C row apart alias in L1)
                #[cfg(target_arch = "x86_64")]
                {
                    let mut local: [[f32; $w]; $r] = tile.load();
                    let c = CTile { c: local.as_flattened_mut(), ldc: $w };
                    // SAFETY: forwarded precondition.
                    unsafe { super::simd::$kernel(kc, l, at, bt, c, sa, sb, p) };
                    tile.store(&local);
                }
                #[cfg(not(target_arch = "x86_64"))]
                blocked_panel::<$t, $r, $w>(kc, l, at, bt, tile, sa, sb, p)
            }
        }
    };
}
blocked_simd!(f32, MR, NR, blocked_f32);
blocked_simd!(f64, MR, NR64, blocked_f64);
blocked_simd!(f32, 12, 32, blocked_f32_512);
blocked_simd!(f64, 12, 16, blocked_f64_512);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::{Layout, matmul_reference};

    fn op(seed: u64, rows: usize, k: usize, scheme: &str) -> Operand {
        let x: Vec<f32> = (0..rows * k).map(|i| crate::rng::normal(seed, i as u64) as f32).collect();
        Operand::from_f32(&x, [rows, k], Layout::RowsK, &scheme.parse().unwrap()).unwrap()
    }

    #[test]
    fn dispatched_and_portable_builds_equal_the_reference() {
        for (m, n, k) in [(7, 17, 300), (13, 33, 64), (1, 1, 1), (6, 16, 257), (37, 21, 70), (25, 70, 600)] {
            for scheme in ["mxfp8-e4m3", "nvfp4", "mxfp6-e2m3", "fp8-block"] {
                let (a, b) = (op(1, m, k, scheme), op(2, n, k, scheme));
                for acc in [
                    "f32-fma",
                    "f32-mul-add",
                    "f32-blocked",
                    "f32-blocked@promote=ffma-combined",
                    "f32-blocked@promote=fmul-then-ffma",
                    "f32-blocked@promote=fmul-then-ffma-b",
                    "sm90",
                    "sm100-f8f6f4", // the i64 (not narrow) tensor-core path
                ] {
                    let acc: Accum = acc.parse().unwrap();
                    let want = matmul_reference(&a, &b, None, &acc, OutDtype::F32).unwrap();
                    for isa in SimdBuild::available() {
                        if let Some(got) = try_matmul_with(&a, &b, None, &acc, OutDtype::F32, isa).unwrap() {
                            let same = got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(same, "{scheme} {acc} {m}x{n}x{k} {isa:?}");
                        }
                    }
                }
            }
        }
    }

    /// The f32-blocked lane choice the tests above rely on to reach both kernels.
    #[test]
    fn block_dot_lanes() {
        let lane = |scheme: &str| {
            let (a, b) = (op(1, 4, 256, scheme), op(2, 4, 256, scheme));
            dot_lane(&a, &b, KernelView::new(&a, &b).unwrap().kblock)
        };
        assert_eq!(lane("nvfp4"), Some(DotLane::F32));
        assert_eq!(lane("mxfp4"), Some(DotLane::F32));
        assert_eq!(lane("mxfp6-e2m3"), Some(DotLane::F32));
        assert_eq!(lane("mxfp8-e4m3"), Some(DotLane::F64));
        assert_eq!(lane("fp8-block"), Some(DotLane::F64));
    }
}
