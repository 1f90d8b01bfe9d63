//! The fast path of [`super::dequantize_weight`]: the output bytes written
//! directly, the decision (storage × output dtype) made once per weight.
//!
//! FP8 blocks use a table: every element of one scale block takes one of 256
//! output values (code × that block's scale, rounded as the loader rounds, then
//! encoded in the output dtype), so each block builds its 256 output words once
//! and every element is a table load. FP4 blocks (16 or 32 elements) have fewer
//! elements than a table has entries, so they compute each value directly. Both
//! are the module table's formulas in the same operation order;
//! `tests/checkpoints.rs` checks them equal to [`super::dequantize_weight`]
//! rounded by [`OutDtype::bytes`] on every fixture weight.

use super::dequant::{e8m0_pow2, scale_round, stored_codes};
use super::{OutDtype, QuantWeight, Storage};
use crate::Error;
use crate::format::ElemFormat;
use half::bf16;

/// Dequantizes weights to output bytes, reusing its buffers from one weight to
/// the next (a checkpoint's weights are mostly of a few shapes): the output
/// dtype is chosen once, the storage once per weight.
///
/// # Examples
/// ```
/// use lowp::convention::{Dequantizer, OutDtype, dequantize_weight, group};
/// use lowp::io::checkpoint::list_tensors;
/// let p = std::env::temp_dir().join("lowp_doc_dqb.safetensors");
/// let head = concat!(r#"{"w.weight":{"dtype":"F8_E4M3","shape":[1,2],"data_offsets":[0,2]},"#,
///     r#""w.weight_scale_inv":{"dtype":"F32","shape":[1,1],"data_offsets":[2,6]}}"#);
/// let mut f = (head.len() as u64).to_le_bytes().to_vec();
/// f.extend_from_slice(head.as_bytes());
/// f.extend_from_slice(&[0x38, 0xC0]);
/// f.extend_from_slice(&3.0f32.to_le_bytes());
/// std::fs::write(&p, f).unwrap();
/// let w = &group(&list_tensors(&p).unwrap(), None, None).unwrap().weights[0];
/// let (mut d, mut out) = (Dequantizer::new(OutDtype::Bf16), Vec::new());
/// d.bytes_into(w, &mut out).unwrap();
/// // 1.0·3 and −2.0·3 in BF16: the oracle's values, rounded
/// assert_eq!(out, vec![0x40, 0x40, 0xC0, 0xC0]);
/// assert_eq!(out, OutDtype::Bf16.bytes(&dequantize_weight(w).unwrap()));
/// ```
pub struct Dequantizer {
    out: OutDtype,
    input: Vec<u8>,
    rows: Vec<u8>,
    piece: Vec<u8>,
    piece_bytes: usize,
}

/// About how many output bytes [`Dequantizer::write_to`] hands over at a time:
/// small enough to stay in a core's L2 cache between being written and being
/// passed on (whole rows, or blocks, at least one).
const PIECE: usize = 1 << 20;

impl Dequantizer {
    /// A dequantizer writing `out`.
    pub fn new(out: OutDtype) -> Dequantizer {
        Dequantizer::with_piece_bytes(out, PIECE)
    }

