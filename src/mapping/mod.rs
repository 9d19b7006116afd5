//! Page mapping: the logical-to-file page table, its free lists and file
//! page allocation, and the partition state a manifest describes.

pub mod mapper;
pub mod table;

pub use mapper::PageMapper;

pub use table::MappingTable;

use std::collections::{BTreeSet, HashMap};

use crate::error::{Error, Result};
use crate::format::manifest::mapping_value::{self, INVALID, TYPE_FREE_LINK, TYPE_MASK};
use crate::format::page::{FileId, FilePageId, PageId};

/// What `verify_mapping` found in a sound table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MappingSummary {
    pub mapped: usize,
    pub free: usize,
    pub files: BTreeSet<FileId>,
}

/// Checks a mapping table for consistency: no file page mapped twice, no
/// file page at or beyond `max_fp_id`, and, when `links` is set, free-list
/// links that point at free entries within the table without sharing or
/// cycling. Links are only meaningful in a snapshot record by itself: log
/// records map pages without rewriting the links of the others, and the
/// free list is rebuilt on load. Errors are `Corrupted` and name the page.
pub fn verify_mapping(
    table: &MappingTable,
    max_fp_id: FilePageId,
    pages_per_file_shift: u8,
    links: bool,
) -> Result<MappingSummary> {
    let mut owner: HashMap<FilePageId, PageId> = HashMap::with_capacity(table.len());
    let mut summary = MappingSummary::default();
    let mut linked_from: HashMap<PageId, PageId> = HashMap::new();
    for (id, v) in table.iter().enumerate() {
        let id = id as PageId;
        if let Some(fp) = mapping_value::as_file_page(v) {
            if fp >= max_fp_id {
                return Err(Error::corrupted(format!(
                    "page {id} maps to file page {fp}, beyond the allocated end {max_fp_id}"
                )));
            }
            if let Some(other) = owner.insert(fp, id) {
                return Err(Error::corrupted(format!(
                    "file page {fp} is mapped by both page {other} and page {id}"
                )));
            }
            summary.mapped += 1;
            summary.files.insert(fp >> pages_per_file_shift);
            continue;
        }
        summary.free += 1;
        if v == INVALID || !links {
            continue;
        }
        if v & TYPE_MASK != TYPE_FREE_LINK {
            return Err(Error::corrupted(format!(
                "page {id} has mapping value {v:#x} of unknown type"
            )));
        }
        let next = (v >> 3) as PageId;
        match table.get(next) {
            Some(nv) if mapping_value::as_file_page(nv).is_none() => {}
            Some(_) => {
                return Err(Error::corrupted(format!(
                    "free page {id} links to page {next}, which is in use"
                )));
            }
            None => {
                return Err(Error::corrupted(format!(
                    "free page {id} links to page {next}, beyond the table"
                )));
            }
        }
        if let Some(other) = linked_from.insert(next, id) {
            return Err(Error::corrupted(format!(
                "free pages {other} and {id} both link to page {next}"
            )));
        }
    }
    // Links form chains; a chain that never reaches an end is a cycle.
    for &start in linked_from.keys() {
        let mut cur = start;
        let mut steps = 0usize;
        while let Some(v) = table.get(cur).filter(|v| v & TYPE_MASK == TYPE_FREE_LINK) {
            cur = (v >> 3) as PageId;
            steps += 1;
            if steps > linked_from.len() {
                return Err(Error::corrupted(format!(
                    "free list through page {start} forms a cycle"
                )));
            }
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapping_value::{file_page, free_link};

    #[test]
    fn verify_catches_inconsistencies() {
        let ok = MappingTable::from_values(&[file_page(0), free_link(2), INVALID, file_page(3)]);
        let s = verify_mapping(&ok, 4, 2, true).unwrap();
        assert_eq!((s.mapped, s.free), (2, 2));
        assert_eq!(s.files.into_iter().collect::<Vec<_>>(), [0]);
        let dup = MappingTable::from_values(&[file_page(1), file_page(1)]);
        assert!(
            verify_mapping(&dup, 4, 2, true)
                .unwrap_err()
                .message()
                .contains("both")
        );
        let beyond = MappingTable::from_values(&[file_page(9)]);
        assert!(verify_mapping(&beyond, 4, 2, true).is_err());
        let to_used = MappingTable::from_values(&[free_link(1), file_page(0)]);
        assert!(verify_mapping(&to_used, 4, 2, true).is_err());
        let cycle = MappingTable::from_values(&[free_link(1), free_link(0)]);
        assert!(
            verify_mapping(&cycle, 4, 2, true)
                .unwrap_err()
                .message()
                .contains("cycle")
        );
        let shared = MappingTable::from_values(&[free_link(2), free_link(2), INVALID]);
        assert!(verify_mapping(&shared, 4, 2, true).is_err());
        assert!(verify_mapping(&to_used, 4, 2, false).is_ok());
        let out = MappingTable::from_values(&[free_link(7)]);
        assert!(verify_mapping(&out, 4, 2, true).is_err());
    }
}
