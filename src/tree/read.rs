//! Read paths over one tree snapshot: point lookups, floor lookups, leaf
//! walks, overflow value assembly and decompression.
//!
//! A page checksum does not cover where the page belongs, so every path
//! also checks what is cheap to check: the page type the parent expects,
//! that an index page read from disk and every data page keep to the key
//! range the separators above give them (first and last key), and that an
//! overflow chain has the writer's layout. A swapped or stale page that
//! fails these is `Corrupted`, never another key's data.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::VecDeque;

use super::PageSource;
use super::cache::{PageCache, PageRef, page_ref};
use crate::error::{Error, Result};
use crate::format::comparator::Comparator;
use crate::format::compression::{Dictionary, ValueCodec};
use crate::format::data_page::{Compression, DataEntry, DataPage, DataPageIter, EntryRef};
use crate::format::index_page::{IndexIterState, IndexPage, IndexParts};
use crate::format::key_range::KeyRange;
use crate::format::overflow::{OverflowPage, check_group, decode_pointers};
use crate::format::page::{
    AlignedBuf, FilePageId, MAX_PAGE_ID, PageId, PageType, page_type, verify_page,
};
use crate::mapping::MappingTable;

/// Upper bound on the tree height; a deeper descent means a cycle.
const MAX_DEPTH: usize = 64;
/// Upstream's hard limit on pointers per overflow group.
pub const MAX_OVERFLOW_POINTERS: usize = 128;

/// A stored entry as found in a leaf: the value may still be an overflow
/// pointer list or compressed.
pub type TreeEntry = DataEntry;

/// Everything a read needs: where pages come from, the mapping snapshot and
/// the key order.
pub struct ReadCtx<'a, S> {
    pub source: &'a S,
    pub mapping: &'a MappingTable,
    pub cmp: &'a dyn Comparator,
    pub skip_checksum: bool,
    /// The shard's index page cache and this partition's key in it.
    pub cache: Option<(&'a PageCache, u64)>,
}

impl<S> Clone for ReadCtx<'_, S> {
    fn clone(&self) -> Self {
        ReadCtx { ..*self }
    }
}

impl<'a, S: PageSource> ReadCtx<'a, S> {
    pub fn new(source: &'a S, mapping: &'a MappingTable, cmp: &'a dyn Comparator) -> Self {
        ReadCtx {
            source,
            mapping,
            cmp,
            skip_checksum: false,
            cache: None,
        }
    }

    /// The file page of a logical page; `Corrupted` if it is not mapped.
    pub fn file_page(&self, id: PageId) -> Result<FilePageId> {
        self.mapping.file_page(id).ok_or_else(|| {
            Error::corrupted(format!(
                "page {id} is referenced but not mapped to a file page"
            ))
        })
    }

    /// Loads and verifies a page of one of the `expected` types.
    pub async fn load(&self, id: PageId, expected: &[PageType]) -> Result<AlignedBuf> {
        let fp = self.file_page(id)?;
        let page = self.source.read_page(fp).await?;
        verify_page(&page, expected, self.skip_checksum)
            .map_err(|e| e.context(format_args!("page {id} (file page {fp})")))?;
        Ok(page)
    }

    /// Loads an index page, from the cache when it holds it. A page read
    /// from disk must keep to `range`; cached pages passed that check when
    /// they were read (or were written by this process), and a page's
    /// range only ever widens while its file page stays mapped.
    pub async fn load_index_in(&self, id: PageId, range: &KeyRange) -> Result<PageRef> {
        let fp = self.file_page(id)?;
        if let Some(p) = self.cached(id, fp, &[PageType::NonLeafIndex, PageType::LeafIndex])? {
            return Ok(p);
        }
        let page = page_ref(
            &self
                .load(id, &[PageType::NonLeafIndex, PageType::LeafIndex])
                .await?,
        );
        IndexPage::parse(&page)
            .and_then(|p| p.check_range(range, self.cmp))
            .map_err(|e| e.context(format_args!("page {id} (file page {fp})")))?;
        if let Some((cache, part)) = self.cache {
            cache.insert(part, fp, page.clone());
        }
        Ok(page)
    }

