//! Copy-on-write batch application: merges a sorted batch into a tree (and
//! the resulting expiry changes into the TTL tree), producing the pages to
//! write, the mapping changes for the manifest and the file pages to
//! release once no reader needs the old version.
//!
//! Page shapes follow upstream's visible rules: leaves are rebuilt greedily
//! from their merged entries; the first page built from an existing page
//! keeps its logical id, further pages get new ids and a separator equal to
//! the shortest key between the neighbours; a small new leaf takes trailing
//! restart regions from the page before it; index pages split greedily;
//! emptied pages are freed; the root grows a level when it splits and the
//! height never shrinks. Reads go through the old snapshot only.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Range;

use super::PageSource;
use super::cache::PageMap;
use super::read::ReadCtx;
use crate::error::{Error, Result};
use crate::format::checksum::set_page_checksum;
use crate::format::comparator::{BytewiseComparator, Comparator};
use crate::format::compression::{Dictionary, ValueCodec};
use crate::format::data_page::{
    Compression, DataEntry, DataPage, DataPageBuilder, EntryRef, redistribute, set_links,
};
use crate::format::index_page::{IndexPage, IndexPageBuilder};
use crate::format::key_range::{KeyRange, check_bounds};
use crate::format::manifest::mapping_value::{self, INVALID};
use crate::format::overflow::{
    self, OverflowLayout, OverflowPage, check_group_end, decode_pointers,
};
use crate::format::page::{AlignedBuf, FilePageId, MAX_PAGE_ID, PageId, PageType};
use crate::format::ttl::ttl_key;
use crate::mapping::PageMapper;

use super::read::MAX_OVERFLOW_POINTERS;

/// One change of a batch. Batches are sorted by key without duplicates.
#[derive(Clone, Copy, Debug)]
pub struct Change<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub timestamp: u64,
    /// Milliseconds since the epoch; 0 = never expires.
    pub expire_ts: u64,
    pub delete: bool,
}

/// Page geometry and behaviour of a partition's trees.
#[derive(Clone, Copy)]
pub struct TreeConfig<'a> {
    pub page_size: usize,
    pub data_restart_interval: usize,
    pub index_restart_interval: usize,
    pub overflow_pointers: usize,
    pub cmp: &'a dyn Comparator,
}

/// A page to write at commit.
pub struct PageWrite {
    pub fp: FilePageId,
    pub page: AlignedBuf,
    pub is_index: bool,
}

/// Everything a commit needs, once the trees are rebuilt.
pub struct WritePlan {
    pub mapper: PageMapper,
    pub root: PageId,
    pub ttl_root: PageId,
    /// Checksummed pages with their file pages assigned.
    pub writes: Vec<PageWrite>,
    /// `(page id, mapping value)` for the manifest log, in order.
    pub changes: Vec<(PageId, u64)>,
    /// File pages of the old version no longer mapped.
    pub released: Vec<FilePageId>,
}

/// What happened to a subtree, as its parent sees it.
enum Outcome {
    /// The parent's entry for this child stays as it is (the child may have
    /// been rewritten under the same id).
    Same,
    /// The child is replaced by these `(separator, id)` entries; the first
    /// keeps the parent's separator. Empty when the child was freed.
    Replaced(Vec<(Vec<u8>, PageId)>),
}

/// A leaf rewritten by the batch, for fixing the sibling links afterwards.
struct Segment {
    orig: PageId,
    prev: PageId,
    next: PageId,
    outputs: Vec<PageId>,
    /// The original leaf's key range: its neighbours lie outside it.
    range: KeyRange,
}

/// Leaves a batch reads ahead at once, at most (16 MiB of 4 KiB pages
/// would be too much to hold for one request).
const PREFETCH_LEAVES: usize = 512;

/// An index page as the writer edits it: whether its children are leaves,
/// and its `(separator, child)` entries, the leftmost pointer first.
type DecodedIndex = (bool, Vec<(Vec<u8>, PageId)>);

/// State of one batch application.
pub struct TreeWriter<'a, S> {
    read: ReadCtx<'a, S>,
    cfg: TreeConfig<'a>,
    mapper: PageMapper,
    now_ms: u64,
    compress: bool,
    dict: Option<&'a Dictionary>,
    codec: &'a mut ValueCodec,
    writes: Vec<(PageId, AlignedBuf, bool)>,
    written: PageMap<PageId, usize>,
    /// Overflow pages of new values: written once, never rewritten, so
    /// they can go to the source early (see `PageSource::write_early`).
    overflow_writes: Vec<(PageId, AlignedBuf)>,
    /// `overflow_writes` held before they go out early (0: never).
    early_limit: usize,
    changes: Vec<(PageId, u64)>,
    released: Vec<FilePageId>,
    /// TTL-tree changes: key -> upsert (true) or delete.
    ttl: BTreeMap<Vec<u8>, bool>,
    segments: Vec<Segment>,
    leaves: PageMap<PageId, AlignedBuf>,
    /// Leaves read ahead, all at once, for the whole batch (up to
    /// `PREFETCH_LEAVES`) or for the batch's next leaf-index page.
    prefetched: PageMap<PageId, AlignedBuf>,
    /// Index pages decoded by the read-ahead pass, for the write pass.
    decoded: PageMap<PageId, DecodedIndex>,
    leaves_done: usize,
    ttl_mode: bool,
}

