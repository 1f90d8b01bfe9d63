//! The micro-kernels: `f32-fma` / `f32-mul-add` tiles and the `f32-blocked`
//! block dots, portable and in every SIMD build (`super::super::simd`), each
//! build chosen by a [`SimdBuild`] checked where its `unsafe` call is made.
#![allow(unsafe_code)]

use super::super::Promote;
use super::super::operand::{KernelView, Operand};
use super::drive::{CTile, drive};
use super::pack::{Lane, Source};
use super::{KC, MR, NR, NR64};
use crate::simd::SimdBuild;

/// The f32 micro-kernel: `kc` steps of `tile[i][j] = fma(a[i], b[j], tile[i][j])`
/// (or `tile + a·b` rounded twice without `FMA`), from +0 without reading the
/// tile when `fresh`.
#[inline(always)]
fn micro_f32<const FMA: bool>(kc: usize, a: &[f32], b: &[f32], mut tile: CTile, fresh: bool) {
    let mut acc: [[f32; NR]; MR] = if fresh { [[0.0; NR]; MR] } else { tile.load() };
    for (av, bv) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(kc) {
        let av: &[f32; MR] = av.try_into().expect("MR");
        let bv: &[f32; NR] = bv.try_into().expect("NR");
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] = if FMA { av[i].mul_add(bv[j], acc[i][j]) } else { acc[i][j] + av[i] * bv[j] };
            }
        }
    }
    tile.store(&acc);
}

/// The `[m, n]` f32 accumulators of `A·Bᵀ` over the dequantized operands,
/// decoded and scaled while packing, into `acc` (all +0 on entry).
pub(super) fn gemm_f32(a: &Operand, b: &Operand, fma: bool, isa: SimdBuild, acc: &mut [f32]) {
    let (m, n, k) = (a.rows(), b.rows(), a.k());
    let (fa, fb) = (&Source::dequantized(a), &Source::dequantized(b));
    match isa {
        #[cfg(target_arch = "x86_64")]
        SimdBuild::Avx512 if isa.supported() => {
            drive::<f32, 12, 32>(fa, fb, m, n, k, KC, acc, |pc, kc, at, bt, tile, _, _| {
                // SAFETY: the CPU has AVX-512F (`isa.supported()` in this arm's guard), the only
                // precondition of the `#[target_feature]` function.
                unsafe {
                    if fma {
                        super::super::simd::micro_f32_512::<true>(kc, at, bt, tile, pc == 0)
                    } else {
                        super::super::simd::micro_f32_512::<false>(kc, at, bt, tile, pc == 0)
                    }
                }
            })
        }
        #[cfg(target_arch = "x86_64")]
        SimdBuild::Avx2 if isa.supported() => {
            drive::<f32, MR, NR>(fa, fb, m, n, k, KC, acc, |pc, kc, at, bt, tile, _, _| {
                // SAFETY: the CPU has AVX2 and FMA (`isa.supported()` in this arm's guard).
                unsafe {
                    if fma {
                        super::super::simd::micro_f32::<true>(kc, at, bt, tile, pc == 0)
                    } else {
                        super::super::simd::micro_f32::<false>(kc, at, bt, tile, pc == 0)
                    }
                }
            })
        }
        _ => drive::<f32, MR, NR>(fa, fb, m, n, k, KC, acc, |pc, kc, at, bt, tile, _, _| {
            if fma {
                micro_f32::<true>(kc, at, bt, tile, pc == 0)
            } else {
                micro_f32::<false>(kc, at, bt, tile, pc == 0)
            }
        }),
    }
}

/// The number of significant bits a block dot of `kblock` products can need,
/// with the exponent range it spans: all products are multiples of
/// `2^(lsb_a + lsb_b)` and every partial sum stays below `2^(top_a + top_b)`
/// times `kblock`. `None` when no finite nonzero value occurs (all zero, or
/// only specials, which the reference routine handles per output).
fn dot_bits(a: &Operand, b: &Operand, kblock: usize) -> Option<(i32, i32, i32)> {
    let range = |op: &Operand| {
        let mut used = [false; 256];
        for &c in op.codes() {
            used[c as usize] = true;
        }
        let mut lsb = i32::MAX;
        let mut top = i32::MIN;
        for c in (0..=255u8).filter(|&c| used[c as usize]) {
            let x = op.value_of(c);
            if x != 0.0 && x.is_finite() {
                let (_, m, e) = super::super::exact::split_f64(x as f64);
                lsb = lsb.min(e + m.trailing_zeros() as i32);
                top = top.max(e + 64 - m.leading_zeros() as i32);
            }
        }
        (lsb != i32::MAX).then_some((lsb, top))
    };
    let ((la, ta), (lb, tb)) = (range(a)?, range(b)?);
    let top = ta + tb + (usize::BITS - kblock.leading_zeros()) as i32;
    Some((top - (la + lb), la + lb, top))
}

