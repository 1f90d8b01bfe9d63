//! The Goto/BLIS loop nest over packed panels and register tiles.

use super::super::simd::prefetch;
use super::pack::{Lane, Source};
use super::{MC, NC};

/// The Goto loop nest over the `m × n` f32 accumulator array `cbuf` (all +0 on
/// entry), packing from `a` and `b`, with K panels of `kc_max` and `kernel(pc,
/// kc, a_strip, b_strip, tile, i0, j0)` updating one `MR × NR` tile (in place in
/// the accumulator array where the tile is whole, else a zero-padded copy); on
/// the first panel (`pc == 0`) the tile holds +0 and a kernel may start from +0
/// without reading it.
#[allow(clippy::too_many_arguments)]
pub(super) fn drive<T: Lane, const MR: usize, const NR: usize>(
    a: &Source<T>,
    b: &Source<T>,
    m: usize,
    n: usize,
    k: usize,
    kc_max: usize,
    cbuf: &mut [f32],
    mut kernel: impl FnMut(usize, usize, &[T], &[T], CTile, usize, usize),
) {
    assert_eq!(cbuf.len(), m * n, "accumulator array");
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let ncap = NC.min(n.next_multiple_of(NR));
    let (mut bpv, ob) = aligned::<T>(kc_max * ncap);
    let (mut apv, oa) = aligned::<T>(kc_max * MC);
    let (bp, ap) = (&mut bpv[ob..], &mut apv[oa..]);
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - pc);
            b.pack::<NR>(jc, nc, pc, kc, bp);
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                a.pack::<MR>(ic, mc, pc, kc, ap);
                for jr in (0..nc).step_by(NR) {
                    let bt = &bp[jr * kc..(jr + NR) * kc];
                    for ir in (0..mc).step_by(MR) {
                        let at = &ap[ir * kc..(ir + MR) * kc];
                        let (rows, cols) = (MR.min(mc - ir), NR.min(nc - jr));
                        // the next tile's C rows, so that their loads overlap this tile's work
                        let (ni, nj) = if ir + MR < mc { (ir + MR, jr) } else { (0, jr + NR) };
                        if pc > 0 && nj < nc {
                            for i in 0..MR.min(mc - ni) {
                                let o = (ic + ni + i) * n + jc + nj;
                                prefetch(&cbuf[o..o + NR.min(nc - nj)]);
                            }
                        }
                        let o = (ic + ir) * n + jc + jr;
                        if rows == MR && cols == NR {
                            // a whole tile: the kernel works in the accumulator array itself
                            let c = CTile { c: &mut cbuf[o..o + (MR - 1) * n + NR], ldc: n };
                            kernel(pc, kc, at, bt, c, ic + ir, jc + jr);
                        } else {
                            let mut tile = [[0f32; NR]; MR];
                            if pc > 0 {
                                for (i, t) in tile.iter_mut().enumerate().take(rows) {
                                    t[..cols].copy_from_slice(&cbuf[o + i * n..o + i * n + cols]);
                                }
                            }
                            kernel(pc, kc, at, bt, CTile { c: tile.as_flattened_mut(), ldc: NR }, ic + ir, jc + jr);
                            for (i, t) in tile.iter().enumerate().take(rows) {
                                cbuf[o + i * n..o + i * n + cols].copy_from_slice(&t[..cols]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A zeroed buffer holding `len` values from offset `o` on, where its memory
/// starts a 64-byte cache line (a packed line of 16 f32 then never straddles two
/// lines): `(buffer, o)`.
fn aligned<T: Clone + Default>(len: usize) -> (Vec<T>, usize) {
    let pad = 64 / size_of::<T>();
    let v = vec![T::default(); len + pad];
    let o = v.as_ptr().align_offset(64);
    (v, if o < pad { o } else { 0 })
}

/// An `R × W` tile of the row-major f32 accumulator array: row `i` is
/// `c[i·ldc..][..W]` (`c` ends with the last row's `W` values).
pub(crate) struct CTile<'a> {
    pub c: &'a mut [f32],
    pub ldc: usize,
}

impl CTile<'_> {
    /// Checks that the tile holds `R` rows of `W` (raw-pointer kernels rely on it).
    #[inline(always)]
    pub fn assert_shape<const R: usize, const W: usize>(&self) {
        assert!(self.ldc >= W && self.c.len() >= (R - 1) * self.ldc + W, "C tile shape");
    }

    /// The tile's values.
    #[inline(always)]
    pub fn load<const R: usize, const W: usize>(&self) -> [[f32; W]; R] {
        std::array::from_fn(|i| self.c[i * self.ldc..i * self.ldc + W].try_into().expect("tile row"))
    }

    /// Overwrites the tile.
    #[inline(always)]
    pub fn store<const R: usize, const W: usize>(&mut self, t: &[[f32; W]; R]) {
        for (i, t) in t.iter().enumerate() {
            self.c[i * self.ldc..i * self.ldc + W].copy_from_slice(t);
        }
    }
}
