//! Requests over the C ABI: one handle type for every request kind; the
//! kind-specific setters and getters check the kind.

use std::ffi::{CString, c_char};
use std::sync::{Arc, Mutex};

use super::{bytes, eloqstore_error, guard, guard_err, put};
use crate::request::{
    ArchiveRequest, BatchWriteRequest, Body, CleanExpiredRequest, CompactRequest, DropTableRequest,
    FloorRequest, GlobalArchiveRequest, ListObjectRequest, ListResult, ReadRequest, Request,
    RequestType, ScanRequest, ScanResult, TruncateRequest,
};
use crate::types::{Batch, BatchEntry, KvEntry, LentEntries, TableIdent, WriteDataEntry, WriteOp};

/// Request kinds, with upstream `RequestType`'s numbers.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // for the C header (cbindgen): the values of a `uint8_t` field
pub enum eloqstore_request_type {
    ELOQSTORE_REQ_READ = 0,
    ELOQSTORE_REQ_FLOOR = 1,
    ELOQSTORE_REQ_SCAN = 2,
    ELOQSTORE_REQ_LIST_OBJECT = 3,
    ELOQSTORE_REQ_BATCH_WRITE = 4,
    ELOQSTORE_REQ_TRUNCATE = 5,
    ELOQSTORE_REQ_DROP_TABLE = 6,
    ELOQSTORE_REQ_ARCHIVE = 7,
    ELOQSTORE_REQ_COMPACT = 8,
    ELOQSTORE_REQ_CLEAN_EXPIRED = 9,
    ELOQSTORE_REQ_GLOBAL_ARCHIVE = 10,
}

/// Batch entry operations, with upstream `WriteOp`'s numbers.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // for the C header (cbindgen): the values of a `uint8_t` field
pub enum eloqstore_write_op {
    ELOQSTORE_UPSERT = 0,
    ELOQSTORE_DELETE = 1,
}

/// One result entry. The pointers refer to memory owned by the request and
/// stay valid until it is executed again or freed.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct eloqstore_entry {
    pub key: *const u8,
    pub key_len: usize,
    pub value: *const u8,
    pub value_len: usize,
    pub timestamp: u64,
    pub expire_ts: u64,
}

/// One entry of a batch lent with `eloqstore_batch_lend`: `op` is
/// `eloqstore_write_op`, `expire_ts` ms since the epoch (0 = never).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct eloqstore_batch_entry {
    pub key: *const u8,
    pub key_len: usize,
    pub value: *const u8,
    pub value_len: usize,
    pub timestamp: u64,
    pub expire_ts: u64,
    pub op: u8,
}

/// The descriptors of a lent batch (the bytes stay the caller's).
struct LentBatch(Vec<eloqstore_batch_entry>);

// SAFETY: the descriptors only point at bytes the caller of
// `eloqstore_batch_lend` keeps valid and unchanged until the request
// completes; they are only read, from any thread.
unsafe impl Send for LentBatch {}
// SAFETY: as for Send: shared reads of immutable memory.
unsafe impl Sync for LentBatch {}

/// A possibly empty byte string lent by C (checked non-null when not empty).
///
/// # Safety
/// `ptr` valid for `len` bytes for `'a`.
unsafe fn lent_bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    // SAFETY: per this function's contract; null was refused when lent.
    unsafe { bytes(ptr, len) }.unwrap_or_default()
}

impl LentEntries for LentBatch {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&self, i: usize) -> BatchEntry<'_> {
        let e = &self.0[i];
        // SAFETY: `eloqstore_batch_lend`'s contract keeps both valid for
        // their lengths until the request completes, and the request drops
        // this batch when it completes.
        let (key, val) = unsafe {
            (
                lent_bytes(e.key, e.key_len),
                lent_bytes(e.value, e.value_len),
            )
        };
        BatchEntry {
            key,
            val,
            timestamp: e.timestamp,
            op: if e.op == WriteOp::Delete as u8 {
                WriteOp::Delete
            } else {
                WriteOp::Upsert
            },
            expire_ts: e.expire_ts,
        }
    }
}

