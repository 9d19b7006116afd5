//! Requests, as upstream's `KvRequest` family: arguments set before
//! submission, results and an error code read after completion.
//!
//! A request is a shared handle (`Clone` gives another handle to the same
//! request), so it may be submitted from one thread, completed on a shard
//! thread and read from a third; dropping every handle of a request in
//! flight is safe — the engine keeps its own. Results are published before
//! `is_done()` turns true, then the callback (if any) runs on the
//! completing thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, KvError};
use crate::options::DEFAULT_SCAN_PREFETCH_PAGE_COUNT;
use crate::types::{Batch, KvEntry, TableIdent, WriteDataEntry, WriteOp};

/// Upstream's `RequestType`, with its numbers.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestType {
    /// A point read ([`ReadRequest`]).
    Read = 0,
    /// The greatest key at or below a key ([`FloorRequest`]).
    Floor = 1,
    /// A range scan ([`ScanRequest`]).
    Scan = 2,
    /// A listing of cloud objects ([`ListObjectRequest`]).
    ListObject = 3,
    /// A batch of upserts and deletes ([`BatchWriteRequest`]).
    BatchWrite = 4,
    /// Deletion of a key suffix ([`TruncateRequest`]).
    Truncate = 5,
    /// Deletion of a table's partitions ([`DropTableRequest`]).
    DropTable = 6,
    /// An archive of a partition ([`ArchiveRequest`]).
    Archive = 7,
    /// Compaction of a partition ([`CompactRequest`]).
    Compact = 8,
    /// Removal of expired keys ([`CleanExpiredRequest`]).
    CleanExpired = 9,
    /// An archive of every partition ([`GlobalArchiveRequest`]).
    GlobalArchive = 10,
}

impl RequestType {
    /// Upstream's `RequestTypeToString`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Read => "read",
            RequestType::Floor => "floor",
            RequestType::Scan => "scan",
            RequestType::ListObject => "list_object",
            RequestType::BatchWrite => "batch_write",
            RequestType::Truncate => "truncate",
            RequestType::DropTable => "drop_table",
            RequestType::Archive => "archive",
            RequestType::Compact => "compact",
            RequestType::CleanExpired => "clean_expired",
            RequestType::GlobalArchive => "global_archive",
        }
    }

    /// Read-only requests (`Type() < BatchWrite` upstream).
    pub fn is_read_only(self) -> bool {
        (self as u8) < (RequestType::BatchWrite as u8)
    }
}

/// Scan results of one execution: every key and value back to back in one
/// buffer, so a scan costs a few allocations whatever its entry count, and
/// the C ABI hands out pointers into it without copying.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanResult {
    bytes: Vec<u8>,
    items: Vec<ScanItem>,
    /// The scan stopped at a pagination limit with more entries in range.
    pub has_remaining: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ScanItem {
    /// Where the key starts in `bytes`; the value follows it.
    start: usize,
    key_len: usize,
    value_len: usize,
    timestamp: u64,
    expire_ts: u64,
}

/// One scanned entry, borrowed from its [`ScanResult`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvEntryRef<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// The entry's timestamp, as written.
    pub timestamp: u64,
    /// Milliseconds since the epoch; 0 never expires.
    pub expire_ts: u64,
}

impl KvEntryRef<'_> {
    /// Copies the entry out of its scan result.
    pub fn to_owned(&self) -> KvEntry {
        KvEntry {
            key: self.key.to_vec(),
            value: self.value.to_vec(),
            timestamp: self.timestamp,
            expire_ts: self.expire_ts,
        }
    }
}

