//! NumPy `.npy` reading and writing (format versions 1.0–3.0, C order).
//!
//! Hand-written because no crate reads the float types this library needs: `<f2`
//! (f16) and ml_dtypes' `bfloat16`, which NumPy saves as the opaque `<V2`; lowp
//! reads `<V2` (and the descr `bfloat16`) as bf16. NumPy saves every ml_dtypes
//! 8-, 6- and 4-bit float array as the opaque `<V1`, which says nothing of the
//! format: lowp reads it as codes ([`NpyData::Codes`] without a format) that a
//! caller names ([`NpyArray::to_f32_as`], `--codes-as` on the command line); a
//! descr that names an ml_dtypes type (`float8_e4m3fn`) carries its format.
//! Big-endian arrays are byte-swapped. Fortran-order arrays are refused with an
//! error (nothing is silently reordered).

use crate::Error;
use crate::format::ElemFormat;
use half::{bf16, f16};
use std::path::Path;

/// The element type of an array.
///
/// # Examples
/// ```
/// use lowp::io::npy::DType;
/// assert_eq!((DType::BF16.size(), DType::BF16.name()), (2, "bf16"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// `<f2`.
    F16,
    /// `<V2` / `bfloat16` (ml_dtypes).
    BF16,
    /// `<f4`.
    F32,
    /// `<f8`.
    F64,
    /// `|u1`.
    U8,
    /// `<i4` (group indices and offsets).
    I32,
    /// `<i8`.
    I64,
    /// One-byte element codes: `|V1` (the format unknown: ml_dtypes' float8,
    /// float6 and float4 arrays as NumPy saves them), or a descr naming an
    /// ml_dtypes type (`float8_e4m3fn`).
    Codes(Option<ElemFormat>),
}

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::U8 | DType::Codes(_) => 1,
            DType::I32 => 4,
            DType::I64 => 8,
            DType::F16 | DType::BF16 => 2,
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }
    /// The name used in messages (`f32`, `bf16`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::U8 => "u8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::Codes(None) => "V1",
            DType::Codes(Some(f)) => f.name(),
        }
    }
}

/// Array contents, one variant per supported dtype.
///
/// # Examples
/// ```
/// use lowp::io::npy::{NpyArray, NpyData};
/// let a = NpyArray { shape: vec![2], data: NpyData::U8(vec![7, 8]) };
/// assert!(matches!(a.data, NpyData::U8(ref v) if v == &[7, 8]));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// f16 elements.
    F16(Vec<f16>),
    /// bf16 elements.
    BF16(Vec<bf16>),
    /// f32 elements.
    F32(Vec<f32>),
    /// f64 elements.
    F64(Vec<f64>),
    /// u8 elements.
    U8(Vec<u8>),
    /// i32 elements.
    I32(Vec<i32>),
    /// i64 elements.
    I64(Vec<i64>),
    /// Element codes, one per byte, of a format if the file names it
    /// ([`DType::Codes`]).
    Codes(Option<ElemFormat>, Vec<u8>),
}

/// A C-order array read from a `.npy` file.
///
/// # Examples
/// ```
/// use lowp::io::npy::{NpyArray, NpyData};
/// let a = NpyArray { shape: vec![2, 2], data: NpyData::F32(vec![1.0, 2.0, 3.0, 4.0]) };
/// let bytes = a.to_bytes();
/// assert_eq!(NpyArray::parse(&bytes, "mem").unwrap(), a);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Dimensions (empty for a scalar).
    pub shape: Vec<usize>,
    /// Elements in C order.
    pub data: NpyData,
}

/// A parsed `.npy` header (see [`parse_header`] for an example).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Element type.
    pub dtype: DType,
    /// Whether the stored bytes are big-endian.
    pub big_endian: bool,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Offset of the data from the start of the file.
    pub data_offset: usize,
}

fn bad(name: &str, what: impl std::fmt::Display) -> Error {
    Error::Io(format!("{name}: not a valid .npy file: {what}"))
}

