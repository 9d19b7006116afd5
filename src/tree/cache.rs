//! Per-shard cache of verified pages, bounded by `buffer_pool_size`.
//!
//! Index pages come first: every lookup goes through them. Data pages may
//! use at most half of the budget, and only what index pages leave free;
//! they are evicted before any index page. (Upstream caches index pages
//! only and reads every data page from the disk; reads that find their
//! leaf here skip the disk altogether.)
//!
//! Keys are `(partition, file page)`: pages are copy-on-write, so the
//! content at a file page never changes while it is mapped, and a new
//! version of a page lives at a new file page. File pages that are released
//! for reuse must be removed (`remove`) before they are written again.
//! Eviction is CLOCK; a page held by a running request (an outstanding
//! `Rc`) is never evicted.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::rc::Rc;

use crate::format::page::FilePageId;

/// A cached page, shared with the requests using it. Plain (unaligned)
/// memory: only buffers that take part in O_DIRECT I/O need 4096-byte
/// alignment, which the allocator pays for with as much padding again, so
/// a page read from the disk is copied once into a right-sized block when
/// it is cached.
pub type PageRef = Rc<[u8]>;

/// A cached copy of a page.
pub fn page_ref(page: &[u8]) -> PageRef {
    Rc::from(page)
}

type Key = (u64, FilePageId);

/// Hashes cache keys (two integers) and page ids with a rotate, xor and
/// multiply per word: std's SipHash cost more than the rest of a cache
/// lookup. The keys are page numbers the engine assigns, not outside input.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

/// A map keyed by engine-assigned page numbers.
pub type PageMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.add(word);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// What a cached page is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageClass {
    Index,
    Data,
}

struct Slot {
    key: Key,
    page: PageRef,
    class: PageClass,
    referenced: bool,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, usize, BuildHasherDefault<KeyHasher>>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    hand: usize,
    capacity: usize,
    data_pages: usize,
    hits: u64,
    misses: u64,
}

/// CLOCK cache of index pages and (within a share of the budget) data
/// pages.
pub struct PageCache {
    inner: RefCell<Inner>,
}