    /// A dequantizer writing `out` whose [`Dequantizer::write_to`] hands over
    /// pieces of about `bytes` bytes (whole rows or blocks, at least one; the
    /// default is 1 MiB).
    ///
    /// # Examples
    /// ```
    /// use lowp::convention::{Dequantizer, OutDtype, group};
    /// use lowp::io::checkpoint::list_tensors;
    /// let p = std::env::temp_dir().join("lowp_doc_dq_pieces.safetensors");
    /// let head = concat!(r#"{"w.weight":{"dtype":"F8_E4M3","shape":[2,1],"data_offsets":[0,2]},"#,
    ///     r#""w.weight_scale_inv":{"dtype":"F32","shape":[1,1],"data_offsets":[2,6]}}"#);
    /// let mut f = (head.len() as u64).to_le_bytes().to_vec();
    /// f.extend_from_slice(head.as_bytes());
    /// f.extend_from_slice(&[0x38, 0xC0]);
    /// f.extend_from_slice(&1.0f32.to_le_bytes());
    /// std::fs::write(&p, f).unwrap();
    /// let w = &group(&list_tensors(&p).unwrap(), None, None).unwrap().weights[0];
    /// // one row per piece: 1.0 and −2.0 in BF16
    /// let mut pieces = Vec::new();
    /// Dequantizer::with_piece_bytes(OutDtype::Bf16, 1).write_to(w, &mut |b| Ok(pieces.push(b.to_vec()))).unwrap();
    /// assert_eq!(pieces, [vec![0x80, 0x3F], vec![0x00, 0xC0]]);
    /// ```
    pub fn with_piece_bytes(out: OutDtype, bytes: usize) -> Dequantizer {
        Dequantizer { out, input: Vec::new(), rows: Vec::new(), piece: Vec::new(), piece_bytes: bytes }
    }

    /// The dequantized weight as little-endian bytes of the output dtype, in
    /// its model shape, into `dst` (resized; every byte written): exactly
    /// `out.bytes(&dequantize_weight(w)?)`.
    ///
    /// # Errors
    /// As [`super::dequantize_weight`].
    pub fn bytes_into(&mut self, w: &QuantWeight, dst: &mut Vec<u8>) -> Result<(), Error> {
        dst.clear();
        self.write_to(w, &mut |b| {
            dst.extend_from_slice(b);
            Ok(())
        })
    }

    /// The bytes of [`Dequantizer::bytes_into`], passed to `put` in order, in
    /// pieces of about a megabyte (whole rows or blocks), each written into one
    /// reused buffer: the output of a large weight never sits in memory whole
    /// (except a Hugging Face MXFP4 weight, whose last two axes are swapped).
    ///
    /// # Errors
    /// As [`super::dequantize_weight`], or the first error of `put`.
    ///
    /// # Examples
    /// ```
    /// use lowp::convention::{Dequantizer, OutDtype, group};
    /// use lowp::io::checkpoint::list_tensors;
    /// let p = std::env::temp_dir().join("lowp_doc_dq_write_to.safetensors");
    /// let head = concat!(r#"{"w.weight":{"dtype":"F8_E4M3","shape":[1,2],"data_offsets":[0,2]},"#,
    ///     r#""w.weight_scale_inv":{"dtype":"F32","shape":[1,1],"data_offsets":[2,6]}}"#);
    /// let mut f = (head.len() as u64).to_le_bytes().to_vec();
    /// f.extend_from_slice(head.as_bytes());
    /// f.extend_from_slice(&[0x38, 0xC0]);
    /// f.extend_from_slice(&0.5f32.to_le_bytes());
    /// std::fs::write(&p, f).unwrap();
    /// let w = &group(&list_tensors(&p).unwrap(), None, None).unwrap().weights[0];
    /// let mut got = Vec::new();
    /// Dequantizer::new(OutDtype::F32).write_to(w, &mut |b| Ok(got.extend_from_slice(b))).unwrap();
    /// // 1.0·0.5 and −2.0·0.5 as f32 bytes
    /// assert_eq!(got, [0.5f32, -1.0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    /// ```
    pub fn write_to(&mut self, w: &QuantWeight, put: &mut dyn FnMut(&[u8]) -> Result<(), Error>) -> Result<(), Error> {
        match self.out {
            OutDtype::F32 => self.by_storage::<4>(w, f32::to_le_bytes, put),
            OutDtype::Bf16 => self.by_storage::<2>(w, |v| bf16::from_f32(v).to_le_bytes(), put),
        }
    }

