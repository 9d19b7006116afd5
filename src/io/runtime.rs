//! The per-shard asynchronous runtime and its disk I/O.
//!
//! Each shard is one OS thread running one [`Runtime`]. Its tasks are
//! `!Send` futures polled only on that thread, and only when woken (no busy
//! polling). Disk operations are issued through an [`IoHandle`] and complete
//! asynchronously, so a task waiting on the disk never stalls the shard's
//! other tasks.
//!
//! # Loop
//!
//! The shard thread calls [`Runtime::turn`] in a loop. One turn polls every
//! task that was ready when the turn began; hands queued operations to the
//! driver; then, only if it polled no task and none is ready, blocks until
//! an I/O completion, a
//! [`RemoteWaker::wake`], a timer or the turn's timeout; finally it delivers
//! completions and fires due timers, waking their tasks (which run in the
//! next turn). A task that panics is logged and dropped; the thread goes on.
//!
//! # Operations
//!
//! Page reads and writes, `fsync`/`fdatasync` of files and directories,
//! and every other file-system call shard code makes: `openat` (with the
//! O_DIRECT-to-buffered fallback), `mkdirat`, `unlinkat`, `renameat`,
//! `fallocate`, `ftruncate`, `statx`, whole-file reads (open, statx, read)
//! and directory listings. None of them runs on the shard thread.
//!
//! # Backends
//!
//! * `io_uring` ([`Backend::Uring`]): operations become SQEs (read, writev,
//!   fsync with or without `DATASYNC`, and the file-system opcodes the
//!   kernel supports, probed at setup), at most `queue_depth` per
//!   submission (rounded to a power of two in 8..=32768) and at most twice
//!   that in the kernel at once; the rest wait in the driver's queue and
//!   are never lost. Directory listings (io_uring has no getdents) and
//!   opcodes the kernel lacks run on the runtime's blocking pool
//!   (`super::pool`). Remote wakes and pool completions arrive through a
//!   read on an eventfd that stays armed. Needs Linux 5.11
//!   (`IORING_FEAT_EXT_ARG`, used for timed waits).
//! * `sync` ([`Backend::Sync`]): the fallback for kernels and containers
//!   without io_uring. Every operation runs as a plain system call on the
//!   runtime's blocking pool (at most four threads, started on demand);
//!   operations queued in a turn go to the pool in its submit phase and
//!   their tasks resume in a later turn, as with io_uring; the turn blocks
//!   in `ppoll` on the eventfd (which pool completions signal) when nothing
//!   is ready. A slow disk therefore stalls no shard with either backend.
//!
//! [`Backend::Auto`] tries io_uring and falls back to sync, logging why at
//! info level. The environment variable `ELOQSTORE_IO` (`uring`, `sync` or
//! `auto`) overrides `Backend::Auto`; explicit backends are never
//! overridden, and an explicit `Uring` that cannot be set up is an error.
//!
//! # Memory safety of in-flight operations
//!
//! An operation owns everything the kernel or a pool thread reads or
//! writes through a pointer: its buffers and iovecs, its NUL-terminated
//! paths, its statx buffer, the vector a listing fills, and an
//! `Rc<IoFile>` (so the descriptor stays open). Each is a heap block of its
//! own, so it stays put while the operation (in a growable table of the
//! runtime) moves. The table keeps the operation from submission until its
//! completion arrives, whether or not the future awaiting it still exists:
//! dropping the future only marks the operation abandoned (an abandoned
//! open closes the descriptor it produced). When the runtime is torn down
//! it drops the operations no thread or kernel has taken yet and waits for
//! every one the kernel or the pool holds before freeing that table.
//!
//! # Faults
//!
//! With [`RuntimeConfig::faults`] set, every operation is first shown to the
//! [`FaultInjector`]; see [`super::fault`].

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::error::{Error, KvError, Result};
use crate::format::page::AlignedBuf;

use super::fault::{Fault, FaultInjector, IoOpInfo, IoOpKind};
use super::file::{DIRECT_ALIGN, FileKind, IoFile, OpenOptions};
use super::pool::{BlockingPool, Call};
use super::sync_driver::SyncDriver;
use super::uring::UringDriver;

/// The environment variable overriding [`Backend::Auto`].
pub const BACKEND_ENV: &str = "ELOQSTORE_IO";

/// The most bytes one read or write transfers (Linux's `MAX_RW_COUNT`).
pub(super) const MAX_RW: usize = 0x7fff_f000;

/// The most iovecs one writev carries (`IOV_MAX`).
pub(super) const MAX_IOV: usize = 1024;

/// Which disk driver a runtime uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// io_uring when it can be set up, else sync; `ELOQSTORE_IO` overrides.
    #[default]
    Auto,
    /// io_uring, or an error from [`Runtime::new`].
    Uring,
    /// Blocking syscalls on the shard thread.
    Sync,
}

impl Backend {
    /// The backend to try: `self`, or for `Auto` what `ELOQSTORE_IO` says.
    pub fn resolve(self) -> Backend {
        if self != Backend::Auto {
            return self;
        }
        match std::env::var(BACKEND_ENV) {
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "uring" | "io_uring" | "iouring" => Backend::Uring,
                "sync" => Backend::Sync,
                "" | "auto" => Backend::Auto,
                other => {
                    log::warn!("ignoring {BACKEND_ENV}={other:?} (expected uring, sync or auto)");
                    Backend::Auto
                }
            },
            Err(_) => Backend::Auto,
        }
    }
}

/// How to build a [`Runtime`].
#[derive(Clone)]
pub struct RuntimeConfig {
    pub backend: Backend,
    /// io_uring submission queue entries (`KvOptions::io_queue_size`),
    /// rounded to a power of two in 8..=32768.
    pub queue_depth: u32,
    /// Test hook: injected I/O errors.
    pub faults: Option<Arc<dyn FaultInjector>>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            backend: Backend::Auto,
            queue_depth: 4096,
            faults: None,
        }
    }
}

impl RuntimeConfig {
    #[cfg(any(test, feature = "internals"))]
    pub fn with_backend(backend: Backend) -> RuntimeConfig {
        RuntimeConfig {
            backend,
            ..RuntimeConfig::default()
        }
    }
}

impl fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("backend", &self.backend)
            .field("queue_depth", &self.queue_depth)
            .field("faults", &self.faults.is_some())
            .finish()
    }
}

// ---------------------------------------------------------------------------
// A small slab.

pub(super) struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    fn insert_with(&mut self, f: impl FnOnce(usize) -> T) -> usize {
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.entries.push(None);
                self.entries.len() - 1
            }
        };
        self.entries[id] = Some(f(id));
        self.len += 1;
        id
    }

    fn get(&self, id: usize) -> Option<&T> {
        self.entries.get(id).and_then(Option::as_ref)
    }

    pub(super) fn get_mut(&mut self, id: usize) -> Option<&mut T> {
        self.entries.get_mut(id).and_then(Option::as_mut)
    }

    fn remove(&mut self, id: usize) -> Option<T> {
        let v = self.entries.get_mut(id).and_then(Option::take)?;
        self.free.push(id);
        self.len -= 1;
        Some(v)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn into_values(self) -> impl Iterator<Item = T> {
        self.entries.into_iter().flatten()
    }
}

// ---------------------------------------------------------------------------
// Remote wake-ups through an eventfd.

/// The eventfd other threads (and the runtime's own teardown) signal.
pub(super) struct RemoteInner {
    efd: File,
    pending: AtomicBool,
}

