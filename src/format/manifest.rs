//! The manifest file: a snapshot record followed by log records, each
//! `checksum(8) root(4) ttl_root(4) payload_len(4) payload` padded to
//! `PAGE_ALIGN`. Replaying it gives the partition's roots, the logical to
//! file page mapping, the compression dictionary and the file-term map.
//!
//! Everything here works on bytes already in memory.

use std::collections::BTreeMap;

use super::checksum::{CHECKSUM_BYTES, manifest_checksum};
use super::coding::{
    fixed32_at, fixed64_at, get_fixed32, get_varint32, get_varint64, put_at, put_fixed32,
    put_varint32, put_varint64, set_fixed32, set_fixed64, varint_len,
};
use super::names::data_file_name;
use super::page::{AlignedBuf, FileId, FilePageId, MAX_PAGE_ID, PAGE_ALIGN, PageId};
use crate::error::{Error, Result};

/// Bytes of a record header.
pub const HEADER_BYTES: usize = 20;
const ROOT_OFFSET: usize = 8;
const TTL_ROOT_OFFSET: usize = 12;
const LEN_OFFSET: usize = 16;

/// Term-map key holding the manifest's own term.
pub const TERM_KEY_MANIFEST: FileId = u64::MAX - 1;

/// Mapping-table values: a 3-bit type tag in the low bits.
pub mod mapping_value {
    use super::{FilePageId, PageId};

    /// Bits of the type tag at the bottom of a mapping value.
    pub const TYPE_BITS: u32 = 3;
    /// Mask of the type tag.
    pub const TYPE_MASK: u64 = 7;
    /// Tag of a value holding a file page id.
    pub const TYPE_FILE_PAGE: u64 = 1;
    /// Tag of a value holding the next free page id (free list).
    pub const TYPE_FREE_LINK: u64 = 2;
    /// Unmapped, freed, or the end of the free list.
    pub const INVALID: u64 = 7;

    /// The mapping value of file page `fp`.
    pub fn file_page(fp: FilePageId) -> u64 {
        (fp << TYPE_BITS) | TYPE_FILE_PAGE
    }

    /// The mapping value linking to the next free page id.
    pub fn free_link(next: PageId) -> u64 {
        ((next as u64) << TYPE_BITS) | TYPE_FREE_LINK
    }

    /// The file page a value maps to, if it is a file page value.
    pub fn as_file_page(v: u64) -> Option<FilePageId> {
        (v & TYPE_MASK == TYPE_FILE_PAGE).then_some(v >> TYPE_BITS)
    }

    /// Whether a value may appear on disk (file page, free link, invalid).
    pub fn is_valid_on_disk(v: u64) -> bool {
        matches!(v & TYPE_MASK, TYPE_FILE_PAGE | TYPE_FREE_LINK) || v == INVALID
    }
}

/// FileId -> term. Ordered, so our manifests are deterministic.
pub type TermMap = BTreeMap<FileId, u64>;

/// Appends the term map section: `u32 byte_len` then varint pairs.
pub fn encode_term_map(dst: &mut Vec<u8>, map: &TermMap) {
    let len_at = dst.len();
    put_fixed32(dst, 0);
    for (&file, &term) in map {
        put_varint64(dst, file);
        put_varint64(dst, term);
    }
    let len = (dst.len() - len_at - 4) as u32;
    set_fixed32(dst, len_at, len);
}

/// Merges a term map section into `map`; `Corrupted` if truncated.
pub fn decode_term_map(src: &[u8], map: &mut TermMap) -> Result<()> {
    let bad = || Error::corrupted("manifest file-term map is truncated");
    let len = fixed32_at(src, 0).ok_or_else(bad)? as usize;
    let mut body = src.get(4..4 + len).ok_or_else(bad)?;
    while !body.is_empty() {
        let file = get_varint64(&mut body).ok_or_else(bad)?;
        let term = get_varint64(&mut body).ok_or_else(bad)?;
        map.insert(file, term);
    }
    Ok(())
}

/// Decoded snapshot payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotPayload {
    pub max_fp_id: FilePageId,
    pub dict: Vec<u8>,
    pub mapping: Vec<u64>,
    pub term_map: TermMap,
}

/// Encodes a snapshot payload.
pub fn encode_snapshot(
    max_fp_id: FilePageId,
    dict: &[u8],
    mapping: impl IntoIterator<Item = u64>,
    term_map: &TermMap,
) -> Vec<u8> {
    let mut p = Vec::new();
    put_varint64(&mut p, max_fp_id);
    put_varint32(&mut p, dict.len() as u32);
    p.extend_from_slice(dict);
    let len_at = p.len();
    put_fixed32(&mut p, 0);
    for v in mapping {
        put_varint64(&mut p, v);
    }
    let len = (p.len() - len_at - 4) as u32;
    set_fixed32(&mut p, len_at, len);
    encode_term_map(&mut p, term_map);
    p
}