impl ScanResult {
    /// Entries found.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// No entry found.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Entry `i`, in key order.
    pub fn get(&self, i: usize) -> Option<KvEntryRef<'_>> {
        self.items.get(i).map(|it| self.entry(it))
    }

    fn entry(&self, it: &ScanItem) -> KvEntryRef<'_> {
        let key_end = it.start + it.key_len;
        KvEntryRef {
            key: &self.bytes[it.start..key_end],
            value: &self.bytes[key_end..key_end + it.value_len],
            timestamp: it.timestamp,
            expire_ts: it.expire_ts,
        }
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = KvEntryRef<'_>> {
        self.items.iter().map(|it| self.entry(it))
    }

    /// The entries, copied out.
    pub fn to_entries(&self) -> Vec<KvEntry> {
        self.iter().map(|e| e.to_owned()).collect()
    }

    /// (entry count, bytes counted as key + value + 16 per entry).
    pub fn size(&self) -> (usize, usize) {
        (self.items.len(), self.bytes.len() + 16 * self.items.len())
    }

    /// Appends an entry (entries must come in key order).
    pub fn push(&mut self, key: &[u8], value: &[u8], timestamp: u64, expire_ts: u64) {
        let start = self.bytes.len();
        self.bytes.reserve(key.len() + value.len());
        self.bytes.extend_from_slice(key);
        self.bytes.extend_from_slice(value);
        self.items.push(ScanItem {
            start,
            key_len: key.len(),
            value_len: value.len(),
            timestamp,
            expire_ts,
        });
    }

    /// Makes room for `entries` more entries of `bytes` bytes in all.
    pub fn reserve(&mut self, entries: usize, bytes: usize) {
        self.items.reserve(entries);
        self.bytes.reserve(bytes);
    }

    /// Drops the last entry.
    pub fn pop(&mut self) {
        if let Some(it) = self.items.pop() {
            self.bytes.truncate(it.start);
        }
    }
}

impl<'a> IntoIterator for &'a ScanResult {
    type Item = KvEntryRef<'a>;
    type IntoIter = Box<dyn ExactSizeIterator<Item = KvEntryRef<'a>> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl FromIterator<KvEntry> for ScanResult {
    fn from_iter<I: IntoIterator<Item = KvEntry>>(iter: I) -> ScanResult {
        let mut r = ScanResult::default();
        for e in iter {
            r.push(&e.key, &e.value, e.timestamp, e.expire_ts);
        }
        r
    }
}

/// Arguments and results, per request type.
#[derive(Debug)]
pub(crate) enum Body {
    Read {
        key: Vec<u8>,
        out: Option<KvEntry>,
    },
    Floor {
        key: Vec<u8>,
        out: Option<KvEntry>,
    },
    Scan {
        begin: Vec<u8>,
        end: Vec<u8>,
        begin_inclusive: bool,
        max_entries: usize,
        max_size: usize,
        prefetch: usize,
        out: Arc<ScanResult>,
    },
    ListObject {
        remote_path: String,
        recursive: bool,
        continuation: String,
        out: Arc<ListResult>,
    },
    BatchWrite {
        batch: Batch,
    },
    Truncate {
        position: Vec<u8>,
    },
    DropTable {
        table: Vec<u8>,
    },
    Archive {
        snapshot_ts: u64,
    },
    Compact,
    CleanExpired,
    GlobalArchive {
        snapshot_ts: u64,
    },
}

impl Body {
    fn new(ty: RequestType) -> Body {
        match ty {
            RequestType::Read => Body::Read {
                key: Vec::new(),
                out: None,
            },
            RequestType::Floor => Body::Floor {
                key: Vec::new(),
                out: None,
            },
            RequestType::Scan => Body::Scan {
                begin: Vec::new(),
                end: Vec::new(),
                begin_inclusive: true,
                max_entries: usize::MAX,
                max_size: usize::MAX,
                prefetch: DEFAULT_SCAN_PREFETCH_PAGE_COUNT,
                out: Arc::default(),
            },
            RequestType::ListObject => Body::ListObject {
                remote_path: String::new(),
                recursive: false,
                continuation: String::new(),
                out: Arc::default(),
            },
            RequestType::BatchWrite => Body::BatchWrite {
                batch: Batch::default(),
            },
            RequestType::Truncate => Body::Truncate {
                position: Vec::new(),
            },
            RequestType::DropTable => Body::DropTable { table: Vec::new() },
            RequestType::Archive => Body::Archive { snapshot_ts: 0 },
            RequestType::Compact => Body::Compact,
            RequestType::CleanExpired => Body::CleanExpired,
            RequestType::GlobalArchive => Body::GlobalArchive { snapshot_ts: 0 },
        }
    }
}

pub(crate) struct State {
    pub tbl: TableIdent,
    pub body: Body,
    pub err: KvError,
    pub message: String,
    /// Set by [`Request::reject_arguments`]: the next execution fails with it.
    pub rejected: Option<Error>,
}