impl RemoteInner {
    fn new() -> Result<RemoteInner> {
        // SAFETY: eventfd takes plain integers and returns a new descriptor
        // or -1; it touches no memory of ours.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(Error::from_io(std::io::Error::last_os_error(), "eventfd"));
        }
        // SAFETY: `fd` is a freshly created descriptor nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(RemoteInner {
            efd: File::from(owned),
            pending: AtomicBool::new(false),
        })
    }

    pub(super) fn fd(&self) -> RawFd {
        self.efd.as_raw_fd()
    }

    /// Makes the eventfd readable unless a wake is already pending.
    pub(super) fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            self.signal();
        }
    }

    /// Adds 1 to the eventfd counter regardless of `pending`.
    pub(super) fn signal(&self) {
        if let Err(e) = (&self.efd).write(&1u64.to_ne_bytes()) {
            log::error!("cannot signal the runtime's eventfd: {e}");
        }
    }

    /// Reads (and so resets) the eventfd counter; only call when it is
    /// readable, since the descriptor is blocking.
    pub(super) fn read_counter(&self) {
        let mut b = [0u8; 8];
        if let Err(e) = (&self.efd).read(&mut b) {
            log::warn!("cannot read the runtime's eventfd: {e}");
        }
        self.consumed();
    }

    /// Called after the counter has been read: later wakes signal again.
    /// (A swap, so that work published before a skipped signal is visible.)
    pub(super) fn consumed(&self) {
        self.pending.swap(false, Ordering::AcqRel);
    }
}

/// Wakes a runtime from another thread: call [`wake`](Self::wake) after
/// pushing work into the shard's channel; a `turn` blocked (or about to
/// block) then returns promptly. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct RemoteWaker {
    inner: Arc<RemoteInner>,
}

impl RemoteWaker {
    pub fn wake(&self) {
        self.inner.wake();
    }
}

impl fmt::Debug for RemoteWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RemoteWaker")
    }
}

// ---------------------------------------------------------------------------
// Tasks.

thread_local! {
    static THREAD_ID: ThreadId = std::thread::current().id();
}

fn on_thread(owner: ThreadId) -> bool {
    THREAD_ID.try_with(|t| *t == owner).unwrap_or(false)
}

/// State shared with wakers, which std requires to be `Send + Sync`.
struct Shared {
    ready: Mutex<VecDeque<(usize, u64)>>,
    owner: ThreadId,
    remote: Arc<RemoteInner>,
}

impl Shared {
    fn ready(&self) -> MutexGuard<'_, VecDeque<(usize, u64)>> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn schedule(&self, id: usize, gen_: u64) {
        self.ready().push_back((id, gen_));
        // A wake from another thread must interrupt a blocked turn.
        if !on_thread(self.owner) {
            self.remote.wake();
        }
    }
}

struct TaskWaker {
    id: usize,
    gen_: u64,
    scheduled: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.shared.schedule(self.id, self.gen_);
        }
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

struct Task {
    fut: Option<BoxFuture>,
    state: Arc<TaskWaker>,
    waker: Waker,
    /// The task's disk operations are background work (see
    /// [`IoHandle::spawn_background`]).
    background: bool,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// Drops `v`, swallowing (and logging) a panic from its destructor.
fn drop_quietly<T>(v: T) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(v))) {
        log::error!(
            "a task panicked while being dropped: {}",
            panic_message(&*p)
        );
    }
}

// ---------------------------------------------------------------------------
// Operations.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OpKind {
    Read,
    Write,
    Fsync,
    Fdatasync,
    /// `fallocate(file, mode, offset, len)`.
    Fallocate {
        mode: i32,
        len: u64,
    },
    /// `ftruncate(file, len)`.
    Ftruncate {
        len: u64,
    },
    /// `statx` of `file` (with `AT_EMPTY_PATH`), else of `paths[0]`.
    Statx,
    /// `openat(AT_FDCWD, paths[0], flags, mode)`; the result is the new
    /// descriptor.
    Open {
        flags: i32,
        mode: u32,
    },
    Mkdir {
        mode: u32,
    },
    /// `unlinkat(AT_FDCWD, paths[0])`, with `AT_REMOVEDIR` for a directory.
    Unlink {
        dir: bool,
    },
    /// `renameat(paths[0] -> paths[1])`.
    Rename,
    /// Lists `paths[0]` into `names`.
    ReadDir,
}

/// One disk operation and everything its memory accesses depend on.
/// `iov` lists the exact byte ranges the operation reads into or writes
/// from; they point into the heap blocks of `bufs` / `vec`. Paths, the
/// statx buffer and the listing's name vector are separate heap blocks
/// too, so none of them moves when the `Op` does (the operation table is a
/// growable vector).
pub(super) struct Op {
    pub(super) kind: OpKind,
    /// The open file of a read, write, sync, fallocate or fstat.
    pub(super) file: Option<Rc<IoFile>>,
    pub(super) offset: u64,
    pub(super) iov: Vec<libc::iovec>,
    bufs: Vec<AlignedBuf>,
    vec: Vec<u8>,
    /// The path operations' NUL-terminated paths (`[path]`, or
    /// `[from, to]` for a rename).
    paths: Vec<CString>,
    /// What the path names (for the fault injector).
    path_kind: FileKind,
    stat: Option<Box<libc::statx>>,
    /// Boxed: the pool thread writes the `Vec` itself (not only its
    /// elements) through a pointer, so its header must not move either.
    #[allow(clippy::box_collection)]
    names: Option<Box<Vec<OsString>>>,
    /// Run on the blocking pool once the fault injector's `stall` returns.
    pub(super) stall: bool,
    /// Issued by a background task: yields the disk to foreground work.
    pub(super) background: bool,
}

fn path_of(c: &CString) -> &Path {
    Path::new(OsStr::from_bytes(c.to_bytes()))
}

fn zeroed_statx() -> Box<libc::statx> {
    // SAFETY: `statx` is a C struct of integers (and reserved integer
    // arrays), for which all-zero bytes are a valid value.
    Box::new(unsafe { std::mem::zeroed::<libc::statx>() })
}

impl Op {
    fn blank(kind: OpKind, file: Option<Rc<IoFile>>) -> Op {
        Op {
            kind,
            file,
            offset: 0,
            iov: Vec::new(),
            bufs: Vec::new(),
            vec: Vec::new(),
            paths: Vec::new(),
            path_kind: FileKind::Other,
            stat: None,
            names: None,
            stall: false,
            background: false,
        }
    }

    fn on_path(kind: OpKind, path: CString, path_kind: FileKind) -> Op {
        Op {
            paths: vec![path],
            path_kind,
            ..Op::blank(kind, None)
        }
    }

    /// Reads into `buf[start..]` from `offset`.
    fn read_aligned(file: Rc<IoFile>, mut buf: AlignedBuf, start: usize, offset: u64) -> Op {
        let start = start.min(buf.len());
        let len = (buf.len() - start).min(MAX_RW);
        let base = buf[start..].as_mut_ptr();
        Op {
            offset,
            iov: vec![libc::iovec {
                iov_base: base.cast(),
                iov_len: len,
            }],
            bufs: vec![buf],
            ..Op::blank(OpKind::Read, Some(file))
        }
    }

    /// Reads into `vec[start..]` from `offset`.
    fn read_vec(file: Rc<IoFile>, mut vec: Vec<u8>, start: usize, offset: u64) -> Op {
        let start = start.min(vec.len());
        let len = (vec.len() - start).min(MAX_RW);
        let base = vec[start..].as_mut_ptr();
        Op {
            offset,
            iov: vec![libc::iovec {
                iov_base: base.cast(),
                iov_len: len,
            }],
            vec,
            ..Op::blank(OpKind::Read, Some(file))
        }
    }

    /// Writes the bytes of `bufs` (taken as one run) from byte `skip` on, at
    /// file offset `offset + skip`.
    fn write(file: Rc<IoFile>, bufs: Vec<AlignedBuf>, skip: usize, offset: u64) -> Op {
        let mut iov = Vec::new();
        let mut pos = 0usize;
        let mut total = 0usize;
        for b in &bufs {
            let end = pos + b.len();
            if end > skip && iov.len() < MAX_IOV && total < MAX_RW {
                let from = skip.saturating_sub(pos);
                let len = (b.len() - from).min(MAX_RW - total);
                iov.push(libc::iovec {
                    iov_base: b[from..].as_ptr().cast_mut().cast(),
                    iov_len: len,
                });
                total += len;
            }
            pos = end;
        }
        Op {
            offset: offset + skip as u64,
            iov,
            bufs,
            ..Op::blank(OpKind::Write, Some(file))
        }
    }

