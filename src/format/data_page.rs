//! Data pages (type 2): the leaves of the B+tree, holding prefix-compressed
//! entries in restart regions, linked to their neighbours by logical id.
//!
//! Layout: `checksum(8) type(1) content_len(2) prev(4) next(4)`, entries,
//! restart offsets (u16 each), restart count (u16), padding.

use std::cmp::Ordering;

use super::coding::{
    decode_i64_delta, encode_i64_delta, fixed32_at, get_varint32, get_varint64, put_at,
    put_varint32, put_varint64, set_fixed16, set_fixed32, varint_len,
};
use super::comparator::Comparator;
use super::key_range::KeyRange;
use super::page::{AlignedBuf, MAX_PAGE_ID, PAGE_TYPE_OFFSET, PageId, PageType};
use super::restarts::Restarts;
use crate::error::{Error, Result};

/// Offset of `content_len` (shared by data and index pages).
pub const CONTENT_LEN_OFFSET: usize = 9;
const PREV_OFFSET: usize = 11;
const NEXT_OFFSET: usize = 15;
/// Size of the data page header; the first entry starts here.
pub const DATA_HEADER_SIZE: usize = 19;

/// Bits of the value-length field below the length itself.
const VAL_FLAG_BITS: u32 = 4;
const FLAG_OVERFLOW: u32 = 1 << 0;
const FLAG_EXPIRE: u32 = 1 << 1;
const COMPRESSION_SHIFT: u32 = 2;

/// How a stored value is compressed (bits 2-3 of the value-length field).
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    #[default]
    None = 0,
    /// zstd with the partition's dictionary.
    Dictionary = 1,
    /// zstd without a dictionary.
    Standalone = 2,
}

impl Compression {
    pub fn from_bits(bits: u32) -> Option<Compression> {
        match bits {
            0 => Some(Compression::None),
            1 => Some(Compression::Dictionary),
            2 => Some(Compression::Standalone),
            _ => None,
        }
    }
}

/// An entry to add to a page, borrowing its bytes.
///
/// `value` is what the page stores: the (possibly compressed) value itself,
/// or for an overflow entry the encoded list of overflow page ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRef<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub timestamp: u64,
    /// Milliseconds since the epoch; 0 means never expires.
    pub expire_ts: u64,
    pub overflow: bool,
    pub compression: Compression,
}

/// An owned data page entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataEntry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub timestamp: u64,
    pub expire_ts: u64,
    pub overflow: bool,
    pub compression: Compression,
}

impl DataEntry {
    pub fn as_ref(&self) -> EntryRef<'_> {
        EntryRef {
            key: &self.key,
            value: &self.value,
            timestamp: self.timestamp,
            expire_ts: self.expire_ts,
            overflow: self.overflow,
            compression: self.compression,
        }
    }
}

impl EntryRef<'_> {
    pub fn to_owned(self) -> DataEntry {
        DataEntry {
            key: self.key.to_vec(),
            value: self.value.to_vec(),
            timestamp: self.timestamp,
            expire_ts: self.expire_ts,
            overflow: self.overflow,
            compression: self.compression,
        }
    }

    fn val_field(&self) -> u64 {
        let mut f = (self.value.len() as u64) << VAL_FLAG_BITS;
        if self.overflow {
            f |= FLAG_OVERFLOW as u64;
        }
        if self.expire_ts != 0 {
            f |= FLAG_EXPIRE as u64;
        }
        f | ((self.compression as u64) << COMPRESSION_SHIFT)
    }
}

/// Writers store timestamps above `i64::MAX` as `i64::MAX`, as upstream.
fn clamp_ts(ts: u64) -> i64 {
    ts.min(i64::MAX as u64) as i64
}

fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Validated view of a data page. Parsing checks the header and restart
/// array so that later reads cannot go out of bounds; entry bytes are
/// checked as they are decoded.
#[derive(Clone, Copy, Debug)]
pub struct DataPage<'a> {
    page: &'a [u8],
    restarts: Restarts,
}