/// The lane type in which every block dot is exact: f32 where the dots need at
/// most 24 significant bits inside f32's normal range (FP4 and FP6 elements in
/// 16/32 blocks), else f64 (53 bits; FP8 elements), else none (no fast path).
pub(super) fn dot_lane(a: &Operand, b: &Operand, kblock: usize) -> Option<DotLane> {
    // the packs read codes: operands of values (bf16, tf32, ...) take the reference loop
    if !a.coded() || !b.coded() {
        return None;
    }
    match dot_bits(a, b, kblock) {
        None => Some(DotLane::F32),
        Some((bits, lsb, top)) if bits <= 24 && lsb >= -126 && top <= 127 => Some(DotLane::F32),
        Some((bits, lsb, top)) if bits <= 53 && lsb >= -1022 && top <= 1023 => Some(DotLane::F64),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DotLane {
    F32,
    F64,
}

/// In-loop block scales transposed to `[nkb, rows padded to the tile]` (1 where
/// an operand has none in the loop, and in the padding), so a tile reads one
/// block's scales as a contiguous run.
fn scale_grid(op: &Operand, nkb: usize, w: usize) -> (Vec<f32>, usize) {
    let stride = op.rows().next_multiple_of(w);
    let mut g = vec![1f32; nkb * stride];
    for r in 0..op.rows() {
        for j in 0..nkb {
            g[j * stride + r] = op.block_scale(r, j);
        }
    }
    (g, stride)
}

/// f32-blocked accumulators: per K block an exact dot (f32 or f64 lanes, see
/// [`dot_lane`]), rounded once to f32, promoted with the block's scales.
pub(super) fn gemm_blocked(kv: &KernelView, lane: DotLane, p: Promote, isa: SimdBuild, acc: &mut [f32]) {
    // the AVX-512 tiles only where the CPU has it; any other unsupported build runs portable
    let isa = if isa.supported() { isa } else { SimdBuild::Portable };
    match (lane, isa) {
        (DotLane::F32, SimdBuild::Avx512) => gemm_blocked_in::<f32, 12, 32>(kv, p, isa, KC, acc),
        (DotLane::F64, SimdBuild::Avx512) => gemm_blocked_in::<f64, 12, 16>(kv, p, isa, KC, acc),
        (DotLane::F32, _) => gemm_blocked_in::<f32, MR, NR>(kv, p, isa, KC, acc),
        (DotLane::F64, _) => gemm_blocked_in::<f64, MR, NR64>(kv, p, isa, KC, acc),
    }
}

fn gemm_blocked_in<T: Lane + BlockedSimd<R, W>, const R: usize, const W: usize>(
    kv: &KernelView,
    p: Promote,
    isa: SimdBuild,
    kc_f32: usize,
    acc: &mut [f32],
) {
    let (a, b) = (kv.a, kv.b);
    let (m, n, k) = (a.rows(), b.rows(), a.k());
    let l = kv.kblock;
    // K panels of about `kc_f32`·4 bytes per lane, so that a B micro-panel and an A
    // micro-panel stay in L1 in f64 too
    let kc_max = l * (kc_f32 * 4 / size_of::<T>()).div_ceil(l).max(1);
    let simd = isa != SimdBuild::Portable && isa.supported();
    let (fa, fb) = (&Source::elements(a), &Source::elements(b));
    let nkb = k.div_ceil(l).max(1);
    let ((ga, sta), (gb, stb)) = (scale_grid(a, nkb, R), scale_grid(b, nkb, W));
    drive::<T, R, W>(fa, fb, m, n, k, kc_max, acc, |pc, kc, at, bt, tile, i0, j0| {
        let blk0 = pc / l;
        let grid_a = Strided { s: &ga[blk0 * sta + i0..], stride: sta };
        let grid_b = Strided { s: &gb[blk0 * stb + j0..], stride: stb };
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: `simd`: the CPU supports `isa` (checked above), so it has AVX2 and FMA,
            // and AVX-512F where the tile is the AVX-512 one (`gemm_blocked` picks those
            // tiles only for a supported `SimdBuild::Avx512`).
            unsafe { T::blocked_simd(kc, l, at, bt, tile, grid_a, grid_b, p, pc == 0) };
            return;
        }
        let _ = simd;
        blocked_panel::<T, R, W>(kc, l, at, bt, tile, grid_a, grid_b, p, pc == 0);
    });
}

/// One block-scale row per K block: block `blk`'s scales for the tile are
/// `s[blk·stride ..][..width]`.
#[derive(Clone, Copy)]
pub(crate) struct Strided<'a> {
    pub s: &'a [f32],
    pub stride: usize,
}

