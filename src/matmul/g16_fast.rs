//! Fast path of `kind::mxf4nvf4` (NVFP4 and MXFP4 on `sm100`/`sm120`): each e2m1
//! element is decoded once to a small signed integer (twice its value), so a group
//! of 16 products is an exact i32 dot, and the instruction's fused sum of its groups
//! (and C) is integer shifts and adds in i64, instead of the reference's exact
//! big-integer terms. Sixteen outputs of a row run at once, one lane per column
//! of B ([`G16Fast::lanes16`]: f32 group dots, which are exact, then the fused sum
//! in i64 lanes and the truncation in f64), compiled for every SIMD build; the
//! per-output form ([`G16Fast::output`]) serves the lanes a result outside f32's
//! normal range sends back, and the parameters the lanes do not take. Equal to
//! `TensorCore::output` bit for bit (tests in `fast/mod.rs`,
//! `tests/matmul_props.rs` and the `matmul` fuzz target).
//!
//! The `unsafe` here is the one of [`crate::simd`]'s dispatcher: calling the
//! `#[target_feature]` builds of the safe lane code after the CPU's features are
//! confirmed. Every build is tested against the reference loop.
#![allow(unsafe_code)]

use super::exact::{FloatFmt, OutRounding, round_mag};
use super::lanes::{chain_terms, finish_rz, on_grid};
use super::operand::{KernelView, Operand};
use super::tc::{AccType, CMode, Family, Order, ScaleApply, TensorCore, factor};
use crate::format::ElemFormat;
use crate::simd::{SimdBuild, dispatch};

/// Products per group (the instruction's scale granule).
const G: usize = 16;

/// Outputs per lane step (columns of B in one strip).
const L: usize = 16;

/// Groups per instruction the lanes hold (`k_inst` up to 64).
const MAX_G: usize = 4;

/// The exponent of a term that does not count toward the maximum: far below any
/// real one (and `lanes::EMPTY_BELOW`), and far from overflowing an i32 in the
/// shift arithmetic.
const NONE_E: i32 = -(1 << 28);

dispatch!(
    /// Rows `i0..` of the output ([`G16Fast::rows`]) with the build `isa` names.
    #[allow(dead_code)]
    rows_run, rows_run_with, (g: &G16Fast, i0: usize, rows: &mut [f32]), g.rows(i0, rows)
);

/// One scale as the instruction reads it: `sig · 2^(e − frac)` (|scale|).
#[derive(Clone, Copy)]
struct Scale {
    e: i32,
    sig: i64,
    frac: u32,
}

pub(crate) struct G16Fast<'a> {
    tc: &'a TensorCore,
    kv: &'a KernelView<'a>,
    /// Twice each element's value, `[rows, K]` (|v| ≤ 12).
    va: Vec<i32>,
    vb: Vec<i32>,
    /// Each row's scale per K block, decoded.
    sa: Vec<Scale>,
    sb: Vec<Scale>,
    /// The lane form applies (RZ results, sums exact in f64, at most [`MAX_G`]
    /// groups per instruction): A's values as f32 and B's values and scales in
    /// strips of [`L`] columns (`[N/L][K][L]`, `[N/L][blocks][L]`; padding zero).
    lanes: bool,
    va_f: Vec<f32>,
    vb_t: Vec<f32>,
    sb_e: Vec<i32>,
    sb_sig: Vec<i32>,
    sb_frac: Vec<i32>,
}

fn decode_elems(op: &Operand) -> Option<Vec<i32>> {
    let mut table = [0i32; 256];
    for (c, t) in table.iter_mut().enumerate().take(16) {
        let v = op.value_of(c as u8) * 2.0;
        if !v.is_finite() || v.fract() != 0.0 || v.abs() > 12.0 {
            return None;
        }
        *t = v as i32;
    }
    Some(op.codes().iter().map(|&c| table[c as usize & 15]).collect())
}

