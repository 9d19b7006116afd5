//! Index pages (types 0 and 1): a leftmost child pointer followed by
//! prefix-compressed `(separator key, child id)` entries in restart regions.
//! A `LeafIndex` page points at data pages, a `NonLeafIndex` page at index
//! pages.

use std::cmp::Ordering;

use super::coding::{
    decode_i32_delta, encode_i32_delta, fixed32_at, get_varint32, put_at, put_varint32,
    set_fixed32, varint_len,
};
use super::comparator::Comparator;
use super::key_range::KeyRange;
use super::page::{AlignedBuf, PAGE_TYPE_OFFSET, PageId, PageType};
use super::restarts::Restarts;
use crate::error::{Error, Result};

const LEFTMOST_OFFSET: usize = 11;
/// Size of the index page header; the first keyed entry starts here.
pub const INDEX_HEADER_SIZE: usize = 15;

/// Validated view of an index page.
#[derive(Clone, Copy, Debug)]
pub struct IndexPage<'a> {
    page: &'a [u8],
    restarts: Restarts,
    leaf: bool,
}

impl<'a> IndexPage<'a> {
    pub fn parse(page: &'a [u8]) -> Result<IndexPage<'a>> {
        let leaf = match page.get(PAGE_TYPE_OFFSET).copied() {
            Some(t) if t == PageType::LeafIndex as u8 => true,
            Some(t) if t == PageType::NonLeafIndex as u8 => false,
            _ => return Err(Error::corrupted("not an index page")),
        };
        let restarts = Restarts::parse(page, "index", INDEX_HEADER_SIZE, true)?;
        let p = IndexPage {
            page,
            restarts,
            leaf,
        };
        Ok(p)
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn bytes(&self) -> &'a [u8] {
        self.page
    }

    /// What parsing found out about the page, to view the same bytes again
    /// later without validating them twice (see [`IndexPage::reopen`]).
    pub fn parts(&self) -> IndexParts {
        IndexParts {
            restarts: self.restarts,
            leaf: self.leaf,
        }
    }

    /// The view `parse` gave for these very bytes, from its [`parts`].
    /// The bytes must be the ones `parts` came from (an immutable page
    /// buffer held by the caller); other bytes can make accessors panic.
    ///
    /// [`parts`]: IndexPage::parts
    pub fn reopen(page: &'a [u8], parts: IndexParts) -> IndexPage<'a> {
        debug_assert!(IndexPage::parse(page).is_ok_and(|p| p.parts() == parts));
        IndexPage {
            page,
            restarts: parts.restarts,
            leaf: parts.leaf,
        }
    }

    /// An iterator resuming where [`IndexPageIter::into_state`] left one
    /// over the same page.
    pub fn iter_at(&self, st: IndexIterState) -> IndexPageIter<'a> {
        IndexPageIter {
            page: *self,
            offset: st.offset,
            region: st.region,
            key: st.key,
            child: st.child,
            is_restart: st.is_restart,
        }
    }

    /// An iterator positioned before the first entry of restart region
    /// `region` (`< num_restarts`), reusing `key`'s allocation.
    pub fn iter_region(&self, region: usize, mut key: Vec<u8>) -> IndexPageIter<'a> {
        key.clear();
        IndexPageIter {
            page: *self,
            offset: self.restart(region),
            region,
            key,
            child: 0,
            is_restart: false,
        }
    }

    /// The last restart region whose first key is `<= key`, or `None`
    /// when every separator is above `key` (or the page has none).
    pub fn region_at_most(&self, key: &[u8], cmp: &dyn Comparator) -> Result<Option<usize>> {
        Ok(self.regions_at_most(key, cmp)?.checked_sub(1))
    }

