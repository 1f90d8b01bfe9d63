//! Quantized checkpoints in each convention (tests/fixtures/checkpoints, written
//! by scripts/gen_checkpoint_fixtures.py with numpy + ml_dtypes following each
//! producer's quantizer) dequantized by `lowp dequantize` and compared with the
//! values each loader's formula gives (computed by the generator, independently
//! of lowp); outputs read back with the `safetensors` crate's own reader. Then
//! corrupt and inconsistent checkpoints: one error line naming the tensor and
//! file, exit 1, no output.

mod common;

use common::safetensors;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    common::fixtures_dir().join("checkpoints").join(name)
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lowp_ckpt_{tag}_{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// name → (dtype, shape, bytes), read with the crate's reader.
fn read_all(p: &Path) -> BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(p).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors().into_iter().map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec()))).collect()
}

/// Bitwise equal, except that any NaN matches any NaN (the NaN an `inf · 0`
/// makes differs between CPUs).
fn same_values(dtype: Dtype, a: &[u8], b: &[u8]) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("{} bytes against {}", a.len(), b.len()));
    }
    let w = match dtype {
        Dtype::F32 => 4,
        Dtype::BF16 => 2,
        _ => return if a == b { Ok(()) } else { Err("bytes differ".into()) },
    };
    let mut bad = 0;
    let mut first = None;
    for (i, (x, y)) in a.chunks(w).zip(b.chunks(w)).enumerate() {
        let f = |c: &[u8]| {
            if w == 4 {
                f32::from_le_bytes(c.try_into().unwrap())
            } else {
                half::bf16::from_le_bytes([c[0], c[1]]).to_f32()
            }
        };
        let (fx, fy) = (f(x), f(y));
        if x != y && !(fx.is_nan() && fy.is_nan()) {
            bad += 1;
            first.get_or_insert((i, fx, fy));
        }
    }
    if bad == 0 { Ok(()) } else { Err(format!("{bad} elements differ, first {first:?}")) }
}

const FIXTURES: [&str; 6] = ["deepseek_fp8", "gpt_oss_hf", "gpt_oss_original", "modelopt_nvfp4", "ct_nvfp4", "ct_fp8"];

