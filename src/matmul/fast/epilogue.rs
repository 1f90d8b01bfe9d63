//! The epilogue of the fast paths: in place over the accumulators, with the
//! reference per-output routine for outputs that specials touch.

use super::super::OutDtype;
use super::super::exact::Kulisch;
use super::super::operand::{KernelView, Operand};

/// The element type of a fast path's result: f64 ([`super::matmul`]) or f32
/// ([`super::matmul_f32`]). The f32 accumulators live in the result's own memory
/// (one allocation, each page touched once) and the epilogue runs in place.
pub(crate) trait OutElem: Copy + Default {
    /// Whether [`Self::finish`] must run even where the epilogue is the identity.
    const WIDENS: bool;
    /// The f32 accumulator array inside a result `d` (all +0 where `d` is zeroed).
    fn acc(d: &mut [Self]) -> &mut [f32];
    /// `d[i·n + j] = f(i, j, acc[i·n + j])` for every output, in place (`f`'s
    /// values are exact in `Self`).
    fn finish(d: &mut [Self], n: usize, f: impl FnMut(usize, usize, f32) -> f64);
    /// Every output is its accumulator rounded to `out` (nothing to do for f32
    /// results of f32 output).
    fn round_in_place(d: &mut [Self], n: usize, out: OutDtype) {
        if Self::WIDENS || out != OutDtype::F32 {
            Self::finish(d, n, |_, _, acc| out.round_f32(acc));
        }
    }
}

impl OutElem for f32 {
    const WIDENS: bool = false;
    fn acc(d: &mut [f32]) -> &mut [f32] {
        d
    }
    fn finish(d: &mut [f32], n: usize, mut f: impl FnMut(usize, usize, f32) -> f64) {
        for (i, row) in d.chunks_exact_mut(n.max(1)).enumerate() {
            row.iter_mut().enumerate().for_each(|(j, x)| *x = f(i, j, *x) as f32);
        }
    }
}

impl OutElem for f64 {
    const WIDENS: bool = true;
    /// The first `d.len()` f32 slots of `d`'s memory.
    fn acc(d: &mut [f64]) -> &mut [f32] {
        let len = d.len();
        &mut bytemuck::cast_slice_mut(d)[..len]
    }
    /// Runs from the last output to the first, a chunk of 8 at a time: output `x`
    /// overwrites the f32 slots `2x` and `2x + 1`, which hold outputs ≥ `x`, read
    /// already (a chunk reads its own slots into a local first).
    fn finish(d: &mut [f64], n: usize, mut f: impl FnMut(usize, usize, f32) -> f64) {
        const L: usize = 8;
        for i in (0..d.len() / n.max(1)).rev() {
            let mut j1 = n;
            while j1 > 0 {
                let j0 = j1.saturating_sub(L);
                let (x0, x1) = (i * n + j0, i * n + j1);
                let mut x = [0f32; L];
                x[..x1 - x0].copy_from_slice(&bytemuck::cast_slice::<f64, f32>(d)[x0..x1]);
                for (t, (o, x)) in d[x0..x1].iter_mut().zip(x).enumerate() {
                    *o = f(i, j0 + t, x);
                }
                j1 = j0;
            }
        }
    }
}

/// Rows (of A or B) holding a non-finite element or in-loop scale.
fn special_rows(kv: &KernelView, op: &Operand) -> Vec<bool> {
    let k = op.k();
    let bad: Vec<bool> = (0..=255u8).map(|c| !op.value_of(c).is_finite()).collect();
    (0..op.rows())
        .map(|r| {
            let elems = if op.coded() {
                op.codes()[r * k..(r + 1) * k].iter().any(|&c| bad[c as usize])
            } else {
                op.elements()[r * k..(r + 1) * k].iter().any(|x| !x.is_finite()) // a wide type's values
            };
            elems || (0..op.nkb()).any(|j| !kv.block_scale(op, r, j).is_finite())
        })
        .collect()
}

/// Applies the epilogue to the fast accumulators in `d` (in place); outputs
/// touched by specials (or a non-finite alpha / C) are recomputed by `slow`.
/// `c_in_acc`: C is already in the accumulators (`c=mma`), not added here.
pub(super) fn kernel_epilogue<O: OutElem>(
    kv: &KernelView,
    d: &mut [O],
    c: Option<&[f32]>,
    c_in_acc: bool,
    out: OutDtype,
    mut slow: impl FnMut(usize, usize, &mut Kulisch) -> f64,
) {
    let n = kv.b.rows();
    let (special_a, special_b) = (special_rows(kv, kv.a), special_rows(kv, kv.b));
    let rb: Vec<Option<f32>> = (0..n).map(|j| kv.row_scale(kv.b, j)).collect();
    let identity = (c.is_none() || c_in_acc && c.is_some_and(|c| c.iter().all(|v| v.is_finite())))
        && kv.a.epilogue_global().is_none()
        && kv.b.epilogue_global().is_none()
        && rb.iter().all(Option::is_none)
        && (0..kv.a.rows()).all(|i| kv.row_scale(kv.a, i).is_none())
        && !special_a.iter().chain(&special_b).any(|&s| s);
    if identity {
        // no factor, no C, no specials: every output is its accumulator, rounded
        return O::round_in_place(d, n, out);
    }
    let mut k = Kulisch::default();
    let mut ra = (usize::MAX, None);
    O::finish(d, n, |i, j, acc| {
        if ra.0 != i {
            ra = (i, kv.row_scale(kv.a, i));
        }
        let cv = c.map(|c| c[i * n + j]);
        match kv.finish(ra.1, rb[j], acc, if c_in_acc { None } else { cv }) {
            Some(x) if !(special_a[i] || special_b[j]) && cv.is_none_or(f32::is_finite) => out.round_f32(x),
            _ => slow(i, j, &mut k),
        }
    });
}
