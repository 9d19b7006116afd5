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
