//! The slow reference loop of every model: one output at a time, exactly as the
//! model's definition reads. The oracle of the fast paths.

use super::exact::{Kulisch, OutRounding};
use super::operand::{KernelView, Operand};
use super::tc::{CInput, special};
use super::{Accum, OutDtype, Promote};
use crate::Error;

pub(crate) fn matmul(
    a: &Operand,
    b: &Operand,
    c: Option<&[f32]>,
    accum: &Accum,
    out: OutDtype,
) -> Result<Vec<f64>, Error> {
    let (m, n, k) = (a.rows(), b.rows(), a.k());
    let mut d = Vec::with_capacity(m * n);
    match accum {
        Accum::Exact | Accum::F64 | Accum::F32Fma | Accum::F32MulAdd => {
            let (ad, bd) = (a.dequantized(), b.dequantized());
            let mut acc = Kulisch::default();
            for i in 0..m {
                for j in 0..n {
                    let (ar, br) = (&ad[i * k..(i + 1) * k], &bd[j * k..(j + 1) * k]);
                    let cv = c.map(|c| c[i * n + j]);
                    d.push(dequantized_output(accum, ar, br, cv, out, &mut acc));
                }
            }
        }
        Accum::F32Blocked(p) => {
            let kv = KernelView::new(a, b)?;
            let mut acc = Kulisch::default();
            for i in 0..m {
                for j in 0..n {
                    let cv = c.map(|c| c[i * n + j]);
                    d.push(kernel_output(&kv, i, j, cv, false, false, out, |kv| blocked_acc(kv, i, j, *p, &mut acc)));
                }
            }
        }
        Accum::TensorCore(tc) => {
            tc.validate()?;
            let kv = KernelView::new(a, b)?
                .with_scale_order(tc.scale_order)
                .with_instruction_scales(tc.instruction_scales())?;
            let mut acc = Kulisch::default();
            // C is the first instruction's accumulator input, or the epilogue's addend
            let mma = tc.c_input == CInput::Mma;
            for i in 0..m {
                for j in 0..n {
                    let cv = c.map(|c| c[i * n + j]);
                    let c_in = if mma { cv.unwrap_or(0.0) } else { 0.0 };
                    d.push(kernel_output(&kv, i, j, cv, mma, tc.chain_specials(), out, |kv| {
                        tc.output(kv, i, j, c_in, &mut acc)
                    }));
                }
            }
        }
        Accum::Target(_) => return Err(Error::InvalidOption("a target is resolved before the reference loop".into())),
    }
    Ok(d)
}

/// One output of a dequantized-operand model.
pub(crate) fn dequantized_output(
    accum: &Accum,
    ar: &[f32],
    br: &[f32],
    c: Option<f32>,
    out: OutDtype,
    acc: &mut Kulisch,
) -> f64 {
    match accum {
        Accum::Exact => {
            let prods = ar.iter().zip(br).map(|(&x, &y)| x as f64 * y as f64);
            if let Some(s) = special(prods, c) {
                return out.round_f64(s);
            }
            acc.clear();
            for (&x, &y) in ar.iter().zip(br) {
                acc.add_product(x as f64, y as f64);
            }
            if let Some(c) = c {
                acc.add_f64(c as f64);
            }
            acc.round(out.fmt(), OutRounding::Rne)
        }
        Accum::F64 => {
            let mut s = 0f64;
            for (&x, &y) in ar.iter().zip(br) {
                s += x as f64 * y as f64;
            }
            if let Some(c) = c {
                s += c as f64;
            }
            out.round_f64(s)
        }
        Accum::F32Fma => {
            let mut s = 0f32;
            for (&x, &y) in ar.iter().zip(br) {
                s = x.mul_add(y, s);
            }
            out.round_f32(c.map_or(s, |c| s + c))
        }
        Accum::F32MulAdd => {
            let mut s = 0f32;
            for (&x, &y) in ar.iter().zip(br) {
                s += x * y;
            }
            out.round_f32(c.map_or(s, |c| s + c))
        }
        _ => unreachable!("kernel-view models are not dequantized-operand models"),
    }
}

/// One output of a kernel-view model: specials first, then the model's f32
/// accumulator, then the epilogue (which adds `c` unless the accumulator took it
/// in, `c_in_acc`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn kernel_output(
    kv: &KernelView,
    i: usize,
    j: usize,
    c: Option<f32>,
    c_in_acc: bool,
    chain_specials: bool,
    out: OutDtype,
    acc32: impl FnOnce(&KernelView) -> f32,
) -> f64 {
    let (a, b) = (kv.a, kv.b);
    let k = a.k();
    let (ra, rb) = (kv.row_scale(a, i), kv.row_scale(b, j));
    let alpha = kv.alpha_of(ra, rb);
    let (ar, br) = (&a.elements()[i * k..(i + 1) * k], &b.elements()[j * k..(j + 1) * k]);
    let prods = (0..k).map(|kk| {
        let bl = kk / kv.kblock;
        ar[kk] as f64 * kv.block_scale(a, i, bl) as f64 * (br[kk] as f64 * kv.block_scale(b, j, bl) as f64)
    });
    let cf = c.unwrap_or(0.0) as f64;
    // non-finite elements or C: the plain sum, unless the instruction chain defines
    // them itself (`chain_specials`: CDNA3, group by group)
    if !(kv.factors_finite(ra, rb) && (chain_specials || (cf.is_finite() && prods.clone().all(f64::is_finite)))) {
        return out.round_f64(prods.fold(0.0, |s, p| s + p) * alpha.unwrap_or(1.0) as f64 + cf);
    }
    let c = if c_in_acc { None } else { c };
    out.round_f32(kv.finish(ra, rb, acc32(kv), c).expect("finite factors, checked above"))
}

/// `f32-blocked`: per K-block an exact dot of the unscaled elements, rounded once
/// (RNE) to f32, promoted into an f32 accumulator.
pub(crate) fn blocked_acc(kv: &KernelView, i: usize, j: usize, p: Promote, acc: &mut Kulisch) -> f32 {
    let (a, b) = (kv.a, kv.b);
    let k = a.k();
    let (ar, br) = (&a.elements()[i * k..(i + 1) * k], &b.elements()[j * k..(j + 1) * k]);
    let mut s = 0f32;
    for (bl, (xa, xb)) in ar.chunks(kv.kblock).zip(br.chunks(kv.kblock)).enumerate() {
        acc.clear();
        for (&x, &y) in xa.iter().zip(xb) {
            acc.add_product(x as f64, y as f64);
        }
        let part = acc.round(super::exact::FloatFmt::F32, OutRounding::Rne) as f32;
        s = p.apply(s, part, a.block_scale(i, bl), b.block_scale(j, bl));
    }
    s
}