/// Parses the header of `.npy` bytes (`name` is used in error messages).
///
/// # Errors
/// [`Error::Io`] for a bad magic, a truncated header, an unsupported dtype or Fortran order.
///
/// # Examples
/// ```
/// use lowp::io::npy::{parse_header, DType, NpyArray, NpyData};
/// let bytes = NpyArray { shape: vec![3], data: NpyData::U8(vec![1, 2, 3]) }.to_bytes();
/// let h = parse_header(&bytes, "x.npy").unwrap();
/// assert_eq!((h.dtype, h.shape.clone()), (DType::U8, vec![3]));
/// assert!(parse_header(b"garbage", "x.npy").is_err());
/// ```
pub fn parse_header(bytes: &[u8], name: &str) -> Result<Header, Error> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad(name, "missing \\x93NUMPY magic"));
    }
    let major = bytes[6];
    let (hlen, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad(name, "truncated header"));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(bad(name, format!("unsupported format version {v}"))),
    };
    let end = start.checked_add(hlen).ok_or_else(|| bad(name, "header length overflow"))?;
    let text = bytes.get(start..end).ok_or_else(|| bad(name, "truncated header"))?;
    let text = std::str::from_utf8(text).map_err(|_| bad(name, "header is not text"))?;
    let field = |key: &str| -> Result<&str, Error> {
        let k = text.find(&format!("'{key}'")).ok_or_else(|| bad(name, format!("header has no '{key}'")))?;
        let rest = &text[k + key.len() + 2..];
        let colon = rest.find(':').ok_or_else(|| bad(name, "malformed header"))?;
        Ok(rest[colon + 1..].trim_start())
    };
    let descr = field("descr")?;
    let descr =
        descr.strip_prefix('\'').and_then(|d| d.split('\'').next()).ok_or_else(|| bad(name, "malformed descr"))?;
    let (big_endian, dtype) = match descr {
        "<f2" => (false, DType::F16),
        ">f2" => (true, DType::F16),
        "<f4" => (false, DType::F32),
        ">f4" => (true, DType::F32),
        "<f8" => (false, DType::F64),
        ">f8" => (true, DType::F64),
        "|u1" | "<u1" | ">u1" => (false, DType::U8),
        "<i4" => (false, DType::I32),
        ">i4" => (true, DType::I32),
        "<i8" => (false, DType::I64),
        ">i8" => (true, DType::I64),
        "<V2" | "bfloat16" | "<bfloat16" => (false, DType::BF16),
        "|V1" | "<V1" | ">V1" => (false, DType::Codes(None)),
        other => match other.trim_start_matches(['<', '|']).parse::<ElemFormat>() {
            Ok(f) if other.trim_start_matches(['<', '|']).starts_with("float") && f.spec().bits() <= 8 => {
                (false, DType::Codes(Some(f)))
            }
            _ => {
                return Err(Error::Io(format!(
                    "{name}: unsupported dtype '{other}' (lowp reads f16, bf16 (<V2), f32, f64, u8, and \
                     ml_dtypes' 8-, 6- and 4-bit floats (<V1))"
                )));
            }
        },
    };
    if field("fortran_order")?.starts_with("True") {
        return Err(Error::Io(format!(
            "{name}: Fortran-order arrays are not supported (save with np.ascontiguousarray)"
        )));
    }
    let shape_txt = field("shape")?;
    let close = shape_txt.find(')').ok_or_else(|| bad(name, "malformed shape"))?;
    let inner = shape_txt.get(1..close).ok_or_else(|| bad(name, "malformed shape"))?;
    let mut shape = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        shape.push(
            part.trim_end_matches('L').parse::<usize>().map_err(|_| bad(name, format!("bad dimension '{part}'")))?,
        );
    }
    Ok(Header { dtype, big_endian, shape, data_offset: end })
}

/// Number of elements of a shape, with overflow checking.
///
/// # Examples
/// ```
/// use lowp::io::npy::element_count;
/// assert_eq!(element_count(&[2, 3, 4], "x").unwrap(), 24);
/// assert!(element_count(&[usize::MAX, 2], "x").is_err());
/// ```
pub fn element_count(shape: &[usize], name: &str) -> Result<usize, Error> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad(name, "shape overflows"))
}

impl NpyArray {
    /// Parses a whole `.npy` file held in memory.
    ///
    /// # Errors
    /// As [`parse_header`], and [`Error::Io`] when the data is shorter or longer than the shape says.
    pub fn parse(bytes: &[u8], name: &str) -> Result<NpyArray, Error> {
        let h = parse_header(bytes, name)?;
        let n = element_count(&h.shape, name)?;
        let need = n.checked_mul(h.dtype.size()).ok_or_else(|| bad(name, "shape overflows"))?;
        let body = &bytes[h.data_offset..];
        if body.len() != need {
            return Err(Error::Io(format!(
                "{name}: truncated or corrupt .npy: shape {:?} of {} needs {need} data bytes, file has {}",
                h.shape,
                h.dtype.name(),
                body.len()
            )));
        }
        macro_rules! take {
            ($t:ty, $n:literal, $conv:expr) => {
                body.chunks_exact($n)
                    .map(|c| {
                        let mut a = [0u8; $n];
                        a.copy_from_slice(c);
                        if h.big_endian {
                            a.reverse();
                        }
                        $conv(<$t>::from_le_bytes(a))
                    })
                    .collect()
            };
        }
        let data = match h.dtype {
            DType::U8 => NpyData::U8(body.to_vec()),
            DType::Codes(f) => NpyData::Codes(f, body.to_vec()),
            DType::F16 => NpyData::F16(take!(u16, 2, f16::from_bits)),
            DType::BF16 => NpyData::BF16(take!(u16, 2, bf16::from_bits)),
            DType::F32 => NpyData::F32(take!(u32, 4, f32::from_bits)),
            DType::F64 => NpyData::F64(take!(u64, 8, f64::from_bits)),
            DType::I32 => NpyData::I32(take!(i32, 4, |v| v)),
            DType::I64 => NpyData::I64(take!(i64, 8, |v| v)),
        };
        Ok(NpyArray { shape: h.shape, data })
    }