    /// Whether the children are data pages.
    pub fn is_leaf_index(&self) -> bool {
        self.leaf
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn page_type(&self) -> PageType {
        if self.leaf {
            PageType::LeafIndex
        } else {
            PageType::NonLeafIndex
        }
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn content_len(&self) -> usize {
        self.restarts.content_len()
    }

    pub fn leftmost(&self) -> PageId {
        fixed32_at(self.page, LEFTMOST_OFFSET).expect("header validated")
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn num_restarts(&self) -> usize {
        self.restarts.count
    }

    fn restart(&self, i: usize) -> usize {
        self.restarts.point(self.page, i)
    }

    pub fn iter(&self) -> IndexPageIter<'a> {
        IndexPageIter {
            page: *self,
            offset: INDEX_HEADER_SIZE,
            region: 0,
            key: Vec::new(),
            child: 0,
            is_restart: false,
        }
    }

    /// The keyed entries, in order (the leftmost pointer is not included).
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, PageId)>> {
        let mut it = self.iter();
        let mut out = Vec::new();
        while it.next()? {
            out.push((it.key().to_vec(), it.child()));
        }
        Ok(out)
    }

    /// Every child id: the leftmost pointer then each entry's.
    #[cfg(any(test, feature = "internals"))]
    pub fn children(&self) -> Result<Vec<PageId>> {
        let mut out = vec![self.leftmost()];
        let mut it = self.iter();
        while it.next()? {
            out.push(it.child());
        }
        Ok(out)
    }

    /// How many restart regions start at a key `<= key`.
    fn regions_at_most(&self, key: &[u8], cmp: &dyn Comparator) -> Result<usize> {
        self.restarts
            .regions_at_most(key, cmp, |i| self.restart_key(i))
    }

    fn restart_key(&self, i: usize) -> Result<&'a [u8]> {
        self.restarts.whole_key(self.page, "index", i, |off| {
            let (shared, key, _) = decode_index_header(self.page, off, self.restarts.off)?;
            Ok((shared, key))
        })
    }

    /// The child whose key range holds `key`: the entry with the greatest
    /// key `<= key`, or the leftmost child when `key` is below every entry.
    #[cfg(any(test, feature = "internals"))]
    pub fn find_child(&self, key: &[u8], cmp: &dyn Comparator) -> Result<PageId> {
        // Last region whose restart key is <= key.
        let lo = self.regions_at_most(key, cmp)?;
        if lo == 0 {
            return Ok(self.leftmost());
        }
        let region = lo - 1;
        let limit = self.restarts.region_end(self.page, region);
        let mut it = self.iter_region(region, Vec::new());
        let mut child = None;
        while it.offset < limit && it.next()? {
            if cmp.compare(it.key(), key) == Ordering::Greater {
                break;
            }
            child = Some(it.child());
        }
        child
            .ok_or_else(|| Error::corrupted("index page region has no entry below its restart key"))
    }
}

impl<'a> IndexPage<'a> {
    /// The first separator key, if the page has keyed entries (a restart
    /// entry's key is stored whole).
    pub fn first_key(&self) -> Result<Option<&'a [u8]>> {
        if self.restarts.count == 0 {
            return Ok(None);
        }
        self.restart_key(0).map(Some)
    }

    /// Checks that the page's separator keys lie in `range` (the first and
    /// the last; only the last restart region is decoded). A page with only
    /// its leftmost pointer has nothing to check.
    pub fn check_range(&self, range: &KeyRange, cmp: &dyn Comparator) -> Result<()> {
        if range.is_full() {
            return Ok(());
        }
        let Some(first) = self.first_key()? else {
            return Ok(());
        };
        let mut it = self.iter_region(self.restarts.count - 1, Vec::new());
        while it.next()? {}
        range.check_span(first, &it.key, cmp)
    }

    /// `find_child`, narrowing `range` from this page's range to the
    /// child's: the separators on either side of the child's pointer.
    pub fn find_child_in(
        &self,
        key: &[u8],
        cmp: &dyn Comparator,
        range: &mut KeyRange,
    ) -> Result<PageId> {
        let lo = self.regions_at_most(key, cmp)?;
        if lo == 0 {
            if let Some(first) = self.first_key()? {
                range.set_hi(first);
            }
            return Ok(self.leftmost());
        }
        let mut it = self.iter_region(lo - 1, Vec::new());
        let mut child = None;
        // Walks on past the region's end if needed: the entry after the
        // chosen one bounds the child from above.
        while it.next()? {
            if cmp.compare(it.key(), key) == Ordering::Greater {
                range.set_hi(it.key());
                break;
            }
            range.set_lo(it.key());
            child = Some(it.child());
        }
        child
            .ok_or_else(|| Error::corrupted("index page region has no entry below its restart key"))
    }
}

/// The entry at `off` split into its shared prefix length, the key bytes
/// after that prefix, and the bytes after them up to `limit` (the child id
/// and the following entries).
fn decode_index_header(page: &[u8], off: usize, limit: usize) -> Result<(usize, &[u8], &[u8])> {
    let bad = || Error::corrupted(format!("index page entry at offset {off} is malformed"));
    let mut cur = page.get(off..limit).ok_or_else(bad)?;
    let shared = get_varint32(&mut cur).ok_or_else(bad)? as usize;
    let non_shared = get_varint32(&mut cur).ok_or_else(bad)? as usize;
    let (key, rest) = cur.split_at_checked(non_shared).ok_or_else(bad)?;
    Ok((shared, key, rest))
}