/// Called once when a request submitted with `eloqstore_store_exec_async`
/// completes, on a store thread.
pub type eloqstore_callback =
    Option<unsafe extern "C" fn(req: *mut eloqstore_request, user_data: u64)>;

/// A request of any kind. Created by `eloqstore_request_new`, freed by
/// `eloqstore_request_free`.
pub struct eloqstore_request {
    pub(crate) req: Request,
    /// Results copied out for stable pointers, taken on first access after
    /// completion.
    out: Mutex<Outputs>,
}

#[derive(Default)]
struct Outputs {
    /// The submission these copies belong to (0: none copied yet).
    generation: u64,
    entry: Option<KvEntry>,
    scan: Option<Arc<ScanResult>>,
    list: Option<Arc<ListResult>>,
    /// `scan`'s entries as C structs, made on first use.
    scan_entries: Option<EntryTable>,
    /// The error message; `None` on success (read as "").
    message: Option<CString>,
}

/// C views of a scan result's entries.
struct EntryTable(Vec<eloqstore_entry>);

// SAFETY: the pointers refer into the `ScanResult` that the same `Outputs`
// keeps alive (behind an `Arc`, never mutated once published), and are only
// read; sharing or sending them is as safe as sharing that result.
unsafe impl Send for EntryTable {}
// SAFETY: as above.
unsafe impl Sync for EntryTable {}

impl Outputs {
    /// The scan entries as C structs (empty for other request kinds).
    fn scan_entries(&mut self) -> &[eloqstore_entry] {
        if self.scan_entries.is_none() {
            let table = self.scan.as_ref().map_or_else(Vec::new, |s| {
                s.iter()
                    .map(|e| eloqstore_entry {
                        key: e.key.as_ptr(),
                        key_len: e.key.len(),
                        value: e.value.as_ptr(),
                        value_len: e.value.len(),
                        timestamp: e.timestamp,
                        expire_ts: e.expire_ts,
                    })
                    .collect()
            });
            self.scan_entries = Some(EntryTable(table));
        }
        self.scan_entries.as_ref().map_or(&[], |t| &t.0)
    }
}

impl eloqstore_request {
    /// The results of the latest completed execution, taken over once so
    /// that pointers into them stay valid until the next execution's
    /// results are read (or the handle is freed). A found entry is moved,
    /// not copied: only this handle reads its request's results.
    fn outputs(&self) -> std::sync::MutexGuard<'_, Outputs> {
        let mut o = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let generation = self.req.generation();
        if o.generation != generation && self.req.is_done() {
            *o = Outputs::default();
            o.generation = generation;
            let mut s = self.req.state();
            match &mut s.body {
                Body::Read { out, .. } | Body::Floor { out, .. } => o.entry = out.take(),
                Body::Scan { out, .. } => o.scan = Some(out.clone()),
                Body::ListObject { out, .. } => o.list = Some(out.clone()),
                _ => {}
            }
            drop(s);
            if self.req.error() != crate::error::KvError::NoError {
                o.message = CString::new(self.req.error_message().replace('\0', " ")).ok();
            }
        }
        o
    }
}

/// A new handle on an existing Arc-managed request pointer.
///
/// # Safety
/// `req` must be a live pointer returned by `eloqstore_request_new`.
pub(crate) unsafe fn handle_arc(req: *mut eloqstore_request) -> Arc<eloqstore_request> {
    // SAFETY: the pointer came from Arc::into_raw and the handle is live,
    // so its count is at least one while we add ours.
    unsafe {
        Arc::increment_strong_count(req.cast_const());
        Arc::from_raw(req.cast_const())
    }
}

/// The request behind a handle, if it is not NULL.
///
/// # Safety
/// `req` NULL or a live handle.
unsafe fn get<'a>(req: *const eloqstore_request) -> Option<&'a eloqstore_request> {
    // SAFETY: null or live per the contract.
    unsafe { req.as_ref() }
}