/// A completion callback: runs once, on the thread that completes the
/// request (a shard thread), with the completed request.
pub type Callback = Box<dyn FnOnce(&Request) + Send + 'static>;

struct Inner {
    ty: RequestType,
    state: Mutex<State>,
    done: AtomicBool,
    /// Submitted and not yet completed.
    in_flight: AtomicBool,
    /// Threads blocked in `wait`: completion signals `done_cv` only when
    /// there are some (a notify is a system call; most requests complete
    /// through callbacks with nobody waiting).
    done_lock: Mutex<usize>,
    done_cv: Condvar,
    user_data: AtomicU64,
    callback: Mutex<Option<Callback>>,
    /// Submissions so far (results belong to the latest).
    generation: AtomicU64,
}

/// A handle to one request of any type.
#[derive(Clone)]
pub struct Request {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state();
        write!(
            f,
            "Request({} {} err={:?})",
            self.inner.ty.as_str(),
            s.tbl,
            s.err
        )
    }
}

impl Request {
    /// A request of type `ty`, with empty arguments (done until submitted).
    pub fn new(ty: RequestType) -> Request {
        Request {
            inner: Arc::new(Inner {
                ty,
                state: Mutex::new(State {
                    tbl: TableIdent::default(),
                    body: Body::new(ty),
                    err: KvError::NoError,
                    message: String::new(),
                    rejected: None,
                }),
                // A request never submitted reports done, as upstream.
                done: AtomicBool::new(true),
                in_flight: AtomicBool::new(false),
                done_lock: Mutex::new(0),
                done_cv: Condvar::new(),
                user_data: AtomicU64::new(0),
                callback: Mutex::new(None),
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// The request's type.
    pub fn request_type(&self) -> RequestType {
        self.inner.ty
    }

    /// Whether the request only reads ([`RequestType::is_read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.inner.ty.is_read_only()
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state torn in a
        // way that matters here; keep serving.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The partition the request addresses.
    pub fn table_id(&self) -> TableIdent {
        self.state().tbl.clone()
    }

    /// Sets the partition the request addresses.
    pub fn set_table_id(&self, tbl: TableIdent) {
        self.state().tbl = tbl;
    }

    /// With `Some(message)`, makes every execution fail with `InvalidArgs`
    /// and that message, completed by the store like any other failure (a
    /// callback still runs on a shard thread), until cleared with `None`.
    /// For front ends whose own argument types can hold values this API
    /// cannot (the C++ layer's `WriteOp`).
    pub fn reject_arguments(&self, message: Option<String>) {
        self.state().rejected = message.map(Error::invalid_args);
    }

    /// The error code of the last execution (`NoError` on success or before any).
    pub fn error(&self) -> KvError {
        self.state().err
    }

    /// A message naming what failed (empty on success).
    pub fn error_message(&self) -> String {
        let s = self.state();
        if s.err == KvError::NoError {
            String::new()
        } else if s.message.is_empty() {
            s.err.as_str().to_string()
        } else {
            s.message.clone()
        }
    }

    /// The error as a `Result`.
    pub fn result(&self) -> Result<(), Error> {
        let s = self.state();
        match s.err {
            KvError::NoError => Ok(()),
            e => Err(Error::new(e, s.message.clone())),
        }
    }

    /// Whether the last error is worth retrying ([`KvError::is_retryable`]).
    pub fn retryable(&self) -> bool {
        self.error().is_retryable()
    }

    /// The value passed with the request to `exec_async`.
    pub fn user_data(&self) -> u64 {
        self.inner.user_data.load(Ordering::Relaxed)
    }

    /// True when not in flight (including never submitted).
    pub fn is_done(&self) -> bool {
        self.inner.done.load(Ordering::Acquire)
    }

    /// Blocks until the request completes.
    pub fn wait(&self) {
        let mut g = self
            .inner
            .done_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *g += 1;
        while !self.is_done() {
            g = self
                .inner
                .done_cv
                .wait(g)
                .unwrap_or_else(|e| e.into_inner());
        }
        *g -= 1;
    }

    /// Marks the request submitted. False if it is already in flight.
    pub(crate) fn begin(&self, user_data: u64, callback: Option<Callback>) -> bool {
        if self.inner.in_flight.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.inner.user_data.store(user_data, Ordering::Relaxed);
        *self
            .inner
            .callback
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = callback;
        {
            let mut s = self.state();
            s.err = KvError::NoError;
            s.message.clear();
            // Results of an earlier execution never outlive a new one.
            match &mut s.body {
                Body::Read { out, .. } | Body::Floor { out, .. } => *out = None,
                Body::Scan { out, .. } => *out = Arc::default(),
                Body::ListObject { out, .. } => *out = Arc::default(),
                _ => {}
            }
        }
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.done.store(false, Ordering::Release);
        true
    }

    /// Number of submissions so far; results belong to the latest.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Publishes the outcome, marks the request done, wakes waiters and runs
    /// the callback. Called exactly once per submission.
    pub(crate) fn complete(&self, res: Result<(), Error>) {
        {
            let mut s = self.state();
            match res {
                Ok(()) => {
                    s.err = KvError::NoError;
                    s.message.clear();
                }
                Err(e) => {
                    s.err = e.code();
                    s.message = e.message().to_string();
                }
            }
            // Lent entries are only valid until now: no pointer to them
            // outlives the request.
            if let Body::BatchWrite { batch } = &mut s.body
                && batch.is_lent()
            {
                *batch = Batch::default();
            }
        }
        let cb = self
            .inner
            .callback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        {
            let waiters = self
                .inner
                .done_lock
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.inner.in_flight.store(false, Ordering::Release);
            self.inner.done.store(true, Ordering::Release);
            if *waiters > 0 {
                self.inner.done_cv.notify_all();
            }
        }
        if let Some(cb) = cb
            && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(self))).is_err()
        {
            log::error!("a request callback panicked");
        }
    }
}

/// Access to the untyped request behind a typed one.
pub trait KvRequest {
    /// The untyped handle.
    fn request(&self) -> &Request;
}

impl KvRequest for Request {
    fn request(&self) -> &Request {
        self
    }
}

macro_rules! typed_request {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(Request);

        impl Default for $name {
            fn default() -> Self {
                $name(Request::new($ty))
            }
        }

        impl $name {
            /// A request with empty arguments.
            pub fn new() -> Self {
                Self::default()
            }
            /// The error code of the last execution.
            pub fn error(&self) -> KvError {
                self.0.error()
            }
            /// A message naming what failed (empty on success).
            pub fn error_message(&self) -> String {
                self.0.error_message()
            }
            /// The error as a `Result`.
            pub fn result(&self) -> Result<(), Error> {
                self.0.result()
            }
            /// Whether the last error is worth retrying.
            pub fn retryable(&self) -> bool {
                self.0.retryable()
            }
            /// True when not in flight (including never submitted).
            pub fn is_done(&self) -> bool {
                self.0.is_done()
            }
            /// Blocks until the request completes.
            pub fn wait(&self) {
                self.0.wait()
            }
            /// The partition the request addresses.
            pub fn table_id(&self) -> TableIdent {
                self.0.table_id()
            }
            /// The value passed with the request to `exec_async`.
            pub fn user_data(&self) -> u64 {
                self.0.user_data()
            }
            /// The untyped handle (for callbacks and type-erased storage).
            pub fn untyped(&self) -> &Request {
                &self.0
            }
            /// A typed handle on an untyped request of this type.
            ///
            /// # Panics
            /// If the request is of another type.
            pub fn from_untyped(r: Request) -> Self {
                assert_eq!(r.request_type(), $ty, "request type");
                $name(r)
            }
        }

        impl KvRequest for $name {
            fn request(&self) -> &Request {
                &self.0
            }
        }
    };
}

typed_request!(
    /// Exact-match lookup.
    ReadRequest,
    RequestType::Read
);
typed_request!(
    /// Greatest key `<=` the search key.
    FloorRequest,
    RequestType::Floor
);
typed_request!(
    /// Ordered range read with pagination.
    ScanRequest,
    RequestType::Scan
);
typed_request!(
    /// Listing of cloud objects (cloud mode only).
    ListObjectRequest,
    RequestType::ListObject
);
typed_request!(
    /// Atomic batch of upserts and deletes of one partition.
    BatchWriteRequest,
    RequestType::BatchWrite
);
typed_request!(
    /// Deletes every key at or after a position.
    TruncateRequest,
    RequestType::Truncate
);
typed_request!(
    /// Empties every partition of a table.
    DropTableRequest,
    RequestType::DropTable
);
typed_request!(
    /// Writes an archive of a partition's manifest (append mode).
    ArchiveRequest,
    RequestType::Archive
);
typed_request!(
    /// Compacts a partition's data files (append mode).
    CompactRequest,
    RequestType::Compact
);
typed_request!(
    /// Removes expired keys of a partition.
    CleanExpiredRequest,
    RequestType::CleanExpired
);
typed_request!(
    /// Archives every partition with one timestamp.
    GlobalArchiveRequest,
    RequestType::GlobalArchive
);

impl ReadRequest {
    /// Reads `key` of partition `tbl`.
    pub fn set_args(&self, tbl: TableIdent, key: impl Into<Vec<u8>>) {
        let mut s = self.0.state();
        s.tbl = tbl;
        s.body = Body::Read {
            key: key.into(),
            out: None,
        };
    }

