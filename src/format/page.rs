//! What every page shares: its size rules, the checksum/type header and an
//! aligned buffer that O_DIRECT I/O can read into and write from.

use bytemuck::{Pod, Zeroable};

use super::checksum::{self, CHECKSUM_BYTES};
use crate::error::{Error, Result};

/// Logical page id (a B+tree node or an overflow page).
pub type PageId = u32;
/// "No page": empty tree root, end of a sibling chain.
pub const MAX_PAGE_ID: PageId = u32::MAX;
/// Physical page slot: `(file_id << pages_per_file_shift) | slot`.
pub type FilePageId = u64;
/// Data file number.
pub type FileId = u64;

/// Alignment of manifest records and of every page buffer (the OS page size
/// on x86-64 and aarch64 Linux; upstream uses `sysconf(_SC_PAGESIZE)`).
pub const PAGE_ALIGN: usize = 4096;

/// Offset of the page type byte in every page.
pub const PAGE_TYPE_OFFSET: usize = CHECKSUM_BYTES;

/// Upstream's `PageType`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageType {
    NonLeafIndex = 0,
    LeafIndex = 1,
    Data = 2,
    Overflow = 3,
    Deleted = 255,
}

impl PageType {
    pub fn from_u8(v: u8) -> Option<PageType> {
        Some(match v {
            0 => PageType::NonLeafIndex,
            1 => PageType::LeafIndex,
            2 => PageType::Data,
            3 => PageType::Overflow,
            255 => PageType::Deleted,
            _ => return None,
        })
    }

    pub fn is_index(self) -> bool {
        matches!(self, PageType::NonLeafIndex | PageType::LeafIndex)
    }

    pub fn name(self) -> &'static str {
        match self {
            PageType::NonLeafIndex => "non-leaf index",
            PageType::LeafIndex => "leaf index",
            PageType::Data => "data",
            PageType::Overflow => "overflow",
            PageType::Deleted => "deleted",
        }
    }
}

/// The type byte of a page, if it names a known type.
pub fn page_type(page: &[u8]) -> Option<PageType> {
    page.get(PAGE_TYPE_OFFSET)
        .and_then(|&b| PageType::from_u8(b))
}

/// Checks a page read from disk: checksum (unless `skip_checksum`) and that
/// its type is one of `expected`. Errors are `Corrupted`.
pub fn verify_page(page: &[u8], expected: &[PageType], skip_checksum: bool) -> Result<PageType> {
    let Some(&type_byte) = page.get(PAGE_TYPE_OFFSET) else {
        return Err(Error::corrupted("page shorter than its header"));
    };
    if !skip_checksum && !checksum::verify_page_checksum(page) {
        return Err(Error::corrupted(format!(
            "page checksum mismatch: stored {:#018x}, computed {:#018x}",
            checksum::stored_checksum(page),
            checksum::page_checksum(page)
        )));
    }
    match PageType::from_u8(type_byte) {
        Some(t) if expected.contains(&t) => Ok(t),
        _ => Err(Error::corrupted(format!(
            "unexpected page type {type_byte} (wanted {})",
            expected
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(" or ")
        ))),
    }
}

/// One aligned block of a page buffer.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(4096))]
pub struct Block([u8; PAGE_ALIGN]);

/// A 4096-aligned byte buffer of a multiple of 4096 bytes, as O_DIRECT
/// reads and writes require. Its bytes are always initialised: zeroed, or
/// (from [`AlignedBuf::for_read`]) what an earlier buffer held.
///
/// Page-sized buffers are recycled through a small per-thread pool when
/// dropped, so the read path does not pay an allocation and a memset for
/// every page it reads.
pub struct AlignedBuf {
    blocks: Box<[Block]>,
}

/// Buffers of up to this many blocks are recycled.
const POOL_MAX_BLOCKS: usize = 16;
/// Bytes a thread keeps for reuse, per buffer size.
const POOL_BYTES_PER_SIZE: usize = 1 << 20;
/// Bytes a thread keeps of one-block buffers, the size of every page read:
/// concurrent scans and point reads have hundreds in flight at once, and a
/// buffer the pool cannot supply is allocated and zeroed. (Buffers kept
/// here are not reused for other allocations: more costs peak memory.)
const POOL_BYTES_ONE_BLOCK: usize = 4 << 20;