/// A new request of the given kind (`eloqstore_request_type` value), or
/// NULL for an unknown kind. Free with `eloqstore_request_free`.
#[unsafe(no_mangle)]
pub extern "C" fn eloqstore_request_new(kind: u8) -> *mut eloqstore_request {
    guard(std::ptr::null_mut(), || {
        let req = match kind {
            0 => ReadRequest::new().untyped().clone(),
            1 => FloorRequest::new().untyped().clone(),
            2 => ScanRequest::new().untyped().clone(),
            3 => ListObjectRequest::new().untyped().clone(),
            4 => BatchWriteRequest::new().untyped().clone(),
            5 => TruncateRequest::new().untyped().clone(),
            6 => DropTableRequest::new().untyped().clone(),
            7 => ArchiveRequest::new().untyped().clone(),
            8 => CompactRequest::new().untyped().clone(),
            9 => CleanExpiredRequest::new().untyped().clone(),
            10 => GlobalArchiveRequest::new().untyped().clone(),
            _ => return std::ptr::null_mut(),
        };
        Arc::into_raw(Arc::new(eloqstore_request {
            req,
            out: Mutex::default(),
        }))
        .cast_mut()
    })
}

/// Releases the caller's handle (NULL is ignored). A request in flight
/// still completes and its callback still runs.
///
/// # Safety
/// `req` NULL or a live handle, not used again afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_request_free(req: *mut eloqstore_request) {
    guard((), || {
        if !req.is_null() {
            // SAFETY: created by Arc::into_raw; this releases the caller's
            // reference exactly once.
            drop(unsafe { Arc::from_raw(req.cast_const()) });
        }
    })
}

/// The request's kind (`eloqstore_request_type`), 255 for NULL.
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_request_type_of(req: *const eloqstore_request) -> u8 {
    // SAFETY: null or live per the contract.
    guard(255, || {
        unsafe { get(req) }.map_or(255, |r| r.req.request_type() as u8)
    })
}

fn with_req(
    req: *const eloqstore_request,
    f: impl FnOnce(&eloqstore_request) -> eloqstore_error,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: callers pass null or a live handle.
        match unsafe { get(req) } {
            None => eloqstore_error::ELOQSTORE_INVALID_ARGS,
            // Arguments may change only while the request is not in flight.
            Some(r) if !r.req.is_done() => eloqstore_error::ELOQSTORE_BUSY,
            Some(r) => f(r),
        }
    })
}

fn kind_is(r: &eloqstore_request, kinds: &[RequestType]) -> bool {
    kinds.contains(&r.req.request_type())
}

/// The two byte strings a setter takes, `None` if either is invalid (see
/// [`bytes`]).
///
/// # Safety
/// `a` and `b` must point at `a_len` and `b_len` readable bytes that stay
/// valid for `'a`.
unsafe fn two_bytes<'a>(
    a: *const u8,
    a_len: usize,
    b: *const u8,
    b_len: usize,
) -> Option<(&'a [u8], &'a [u8])> {
    // SAFETY: both valid for their lengths per this function's contract.
    let (a, b) = unsafe { (bytes(a, a_len), bytes(b, b_len)) };
    Some((a?, b?))
}

const BAD: eloqstore_error = eloqstore_error::ELOQSTORE_INVALID_ARGS;
const OK: eloqstore_error = eloqstore_error::ELOQSTORE_OK;

/// Sets the partition: table name `(name, len)` and partition id. The
/// name is a byte string (need not be UTF-8); an empty name, `/` or NUL
/// in it is refused when the request is executed. `ELOQSTORE_BUSY` while the request is in flight (as for every setter).
///
/// # Safety
/// `req` NULL or a live handle; `name` valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_request_set_table(
    req: *mut eloqstore_request,
    name: *const u8,
    len: usize,
    partition: u32,
) -> eloqstore_error {
    with_req(req, |r| {
        // SAFETY: valid for `len` bytes per the contract.
        let Some(n) = (unsafe { bytes(name, len) }) else {
            return BAD;
        };
        r.req.set_table_id(TableIdent::new(n, partition));
        OK
    })
}