pub fn decode_snapshot(payload: &[u8]) -> Result<SnapshotPayload> {
    let bad = |what: &str| Error::corrupted(format!("manifest snapshot: {what}"));
    let mut cur = payload;
    let max_fp_id = get_varint64(&mut cur).ok_or_else(|| bad("truncated max file page id"))?;
    let dict_len =
        get_varint32(&mut cur).ok_or_else(|| bad("truncated dictionary length"))? as usize;
    let (dict, mut cur) = cur
        .split_at_checked(dict_len)
        .ok_or_else(|| bad("truncated dictionary"))?;
    let dict = dict.to_vec();
    let mapping_len =
        get_fixed32(&mut cur).ok_or_else(|| bad("truncated mapping length"))? as usize;
    // Upstream requires the term-map length to follow the mapping.
    let Some((mut m, term_map_bytes)) = cur
        .split_at_checked(mapping_len)
        .filter(|(_, rest)| rest.len() >= 4)
    else {
        return Err(bad("mapping runs past the payload"));
    };
    let mut mapping = Vec::with_capacity(mapping_len / 2);
    while !m.is_empty() {
        let v = get_varint64(&mut m).ok_or_else(|| bad("truncated mapping value"))?;
        if !mapping_value::is_valid_on_disk(v) {
            return Err(bad(&format!("mapping value {v:#x} has an unknown type")));
        }
        mapping.push(v);
    }
    let mut term_map = TermMap::new();
    decode_term_map(term_map_bytes, &mut term_map)?;
    Ok(SnapshotPayload {
        max_fp_id,
        dict,
        mapping,
        term_map,
    })
}

/// Decoded log payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogPayload {
    /// `(page id, mapping value)` in the order the writer made them.
    pub changes: Vec<(PageId, u64)>,
    pub term_map: TermMap,
}

/// Bytes a log payload takes, for the snapshot-or-log decision.
pub fn log_payload_len(changes: &[(PageId, u64)], term_map: &TermMap) -> usize {
    4 + changes
        .iter()
        .map(|&(id, v)| varint_len(id as u64) + varint_len(v))
        .sum::<usize>()
        + 4
        + term_map
            .iter()
            .map(|(&f, &t)| varint_len(f) + varint_len(t))
            .sum::<usize>()
}

pub fn encode_log(changes: &[(PageId, u64)], term_map: &TermMap) -> Vec<u8> {
    let mut p = Vec::with_capacity(log_payload_len(changes, term_map));
    put_fixed32(&mut p, 0);
    for &(id, v) in changes {
        put_varint32(&mut p, id);
        put_varint64(&mut p, v);
    }
    let len = (p.len() - 4) as u32;
    set_fixed32(&mut p, 0, len);
    encode_term_map(&mut p, term_map);
    p
}

/// Decodes a log payload; errors are `Corrupted` and say what is wrong
/// (the caller names the record).
pub fn decode_log(payload: &[u8]) -> Result<LogPayload> {
    let bad = |what: &str| Error::corrupted(what.to_string());
    let mut cur = payload;
    let len = get_fixed32(&mut cur).ok_or_else(|| bad("truncated mapping length"))? as usize;
    let (mut m, term_map_bytes) = cur
        .split_at_checked(len)
        .ok_or_else(|| bad("mapping runs past the payload"))?;
    let mut changes = Vec::new();
    while !m.is_empty() {
        let id = get_varint32(&mut m).ok_or_else(|| bad("truncated page id"))?;
        let v = get_varint64(&mut m).ok_or_else(|| bad("truncated mapping value"))?;
        if !mapping_value::is_valid_on_disk(v) {
            return Err(bad(&format!("mapping value {v:#x} has an unknown type")));
        }
        changes.push((id, v));
    }
    let mut term_map = TermMap::new();
    decode_term_map(term_map_bytes, &mut term_map)?;
    Ok(LogPayload { changes, term_map })
}

/// Size of a record once padded.
pub fn padded_len(payload_len: usize) -> usize {
    (HEADER_BYTES + payload_len).next_multiple_of(PAGE_ALIGN)
}

/// A complete record (header, payload, zero padding) with its checksum.
pub fn encode_record(root: PageId, ttl_root: PageId, payload: &[u8]) -> AlignedBuf {
    let len = HEADER_BYTES + payload.len();
    let mut buf = AlignedBuf::zeroed(len);
    set_fixed32(&mut buf, ROOT_OFFSET, root);
    set_fixed32(&mut buf, TTL_ROOT_OFFSET, ttl_root);
    set_fixed32(&mut buf, LEN_OFFSET, payload.len() as u32);
    put_at(&mut buf, HEADER_BYTES, payload);
    // The buffer holds `len` bytes at least.
    let sum = manifest_checksum(buf.get(CHECKSUM_BYTES..len).unwrap_or_default());
    set_fixed64(&mut buf, 0, sum);
    buf
}