thread_local! {
    /// Recycled buffers by block count (index `n - 1`).
    static POOL: std::cell::RefCell<[Vec<Box<[Block]>>; POOL_MAX_BLOCKS]> =
        std::cell::RefCell::new(std::array::from_fn(|_| Vec::new()));
}

fn pool_take(n: usize) -> Option<Box<[Block]>> {
    POOL.try_with(|p| p.borrow_mut().get_mut(n.checked_sub(1)?)?.pop())
        .ok()
        .flatten()
}

fn pool_give(blocks: Box<[Block]>) {
    let n = blocks.len();
    if n == 0 || n > POOL_MAX_BLOCKS {
        return;
    }
    let bytes = if n == 1 {
        POOL_BYTES_ONE_BLOCK
    } else {
        POOL_BYTES_PER_SIZE
    };
    let cap = bytes / (n * PAGE_ALIGN);
    // During thread teardown the pool may be gone: the buffer is freed.
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut()
            && let Some(free) = p.get_mut(n - 1)
            && free.len() < cap
        {
            free.push(blocks);
        }
    });
}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes rounded up to the alignment.
    pub fn zeroed(len: usize) -> AlignedBuf {
        let n = len.div_ceil(PAGE_ALIGN);
        match pool_take(n) {
            Some(mut blocks) => {
                blocks.fill(Block::zeroed());
                AlignedBuf { blocks }
            }
            None => AlignedBuf {
                blocks: vec![Block::zeroed(); n].into_boxed_slice(),
            },
        }
    }

    /// A buffer of `len` bytes (rounded up) that a read is about to fill:
    /// its contents are unspecified (initialised bytes, possibly those of
    /// an earlier page), so never use bytes a read did not write.
    pub fn for_read(len: usize) -> AlignedBuf {
        match pool_take(len.div_ceil(PAGE_ALIGN)) {
            Some(blocks) => AlignedBuf { blocks },
            None => AlignedBuf::zeroed(len),
        }
    }

    /// A buffer holding a copy of `bytes` (zero-padded to the alignment).
    pub fn from_slice(bytes: &[u8]) -> AlignedBuf {
        let mut b = AlignedBuf::zeroed(bytes.len());
        super::coding::put_at(&mut b, 0, bytes);
        b
    }

    pub fn len(&self) -> usize {
        self.blocks.len() * PAGE_ALIGN
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

impl Clone for AlignedBuf {
    fn clone(&self) -> Self {
        let mut b = AlignedBuf::for_read(self.len());
        b.blocks.copy_from_slice(&self.blocks);
        b
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        pool_give(std::mem::take(&mut self.blocks));
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.blocks)
    }
}

impl AsMut<[u8]> for AlignedBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.blocks)
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_ref()
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut()
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBuf({} bytes)", self.len())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buf_is_aligned_and_zeroed() {
        let b = AlignedBuf::zeroed(5000);
        assert_eq!(b.len(), 8192);
        assert_eq!(b.as_ptr() as usize % PAGE_ALIGN, 0);
        assert!(b.iter().all(|&x| x == 0));
        let c = AlignedBuf::from_slice(b"abc");
        assert_eq!(&c[..4], b"abc\0");
    }

    #[test]
    fn verify_rejects_bad_type_and_checksum() {
        let mut p = vec![0u8; 4096];
        p[PAGE_TYPE_OFFSET] = 2;
        checksum::set_page_checksum(&mut p);
        assert_eq!(
            verify_page(&p, &[PageType::Data], false).unwrap(),
            PageType::Data
        );
        assert!(verify_page(&p, &[PageType::LeafIndex], false).is_err());
        p[4000] = 1;
        assert!(verify_page(&p, &[PageType::Data], false).is_err());
        assert!(verify_page(&p, &[PageType::Data], true).is_ok());
        p[PAGE_TYPE_OFFSET] = 9;
        assert!(verify_page(&p, &[PageType::Data], true).is_err());
    }
}
