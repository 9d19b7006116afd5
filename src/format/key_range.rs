//! The key range a B+tree page must keep to: `[lo, hi)` from the separators
//! on the path above it. A page checksum does not cover the page's place in
//! the tree, so a swapped or stale page reads as valid; comparing its first
//! and last key with this range is what catches it.

use super::comparator::Comparator;
use crate::error::{Error, Result};

/// `[lo, hi)`; `None` is open. The buffers are reused as a descent narrows
/// the range, so a lookup allocates at most two.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyRange {
    pub lo: Option<Vec<u8>>,
    pub hi: Option<Vec<u8>>,
}

fn set(slot: &mut Option<Vec<u8>>, key: &[u8]) {
    match slot {
        Some(v) => {
            v.clear();
            v.extend_from_slice(key);
        }
        None => *slot = Some(key.to_vec()),
    }
}

impl KeyRange {
    /// The whole key space (a root's range).
    pub fn full() -> KeyRange {
        KeyRange::default()
    }

    pub fn new(lo: Option<&[u8]>, hi: Option<&[u8]>) -> KeyRange {
        KeyRange {
            lo: lo.map(<[u8]>::to_vec),
            hi: hi.map(<[u8]>::to_vec),
        }
    }

    pub fn lo(&self) -> Option<&[u8]> {
        self.lo.as_deref()
    }

    pub fn hi(&self) -> Option<&[u8]> {
        self.hi.as_deref()
    }

    pub fn set_lo(&mut self, key: &[u8]) {
        set(&mut self.lo, key);
    }

    pub fn set_hi(&mut self, key: &[u8]) {
        set(&mut self.hi, key);
    }

    /// Whether the range bounds anything.
    pub fn is_full(&self) -> bool {
        self.lo.is_none() && self.hi.is_none()
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn contains(&self, key: &[u8], cmp: &dyn Comparator) -> bool {
        self.lo().is_none_or(|lo| cmp.compare(key, lo).is_ge())
            && self.hi().is_none_or(|hi| cmp.compare(key, hi).is_lt())
    }

    /// Checks that a page holding keys from `first` to `last` fits in the
    /// range; `Corrupted` otherwise.
    pub fn check_span(&self, first: &[u8], last: &[u8], cmp: &dyn Comparator) -> Result<()> {
        check_bounds(self.lo(), self.hi(), first, last, cmp)
    }
}

/// [`KeyRange::check_span`] over borrowed bounds `[lo, hi)` (`None` open).
pub fn check_bounds(
    lo: Option<&[u8]>,
    hi: Option<&[u8]>,
    first: &[u8],
    last: &[u8],
    cmp: &dyn Comparator,
) -> Result<()> {
    if let Some(lo) = lo
        && cmp.compare(first, lo).is_lt()
    {
        return Err(misplaced("first", first, Some(lo), hi));
    }
    if let Some(h) = hi
        && cmp.compare(last, h).is_ge()
    {
        return Err(misplaced("last", last, lo, Some(h)));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(2 * bytes.len().min(32) + 3);
    for b in bytes.iter().take(32) {
        let _ = write!(s, "{b:02x}");
    }
    if bytes.len() > 32 {
        s.push_str("...");
    }
    s
}

fn misplaced(which: &str, key: &[u8], lo: Option<&[u8]>, hi: Option<&[u8]>) -> Error {
    let bound = |b: Option<&[u8]>| b.map_or("open".to_string(), hex);
    Error::corrupted(format!(
        "page is misplaced: its {which} key {} lies outside the range [{}, {}) its parent gives it",
        hex(key),
        bound(lo),
        bound(hi)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::comparator::BytewiseComparator;

    #[test]
    fn spans_inside_and_outside() {
        let c = BytewiseComparator;
        let r = KeyRange::new(Some(b"b"), Some(b"d"));
        assert!(r.check_span(b"b", b"cz", &c).is_ok());
        assert!(r.check_span(b"a", b"c", &c).is_err());
        assert!(r.check_span(b"b", b"d", &c).is_err());
        assert!(KeyRange::full().check_span(b"", b"\xff", &c).is_ok());
        let mut r = KeyRange::full();
        r.set_lo(b"x");
        r.set_lo(b"k");
        assert_eq!(r.lo(), Some(&b"k"[..]));
        assert!(r.contains(b"k", &c) && !r.contains(b"j", &c));
        let e = r.check_span(b"a", b"z", &c).unwrap_err();
        assert!(e.message().contains("first key 61"), "{e}");
    }
}
