//! Overflow pages (type 3) hold values too large for a data page. A value is
//! split over groups of at most `overflow_pointers` pages; the data page
//! entry lists the first group's ids and the last page of each group lists
//! the next group's.
//!
//! Layout: `checksum(8) type(1) value_len(2) value...`, and at the very end
//! of the page `pointers (u32 each) count (u8)`.

use super::coding::{fixed16_at, put_at, set_fixed16, set_fixed32};
use super::page::{AlignedBuf, PAGE_TYPE_OFFSET, PageId, PageType};
use crate::error::{Error, Result};

const VALUE_LEN_OFFSET: usize = 9;
/// Header size of an overflow page; the value chunk starts here.
pub const OVERFLOW_HEADER_SIZE: usize = 11;

/// Value bytes an overflow page holds when it carries no pointers.
pub fn capacity(page_size: usize) -> usize {
    page_size - OVERFLOW_HEADER_SIZE - 1
}

/// Value bytes the last page of a non-final group holds.
pub fn end_capacity(page_size: usize, overflow_pointers: usize) -> usize {
    capacity(page_size) - 4 * overflow_pointers
}

/// Encodes page ids as the little-endian u32 list stored in a data page entry.
pub fn encode_pointers(ids: &[PageId]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.to_le_bytes()).collect()
}

/// Decodes a pointer list; `Corrupted` if its length is not a multiple of 4
/// or it is empty or longer than `max_pointers`.
pub fn decode_pointers(bytes: &[u8], max_pointers: usize) -> Result<Vec<PageId>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) || bytes.len() / 4 > max_pointers.max(1) {
        return Err(Error::corrupted(format!(
            "overflow pointer list of {} bytes is invalid",
            bytes.len()
        )));
    }
    Ok(bytes
        .as_chunks()
        .0
        .iter()
        .map(|c| u32::from_le_bytes(*c))
        .collect())
}

/// Builds one overflow page holding `chunk` and, if non-empty, `pointers`
/// to the next group. No checksum yet.
pub fn build_page(page_size: usize, chunk: &[u8], pointers: &[PageId]) -> AlignedBuf {
    let mut page = AlignedBuf::zeroed(page_size);
    write_page(&mut page, chunk, pointers);
    page
}

/// Writes an overflow page into a page-size buffer.
pub fn write_page(page: &mut [u8], chunk: &[u8], pointers: &[PageId]) {
    let size = page.len();
    debug_assert!(OVERFLOW_HEADER_SIZE + chunk.len() + 4 * pointers.len() < size);
    put_at(page, PAGE_TYPE_OFFSET, &[PageType::Overflow as u8]);
    set_fixed16(page, VALUE_LEN_OFFSET, chunk.len() as u16);
    put_at(page, OVERFLOW_HEADER_SIZE, chunk);
    put_at(page, size - 1, &[pointers.len() as u8]);
    let start = size - 1 - 4 * pointers.len();
    for (i, p) in pointers.iter().enumerate() {
        set_fixed32(page, start + 4 * i, *p);
    }
}

/// Validated view of an overflow page.
#[derive(Clone, Copy, Debug)]
pub struct OverflowPage<'a> {
    /// Size of the whole page.
    page_size: usize,
    value: &'a [u8],
    /// The pointer list: `4 * num_pointers` bytes.
    pointers: &'a [u8],
}