    /// `load_index_in` without a range (a root, or a caller that checks).
    #[cfg(any(test, feature = "internals"))]
    pub async fn load_index(&self, id: PageId) -> Result<PageRef> {
        self.load_index_in(id, &KeyRange::full()).await
    }

    /// A cached page, checked to be of an `expected` type (the cache keys
    /// pages by file page only).
    fn cached(&self, id: PageId, fp: FilePageId, expected: &[PageType]) -> Result<Option<PageRef>> {
        let Some((cache, part)) = self.cache else {
            return Ok(None);
        };
        let Some(p) = cache.get(part, fp) else {
            return Ok(None);
        };
        match page_type(&p) {
            Some(t) if expected.contains(&t) => Ok(Some(p)),
            _ => Err(Error::corrupted(format!(
                "page {id} (file page {fp}) holds a page of another type"
            ))),
        }
    }

    /// A cached data page, if the cache holds it.
    pub fn cached_data(&self, id: PageId) -> Result<Option<PageRef>> {
        let fp = self.file_page(id)?;
        self.cached(id, fp, &[PageType::Data])
    }

    /// A data page for the writer, which edits its copy: from the cache
    /// when it holds it, else read (and not cached: the writer replaces it).
    pub async fn load_data(&self, id: PageId) -> Result<AlignedBuf> {
        let fp = self.file_page(id)?;
        if let Some(p) = self.cached(id, fp, &[PageType::Data])? {
            return Ok(AlignedBuf::from_slice(&p));
        }
        self.load(id, &[PageType::Data]).await
    }

    /// A data page for reading, shared through the cache. A page read from
    /// disk must keep to `range` (first and last key) before it is cached;
    /// as for index pages, a cached page passed that check when it was read.
    pub async fn load_data_in(&self, id: PageId, range: &KeyRange) -> Result<PageRef> {
        let fp = self.file_page(id)?;
        if let Some(p) = self.cached(id, fp, &[PageType::Data])? {
            return Ok(p);
        }
        let page = self.load(id, &[PageType::Data]).await?;
        DataPage::parse(&page)
            .and_then(|p| p.check_range(range, self.cmp))
            .map_err(|e| e.context(format_args!("page {id} (file page {fp})")))?;
        let page = page_ref(&page);
        if let Some((cache, part)) = self.cache {
            cache.insert_data(part, fp, page.clone());
        }
        Ok(page)
    }

    /// The data page whose key range holds `key` (root must not be empty).
    #[cfg(any(test, feature = "internals"))]
    pub async fn find_leaf(&self, root: PageId, key: &[u8]) -> Result<PageId> {
        Ok(self.find_leaf_in(root, key).await?.0)
    }

    /// `find_leaf` with the leaf's key range.
    pub async fn find_leaf_in(&self, root: PageId, key: &[u8]) -> Result<(PageId, KeyRange)> {
        self.descend(root, |p, r| p.find_child_in(key, self.cmp, r))
            .await
    }