    /// The key to read.
    pub fn key(&self) -> Vec<u8> {
        match &self.0.state().body {
            Body::Read { key, .. } => key.clone(),
            _ => unreachable!("typed request"),
        }
    }

    fn out(&self) -> Option<KvEntry> {
        match &self.0.state().body {
            Body::Read { out, .. } => out.clone(),
            _ => unreachable!("typed request"),
        }
    }

    /// The value found (empty before a successful read).
    pub fn value(&self) -> Vec<u8> {
        self.out().map(|e| e.value).unwrap_or_default()
    }

    /// The timestamp of the value found.
    pub fn timestamp(&self) -> u64 {
        self.out().map_or(0, |e| e.timestamp)
    }

    /// The expiry of the value found (ms since the epoch; 0 never expires).
    pub fn expire_ts(&self) -> u64 {
        self.out().map_or(0, |e| e.expire_ts)
    }

    /// The whole entry found.
    pub fn entry(&self) -> Option<KvEntry> {
        self.out()
    }
}

impl FloorRequest {
    /// Finds the greatest key at or below `key` in partition `tbl`.
    pub fn set_args(&self, tbl: TableIdent, key: impl Into<Vec<u8>>) {
        let mut s = self.0.state();
        s.tbl = tbl;
        s.body = Body::Floor {
            key: key.into(),
            out: None,
        };
    }

