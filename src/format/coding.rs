//! Integer encodings used on disk: little-endian fixed-width integers,
//! LEB128 varints, sign-magnitude deltas and big-endian TTL prefixes.
//!
//! Decoders work on a byte cursor (`&mut &[u8]`) and return `None` on
//! truncation or over-long input, never panic.

/// Appends a little-endian u16.
pub fn put_fixed16(dst: &mut Vec<u8>, v: u16) {
    dst.extend_from_slice(&v.to_le_bytes());
}

/// Appends a little-endian u32.
pub fn put_fixed32(dst: &mut Vec<u8>, v: u32) {
    dst.extend_from_slice(&v.to_le_bytes());
}

/// Reads a little-endian u16 at `off`, `None` if out of bounds.
pub fn fixed16_at(buf: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(*buf.get(off..)?.first_chunk()?))
}

/// Reads a little-endian u32 at `off`, `None` if out of bounds.
pub fn fixed32_at(buf: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(*buf.get(off..)?.first_chunk()?))
}

/// Reads a little-endian u64 at `off`, `None` if out of bounds.
pub fn fixed64_at(buf: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*buf.get(off..)?.first_chunk()?))
}

/// Copies `bytes` to `buf` at `off`: the one unchecked write of the
/// encoders, which only write into buffers they sized themselves.
#[allow(clippy::indexing_slicing)] // room at `off` is the caller's contract
pub fn put_at(buf: &mut [u8], off: usize, bytes: &[u8]) {
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}

/// Writes a little-endian u16 at `off` (the caller guarantees room).
pub fn set_fixed16(buf: &mut [u8], off: usize, v: u16) {
    put_at(buf, off, &v.to_le_bytes());
}

/// Writes a little-endian u32 at `off` (the caller guarantees room).
pub fn set_fixed32(buf: &mut [u8], off: usize, v: u32) {
    put_at(buf, off, &v.to_le_bytes());
}

/// Writes a little-endian u64 at `off` (the caller guarantees room).
pub fn set_fixed64(buf: &mut [u8], off: usize, v: u64) {
    put_at(buf, off, &v.to_le_bytes());
}

/// Takes a little-endian u32 from the front of the cursor.
pub fn get_fixed32(src: &mut &[u8]) -> Option<u32> {
    let (v, rest) = src.split_first_chunk()?;
    *src = rest;
    Some(u32::from_le_bytes(*v))
}

/// Number of bytes the varint encoding of `v` takes.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Appends the minimal LEB128 encoding of `v`.
pub fn put_varint64(dst: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        dst.push((v as u8) | 0x80);
        v >>= 7;
    }
    dst.push(v as u8);
}

/// Appends the minimal LEB128 encoding of a u32.
pub fn put_varint32(dst: &mut Vec<u8>, v: u32) {
    put_varint64(dst, v as u64);
}

fn get_varint(src: &mut &[u8], max_bytes: usize) -> Option<u64> {
    let mut result: u64 = 0;
    for (i, &b) in src.iter().take(max_bytes).enumerate() {
        result |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            *src = src.get(i + 1..)?;
            return Some(result);
        }
    }
    None
}

/// Takes a varint32 (at most 5 bytes, as upstream accepts) from the cursor.
/// Bits above 32 in the fifth byte are dropped, as upstream does.
pub fn get_varint32(src: &mut &[u8]) -> Option<u32> {
    get_varint(src, 5).map(|v| v as u32)
}

/// Takes a varint64 (at most 10 bytes) from the cursor.
pub fn get_varint64(src: &mut &[u8]) -> Option<u64> {
    get_varint(src, 10)
}

/// Sign-magnitude delta (sign in bit 0), upstream's `EncodeInt64Delta`.
/// Not zigzag: `-1` encodes as 3.
pub fn encode_i64_delta(d: i64) -> u64 {
    if d >= 0 {
        (d as u64) << 1
    } else {
        (d.unsigned_abs() << 1) | 1
    }
}

/// Inverse of [`encode_i64_delta`] (`1` decodes to 0, as upstream).
pub fn decode_i64_delta(v: u64) -> i64 {
    let mag = (v >> 1) as i64;
    if v & 1 == 1 { mag.wrapping_neg() } else { mag }
}

/// Sign-magnitude delta for 32-bit page ids, upstream's `EncodeInt32Delta`.
pub fn encode_i32_delta(d: i32) -> u32 {
    if d >= 0 {
        (d as u32) << 1
    } else {
        (d.unsigned_abs() << 1) | 1
    }
}

/// Inverse of [`encode_i32_delta`].
pub fn decode_i32_delta(v: u32) -> i32 {
    let mag = (v >> 1) as i32;
    if v & 1 == 1 { mag.wrapping_neg() } else { mag }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: u64) -> Vec<u8> {
        let mut b = Vec::new();
        put_varint64(&mut b, v);
        b
    }

    #[test]
    fn varint_vectors_from_spec() {
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(200), [0xc8, 0x01]);
        assert_eq!(enc(1_700_000_000_000), [0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31]);
        assert_eq!(
            enc(0xFFFF_FFFF_FFFF_FFFE),
            [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let b = enc(v);
            assert_eq!(b.len(), varint_len(v));
            let mut s = &b[..];
            assert_eq!(get_varint64(&mut s), Some(v));
            assert!(s.is_empty());
        }
    }

    #[test]
    fn varint_truncation_and_overlong() {
        let mut s: &[u8] = &[0x80, 0x80];
        assert_eq!(get_varint64(&mut s), None);
        let mut s: &[u8] = &[0x80; 6];
        assert_eq!(get_varint32(&mut s), None);
        let mut s: &[u8] = &[0x80; 11];
        assert_eq!(get_varint64(&mut s), None);
        let mut s: &[u8] = &[];
        assert_eq!(get_varint32(&mut s), None);
    }

    #[test]
    fn delta_is_sign_magnitude_not_zigzag() {
        assert_eq!(encode_i64_delta(-1), 3);
        assert_eq!(encode_i64_delta(-15), 31);
        assert_eq!(encode_i64_delta(5), 10);
        assert_eq!(encode_i64_delta(100), 200);
        assert_eq!(decode_i64_delta(1), 0);
        assert_eq!(encode_i32_delta(-1), 3);
        for d in [0i64, 1, -1, 12345, -12345, i64::MAX, i64::MIN + 1] {
            assert_eq!(decode_i64_delta(encode_i64_delta(d)), d);
        }
        for d in [0i32, 7, -7, i32::MAX, i32::MIN + 1] {
            assert_eq!(decode_i32_delta(encode_i32_delta(d)), d);
        }
    }

    #[test]
    fn fixed_width_bounds() {
        let b = [1u8, 2, 3];
        assert_eq!(fixed16_at(&b, 1), Some(0x0302));
        assert_eq!(fixed16_at(&b, 2), None);
        assert_eq!(fixed32_at(&b, 0), None);
        assert_eq!(fixed64_at(&b, usize::MAX), None);
    }
}