    async fn descend(
        &self,
        root: PageId,
        pick: impl Fn(&IndexPage<'_>, &mut KeyRange) -> Result<PageId>,
    ) -> Result<(PageId, KeyRange)> {
        let mut id = root;
        let mut range = KeyRange::full();
        for _ in 0..MAX_DEPTH {
            let buf = self.load_index_in(id, &range).await?;
            let page = IndexPage::parse(&buf).map_err(|e| e.context(format_args!("page {id}")))?;
            let child =
                pick(&page, &mut range).map_err(|e| e.context(format_args!("page {id}")))?;
            if page.is_leaf_index() {
                return Ok((child, range));
            }
            id = child;
        }
        Err(Error::corrupted(format!(
            "tree under root {root} is deeper than {MAX_DEPTH} levels"
        )))
    }

    /// The stored entry with exactly this key.
    pub async fn get(&self, root: PageId, key: &[u8]) -> Result<Option<TreeEntry>> {
        if root == MAX_PAGE_ID {
            return Ok(None);
        }
        let (leaf, range) = self.find_leaf_in(root, key).await?;
        let buf = self.load_data_in(leaf, &range).await?;
        let page = DataPage::parse(&buf).map_err(|e| e.context(format_args!("page {leaf}")))?;
        let mut it = page.iter();
        if it.seek(key, self.cmp)? && self.cmp.compare(it.key(), key) == Ordering::Equal {
            return Ok(Some(it.entry().to_owned()));
        }
        Ok(None)
    }

    /// The stored entry with the greatest key `<= key`.
    pub async fn floor(&self, root: PageId, key: &[u8]) -> Result<Option<TreeEntry>> {
        if root == MAX_PAGE_ID {
            return Ok(None);
        }
        let (leaf, range) = self.find_leaf_in(root, key).await?;
        let buf = self.load_data_in(leaf, &range).await?;
        let page = DataPage::parse(&buf).map_err(|e| e.context(format_args!("page {leaf}")))?;
        let mut it = page.iter();
        if it.seek_floor(key, self.cmp)? {
            return Ok(Some(it.entry().to_owned()));
        }
        // Every key of this leaf is larger: the floor is the last entry of
        // the previous leaf, if any, whose keys lie below this leaf's range.
        let prev = page.prev_page_id();
        if prev == MAX_PAGE_ID {
            return Ok(None);
        }
        let Some(lo) = range.lo else {
            return Err(Error::corrupted(format!(
                "data page {leaf}, the first of the tree, links to a previous page {prev}"
            )));
        };
        let below = KeyRange {
            lo: None,
            hi: Some(lo),
        };
        let buf = self.load_data_in(prev, &below).await?;
        let page = DataPage::parse(&buf).map_err(|e| e.context(format_args!("page {prev}")))?;
        let last = page.entries()?.pop();
        match last {
            Some(e) if self.cmp.compare(&e.key, key) != Ordering::Greater => Ok(Some(e)),
            _ => Err(Error::corrupted(format!(
                "leaf {prev} before leaf {leaf} does not hold smaller keys"
            ))),
        }
    }

    /// The greatest entry `<= key` that `keep` accepts, walking back
    /// through earlier leaves when needed (expired entries are skipped this
    /// way). Each earlier leaf, reached by its sibling link, must hold only
    /// keys below the leaf after it.
    pub async fn floor_where(
        &self,
        root: PageId,
        key: &[u8],
        keep: impl Fn(&TreeEntry) -> bool,
    ) -> Result<Option<TreeEntry>> {
        if root == MAX_PAGE_ID {
            return Ok(None);
        }
        let (mut leaf, mut range) = self.find_leaf_in(root, key).await?;
        let mut first = true;
        for _ in 0..=self.mapping.len() {
            let buf = self.load_data_in(leaf, &range).await?;
            let page = DataPage::parse(&buf).map_err(|e| e.context(format_args!("page {leaf}")))?;
            let entries = page
                .entries()
                .map_err(|e| e.context(format_args!("page {leaf}")))?;
            let (Some(lo), Some(hi)) = (entries.first(), entries.last()) else {
                return Err(Error::corrupted(format!("data page {leaf} has no entries")));
            };
            range
                .check_span(&lo.key, &hi.key, self.cmp)
                .map_err(|e| e.context(format_args!("page {leaf}")))?;
            let found = entries.iter().rev().find(|e| {
                (!first || self.cmp.compare(&e.key, key) != Ordering::Greater) && keep(e)
            });
            if let Some(found) = found {
                return Ok(Some(found.clone()));
            }
            let prev = page.prev_page_id();
            if prev == MAX_PAGE_ID {
                return Ok(None);
            }
            // The leaf before holds keys below this one's range (below its
            // first key once the range is no longer known).
            match range.lo() {
                Some(_) if first => {}
                None if first => {
                    return Err(Error::corrupted(format!(
                        "data page {leaf}, the first of the tree, links to a previous page {prev}"
                    )));
                }
                _ => range.set_lo(&lo.key),
            }
            let below = range.lo.take().expect("set above");
            range = KeyRange {
                lo: None,
                hi: Some(below),
            };
            leaf = prev;
            first = false;
        }
        Err(Error::corrupted("leaf sibling chain loops"))
    }

    /// Reassembles an overflow value from its first group's pointer list,
    /// checking each group against the writer's layout.
    pub async fn read_overflow(&self, pointers: &[u8]) -> Result<Vec<u8>> {
        let mut group = decode_pointers(pointers, MAX_OVERFLOW_POINTERS)?;
        let mut value = Vec::new();
        let mut pages_seen = 0usize;
        let mut prev_len = None;
        while !group.is_empty() {
            pages_seen += group.len();
            if pages_seen > self.mapping.len() {
                return Err(Error::corrupted("overflow chain loops"));
            }
            let fps = group
                .iter()
                .map(|&id| self.file_page(id))
                .collect::<Result<Vec<_>>>()?;
            let bufs = self.source.read_pages(&fps).await?;
            let mut pages = Vec::with_capacity(bufs.len());
            for ((buf, id), fp) in bufs.iter().zip(&group).zip(&fps) {
                let at = || format!("overflow page {id} (file page {fp})");
                verify_page(buf, &[PageType::Overflow], self.skip_checksum)
                    .map_err(|e| e.context(at()))?;
                pages.push(OverflowPage::parse(buf).map_err(|e| e.context(at()))?);
            }
            check_group(&pages, prev_len)
                .map_err(|e| e.context(format_args!("overflow group of pages {group:?}")))?;
            for p in &pages {
                value.extend_from_slice(p.value());
            }
            prev_len = Some(group.len());
            group = pages.last().map(|p| p.pointers()).unwrap_or_default();
        }
        Ok(value)
    }

    /// The user's value of an entry: overflow pages read and joined, then
    /// decompressed.
    pub async fn resolve_value(
        &self,
        entry: &TreeEntry,
        codec: &mut ValueCodec,
        dict: Option<&Dictionary>,
    ) -> Result<Vec<u8>> {
        let stored = if entry.overflow {
            self.read_overflow(&entry.value).await?
        } else if entry.compression == Compression::None {
            return Ok(entry.value.clone());
        } else {
            entry.value.clone()
        };
        codec.decompress(&stored, entry.compression, dict)
    }

    /// Opens a cursor at the first entry `>= begin` (or `> begin` when not
    /// inclusive); an empty `begin` starts at the first key. The cursor
    /// reads `prefetch` leaves at a time. Only the index pages on the path
    /// are touched here; leaves are read as the walk needs them.
    pub async fn seek(
        &self,
        root: PageId,
        begin: &[u8],
        inclusive: bool,
        prefetch: usize,
    ) -> Result<ScanCursor> {
        let mut cur = ScanCursor {
            levels: Vec::new(),
            leaves: VecDeque::new(),
            current: None,
            prefetch: prefetch.max(1),
            loaded: 0,
            start: (!begin.is_empty()).then(|| (begin.to_vec(), inclusive)),
            entries: VecDeque::new(),
            bounds: Vec::new(),
            slots: Vec::new(),
            want: usize::MAX,
            handed: std::cell::Cell::new(0),
            leaves_out: 0,
            per_leaf_hint: 0.0,
        };
        if root == MAX_PAGE_ID {
            return Ok(cur);
        }
        let target = (!begin.is_empty()).then_some(begin);
        let mut id = root;
        let mut range = KeyRange::full();
        for depth in 0..=MAX_DEPTH {
            if depth == MAX_DEPTH {
                return Err(Error::corrupted(format!(
                    "tree under root {root} is too deep"
                )));
            }
            let page = self.load_index_in(id, &range).await?;
            let level = Level::open(page, range, target, self.cmp)
                .map_err(|e| e.context(format_args!("page {id}")))?;
            let leaf = level.leaf;
            id = level.child;
            range = level.child_range();
            cur.levels.push(level);
            if leaf {
                break;
            }
        }
        Ok(cur)
    }

    /// The user's value of an entry, borrowed from its page when it is
    /// stored inline and uncompressed; otherwise read from its overflow
    /// pages and decompressed.
    pub async fn value_of<'e>(
        &self,
        entry: &EntryRef<'e>,
        codec: &mut ValueCodec,
        dict: Option<&Dictionary>,
    ) -> Result<Cow<'e, [u8]>> {
        if !entry.overflow && entry.compression == Compression::None {
            return Ok(Cow::Borrowed(entry.value));
        }
        let stored = if entry.overflow {
            Cow::Owned(self.read_overflow(entry.value).await?)
        } else {
            Cow::Borrowed(entry.value)
        };
        Ok(Cow::Owned(codec.decompress(
            &stored,
            entry.compression,
            dict,
        )?))
    }
}

