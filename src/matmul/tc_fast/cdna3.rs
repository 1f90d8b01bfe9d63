//! CDNA3 MFMA in lanes: sixteen outputs of a row at once (one lane per column
//! of B), [`TcFast::cdna3_group`]'s arithmetic step for step, compiled for every
//! SIMD build. A stage's truncated products are summed in i32 lanes (each below
//! 2^27 and at most 16 of them, checked by [`applies`]), the stages, C and the
//! total in i64 lanes, and the one RNE rounding is an f64 → f32 conversion of the
//! exact total (below 2^53). Equal to the per-output form bit for bit
//! (`fast::tests::cdna3_fast_builds_equal_the_reference` runs every build).
//!
//! The `unsafe` here is the one of [`crate::simd`]'s dispatcher: calling the
//! `#[target_feature]` builds of the safe lane code after the CPU's features are
//! confirmed.
#![allow(unsafe_code)]

use super::{TcFast, ZERO_E};
use crate::matmul::tc::Order;
use crate::simd::{SimdBuild, dispatch};

/// Lanes (columns of B per strip).
const L: usize = 16;

dispatch!(
    /// Rows `i0..` of the accumulators ([`rows`]) with the build `isa` names.
    #[allow(dead_code)]
    rows_run, rows_run_with, (f: &TcFast, s: &Strips, i0: usize, out: &mut [f32]), rows(f, s, i0, out)
);

/// B's exponents and significands as `[N/16][K][16]` strips (padding lanes:
/// zero), each significand shifted left by `up` (the shift every product takes).
pub(super) struct Strips {
    e: crate::simd::Lines<i32>,
    sig: crate::simd::Lines<i32>,
}

impl Strips {
    pub(super) fn new(f: &TcFast) -> Strips {
        let (n, k) = (f.kv.b.rows(), f.kv.b.k());
        let up = f.up;
        Strips {
            e: crate::matmul::lanes::strips(&f.eb, n, k, L, ZERO_E, |x| x),
            sig: crate::matmul::lanes::strips(&f.sig_b, n, k, L, 0, |x| x.signum() * ((x.abs()) << up)),
        }
    }
}

/// Whether the lanes apply: a CDNA3 kernel whose truncated products (below
/// `max|sig_a| · max|sig_b| · 2^up`) sum to less than 2^31 over a group.
pub(super) fn applies(f: &TcFast) -> bool {
    let top = |s: &[i32]| s.iter().map(|x| x.unsigned_abs() as u64).max().unwrap_or(0);
    f.cdna3 && ((top(&f.sig_a) * top(&f.sig_b)) << f.up) * f.tc.n as u64 <= i32::MAX as u64
}

/// Rows `i0..` of the accumulators (`out`: whole rows), strip by strip, each
/// chain starting from its value.
#[inline(always)]
fn rows(f: &TcFast, s: &Strips, i0: usize, out: &mut [f32]) {
    crate::matmul::lanes::by_strips(&Kernel(f, s), out, f.kv.b.rows(), i0);
}