/// Sets the key of a Read or Floor request.
///
/// # Safety
/// `req` NULL or a live handle; `key` valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_request_set_key(
    req: *mut eloqstore_request,
    key: *const u8,
    len: usize,
) -> eloqstore_error {
    with_req(req, |r| {
        // SAFETY: valid for `len` bytes per the contract.
        let Some(k) = (unsafe { bytes(key, len) }) else {
            return BAD;
        };
        match &mut r.req.state().body {
            Body::Read { key, out } | Body::Floor { key, out } => {
                *key = k.to_vec();
                *out = None;
                OK
            }
            _ => BAD,
        }
    })
}

/// Sets a Scan's range: keys in `[begin, end)` (`(begin, end)` when
/// `begin_inclusive` is false); empty `begin` = from the first key, empty
/// `end` = unbounded.
///
/// # Safety
/// `req` NULL or a live handle; `begin`/`end` valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_scan_set_range(
    req: *mut eloqstore_request,
    begin: *const u8,
    begin_len: usize,
    end: *const u8,
    end_len: usize,
    begin_inclusive: bool,
) -> eloqstore_error {
    with_req(req, |r| {
        // SAFETY: valid for their lengths per the contract.
        let Some((b, e)) = (unsafe { two_bytes(begin, begin_len, end, end_len) }) else {
            return BAD;
        };
        if !kind_is(r, &[RequestType::Scan]) {
            return BAD;
        }
        let tbl = r.req.table_id();
        ScanRequest::from_untyped(r.req.clone()).set_args(
            tbl,
            b.to_vec(),
            e.to_vec(),
            begin_inclusive,
        );
        OK
    })
}

/// Per-execution Scan limits: at most `entries` entries and `bytes` bytes
/// (key + value + 16 per entry); 0 = unlimited.
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_scan_set_pagination(
    req: *mut eloqstore_request,
    entries: usize,
    bytes: usize,
) -> eloqstore_error {
    with_req(req, |r| {
        if !kind_is(r, &[RequestType::Scan]) {
            return BAD;
        }
        ScanRequest::from_untyped(r.req.clone()).set_pagination(entries, bytes);
        OK
    })
}

/// Leaf pages a Scan reads ahead (0 = 6, at most 128).
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_scan_set_prefetch(
    req: *mut eloqstore_request,
    pages: usize,
) -> eloqstore_error {
    with_req(req, |r| {
        if !kind_is(r, &[RequestType::Scan]) {
            return BAD;
        }
        ScanRequest::from_untyped(r.req.clone()).set_prefetch_page_num(pages);
        OK
    })
}

/// Appends an entry to a BatchWrite: `op` is `eloqstore_write_op`;
/// `expire_ts` in ms since the epoch (0 = never). Keys must be added in
/// ascending order without duplicates (checked at execution).
///
/// # Safety
/// `req` NULL or a live handle; `key`/`value` valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_batch_add(
    req: *mut eloqstore_request,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    timestamp: u64,
    op: u8,
    expire_ts: u64,
) -> eloqstore_error {
    with_req(req, |r| {
        // SAFETY: valid for their lengths per the contract.
        let Some((k, v)) = (unsafe { two_bytes(key, key_len, value, value_len) }) else {
            return BAD;
        };
        let op = match op {
            0 => WriteOp::Upsert,
            1 => WriteOp::Delete,
            _ => return BAD,
        };
        match &mut r.req.state().body {
            Body::BatchWrite { batch } => {
                batch.push(WriteDataEntry::new(k, v, timestamp, op, expire_ts));
                OK
            }
            _ => BAD,
        }
    })
}