    /// The key searched from.
    pub fn key(&self) -> Vec<u8> {
        match &self.0.state().body {
            Body::Floor { key, .. } => key.clone(),
            _ => unreachable!("typed request"),
        }
    }

    /// The floor entry found.
    pub fn entry(&self) -> Option<KvEntry> {
        match &self.0.state().body {
            Body::Floor { out, .. } => out.clone(),
            _ => unreachable!("typed request"),
        }
    }

    /// The key found (empty when none).
    pub fn floor_key(&self) -> Vec<u8> {
        self.entry().map(|e| e.key).unwrap_or_default()
    }

    /// The value found.
    pub fn value(&self) -> Vec<u8> {
        self.entry().map(|e| e.value).unwrap_or_default()
    }

    /// The timestamp of the entry found.
    pub fn timestamp(&self) -> u64 {
        self.entry().map_or(0, |e| e.timestamp)
    }

    /// The expiry of the entry found (0 never expires).
    pub fn expire_ts(&self) -> u64 {
        self.entry().map_or(0, |e| e.expire_ts)
    }
}

impl ScanRequest {
    /// Keys in `[begin, end)` (`(begin, end)` when not `begin_inclusive`);
    /// an empty `begin` starts at the first key, an empty `end` is open.
    pub fn set_args(
        &self,
        tbl: TableIdent,
        begin: impl Into<Vec<u8>>,
        end: impl Into<Vec<u8>>,
        begin_inclusive: bool,
    ) {
        let mut s = self.0.state();
        s.tbl = tbl;
        if let Body::Scan {
            begin: b,
            end: e,
            begin_inclusive: bi,
            out,
            ..
        } = &mut s.body
        {
            *b = begin.into();
            *e = end.into();
            *bi = begin_inclusive;
            *out = Arc::default();
        }
    }