    /// Reads a `.npy` file.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file when it cannot be read or parsed.
    pub fn read(path: &Path) -> Result<NpyArray, Error> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("{name}: {e}")))?;
        Self::parse(&bytes, &name)
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        match self.data {
            NpyData::F16(_) => DType::F16,
            NpyData::BF16(_) => DType::BF16,
            NpyData::F32(_) => DType::F32,
            NpyData::F64(_) => DType::F64,
            NpyData::U8(_) => DType::U8,
            NpyData::I32(_) => DType::I32,
            NpyData::I64(_) => DType::I64,
            NpyData::Codes(f, _) => DType::Codes(f),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            NpyData::F16(v) => v.len(),
            NpyData::BF16(v) => v.len(),
            NpyData::F32(v) => v.len(),
            NpyData::F64(v) => v.len(),
            NpyData::U8(v) | NpyData::Codes(_, v) => v.len(),
            NpyData::I32(v) => v.len(),
            NpyData::I64(v) => v.len(),
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as f32: f16/bf16 exactly, f64 rounded once (RNE); u8 and
    /// opaque `V1` arrays are rejected ([`Self::to_f32_as`] reads them as codes).
    ///
    /// # Errors
    /// [`Error::Io`] naming `name` for a u8 array or codes of no named format.
    ///
    /// # Examples
    /// ```
    /// use lowp::io::npy::{NpyArray, NpyData};
    /// let a = NpyArray { shape: vec![2], data: NpyData::F64(vec![0.1, 2.0]) };
    /// assert_eq!(a.to_f32("a.npy").unwrap(), vec![0.1f32, 2.0]);
    /// ```
    pub fn to_f32(&self, name: &str) -> Result<Vec<f32>, Error> {
        self.to_f32_as(name, None)
    }

    /// The elements as f32, with one-byte arrays (`u8`, or ml_dtypes' opaque
    /// `V1`) read as codes of `codes_as` and decoded exactly; an array whose
    /// descr names its format decodes as that format.
    ///
    /// # Errors
    /// [`Error::Io`] naming `name`: one-byte codes of no known format, or a
    /// `codes_as` that contradicts the format the file names.
    ///
    /// # Examples
    /// ```
    /// use lowp::format::ElemFormat;
    /// use lowp::io::npy::{NpyArray, NpyData};
    /// // what np.save writes for an ml_dtypes float8_e4m3fn array: '<V1'
    /// let a = NpyArray { shape: vec![2], data: NpyData::Codes(None, vec![0x38, 0xC0]) };
    /// assert!(a.to_f32("w.npy").unwrap_err().to_string().contains("codes-as"));
    /// assert_eq!(a.to_f32_as("w.npy", Some(ElemFormat::E4M3FN)).unwrap(), vec![1.0, -2.0]);
    /// ```
    pub fn to_f32_as(&self, name: &str, codes_as: Option<ElemFormat>) -> Result<Vec<f32>, Error> {
        let decode = |f: ElemFormat, codes: &[u8]| -> Result<Vec<f32>, Error> {
            let mut out = vec![0f32; codes.len()];
            crate::convert::decode_slice(f, codes, &mut out).map_err(|e| Error::Io(format!("{name}: {e}")))?;
            Ok(out)
        };
        Ok(match &self.data {
            NpyData::F32(v) => v.clone(),
            NpyData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            NpyData::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
            NpyData::BF16(v) => v.iter().map(|x| x.to_f32()).collect(),
            NpyData::Codes(Some(f), v) => match codes_as {
                Some(g) if g != *f => {
                    return Err(Error::Io(format!("{name}: the file names its codes {f}, not {g} (--codes-as)")));
                }
                _ => decode(*f, v)?,
            },
            NpyData::I32(_) | NpyData::I64(_) => {
                return Err(Error::Io(format!(
                    "{name}: expected a float array (f16, bf16, f32, f64), got {}",
                    self.dtype().name()
                )));
            }
            NpyData::U8(v) | NpyData::Codes(None, v) => match codes_as {
                Some(f) => decode(f, v)?,
                None => {
                    let what = if matches!(self.data, NpyData::U8(_)) {
                        "u8".to_string()
                    } else {
                        "opaque one-byte elements ('<V1': how NumPy saves ml_dtypes float8/float6/float4 arrays)"
                            .to_string()
                    };
                    return Err(Error::Io(format!(
                        "{name}: expected a float array (f16, bf16, f32, f64), got {what}; to read them as \
                         codes, name their format (--codes-as e4m3fn)"
                    )));
                }
            },
        })
    }

    /// The elements of an integer array (i32, i64, u8) as i64.
    ///
    /// # Errors
    /// [`Error::Io`] naming `name` for a float or code array.
    ///
    /// # Examples
    /// ```
    /// use lowp::io::npy::{NpyArray, NpyData};
    /// let a = NpyArray { shape: vec![3], data: NpyData::I32(vec![0, -1, 7]) };
    /// assert_eq!(a.to_i64("g.npy").unwrap(), vec![0, -1, 7]);
    /// ```
    pub fn to_i64(&self, name: &str) -> Result<Vec<i64>, Error> {
        Ok(match &self.data {
            NpyData::I32(v) => v.iter().map(|&x| x as i64).collect(),
            NpyData::I64(v) => v.clone(),
            NpyData::U8(v) => v.iter().map(|&x| x as i64).collect(),
            _ => {
                return Err(Error::Io(format!(
                    "{name}: expected an integer array (i32, i64), got {}",
                    self.dtype().name()
                )));
            }
        })
    }

    /// The file bytes (version 1.0 header, little-endian, C order).
    pub fn to_bytes(&self) -> Vec<u8> {
        let descr = match self.dtype() {
            DType::F16 => "<f2",
            DType::BF16 => "<V2",
            DType::F32 => "<f4",
            DType::F64 => "<f8",
            DType::U8 => "|u1",
            DType::I32 => "<i4",
            DType::I64 => "<i8",
            // NumPy's own spelling of an ml_dtypes one-byte array (np.load reads it back)
            DType::Codes(_) => "|V1",
        };
        let shape = match self.shape.len() {
            0 => "()".to_string(),
            1 => format!("({},)", self.shape[0]),
            _ => format!("({})", self.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
        };
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        // pad so that magic + len + header + '\n' is a multiple of 64
        let total = 10 + header.len() + 1;
        header.push_str(&" ".repeat((64 - total % 64) % 64));
        header.push('\n');
        let mut out = Vec::with_capacity(10 + header.len() + self.len() * self.dtype().size());
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        match &self.data {
            NpyData::U8(v) | NpyData::Codes(_, v) => out.extend_from_slice(v),
            NpyData::I32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            NpyData::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            NpyData::F16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes())),
            NpyData::BF16(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes())),
            NpyData::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            NpyData::F64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
        out
    }

    /// Writes the array to the file `path` by the rules of [`crate::io::out`]
    /// (atomically for a regular file, through a symlink, never replacing a
    /// device), so a failure leaves no partial output behind.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        crate::io::out::write_file(path, &self.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_all_dtypes_and_shapes() {
        for shape in [vec![], vec![0], vec![5], vec![2, 3], vec![1, 2, 3, 1]] {
            let n: usize = shape.iter().product();
            for data in [
                NpyData::U8((0..n as u8).collect()),
                NpyData::I32((0..n as i32).map(|i| i - 3).collect()),
                NpyData::I64((0..n as i64).map(|i| i * -5).collect()),
                NpyData::F16((0..n).map(|i| f16::from_f32(i as f32)).collect()),
                NpyData::BF16((0..n).map(|i| bf16::from_f32(i as f32)).collect()),
                NpyData::F32((0..n).map(|i| i as f32 * 0.5).collect()),
                NpyData::F64((0..n).map(|i| i as f64 * 0.25).collect()),
            ] {
                let a = NpyArray { shape: shape.clone(), data };
                let b = a.to_bytes();
                assert_eq!(b.iter().position(|&c| c == b'\n').unwrap() % 64, 63);
                assert_eq!(NpyArray::parse(&b, "t").unwrap(), a);
            }
        }
    }

    #[test]
    fn truncated_and_corrupt_files_are_errors() {
        let a = NpyArray { shape: vec![4], data: NpyData::F32(vec![1.0; 4]) };
        let b = a.to_bytes();
        for cut in [0, 5, 9, 20, b.len() - 1] {
            assert!(NpyArray::parse(&b[..cut], "t").is_err(), "cut {cut}");
        }
        let mut long = b.clone();
        long.push(0);
        assert!(NpyArray::parse(&long, "t").is_err());
        let mut bad_dtype = b.clone();
        let at = bad_dtype.windows(3).position(|w| w == b"<f4").unwrap();
        bad_dtype[at + 1] = b'c'; // complex: not read
        assert!(NpyArray::parse(&bad_dtype, "t").unwrap_err().to_string().contains("unsupported dtype"));
    }
}
