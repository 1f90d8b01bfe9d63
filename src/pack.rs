//! Sub-byte packing for kernel layouts. So far FP4: two codes per byte, element
//! `2i` in the **low** nibble and `2i+1` in the high nibble (torchao `pack_uint4`,
//! CUTLASS sub-byte arrays, `__nv_fp4x2_e2m1`). An odd-length input's last byte has
//! a zero high nibble.

/// Packs 4-bit codes two per byte, low nibble first.
///
/// # Examples
/// ```
/// assert_eq!(lowp::pack::pack_fp4(&[0x1, 0x2, 0xF]), vec![0x21, 0x0F]);
/// ```
pub fn pack_fp4(codes: &[u8]) -> Vec<u8> {
    codes.chunks(2).map(|p| (p[0] & 0xF) | (p.get(1).copied().unwrap_or(0) & 0xF) << 4).collect()
}

/// Unpacks `n` 4-bit codes (the inverse of [`pack_fp4`]).
///
/// # Errors
/// [`crate::Error::LengthMismatch`] when `packed` holds fewer than `n` codes.
///
/// # Examples
/// ```
/// assert_eq!(lowp::pack::unpack_fp4(&[0x21, 0x0F], 3).unwrap(), vec![0x1, 0x2, 0xF]);
/// ```
pub fn unpack_fp4(packed: &[u8], n: usize) -> Result<Vec<u8>, crate::Error> {
    if packed.len() * 2 < n {
        return Err(crate::Error::LengthMismatch { expected: n.div_ceil(2), got: packed.len() });
    }
    Ok((0..n).map(|i| (packed[i / 2] >> (4 * (i % 2))) & 0xF).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn fp4_roundtrip_every_byte_and_length() {
        for n in 0..9 {
            let codes: Vec<u8> = (0..n).map(|i| (i * 7 % 16) as u8).collect();
            assert_eq!(super::unpack_fp4(&super::pack_fp4(&codes), n).unwrap(), codes);
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(super::pack_fp4(&super::unpack_fp4(&all, 512).unwrap()), all);
    }
}