impl<'a, S: PageSource> TreeWriter<'a, S> {
    /// `read` must be over the committed snapshot (its key order is
    /// replaced by `cfg.cmp`); `mapper` is the writer's copy of the
    /// partition's page mapper.
    ///
    /// Pages read are checked as readers check them (`tree::read`): a
    /// page outside the key range its parent gives it, or an overflow
    /// chain off the writer's layout, is `Corrupted` before the writer
    /// frees or rewrites anything it names.
    pub fn new(
        mut read: ReadCtx<'a, S>,
        cfg: TreeConfig<'a>,
        mapper: PageMapper,
        now_ms: u64,
        codec: &'a mut ValueCodec,
    ) -> TreeWriter<'a, S> {
        read.cmp = cfg.cmp;
        let early_limit = read.source.early_write_pages();
        TreeWriter {
            read,
            cfg,
            mapper,
            now_ms,
            compress: false,
            dict: None,
            codec,
            writes: Vec::new(),
            written: PageMap::default(),
            overflow_writes: Vec::new(),
            early_limit,
            changes: Vec::new(),
            released: Vec::new(),
            ttl: BTreeMap::new(),
            segments: Vec::new(),
            leaves: PageMap::default(),
            prefetched: PageMap::default(),
            decoded: PageMap::default(),
            leaves_done: 0,
            ttl_mode: false,
        }
    }

    /// Compresses newly written values (with `dict` when there is one).
    pub fn with_compression(mut self, enabled: bool, dict: Option<&'a Dictionary>) -> Self {
        self.compress = enabled;
        self.dict = dict;
        self
    }

    fn cmp(&self) -> &'a dyn Comparator {
        if self.ttl_mode {
            &BytewiseComparator
        } else {
            self.cfg.cmp
        }
    }

    // ---- page bookkeeping -------------------------------------------------

    /// Queues new content for an existing id (its old file page is released).
    fn rewrite(&mut self, id: PageId, page: AlignedBuf, is_index: bool) {
        if let Some(&i) = self.written.get(&id) {
            self.writes[i].1 = page;
            return;
        }
        if let Some(fp) = self.read.mapping.file_page(id)
            && self.mapper.file_page(id) == Some(fp)
        {
            self.released.push(fp);
        }
        self.written.insert(id, self.writes.len());
        self.writes.push((id, page, is_index));
    }

    /// Frees a page id (its old file page is released).
    fn free(&mut self, id: PageId) {
        debug_assert!(
            !self.written.contains_key(&id),
            "page {id} freed after being written"
        );
        if let Some(fp) = self.mapper.file_page(id) {
            self.released.push(fp);
        }
        self.mapper.free_page(id);
        self.changes.push((id, INVALID));
    }

    fn track_ttl(&mut self, expire_ts: u64, key: &[u8], upsert: bool) {
        if expire_ts != 0 && !self.ttl_mode {
            self.ttl.insert(ttl_key(expire_ts, key), upsert);
        }
    }

    fn expired(&self, expire_ts: u64) -> bool {
        expire_ts != 0 && expire_ts <= self.now_ms
    }

    // ---- overflow values --------------------------------------------------

    /// Writes a value to overflow pages; returns the encoded pointer list.
    fn write_overflow(&mut self, value: &[u8]) -> Vec<u8> {
        let layout =
            OverflowLayout::new(value.len(), self.cfg.page_size, self.cfg.overflow_pointers);
        let ids: Vec<PageId> = (0..layout.num_pages())
            .map(|_| self.mapper.get_page())
            .collect();
        let (pages, first) = overflow::build_value_pages(
            value,
            &ids,
            self.cfg.page_size,
            self.cfg.overflow_pointers,
        );
        self.overflow_writes.extend(pages);
        overflow::encode_pointers(&first)
    }

    /// Places a page in the next file page: mapping change and checksum.
    fn place(&mut self, id: PageId, page: &mut AlignedBuf) -> FilePageId {
        let fp = self.mapper.allocate_file_page();
        self.mapper.set_file_page(id, fp);
        self.changes.push((id, mapping_value::file_page(fp)));
        set_page_checksum(&mut page[..self.cfg.page_size]);
        fp
    }

    /// Hands the gathered overflow pages to the source once there are
    /// `early_limit` of them.
    async fn write_overflow_early(&mut self) -> Result<()> {
        if self.early_limit == 0 || self.overflow_writes.len() < self.early_limit {
            return Ok(());
        }
        let pages = std::mem::take(&mut self.overflow_writes);
        let mut out = Vec::with_capacity(pages.len());
        for (id, mut page) in pages {
            let fp = self.place(id, &mut page);
            out.push((fp, page));
        }
        self.read.source.write_early(out).await
    }

    /// Frees every page of an overflow value (reading each group's last page
    /// for the next group's ids).
    async fn free_overflow(&mut self, pointers: &[u8]) -> Result<()> {
        let mut group = decode_pointers(pointers, MAX_OVERFLOW_POINTERS)?;
        let mut seen = 0usize;
        let mut prev_len = None;
        while let Some(&last) = group.last() {
            seen += group.len();
            if seen > self.read.mapping.len() {
                return Err(Error::corrupted("overflow chain loops"));
            }
            let buf = self.read.load(last, &[PageType::Overflow]).await?;
            let page = OverflowPage::parse(&buf)
                .and_then(|p| check_group_end(&p, group.len(), prev_len).map(|()| p))
                .map_err(|e| e.context(format_args!("overflow page {last}")))?;
            let next = page.pointers();
            prev_len = Some(group.len());
            for id in group {
                self.free(id);
            }
            group = next;
        }
        Ok(())
    }

    // ---- leaves -----------------------------------------------------------

    /// Merges a leaf's entries with its part of the batch and rebuilds it.
    async fn apply_leaf(
        &mut self,
        id: Option<PageId>,
        batch: &[Change<'_>],
        range: &KeyRange,
    ) -> Result<Outcome> {
        self.leaves_done += 1;
        if self.leaves_done.is_multiple_of(4) {
            self.read.source.pause().await;
        }
        let buf = match id {
            Some(id) => Some(match self.prefetched.remove(&id) {
                Some(b) => b,
                None => self.read.load_data(id).await?,
            }),
            None => None,
        };
        let page = match (&buf, id) {
            (Some(b), Some(id)) => Some(
                DataPage::parse(b)
                    .and_then(|p| {
                        check_bounds(range.lo(), None, p.first_key()?, &[], self.cmp())?;
                        Ok(p)
                    })
                    .map_err(|e| e.context(format_args!("page {id}")))?,
            ),
            _ => None,
        };
        let (prev, next) = page.as_ref().map_or((MAX_PAGE_ID, MAX_PAGE_ID), |p| {
            (p.prev_page_id(), p.next_page_id())
        });
        // The stored entries are walked in place, merged with the batch.
        let mut base = page.as_ref().map(|p| p.iter());
        let mut have = match &mut base {
            Some(it) => it.next()?,
            None => false,
        };
        let cmp = self.cmp();
        let mut lb = LeafBuild::new(self.cfg, id);
        let mut ci = 0;
        while have || ci < batch.len() {
            let it = base.as_mut();
            let order = match (have, batch.get(ci)) {
                (true, Some(c)) => cmp.compare(it.expect("have").key(), c.key),
                (true, None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    let it = base.as_mut().expect("have");
                    self.keep_base(&mut lb, it.entry()).await?;
                    have = it.next()?;
                }
                Ordering::Equal => {
                    let it = base.as_mut().expect("have");
                    let (b, c) = (it.entry(), &batch[ci]);
                    if c.timestamp >= b.timestamp {
                        if b.overflow {
                            self.free_overflow(b.value).await?;
                        }
                        if c.delete || self.expired(c.expire_ts) {
                            self.track_ttl(b.expire_ts, b.key, false);
                        } else {
                            if b.expire_ts != c.expire_ts {
                                self.track_ttl(b.expire_ts, b.key, false);
                                self.track_ttl(c.expire_ts, c.key, true);
                            }
                            self.add_new(&mut lb, c).await?;
                        }
                    } else {
                        // An older write loses against the stored version.
                        self.keep_base(&mut lb, b).await?;
                    }
                    have = it.next()?;
                    ci += 1;
                }
                Ordering::Greater => {
                    let c = &batch[ci];
                    if !c.delete && !self.expired(c.expire_ts) {
                        self.track_ttl(c.expire_ts, c.key, true);
                        self.add_new(&mut lb, c).await?;
                    }
                    ci += 1;
                }
            }
        }
        // The last stored key against the upper bound (the first was
        // checked above); nothing is committed before the whole batch is.
        if let (Some(it), Some(id)) = (&base, id) {
            check_bounds(None, range.hi(), &[], it.key(), cmp)
                .map_err(|e| e.context(format_args!("page {id}")))?;
        }
        self.finish_leaf(lb, id, prev, next, range)
    }

    /// A stored leaf's entries, which must lie in its key range.
    fn leaf_entries(
        &self,
        id: PageId,
        page: &DataPage<'_>,
        range: &KeyRange,
    ) -> Result<Vec<DataEntry>> {
        let entries = page
            .entries()
            .map_err(|e| e.context(format_args!("page {id}")))?;
        if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
            range
                .check_span(&first.key, &last.key, self.cmp())
                .map_err(|e| e.context(format_args!("page {id}")))?;
        }
        Ok(entries)
    }

    /// Re-adds an unchanged stored entry, dropping it if it has expired.
    async fn keep_base(&mut self, lb: &mut LeafBuild, e: EntryRef<'_>) -> Result<()> {
        if self.expired(e.expire_ts) {
            if e.overflow {
                self.free_overflow(e.value).await?;
            }
            self.track_ttl(e.expire_ts, e.key, false);
            return Ok(());
        }
        self.add_entry(lb, e)
    }

    /// Adds a newly written value, compressed if enabled.
    async fn add_new(&mut self, lb: &mut LeafBuild, c: &Change<'_>) -> Result<()> {
        let (stored, compression) = if self.compress && !self.ttl_mode {
            self.codec.prepare(c.value, self.dict)
        } else {
            (std::borrow::Cow::Borrowed(c.value), Compression::None)
        };
        let e = EntryRef {
            key: c.key,
            value: &stored,
            timestamp: c.timestamp,
            expire_ts: c.expire_ts,
            overflow: false,
            compression,
        };
        self.add_entry(lb, e)?;
        self.write_overflow_early().await
    }

    /// Upstream's add-to-page: try the current page; a value too big for
    /// any page goes to overflow pages; otherwise start a new page.
    fn add_entry(&mut self, lb: &mut LeafBuild, e: EntryRef<'_>) -> Result<()> {
        if lb.builder.add(&e) {
            lb.note(e.key);
            return Ok(());
        }
        if !e.overflow
            && DataPageBuilder::is_overflow_kv(
                self.cfg.page_size,
                e.key,
                e.value.len(),
                e.timestamp,
                e.expire_ts,
            )
        {
            let pointers = self.write_overflow(e.value);
            let p = EntryRef {
                value: &pointers,
                overflow: true,
                ..e
            };
            return self.add_entry(lb, p);
        }
        if lb.builder.is_empty() {
            return Err(Error::invalid_args(format!(
                "entry with a {}-byte key does not fit in a {}-byte page",
                e.key.len(),
                self.cfg.page_size
            )));
        }
        let sep = self.cmp().shortest_separator(&lb.prev_key, e.key);
        self.finish_page(lb);
        lb.sep = sep;
        if !lb.builder.add(&e) {
            return Err(Error::invalid_args(format!(
                "entry with a {}-byte key does not fit in a {}-byte page",
                e.key.len(),
                self.cfg.page_size
            )));
        }
        lb.note(e.key);
        Ok(())
    }

    /// Finishes the page being built, giving it its id (the leaf's own for
    /// the first page, a new one otherwise) and rebalancing a small new page
    /// with the one before it.
    fn finish_page(&mut self, lb: &mut LeafBuild) {
        if lb.builder.is_empty() {
            return;
        }
        let mut page = lb.builder.finish();
        let keep = lb.pages.is_empty() && lb.keep_id.is_some();
        let id = if keep {
            lb.keep_id.expect("checked")
        } else {
            self.mapper.get_page()
        };
        let mut sep = std::mem::take(&mut lb.sep);
        if !keep
            && let Some(last) = lb.pages.last_mut()
            && let Ok(Some((l, r))) = redistribute(&last.2, &page, self.cfg.page_size)
        {
            last.2 = l;
            page = r;
            sep = DataPage::parse(&page)
                .and_then(|p| p.first_key().map(<[u8]>::to_vec))
                .unwrap_or(sep);
        }
        lb.pages.push((sep, id, page));
    }

    fn finish_leaf(
        &mut self,
        mut lb: LeafBuild,
        id: Option<PageId>,
        prev: PageId,
        next: PageId,
        range: &KeyRange,
    ) -> Result<Outcome> {
        self.finish_page(&mut lb);
        let outputs: Vec<PageId> = lb.pages.iter().map(|p| p.1).collect();
        if let Some(id) = id {
            self.segments.push(Segment {
                orig: id,
                prev,
                next,
                outputs: outputs.clone(),
                range: range.clone(),
            });
        } else {
            self.segments.push(Segment {
                orig: MAX_PAGE_ID,
                prev: MAX_PAGE_ID,
                next: MAX_PAGE_ID,
                outputs: outputs.clone(),
                range: KeyRange::full(),
            });
        }
        let list: Vec<(Vec<u8>, PageId)> = lb
            .pages
            .into_iter()
            .map(|(sep, id, page)| {
                self.leaves.insert(id, page);
                (sep, id)
            })
            .collect();
        match id {
            Some(orig) if list.is_empty() => {
                self.free(orig);
                Ok(Outcome::Replaced(Vec::new()))
            }
            Some(_) if list.len() == 1 => Ok(Outcome::Same),
            _ => Ok(Outcome::Replaced(list)),
        }
    }

    /// Sets the sibling links of every rebuilt leaf and rewrites untouched
    /// neighbours whose links change. A neighbour must hold keys outside
    /// the range of the leaf it borders: it is read by its sibling link,
    /// which no separator vouches for.
    async fn link_leaves(&mut self) -> Result<()> {
        let segments = std::mem::take(&mut self.segments);
        // Neighbour -> (new prev, new next, the range its keys must keep to).
        let mut fixes: BTreeMap<PageId, (Option<PageId>, Option<PageId>, KeyRange)> =
            BTreeMap::new();
        let mut i = 0;
        while i < segments.len() {
            // A run of segments adjacent in the old chain.
            let mut j = i;
            while j + 1 < segments.len()
                && segments[j].next == segments[j + 1].orig
                && segments[j].next != MAX_PAGE_ID
            {
                j += 1;
            }
            let before = segments[i].prev;
            let after = segments[j].next;
            let mut chain = vec![before];
            for s in &segments[i..=j] {
                chain.extend_from_slice(&s.outputs);
            }
            chain.push(after);
            for k in 1..chain.len() - 1 {
                let page = self.leaves.get_mut(&chain[k]).expect("built leaf");
                set_links(page, chain[k - 1], chain[k + 1]);
            }
            if before != MAX_PAGE_ID && chain[1] != segments[i].orig {
                let Some(lo) = segments[i].range.lo() else {
                    return Err(Error::corrupted(format!(
                        "data page {}, the first of the tree, links to a previous page {before}",
                        segments[i].orig
                    )));
                };
                let fix = fixes.entry(before).or_default();
                fix.1 = Some(chain[1]);
                fix.2.set_hi(lo);
            }
            if after != MAX_PAGE_ID && chain[chain.len() - 2] != segments[j].orig {
                let Some(hi) = segments[j].range.hi() else {
                    return Err(Error::corrupted(format!(
                        "data page {}, the last of the tree, links to a next page {after}",
                        segments[j].orig
                    )));
                };
                let fix = fixes.entry(after).or_default();
                fix.0 = Some(chain[chain.len() - 2]);
                fix.2.set_lo(hi);
            }
            i = j + 1;
        }
        for (id, (prev, next, range)) in fixes {
            let mut page = self.read.load_data(id).await?;
            let p = DataPage::parse(&page)
                .and_then(|p| p.check_range(&range, self.cmp()).map(|()| p))
                .map_err(|e| e.context(format_args!("page {id}")))?;
            let (old_prev, old_next) = (p.prev_page_id(), p.next_page_id());
            set_links(
                &mut page,
                prev.unwrap_or(old_prev),
                next.unwrap_or(old_next),
            );
            self.rewrite(id, page, false);
        }
        // Leaves in key order, so appended pages land in order.
        for s in &segments {
            for id in &s.outputs {
                let page = self.leaves.remove(id).expect("built leaf");
                self.rewrite(*id, page, false);
            }
        }
        Ok(())
    }

    // ---- index pages ------------------------------------------------------

    /// Applies a batch under an index page.
    async fn apply_index(
        &mut self,
        id: PageId,
        batch: &[Change<'_>],
        depth: usize,
        range: &KeyRange,
    ) -> Result<Outcome> {
        if depth > 64 {
            return Err(Error::corrupted("tree deeper than 64 levels"));
        }
        let (leaf, mut entries) = self.index_entries(id, range).await?;
        let cmp = self.cmp();
        if leaf {
            self.prefetch_leaves(&entries, batch).await?;
        }
        let mut changed = false;
        let mut rebuilt = Vec::with_capacity(entries.len() + 4);
        for (i, part) in split_batch(cmp, &entries, batch).into_iter().enumerate() {
            if part.is_empty() {
                rebuilt.push(std::mem::take(&mut entries[i]));
                continue;
            }
            let sub_range = child_range(range, &entries, i);
            let (sep, child) = std::mem::take(&mut entries[i]);
            let sub = &batch[part];
            let out = if leaf {
                Box::pin(self.apply_leaf(Some(child), sub, &sub_range)).await?
            } else {
                Box::pin(self.apply_index(child, sub, depth + 1, &sub_range)).await?
            };
            changed |= splice(&mut rebuilt, sep, child, out);
        }
        Ok(self.finish_index(id, leaf, changed, rebuilt))
    }

    /// A parsed index page: whether its children are leaves, and its
    /// `(separator, child)` entries with the leftmost pointer first (under
    /// an empty separator). Its separators must lie in `range`.
    async fn index_entries(&mut self, id: PageId, range: &KeyRange) -> Result<DecodedIndex> {
        if let Some(d) = self.decoded.remove(&id) {
            return Ok(d);
        }
        let page = self.read.load_index_in(id, range).await?;
        let p = IndexPage::parse(&page).map_err(|e| e.context(format_args!("page {id}")))?;
        let mut entries = vec![(Vec::new(), p.leftmost())];
        entries.extend(
            p.entries()
                .map_err(|e| e.context(format_args!("page {id}")))?,
        );
        if let (Some(first), Some(last)) = (entries.get(1), entries.last()) {
            range
                .check_span(&first.0, &last.0, self.cmp())
                .map_err(|e| e.context(format_args!("page {id}")))?;
        }
        Ok((p.is_leaf_index(), entries))
    }

    /// The outcome of an index page whose entries became `entries`: as it
    /// was, freed, rebuilt under its id, or split.
    fn finish_index(
        &mut self,
        id: PageId,
        leaf: bool,
        changed: bool,
        entries: Vec<(Vec<u8>, PageId)>,
    ) -> Outcome {
        if !changed {
            return Outcome::Same;
        }
        if entries.is_empty() {
            self.free(id);
            return Outcome::Replaced(Vec::new());
        }
        let list = self.build_index(Some(id), leaf, entries);
        if list.len() == 1 {
            Outcome::Same
        } else {
            Outcome::Replaced(list)
        }
    }

    /// Reads every leaf the batch touches under one leaf-index page at once
    /// (random writes would otherwise wait for one leaf read at a time).
    async fn prefetch_leaves(
        &mut self,
        entries: &[(Vec<u8>, PageId)],
        batch: &[Change<'_>],
    ) -> Result<()> {
        let mut ids = Vec::new();
        for (i, part) in split_batch(self.cmp(), entries, batch).iter().enumerate() {
            if !part.is_empty() && !self.prefetched.contains_key(&entries[i].1) {
                ids.push(entries[i].1);
            }
        }
        if ids.len() < 2 {
            return Ok(());
        }
        self.read_leaves(ids).await
    }

    /// Reads leaves into `prefetched`: copies of cached ones, the others
    /// all at once from the disk.
    async fn read_leaves(&mut self, ids: Vec<PageId>) -> Result<()> {
        let mut disk = Vec::new();
        for id in ids {
            match self.read.cached_data(id)? {
                Some(p) => {
                    self.prefetched.insert(id, AlignedBuf::from_slice(&p));
                }
                None => disk.push(id),
            }
        }
        if disk.is_empty() {
            return Ok(());
        }
        let fps = disk
            .iter()
            .map(|&id| self.read.file_page(id))
            .collect::<Result<Vec<_>>>()?;
        let pages = self.read.source.read_pages(&fps).await?;
        for ((id, fp), page) in disk.into_iter().zip(fps).zip(pages) {
            crate::format::page::verify_page(&page, &[PageType::Data], self.read.skip_checksum)
                .map_err(|e| e.context(format_args!("page {id} (file page {fp})")))?;
            self.prefetched.insert(id, page);
        }
        Ok(())
    }

    /// Reads every leaf the batch touches at once (up to
    /// `PREFETCH_LEAVES`), walking the index pages above them, which the
    /// write pass then takes decoded: a random batch waits for the disk
    /// once instead of once per leaf-index page.
    async fn prefetch_batch(&mut self, root: PageId, batch: &[Change<'_>]) -> Result<()> {
        let mut ids = Vec::new();
        Box::pin(self.collect_leaves(root, batch, 0, &KeyRange::full(), &mut ids)).await?;
        if ids.len() >= 2 {
            self.read_leaves(ids).await?;
        }
        Ok(())
    }

    async fn collect_leaves(
        &mut self,
        id: PageId,
        batch: &[Change<'_>],
        depth: usize,
        range: &KeyRange,
        out: &mut Vec<PageId>,
    ) -> Result<()> {
        if depth > 64 || out.len() >= PREFETCH_LEAVES {
            return Ok(());
        }
        let (leaf, entries) = self.index_entries(id, range).await?;
        let parts = split_batch(self.cmp(), &entries, batch);
        for (i, part) in parts.into_iter().enumerate() {
            if part.is_empty() {
                continue;
            }
            if out.len() >= PREFETCH_LEAVES {
                break;
            }
            if leaf {
                out.push(entries[i].1);
            } else {
                let sub_range = child_range(range, &entries, i);
                Box::pin(self.collect_leaves(
                    entries[i].1,
                    &batch[part],
                    depth + 1,
                    &sub_range,
                    out,
                ))
                .await?;
            }
        }
        self.decoded.insert(id, (leaf, entries));
        Ok(())
    }

    /// Builds index pages greedily from `(separator, child)` entries (the
    /// first separator is ignored: it becomes the leftmost pointer).
    fn build_index(
        &mut self,
        keep_id: Option<PageId>,
        leaf: bool,
        entries: Vec<(Vec<u8>, PageId)>,
    ) -> Vec<(Vec<u8>, PageId)> {
        let mut b = IndexPageBuilder::new(self.cfg.page_size, self.cfg.index_restart_interval);
        let mut out: Vec<(Vec<u8>, PageId)> = Vec::new();
        let mut sep = Vec::new();
        let mut it = entries.into_iter();
        let first = it.next().expect("at least one child");
        b.add_leftmost(first.1, leaf);
        for (k, c) in it {
            if !b.add(&k, c) {
                let page = b.finish();
                self.emit_index(&mut out, keep_id, std::mem::take(&mut sep), page);
                b.add_leftmost(c, leaf);
                sep = k;
            }
        }
        let page = b.finish();
        self.emit_index(&mut out, keep_id, sep, page);
        out
    }

    fn emit_index(
        &mut self,
        out: &mut Vec<(Vec<u8>, PageId)>,
        keep_id: Option<PageId>,
        sep: Vec<u8>,
        page: AlignedBuf,
    ) {
        let id = match keep_id {
            Some(id) if out.is_empty() => id,
            _ => self.mapper.get_page(),
        };
        self.rewrite(id, page, true);
        out.push((sep, id));
    }

    /// Turns a replaced root into a root id, growing levels as needed.
    /// `leaf` tells whether the entries are data pages, which always get a
    /// `LeafIndex` root of their own.
    fn new_root(&mut self, mut list: Vec<(Vec<u8>, PageId)>, leaf: bool) -> PageId {
        if list.is_empty() {
            return MAX_PAGE_ID;
        }
        if leaf {
            list = self.build_index(None, true, list);
        }
        while list.len() > 1 {
            list = self.build_index(None, false, list);
        }
        list[0].1
    }

    /// Applies a sorted batch to the tree under `root`; returns the new root.
    async fn apply_tree(&mut self, root: PageId, batch: &[Change<'_>]) -> Result<PageId> {
        if batch.is_empty() {
            return Ok(root);
        }
        let full = KeyRange::full();
        let (outcome, leaf_level) = if root == MAX_PAGE_ID {
            (self.apply_leaf(None, batch, &full).await?, true)
        } else {
            if batch.len() > 1 {
                self.prefetch_batch(root, batch).await?;
            }
            (self.apply_index(root, batch, 0, &full).await?, false)
        };
        self.decoded.clear();
        self.link_leaves().await?;
        Ok(match outcome {
            Outcome::Same => root,
            Outcome::Replaced(list) => self.new_root(list, leaf_level),
        })
    }

    /// Applies a batch to the main tree, then its expiry changes to the TTL
    /// tree.
    pub async fn apply(
        &mut self,
        root: PageId,
        ttl_root: PageId,
        batch: &[Change<'_>],
    ) -> Result<(PageId, PageId)> {
        let root = self.apply_tree(root, batch).await?;
        let ttl_root = self.apply_ttl(ttl_root).await?;
        Ok((root, ttl_root))
    }

    async fn apply_ttl(&mut self, ttl_root: PageId) -> Result<PageId> {
        if self.ttl.is_empty() {
            return Ok(ttl_root);
        }
        let ttl = std::mem::take(&mut self.ttl);
        let changes: Vec<Change<'_>> = ttl
            .iter()
            .map(|(k, &upsert)| Change {
                key: k,
                value: &[],
                timestamp: 0,
                expire_ts: 0,
                delete: !upsert,
            })
            .collect();
        // The TTL tree is ordered bytewise, for reads as for writes.
        self.ttl_mode = true;
        self.read.cmp = &BytewiseComparator;
        let r = self.apply_tree(ttl_root, &changes).await;
        self.ttl_mode = false;
        self.read.cmp = self.cfg.cmp;
        r
    }

    // ---- truncation -------------------------------------------------------

    /// Deletes every key `>= pos` of the main tree (and their TTL entries).
    pub async fn truncate(
        &mut self,
        root: PageId,
        ttl_root: PageId,
        pos: &[u8],
    ) -> Result<(PageId, PageId)> {
        if root == MAX_PAGE_ID {
            return Ok((root, ttl_root));
        }
        let outcome = self.truncate_index(root, pos, 0, &KeyRange::full()).await?;
        self.link_leaves().await?;
        let root = match outcome {
            Outcome::Same => root,
            Outcome::Replaced(list) => self.new_root(list, false),
        };
        let ttl_root = self.apply_ttl(ttl_root).await?;
        Ok((root, ttl_root))
    }

    async fn truncate_index(
        &mut self,
        id: PageId,
        pos: &[u8],
        depth: usize,
        range: &KeyRange,
    ) -> Result<Outcome> {
        if depth > 64 {
            return Err(Error::corrupted("tree deeper than 64 levels"));
        }
        let (leaf, mut entries) = self.index_entries(id, range).await?;
        let cmp = self.cfg.cmp;
        // Children entirely at or above `pos` go; the one holding `pos` is
        // cut; those below stay.
        let cut = entries[1..].partition_point(|(k, _)| cmp.compare(k, pos) != Ordering::Greater);
        let mut ranges: Vec<KeyRange> = (cut..entries.len())
            .map(|i| child_range(range, &entries, i))
            .collect();
        let mut kept: Vec<(Vec<u8>, PageId)> = entries.drain(..=cut).collect();
        let removed = entries;
        let changed_tail = !removed.is_empty();
        for ((_, child), r) in removed.iter().zip(&ranges[1..]) {
            Box::pin(self.delete_subtree(*child, leaf, depth + 1, r)).await?;
        }
        let cut_range = ranges.swap_remove(0);
        let (sep, child) = kept.pop().expect("cut child");
        let out = if leaf {
            self.truncate_leaf(child, pos, &cut_range).await?
        } else {
            Box::pin(self.truncate_index(child, pos, depth + 1, &cut_range)).await?
        };
        let changed = splice(&mut kept, sep, child, out) | changed_tail;
        Ok(self.finish_index(id, leaf, changed, kept))
    }

    /// Keeps the keys below `pos` of one leaf; everything after it in the
    /// chain is gone, so its next link becomes the end.
    async fn truncate_leaf(&mut self, id: PageId, pos: &[u8], range: &KeyRange) -> Result<Outcome> {
        let buf = self.read.load_data(id).await?;
        let page = DataPage::parse(&buf).map_err(|e| e.context(format_args!("page {id}")))?;
        let prev = page.prev_page_id();
        let entries = self.leaf_entries(id, &page, range)?;
        drop(buf);
        let mut lb = LeafBuild::new(self.cfg, Some(id));
        for e in &entries {
            if self.cfg.cmp.compare(&e.key, pos) == Ordering::Less {
                self.keep_base(&mut lb, e.as_ref()).await?;
            } else {
                self.drop_entry(e).await?;
            }
        }
        self.finish_leaf(lb, Some(id), prev, MAX_PAGE_ID, range)
    }

    async fn drop_entry(&mut self, e: &DataEntry) -> Result<()> {
        if e.overflow {
            self.free_overflow(&e.value).await?;
        }
        self.track_ttl(e.expire_ts, &e.key, false);
        Ok(())
    }

    /// Frees a whole subtree, its overflow values and TTL entries. Its
    /// pages must keep to `range`: a misplaced page would free another
    /// subtree's pages.
    async fn delete_subtree(
        &mut self,
        id: PageId,
        is_data: bool,
        depth: usize,
        range: &KeyRange,
    ) -> Result<()> {
        if depth > 64 {
            return Err(Error::corrupted("tree deeper than 64 levels"));
        }
        if is_data {
            let buf = self.read.load_data(id).await?;
            let page = DataPage::parse(&buf).map_err(|e| e.context(format_args!("page {id}")))?;
            let entries = self.leaf_entries(id, &page, range)?;
            drop(buf);
            for e in &entries {
                self.drop_entry(e).await?;
            }
        } else {
            let (leaf, entries) = self.index_entries(id, range).await?;
            for i in 0..entries.len() {
                let r = child_range(range, &entries, i);
                Box::pin(self.delete_subtree(entries[i].1, leaf, depth + 1, &r)).await?;
            }
        }
        self.free(id);
        Ok(())
    }

    /// Frees every page of both trees (truncate with an empty position).
    pub fn truncate_all(&mut self) -> (PageId, PageId) {
        for id in 0..self.mapper.table().len() as PageId {
            if self.mapper.file_page(id).is_some() {
                self.free(id);
            }
        }
        (MAX_PAGE_ID, MAX_PAGE_ID)
    }

    /// Assigns file pages to the queued pages, checksums them and returns
    /// the commit plan.
    pub fn finish(mut self, root: PageId, ttl_root: PageId) -> WritePlan {
        let mut writes = Vec::with_capacity(self.writes.len() + self.overflow_writes.len());
        let overflow = std::mem::take(&mut self.overflow_writes)
            .into_iter()
            .map(|(id, page)| (id, page, false));
        let pages: Vec<_> = std::mem::take(&mut self.writes)
            .into_iter()
            .chain(overflow)
            .collect();
        for (id, mut page, is_index) in pages {
            let fp = self.place(id, &mut page);
            writes.push(PageWrite { fp, page, is_index });
        }
        WritePlan {
            mapper: self.mapper,
            root,
            ttl_root,
            writes,
            changes: self.changes,
            released: self.released,
        }
    }
}

/// Splits a batch sorted by key over the children of an index page with
/// `(separator, child)` entries (the leftmost first): one range of `batch`
/// per child, child `i` taking the changes below separator `i + 1`.
fn split_batch(
    cmp: &dyn Comparator,
    entries: &[(Vec<u8>, PageId)],
    batch: &[Change<'_>],
) -> Vec<Range<usize>> {
    let mut start = 0;
    let mut parts = Vec::with_capacity(entries.len());
    for next in entries.iter().skip(1) {
        let end = batch_below(batch, start, &next.0, cmp);
        parts.push(start..end);
        start = end;
    }
    if !entries.is_empty() {
        parts.push(start..batch.len());
    }
    parts
}

/// The end of the run of `batch[start..]` below `hi`. Most children of an
/// index page get no change (a sequential load appends under the last
/// one): one comparison says so before any binary search.
fn batch_below(batch: &[Change<'_>], start: usize, hi: &[u8], cmp: &dyn Comparator) -> usize {
    match batch.get(start) {
        Some(c) if cmp.compare(c.key, hi) == Ordering::Less => {
            start
                + 1
                + batch[start + 1..].partition_point(|c| cmp.compare(c.key, hi) == Ordering::Less)
        }
        _ => start,
    }
}

/// The key range of child `i` of an index page with `range`, given its
/// `(separator, child)` entries (the leftmost first, under an empty
/// separator).
fn child_range(range: &KeyRange, entries: &[(Vec<u8>, PageId)], i: usize) -> KeyRange {
    let lo = if i == 0 {
        range.lo()
    } else {
        Some(&entries[i].0[..])
    };
    let hi = entries.get(i + 1).map_or(range.hi(), |e| Some(&e.0[..]));
    KeyRange::new(lo, hi)
}

/// Puts a child's outcome into its parent's entry list (the first
/// replacement keeps the parent's separator); true if the list changed.
fn splice(entries: &mut Vec<(Vec<u8>, PageId)>, sep: Vec<u8>, child: PageId, out: Outcome) -> bool {
    match out {
        Outcome::Same => {
            entries.push((sep, child));
            false
        }
        Outcome::Replaced(list) => {
            let mut sep = Some(sep);
            for (s, c) in list {
                entries.push((sep.take().unwrap_or(s), c));
            }
            true
        }
    }
}

/// A leaf being rebuilt into one or more pages.
struct LeafBuild {
    builder: DataPageBuilder,
    /// Finished pages: (separator, id, page).
    pages: Vec<(Vec<u8>, PageId, AlignedBuf)>,
    /// Separator of the page being built.
    sep: Vec<u8>,
    prev_key: Vec<u8>,
    keep_id: Option<PageId>,
}

impl LeafBuild {
    fn new(cfg: TreeConfig<'_>, keep_id: Option<PageId>) -> LeafBuild {
        LeafBuild {
            builder: DataPageBuilder::new(cfg.page_size, cfg.data_restart_interval),
            pages: Vec::new(),
            sep: Vec::new(),
            prev_key: Vec::new(),
            keep_id,
        }
    }

    fn note(&mut self, key: &[u8]) {
        self.prev_key.clear();
        self.prev_key.extend_from_slice(key);
    }
}