    /// Per-execution limits on entries and on bytes (key + value + 16 per
    /// entry); 0 means unlimited. At least one entry is returned when any
    /// is in range, even if it alone exceeds the byte limit.
    pub fn set_pagination(&self, entries: usize, size: usize) {
        if let Body::Scan {
            max_entries,
            max_size,
            ..
        } = &mut self.0.state().body
        {
            *max_entries = if entries == 0 { usize::MAX } else { entries };
            *max_size = if size == 0 { usize::MAX } else { size };
        }
    }

    /// Leaf pages read ahead per batch: 0 means the default (6), at most
    /// 128.
    pub fn set_prefetch_page_num(&self, n: usize) {
        if let Body::Scan { prefetch, .. } = &mut self.0.state().body {
            *prefetch = if n == 0 {
                DEFAULT_SCAN_PREFETCH_PAGE_COUNT
            } else {
                n.min(crate::options::MAX_READ_PAGES_BATCH as usize)
            };
        }
    }

    /// Leaf pages read ahead per batch.
    pub fn prefetch_page_num(&self) -> usize {
        match &self.0.state().body {
            Body::Scan { prefetch, .. } => *prefetch,
            _ => unreachable!("typed request"),
        }
    }

    /// The first key of the range.
    pub fn begin_key(&self) -> Vec<u8> {
        match &self.0.state().body {
            Body::Scan { begin, .. } => begin.clone(),
            _ => unreachable!("typed request"),
        }
    }

    /// The end of the range (empty: open).
    pub fn end_key(&self) -> Vec<u8> {
        match &self.0.state().body {
            Body::Scan { end, .. } => end.clone(),
            _ => unreachable!("typed request"),
        }
    }

    /// The results of the last execution (shared, cheap to clone).
    pub fn results(&self) -> Arc<ScanResult> {
        match &self.0.state().body {
            Body::Scan { out, .. } => out.clone(),
            _ => unreachable!("typed request"),
        }
    }

    /// The entries of the last execution, copied out (see [`results`]
    /// for borrowing them).
    ///
    /// [`results`]: ScanRequest::results
    pub fn entries(&self) -> Vec<KvEntry> {
        self.results().to_entries()
    }

    /// The scan stopped at a pagination limit with more entries in range.
    pub fn has_remaining(&self) -> bool {
        self.results().has_remaining
    }

    /// (entry count, bytes) of the last execution.
    pub fn result_size(&self) -> (usize, usize) {
        self.results().size()
    }
}

/// One object (or, non-recursively, common prefix) of a cloud listing,
/// upstream's `utils::CloudObjectInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloudObjectInfo {
    /// The last component of `path`.
    pub name: String,
    /// The key relative to the listed path.
    pub path: String,
    /// Object size in bytes (0 for directories).
    pub size: u64,
    /// A common prefix ("directory") of a non-recursive listing.
    pub is_dir: bool,
    /// `LastModified` (ISO-8601); empty for directories.
    pub mod_time: String,
    /// Never filled (as upstream).
    pub continuation_token: String,
}

/// What a `ListObjectRequest` execution returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListResult {
    /// Objects then directories, as upstream orders them.
    pub details: Vec<CloudObjectInfo>,
    /// The token for the next page; empty on the last page.
    pub next_continuation_token: String,
}

impl ListObjectRequest {
    /// The path to list, relative to the store's `cloud_store_path`
    /// (empty: the root); slashes at either end are ignored.
    pub fn set_remote_path(&self, path: impl Into<String>) {
        if let Body::ListObject { remote_path, .. } = &mut self.0.state().body {
            *remote_path = path.into();
        }
    }

    /// Lists everything under the path (`true`) or one level (`false`, directories as common prefixes).
    pub fn set_recursive(&self, r: bool) {
        if let Body::ListObject { recursive, .. } = &mut self.0.state().body {
            *recursive = r;
        }
    }

    /// Continues a listing from the previous page's
    /// [`next_continuation_token`](Self::next_continuation_token).
    pub fn set_continuation_token(&self, token: impl Into<String>) {
        if let Body::ListObject { continuation, .. } = &mut self.0.state().body {
            *continuation = token.into();
        }
    }