impl Strided<'_> {
    #[inline(always)]
    pub fn block<const N: usize>(&self, blk: usize) -> &[f32; N] {
        self.s[blk * self.stride..blk * self.stride + N].try_into().expect("scale grid row")
    }
}

/// One K panel of `f32-blocked` on one tile: per block an exact dot in `T`,
/// rounded to f32, promoted with the block's scales ([`Promote::apply`]), into
/// the tile (+0 without reading it when `fresh`).
#[allow(clippy::too_many_arguments)]
fn blocked_panel<T: Lane, const R: usize, const W: usize>(
    kc: usize,
    l: usize,
    at: &[T],
    bt: &[T],
    mut c: CTile,
    grid_a: Strided,
    grid_b: Strided,
    p: Promote,
    fresh: bool,
) {
    let mut tile: [[f32; W]; R] = if fresh { [[0.0; W]; R] } else { c.load() };
    for (blk, off) in (0..kc).step_by(l).enumerate() {
        let len = l.min(kc - off);
        let mut d = [[T::default(); W]; R];
        let (ab, bb) = (&at[off * R..(off + len) * R], &bt[off * W..(off + len) * W]);
        for (av, bv) in ab.chunks_exact(R).zip(bb.chunks_exact(W)) {
            for i in 0..R {
                for j in 0..W {
                    d[i][j] = av[i].fma(bv[j], d[i][j]);
                }
            }
        }
        let (xa, xb) = (grid_a.block::<R>(blk), grid_b.block::<W>(blk));
        for i in 0..R {
            for j in 0..W {
                tile[i][j] = p.apply(tile[i][j], d[i][j].to_f32(), xa[i], xb[j]);
            }
        }
    }
    c.store(&tile);
}

/// The SIMD builds of [`blocked_panel`] for a lane type and tile: AVX2/FMA on
/// 6×16 (f32) and 6×8 (f64), AVX-512F on 12×32 (f32) and 12×16 (f64).
pub(crate) trait BlockedSimd<const R: usize, const W: usize>: Sized {
    /// # Safety
    /// The CPU must support AVX2 and FMA, and AVX-512F for the 12-row tiles.
    #[allow(clippy::too_many_arguments)]
    unsafe fn blocked_simd(
        kc: usize,
        l: usize,
        at: &[Self],
        bt: &[Self],
        tile: CTile,
        grid_a: Strided,
        grid_b: Strided,
        p: Promote,
        fresh: bool,
    );
}

/// `impl BlockedSimd<R, W> for T` calling `simd::KERNEL` (the portable build off x86_64).
macro_rules! blocked_simd {
    ($t:ty, $r:expr, $w:expr, $kernel:ident) => {
        impl BlockedSimd<$r, $w> for $t {
            unsafe fn blocked_simd(
                kc: usize,
                l: usize,
                at: &[$t],
                bt: &[$t],
                tile: CTile,
                grid_a: Strided,
                grid_b: Strided,
                p: Promote,
                fresh: bool,
            ) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: forwarded precondition.
                unsafe {
                    super::super::simd::$kernel(kc, l, at, bt, tile, grid_a, grid_b, p, fresh)
                };
                #[cfg(not(target_arch = "x86_64"))]
                blocked_panel::<$t, $r, $w>(kc, l, at, bt, tile, grid_a, grid_b, p, fresh)
            }
        }
    };
}
blocked_simd!(f32, MR, NR, blocked_f32);
blocked_simd!(f64, MR, NR64, blocked_f64);
blocked_simd!(f32, 12, 32, blocked_f32_512);
blocked_simd!(f64, 12, 16, blocked_f64_512);
