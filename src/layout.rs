//! Scale-factor layouts that kernels read, each with its inverse.
//!
//! * [`swizzle_128x4`]: the SM100 block-scaled layout of cuBLAS and CUTLASS
//!   (`Sm1xxBlockScaledConfig`, K-major atom `((32,4),(SFVec,4))`, strides
//!   `((16,4),(0,1))`) and torchao `to_blocked`: the scale matrix (rows × scale
//!   columns) is zero-padded to multiples of 128 × 4 and cut into 512-byte tiles,
//!   tiles in row-major order of the tile grid; inside a tile, scale `(r, c)` sits at
//!   byte `16·(r mod 32) + 4·((r mod 128) / 32) + (c mod 4)`.
//! * [`cublas_1x128`] / [`cublas_128x128`]: the f32 scale layouts cuBLAS expects for
//!   DeepSeek-style FP8 block scaling (TransformerEngine `CuBLASScaleMunger`): 1×128
//!   activation scales transposed to `ceil(K/128) × roundup(M, 4)`; 128×128 weight
//!   scales as `ceil(M/128) × roundup(ceil(K/128), 4)` (pytorch/pytorch#166752: an
//!   unpadded layout gives silently wrong results).

use crate::Error;

/// Byte offset of scale `(r, c)` in the 128×4-swizzled layout of a scale matrix with
/// `cols` columns.
///
/// # Examples
/// ```
/// use lowp::layout::swizzle_128x4_offset;
/// assert_eq!(swizzle_128x4_offset(0, 0, 4), 0);
/// assert_eq!(swizzle_128x4_offset(1, 0, 4), 16);
/// assert_eq!(swizzle_128x4_offset(32, 0, 4), 4);
/// assert_eq!(swizzle_128x4_offset(0, 5, 8), 512 + 1); // second tile along the columns
/// ```
pub fn swizzle_128x4_offset(r: usize, c: usize, cols: usize) -> usize {
    let tiles_per_row = cols.div_ceil(4);
    let tile = (r / 128) * tiles_per_row + c / 4;
    tile * 512 + (r % 32) * 16 + ((r % 128) / 32) * 4 + (c % 4)
}

/// Swizzles a row-major `rows × cols` scale matrix (one byte per scale: E8M0 or
/// UE4M3) into the 128×4 layout, zero-padded to `roundup(rows,128) · roundup(cols,4)` bytes.
///
/// # Errors
/// [`Error::Shape`] if `scales.len() != rows * cols`.
///
/// # Examples
/// ```
/// use lowp::layout::{swizzle_128x4, unswizzle_128x4};
/// let s: Vec<u8> = (0..200 * 3).map(|i| i as u8).collect();
/// let z = swizzle_128x4(&s, 200, 3).unwrap();
/// assert_eq!(z.len(), 256 * 4);
/// assert_eq!(unswizzle_128x4(&z, 200, 3).unwrap(), s);
/// ```
pub fn swizzle_128x4(scales: &[u8], rows: usize, cols: usize) -> Result<Vec<u8>, Error> {
    if rows.checked_mul(cols) != Some(scales.len()) {
        return Err(Error::Shape(format!("{} scales do not make a {rows}x{cols} matrix", scales.len())));
    }
    let mut out = vec![0u8; rows.div_ceil(128) * 128 * cols.div_ceil(4) * 4];
    for r in 0..rows {
        for c in 0..cols {
            out[swizzle_128x4_offset(r, c, cols)] = scales[r * cols + c];
        }
    }
    Ok(out)
}

/// The inverse of [`swizzle_128x4`] (padding dropped).
///
/// # Errors
/// [`Error::Shape`] if `swizzled` is not the padded size of a `rows × cols` matrix.
pub fn unswizzle_128x4(swizzled: &[u8], rows: usize, cols: usize) -> Result<Vec<u8>, Error> {
    let want = rows.div_ceil(128) * 128 * cols.div_ceil(4) * 4;
    if swizzled.len() != want {
        return Err(Error::Shape(format!(
            "{} bytes are not a swizzled {rows}x{cols} scale matrix ({want})",
            swizzled.len()
        )));
    }
    let mut out = vec![0u8; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            out[r * cols + c] = swizzled[swizzle_128x4_offset(r, c, cols)];
        }
    }
    Ok(out)
}