    fn sync(file: Rc<IoFile>, datasync: bool) -> Op {
        let kind = if datasync {
            OpKind::Fdatasync
        } else {
            OpKind::Fsync
        };
        Op::blank(kind, Some(file))
    }

    fn fallocate(file: Rc<IoFile>, offset: u64, len: u64) -> Op {
        Op {
            offset,
            ..Op::blank(OpKind::Fallocate { mode: 0, len }, Some(file))
        }
    }

    fn ftruncate(file: Rc<IoFile>, len: u64) -> Op {
        Op::blank(OpKind::Ftruncate { len }, Some(file))
    }

    fn fstat(file: Rc<IoFile>) -> Op {
        Op {
            stat: Some(zeroed_statx()),
            ..Op::blank(OpKind::Statx, Some(file))
        }
    }

    fn stat(path: CString, kind: FileKind) -> Op {
        Op {
            stat: Some(zeroed_statx()),
            ..Op::on_path(OpKind::Statx, path, kind)
        }
    }

    fn open(path: CString, kind: FileKind, flags: i32, mode: u32) -> Op {
        Op::on_path(OpKind::Open { flags, mode }, path, kind)
    }

    fn mkdir(path: CString, mode: u32) -> Op {
        Op::on_path(OpKind::Mkdir { mode }, path, FileKind::Dir)
    }

    fn unlink(path: CString, kind: FileKind, dir: bool) -> Op {
        Op::on_path(OpKind::Unlink { dir }, path, kind)
    }

    fn rename(from: CString, to: CString, kind: FileKind) -> Op {
        Op {
            paths: vec![from, to],
            path_kind: kind,
            ..Op::blank(OpKind::Rename, None)
        }
    }

    fn read_dir(path: CString) -> Op {
        Op {
            names: Some(Box::default()),
            ..Op::on_path(OpKind::ReadDir, path, FileKind::Dir)
        }
    }

    /// Bytes a read or write transfers.
    fn len(&self) -> usize {
        self.iov.iter().map(|v| v.iov_len).sum()
    }

    /// Trims the transfer to its first `n` bytes.
    fn truncate(&mut self, n: usize) {
        let mut left = n;
        let mut keep = 0;
        for v in self.iov.iter_mut() {
            if left == 0 {
                break;
            }
            v.iov_len = v.iov_len.min(left);
            left -= v.iov_len;
            keep += 1;
        }
        self.iov.truncate(keep);
    }

    /// The operation as the fault injector sees it.
    fn info(&self) -> IoOpInfo<'_> {
        let (file, file_kind) = match &self.file {
            Some(f) => (f.path(), f.kind()),
            None => (
                self.paths.first().map_or(Path::new(""), path_of),
                self.path_kind,
            ),
        };
        let (kind, len) = match self.kind {
            OpKind::Read => (IoOpKind::Read, self.len()),
            OpKind::Write => (IoOpKind::Write, self.len()),
            OpKind::Fsync | OpKind::Fdatasync if file_kind == FileKind::Dir => {
                (IoOpKind::SyncDir, 0)
            }
            OpKind::Fsync | OpKind::Fdatasync => (IoOpKind::Sync, 0),
            OpKind::Fallocate { len, .. } => (
                IoOpKind::Fallocate,
                usize::try_from(len).unwrap_or(usize::MAX),
            ),
            OpKind::Ftruncate { len } => (
                IoOpKind::Truncate,
                usize::try_from(len).unwrap_or(usize::MAX),
            ),
            OpKind::Statx => (IoOpKind::Stat, 0),
            OpKind::Open { .. } => (IoOpKind::Open, 0),
            OpKind::Mkdir { .. } => (IoOpKind::Mkdir, 0),
            OpKind::Unlink { .. } => (IoOpKind::Unlink, 0),
            OpKind::Rename => (IoOpKind::Rename, 0),
            OpKind::ReadDir => (IoOpKind::ReadDir, 0),
        };
        IoOpInfo {
            kind,
            file,
            to: match self.kind {
                OpKind::Rename => self.paths.get(1).map(path_of),
                _ => None,
            },
            file_kind,
            offset: self.offset,
            len,
        }
    }

    /// The system call, addressing this operation's memory (which stays
    /// put while the operation is in the runtime's table).
    pub(super) fn call(&mut self) -> Call {
        let fd = self.file.as_ref().map_or(-1, |f| f.as_raw_fd());
        let path = |i: usize| self.paths.get(i).map_or(std::ptr::null(), |p| p.as_ptr());
        match self.kind {
            OpKind::Read => {
                let (buf, len) = self
                    .iov
                    .first()
                    .map(|v| (v.iov_base.cast::<u8>(), v.iov_len))
                    .unwrap_or((std::ptr::null_mut(), 0));
                Call::Read {
                    fd,
                    buf,
                    len,
                    offset: self.offset,
                }
            }
            OpKind::Write => Call::Writev {
                fd,
                iov: self.iov.as_ptr(),
                count: self.iov.len(),
                offset: self.offset,
            },
            OpKind::Fsync => Call::Fsync {
                fd,
                datasync: false,
            },
            OpKind::Fdatasync => Call::Fsync { fd, datasync: true },
            OpKind::Fallocate { mode, len } => Call::Fallocate {
                fd,
                mode,
                offset: self.offset,
                len,
            },
            OpKind::Ftruncate { len } => Call::Ftruncate { fd, len },
            OpKind::Statx => {
                let buf = self
                    .stat
                    .as_deref_mut()
                    .map_or(std::ptr::null_mut(), std::ptr::from_mut);
                let mask = libc::STATX_TYPE | libc::STATX_SIZE;
                if self.file.is_some() {
                    Call::Statx {
                        dirfd: fd,
                        path: c"".as_ptr(),
                        flags: libc::AT_EMPTY_PATH,
                        mask,
                        buf,
                    }
                } else {
                    Call::Statx {
                        dirfd: libc::AT_FDCWD,
                        path: path(0),
                        flags: 0,
                        mask,
                        buf,
                    }
                }
            }
            OpKind::Open { flags, mode } => Call::Open {
                path: path(0),
                flags,
                mode,
            },
            OpKind::Mkdir { mode } => Call::Mkdir {
                path: path(0),
                mode,
            },
            OpKind::Unlink { dir } => Call::Unlink {
                path: path(0),
                flags: if dir { libc::AT_REMOVEDIR } else { 0 },
            },
            OpKind::Rename => Call::Rename {
                from: path(0),
                to: path(1),
            },
            OpKind::ReadDir => Call::ReadDir {
                path: path(0),
                out: self
                    .names
                    .as_deref_mut()
                    .map_or(std::ptr::null_mut(), std::ptr::from_mut),
            },
        }
    }
}

/// What an awaited operation gives back.
#[derive(Default)]
struct OpDone {
    /// Bytes transferred, a new descriptor, 0, or `-errno`.
    res: i32,
    bufs: Vec<AlignedBuf>,
    vec: Vec<u8>,
    stat: Option<Box<libc::statx>>,
    names: Option<Vec<OsString>>,
}

pub(super) struct OpSlot {
    pub(super) op: Op,
    result: Option<i32>,
    waker: Option<Waker>,
    abandoned: bool,
}

impl Drop for OpSlot {
    fn drop(&mut self) {
        // An open whose descriptor nobody took (its future was dropped, or
        // the runtime went away first) closes it here.
        if let (OpKind::Open { .. }, Some(fd)) = (self.op.kind, self.result)
            && fd >= 0
        {
            // SAFETY: a successful open's result is a new descriptor that
            // only this slot knows about; `result` is taken when delivered.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
}

/// When a turn may block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wait {
    /// Do not block.
    No,
    /// Until something happens.
    Forever,
    /// Until something happens or the instant passes.
    Until(Instant),
}

pub(super) enum Driver {
    Uring(Box<UringDriver>),
    Sync(SyncDriver),
}

impl Driver {
    fn name(&self) -> &'static str {
        match self {
            Driver::Uring(_) => "io_uring",
            Driver::Sync(_) => "sync",
        }
    }

