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
//! build; the sums and the RZ rounding are `lanes::finish_rz`'s. The AVX-512
//! build replaces the block ([`BlockTerms`]) with exact f64 lanes whose
//! accumulator sets the grid (`avx512`). The blocks run across a group of
//! rows, strip by strip within chunks of K, so that B's block is read from L1
//! and A's chunk from L2. Equal to `TensorCore::output` bit for bit (tests in
//! `fast/tests.rs`, `tests/matmul_props.rs` and the `matmul` fuzz target).
//!
//! The `unsafe` here is the one of [`crate::simd`]'s dispatcher: calling the
//! `#[target_feature]` builds of the safe lane code after the CPU's features are
//! confirmed, and the AVX-512 build's. Every build is tested against the
//! reference loop.
#![allow(unsafe_code)]

use super::exact::{FloatFmt, OutRounding};
use super::lanes::{chain_terms, finish_rz, on_grid, par_row_groups, strips};
use super::operand::{KernelView, Operand};
use super::tc::{AccType, Family, Order, ScaleApply, TensorCore, factor};
use super::tc_fast::{LateC, ZERO_E, decode, interleave4, readable};
use crate::simd::{Lines, SimdBuild, dispatch};
use core::ops::Range;

#[cfg(target_arch = "x86_64")]
mod avx512;

/// Outputs per lane step (columns of B in one strip).
const L: usize = 16;

/// Products per K chunk of [`FoldFast::rows`] (rounded up to whole instructions).
const KCHUNK: usize = 256;

/// Rows of A per parallel task: each strip's chunk of B (16 KB per 16 products
/// in the AVX-512 build) is read from memory once per this many rows.
const GROUP: usize = 128;

/// Fraction bits of a decoded scale significand (`sig(s) · 2^(e − 23)`).
const SCALE_FRAC: i32 = 23;