impl<'a> DataPage<'a> {
    pub fn parse(page: &'a [u8]) -> Result<DataPage<'a>> {
        if page.get(PAGE_TYPE_OFFSET) != Some(&(PageType::Data as u8)) {
            return Err(Error::corrupted("not a data page"));
        }
        let restarts = Restarts::parse(page, "data", DATA_HEADER_SIZE, false)?;
        let p = DataPage { page, restarts };
        Ok(p)
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn bytes(&self) -> &'a [u8] {
        self.page
    }

    pub fn content_len(&self) -> usize {
        self.restarts.content_len()
    }

    pub fn prev_page_id(&self) -> PageId {
        fixed32_at(self.page, PREV_OFFSET).expect("header validated")
    }

    pub fn next_page_id(&self) -> PageId {
        fixed32_at(self.page, NEXT_OFFSET).expect("header validated")
    }

    pub fn num_restarts(&self) -> usize {
        self.restarts.count
    }

    /// Offset of the first entry of restart region `i`.
    pub fn restart(&self, i: usize) -> usize {
        self.restarts.point(self.page, i)
    }

    /// End offset of the entries (start of the restart array).
    #[cfg(any(test, feature = "internals"))]
    pub fn entries_end(&self) -> usize {
        self.restarts.off
    }

    /// The raw bytes of restart region `i` (`i < num_restarts`). Parsing
    /// checked that the restart points ascend within the entries, so the
    /// range always lies in the page (it would give an empty region else).
    pub fn region(&self, i: usize) -> &'a [u8] {
        self.page
            .get(self.restart(i)..self.restarts.region_end(self.page, i))
            .unwrap_or_default()
    }

    pub fn iter(&self) -> DataPageIter<'a> {
        DataPageIter::new(*self)
    }

    /// Every entry, in page order.
    pub fn entries(&self) -> Result<Vec<DataEntry>> {
        let mut it = self.iter();
        let mut out = Vec::new();
        while it.next()? {
            out.push(it.entry().to_owned());
        }
        Ok(out)
    }

    /// Every entry with a flag telling whether it starts a restart region,
    /// enough to rebuild this page byte for byte.
    #[cfg(any(test, feature = "internals"))]
    pub fn entries_with_restarts(&self) -> Result<Vec<(DataEntry, bool)>> {
        let mut it = self.iter();
        let mut out = Vec::new();
        while it.next()? {
            out.push((it.entry().to_owned(), it.is_restart()));
        }
        Ok(out)
    }

    /// Key of the first entry of region `i` (restart entries store full keys).
    fn restart_key(&self, i: usize) -> Result<&'a [u8]> {
        self.restarts.whole_key(self.page, "data", i, |off| {
            let h = decode_entry_header(self.page, off, self.restarts.off)?;
            Ok((h.shared, h.key))
        })
    }

    /// The smallest key (a restart entry's key is stored whole).
    pub fn first_key(&self) -> Result<&'a [u8]> {
        self.restart_key(0)
    }

    /// Checks that the page's keys lie in `range` (its first and last key;
    /// only the last restart region is decoded). `Corrupted` otherwise.
    pub fn check_range(&self, range: &KeyRange, cmp: &dyn Comparator) -> Result<()> {
        self.check_bounds(range.lo(), range.hi(), cmp)
    }

    /// [`check_range`](Self::check_range) over borrowed bounds.
    pub fn check_bounds(
        &self,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
        cmp: &dyn Comparator,
    ) -> Result<()> {
        if lo.is_none() && hi.is_none() {
            return Ok(());
        }
        let first = self.first_key()?;
        let mut it = self.iter();
        it.seek_to_restart(self.restarts.count - 1);
        // Parsing guarantees every region holds an entry; the key stays
        // on the last one when `next` reports the end.
        while it.next()? {}
        super::key_range::check_bounds(lo, hi, first, &it.key, cmp)
    }

    /// Binary search over restart keys: `(exact, idx)` where `idx` is the
    /// first region whose start key is `>= key` (`num_restarts` if none).
    fn search_region(&self, key: &[u8], cmp: &dyn Comparator) -> Result<(bool, usize)> {
        let at_most = self
            .restarts
            .regions_at_most(key, cmp, |i| self.restart_key(i))?;
        // Restart keys ascend, so only the last one `<= key` can equal it.
        if let Some(last) = at_most.checked_sub(1)
            && cmp.compare(self.restart_key(last)?, key) == Ordering::Equal
        {
            return Ok((true, last));
        }
        Ok((false, at_most))
    }
}

/// An entry's fixed part, split off the page bytes.
struct EntryHeader<'a> {
    shared: usize,
    flags: u32,
    /// The key bytes after the shared prefix.
    key: &'a [u8],
    value: &'a [u8],
    /// The bytes after the value, up to the restart array (the timestamps
    /// and the following entries).
    rest: &'a [u8],
}