fn decode_scales(kv: &KernelView, op: &Operand) -> Option<Vec<Scale>> {
    let nkb = op.k().div_ceil(kv.kblock).max(1);
    let mut v = Vec::with_capacity(op.rows() * nkb);
    for r in 0..op.rows() {
        for j in 0..nkb {
            let s = kv.block_scale(op, r, j).abs();
            if !s.is_finite() {
                // a row with a non-finite scale is recomputed by the reference (specials)
                v.push(Scale { e: 0, sig: 0, frac: 0 });
                continue;
            }
            let t = factor(s, op.scale_emin());
            if t.sig >= 1 << 8 || t.frac > 8 {
                return None;
            }
            v.push(Scale { e: t.e, sig: t.sig as i64, frac: t.frac });
        }
    }
    Some(v)
}

impl<'a> G16Fast<'a> {
    /// The fast path for these parameters and operands, if it applies.
    pub fn new(tc: &'a TensorCore, kv: &'a KernelView<'a>) -> Option<G16Fast<'a>> {
        let e2m1 = |op: &Operand| op.coded() && op.elem_type() == super::ElemType::Code(ElemFormat::E2M1FN);
        if tc.scale_apply != ScaleApply::Group16
            || tc.family != Family::Nvidia
            || tc.acc != AccType::F32
            || tc.c_mode != CMode::Fused
            || tc.order != Order::Contiguous
            || tc.promote_every.is_some()
            || !tc.folds(kv)
            || tc.frac_bits > 40
            || tc.out_frac_bits > 23
            || !kv.kblock.is_multiple_of(G)
            || !tc.k_inst.is_multiple_of(G)
            || !e2m1(kv.a)
            || !e2m1(kv.b)
        {
            return None;
        }
        let (va, vb) = (decode_elems(kv.a)?, decode_elems(kv.b)?);
        let (sa, sb) = (decode_scales(kv, kv.a)?, decode_scales(kv, kv.b)?);
        // |a group sum| ≤ 16·12·12/4 · 2 · 2 (scale significands below 2) < 2^11.2 at
        // 2^F: five such terms (four groups and C) stay below 2^53 for F ≤ 39
        let lanes = tc.out_rounding == OutRounding::Rz && tc.frac_bits <= 39 && tc.k_inst <= MAX_G * G;
        let (n, k) = (kv.b.rows(), kv.b.k());
        let nkb = k.div_ceil(kv.kblock).max(1);
        let strip = |len: usize, f: &dyn Fn(usize, usize) -> f32| -> Vec<f32> {
            let mut out = vec![0f32; n.div_ceil(L) * len * L];
            for j in 0..n {
                for x in 0..len {
                    out[((j / L) * len + x) * L + j % L] = f(j, x);
                }
            }
            out
        };
        let (vb_t, sb_e, sb_sig, sb_frac) = if lanes {
            let int = |v: Vec<f32>| v.into_iter().map(|x| x as i32).collect::<Vec<i32>>();
            (
                strip(k, &|j, x| vb[j * k + x] as f32),
                int(strip(nkb, &|j, x| sb[j * nkb + x].e as f32)),
                int(strip(nkb, &|j, x| sb[j * nkb + x].sig as f32)),
                int(strip(nkb, &|j, x| sb[j * nkb + x].frac as f32)),
            )
        } else {
            Default::default()
        };
        let va_f = if lanes { va.iter().map(|&x| x as f32).collect() } else { Vec::new() };
        Some(G16Fast { tc, kv, va, vb, sa, sb, lanes, va_f, vb_t, sb_e, sb_sig, sb_frac })
    }

    /// The outputs of rows `i0..` (`rows`: whole rows of `[M, N]`), each chain
    /// starting from its value: sixteen at a time in lanes where they apply (one
    /// strip of B for every row, then the next), else one by one.
    #[inline(always)]
    fn rows(&self, i0: usize, rows: &mut [f32]) {
        let n = self.kv.b.rows();
        if !self.lanes {
            for (r, row) in rows.chunks_mut(n).enumerate() {
                for (j, o) in row.iter_mut().enumerate() {
                    *o = self.output(i0 + r, j, *o);
                }
            }
            return;
        }
        super::lanes::by_strips(self, rows, n, i0);
    }

    /// Outputs (i, L·strip ..) at once, one lane per column of B: the same
    /// groups, maxima, truncations and rounding as [`Self::output`] (RZ). `d`:
    /// the chains' start (C under `c=mma`, else +0), then their results.
    #[inline(always)]
    fn lanes16(&self, i: usize, strip: usize, d: &mut [f32; L]) {
        let tc = self.tc;
        let k = self.kv.a.k();
        let nkb = k.div_ceil(self.kv.kblock).max(1);
        let ra = &self.va_f[i * k..(i + 1) * k];
        let sa = &self.sa[i * nkb..(i + 1) * nkb];
        let bt = &self.vb_t[strip * k * L..(strip + 1) * k * L];
        let lanes = strip * nkb * L..(strip + 1) * nkb * L;
        let (be, bsig, bfrac) = (&self.sb_e[lanes.clone()], &self.sb_sig[lanes.clone()], &self.sb_frac[lanes]);
        let f = tc.frac_bits as i32;
        let zero_exp = tc.zero_exp;
        for k0 in (0..k).step_by(tc.k_inst) {
            let k1 = (k0 + tc.k_inst).min(k);
            // each group's exponent (NONE_E where it does not count), signed
            // magnitude (< 2^28) and fraction bits, per lane
            let mut ge = [[NONE_E; L]; MAX_G];
            let mut gm = [[0i64; L]; MAX_G];
            let mut gf = [[0i32; L]; MAX_G];
            let mut ng = 0;
            for g0 in (k0..k1).step_by(G) {
                let g1 = (g0 + G).min(k1);
                // the group's dot: integers below 2^12, exact in f32
                // (four partial sums, k mod 4, so the adds do not wait on each
                // other; integer sums, so the order does not matter)
                let (mut p0, mut p1, mut p2, mut p3) = ([0f32; L], [0f32; L], [0f32; L], [0f32; L]);
                let mut xs = ra[g0..g1].chunks_exact(4);
                let mut ys = bt[g0 * L..g1 * L].chunks_exact(4 * L);
                for (x, y) in (&mut xs).zip(&mut ys) {
                    for l in 0..L {
                        p0[l] += x[0] * y[l];
                        p1[l] += x[1] * y[L + l];
                        p2[l] += x[2] * y[2 * L + l];
                        p3[l] += x[3] * y[3 * L + l];
                    }
                }
                for (&x, y) in xs.remainder().iter().zip(ys.remainder().chunks_exact(L)) {
                    for l in 0..L {
                        p0[l] += x * y[l];
                    }
                }
                let mut dot = [0f32; L];
                for l in 0..L {
                    dot[l] = (p0[l] + p1[l]) + (p2[l] + p3[l]);
                }
                let bl = g0 / self.kv.kblock;
                let xa = sa[bl];
                let ye: &[i32; L] = be[bl * L..bl * L + L].try_into().expect("a lane row");
                let ys: &[i32; L] = bsig[bl * L..bl * L + L].try_into().expect("a lane row");
                let yf: &[i32; L] = bfrac[bl * L..bl * L + L].try_into().expect("a lane row");
                let (xs, xe, xf) = (xa.sig as i32, xa.e, 2 + xa.frac as i32);
                for l in 0..L {
                    // the dot's integer (|dot| < 2^12) through the 1.5·2^23 shift:
                    // exact, and without a saturating conversion's checks
                    let int = (dot[l] + 12_582_912.0).to_bits() as i32 - 0x4B40_0000;
                    let mag = int * ys[l] * xs;
                    gm[ng][l] = mag as i64;
                    ge[ng][l] = if mag != 0 || zero_exp { xe + ye[l] } else { NONE_E };
                    gf[ng][l] = xf + yf[l];
                }
                ng += 1;
            }
            // the chain value as a term: 24-bit significand at its exponent
            let (ce, csig, mut m) = chain_terms(d, zero_exp, NONE_E);
            for g in ge.iter().take(ng) {
                for l in 0..L {
                    m[l] = m[l].max(g[l]);
                }
            }
            // each term truncated (magnitude) onto the 2^(m − F) grid
            let mut sum = [0i64; L];
            for l in 0..L {
                sum[l] = on_grid(csig[l], f - 23 - (m[l] - ce[l]));
            }
            for g in 0..ng {
                for l in 0..L {
                    sum[l] += on_grid(gm[g][l], f - gf[g][l] - (m[l] - ge[g][l]));
                }
            }
            finish_rz(&sum, &m, f, self.out_fmt(), d);
        }
    }

    /// The instruction result's format (f32 with `out_frac_bits`).
    #[inline(always)]
    fn out_fmt(&self) -> FloatFmt {
        FloatFmt { frac_bits: self.tc.out_frac_bits, emin: -126, emax: 127 }
    }

    /// The f32 accumulator of output (i, j), as `TensorCore::output` computes it,
    /// the chain starting from `c` (+0, or C under `c=mma`).
    fn output(&self, i: usize, j: usize, c: f32) -> f32 {
        let tc = self.tc;
        let k = self.kv.a.k();
        let nkb = k.div_ceil(self.kv.kblock).max(1);
        let (ra, rb) = (&self.va[i * k..(i + 1) * k], &self.vb[j * k..(j + 1) * k]);
        let (sa, sb) = (&self.sa[i * nkb..(i + 1) * nkb], &self.sb[j * nkb..(j + 1) * nkb]);
        let f = tc.frac_bits as i32;
        let out = self.out_fmt();
        // (exponent, signed magnitude, fraction bits) of each group of an instruction
        let mut terms = [(0i32, 0i64, 0u32); 64];
        let mut d = c;
        for k0 in (0..k).step_by(tc.k_inst) {
            let k1 = (k0 + tc.k_inst).min(k);
            if !d.is_finite() {
                break; // an overflowed chain stays ±Inf (`TensorCore::fused`)
            }
            let mut nt = 0;
            for g0 in (k0..k1).step_by(G) {
                let g1 = (g0 + G).min(k1);
                let s4: i32 = ra[g0..g1].iter().zip(&rb[g0..g1]).map(|(x, y)| x * y).sum();
                let bl = g0 / self.kv.kblock;
                let (x, y) = (sa[bl], sb[bl]);
                // |S| · s_a · s_b = |s4| · sig_a · sig_b · 2^(e_a + e_b − 2 − frac_a − frac_b)
                let mag = s4 as i64 * x.sig * y.sig;
                terms[nt] = (x.e + y.e, mag, 2 + x.frac + y.frac);
                nt += 1;
            }
            let terms = &terms[..nt];
            // the chain value as a term: 24-bit significand at its exponent
            let (ce, csig) = if d == 0.0 {
                (-126, 0i64)
            } else {
                let t = factor(d, -126);
                let sig = (t.sig as i64) << (23 - t.frac);
                (t.e, if t.neg { -sig } else { sig })
            };
            let counts = |mag: i64| mag != 0 || tc.zero_exp;
            let m = terms.iter().filter(|t| counts(t.1)).map(|t| t.0).chain(counts(csig).then_some(ce)).max();
            let Some(m) = m else {
                d = 0.0;
                continue;
            };
            // each term truncated (magnitude) onto the 2^(m − F) grid
            let mut s: i64 = terms.iter().map(|&(e, mag, fr)| on_grid(mag, f - fr as i32 - (m - e))).sum();
            s += on_grid(csig, f - 23 - (m - ce));
            let v = round_mag(s.unsigned_abs() as u128, m - f, false, out, tc.out_rounding) as f32;
            // a result that rounds to zero is +0, as in `TensorCore::fused`
            d = if s < 0 && v != 0.0 { -v } else { v };
        }
        d
    }

    /// Every output's f32 accumulator into `out` (`[M, N]`), rows in parallel
    /// (rayon) with the kernel build `isa`, each chain starting from `out`'s value
    /// (C under `c=mma`, else +0).
    pub fn gemm(&self, out: &mut [f32], isa: SimdBuild) {
        super::lanes::par_rows(out, self.kv.a.rows(), self.kv.b.rows(), |i0, rows| rows_run_with(isa, self, i0, rows));
    }
}

impl super::lanes::Lanes<L> for G16Fast<'_> {
    #[inline(always)]
    fn lanes(&self, i: usize, strip: usize, d: &mut [f32; L]) {
        self.lanes16(i, strip, d)
    }
}
