//! The arithmetic decode kernel (the table decode is `slice::decode_table`).

use crate::format::{FormatSpec, Specials};

/// Arithmetic decode, branch-free and vectorisable, in integer arithmetic plus one
/// int-to-float conversion: a normal code's magnitude bits shifted into an f32
/// pattern with `127 − bias` added to the exponent field is its exact value; a
/// subnormal code's is its significand as an f32 integer times `2^(1 − bias −
/// mantissa bits)` (a normal f32 for every format); special codes are selected.
/// No step touches an f32 subnormal: multiplying one, as the former
/// `bits · 2^(127 − bias)` form did for subnormal codes, takes a microcode assist
/// on Intel cores (e2m1fn and e2m3fn decoded at 0.45–0.54 Gelem/s through it).
/// Checked against the decode table on every code of every format.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DecodeKernel {
    mag_mask: u32,
    shift: u32,
    /// `(127 − bias) << 23`: re-biases a normal code's exponent field
    exp_adj: u32,
    /// magnitudes below this (`2^man_bits`) are subnormal
    sub_below: u32,
    /// `2^(1 − bias − man_bits)`, a subnormal's significand unit
    sub_mult: f32,
    sign_bit: u32,
    sign_shift: u32,
    /// magnitudes at or above this are NaN (0x100: none)
    nan_from: u32,
    /// the magnitude of ±Inf (0x100: none)
    inf_mag: u32,
    /// the one full code that is NaN in fnuz formats (0x100: none)
    nan_code: u32,
    /// the f32 pattern of magnitude code 0: 0, or `2^-127` for e8m0fnu (no zero)
    zero_bits: u32,
}

impl DecodeKernel {
    pub(crate) fn new(spec: &FormatSpec) -> Option<Self> {
        // e8m0fnu: no subnormals, but its codes are biased exponents like f32's (bias
        // 127), and code 0 (2^-127, an f32 subnormal) is selected like a special code
        let e8m0 = spec.man_bits == 0 && spec.bias == 127;
        if !spec.has_subnormals && !e8m0 {
            return None;
        }
        let none = 0x100;
        let (nan_from, inf_mag, nan_code) = match spec.specials {
            Specials::Ieee => {
                let inf = spec.inf_code().unwrap_or(0) as u32;
                (inf + 1, inf, none)
            }
            Specials::NanAllOnes => (spec.mag_mask() as u32, none, none),
            Specials::NanNegZero => (none, none, 0x80),
            Specials::None => (none, none, none),
        };
        Some(DecodeKernel {
            mag_mask: spec.mag_mask() as u32,
            shift: 23 - spec.man_bits,
            exp_adj: ((127 - spec.bias) as u32) << 23,
            sub_below: 1 << spec.man_bits,
            sub_mult: crate::format::pow2(1 - spec.bias - spec.man_bits as i32) as f32,
            sign_bit: spec.sign_bit() as u32,
            sign_shift: 31 - (spec.exp_bits + spec.man_bits),
            nan_from,
            inf_mag,
            nan_code,
            zero_bits: if e8m0 { 0x0040_0000 } else { 0 },
        })
    }

    #[inline(always)]
    pub(crate) fn decode(&self, code: u8) -> f32 {
        let c = code as u32;
        let mag = c & self.mag_mask;
        let sign = (c & self.sign_bit) << self.sign_shift;
        let normal = (mag << self.shift).wrapping_add(self.exp_adj);
        let sub = (mag as f32 * self.sub_mult).to_bits();
        let v = if mag < self.sub_below { sub } else { normal };
        let mut bits = if mag == 0 { self.zero_bits } else { v } | sign;
        bits = if mag >= self.nan_from || c == self.nan_code { 0x7FC0_0000 | sign } else { bits };
        bits = if mag == self.inf_mag { 0x7F80_0000 | sign } else { bits };
        f32::from_bits(bits)
    }

    #[inline(always)]
    pub(crate) fn run(&self, codes: &[u8], out: &mut [f32]) {
        let mut c = codes.chunks_exact(64);
        let mut o = out.chunks_exact_mut(64);
        for (cv, ov) in (&mut c).zip(&mut o) {
            crate::simd::prefetch_ahead(cv, 4 * crate::simd::PREFETCH_AHEAD);
            for (o, &c) in ov.iter_mut().zip(cv) {
                *o = self.decode(c);
            }
        }
        for (o, &c) in o.into_remainder().iter_mut().zip(c.remainder()) {
            *o = self.decode(c);
        }
    }
}
