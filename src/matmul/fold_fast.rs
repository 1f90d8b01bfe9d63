//! Fast path of the fused-block model when the kernel folds block scales that
//! are not powers of two into the products: FP8 with f32 scales (`fp8-block`'s
//! 1×128 and 128×128 blocks, `fp8-row`, `fp8-tensor` and the like) under the
//! NVIDIA models without promotion (`sm89`, `sm100`, `sm100-mma-sync`, `sm120`,
//! `sm90@promote-every=none`). Such a product is `a · b · s_a · s_b` with a
//! significand of up to 4 + 4 + 24 + 24 bits, too wide for the integer
//! terms of `tc_fast`, whose decode folds only pure exponents.
//!
//! Each element is decoded once with its block's scale: `|sig · sig(s)|` (below
//! 2^31: a significand below 2^7 times a 24-bit scale significand), the sign of
//! the two, and the exponents of element and scale apart. A product's aligned,
//! truncated term is then `(A' · B') >> shift`: one 32 × 32 → 64-bit multiply
//! and a shift per product, exact (the product is below 2^62). Sixteen outputs
//! of a row run at once, one lane per column of B, compiled for every SIMD
//! build; the sums and the RZ rounding are `lanes::finish_rz`'s. Equal to
//! `TensorCore::output` bit for bit (tests in `fast/mod.rs`,
//! `tests/matmul_props.rs` and the `matmul` fuzz target).
//!
//! The `unsafe` here is the one of [`crate::simd`]'s dispatcher: calling the
//! `#[target_feature]` builds of the safe lane code after the CPU's features are
//! confirmed. Every build is tested against the reference loop.
#![allow(unsafe_code)]

use super::exact::{FloatFmt, OutRounding};
use super::lanes::{Lanes, by_strips, chain_terms, finish_rz, on_grid, strips};
use super::operand::{KernelView, Operand};
use super::tc::{AccType, Family, Order, ScaleApply, TensorCore, factor};
use super::tc_fast::{LateC, ZERO_E, decode, interleave4, readable};
use crate::simd::{SimdBuild, dispatch};

/// Outputs per lane step (columns of B in one strip).
const L: usize = 16;

/// Fraction bits of a decoded scale significand (`sig(s) · 2^(e − 23)`).
const SCALE_FRAC: i32 = 23;

dispatch!(
    /// Rows `i0..` of the output with the build `isa` names.
    #[allow(dead_code)]
    rows_run, rows_run_with, (f: &FoldFast, i0: usize, rows: &mut [f32]), by_strips(f, rows, f.kv.b.rows(), i0)
);

pub(crate) struct FoldFast<'a> {
    tc: &'a TensorCore,
    kv: &'a KernelView<'a>,
    /// A's elements, `[M, K]`: exponent, `|sig · sig(s)|`, sign (0 or −1).
    ea: Vec<i32>,
    ma: Vec<i32>,
    sa: Vec<i32>,
    /// A's scale exponents per row and K block.
    xa: Vec<i32>,
    /// B's elements as A's in strips of [`L`] columns (`[N/L][K][L]`), and its
    /// scale exponents (`[N/L][blocks][L]`); padding lanes are zeros that do not count.
    eb: Vec<i32>,
    mb: Vec<i32>,
    sb: Vec<i32>,
    xb: Vec<i32>,
    /// `frac_a + frac_b + 46 − F`: the right shift that puts a block's largest
    /// product on the `2^(m − F)` grid.
    shift: i32,
}

/// An operand's elements with their scales: exponents (`tc_fast::decode`), `|sig ·
/// sig(s)|`, signs, and the scale exponents per row and K block (a zero scale's
/// far below every real one unless zeros count).
type Decoded = (Vec<i32>, Vec<i32>, Vec<i32>, Vec<i32>);

