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

/// The fast path's result as f64 ([`super::matmul`]) or f32
/// ([`super::matmul_f32`]; `out` is not `F64`), `None` where the model has none.
pub(crate) fn try_matmul<O: OutElem>(
    a: &Operand,
    b: &Operand,
    c: Option<&[f32]>,
    accum: &Accum,
    out: OutDtype,
) -> Result<Option<Vec<O>>, Error> {
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

/// The element type of a fast path's result: f64 ([`super::matmul`]) or f32
/// ([`super::matmul_f32`]). The f32 accumulators live in the result's own memory
/// (one allocation, each page touched once) and the epilogue runs in place.
pub(crate) trait OutElem: Copy + Default {
    /// Whether [`Self::finish`] must run even where the epilogue is the identity.
    const WIDENS: bool;
    /// The f32 accumulator array inside a result `d` (all +0 where `d` is zeroed).
    fn acc(d: &mut [Self]) -> &mut [f32];
    /// `d[i·n + j] = f(i, j, acc[i·n + j])` for every output, in place (`f`'s
    /// values are exact in `Self`).
    fn finish(d: &mut [Self], n: usize, f: impl FnMut(usize, usize, f32) -> f64);
    /// Every output is its accumulator rounded to `out` (nothing to do for f32
    /// results of f32 output).
    fn round_in_place(d: &mut [Self], n: usize, out: OutDtype) {
        if Self::WIDENS || out != OutDtype::F32 {
            Self::finish(d, n, |_, _, acc| out.round_f32(acc));
        }
    }
}

impl OutElem for f32 {
    const WIDENS: bool = false;
    fn acc(d: &mut [f32]) -> &mut [f32] {
        d
    }
    fn finish(d: &mut [f32], n: usize, mut f: impl FnMut(usize, usize, f32) -> f64) {
        for (i, row) in d.chunks_exact_mut(n.max(1)).enumerate() {
            row.iter_mut().enumerate().for_each(|(j, x)| *x = f(i, j, *x) as f32);
        }
    }
}

impl OutElem for f64 {
    const WIDENS: bool = true;
    /// The first `d.len()` f32 slots of `d`'s memory.
    fn acc(d: &mut [f64]) -> &mut [f32] {
        let len = d.len();
        &mut bytemuck::cast_slice_mut(d)[..len]
    }
    /// Runs from the last output to the first, a chunk of 8 at a time: output `x`
    /// overwrites the f32 slots `2x` and `2x + 1`, which hold outputs ≥ `x`, read
    /// already (a chunk reads its own slots into a local first).
    fn finish(d: &mut [f64], n: usize, mut f: impl FnMut(usize, usize, f32) -> f64) {
        const L: usize = 8;
        for i in (0..d.len() / n.max(1)).rev() {
            let mut j1 = n;
            while j1 > 0 {
                let j0 = j1.saturating_sub(L);
                let (x0, x1) = (i * n + j0, i * n + j1);
                let mut x = [0f32; L];
                x[..x1 - x0].copy_from_slice(&bytemuck::cast_slice::<f64, f32>(d)[x0..x1]);
                for (t, (o, x)) in d[x0..x1].iter_mut().zip(x).enumerate() {
                    *o = f(i, j0 + t, x);
                }
                j1 = j0;
            }
        }
    }
}

/// `isa`: the kernel build to run (tests run every build the CPU has).
pub(crate) fn try_matmul_with<O: OutElem>(
    a: &Operand,
    b: &Operand,
    c: Option<&[f32]>,
    accum: &Accum,
    out: OutDtype,
    isa: SimdBuild,
) -> Result<Option<Vec<O>>, Error> {
    let (m, n) = (a.rows(), b.rows());
    match accum {
        Accum::F32Fma | Accum::F32MulAdd => {
            let fma = matches!(accum, Accum::F32Fma);
            let mut d = vec![O::default(); m * n];
            gemm_f32(a, b, fma, isa, O::acc(&mut d));
            match c {
                None => O::round_in_place(&mut d, n, out),
                Some(c) => O::finish(&mut d, n, |i, j, s| out.round_f32(s + c[i * n + j])),
            }
            Ok(Some(d))
        }
        Accum::F32Blocked(p) => {
            let kv = KernelView::new(a, b)?;
            let Some(lane) = dot_lane(a, b, kv.kblock) else {
                return Ok(None);
            };
            let mut d = vec![O::default(); m * n];
            gemm_blocked(&kv, lane, *p, isa, O::acc(&mut d));
            kernel_epilogue(&kv, &mut d, c, out, |i, j, acc| {
                reference::kernel_output(&kv, i, j, c.map(|c| c[i * n + j]), out, |kv| {
                    reference::blocked_acc(kv, i, j, *p, acc)
                })
            });
            Ok(Some(d))
        }
        Accum::TensorCore(tc) => {
            tc.validate()?;
            let kv = KernelView::new(a, b)?.with_scale_order(tc.scale_order);
            match super::tc_fast::TcFast::new(tc, &kv) {
                Some(f) => {
                    let mut d = vec![O::default(); m * n];
                    f.gemm(O::acc(&mut d));
                    kernel_epilogue(&kv, &mut d, c, out, |i, j, acc| {
                        reference::kernel_output(&kv, i, j, c.map(|c| c[i * n + j]), out, |kv| tc.output(kv, i, j, acc))
                    });
                    Ok(Some(d))
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

/// Applies the epilogue to the fast accumulators in `d` (in place); outputs
/// touched by specials (or a non-finite alpha / C) are recomputed by `slow`.
fn kernel_epilogue<O: OutElem>(
    kv: &KernelView,
    d: &mut [O],
    c: Option<&[f32]>,
    out: OutDtype,
    mut slow: impl FnMut(usize, usize, &mut Kulisch) -> f64,
) {
    let n = kv.b.rows();
    let (sa, sb) = (special_rows(kv.a), special_rows(kv.b));
    let rb: Vec<Option<f32>> = (0..n).map(|j| kv.b.row_scale(j)).collect();
    let identity = c.is_none()
        && kv.a.global_scale().is_none()
        && kv.b.global_scale().is_none()
        && rb.iter().all(Option::is_none)
        && (0..kv.a.rows()).all(|i| kv.a.row_scale(i).is_none())
        && !sa.iter().chain(&sb).any(|&s| s);
    if identity {
        // no factor, no C, no specials: every output is its accumulator, rounded
        return O::round_in_place(d, n, out);
    }
    let mut k = Kulisch::default();
    let mut ra = (usize::MAX, None);
    O::finish(d, n, |i, j, acc| {
        if ra.0 != i {
            ra = (i, kv.a.row_scale(i));
        }
        let cv = c.map(|c| c[i * n + j]);
        match kv.finish(ra.1, rb[j], acc, cv) {
            Some(x) if !(sa[i] || sb[j]) && cv.is_none_or(f32::is_finite) => out.round_f32(x),
            _ => slow(i, j, &mut k),
        }
    });
}

/// Where the packs read an operand's values (`[rows, K]`): each code's value
/// from a table, times its K block's factor where the operand has factors, or a
/// dense f32 array where the values are not code × factor.
struct Source<'a, T> {
    codes: &'a [u8],
    k: usize,
    kblock: usize,
    nkb: usize,
    /// The lane value of each code, unscaled (exact: from its f32 value).
    table: [T; 256],
    /// `[rows, nkb]`
    factors: Option<Vec<f32>>,
    dense: Option<&'a [f32]>,
}

impl<'a, T: Lane> Source<'a, T> {
    /// The dequantized values (`Operand::dequantized`'s, as `T`).
    fn dequantized(op: &'a Operand) -> Self {
        Source { factors: op.dequant_factors(), dense: op.dense(), ..Source::elements(op) }
    }

    /// The unscaled element values.
    fn elements(op: &'a Operand) -> Self {
        Source {
            codes: op.codes(),
            k: op.k(),
            kblock: op.kblock(),
            nkb: op.nkb(),
            table: std::array::from_fn(|c| T::from_f32(op.value_of(c as u8))),
            factors: None,
            dense: None,
        }
    }

    /// Packs rows `r0..r0+rows` × columns `pc..pc+kc` into strips of `W` rows:
    /// `dst[(s·kc + kk)·W + i] = value(r0 + s·W + i, pc + kk)`, zero past the last
    /// row.
    fn pack<const W: usize>(&self, r0: usize, rows: usize, pc: usize, kc: usize, dst: &mut [T]) {
        let fetch = |s: usize| {
            // a strip's row segments are short runs far apart: ask for them early
            for r in (r0 + s * W..r0 + rows).take(W) {
                let o = r * self.k + pc;
                match self.dense {
                    Some(d) => prefetch(&d[o..o + kc]),
                    None => prefetch(&self.codes[o..o + kc]),
                }
            }
        };
        fetch(0);
        for (s, strip) in dst[..rows.div_ceil(W) * kc * W].chunks_exact_mut(kc * W).enumerate() {
            fetch(s + 1);
            let lines = strip.as_chunks_mut::<W>().0;
            for i in 0..W {
                match r0 + s * W + i {
                    r if r < r0 + rows => self.fill_lane(r, pc, lines, i),
                    _ => lines.iter_mut().for_each(|l| l[i] = T::default()),
                }
            }
        }
    }

    /// Lane `i` of a strip's `lines` (one per k) from row `r`, columns `pc..`.
    #[inline(always)]
    fn fill_lane<const W: usize>(&self, r: usize, pc: usize, lines: &mut [[T; W]], i: usize) {
        let (o, kc) = (r * self.k + pc, lines.len());
        if let Some(d) = self.dense {
            lines.iter_mut().zip(&d[o..o + kc]).for_each(|(l, &x)| l[i] = T::from_f32(x));
            return;
        }
        let codes = &self.codes[o..o + kc];
        let Some(f) = &self.factors else {
            lines.iter_mut().zip(codes).for_each(|(l, &c)| l[i] = self.table[c as usize]);
            return;
        };
        // one factor per K block: the lane in block segments (block `j` ends at `end`)
        let (mut k0, mut j) = (0, pc / self.kblock);
        while k0 < kc {
            let end = ((j + 1) * self.kblock - pc).min(kc);
            let fac = f[r * self.nkb + j];
            for (l, &c) in lines[k0..end].iter_mut().zip(&codes[k0..end]) {
                // the f32 product `Operand::dequantized` computes
                l[i] = T::from_f32(self.table[c as usize].to_f32() * fac);
            }
            (k0, j) = (end, j + 1);
        }
    }
}

/// The Goto loop nest over the `m × n` f32 accumulator array `cbuf` (all +0 on
/// entry), packing from `a` and `b`, with K panels of `kc_max` and `kernel(pc,
/// kc, a_strip, b_strip, tile, i0, j0)` updating one `MR × NR` tile (in place in
/// the accumulator array where the tile is whole, else a zero-padded copy); on
/// the first panel (`pc == 0`) the tile holds +0 and a kernel may start from +0
/// without reading it.
#[allow(clippy::too_many_arguments)]
fn drive<T: Lane, const MR: usize, const NR: usize>(
    a: &Source<T>,
    b: &Source<T>,
    m: usize,
    n: usize,
    k: usize,
    kc_max: usize,
    cbuf: &mut [f32],
    mut kernel: impl FnMut(usize, usize, &[T], &[T], CTile, usize, usize),
) {
    assert_eq!(cbuf.len(), m * n, "accumulator array");
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let ncap = NC.min(n.next_multiple_of(NR));
    let (mut bpv, ob) = aligned::<T>(kc_max * ncap);
    let (mut apv, oa) = aligned::<T>(kc_max * MC);
    let (bp, ap) = (&mut bpv[ob..], &mut apv[oa..]);
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - pc);
            b.pack::<NR>(jc, nc, pc, kc, bp);
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                a.pack::<MR>(ic, mc, pc, kc, ap);
                for jr in (0..nc).step_by(NR) {
                    let bt = &bp[jr * kc..(jr + NR) * kc];
                    for ir in (0..mc).step_by(MR) {
                        let at = &ap[ir * kc..(ir + MR) * kc];
                        let (rows, cols) = (MR.min(mc - ir), NR.min(nc - jr));
                        // the next tile's C rows, so that their loads overlap this tile's work
                        let (ni, nj) = if ir + MR < mc { (ir + MR, jr) } else { (0, jr + NR) };
                        if pc > 0 && nj < nc {
                            for i in 0..MR.min(mc - ni) {
                                let o = (ic + ni + i) * n + jc + nj;
                                prefetch(&cbuf[o..o + NR.min(nc - nj)]);
                            }
                        }
                        let o = (ic + ir) * n + jc + jr;
                        if rows == MR && cols == NR {
                            // a whole tile: the kernel works in the accumulator array itself
                            let c = CTile { c: &mut cbuf[o..o + (MR - 1) * n + NR], ldc: n };
                            kernel(pc, kc, at, bt, c, ic + ir, jc + jr);
                        } else {
                            let mut tile = [[0f32; NR]; MR];
                            if pc > 0 {
                                for (i, t) in tile.iter_mut().enumerate().take(rows) {
                                    t[..cols].copy_from_slice(&cbuf[o + i * n..o + i * n + cols]);
                                }
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
}

/// A zeroed buffer holding `len` values from offset `o` on, where its memory
/// starts a 64-byte cache line (a packed line of 16 f32 then never straddles two
/// lines): `(buffer, o)`.
fn aligned<T: Clone + Default>(len: usize) -> (Vec<T>, usize) {
    let pad = 64 / size_of::<T>();
    let v = vec![T::default(); len + pad];
    let o = v.as_ptr().align_offset(64);
    (v, if o < pad { o } else { 0 })
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

/// Asks the cache for every cache line `x` touches (a hint: no effect on
/// results).
#[inline(always)]
fn prefetch<T>(x: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // from the start of the first line, so that a slice straddling a line
        // boundary has its last line fetched too
        let head = x.as_ptr() as usize % 64;
        let p = x.as_ptr().cast::<i8>().wrapping_sub(head);
        for line in 0..(head + size_of_val(x)).div_ceil(64) {
            // SAFETY: a prefetch is a hint that never faults, whatever the address (and
            // `_mm_prefetch` needs only SSE, part of the x86_64 baseline).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(line * 64)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// The f32 micro-kernel: `kc` steps of `tile[i][j] = fma(a[i], b[j], tile[i][j])`
/// (or `tile + a·b` rounded twice without `FMA`), from +0 without reading the
/// tile when `fresh`.
#[inline(always)]
fn micro_f32<const FMA: bool>(kc: usize, a: &[f32], b: &[f32], mut tile: CTile, fresh: bool) {
    let mut acc: [[f32; NR]; MR] = if fresh { [[0.0; NR]; MR] } else { tile.load() };
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

/// The `[m, n]` f32 accumulators of `A·Bᵀ` over the dequantized operands,
/// decoded and scaled while packing, into `acc` (all +0 on entry).
pub(crate) fn gemm_f32(a: &Operand, b: &Operand, fma: bool, isa: SimdBuild, acc: &mut [f32]) {
    let (m, n, k) = (a.rows(), b.rows(), a.k());
    let (fa, fb) = (&Source::dequantized(a), &Source::dequantized(b));
    match isa {
        #[cfg(target_arch = "x86_64")]
        SimdBuild::Avx512 => drive::<f32, 12, 32>(fa, fb, m, n, k, KC, acc, |pc, kc, at, bt, tile, _, _| {
            // SAFETY: `SimdBuild::Avx512` is only chosen where AVX-512F is available (see
            // `SimdBuild::supported`), the only precondition of the `#[target_feature]` function.
            unsafe {
                if fma {
                    super::simd::micro_f32_512::<true>(kc, at, bt, tile, pc == 0)
                } else {
                    super::simd::micro_f32_512::<false>(kc, at, bt, tile, pc == 0)
                }
            }
        }),
        #[cfg(target_arch = "x86_64")]
        SimdBuild::Avx2 => drive::<f32, MR, NR>(fa, fb, m, n, k, KC, acc, |pc, kc, at, bt, tile, _, _| {
            // SAFETY: `SimdBuild::Avx2` is only chosen where AVX2 and FMA are available.
            unsafe {
                if fma {
                    super::simd::micro_f32::<true>(kc, at, bt, tile, pc == 0)
                } else {
                    super::simd::micro_f32::<false>(kc, at, bt, tile, pc == 0)
                }
            }
        }),
        _ => drive::<f32, MR, NR>(fa, fb, m, n, k, KC, acc, |pc, kc, at, bt, tile, _, _| {
            if fma {
                micro_f32::<true>(kc, at, bt, tile, pc == 0)
            } else {
                micro_f32::<false>(kc, at, bt, tile, pc == 0)
            }
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
fn gemm_blocked(kv: &KernelView, lane: DotLane, p: Promote, isa: SimdBuild, acc: &mut [f32]) {
    match (lane, isa) {
        (DotLane::F32, SimdBuild::Avx512) => gemm_blocked_in::<f32, 12, 32>(kv, p, isa, KC, acc),
        (DotLane::F64, SimdBuild::Avx512) => gemm_blocked_in::<f64, 12, 16>(kv, p, isa, KC, acc),
        (DotLane::F32, _) => gemm_blocked_in::<f32, MR, NR>(kv, p, isa, KC, acc),
        (DotLane::F64, _) => gemm_blocked_in::<f64, MR, NR64>(kv, p, isa, KC, acc),
    }
}

fn gemm_blocked_in<T: Lane + BlockedSimd<R, W>, const R: usize, const W: usize>(
    kv: &KernelView,
    p: Promote,
    isa: SimdBuild,
    kc_f32: usize,
    acc: &mut [f32],
) {
    let (a, b) = (kv.a, kv.b);
    let (m, n, k) = (a.rows(), b.rows(), a.k());
    let l = kv.kblock;
    // K panels of about `kc_f32`·4 bytes per lane, so that a B micro-panel and an A
    // micro-panel stay in L1 in f64 too
    let kc_max = l * (kc_f32 * 4 / size_of::<T>()).div_ceil(l).max(1);
    let simd = isa != SimdBuild::Portable;
    let (fa, fb) = (&Source::elements(a), &Source::elements(b));
    let nkb = k.div_ceil(l).max(1);
    let ((ga, sta), (gb, stb)) = (scale_grid(a, nkb, R), scale_grid(b, nkb, W));
    drive::<T, R, W>(fa, fb, m, n, k, kc_max, acc, |pc, kc, at, bt, tile, i0, j0| {
        let blk0 = pc / l;
        let sa = Strided { s: &ga[blk0 * sta + i0..], stride: sta };
        let sb = Strided { s: &gb[blk0 * stb + j0..], stride: stb };
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: `isa` is not portable, so the CPU has AVX2 and FMA, and AVX-512F
            // where the tile is the AVX-512 one (`gemm_blocked`, `SimdBuild::supported`).
            unsafe { T::blocked_simd(kc, l, at, bt, tile, sa, sb, p, pc == 0) };
            return;
        }
        let _ = simd;
        blocked_panel::<T, R, W>(kc, l, at, bt, tile, sa, sb, p, pc == 0);
    });
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
/// rounded to f32, promoted with the block's scales ([`Promote::apply`]), into
/// the tile (+0 without reading it when `fresh`).
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
    fresh: bool,
) {
    let mut tile: [[f32; W]; R] = if fresh { [[0.0; W]; R] } else { c.load() };
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
        fresh: bool,
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
                tile: CTile,
                sa: Strided,
                sb: Strided,
                p: Promote,
                fresh: bool,
            ) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: forwarded precondition.
                unsafe {
                    super::simd::$kernel(kc, l, at, bt, tile, sa, sb, p, fresh)
                };
                #[cfg(not(target_arch = "x86_64"))]
                blocked_panel::<$t, $r, $w>(kc, l, at, bt, tile, sa, sb, p, fresh)
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
                        if let Some(got) = try_matmul_with::<f64>(&a, &b, None, &acc, OutDtype::F32, isa).unwrap() {
                            let same = got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(same, "{scheme} {acc} {m}x{n}x{k} {isa:?}");
                        }
                        if let Some(got) = try_matmul_with::<f32>(&a, &b, None, &acc, OutDtype::F32, isa).unwrap() {
                            let same = got.iter().zip(&want).all(|(x, y)| x.to_bits() == (*y as f32).to_bits());
                            assert!(same, "f32 result: {scheme} {acc} {m}x{n}x{k} {isa:?}");
                        }
                    }
                }
            }
        }
    }

    /// The packs equal the dequantized values (`Operand::dequantize_row`, through
    /// an untouched clone, so that the pack reads the codes) and the element values,
    /// with zero lanes past the last row, for panels that start and end inside
    /// scale blocks.
    #[test]
    fn packs_equal_the_operand_values() {
        fn check<const W: usize>(op: &Operand, r0: usize, rows: usize, pc: usize, kc: usize) {
            let (deq, elem) = (op.clone().dequantized().to_vec(), op.elements().to_vec());
            for (src, want, what) in [
                (Source::<f32>::dequantized(op), &deq, "dequantized"),
                (Source::<f32>::elements(op), &elem, "elements"),
            ] {
                let mut dst = vec![f32::NAN; rows.div_ceil(W) * kc * W];
                src.pack::<W>(r0, rows, pc, kc, &mut dst);
                for (idx, &got) in dst.iter().enumerate() {
                    let (s, kk, i) = (idx / (kc * W), idx / W % kc, idx % W);
                    let r = s * W + i;
                    let w = if r < rows { want[(r0 + r) * op.k() + pc + kk] } else { 0.0 };
                    assert_eq!(got.to_bits(), w.to_bits(), "{} {what} W={W} r={r} kk={kk}", op.name());
                }
            }
            let mut dst = vec![f64::NAN; rows.div_ceil(W) * kc * W];
            Source::<f64>::elements(op).pack::<W>(r0, rows, pc, kc, &mut dst);
            let same = dst.iter().enumerate().all(|(idx, &got)| {
                let (s, kk, i) = (idx / (kc * W), idx / W % kc, idx % W);
                let r = s * W + i;
                got.to_bits() == if r < rows { elem[(r0 + r) * op.k() + pc + kk] as f64 } else { 0.0 }.to_bits()
            });
            assert!(same, "{} f64 elements W={W}", op.name());
        }
        let schemes = [
            "mxfp8-e4m3",
            "mxfp4",
            "mxint8",
            "nvfp4",
            "nvfp4@global-scale=on",
            "nvfp4@rht=on",
            "fp8-block",
            "fp8-block@block=128x128",
            "fp8-row",
            "fp8-tensor",
        ];
        for scheme in schemes {
            let a = op(3, 23, 320, scheme);
            check::<6>(&a, 0, 23, 0, 320);
            check::<16>(&a, 5, 18, 17, 200);
            check::<12>(&a, 22, 1, 299, 1);
        }
        let codes: Vec<u8> = (0..13 * 70).map(|i| (i * 37 % 256) as u8).collect();
        let plain = Operand::from_codes(crate::format::ElemFormat::E5M2, &codes, [13, 70], Layout::RowsK).unwrap();
        check::<6>(&plain, 1, 12, 3, 60);
        check::<16>(&plain, 0, 13, 0, 70);
    }

    /// The in-place epilogues equal the plain map: f64 results (which read the
    /// f32 accumulators from their own memory) on every row length to 20 and a
    /// big array, and f32 results.
    #[test]
    fn in_place_epilogues_equal_the_map() {
        for (m, n) in (0..4).flat_map(|m| (0..21).map(move |n| (m, n))).chain([(3, 1365), (1, 4099)]) {
            let x: Vec<f32> = (0..m * n).map(|i| crate::rng::normal(9, i as u64) as f32).collect();
            let f = |i: usize, j: usize, x: f32| x as f64 * 3.0 + (i * 10_000 + j) as f64;
            let mut d = vec![0f64; m * n];
            <f64 as OutElem>::acc(&mut d).copy_from_slice(&x);
            <f64 as OutElem>::finish(&mut d, n, f);
            assert!(d.iter().zip(&x).enumerate().all(|(t, (&d, &x))| d == f(t / n, t % n, x)), "{m}x{n}");
            let mut d32 = x.clone();
            <f32 as OutElem>::finish(&mut d32, n, |i, j, x| (x as f64 + (i * 100 + j) as f64) as f32 as f64);
            let want = |t: usize, x: f32| (x as f64 + (t / n * 100 + t % n) as f64) as f32;
            assert!(d32.iter().zip(&x).enumerate().all(|(t, (&d, &x))| d == want(t, x)), "{m}x{n} f32");
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