impl<'a> OverflowPage<'a> {
    pub fn parse(page: &'a [u8]) -> Result<OverflowPage<'a>> {
        if page.get(PAGE_TYPE_OFFSET) != Some(&(PageType::Overflow as u8)) {
            return Err(Error::corrupted("not an overflow page"));
        }
        let value_len = fixed16_at(page, VALUE_LEN_OFFSET).unwrap_or(u16::MAX) as usize;
        let num_pointers = page.last().copied().unwrap_or(0) as usize;
        // Header, value, free space, pointers, their count: fails exactly
        // when the value and the pointers do not fit.
        let split = || {
            let (_, body) = page.split_last()?;
            let (body, pointers) =
                body.split_at_checked(body.len().checked_sub(4 * num_pointers)?)?;
            let value = body.get(OVERFLOW_HEADER_SIZE..)?.get(..value_len)?;
            Some((value, pointers))
        };
        let Some((value, pointers)) = split() else {
            return Err(Error::corrupted(format!(
                "overflow page holds {value_len} value bytes and {num_pointers} pointers, more than fits"
            )));
        };
        Ok(OverflowPage {
            page_size: page.len(),
            value,
            pointers,
        })
    }

    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// Ids of the next group (empty for the value's last page).
    pub fn pointers(&self) -> Vec<PageId> {
        self.pointers
            .as_chunks()
            .0
            .iter()
            .map(|c| u32::from_le_bytes(*c))
            .collect()
    }
}

impl OverflowPage<'_> {
    /// Value bytes this page holds.
    pub fn value_len(&self) -> usize {
        self.value.len()
    }

    pub fn num_pointers(&self) -> usize {
        self.pointers.len() / 4
    }
}

/// Checks one group of a value's overflow chain against the writer's
/// layout (FORMAT §4.3), which is all a chain says about itself: no page
/// names its owner or its place, so a page swapped in from another value
/// is caught only when its fill or pointers do not fit the spot.
///
/// Every page but the group's last holds a full chunk and no pointers. A
/// last page with pointers is an end page: the group has as many pages as
/// the writer's `overflow_pointers`, which the end page's smaller capacity
/// (`capacity - 4 * group length` bytes) gives away, and points to at most
/// that many pages. A last page without pointers ends the value with 1 to
/// `capacity` bytes. A group after a non-final one is never longer, and a
/// non-final one after another is as long. `prev` is the previous group's
/// length. Errors are `Corrupted`.
pub fn check_group(pages: &[OverflowPage<'_>], prev: Option<usize>) -> Result<()> {
    let Some((last, middle)) = pages.split_last() else {
        return Err(Error::corrupted("overflow group without pages"));
    };
    let cap = capacity(last.page_size);
    if let Some((i, p)) = middle
        .iter()
        .enumerate()
        .find(|(_, p)| p.value_len() != cap || p.num_pointers() != 0)
    {
        return Err(Error::corrupted(format!(
            "overflow page {} of a group of {} holds {} bytes and {} pointers, \
             not a full chunk of {cap} bytes",
            i + 1,
            pages.len(),
            p.value_len(),
            p.num_pointers()
        )));
    }
    check_group_end(last, pages.len(), prev)
}

/// The part of `check_group` that needs only the group's last page (what
/// freeing a value reads): `group_len` is the group's page count.
pub fn check_group_end(
    last: &OverflowPage<'_>,
    group_len: usize,
    prev: Option<usize>,
) -> Result<()> {
    let cap = capacity(last.page_size);
    if let Some(prev) = prev
        && group_len > prev
    {
        return Err(Error::corrupted(format!(
            "overflow group of {group_len} pages follows a group of {prev}"
        )));
    }
    if last.num_pointers() == 0 {
        if last.value_len() == 0 || last.value_len() > cap {
            return Err(Error::corrupted(format!(
                "last overflow page of a value holds {} bytes",
                last.value_len()
            )));
        }
        return Ok(());
    }
    let end_cap = cap.checked_sub(4 * group_len);
    if end_cap != Some(last.value_len()) || last.num_pointers() > group_len {
        return Err(Error::corrupted(format!(
            "overflow end page of a group of {group_len} holds {} bytes and {} pointers; \
             the layout gives {} bytes and at most {group_len} pointers",
            last.value_len(),
            last.num_pointers(),
            end_cap.map_or("no".to_string(), |c| c.to_string())
        )));
    }
    if prev.is_some_and(|p| p != group_len) {
        return Err(Error::corrupted(format!(
            "overflow group of {group_len} pages continues the chain after a group of {}",
            prev.unwrap_or(0)
        )));
    }
    Ok(())
}

/// How a value of a given length is laid out over overflow pages, computed
/// the way upstream's writer does: full pages, and when a group of
/// `overflow_pointers` pages does not finish the value, its last page holds
/// fewer bytes and the pointers to the next group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverflowLayout {
    /// Page counts of each group, in order.
    pub groups: Vec<usize>,
    /// Value bytes in each page, in order over all groups.
    pub chunks: Vec<usize>,
}