/// The kernel and B's strips, as [`super::Lanes`].
struct Kernel<'a, 'b>(&'a TcFast<'b>, &'a Strips);

impl crate::matmul::lanes::Lanes<L> for Kernel<'_, '_> {
    #[inline(always)]
    fn lanes(&self, i: usize, strip: usize, d: &mut [f32; L]) {
        lanes16(self.0, self.1, i, strip, d)
    }
}

/// Outputs (i, 16·strip ..) through every group of every instruction.
#[inline(always)]
fn lanes16(f: &TcFast, s: &Strips, i: usize, strip: usize, d: &mut [f32; L]) {
    let k = f.kv.a.k();
    let (ea, sa) = (&f.ea[i * k..(i + 1) * k], &f.sig_a[i * k..(i + 1) * k]);
    let lanes = strip * k * L..(strip + 1) * k * L;
    let (eb, sb) = (&s.e[lanes.clone()], &s.sig[lanes]);
    let two = f.tc.order == Order::EvenOdd;
    for (k0, k1) in f.tc.instructions(k) {
        for (b0, b1) in f.tc.blocks(k0, k1) {
            group(ea, sa, eb, sb, b0, b1, two, d);
        }
    }
}

/// The truncated sum of positions `first, first + step, … < b1` in each lane:
/// (sum, maximum exponent); no position: (0, −126), as `TcFast::cdna3_group`.
#[inline(always)]
fn stage(ea: &[i32], sa: &[i32], eb: &[i32], sb: &[i32], first: usize, step: usize, b1: usize) -> ([i32; L], [i32; L]) {
    if first >= b1 {
        return ([0; L], [-126; L]);
    }
    let mut m = [i32::MIN; L];
    for kk in (first..b1).step_by(step) {
        let (x, y): (i32, &[i32; L]) = (ea[kk], eb[kk * L..kk * L + L].try_into().expect("a lane row"));
        for l in 0..L {
            m[l] = m[l].max(x + y[l]);
        }
    }
    let mut sum = [0i32; L];
    for kk in (first..b1).step_by(step) {
        let (x, p) = (ea[kk], sa[kk]);
        let y: &[i32; L] = eb[kk * L..kk * L + L].try_into().expect("a lane row");
        let q: &[i32; L] = sb[kk * L..kk * L + L].try_into().expect("a lane row");
        for l in 0..L {
            let sh = (m[l] - x - y[l]).min(31) as u32;
            // |prod| = |sig_a · sig_b| · 2^up, below 2^31 (`applies`)
            let prod = p * q[l];
            let t = (prod.unsigned_abs() >> sh) as i32;
            sum[l] += if prod < 0 { -t } else { t };
        }
    }
    (sum, m)
}

/// floor(x · 2^-sh) for sh ≥ 0 (an arithmetic shift; 63 and up: 0 or −1).
#[inline(always)]
pub(super) fn floor_shr(x: i64, sh: i32) -> i64 {
    x >> sh.min(63)
}

/// One group `b0..b1` in every lane: `TcFast::cdna3_group`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn group(ea: &[i32], sa: &[i32], eb: &[i32], sb: &[i32], b0: usize, b1: usize, two: bool, d: &mut [f32; L]) {
    let mut s = [0i64; L];
    let mut e = [0i32; L];
    if two {
        let (s0, e0) = stage(ea, sa, eb, sb, b0, 2, b1);
        let (s1, e1) = stage(ea, sa, eb, sb, b0 + 1, 2, b1);
        for l in 0..L {
            let mx = e0[l].max(e1[l]);
            s[l] = floor_shr(s0[l] as i64, mx - e0[l]) + floor_shr(s1[l] as i64, mx - e1[l]);
            e[l] = mx;
        }
    } else {
        let (s0, e0) = stage(ea, sa, eb, sb, b0, 1, b1);
        for l in 0..L {
            s[l] = s0[l] as i64;
            e[l] = e0[l];
        }
    }
    let mut r = [0f32; L];
    for l in 0..L {
        // an overflowed chain stays ±Inf (finite products cannot move it)
        r[l] = if d[l].is_finite() { result(s[l], e[l], d[l], two) } else { d[l] };
    }
    *d = r;
}

/// A group's result from its sum `s · 2^(e − F)` and the finite incoming
/// accumulator `c` ([`with_c`]): the total exact in f64 (below 2^53), then one
/// RNE rounding; a negative underflow is −0, a zero total +0.
#[inline(always)]
pub(super) fn result(s: i64, e: i32, c: f32, two: bool) -> f32 {
    let (total, mx) = with_c(s, e, c, two);
    let p = f64::from_bits(((mx - 31 + 1023).clamp(1, 2046) as u64) << 52);
    if total == 0 { 0.0 } else { (total as f64 * p) as f32 }
}

/// CDNA3's alignment of a group's sum with C (`TensorCore::cdna3_group`): the
/// sum `s · 2^(e − F)` at 2^(M − 31) and C at 2^(M − 24), both floored (C
/// dropped 26 binades below M under FP8's two stages), `M = max(e, C's
/// exponent)`; returns the total in units of 2^(M − 31), and M. C is read from
/// its bits: a normal f32 as its 24-bit significand at 23 fraction bits, a
/// subnormal or zero one as its field at exponent −126 (the value `factor(c,
/// −126)` gives, so every floored result is the same).
#[inline(always)]
pub(super) fn with_c(s: i64, e: i32, c: f32, two: bool) -> (i64, i32) {
    let (ce, csig) = crate::matmul::lanes::f32_term(c);
    let mx = e.max(ce);
    let s31 = floor_shr(s << 7, mx - e);
    let sh = 23 + (mx - ce) - 24;
    let c24 = if two && ce < mx - 25 {
        0
    } else if sh <= 0 {
        csig << (-sh).min(40)
    } else {
        floor_shr(csig, sh)
    };
    (s31 + (c24 << 7), mx)
}
