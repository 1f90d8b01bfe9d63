//! Shared test helpers: the golden-bundle reader.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One array of a golden bundle (raw little-endian bytes + dtype + shape).
pub struct Array {
    pub dtype: String,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl Array {
    pub fn u8(&self) -> Vec<u8> {
        assert_eq!(self.dtype, "u8");
        self.bytes.clone()
    }
    pub fn f32(&self) -> Vec<f32> {
        assert_eq!(self.dtype, "f32");
        self.bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
    }
    pub fn f64(&self) -> Vec<f64> {
        assert_eq!(self.dtype, "f64");
        self.bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()
    }
}

/// A golden bundle: `NAME.json` index + `NAME.bin` data (format "anchors-golden-v1").
pub struct Bundle {
    pub name: String,
    pub meta: serde_json::Value,
    pub arrays: HashMap<String, Array>,
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

impl Bundle {
    pub fn open_in(dir: &Path, name: &str) -> Bundle {
        let idx: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).expect("bundle json")).unwrap();
        let raw = std::fs::read(dir.join(format!("{name}.bin"))).expect("bundle bin");
        let mut arrays = HashMap::new();
        for (k, a) in idx["arrays"].as_object().unwrap() {
            let off = a["offset"].as_u64().unwrap() as usize;
            let n = a["nbytes"].as_u64().unwrap() as usize;
            arrays.insert(
                k.clone(),
                Array {
                    dtype: a["dtype"].as_str().unwrap().to_string(),
                    shape: a["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect(),
                    bytes: raw[off..off + n].to_vec(),
                },
            );
        }
        Bundle { name: name.to_string(), meta: idx["meta"].clone(), arrays }
    }
    pub fn open(name: &str) -> Bundle {
        Self::open_in(&fixtures_dir(), name)
    }
    pub fn get(&self, k: &str) -> &Array {
        self.arrays.get(k).unwrap_or_else(|| panic!("{}: no array {k}", self.name))
    }
    pub fn has(&self, k: &str) -> bool {
        self.arrays.contains_key(k)
    }
}

/// Bit-exact f32 equality, all NaNs equal.
pub fn same_f32(a: f32, b: f32) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

/// A safetensors file: `(name, dtype, shape, little-endian bytes)` per tensor.
pub fn safetensors(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut head = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        head.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + bytes.len()]}),
        );
        data.extend_from_slice(bytes);
    }
    let h = serde_json::to_vec(&serde_json::Value::Object(head)).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

/// Runs the `lowp` binary built for these tests.
pub fn lowp(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lowp")).args(args).output().expect("run lowp")
}

/// A path in this test process's own scratch directory `lowp-<tag>-<pid>`.
pub fn tmp_in(tag: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lowp-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// A path as the `&str` an argument list takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `lowp args` and checks that it fails with exactly one line on stderr
/// that contains `needle`.
pub fn fails_with(args: &[&str], needle: &str) {
    let r = lowp(args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success(), "{args:?} succeeded");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
    assert!(err.contains(needle), "{args:?}: '{err}' lacks '{needle}'");
}