    fn push(&mut self, id: usize, op: &mut Op) {
        match self {
            Driver::Uring(d) => d.push(id, op),
            Driver::Sync(d) => d.push(id, op),
        }
    }

    fn submit(&mut self, wait: Wait) {
        match self {
            Driver::Uring(d) => d.submit(wait),
            Driver::Sync(d) => d.submit(wait),
        }
    }

    fn reap(&mut self, out: &mut Vec<(usize, i32)>) {
        match self {
            Driver::Uring(d) => d.reap(out),
            Driver::Sync(d) => d.reap(out),
        }
    }

    /// Waits until neither the kernel nor the blocking pool holds an
    /// operation, collecting their completions; false if that could not
    /// be established (the caller must then leak the operations' memory).
    fn drain(&mut self, out: &mut Vec<(usize, i32)>) -> bool {
        match self {
            Driver::Uring(d) => d.drain(out),
            Driver::Sync(d) => d.drain(out),
        }
    }
}

// ---------------------------------------------------------------------------
// Timers.

#[derive(Default)]
struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    waiting: HashMap<u64, Option<Waker>>,
    next_key: u64,
}

impl Timers {
    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, key))) = self.heap.peek() {
            if self.waiting.contains_key(key) {
                return Some(*at);
            }
            self.heap.pop();
        }
        None
    }
}

// ---------------------------------------------------------------------------
// The runtime.

struct Inner {
    shared: Arc<Shared>,
    tasks: RefCell<Slab<Task>>,
    next_gen: Cell<u64>,
    ops: RefCell<Slab<OpSlot>>,
    inflight: Cell<usize>,
    driver: RefCell<Driver>,
    backend: &'static str,
    timers: RefCell<Timers>,
    faults: Option<Arc<dyn FaultInjector>>,
    scratch: RefCell<Vec<(usize, u64)>>,
    /// The task being polled is a background task.
    polling_background: Cell<bool>,
    completions: RefCell<Vec<(usize, i32)>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let mut done = Vec::new();
        if !self.driver.get_mut().drain(&mut done) {
            log::error!("could not wait for in-flight I/O; leaking its buffers");
            std::mem::forget(std::mem::take(self.ops.get_mut()));
            return;
        }
        // Results nobody will await: their slots release what they hold
        // (descriptors of finished opens) when the table is dropped.
        let ops = self.ops.get_mut();
        for (id, res) in done {
            if let Some(slot) = ops.get_mut(id) {
                slot.result.get_or_insert(res);
            }
        }
    }
}

/// A shard's executor and disk driver. `!Send`: create it on the thread
/// that runs it.
pub struct Runtime {
    inner: Rc<Inner>,
}

impl Runtime {
    /// A runtime with the configured backend (see the module docs).
    pub fn new(cfg: &RuntimeConfig) -> Result<Runtime> {
        let remote = Arc::new(RemoteInner::new()?);
        let pool = || BlockingPool::new(remote.clone(), cfg.faults.clone());
        let driver = match cfg.backend.resolve() {
            Backend::Sync => Driver::Sync(SyncDriver::new(remote.clone(), pool())),
            Backend::Uring => Driver::Uring(Box::new(
                UringDriver::new(cfg.queue_depth, remote.clone(), pool())
                    .map_err(|e| Error::from_io(e, "set up io_uring"))?,
            )),
            Backend::Auto => match UringDriver::new(cfg.queue_depth, remote.clone(), pool()) {
                Ok(d) => Driver::Uring(Box::new(d)),
                Err(e) => {
                    log::info!("io_uring unavailable ({e}); using synchronous I/O");
                    Driver::Sync(SyncDriver::new(remote.clone(), pool()))
                }
            },
        };
        let shared = Arc::new(Shared {
            ready: Mutex::new(VecDeque::new()),
            owner: std::thread::current().id(),
            remote,
        });
        Ok(Runtime {
            inner: Rc::new(Inner {
                shared,
                tasks: RefCell::default(),
                next_gen: Cell::new(0),
                ops: RefCell::default(),
                inflight: Cell::new(0),
                backend: driver.name(),
                driver: RefCell::new(driver),
                timers: RefCell::default(),
                faults: cfg.faults.clone(),
                scratch: RefCell::default(),
                polling_background: Cell::new(false),
                completions: RefCell::default(),
            }),
        })
    }

    /// `"io_uring"` or `"sync"`.
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend
    }

    /// A handle for tasks: spawning, disk I/O, timers.
    pub fn handle(&self) -> IoHandle {
        IoHandle {
            inner: self.inner.clone(),
        }
    }

    /// Adds a task; it is first polled in the next turn.
    pub fn spawn(&self, fut: impl Future<Output = ()> + 'static) {
        self.inner.spawn(Box::pin(fut), false);
    }

    /// Adds a background task: its disk operations go to the kernel only
    /// a few at a time while foreground operations are in flight, so that
    /// long writes do not crowd out reads.
    pub fn spawn_background(&self, fut: impl Future<Output = ()> + 'static) {
        self.inner.spawn(Box::pin(fut), true);
    }

    /// A waker other threads use to interrupt [`turn`](Self::turn).
    pub fn remote(&self) -> RemoteWaker {
        RemoteWaker {
            inner: self.inner.shared.remote.clone(),
        }
    }

    /// One turn of the loop: polls every task ready when it begins, submits
    /// queued I/O, then — only if the turn polled no task and none is ready
    /// — blocks until an I/O completion, a remote wake, the next timer or
    /// `timeout` (`None`: no limit), and finally delivers completions and
    /// fires due timers (their tasks run in the next turn). A turn that
    /// polled tasks never blocks, so a caller's loop can look at its own
    /// state (channels, `task_count`) after every piece of work; an idle
    /// runtime blocks on the next turn.
    pub fn turn(&self, timeout: Option<Duration>) {
        let inner = &self.inner;
        let polled = inner.run_ready();
        let wait = if polled == 0 && inner.shared.ready().is_empty() {
            let now = Instant::now();
            let timer = inner.timers.borrow_mut().next_deadline();
            // A timeout too large to represent means no limit.
            let limit = timeout.and_then(|t| now.checked_add(t));
            match (timer, limit) {
                (None, None) => Wait::Forever,
                (Some(a), None) | (None, Some(a)) => Wait::Until(a),
                (Some(a), Some(b)) => Wait::Until(a.min(b)),
            }
        } else {
            Wait::No
        };
        inner.driver.borrow_mut().submit(wait);
        inner.complete();
        inner.fire_timers();
    }

    /// Live (unfinished) tasks.
    pub fn task_count(&self) -> usize {
        self.inner.tasks.borrow().len()
    }

    /// Operations handed to the driver and not yet completed.
    pub fn inflight_io(&self) -> usize {
        self.inner.inflight.get()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Tasks hold `IoHandle`s (an `Rc` to the runtime): drop them to break
        // the cycle. Their destructors may spawn; repeat until none is left.
        loop {
            let tasks = std::mem::take(&mut *self.inner.tasks.borrow_mut());
            if tasks.is_empty() {
                break;
            }
            for t in tasks.into_values() {
                drop_quietly(t);
            }
        }
        self.inner.shared.ready().clear();
        let timers = std::mem::take(&mut *self.inner.timers.borrow_mut());
        drop(timers);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("backend", &self.inner.backend)
            .field("tasks", &self.task_count())
            .field("inflight_io", &self.inflight_io())
            .finish()
    }
}

/// Marks a background task in a turn's batch (task generations never reach
/// the top bit).
const BACKGROUND_MARK: u64 = 1 << 63;

/// CPU time background tasks (batch writes, compaction) may take in a turn
/// that also ran foreground tasks (reads): bounds how long a read's next
/// step waits behind write work.
const BACKGROUND_SLICE: Duration = Duration::from_micros(200);

impl Inner {
    fn spawn(&self, fut: BoxFuture, background: bool) {
        let gen_ = self.next_gen.get();
        self.next_gen.set(gen_ + 1);
        let id = self.tasks.borrow_mut().insert_with(|id| {
            let state = Arc::new(TaskWaker {
                id,
                gen_,
                scheduled: AtomicBool::new(true),
                shared: self.shared.clone(),
            });
            Task {
                fut: Some(fut),
                waker: Waker::from(state.clone()),
                state,
                background,
            }
        });
        self.shared.ready().push_back((id, gen_));
    }

