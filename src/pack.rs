//! Sub-byte packing for kernel layouts.
//!
//! * FP4: two codes per byte, element `2i` in the **low** nibble and `2i+1` in the
//!   high nibble (torchao `pack_uint4`, CUTLASS sub-byte arrays, `__nv_fp4x2_e2m1`).
//!   An odd-length input's last byte has a zero high nibble.
//! * FP6: four codes per three bytes as a little-endian bit stream, element 0 in the
//!   lowest six bits (CUTLASS sub-byte arrays: element 0 in the low bits). A length
//!   not divisible by four is zero-padded in the last group.

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

/// Packs 6-bit codes four per three bytes (element 0 in the lowest bits).
///
/// # Examples
/// ```
/// // 0x01, 0x02, 0x03, 0x3F -> bits 000001 000010 000011 111111 (element 0 lowest)
/// assert_eq!(lowp::pack::pack_fp6(&[0x01, 0x02, 0x03, 0x3F]), vec![0x81, 0x30, 0xFC]);
/// ```
pub fn pack_fp6(codes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(codes.len().div_ceil(4) * 3);
    for g in codes.chunks(4) {
        let mut w = 0u32;
        for (i, &c) in g.iter().enumerate() {
            w |= ((c & 0x3F) as u32) << (6 * i);
        }
        out.extend_from_slice(&w.to_le_bytes()[..3]);
    }
    out
}

/// Unpacks `n` 6-bit codes (the inverse of [`pack_fp6`]).
///
/// # Errors
/// [`crate::Error::LengthMismatch`] when `packed` holds fewer than `n` codes.
///
/// # Examples
/// ```
/// assert_eq!(lowp::pack::unpack_fp6(&[0x81, 0x30, 0xFC], 4).unwrap(), vec![0x01, 0x02, 0x03, 0x3F]);
/// ```
pub fn unpack_fp6(packed: &[u8], n: usize) -> Result<Vec<u8>, crate::Error> {
    if packed.len() < n.div_ceil(4) * 3 {
        return Err(crate::Error::LengthMismatch { expected: n.div_ceil(4) * 3, got: packed.len() });
    }
    Ok((0..n)
        .map(|i| {
            let g = &packed[(i / 4) * 3..(i / 4) * 3 + 3];
            let w = u32::from_le_bytes([g[0], g[1], g[2], 0]);
            ((w >> (6 * (i % 4))) & 0x3F) as u8
        })
        .collect())
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

    #[test]
    fn fp6_roundtrip_every_code_and_length() {
        for n in 0..13usize {
            let codes: Vec<u8> = (0..n).map(|i| (i * 29 % 64) as u8).collect();
            let p = super::pack_fp6(&codes);
            assert_eq!(p.len(), n.div_ceil(4) * 3);
            assert_eq!(super::unpack_fp6(&p, n).unwrap(), codes);
        }
        // every code in every slot
        for c in 0..64u8 {
            for slot in 0..4 {
                let mut g = [0u8; 4];
                g[slot] = c;
                assert_eq!(super::unpack_fp6(&super::pack_fp6(&g), 4).unwrap(), g);
            }
        }
        assert!(super::unpack_fp6(&[0, 0], 4).is_err());
    }
}
