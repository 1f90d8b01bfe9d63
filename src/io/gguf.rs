//! GGUF files (llama.cpp): the tensor table, and the MXFP4 blocks ggml stores.
//!
//! Hand-written: the Rust GGUF readers on crates.io come inside inference
//! runtimes (candle, llama.cpp bindings) far larger than this table reader, and
//! lowp needs only names, shapes, types and byte ranges. Versions 2 and 3
//! (64-bit counts), little-endian. Every length is checked against the file
//! before it is used, so a corrupt file is an error naming it, never a panic
//! or a huge allocation.
//!
//! A tensor's dimensions are stored innermost first (`ne[0]`); lowp gives the
//! row-major shape (`[ne[n-1], …, ne[0]]`), so a block of `ne[0]` is a row.
//!
//! **MXFP4 (`GGML_TYPE_MXFP4` = 39)**: blocks of 32 elements along `ne[0]`, 17
//! bytes each: the E8M0 scale byte `e`, then 16 bytes `qs` holding element `j`
//! in the low nibble of `qs[j]` and element `j + 16` in the high nibble (the
//! GPT-OSS safetensors layout puts elements `2j`, `2j + 1` in one byte).
//! ggml's `dequantize_row_mxfp4` multiplies its doubled E2M1 table
//! (`kvalues_mxfp4`, 0…12) by `ggml_e8m0_to_fp32_half(e)` = `2^(e − 128)`,
//! which has no NaN case: the value is `e2m1 · 2^(e − 127)` exactly, with 255
//! read as `2^128` (E2M1 0.5 gives `2^127`, larger values overflow to ±∞) and
//! 0 as `2^-127` — the GPT-OSS loader's reading of the same codes — except that
//! the integer table has no −0: code 8 gives +0
//! ([`mxfp4_values`]; ggml-impl.h and ggml-quants.c, checked on the output of
//! llama.cpp's `gguf` package by `tests/gguf.rs`).

use crate::Error;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// ggml's MXFP4 type id.
pub const GGML_TYPE_MXFP4: u32 = 39;

/// One tensor of a GGUF file.
#[derive(Clone, Debug, PartialEq)]
pub struct GgufTensor {
    /// Its name.
    pub name: String,
    /// Its row-major shape (the stored dimensions reversed).
    pub shape: Vec<usize>,
    /// The ggml type id.
    pub ggml_type: u32,
    /// Where its bytes start in the file.
    pub offset: u64,
    /// How many bytes it has (`None`: a ggml type lowp does not size).
    pub len: Option<u64>,
}

/// The name of a ggml type id (`F32`, `Q4_K`, `MXFP4`, or `type N`).
///
/// # Examples
/// ```
/// assert_eq!(lowp::io::gguf::type_name(39), "MXFP4");
/// ```
pub fn type_name(t: u32) -> String {
    let names = [
        "F32", "F16", "Q4_0", "Q4_1", "", "", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
        "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32",
        "I64", "F64", "IQ1_M", "BF16", "", "", "", "TQ1_0", "TQ2_0", "", "", "", "MXFP4",
    ];
    match names.get(t as usize) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => format!("type {t}"),
    }
}

/// (elements per block, bytes per block) of the ggml types lowp sizes.
fn block_of(t: u32) -> Option<(u64, u64)> {
    Some(match t {
        0 => (1, 4),
        1 | 30 => (1, 2),
        2 => (32, 18),
        3 => (32, 20),
        6 => (32, 22),
        7 => (32, 24),
        8 => (32, 34),
        9 => (32, 36),
        10 => (256, 84),
        11 => (256, 110),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210),
        15 => (256, 292),
        24 => (1, 1),
        25 => (1, 2),
        26 => (1, 4),
        27 | 28 => (1, 8),
        GGML_TYPE_MXFP4 => (32, 17),
        _ => return None,
    })
}

struct Cursor<'a> {
    r: &'a mut std::fs::File,
    pos: u64,
    size: u64,
    name: String,
}

impl Cursor<'_> {
    fn bad(&self, what: impl std::fmt::Display) -> Error {
        Error::Io(format!("{}: not a valid GGUF file: {what}", self.name))
    }
    fn bytes(&mut self, n: u64) -> Result<Vec<u8>, Error> {
        if n > self.size.saturating_sub(self.pos) {
            return Err(self.bad(format!("{n} bytes at offset {} run past the end", self.pos)));
        }
        let mut b = vec![0u8; n as usize];
        self.r.read_exact(&mut b).map_err(|e| self.bad(e))?;
        self.pos += n;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().expect("8 bytes")))
    }
    fn string(&mut self) -> Result<String, Error> {
        let n = self.u64()?;
        String::from_utf8(self.bytes(n)?).map_err(|_| self.bad("a string is not UTF-8"))
    }
    /// Skips a metadata value of type `t` (returning it when it is an integer).
    fn value(&mut self, t: u32) -> Result<Option<u64>, Error> {
        let fixed = |t: u32| match t {
            0 | 1 | 7 => Some(1),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        };
        match t {
            8 => self.string().map(|_| None),
            9 => {
                let (et, n) = (self.u32()?, self.u64()?);
                match fixed(et) {
                    Some(w) => {
                        let len = n.checked_mul(w).ok_or_else(|| self.bad("an array length overflows"))?;
                        self.skip(len)?;
                    }
                    None => {
                        for _ in 0..n {
                            self.value(et)?;
                        }
                    }
                }
                Ok(None)
            }
            _ => {
                let w = fixed(t).ok_or_else(|| self.bad(format!("unknown metadata type {t}")))?;
                let b = self.bytes(w)?;
                let mut v = [0u8; 8];
                v[..b.len()].copy_from_slice(&b);
                Ok(Some(u64::from_le_bytes(v)))
            }
        }
    }
    fn skip(&mut self, n: u64) -> Result<(), Error> {
        if n > self.size.saturating_sub(self.pos) {
            return Err(self.bad("a value runs past the end"));
        }
        self.pos += n;
        self.r.seek(SeekFrom::Start(self.pos)).map_err(|e| self.bad(e))?;
        Ok(())
    }
}