/// Sets a BatchWrite's batch to `count` entries whose keys and values are
/// lent, not copied: the engine reads them in place while the request
/// runs. Same rules as `eloqstore_batch_add` (keys ascending, `op` an
/// `eloqstore_write_op`); the descriptors themselves are copied. An entry
/// with a bad `op`, or a NULL pointer with a non-zero length, is refused
/// and leaves the batch empty. When the request completes the engine drops
/// the lent batch (`eloqstore_batch_len` is 0 again); `eloqstore_batch_add`
/// on a lent batch copies it first.
///
/// # Safety
/// `req` NULL or a live handle; `entries` valid for `count` descriptors;
/// every key and value they point at must stay valid and unchanged until
/// the request completes (or until the batch is cleared or replaced, if
/// the request is not executed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_batch_lend(
    req: *mut eloqstore_request,
    entries: *const eloqstore_batch_entry,
    count: usize,
) -> eloqstore_error {
    with_req(req, |r| {
        let Body::BatchWrite { batch } = &mut r.req.state().body else {
            return BAD;
        };
        *batch = Batch::default();
        let list: &[eloqstore_batch_entry] = if count == 0 {
            &[]
        } else if entries.is_null() {
            return BAD;
        } else {
            // SAFETY: `count` readable descriptors per the contract.
            unsafe { std::slice::from_raw_parts(entries, count) }
        };
        let bad = |p: *const u8, len: usize| p.is_null() && len > 0;
        if list.iter().any(|e| {
            e.op > WriteOp::Delete as u8 || bad(e.key, e.key_len) || bad(e.value, e.value_len)
        }) {
            return BAD;
        }
        *batch = Batch::Lent(Arc::new(LentBatch(list.to_vec())));
        OK
    })
}

/// Empties a BatchWrite's batch.
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_batch_clear(req: *mut eloqstore_request) -> eloqstore_error {
    with_req(req, |r| match &mut r.req.state().body {
        Body::BatchWrite { batch } => {
            *batch = Batch::default();
            OK
        }
        _ => BAD,
    })
}

/// Entries in a BatchWrite's batch (0 for NULL or another kind).
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_batch_len(req: *const eloqstore_request) -> usize {
    guard(0, || {
        // SAFETY: null or live per the contract.
        match unsafe { get(req) }.map(|r| r.req.state()) {
            Some(s) => match &s.body {
                Body::BatchWrite { batch } => batch.len(),
                _ => 0,
            },
            None => 0,
        }
    })
}

/// Sets a Truncate's position: keys `>=` it are deleted (empty = all).
///
/// # Safety
/// `req` NULL or a live handle; `pos` valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_truncate_set_position(
    req: *mut eloqstore_request,
    pos: *const u8,
    len: usize,
) -> eloqstore_error {
    with_req(req, |r| {
        // SAFETY: valid for `len` bytes per the contract.
        let Some(p) = (unsafe { bytes(pos, len) }) else {
            return BAD;
        };
        match &mut r.req.state().body {
            Body::Truncate { position } => {
                *position = p.to_vec();
                OK
            }
            _ => BAD,
        }
    })
}

/// Marks the request's arguments as invalid: while marked, executing it
/// fails with `ELOQSTORE_INVALID_ARGS` and `message` (UTF-8; invalid bytes
/// are replaced), delivered like any other failure: an async callback runs
/// on a store thread, never inside `eloqstore_store_exec_async`. A NULL
/// `message` clears the mark. For bindings whose own argument types can
/// hold values this API refuses (the C++ layer's out-of-range `WriteOp`).
///
/// # Safety
/// `req` NULL or a live handle; `message` NULL or valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_request_reject(
    req: *mut eloqstore_request,
    message: *const u8,
    len: usize,
) -> eloqstore_error {
    with_req(req, |r| {
        if message.is_null() {
            r.req.reject_arguments(None);
            return OK;
        }
        // SAFETY: valid for `len` bytes per the contract.
        let Some(m) = (unsafe { bytes(message, len) }) else {
            return BAD;
        };
        let m = String::from_utf8_lossy(m).into_owned();
        r.req.reject_arguments(Some(m));
        OK
    })
}