/// Where a replay stopped and why, for diagnostics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayEnd {
    /// The file ended exactly after a record.
    Clean,
    /// The last record lost part of its padding; it was applied in full.
    TornPadding {
        /// Byte offset of that record.
        offset: usize,
    },
    /// The bytes from `offset` to the end of the file (`len` of them) hold
    /// a damaged or cut-short record and no complete valid record after it:
    /// a torn write or damage, which cannot be told apart. They were
    /// ignored; the next log record overwrites them.
    DiscardedTail {
        /// Where the ignored bytes start.
        offset: usize,
        /// How many bytes were ignored.
        len: usize,
    },
}

impl ReplayEnd {
    /// A line for tools, `None` when nothing was discarded.
    pub fn discarded(&self) -> Option<String> {
        match self {
            ReplayEnd::DiscardedTail { offset, len } => Some(format!(
                "discarded tail at offset {offset}, {len} bytes (torn write or damage)"
            )),
            _ => None,
        }
    }
}

/// One record as found in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    /// Byte offset of the record in the manifest.
    pub offset: usize,
    /// Root of the data tree after the record.
    pub root: PageId,
    /// Root of the TTL tree after the record.
    pub ttl_root: PageId,
    /// Payload bytes of the record.
    pub payload_len: usize,
    /// Whether it is the snapshot (the first record).
    pub is_snapshot: bool,
}

/// The state a manifest describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestState {
    /// Root page of the data tree (`MAX_PAGE_ID`: empty).
    pub root: PageId,
    /// Root page of the TTL tree (`MAX_PAGE_ID`: empty).
    pub ttl_root: PageId,
    /// Next unallocated file page (after replay of every log record).
    pub max_fp_id: FilePageId,
    /// Offset of the record that set `max_fp_id` last.
    pub max_fp_record: usize,
    /// The compression dictionary (empty: none).
    pub dict: Vec<u8>,
    /// Mapping value per page id.
    pub mapping: Vec<u64>,
    /// Term per data file id (and the manifest's own).
    pub term_map: TermMap,
    /// Logical size: where the next log record goes.
    pub file_size: usize,
    /// Records applied, the snapshot included.
    pub records: Vec<RecordInfo>,
    /// Why replay stopped.
    pub end: ReplayEnd,
}

impl ManifestState {
    /// The state of a partition that has never been written.
    pub fn empty() -> ManifestState {
        ManifestState {
            root: MAX_PAGE_ID,
            ttl_root: MAX_PAGE_ID,
            max_fp_id: 0,
            max_fp_record: 0,
            dict: Vec::new(),
            mapping: Vec::new(),
            term_map: TermMap::new(),
            file_size: 0,
            records: Vec::new(),
            end: ReplayEnd::Clean,
        }
    }

    /// Applies one log payload (grow with `INVALID`, last change wins).
    /// `max_len` bounds the table: a page id at or beyond it is `Corrupted`
    /// and nothing of the record is applied.
    pub fn apply_log(&mut self, log: &LogPayload, max_len: usize) -> Result<()> {
        if let Some(&(id, _)) = log
            .changes
            .iter()
            .find(|&&(id, _)| id == MAX_PAGE_ID || id as usize >= max_len)
        {
            return Err(Error::corrupted(format!(
                "page id {id} lies beyond the {max_len} mapping entries the snapshot and \
                 the log records up to here can hold"
            )));
        }
        for &(id, v) in &log.changes {
            let id = id as usize;
            match self.mapping.get_mut(id) {
                Some(slot) => *slot = v,
                None => {
                    self.mapping.resize(id, mapping_value::INVALID);
                    self.mapping.push(v);
                }
            }
            if let Some(fp) = mapping_value::as_file_page(v) {
                self.max_fp_id = self.max_fp_id.max(fp + 1);
            }
        }
        for (&f, &t) in &log.term_map {
            self.term_map.insert(f, t);
        }
        Ok(())
    }

    /// Offset of the record that last set the mapping of `page` (the
    /// snapshot when no log record did). For error messages.
    fn record_of_page(&self, file: &[u8], page: PageId) -> usize {
        for r in self.records.iter().rev().filter(|r| !r.is_snapshot) {
            if let Parsed::Record { payload, .. } = parse_record(file, r.offset)
                && decode_log(payload).is_ok_and(|l| l.changes.iter().any(|c| c.0 == page))
            {
                return r.offset;
            }
        }
        0
    }