/// 1×128 activation scales (`m × kb`, row-major, `kb = ceil(K/128)`) in cuBLAS's
/// layout: transposed, `kb × roundup(m, 4)`, zero-padded.
///
/// # Errors
/// [`Error::Shape`] if `scales.len() != m * kb`.
///
/// # Examples
/// ```
/// use lowp::layout::{cublas_1x128, cublas_1x128_inverse};
/// let s = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // m = 3, kb = 2
/// let t = cublas_1x128(&s, 3, 2).unwrap();
/// assert_eq!(t, vec![1.0, 3.0, 5.0, 0.0, 2.0, 4.0, 6.0, 0.0]);
/// assert_eq!(cublas_1x128_inverse(&t, 3, 2).unwrap(), s);
/// ```
pub fn cublas_1x128(scales: &[f32], m: usize, kb: usize) -> Result<Vec<f32>, Error> {
    if m.checked_mul(kb) != Some(scales.len()) {
        return Err(Error::Shape(format!("{} scales do not make a {m}x{kb} grid", scales.len())));
    }
    let mp = m.div_ceil(4) * 4;
    let mut out = vec![0f32; kb * mp];
    for i in 0..m {
        for k in 0..kb {
            out[k * mp + i] = scales[i * kb + k];
        }
    }
    Ok(out)
}

/// The inverse of [`cublas_1x128`].
///
/// # Errors
/// [`Error::Shape`] if the length is not `kb · roundup(m, 4)`.
pub fn cublas_1x128_inverse(t: &[f32], m: usize, kb: usize) -> Result<Vec<f32>, Error> {
    let mp = m.div_ceil(4) * 4;
    if t.len() != kb * mp {
        return Err(Error::Shape(format!("{} scales are not a cuBLAS 1x128 layout for {m}x{kb}", t.len())));
    }
    Ok((0..m * kb).map(|idx| t[(idx % kb) * mp + idx / kb]).collect())
}

/// 128×128 weight scales (`mb × kb`, row-major) in cuBLAS's layout: `mb ×
/// roundup(kb, 4)`, zero-padded.
///
/// # Errors
/// [`Error::Shape`] if `scales.len() != mb * kb`.
///
/// # Examples
/// ```
/// use lowp::layout::cublas_128x128;
/// assert_eq!(cublas_128x128(&[1.0, 2.0], 1, 2).unwrap(), vec![1.0, 2.0, 0.0, 0.0]);
/// ```
pub fn cublas_128x128(scales: &[f32], mb: usize, kb: usize) -> Result<Vec<f32>, Error> {
    if mb.checked_mul(kb) != Some(scales.len()) {
        return Err(Error::Shape(format!("{} scales do not make a {mb}x{kb} grid", scales.len())));
    }
    let kp = kb.div_ceil(4) * 4;
    let mut out = vec![0f32; mb * kp];
    for i in 0..mb {
        out[i * kp..i * kp + kb].copy_from_slice(&scales[i * kb..(i + 1) * kb]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The swizzle is a bijection from the padded grid onto its bytes, for many shapes.
    #[test]
    fn swizzle_is_a_bijection_and_roundtrips() {
        for (rows, cols) in [(1usize, 1usize), (5, 3), (128, 4), (129, 5), (256, 8), (300, 2)] {
            let (rp, cp) = (rows.div_ceil(128) * 128, cols.div_ceil(4) * 4);
            let mut seen = vec![false; rp * cp];
            for r in 0..rp {
                for c in 0..cp {
                    let o = swizzle_128x4_offset(r, c, cols);
                    assert!(!seen[o], "{rows}x{cols}: offset {o} twice");
                    seen[o] = true;
                }
            }
            let s: Vec<u8> = (0..rows * cols).map(|i| (i * 37 % 251) as u8 + 1).collect();
            let z = swizzle_128x4(&s, rows, cols).unwrap();
            assert_eq!(z.iter().filter(|&&b| b == 0).count(), rp * cp - rows * cols, "padding is zero");
            assert_eq!(unswizzle_128x4(&z, rows, cols).unwrap(), s);
        }
        assert!(swizzle_128x4(&[0; 5], 2, 3).is_err());
        assert!(unswizzle_128x4(&[0; 5], 2, 3).is_err());
    }

    #[test]
    fn cublas_layouts_roundtrip() {
        for (m, kb) in [(1usize, 1usize), (3, 2), (4, 4), (7, 9)] {
            let s: Vec<f32> = (0..m * kb).map(|i| i as f32 + 0.5).collect();
            let t = cublas_1x128(&s, m, kb).unwrap();
            assert_eq!(t.len(), kb * m.div_ceil(4) * 4);
            assert_eq!(cublas_1x128_inverse(&t, m, kb).unwrap(), s);
            let w = cublas_128x128(&s, m, kb).unwrap();
            assert_eq!(w.len(), m * kb.div_ceil(4) * 4);
        }
    }
}