/// Sets a DropTable's table name (a byte string, as for
/// `eloqstore_request_set_table`).
///
/// # Safety
/// `req` NULL or a live handle; `name` valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_drop_table_set_name(
    req: *mut eloqstore_request,
    name: *const u8,
    len: usize,
) -> eloqstore_error {
    with_req(req, |r| {
        // SAFETY: valid for `len` bytes per the contract.
        let Some(n) = (unsafe { bytes(name, len) }) else {
            return BAD;
        };
        if !kind_is(r, &[RequestType::DropTable]) {
            return BAD;
        }
        DropTableRequest::from_untyped(r.req.clone()).set_args(n.to_vec());
        OK
    })
}

/// Sets the snapshot timestamp of an Archive or GlobalArchive (0 = now,
/// in microseconds).
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_archive_set_timestamp(
    req: *mut eloqstore_request,
    ts: u64,
) -> eloqstore_error {
    with_req(req, |r| match &mut r.req.state().body {
        Body::Archive { snapshot_ts } | Body::GlobalArchive { snapshot_ts } => {
            *snapshot_ts = ts;
            OK
        }
        _ => BAD,
    })
}

/// True when not in flight (a request never submitted is done); true for
/// NULL.
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_request_is_done(req: *const eloqstore_request) -> bool {
    // SAFETY: null or live per the contract.
    guard(true, || unsafe { get(req) }.is_none_or(|r| r.req.is_done()))
}

/// Blocks until the request completes (returns at once if it is done).
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_request_wait(req: *const eloqstore_request) {
    guard((), || {
        // SAFETY: null or live per the contract.
        if let Some(r) = unsafe { get(req) } {
            r.req.wait();
        }
    })
}

/// The error of the last completed execution (`ELOQSTORE_INVALID_ARGS`
/// for NULL).
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_request_error(req: *const eloqstore_request) -> eloqstore_error {
    // SAFETY: null or live per the contract.
    guard_err(|| unsafe { get(req) }.map_or(BAD, |r| r.req.error().into()))
}

/// A message naming what failed ("" on success or while in flight). Valid
/// until the request is executed again or freed.
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_request_error_message(
    req: *const eloqstore_request,
) -> *const c_char {
    guard(c"".as_ptr(), || {
        // SAFETY: null or live per the contract.
        match unsafe { get(req) } {
            Some(r) if r.req.is_done() => r.outputs().message.as_deref().unwrap_or(c"").as_ptr(),
            _ => c"".as_ptr(),
        }
    })
}

/// Whether the last error is retryable (OpenFileLimit, TryAgain, Busy).
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_request_retryable(req: *const eloqstore_request) -> bool {
    // SAFETY: null or live per the contract.
    guard(false, || {
        unsafe { get(req) }.is_some_and(|r| r.req.retryable())
    })
}

/// The user data of the last submission (0 for NULL).
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_request_user_data(req: *const eloqstore_request) -> u64 {
    // SAFETY: null or live per the contract.
    guard(0, || unsafe { get(req) }.map_or(0, |r| r.req.user_data()))
}

/// The entry a completed Read or Floor found (for Floor, `key` is the floor
/// key). `ELOQSTORE_NOT_FOUND` when there is none, `ELOQSTORE_BUSY` while
/// in flight, `ELOQSTORE_INVALID_ARGS` for other kinds. The pointers stay
/// valid until the request is executed again or freed.
///
/// # Safety
/// `req` NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_request_result(
    req: *const eloqstore_request,
    out: *mut eloqstore_entry,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: null or live per the contract.
        let Some(r) = (unsafe { get(req) }) else {
            return BAD;
        };
        if !kind_is(r, &[RequestType::Read, RequestType::Floor]) {
            return BAD;
        }
        if !r.req.is_done() {
            return eloqstore_error::ELOQSTORE_BUSY;
        }
        let o = r.outputs();
        match &o.entry {
            Some(e) => {
                // SAFETY: null or writable per the contract; the pointers
                // refer to `o.entry`, kept until reset.
                unsafe { put(out, entry_of(e)) };
                OK
            }
            None => eloqstore_error::ELOQSTORE_NOT_FOUND,
        }
    })
}