impl OverflowLayout {
    pub fn new(value_len: usize, page_size: usize, overflow_pointers: usize) -> OverflowLayout {
        let cap = capacity(page_size);
        let end_cap = end_capacity(page_size, overflow_pointers);
        let mut remaining = value_len;
        let mut groups = Vec::new();
        let mut chunks = Vec::new();
        while remaining > 0 {
            let n = remaining.div_ceil(cap).min(overflow_pointers);
            groups.push(n);
            for i in 1..=n {
                if i == overflow_pointers && remaining > cap {
                    let c = end_cap.min(remaining);
                    chunks.push(c);
                    remaining -= c;
                    break;
                }
                let c = cap.min(remaining);
                chunks.push(c);
                remaining -= c;
            }
        }
        OverflowLayout { groups, chunks }
    }

    pub fn num_pages(&self) -> usize {
        self.chunks.len()
    }
}

/// Builds every overflow page of `value` given the ids of all its pages in
/// order (as many as `OverflowLayout::num_pages`). Returns `(id, page)`
/// pairs and the pointer list of the first group for the data page entry.
#[allow(clippy::indexing_slicing)] // one id per page (asserted); the chunks sum to the value's length
pub fn build_value_pages(
    value: &[u8],
    ids: &[PageId],
    page_size: usize,
    overflow_pointers: usize,
) -> (Vec<(PageId, AlignedBuf)>, Vec<PageId>) {
    let layout = OverflowLayout::new(value.len(), page_size, overflow_pointers);
    assert_eq!(ids.len(), layout.num_pages(), "one id per overflow page");
    let mut pages = Vec::with_capacity(ids.len());
    let mut pos = 0;
    let mut page_idx = 0;
    for (g, &n) in layout.groups.iter().enumerate() {
        let next_group: &[PageId] = if g + 1 < layout.groups.len() {
            let start = page_idx + n;
            &ids[start..start + layout.groups[g + 1]]
        } else {
            &[]
        };
        for i in 0..n {
            let len = layout.chunks[page_idx];
            let ptrs = if i + 1 == n { next_group } else { &[] };
            pages.push((
                ids[page_idx],
                build_page(page_size, &value[pos..pos + len], ptrs),
            ));
            pos += len;
            page_idx += 1;
        }
    }
    let first = ids[..layout.groups.first().copied().unwrap_or(0)].to_vec();
    (pages, first)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn capacities() {
        assert_eq!(capacity(4096), 4084);
        assert_eq!(end_capacity(4096, 16), 4020);
    }

    #[test]
    fn layout_matches_upstream_algorithm() {
        let l = OverflowLayout::new(5000, 4096, 16);
        assert_eq!(l.groups, [2]);
        assert_eq!(l.chunks, [4084, 916]);
        // Exactly 16 full pages: one group, no end page needed.
        let l = OverflowLayout::new(16 * 4084, 4096, 16);
        assert_eq!(l.groups, [16]);
        // One byte more: the 16th page becomes an end page.
        let l = OverflowLayout::new(16 * 4084 + 1, 4096, 16);
        assert_eq!(l.groups, [16, 1]);
        assert_eq!(l.chunks[15], 4020);
        assert_eq!(l.chunks[16], 16 * 4084 + 1 - 15 * 4084 - 4020);
        assert_eq!(l.chunks.iter().sum::<usize>(), 16 * 4084 + 1);
    }

    #[test]
    fn build_and_read_back() {
        let value: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
        let layout = OverflowLayout::new(value.len(), 4096, 4);
        let ids: Vec<PageId> = (100..100 + layout.num_pages() as u32).collect();
        let (pages, first) = build_value_pages(&value, &ids, 4096, 4);
        assert_eq!(first, &ids[..4]);
        let by_id: std::collections::HashMap<_, _> = pages.into_iter().collect();
        let mut out = Vec::new();
        let mut group = first;
        while !group.is_empty() {
            let mut next = Vec::new();
            for id in &group {
                let p = OverflowPage::parse(&by_id[id]).unwrap();
                out.extend_from_slice(p.value());
                next = p.pointers();
            }
            group = next;
        }
        assert_eq!(out, value);
        assert_eq!(
            decode_pointers(&encode_pointers(&[1, 2]), 16).unwrap(),
            [1, 2]
        );
        assert!(decode_pointers(&[1, 2, 3], 16).is_err());
        assert!(decode_pointers(&[], 16).is_err());
    }

    #[test]
    fn parse_rejects_oversized_fields() {
        let mut p = build_page(4096, b"abc", &[5]);
        assert_eq!(OverflowPage::parse(&p).unwrap().value(), b"abc");
        p[9] = 0xff;
        p[10] = 0x0f;
        assert!(OverflowPage::parse(&p).is_err());
    }

    fn parsed(pages: &[(PageId, AlignedBuf)]) -> Vec<OverflowPage<'_>> {
        pages
            .iter()
            .map(|(_, p)| OverflowPage::parse(p).unwrap())
            .collect()
    }

    /// The groups of a value built by `build_value_pages`, in chain order.
    fn groups(value_len: usize, op: usize) -> Vec<Vec<(PageId, AlignedBuf)>> {
        let value = vec![7u8; value_len];
        let layout = OverflowLayout::new(value_len, 4096, op);
        let ids: Vec<PageId> = (0..layout.num_pages() as u32).collect();
        let (pages, _) = build_value_pages(&value, &ids, 4096, op);
        let mut it = pages.into_iter();
        layout
            .groups
            .iter()
            .map(|&n| it.by_ref().take(n).collect())
            .collect()
    }

    #[test]
    fn writer_layouts_pass_the_group_check() {
        for op in [1, 2, 4, 16] {
            for len in [1, 4084, 4085, 5000, 16 * 4084, 16 * 4084 + 1, 200_000] {
                let mut prev = None;
                for g in groups(len, op) {
                    check_group(&parsed(&g), prev).unwrap_or_else(|e| panic!("{op} {len}: {e}"));
                    let last = OverflowPage::parse(&g.last().unwrap().1).unwrap();
                    check_group_end(&last, g.len(), prev).unwrap();
                    prev = Some(g.len());
                }
            }
        }
    }

    #[test]
    fn misplaced_pages_fail_the_group_check() {
        let a = groups(200_000, 4);
        let b = groups(5000, 4);
        // A value's partial last page in the middle of another's group.
        let mut g = a[0].clone();
        g[1] = b[0][1].clone();
        assert!(check_group(&parsed(&g), None).is_err());
        // An end page (with pointers) in the middle.
        let mut g = a[1].clone();
        g[0] = a[0][3].clone();
        assert!(check_group(&parsed(&g), Some(4)).is_err());
        // An end page ending a shorter final group.
        let mut g = b[0].clone();
        g[1] = a[0][3].clone();
        assert!(check_group(&parsed(&g), None).is_err());
        // A group longer than the one before it.
        assert!(check_group(&parsed(&a[0]), Some(3)).is_err());
        // A non-final group shorter than the one before it.
        let short = groups(200_000, 2);
        assert!(check_group(&parsed(&short[0]), Some(4)).is_err());
        // An empty last page.
        let empty = build_page(4096, b"", &[]);
        let p = OverflowPage::parse(&empty).unwrap();
        assert!(check_group_end(&p, 1, None).is_err());
    }
}