    fn by_storage<const W: usize>(
        &mut self,
        w: &QuantWeight,
        enc: fn(f32) -> [u8; W],
        put: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let n: usize = w.shape.iter().product();
        if n == 0 {
            return Ok(());
        }
        let pieces = Pieces { buf: &mut self.piece, bytes: self.piece_bytes, put };
        match &w.storage {
            Storage::Fp8 { block } => fp8::<W>(w, *block, enc, &mut self.input, pieces),
            Storage::Mxfp4 { hf: false } => mxfp4::<W>(w, enc, &mut self.input, pieces),
            Storage::Mxfp4 { hf: true } => {
                // the whole weight, then its last two axes swapped
                let mut rows = std::mem::take(&mut self.rows);
                rows.clear();
                let all = Pieces {
                    buf: pieces.buf,
                    bytes: pieces.bytes,
                    put: &mut |b: &[u8]| {
                        rows.extend_from_slice(b);
                        Ok(())
                    },
                };
                mxfp4::<W>(w, enc, &mut self.input, all)?;
                self.piece.resize(n * W, 0);
                transpose_last::<W>(&w.shape, &rows, &mut self.piece);
                self.rows = rows;
                put(&self.piece)
            }
            Storage::Nvfp4 { divisor } => nvfp4::<W>(w, *divisor, enc, &mut self.input, pieces),
            Storage::GgufMxfp4 => {
                // values (the one routine of io::gguf), then the output words
                w.codes.read_into(&mut self.input)?;
                let mut v = vec![0f32; n];
                crate::io::gguf::mxfp4_values(&self.input, &mut v)?;
                let mut pieces = pieces;
                pieces.emit(n, W, |i0, p| {
                    for (d, x) in p.chunks_exact_mut(W).zip(&v[i0..]) {
                        d.copy_from_slice(&enc(*x));
                    }
                })
            }
        }
    }
}

/// The output in pieces: one reused buffer, filled and handed to `put` again
/// and again.
struct Pieces<'a> {
    buf: &'a mut Vec<u8>,
    /// About how many bytes a piece has.
    bytes: usize,
    put: &'a mut dyn FnMut(&[u8]) -> Result<(), Error>,
}

impl Pieces<'_> {
    /// `units` units of `unit` bytes each (rows, or blocks), in pieces of whole
    /// units of about `self.bytes` bytes: `fill(first, piece)` writes units
    /// `first..` into `piece`.
    fn emit(&mut self, units: usize, unit: usize, mut fill: impl FnMut(usize, &mut [u8])) -> Result<(), Error> {
        let per = (self.bytes / unit.max(1)).max(1);
        for first in (0..units).step_by(per) {
            let k = per.min(units - first);
            self.buf.resize(k * unit, 0);
            fill(first, self.buf);
            (self.put)(self.buf)?;
        }
        Ok(())
    }
}

/// The dequantized weight as little-endian bytes of `out`
/// ([`Dequantizer::bytes_into`] with fresh buffers).
///
/// # Errors
/// As [`super::dequantize_weight`].
///
/// # Examples
/// See [`Dequantizer`].
pub fn dequantize_bytes(w: &QuantWeight, out: OutDtype) -> Result<Vec<u8>, Error> {
    let mut v = Vec::new();
    Dequantizer::new(out).bytes_into(w, &mut v)?;
    Ok(v)
}

fn lut(fmt: ElemFormat, n: usize) -> Result<Vec<f32>, Error> {
    let codes: Vec<u8> = (0..n).map(|c| c as u8).collect();
    let mut v = vec![0f32; n];
    crate::convert::decode_slice(fmt, &codes, &mut v)?;
    Ok(v)
}

