//! `PageMapper`: the writer's view of a partition's page space — the
//! mapping table, the free list of logical page ids (kept inside the table
//! as upstream does, so snapshots serialise identically), the file page
//! allocator and the file-term map.

use std::collections::BTreeMap;

use super::MappingTable;
use crate::format::manifest::mapping_value::{self, INVALID, TYPE_FREE_LINK, TYPE_MASK};
use crate::format::manifest::{ManifestState, TERM_KEY_MANIFEST, TermMap};
use crate::format::page::{FileId, FilePageId, MAX_PAGE_ID, PageId};

/// Where new file pages come from.
#[derive(Clone, Debug)]
pub enum FileAllocator {
    /// Non-append mode: reuse released file pages (last released first),
    /// then the unused file pages below the loaded `max_fp_id` (highest
    /// first), else grow.
    Pooled {
        free: Vec<FilePageId>,
        unused: UnusedBelow,
    },
    /// Append mode: strictly increasing.
    Append,
}

/// The file pages below a loaded `max_fp_id` that no page maps, handed out
/// highest first without listing them: their number comes from the
/// manifest and is not trusted to size anything.
#[derive(Clone, Debug, Default)]
pub struct UnusedBelow {
    /// Every file page below `top` not in `used` is still unused.
    top: FilePageId,
    /// Mapped file pages below `top`, ascending, without duplicates.
    used: Vec<FilePageId>,
}

impl UnusedBelow {
    fn new(top: FilePageId, mut used: Vec<FilePageId>) -> UnusedBelow {
        used.retain(|&fp| fp < top);
        used.sort_unstable();
        used.dedup();
        UnusedBelow { top, used }
    }

    /// The highest unused file page, removed.
    fn pop(&mut self) -> Option<FilePageId> {
        while self.top > 0 {
            self.top -= 1;
            if self.used.last() == Some(&self.top) {
                self.used.pop();
            } else {
                return Some(self.top);
            }
        }
        None
    }

    #[cfg(any(test, feature = "internals"))]
    fn len(&self) -> u64 {
        self.top - self.used.len() as u64
    }
}

#[derive(Clone, Debug)]
pub struct PageMapper {
    table: MappingTable,
    free_head: PageId,
    free_count: usize,
    alloc: FileAllocator,
    /// Next never-allocated file page.
    max_fp_id: FilePageId,
    shift: u8,
    terms: TermMap,
    term: u64,
    /// Mapped pages per data file (drives compaction and file GC).
    file_live: BTreeMap<FileId, u32>,
}

impl PageMapper {
    /// A partition with no pages yet.
    pub fn new(append: bool, shift: u8, term: u64) -> PageMapper {
        PageMapper {
            table: MappingTable::new(),
            free_head: MAX_PAGE_ID,
            free_count: 0,
            alloc: if append {
                FileAllocator::Append
            } else {
                FileAllocator::Pooled {
                    free: Vec::new(),
                    unused: UnusedBelow::default(),
                }
            },
            max_fp_id: 0,
            shift,
            terms: TermMap::new(),
            term,
            file_live: BTreeMap::new(),
        }
    }

    /// Rebuilds the writer state from a replayed manifest, as upstream does
    /// on load: every unmapped id joins the free list in ascending order
    /// (so the highest is handed out first), and in pooled mode every file
    /// page below `max_fp_id` that no page maps is reusable (highest
    /// first). Memory is proportional to the mapping, never to `max_fp_id`.
    pub fn from_manifest(st: &ManifestState, append: bool, shift: u8, term: u64) -> PageMapper {
        let mut m = PageMapper::new(append, shift, term);
        m.table = MappingTable::from_values(&st.mapping);
        m.max_fp_id = st.max_fp_id;
        m.terms = st.term_map.clone();
        let mut used = Vec::new();
        for id in 0..st.mapping.len() as PageId {
            match mapping_value::as_file_page(st.mapping[id as usize]) {
                Some(fp) => {
                    used.push(fp);
                    *m.file_live.entry(fp >> shift).or_default() += 1;
                }
                None => m.free_page(id),
            }
        }
        if let FileAllocator::Pooled { unused, .. } = &mut m.alloc {
            *unused = UnusedBelow::new(m.max_fp_id, used);
        }
        m
    }