    /// Polls the tasks ready now; returns how many queue entries it took.
    ///
    /// Foreground tasks are polled first, and the I/O they queued goes to
    /// the driver before any background task runs: a read's next page
    /// request does not wait for a batch write's CPU work of this turn.
    fn run_ready(&self) -> usize {
        let mut batch = std::mem::take(&mut *self.scratch.borrow_mut());
        batch.extend(self.shared.ready().drain(..));
        let mut background = 0;
        {
            let tasks = self.tasks.borrow();
            for entry in batch.iter_mut() {
                if tasks.get(entry.0).is_some_and(|t| t.background) {
                    // Marked by the top bit of the generation; cleared below.
                    entry.1 |= BACKGROUND_MARK;
                    background += 1;
                }
            }
        }
        if background > 0 && background < batch.len() {
            batch.sort_by_key(|e| e.1 & BACKGROUND_MARK != 0);
        }
        let foreground = batch.len() - background;
        let mut bg_start = None;
        let mut n = batch.len();
        for (i, &(id, gen_)) in batch.iter().enumerate() {
            if gen_ & BACKGROUND_MARK != 0 {
                match bg_start {
                    None => {
                        if foreground > 0 {
                            self.driver.borrow_mut().submit(Wait::No);
                        }
                        bg_start = Some(Instant::now());
                    }
                    // Beside foreground work, background tasks get a slice
                    // of the turn; the rest wait for the next turn, first.
                    Some(t) if foreground > 0 && t.elapsed() >= BACKGROUND_SLICE => {
                        let mut ready = self.shared.ready();
                        for &(id, gen_) in batch[i..].iter().rev() {
                            ready.push_front((id, gen_ & !BACKGROUND_MARK));
                        }
                        n = i;
                        break;
                    }
                    Some(_) => {}
                }
            }
            self.poll_task(id, gen_ & !BACKGROUND_MARK);
        }
        batch.clear();
        *self.scratch.borrow_mut() = batch;
        n
    }

    fn poll_task(&self, id: usize, gen_: u64) {
        let (mut fut, waker) = {
            let mut tasks = self.tasks.borrow_mut();
            let Some(t) = tasks.get_mut(id) else { return };
            if t.state.gen_ != gen_ {
                return;
            }
            let Some(fut) = t.fut.take() else { return };
            t.state.scheduled.store(false, Ordering::Release);
            self.polling_background.set(t.background);
            (fut, t.waker.clone())
        };
        let mut cx = Context::from_waker(&waker);
        let polled = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
        self.polling_background.set(false);
        match polled {
            Ok(Poll::Pending) => {
                if let Some(t) = self.tasks.borrow_mut().get_mut(id) {
                    t.fut = Some(fut);
                }
            }
            Ok(Poll::Ready(())) => {
                let t = self.tasks.borrow_mut().remove(id);
                drop_quietly(fut);
                drop(t);
            }
            Err(p) => {
                log::error!(
                    "a shard task panicked and was dropped: {}",
                    panic_message(&*p)
                );
                let t = self.tasks.borrow_mut().remove(id);
                drop_quietly(fut);
                drop(t);
            }
        }
    }

    /// Registers an operation (after consulting the fault injector) and
    /// queues it with the driver.
    fn start_op(self: &Rc<Self>, mut op: Op) -> OpFuture {
        op.background = self.polling_background.get();
        let mut immediate = None;
        if let Some(faults) = &self.faults {
            let info = op.info();
            let kind = info.kind;
            let short = match faults.check(&info) {
                Some(Fault::Errno(e)) => {
                    immediate = Some(if e == 0 { -libc::EIO } else { -e.abs() });
                    None
                }
                Some(Fault::ShortWrite(n)) if kind == IoOpKind::Write => Some(n),
                Some(Fault::ShortRead(n)) if kind == IoOpKind::Read => Some(n),
                Some(Fault::Stall) => {
                    op.stall = true;
                    None
                }
                _ => None,
            };
            if let Some(n) = short {
                // The kernel refuses unaligned O_DIRECT transfers.
                let n = if op.file.as_ref().is_some_and(|f| f.is_direct()) {
                    n - n % DIRECT_ALIGN
                } else {
                    n
                };
                op.truncate(n);
            }
        }
        let mut ops = self.ops.borrow_mut();
        let id = ops.insert_with(|_| OpSlot {
            op,
            result: immediate,
            waker: None,
            abandoned: false,
        });
        if immediate.is_none() {
            self.inflight.set(self.inflight.get() + 1);
            if let Some(slot) = ops.get_mut(id) {
                self.driver.borrow_mut().push(id, &mut slot.op);
            }
        }
        OpFuture {
            inner: self.clone(),
            id,
            finished: false,
        }
    }

    /// Delivers the driver's completions to their operations.
    fn complete(&self) {
        let mut done = std::mem::take(&mut *self.completions.borrow_mut());
        self.driver.borrow_mut().reap(&mut done);
        if done.is_empty() {
            *self.completions.borrow_mut() = done;
            return;
        }
        let mut wakers = Vec::new();
        let mut garbage = Vec::new();
        {
            let mut ops = self.ops.borrow_mut();
            for &(id, res) in &done {
                let Some(slot) = ops.get_mut(id) else {
                    log::error!("completion for unknown I/O operation {id}");
                    continue;
                };
                if slot.result.is_some() {
                    log::error!("duplicate completion for I/O operation {id}");
                    continue;
                }
                self.inflight.set(self.inflight.get().saturating_sub(1));
                if slot.abandoned {
                    slot.result = Some(res);
                    garbage.extend(ops.remove(id));
                } else {
                    slot.result = Some(res);
                    wakers.extend(slot.waker.take());
                }
            }
        }
        done.clear();
        *self.completions.borrow_mut() = done;
        drop(garbage);
        for w in wakers {
            w.wake();
        }
    }

    fn fire_timers(&self) {
        let mut wakers = Vec::new();
        {
            let mut timers = self.timers.borrow_mut();
            if timers.heap.is_empty() {
                return;
            }
            let now = Instant::now();
            while let Some(Reverse((at, key))) = timers.heap.peek().copied() {
                if at > now {
                    break;
                }
                timers.heap.pop();
                if let Some(w) = timers.waiting.get_mut(&key).and_then(Option::take) {
                    wakers.push(w);
                }
            }
        }
        for w in wakers {
            w.wake();
        }
    }
}

/// Awaits one operation; dropping it early abandons the operation (its
/// buffers are freed when the completion arrives).
struct OpFuture {
    inner: Rc<Inner>,
    id: usize,
    finished: bool,
}

impl Future for OpFuture {
    type Output = OpDone;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OpDone> {
        if self.finished {
            return Poll::Ready(OpDone {
                res: -libc::EINVAL,
                ..OpDone::default()
            });
        }
        let id = self.id;
        let mut ops = self.inner.ops.borrow_mut();
        let Some(slot) = ops.get_mut(id) else {
            drop(ops);
            self.finished = true;
            log::error!("I/O operation {id} vanished");
            return Poll::Ready(OpDone {
                res: -libc::EIO,
                ..OpDone::default()
            });
        };
        if let Some(res) = slot.result {
            let slot = ops.remove(id);
            drop(ops);
            self.finished = true;
            return Poll::Ready(match slot {
                Some(mut s) => {
                    // Delivered: the result (a descriptor for an open) is
                    // the caller's now.
                    s.result = None;
                    OpDone {
                        res,
                        bufs: std::mem::take(&mut s.op.bufs),
                        vec: std::mem::take(&mut s.op.vec),
                        stat: s.op.stat.take(),
                        names: s.op.names.take().map(|b| *b),
                    }
                }
                None => OpDone {
                    res: -libc::EIO,
                    ..OpDone::default()
                },
            });
        }
        match &slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Ok(mut ops) = self.inner.ops.try_borrow_mut() else {
            log::error!(
                "I/O operation {} dropped during delivery; its slot leaks",
                self.id
            );
            return;
        };
        let garbage = match ops.get_mut(self.id) {
            Some(slot) if slot.result.is_some() => ops.remove(self.id),
            Some(slot) => {
                slot.abandoned = true;
                slot.waker = None;
                None
            }
            None => None,
        };
        drop(ops);
        drop(garbage);
    }
}

