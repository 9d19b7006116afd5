//! Per-shard cache of verified index pages, bounded by `buffer_pool_size`.
//!
//! Keys are `(partition, file page)`: pages are copy-on-write, so the
//! content at a file page never changes while it is mapped, and a new
//! version of a page lives at a new file page. File pages that are released
//! for reuse must be removed (`remove`) before they are written again.
//! Eviction is CLOCK; a page held by a running request (an outstanding
//! `Rc`) is never evicted.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::format::page::{AlignedBuf, FilePageId};

/// A cached page, shared with the requests using it.
pub type PageRef = Rc<AlignedBuf>;

type Key = (u64, FilePageId);

struct Slot {
    key: Key,
    page: PageRef,
    referenced: bool,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, usize>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    hand: usize,
    capacity: usize,
    hits: u64,
    misses: u64,
}

/// CLOCK cache of index pages.
pub struct IndexCache {
    inner: RefCell<Inner>,
}

impl IndexCache {
    /// A cache holding at most `capacity` pages.
    pub fn new(capacity: usize) -> IndexCache {
        IndexCache {
            inner: RefCell::new(Inner {
                capacity,
                ..Default::default()
            }),
        }
    }

    pub fn capacity(&self) -> usize {
        self.inner.borrow().capacity
    }

    pub fn len(&self) -> usize {
        self.inner.borrow().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (hits, misses) since creation.
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

    /// Caches a page, evicting unreferenced pages not in use. When every
    /// page is in use the page is simply not cached.
    pub fn insert(&self, part: u64, fp: FilePageId, page: PageRef) {
        let mut i = self.inner.borrow_mut();
        if i.capacity == 0 {
            return;
        }
        let key = (part, fp);
        if let Some(&idx) = i.map.get(&key) {
            i.slots[idx] = Some(Slot {
                key,
                page,
                referenced: true,
            });
            return;
        }
        let idx = if i.map.len() < i.capacity {
            match i.free.pop() {
                Some(idx) => idx,
                None => {
                    i.slots.push(None);
                    i.slots.len() - 1
                }
            }
        } else {
            match i.evict_one() {
                Some(idx) => idx,
                None => return,
            }
        };
        i.slots[idx] = Some(Slot {
            key,
            page,
            referenced: false,
        });
        i.map.insert(key, idx);
    }

    /// Drops a page (its file page is about to be reused or deleted).
    pub fn remove(&self, part: u64, fp: FilePageId) {
        let mut i = self.inner.borrow_mut();
        if let Some(idx) = i.map.remove(&(part, fp)) {
            i.slots[idx] = None;
            i.free.push(idx);
        }
    }

    /// Drops every page of a partition.
    pub fn remove_partition(&self, part: u64) {
        let mut i = self.inner.borrow_mut();
        let keys: Vec<Key> = i.map.keys().filter(|k| k.0 == part).copied().collect();
        for k in keys {
            let idx = i.map.remove(&k).expect("listed");
            i.slots[idx] = None;
            i.free.push(idx);
        }
    }
}

impl Inner {
    /// Frees one slot by CLOCK: skips pages in use, gives referenced pages
    /// a second chance. `None` if every page is in use.
    fn evict_one(&mut self) -> Option<usize> {
        let n = self.slots.len();
        for _ in 0..2 * n + 1 {
            let idx = self.hand;
            self.hand = (self.hand + 1) % n.max(1);
            let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else {
                continue;
            };
            if Rc::strong_count(&slot.page) > 1 {
                continue;
            }
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            let key = slot.key;
            self.map.remove(&key);
            self.slots[idx] = None;
            return Some(idx);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(b: u8) -> PageRef {
        let mut p = AlignedBuf::zeroed(4096);
        p[0] = b;
        Rc::new(p)
    }

    #[test]
    fn bounded_and_keeps_pages_in_use() {
        let c = IndexCache::new(3);
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
        let c = IndexCache::new(1);
        c.insert(1, 1, page(1));
        let _held = c.get(1, 1).unwrap();
        c.insert(1, 2, page(2));
        assert!(c.get(1, 2).is_none());
        assert_eq!(c.len(), 1);
    }
}
