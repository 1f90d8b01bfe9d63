//! Exact arithmetic for the accumulation models: a wide fixed-point (Kulisch)
//! accumulator, and one rounding routine from an exact magnitude to any binary
//! float format (RNE or RZ), used by every model that rounds "once".

/// A binary float format as the rounding routine sees it: `frac_bits` fraction
/// bits, normal exponents `emin..=emax`, subnormals below `emin` on the grid
/// `2^(emin - frac_bits)`, overflow to ±Inf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FloatFmt {
    pub frac_bits: u32,
    pub emin: i32,
    pub emax: i32,
}

impl FloatFmt {
    pub const F64: FloatFmt = FloatFmt { frac_bits: 52, emin: -1022, emax: 1023 };
    pub const F32: FloatFmt = FloatFmt { frac_bits: 23, emin: -126, emax: 127 };
    pub const BF16: FloatFmt = FloatFmt { frac_bits: 7, emin: -126, emax: 127 };
    pub const F16: FloatFmt = FloatFmt { frac_bits: 10, emin: -14, emax: 15 };
}

/// How a rounding step picks between the two neighbours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutRounding {
    /// Round to nearest, ties to even (IEEE 754 default).
    Rne,
    /// Round toward zero: truncate the magnitude.
    Rz,
}

/// `x · 2^e`, exact whenever the result is representable (scaled in steps so that
/// no intermediate over- or underflows).
pub(crate) fn ldexp(mut x: f64, mut e: i32) -> f64 {
    while e > 1000 {
        x *= crate::format::pow2(1000);
        e -= 1000;
    }
    while e < -1000 {
        // keep the intermediate normal: never go below 2^-1000 in one step
        x *= crate::format::pow2(-1000);
        e += 1000;
    }
    x * crate::format::pow2(e)
}

/// Rounds the positive value `(mag + δ) · 2^exp` (δ in (0,1) when `sticky`, else 0)
/// to `f` with `r`; returns it as an f64 (exact: every result of a format with at
/// most 52 fraction bits is an f64). Overflow gives +Inf.
pub(crate) fn round_mag(mag: u128, exp: i32, sticky: bool, f: FloatFmt, r: OutRounding) -> f64 {
    if mag == 0 {
        return 0.0;
    }
    let msb = 127 - mag.leading_zeros() as i32;
    let top = exp + msb;
    let q = top.max(f.emin) - f.frac_bits as i32; // exponent of the result's last place
    let shift = q - exp;
    let keep = if shift <= 0 {
        // already on the grid (at most frac_bits + 1 significant bits) unless sticky,
        // which lies below the grid: RNE then never reaches half an ulp
        mag
    } else {
        let (keep, rem, half) = if shift >= 128 {
            (0u128, mag, None)
        } else {
            (mag >> shift, mag & ((1u128 << shift) - 1), Some(1u128 << (shift - 1)))
        };
        let up = match (r, half) {
            (OutRounding::Rz, _) | (_, None) => false,
            (OutRounding::Rne, Some(h)) => rem > h || (rem == h && (sticky || keep & 1 == 1)),
        };
        keep + up as u128
    };
    let (keep, q) = if shift <= 0 { (keep, exp) } else { (keep, q) };
    if keep == 0 {
        return 0.0;
    }
    let bits = 128 - keep.leading_zeros() as i32;
    if q + bits - 1 > f.emax {
        return f64::INFINITY;
    }
    ldexp(keep as f64, q)
}

/// Splits a finite f64 into `(negative, m, e)` with `|x| = m · 2^e`, `m < 2^53`.
pub(crate) fn split_f64(x: f64) -> (bool, u64, i32) {
    let b = x.to_bits();
    let neg = b >> 63 == 1;
    let be = ((b >> 52) & 0x7FF) as i32;
    let frac = b & ((1u64 << 52) - 1);
    if be == 0 { (neg, frac, -1074) } else { (neg, frac | (1u64 << 52), be - 1075) }
}

/// Least significant bit of the accumulator: `2^LSB`.
const LSB: i32 = -1280;
const LIMBS: usize = 40; // 2560 bits: 2^-1280 .. 2^1279

/// An exact two's-complement fixed-point accumulator over `[2^-1280, 2^1279)`: every
/// product of two f64 values that are products of at most four f32 values, and any
/// sum of up to 2^100 of them, is held without rounding.
#[derive(Clone, Debug)]
pub(crate) struct Kulisch {
    limbs: [u64; LIMBS],
}

impl Default for Kulisch {
    fn default() -> Self {
        Kulisch { limbs: [0; LIMBS] }
    }
}

impl Kulisch {
    pub fn clear(&mut self) {
        self.limbs = [0; LIMBS];
    }