/// See [`IndexPage::parts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexParts {
    restarts: Restarts,
    leaf: bool,
}

/// An [`IndexPageIter`] detached from its page, to resume later.
#[derive(Clone, Debug, Default)]
pub struct IndexIterState {
    offset: usize,
    region: usize,
    key: Vec<u8>,
    child: PageId,
    is_restart: bool,
}

impl IndexIterState {
    /// The key of the entry the iterator was on.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn child(&self) -> PageId {
        self.child
    }
}

/// Cursor over the keyed entries of an index page.
#[derive(Clone, Debug)]
pub struct IndexPageIter<'a> {
    page: IndexPage<'a>,
    offset: usize,
    region: usize,
    key: Vec<u8>,
    child: PageId,
    is_restart: bool,
}

impl IndexPageIter<'_> {
    /// Detaches the iterator's position from the page.
    pub fn into_state(self) -> IndexIterState {
        IndexIterState {
            offset: self.offset,
            region: self.region,
            key: self.key,
            child: self.child,
            is_restart: self.is_restart,
        }
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn child(&self) -> PageId {
        self.child
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn is_restart(&self) -> bool {
        self.is_restart
    }

    /// Moves to the next keyed entry; `Ok(false)` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<bool> {
        if self.offset >= self.page.restarts.off {
            return Ok(false);
        }
        let off = self.offset;
        let restart = self
            .page
            .restarts
            .opens_region(self.page.page, self.region, off);
        let (shared, key, mut cur) =
            decode_index_header(self.page.page, off, self.page.restarts.off)?;
        let bad =
            |what: &str| Error::corrupted(format!("index page entry at offset {off}: {what}"));
        if (restart && shared != 0) || shared > self.key.len() {
            return Err(bad("invalid shared key prefix"));
        }
        self.key.truncate(shared);
        self.key.extend_from_slice(key);
        let delta =
            decode_i32_delta(get_varint32(&mut cur).ok_or_else(|| bad("truncated child id"))?);
        self.child = if restart {
            delta as u32
        } else {
            (self.child as i32).wrapping_add(delta) as u32
        };
        self.is_restart = restart;
        // `cur` ends at the restart array.
        self.offset = self.page.restarts.off - cur.len();
        self.region = self.page.restarts.region_after(
            self.page.page,
            "index",
            self.region,
            off,
            self.offset,
        )?;
        Ok(true)
    }
}

/// Builds index pages exactly as upstream's `IndexPageBuilder`.
#[derive(Clone, Debug)]
pub struct IndexPageBuilder {
    page_size: usize,
    restart_interval: usize,
    buf: Vec<u8>,
    restarts: Vec<u16>,
    counter: usize,
    /// Pointers added, the leftmost included.
    count: usize,
    last_key: Vec<u8>,
    last_child: i32,
}

