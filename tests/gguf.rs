//! GGUF (llama.cpp) checkpoints: tests/fixtures/gguf/model.gguf was written by
//! llama.cpp's own `gguf` package (0.19.0: GGUFWriter, quants.quantize) by
//! scripts/gen_gguf_fixture.py, with the values its reference dequantizer
//! gives (model.expected.safetensors) and the F32 arrays the MXFP4 tensors were
//! quantized from (model.master.safetensors).

mod common;

use safetensors::SafeTensors;
use std::path::PathBuf;
use std::process::Command;

fn lowp(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_lowp")).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

fn fixture(name: &str) -> PathBuf {
    common::fixtures_dir().join("gguf").join(name)
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lowp_gguf_{tag}_{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every tensor dequantized (MXFP4 with ggml's split nibbles, 255 read as
/// 2^128, code 8 as +0; F32, F16, BF16 as stored) equals llama.cpp's own
/// dequantization bit for bit, under the names and row-major shapes it gives.
#[test]
fn dequantize_equals_llama_cpp() {
    let d = tmp("dq");
    let out = d.join("out.safetensors");
    let (rc, _, err) =
        lowp(&["dequantize", fixture("model.gguf").to_str().unwrap(), "--dtype", "f32", "-o", out.to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    let (got_b, want_b) = (std::fs::read(&out).unwrap(), std::fs::read(fixture("model.expected.safetensors")).unwrap());
    let (got, want) = (SafeTensors::deserialize(&got_b).unwrap(), SafeTensors::deserialize(&want_b).unwrap());
    let mut n = 0;
    for (name, w) in want.tensors() {
        let g = got.tensor(&name).unwrap();
        assert_eq!(g.shape(), w.shape(), "{name}");
        let to_f32 = |b: &[u8], dt: safetensors::Dtype| -> Vec<f32> {
            match dt {
                safetensors::Dtype::F32 => {
                    b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
                }
                safetensors::Dtype::F16 => {
                    b.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
                }
                safetensors::Dtype::BF16 => {
                    b.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
                }
                d => panic!("{d:?}"),
            }
        };
        let (gv, wv) = (to_f32(g.data(), g.dtype()), to_f32(w.data(), w.dtype()));
        let bad = gv.iter().zip(&wv).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(bad, 0, "{name}: {bad} values differ");
        n += gv.len();
    }
    assert_eq!(n, 2 * 8 * 64 + 2 * 64 * 32 + 3 * 4 * 32);
    // the injected scales: 255 (E2M1 0.5 → 2^127, larger → ±∞) and 0 (2^-127)
    let gate = got.tensor("blk.0.ffn_gate_exps.weight").unwrap();
    let v: Vec<f32> = gate.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert!(v[32..64].iter().all(|x| x.is_infinite() || *x == 0.0 || x.abs() == 2f32.powi(127)), "{:?}", &v[32..64]);
    assert!(v[64..96].iter().all(|x| x.abs() <= 6.0 * 2f32.powi(-127)));
    std::fs::remove_dir_all(&d).ok();
}

/// inspect names ggml types and bytes; compare reads the MXFP4 tensors as
/// stored; verify finds ggml's own quantizer in the untouched tensor and the
/// two scales the generator overwrote in the other.
#[test]
fn inspect_compare_and_verify() {
    let g = fixture("model.gguf");
    let (rc, out, err) = lowp(&["inspect", g.to_str().unwrap(), "--json"]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("\"dtype\":\"MXFP4\"") && out.contains("\"bytes\":2176"), "{out}");
    let (rc, out, err) = lowp(&["compare", g.to_str().unwrap(), "--schemes", "mxfp4", "--json"]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("\"scheme\":\"stored:gguf-mxfp4\""), "{out}");
    let m = fixture("model.master.safetensors");
    let (rc, out, _) = lowp(&["verify", g.to_str().unwrap(), "--master", m.to_str().unwrap(), "--json"]);
    assert_eq!(rc, 1);
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let row = |w: &str| rows.iter().find(|r| r["weight"] == w).unwrap().clone();
    assert_eq!(row("blk.0.ffn_down_exps.weight")["explains"], true);
    let gate = row("blk.0.ffn_gate_exps.weight");
    assert_eq!((gate["scales_equal"].as_u64(), gate["scales"].as_u64()), (Some(30), Some(32)), "{gate}");
}

/// A truncated file, a bad magic, a tensor past the end: one error line.
#[test]
fn corrupt_gguf_is_one_error() {
    let d = tmp("bad");
    let bytes = std::fs::read(fixture("model.gguf")).unwrap();
    let cases = [
        ("cut.gguf", bytes[..200].to_vec(), "GGUF"),
        ("magic.gguf", [b"GGUX".as_slice(), &bytes[4..]].concat(), "magic"),
        ("short.gguf", bytes[..bytes.len() - 10].to_vec(), "past the end"),
    ];
    for (name, b, needle) in cases {
        let p = d.join(name);
        std::fs::write(&p, b).unwrap();
        for cmd in ["inspect", "compare"] {
            let (rc, _, err) = lowp(&[cmd, p.to_str().unwrap()]);
            assert_eq!(rc, 1, "{cmd} {name}");
            assert_eq!(err.trim_end().lines().count(), 1, "{cmd} {name}: {err}");
            assert!(err.contains(needle) && err.contains(name), "{cmd} {name}: {err}");
        }
    }
    std::fs::remove_dir_all(&d).ok();
}