fn entry_of(e: &KvEntry) -> eloqstore_entry {
    eloqstore_entry {
        key: e.key.as_ptr(),
        key_len: e.key.len(),
        value: e.value.as_ptr(),
        value_len: e.value.len(),
        timestamp: e.timestamp,
        expire_ts: e.expire_ts,
    }
}

/// The outputs of a completed request of kind `kind`.
fn done_outputs(
    r: &eloqstore_request,
    kind: RequestType,
) -> Option<std::sync::MutexGuard<'_, Outputs>> {
    if !kind_is(r, &[kind]) || !r.req.is_done() {
        return None;
    }
    Some(r.outputs())
}

fn scan_result(r: &eloqstore_request) -> Option<Arc<ScanResult>> {
    scan_outputs(r)?.scan.clone()
}

/// The outputs of a completed Scan request.
fn scan_outputs(r: &eloqstore_request) -> Option<std::sync::MutexGuard<'_, Outputs>> {
    done_outputs(r, RequestType::Scan)
}

/// Entries the last Scan execution returned (0 for NULL, other kinds or
/// while in flight).
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_scan_entry_count(req: *const eloqstore_request) -> usize {
    // SAFETY: null or live per the contract.
    guard(0, || {
        unsafe { get(req) }
            .and_then(scan_result)
            .map_or(0, |s| s.len())
    })
}

/// Entry `index` of the last Scan execution; pointers valid until the
/// request is executed again or freed.
///
/// # Safety
/// `req` NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_scan_entry(
    req: *const eloqstore_request,
    index: usize,
    out: *mut eloqstore_entry,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: null or live per the contract.
        let Some(mut o) = unsafe { get(req) }.and_then(scan_outputs) else {
            return BAD;
        };
        match o.scan_entries().get(index) {
            // SAFETY: null or writable; the entry's pointers refer into the
            // result the request's outputs keep until reset.
            Some(e) => {
                unsafe { put(out, *e) };
                OK
            }
            None => BAD,
        }
    })
}

/// Every entry of the last Scan execution at once: `*entries` receives an
/// array of `*count` entries (in key order), valid, like the pointers in
/// it, until the request is executed again or freed. Cheaper than
/// `eloqstore_scan_entry` per index for large results.
///
/// # Safety
/// `req` NULL or a live handle; `entries`/`count` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_scan_entries(
    req: *const eloqstore_request,
    entries: *mut *const eloqstore_entry,
    count: *mut usize,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: null or live per the contract.
        let Some(mut o) = unsafe { get(req) }.and_then(scan_outputs) else {
            return BAD;
        };
        let table = o.scan_entries();
        let (ptr, n) = (table.as_ptr(), table.len());
        // SAFETY: null or writable per the contract; the table lives in the
        // request's outputs until they are reset by a later execution.
        unsafe {
            put(entries, ptr);
            put(count, n);
        }
        OK
    })
}

/// Whether the last Scan stopped at a pagination limit with more entries
/// in range.
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_scan_has_remaining(req: *const eloqstore_request) -> bool {
    // SAFETY: null or live per the contract.
    guard(false, || {
        unsafe { get(req) }
            .and_then(scan_result)
            .is_some_and(|s| s.has_remaining)
    })
}

/// Size of the last Scan result: entry count and bytes (key + value + 16
/// per entry).
///
/// # Safety
/// `req` NULL or a live handle; `count`/`bytes` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_scan_result_size(
    req: *const eloqstore_request,
    count: *mut usize,
    bytes: *mut usize,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: null or live per the contract.
        let Some(s) = unsafe { get(req) }.and_then(scan_result) else {
            return BAD;
        };
        let (c, b) = s.size();
        // SAFETY: null or writable per the contract.
        unsafe {
            put(count, c);
            put(bytes, b);
        }
        OK
    })
}