    /// Checks the replayed state against what the partition's files allow,
    /// before anything is sized or allocated from it: `max_fp_id` is
    /// encodable; no page maps at or beyond `max_fp_id` (the allocator
    /// would hand that file page out again); every mapped file page lies in
    /// a data file the term map names, that exists and is long enough; in
    /// pooled mode the data files cover every file page below `max_fp_id`
    /// (each was written before the manifest named it), in append mode
    /// (where file GC deletes files) the term map names the file of the
    /// last one. `file` is the manifest the state was replayed from; errors
    /// are `Corrupted` and name the record responsible.
    pub fn check_limits(&self, file: &[u8], lim: &ManifestLimits<'_>) -> Result<()> {
        let shift = lim.pages_per_file_shift;
        let page_size = lim.data_page_size as u64;
        let kind = |off: usize| if off == 0 { "snapshot" } else { "log" };
        let bad_max = |what: String| {
            let off = self.max_fp_record;
            Error::corrupted(format!(
                "manifest {} record at offset {off}: max_fp_id {}: {what}",
                kind(off),
                self.max_fp_id
            ))
        };
        if self.max_fp_id > MAX_FILE_PAGES {
            return Err(bad_max(format!(
                "beyond the {MAX_FILE_PAGES} file pages a store can address"
            )));
        }
        let file_len = |f: FileId| -> Option<u64> {
            lim.data_files
                .range((f, 0)..=(f, u64::MAX))
                .map(|(_, &len)| len)
                .max()
        };
        if self.max_fp_id > 0 {
            let last = self.max_fp_id - 1;
            let f = last >> shift;
            let slot = last & ((1u64 << shift) - 1);
            if lim.append_mode {
                if !self.term_map.contains_key(&f) && file_len(f).is_none() {
                    return Err(bad_max(format!(
                        "data file {f} holding its last file page is neither in the \
                         file-term map nor on disk"
                    )));
                }
            } else {
                match file_len(f) {
                    None => {
                        return Err(bad_max(format!(
                            "data file {f} holding its last file page does not exist"
                        )));
                    }
                    Some(len) if len < (slot + 1) * page_size => {
                        return Err(bad_max(format!(
                            "data file {f} holds {} pages, not the {} its last file page needs",
                            len / page_size,
                            slot + 1
                        )));
                    }
                    _ => {}
                }
            }
        }
        // Consecutive pages usually share a file: look each file up once.
        let mut cached: Option<(FileId, std::result::Result<u64, String>)> = None;
        for (id, &v) in self.mapping.iter().enumerate() {
            let Some(fp) = mapping_value::as_file_page(v) else {
                continue;
            };
            let id = id as PageId;
            let bad = |what: String| {
                let off = self.record_of_page(file, id);
                Error::corrupted(format!(
                    "manifest {} record at offset {off}: page {id} maps to file page {fp}: {what}",
                    kind(off)
                ))
            };
            if fp >= self.max_fp_id {
                return Err(bad(format!(
                    "at or beyond max_fp_id {}, where new pages are allocated",
                    self.max_fp_id
                )));
            }
            let f = fp >> shift;
            if cached.as_ref().is_none_or(|c| c.0 != f) {
                let len = match self.term_map.get(&f) {
                    None => Err(format!("data file {f} is not in the file-term map")),
                    Some(&term) => lim.data_files.get(&(f, term)).copied().ok_or_else(|| {
                        format!("data file {} does not exist", data_file_name(f, term))
                    }),
                };
                cached = Some((f, len));
            }
            let len = match &cached.as_ref().expect("set above").1 {
                Ok(len) => *len,
                Err(e) => return Err(bad(e.clone())),
            };
            let slot = fp & ((1u64 << shift) - 1);
            if len < (slot + 1) * page_size {
                return Err(bad(format!(
                    "data file {f} holds {} pages, not the {} this page needs",
                    len / page_size,
                    slot + 1
                )));
            }
        }
        Ok(())
    }
}

/// File pages a manifest may name: 2^60 (mapping values hold 61 bits;
/// the margin keeps every later allocation encodable).
pub const MAX_FILE_PAGES: FilePageId = 1 << 60;

/// What a partition's files allow its manifest to name
/// (`ManifestState::check_limits`).
#[derive(Clone, Copy, Debug)]
pub struct ManifestLimits<'a> {
    pub pages_per_file_shift: u8,
    pub data_page_size: usize,
    pub append_mode: bool,
    /// Byte length of every data file of the partition, by (file id, term).
    pub data_files: &'a BTreeMap<(FileId, u64), u64>,
}

enum Parsed<'a> {
    Record {
        root: PageId,
        ttl_root: PageId,
        payload: &'a [u8],
        /// Offset after the padding, or `None` if the padding is cut short.
        next: Option<usize>,
    },
    BadChecksum,
    Eof,
}