impl IndexPageBuilder {
    pub fn new(page_size: usize, restart_interval: usize) -> IndexPageBuilder {
        let mut b = IndexPageBuilder {
            page_size,
            restart_interval: restart_interval.max(1),
            buf: Vec::with_capacity(page_size),
            restarts: Vec::new(),
            counter: 0,
            count: 0,
            last_key: Vec::new(),
            last_child: 0,
        };
        b.reset();
        b
    }

    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf.resize(INDEX_HEADER_SIZE, 0);
        self.restarts.clear();
        self.restarts.push(INDEX_HEADER_SIZE as u16);
        self.counter = 0;
        self.count = 0;
        self.last_key.clear();
        self.last_child = 0;
    }

    /// True until the leftmost pointer is set.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Pointers added so far, the leftmost included.
    #[cfg(any(test, feature = "internals"))]
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn current_size(&self) -> usize {
        self.buf.len() + 2 * self.restarts.len() + 2
    }

    /// Sets the leftmost child and the page type; must come first.
    pub fn add_leftmost(&mut self, child: PageId, leaf_index: bool) {
        debug_assert!(self.is_empty());
        let page_type = if leaf_index {
            PageType::LeafIndex
        } else {
            PageType::NonLeafIndex
        };
        put_at(&mut self.buf, PAGE_TYPE_OFFSET, &[page_type as u8]);
        set_fixed32(&mut self.buf, LEFTMOST_OFFSET, child);
        self.count = 1;
    }

    fn entry_size(&self, key: &[u8], child: PageId, restart: bool) -> (usize, usize, u32) {
        let (shared, last_child, extra) = if restart {
            (0, 0, 2)
        } else {
            let shared = self
                .last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count();
            (shared, self.last_child, 0)
        };
        let delta = encode_i32_delta((child as i32).wrapping_sub(last_child));
        let non_shared = key.len() - shared;
        let size = extra
            + varint_len(shared as u64)
            + varint_len(non_shared as u64)
            + non_shared
            + varint_len(delta as u64);
        (size, shared, delta)
    }

    /// Adds a keyed entry after the leftmost pointer; false if it does not
    /// fit (the builder is unchanged then).
    pub fn add(&mut self, key: &[u8], child: PageId) -> bool {
        let restart = self.counter >= self.restart_interval;
        self.add_inner(key, child, restart)
    }

    /// Adds a keyed entry that opens a new restart region.
    #[cfg(any(test, feature = "internals"))]
    pub fn add_restart(&mut self, key: &[u8], child: PageId) -> bool {
        let restart = self.count > 1;
        self.add_inner(key, child, restart)
    }

    fn add_inner(&mut self, key: &[u8], child: PageId, restart: bool) -> bool {
        debug_assert!(!self.is_empty(), "leftmost pointer first");
        let (size, shared, delta) = self.entry_size(key, child, restart);
        // `shared` is a common prefix of the last key and this one.
        let Some(suffix) = key.get(shared..) else {
            return false;
        };
        if self.current_size() + size > self.page_size {
            return false;
        }
        if restart {
            self.restarts.push(self.buf.len() as u16);
            self.counter = 0;
        }
        put_varint32(&mut self.buf, shared as u32);
        put_varint32(&mut self.buf, suffix.len() as u32);
        self.buf.extend_from_slice(suffix);
        put_varint32(&mut self.buf, delta);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(suffix);
        self.last_child = child as i32;
        self.counter += 1;
        self.count += 1;
        true
    }

    /// Finishes into a zero-padded page-size buffer (no checksum) and resets.
    pub fn finish(&mut self) -> AlignedBuf {
        let mut page = super::restarts::page_buffer(self.page_size);
        self.finish_into(&mut page);
        page
    }

    pub fn finish_into(&mut self, page: &mut [u8]) {
        if self.count <= 1 {
            self.restarts.clear();
        }
        super::restarts::finish_content(&mut self.buf, &self.restarts, page, self.page_size);
        self.reset();
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::format::checksum::set_page_checksum;
    use crate::format::coding::set_fixed16;
    use crate::format::comparator::BytewiseComparator;

    #[test]
    fn spec_examples() {
        let mut b = IndexPageBuilder::new(4096, 16);
        b.add_leftmost(0, true);
        let mut page = b.finish();
        set_page_checksum(&mut page);
        assert_eq!(
            &page[..17],
            &[
                0x70, 0x99, 0x8a, 0xaa, 0xde, 0x35, 0xd9, 0x8a, 0x01, 0x11, 0x00, 0, 0, 0, 0, 0, 0
            ]
        );
        let p = IndexPage::parse(&page).unwrap();
        assert_eq!(p.find_child(b"anything", &BytewiseComparator).unwrap(), 0);

        let mut b = IndexPageBuilder::new(4096, 16);
        b.add_leftmost(7, false);
        assert!(b.add(b"b", 3));
        assert!(b.add(b"bc", 9));
        let page = b.finish();
        assert_eq!(
            &page[8..0x1b],
            &[
                0x00, 0x1b, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x01, 0x62, 0x06, 0x01, 0x01, 0x63,
                0x0c, 0x0f, 0x00, 0x01, 0x00
            ]
        );
        let p = IndexPage::parse(&page).unwrap();
        assert!(!p.is_leaf_index());
        let c = BytewiseComparator;
        assert_eq!(p.find_child(b"a", &c).unwrap(), 7);
        assert_eq!(p.find_child(b"b", &c).unwrap(), 3);
        assert_eq!(p.find_child(b"bb", &c).unwrap(), 3);
        assert_eq!(p.find_child(b"bc", &c).unwrap(), 9);
        assert_eq!(p.find_child(b"z", &c).unwrap(), 9);
        assert_eq!(p.children().unwrap(), [7, 3, 9]);
    }

    #[test]
    fn find_child_across_regions() {
        let mut b = IndexPageBuilder::new(4096, 4);
        b.add_leftmost(1000, true);
        for i in 0..50u32 {
            assert!(b.add(format!("k{:03}", i * 2).as_bytes(), 500 - i));
        }
        let page = b.finish();
        let p = IndexPage::parse(&page).unwrap();
        assert_eq!(p.num_restarts(), 13);
        let c = BytewiseComparator;
        assert_eq!(p.find_child(b"a", &c).unwrap(), 1000);
        for i in 0..50u32 {
            assert_eq!(
                p.find_child(format!("k{:03}", i * 2).as_bytes(), &c)
                    .unwrap(),
                500 - i
            );
            assert_eq!(
                p.find_child(format!("k{:03}", i * 2 + 1).as_bytes(), &c)
                    .unwrap(),
                500 - i
            );
        }
        let entries = p.entries().unwrap();
        let mut r = IndexPageBuilder::new(4096, 4);
        r.add_leftmost(p.leftmost(), true);
        for (k, c) in &entries {
            assert!(r.add(k, *c));
        }
        assert_eq!(&r.finish()[..], &page[..]);
    }

    /// A restart point inside an entry (found by fuzzing): the entry after
    /// it was decoded with a child id relative to the previous one. It
    /// must be `Corrupted`.
    #[test]
    fn restart_point_inside_an_entry_is_corrupted() {
        let mut b = IndexPageBuilder::new(4096, 2);
        b.add_leftmost(1, true);
        for (i, k) in [b"k1", b"k2", b"k3", b"k4"].iter().enumerate() {
            assert!(b.add(*k, 100 + i as u32));
        }
        let mut page = b.finish();
        let p = IndexPage::parse(&page).unwrap();
        assert_eq!(p.num_restarts(), 2);
        let second = p.restart(1);
        let array = p.content_len() - 2 - 2 * p.num_restarts();
        // Restart point 1 moved two bytes back, into entry 1.
        set_fixed16(&mut page, array + 2, (second - 2) as u16);
        let p = IndexPage::parse(&page).unwrap();
        let err = p.entries().unwrap_err();
        assert_eq!(err.code(), crate::error::KvError::Corrupted, "{err}");
        assert!(p.children().is_err());
    }

    #[test]
    fn find_child_in_narrows_the_range() {
        let c = BytewiseComparator;
        let mut b = IndexPageBuilder::new(4096, 4);
        b.add_leftmost(1000, true);
        for i in 0..50u32 {
            assert!(b.add(format!("k{:03}", i * 2).as_bytes(), i));
        }
        let page = b.finish();
        let p = IndexPage::parse(&page).unwrap();
        let outer = KeyRange::new(Some(b"a"), Some(b"z"));
        p.check_range(&outer, &c).unwrap();
        assert!(
            p.check_range(&KeyRange::new(Some(b"k001"), None), &c)
                .is_err()
        );
        assert!(
            p.check_range(&KeyRange::new(None, Some(b"k098")), &c)
                .is_err()
        );
        // (search key, child, range low, range high)
        type Case = (
            &'static [u8],
            u32,
            Option<&'static [u8]>,
            Option<&'static [u8]>,
        );
        let cases: [Case; 6] = [
            (b"b", 1000, Some(b"a"), Some(b"k000")),
            (b"k000", 0, Some(b"k000"), Some(b"k002")),
            (b"k007", 3, Some(b"k006"), Some(b"k008")),
            // Last entry of a region: the next region's first bounds it.
            (b"k015", 7, Some(b"k014"), Some(b"k016")),
            (b"k098", 49, Some(b"k098"), Some(b"z")),
            (b"k099", 49, Some(b"k098"), Some(b"z")),
        ];
        for (key, child, lo, hi) in cases {
            let mut r = outer.clone();
            assert_eq!(p.find_child_in(key, &c, &mut r).unwrap(), child);
            assert_eq!(p.find_child(key, &c).unwrap(), child);
            assert_eq!((r.lo(), r.hi()), (lo, hi), "{key:?}");
        }
        // A page with only its leftmost pointer keeps the range.
        let mut b = IndexPageBuilder::new(4096, 4);
        b.add_leftmost(5, true);
        let page = b.finish();
        let p = IndexPage::parse(&page).unwrap();
        let mut r = outer.clone();
        assert_eq!(p.find_child_in(b"q", &c, &mut r).unwrap(), 5);
        assert_eq!(r, outer);
        p.check_range(&KeyRange::new(Some(b"x"), Some(b"y")), &c)
            .unwrap();
    }
}
