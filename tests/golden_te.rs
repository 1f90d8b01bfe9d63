//! NVFP4 and FP8 current scaling against TransformerEngine's own PyTorch reference
//! quantizers (`reference_nvfp4.py`, `reference_current_scaling.py`, TE 2.20.2,
//! which TE's tests hold bit-exact against its CUDA kernels), produced on the CPU
//! by `scripts/gen_te_golden.py` (see the fixtures' `producer` fields).
//!
//! * `nvfp4@like=te`: 1×16 and 16×16 blocks (E4M3 block scales, E2M1 codes
//!   packed two per byte) and the column-wise operand with the 16-point random
//!   Hadamard transform, on normal data, blocks from 2^-140 to 2^100 with zero and
//!   spike blocks, and E2M1 rounding ties.
//! * `fp8-tensor@like=te`: e4m3fn and e5m2 codes and the stored 1/scale, with f32
//!   and power-of-two scales.

mod common;
use common::{Bundle, same_f32};
use lowp::block::{Scheme, quantize};

const SETS: [&str; 3] = ["normal", "blocks", "ties"];

fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols).flat_map(|c| (0..rows).map(move |r| x[r * cols + c])).collect()
}

/// A bundle's input array and its `[rows, cols]` shape.
fn input(b: &Bundle) -> (Vec<f32>, usize, usize) {
    let a = b.get("input");
    (a.f32(), a.shape[0], a.shape[1])
}

/// TE's NVFP4 global scale from its global amax: `S_dec = 1 / fl(448·6 / amax)`,
/// the two lines of `_quantize_blockwise_reference` that make `global_decode_scale`
/// (the reference returns the amax, not the scale).
fn te_global(amax: f32) -> f32 {
    1.0 / ((448.0f32 * 6.0) / amax)
}

#[test]
fn nvfp4_matches_te_reference() {
    let mut checked = 0usize;
    for set in SETS {
        let b = Bundle::open(&format!("te_nvfp4_{set}"));
        let (x, rows, cols) = input(&b);
        for (tag, spec) in [("1d", "nvfp4@like=te"), ("2d", "nvfp4@like=te@block=16x16")] {
            let q = quantize(&x, &[rows, cols], &spec.parse::<Scheme>().unwrap()).unwrap();
            let amax = b.get(&format!("{tag}_global_amax")).f32()[0];
            assert!(same_f32(q.global_scale().unwrap(), te_global(amax)), "{set} {tag}: global scale");
            let (ours, want) = (q.scales().bytes().unwrap(), b.get(&format!("{tag}_scale")).u8());
            let nb = cols / 16;
            // TE stores a 16x16 tile's scale on each of its 16 rows
            let tile_rows = if tag == "2d" { 16 } else { 1 };
            for (i, &w) in want.iter().enumerate() {
                let (r, c) = (i / nb, i % nb);
                assert_eq!(ours[(r / tile_rows) * nb + c], w, "{set} {tag}: block scale ({r}, {c})");
            }
            let packed = q.packed();
            let want = b.get(&format!("{tag}_packed")).u8();
            let bad: Vec<usize> = (0..want.len()).filter(|&i| packed[i] != want[i]).collect();
            assert!(
                bad.is_empty(),
                "{set} {tag}: {} of {} packed bytes differ, first at {}",
                bad.len(),
                want.len(),
                bad[0]
            );
            checked += want.len();
        }
        // the column-wise operand: RHT(xᵀ) quantized in 1×16 blocks. TE's reference
        // transforms with a torch f32 matmul (f32 sums in the BLAS's order), lowp
        // rounds the exact 16-term sum once: the transformed values may differ in
        // the last place. So the quantizer is checked on TE's transformed values,
        // and the transform element by element within 1 ulp.
        let te_t = b.get("rht_t_input").f32();
        let q = quantize(&te_t, &[cols, rows], &"nvfp4@like=te".parse::<Scheme>().unwrap()).unwrap();
        let amax = b.get("rht_global_amax").f32()[0];
        assert!(same_f32(q.global_scale().unwrap(), te_global(amax)), "{set} rht: global scale");
        assert_eq!(q.scales().bytes().unwrap(), b.get("rht_t_scale").u8(), "{set} rht: block scales");
        let (packed, want) = (q.packed(), b.get("rht_t_packed").u8());
        let bad = packed.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(bad, 0, "{set} rht: {bad} of {} packed bytes differ", want.len());
        checked += want.len();
        let mut ours = transpose(&x, rows, cols);
        for chunk in ours.chunks_exact_mut(16) {
            lowp::block::rht16(chunk.try_into().unwrap(), &lowp::block::TE_RHT_SIGNS);
        }
        // an f32 sum of 16 exact terms in any order is within 15·2^-24·Σ|term| of the
        // exact sum, and lowp's once-rounded value within 2^-24·|sum|
        let xt = transpose(&x, rows, cols);
        let differ = ours.iter().zip(&te_t).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        for (c, (o, t)) in xt.chunks_exact(16).zip(ours.chunks_exact(16).zip(te_t.chunks_exact(16))) {
            let l1: f64 = c.iter().map(|&v| (v as f64 * 0.25).abs()).sum();
            for (&a, &w) in o.iter().zip(t) {
                let bound = 16.0 * l1 * 2f64.powi(-24);
                assert!((a as f64 - w as f64).abs() <= bound, "{set} rht: {a:e} vs TE {w:e} (bound {bound:e})");
            }
        }
        // and end to end: lowp's own transform, then the quantizer
        let q2 = quantize(&xt, &[cols, rows], &"nvfp4@like=te@rht=on".parse::<Scheme>().unwrap()).unwrap();
        let bad_codes = q2.packed().iter().zip(&want).filter(|(a, b)| a != b).count();
        let bad_scales =
            q2.scales().bytes().unwrap().iter().zip(&b.get("rht_t_scale").u8()).filter(|(a, b)| a != b).count();
        eprintln!(
            "{set} rht: {differ} of {} transformed values differ from TE's f32 matmul (within the bound); end to end {bad_scales} block scales, {bad_codes} packed bytes differ",
            te_t.len()
        );
    }
    eprintln!("{checked} packed NVFP4 bytes match TE's reference");
}

#[test]
fn fp8_current_scaling_matches_te_reference() {
    let mut checked = 0usize;
    for set in SETS {
        let b = Bundle::open(&format!("te_fp8cs_{set}"));
        let (x, rows, cols) = input(&b);
        for (elem, ours) in [("e4m3", "e4m3fn"), ("e5m2", "e5m2")] {
            for sf in ["f32", "pow2"] {
                let spec = format!("fp8-tensor@like=te@elem={ours}@scale-format={sf}");
                let q = quantize(&x, &[rows, cols], &spec.parse::<Scheme>().unwrap()).unwrap();
                let want_s = b.get(&format!("{elem}_{sf}_scale_inv")).f32()[0];
                assert!(
                    same_f32(q.scales().value(0), want_s),
                    "{set} {spec}: 1/scale {} vs {want_s}",
                    q.scales().value(0)
                );
                let want = b.get(&format!("{elem}_{sf}_code")).u8();
                let bad = q.codes().iter().zip(&want).filter(|(a, b)| a != b).count();
                assert_eq!(bad, 0, "{set} {spec}: {bad} of {} codes differ", want.len());
                checked += want.len();
            }
        }
    }
    eprintln!("{checked} FP8 codes match TE's reference");
}