/// What [`IoHandle::stat`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    pub len: u64,
    pub is_dir: bool,
}

/// `path` as a C string; one with a NUL byte is `InvalidArgs`.
fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::invalid_args(format!("path {} contains a NUL byte", path.display())))
}

fn os_error(errno: i32, what: impl fmt::Display) -> Error {
    Error::from_errno(errno.abs(), what)
}

fn check_direct(file: &IoFile, offset: u64, what: &str) -> Result<()> {
    if file.is_direct() && !offset.is_multiple_of(DIRECT_ALIGN as u64) {
        return Err(Error::invalid_args(format!(
            "{what} {} at offset {offset}: O_DIRECT needs {DIRECT_ALIGN}-aligned offsets",
            file.path().display()
        )));
    }
    Ok(())
}

/// What tasks use to reach their runtime: spawning, disk I/O and timers.
/// Cheap to clone; `!Send`.
#[derive(Clone)]
pub struct IoHandle {
    inner: Rc<Inner>,
}

impl fmt::Debug for IoHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoHandle")
            .field("backend", &self.inner.backend)
            .finish()
    }
}

impl IoHandle {
    /// `"io_uring"` or `"sync"`.
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend
    }

    /// Adds a task to the runtime (usable from inside a task).
    #[cfg(any(test, feature = "internals"))]
    pub fn spawn(&self, fut: impl Future<Output = ()> + 'static) {
        self.inner.spawn(Box::pin(fut), false);
    }

    /// Adds a background task (see [`Runtime::spawn_background`]).
    pub fn spawn_background(&self, fut: impl Future<Output = ()> + 'static) {
        self.inner.spawn(Box::pin(fut), true);
    }

    /// Operations handed to the driver and not yet completed.
    #[cfg(any(test, feature = "internals"))]
    pub fn inflight_io(&self) -> usize {
        self.inner.inflight.get()
    }

    /// One read of up to `buf.len()` bytes at `offset` (may be short; 0 at
    /// end of file). The buffer comes back in every case.
    #[cfg(any(test, feature = "internals"))]
    pub async fn read_at(
        &self,
        file: &Rc<IoFile>,
        buf: AlignedBuf,
        offset: u64,
    ) -> (Result<usize>, AlignedBuf) {
        if let Err(e) = check_direct(file, offset, "read") {
            return (Err(e), buf);
        }
        let mut done = self
            .inner
            .start_op(Op::read_aligned(file.clone(), buf, 0, offset))
            .await;
        let buf = done.bufs.pop().unwrap_or_else(|| AlignedBuf::zeroed(0));
        if done.res < 0 {
            let what = format!("read {} at offset {offset}", file.path().display());
            return (Err(os_error(done.res, what)), buf);
        }
        (Ok(done.res as usize), buf)
    }

    /// Fills `buf` from `offset`, looping on short reads. End of file before
    /// the buffer is full is a `KvError::EndOfFile` error naming the file
    /// and offset.
    pub async fn read_exact_at(
        &self,
        file: &Rc<IoFile>,
        buf: AlignedBuf,
        offset: u64,
    ) -> Result<AlignedBuf> {
        check_direct(file, offset, "read")?;
        self.read_exact_from(file, buf, 0, offset).await
    }

    /// Continues filling `buf` whose first `filled` bytes are read.
    async fn read_exact_from(
        &self,
        file: &Rc<IoFile>,
        mut buf: AlignedBuf,
        mut filled: usize,
        offset: u64,
    ) -> Result<AlignedBuf> {
        let len = buf.len();
        while filled < len {
            if file.is_direct() && !filled.is_multiple_of(DIRECT_ALIGN) {
                // A direct read stops short of an aligned size only at EOF.
                return Err(eof_error(file, offset, filled, len));
            }
            let at = offset + filled as u64;
            let mut done = self
                .inner
                .start_op(Op::read_aligned(file.clone(), buf, filled, at))
                .await;
            buf = done.bufs.pop().unwrap_or_else(|| AlignedBuf::zeroed(0));
            if done.res < 0 {
                return Err(os_error(
                    done.res,
                    format!("read {} at offset {at}", file.path().display()),
                ));
            }
            if done.res == 0 || buf.len() != len {
                return Err(eof_error(file, offset, filled, len));
            }
            filled += done.res as usize;
        }
        Ok(buf)
    }

    /// Reads up to `len` bytes from `offset` of a buffered (non-O_DIRECT)
    /// file, stopping early only at end of file; returns what was read.
    /// Manifests are read this way. On an O_DIRECT file: `InvalidArgs`.
    pub async fn read_vec_at(&self, file: &Rc<IoFile>, len: usize, offset: u64) -> Result<Vec<u8>> {
        if file.is_direct() {
            return Err(Error::invalid_args(format!(
                "read_vec_at on {}, which is open with O_DIRECT",
                file.path().display()
            )));
        }
        let mut vec = Vec::new();
        vec.try_reserve_exact(len).map_err(|_| {
            Error::new(
                KvError::OutOfMem,
                format!(
                    "cannot allocate {len} bytes to read {}",
                    file.path().display()
                ),
            )
        })?;
        vec.resize(len, 0);
        let mut filled = 0;
        while filled < len {
            let at = offset + filled as u64;
            let done = self
                .inner
                .start_op(Op::read_vec(file.clone(), vec, filled, at))
                .await;
            vec = done.vec;
            if done.res < 0 {
                return Err(os_error(
                    done.res,
                    format!("read {} at offset {at}", file.path().display()),
                ));
            }
            if done.res == 0 || vec.len() != len {
                break;
            }
            filled += done.res as usize;
        }
        vec.truncate(filled);
        Ok(vec)
    }

    /// Writes `bufs`, one after another, at `offset` with writev, looping on
    /// short writes; gives the buffers back for reuse.
    pub async fn write_all_at(
        &self,
        file: &Rc<IoFile>,
        mut bufs: Vec<AlignedBuf>,
        offset: u64,
    ) -> Result<Vec<AlignedBuf>> {
        check_direct(file, offset, "write")?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut written = 0;
        while written < total {
            let at = offset + written as u64;
            let done = self
                .inner
                .start_op(Op::write(file.clone(), bufs, written, offset))
                .await;
            bufs = done.bufs;
            if done.res < 0 {
                return Err(os_error(
                    done.res,
                    format!("write {} at offset {at}", file.path().display()),
                ));
            }
            if done.res == 0 {
                return Err(Error::new(
                    KvError::IoFail,
                    format!(
                        "write {} at offset {at} made no progress ({written} of {total} bytes written)",
                        file.path().display()
                    ),
                ));
            }
            written += done.res as usize;
        }
        Ok(bufs)
    }

    /// `fdatasync`.
    pub async fn fdatasync(&self, file: &Rc<IoFile>) -> Result<()> {
        self.sync(file, true).await
    }

    /// `fsync`.
    pub async fn fsync(&self, file: &Rc<IoFile>) -> Result<()> {
        self.sync(file, false).await
    }

    async fn sync(&self, file: &Rc<IoFile>, datasync: bool) -> Result<()> {
        let done = self.inner.start_op(Op::sync(file.clone(), datasync)).await;
        if done.res < 0 {
            let name = if datasync { "fdatasync" } else { "fsync" };
            return Err(os_error(
                done.res,
                format!("{name} {}", file.path().display()),
            ));
        }
        Ok(())
    }

    // ---- file-system operations -------------------------------------------

    /// Opens `path` without blocking the shard: `openat` through the
    /// driver. With `opts.direct` it asks for O_DIRECT and, if the open
    /// fails with EINVAL (the filesystem refuses O_DIRECT), opens the file
    /// buffered instead ([`IoFile::is_direct`] then reports false).
    /// `opts.create` adds O_CREAT with mode 0644; `opts.read_only` opens
    /// O_RDONLY, else O_RDWR.
    pub async fn open(&self, path: &Path, kind: FileKind, opts: OpenOptions) -> Result<IoFile> {
        if opts.create && opts.read_only {
            return Err(Error::invalid_args(format!(
                "cannot create {} read-only",
                path.display()
            )));
        }
        let mut flags = libc::O_CLOEXEC;
        flags |= if opts.read_only {
            libc::O_RDONLY
        } else {
            libc::O_RDWR
        };
        if opts.create {
            flags |= libc::O_CREAT;
        }
        if opts.truncate {
            flags |= libc::O_TRUNC;
        }
        if opts.directory {
            flags |= libc::O_DIRECTORY;
        }
        let c = c_path(path)?;
        let mut direct = opts.direct;
        loop {
            let f = if direct {
                flags | libc::O_DIRECT
            } else {
                flags
            };
            let done = self.run(Op::open(c.clone(), kind, f, 0o644)).await;
            if done.res >= 0 {
                // SAFETY: a successful open returns a new descriptor that
                // nothing else owns (the slot gave up its claim on delivery).
                let fd = unsafe { OwnedFd::from_raw_fd(done.res) };
                return Ok(IoFile::from_fd(fd, path, kind, direct, opts.read_only));
            }
            if direct && done.res == -libc::EINVAL {
                log::debug!("{} refuses O_DIRECT, opening it buffered", path.display());
                direct = false;
                continue;
            }
            return Err(os_error(done.res, format!("open {}", path.display())));
        }
    }

    /// Opens a directory (read-only, `O_DIRECTORY`), e.g. to sync it.
    #[cfg(any(test, feature = "internals"))]
    pub async fn open_dir(&self, path: &Path) -> Result<IoFile> {
        let flags = libc::O_CLOEXEC | libc::O_RDONLY | libc::O_DIRECTORY;
        let done = self
            .run(Op::open(c_path(path)?, FileKind::Dir, flags, 0))
            .await;
        if done.res < 0 {
            return Err(os_error(done.res, format!("open {}", path.display())));
        }
        // SAFETY: as in `open`.
        let fd = unsafe { OwnedFd::from_raw_fd(done.res) };
        Ok(IoFile::from_fd(fd, path, FileKind::Dir, false, true))
    }

    /// `fsync` of a directory, so that entries created, renamed or removed
    /// in it persist.
    #[cfg(any(test, feature = "internals"))]
    pub async fn sync_dir(&self, path: &Path) -> Result<()> {
        let dir = Rc::new(self.open_dir(path).await?);
        self.fsync(&dir).await
    }

    /// `mkdirat` (mode 0777 less the umask); an existing entry is an error.
    #[cfg(any(test, feature = "internals"))]
    pub async fn mkdir(&self, path: &Path) -> Result<()> {
        let res = self.mkdir_raw(path).await?;
        if res < 0 {
            return Err(os_error(res, format!("mkdir {}", path.display())));
        }
        Ok(())
    }

    async fn mkdir_raw(&self, path: &Path) -> Result<i32> {
        Ok(self.run(Op::mkdir(c_path(path)?, 0o777)).await.res)
    }

    /// Creates `path` and its missing parents, like
    /// `std::fs::create_dir_all`. An existing directory is fine.
    pub async fn create_dir_all(&self, path: &Path) -> Result<()> {
        // Walk up to the deepest existing ancestor, then create downwards.
        let mut missing = Vec::new();
        let mut p = path;
        loop {
            if p.as_os_str().is_empty() {
                break;
            }
            let res = self.mkdir_raw(p).await?;
            if res >= 0 {
                break;
            }
            if res == -libc::EEXIST {
                if !self.stat(p, FileKind::Dir).await?.is_dir {
                    return Err(Error::new(
                        KvError::IoFail,
                        format!("mkdir {}: exists and is not a directory", p.display()),
                    ));
                }
                break;
            }
            match p.parent() {
                Some(parent) if res == -libc::ENOENT => {
                    missing.push(p);
                    p = parent;
                }
                _ => return Err(os_error(res, format!("mkdir {}", p.display()))),
            }
        }
        for p in missing.into_iter().rev() {
            let res = self.mkdir_raw(p).await?;
            if res < 0 && res != -libc::EEXIST {
                return Err(os_error(res, format!("mkdir {}", p.display())));
            }
        }
        Ok(())
    }

    /// Removes a file (`unlinkat`); a missing one is `NotFound`. `kind`
    /// says what it is, for the fault injector.
    pub async fn unlink(&self, path: &Path, kind: FileKind) -> Result<()> {
        let done = self.run(Op::unlink(c_path(path)?, kind, false)).await;
        if done.res < 0 {
            return Err(os_error(done.res, format!("unlink {}", path.display())));
        }
        Ok(())
    }

    /// Removes an empty directory (`unlinkat` with `AT_REMOVEDIR`).
    #[cfg(any(test, feature = "internals"))]
    pub async fn remove_dir(&self, path: &Path) -> Result<()> {
        let done = self
            .run(Op::unlink(c_path(path)?, FileKind::Dir, true))
            .await;
        if done.res < 0 {
            return Err(os_error(done.res, format!("rmdir {}", path.display())));
        }
        Ok(())
    }

    /// Renames `from` to `to` (`renameat`), replacing `to` if it exists.
    /// `kind` says what the file is, for the fault injector.
    pub async fn rename(&self, from: &Path, to: &Path, kind: FileKind) -> Result<()> {
        let done = self.run(Op::rename(c_path(from)?, c_path(to)?, kind)).await;
        if done.res < 0 {
            return Err(os_error(
                done.res,
                format!("rename {} to {}", from.display(), to.display()),
            ));
        }
        Ok(())
    }

    /// `fallocate(file, 0, offset, len)`: reserves the range (the file
    /// grows to cover it, never shrinks).
    #[cfg(any(test, feature = "internals"))]
    pub async fn fallocate(&self, file: &Rc<IoFile>, offset: u64, len: u64) -> Result<()> {
        let done = self.run(Op::fallocate(file.clone(), offset, len)).await;
        if done.res < 0 {
            return Err(os_error(
                done.res,
                format!(
                    "fallocate {} at {offset} for {len} bytes",
                    file.path().display()
                ),
            ));
        }
        Ok(())
    }

    /// Reserves `len` bytes from offset 0; where the filesystem does not
    /// support fallocate, extends the file to `len` instead (if shorter).
    pub async fn allocate(&self, file: &Rc<IoFile>, len: u64) -> Result<()> {
        let done = self.run(Op::fallocate(file.clone(), 0, len)).await;
        match done.res {
            r if r >= 0 => Ok(()),
            r if r == -libc::EOPNOTSUPP || r == -libc::ENOSYS => {
                if self.file_len(file).await? < len {
                    let done = self.run(Op::ftruncate(file.clone(), len)).await;
                    if done.res < 0 {
                        return Err(os_error(
                            done.res,
                            format!("extend {} to {len}", file.path().display()),
                        ));
                    }
                }
                Ok(())
            }
            r => Err(os_error(
                r,
                format!("fallocate {} to {len}", file.path().display()),
            )),
        }
    }

    /// The current length of an open file (`statx` with `AT_EMPTY_PATH`).
    pub async fn file_len(&self, file: &Rc<IoFile>) -> Result<u64> {
        let done = self.run(Op::fstat(file.clone())).await;
        match done.stat {
            Some(st) if done.res >= 0 => Ok(st.stx_size),
            _ => Err(os_error(
                if done.res < 0 { done.res } else { -libc::EIO },
                format!("stat {}", file.path().display()),
            )),
        }
    }

    /// `statx` of a path (following symlinks); a missing one is `NotFound`.
    pub async fn stat(&self, path: &Path, kind: FileKind) -> Result<FileStat> {
        let done = self.run(Op::stat(c_path(path)?, kind)).await;
        match done.stat {
            Some(st) if done.res >= 0 => Ok(FileStat {
                len: st.stx_size,
                is_dir: u32::from(st.stx_mode) & libc::S_IFMT == libc::S_IFDIR,
            }),
            _ => Err(os_error(
                if done.res < 0 { done.res } else { -libc::EIO },
                format!("stat {}", path.display()),
            )),
        }
    }

    /// Whether `path` exists.
    pub async fn exists(&self, path: &Path, kind: FileKind) -> Result<bool> {
        match self.stat(path, kind).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == KvError::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reads a whole file (open, statx, read); a missing file is
    /// `NotFound`.
    pub async fn read_file(&self, path: &Path, kind: FileKind) -> Result<Vec<u8>> {
        let file = Rc::new(self.open(path, kind, OpenOptions::read_only()).await?);
        let len = self.file_len(&file).await?;
        let len = usize::try_from(len).map_err(|_| {
            Error::new(
                KvError::OutOfMem,
                format!("{} is too large to read ({len} bytes)", path.display()),
            )
        })?;
        self.read_vec_at(&file, len, 0).await
    }

    /// The names in a directory (without `.` and `..`), in no particular
    /// order; listed on the blocking pool (io_uring has no getdents).
    pub async fn read_dir(&self, path: &Path) -> Result<Vec<OsString>> {
        let done = self.run(Op::read_dir(c_path(path)?)).await;
        if done.res < 0 {
            return Err(os_error(done.res, format!("list {}", path.display())));
        }
        Ok(done.names.unwrap_or_default())
    }

    async fn run(&self, op: Op) -> OpDone {
        self.inner.start_op(op).await
    }

    /// Issues one read of `page_size` bytes (rounded up to 4096) per
    /// request, all at once, and waits for all; results in input order.
    /// Short reads are completed as by [`read_exact_at`](Self::read_exact_at).
    pub async fn read_many(
        &self,
        reqs: Vec<(Rc<IoFile>, u64)>,
        page_size: usize,
    ) -> Vec<Result<AlignedBuf>> {
        let started: Vec<_> = reqs
            .into_iter()
            .map(|(file, offset)| {
                let fut = check_direct(&file, offset, "read").map(|()| {
                    self.inner.start_op(Op::read_aligned(
                        file.clone(),
                        AlignedBuf::for_read(page_size),
                        0,
                        offset,
                    ))
                });
                (file, offset, fut)
            })
            .collect();
        let mut out = Vec::with_capacity(started.len());
        for (file, offset, fut) in started {
            let r = match fut {
                Err(e) => Err(e),
                Ok(fut) => {
                    let mut done = fut.await;
                    let buf = done.bufs.pop().unwrap_or_else(|| AlignedBuf::zeroed(0));
                    if done.res < 0 {
                        Err(os_error(
                            done.res,
                            format!("read {} at offset {offset}", file.path().display()),
                        ))
                    } else if done.res == 0 {
                        Err(eof_error(&file, offset, 0, buf.len()))
                    } else {
                        self.read_exact_from(&file, buf, done.res as usize, offset)
                            .await
                    }
                }
            };
            out.push(r);
        }
        out
    }

    /// Resolves once `d` has passed.
    pub fn sleep(&self, d: Duration) -> Sleep {
        Sleep {
            inner: self.inner.clone(),
            deadline: Instant::now().checked_add(d),
            key: None,
        }
    }

    /// Lets every other ready task run before this one continues.
    pub fn yield_now(&self) -> YieldNow {
        YieldNow { yielded: false }
    }
}

