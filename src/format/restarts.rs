//! The restart array that ends the content of data and index pages:
//! `restart offsets (u16 each), restart count (u16)`. Each offset is the
//! start of a restart region, whose first entry stores its key whole.
//! Parsing checks it once, so that later look-ups cannot leave the page.

use super::coding::{fixed16_at, put_fixed16, set_fixed16};
use super::data_page::CONTENT_LEN_OFFSET;
use super::page::{AlignedBuf, PAGE_ALIGN};
use crate::error::{Error, Result};

/// A page's checked restart array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restarts {
    /// Start of the array (the end of the entries).
    pub off: usize,
    /// Number of restart points.
    pub count: usize,
}

impl Restarts {
    /// Reads and checks the restart array of `page`, a `kind` page (named
    /// in errors) whose entries start at `header`: the content length lies
    /// within the page and holds a count; the array fits below it; the
    /// first point is at `header` and the others ascend strictly below the
    /// array. A page without entries has no restart points: `empty_ok`
    /// says whether that is allowed (index pages), and then an empty array
    /// must mean no entries.
    pub fn parse(page: &[u8], kind: &str, header: usize, empty_ok: bool) -> Result<Restarts> {
        let content_len = fixed16_at(page, CONTENT_LEN_OFFSET).unwrap_or(0) as usize;
        if content_len > page.len() || content_len < header + 2 {
            return Err(Error::corrupted(format!(
                "{kind} page content length {content_len} out of range"
            )));
        }
        let count = fixed16_at(page, content_len - 2).unwrap_or(0) as usize;
        let lowest = if empty_ok { header } else { header + 1 };
        let off = content_len
            .checked_sub(2 + 2 * count)
            .filter(|&off| off >= lowest)
            .ok_or_else(|| {
                Error::corrupted(format!(
                    "{kind} page restart count {count} does not fit content length {content_len}"
                ))
            })?;
        if count == 0 && !empty_ok {
            return Err(Error::corrupted(format!(
                "{kind} page without restart points"
            )));
        }
        // Without entries there are no restarts, and vice versa.
        if (count == 0) != (off == header) {
            return Err(Error::corrupted(format!(
                "{kind} page restart array disagrees with its entries"
            )));
        }
        let r = Restarts { off, count };
        let mut prev = 0usize;
        for i in 0..count {
            let p = r.point(page, i);
            let ok = if i == 0 {
                p == header
            } else {
                p > prev && p < off
            };
            if !ok {
                return Err(Error::corrupted(format!(
                    "{kind} page restart point {i} at offset {p} is invalid"
                )));
            }
            prev = p;
        }
        Ok(r)
    }

    /// Offset of the first entry of restart region `i` (`i < count`, on the
    /// page the array was parsed from).
    pub fn point(&self, page: &[u8], i: usize) -> usize {
        fixed16_at(page, self.off + 2 * i).expect("restart array validated") as usize
    }

    /// Whether the entry at `off`, reached while decoding region `region`,
    /// is that region's restart entry (so it stores its key whole).
    pub fn opens_region(&self, page: &[u8], region: usize, off: usize) -> bool {
        region < self.count && off == self.point(page, region)
    }

    /// The region of the entry that follows one of region `region` (a
    /// `kind` page entry at `off`) ending at `end`. Regions hold whole
    /// entries: the next restart point is where an entry ends, never
    /// inside one, else the page is `Corrupted`.
    pub fn region_after(
        &self,
        page: &[u8],
        kind: &str,
        region: usize,
        off: usize,
        end: usize,
    ) -> Result<usize> {
        if region + 1 >= self.count {
            return Ok(region);
        }
        let next = self.point(page, region + 1);
        if end > next {
            return Err(Error::corrupted(format!(
                "{kind} page entry at offset {off}: runs past the next restart point"
            )));
        }
        Ok(if end == next { region + 1 } else { region })
    }

    /// The key of restart region `i`'s first entry, which a restart entry
    /// stores whole. `header(off)` decodes the entry at `off` of a `kind`
    /// page to `(shared prefix length, stored key bytes)`.
    pub fn whole_key<'p>(
        &self,
        page: &'p [u8],
        kind: &str,
        i: usize,
        header: impl FnOnce(usize) -> Result<(usize, &'p [u8])>,
    ) -> Result<&'p [u8]> {
        let off = self.point(page, i);
        let (shared, key) = header(off)?;
        if shared != 0 {
            return Err(Error::corrupted(format!(
                "{kind} page restart entry at {off} shares a key prefix"
            )));
        }
        Ok(key)
    }

    /// End of restart region `i`: the next region's start, or the array.
    pub fn region_end(&self, page: &[u8], i: usize) -> usize {
        if i + 1 < self.count {
            self.point(page, i + 1)
        } else {
            self.off
        }
    }

    /// The page's content length: entries, then the array and its count.
    pub fn content_len(&self) -> usize {
        self.off + 2 * self.count + 2
    }

    /// The number of leading restart regions whose first key is `<= key`
    /// (binary search; `first_key(i)` gives region `i`'s key).
    pub fn regions_at_most<'k>(
        &self,
        key: &[u8],
        cmp: &dyn super::comparator::Comparator,
        mut first_key: impl FnMut(usize) -> Result<&'k [u8]>,
    ) -> Result<usize> {
        let (mut lo, mut hi) = (0usize, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if cmp.compare(first_key(mid)?, key) == std::cmp::Ordering::Greater {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }
}

/// A page builder's last step: appends the restart array and its count to
/// the entries in `buf`, copies them to the start of `page`, zeroes the
/// rest of its `page_size` bytes and records the content length.
#[allow(clippy::indexing_slicing)] // builders refuse entries past `page_size`; `page` holds that many
pub fn finish_content(buf: &mut Vec<u8>, restarts: &[u16], page: &mut [u8], page_size: usize) {
    for r in restarts {
        put_fixed16(buf, *r);
    }
    put_fixed16(buf, restarts.len() as u16);
    let len = buf.len();
    debug_assert!(len <= page_size);
    page[..len].copy_from_slice(buf);
    page[len..page_size].fill(0);
    set_fixed16(page, CONTENT_LEN_OFFSET, len as u16);
}

/// The buffer a builder's `finish` fills: `finish_content` writes every
/// byte of a whole-block page, so it needs no zeroing then.
pub fn page_buffer(page_size: usize) -> AlignedBuf {
    if page_size.is_multiple_of(PAGE_ALIGN) {
        AlignedBuf::for_read(page_size)
    } else {
        AlignedBuf::zeroed(page_size)
    }
}