/// One index page on the cursor's path, walked lazily: the child the
/// cursor is in, with the separators on either side of it, and an
/// iterator parked on the entry after it. Nothing is decoded ahead of
/// need, so a scan of a few leaves costs a few entries per level, not a
/// whole index page.
struct Level {
    page: PageRef,
    parts: IndexParts,
    leaf: bool,
    /// The page's own key range.
    range: KeyRange,
    /// The current child. At the leaf-index level: the next leaf to read.
    child: PageId,
    /// The current child's separator, unless it is the leftmost child
    /// (whose lower bound is the page's).
    lo: Vec<u8>,
    lo_is_sep: bool,
    /// Parked on the entry after the current child (its key is the
    /// current child's upper bound), when `has_next`.
    next: IndexIterState,
    has_next: bool,
    /// Moved past the last child.
    done: bool,
}

impl Level {
    /// Positions on the child whose range holds `target`, or on the
    /// leftmost child without one.
    fn open(
        page: PageRef,
        range: KeyRange,
        target: Option<&[u8]>,
        cmp: &dyn Comparator,
    ) -> Result<Level> {
        let p = IndexPage::parse(&page)?;
        let mut level = Level {
            parts: p.parts(),
            leaf: p.is_leaf_index(),
            range,
            child: p.leftmost(),
            lo: Vec::new(),
            lo_is_sep: false,
            next: IndexIterState::default(),
            has_next: false,
            done: false,
            page: page.clone(),
        };
        let region = match target {
            Some(k) => p.region_at_most(k, cmp)?,
            None => None,
        };
        let mut it = match region {
            None => p.iter(),
            Some(r) => {
                let mut it = p.iter_region(r, Vec::new());
                if !it.next()? {
                    return Err(Error::corrupted("index page restart region is empty"));
                }
                let k = target.expect("a region only for a target");
                loop {
                    level.child = it.child();
                    level.lo.clear();
                    level.lo.extend_from_slice(it.key());
                    level.lo_is_sep = true;
                    if !it.next()? {
                        level.has_next = false;
                        break;
                    }
                    if cmp.compare(it.key(), k) == Ordering::Greater {
                        level.has_next = true;
                        break;
                    }
                }
                level.next = it.into_state();
                return Ok(level);
            }
        };
        level.has_next = it.next()?;
        level.next = it.into_state();
        Ok(level)
    }

