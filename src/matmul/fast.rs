//! Fast paths, each bit-identical to the model's reference loop (tested in
//! `tests/matmul_props.rs` on odd shapes and here on the dispatched vs portable
//! builds):
//!
//! * `f32-fma` / `f32-mul-add`: a packed, register-blocked GEMM (Goto/BLIS loop
//!   nest: B panels of `KC × NC`, A blocks of `MC × KC`, a 6×16 micro-tile). Each
//!   output's accumulator lives in the C tile between K panels, so it is still one
//!   FMA (or mul-then-add) per k in k order, starting from +0: exactly the
//!   reference chain, only with many chains in flight.
//! * `f32-blocked`: the same loop nest in f64 with K panels cut at scale-block
//!   boundaries; a block's dot is summed in f64 where that is exact (every
//!   product and partial sum is a multiple of the smallest product and below
//!   2^53 of it, checked from the element formats' ranges), rounded once to f32,
//!   then promoted with the model's formula.
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
    try_matmul_with(a, b, c, accum, out, false)
}

pub(crate) fn has_fast_path(a: &Operand, b: &Operand, accum: &Accum) -> bool {
    match accum {
        Accum::F32Fma | Accum::F32MulAdd => true,
        Accum::F32Blocked(_) => KernelView::new(a, b).is_ok_and(|kv| f64_exact(a, b, kv.kblock)),
        Accum::TensorCore(tc) => {
            tc.validate().is_ok()
                && KernelView::new(a, b).is_ok_and(|kv| super::tc_fast::TcFast::new(tc, &kv).is_some())
        }
        Accum::Exact | Accum::F64 => false,
    }
}

/// `portable`: use the portable kernel build even where AVX2/FMA is available (tests).
pub(crate) fn try_matmul_with(
    a: &Operand,
    b: &Operand,
    c: Option<&[f32]>,
    accum: &Accum,
    out: OutDtype,
    portable: bool,
) -> Result<Option<Vec<f64>>, Error> {
    let n = b.rows();
    match accum {
        Accum::F32Fma | Accum::F32MulAdd => {
            let fma = matches!(accum, Accum::F32Fma);
            let s = gemm_f32(a, b, fma, portable);
            Ok(Some(s.iter().enumerate().map(|(i, &s)| out.round_f32(c.map_or(s, |c| s + c[i]))).collect()))
        }
        Accum::F32Blocked(p) => {
            let kv = KernelView::new(a, b)?;
            if !f64_exact(a, b, kv.kblock) {
                return Ok(None);
            }
            let s = gemm_blocked(&kv, *p, portable);
            Ok(Some(kernel_epilogue(&kv, &s, c, out, |i, j, acc| {
                reference::kernel_output(&kv, i, j, c.map(|c| c[i * n + j]), out, |kv| {
                    reference::blocked_acc(kv, i, j, *p, acc)
                })
            })))
        }
        Accum::TensorCore(tc) => {
            tc.validate()?;
            let kv = KernelView::new(a, b)?;
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
    let mut k = Kulisch::default();
    let mut d = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let alpha = kv.alpha(i, j);
            let cv = c.map(|c| c[i * n + j]);
            if sa[i] || sb[j] || !alpha.is_none_or(f32::is_finite) || !cv.is_none_or(f32::is_finite) {
                d.push(slow(i, j, &mut k));
            } else {
                d.push(out.round_f32(KernelView::epilogue(alpha, acc[i * n + j], cv)));
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
/// updating one `MR × NR` tile.
#[allow(clippy::too_many_arguments)]
fn drive<T: Copy + Default, const MR: usize, const NR: usize>(
    a: impl Fn(usize, usize, &mut [T]),
    b: impl Fn(usize, usize, &mut [T]),
    m: usize,
    n: usize,
    k: usize,
    kc_max: usize,
    mut kernel: impl FnMut(usize, usize, &[T], &[T], &mut [[f32; NR]; MR], usize, usize),
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
                        let mut tile = [[0f32; NR]; MR];
                        for (i, t) in tile.iter_mut().enumerate().take(rows) {
                            let o = (ic + ir + i) * n + jc + jr;
                            t[..cols].copy_from_slice(&cbuf[o..o + cols]);
                        }
                        kernel(pc, kc, at, bt, &mut tile, ic + ir, jc + jr);
                        for (i, t) in tile.iter().enumerate().take(rows) {
                            let o = (ic + ir + i) * n + jc + jr;
                            cbuf[o..o + cols].copy_from_slice(&t[..cols]);
                        }
                    }
                }
            }
        }
    }
    cbuf
}