/// One object (or directory) of a ListObject result; the pointers (UTF-8,
/// not NUL-terminated) stay valid until the request is executed again or
/// freed. Upstream's `utils::CloudObjectInfo`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct eloqstore_object_info {
    /// The last component of `path`.
    pub name: *const u8,
    pub name_len: usize,
    /// The key relative to the listed path.
    pub path: *const u8,
    pub path_len: usize,
    pub size: u64,
    /// A common prefix of a non-recursive listing.
    pub is_dir: bool,
    /// `LastModified` (ISO-8601); empty for directories.
    pub mod_time: *const u8,
    pub mod_time_len: usize,
}

/// Sets what a ListObject lists: `path` relative to the store's
/// `cloud_store_path` (empty: its root; slashes at either end ignored),
/// all keys below it (`recursive`) or one level with directories, and the
/// continuation token of the previous page (empty for the first page).
///
/// # Safety
/// `req` NULL or a live handle; `path` and `token` valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_list_set_args(
    req: *mut eloqstore_request,
    path: *const u8,
    path_len: usize,
    recursive: bool,
    token: *const u8,
    token_len: usize,
) -> eloqstore_error {
    with_req(req, |r| {
        // SAFETY: valid for their lengths per the contract.
        let Some((p, t)) = (unsafe { two_bytes(path, path_len, token, token_len) }) else {
            return BAD;
        };
        let (Ok(p), Ok(t)) = (std::str::from_utf8(p), std::str::from_utf8(t)) else {
            return BAD;
        };
        if !kind_is(r, &[RequestType::ListObject]) {
            return BAD;
        }
        let l = ListObjectRequest::from_untyped(r.req.clone());
        l.set_remote_path(p);
        l.set_recursive(recursive);
        l.set_continuation_token(t);
        OK
    })
}

fn list_result(r: &eloqstore_request) -> Option<Arc<ListResult>> {
    done_outputs(r, RequestType::ListObject)?.list.clone()
}

/// Objects and directories the last ListObject execution returned
/// (objects first); 0 for NULL, other kinds or while in flight.
///
/// # Safety
/// `req` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_list_count(req: *const eloqstore_request) -> usize {
    // SAFETY: null or live per the contract.
    guard(0, || {
        unsafe { get(req) }
            .and_then(list_result)
            .map_or(0, |l| l.details.len())
    })
}

/// Item `index` of the last ListObject execution.
///
/// # Safety
/// `req` NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_list_item(
    req: *const eloqstore_request,
    index: usize,
    out: *mut eloqstore_object_info,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: null or live per the contract.
        let Some(l) = unsafe { get(req) }.and_then(list_result) else {
            return BAD;
        };
        let Some(d) = l.details.get(index) else {
            return BAD;
        };
        let info = eloqstore_object_info {
            name: d.name.as_ptr(),
            name_len: d.name.len(),
            path: d.path.as_ptr(),
            path_len: d.path.len(),
            size: d.size,
            is_dir: d.is_dir,
            mod_time: d.mod_time.as_ptr(),
            mod_time_len: d.mod_time.len(),
        };
        // SAFETY: null or writable; the strings live in the Arc the
        // request's outputs keep until reset.
        unsafe { put(out, info) };
        OK
    })
}

/// The continuation token for the next page of the last ListObject
/// execution (`*len` 0 on the last page); valid until the request is
/// executed again or freed.
///
/// # Safety
/// `req` NULL or a live handle; `token`/`len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn eloqstore_list_next_token(
    req: *const eloqstore_request,
    token: *mut *const u8,
    len: *mut usize,
) -> eloqstore_error {
    guard_err(|| {
        // SAFETY: null or live per the contract.
        let Some(l) = unsafe { get(req) }.and_then(list_result) else {
            return BAD;
        };
        let t = &l.next_continuation_token;
        // SAFETY: null or writable per the contract.
        unsafe {
            put(token, t.as_ptr());
            put(len, t.len());
        }
        OK
    })
}