dispatch!(
    /// Rows `i0..` of the output with the build `isa` names.
    #[allow(dead_code)]
    rows_run, rows_run_with, (f: &FoldFast, i0: usize, rows: &mut [f32]), f.rows(f, i0, rows)
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
    eb: Lines<i32>,
    mb: Lines<i32>,
    sb: Lines<i32>,
    xb: Lines<i32>,
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
    // (below 2^7 · 2^24: an i32)
    let (mut m, mut s) = (Vec::with_capacity(sig.len()), Vec::with_capacity(sig.len()));
    for (row, sc) in sig.chunks(k).zip(xs.chunks(nkb)) {
        for (part, &sc) in row.chunks(kv.kblock).zip(sc) {
            for &x in part {
                m.push((x.unsigned_abs() * sc.unsigned_abs()) as i32);
                s.push(-(((x < 0) != (sc < 0)) as i32));
            }
        }
    }
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

    /// Outputs (i0 + r, L·(strip + w) ..) of rows `r` and strips `w < W` at
    /// once (`d[r][w]`), one lane per column of B, each chain starting from `d`
    /// (C under `c=mma`, else +0), through the instructions starting in `ks`:
    /// fused block by fused block (`t.block`), across the rows, so that the
    /// strips' block serves every row from L1.
    #[inline(always)]
    fn chains<T: BlockTerms, const W: usize>(
        &self,
        t: &T,
        i0: usize,
        strip: usize,
        ks: Range<usize>,
        d: &mut [[[f32; L]; W]],
    ) {
        let tc = self.tc;
        let late = LateC::of(tc);
        let mut c = vec![[[0f32; L]; W]; d.len()];
        for (k0, k1) in tc.instructions(self.kv.a.k()).filter(|&(k0, _)| ks.contains(&k0)) {
            for (c, d) in c.iter_mut().zip(d.iter_mut()) {
                for (c, d) in c.iter_mut().zip(d.iter_mut()) {
                    t.start(late, d, c);
                }
            }
            for (b0, b1) in tc.blocks(k0, k1) {
                for (r, d) in d.iter_mut().enumerate() {
                    t.block::<W>(i0 + r, strip, b0..b1, d);
                }
            }
            for (c, d) in c.iter().zip(d.iter_mut()) {
                for (c, d) in c.iter().zip(d.iter_mut()) {
                    t.end(late, d, c);
                }
            }
        }
    }

    /// Every output of whole rows `i0..` (`rows`, `[.., N]`): K in chunks of
    /// whole instructions (about [`KCHUNK`] products), and within a chunk
    /// [`BlockTerms::STRIPS`] strips at a time (then single strips), so that a
    /// chunk of A's rows serves every strip from L2 and a block of the strips
    /// every row from L1.
    #[inline(always)]
    fn rows<T: BlockTerms>(&self, t: &T, i0: usize, rows: &mut [f32]) {
        let (n, k) = (self.kv.b.rows(), self.kv.a.k());
        let chunk = self.tc.k_inst * KCHUNK.div_ceil(self.tc.k_inst);
        let strips = n.div_ceil(L);
        for kc in (0..k).step_by(chunk) {
            let mut strip = 0;
            while strip < strips {
                if T::STRIPS == 2 && strip + 2 <= strips {
                    self.strips::<T, 2>(t, i0, strip, kc..kc + chunk, rows);
                    strip += 2;
                } else {
                    self.strips::<T, 1>(t, i0, strip, kc..kc + chunk, rows);
                    strip += 1;
                }
            }
        }
    }

    /// Strips `strip..strip + W` of whole rows `i0..` through the instructions
    /// starting in `ks` ([`FoldFast::chains`]), from and into `rows`.
    #[inline(always)]
    fn strips<T: BlockTerms, const W: usize>(
        &self,
        t: &T,
        i0: usize,
        strip: usize,
        ks: Range<usize>,
        rows: &mut [f32],
    ) {
        let n = self.kv.b.rows();
        let cols = |w: usize| ((strip + w) * L).min(n)..((strip + w) * L + L).min(n);
        let mut d = vec![[[0f32; L]; W]; rows.len() / n.max(1)];
        for (d, row) in d.iter_mut().zip(rows.chunks(n)) {
            for (w, d) in d.iter_mut().enumerate() {
                d[..cols(w).len()].copy_from_slice(&row[cols(w)]);
            }
        }
        self.chains::<T, W>(t, i0, strip, ks, &mut d);
        for (d, row) in d.iter().zip(rows.chunks_mut(n)) {
            for (w, d) in d.iter().enumerate() {
                row[cols(w)].copy_from_slice(&d[..cols(w).len()]);
            }
        }
    }

    /// Every output's f32 accumulator into `out` (`[M, N]`), rows in parallel
    /// (rayon) with the kernel build `isa`, each chain starting from `out`'s value
    /// (C under `c=mma`, else +0).
    pub fn gemm(&self, out: &mut [f32], isa: SimdBuild) {
        #[cfg(target_arch = "x86_64")]
        if isa == SimdBuild::Avx512
            && isa.supported()
            && let Some(p) = avx512::Products::new(self)
        {
            // SAFETY: the CPU has the build's features (checked above)
            return par_row_groups(out, self.kv.b.rows(), GROUP, |i0, rows| unsafe { avx512::rows(&p, i0, rows) });
        }
        par_row_groups(out, self.kv.b.rows(), GROUP, |i0, rows| rows_run_with(isa, self, i0, rows));
    }
}

/// A fused block of [`FoldFast::chains`], per row `i` of A and strip of B:
/// `block` turns the chain values `d` into the block's results: the block
/// maximum of the product exponents (scales included) and C's, each
/// product's term on the grid `2^(m − F)` truncated toward zero, C's too, and
/// the RZ rounding of their exact sum. Implemented by [`FoldFast`] itself (the
/// lane code of every build) and by the AVX-512 build's f64 lanes.
pub(crate) trait BlockTerms {
    /// The strips of B a block call takes at most (`W` of [`BlockTerms::block`]).
    const STRIPS: usize;