    /// The current child's lower bound.
    fn lo(&self) -> Option<&[u8]> {
        if self.lo_is_sep {
            Some(&self.lo)
        } else {
            self.range.lo()
        }
    }

    /// The current child's upper bound.
    fn hi(&self) -> Option<&[u8]> {
        if self.has_next {
            Some(self.next.key())
        } else {
            self.range.hi()
        }
    }

    fn child_range(&self) -> KeyRange {
        KeyRange::new(self.lo(), self.hi())
    }

    /// Moves to the next child (or past the last: `done`).
    fn advance(&mut self) -> Result<()> {
        if !self.has_next {
            self.done = true;
            return Ok(());
        }
        let st = std::mem::take(&mut self.next);
        self.lo.clear();
        self.lo.extend_from_slice(st.key());
        self.lo_is_sep = true;
        self.child = st.child();
        let p = IndexPage::reopen(&self.page, self.parts);
        let mut it = p.iter_at(st);
        self.has_next = it.next()?;
        self.next = it.into_state();
        Ok(())
    }
}

/// A leaf to read: its id and its key bounds, kept in the cursor's
/// `bounds` scratch buffer.
type LeafSlot = (
    PageId,
    Option<std::ops::Range<usize>>,
    Option<std::ops::Range<usize>>,
);

