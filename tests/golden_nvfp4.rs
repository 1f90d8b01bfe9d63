//! NVFP4 against torchao 0.18 `NVFP4Tensor.to_nvfp4` (block 16, with and without the
//! per-tensor scale): per-tensor scales, E4M3 block scales and packed FP4 codes.
//! Codes are compared wherever the block scale is finite; in NaN blocks (scale 0x7F)
//! torchao's codes are by-products of NaN arithmetic and are counted, not compared.

mod common;
use common::{Bundle, same_f32};
use lowp::block::{Scheme, quantize};
use lowp::pack::pack_fp4;

#[test]
fn nvfp4_matches_torchao() {
    let (mut checked, mut excused) = (0usize, 0usize);
    for set in ["normal", "heavy", "zeros", "extremes", "nonfinite", "ties_e2m1"] {
        let b = Bundle::open(&format!("nvfp4_torchao_{set}"));
        let x = b.get("input").f32();
        let (rows, cols) = (b.get("input").shape[0], b.get("input").shape[1]);
        for (tag, global) in [("nopts", false), ("pts", true)] {
            let spec = format!("nvfp4@like=torchao@global-scale={}", if global { "on" } else { "off" });
            let q = quantize(&x, &[rows, cols], &spec.parse::<Scheme>().unwrap()).unwrap();
            assert_eq!(q.scale_shape(), vec![rows, cols / 16]);
            let scales = q.scales().bytes().unwrap();
            if global {
                let want = b.get("pts_per_tensor_scale").f32()[0];
                assert!(same_f32(q.global_scale().unwrap(), want), "{set}: pts {:?} vs {want}", q.global_scale());
            }
            let want_s = b.get(&format!("{tag}_scale")).u8();
            let bad = scales.iter().zip(&want_s).filter(|(a, b)| a != b).count();
            assert_eq!(bad, 0, "{set} {tag}: {bad} of {} block scales differ", want_s.len());
            let want_p = b.get(&format!("{tag}_packed")).u8();
            let got_p = pack_fp4(q.codes());
            assert_eq!(got_p, q.packed());
            let nb = cols / 16;
            for (i, (&g, &w)) in got_p.iter().zip(&want_p).enumerate() {
                let e = 2 * i; // first element of the byte; both elements share a block
                let s = scales[(e / cols) * nb + (e % cols) / 16];
                let nan_block = s == 0x7F || q.global_scale().is_some_and(f32::is_nan);
                if nan_block {
                    excused += (g != w) as usize;
                    continue;
                }
                checked += 1;
                assert_eq!(
                    g,
                    w,
                    "{set} {tag}: packed byte {i} (x = {:e}, {:e}) ours {g:#04x} torchao {w:#04x}",
                    x[e],
                    x[e + 1]
                );
            }
        }
    }
    eprintln!("{checked} packed bytes match torchao; {excused} differ inside NaN-scale blocks");
    assert!(checked > 50_000);
}