impl PageCache {
    /// A cache holding at most `capacity` pages.
    pub fn new(capacity: usize) -> PageCache {
        PageCache {
            inner: RefCell::new(Inner {
                capacity,
                ..Default::default()
            }),
        }
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn capacity(&self) -> usize {
        self.inner.borrow().capacity
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn len(&self) -> usize {
        self.inner.borrow().map.len()
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cached data pages.
    #[cfg(any(test, feature = "internals"))]
    pub fn data_pages(&self) -> usize {
        self.inner.borrow().data_pages
    }

    /// (hits, misses) since creation.
    #[cfg(any(test, feature = "internals"))]
    pub fn stats(&self) -> (u64, u64) {
        let i = self.inner.borrow();
        (i.hits, i.misses)
    }

    pub fn get(&self, part: u64, fp: FilePageId) -> Option<PageRef> {
        let mut i = self.inner.borrow_mut();
        match i.map.get(&(part, fp)).copied() {
            Some(idx) => {
                i.hits += 1;
                let slot = i.slots[idx].as_mut().expect("mapped slot is live");
                slot.referenced = true;
                Some(slot.page.clone())
            }
            None => {
                i.misses += 1;
                None
            }
        }
    }

    /// Caches an index page, evicting unreferenced pages not in use (data
    /// pages first). When every page is in use the page is not cached.
    pub fn insert(&self, part: u64, fp: FilePageId, page: PageRef) {
        self.insert_as(part, fp, page, PageClass::Index);
    }

    /// Caches a data page if the data share of the budget allows, evicting
    /// only data pages for it.
    pub fn insert_data(&self, part: u64, fp: FilePageId, page: PageRef) {
        self.insert_as(part, fp, page, PageClass::Data);
    }

    fn insert_as(&self, part: u64, fp: FilePageId, page: PageRef, class: PageClass) {
        let mut i = self.inner.borrow_mut();
        if i.capacity == 0 {
            return;
        }
        let key = (part, fp);
        if let Some(&idx) = i.map.get(&key) {
            let old = i.slots[idx].as_ref().map(|s| s.class);
            if old == Some(PageClass::Data) {
                i.data_pages -= 1;
            }
            if class == PageClass::Data {
                i.data_pages += 1;
            }
            i.slots[idx] = Some(Slot {
                key,
                page,
                class,
                referenced: true,
            });
            return;
        }
        let data_full = class == PageClass::Data && i.data_pages >= i.capacity / 2;
        let idx = if i.map.len() < i.capacity && !data_full {
            match i.free.pop() {
                Some(idx) => idx,
                None => {
                    i.slots.push(None);
                    i.slots.len() - 1
                }
            }
        } else {
            let victim = match i.evict(PageClass::Data) {
                Some(idx) => Some(idx),
                None if class == PageClass::Index => i.evict(PageClass::Index),
                None => None,
            };
            match victim {
                Some(idx) => idx,
                None => return,
            }
        };
        if class == PageClass::Data {
            i.data_pages += 1;
        }
        i.slots[idx] = Some(Slot {
            key,
            page,
            class,
            referenced: false,
        });
        i.map.insert(key, idx);
    }

    /// Drops a page (its file page is about to be reused or deleted).
    pub fn remove(&self, part: u64, fp: FilePageId) {
        let mut i = self.inner.borrow_mut();
        if let Some(idx) = i.map.remove(&(part, fp)) {
            i.clear_slot(idx);
            i.free.push(idx);
        }
    }

    /// Drops every page of a partition.
    pub fn remove_partition(&self, part: u64) {
        let mut i = self.inner.borrow_mut();
        let keys: Vec<Key> = i.map.keys().filter(|k| k.0 == part).copied().collect();
        for k in keys {
            let idx = i.map.remove(&k).expect("listed");
            i.clear_slot(idx);
            i.free.push(idx);
        }
    }
}

impl Inner {
    fn clear_slot(&mut self, idx: usize) {
        if let Some(s) = self.slots[idx].take()
            && s.class == PageClass::Data
        {
            self.data_pages -= 1;
        }
    }

    /// Frees one slot holding a page of `class` by CLOCK: skips pages in
    /// use, gives referenced pages a second chance. `None` if none can go.
    fn evict(&mut self, class: PageClass) -> Option<usize> {
        let n = self.slots.len();
        if n == 0 || (class == PageClass::Data && self.data_pages == 0) {
            return None;
        }
        for _ in 0..2 * n + 1 {
            let idx = self.hand;
            self.hand = (self.hand + 1) % n;
            let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else {
                continue;
            };
            if slot.class != class || Rc::strong_count(&slot.page) > 1 {
                continue;
            }
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            let key = slot.key;
            self.map.remove(&key);
            self.clear_slot(idx);
            return Some(idx);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(b: u8) -> PageRef {
        let mut p = vec![0u8; 4096];
        p[0] = b;
        page_ref(&p)
    }

    #[test]
    fn bounded_and_keeps_pages_in_use() {
        let c = PageCache::new(3);
        c.insert(1, 10, page(1));
        let held = c.get(1, 10).unwrap();
        c.insert(1, 11, page(2));
        c.insert(1, 12, page(3));
        for fp in 13..20 {
            c.insert(1, fp, page(fp as u8));
            assert!(c.len() <= 3);
        }
        // The page held by a reader survived every eviction.
        assert_eq!(c.get(1, 10).unwrap()[0], 1);
        drop(held);
        c.remove(1, 10);
        assert!(c.get(1, 10).is_none());
        c.insert(2, 10, page(9));
        c.remove_partition(1);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(2, 10).unwrap()[0], 9);
    }

    #[test]
    fn all_pinned_means_not_cached() {
        let c = PageCache::new(1);
        c.insert(1, 1, page(1));
        let _held = c.get(1, 1).unwrap();
        c.insert(1, 2, page(2));
        assert!(c.get(1, 2).is_none());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn data_pages_take_at_most_half_and_go_first() {
        let c = PageCache::new(8);
        for fp in 0..20 {
            c.insert_data(1, fp, page(fp as u8));
            assert!(c.data_pages() <= 4);
        }
        assert_eq!(c.data_pages(), 4);
        // Index pages fill the rest, then push data pages out.
        for fp in 100..108 {
            c.insert(1, fp, page(0));
        }
        assert_eq!(c.len(), 8);
        assert_eq!(c.data_pages(), 0);
        for fp in 100..108 {
            assert!(c.get(1, fp).is_some(), "index page {fp} kept");
        }
        // With only index pages cached, a data page finds no victim.
        c.insert_data(1, 50, page(50));
        assert!(c.get(1, 50).is_none());
        assert_eq!(c.data_pages(), 0);
        // Removing an index page makes room for data again.
        c.remove(1, 100);
        c.insert_data(1, 51, page(51));
        assert_eq!(c.get(1, 51).unwrap()[0], 51);
        assert_eq!(c.data_pages(), 1);
        c.remove_partition(1);
        assert_eq!((c.len(), c.data_pages()), (0, 0));
    }
}
