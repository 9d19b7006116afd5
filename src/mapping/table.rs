//! The logical-to-file page mapping table, in copy-on-write chunks so that a
//! reader's snapshot costs a reference count, not a copy of the table.

use std::sync::Arc;

use crate::format::manifest::mapping_value::{self, INVALID};
use crate::format::page::{FilePageId, PageId};

const CHUNK_BITS: usize = 12;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;

/// `PageId -> mapping value` (see `format::manifest::mapping_value`).
#[derive(Clone, Debug, Default)]
pub struct MappingTable {
    chunks: Vec<Arc<Vec<u64>>>,
    len: usize,
}

impl MappingTable {
    pub fn new() -> MappingTable {
        MappingTable::default()
    }

    /// An empty table with room for `pages` entries before it reallocates
    /// its chunk list (`KvOptions::init_page_count`).
    pub fn with_capacity(pages: usize) -> MappingTable {
        MappingTable {
            chunks: Vec::with_capacity(pages.div_ceil(CHUNK_LEN)),
            len: 0,
        }
    }

    pub fn from_values(values: &[u64]) -> MappingTable {
        let chunks = values
            .chunks(CHUNK_LEN)
            .map(|c| {
                let mut v = Vec::with_capacity(CHUNK_LEN);
                v.extend_from_slice(c);
                Arc::new(v)
            })
            .collect();
        MappingTable {
            chunks,
            len: values.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, id: PageId) -> Option<u64> {
        let i = id as usize;
        if i >= self.len {
            return None;
        }
        Some(self.chunks[i >> CHUNK_BITS][i & (CHUNK_LEN - 1)])
    }

    /// The file page a logical page maps to, if mapped.
    pub fn file_page(&self, id: PageId) -> Option<FilePageId> {
        self.get(id).and_then(mapping_value::as_file_page)
    }

    /// Sets a value, growing the table with `INVALID` as needed. Chunks
    /// shared with a snapshot are copied first.
    pub fn set(&mut self, id: PageId, value: u64) {
        let i = id as usize;
        if i >= self.len {
            self.grow_to(i + 1);
        }
        Arc::make_mut(&mut self.chunks[i >> CHUNK_BITS])[i & (CHUNK_LEN - 1)] = value;
    }

    /// Appends a value and returns its id.
    pub fn push(&mut self, value: u64) -> PageId {
        let id = self.len as PageId;
        self.set(id, value);
        id
    }

    fn grow_to(&mut self, new_len: usize) {
        while self.len < new_len {
            let ci = self.len >> CHUNK_BITS;
            if ci == self.chunks.len() {
                self.chunks.push(Arc::new(Vec::with_capacity(CHUNK_LEN)));
            }
            let chunk = Arc::make_mut(&mut self.chunks[ci]);
            let fill = (new_len - (ci << CHUNK_BITS)).min(CHUNK_LEN);
            chunk.resize(fill, INVALID);
            self.len = (ci << CHUNK_BITS) + fill;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.chunks.iter().flat_map(|c| c.iter().copied())
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn to_vec(&self) -> Vec<u64> {
        self.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cow_snapshots() {
        let mut t = MappingTable::new();
        for i in 0..10_000u64 {
            assert_eq!(t.push(mapping_value::file_page(i)) as u64, i);
        }
        let snap = t.clone();
        t.set(5, INVALID);
        t.set(20_000, mapping_value::file_page(1));
        assert_eq!(snap.file_page(5), Some(5));
        assert_eq!(t.file_page(5), None);
        assert_eq!(t.len(), 20_001);
        assert_eq!(snap.len(), 10_000);
        assert_eq!(t.get(15_000), Some(INVALID));
        assert_eq!(t.get(20_001), None);
        assert_eq!(t.iter().count(), 20_001);
        let back = MappingTable::from_values(&t.to_vec());
        assert_eq!(back.to_vec(), t.to_vec());
    }
}
