//! Every row of the MMA-Sim instruction vectors (`tests/fixtures/mma_sim`, made by
//! `scripts/mma_sim_subset.py`): one GPU matrix instruction per file, D = A·B + C
//! with C as the instruction's accumulator, computed by MMA-Sim (Microsoft
//! Research's bit-accurate model of NVIDIA tensor cores and AMD matrix cores,
//! validated by its authors against the hardware; `docs/gemm-numerics.md` §4).
//!
//! Each row runs through the public API as a user would: the architecture target
//! of the file (`sm70` … `sm120`, `cdna3`) with `@c=mma` (and `@d=f16` for an f16
//! accumulator), operands built from the row's codes and block scales, and the
//! instruction chosen by lowp from the operand types. Any NaN equals any NaN (the
//! CDNA3 payload varies); every other result must match bit for bit.
//!
//! `LOWP_MMA_SIM_DIR` points the test at another directory of the same files (the
//! full 43,144-row set); `docs/gemm-numerics.md` records that run.

use lowp::block::{QuantizedTensor, Scales, Scheme};
use lowp::format::ElemFormat;
use lowp::matmul::{Accum, ElemType, Layout, Operand, OutDtype, matmul};
use std::path::PathBuf;

fn dir() -> PathBuf {
    std::env::var_os("LOWP_MMA_SIM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mma_sim"))
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

fn hex_words(s: &str, digits: usize) -> Vec<u32> {
    (0..s.len() / digits).map(|i| u32::from_str_radix(&s[digits * i..digits * (i + 1)], 16).unwrap()).collect()
}

/// The lowp target of an MMA-Sim architecture.
fn target(arch: &str) -> &'static str {
    match arch {
        "Volta" => "sm70",
        "Turing" => "sm75",
        "Ampere" => "sm80",
        "Ada Lovelace" => "sm89",
        "Hopper" => "sm90",
        "Blackwell" => "sm100",
        "RTX Blackwell" => "sm120",
        "CDNA3" => "cdna3",
        other => panic!("no lowp target for MMA-Sim arch {other}"),
    }
}

fn code_format(name: &str) -> Option<ElemFormat> {
    Some(match name {
        "e4m3" => ElemFormat::E4M3FN,
        "e5m2" => ElemFormat::E5M2,
        "e2m1" => ElemFormat::E2M1FN,
        "fp8" => ElemFormat::E4M3FNUZ,
        "bf8" => ElemFormat::E5M2FNUZ,
        _ => return None,
    })
}

/// The block scheme whose codes and scales an instruction's scaled operand holds.
fn scheme(elem: &str, scale: &str, block: usize) -> Scheme {
    let s = match (elem, scale) {
        ("e4m3", "ue8m0") => "mxfp8-e4m3".to_string(),
        ("e5m2", "ue8m0") => "mxfp8-e5m2".to_string(),
        ("e2m1", "ue8m0") => format!("mxfp4@block={block}"),
        ("e2m1", "ue4m3") => format!("nvfp4@block={block}"),
        _ => panic!("no scheme for {elem} with {scale} scales"),
    };
    s.parse().unwrap()
}

/// One side (A's row or B's column) as a `[1, K]` operand.
fn operand(elem: &str, hex: &str, scale: Option<(&str, usize, &str)>) -> Operand {
    let shape = |k: usize| [1, k];
    if let Some(f) = code_format(elem) {
        let codes = hex_bytes(hex);
        let k = codes.len();
        return match scale {
            None => Operand::from_codes(f, &codes, shape(k), Layout::RowsK).unwrap(),
            Some((kind, block, sx)) => {
                let bytes = hex_bytes(sx);
                let scales = if kind == "ue8m0" { Scales::E8m0(bytes) } else { Scales::Ue4m3(bytes) };
                let nb = k / block;
                let q = QuantizedTensor::from_parts(
                    scheme(elem, kind, block),
                    vec![1, k],
                    codes,
                    scales,
                    vec![1, nb],
                    None,
                )
                .unwrap();
                Operand::from_quantized(&q, Layout::RowsK).unwrap()
            }
        };
    }
    let ty: ElemType = elem.parse().unwrap();
    let x: Vec<f32> = match ty {
        ElemType::F16 => hex_words(hex, 4).iter().map(|&w| half::f16::from_bits(w as u16).to_f32()).collect(),
        ElemType::Bf16 => hex_words(hex, 4).iter().map(|&w| half::bf16::from_bits(w as u16).to_f32()).collect(),
        _ => hex_words(hex, 8).iter().map(|&w| f32::from_bits(w)).collect(),
    };
    let k = x.len();
    Operand::from_wide(ty, &x, shape(k), Layout::RowsK).unwrap()
}