    /// The block `ks` of row `i` against strips `strip..strip + W` (`d[w]`).
    fn block<const W: usize>(&self, i: usize, strip: usize, ks: Range<usize>, d: &mut [[f32; L]; W]);

    /// At an instruction's start: C (the chain values `d`) into `c`, and `d`
    /// from +0 where C comes late ([`LateC::start`]).
    #[inline(always)]
    fn start(&self, late: LateC, d: &mut [f32; L], c: &mut [f32; L]) {
        *c = late.start(d, [0.0; L]);
    }

    /// At an instruction's end: `d` plus C where it comes late ([`LateC::end`]).
    #[inline(always)]
    fn end(&self, late: LateC, d: &mut [f32; L], c: &[f32; L]) {
        late.end(d, c);
    }
}

impl BlockTerms for FoldFast<'_> {
    const STRIPS: usize = 1;

    #[inline(always)]
    fn block<const W: usize>(&self, i: usize, strip: usize, ks: Range<usize>, d: &mut [[f32; L]; W]) {
        let tc = self.tc;
        let f = tc.frac_bits as i32;
        let fmt = FloatFmt { frac_bits: tc.out_frac_bits, emin: -126, emax: 127 };
        for (w, d) in d.iter_mut().enumerate() {
            // C as a term
            let (ce, csig, mut m) = chain_terms(d, tc.zero_exp, 4 * ZERO_E);
            self.max(i, strip + w, ks.clone(), &mut m);
            let mut sum = [0i64; L];
            for l in 0..L {
                sum[l] = on_grid(csig[l], f - 23 - (m[l] - ce[l]));
            }
            self.add(i, strip + w, ks.clone(), &m, &mut sum);
            finish_rz(&sum, &m, f, fmt, d);
        }
    }
}

impl FoldFast<'_> {
    /// Block `ks`'s parts inside one K block of the scales: `(j, p0, p1)`.
    #[inline(always)]
    fn parts(&self, ks: Range<usize>) -> impl Iterator<Item = (usize, usize, usize)> + use<> {
        let kb = self.kv.kblock;
        let (b0, b1) = (ks.start, ks.end);
        (b0 / kb..=(b1 - 1) / kb).map(move |j| (j, b0.max(j * kb), b1.min(j * kb + kb)))
    }

    /// The block maximum of the product exponents, into `m` (C's).
    #[inline(always)]
    fn max(&self, i: usize, strip: usize, ks: Range<usize>, m: &mut [i32; L]) {
        let k = self.kv.a.k();
        let nkb = k.div_ceil(self.kv.kblock).max(1);
        let ea = &self.ea[i * k..(i + 1) * k];
        let eb = &self.eb[strip * k * L..(strip + 1) * k * L];
        let xb = &self.xb[strip * nkb * L..(strip + 1) * nkb * L];
        for (j, p0, p1) in self.parts(ks) {
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
    }

    /// Each product's term, truncated (magnitude) onto the grid; `(t ^ s) − s`
    /// negates where the signs differ.
    #[inline(always)]
    fn add(&self, i: usize, strip: usize, ks: Range<usize>, m: &[i32; L], sum: &mut [i64; L]) {
        let k = self.kv.a.k();
        let nkb = k.div_ceil(self.kv.kblock).max(1);
        let row = i * k..(i + 1) * k;
        let (ea, ma, sa) = (&self.ea[row.clone()], &self.ma[row.clone()], &self.sa[row]);
        let cols = strip * k * L..(strip + 1) * k * L;
        let (eb, mb, sb) = (&self.eb[cols.clone()], &self.mb[cols.clone()], &self.sb[cols]);
        let xb = &self.xb[strip * nkb * L..(strip + 1) * nkb * L];
        for (j, p0, p1) in self.parts(ks) {
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
    }
}
