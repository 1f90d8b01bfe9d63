//! Fast paths, each bit-identical to the model's reference loop (tested in
//! `tests/matmul_props.rs` on odd shapes, and here for every kernel build the
//! CPU has: portable, AVX2/FMA, AVX-512F; see [`SimdBuild`]):
//!
//! * `f32-fma` / `f32-mul-add`: a packed, register-blocked GEMM (Goto/BLIS loop
//!   nest: B panels of `KC × NC`, A blocks of `MC × KC`, a 6×16 micro-tile, 12×32
//!   with AVX-512). Each output's accumulator lives in the C array between K
//!   panels, so it is still one FMA (or mul-then-add) per k in k order, starting
//!   from +0: exactly the reference chain, only with many chains in flight.
//! * `f32-blocked`: the same loop nest with K panels cut at scale-block
//!   boundaries; a block's dot is summed in f32 lanes (6×16 tile, 12×32 with
//!   AVX-512) where that is exact, else in f64 lanes (6×8, 12×16) where that is
//!   exact (every product and
//!   partial sum is a multiple of the smallest product and below 2^24, resp.
//!   2^53, of it, checked from the element values the operands use: FP4/FP6
//!   blocks fit f32, FP8 blocks f64), rounded once to f32, then promoted with
//!   the model's formula, all in registers at the block's end.
//! * tensor-core models with ≤ 3-bit element significands and power-of-two (or
//!   no) in-loop scales: integer alignment and truncation in i32 lanes.
//!
//! Outputs whose rows hold a NaN/Inf element or scale go through the reference
//! per-output routine, so specials behave identically.
//!
//! Layers: `pack` (decode and scale the operands into panels), `drive` (the loop
//! nest over panels and tiles), `kernels` (the micro-kernels of each model and
//! their SIMD builds), `epilogue` (scales, C and specials, in place).

mod drive;
mod epilogue;
mod kernels;
mod pack;

use super::operand::{KernelView, Operand};
use super::{Accum, OutDtype, reference};
use crate::Error;
use crate::simd::SimdBuild;
pub(crate) use drive::CTile;
pub(crate) use epilogue::OutElem;
use epilogue::kernel_epilogue;
pub(crate) use kernels::Strided;
use kernels::{dot_lane, gemm_blocked, gemm_f32};

/// A tensor-core integer kernel: every output's f32 accumulator into `[M, N]`.
type AccKernel<'a> = dyn Fn(&mut [f32]) + 'a;

const MR: usize = 6;
const NR: usize = 16;
const KC: usize = 384;
const MC: usize = 72;
const NC: usize = 4096;
/// f64 tiles are 6×8: twelve 4-lane accumulators.
const NR64: usize = 8;

/// The fast path's result as f64 ([`super::matmul`]) or f32
/// ([`super::matmul_f32`]; `out` is not `F64`), `None` where the model has none.
pub(crate) fn try_matmul<O: OutElem>(
    a: &Operand,
    b: &Operand,
    c: Option<&[f32]>,
    accum: &Accum,
    out: OutDtype,
) -> Result<Option<Vec<O>>, Error> {
    try_matmul_with(a, b, c, accum, out, SimdBuild::best())
}

pub(crate) fn has_fast_path(a: &Operand, b: &Operand, accum: &Accum) -> bool {
    match accum {
        Accum::F32Fma | Accum::F32MulAdd => true,
        Accum::F32Blocked(_) => KernelView::new(a, b).is_ok_and(|kv| dot_lane(a, b, kv.kblock).is_some()),
        Accum::TensorCore(tc) => {
            tc.validate().is_ok()
                && KernelView::new(a, b).and_then(|kv| kv.with_instruction_scales(tc.instruction_scales())).is_ok_and(
                    |kv| {
                        super::tc_fast::TcFast::new(tc, &kv).is_some()
                            || super::g16_fast::G16Fast::new(tc, &kv).is_some()
                            || super::fold_fast::FoldFast::new(tc, &kv).is_some()
                    },
                )
        }
        Accum::Exact | Accum::F64 | Accum::Target(_) => false,
    }
}

/// `isa`: the kernel build to run (tests run every build the CPU has).
pub(crate) fn try_matmul_with<O: OutElem>(
    a: &Operand,
    b: &Operand,
    c: Option<&[f32]>,
    accum: &Accum,
    out: OutDtype,
    isa: SimdBuild,
) -> Result<Option<Vec<O>>, Error> {
    let (m, n) = (a.rows(), b.rows());
    match accum {
        Accum::F32Fma | Accum::F32MulAdd => {
            let fma = matches!(accum, Accum::F32Fma);
            let mut d = vec![O::default(); m * n];
            gemm_f32(a, b, fma, isa, O::acc(&mut d));
            match c {
                None => O::round_in_place(&mut d, n, out),
                Some(c) => O::finish(&mut d, n, |i, j, s| out.round_f32(s + c[i * n + j])),
            }
            Ok(Some(d))
        }
        Accum::F32Blocked(p) => {
            let kv = KernelView::new(a, b)?;
            let Some(lane) = dot_lane(a, b, kv.kblock) else {
                return Ok(None);
            };
            let mut d = vec![O::default(); m * n];
            gemm_blocked(&kv, lane, *p, isa, O::acc(&mut d));
            kernel_epilogue(&kv, &mut d, c, false, out, |i, j, acc| {
                reference::kernel_output(&kv, i, j, c.map(|c| c[i * n + j]), false, false, out, |kv| {
                    reference::blocked_acc(kv, i, j, *p, acc)
                })
            });
            Ok(Some(d))
        }
        Accum::TensorCore(tc) => {
            tc.validate()?;
            // without C, C in the instruction is the +0 chain start the epilogue form has
            let no_c = super::TensorCore { c_input: super::CInput::Epilogue, ..*tc };
            let tc = if c.is_none() { &no_c } else { tc };
            let kv = KernelView::new(a, b)?
                .with_scale_order(tc.scale_order)
                .with_instruction_scales(tc.instruction_scales())?;
            // the integer kernel of the fused-block kinds, else that of kind::mxf4nvf4,
            // else that of scales folded into the products
            let kernel: Option<Box<AccKernel>> = if let Some(f) = super::tc_fast::TcFast::new(tc, &kv) {
                Some(Box::new(move |acc| f.gemm(acc, isa)))
            } else if let Some(g) = super::g16_fast::G16Fast::new(tc, &kv) {
                Some(Box::new(move |acc| g.gemm(acc, isa)))
            } else {
                super::fold_fast::FoldFast::new(tc, &kv).map(|f| Box::new(move |acc: &mut [f32]| f.gemm(acc, isa)) as _)
            };
            // `c=mma` (with a C): every chain starts from C, which the epilogue then leaves out
            let mma = tc.c_input == super::CInput::Mma;
            match kernel {
                Some(f) => {
                    let mut d = vec![O::default(); m * n];
                    let acc = O::acc(&mut d);
                    if let (true, Some(c)) = (mma, c) {
                        acc.copy_from_slice(c);
                    }
                    f(acc);
                    kernel_epilogue(&kv, &mut d, c, mma, out, |i, j, acc| {
                        let cv = c.map(|c| c[i * n + j]);
                        let c_in = if mma { cv.unwrap_or(0.0) } else { 0.0 };
                        reference::kernel_output(&kv, i, j, cv, mma, tc.chain_specials(), out, |kv| {
                            tc.output(kv, i, j, c_in, acc)
                        })
                    });
                    Ok(Some(d))
                }
                None => Ok(None),
            }
        }
        Accum::Exact | Accum::F64 | Accum::Target(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests;