    /// Adds `±mag · 2^exp` exactly. Bits below `2^-1280` must be zero (always true
    /// for the models' terms); values beyond the top wrap (never reached by them).
    pub fn add(&mut self, neg: bool, mag: u128, exp: i32) {
        if mag == 0 {
            return;
        }
        debug_assert!(exp >= LSB, "term below the accumulator's range");
        let pos = (exp - LSB) as usize;
        let (limb, bit) = (pos / 64, pos % 64);
        // mag << bit spans up to three limbs
        let lo = (mag << bit) as u64;
        let mid = if bit == 0 { (mag >> 64) as u64 } else { (mag >> (64 - bit)) as u64 };
        let hi = if bit == 0 { 0 } else { (mag >> (128 - bit)) as u64 };
        let parts = [lo, mid, hi];
        if !neg {
            let mut carry = 0u64;
            for (i, limb_i) in (limb..LIMBS).enumerate() {
                let p = if i < 3 { parts[i] } else { 0 };
                if i >= 3 && carry == 0 {
                    break;
                }
                let (s1, c1) = self.limbs[limb_i].overflowing_add(p);
                let (s2, c2) = s1.overflowing_add(carry);
                self.limbs[limb_i] = s2;
                carry = (c1 || c2) as u64;
            }
        } else {
            let mut borrow = 0u64;
            for (i, limb_i) in (limb..LIMBS).enumerate() {
                let p = if i < 3 { parts[i] } else { 0 };
                if i >= 3 && borrow == 0 {
                    break;
                }
                let (s1, b1) = self.limbs[limb_i].overflowing_sub(p);
                let (s2, b2) = s1.overflowing_sub(borrow);
                self.limbs[limb_i] = s2;
                borrow = (b1 || b2) as u64;
            }
        }
    }

    /// Adds a finite f64 exactly.
    pub fn add_f64(&mut self, x: f64) {
        let (neg, m, e) = split_f64(x);
        self.add(neg, m as u128, e);
    }

    /// Adds the exact product of two finite f64 values.
    pub fn add_product(&mut self, a: f64, b: f64) {
        let (na, ma, ea) = split_f64(a);
        let (nb, mb, eb) = split_f64(b);
        self.add(na != nb, ma as u128 * mb as u128, ea + eb);
    }

    /// The sum rounded once to `f` with `r` (+0 for an exact zero).
    pub fn round(&self, f: FloatFmt, r: OutRounding) -> f64 {
        let neg = self.limbs[LIMBS - 1] >> 63 == 1;
        let mut mag = self.limbs;
        if neg {
            // two's complement negate
            let mut carry = 1u64;
            for l in mag.iter_mut() {
                let (s, c) = (!*l).overflowing_add(carry);
                *l = s;
                carry = c as u64;
            }
        }
        let Some(top) = mag.iter().rposition(|&l| l != 0) else {
            return 0.0;
        };
        // a 128-bit window ending at the top limb, plus a sticky bit for the rest
        let (window, low_limb) = if top == 0 {
            (mag[0] as u128, 0usize)
        } else {
            (((mag[top] as u128) << 64) | mag[top - 1] as u128, top - 1)
        };
        let sticky = mag[..low_limb].iter().any(|&l| l != 0);
        let exp = LSB + 64 * low_limb as i32;
        let v = round_mag(window, exp, sticky, f, r);
        if neg { -v } else { v }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_mag_matches_hardware_casts() {
        // f64 -> f32 RNE through round_mag equals the `as` cast on assorted values
        let xs =
            [1.0f64, 1.0 + 2f64.powi(-24), 1.0 + 3.0 * 2f64.powi(-25), 3.4e38, 3.5e38, 1e-40, 1.4e-45, 7e-46, 2.1e-45];
        for &x in &xs {
            let (_, m, e) = split_f64(x);
            let got = round_mag(m as u128, e, false, FloatFmt::F32, OutRounding::Rne);
            assert_eq!(got, x as f32 as f64, "{x:e}");
        }
        // RZ truncates
        let (_, m, e) = split_f64(1.0 + 2f64.powi(-24) * 1.5);
        assert_eq!(round_mag(m as u128, e, false, FloatFmt::F32, OutRounding::Rz), 1.0);
    }

    #[test]
    fn kulisch_sums_exactly() {
        let mut k = Kulisch::default();
        k.add_f64(1e300);
        k.add_f64(1.0);
        k.add_f64(-1e300);
        assert_eq!(k.round(FloatFmt::F64, OutRounding::Rne), 1.0);
        k.clear();
        k.add_product(3.0, -5.0);
        k.add_f64(2f64.powi(-1074));
        assert_eq!(k.round(FloatFmt::F64, OutRounding::Rne), -15.0);
        assert!(k.round(FloatFmt::F64, OutRounding::Rz) > -15.0);
        k.clear();
        assert_eq!(k.round(FloatFmt::F32, OutRounding::Rne).to_bits(), 0);
    }
}