fn eof_error(file: &IoFile, offset: u64, filled: usize, len: usize) -> Error {
    Error::new(
        KvError::EndOfFile,
        format!(
            "end of file reading {} at offset {}: {filled} of {len} bytes read from offset {offset}",
            file.path().display(),
            offset + filled as u64
        ),
    )
}

/// The future of [`IoHandle::sleep`].
pub struct Sleep {
    inner: Rc<Inner>,
    /// `None`: too far in the future to represent; never fires.
    deadline: Option<Instant>,
    key: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.deadline else {
            return Poll::Pending;
        };
        if Instant::now() >= deadline {
            if let Some(key) = self.key.take() {
                self.inner.timers.borrow_mut().waiting.remove(&key);
            }
            return Poll::Ready(());
        }
        let inner = self.inner.clone();
        let mut timers = inner.timers.borrow_mut();
        match self.key {
            Some(key) => {
                timers.waiting.insert(key, Some(cx.waker().clone()));
            }
            None => {
                let key = timers.next_key;
                timers.next_key += 1;
                timers.heap.push(Reverse((deadline, key)));
                timers.waiting.insert(key, Some(cx.waker().clone()));
                self.key = Some(key);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take()
            && let Ok(mut timers) = self.inner.timers.try_borrow_mut()
        {
            timers.waiting.remove(&key);
        }
    }
}

/// The future of [`IoHandle::yield_now`].
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

// ---------------------------------------------------------------------------
// Notify.

#[derive(Default)]
struct NotifyState {
    epoch: u64,
    waiters: HashMap<u64, Waker>,
    next_key: u64,
}

/// A single-threaded notification for tasks of one runtime ("partition
/// loaded", "writer finished"): [`notify_all`](Self::notify_all) wakes every
/// current waiter. A [`Notified`] future counts as waiting from the moment
/// it is created, so `let n = notify.notified(); check(); n.await` misses no
/// notification sent after `notified()` was called.
#[derive(Clone, Default)]
pub struct Notify {
    state: Rc<RefCell<NotifyState>>,
}

impl Notify {
    pub fn new() -> Notify {
        Notify::default()
    }