    /// The path to list.
    pub fn remote_path(&self) -> String {
        match &self.0.state().body {
            Body::ListObject { remote_path, .. } => remote_path.clone(),
            _ => unreachable!("typed request"),
        }
    }

    /// Whether the listing is recursive.
    pub fn recursive(&self) -> bool {
        match &self.0.state().body {
            Body::ListObject { recursive, .. } => *recursive,
            _ => unreachable!("typed request"),
        }
    }

    /// The continuation token the listing starts from.
    pub fn continuation_token(&self) -> String {
        match &self.0.state().body {
            Body::ListObject { continuation, .. } => continuation.clone(),
            _ => unreachable!("typed request"),
        }
    }

    /// The results of the last execution.
    pub fn results(&self) -> Arc<ListResult> {
        match &self.0.state().body {
            Body::ListObject { out, .. } => out.clone(),
            _ => unreachable!("typed request"),
        }
    }

    /// The names of the listed objects and directories.
    pub fn objects(&self) -> Vec<String> {
        self.results()
            .details
            .iter()
            .map(|d| d.name.clone())
            .collect()
    }

    /// The listed objects and directories, with their details.
    pub fn details(&self) -> Vec<CloudObjectInfo> {
        self.results().details.clone()
    }

    /// Empty on the last page.
    pub fn next_continuation_token(&self) -> String {
        self.results().next_continuation_token.clone()
    }

    /// Whether another page follows ([`next_continuation_token`](Self::next_continuation_token) is not empty).
    pub fn has_more_results(&self) -> bool {
        !self.results().next_continuation_token.is_empty()
    }
}

impl BatchWriteRequest {
    /// The batch: keys strictly ascending in comparator order, no
    /// duplicates, non-empty keys of at most `data_page_size / 2` bytes.
    pub fn set_args(&self, tbl: TableIdent, batch: Vec<WriteDataEntry>) {
        let mut s = self.0.state();
        s.tbl = tbl;
        s.body = Body::BatchWrite {
            batch: Batch::Owned(Arc::new(batch)),
        };
    }

    /// Appends an entry (expire_ts 0).
    pub fn add_write(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        ts: u64,
        op: WriteOp,
    ) {
        self.add_entry(WriteDataEntry::new(key, value, ts, op, 0));
    }

    /// Appends an entry to the batch (keep keys ascending).
    pub fn add_entry(&self, e: WriteDataEntry) {
        if let Body::BatchWrite { batch } = &mut self.0.state().body {
            batch.push(e);
        }
    }

    /// Sets the partition the batch writes to.
    pub fn set_table_id(&self, tbl: TableIdent) {
        self.0.set_table_id(tbl);
    }

    /// Empties the batch.
    pub fn clear(&self) {
        if let Body::BatchWrite { batch } = &mut self.0.state().body {
            *batch = Batch::default();
        }
    }

    /// The batch (shared, cheap to clone).
    pub fn batch(&self) -> Arc<Vec<WriteDataEntry>> {
        match &self.0.state().body {
            Body::BatchWrite { batch } => batch.to_owned_entries(),
            _ => unreachable!("typed request"),
        }
    }
}

impl TruncateRequest {
    /// Deletes every key `>= position`; an empty position deletes all.
    pub fn set_args(&self, tbl: TableIdent, position: impl Into<Vec<u8>>) {
        let mut s = self.0.state();
        s.tbl = tbl;
        s.body = Body::Truncate {
            position: position.into(),
        };
    }

    /// The first key deleted.
    pub fn position(&self) -> Vec<u8> {
        match &self.0.state().body {
            Body::Truncate { position } => position.clone(),
            _ => unreachable!("typed request"),
        }
    }
}

impl DropTableRequest {
    /// Drops every partition of `table`.
    pub fn set_args(&self, table: impl Into<Vec<u8>>) {
        let table = table.into();
        let mut s = self.0.state();
        s.tbl = if table.is_empty() {
            TableIdent::default()
        } else {
            TableIdent::new(table.clone(), u32::MAX)
        };
        s.body = Body::DropTable { table };
    }

    /// The table to drop.
    pub fn table_name(&self) -> Vec<u8> {
        match &self.0.state().body {
            Body::DropTable { table } => table.clone(),
            _ => unreachable!("typed request"),
        }
    }
}

