//! Fast path of `kind::mxf4nvf4` (NVFP4 and MXFP4 on `sm100`/`sm120`): each e2m1
//! element is decoded once to a small signed integer (twice its value), so a group
//! of 16 products is an exact i32 dot, and the instruction's fused sum of its groups
//! (and C) is integer shifts and adds in i64, instead of the reference's exact
//! big-integer terms. Equal to `TensorCore::output` bit for bit (tests in
//! `fast/mod.rs`, `tests/matmul_props.rs` and the `matmul` fuzz target).

use super::exact::{FloatFmt, round_mag};
use super::operand::{KernelView, Operand};
use super::tc::{AccType, CMode, Family, Order, ScaleApply, TensorCore, factor};
use crate::format::ElemFormat;

/// Products per group (the instruction's scale granule).
const G: usize = 16;

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
        Some(G16Fast {
            tc,
            kv,
            va: decode_elems(kv.a)?,
            vb: decode_elems(kv.b)?,
            sa: decode_scales(kv, kv.a)?,
            sb: decode_scales(kv, kv.b)?,
        })
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
        let out = FloatFmt { frac_bits: tc.out_frac_bits, emin: -126, emax: 127 };
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
            let on_grid = |mag: i64, sh: i32| -> i64 {
                let a = mag.unsigned_abs();
                let t = if sh >= 0 {
                    a << sh
                } else if sh > -64 {
                    a >> -sh
                } else {
                    0
                } as i64;
                if mag < 0 { -t } else { t }
            };
            let mut s: i64 = terms.iter().map(|&(e, mag, fr)| on_grid(mag, f - fr as i32 - (m - e))).sum();
            s += on_grid(csig, f - 23 - (m - ce));
            let v = round_mag(s.unsigned_abs() as u128, m - f, false, out, tc.out_rounding) as f32;
            // a result that rounds to zero is +0, as in `TensorCore::fused`
            d = if s < 0 && v != 0.0 { -v } else { v };
        }
        d
    }

    /// Every output's f32 accumulator into `out` (`[M, N]`), rows in parallel
    /// (rayon), each chain starting from `out`'s value (C under `c=mma`, else +0).
    pub fn gemm(&self, out: &mut [f32]) {
        use rayon::prelude::*;
        let n = self.kv.b.rows();
        assert_eq!(out.len(), self.kv.a.rows() * n, "accumulator array");
        if n == 0 {
            return;
        }
        out.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            for (j, o) in row.iter_mut().enumerate() {
                *o = self.output(i, j, *o);
            }
        });
    }
}
