//! Keys of the TTL tree: `BE64(expire_ts) ++ user_key`, so the tree orders
//! entries by expiry time first.

/// The TTL-tree key for a user key expiring at `expire_ts` (ms).
pub fn ttl_key(expire_ts: u64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len());
    k.extend_from_slice(&expire_ts.to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// Splits a TTL-tree key into (expire_ts, user key).
pub fn parse_ttl_key(k: &[u8]) -> Option<(u64, &[u8])> {
    let (ts, key) = k.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*ts), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_order() {
        let a = ttl_key(1000, b"zz");
        let b = ttl_key(1001, b"aa");
        assert!(a < b);
        assert_eq!(parse_ttl_key(&a), Some((1000, &b"zz"[..])));
        assert_eq!(parse_ttl_key(b"short"), None);
    }
}