/// `op` decoded with its scales (`frac`: its significands' fraction bits), or
/// `None` when a significand is 2^7 or wider or a scale's is wider than 24 bits.
fn decode_op(kv: &KernelView, op: &Operand, zero_exp: bool) -> Option<(Decoded, u32)> {
    let (e, sig, frac) = decode(kv, op, false, kv.kblock, zero_exp)?;
    if sig.iter().any(|x| x.unsigned_abs() >= 1 << 7) {
        return None;
    }
    let (xe, xs) = decode_scales(kv, op)?;
    let (k, nkb) = (op.k().max(1), op.k().div_ceil(kv.kblock).max(1));
    let scale = |idx: usize| (idx / k) * nkb + (idx % k) / kv.kblock;
    // (below 2^7 · 2^24: an i32)
    let m = sig.iter().enumerate().map(|(idx, &x)| (x.unsigned_abs() * xs[scale(idx)].unsigned_abs()) as i32).collect();
    let s = sig.iter().enumerate().map(|(idx, &x)| -(((x < 0) != (xs[scale(idx)] < 0)) as i32)).collect();
    let x = xe.iter().zip(&xs).map(|(&e, &s)| if s != 0 || zero_exp { e } else { 2 * ZERO_E }).collect();
    Some(((e, m, s, x), frac))
}

/// `op`'s scales per row and K block as `(e, signed sig)` with value
/// `sig · 2^(e − 23)` (`factor`'s exponent: a subnormal's is the format's
/// minimum); a non-finite scale is a zero here (its rows take the reference's
/// specials path). `None` for a significand wider than 24 bits.
fn decode_scales(kv: &KernelView, op: &Operand) -> Option<(Vec<i32>, Vec<i32>)> {
    let nkb = op.k().div_ceil(kv.kblock).max(1);
    let (mut e, mut s) = (Vec::with_capacity(op.rows() * nkb), Vec::with_capacity(op.rows() * nkb));
    for r in 0..op.rows() {
        for j in 0..nkb {
            let x = kv.block_scale(op, r, j);
            let t = factor(if x.is_finite() { x } else { 0.0 }, op.scale_emin());
            if t.frac as i32 > SCALE_FRAC || t.sig >= 1 << 24 {
                return None;
            }
            let sig = (t.sig << (SCALE_FRAC - t.frac as i32)) as i32;
            e.push(t.e);
            s.push(if t.neg { -sig } else { sig });
        }
    }
    Some((e, s))
}

