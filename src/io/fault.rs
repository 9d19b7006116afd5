//! Fault injection: a test hook that makes chosen disk operations fail.
//!
//! A [`FaultInjector`] installed in
//! [`RuntimeConfig::faults`](super::runtime::RuntimeConfig) is asked about
//! every read, write and sync before the runtime hands it to the disk driver.
//! Both backends (io_uring and sync) consult it at the same point, so a test
//! behaves the same whichever backend runs it:
//!
//! * [`Fault::Errno`] fails the operation with that errno without touching
//!   the disk; the caller sees the error `KvError::from_errno` maps it to.
//! * [`Fault::ShortWrite`] lets a write store only its first `n` bytes and
//!   report `n`, as a short `pwritev` would. `IoHandle::write_all_at` then
//!   issues the rest as a new write, which the injector sees (and may fail)
//!   like any other. On an O_DIRECT file `n` is rounded down to a multiple of
//!   4096, since the kernel refuses unaligned direct writes. On reads and
//!   syncs `ShortWrite` is ignored.
//! * [`Fault::ShortRead`] is the same for reads (ignored on writes and
//!   syncs).

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::file::FileKind;

/// What kind of disk operation is about to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoOpKind {
    Read,
    Write,
    /// `fsync` or `fdatasync`.
    Sync,
}

/// The operation a [`FaultInjector`] is asked about.
#[derive(Clone, Copy, Debug)]
pub struct IoOpInfo<'a> {
    pub kind: IoOpKind,
    pub file: &'a Path,
    pub file_kind: FileKind,
    /// Byte offset in the file (0 for syncs).
    pub offset: u64,
    /// Bytes the operation asks to transfer (0 for syncs).
    pub len: usize,
}

/// What to do to an operation instead of running it normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fail with this errno (e.g. `libc::EIO`) without touching the disk.
    Errno(i32),
    /// Write only this many bytes and report that count (writes only).
    ShortWrite(usize),
    /// Read only this many bytes and report that count (reads only), to
    /// exercise the loops that complete short reads.
    ShortRead(usize),
}

/// Decides, per operation, whether to inject a fault. Called on the shard
/// thread before each operation is issued; must be cheap.
pub trait FaultInjector: Send + Sync {
    fn check(&self, op: &IoOpInfo<'_>) -> Option<Fault>;
}

/// A ready-made injector for tests: a list of rules, each matching an
/// operation kind (and optionally a file kind), firing after `skip` matching
/// operations and then `times` times (`usize::MAX` = forever).
#[derive(Default)]
pub struct FaultRules {
    rules: Mutex<Vec<FaultRule>>,
    fired: AtomicUsize,
}

/// One rule of [`FaultRules`].
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub op: IoOpKind,
    pub file_kind: Option<super::file::FileKind>,
    pub fault: Fault,
    pub skip: usize,
    pub times: usize,
}

impl FaultRule {
    /// A rule firing on every operation of kind `op`.
    pub fn always(op: IoOpKind, fault: Fault) -> FaultRule {
        FaultRule {
            op,
            file_kind: None,
            fault,
            skip: 0,
            times: usize::MAX,
        }
    }

    /// A rule firing once, on the first operation of kind `op`.
    pub fn once(op: IoOpKind, fault: Fault) -> FaultRule {
        FaultRule {
            times: 1,
            ..FaultRule::always(op, fault)
        }
    }
}

impl FaultRules {
    pub fn new(rules: Vec<FaultRule>) -> FaultRules {
        FaultRules {
            rules: Mutex::new(rules),
            fired: AtomicUsize::new(0),
        }
    }

    /// Adds a rule.
    pub fn push(&self, rule: FaultRule) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(rule);
        }
    }

    /// Removes every rule.
    pub fn clear(&self) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.clear();
        }
    }

    /// How many faults have been injected so far.
    pub fn fired(&self) -> usize {
        self.fired.load(Ordering::Relaxed)
    }
}

impl FaultInjector for FaultRules {
    fn check(&self, op: &IoOpInfo<'_>) -> Option<Fault> {
        let mut rules = self.rules.lock().ok()?;
        for rule in rules.iter_mut() {
            if rule.op != op.kind || rule.file_kind.is_some_and(|k| k != op.file_kind) {
                continue;
            }
            if rule.skip > 0 {
                rule.skip -= 1;
                continue;
            }
            if rule.times == 0 {
                continue;
            }
            if rule.times != usize::MAX {
                rule.times -= 1;
            }
            self.fired.fetch_add(1, Ordering::Relaxed);
            return Some(rule.fault);
        }
        None
    }
}