fn parse_record(file: &[u8], off: usize) -> Parsed<'_> {
    let Some(header) = file
        .get(off..)
        .and_then(<[u8]>::first_chunk::<HEADER_BYTES>)
    else {
        return Parsed::Eof;
    };
    let payload_len = fixed32_at(header, LEN_OFFSET).expect("header length") as usize;
    let end = off + HEADER_BYTES + payload_len;
    let Some(record) = file.get(off..end) else {
        return Parsed::Eof;
    };
    // `record` starts with the header: both splits succeed.
    let (Some(checked), Some(payload)) = (record.get(CHECKSUM_BYTES..), record.get(HEADER_BYTES..))
    else {
        return Parsed::Eof;
    };
    if manifest_checksum(checked) != fixed64_at(header, 0).expect("header length") {
        return Parsed::BadChecksum;
    }
    let padded = off + padded_len(payload_len);
    Parsed::Record {
        root: fixed32_at(header, ROOT_OFFSET).expect("header length"),
        ttl_root: fixed32_at(header, TTL_ROOT_OFFSET).expect("header length"),
        payload,
        next: (padded <= file.len()).then_some(padded),
    }
}

/// The snapshot record at the start of a manifest, by itself.
pub fn first_snapshot(file: &[u8]) -> Result<SnapshotPayload> {
    match parse_record(file, 0) {
        Parsed::Record { payload, .. } => decode_snapshot(payload),
        Parsed::BadChecksum => Err(Error::corrupted(
            "manifest snapshot record checksum mismatch at offset 0",
        )),
        Parsed::Eof => Err(Error::corrupted(
            "manifest is cut short inside its snapshot record",
        )),
    }
}

/// Replays a whole manifest file. Upstream's rules: a damaged snapshot
/// record fails the load, a damaged or cut-short last record is ignored
/// (a torn write), and a damaged record followed by a good one is
/// `Corrupted`.
///
/// Stricter than upstream: a torn write can only leave its own record
/// behind, so a damaged or cut-short record followed by a complete valid
/// record at any later `PAGE_ALIGN` boundary is `Corrupted`, whatever its
/// length field claims (upstream stops at a length running past the end of
/// the file, dropping every record after it). Writers never leave valid
/// records after the real end: snapshots are written to a fresh file and
/// renamed, and log records overwrite a discarded tail from its start.
/// Page ids in log records must lie within the entries the snapshot and
/// the changes logged so far can have created (each change adds at most
/// one), so a damaged id cannot make the table huge.
///
/// Two deliberate differences, both about records whose checksummed bytes
/// are complete but whose zero padding was cut off by a truncation: such a
/// record is applied in full. Upstream fails the load when it is the
/// snapshot, and for a log record takes its roots but not its mapping
/// changes, pairing new roots with an old mapping that can point at reused
/// file pages. A snapshot cut inside its checksummed bytes is `Corrupted`
/// (upstream: `EndOfFile`).
pub fn replay(file: &[u8]) -> Result<ManifestState> {
    let mut st = ManifestState::empty();
    let mut off = match parse_record(file, 0) {
        Parsed::Eof => {
            return Err(Error::corrupted(format!(
                "manifest of {} bytes is cut short inside its snapshot record",
                file.len()
            )));
        }
        Parsed::BadChecksum => {
            return Err(Error::corrupted(
                "manifest snapshot record checksum mismatch at offset 0",
            ));
        }
        Parsed::Record {
            root,
            ttl_root,
            payload,
            next,
        } => {
            let s = decode_snapshot(payload)?;
            st.root = root;
            st.ttl_root = ttl_root;
            st.max_fp_id = s.max_fp_id;
            st.dict = s.dict;
            st.mapping = s.mapping;
            st.term_map = s.term_map;
            st.records.push(RecordInfo {
                offset: 0,
                root,
                ttl_root,
                payload_len: payload.len(),
                is_snapshot: true,
            });
            match next {
                Some(next) => next,
                None => {
                    st.end = ReplayEnd::TornPadding { offset: 0 };
                    st.file_size = padded_len(payload.len());
                    return Ok(st);
                }
            }
        }
    };
    // Entries the table can hold after the records replayed so far.
    let mut max_len = st.mapping.len();
    loop {
        match parse_record(file, off) {
            Parsed::Eof if off == file.len() => {
                st.end = ReplayEnd::Clean;
                st.file_size = off;
                return Ok(st);
            }
            Parsed::Eof | Parsed::BadChecksum => {
                if let Some(valid) = valid_record_after(file, off)? {
                    return Err(Error::corrupted(format!(
                        "manifest record at offset {off} is damaged or cut short but a valid \
                         record follows at offset {valid}"
                    )));
                }
                st.end = ReplayEnd::DiscardedTail {
                    offset: off,
                    len: file.len() - off,
                };
                st.file_size = off;
                return Ok(st);
            }
            Parsed::Record {
                root,
                ttl_root,
                payload,
                next,
            } => {
                let in_record = |e: Error| {
                    Error::corrupted(format!(
                        "manifest log record at offset {off}: {}",
                        e.message()
                    ))
                };
                let log = decode_log(payload).map_err(in_record)?;
                max_len = max_len.saturating_add(log.changes.len());
                let max_before = st.max_fp_id;
                st.apply_log(&log, max_len).map_err(in_record)?;
                if st.max_fp_id != max_before {
                    st.max_fp_record = off;
                }
                st.root = root;
                st.ttl_root = ttl_root;
                st.records.push(RecordInfo {
                    offset: off,
                    root,
                    ttl_root,
                    payload_len: payload.len(),
                    is_snapshot: false,
                });
                match next {
                    Some(next) => off = next,
                    None => {
                        st.end = ReplayEnd::TornPadding { offset: off };
                        st.file_size = off + padded_len(payload.len());
                        return Ok(st);
                    }
                }
            }
        }
    }
}

