//! Plain data types of the public API (upstream's `types.h`).

pub use crate::format::table_ident::TableIdent;

/// A key-value entry as returned by scans.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvEntry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub timestamp: u64,
    /// Milliseconds since the epoch; 0 = never expires.
    pub expire_ts: u64,
}

/// Whether a batch entry writes or deletes its key.
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WriteOp {
    #[default]
    Upsert = 0,
    Delete = 1,
}

/// One entry of a batch write.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WriteDataEntry {
    pub key: Vec<u8>,
    pub val: Vec<u8>,
    pub timestamp: u64,
    pub op: WriteOp,
    /// Milliseconds since the epoch; 0 = never expires.
    pub expire_ts: u64,
}

impl WriteDataEntry {
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

    pub fn upsert(key: impl Into<Vec<u8>>, val: impl Into<Vec<u8>>, timestamp: u64) -> Self {
        WriteDataEntry::new(key, val, timestamp, WriteOp::Upsert, 0)
    }

    pub fn delete(key: impl Into<Vec<u8>>, timestamp: u64) -> Self {
        WriteDataEntry::new(key, Vec::new(), timestamp, WriteOp::Delete, 0)
    }
}
