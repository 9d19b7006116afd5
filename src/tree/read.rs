//! Read paths over one tree snapshot: point lookups, floor lookups, leaf
//! walks, overflow value assembly and decompression.

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
use crate::format::overflow::{OverflowPage, decode_pointers};
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

    /// Loads an index page, from the cache when it holds it.
    pub async fn load_index(&self, id: PageId) -> Result<PageRef> {
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
        if let Some((cache, part)) = self.cache {
            cache.insert(part, fp, page.clone());
        }
        Ok(page)
    }

    pub async fn load_data(&self, id: PageId) -> Result<AlignedBuf> {
        self.load(id, &[PageType::Data]).await
    }

    /// The data page whose key range holds `key` (root must not be empty).
    pub async fn find_leaf(&self, root: PageId, key: &[u8]) -> Result<PageId> {
        self.descend(root, |p| p.find_child(key, self.cmp)).await
    }

    /// The first data page of the tree.
    pub async fn leftmost_leaf(&self, root: PageId) -> Result<PageId> {
        self.descend(root, |p| Ok(p.leftmost())).await
    }

    async fn descend(
        &self,
        root: PageId,
        pick: impl Fn(&IndexPage<'_>) -> Result<PageId>,
    ) -> Result<PageId> {
        let mut id = root;
        for _ in 0..MAX_DEPTH {
            let buf = self.load_index(id).await?;
            let page = IndexPage::parse(&buf).map_err(|e| e.context(format_args!("page {id}")))?;
            let child = pick(&page).map_err(|e| e.context(format_args!("page {id}")))?;
            if page.is_leaf_index() {
                return Ok(child);
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
        let leaf = self.find_leaf(root, key).await?;
        let buf = self.load_data(leaf).await?;
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
        let leaf = self.find_leaf(root, key).await?;
        let buf = self.load_data(leaf).await?;
        let page = DataPage::parse(&buf).map_err(|e| e.context(format_args!("page {leaf}")))?;
        let mut it = page.iter();
        if it.seek_floor(key, self.cmp)? {
            return Ok(Some(it.entry().to_owned()));
        }
        // Every key of this leaf is larger: the floor is the last entry of
        // the previous leaf, if any.
        let prev = page.prev_page_id();
        if prev == MAX_PAGE_ID {
            return Ok(None);
        }
        let buf = self.load_data(prev).await?;
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
    /// way).
    pub async fn floor_where(
        &self,
        root: PageId,
        key: &[u8],
        keep: impl Fn(&TreeEntry) -> bool,
    ) -> Result<Option<TreeEntry>> {
        if root == MAX_PAGE_ID {
            return Ok(None);
        }
        let mut leaf = self.find_leaf(root, key).await?;
        let mut first = true;
        for _ in 0..=self.mapping.len() {
            let buf = self.load_data(leaf).await?;
            let page = DataPage::parse(&buf).map_err(|e| e.context(format_args!("page {leaf}")))?;
            let entries = page
                .entries()
                .map_err(|e| e.context(format_args!("page {leaf}")))?;
            let found = entries.into_iter().rev().find(|e| {
                (!first || self.cmp.compare(&e.key, key) != Ordering::Greater) && keep(e)
            });
            if found.is_some() {
                return Ok(found);
            }
            leaf = page.prev_page_id();
            if leaf == MAX_PAGE_ID {
                return Ok(None);
            }
            first = false;
        }
        Err(Error::corrupted("leaf sibling chain loops"))
    }

    /// Reassembles an overflow value from its first group's pointer list.
    pub async fn read_overflow(&self, pointers: &[u8]) -> Result<Vec<u8>> {
        let mut group = decode_pointers(pointers, MAX_OVERFLOW_POINTERS)?;
        let mut value = Vec::new();
        let mut pages_seen = 0usize;
        while !group.is_empty() {
            pages_seen += group.len();
            if pages_seen > self.mapping.len() {
                return Err(Error::corrupted("overflow chain loops"));
            }
            let fps = group
                .iter()
                .map(|&id| self.file_page(id))
                .collect::<Result<Vec<_>>>()?;
            let pages = self.source.read_pages(&fps).await?;
            let mut next = Vec::new();
            for ((buf, id), fp) in pages.iter().zip(&group).zip(&fps) {
                verify_page(buf, &[PageType::Overflow], self.skip_checksum)
                    .map_err(|e| e.context(format_args!("overflow page {id} (file page {fp})")))?;
                let page = OverflowPage::parse(buf)?;
                value.extend_from_slice(page.value());
                next = page.pointers();
            }
            group = next;
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
        for depth in 0..=MAX_DEPTH {
            if depth == MAX_DEPTH {
                return Err(Error::corrupted(format!(
                    "tree under root {root} is too deep"
                )));
            }
            let page = self.load_index(id).await?;
            let p = IndexPage::parse(&page).map_err(|e| e.context(format_args!("page {id}")))?;
            let children = p.children()?;
            let pos = if begin.is_empty() {
                0
            } else {
                let keys = p.entries()?;
                keys.partition_point(|(k, _)| self.cmp.compare(k, begin) != Ordering::Greater)
            };
            let leaf = p.is_leaf_index();
            cur.levels.push(Level { children, pos });
            if leaf {
                break;
            }
            id = cur.levels.last().expect("pushed").children[pos];
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

struct Level {
    children: Vec<PageId>,
    /// Upper levels: the child descended into. Leaf-index level: the next
    /// leaf to read.
    pos: usize,
}

/// Walks leaf entries in key order, reading leaves `prefetch` at a time
/// through the index (no reliance on sibling links).
pub struct ScanCursor {
    levels: Vec<Level>,
    entries: VecDeque<TreeEntry>,
    leaves: VecDeque<(PageId, AlignedBuf)>,
    prefetch: usize,
    loaded: usize,
}

impl ScanCursor {
    /// Ids of up to `n` next leaves, moving through index pages as needed.
    async fn next_leaf_ids<S: PageSource>(
        &mut self,
        ctx: &ReadCtx<'_, S>,
        n: usize,
    ) -> Result<Vec<PageId>> {
        let mut out = Vec::new();
        while out.len() < n && !self.levels.is_empty() {
            let last = self.levels.last_mut().expect("non-empty");
            if last.pos < last.children.len() {
                out.push(last.children[last.pos]);
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
            loop {
                if self.levels.len() > MAX_DEPTH {
                    return Err(Error::corrupted("tree is too deep"));
                }
                let page = ctx.load_index(id).await?;
                let p =
                    IndexPage::parse(&page).map_err(|e| e.context(format_args!("page {id}")))?;
                let children = p.children()?;
                let leaf = p.is_leaf_index();
                id = children[0];
                self.levels.push(Level { children, pos: 0 });
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
                .map(|&id| ctx.file_page(id))
                .collect::<Result<Vec<_>>>()?;
            let pages = ctx.source.read_pages(&fps).await?;
            for ((id, fp), page) in ids.into_iter().zip(fps).zip(pages) {
                verify_page(&page, &[PageType::Data], ctx.skip_checksum)
                    .map_err(|e| e.context(format_args!("page {id} (file page {fp})")))?;
                self.leaves.push_back((id, page));
            }
        }
        let (id, buf) = self.leaves.pop_front().expect("filled");
        let page = DataPage::parse(&buf).map_err(|e| e.context(format_args!("page {id}")))?;
        let entries = page
            .entries()
            .map_err(|e| e.context(format_args!("page {id}")))?;
        if entries.is_empty() {
            return Err(Error::corrupted(format!("data page {id} has no entries")));
        }
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
