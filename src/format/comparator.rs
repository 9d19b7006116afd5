//! Key ordering. Every key comparison in pages, index search, scans and
//! truncation goes through a `Comparator`; the default is bytewise.

use std::cmp::Ordering;
use std::sync::Arc;

/// A total order on keys, upstream's `Comparator`.
///
/// The order is not persisted: opening a store with a comparator other than
/// the one that wrote it silently breaks the tree, exactly as upstream.
pub trait Comparator: Send + Sync {
    /// Three-way comparison.
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering;

    /// A name for diagnostics.
    fn name(&self) -> &str;

    /// For `left < right`, the shortest key `k` with `left < k <= right`;
    /// it becomes the separator of a new page in its parent index page.
    /// Returning `right` itself is always correct.
    fn shortest_separator(&self, left: &[u8], right: &[u8]) -> Vec<u8> {
        let _ = left;
        right.to_vec()
    }

    /// LevelDB's `FindShortestSeparator(start*, limit)`: may shorten `start`
    /// to a key in `[start, limit)`.
    fn shorten_start(&self, start: &mut Vec<u8>, limit: &[u8]) {
        let _ = (start, limit);
    }

    /// LevelDB's `FindShortSuccessor`: may change `key` to a short key `>= key`.
    fn short_successor(&self, key: &mut Vec<u8>) {
        let _ = key;
    }
}

/// Unsigned byte-lexicographic order ("leveldb.BytewiseComparator").
#[derive(Clone, Copy, Debug, Default)]
pub struct BytewiseComparator;

impl Comparator for BytewiseComparator {
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        a.cmp(b)
    }

    fn name(&self) -> &str {
        "leveldb.BytewiseComparator"
    }

    fn shortest_separator(&self, left: &[u8], right: &[u8]) -> Vec<u8> {
        let diff = left.iter().zip(right).take_while(|(a, b)| a == b).count();
        // `left < right`, so `right` is longer than the common prefix.
        right.get(..diff + 1).unwrap_or(right).to_vec()
    }

    fn shorten_start(&self, start: &mut Vec<u8>, limit: &[u8]) {
        let diff = start.iter().zip(limit).take_while(|(a, b)| a == b).count();
        let (Some(byte), Some(&bound)) = (start.get_mut(diff), limit.get(diff)) else {
            return; // one is a prefix of the other
        };
        if *byte < 0xff && *byte + 1 < bound {
            *byte += 1;
            start.truncate(diff + 1);
        }
    }

    fn short_successor(&self, key: &mut Vec<u8>) {
        if let Some((i, b)) = key.iter_mut().enumerate().find(|(_, b)| **b != 0xff) {
            *b += 1;
            key.truncate(i + 1);
        }
    }
}

/// A shareable comparator handle, as kept in `KvOptions`.
pub type ComparatorRef = Arc<dyn Comparator>;

/// The process-wide default comparator.
pub fn default_comparator() -> ComparatorRef {
    Arc::new(BytewiseComparator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytewise_order_and_separators() {
        let c = BytewiseComparator;
        assert_eq!(c.compare(b"", b""), Ordering::Equal);
        assert_eq!(c.compare(b"", b"a"), Ordering::Less);
        assert_eq!(c.compare(b"ab", b"a"), Ordering::Greater);
        assert_eq!(c.compare(&[0xff], b"a"), Ordering::Greater);
        assert_eq!(c.shortest_separator(b"apple", b"apricot"), b"apr");
        assert_eq!(c.shortest_separator(b"ab", b"abc"), b"abc");
        assert_eq!(c.shortest_separator(b"", b"x"), b"x");
        let mut s = b"abcd".to_vec();
        c.shorten_start(&mut s, b"abzz");
        assert_eq!(s, b"abd");
        let mut s = b"abc".to_vec();
        c.shorten_start(&mut s, b"abcd");
        assert_eq!(s, b"abc");
        let mut k = vec![0xff, 0x01, 0x05];
        c.short_successor(&mut k);
        assert_eq!(k, [0xff, 0x02]);
        let mut k = vec![0xff, 0xff];
        c.short_successor(&mut k);
        assert_eq!(k, [0xff, 0xff]);
        assert_eq!(c.name(), "leveldb.BytewiseComparator");
    }
}