/// The f32 micro-kernel: `kc` steps of `tile[i][j] = fma(a[i], b[j], tile[i][j])`
/// (or `tile + a·b` rounded twice without `FMA`).
#[inline(always)]
fn micro_f32<const FMA: bool>(kc: usize, a: &[f32], b: &[f32], tile: &mut [[f32; NR]; MR]) {
    let mut acc = *tile;
    for (av, bv) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(kc) {
        let av: &[f32; MR] = av.try_into().expect("MR");
        let bv: &[f32; NR] = bv.try_into().expect("NR");
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] = if FMA { av[i].mul_add(bv[j], acc[i][j]) } else { acc[i][j] + av[i] * bv[j] };
            }
        }
    }
    *tile = acc;
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `[m, n]` f32 accumulators of `A·Bᵀ` over the dequantized operands, decoded
/// and scaled while packing.
pub(crate) fn gemm_f32(a: &Operand, b: &Operand, fma: bool, portable: bool) -> Vec<f32> {
    let simd = !portable && has_avx2_fma();
    let (m, n, k) = (a.rows(), b.rows(), a.k());
    let fa = |r, k0, out: &mut [f32]| a.dequantize_row(r, k0, out);
    let fb = |r, k0, out: &mut [f32]| b.dequantize_row(r, k0, out);
    drive::<f32, MR, NR>(fa, fb, m, n, k, KC, |_, kc, at, bt, tile, _, _| {
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: AVX2 and FMA are available (checked by `has_avx2_fma`), the only
            // precondition of the `#[target_feature]` function.
            unsafe {
                if fma {
                    super::simd::micro_f32::<true>(kc, at, bt, tile)
                } else {
                    super::simd::micro_f32::<false>(kc, at, bt, tile)
                }
            }
            return;
        }
        let _ = simd;
        if fma { micro_f32::<true>(kc, at, bt, tile) } else { micro_f32::<false>(kc, at, bt, tile) }
    })
}

/// Whether every block dot of `kblock` products is exact in f64: all products
/// are multiples of `2^(lsb_a + lsb_b)` and every partial sum stays below
/// `2^(53 + lsb_a + lsb_b)`.
fn f64_exact(a: &Operand, b: &Operand, kblock: usize) -> bool {
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
        (lsb, top)
    };
    let ((la, ta), (lb, tb)) = (range(a), range(b));
    if la == i32::MAX || lb == i32::MAX {
        return true; // all zero (or non-finite, handled per output)
    }
    let bits = (ta + tb) - (la + lb) + (usize::BITS - kblock.leading_zeros()) as i32;
    bits <= 53
}

/// f32-blocked accumulators: f64 micro-tiles over each K block, rounded once to
/// f32 and promoted.
fn gemm_blocked(kv: &KernelView, p: Promote, portable: bool) -> Vec<f32> {
    let (a, b) = (kv.a, kv.b);
    let (m, n, k) = (a.rows(), b.rows(), a.k());
    let l = kv.kblock;
    let kc_max = l * KC.div_ceil(l).max(1);
    let elem = |op: &Operand, r: usize, k0: usize, out: &mut [f64]| {
        for (o, &c) in out.iter_mut().zip(&op.codes()[r * k + k0..]) {
            *o = op.value_of(c) as f64;
        }
    };
    let simd = !portable && has_avx2_fma();
    let (fa, fb) = (|r, k0, out: &mut [f64]| elem(a, r, k0, out), |r, k0, out: &mut [f64]| elem(b, r, k0, out));
    // in-loop block scales, [rows, nkb] (1 where an operand has none in the loop)
    let grid = |op: &Operand| -> (Vec<f32>, usize) {
        let nkb = k.div_ceil(l).max(1);
        let g = (0..op.rows()).flat_map(|r| (0..nkb).map(move |j| (r, j))).map(|(r, j)| op.block_scale(r, j)).collect();
        (g, nkb)
    };
    let ((ga, nkb), (gb, _)) = (grid(a), grid(b));
    drive::<f64, MR, NR64>(fa, fb, m, n, k, kc_max, |pc, kc, at, bt, tile, i0, j0| {
        let nblk = kc.div_ceil(l);
        let mut sa = [[1f32; MR]; KC];
        let mut sb = [[1f32; NR64]; KC];
        for blk in 0..nblk {
            let j = pc / l + blk;
            for (ii, v) in sa[blk].iter_mut().enumerate().take(m.saturating_sub(i0)) {
                *v = ga[(i0 + ii) * nkb + j];
            }
            for (jj, v) in sb[blk].iter_mut().enumerate().take(n.saturating_sub(j0)) {
                *v = gb[(j0 + jj) * nkb + j];
            }
        }
        let (sa, sb) = (&sa[..nblk], &sb[..nblk]);
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: AVX2 and FMA are available (checked by `has_avx2_fma`).
            unsafe { blocked_panel_avx2(kc, l, at, bt, tile, sa, sb, p) };
            return;
        }
        let _ = simd;
        blocked_panel::<false>(kc, l, at, bt, tile, sa, sb, p);
    })
}