/// The first `PAGE_ALIGN` boundary after `bad` holding a complete record
/// with a valid checksum. Checksumming every candidate could take time
/// quadratic in a crafted file, so the bytes hashed are bounded: a tail
/// holding more record-like data than that is no torn write (`Corrupted`).
fn valid_record_after(file: &[u8], bad: usize) -> Result<Option<usize>> {
    let mut budget = 4 * (file.len() - bad) + (1 << 20);
    let mut at = bad + PAGE_ALIGN;
    while at + HEADER_BYTES <= file.len() {
        let len = fixed32_at(file, at + LEN_OFFSET).expect("header in bounds") as usize;
        let end = at + HEADER_BYTES + len;
        if end <= file.len() {
            if end - at > budget {
                return Err(Error::corrupted(format!(
                    "manifest record at offset {bad} is damaged or cut short and the bytes \
                     after it hold more record-like data than a torn write leaves"
                )));
            }
            budget -= end - at;
            if matches!(parse_record(file, at), Parsed::Record { .. }) {
                return Ok(Some(at));
            }
        }
        at += PAGE_ALIGN;
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::error::KvError;

    fn spec_snapshot() -> AlignedBuf {
        let mut terms = TermMap::new();
        terms.insert(0, 0);
        terms.insert(TERM_KEY_MANIFEST, 0);
        let payload = encode_snapshot(
            2,
            &[],
            [mapping_value::file_page(0), mapping_value::file_page(1)],
            &terms,
        );
        encode_record(1, MAX_PAGE_ID, &payload)
    }

    #[test]
    fn spec_example_manifest() {
        let rec = spec_snapshot();
        assert_eq!(rec.len(), 4096);
        let want: &[u8] = &[
            0x74, 0xcb, 0xbc, 0x28, 0x84, 0xb8, 0x49, 0xf1, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff,
            0xff, 0xff, 0x19, 0x00, 0x00, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x09,
            0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0x01, 0x00,
        ];
        assert_eq!(&rec[..want.len()], want);
        let st = replay(&rec).unwrap();
        assert_eq!(st.root, 1);
        assert_eq!(st.max_fp_id, 2);
        assert_eq!(st.mapping, [1, 9]);
        assert_eq!(st.file_size, 4096);
        assert_eq!(st.end, ReplayEnd::Clean);
    }

    fn with_logs(n: usize) -> Vec<u8> {
        let mut file = spec_snapshot().to_vec();
        let mut terms = TermMap::new();
        terms.insert(0, 0);
        for i in 0..n {
            let changes = vec![
                (0, mapping_value::INVALID),
                (2 + i as u32, mapping_value::file_page(10 + i as u64)),
            ];
            let rec = encode_record(100 + i as u32, MAX_PAGE_ID, &encode_log(&changes, &terms));
            file.extend_from_slice(&rec);
        }
        file
    }

    #[test]
    fn logs_apply_in_order() {
        let file = with_logs(3);
        let st = replay(&file).unwrap();
        assert_eq!(st.root, 102);
        assert_eq!(st.mapping.len(), 5);
        assert_eq!(st.mapping[0], mapping_value::INVALID);
        assert_eq!(mapping_value::as_file_page(st.mapping[3]), Some(11));
        assert_eq!(mapping_value::as_file_page(st.mapping[4]), Some(12));
        assert_eq!(st.max_fp_id, 13);
        assert_eq!(st.records.len(), 4);
        assert_eq!(st.file_size, 4 * 4096);
    }

    #[test]
    fn torn_and_corrupt_tails() {
        let file = with_logs(3);
        // Flip a byte in the last record: it is ignored.
        let mut f = file.clone();
        f[3 * 4096 + 30] ^= 1;
        let st = replay(&f).unwrap();
        assert_eq!(st.root, 101);
        assert_eq!(st.file_size, 3 * 4096);
        assert_eq!(
            st.end,
            ReplayEnd::DiscardedTail {
                offset: 3 * 4096,
                len: 4096
            }
        );
        assert!(st.end.discarded().unwrap().contains("torn write or damage"));
        // Flip a byte in a middle record: corrupted.
        let mut f = file.clone();
        f[2 * 4096 + 30] ^= 1;
        assert_eq!(replay(&f).unwrap_err().code(), KvError::Corrupted);
        // Snapshot damaged: corrupted.
        let mut f = file.clone();
        f[25] ^= 1;
        assert_eq!(replay(&f).unwrap_err().code(), KvError::Corrupted);
        // Truncated by one byte: the last record's padding is cut but its
        // checksummed bytes are whole, so it is applied.
        let st = replay(&file[..file.len() - 1]).unwrap();
        assert_eq!(st.root, 102);
        assert_eq!(st.mapping.len(), 5);
        assert_eq!(st.file_size, 4 * 4096);
        assert_eq!(st.end, ReplayEnd::TornPadding { offset: 3 * 4096 });
        // Truncated inside the last record's payload: ignored.
        let st = replay(&file[..3 * 4096 + 25]).unwrap();
        assert_eq!(st.root, 101);
        assert_eq!(st.file_size, 3 * 4096);
        assert_eq!(
            st.end,
            ReplayEnd::DiscardedTail {
                offset: 3 * 4096,
                len: 25
            }
        );
        // Snapshot cut inside its checksummed bytes: corrupted.
        assert_eq!(replay(&file[..30]).unwrap_err().code(), KvError::Corrupted);
        assert_eq!(replay(&[]).unwrap_err().code(), KvError::Corrupted);
        // Snapshot whole but its padding cut: applied.
        let st = replay(&file[..4000]).unwrap();
        assert_eq!((st.root, st.file_size), (1, 4096));
    }

    #[test]
    fn damaged_record_length_in_the_middle_is_corrupted() {
        let file = with_logs(5);
        // One flipped bit in a middle record's length makes it run past
        // the end of the file: not a torn write, since valid records follow.
        for bit in [0u8, 4, 20, 31] {
            let mut f = file.clone();
            f[2 * 4096 + LEN_OFFSET + bit as usize / 8] ^= 1 << (bit % 8);
            let err = replay(&f).unwrap_err();
            assert_eq!(err.code(), KvError::Corrupted, "bit {bit}");
            assert!(
                err.message().contains("offset 8192") && err.message().contains("offset 12288"),
                "{err}"
            );
        }
        // A cut header is a torn write at the very end; a zeroed record
        // in the middle is damage.
        let st = replay(&file[..4 * 4096 + 10]).unwrap();
        assert_eq!(st.records.len(), 4);
        let mut f = file.clone();
        f[2 * 4096..3 * 4096].fill(0);
        assert_eq!(replay(&f).unwrap_err().code(), KvError::Corrupted);
        // Garbage (not a valid record) after a damaged last record is
        // still a discarded tail.
        let mut f = file.clone();
        f[5 * 4096 + 30] ^= 1;
        f.extend_from_slice(&[0x5a; 3 * 4096]);
        let st = replay(&f).unwrap();
        assert_eq!(st.records.len(), 5);
        assert_eq!(
            st.end,
            ReplayEnd::DiscardedTail {
                offset: 5 * 4096,
                len: 4 * 4096
            }
        );
    }

    #[test]
    fn tail_scan_is_bounded() {
        // Every page of the tail claims a record reaching the end of the
        // file: checksumming them all would take quadratic time.
        let mut file = with_logs(1);
        let pages = 600;
        let tail = file.len();
        file.resize(tail + pages * 4096, 0);
        for i in 0..pages {
            let at = tail + i * 4096;
            let len = (file.len() - at - HEADER_BYTES) as u32;
            set_fixed32(&mut file, at + LEN_OFFSET, len);
        }
        let err = replay(&file).unwrap_err();
        assert_eq!(err.code(), KvError::Corrupted);
        assert!(err.message().contains("torn write"), "{err}");
    }

    #[test]
    fn log_page_ids_are_bounded() {
        let mut file = spec_snapshot().to_vec();
        let terms = TermMap::new();
        // The snapshot holds 2 entries; a record of 2 changes may reach id 3.
        let ok = [
            (3, mapping_value::file_page(5)),
            (2, mapping_value::INVALID),
        ];
        file.extend_from_slice(&encode_record(1, MAX_PAGE_ID, &encode_log(&ok, &terms)));
        let st = replay(&file).unwrap();
        assert_eq!(st.mapping.len(), 4);
        assert_eq!(st.max_fp_id, 6);
        assert_eq!(st.max_fp_record, 4096);
        for id in [0xFFFF_FFF0u32, MAX_PAGE_ID, 6] {
            let mut f = file.clone();
            let bad = [(id, mapping_value::INVALID)];
            f.extend_from_slice(&encode_record(1, MAX_PAGE_ID, &encode_log(&bad, &terms)));
            let err = replay(&f).unwrap_err();
            assert_eq!(err.code(), KvError::Corrupted);
            assert!(
                err.message().contains("log record at offset 8192")
                    && err.message().contains(&format!("page id {id}")),
                "{err}"
            );
        }
    }

    fn limits_fixture() -> (Vec<u8>, BTreeMap<(FileId, u64), u64>) {
        // shift 2: four pages per file; files 0 and 1 hold 4 and 2 pages.
        let mut terms = TermMap::new();
        terms.insert(0, 0);
        terms.insert(1, 0);
        let payload = encode_snapshot(
            6,
            &[],
            [mapping_value::file_page(0), mapping_value::file_page(5)],
            &terms,
        );
        let file = encode_record(1, MAX_PAGE_ID, &payload).to_vec();
        let sizes = BTreeMap::from([((0, 0), 4 * 4096), ((1, 0), 2 * 4096)]);
        (file, sizes)
    }

    fn limits(sizes: &BTreeMap<(FileId, u64), u64>, append: bool) -> ManifestLimits<'_> {
        ManifestLimits {
            pages_per_file_shift: 2,
            data_page_size: 4096,
            append_mode: append,
            data_files: sizes,
        }
    }

    #[test]
    fn limits_from_data_files() {
        let (file, sizes) = limits_fixture();
        let st = replay(&file).unwrap();
        st.check_limits(&file, &limits(&sizes, false)).unwrap();
        st.check_limits(&file, &limits(&sizes, true)).unwrap();
        // File 1 shorter than its mapped page 5 (slot 1) needs.
        let short = BTreeMap::from([((0, 0), 4 * 4096), ((1, 0), 4096)]);
        let err = st.check_limits(&file, &limits(&short, false)).unwrap_err();
        assert!(err.message().contains("max_fp_id 6"), "{err}");
        let err = st.check_limits(&file, &limits(&short, true)).unwrap_err();
        assert!(
            err.message()
                .contains("snapshot record at offset 0: page 1 maps to file page 5"),
            "{err}"
        );
        // max_fp_id far beyond the files: pooled mode would reuse pages
        // nobody wrote.
        let mut big = st.clone();
        big.max_fp_id = 1 << 40;
        let err = big.check_limits(&file, &limits(&sizes, false)).unwrap_err();
        assert!(err.message().contains("does not exist"), "{err}");
        assert!(big.check_limits(&file, &limits(&sizes, true)).is_err());
        big.max_fp_id = MAX_FILE_PAGES + 1;
        assert!(big.check_limits(&file, &limits(&sizes, true)).is_err());
        // A page at or beyond max_fp_id.
        let mut over = st.clone();
        over.max_fp_id = 5;
        let err = over.check_limits(&file, &limits(&sizes, true)).unwrap_err();
        assert!(err.message().contains("at or beyond max_fp_id"), "{err}");
    }

    #[test]
    fn limits_name_the_log_record() {
        let (mut file, sizes) = limits_fixture();
        let mut terms = TermMap::new();
        terms.insert(1 << 40, 0);
        let far = (1u64 << 40) << 2;
        let changes = [(0, mapping_value::file_page(far))];
        file.extend_from_slice(&encode_record(
            1,
            MAX_PAGE_ID,
            &encode_log(&changes, &terms),
        ));
        let st = replay(&file).unwrap();
        assert_eq!(st.max_fp_id, far + 1);
        for append in [false, true] {
            let err = st.check_limits(&file, &limits(&sizes, append)).unwrap_err();
            assert!(err.message().contains("log record at offset 4096"), "{err}");
        }
    }

    #[test]
    fn term_map_rules() {
        let mut m = TermMap::new();
        m.insert(3, 7);
        m.insert(TERM_KEY_MANIFEST, 7);
        let mut buf = Vec::new();
        encode_term_map(&mut buf, &m);
        let mut back = TermMap::new();
        decode_term_map(&buf, &mut back).unwrap();
        assert_eq!(back, m);
        let mut empty = Vec::new();
        encode_term_map(&mut empty, &TermMap::new());
        assert_eq!(empty, [0, 0, 0, 0]);
        // Length larger than the data.
        assert!(decode_term_map(&[10, 0, 0, 0, 1, 1], &mut back).is_err());
        // Truncated varint.
        assert!(decode_term_map(&[1, 0, 0, 0, 0x80], &mut back).is_err());
    }
}