fn decode_entry_header(page: &[u8], off: usize, limit: usize) -> Result<EntryHeader<'_>> {
    let bad = || Error::corrupted(format!("data page entry at offset {off} is malformed"));
    let mut cur = page.get(off..limit).ok_or_else(bad)?;
    let shared = get_varint32(&mut cur).ok_or_else(bad)? as usize;
    let non_shared = get_varint32(&mut cur).ok_or_else(bad)? as usize;
    let val_field = get_varint32(&mut cur).ok_or_else(bad)?;
    let val_len = (val_field >> VAL_FLAG_BITS) as usize;
    let (key, cur) = cur.split_at_checked(non_shared).ok_or_else(bad)?;
    let (value, rest) = cur.split_at_checked(val_len).ok_or_else(bad)?;
    Ok(EntryHeader {
        shared,
        flags: val_field & ((1 << VAL_FLAG_BITS) - 1),
        key,
        value,
        rest,
    })
}

/// Cursor over a data page's entries, decoding prefix-compressed keys and
/// timestamp deltas as it goes. Errors are `Corrupted`.
#[derive(Clone, Debug)]
pub struct DataPageIter<'a> {
    page: DataPage<'a>,
    /// Offset of the next entry to decode.
    offset: usize,
    /// Region of the next entry to decode.
    region: usize,
    valid: bool,
    is_restart: bool,
    key: Vec<u8>,
    value: &'a [u8],
    timestamp: u64,
    expire_ts: u64,
    overflow: bool,
    compression: Compression,
}

