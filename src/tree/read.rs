//! Read paths over one tree snapshot: point lookups, floor lookups, leaf
//! walks, overflow value assembly and decompression.
//!
//! A page checksum does not cover where the page belongs, so every path
//! also checks what is cheap to check: the page type the parent expects,
//! that an index page read from disk and every data page keep to the key
//! range the separators above give them (first and last key), and that an
//! overflow chain has the writer's layout. A swapped or stale page that
//! fails these is `Corrupted`, never another key's data.

use std::cmp::Ordering;
use std::collections::VecDeque;

use std::rc::Rc;

use super::PageSource;
use super::cache::{IndexCache, PageRef};
use crate::error::{Error, Result};
use crate::format::comparator::Comparator;
use crate::format::compression::{Dictionary, ValueCodec};
use crate::format::data_page::{Compression, DataEntry, DataPage};
use crate::format::index_page::IndexPage;
use crate::format::key_range::KeyRange;
use crate::format::overflow::{OverflowPage, check_group, decode_pointers};
use crate::format::page::{AlignedBuf, FilePageId, MAX_PAGE_ID, PageId, PageType, verify_page};
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
    pub cache: Option<(&'a IndexCache, u64)>,
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
        if let Some((cache, part)) = self.cache
            && let Some(p) = cache.get(part, fp)
        {
            return Ok(p);
        }
        let page = Rc::new(
            self.load(id, &[PageType::NonLeafIndex, PageType::LeafIndex])
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
    pub async fn load_index(&self, id: PageId) -> Result<PageRef> {
        self.load_index_in(id, &KeyRange::full()).await
    }

    pub async fn load_data(&self, id: PageId) -> Result<AlignedBuf> {
        self.load(id, &[PageType::Data]).await
    }

    /// The data page whose key range holds `key` (root must not be empty).
    pub async fn find_leaf(&self, root: PageId, key: &[u8]) -> Result<PageId> {
        Ok(self.find_leaf_in(root, key).await?.0)
    }

    /// `find_leaf` with the leaf's key range.
    pub async fn find_leaf_in(&self, root: PageId, key: &[u8]) -> Result<(PageId, KeyRange)> {
        self.descend(root, |p, r| p.find_child_in(key, self.cmp, r))
            .await
    }

    /// The first data page of the tree.
    pub async fn leftmost_leaf(&self, root: PageId) -> Result<PageId> {
        let first = |p: &IndexPage<'_>, r: &mut KeyRange| {
            if let Some(k) = p.first_key()? {
                r.set_hi(k);
            }
            Ok(p.leftmost())
        };
        Ok(self.descend(root, first).await?.0)
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
        let buf = self.load_data(leaf).await?;
        let page = DataPage::parse(&buf)
            .and_then(|p| p.check_range(&range, self.cmp).map(|()| p))
            .map_err(|e| e.context(format_args!("page {leaf}")))?;
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
        let buf = self.load_data(leaf).await?;
        let page = DataPage::parse(&buf)
            .and_then(|p| p.check_range(&range, self.cmp).map(|()| p))
            .map_err(|e| e.context(format_args!("page {leaf}")))?;
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
        let buf = self.load_data(prev).await?;
        let page = DataPage::parse(&buf)
            .and_then(|p| p.check_range(&below, self.cmp).map(|()| p))
            .map_err(|e| e.context(format_args!("page {prev}")))?;
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
            let buf = self.load_data(leaf).await?;
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
    /// reads `prefetch` leaves at a time.
    pub async fn seek(
        &self,
        root: PageId,
        begin: &[u8],
        inclusive: bool,
        prefetch: usize,
    ) -> Result<ScanCursor> {
        let mut cur = ScanCursor {
            levels: Vec::new(),
            entries: VecDeque::new(),
            leaves: VecDeque::new(),
            prefetch: prefetch.max(1),
            loaded: 0,
        };
        if root == MAX_PAGE_ID {
            return Ok(cur);
        }
        // Descend, remembering the position taken at every level.
        let mut id = root;
        let mut range = KeyRange::full();
        for depth in 0..=MAX_DEPTH {
            if depth == MAX_DEPTH {
                return Err(Error::corrupted(format!(
                    "tree under root {root} is too deep"
                )));
            }
            let page = self.load_index_in(id, &range).await?;
            let p = IndexPage::parse(&page).map_err(|e| e.context(format_args!("page {id}")))?;
            let mut level =
                Level::new(&p, range).map_err(|e| e.context(format_args!("page {id}")))?;
            level.pos = if begin.is_empty() {
                0
            } else {
                level.seps_at_most(begin, self.cmp)
            };
            let leaf = p.is_leaf_index();
            id = level.children[level.pos];
            range = level.child_range(level.pos);
            cur.levels.push(level);
            if leaf {
                break;
            }
        }
        // The leaf level's `pos` is the next leaf to read.
        cur.fill(self).await?;
        if !begin.is_empty() {
            loop {
                let Some(e) = cur.entries.front() else {
                    if !cur.fill(self).await? {
                        break;
                    }
                    continue;
                };
                match self.cmp.compare(&e.key, begin) {
                    Ordering::Less => {}
                    Ordering::Equal if !inclusive => {}
                    _ => break,
                }
                cur.entries.pop_front();
            }
        }
        Ok(cur)
    }
}

/// One index page on the cursor's path.
struct Level {
    children: Vec<PageId>,
    /// Separator keys back to back; separator `i` (the lower bound of
    /// child `i`, `i >= 1`) ends at `ends[i - 1]`.
    seps: Vec<u8>,
    ends: Vec<usize>,
    /// The page's own key range.
    range: KeyRange,
    /// Upper levels: the child descended into. Leaf-index level: the next
    /// leaf to read.
    pos: usize,
}

impl Level {
    fn new(p: &IndexPage<'_>, range: KeyRange) -> Result<Level> {
        let mut level = Level {
            children: vec![p.leftmost()],
            seps: Vec::new(),
            ends: Vec::new(),
            range,
            pos: 0,
        };
        let mut it = p.iter();
        while it.next()? {
            level.children.push(it.child());
            level.seps.extend_from_slice(it.key());
            level.ends.push(level.seps.len());
        }
        Ok(level)
    }

    /// Separator `i` (`1 <= i < children.len()`).
    fn sep(&self, i: usize) -> &[u8] {
        let start = if i == 1 { 0 } else { self.ends[i - 2] };
        &self.seps[start..self.ends[i - 1]]
    }

    /// How many separators are `<= key` (the child a search for `key`
    /// descends into).
    fn seps_at_most(&self, key: &[u8], cmp: &dyn Comparator) -> usize {
        let (mut lo, mut hi) = (0, self.ends.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if cmp.compare(self.sep(mid + 1), key).is_le() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The key range of child `i`.
    fn child_range(&self, i: usize) -> KeyRange {
        let lo = if i == 0 {
            self.range.lo()
        } else {
            Some(self.sep(i))
        };
        let hi = if i + 1 < self.children.len() {
            Some(self.sep(i + 1))
        } else {
            self.range.hi()
        };
        KeyRange::new(lo, hi)
    }
}

/// Walks leaf entries in key order, reading leaves `prefetch` at a time
/// through the index (no reliance on sibling links).
pub struct ScanCursor {
    levels: Vec<Level>,
    entries: VecDeque<TreeEntry>,
    leaves: VecDeque<(PageId, KeyRange, AlignedBuf)>,
    prefetch: usize,
    loaded: usize,
}

impl ScanCursor {
    /// Ids and key ranges of up to `n` next leaves, moving through index
    /// pages as needed.
    async fn next_leaf_ids<S: PageSource>(
        &mut self,
        ctx: &ReadCtx<'_, S>,
        n: usize,
    ) -> Result<Vec<(PageId, KeyRange)>> {
        let mut out = Vec::new();
        while out.len() < n && !self.levels.is_empty() {
            let last = self.levels.last_mut().expect("non-empty");
            if last.pos < last.children.len() {
                out.push((last.children[last.pos], last.child_range(last.pos)));
                last.pos += 1;
                continue;
            }
            // Leaf level exhausted: climb to the first level with a child
            // to the right, then go down its leftmost path.
            self.levels.pop();
            while let Some(l) = self.levels.last_mut() {
                if l.pos + 1 < l.children.len() {
                    l.pos += 1;
                    break;
                }
                self.levels.pop();
            }
            let Some(l) = self.levels.last() else { break };
            let mut id = l.children[l.pos];
            let mut range = l.child_range(l.pos);
            loop {
                if self.levels.len() > MAX_DEPTH {
                    return Err(Error::corrupted("tree is too deep"));
                }
                let page = ctx.load_index_in(id, &range).await?;
                let p =
                    IndexPage::parse(&page).map_err(|e| e.context(format_args!("page {id}")))?;
                let level =
                    Level::new(&p, range).map_err(|e| e.context(format_args!("page {id}")))?;
                let leaf = p.is_leaf_index();
                id = level.children[0];
                range = level.child_range(0);
                self.levels.push(level);
                if leaf {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Reads the next batch of leaves; false at the end of the tree.
    async fn fill<S: PageSource>(&mut self, ctx: &ReadCtx<'_, S>) -> Result<bool> {
        if self.leaves.is_empty() {
            let ids = self.next_leaf_ids(ctx, self.prefetch).await?;
            if ids.is_empty() {
                return Ok(false);
            }
            self.loaded += ids.len();
            if self.loaded > ctx.mapping.len() + 1 {
                return Err(Error::corrupted(
                    "tree walk visits more leaves than pages exist",
                ));
            }
            let fps = ids
                .iter()
                .map(|(id, _)| ctx.file_page(*id))
                .collect::<Result<Vec<_>>>()?;
            let pages = ctx.source.read_pages(&fps).await?;
            for (((id, range), fp), page) in ids.into_iter().zip(fps).zip(pages) {
                verify_page(&page, &[PageType::Data], ctx.skip_checksum)
                    .map_err(|e| e.context(format_args!("page {id} (file page {fp})")))?;
                self.leaves.push_back((id, range, page));
            }
        }
        let (id, range, buf) = self.leaves.pop_front().expect("filled");
        let page = DataPage::parse(&buf).map_err(|e| e.context(format_args!("page {id}")))?;
        let entries = page
            .entries()
            .map_err(|e| e.context(format_args!("page {id}")))?;
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Err(Error::corrupted(format!("data page {id} has no entries")));
        };
        range
            .check_span(&first.key, &last.key, ctx.cmp)
            .map_err(|e| e.context(format_args!("page {id}")))?;
        self.entries = entries.into();
        Ok(true)
    }

    /// The next entry in key order.
    pub async fn next<S: PageSource>(&mut self, ctx: &ReadCtx<'_, S>) -> Result<Option<TreeEntry>> {
        loop {
            if let Some(e) = self.entries.pop_front() {
                return Ok(Some(e));
            }
            if !self.fill(ctx).await? {
                return Ok(None);
            }
        }
    }

    /// Looks at the next entry without consuming it.
    pub async fn peek<S: PageSource>(
        &mut self,
        ctx: &ReadCtx<'_, S>,
    ) -> Result<Option<&TreeEntry>> {
        if self.entries.is_empty() && !self.fill(ctx).await? {
            return Ok(None);
        }
        Ok(self.entries.front())
    }
}