impl<'a> FoldFast<'a> {
    /// The fast path for these parameters and operands, if it applies: scales
    /// folded into the products by an NVIDIA model without promotion, contiguous
    /// blocks (or interleaved ones inside one K block of the scales), C fused or
    /// added late, RZ f32 results, element significands below 2^7.
    pub fn new(tc: &'a TensorCore, kv: &'a KernelView<'a>) -> Option<FoldFast<'a>> {
        if tc.family != Family::Nvidia
            || tc.scale_apply == ScaleApply::Group16
            || tc.acc != AccType::F32
            || tc.order == Order::EvenOdd
            // (an interleaved instruction inside one K block of the scales)
            || tc.order == Order::Interleaved4 && !kv.kblock.is_multiple_of(tc.k_inst)
            || tc.promote_every.is_some()
            || tc.out_rounding != OutRounding::Rz
            || !tc.folds(kv)
            || tc.frac_bits > 40
            || tc.frac_bits < tc.out_frac_bits
            || !readable(kv.a)
            || !readable(kv.b)
        {
            return None;
        }
        let ((mut ea, mut ma, mut sa, xa), fa) = decode_op(kv, kv.a, tc.zero_exp)?;
        let ((mut eb, mut mb, mut sb, xb), fb) = decode_op(kv, kv.b, tc.zero_exp)?;
        let (n, k) = (kv.b.rows(), kv.b.k());
        if tc.order == Order::Interleaved4 {
            // each instruction's products in block order (as `TcFast`)
            for v in [&mut ea, &mut ma, &mut sa, &mut eb, &mut mb, &mut sb] {
                interleave4(tc, v, k);
            }
        }
        let nkb = k.div_ceil(kv.kblock).max(1);
        let id = |x| x;
        Some(FoldFast {
            tc,
            kv,
            ea,
            ma,
            sa,
            xa,
            eb: strips(&eb, n, k, L, ZERO_E, id),
            mb: strips(&mb, n, k, L, 0, id),
            sb: strips(&sb, n, k, L, 0, id),
            xb: strips(&xb, n, nkb, L, 2 * ZERO_E, id),
            shift: (fa + fb) as i32 + 2 * SCALE_FRAC - tc.frac_bits as i32,
        })
    }

    /// Outputs (i, L·strip ..) at once, one lane per column of B, each chain
    /// starting from `d` (C under `c=mma`, else +0): per fused block, the block
    /// maximum of the product exponents and C's, the products' terms truncated
    /// onto its grid, and the RZ rounding of their exact sum.
    #[inline(always)]
    fn lanes16(&self, i: usize, strip: usize, d: &mut [f32; L]) {
        let tc = self.tc;
        let k = self.kv.a.k();
        let (kb, nkb) = (self.kv.kblock, k.div_ceil(self.kv.kblock).max(1));
        let row = i * k..(i + 1) * k;
        let (ea, ma, sa) = (&self.ea[row.clone()], &self.ma[row.clone()], &self.sa[row]);
        let cols = strip * k * L..(strip + 1) * k * L;
        let (eb, mb, sb) = (&self.eb[cols.clone()], &self.mb[cols.clone()], &self.sb[cols]);
        let xb = &self.xb[strip * nkb * L..(strip + 1) * nkb * L];
        let f = tc.frac_bits as i32;
        let fmt = FloatFmt { frac_bits: tc.out_frac_bits, emin: -126, emax: 127 };
        let late = LateC::of(tc);
        for (k0, k1) in tc.instructions(k) {
            let c = late.start(d, [0.0; L]);
            for (b0, b1) in tc.blocks(k0, k1) {
                // the block's parts inside one K block of the scales
                let parts = (b0 / kb..=(b1 - 1) / kb).map(|j| (j, b0.max(j * kb), b1.min(j * kb + kb)));
                // C as a term
                let (ce, csig, mut m) = chain_terms(d, tc.zero_exp, 4 * ZERO_E);
                // pass 1: the block maximum of the product exponents (scales included)
                for (j, p0, p1) in parts.clone() {
                    let mut mx = [2 * ZERO_E; L];
                    for kk in p0..p1 {
                        let (x, y) = (ea[kk], &eb[kk * L..kk * L + L]);
                        for l in 0..L {
                            mx[l] = mx[l].max(x + y[l]);
                        }
                    }
                    let (xa, xb) = (self.xa[i * nkb + j], &xb[j * L..j * L + L]);
                    for l in 0..L {
                        m[l] = m[l].max(mx[l] + xa + xb[l]);
                    }
                }
                // pass 2: each product's term, truncated (magnitude) onto the grid;
                // `(t ^ s) − s` negates where the signs differ
                let mut sum = [0i64; L];
                for l in 0..L {
                    sum[l] = on_grid(csig[l], f - 23 - (m[l] - ce[l]));
                }
                for (j, p0, p1) in parts {
                    let (xa, xb) = (self.xa[i * nkb + j], &xb[j * L..j * L + L]);
                    let mut base = [0i32; L];
                    for l in 0..L {
                        base[l] = m[l] - xa - xb[l] + self.shift;
                    }
                    for kk in p0..p1 {
                        let (x, p, s) = (ea[kk], ma[kk] as u32 as u64, sa[kk]);
                        let (y, q, r) = (&eb[kk * L..kk * L + L], &mb[kk * L..kk * L + L], &sb[kk * L..kk * L + L]);
                        for l in 0..L {
                            let sh = (base[l] - x - y[l]).min(63) as u64;
                            let t = ((p * q[l] as u32 as u64) >> sh) as i64;
                            let sg = (s ^ r[l]) as i64;
                            sum[l] += (t ^ sg) - sg;
                        }
                    }
                }
                finish_rz(&sum, &m, f, fmt, d);
            }
            late.end(d, &c);
        }
    }

    /// Every output's f32 accumulator into `out` (`[M, N]`), rows in parallel
    /// (rayon) with the kernel build `isa`, each chain starting from `out`'s value
    /// (C under `c=mma`, else +0).
    pub fn gemm(&self, out: &mut [f32], isa: SimdBuild) {
        super::lanes::par_rows(out, self.kv.a.rows(), self.kv.b.rows(), |i0, rows| rows_run_with(isa, self, i0, rows));
    }
}

impl Lanes<L> for FoldFast<'_> {
    #[inline(always)]
    fn lanes(&self, i: usize, strip: usize, d: &mut [f32; L]) {
        self.lanes16(i, strip, d)
    }
}
