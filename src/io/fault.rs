//! Fault injection: a test hook that makes chosen disk operations fail.
//!
//! A [`FaultInjector`] installed in
//! [`RuntimeConfig::faults`](super::runtime::RuntimeConfig) is asked about
//! every operation (page reads and writes, syncs of files and directories,
//! opens, directory creation and listing, unlinks, renames, fallocate,
//! stat) before the runtime hands it to the disk driver. Both backends
//! (io_uring and sync) consult it at the same point, so a test behaves the
//! same whichever backend runs it:
//!
//! * [`Fault::Errno`] fails the operation with that errno without touching
//!   the disk; the caller sees the error `KvError::from_errno` maps it to.
//! * [`Fault::ShortWrite`] lets a write store only its first `n` bytes and
//!   report `n`, as a short `pwritev` would. `IoHandle::write_all_at` then
//!   issues the rest as a new write, which the injector sees (and may fail)
//!   like any other. On an O_DIRECT file `n` is rounded down to a multiple of
//!   4096, since the kernel refuses unaligned direct writes. On other
//!   operations `ShortWrite` is ignored.
//! * [`Fault::ShortRead`] is the same for reads (ignored on other
//!   operations).
//! * [`Fault::Stall`] runs the operation on the runtime's blocking pool
//!   after [`FaultInjector::stall`] returns, so a test can hold a disk
//!   operation back (and see that the shard keeps serving meanwhile).

use std::path::Path;

use super::file::FileKind;

/// What kind of disk operation is about to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoOpKind {
    Read,
    Write,
    /// `fsync` or `fdatasync` of a file.
    Sync,
    /// `fsync` of a directory (after entries in it were created, renamed or
    /// removed).
    SyncDir,
    /// `openat` of a file or directory (with or without `O_CREAT`).
    Open,
    /// `mkdirat`.
    Mkdir,
    /// `unlinkat` of a file or (empty) directory.
    Unlink,
    /// `renameat`; [`IoOpInfo::to`] is the new name.
    Rename,
    /// `fallocate`.
    Fallocate,
    /// `ftruncate` (extending a file where fallocate is unsupported).
    Truncate,
    /// `statx` of a path or an open file.
    Stat,
    /// Listing a directory.
    ReadDir,
}

/// The operation a [`FaultInjector`] is asked about.
#[derive(Clone, Copy, Debug)]
// Read and built only by injectors, which exist in test builds.
#[cfg_attr(not(any(test, feature = "internals")), allow(dead_code))]
pub struct IoOpInfo<'a> {
    pub kind: IoOpKind,
    /// The file or directory operated on (for a rename, the old name).
    pub file: &'a Path,
    /// A rename's new name.
    pub to: Option<&'a Path>,
    pub file_kind: FileKind,
    /// Byte offset in the file (0 for operations without one).
    pub offset: u64,
    /// Bytes the operation asks to transfer or allocate (0 for others).
    pub len: usize,
}

/// What to do to an operation instead of running it normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(any(test, feature = "internals")), allow(dead_code))]
pub enum Fault {
    /// Fail with this errno (e.g. `libc::EIO`) without touching the disk.
    Errno(i32),
    /// Write only this many bytes and report that count (writes only).
    ShortWrite(usize),
    /// Read only this many bytes and report that count (reads only), to
    /// exercise the loops that complete short reads.
    ShortRead(usize),
    /// Run the operation on the blocking pool once
    /// [`FaultInjector::stall`] returns.
    Stall,
}

/// Decides, per operation, whether to inject a fault. Called on the shard
/// thread before each operation is issued; must be cheap.
pub trait FaultInjector: Send + Sync {
    fn check(&self, op: &IoOpInfo<'_>) -> Option<Fault>;

    /// Called on a blocking-pool thread just before an operation answered
    /// with [`Fault::Stall`] runs; may block to hold it back.
    fn stall(&self) {}
}

#[cfg(any(test, feature = "internals"))]
mod rules;
#[cfg(any(test, feature = "internals"))]
pub use rules::{FaultRule, FaultRules};
