//! `lowp verify` on checkpoints written by the producers' own code
//! (tests/fixtures/verify, made by scripts/gen_verify_fixtures.py with
//! nvidia-modelopt 0.47.0, compressed-tensors 0.20.0 and torch 2.15.0 on a CPU):
//! each is explained by its producer, byte for byte, and the other producers'
//! formulas are found to differ; bad inputs are one error line.

mod common;

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
    common::fixtures_dir().join("verify").join(name)
}

fn verify_json(ckpt: &str, extra: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let (c, m) = (fixture(ckpt), fixture(&format!("{ckpt}.master.safetensors")));
    let mut args = vec!["verify", c.to_str().unwrap(), "--master", m.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let (rc, out, err) = lowp(&args);
    (rc, out.lines().map(|l| serde_json::from_str(l).unwrap()).collect(), err)
}

/// Every weight of each producer's checkpoint is explained by that producer
/// (all codes, block scales and the global scale equal), and for each
/// checkpoint some other producer's formula is caught differing.
#[test]
fn each_producer_explains_its_own_checkpoint() {
    for (ckpt, producer, weights, rival) in [
        ("modelopt_nvfp4", "modelopt", 2, "compressed-tensors"),
        ("ct_nvfp4", "compressed-tensors", 2, "modelopt"),
        ("ct_fp8", "compressed-tensors", 3, "deepgemm"),
        ("modelopt_mxfp4", "modelopt", 2, "ocp"),
        ("deepseek_fp8", "deepgemm", 2, "compressed-tensors"),
    ] {
        let (rc, rows, err) = verify_json(ckpt, &[]);
        assert_eq!(rc, 0, "{ckpt}: {err}");
        let own: Vec<&serde_json::Value> = rows.iter().filter(|r| r["producer"] == producer).collect();
        assert_eq!(own.len(), weights, "{ckpt}");
        for r in &own {
            assert_eq!(r["explains"], true, "{ckpt}: {r}");
            assert_eq!(r["codes_equal"], r["codes"], "{ckpt}: {r}");
            assert!(r["global_equal"].is_null() || r["global_equal"] == true, "{ckpt}: {r}");
        }
        // the other producer's formula differs on some weight of this checkpoint
        let caught = rows.iter().filter(|r| r["producer"] == rival).any(|r| r["explains"] == false);
        assert!(caught, "{ckpt}: {rival} explains every weight too");
    }
    // NVFP4 global scales are compared in the stored form: ModelOpt's multiplier
    let (_, rows, _) = verify_json("modelopt_nvfp4", &[]);
    assert!(rows.iter().any(|r| r["producer"] == "modelopt" && r["global_equal"] == true));
    assert!(rows.iter().all(|r| r["producer"] != "compressed-tensors" || r["global_equal"].is_null()));
}

/// The table names what explains each weight; a lowp scheme given with
/// --scheme that does not reproduce the bytes makes the exit status 1.
#[test]
fn verify_table_and_scheme_option() {
    let (c, m) = (fixture("modelopt_nvfp4"), fixture("modelopt_nvfp4.master.safetensors"));
    let (rc, out, err) = lowp(&["verify", c.to_str().unwrap(), "--master", m.to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("explains it") && out.contains("2 of 2 weight(s) explained"), "{out}");
    let (rc, rows, err) = verify_json("modelopt_nvfp4", &["--scheme", "nvfp4@like=te@global-scale=on"]);
    assert_eq!(rc, 1);
    assert!(rows.iter().all(|r| r["producer"] == "nvfp4@like=te@global-scale=on"));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("match no producer"), "{err}");
}

/// A master without the weight, a master of another shape, a checkpoint with
/// nothing quantized, an unknown recipe: one error line each, exit 1.
#[test]
fn verify_bad_inputs() {
    let c = fixture("modelopt_nvfp4");
    let other = fixture("ct_fp8.master.safetensors");
    let dir = std::env::temp_dir().join(format!("lowp_verify_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // the right names with the wrong shape
    let wrong = dir.join("wrong.safetensors");
    std::fs::write(
        &wrong,
        common::safetensors(&[
            ("model.layers.0.mlp.up_proj.weight", "F32", vec![96, 48], vec![0; 96 * 48 * 4]),
            ("model.layers.0.self_attn.q_proj.weight", "F32", vec![64, 128], vec![0; 64 * 128 * 4]),
        ]),
    )
    .unwrap();
    let m = fixture("modelopt_nvfp4.master.safetensors");
    for (args, needle) in [
        (vec!["verify", c.to_str().unwrap(), "--master", other.to_str().unwrap()], "no tensor"),
        (vec!["verify", c.to_str().unwrap(), "--master", wrong.to_str().unwrap()], "shape"),
        (vec!["verify", m.to_str().unwrap(), "--master", m.to_str().unwrap()], "no quantized weight"),
        (vec!["verify", c.to_str().unwrap(), "--master", m.to_str().unwrap(), "--recipe", "best"], "recipe"),
        (vec!["verify", c.to_str().unwrap(), "--master", m.to_str().unwrap(), "--scheme", "nvfp9"], "nvfp9"),
    ] {
        let (rc, _, err) = lowp(&args);
        assert_eq!(rc, 1, "{args:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `lowp dequantize --like transformers` reads FP8 blocks as transformers'
/// own Fp8Dequantize does (the block is the shape divided by the scale grid):
/// equal, bit for bit, to what that code gave on the same checkpoint
/// (deepseek_fp8.transformers.safetensors, written by the generator); the
/// reference loader (128×128) differs from it on the ragged weights; a weight
/// the grid does not divide is one error line and no output.
#[test]
fn dequantize_like_transformers() {
    use safetensors::SafeTensors;
    let dir = std::env::temp_dir().join(format!("lowp_verify_tf_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let want_bytes = std::fs::read(fixture("deepseek_fp8.transformers.safetensors")).unwrap();
    let want = SafeTensors::deserialize(&want_bytes).unwrap();
    let c = fixture("deepseek_fp8");
    for (like, equal) in [("transformers", true), ("reference", false)] {
        let out = dir.join(format!("{like}.safetensors"));
        let (rc, _, err) =
            lowp(&["dequantize", c.to_str().unwrap(), "--like", like, "--dtype", "f32", "-o", out.to_str().unwrap()]);
        assert_eq!(rc, 0, "{err}");
        let got_bytes = std::fs::read(&out).unwrap();
        let got = SafeTensors::deserialize(&got_bytes).unwrap();
        for (name, w) in want.tensors() {
            let same = got.tensor(&name).unwrap().data() == w.data();
            assert_eq!(same, equal, "--like {like}: {name}");
        }
    }
    // 129 rows over 2 scale rows: transformers cannot read it
    let codes = vec![0x38u8; 129 * 64];
    let bad = dir.join("bad.safetensors");
    std::fs::write(
        &bad,
        common::safetensors(&[
            ("w.weight", "F8_E4M3", vec![129, 64], codes),
            ("w.weight_scale_inv", "F32", vec![2, 1], vec![0; 8]),
        ]),
    )
    .unwrap();
    let out = dir.join("never.safetensors");
    let (rc, _, err) =
        lowp(&["dequantize", bad.to_str().unwrap(), "--like", "transformers", "-o", out.to_str().unwrap()]);
    assert_eq!(rc, 1);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("does not divide") && err.contains("w.weight"), "{err}");
    assert!(!out.exists());
    std::fs::remove_dir_all(&dir).ok();
}
