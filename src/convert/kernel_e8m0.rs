//! The cast to `e8m0fnu` (the scale format of MX), a kernel of its own: with no
//! mantissa, the code is the f32 exponent field rounded by the e8m0 rule.

use super::kernel::{INF, NAN, NEG, OVF, ZERO, both};
use super::{CastOptions, E8m0Rounding, NegativePolicy};
use crate::format::{FormatSpec, Specials};

/// The cast to `e8m0fnu`: the code is the rounded biased exponent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct E8m0Kernel {
    /// Added to a normal f32 pattern before taking the exponent field (RNE adds
    /// the field's parity on top: ties to the even code).
    inc: u32,
    even: bool,
    /// f32 subnormal inputs (below 2^-126) at or above this pattern give code 1
    /// (`2^-126`), the others code 0 (`2^-127`).
    sub_thr: u32,
    special: [[u8; 2]; 5],
    neg_special: bool,
}

impl E8m0Kernel {
    pub(crate) fn new(spec: &FormatSpec, o: &CastOptions) -> Option<Self> {
        if spec.man_bits != 0 || spec.signed || spec.has_subnormals || spec.specials != Specials::NanAllOnes {
            return None;
        }
        let (inc, even, sub_thr) = match o.e8m0 {
            E8m0Rounding::TiesUpUniform => (0x40_0000, false, 0x60_0000),
            E8m0Rounding::TiesUp => (0x40_0000, false, 0x40_0001),
            E8m0Rounding::TiesEvenCode => (0x3F_FFFF, true, 0x60_0001),
            E8m0Rounding::Floor => (0, false, 0x80_0000),
            E8m0Rounding::Ceil => (0x7F_FFFF, false, 0x40_0001),
        };
        Some(E8m0Kernel {
            inc,
            even,
            sub_thr,
            special: [
                both(spec, o, f32::NAN),
                both(spec, o, f32::INFINITY),
                both(spec, o, f32::MAX),
                both(spec, o, 0.0),
                both(spec, o, -1.0),
            ],
            neg_special: o.negative != NegativePolicy::Abs,
        })
    }

    /// The rounded biased exponent of a finite f32 magnitude pattern `a`.
    #[inline(always)]
    fn rounded(&self, a: u32) -> u32 {
        (a + self.inc + (self.even as u32 & (a >> 23))) >> 23
    }

    #[inline(always)]
    pub(crate) fn encode_one(&self, x: f32) -> u8 {
        let bits = x.to_bits();
        let a = bits & 0x7FFF_FFFF;
        let s = bits >> 31;
        let negm = 0u32.wrapping_sub(s);
        let pick = |p: [u8; 2]| (p[0] as u32 & !negm) | (p[1] as u32 & negm);
        let a_fin = a.min(0x7F7F_FFFF);
        let norm = self.rounded(a_fin);
        let mut out = if a < 0x80_0000 { (a >= self.sub_thr) as u32 } else { norm };
        out = if out > 0xFE { pick(self.special[OVF]) } else { out };
        out = if a == 0 { pick(self.special[ZERO]) } else { out };
        out = if a == 0x7F80_0000 { pick(self.special[INF]) } else { out };
        out = if self.neg_special && s == 1 && a != 0 { self.special[NEG][0] as u32 } else { out };
        out = if a > 0x7F80_0000 { pick(self.special[NAN]) } else { out };
        out as u8
    }

    /// The chunk's codes when every input is a normal f32 whose rounded code is
    /// finite (the common case; `encode_one`'s first branches): the rounded
    /// exponent, or the negative class's code. Returns false, with `dv` to be
    /// rewritten, when some input is not.
    #[inline(always)]
    fn normal_chunk(&self, sv: &[f32; 16], dv: &mut [u8; 16]) -> bool {
        let neg = self.special[NEG][0] as u32;
        let a = sv.map(|x| x.to_bits() & 0x7FFF_FFFF);
        let norm = a.map(|a| self.rounded(a));
        for ((d, &x), &n) in dv.iter_mut().zip(sv).zip(&norm) {
            *d = if self.neg_special && x.to_bits() >> 31 == 1 { neg } else { n } as u8;
        }
        // every input normal (0x80_0000 ≤ a ≤ 0x7F7F_FFFF), no code the overflow
        let off = a.iter().fold(0, |m, &a| m.max(a.wrapping_sub(0x80_0000)));
        let top = norm.iter().fold(0, |m, &n| m.max(n));
        off < 0x7F00_0000 && top < 0xFF
    }

    #[inline(always)]
    pub(crate) fn run(&self, src: &[f32], dst: &mut [u8]) {
        let mut s = src.chunks_exact(16);
        let mut d = dst.chunks_exact_mut(16);
        for (sv, dv) in (&mut s).zip(&mut d) {
            crate::simd::prefetch_ahead(sv, crate::simd::PREFETCH_AHEAD);
            let sv: &[f32; 16] = sv.try_into().expect("chunks_exact");
            let dv: &mut [u8; 16] = dv.try_into().expect("chunks_exact");
            if !self.normal_chunk(sv, dv) {
                for (d, &x) in dv.iter_mut().zip(sv) {
                    *d = self.encode_one(x);
                }
            }
        }
        for (d, &x) in d.into_remainder().iter_mut().zip(s.remainder()) {
            *d = self.encode_one(x);
        }
    }
}
