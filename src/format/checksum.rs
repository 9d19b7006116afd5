//! Checksums: XXH3-64 over a page, and the chunked XXH3 of manifest records.

use xxhash_rust::xxh3::xxh3_64;

/// Bytes at the start of every page and manifest record holding the checksum.
pub const CHECKSUM_BYTES: usize = 8;

/// Multiplier upstream folds every manifest chunk hash with.
const MANIFEST_MIX: u64 = 0x9e37_79b9_7f4a_7c15;
/// Manifest content is hashed in chunks of this size.
const MANIFEST_CHUNK: usize = 1 << 20;

/// The checksum a page should carry: XXH3-64 of everything after the
/// checksum field, padding included (of nothing for a shorter buffer).
pub fn page_checksum(page: &[u8]) -> u64 {
    xxh3_64(page.get(CHECKSUM_BYTES..).unwrap_or_default())
}

/// Stores the checksum of `page` in its first eight bytes (a buffer too
/// short to hold them is left as is: it can never verify).
pub fn set_page_checksum(page: &mut [u8]) {
    if let Some((stored, body)) = page.split_first_chunk_mut::<CHECKSUM_BYTES>() {
        *stored = xxh3_64(body).to_le_bytes();
    }
}

/// The checksum stored in the page's first eight bytes (0 if it has none).
pub fn stored_checksum(page: &[u8]) -> u64 {
    page.first_chunk().map_or(0, |b| u64::from_le_bytes(*b))
}

/// Whether the stored checksum matches the content.
pub fn verify_page_checksum(page: &[u8]) -> bool {
    match page.split_first_chunk::<CHECKSUM_BYTES>() {
        Some((stored, body)) if !body.is_empty() => u64::from_le_bytes(*stored) == xxh3_64(body),
        _ => false,
    }
}

/// Upstream's manifest record checksum: XXH3 of each 1 MiB chunk folded with
/// a rotate, xor and multiply, so large snapshots hash chunk by chunk.
pub fn manifest_checksum(content: &[u8]) -> u64 {
    content.chunks(MANIFEST_CHUNK).fold(0u64, |agg, chunk| {
        (agg.rotate_left(1) ^ xxh3_64(chunk)).wrapping_mul(MANIFEST_MIX)
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn xxh3_sanity_vectors() {
        assert_eq!(xxh3_64(b""), 0x2d06800538d394c2);
        assert_eq!(xxh3_64(b"a"), 0xe6c632b61e964e1f);
    }

    #[test]
    fn manifest_checksum_single_chunk_is_scaled_xxh3() {
        let data = b"some manifest content";
        assert_eq!(
            manifest_checksum(data),
            xxh3_64(data).wrapping_mul(MANIFEST_MIX)
        );
    }

    #[test]
    fn manifest_checksum_chunks() {
        let data = vec![7u8; MANIFEST_CHUNK + 10];
        let first = xxh3_64(&data[..MANIFEST_CHUNK]).wrapping_mul(MANIFEST_MIX);
        let want =
            (first.rotate_left(1) ^ xxh3_64(&data[MANIFEST_CHUNK..])).wrapping_mul(MANIFEST_MIX);
        assert_eq!(manifest_checksum(&data), want);
    }

    #[test]
    fn page_checksum_roundtrip() {
        let mut page = vec![0u8; 4096];
        page[8] = 2;
        set_page_checksum(&mut page);
        assert!(verify_page_checksum(&page));
        page[100] ^= 1;
        assert!(!verify_page_checksum(&page));
    }
}
