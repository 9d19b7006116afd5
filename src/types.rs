//! Plain data types of the public API (upstream's `types.h`).

pub use crate::format::table_ident::{NAME_MAX, TableIdent};

/// A key-value entry as returned by scans.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvEntry {
    /// The key.
    pub key: Vec<u8>,
    /// The value (decompressed, overflow pages joined).
    pub value: Vec<u8>,
    /// The writer's timestamp: a newer write of the key wins.
    pub timestamp: u64,
    /// Milliseconds since the epoch; 0 = never expires.
    pub expire_ts: u64,
}

/// Whether a batch entry writes or deletes its key.
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WriteOp {
    /// Insert or overwrite the key.
    #[default]
    Upsert = 0,
    /// Remove the key.
    Delete = 1,
}

/// One entry of a batch write.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WriteDataEntry {
    /// The key.
    pub key: Vec<u8>,
    /// The value (empty for a delete).
    pub val: Vec<u8>,
    /// The writer's timestamp: a newer write of the key wins.
    pub timestamp: u64,
    /// Write or delete.
    pub op: WriteOp,
    /// Milliseconds since the epoch; 0 = never expires.
    pub expire_ts: u64,
}

impl WriteDataEntry {
    /// An entry with every field given.
    pub fn new(
        key: impl Into<Vec<u8>>,
        val: impl Into<Vec<u8>>,
        timestamp: u64,
        op: WriteOp,
        expire_ts: u64,
    ) -> WriteDataEntry {
        WriteDataEntry {
            key: key.into(),
            val: val.into(),
            timestamp,
            op,
            expire_ts,
        }
    }

    /// An upsert that never expires.
    pub fn upsert(key: impl Into<Vec<u8>>, val: impl Into<Vec<u8>>, timestamp: u64) -> Self {
        WriteDataEntry::new(key, val, timestamp, WriteOp::Upsert, 0)
    }

    /// A delete of `key`.
    pub fn delete(key: impl Into<Vec<u8>>, timestamp: u64) -> Self {
        WriteDataEntry::new(key, Vec::new(), timestamp, WriteOp::Delete, 0)
    }
}

/// One entry of a batch as the engine reads it, wherever its bytes live.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchEntry<'a> {
    pub key: &'a [u8],
    pub val: &'a [u8],
    pub timestamp: u64,
    pub op: WriteOp,
    pub expire_ts: u64,
}

/// Entries a caller lends to a batch write instead of copying them in:
/// the C ABI lends the C++ `BatchWriteRequest`'s own keys and values,
/// which its contract keeps alive and unchanged until the request
/// completes (a copy of every byte cost more than the rest of a load).
pub(crate) trait LentEntries: Send + Sync {
    fn len(&self) -> usize;
    /// Entry `i < len()`.
    fn get(&self, i: usize) -> BatchEntry<'_>;
}

/// A batch write's entries: owned, or lent until the request completes.
#[derive(Clone)]
pub(crate) enum Batch {
    Owned(std::sync::Arc<Vec<WriteDataEntry>>),
    Lent(std::sync::Arc<dyn LentEntries>),
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_lent() { "lent" } else { "owned" };
        write!(f, "Batch({} {kind} entries)", self.len())
    }
}

impl Default for Batch {
    fn default() -> Self {
        Batch::Owned(Default::default())
    }
}

impl Batch {
    pub fn len(&self) -> usize {
        match self {
            Batch::Owned(v) => v.len(),
            Batch::Lent(l) => l.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_lent(&self) -> bool {
        matches!(self, Batch::Lent(_))
    }

    /// Entry `i < len()`.
    pub fn get(&self, i: usize) -> BatchEntry<'_> {
        match self {
            Batch::Owned(v) => {
                let e = &v[i];
                BatchEntry {
                    key: &e.key,
                    val: &e.val,
                    timestamp: e.timestamp,
                    op: e.op,
                    expire_ts: e.expire_ts,
                }
            }
            Batch::Lent(l) => l.get(i),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = BatchEntry<'_>> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// The entries as owned values (a lent batch is copied).
    pub fn to_owned_entries(&self) -> std::sync::Arc<Vec<WriteDataEntry>> {
        match self {
            Batch::Owned(v) => v.clone(),
            Batch::Lent(_) => std::sync::Arc::new(
                self.iter()
                    .map(|e| WriteDataEntry::new(e.key, e.val, e.timestamp, e.op, e.expire_ts))
                    .collect(),
            ),
        }
    }

    /// Appends an owned entry (a lent batch becomes an owned copy first).
    pub fn push(&mut self, e: WriteDataEntry) {
        if self.is_lent() {
            *self = Batch::Owned(self.to_owned_entries());
        }
        if let Batch::Owned(v) = self {
            std::sync::Arc::make_mut(v).push(e);
        }
    }
}