#[test]
fn every_instruction_reproduces_mma_sim() {
    let dir = dir();
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let (mut rows, mut files) = (0usize, 0usize);
    let mut failures = Vec::new();
    for (name, meta) in index.as_object().unwrap() {
        let path = dir.join(format!("{name}.csv"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        files += 1;
        let field = |k: &str| meta[k].as_str().map(str::to_string);
        let (ea, eb, cd) = (field("a").unwrap(), field("b").unwrap(), field("c_d").unwrap());
        let scale = field("scale");
        let block = meta["block"].as_u64().map(|b| b as usize);
        let f16_acc = cd == "f16";
        let spec = format!("{}@c=mma{}", target(meta["arch"].as_str().unwrap()), if f16_acc { "@d=f16" } else { "" });
        let acc: Accum = spec.parse().unwrap();
        let plain_acc: Accum = spec.replace("@c=mma", "").parse().unwrap();
        let (mut bad, mut n) = (0usize, 0usize);
        for line in text.lines().skip(1) {
            let col: Vec<&str> = line.trim_end().split(',').collect();
            let (kind, a, b, sa, sb, c, d) = (col[0], col[1], col[2], col[3], col[4], col[5], col[6]);
            let side = |e: &str, x: &str, s: &str| {
                operand(e, x, scale.as_deref().map(|k| (k, block.unwrap(), s)).filter(|_| !s.is_empty()))
            };
            let (oa, ob) = (side(&ea, a, sa), side(&eb, b, sb));
            let cv = if f16_acc {
                half::f16::from_bits(u16::from_str_radix(c, 16).unwrap()).to_f32()
            } else {
                f32::from_bits(u32::from_str_radix(c, 16).unwrap())
            };
            let got = matmul(&oa, &ob, Some(&[cv]), &acc, OutDtype::F32)
                .unwrap_or_else(|e| panic!("{name} {spec}: {e}"))[0] as f32;
            let (got_bits, want_bits, nan) = if f16_acc {
                let g = half::f16::from_f32(got);
                let w = u16::from_str_radix(d, 16).unwrap();
                (g.to_bits() as u32, w as u32, g.is_nan() && half::f16::from_bits(w).is_nan())
            } else {
                let w = u32::from_str_radix(d, 16).unwrap();
                (got.to_bits(), w, got.is_nan() && f32::from_bits(w).is_nan())
            };
            n += 1;
            // a row with C = +0 is also a GEMM without C: the fast paths where they apply
            if c.chars().all(|ch| ch == '0') {
                let plain = matmul(&oa, &ob, None, &plain_acc, OutDtype::F32).unwrap()[0] as f32;
                let (pb, pnan) = if f16_acc {
                    let g = half::f16::from_f32(plain);
                    (g.to_bits() as u32, g.is_nan())
                } else {
                    (plain.to_bits(), plain.is_nan())
                };
                let want_nan = if f16_acc {
                    half::f16::from_bits(want_bits as u16).is_nan()
                } else {
                    f32::from_bits(want_bits).is_nan()
                };
                if pb != want_bits && !(pnan && want_nan) && failures.len() < 40 {
                    failures.push(format!("{name} [{kind}] without C: lowp {pb:x}, MMA-Sim {d}"));
                }
            }
            if got_bits != want_bits && !nan {
                bad += 1;
                if failures.len() < 40 {
                    failures.push(format!(
                        "{name} [{kind}] a={a} b={b} sa={sa} sb={sb} c={c}: lowp {got_bits:x}, MMA-Sim {d}"
                    ));
                }
            }
        }
        if bad > 0 {
            failures.push(format!("{name}: {bad} of {n} rows differ ({spec})"));
        }
        rows += n;
    }
    assert!(files >= 54 && rows > 0, "{files} files, {rows} rows");
    assert!(failures.is_empty(), "{} of {rows} rows checked:\n{}", failures.len(), failures.join("\n"));
    eprintln!("{rows} rows of {files} instructions equal MMA-Sim");
}