#[test]
fn dequantize_matches_each_loader() {
    let dir = tmp("dq");
    for name in FIXTURES {
        let want = read_all(&fixture(&format!("{name}.expected.safetensors")));
        for (dtype, suffix) in [("bf16", ".bf16"), ("f32", ".f32")] {
            let out = dir.join(format!("{name}.{dtype}.safetensors"));
            let (rc, _, err) =
                lowp(&["dequantize", fixture(name).to_str().unwrap(), "-o", out.to_str().unwrap(), "--dtype", dtype]);
            assert_eq!(rc, 0, "{name}: {err}");
            let got = read_all(&out);
            let mut checked = 0;
            for (n, (d, shape, bytes)) in &got {
                let (wd, ws, wb) = match (want.get(&format!("{n}{suffix}")), want.get(n)) {
                    (Some(w), _) => w,
                    (None, Some(w)) => w,
                    _ => panic!("{name}: output tensor '{n}' is not expected"),
                };
                assert_eq!((d, shape), (wd, ws), "{name} --dtype {dtype}: {n}");
                same_values(*d, bytes, wb).unwrap_or_else(|e| panic!("{name} --dtype {dtype}: {n}: {e}"));
                checked += 1;
            }
            let expected_names =
                want.keys().filter(|k| !k.ends_with(if suffix == ".f32" { ".bf16" } else { ".f32" })).count();
            assert_eq!(checked, expected_names, "{name}: every expected tensor is written");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn inspect_groups_and_names_the_convention() {
    for (name, conv, weights) in [
        ("deepseek_fp8", "deepseek-fp8", 2),
        ("gpt_oss_hf", "gpt-oss-mxfp4", 2),
        ("gpt_oss_original", "gpt-oss-mxfp4", 2),
        ("modelopt_nvfp4", "modelopt-nvfp4", 2),
        ("ct_nvfp4", "compressed-tensors", 2),
        ("ct_fp8", "compressed-tensors", 3),
    ] {
        let (rc, out, err) = lowp(&["inspect", fixture(name).to_str().unwrap(), "--json"]);
        assert_eq!(rc, 0, "{err}");
        let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let ws: Vec<&serde_json::Value> = rows.iter().filter(|r| r.get("weight").is_some()).collect();
        assert_eq!(ws.len(), weights, "{name}");
        assert!(ws.iter().all(|w| w["convention"] == conv), "{name}: {ws:?}");
        // every stored tensor listed once, with its bytes; totals add up
        let tensors: Vec<&serde_json::Value> = rows.iter().filter(|r| r.get("tensor").is_some()).collect();
        let stored: u64 = tensors.iter().map(|t| t["bytes"].as_u64().unwrap()).sum();
        let totals: u64 = rows.iter().filter(|r| r.get("total").is_some()).map(|t| t["bytes"].as_u64().unwrap()).sum();
        assert_eq!(stored, totals, "{name}");
        let data: u64 = (if name == "deepseek_fp8" {
            ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"].to_vec()
        } else {
            vec!["model.safetensors"]
        })
        .iter()
        .map(|f| {
            let b = std::fs::read(fixture(name).join(f)).unwrap();
            let n = u64::from_le_bytes(b[..8].try_into().unwrap());
            b.len() as u64 - 8 - n
        })
        .sum();
        assert_eq!(stored, data, "{name}: bytes as in the files");
    }
    // the GPT-OSS weights under Hugging Face names take the parameter shape [E, K, R]
    let (_, out, _) = lowp(&["inspect", fixture("gpt_oss_hf").to_str().unwrap()]);
    assert!(out.contains("model.layers.0.mlp.experts.down_proj") && out.contains("[2, 32, 64]"), "{out}");
}

#[test]
fn tensors_globs_and_forced_conventions() {
    let dir = tmp("glob");
    let out = dir.join("o.safetensors");
    let ckpt = fixture("ct_fp8");
    let (rc, _, err) =
        lowp(&["dequantize", ckpt.to_str().unwrap(), "-o", out.to_str().unwrap(), "--tensors", "*k_proj*,*.norm.*"]);
    assert_eq!(rc, 0, "{err}");
    let got: Vec<String> = read_all(&out).into_keys().collect();
    assert_eq!(got, ["model.layers.0.self_attn.k_proj.weight", "model.norm.weight"]);
    // a convention no tensor follows: an error naming it
    let (rc, _, err) = lowp(&["inspect", ckpt.to_str().unwrap(), "--convention", "gpt-oss-mxfp4"]);
    assert_eq!(rc, 1);
    assert!(err.contains("gpt-oss-mxfp4") && err.lines().count() == 1, "{err}");
    let (rc, _, err) = lowp(&["inspect", ckpt.to_str().unwrap(), "--convention", "nvfp5"]);
    assert_eq!(rc, 1);
    assert!(err.contains("deepseek-fp8, gpt-oss-mxfp4"), "{err}");
    let (rc, _, err) =
        lowp(&["dequantize", ckpt.to_str().unwrap(), "-o", out.to_str().unwrap(), "--tensors", "nothing*"]);
    assert_eq!(rc, 1, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

fn e4m3(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 100) as u8).collect()
}

/// Each corrupt checkpoint: exit 1, one line naming the tensor (or shard) and
/// file, and an earlier output file left as it was.
#[test]
fn corrupt_checkpoints_are_refused_whole() {
    let dir = tmp("bad");
    let out = dir.join("out.safetensors");
    std::fs::write(&out, b"earlier").unwrap();
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all".to_vec(), "not a valid .safetensors file"),
        (
            "wrong_scale_shape",
            safetensors(&[
                ("l.weight", "F8_E4M3", vec![130, 96], e4m3(130 * 96)),
                ("l.weight_scale_inv", "F32", vec![1, 2], f32s(&[1.0, 1.0])),
            ]),
            "l.weight_scale_inv",
        ),
        (
            "missing_global",
            safetensors(&[
                ("l.weight_packed", "U8", vec![4, 8], vec![0; 32]),
                ("l.weight_scale", "F8_E4M3", vec![4, 1], vec![0x38; 4]),
            ]),
            "l.weight_global_scale",
        ),
        (
            "nvfp4_scale_shape",
            safetensors(&[
                ("l.weight_packed", "U8", vec![4, 16], vec![0; 64]),
                ("l.weight_scale", "F8_E4M3", vec![4, 1], vec![0x38; 4]),
                ("l.weight_global_scale", "F32", vec![1], f32s(&[1.0])),
            ]),
            "l.weight_scale",
        ),
        (
            "mx_scale_shape",
            safetensors(&[
                ("e.down_proj_blocks", "U8", vec![2, 4, 1, 16], vec![0; 128]),
                ("e.down_proj_scales", "U8", vec![2, 4], vec![127; 8]),
            ]),
            "e.down_proj_scales",
        ),
        (
            "missing_mx_scales",
            safetensors(&[("e.down_proj_blocks", "U8", vec![2, 4, 1, 16], vec![0; 128])]),
            "e.down_proj_scales",
        ),
    ];
    for (name, bytes, names) in cases {
        let p = dir.join(format!("{name}.safetensors"));
        std::fs::write(&p, bytes).unwrap();
        for cmd in ["inspect", "dequantize"] {
            let mut args = vec![cmd, p.to_str().unwrap()];
            if cmd == "dequantize" {
                args.extend(["-o", out.to_str().unwrap()]);
            }
            let (rc, _, err) = lowp(&args);
            assert_eq!(rc, 1, "{name} {cmd}: {err}");
            assert_eq!(err.lines().count(), 1, "{name} {cmd}: {err}");
            assert!(err.contains(names) && err.contains(&format!("{name}.safetensors")), "{name} {cmd}: {err}");
        }
    }
    // offsets past the end: a truncated shard
    let good = std::fs::read(fixture("ct_fp8").join("model.safetensors")).unwrap();
    let p = dir.join("trunc.safetensors");
    std::fs::write(&p, &good[..good.len() - 10]).unwrap();
    let (rc, _, err) = lowp(&["dequantize", p.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(rc, 1);
    assert!(err.contains("trunc.safetensors") && err.contains("truncated"), "{err}");
    // a shard the index lists but that is absent; a tensor the index puts in a shard that lacks it
    let sharded = dir.join("sharded");
    std::fs::create_dir_all(&sharded).unwrap();
    std::fs::write(sharded.join("a.safetensors"), safetensors(&[("x", "F32", vec![1], f32s(&[1.0]))])).unwrap();
    std::fs::write(
        sharded.join("model.safetensors.index.json"),
        r#"{"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}}"#,
    )
    .unwrap();
    let (rc, _, err) = lowp(&["dequantize", sharded.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(rc, 1);
    assert!(err.contains("b.safetensors") && err.contains("absent"), "{err}");
    std::fs::write(
        sharded.join("model.safetensors.index.json"),
        r#"{"weight_map": {"x": "a.safetensors", "y": "a.safetensors"}}"#,
    )
    .unwrap();
    let (rc, _, err) = lowp(&["inspect", sharded.to_str().unwrap()]);
    assert_eq!(rc, 1);
    assert!(err.contains("'y'") && err.contains("a.safetensors"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"earlier", "a failed run keeps the old output");
    std::fs::remove_dir_all(&dir).ok();
}

/// FP8 and FP4 safetensors dtypes read as values by `lowp compare` (they were
/// `unsupported dtype F8_E4M3` before): the stored E4M3 codes 0x38 / 0xC0 are
/// 1.0 / -2.0, the packed F4 byte 0x2A holds -1.0 (low nibble) then 1.0.
#[test]
fn fp8_and_fp4_dtypes_are_read_as_values() {
    let dir = tmp("dtypes");
    let p = dir.join("m.safetensors");
    let n = 64usize;
    let e4: Vec<u8> = (0..n).map(|i| if i % 2 == 0 { 0x38 } else { 0xC0 }).collect();
    let f4: Vec<u8> = vec![0x2A; n / 2];
    std::fs::write(&p, safetensors(&[("a", "F8_E4M3", vec![2, 32], e4), ("b", "F4", vec![2, 32], f4)])).unwrap();
    let t = lowp::io::checkpoint::list_tensors(&p).unwrap();
    let (_, a) = t[0].load().unwrap();
    assert_eq!(&a[..4], [1.0, -2.0, 1.0, -2.0]);
    let (_, b) = t[1].load().unwrap();
    assert_eq!(&b[..4], [-1.0, 1.0, -1.0, 1.0]);
    let (rc, out, err) = lowp(&["compare", p.to_str().unwrap(), "--schemes", "mxfp8-e4m3", "--json"]);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Bytes from a fixed xorshift stream (every byte value occurs).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

/// The fast dequantizer (`Dequantizer`, what `lowp dequantize` runs) writes
/// exactly the oracle's values (`dequantize_weight`, rounded by
/// `OutDtype::bytes`), bit for bit, NaN payloads included: on every fixture
/// weight; on each fixture with every code and 8-bit scale byte replaced by
/// noise (NaN and 255 scales, NaN codes); and on FP8 weights with ragged
/// 128×128 blocks, per-row and per-tensor scales in F32, BF16 and F16; with
/// the output handed over in pieces of every size down to one row or block.
#[test]
fn fast_dequantize_equals_the_oracle() {
    use lowp::convention::{Dequantizer, OutDtype, dequantize_weight, group};
    use lowp::io::checkpoint::list_tensors;
    let dir = tmp("fast");
    let mut paths: Vec<PathBuf> = FIXTURES.iter().map(|n| fixture(n)).collect();
    for (i, name) in FIXTURES.iter().enumerate() {
        let copy = dir.join(name);
        std::fs::create_dir_all(&copy).unwrap();
        paths.push(copy.clone());
        for f in std::fs::read_dir(fixture(name)).unwrap() {
            let f = f.unwrap().path();
            let to = copy.join(f.file_name().unwrap());
            if f.extension().is_none_or(|e| e != "safetensors") {
                std::fs::copy(&f, &to).unwrap();
            } else {
                let t = read_all(&f);
                // The crate's Debug names are the header's dtype names.
                let names: Vec<String> = t.values().map(|(d, _, _)| format!("{d:?}")).collect();
                let noisy: Vec<(&str, &str, Vec<usize>, Vec<u8>)> = t
                    .iter()
                    .enumerate()
                    .map(|(j, (n, (d, s, b)))| {
                        let bytes = match d {
                            Dtype::U8 | Dtype::F8_E4M3 => noise(b.len(), (i * 100 + j) as u64),
                            _ => b.clone(),
                        };
                        (n.as_str(), names[j].as_str(), s.clone(), bytes)
                    })
                    .collect();
                std::fs::write(&to, safetensors(&noisy)).unwrap();
            }
        }
    }
    let (r, c) = (130, 260);
    let scales = |dt: &str, k: usize, seed: u64| -> Vec<u8> {
        let v: Vec<f32> = noise(k, seed).iter().map(|&b| (f32::from(b) - 100.0) / 7.0).collect();
        match dt {
            "F32" => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            "BF16" => v.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect(),
            _ => v.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect(),
        }
    };
    for (k, (suffix, dt, grid)) in [
        ("_inv", "F32", vec![2, 3]),
        ("_inv", "BF16", vec![2, 3]),
        ("", "F32", vec![r, 1]),
        ("", "BF16", vec![r, 1]),
        ("", "F16", vec![r, 1]),
        ("", "F16", vec![]),
        ("", "BF16", vec![1]),
    ]
    .into_iter()
    .enumerate()
    {
        let n: usize = grid.iter().product();
        let p = dir.join(format!("fp8_{k}.safetensors"));
        let bytes = safetensors(&[
            ("l.weight", "F8_E4M3", vec![r, c], noise(r * c, 7 + k as u64)),
            (&format!("l.weight_scale{suffix}"), dt, grid, scales(dt, n, 11 + k as u64)),
        ]);
        std::fs::write(&p, bytes).unwrap();
        paths.push(p);
    }
    let mut seen = 0;
    // the default pieces (1 MiB), one row or block per piece, and a few per piece
    let dequantizers =
        |out| [Dequantizer::new(out), Dequantizer::with_piece_bytes(out, 1), Dequantizer::with_piece_bytes(out, 3000)];
    for (out, mut dq) in [OutDtype::F32, OutDtype::Bf16].into_iter().flat_map(|o| dequantizers(o).map(|d| (o, d))) {
        let mut got = Vec::new();
        for p in &paths {
            let g = group(&list_tensors(p).unwrap(), None, None).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            assert!(!g.weights.is_empty(), "{p:?}: no quantized weight");
            for w in &g.weights {
                dq.bytes_into(w, &mut got).unwrap_or_else(|e| panic!("{p:?} {}: {e}", w.name));
                let want = out.bytes(&dequantize_weight(w).unwrap());
                assert!(got == want, "{p:?} {} {out:?}: fast path differs from the oracle", w.name);
                seen += 1;
            }
        }
    }
    assert!(seen >= 3 * 2 * (2 * 6 + 7), "{seen} weights checked");
    std::fs::remove_dir_all(&dir).ok();
}