    /// Reserves room for `pages` mapping entries (`init_page_count`).
    pub fn reserve(&mut self, pages: usize) {
        if self.table.is_empty() {
            self.table = MappingTable::with_capacity(pages);
        }
    }

    pub fn table(&self) -> &MappingTable {
        &self.table
    }

    pub fn is_append(&self) -> bool {
        matches!(self.alloc, FileAllocator::Append)
    }

    pub fn shift(&self) -> u8 {
        self.shift
    }

    pub fn max_fp_id(&self) -> FilePageId {
        self.max_fp_id
    }

    pub fn terms(&self) -> &TermMap {
        &self.terms
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn term(&self) -> u64 {
        self.term
    }

    /// Pages currently mapped to a file page.
    pub fn mapped_count(&self) -> usize {
        self.table.len() - self.free_count
    }

    /// File pages ready for reuse (pooled mode).
    #[cfg(any(test, feature = "internals"))]
    pub fn pooled_free(&self) -> u64 {
        match &self.alloc {
            FileAllocator::Pooled { free, unused } => free.len() as u64 + unused.len(),
            FileAllocator::Append => 0,
        }
    }

    pub fn file_page(&self, id: PageId) -> Option<FilePageId> {
        self.table.file_page(id)
    }

    /// A logical page id for a new page: the free-list head, else a new id.
    pub fn get_page(&mut self) -> PageId {
        if self.free_head == MAX_PAGE_ID {
            return self.table.push(INVALID);
        }
        let id = self.free_head;
        let link = self.table.get(id).unwrap_or(INVALID);
        self.free_head = if link & TYPE_MASK == TYPE_FREE_LINK {
            (link >> 3) as PageId
        } else {
            MAX_PAGE_ID
        };
        self.table.set(id, INVALID);
        self.free_count -= 1;
        id
    }

    /// Returns a logical page id to the free list.
    pub fn free_page(&mut self, id: PageId) {
        if let Some(old) = self.table.file_page(id) {
            self.file_unmapped(old);
        }
        let v = if self.free_head == MAX_PAGE_ID {
            INVALID
        } else {
            mapping_value::free_link(self.free_head)
        };
        self.table.set(id, v);
        self.free_head = id;
        self.free_count += 1;
    }

    /// Maps a logical page to a file page.
    pub fn set_file_page(&mut self, id: PageId, fp: FilePageId) {
        if let Some(old) = self.table.file_page(id) {
            self.file_unmapped(old);
        }
        *self.file_live.entry(fp >> self.shift).or_default() += 1;
        self.table.set(id, mapping_value::file_page(fp));
    }

    fn file_unmapped(&mut self, fp: FilePageId) {
        let file = fp >> self.shift;
        if let Some(n) = self.file_live.get_mut(&file) {
            *n -= 1;
            if *n == 0 {
                self.file_live.remove(&file);
            }
        }
    }

    /// Mapped pages per data file (files without any are absent).
    pub fn file_live(&self) -> &BTreeMap<FileId, u32> {
        &self.file_live
    }

    /// Cloud mode, a manifest of another term: the next page goes to the
    /// start of the next file, so this term never appends into a file
    /// another term wrote (upstream's `Replayer::GetMapper`: the bump
    /// happens even when `max_fp_id` is already on a file boundary).
    pub fn start_next_file(&mut self) {
        self.max_fp_id = (self.current_file() + 1) << self.shift;
    }

    /// The file new pages are appended to.
    pub fn current_file(&self) -> FileId {
        self.max_fp_id >> self.shift
    }

    /// Upstream's space-amplification trigger for compaction: the pages
    /// between the oldest live file and the append point, less whole files
    /// without live pages, over the live pages exceeds `factor` (integer
    /// division, as upstream), once that span is at least a file; or the
    /// table holds no live page but files exist.
    pub fn needs_compaction(&self, factor: u8) -> bool {
        if factor == 0 || !self.is_append() {
            return false;
        }
        let live: u64 = self.file_live.values().map(|&n| n as u64).sum();
        let Some(&min_file) = self.file_live.keys().next() else {
            return self.max_fp_id > 0;
        };
        let per_file = 1u64 << self.shift;
        let current = self.current_file();
        // Counted from the live files, not by walking the file ids: the
        // span comes from the manifest and may be huge.
        let empty_between = if min_file < current {
            current - min_file - self.file_live.range(min_file..current).count() as u64
        } else {
            0
        };
        let space = self
            .max_fp_id
            .saturating_sub(min_file << self.shift)
            .saturating_sub(empty_between << self.shift);
        space >= per_file && space / live.max(1) > factor as u64
    }

    /// Files older than the append point that compaction empties: those
    /// whose pages-per-file over live pages exceeds `factor`.
    pub fn compaction_victims(&self, factor: u8) -> Vec<FileId> {
        let per_file = 1u64 << self.shift;
        let current = self.current_file();
        self.file_live
            .iter()
            .filter(|&(&f, &n)| f < current && per_file / n as u64 > factor as u64)
            .map(|(&f, _)| f)
            .collect()
    }

    /// A file page for the next page write, with upstream's term-map
    /// bookkeeping (the file of the allocation point gets the process term).
    pub fn allocate_file_page(&mut self) -> FilePageId {
        if let FileAllocator::Pooled { free, unused } = &mut self.alloc
            && let Some(fp) = free.pop().or_else(|| unused.pop())
        {
            return fp;
        }
        self.note_term(self.max_fp_id >> self.shift);
        let fp = self.max_fp_id;
        self.max_fp_id += 1;
        self.note_term(self.max_fp_id >> self.shift);
        fp
    }

    fn note_term(&mut self, file: FileId) {
        self.terms.entry(file).or_insert(self.term);
    }

    /// Makes file pages reusable once no snapshot refers to them any more
    /// (pooled mode; append mode reclaims space by compaction).
    pub fn release_file_pages(&mut self, fps: impl IntoIterator<Item = FilePageId>) {
        if let FileAllocator::Pooled { free, .. } = &mut self.alloc {
            free.extend(fps);
        }
    }

    /// Moves the append point to the start of the next file (so the next
    /// page goes to a fresh file).
    #[cfg(any(test, feature = "internals"))]
    pub fn skip_to_next_file(&mut self) {
        let next = ((self.max_fp_id >> self.shift) + 1) << self.shift;
        if self.max_fp_id & ((1u64 << self.shift) - 1) != 0 {
            self.max_fp_id = next;
        }
    }

    /// The term map a manifest record carries: every file ever allocated
    /// plus the manifest's own term.
    pub fn terms_for_manifest(&self) -> TermMap {
        let mut t = self.terms.clone();
        t.insert(TERM_KEY_MANIFEST, self.term);
        t
    }

    /// Approximate memory held, for the partition metadata budget.
    pub fn memory_bytes(&self) -> usize {
        self.table.len() * 8
            + self.file_live.len() * 24
            + match &self.alloc {
                FileAllocator::Pooled { free, unused } => {
                    (free.capacity() + unused.used.capacity()) * 8
                }
                FileAllocator::Append => 0,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::manifest::{self, mapping_value::file_page};

    #[test]
    fn free_list_is_lifo_and_rebuilt_ascending() {
        let mut m = PageMapper::new(false, 4, 0);
        let ids: Vec<_> = (0..5).map(|_| m.get_page()).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4]);
        m.free_page(1);
        m.free_page(3);
        assert_eq!(m.get_page(), 3);
        assert_eq!(m.get_page(), 1);
        assert_eq!(m.get_page(), 5);

        let mut st = manifest::ManifestState::empty();
        st.mapping = vec![file_page(0), INVALID, file_page(5), INVALID, INVALID];
        st.max_fp_id = 7;
        let mut m = PageMapper::from_manifest(&st, false, 4, 0);
        assert_eq!(m.mapped_count(), 2);
        assert_eq!(m.get_page(), 4);
        assert_eq!(m.get_page(), 3);
        assert_eq!(m.get_page(), 1);
        assert_eq!(m.get_page(), 5);
        // Free file pages: 1,2,3,4,6; the highest goes first.
        assert_eq!(m.allocate_file_page(), 6);
        assert_eq!(m.allocate_file_page(), 4);
        m.release_file_pages([9]);
        assert_eq!(m.allocate_file_page(), 9);
        for _ in 0..3 {
            m.allocate_file_page();
        }
        assert_eq!(m.allocate_file_page(), 7);
        assert_eq!(m.max_fp_id(), 8);
    }

    #[test]
    fn append_allocation_and_terms() {
        let mut m = PageMapper::new(true, 2, 5);
        let fps: Vec<_> = (0..5).map(|_| m.allocate_file_page()).collect();
        assert_eq!(fps, [0, 1, 2, 3, 4]);
        assert_eq!(m.terms().keys().copied().collect::<Vec<_>>(), [0, 1]);
        m.release_file_pages([1]);
        assert_eq!(m.allocate_file_page(), 5);
        m.skip_to_next_file();
        assert_eq!(m.allocate_file_page(), 8);
        assert_eq!(m.terms_for_manifest().get(&TERM_KEY_MANIFEST), Some(&5));
        assert!(m.terms().values().all(|&t| t == 5));
    }

    #[test]
    fn snapshot_links_match_upstream_shape() {
        let mut st = manifest::ManifestState::empty();
        st.mapping = vec![INVALID, file_page(0), INVALID, INVALID];
        st.max_fp_id = 1;
        let m = PageMapper::from_manifest(&st, false, 4, 0);
        // 0 is the tail, 2 links to 0, 3 (the head) links to 2.
        assert_eq!(
            m.table().to_vec(),
            [
                INVALID,
                file_page(0),
                mapping_value::free_link(0),
                mapping_value::free_link(2)
            ]
        );
    }

    #[test]
    fn huge_max_fp_id_is_not_materialised() {
        // A manifest claiming 2^40 allocated file pages: the pool hands out
        // the highest unused ones without listing them all.
        let mut st = manifest::ManifestState::empty();
        st.mapping = vec![file_page((1 << 40) - 1), INVALID, file_page(3)];
        st.max_fp_id = 1 << 40;
        let mut m = PageMapper::from_manifest(&st, false, 10, 0);
        assert_eq!(m.pooled_free(), (1 << 40) - 2);
        assert!(m.memory_bytes() < 1 << 20);
        assert_eq!(m.allocate_file_page(), (1 << 40) - 2);
        assert_eq!(m.allocate_file_page(), (1 << 40) - 3);
        m.release_file_pages([7]);
        assert_eq!(m.allocate_file_page(), 7);
        assert_eq!(m.pooled_free(), (1 << 40) - 4);
        // The bottom of the pool skips the mapped page 3.
        let mut st = manifest::ManifestState::empty();
        st.mapping = vec![file_page(3), file_page(1)];
        st.max_fp_id = 5;
        let mut m = PageMapper::from_manifest(&st, false, 10, 0);
        let got: Vec<_> = (0..4).map(|_| m.allocate_file_page()).collect();
        assert_eq!(got, [4, 2, 0, 5]);
    }

    #[test]
    fn compaction_trigger_with_a_huge_span() {
        // Append mode: a live page in file 0 and the append point 2^50
        // files later; the trigger is computed without walking the span.
        let mut st = manifest::ManifestState::empty();
        st.mapping = vec![file_page(0)];
        st.max_fp_id = 1 << 60;
        let m = PageMapper::from_manifest(&st, true, 10, 0);
        assert!(m.needs_compaction(2));
        assert_eq!(m.compaction_victims(2), [0]);
    }
}