fn stash(bounds: &mut Vec<u8>, key: Option<&[u8]>) -> Option<std::ops::Range<usize>> {
    key.map(|k| {
        let start = bounds.len();
        bounds.extend_from_slice(k);
        start..bounds.len()
    })
}

/// Leaves a scan reads in one batch to cover the entries it still wants
/// (unless its `prefetch` asks for more). A batch's pages are all in memory
/// at once, twice (the read buffers, then the verified copies the cursor
/// walks), so a bound keeps many concurrent scans of large entries from
/// holding megabytes each; eight leaves cover a 100-entry page of small
/// entries in one batch.
pub const WANT_BATCH_LEAVES: usize = 8;

/// Walks leaf entries in key order, reading leaves `prefetch` at a time
/// through the index (no reliance on sibling links). Each leaf is verified
/// and checked against the key range its parents give it before any of
/// its entries is handed out.
pub struct ScanCursor {
    levels: Vec<Level>,
    /// Leaves read ahead, verified and checked against their lower bound,
    /// with their upper bound (a range of `bounds`).
    leaves: VecDeque<(PageId, PageRef, Option<std::ops::Range<usize>>)>,
    /// The leaf being walked.
    current: Option<PageRef>,
    prefetch: usize,
    loaded: usize,
    /// Entries of the first leaf below this key (or equal to it, when the
    /// bool is false) are skipped.
    start: Option<(Vec<u8>, bool)>,
    /// `next`'s decoded entries of the current leaf.
    entries: VecDeque<TreeEntry>,
    bounds: Vec<u8>,
    slots: Vec<LeafSlot>,
    /// Entries the reader still wants (`usize::MAX`: no limit), so that
    /// one batch of reads covers them.
    want: usize,
    /// Entries handed out by `next_leaf`'s iterators, and leaves.
    handed: std::cell::Cell<usize>,
    leaves_out: usize,
    /// Entries per leaf to assume before any leaf was walked (0: unknown).
    per_leaf_hint: f64,
}

/// The entries of one leaf, borrowed from the cursor. Every entry handed
/// out lies below the leaf's upper bound (its lower bound was checked when
/// the leaf was read), so a misplaced page yields `Corrupted`, not another
/// range's entries.
pub struct LeafEntries<'c> {
    id: PageId,
    handed: &'c std::cell::Cell<usize>,
    it: DataPageIter<'c>,
    hi: Option<&'c [u8]>,
    cmp: &'c dyn Comparator,
    /// The iterator already stands on the first entry to hand out.
    pending: bool,
}

impl LeafEntries<'_> {
    /// The next entry of the leaf, `None` at its end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<EntryRef<'_>>> {
        if self.pending {
            self.pending = false;
        } else if !self.it.next()? {
            return Ok(None);
        }
        if let Some(hi) = self.hi
            && self.cmp.compare(self.it.key(), hi).is_ge()
        {
            return Err(crate::format::key_range::check_bounds(
                None,
                Some(hi),
                self.it.key(),
                self.it.key(),
                self.cmp,
            )
            .expect_err("the key reaches the bound")
            .context(format_args!("page {}", self.id)));
        }
        self.handed.set(self.handed.get() + 1);
        Ok(Some(self.it.entry()))
    }
}