/// The tensors of a GGUF file, in file order (nothing loaded).
///
/// # Errors
/// [`Error::Io`] naming the file: not GGUF, version 1, truncated, a tensor
/// whose bytes run past the end.
///
/// # Examples
/// ```
/// let p = std::env::temp_dir().join("lowp_doc.gguf");
/// std::fs::write(&p, b"GGUF\x03\0\0\0").unwrap();
/// assert!(lowp::io::gguf::read_gguf(&p).unwrap_err().to_string().contains("past the end"));
/// ```
pub fn read_gguf(path: &Path) -> Result<Vec<GgufTensor>, Error> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let size = f.metadata().map_err(|e| Error::Io(format!("{}: {e}", path.display())))?.len();
    let mut c = Cursor { r: &mut f, pos: 0, size, name: path.display().to_string() };
    if c.bytes(4)? != b"GGUF" {
        return Err(c.bad("no GGUF magic"));
    }
    let version = c.u32()?;
    if !(2..=3).contains(&version) {
        return Err(c.bad(format!("version {version} (lowp reads 2 and 3)")));
    }
    let (n_tensors, n_kv) = (c.u64()?, c.u64()?);
    let mut alignment = 32u64;
    for _ in 0..n_kv {
        let key = c.string()?;
        let t = c.u32()?;
        let v = c.value(t)?;
        if key == "general.alignment" {
            alignment = v.filter(|&a| a > 0 && a.is_power_of_two()).ok_or_else(|| c.bad("bad general.alignment"))?;
        }
    }
    let mut tensors = Vec::new();
    for _ in 0..n_tensors {
        let name = c.string()?;
        let nd = c.u32()?;
        if nd > 8 {
            return Err(c.bad(format!("tensor '{name}' has {nd} dimensions")));
        }
        let mut dims = (0..nd).map(|_| c.u64()).collect::<Result<Vec<u64>, Error>>()?;
        let (ggml_type, offset) = (c.u32()?, c.u64()?);
        let n = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).ok_or_else(|| c.bad("a shape overflows"))?;
        let len = match block_of(ggml_type) {
            Some((b, bytes)) if n % b == 0 => Some(n / b * bytes),
            Some(_) => return Err(c.bad(format!("tensor '{name}': {n} elements are not whole blocks"))),
            None => None,
        };
        dims.reverse();
        let shape = dims.into_iter().map(|d| d as usize).collect();
        tensors.push(GgufTensor { name, shape, ggml_type, offset, len });
    }
    let data = c.pos.div_ceil(alignment) * alignment;
    for t in &mut tensors {
        t.offset = data.checked_add(t.offset).ok_or_else(|| c.bad("an offset overflows"))?;
        if let Some(len) = t.len
            && t.offset.checked_add(len).is_none_or(|end| end > size)
        {
            return Err(c.bad(format!("tensor '{}' runs past the end of the file", t.name)));
        }
    }
    Ok(tensors)
}

/// The values of MXFP4 blocks as ggml stores them (17 bytes per 32
/// elements; module docs), into `out`.
///
/// # Errors
/// [`Error::Io`] when the bytes are not whole blocks of `out.len()` elements.
///
/// # Examples
/// ```
/// // scale 128 (2^1), element 0 = code 2 (1.0), element 16 = code 9 (−0.5)
/// let mut b = vec![128u8; 1];
/// b.extend([0x92].iter().chain(&[0u8; 15]));
/// let mut out = vec![0f32; 32];
/// lowp::io::gguf::mxfp4_values(&b, &mut out).unwrap();
/// assert_eq!((out[0], out[16], out[1]), (2.0, -1.0, 0.0));
/// ```
pub fn mxfp4_values(bytes: &[u8], out: &mut [f32]) -> Result<(), Error> {
    if bytes.len() != out.len() / 32 * 17 || !out.len().is_multiple_of(32) {
        return Err(Error::Io(format!("{} bytes are not the MXFP4 blocks of {} elements", bytes.len(), out.len())));
    }
    // ggml's table is integers: code 8 (E2M1 −0) is 0, so its products are +0
    let mut lut = *crate::convert::decode_table(crate::format::ElemFormat::E2M1FN);
    lut[8] = 0.0;
    for (blk, o) in bytes.chunks_exact(17).zip(out.chunks_exact_mut(32)) {
        // 2^(e − 127), exact in f64 for every byte (255: 2^128)
        let p = f64::from_bits((u64::from(blk[0]) + 1023 - 127) << 52);
        for (j, &q) in blk[1..].iter().enumerate() {
            o[j] = (f64::from(lut[usize::from(q & 0xF)]) * p) as f32;
            o[j + 16] = (f64::from(lut[usize::from(q >> 4)]) * p) as f32;
        }
    }
    Ok(())
}