impl ArchiveRequest {
    /// Sets the partition to archive.
    pub fn set_table_id(&self, tbl: TableIdent) {
        self.0.set_table_id(tbl);
    }

    /// Archive timestamp (0 = now, in microseconds).
    pub fn set_snapshot_timestamp(&self, ts: u64) {
        if let Body::Archive { snapshot_ts } = &mut self.0.state().body {
            *snapshot_ts = ts;
        }
    }

    /// The archive timestamp (0 = now).
    pub fn snapshot_timestamp(&self) -> u64 {
        match &self.0.state().body {
            Body::Archive { snapshot_ts } => *snapshot_ts,
            _ => unreachable!("typed request"),
        }
    }
}

impl GlobalArchiveRequest {
    /// Archive timestamp (0 = now, in microseconds), the same for every partition.
    pub fn set_snapshot_timestamp(&self, ts: u64) {
        if let Body::GlobalArchive { snapshot_ts } = &mut self.0.state().body {
            *snapshot_ts = ts;
        }
    }

    /// The archive timestamp (0 = now).
    pub fn snapshot_timestamp(&self) -> u64 {
        match &self.0.state().body {
            Body::GlobalArchive { snapshot_ts } => *snapshot_ts,
            _ => unreachable!("typed request"),
        }
    }
}

impl CompactRequest {
    /// Sets the partition to compact.
    pub fn set_table_id(&self, tbl: TableIdent) {
        self.0.set_table_id(tbl);
    }
}

impl CleanExpiredRequest {
    /// Sets the partition to clean.
    pub fn set_table_id(&self, tbl: TableIdent) {
        self.0.set_table_id(tbl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_and_callback() {
        let r = ReadRequest::new();
        assert!(r.is_done(), "never submitted reports done");
        r.set_args(TableIdent::new("t", 1), b"k".to_vec());
        let (tx, rx) = std::sync::mpsc::channel();
        assert!(r.untyped().begin(
            7,
            Some(Box::new(move |req: &Request| {
                tx.send((req.user_data(), req.error())).unwrap();
            }))
        ));
        assert!(!r.is_done());
        assert!(!r.untyped().begin(0, None), "already in flight");
        let h = r.clone();
        let t = std::thread::spawn(move || {
            h.untyped().complete(Err(Error::not_found("no such key")));
        });
        r.wait();
        t.join().unwrap();
        assert_eq!(rx.recv().unwrap(), (7, KvError::NotFound));
        assert_eq!(r.error_message(), "no such key");
        assert!(!r.retryable());
        assert!(r.untyped().begin(0, None), "resubmittable once done");
    }

    /// Completion wakes every thread blocked in `wait` (it signals only
    /// when some are registered, so the registration must not be lost).
    #[test]
    fn completion_wakes_every_waiter() {
        let r = ReadRequest::new();
        r.set_args(TableIdent::new("t", 1), b"k".to_vec());
        assert!(r.untyped().begin(0, None));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let h = r.clone();
                std::thread::spawn(move || {
                    h.wait();
                    h.error()
                })
            })
            .collect();
        // Complete only once all three are blocked.
        while *r.untyped().inner.done_lock.lock().unwrap() < 3 {
            std::thread::yield_now();
        }
        r.untyped().complete(Err(Error::not_found("no such key")));
        for t in waiters {
            assert_eq!(t.join().unwrap(), KvError::NotFound);
        }
        assert_eq!(*r.untyped().inner.done_lock.lock().unwrap(), 0);
        // A wait after completion returns at once.
        r.wait();
    }

    #[test]
    fn scan_arguments() {
        let s = ScanRequest::new();
        s.set_args(TableIdent::new("t", 0), b"a".to_vec(), b"z".to_vec(), false);
        s.set_pagination(0, 10);
        s.set_prefetch_page_num(0);
        assert_eq!(s.prefetch_page_num(), 6);
        s.set_prefetch_page_num(1000);
        assert_eq!(s.prefetch_page_num(), 128);
        assert_eq!(s.begin_key(), b"a");
        assert_eq!(RequestType::Scan.as_str(), "scan");
        assert!(RequestType::ListObject.is_read_only());
        assert!(!RequestType::BatchWrite.is_read_only());
    }
}
