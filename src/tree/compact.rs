//! Append-mode compaction: the live pages of data files whose space
//! amplification exceeds `file_amplify_factor` are copied verbatim to the
//! append point under the same logical ids, so the files hold nothing live
//! and file GC can delete them. The result is an ordinary `WritePlan`
//! committed through the manifest.

use super::PageSource;
use super::read::ReadCtx;
use super::write::{PageWrite, WritePlan};
use crate::error::Result;
use crate::format::manifest::mapping_value;
use crate::format::page::{FileId, FilePageId, PageId, PageType, page_type, verify_page};
use crate::mapping::PageMapper;

/// Pages read at once while copying.
const READ_BATCH: usize = 64;

/// Moves the live pages of the files `victims` names (at most
/// `max_pages` of them, in ascending old file page order, as upstream) to
/// the append point. `None` when there is nothing to move. Copies the
/// source takes early (`PageSource::write_early`) are not in the plan.
pub async fn compact<S: PageSource>(
    read: &ReadCtx<'_, S>,
    mut mapper: PageMapper,
    victims: &[FileId],
    max_pages: usize,
    root: PageId,
    ttl_root: PageId,
) -> Result<Option<WritePlan>> {
    if victims.is_empty() {
        return Ok(None);
    }
    let shift = mapper.shift();
    let mut moving: Vec<(FilePageId, PageId)> = mapper
        .table()
        .iter()
        .enumerate()
        .filter_map(|(id, v)| {
            let fp = mapping_value::as_file_page(v)?;
            victims
                .binary_search(&(fp >> shift))
                .ok()
                .map(|_| (fp, id as PageId))
        })
        .collect();
    if moving.is_empty() {
        return Ok(None);
    }
    moving.sort_unstable();
    moving.truncate(max_pages.max(1));
    let mut writes = Vec::with_capacity(moving.len());
    let mut changes = Vec::with_capacity(moving.len());
    let mut released = Vec::with_capacity(moving.len());
    for chunk in moving.chunks(READ_BATCH) {
        let fps: Vec<FilePageId> = chunk.iter().map(|c| c.0).collect();
        let pages = read.source.read_pages(&fps).await?;
        for (&(fp, id), page) in chunk.iter().zip(pages) {
            // Never spread damage: a page that fails its checksum stays put.
            verify_page(
                &page,
                &[
                    PageType::NonLeafIndex,
                    PageType::LeafIndex,
                    PageType::Data,
                    PageType::Overflow,
                ],
                false,
            )
            .map_err(|e| e.context(format_args!("compacting page {id} (file page {fp})")))?;
            let is_index = page_type(&page).is_some_and(|t| t.is_index());
            let new_fp = mapper.allocate_file_page();
            mapper.set_file_page(id, new_fp);
            changes.push((id, mapping_value::file_page(new_fp)));
            released.push(fp);
            writes.push(PageWrite {
                fp: new_fp,
                page,
                is_index,
            });
        }
        // Copies go out ahead of the commit when the source takes them, so
        // a compaction holds a few MiB of pages, not all it moves.
        let early = read.source.early_write_pages();
        if early > 0 && writes.len() >= early {
            let out = std::mem::take(&mut writes)
                .into_iter()
                .map(|w| (w.fp, w.page))
                .collect();
            read.source.write_early(out).await?;
        }
        read.source.pause().await;
    }
    Ok(Some(WritePlan {
        mapper,
        root,
        ttl_root,
        writes,
        changes,
        released,
    }))
}
