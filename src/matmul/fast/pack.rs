//! Packing: the operands' values, decoded and scaled straight from the codes,
//! into the panels the micro-kernels read.

use super::super::operand::Operand;
use super::super::simd::prefetch;

/// Where the packs read an operand's values (`[rows, K]`): each code's value
/// from a table, times its K block's factor where the operand has factors, or a
/// dense f32 array where the values are not code × factor.
pub(super) struct Source<'a, T> {
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
    pub(super) fn dequantized(op: &'a Operand) -> Self {
        Source { factors: op.dequant_factors(), dense: op.dense(), ..Source::elements(op) }
    }

    /// The unscaled element values.
    pub(super) fn elements(op: &'a Operand) -> Self {
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
    pub(super) fn pack<const W: usize>(&self, r0: usize, rows: usize, pc: usize, kc: usize, dst: &mut [T]) {
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

/// A block-dot lane type of the portable `f32-blocked` kernel.
pub(super) trait Lane: Copy + Default {
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