/// One K panel of `f32-blocked` on one tile: per block an exact f64 dot, rounded
/// to f32, promoted with the block's scales.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn blocked_panel<const SIMD: bool>(
    kc: usize,
    l: usize,
    at: &[f64],
    bt: &[f64],
    tile: &mut [[f32; NR64]; MR],
    sa: &[[f32; MR]],
    sb: &[[f32; NR64]],
    p: Promote,
) {
    for (blk, off) in (0..kc).step_by(l).enumerate() {
        let len = l.min(kc - off);
        let mut d = [[0f64; NR64]; MR];
        let (ab, bb) = (&at[off * MR..(off + len) * MR], &bt[off * NR64..(off + len) * NR64]);
        #[cfg(target_arch = "x86_64")]
        if SIMD {
            // SAFETY: only instantiated with SIMD = true from `blocked_panel_avx2`,
            // which runs after `has_avx2_fma` confirmed AVX2 and FMA.
            unsafe { super::simd::micro_f64(len, ab, bb, &mut d) };
        } else {
            micro_f64(len, ab, bb, &mut d);
        }
        #[cfg(not(target_arch = "x86_64"))]
        micro_f64(len, ab, bb, &mut d);
        let (xa, xb) = (&sa[blk], &sb[blk]);
        for i in 0..MR {
            let (t, dv) = (&mut tile[i], &d[i]);
            match p {
                Promote::Fadd => {
                    for j in 0..NR64 {
                        t[j] += dv[j] as f32 * (xa[i] * xb[j]);
                    }
                }
                Promote::FfmaCombined => {
                    for j in 0..NR64 {
                        t[j] = (xa[i] * xb[j]).mul_add(dv[j] as f32, t[j]);
                    }
                }
                Promote::FmulThenFfma { b_first: false } => {
                    for j in 0..NR64 {
                        t[j] = (dv[j] as f32 * xa[i]).mul_add(xb[j], t[j]);
                    }
                }
                Promote::FmulThenFfma { b_first: true } => {
                    for j in 0..NR64 {
                        t[j] = (dv[j] as f32 * xb[j]).mul_add(xa[i], t[j]);
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn blocked_panel_avx2(
    kc: usize,
    l: usize,
    at: &[f64],
    bt: &[f64],
    tile: &mut [[f32; NR64]; MR],
    sa: &[[f32; MR]],
    sb: &[[f32; NR64]],
    p: Promote,
) {
    blocked_panel::<true>(kc, l, at, bt, tile, sa, sb, p)
}

/// `kc` steps of an f64 FMA tile (exact here: see [`f64_exact`]).
#[inline(always)]
fn micro_f64(kc: usize, a: &[f64], b: &[f64], tile: &mut [[f64; NR64]; MR]) {
    let mut acc = *tile;
    for (av, bv) in a.chunks_exact(MR).zip(b.chunks_exact(NR64)).take(kc) {
        let av: &[f64; MR] = av.try_into().expect("MR");
        let bv: &[f64; NR64] = bv.try_into().expect("NR64");
        for i in 0..MR {
            for j in 0..NR64 {
                acc[i][j] = av[i].mul_add(bv[j], acc[i][j]);
            }
        }
    }
    *tile = acc;
}

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
        for (m, n, k) in [(7, 17, 300), (13, 33, 64), (1, 1, 1), (6, 16, 257)] {
            for scheme in ["mxfp8-e4m3", "nvfp4", "fp8-block"] {
                let (a, b) = (op(1, m, k, scheme), op(2, n, k, scheme));
                for acc in ["f32-fma", "f32-mul-add", "f32-blocked", "f32-blocked@promote=ffma-combined", "sm90"] {
                    let acc: Accum = acc.parse().unwrap();
                    let want = matmul_reference(&a, &b, None, &acc, OutDtype::F32).unwrap();
                    for portable in [false, true] {
                        if let Some(got) = try_matmul_with(&a, &b, None, &acc, OutDtype::F32, portable).unwrap() {
                            let same = got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(same, "{scheme} {acc} {m}x{n}x{k} portable={portable}");
                        }
                    }
                }
            }
        }
    }
}