impl<'a> DataPageIter<'a> {
    fn new(page: DataPage<'a>) -> DataPageIter<'a> {
        DataPageIter {
            page,
            offset: DATA_HEADER_SIZE,
            region: 0,
            valid: false,
            is_restart: false,
            key: Vec::new(),
            value: &[],
            timestamp: 0,
            expire_ts: 0,
            overflow: false,
            compression: Compression::None,
        }
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn page(&self) -> &DataPage<'a> {
        &self.page
    }

    /// Whether the cursor is on an entry.
    #[cfg(any(test, feature = "internals"))]
    pub fn valid(&self) -> bool {
        self.valid
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn expire_ts(&self) -> u64 {
        self.expire_ts
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Whether the current entry starts a restart region.
    #[cfg(any(test, feature = "internals"))]
    pub fn is_restart(&self) -> bool {
        self.is_restart
    }

    pub fn entry(&self) -> EntryRef<'_> {
        EntryRef {
            key: &self.key,
            value: self.value,
            timestamp: self.timestamp,
            expire_ts: self.expire_ts,
            overflow: self.overflow,
            compression: self.compression,
        }
    }

    /// Whether another entry follows the current position.
    #[cfg(any(test, feature = "internals"))]
    pub fn has_next(&self) -> bool {
        self.offset < self.page.restarts.off
    }

    /// Moves to the next entry; `Ok(false)` at the end of the page.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<bool> {
        if self.offset >= self.page.restarts.off {
            self.valid = false;
            return Ok(false);
        }
        let off = self.offset;
        let restart = self
            .page
            .restarts
            .opens_region(self.page.page, self.region, off);
        let h = decode_entry_header(self.page.page, off, self.page.restarts.off)?;
        let bad = |what: &str| Error::corrupted(format!("data page entry at offset {off}: {what}"));
        if restart && h.shared != 0 {
            return Err(bad("restart entry shares a key prefix"));
        }
        if h.shared > self.key.len() {
            return Err(bad("shared prefix longer than the previous key"));
        }
        let compression = Compression::from_bits(h.flags >> COMPRESSION_SHIFT)
            .ok_or_else(|| bad("invalid compression type"))?;
        self.key.truncate(h.shared);
        self.key.extend_from_slice(h.key);
        self.value = h.value;
        let mut cur = h.rest;
        self.expire_ts = if h.flags & FLAG_EXPIRE != 0 {
            get_varint64(&mut cur).ok_or_else(|| bad("truncated expire timestamp"))?
        } else {
            0
        };
        let delta =
            decode_i64_delta(get_varint64(&mut cur).ok_or_else(|| bad("truncated timestamp"))?);
        self.timestamp = if restart {
            delta as u64
        } else {
            (self.timestamp as i64).wrapping_add(delta) as u64
        };
        self.overflow = h.flags & FLAG_OVERFLOW != 0;
        self.compression = compression;
        self.is_restart = restart;
        // `rest` ends at the restart array.
        self.offset = self.page.restarts.off - cur.len();
        self.region = self.page.restarts.region_after(
            self.page.page,
            "data",
            self.region,
            off,
            self.offset,
        )?;
        self.valid = true;
        Ok(true)
    }

    fn seek_to_restart(&mut self, region: usize) {
        self.region = region;
        self.offset = self.page.restart(region);
        self.key.clear();
        self.timestamp = 0;
        self.valid = false;
    }

    /// Positions on the first entry `>= key`; `Ok(false)` if every entry is
    /// smaller.
    pub fn seek(&mut self, key: &[u8], cmp: &dyn Comparator) -> Result<bool> {
        let (exact, ceil) = self.page.search_region(key, cmp)?;
        if exact || ceil == 0 {
            self.seek_to_restart(ceil);
            return self.next();
        }
        self.seek_to_restart(ceil - 1);
        while self.next()? {
            if cmp.compare(&self.key, key) != Ordering::Less {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Positions on the last entry `<= key`; `Ok(false)` if every entry is
    /// larger. A following `next()` continues after that entry.
    pub fn seek_floor(&mut self, key: &[u8], cmp: &dyn Comparator) -> Result<bool> {
        let (exact, ceil) = self.page.search_region(key, cmp)?;
        if exact {
            self.seek_to_restart(ceil);
            return self.next();
        }
        if ceil == 0 {
            self.valid = false;
            return Ok(false);
        }
        self.seek_to_restart(ceil - 1);
        let limit = self.page.restarts.region_end(self.page.page, ceil - 1);
        let mut best: Option<DataPageIter<'a>> = None;
        while self.offset < limit && self.next()? {
            if cmp.compare(&self.key, key) == Ordering::Greater {
                break;
            }
            best = Some(self.clone());
        }
        match best {
            Some(b) => {
                *self = b;
                Ok(true)
            }
            None => Err(Error::corrupted(
                "data page restart key is below the search key but no entry is",
            )),
        }
    }
}

/// Builds data pages exactly as upstream's `DataPageBuilder`: greedy fill, a
/// restart every `restart_interval` entries, zero padding.
#[derive(Clone, Debug)]
pub struct DataPageBuilder {
    page_size: usize,
    restart_interval: usize,
    buf: Vec<u8>,
    restarts: Vec<u16>,
    /// Entries since the last restart.
    counter: usize,
    count: usize,
    last_key: Vec<u8>,
    last_ts: i64,
}

impl DataPageBuilder {
    pub fn new(page_size: usize, restart_interval: usize) -> DataPageBuilder {
        let mut b = DataPageBuilder {
            page_size,
            restart_interval: restart_interval.max(1),
            buf: Vec::with_capacity(page_size),
            restarts: Vec::new(),
            counter: 0,
            count: 0,
            last_key: Vec::new(),
            last_ts: 0,
        };
        b.reset();
        b
    }

    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf.resize(DATA_HEADER_SIZE, 0);
        put_at(&mut self.buf, PAGE_TYPE_OFFSET, &[PageType::Data as u8]);
        self.restarts.clear();
        self.restarts.push(DATA_HEADER_SIZE as u16);
        self.counter = 0;
        self.count = 0;
        self.last_key.clear();
        self.last_ts = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of entries added since the last reset.
    #[cfg(any(test, feature = "internals"))]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Bytes the page would take if finished now.
    pub fn current_size(&self) -> usize {
        self.buf.len() + 2 * self.restarts.len() + 2
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Bytes an entry adds, with or without opening a restart region.
    fn entry_size(&self, e: &EntryRef<'_>, restart: bool) -> (usize, usize, u64) {
        let (shared, last_ts, extra) = if restart {
            (0, 0, 2)
        } else {
            (shared_prefix(&self.last_key, e.key), self.last_ts, 0)
        };
        let ts_field = encode_i64_delta(clamp_ts(e.timestamp).wrapping_sub(last_ts));
        let size = extra + entry_encoded_len(e, shared) + varint_len(ts_field);
        (size, shared, ts_field)
    }

    /// Whether a value of `val_len` stored bytes must go to overflow pages:
    /// true when the entry would not fit even into an empty page.
    pub fn is_overflow_kv(
        page_size: usize,
        key: &[u8],
        val_len: usize,
        timestamp: u64,
        expire_ts: u64,
    ) -> bool {
        let reserved = DATA_HEADER_SIZE + 4;
        if reserved + val_len > page_size {
            return true;
        }
        let expire = if expire_ts != 0 {
            varint_len(expire_ts)
        } else {
            0
        };
        let size = varint_len(0)
            + varint_len(key.len() as u64)
            + varint_len((val_len as u64) << VAL_FLAG_BITS)
            + key.len()
            + val_len
            + expire
            + varint_len(encode_i64_delta(clamp_ts(timestamp)));
        reserved + size > page_size
    }

    /// Adds an entry, opening a restart region when the interval is reached.
    /// Returns false (and changes nothing) if the entry does not fit.
    pub fn add(&mut self, e: &EntryRef<'_>) -> bool {
        let restart = self.counter >= self.restart_interval;
        self.add_inner(e, restart)
    }

    /// Adds an entry that opens a new restart region regardless of the
    /// interval (pages upstream assembled from whole regions of two pages
    /// have such irregular regions). The first entry of a page always starts
    /// region 0.
    #[cfg(any(test, feature = "internals"))]
    pub fn add_restart(&mut self, e: &EntryRef<'_>) -> bool {
        let restart = self.count > 0;
        self.add_inner(e, restart)
    }

    fn add_inner(&mut self, e: &EntryRef<'_>, restart: bool) -> bool {
        let (size, shared, ts_field) = self.entry_size(e, restart);
        // `shared` is a common prefix of the last key and this one.
        let Some(suffix) = e.key.get(shared..) else {
            return false;
        };
        if self.current_size() + size > self.page_size {
            return false;
        }
        if restart {
            self.restarts.push(self.buf.len() as u16);
            self.counter = 0;
            self.last_ts = 0;
        }
        put_varint32(&mut self.buf, shared as u32);
        put_varint32(&mut self.buf, suffix.len() as u32);
        put_varint64(&mut self.buf, e.val_field());
        self.buf.extend_from_slice(suffix);
        self.buf.extend_from_slice(e.value);
        if e.expire_ts != 0 {
            put_varint64(&mut self.buf, e.expire_ts);
        }
        put_varint64(&mut self.buf, ts_field);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(suffix);
        self.last_ts = clamp_ts(e.timestamp);
        self.counter += 1;
        self.count += 1;
        true
    }

    /// Appends a whole encoded restart region (which starts with a restart
    /// entry, so it is position independent), as upstream does when it moves
    /// regions between pages. The next `add` continues this region's
    /// counting from zero, as upstream's fast builder leaves it.
    #[cfg(any(test, feature = "internals"))]
    pub fn add_region(
        &mut self,
        region: &[u8],
        entries: usize,
        last_key: &[u8],
        last_ts: u64,
    ) -> bool {
        let extra = if self.count == 0 { 0 } else { 2 };
        if self.current_size() + region.len() + extra > self.page_size {
            return false;
        }
        if self.count > 0 {
            self.restarts.push(self.buf.len() as u16);
        }
        self.buf.extend_from_slice(region);
        self.counter = entries;
        self.count += entries;
        self.last_key.clear();
        self.last_key.extend_from_slice(last_key);
        self.last_ts = clamp_ts(last_ts);
        true
    }

    /// Finishes the page into a full-size zero-padded buffer with prev/next
    /// set to `MAX_PAGE_ID` and no checksum, then resets the builder.
    pub fn finish(&mut self) -> AlignedBuf {
        let mut page = super::restarts::page_buffer(self.page_size);
        self.finish_into(&mut page);
        page
    }

    /// Like [`finish`](Self::finish) into a caller's page-sized buffer (the
    /// bytes after the content are zeroed).
    pub fn finish_into(&mut self, page: &mut [u8]) {
        super::restarts::finish_content(&mut self.buf, &self.restarts, page, self.page_size);
        set_fixed32(page, PREV_OFFSET, MAX_PAGE_ID);
        set_fixed32(page, NEXT_OFFSET, MAX_PAGE_ID);
        self.reset();
    }
}

/// Builds a data page from whole restart regions (each starts with a
/// restart entry, so regions can move between pages verbatim) that fit in
/// `page_size` with their restart array. Links are `prev`/`next`; no
/// checksum.
pub fn assemble_regions(
    regions: &[&[u8]],
    page_size: usize,
    prev: PageId,
    next: PageId,
) -> AlignedBuf {
    let mut page = AlignedBuf::zeroed(page_size);
    put_at(&mut page, PAGE_TYPE_OFFSET, &[PageType::Data as u8]);
    let mut off = DATA_HEADER_SIZE;
    let mut starts = Vec::with_capacity(regions.len());
    for r in regions {
        starts.push(off as u16);
        put_at(&mut page, off, r);
        off += r.len();
    }
    for s in &starts {
        set_fixed16(&mut page, off, *s);
        off += 2;
    }
    set_fixed16(&mut page, off, starts.len() as u16);
    off += 2;
    set_fixed16(&mut page, CONTENT_LEN_OFFSET, off as u16);
    set_links(&mut page, prev, next);
    page
}

/// Upstream's rebalancing of a split: when `cur` (a page just built for a
/// new id) is under a quarter full and `prev` (the page finished before
/// it) has several restart regions and is over three quarters full,
/// `prev`'s trailing regions move to the front of `cur` until both hold
/// about half. Returns the new `(prev, cur)`, or `None` when nothing moves.
/// Links are kept from the inputs.
pub fn redistribute(
    prev: &[u8],
    cur: &[u8],
    page_size: usize,
) -> Result<Option<(AlignedBuf, AlignedBuf)>> {
    let p = DataPage::parse(prev)?;
    let c = DataPage::parse(cur)?;
    let quarter = page_size / 4;
    if c.content_len() >= quarter || p.num_restarts() <= 1 || p.content_len() <= page_size - quarter
    {
        return Ok(None);
    }
    let average = (p.content_len() + c.content_len()) / 2;
    let mut keep = 0;
    let mut kept_len = DATA_HEADER_SIZE + 2;
    while kept_len < average && keep < p.num_restarts() {
        kept_len += p.region(keep).len() + 2;
        keep += 1;
    }
    if keep >= p.num_restarts() {
        return Ok(None);
    }
    let left: Vec<&[u8]> = (0..keep).map(|i| p.region(i)).collect();
    let right: Vec<&[u8]> = (keep..p.num_restarts())
        .map(|i| p.region(i))
        .chain((0..c.num_restarts()).map(|i| c.region(i)))
        .collect();
    let right_len = DATA_HEADER_SIZE + 2 + right.iter().map(|r| r.len() + 2).sum::<usize>();
    if right_len > page_size {
        return Ok(None);
    }
    Ok(Some((
        assemble_regions(&left, page_size, p.prev_page_id(), p.next_page_id()),
        assemble_regions(&right, page_size, c.prev_page_id(), c.next_page_id()),
    )))
}

/// Encoded length of an entry without its timestamp field.
fn entry_encoded_len(e: &EntryRef<'_>, shared: usize) -> usize {
    let non_shared = e.key.len() - shared;
    varint_len(shared as u64)
        + varint_len(non_shared as u64)
        + varint_len(e.val_field())
        + non_shared
        + e.value.len()
        + if e.expire_ts != 0 {
            varint_len(e.expire_ts)
        } else {
            0
        }
}

/// Sets the sibling links of a built data page.
pub fn set_links(page: &mut [u8], prev: PageId, next: PageId) {
    set_fixed32(page, PREV_OFFSET, prev);
    set_fixed32(page, NEXT_OFFSET, next);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::format::checksum::set_page_checksum;
    use crate::format::comparator::BytewiseComparator;

    fn e<'a>(key: &'a [u8], value: &'a [u8], ts: u64, expire: u64) -> EntryRef<'a> {
        EntryRef {
            key,
            value,
            timestamp: ts,
            expire_ts: expire,
            overflow: false,
            compression: Compression::None,
        }
    }

    #[test]
    fn spec_example_page_is_byte_identical() {
        let mut b = DataPageBuilder::new(4096, 16);
        assert!(b.add(&e(b"apple", b"red", 100, 0)));
        assert!(b.add(&e(b"apricot", b"orange", 105, 1_700_000_000_000)));
        assert!(b.add(&e(b"banana", b"yellow", 90, 0)));
        let mut page = b.finish();
        set_page_checksum(&mut page);
        let want: &[u8] = &[
            0x74, 0x07, 0x27, 0xc7, 0x21, 0xd3, 0x56, 0x8b, 0x02, 0x49, 0x00, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, // header
            0x00, 0x05, 0x30, b'a', b'p', b'p', b'l', b'e', b'r', b'e', b'd', 0xc8, 0x01, //
            0x02, 0x05, 0x62, b'r', b'i', b'c', b'o', b't', b'o', b'r', b'a', b'n', b'g', b'e',
            0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, 0x0a, //
            0x00, 0x06, 0x60, b'b', b'a', b'n', b'a', b'n', b'a', b'y', b'e', b'l', b'l', b'o',
            b'w', 0x1f, //
            0x13, 0x00, 0x01, 0x00,
        ];
        assert_eq!(&page[..want.len()], want);
        assert!(page[want.len()..].iter().all(|&x| x == 0));

        let p = DataPage::parse(&page).unwrap();
        let entries = p.entries().unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].key, b"apricot");
        assert_eq!(entries[1].expire_ts, 1_700_000_000_000);
        assert_eq!(entries[2].timestamp, 90);
    }

    fn page_of(n: usize, interval: usize) -> AlignedBuf {
        let mut b = DataPageBuilder::new(4096, interval);
        for i in 0..n {
            let k = format!("key{:04}", i * 2);
            assert!(b.add(&e(k.as_bytes(), b"v", i as u64, 0)));
        }
        b.finish()
    }

    #[test]
    fn seek_and_floor() {
        let page = page_of(100, 4);
        let p = DataPage::parse(&page).unwrap();
        assert_eq!(p.num_restarts(), 25);
        let cmp = BytewiseComparator;
        let mut it = p.iter();
        assert!(it.seek(b"key0003", &cmp).unwrap());
        assert_eq!(it.key(), b"key0004");
        assert!(it.seek(b"key0008", &cmp).unwrap());
        assert_eq!(it.key(), b"key0008");
        assert!(it.seek(b"a", &cmp).unwrap());
        assert_eq!(it.key(), b"key0000");
        assert!(!it.seek(b"key0199", &cmp).unwrap());
        assert!(it.seek(b"key0197", &cmp).unwrap());
        assert_eq!(it.key(), b"key0198");

        assert!(it.seek_floor(b"key0003", &cmp).unwrap());
        assert_eq!(it.key(), b"key0002");
        assert_eq!(it.timestamp(), 1);
        assert!(it.next().unwrap());
        assert_eq!(it.key(), b"key0004");
        assert!(it.seek_floor(b"key0007", &cmp).unwrap());
        assert_eq!(it.key(), b"key0006");
        assert!(it.seek_floor(b"key0008", &cmp).unwrap());
        assert_eq!(it.key(), b"key0008");
        assert!(!it.seek_floor(b"a", &cmp).unwrap());
        assert!(it.seek_floor(b"z", &cmp).unwrap());
        assert_eq!(it.key(), b"key0198");
        assert!(!it.next().unwrap());
    }

    #[test]
    fn builder_refuses_when_full_and_overflow_rule() {
        let mut b = DataPageBuilder::new(4096, 16);
        let big = vec![7u8; 3000];
        assert!(b.add(&e(b"a", &big, 1, 0)));
        assert!(!b.add(&e(b"b", &big, 1, 0)));
        assert_eq!(b.len(), 1);
        assert!(!DataPageBuilder::is_overflow_kv(4096, b"k", 4000, 1, 0));
        assert!(DataPageBuilder::is_overflow_kv(4096, b"k", 4074, 1, 0));
        assert!(DataPageBuilder::is_overflow_kv(4096, b"k", 4096, 1, 0));
        // Exactly at the limit: an entry that fits an empty page is inline.
        for len in 4000..4096 {
            let v = vec![1u8; len];
            let mut b = DataPageBuilder::new(4096, 16);
            let fits = b.add(&e(b"k", &v, 1, 0));
            assert_eq!(
                fits,
                !DataPageBuilder::is_overflow_kv(4096, b"k", len, 1, 0),
                "len {len}"
            );
        }
    }

    #[test]
    fn regions_and_forced_restarts_roundtrip() {
        let page = page_of(40, 16);
        let p = DataPage::parse(&page).unwrap();
        let rebuilt = {
            let mut b = DataPageBuilder::new(4096, 16);
            for (en, restart) in p.entries_with_restarts().unwrap() {
                if restart {
                    assert!(b.add_restart(&en.as_ref()));
                } else {
                    assert!(b.add(&en.as_ref()));
                }
            }
            b.finish()
        };
        assert_eq!(&page[..], &rebuilt[..]);
        // Irregular regions: 3, 5 and 2 entries.
        let mut b = DataPageBuilder::new(4096, 16);
        for i in 0..10u64 {
            let k = format!("k{i}");
            let en = e(k.as_bytes(), b"x", i, 0);
            if i == 3 || i == 8 {
                assert!(b.add_restart(&en));
            } else {
                assert!(b.add(&en));
            }
        }
        let page = b.finish();
        let p = DataPage::parse(&page).unwrap();
        assert_eq!(p.num_restarts(), 3);
        assert_eq!(p.entries().unwrap().len(), 10);
        // Copying regions verbatim gives the same bytes.
        let mut c = DataPageBuilder::new(4096, 16);
        for i in 0..p.num_restarts() {
            assert!(c.add_region(p.region(i), 1, b"", 0));
        }
        assert_eq!(&c.finish()[..], &page[..]);
    }

    #[test]
    fn redistribution_moves_trailing_regions() {
        let mut b = DataPageBuilder::new(4096, 16);
        let mut n = 0;
        loop {
            let k = format!("key{n:05}");
            if !b.add(&e(k.as_bytes(), &[7u8; 40], n, 0)) {
                break;
            }
            n += 1;
        }
        let prev = b.finish();
        let k = format!("key{n:05}");
        assert!(b.add(&e(k.as_bytes(), b"x", n, 0)));
        let cur = b.finish();
        let (l, r) = redistribute(&prev, &cur, 4096).unwrap().expect("moves");
        let (l, r) = (DataPage::parse(&l).unwrap(), DataPage::parse(&r).unwrap());
        let (le, re) = (l.entries().unwrap(), r.entries().unwrap());
        assert_eq!(le.len() + re.len(), n as usize + 1);
        assert!(l.content_len().abs_diff(r.content_len()) < 1200);
        assert_eq!(re.last().unwrap().key, k.as_bytes());
        assert_eq!(le.last().unwrap().timestamp + 1, re[0].timestamp);
        // A page that is not small enough stays as it is.
        assert!(redistribute(&prev, &prev, 4096).unwrap().is_none());
    }

    #[test]
    fn corrupt_pages_error_not_panic() {
        let page = page_of(30, 4);
        for pos in 9..200 {
            for bit in [0x01u8, 0x80] {
                let mut p = page.clone();
                p[pos] ^= bit;
                if let Ok(dp) = DataPage::parse(&p) {
                    let _ = dp.entries();
                    let mut it = dp.iter();
                    let _ = it.seek(b"key0010", &BytewiseComparator);
                    let _ = it.seek_floor(b"key0010", &BytewiseComparator);
                }
            }
        }
    }

    /// A restart point inside an entry (a page no builder makes, found by
    /// fuzzing): the entry after it was decoded as a non-restart entry,
    /// adding its timestamp to the previous one; searches read a key at
    /// the bogus offset. It must be `Corrupted`.
    #[test]
    fn restart_point_inside_an_entry_is_corrupted() {
        let mut b = DataPageBuilder::new(4096, 2);
        for (k, ts) in [(b"k1", 10), (b"k2", 20), (b"k3", 30), (b"k4", 40)] {
            assert!(b.add(&e(k, b"value", ts, 0)));
        }
        let mut page = b.finish();
        let p = DataPage::parse(&page).unwrap();
        assert_eq!(p.num_restarts(), 2);
        let (second, array) = (p.restart(1), p.entries_end());
        // Restart point 1 moved three bytes back, into entry 1.
        set_fixed16(&mut page, array + 2, (second - 3) as u16);
        let p = DataPage::parse(&page).unwrap();
        let err = p.entries().unwrap_err();
        assert_eq!(err.code(), crate::error::KvError::Corrupted, "{err}");
        let mut it = p.iter();
        assert!(it.seek(b"k4", &BytewiseComparator).is_err());
    }

    #[test]
    fn check_range_compares_first_and_last_key() {
        let c = BytewiseComparator;
        let mut b = DataPageBuilder::new(4096, 4);
        let keys: Vec<String> = (0..30).map(|i| format!("k{i:02}")).collect();
        for k in &keys {
            assert!(b.add(&e(k.as_bytes(), b"v", 1, 0)));
        }
        let page = b.finish();
        let p = DataPage::parse(&page).unwrap();
        assert_eq!(p.first_key().unwrap(), b"k00");
        p.check_range(&KeyRange::full(), &c).unwrap();
        p.check_range(&KeyRange::new(Some(b"k00"), Some(b"k30")), &c)
            .unwrap();
        p.check_range(&KeyRange::new(Some(b"a"), Some(b"k290")), &c)
            .unwrap();
        // The last key (decoded from the last region) reaches the bound.
        assert!(
            p.check_range(&KeyRange::new(None, Some(b"k29")), &c)
                .is_err()
        );
        assert!(
            p.check_range(&KeyRange::new(Some(b"k01"), None), &c)
                .is_err()
        );
    }
}