fn fp8<const W: usize>(
    w: &QuantWeight,
    block: [usize; 2],
    enc: fn(f32) -> [u8; W],
    codes: &mut Vec<u8>,
    mut out: Pieces,
) -> Result<(), Error> {
    let (r, c) = (w.shape[0], w.shape[1]);
    let fmt = stored_codes(&w.codes, r * c, codes)?;
    let x = lut(fmt, 256)?;
    let round = scale_round(w.scales.declared_dtype());
    let (_, s) = w.scales.load()?;
    let [br, bc] = block;
    let gc = c.div_ceil(bc).max(1);
    let mut tables = vec![[0u8; W]; gc * 256];
    for (bi, rows) in codes.chunks(br * c).enumerate() {
        for (j, t) in tables.chunks_exact_mut(256).enumerate() {
            let sj = s[bi * gc + j];
            t.iter_mut().zip(&x).for_each(|(o, &v)| *o = enc(round(v * sj)));
        }
        out.emit(rows.len() / c, c * W, |first, piece| {
            for (row, orow) in rows[first * c..].chunks_exact(c).zip(piece.chunks_exact_mut(c * W)) {
                for ((cs, os), t) in row.chunks(bc).zip(orow.chunks_mut(bc * W)).zip(tables.chunks_exact(256)) {
                    for (&k, o) in cs.iter().zip(os.chunks_exact_mut(W)) {
                        o.copy_from_slice(&t[usize::from(k)]);
                    }
                }
            }
        })?;
    }
    Ok(())
}

fn mxfp4<const W: usize>(
    w: &QuantWeight,
    enc: fn(f32) -> [u8; W],
    packed: &mut Vec<u8>,
    mut out: Pieces,
) -> Result<(), Error> {
    let scales = super::dequant::mx_parts(w, packed)?;
    let x = lut(ElemFormat::E2M1FN, 16)?;
    out.emit(scales.len(), 32 * W, |first, piece| {
        let blocks = packed[first * 16..].chunks_exact(16).zip(&scales[first..]);
        for ((blk, &s), o) in blocks.zip(piece.chunks_exact_mut(32 * W)) {
            let p = e8m0_pow2(s);
            for (&b, o) in blk.iter().zip(o.chunks_exact_mut(2 * W)) {
                o[..W].copy_from_slice(&enc((f64::from(x[usize::from(b & 0xF)]) * p) as f32));
                o[W..].copy_from_slice(&enc((f64::from(x[usize::from(b >> 4)]) * p) as f32));
            }
        }
    })
}

/// `[E, R, K]` → `[E, K, R]` of `W`-byte words (`shape` is the result's), in
/// tiles of 64 rows so that both sides stay in cache.
fn transpose_last<const W: usize>(shape: &[usize], src: &[u8], dst: &mut [u8]) {
    let (k, r) = (shape[1], shape[2]);
    for (s, d) in src.chunks_exact(r * k * W).zip(dst.chunks_exact_mut(r * k * W)) {
        for i0 in (0..r).step_by(64) {
            for j in 0..k {
                for i in i0..(i0 + 64).min(r) {
                    d[(j * r + i) * W..][..W].copy_from_slice(&s[(i * k + j) * W..][..W]);
                }
            }
        }
    }
}

fn nvfp4<const W: usize>(
    w: &QuantWeight,
    divisor: bool,
    enc: fn(f32) -> [u8; W],
    packed: &mut Vec<u8>,
    mut out: Pieces,
) -> Result<(), Error> {
    let (r, c) = (w.shape[0], w.shape[1]);
    super::dequant::nv_codes(w, r * c, packed)?;
    let mut x = lut(ElemFormat::E2M1FN, 16)?;
    if !divisor {
        x[8] = 0.0;
    }
    let (bs, gc) = super::dequant::nv_block_scales(w, divisor)?;
    out.emit(r, c * W, |first, piece| {
        let rows = packed[first * c / 2..].chunks_exact(c / 2).zip(piece.chunks_exact_mut(c * W));
        for (i, (prow, orow)) in rows.enumerate() {
            for (j, (pb, ob)) in prow.chunks(8).zip(orow.chunks_mut(16 * W)).enumerate() {
                let s = bs[(first + i) * gc + j];
                for (&b, o) in pb.iter().zip(ob.chunks_exact_mut(2 * W)) {
                    o[..W].copy_from_slice(&enc(x[usize::from(b & 0xF)] * s));
                    o[W..].copy_from_slice(&enc(x[usize::from(b >> 4)] * s));
                }
            }
        }
    })
}