    /// Resolves at the next `notify_all` after this call.
    pub fn notified(&self) -> Notified {
        Notified {
            state: self.state.clone(),
            epoch: self.state.borrow().epoch,
            key: None,
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        let waiters = {
            let mut st = self.state.borrow_mut();
            st.epoch += 1;
            std::mem::take(&mut st.waiters)
        };
        for (_, w) in waiters {
            w.wake();
        }
    }

    /// Tasks currently registered as waiting.
    pub fn waiters(&self) -> usize {
        self.state.borrow().waiters.len()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// The future of [`Notify::notified`].
pub struct Notified {
    state: Rc<RefCell<NotifyState>>,
    epoch: u64,
    key: Option<u64>,
}

impl Future for Notified {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let state = self.state.clone();
        let mut st = state.borrow_mut();
        if st.epoch != self.epoch {
            if let Some(key) = self.key.take() {
                st.waiters.remove(&key);
            }
            return Poll::Ready(());
        }
        let key = match self.key {
            Some(k) => k,
            None => {
                let k = st.next_key;
                st.next_key += 1;
                self.key = Some(k);
                k
            }
        };
        st.waiters.insert(key, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        if let Some(key) = self.key.take()
            && let Ok(mut st) = self.state.try_borrow_mut()
        {
            st.waiters.remove(&key);
        }
    }
}

// ---------------------------------------------------------------------------
// block_on.

struct CatchUnwind<F: Future>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}

/// Runs the future `f` builds to completion on a temporary runtime (for
/// tools and tests), then drops the runtime with any tasks `f` spawned that
/// are still running. A panic inside the future is resumed on the caller.
pub fn block_on_runtime<F, Fut>(cfg: &RuntimeConfig, f: F) -> Result<Fut::Output>
where
    F: FnOnce(IoHandle) -> Fut,
    Fut: Future + 'static,
    Fut::Output: 'static,
{
    let rt = Runtime::new(cfg)?;
    let slot = Rc::new(RefCell::new(None));
    let out = slot.clone();
    let fut = CatchUnwind(Box::pin(f(rt.handle())));
    rt.spawn(async move {
        let r = fut.await;
        *out.borrow_mut() = Some(r);
    });
    loop {
        let r = slot.borrow_mut().take();
        match r {
            Some(Ok(v)) => return Ok(v),
            Some(Err(p)) => {
                drop(rt);
                std::panic::resume_unwind(p)
            }
            None => {}
        }
        if rt.task_count() == 0 {
            return Err(Error::new(
                KvError::IoFail,
                "the future given to block_on_runtime was dropped unfinished",
            ));
        }
        rt.turn(None);
    }
}

#[cfg(test)]
mod tests;