impl ScanCursor {
    /// Ids and key bounds of up to `n` next leaves, moving through index
    /// pages as needed.
    async fn next_leaf_ids<S: PageSource>(
        &mut self,
        ctx: &ReadCtx<'_, S>,
        n: usize,
        out: &mut Vec<LeafSlot>,
    ) -> Result<()> {
        self.bounds.clear();
        while out.len() < n {
            let Some(last) = self.levels.last_mut() else {
                break;
            };
            if !last.done {
                let lo = stash(&mut self.bounds, last.lo());
                let hi = stash(&mut self.bounds, last.hi());
                out.push((last.child, lo, hi));
                last.advance()?;
                continue;
            }
            // Leaf level exhausted: climb to the first level with a child
            // to the right, then go down its leftmost path.
            self.levels.pop();
            while let Some(l) = self.levels.last_mut() {
                l.advance()?;
                if !l.done {
                    break;
                }
                self.levels.pop();
            }
            let Some(l) = self.levels.last() else { break };
            let mut id = l.child;
            let mut range = l.child_range();
            loop {
                if self.levels.len() > MAX_DEPTH {
                    return Err(Error::corrupted("tree is too deep"));
                }
                let page = ctx.load_index_in(id, &range).await?;
                let level = Level::open(page, range, None, ctx.cmp)
                    .map_err(|e| e.context(format_args!("page {id}")))?;
                let leaf = level.leaf;
                id = level.child;
                range = level.child_range();
                self.levels.push(level);
                if leaf {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Tells the cursor how many more entries its reader wants, so that
    /// the next batch of leaf reads covers them (at most
    /// [`WANT_BATCH_LEAVES`] or `prefetch` leaves a batch, whichever is
    /// more); `usize::MAX` reads `prefetch` leaves a batch.
    pub fn set_want(&mut self, entries: usize) {
        self.want = entries;
    }

    /// Entries per leaf to assume until the walk has seen some.
    pub fn set_per_leaf_hint(&mut self, entries: f64) {
        self.per_leaf_hint = entries;
    }

    /// Entries per leaf seen so far (0 before any).
    pub fn per_leaf(&self) -> f64 {
        if self.leaves_out == 0 {
            0.0
        } else {
            self.handed.get() as f64 / self.leaves_out as f64
        }
    }

    /// Leaves the next batch reads: enough for the entries still wanted
    /// (plus one, the walk may start mid-leaf) up to a bound, else
    /// `prefetch`.
    fn batch_size(&self) -> usize {
        let per_leaf = if self.handed.get() > 0 {
            self.per_leaf()
        } else {
            self.per_leaf_hint
        };
        if self.want == usize::MAX || per_leaf < 1.0 {
            return self.prefetch;
        }
        let leaves = (self.want as f64 / per_leaf).ceil() as usize + 1;
        let most = self
            .prefetch
            .max(WANT_BATCH_LEAVES)
            .min(crate::options::MAX_READ_PAGES_BATCH as usize);
        leaves.clamp(1, most)
    }

    /// Reads the next batch of leaves; false at the end of the tree.
    async fn read_ahead<S: PageSource>(&mut self, ctx: &ReadCtx<'_, S>) -> Result<bool> {
        let mut slots = std::mem::take(&mut self.slots);
        slots.clear();
        let n = self.batch_size();
        self.next_leaf_ids(ctx, n, &mut slots).await?;
        if slots.is_empty() {
            self.slots = slots;
            return Ok(false);
        }
        self.loaded += slots.len();
        if self.loaded > ctx.mapping.len() + 1 {
            return Err(Error::corrupted(
                "tree walk visits more leaves than pages exist",
            ));
        }
        // Leaves the cache holds passed their range check when they were
        // read; the others are read at once, checked (first and last key)
        // and cached.
        let mut got: Vec<Option<PageRef>> = Vec::with_capacity(slots.len());
        let mut missing = Vec::new();
        let mut fps = Vec::new();
        for (i, (id, _, _)) in slots.iter().enumerate() {
            let fp = ctx.file_page(*id)?;
            let hit = ctx.cached(*id, fp, &[PageType::Data])?;
            if hit.is_none() {
                missing.push(i);
                fps.push(fp);
            }
            got.push(hit);
        }
        if !fps.is_empty() {
            let pages = ctx.source.read_pages(&fps).await?;
            for ((i, fp), page) in missing.into_iter().zip(fps).zip(pages) {
                let (id, lo, hi) = &slots[i];
                let at = || format!("page {id} (file page {fp})");
                verify_page(&page, &[PageType::Data], ctx.skip_checksum)
                    .map_err(|e| e.context(at()))?;
                let lo = lo.clone().map(|r| &self.bounds[r]);
                let hi = hi.clone().map(|r| &self.bounds[r]);
                DataPage::parse(&page)
                    .and_then(|p| p.check_bounds(lo, hi, ctx.cmp))
                    .map_err(|e| e.context(at()))?;
                let page = page_ref(&page);
                if let Some((cache, part)) = ctx.cache {
                    cache.insert_data(part, fp, page.clone());
                }
                got[i] = Some(page);
            }
        }
        for ((id, _, hi), page) in slots.iter().zip(got) {
            self.leaves
                .push_back((*id, page.expect("hit or read"), hi.clone()));
        }
        self.slots = slots;
        Ok(true)
    }

    /// The next leaf's entries in key order (the first leaf's positioned at
    /// the seek key), `None` at the end of the tree.
    pub async fn next_leaf<'c, 'a: 'c, S: PageSource>(
        &'c mut self,
        ctx: &ReadCtx<'a, S>,
    ) -> Result<Option<LeafEntries<'c>>> {
        if self.leaves.is_empty() && !self.read_ahead(ctx).await? {
            self.current = None;
            return Ok(None);
        }
        let (id, buf, hi) = self.leaves.pop_front().expect("read ahead");
        let start = self.start.take();
        let buf: &'c [u8] = self.current.insert(buf);
        let hi = hi.map(|r| &self.bounds[r]);
        let page = DataPage::parse(buf).map_err(|e| e.context(format_args!("page {id}")))?;
        let mut it = page.iter();
        let pending = match &start {
            None => false,
            Some((key, inclusive)) => {
                it.seek(key, ctx.cmp)?
                    && (*inclusive || ctx.cmp.compare(it.key(), key) != Ordering::Equal)
            }
        };
        self.leaves_out += 1;
        Ok(Some(LeafEntries {
            id,
            handed: &self.handed,
            it,
            hi,
            cmp: ctx.cmp,
            pending,
        }))
    }

    /// The next entry in key order, owned (for walks that keep entries).
    pub async fn next<S: PageSource>(&mut self, ctx: &ReadCtx<'_, S>) -> Result<Option<TreeEntry>> {
        loop {
            if let Some(e) = self.entries.pop_front() {
                return Ok(Some(e));
            }
            let mut entries = std::mem::take(&mut self.entries);
            {
                let Some(mut leaf) = self.next_leaf(ctx).await? else {
                    return Ok(None);
                };
                while let Some(e) = leaf.next()? {
                    entries.push_back(e.to_owned());
                }
            }
            self.entries = entries;
        }
    }

    /// Looks at the next entry without consuming it.
    #[cfg(any(test, feature = "internals"))]
    pub async fn peek<S: PageSource>(
        &mut self,
        ctx: &ReadCtx<'_, S>,
    ) -> Result<Option<&TreeEntry>> {
        if self.entries.is_empty() {
            match self.next(ctx).await? {
                Some(e) => self.entries.push_front(e),
                None => return Ok(None),
            }
        }
        Ok(self.entries.front())
    }
}
